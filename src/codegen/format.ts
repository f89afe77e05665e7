// Prettier formatting of generated declarations, fast for big ones, with the
// output byte-identical to formatting the whole declaration.
//
// A 1,000-layer model is megabytes of TypeScript, and prettier formats it at
// about 1 MB/s whatever the shape. But the text is a few kinds of statement
// and list element repeated with other names: `h17`, `h18`, ... So a long
// sequence (a function body's statements, or the elements of a long object,
// array, destructuring pattern or type literal) is formatted once per
// distinct element "template", where a template is the element with the
// digits of its identifiers and integer literals masked (same length, so the
// same layout). The declaration is rewritten with each long sequence reduced
// to one instance of every template, separated by sentinel elements
// (`__bpcS3__`) on lines of their own; one prettier call formats that, and the
// output is rebuilt by cutting it at the sentinel lines and putting back every
// element: the instance's formatted text, or another instance's with the
// digits substituted.
//
// Why the result is what prettier would print for the whole declaration:
// - a statement in a block, or an element of a list that does not fit on one
//   line, is printed on lines of its own at the block's or the list's
//   indentation, and how it is printed depends only on its own text and that
//   indentation, not on its neighbours (sequences with blank lines, trailing
//   comments, quoted keys, all-number arrays (printed with `fill`) or arrays
//   of only objects/arrays (forced to break) are never reduced, since there
//   the neighbours do matter);
// - lists are reduced only when they cannot fit on a line (at least twice the
//   print width of non-blank text), and their reduced form is padded with
//   sentinels to stay that long, so both break;
// - prettier's layout depends on identifier and integer lengths but not on
//   their digits, and it keeps tokens in order: checked on every formatted
//   instance (the digit runs of its output must be those of its input).
// Anything unexpected (a regex literal, unbalanced text, a sentinel count that
// does not match) falls back to formatting the declaration whole.
import { format } from "./prettier.js";

// babel-ts formats TypeScript as the typescript parser does, about twice as fast.
// A .ts filepath tells prettier there is no JSX to look for (its JSX probe is slow on big files).
export const PRETTIER = { parser: "babel-ts", filepath: "module.ts", printWidth: 110 } as const;

export interface ReduceOptions {
  /** Declarations shorter than this are formatted whole. */
  minText: number;
  /** A bracket is reduced only with at least this many elements... */
  minItems: number;
  /** ...and at least this many characters between its brackets. */
  minChars: number;
  /** Declarations whose reduced text would be longer than this fraction of them are formatted whole. */
  maxRatio: number;
}

/** Below these, reducing saves less than it costs. */
export const DEFAULT_REDUCE: ReduceOptions = { minText: 2000, minItems: 8, minChars: 1000, maxRatio: 0.5 };

/** Formats one top-level declaration (or several) as `format(text, PRETTIER)` does. */
export async function formatDeclaration(text: string, opts: ReduceOptions = DEFAULT_REDUCE): Promise<string> {
  return (await formatTraced(text, opts)).formatted;
}

/** How a declaration was formatted: whole (nothing to reduce), reduced, or whole after a reduction that did not work out. */
export type FormatPath = "whole" | "reduced" | "fallback";

export async function formatTraced(text: string, opts: ReduceOptions = DEFAULT_REDUCE): Promise<{ formatted: string; path: FormatPath }> {
  const plan = planReduction(text, opts);
  if (!plan) return { formatted: await format(text, PRETTIER), path: "whole" };
  let rebuilt: string | null = null;
  try {
    rebuilt = rebuild(plan, await format(plan.reduced, PRETTIER));
  } catch {
    // A reduced text prettier cannot parse: format the original, which throws if it is the culprit.
  }
  return rebuilt === null ? { formatted: await format(text, PRETTIER), path: "fallback" } : { formatted: rebuilt, path: "reduced" };
}

// ---------------------------------------------------------------------------
// Scanning: brackets, and what sits directly inside each of them.

class Bail extends Error {}

