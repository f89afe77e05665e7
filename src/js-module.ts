// A generated module as JavaScript: the ES module (types stripped by sucrase,
// formatted by prettier) and the declaration file that types it. Nothing here
// uses a Node built-in, so it runs in a browser too.
//
// The declarations are read off the generated TypeScript's exported
// declarations, which the emitter writes in a few fixed forms (prettier
// formats them, so each starts at column 0): interfaces and type aliases are
// copied, `export const NAME: TYPE = ...` becomes `export declare const
// NAME: TYPE;`, and a function keeps its signature, a parameter with a
// default becoming optional. Any other export is an internal error, so a new
// form in the emitter cannot silently drop out of the declarations.
import { moduleToJs } from "./codegen/to-js.js";
import { format } from "./codegen/prettier.js";

/** The JavaScript module for a generated TypeScript module, and its `.d.ts`. */
export async function toJsModule(ts: string): Promise<{ code: string; dts: string }> {
  const code = await format(moduleToJs(ts), { parser: "babel", printWidth: 110 });
  return { code, dts: declarations(ts) };
}

/** The `.d.ts` text of a generated TypeScript module. */
export function declarations(ts: string): string {
  const lines = ts.split("\n");
  const header: string[] = [];
  for (const l of lines) {
    if (!l.startsWith("//")) break;
    header.push(l);
  }
  const out: string[] = [header.join("\n")];
  let doc: string[] = [];
  for (let i = header.length; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("/**")) {
      // A doc comment at column 0: kept if an export follows it.
      doc = [];
      for (; i < lines.length; i++) {
        doc.push(lines[i]);
        if (lines[i].trimEnd().endsWith("*/")) break;
      }
      continue;
    }
    if (!line.startsWith("export ")) {
      if (line.trim() !== "" && !line.startsWith(" ") && !line.startsWith("}") && !line.startsWith(")")) doc = [];
      continue;
    }
    const end = declarationEnd(lines, i);
    const text = lines.slice(i, end + 1).join("\n");
    out.push([...doc, declare(text)].join("\n"));
    doc = [];
    i = end;
  }
  return out.join("\n\n") + "\n";
}

/** The last line of the top-level declaration starting at line `i`: its brackets balance and it ends the statement. */
function declarationEnd(lines: string[], i: number): number {
  let depth = 0;
  for (let j = i; j < lines.length; j++) {
    depth += bracketDelta(lines[j]);
    const t = lines[j].trimEnd();
    if (depth === 0 && (t.endsWith(";") || t.endsWith("}"))) return j;
  }
  throw new Error(`internal error: unterminated declaration in the generated module: ${lines[i]}`);
}

/** Opening minus closing brackets on a line, outside strings and template literals. */
function bracketDelta(line: string): number {
  let d = 0;
  let quote = "";
  for (let k = 0; k < line.length; k++) {
    const c = line[k];
    if (quote) {
      if (c === "\\") k++;
      else if (c === quote) quote = "";
    } else if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "/" && line[k + 1] === "/") break;
    else if ("([{".includes(c)) d++;
    else if (")]}".includes(c)) d--;
  }
  return d;
}

/** One exported declaration as it appears in a `.d.ts`. */
function declare(text: string): string {
  if (/^export (interface|type) /.test(text)) return text;
  const konst = /^export const (\w+)(: ([^=]+?))? =/.exec(text);
  if (konst) {
    if (!konst[3]) throw new Error(`internal error: the generated module's 'export const ${konst[1]}' has no type annotation`);
    return `export declare const ${konst[1]}: ${konst[3].trim()};`;
  }
  if (text.startsWith("export function ")) return `export declare ${signature(text.slice("export ".length))};`;
  throw new Error(`internal error: no declaration form for this export of the generated module: ${text.split("\n")[0]}`);
}

/** `function f(a: A, b = 0): R { ... }` -> `function f(a: A, b?: number): R`. */
function signature(fn: string): string {
  const open = fn.indexOf("(");
  const close = matching(fn, open);
  const params = splitTopLevel(fn.slice(open + 1, close)).map(optionalParam);
  const rest = fn.slice(close + 1);
  const colon = /^\s*:/.exec(rest);
  if (!colon) throw new Error(`internal error: the generated function '${fn.slice(0, open)}' has no return type`);
  // The return type runs to the body's `{`: the first `{` at depth 0 that follows a complete type.
  let depth = 0;
  let k = colon[0].length;
  for (; k < rest.length; k++) {
    const c = rest[k];
    if (c === "{" && depth === 0 && /[\w\])}>]\s*$/.test(rest.slice(colon[0].length, k))) break;
    if ("([{<".includes(c)) depth++;
    else if (")]}".includes(c) || (c === ">" && rest[k - 1] !== "=")) depth--;
  }
  const ret = rest.slice(colon[0].length, k).trim();
  return `${fn.slice(0, open)}(${params.join(", ")}): ${ret}`;
}

function matching(s: string, open: number): number {
  let depth = 0;
  for (let k = open; k < s.length; k++) {
    if ("([{".includes(s[k])) depth++;
    else if (")]}".includes(s[k]) && --depth === 0) return k;
  }
  throw new Error(`internal error: unbalanced brackets in the generated module: ${s.slice(0, 80)}`);
}

function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let k = 0; k < s.length; k++) {
    if ("([{<".includes(s[k])) depth++;
    else if (")]}".includes(s[k]) || (s[k] === ">" && s[k - 1] !== "=")) depth--;
    else if (s[k] === "," && depth === 0) {
      parts.push(s.slice(from, k));
      from = k + 1;
    }
  }
  parts.push(s.slice(from));
  return parts.map((p) => p.trim()).filter(Boolean);
}

/** `seed = 0` -> `seed?: number`; `x: T = v` -> `x?: T`; others unchanged. */
function optionalParam(p: string): string {
  const m = /^(\w+)\s*(?::\s*([^=]+?))?\s*=\s*(.+)$/s.exec(p);
  if (!m) return p;
  const type = m[2] ?? literalType(m[3].trim());
  if (type === undefined) throw new Error(`internal error: cannot type the generated parameter '${p}'`);
  return `${m[1]}?: ${type.trim()}`;
}

function literalType(v: string): string | undefined {
  if (/^-?[\d.]+(e[-+]?\d+)?$/i.test(v)) return "number";
  if (/^(["'`]).*\1$/s.test(v)) return "string";
  if (v === "true" || v === "false") return "boolean";
  return undefined;
}
