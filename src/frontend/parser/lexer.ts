// The .bp lexer: a moo tokenizer wrapped in the interface nearley expects.
// The wrapper drops whitespace and comments, and drops line breaks inside
// `( )` and `[ ]` so that the grammar only sees the newlines that end
// statements. An invalid character becomes a single `error` token (moo's
// error rule), which no grammar rule accepts, so parse() reports it in order
// with syntax errors.
import moo from "moo";
import type { Lexer as NearleyLexer } from "nearley";
import { BpcError, type Span } from "../../diag.js";

const keywords = [
  "model", "dim", "input", "param", "def", "return", "for", "in", "output", "minimize", "int", "true", "false",
] as const;

const rules = {
  // U+FEFF: a byte-order mark left by some Windows editors.
  ws: /[ \t\uFEFF]+/,
  comment: /#[^\n]*/,
  nl: { match: /\r?\n/, lineBreaks: true },
  // `..` before the numbers, and numbers need a digit after the dot, so
  // `0..T` is `0` `..` `T`. Integers are their own type because shapes and
  // `dim N = 128` accept only them.
  op: ["..", "<=", ">=", "==", "!=", "//"],
  decimal: /(?:\d+\.\d+|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+/,
  integer: /\d+/,
  // Strings are only option values so far (`padding="same"`): no escapes.
  string: /"[^"\n]*"/,
  ident: { match: /[A-Za-z_][A-Za-z0-9_]*/, type: moo.keywords({ kw: [...keywords] }) },
  punct: ["<", ">", "=", "+", "-", "*", "/", "@", "^", "(", ")", "[", "]", "{", "}", ",", ":", ";", ".", "~"],
  error: moo.error,
};
// moo's own has() answers true for any name; answer truly, so a typo in the grammar fails.
const tokenTypes = new Set([...Object.keys(rules), "kw"]);

/** A moo token that also knows where it sits in its file. */
export interface Token extends moo.Token {
  span: Span;
}

interface State {
  moo: moo.LexerState;
  depth: number;
}

/** The token filter nearley runs on; one instance per parse, since tokens carry the file name. */
export class BpLexer implements NearleyLexer {
  private readonly moo = moo.compile(rules);
  private depth = 0;
  /** The last token other than a line break: where "unexpected end of file" points. */
  lastSpan: Span | undefined;

  constructor(readonly file = "<input>") {}

  reset(chunk: string, state?: State): void {
    this.moo.reset(chunk, state?.moo);
    this.depth = state?.depth ?? 0;
  }

  next(): Token | undefined {
    for (let t = this.moo.next(); t; t = this.moo.next()) {
      if (t.type === "ws" || t.type === "comment") continue;
      if (t.type === "nl" && this.depth > 0) continue;
      // `)` closes `[` too: the range hint `in [lo, hi)`.
      if (t.text === "(" || t.text === "[") this.depth++;
      else if ((t.text === ")" || t.text === "]") && this.depth > 0) this.depth--;
      const span = tokenSpan(t, this.file);
      if (t.type !== "nl") this.lastSpan = span;
      return { ...t, span };
    }
    return undefined;
  }

  save(): State {
    return { moo: this.moo.save(), depth: this.depth };
  }

  formatError(token: moo.Token, message?: string): string {
    return this.moo.formatError(token, message);
  }

  has(tokenType: string): boolean {
    return tokenTypes.has(tokenType);
  }
}

/** The lexer the compiled grammar refers to; parse() gives each parse its own BpLexer. */
export const lexer = new BpLexer();

function tokenSpan(t: moo.Token, file: string): Span {
  // A line break covers one column at the end of its line, so a code frame
  // can point at it. An error token's text is the rest of the input: cover
  // only the bad character.
  const len =
    t.type === "nl" ? 1 : t.type === "error" ? String.fromCodePoint(t.text.codePointAt(0) ?? 0).length : t.text.length;
  return { file, line: t.line, col: t.col, endLine: t.line, endCol: t.col + len };
}

/**
 * The tokens the grammar sees (no whitespace, comments, or line breaks
 * inside brackets). Throws a BpcError at the first invalid character.
 */
export function tokenize(source: string, file: string): Token[] {
  const lx = new BpLexer(file);
  lx.reset(source);
  const out: Token[] = [];
  for (let t = lx.next(); t; t = lx.next()) {
    if (t.type === "error") throw invalidCharacter(t);
    out.push(t);
  }
  return out;
}

/** The error for moo's error token. */
export function invalidCharacter(t: Token): BpcError {
  const ch = String.fromCodePoint(t.text.codePointAt(0) ?? 0);
  const shown = /^[\x21-\x7e]$|^\p{L}$|^\p{S}$/u.test(ch) ? ch : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
  return new BpcError(`unexpected character '${shown}'`, t.span);
}