interface Bracket {
  /** The opening character, or "$" for a template literal's `${`. */
  ch: string;
  open: number;
  close: number;
  /** The last code character before the opening bracket (-1: none). */
  prevCode: number;
  /** Positions directly inside (not nested deeper), allocated on first use. */
  commas: number[] | null;
  semis: number[] | null;
  /** Comments directly inside: start, end, start, end, ... */
  comments: number[] | null;
  /** Newlines directly inside, outside strings and comments, with the last code character before each and the start of the last comment before it. */
  newlines: number[] | null;
  /** The last code character before the closing bracket, and the end of the last comment before it. */
  lastCode: number;
  lastCommentEnd: number;
}

const isWordCode = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 36 || c > 127;

/** Words after which `/` is a regex, not a division. */
const REGEX_AFTER = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "instanceof", "yield", "await"]);

function wordBefore(text: string, end: number): string {
  let s = end;
  while (s > 0 && isWordCode(text.charCodeAt(s - 1))) s--;
  return text.slice(s, end + 1);
}

/** Every `{` and `[` of the text with its contents' separators, comments and newlines; throws Bail on anything it cannot read for sure. */
function scan(text: string): Bracket[] {
  const n = text.length;
  const all: Bracket[] = [];
  const root: Bracket = newBracket("", -1, -1);
  // Parentheses are never reduced: one shared entry on the stack, which records nothing.
  const paren: Bracket = newBracket("(", -1, -1);
  const stack: Bracket[] = [root];
  let top = root;
  let lastCode = -1;
  let lastCommentStart = -1;
  let lastCommentEnd = -1;
  let i = 0;

  function newBracket(ch: string, open: number, prevCode: number): Bracket {
    return { ch, open, close: -1, prevCode, commas: null, semis: null, comments: null, newlines: null, lastCode: -1, lastCommentEnd: -1 };
  }
  /** Scans template text from `from` (just after a backtick or a `${...}`'s `}`); returns the index after the closing backtick, or after a `${` it has pushed. */
  function template(from: number): number {
    let j = from;
    for (;;) {
      if (j >= n) throw new Bail();
      const c = text.charCodeAt(j);
      if (c === 92) j += 2; // backslash
      else if (c === 96) {
        lastCode = j;
        return j + 1;
      } else if (c === 36 && text.charCodeAt(j + 1) === 123) {
        const b = newBracket("$", j + 1, j);
        stack.push(b);
        top = b;
        lastCode = j + 1;
        return j + 2;
      } else j++;
    }
  }

  while (i < n) {
    const c = text.charCodeAt(i);
    switch (c) {
      case 10: // \n
        if (top !== paren) (top.newlines ??= []).push(i, lastCode, lastCommentStart);
        i++;
        break;
      case 32:
      case 9:
      case 13:
        i++;
        break;
      case 34: // "
      case 39: {
        // '
        let j = i + 1;
        for (;;) {
          if (j >= n) throw new Bail();
          const d = text.charCodeAt(j);
          if (d === 92) j += 2;
          else if (d === c) break;
          else if (d === 10) throw new Bail();
          else j++;
        }
        lastCode = j;
        i = j + 1;
        break;
      }
      case 96: // `
        i = template(i + 1);
        break;
      case 47: {
        // /
        const d = text.charCodeAt(i + 1);
        if (d === 47 || d === 42) {
          let end: number;
          if (d === 47) {
            end = text.indexOf("\n", i);
            if (end < 0) end = n;
          } else {
            end = text.indexOf("*/", i + 2);
            if (end < 0) throw new Bail();
            end += 2;
          }
          if (top !== paren) (top.comments ??= []).push(i, end);
          lastCommentStart = i;
          lastCommentEnd = end;
          i = end;
          break;
        }
        // A division only after an operand; a regex literal is not worth reading.
        const p = lastCode >= 0 ? text.charCodeAt(lastCode) : 0;
        if (!(p === 41 || p === 93 || (isWordCode(p) && !REGEX_AFTER.has(wordBefore(text, lastCode))))) throw new Bail();
        lastCode = i;
        i++;
        break;
      }
      case 40: // (
        stack.push(paren);
        top = paren;
        lastCode = i;
        i++;
        break;
      case 91: // [
      case 123: {
        // {
        const b = newBracket(text[i], i, lastCode);
        all.push(b);
        stack.push(b);
        top = b;
        lastCode = i;
        i++;
        break;
      }
      case 41: // )
      case 93: // ]
      case 125: {
        // }
        const want = c === 41 ? "(" : c === 93 ? "[" : "{";
        if (top.ch === "$" && c === 125) {
          stack.pop();
          top = stack[stack.length - 1];
          i = template(i + 1);
          break;
        }
        if (top.ch !== want) throw new Bail();
        if (top === paren) {
          stack.pop();
          top = stack[stack.length - 1];
          lastCode = i;
          i++;
          break;
        }
        top.close = i;
        top.lastCode = lastCode;
        top.lastCommentEnd = lastCommentEnd;
        stack.pop();
        top = stack[stack.length - 1];
        lastCode = i;
        i++;
        break;
      }
      case 44: // ,
        if (top !== paren) (top.commas ??= []).push(i);
        lastCode = i;
        i++;
        break;
      case 59: // ;
        if (top !== paren) (top.semis ??= []).push(i);
        lastCode = i;
        i++;
        break;
      default:
        lastCode = i;
        i++;
    }
  }
  if (stack.length !== 1) throw new Bail();
  return all;
}

