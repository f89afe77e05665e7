// The argument checks of `forward` and `backward` (spec section 6): keys,
// array types and lengths, finiteness, and the symbolic dims read off the
// inputs' lengths, each failure an Error naming the tensor.
import { showShape } from "../ir/shape.js";
import type { DType, Graph, Node, Shape } from "../ir/types.js";
import type { Emitter } from "./context.js";
import { prop, str } from "./names.js";
import { product, sizeStr } from "./nest.js";

/** Argument checks and dim binding, shared by forward and backward. */
export function bindDims(cx: Emitter): string {
  const g = cx.g;
  const out: string[] = [];
  const dims = cx.dimOrder();
  const dimLocals = dims.map((d) => cx.dimLocal.get(d.dim) as string);
  const retType = dims.length ? `{ ${dimLocals.map((d) => `${d}: number`).join("; ")} }` : "void";
  out.push(`/** Checks the arguments against the model and reads the symbolic dims off the inputs' lengths. */`);
  out.push(`function bindDims(params: Params, inputs: Inputs): ${retType} {`);
  out.push(`${cx.use("checkKeys")}("params", params, ${JSON.stringify(g.params.map((p) => p.name))});`);
  out.push(`checkKeys("inputs", inputs, ${JSON.stringify(g.inputs.map((p) => p.name))});`);
  const known = new Map<string, string>(); // dim -> where it came from
  const shapeText = (s: Shape, dtype: DType): string => {
    const base = str(`${dtype === "int" ? "int" : ""}${showShape(s)}`);
    const syms = [...new Set(s.filter((d): d is string => typeof d === "string" && known.has(d)))];
    if (!syms.length) return base;
    const parts = syms.map((d, i) => `${str(`${i ? ", " : " with "}${d} = `)} + ${cx.dimLocal.get(d)}${known.get(d) === "" ? "" : ` + ${str(` (from ${known.get(d)})`)}`}`);
    return `${base} + ${parts.join(" + ")}`;
  };
  const typeOf = (n: Node): string => (n.dtype === "int" ? "Int32Array" : cx.FA);
  for (const p of g.params) {
    const what = `params.${p.name}`;
    const acc = prop("params", p.name as string);
    out.push(`${cx.use("checkArray")}(${str(what)}, ${acc}, ${typeOf(p)}, ${shapeText(p.shape, "float")}, ${sizeStr(product(cx.sizes(p.shape)))});`);
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
      const rest = product(n.shape.filter((x) => x !== d.dim).map((x) => cx.dimSize(x)));
      out.push(
        `const ${cx.dimLocal.get(d.dim)} = ${cx.use("inferDim")}(${str(what)}, ${acc}, ${typeOf(n)}, ${shapeText(n.shape, n.dtype)}, ${str(d.dim)}, ${sizeStr(rest)});`,
      );
      known.set(d.dim, what);
    } else if (n.shape.length === 0) {
      // A number, or a one-element array; checkScalar checks finiteness (float) or integrality (int).
      out.push(`${cx.use("checkScalar")}(${str(what)}, ${acc}, ${typeOf(n)});`);
      continue;
    } else {
      out.push(`checkArray(${str(what)}, ${acc}, ${typeOf(n)}, ${shapeText(n.shape, n.dtype)}, ${sizeStr(product(cx.sizes(n.shape)))});`);
      cx.use("checkArray");
    }
    if (n.dtype === "float") out.push(`${cx.use("checkFinite")}(${str(what)}, ${acc});`);
  }
  if (dims.length) out.push(`return { ${dimLocals.join(", ")} };`);
  out.push(`}`);
  return out.join("\n");
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
