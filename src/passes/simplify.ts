// Simplification of the IR after autodiff, as named passes over mapGraph:
// constant folding, algebraic identities, CSE and DCE. The backward IR that
// autodiff writes is correct but naive (x * 1, 0 + x, transposes that a
// matmul flag can absorb); these passes make it what a person would write.
import type { Builder } from "../ir/builder.js";
import { OPS } from "../ir/ops.js";
import { permOf } from "../ir/ops/linalg.js";
import { broadcastShapes, constSize, sameShape } from "../ir/shape.js";
import type { Attrs, Graph, LoopBody, Node } from "../ir/types.js";
import { mapGraph, type Rule } from "./rewrite.js";

const constValue = (n: Node): number | null => (n.op === "const" ? (n.attrs.value as number) : null);
const fullValue = (n: Node): number | null =>
  n.op === "const" ? (n.attrs.value as number) : n.op === "full" ? (n.attrs.value as number) : null;

/** Elementwise ops whose inputs are all constants become one constant. */
export const foldRule: Rule = (b, n, inputs) => {
  if (n.op === "numel") {
    const size = constSize(n.attrs.dims as (number | string)[]);
    return size === null ? null : b.const(size);
  }
  const def = OPS[n.op];
  if (def.class !== "elementwise" || !def.scalar || inputs.length === 0) return null;
  const values = inputs.map(constValue);
  if (values.some((v) => v === null)) return null;
  const names = values.map((_, i) => `a${i}`);
  // Formulas calling module functions (erf) fold through their float64 twin.
  const value = def.calls?.length && def.f64 ? def.f64(n.attrs)(...(values as number[])) : (new Function(...names, `return ${def.scalar(names, n.attrs)};`)(...values) as number);
  return Number.isFinite(value) ? b.const(value) : null;
};

/**
 * An elementwise op on a broadcast value and scalars runs before the
 * broadcast: div(broadcast_to(1, [B]), B) becomes broadcast_to(1 / B, [B]),
 * one division instead of B.
 */
function hoistBroadcast(b: Builder, n: Node, inputs: Node[]): Node | null {
  if (OPS[n.op].class !== "elementwise" || inputs.length === 0) return null;
  // Elementwise ops broadcast by themselves: an explicit broadcast_to that
  // the other inputs already imply is dropped.
  const narrowed = inputs.map((i) => (i.op === "broadcast_to" ? i.inputs[0] : i));
  if (narrowed.some((x, k) => x !== inputs[k]) && inputs.some((i) => i.op !== "broadcast_to")) {
    const shape = broadcastShapes(narrowed.map((x) => x.shape));
    if (shape && sameShape(shape, n.shape)) return b.op(n.op, narrowed, n.attrs);
  }
  const wide = inputs.filter((i) => i.shape.length > 0);
  if (wide.length !== 1 || wide[0].op !== "broadcast_to") return null;
  const inner = wide[0].inputs[0];
  const moved = b.op(n.op, inputs.map((i) => (i === wide[0] ? inner : i)), n.attrs);
  return b.op("broadcast_to", [moved], { shape: n.shape });
}

/** The slice region an unslice writes. */
function regionOf(n: Node): Attrs {
  return { starts: n.attrs.starts, ends: n.attrs.ends, drop: n.attrs.drop };
}