// ---------------------------------------------------------------------------
// Which brackets to reduce, and their elements.

type Mode = "comma" | "lines" | "inline";

interface Seq {
  id: number;
  open: number;
  close: number;
  mode: Mode;
  /** Text between the opening bracket and the first element, and between the last element and the closing bracket. */
  lead: string;
  tail: string;
  /** Elements are joined by newlines (else by spaces) in the reduced text. */
  multiline: boolean;
  items: Item[];
  /** One element per template, in order of first appearance. */
  reps: Item[];
}

interface Item {
  start: number;
  end: number;
  /** Reduced sequences inside this element: such an element is its own template. */
  seqs: Seq[];
  key: string;
  rep: Item;
  /** An element without sequences inside: its digit runs (see `digits`). */
  runs?: string[];
}

const EXPR_WORDS = new Set(["return", "const", "let", "var", "typeof", "in", "of", "case", "yield", "await", "throw"]);
const BLOCK_WORDS = new Set(["else", "try", "finally", "do"]);
/** A line starting with one of these continues the statement before it. */
const CONTINUING = new Set(["else", "catch", "finally", "while", "as", "satisfies", "instanceof", "in", "of", "extends", "implements", "case", "default"]);

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 13 || c === 10;

function firstWord(text: string, at: number): string {
  let e = at;
  while (e < text.length && isWordCode(text.charCodeAt(e))) e++;
  return text.slice(at, e);
}

/** At least `min` non-blank characters in text[a, b)? Then a list there cannot fit on one line. */
function longEnough(text: string, a: number, b: number, min: number): boolean {
  let k = 0;
  for (let i = a; i < b; i++) if (!isSpace(text.charCodeAt(i)) && ++k >= min) return true;
  return false;
}

interface Plan {
  text: string;
  reduced: string;
  top: Seq[];
  seqs: Seq[];
}

const SENTINEL = "__bpcS";
const LONG = 2 * PRETTIER.printWidth;

