// Source text to AST. Every failure a user can cause is a BpcError at the
// offending token; nearley's own error report is replaced by a one-line
// "unexpected X; expected Y" built from the parser's table.
import nearley from "nearley";
import { BpcError, type Span } from "../../diag.js";
import type { Program, Stmt } from "./ast.js";
import grammar from "./generated/grammar.js";
import { missingConstruct } from "./hints.js";
import { BpLexer, invalidCharacter, type Token } from "./lexer.js";

const compiled = nearley.Grammar.fromCompiled(grammar as unknown as nearley.CompiledRules);

/**
 * Parses a .bp source. Throws a BpcError with the span of the offending text
 * on any syntax error, and an internal Error if the grammar is ambiguous.
 */
export function parse(source: string, file: string): Program {
  checkText(source, file);
  const lexer = new BpLexer(file);
  const parser = new nearley.Parser(compiled, { lexer });
  try {
    parser.feed(source);
  } catch (e) {
    const token = (e as { token?: Token }).token;
    if (!token) throw e;
    const instead = missingConstruct(source, token.span, String(token.value));
    if (token.type === "error") {
      const err = invalidCharacter(token);
      throw instead ? new BpcError(`${err.message}; ${instead}`, token.span) : err;
    }
    throw new BpcError(`unexpected ${describeToken(token)}; ${instead ?? expectation(parser, token)}`, token.span);
  }
  const results = parser.results as Stmt[][];
  if (results.length === 0) {
    const end = lexer.lastSpan ?? { file, line: 1, col: 1, endLine: 1, endCol: 1 };
    const at: Span = { file, line: end.endLine, col: end.endCol, endLine: end.endLine, endCol: end.endCol };
    throw new BpcError(`unexpected end of file; ${expectation(parser, null)}`, at);
  }
  if (results.length > 1) throw new Error(`internal error: ${file}: the grammar is ambiguous (${results.length} parses)`);
  if (results[0].length === 0) {
    throw new BpcError("empty file: expected declarations and a 'minimize' statement", { file, line: 1, col: 1, endLine: 1, endCol: 1 });
  }
  return { file, source, stmts: results[0] };
}

/** Decoding a non-UTF-8 file leaves U+FFFD replacement characters; NUL marks binary data. */
function checkText(source: string, file: string): void {
  const at = source.search(/[\uFFFD\0]/);
  if (at < 0) return;
  const before = source.slice(0, at).split("\n");
  const line = before.length;
  const col = before[before.length - 1].length + 1;
  throw new BpcError("file is not UTF-8 text", { file, line, col, endLine: line, endCol: col + 1 });
}

function describeToken(t: Token): string {
  switch (t.type) {
    case "nl":
      return "end of line";
    case "ident":
      return `identifier '${t.value}'`;
    case "integer":
    case "decimal":
      return `number '${t.value}'`;
    default:
      return `'${t.value}'`;
  }
}

// --- what the parser expected ---------------------------------------------------

/** The parts of nearley's state that the typings leave out. */
interface Column {
  states: { rule: nearley.Rule; dot: number }[];
}
type Terminal = { type?: string; literal?: string };

const quoted = (ops: string[]) => ops.map((op) => `'${op}'`);
const comparisons = quoted(["<", "<=", ">", ">=", "==", "!="]);

// Sets of terminals that read better as one phrase. After a complete
// expression every operator and postfix could follow (and a call's '(' if
// the expression was a name): all of them become "an operator".
const groups: { phrase: string; members: string[]; alsoDrop: string[] }[] = [
  { phrase: "an operator", members: quoted(["+", "-", "*", "/", "//", "@", "^"]), alsoDrop: [...comparisons, "'['", "'.'", "'('"] },
  { phrase: "an expression", members: ["identifier", "number", ...quoted(["(", "[", "-", "true", "false"])], alsoDrop: [] },
  {
    phrase: "a statement",
    members: ["identifier", ...quoted(["model", "dim", "input", "param", "def", "for", "output", "minimize"])],
    alsoDrop: [],
  },
];

/** The terminals the parser could have accepted next, summarised into a short phrase. */
function expectation(parser: nearley.Parser, got: Token | null): string {
  const column = (parser as unknown as { table: Column[] }).table[parser.current];
  const expected = new Set<string>();
  for (const { rule, dot } of column.states) {
    const sym = rule.symbols[dot] as Terminal | string | undefined;
    if (sym !== undefined && typeof sym !== "string") expected.add(describeTerminal(sym));
  }
  if (got && comparisons.includes(`'${got.value}'`) && expected.has("'+'") && !expected.has("'<'")) {
    return "comparisons do not chain: use parentheses, as in (a < b) == c";
  }
  if (expected.has("number")) expected.delete("integer");
  if (expected.has("end of line")) expected.delete("';'");
  const phrases: string[] = [];
  for (const { phrase, members, alsoDrop } of groups) {
    if (!members.every((m) => expected.has(m))) continue;
    phrases.push(phrase);
    for (const m of [...members, ...alsoDrop]) expected.delete(m);
  }
  // Token kinds, then literal tokens, then end of line.
  const rank = (i: string) => (i === "end of line" ? 2 : i.startsWith("'") ? 1 : 0);
  const items = [...phrases, ...[...expected].sort((a, b) => rank(a) - rank(b))];
  if (items.length === 0) return "expected end of file";
  if (items.length === 1) return `expected ${items[0]}`;
  if (items.length === 2) return `expected ${items[0]} or ${items[1]}`;
  return `expected one of: ${items.join(", ")}`;
}

function describeTerminal(sym: Terminal): string {
  if (sym.literal !== undefined) return `'${sym.literal}'`;
  switch (sym.type) {
    case "nl":
      return "end of line";
    case "ident":
      return "identifier";
    case "integer":
      return "integer";
    case "decimal":
      return "number";
    default:
      return String(sym.type);
  }
}