/** x*1, x+0, 0*x, neg(neg x), transposes absorbed by matmul, no-op reshapes. */
export const algebraRule: Rule = (b, n, inputs) => {
  const hoisted = hoistBroadcast(b, n, inputs);
  if (hoisted) return hoisted;
  const [x, y] = inputs;
  const keeps = (v: Node): boolean => sameShape(v.shape, n.shape);
  const zeros = (): Node => b.op("full", [], { shape: n.shape, value: 0 });
  switch (n.op) {
    case "add":
      if (fullValue(y) === 0 && keeps(x)) return x;
      if (fullValue(x) === 0 && keeps(y)) return y;
      if (y.op === "unindex" && keeps(x)) return b.op("index_add", [x, y.inputs[0], y.inputs[1]]);
      if (x.op === "unindex" && keeps(y)) return b.op("index_add", [y, x.inputs[0], x.inputs[1]]);
      if (y.op === "unslice" && keeps(x)) return b.op("slice_add", [x, y.inputs[0]], regionOf(y));
      if (x.op === "unslice" && keeps(y)) return b.op("slice_add", [y, x.inputs[0]], regionOf(x));
      // section 9: index. Gradients of runtime regions and gathers add into their accumulator.
      for (const [acc, g] of [[x, y], [y, x]]) {
        if (!keeps(acc)) continue;
        if (g.op === "dunslice") return b.op("dslice_add", [acc, ...g.inputs], { sizes: g.attrs.sizes, drop: g.attrs.drop, what: g.attrs.what });
        if (g.op === "scatter_add") return b.op("gather_add", [acc, g.inputs[0], g.inputs[1]], { axis: g.attrs.axis, what: g.attrs.what });
        // acc + (y with v added in a region) is (acc + y) with v added there: the regions add into acc.
        if (g.op === "dslice_add" || g.op === "gather_add" || g.op === "index_add" || g.op === "slice_add") {
          return b.op(g.op, [b.op("add", [acc, g.inputs[0]]), ...g.inputs.slice(1)], g.attrs);
        }
      }
      return null;
    case "sub":
      if (fullValue(y) === 0 && keeps(x)) return x;
      // neg is a float op; -i of an int stays 0 - i.
      if (fullValue(x) === 0 && keeps(y) && n.dtype === "float") return b.op("neg", [y]);
      return null;
    case "mul":
      if (fullValue(y) === 1 && keeps(x)) return x;
      if (fullValue(x) === 1 && keeps(y)) return y;
      if ((fullValue(x) === 0 || fullValue(y) === 0) && n.dtype === "float") return zeros();
      if (fullValue(y) === -1 && keeps(x) && n.dtype === "float") return b.op("neg", [x]);
      if (fullValue(x) === -1 && keeps(y) && n.dtype === "float") return b.op("neg", [y]);
      return null;
    case "div":
      if (fullValue(y) === 1 && keeps(x)) return x;
      return null;
    case "pow":
      if (constValue(y) === 1 && keeps(x)) return x;
      if (constValue(y) === 2 && keeps(x)) return b.op("square", [x]);
      return null;
    case "where": {
      // A constant condition picks a branch.
      const c = fullValue(x);
      if (c === null) return null;
      const branch = c !== 0 ? inputs[1] : inputs[2];
      return keeps(branch) ? branch : b.op("broadcast_to", [branch], { shape: n.shape });
    }
    case "neg":
      if (x.op === "neg") return x.inputs[0];
      if (fullValue(x) === 0) return zeros();
      return null;
    case "transpose": {
      // Transposes compose; the identity permutation (a 1-D x.T) is x.
      const perm = x.op === "transpose" ? permOf(n).map((k) => permOf(x)[k]) : permOf(n);
      const src = x.op === "transpose" ? x.inputs[0] : x;
      if (perm.every((k, i) => k === i)) return src;
      return x.op === "transpose" ? b.op("transpose", [src], { perm }) : null;
    }
    case "reshape":
      if (sameShape(x.shape, n.shape)) return x;
      if (x.op === "reshape") return b.op("reshape", [x.inputs[0]], n.attrs);
      // A reshaped broadcast of one value is a broadcast of it.
      if (x.op === "broadcast_to" && constSize(x.inputs[0].shape) === 1) {
        const v = x.inputs[0].shape.length ? b.op("reshape", [x.inputs[0]], { shape: [] }) : x.inputs[0];
        return b.op("broadcast_to", [v], { shape: n.shape });
      }
      return null;
    case "broadcast_to":
      if (sameShape(x.shape, n.shape)) return x;
      if (x.op === "broadcast_to") return b.op("broadcast_to", [x.inputs[0]], n.attrs);
      if (x.op === "reshape" && constSize(x.shape) === 1) {
        const v = x.inputs[0].shape.length ? b.op("reshape", [x.inputs[0]], { shape: [] }) : x.inputs[0];
        return v === x ? null : b.op("broadcast_to", [v], n.attrs);
      }
      return null;
    case "sum_to":
      if (sameShape(x.shape, n.shape)) return x;
      return null;
    case "matmul":
    case "matmul_add": {
      const acc = n.op === "matmul_add" ? [inputs[0]] : [];
      let [a, c] = inputs.slice(acc.length);
      let { transA, transB } = n.attrs as { transA: boolean; transB: boolean };
      if (!swapsLastTwo(a) && !swapsLastTwo(c)) return null;
      if (swapsLastTwo(a)) [a, transA] = [a.inputs[0], !transA];
      if (swapsLastTwo(c)) [c, transB] = [c.inputs[0], !transB];
      return b.op(n.op, [...acc, a, c], { ...n.attrs, transA, transB });
    }
    default:
      return null;
  }
};

/** A transpose that swaps the last two axes only: a matmul reads it through its transA / transB flag. */
function swapsLastTwo(t: Node): boolean {
  if (t.op !== "transpose") return false;
  const p = permOf(t);
  const r = p.length;
  return r >= 2 && p[r - 2] === r - 1 && p[r - 1] === r - 2 && p.slice(0, r - 2).every((k, i) => k === i);
}

/** How many nodes read each node (by id), and the block (0: top level) each node is in. */
function readersAndBlocks(g: Graph): { readers: Map<number, number>; block: Map<number, number> } {
  const readers = new Map<number, number>();
  const block = new Map<number, number>();
  let blocks = 0;
  const walk = (nodes: readonly Node[], id: number): void => {
    for (const n of nodes) {
      block.set(n.id, id);
      for (const i of new Set(n.inputs)) readers.set(i.id, (readers.get(i.id) ?? 0) + 1);
      if (n.body) walk(n.body.nodes, ++blocks);
    }
  };
  walk(g.nodes, 0);
  for (const r of [...g.outputs.map((o) => o.node), g.loss, ...g.grads.map((x) => x.node)]) readers.set(r.id, (readers.get(r.id) ?? 0) + 1);
  const loopReads = (nodes: readonly Node[]): void => {
    for (const n of nodes) {
      if (!n.body) continue;
      for (const r of [...n.body.results, ...n.body.tape]) readers.set(r.id, (readers.get(r.id) ?? 0) + 1);
      loopReads(n.body.nodes);
    }
  };
  loopReads(g.nodes);
  return { readers, block };
}