function planReduction(text: string, opts: ReduceOptions): Plan | null {
  if (text.length < opts.minText || text.includes(SENTINEL)) return null;
  let brackets: Bracket[];
  try {
    brackets = scan(text);
  } catch (e) {
    if (e instanceof Bail) return null;
    throw e;
  }
  const seqs: Seq[] = [];
  for (const b of brackets) {
    if (b.close - b.open - 1 < opts.minChars) continue;
    const s = sequenceOf(text, b, seqs.length);
    if (s && s.items.length >= opts.minItems) seqs.push(s);
  }
  if (!seqs.length) return null;

  // Nest: each sequence inside an element of the nearest enclosing sequence (brackets come in order of their openings).
  const top: Seq[] = [];
  const open: Seq[] = [];
  for (const s of seqs) {
    while (open.length && open[open.length - 1].close < s.open) open.pop();
    const outer = open[open.length - 1];
    if (outer) {
      const it = itemAt(outer.items, s.open);
      if (!it) return null;
      it.seqs.push(s);
    } else top.push(s);
    open.push(s);
  }
  // Templates: an element without sequences inside is keyed by its masked text.
  for (const s of seqs) {
    const byKey = new Map<string, Item>();
    for (const it of s.items) {
      if (it.seqs.length) it.key = `\u0000${it.start}`;
      else {
        const d = digits(text, it.start, it.end);
        it.runs = d.runs;
        it.key = masked(d);
      }
      let rep = byKey.get(it.key);
      if (!rep) {
        byKey.set(it.key, (rep = it));
        s.reps.push(it);
      }
      it.rep = rep;
    }
  }
  const reduced = render(text, 0, text.length, top);
  // Few repeats: prettier on the whole is about as fast, without the overhead.
  if (reduced.length > opts.maxRatio * text.length) return null;
  return { text, reduced, top, seqs };
}

function itemAt(items: Item[], pos: number): Item | undefined {
  let lo = 0;
  let hi = items.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const it = items[mid];
    if (pos < it.start) hi = mid - 1;
    else if (pos >= it.end) lo = mid + 1;
    else return it;
  }
  return undefined;
}

/** The elements of a `{...}` or `[...]` that can be reduced, or null. */
function sequenceOf(text: string, b: Bracket, id: number): Seq | null {
  const p = b.prevCode >= 0 ? text[b.prevCode] : "";
  const word = p && isWordCode(p.charCodeAt(0)) ? wordBefore(text, b.prevCode) : "";
  const commas = b.commas?.length ?? 0;
  const semis = b.semis?.length ?? 0;
  let mode: Mode;
  /** Does the bracket always break (a block), or only when too long for a line? */
  let alwaysBreaks = false;
  if (b.ch === "[") {
    if (!("=(,:[?".includes(p) || (word && EXPR_WORDS.has(word))) || !commas || semis) return null;
    mode = "comma";
  } else {
    const arrow = p === ">" && text[b.prevCode - 1] === "=";
    if (p === ")" || arrow || BLOCK_WORDS.has(word) || p === "" || p === ";" || p === "{") {
      alwaysBreaks = true;
      mode = b.newlines ? "lines" : "inline";
    } else if ((p && "=(,:[?|&<".includes(p)) || EXPR_WORDS.has(word)) {
      if (commas && !semis) mode = "comma";
      else if (semis && !commas) mode = b.newlines ? "lines" : "inline";
      else return null;
    } else if (p === "}" || word) {
      // A function's return type, an interface or a class: statements or members.
      mode = b.newlines ? "lines" : "inline";
    } else return null;
  }
  if (!alwaysBreaks && !longEnough(text, b.open + 1, b.close, LONG)) return null;
  const spans = mode === "comma" ? commaItems(text, b) : mode === "lines" ? lineItems(text, b) : inlineItems(text, b);
  if (!spans || spans.length < 4) return null;
  // Element-wide rules prettier applies: quoted keys (quote consistency) and
  // directives; number arrays (fill) and arrays of only objects or arrays (forced break).
  let numbers = 0;
  let objects = 0;
  let arrays = 0;
  for (let k = 0; k < spans.length; k += 2) {
    let at = spans[k];
    // Skip leading comments.
    for (;;) {
      while (isSpace(text.charCodeAt(at))) at++;
      if (text[at] === "/" && text[at + 1] === "/") at = text.indexOf("\n", at);
      else if (text[at] === "/" && text[at + 1] === "*") at = text.indexOf("*/", at) + 2;
      else break;
      if (at < 0) return null;
    }
    const c = text[at];
    if (b.ch === "{" && (c === '"' || c === "'" || c === "`" || (c >= "0" && c <= "9"))) return null;
    if (mode !== "comma" && CONTINUING.has(firstWord(text, at))) return null;
    if ((c >= "0" && c <= "9") || c === "-" || c === "+" || c === ".") numbers++;
    else if (c === "{") objects++;
    else if (c === "[") arrays++;
  }
  const count = spans.length / 2;
  // A sentinel cannot follow a rest element.
  if (mode === "comma" && text.startsWith("...", spans[spans.length - 2])) return null;
  if (b.ch === "[" && (numbers === count || objects === count || arrays === count)) return null;
  const items: Item[] = [];
  for (let k = 0; k < spans.length; k += 2) items.push({ start: spans[k], end: spans[k + 1], seqs: [], key: "", rep: undefined as unknown as Item });
  const first = items[0].start;
  const last = items[items.length - 1].end;
  return {
    id,
    open: b.open,
    close: b.close,
    mode,
    lead: text.slice(b.open + 1, first),
    tail: text.slice(last, b.close),
    multiline: mode === "lines" || (b.newlines !== null && mode === "comma"),
    items,
    reps: [],
  };
}

