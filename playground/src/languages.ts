// Syntax highlighting for .bp sources and for the IR listings of `inspect`,
// as CodeMirror stream parsers (a tokenizer per line, no grammar needed).
import { HighlightStyle, StreamLanguage, syntaxHighlighting, type StringStream } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";
import { BUILTINS } from "../../src/frontend/lower/builtins.js";
import { INIT_NAMES } from "../../src/ir/init.js";

// The lexer's keywords (spec section 2), plus version 2's constants.
const KEYWORDS = new Set(["model", "dim", "input", "param", "def", "return", "for", "in", "output", "minimize"]);
const TYPES = new Set(["int"]);
const ATOMS = new Set(["None", "true", "false"]);
// Builtins come from the compiler's own table, so new ops highlight without a change here.
const BUILTIN_NAMES = new Set([...BUILTINS.keys(), ...INIT_NAMES]);
const DECLARES = new Set(["model", "dim", "input", "param", "def"]);

interface BpState {
  /** The previous token was a declaring keyword: the next name is a definition. */
  declaring: boolean;
}

export const bpLanguage = StreamLanguage.define<BpState>({
  name: "bp",
  startState: () => ({ declaring: false }),
  token(stream: StringStream, state: BpState): string | null {
    if (stream.eatSpace()) return null;
    if (stream.match(/^#.*/)) return "comment";
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return "string";
    if (stream.match(/^(?:\d+\.\d+|\.\d+|\d+)(?:[eE][+-]?\d+)?/)) return "number";
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (word) {
      const w = word[0];
      if (state.declaring) {
        state.declaring = false;
        return "definition";
      }
      if (KEYWORDS.has(w)) {
        state.declaring = DECLARES.has(w);
        return "keyword";
      }
      if (TYPES.has(w)) return "typeName";
      if (ATOMS.has(w)) return "atom";
      // `axis=1`: a keyword argument
      if (stream.match(/^\s*=(?!=)/, false) && stream.string.slice(0, stream.start).includes("(")) return "attributeName";
      if (BUILTIN_NAMES.has(w)) return "builtin";
      if (stream.match(/^\s*\(/, false)) return "function";
      return "variable";
    }
    state.declaring = false;
    if (stream.match(/^(?:\.\.|<=|>=|==|!=|[-+*/@^=<>~])/)) return "operator";
    if (stream.match(/^[()[\]{}]/)) return "bracket";
    stream.next();
    return "punctuation";
  },
  languageData: {
    commentTokens: { line: "#" },
    closeBrackets: { brackets: ["(", "[", "{", '"'] },
  },
  tokenTable: {
    definition: t.definition(t.variableName),
    builtin: t.standard(t.variableName),
    function: t.function(t.variableName),
    attributeName: t.attributeName,
  },
});

/** The IR printer's listing: `%8:h: f[B, 64] = relu %7  # line 17`. */
export const irLanguage = StreamLanguage.define<{ afterEq: boolean }>({
  name: "bp-ir",
  startState: () => ({ afterEq: false }),
  token(stream, state) {
    if (stream.sol()) state.afterEq = false;
    if (stream.eatSpace()) return null;
    if (stream.match(/^#.*/)) return "comment";
    if (stream.match(/^%\d+(?::[A-Za-z_][A-Za-z0-9_]*)?/)) return "variable";
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return "string";
    if (stream.match(/^-?(?:\d+\.\d+|\.\d+|\d+)(?:[eE][+-]?\d+)?/)) return "number";
    if (stream.match(/^(?:f|int|f32|f64)(?=\[)/)) return "typeName";
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (word) {
      if (KEYWORDS.has(word[0]) && stream.start === stream.string.search(/\S/)) return "keyword";
      if (state.afterEq) {
        state.afterEq = false;
        return "function";
      }
      if (stream.match(/^=/, false)) return "attributeName";
      return null;
    }
    if (stream.match(/^=/)) {
      state.afterEq = true;
      return "operator";
    }
    stream.next();
    return "punctuation";
  },
  tokenTable: { function: t.function(t.variableName), attributeName: t.attributeName },
});

/** One palette for the editor and every code pane (light, GitHub-like). */
export const bpHighlight = syntaxHighlighting(
  HighlightStyle.define([
    { tag: t.comment, color: "#6a737d", fontStyle: "italic" },
    { tag: t.keyword, color: "#7c3aed", fontWeight: "600" },
    { tag: [t.typeName, t.atom, t.bool], color: "#b45309" },
    { tag: [t.number, t.literal], color: "#0369a1" },
    { tag: [t.string, t.special(t.string), t.regexp], color: "#15803d" },
    { tag: t.definition(t.variableName), color: "#1d4ed8", fontWeight: "600" },
    { tag: [t.standard(t.variableName), t.function(t.variableName), t.function(t.propertyName)], color: "#0e7490" },
    { tag: [t.attributeName, t.propertyName], color: "#9333ea" },
    { tag: t.operator, color: "#be123c" },
    { tag: [t.typeName, t.className, t.namespace], color: "#b45309" },
    { tag: [t.definitionKeyword, t.modifier, t.controlKeyword, t.moduleKeyword, t.operatorKeyword], color: "#7c3aed" },
    { tag: t.invalid, color: "#dc2626" },
  ]),
);
