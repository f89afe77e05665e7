// How a call's symbolic dims are found (spec section 6): each is read off the
// length of an input in which it is the only dim not yet known, appearing as a
// factor of the input's size (`[B, D]`, `[B*T, D]` once T is known; not
// `[B+1, D]` nor `[B, B]`). The front end rejects a model with a dim this
// cannot find; codegen reads them in this order.
import { DimError, dimAtoms, evalDim, linearCoefficient } from "./dimexpr.js";
import { sizeOf } from "./shape.js";
import { EvalError } from "./tensor.js";
import type { Dim, Graph, Node } from "./types.js";

/**
 * The order in which symbolic dims are read off input lengths, each with the
 * input that gives it and `rest`, the input's size divided by the dim.
 */
export function dimOrder(inputs: readonly Node[]): { dim: string; input: Node; rest: Dim }[] {
  const known = new Set<string>();
  const order: { dim: string; input: Node; rest: Dim }[] = [];
  for (let progress = true; progress; ) {
    progress = false;
    for (const n of inputs) {
      const unknown = new Set(n.shape.flatMap(dimAtoms).filter((a) => !known.has(a)));
      if (unknown.size !== 1) continue;
      const [dim] = unknown;
      const rest = linearCoefficient(sizeOf(n.shape), dim);
      if (rest === null) continue;
      known.add(dim);
      order.push({ dim, input: n, rest });
      progress = true;
    }
  }
  return order;
}

/**
 * The value of a size with its symbolic dims bound by `env`: a positive
 * integer, else an EvalError quoting it (`dim T-5 = -2 is not a positive integer`).
 */
export function sizeValue(d: Dim, env: ReadonlyMap<string, number> | ((atom: string) => number | undefined)): number {
  if (typeof d === "number") return d;
  let v: number;
  try {
    v = evalDim(d, env);
  } catch (e) {
    if (e instanceof DimError) throw new EvalError(`dim ${d}: ${e.message}`);
    throw e;
  }
  if (!(Number.isInteger(v) && v >= 1)) throw new EvalError(`dim ${d} = ${v} is not a positive integer`);
  return v;
}

/** Every size a graph uses: node shapes, in loop bodies too, and loop counts. */
function sizesOf(g: Graph): Dim[] {
  const out = new Set<Dim>();
  const visit = (nodes: readonly Node[]): void => {
    for (const n of nodes) {
      for (const d of n.shape) out.add(d);
      if (n.op === "loop") out.add(n.attrs.count as Dim);
      if (n.body) visit([n.body.index, ...n.body.carried, ...n.body.nodes]);
    }
  };
  visit([...g.inputs, ...g.params, ...g.nodes]);
  return [...out].filter((d) => typeof d === "string");
}

/**
 * The one size the linter and `bpc check` bind every symbolic dim to: the
 * first from `base` up at which every size of the graph is a positive
 * integer (`T-5` needs T >= 6); `base` when none up to base + 1024 is.
 */
export function symbolicSize(g: Graph, base: number): number {
  const sizes = sizesOf(g);
  for (let s = base; s <= base + 1024; s++) {
    const ok = sizes.every((d) => {
      try {
        return sizeValue(d, () => s) >= 1;
      } catch (e) {
        if (e instanceof EvalError) return false;
        throw e;
      }
    });
    if (ok) return s;
  }
  return base;
}

/** A size with every symbolic dim at `s`, at least 1: for estimates (costs, moments), never for allocation. */
export function approxSize(d: Dim, s: number): number {
  if (typeof d === "number") return d;
  try {
    return Math.max(1, evalDim(d, () => s));
  } catch (e) {
    if (e instanceof DimError) return 1;
    throw e;
  }
}