/** Start, end, start, end, ... of the elements of a comma-separated list, or null when its comments could attach to neighbours. */
function commaItems(text: string, b: Bracket): number[] | null {
  const seps = b.commas as number[];
  const comments = new Map<number, number>();
  const cs = b.comments ?? [];
  for (let k = 0; k < cs.length; k += 2) comments.set(cs[k], cs[k + 1]);
  const commentEnds = new Set<number>();
  for (let k = 1; k < cs.length; k += 2) commentEnds.add(cs[k]);
  if (b.newlines && hasBlankLine(text, b)) return null;
  const out: number[] = [];
  let from = b.open + 1;
  for (let k = 0; k <= seps.length; k++) {
    const to = k < seps.length ? seps[k] : b.close;
    // Leading comments must be on lines of their own (else they trail the element before).
    let at = from;
    let start = -1;
    for (;;) {
      while (at < to && isSpace(text.charCodeAt(at))) at++;
      const end = comments.get(at);
      if (end === undefined) break;
      const nl = text.lastIndexOf("\n", at);
      if (nl < from) return null;
      if (start < 0) start = at;
      at = end;
    }
    if (at >= to) {
      // Nothing but blanks: only a trailing comma may leave that.
      if (k === seps.length && start < 0) break;
      return null;
    }
    if (start < 0) start = at;
    let end = to;
    while (isSpace(text.charCodeAt(end - 1))) end--;
    if (commentEnds.has(end)) return null;
    out.push(start, end);
    from = to + 1;
  }
  return out;
}

/** Statements (or members) one or more lines each, ending a line with `;` or `}`. */
function lineItems(text: string, b: Bracket): number[] | null {
  if (b.lastCommentEnd > b.lastCode) return null; // comments after the last statement
  const nls = b.newlines as number[];
  const out: number[] = [];
  let from = b.open + 1;
  for (let k = 0; k < nls.length; k += 3) {
    const nl = nls[k];
    const lastCode = nls[k + 1];
    const lastComment = nls[k + 2];
    let j = nl + 1;
    while (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9 || text.charCodeAt(j) === 13) j++;
    if (text.charCodeAt(j) === 10) return null; // a blank line: prettier keeps one
    if (j === b.close) break;
    const c = text[lastCode];
    if ((c !== ";" && c !== "}") || lastCode < from || lastComment > lastCode) continue;
    const d = text[j];
    const startsStatement = /[A-Za-z_$]/.test(d) ? !CONTINUING.has(firstWord(text, j)) : d === "/" && (text[j + 1] === "/" || text[j + 1] === "*");
    if (!startsStatement) continue;
    let start = from;
    while (isSpace(text.charCodeAt(start))) start++;
    out.push(start, lastCode + 1);
    from = nl + 1;
  }
  let start = from;
  while (isSpace(text.charCodeAt(start))) start++;
  if (b.lastCode < start) return null;
  out.push(start, b.lastCode + 1);
  return out;
}