/** Values a matmul can add into in place: computed here (or carried), not inputs, constants or views of another value. */
function ownsBuffer(n: Node): boolean {
  const def = OPS[n.op];
  return n.op === "carry" || (def.class !== "source" && !(def.codegen && "view" in def.codegen));
}

/**
 * acc + a @ b, where nothing else reads the product or acc, the product is
 * computed in the same block and phase, and acc is a value of its own (a
 * matmul, a loop's gradient accumulator), becomes matmul_add(acc, a, b): the
 * matmul adds into acc's buffer, so no temporary holds the product (BPTT's
 * per-step weight gradients).
 */
function accumulateRule(info: ReturnType<typeof readersAndBlocks>): Rule {
  return (b, n, inputs) => {
    if (n.op !== "add") return null;
    for (const k of [1, 0]) {
      const [mm, a] = [n.inputs[k], n.inputs[1 - k]];
      const [m, acc] = [inputs[k], inputs[1 - k]];
      if (mm.op !== "matmul" || m.op !== "matmul" || mm.phase !== n.phase || acc === m) continue;
      if (info.readers.get(mm.id) !== 1 || info.block.get(mm.id) !== info.block.get(n.id)) continue;
      if (info.readers.get(a.id) !== 1 || !ownsBuffer(a) || !ownsBuffer(acc) || !sameShape(acc.shape, n.shape) || !sameShape(m.shape, n.shape)) continue;
      return b.op("matmul_add", [acc, m.inputs[0], m.inputs[1]], m.attrs);
    }
    return null;
  };
}

export const foldConstants = (g: Graph): Graph => mapGraph(g, { rule: foldRule });
/**
 * (op(a) @ op(b))ᵀ, where nothing else reads the product, is op(b)ᵀ @
 * op(a)ᵀ: one product written in the layout its readers want (the gradient
 * of W in h @ W.T, of k in q @ k.mT), instead of a transposed view of it.
 */
function transposedProductRule(info: ReturnType<typeof readersAndBlocks>): Rule {
  return (b, n, inputs) => {
    const [mm] = n.inputs;
    const [m] = inputs;
    if (n.op !== "transpose" || !swapsLastTwo(n) || mm.op !== "matmul" || m.op !== "matmul" || mm.phase !== n.phase) return null;
    if (info.readers.get(mm.id) !== 1 || info.block.get(mm.id) !== info.block.get(n.id)) return null;
    return b.op("matmul", [m.inputs[1], m.inputs[0]], { ...m.attrs, transA: m.attrs.transB !== true, transB: m.attrs.transA !== true });
  };
}

export const algebraicIdentities = (g: Graph): Graph => {
  const info = readersAndBlocks(g);
  const accumulate = accumulateRule(info);
  const transposed = transposedProductRule(info);
  return mapGraph(g, { rule: (b, n, inputs) => algebraRule(b, n, inputs) ?? accumulate(b, n, inputs) ?? transposed(b, n, inputs) });
};
/** Hash-consing rebuild: equal nodes (same op, inputs and attrs) become one, across forward and backward. */
export const cse = (g: Graph): Graph => mapGraph(g, { intern: true });

/** Drops nodes that reach no output, loss, gradient or loop result. */
export function dce(g: Graph): Graph {
  const live = new Set<number>();
  // An explicit stack: a model of thousands of lines is a chain thousands deep.
  const stack: Node[] = [];
  const mark = (root: Node): void => {
    stack.push(root);
    while (stack.length) {
      const n = stack.pop() as Node;
      if (live.has(n.id)) continue;
      live.add(n.id);
      stack.push(...n.inputs);
      if (n.op === "loop_out" || n.op === "loop_tape") {
        const body = n.inputs[0].body as LoopBody;
        if (!live.has(body.index.id)) {
          live.add(body.index.id);
          for (const c of body.carried) live.add(c.id);
          stack.push(...body.results, ...body.tape);
        }
      }
    }
  };
  for (const o of g.outputs) mark(o.node);
  mark(g.loss);
  for (const x of g.grads) mark(x.node);
  return mapGraph(prune(g, live));
}

function prune(g: Graph, live: Set<number>): Graph {
  const keep = (nodes: readonly Node[]): Node[] =>
    nodes.filter((n) => live.has(n.id)).map((n) => (n.body ? { ...n, body: { ...n.body, nodes: keep(n.body.nodes) } } : n));
  return { ...g, nodes: keep(g.nodes) };
}

/** Node count including loop bodies, the measure the pipeline iterates on. */
export function graphSize(g: Graph): number {
  const count = (nodes: readonly Node[]): number =>
    nodes.reduce((s, n) => s + 1 + (n.body ? count(n.body.nodes) : 0), 0);
  return count(g.nodes);
}

export type { Builder };
