// The argument checks of `forward` and `backward` (spec section 6): keys,
// array types and lengths, finiteness, and the symbolic dims read off the
// inputs' lengths, each failure an Error naming the tensor.
import { dimAtoms } from "../ir/dimexpr.js";
import { showShape } from "../ir/shape.js";
import type { DType, Graph, Node, Shape } from "../ir/types.js";
import type { Emitter } from "./context.js";
import { prop, str } from "./names.js";
import { product, sizeStr } from "./nest.js";

/**
 * Argument checks and dim binding, shared by forward and backward: a
 * function that checks the arguments, reads the dims and returns their
 * workspace. A message is built only when a check fails, so a call with good
 * arguments allocates nothing.
 */
export function bindDims(cx: Emitter): string {
  const g = cx.g;
  const out: string[] = [];
  const dims = cx.dimOrder();
  const dimLocals = dims.map((d) => cx.dimLocal.get(d.dim) as string);
  const paramKeys = cx.names.claim("paramKeys");
  const inputKeys = cx.names.claim("inputKeys");
  out.push(`const ${paramKeys}: readonly string[] = ${JSON.stringify(g.params.map((p) => p.name))};`);
  out.push(`const ${inputKeys}: readonly string[] = ${JSON.stringify(g.inputs.map((p) => p.name))};`);
  out.push(`/** Checks the arguments against the model, reads the symbolic dims off the inputs' lengths and returns their workspace. */`);
  out.push(`function bindDims(params: Params, inputs: Inputs): ForwardWorkspace {`);
  out.push(`${cx.use("checkKeys")}("params", params, ${paramKeys});`);
  out.push(`checkKeys("inputs", inputs, ${inputKeys});`);
  const known = new Map<string, string>(); // dim -> where it came from
  // Each dim expression (`T-1`) is checked positive as soon as its dims are read, before any length uses it.
  const pending = new Set(cx.composites);
  const checkComposites = (): void => {
    for (const d of pending) {
      const atoms = dimAtoms(d);
      if (!atoms.every((a) => known.has(a))) continue;
      pending.delete(d);
      const v = cx.dimJs(d);
      const given = atoms.map((a, i) => `${templateText(`${i ? ", " : ""}${a} = `)}\${${cx.dimLocal.get(a)}}`).join("");
      out.push(`if (!(Number.isInteger(${v}) && ${v} >= 1)) ${cx.use("badSize")}(${str(d)}, ${v}, \`${given}\`);`);
    }
  };
  // The expected shape as a message shows it: a string literal, or a template naming the dims read so far.
  const shapeText = (s: Shape, dtype: DType): { text: string; fixed: boolean } => {
    const base = `${dtype === "int" ? "int" : ""}${showShape(s)}`;
    const syms = [...new Set(s.filter((d): d is string => typeof d === "string" && known.has(d)))];
    if (!syms.length) return { text: str(base), fixed: true };
    const parts = syms.map((d, i) => `${templateText(`${i ? ", " : " with "}${d} = `)}\${${cx.dimLocal.get(d)}}${templateText(` (from ${known.get(d)})`)}`);
    return { text: `\`${templateText(base)}${parts.join("")}\``, fixed: false };
  };
  const typeOf = (n: Node): string => (n.dtype === "int" ? "Int32Array" : cx.FA);
  const checkArray = (what: string, acc: string, n: Node): void => {
    const shape = shapeText(n.shape, n.dtype);
    const length = sizeStr(product(cx.sizes(n.shape)));
    const call = `${cx.use("checkArray")}(${str(what)}, ${acc}, ${typeOf(n)}, ${shape.text}, ${length});`;
    // checkArray throws exactly when the test fails; a message naming dims is built only then.
    out.push(shape.fixed ? call : `if (!(${acc} instanceof ${typeOf(n)} && ${acc}.length === ${length})) ${call}`);
  };
  for (const p of g.params) {
    const what = `params.${p.name}`;
    const acc = prop("params", p.name as string);
    checkArray(what, acc, p);
    if (![...cx.witnesses.values()].some((ps) => ps.includes(p))) out.push(`${cx.use("checkFinite")}(${str(what)}, ${acc});`);
  }
  const inferredBy = new Map(dims.map((d) => [d.input, d]));
  // Inputs that bind a dim come first, in the order the dims are inferred.
  const ordered = [...dims.map((d) => d.input), ...g.inputs.filter((n) => !inferredBy.has(n))];
  for (const n of ordered) {
    const what = `inputs.${n.name}`;
    const acc = prop("inputs", n.name as string);
    const d = inferredBy.get(n);
    if (d) {
      const rest = sizeStr(cx.dimSize(d.rest));
      const local = cx.dimLocal.get(d.dim) as string;
      out.push(`const ${local} = ${cx.use("inferDim")}(${acc}, ${typeOf(n)}, ${rest});`);
      out.push(`if (${local} === 0) ${cx.use("badDim")}(${str(what)}, ${acc}, ${typeOf(n)}, ${shapeText(n.shape, n.dtype).text}, ${str(d.dim)}, ${rest});`);
      known.set(d.dim, what);
      checkComposites();
    } else if (n.shape.length === 0) {
      // A number, or a one-element array; checkScalar checks finiteness (float) or integrality (int).
      out.push(`${cx.use("checkScalar")}(${str(what)}, ${acc}, ${typeOf(n)});`);
      continue;
    } else checkArray(what, acc, n);
    if (n.dtype === "float") out.push(`${cx.use("checkFinite")}(${str(what)}, ${acc});`);
  }
  out.push(`return useWorkspaces(${dimLocals.join(", ")});`);
  out.push(`}`);
  return out.join("\n");
}

/** Text inside a template literal: backslashes, backquotes and dollar signs escaped. */
function templateText(s: string): string {
  return s.replace(/[\\`$]/g, (c) => `\\${c}`);
}

/**
 * For each param, a top-level forward matmul it feeds whose output is smaller
 * than the param (x @ W1 at a small batch): checking that output for NaN or
 * infinity checks the param, for a fraction of the reads.
 */
export function finitenessWitnesses(g: Graph, live: ReadonlySet<Node>): Map<Node, Node[]> {
  const out = new Map<Node, Node[]>();
  const constPart = (s: Shape): number => s.reduce<number>((p, d) => p * (typeof d === "number" ? d : 1), 1);
  // The first such matmul of each param, in one pass over the nodes.
  const params = new Set(g.params);
  const seen = new Set<Node>();
  for (const n of g.nodes) {
    if (n.phase !== "fwd" || (n.op !== "matmul" && n.op !== "matmul_add") || !live.has(n)) continue;
    for (const p of new Set(n.inputs)) {
      if (!params.has(p) || seen.has(p) || !(constPart(n.shape) < constPart(p.shape))) continue;
      seen.add(p);
      out.set(n, [...(out.get(n) ?? []), p]);
    }
  }
  // Witnesses in the params' declaration order, as before.
  for (const [n, ps] of out) out.set(n, g.params.filter((p) => ps.includes(p)));
  return out;
}