/** Members of a one-line `{ a: T; b: U }` (or statements of a one-line block), split at their semicolons. */
function inlineItems(text: string, b: Bracket): number[] | null {
  if (b.comments) return null;
  const seps = b.semis ?? [];
  const out: number[] = [];
  let from = b.open + 1;
  for (let k = 0; k <= seps.length; k++) {
    const to = k < seps.length ? seps[k] : b.close;
    let start = from;
    while (start < to && isSpace(text.charCodeAt(start))) start++;
    let end = to;
    while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
    if (start === end) {
      if (k === seps.length) break;
      return null;
    }
    out.push(start, end);
    from = to + 1;
  }
  return out;
}

function hasBlankLine(text: string, b: Bracket): boolean {
  const nls = b.newlines as number[];
  for (let k = 0; k < nls.length; k += 3) {
    let j = nls[k] + 1;
    while (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9 || text.charCodeAt(j) === 13) j++;
    if (text.charCodeAt(j) === 10) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// The reduced text.

function render(text: string, a: number, b: number, seqs: Seq[]): string {
  let out = "";
  let cur = a;
  for (const s of seqs) {
    out += text.slice(cur, s.open + 1) + renderSeq(text, s);
    cur = s.close;
  }
  return out + text.slice(cur, b);
}

function renderSeq(text: string, s: Seq): string {
  const name = `${SENTINEL}${s.id}__`;
  const sentinel = s.mode === "comma" ? name : `${name};`;
  const pieces = [sentinel];
  for (const r of s.reps) {
    const t = r.seqs.length ? render(text, r.start, r.end, r.seqs) : text.slice(r.start, r.end);
    pieces.push(s.mode === "inline" ? `${t};` : t, sentinel);
  }
  const join = s.mode === "comma" ? (s.multiline ? ",\n" : ", ") : s.multiline ? "\n" : " ";
  let body = pieces.join(join);
  // A list stays too long for one line, as the whole one is.
  if (s.mode !== "lines") while (!longEnough(body, 0, body.length, LONG)) body = sentinel + join + body;
  return s.lead + body + s.tail;
}

// ---------------------------------------------------------------------------
// Masks: digits of identifiers and of integer literals, which change no layout.

/**
 * The digit runs of text[a, b) that a template masks: those inside words that
 * start like an identifier (`h17`, `W0`, also in strings and comments), and
 * integer literals without a leading zero (`1024`, not `0.5`, `1e3` or `07`);
 * with the text between them. Masked, every digit becomes "1".
 */
interface Digits {
  parts: string[];
  runs: string[];
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isIdentHead = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36;

function digits(s: string, a: number, b: number): Digits {
  const parts: string[] = [];
  const runs: string[] = [];
  let last = a;
  let i = a;
  while (i < b) {
    const c = s.charCodeAt(i);
    if (isIdentHead(c)) {
      let j = i + 1;
      while (j < b) {
        const d = s.charCodeAt(j);
        if (isDigit(d)) {
          let k = j + 1;
          while (k < b && isDigit(s.charCodeAt(k))) k++;
          parts.push(s.slice(last, j));
          runs.push(s.slice(j, k));
          last = k;
          j = k;
        } else if (isIdentHead(d)) j++;
        else break;
      }
      i = j;
    } else if (isDigit(c) || (c === 46 && i + 1 < b && isDigit(s.charCodeAt(i + 1)))) {
      // A number-like word (`1024`, `0.5`, `1e-3`, `0x1f`, `10n`): only integers are masked,
      // and not after a backslash (`\8` in a string is printed `8`, `\1` is kept).
      let j = i + 1;
      let integer = c !== 46 && !(i > 0 && s.charCodeAt(i - 1) === 92);
      while (j < b) {
        const d = s.charCodeAt(j);
        if (isDigit(d)) j++;
        else if (isIdentHead(d) || d === 46) {
          integer = false;
          j++;
          // An exponent's sign belongs to the number (prettier prints 1e+0 as 1, 1e+5 as 1e5).
          if ((d === 101 || d === 69) && j < b && (s.charCodeAt(j) === 43 || s.charCodeAt(j) === 45)) j++;
        } else break;
      }
      if (integer && (j - i === 1 || c !== 48)) {
        parts.push(s.slice(last, i));
        runs.push(s.slice(i, j));
        last = j;
      }
      i = j;
    } else i++;
  }
  parts.push(s.slice(last, b));
  return { parts, runs };
}

const ONES: string[] = [""];
function ones(n: number): string {
  while (ONES.length <= n) ONES.push(ONES[ONES.length - 1] + "1");
  return ONES[n];
}

/** The template: the text with every digit of its runs masked. */
function masked(d: Digits): string {
  let out = d.parts[0];
  for (let k = 0; k < d.runs.length; k++) out += ones(d.runs[k].length) + d.parts[k + 1];
  return out;
}

/** A template's text with `runs` in its runs' places. */
function fill(parts: string[], runs: string[]): string {
  let out = parts[0];
  for (let k = 0; k < runs.length; k++) out += runs[k] + parts[k + 1];
  return out;
}

// ---------------------------------------------------------------------------
// Rebuilding the whole output from the formatted reduced text.

const SENTINEL_LINE = /^\s*__bpcS(\d+)__[,;]?$/;

function rebuild(plan: Plan, formatted: string): string | null {
  const lines = formatted.split("\n");
  const at = new Map<number, number[]>();
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].includes(SENTINEL)) continue;
    const m = SENTINEL_LINE.exec(lines[i]);
    if (!m) return null;
    const id = Number(m[1]);
    let list = at.get(id);
    if (!list) at.set(id, (list = []));
    list.push(i);
  }
  /** Each template's lines in the formatted text. */
  const region = new Map<Item, [number, number]>();
  for (const s of plan.seqs) {
    const idx = at.get(s.id);
    if (!idx) return null;
    let r = 0;
    for (let k = 0; k + 1 < idx.length; k++) {
      if (idx[k + 1] === idx[k] + 1) continue;
      if (r >= s.reps.length) return null;
      region.set(s.reps[r++], [idx[k] + 1, idx[k + 1]]);
    }
    if (r !== s.reps.length) return null;
  }
  /** The formatted text of a template, between its runs. */
  const templates = new Map<Item, string[]>();
  const out: string[] = [];
  let ok = true;

  function emitRange(lo: number, hi: number, seqs: Seq[]): void {
    let cur = lo;
    for (const s of seqs) {
      const idx = at.get(s.id) as number[];
      const first = idx[0];
      const last = idx[idx.length - 1];
      if (first < cur || last >= hi) {
        ok = false;
        return;
      }
      for (let i = cur; i < first; i++) out.push(lines[i]);
      for (const it of s.items) emitItem(it);
      cur = last + 1;
    }
    for (let i = cur; i < hi; i++) out.push(lines[i]);
  }

  function emitItem(it: Item): void {
    const rep = it.rep;
    const [lo, hi] = region.get(rep) as [number, number];
    if (rep.seqs.length) return emitRange(lo, hi, rep.seqs);
    if (it === rep) {
      for (let i = lo; i < hi; i++) out.push(lines[i]);
      return;
    }
    let parts = templates.get(rep);
    if (parts === undefined) {
      const own = lines.slice(lo, hi).join("\n");
      const d = digits(own, 0, own.length);
      // The formatted instance must keep its digit runs, in order: then any instance of the template can take its own.
      if (!sameRuns(d.runs, rep.runs as string[])) {
        ok = false;
        return;
      }
      templates.set(rep, (parts = d.parts));
    }
    out.push(fill(parts, it.runs as string[]));
  }

  emitRange(0, lines.length, plan.top);
  return ok ? out.join("\n") : null;
}

function sameRuns(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
