// Layout: ops that move, repeat or pick elements (reshape, broadcast_to,
// concat, slices, xs[i]) and their adjoints that place a gradient back into
// a larger zero tensor (unslice, unindex) or add it into one (index_add,
// slice_add). Transpose and the matrix product are in linalg.ts.
import { broadcastShapes, sameShape, sameSize, showShape } from "../shape.js";
import { hull, point, type Interval } from "../ranges.js";
import { broadcastTensor, checkedIndex, forBox, numel, tensor, type Tensor } from "../tensor.js";
import type { Dim, Node } from "../types.js";
import { addDims, subDims } from "../dimexpr.js";
import { dims, fail, num, nums, requireInt, size, zeroFlops, NOTHING, type EvalContext, type LintRules, type OpDef } from "./define.js";
import type { OpKind } from "./kinds.js";

const first = (x: readonly Interval[]): Interval => x[0];
/** A layout op's lint facts: values pass through unchanged in what they are. */
const MOVES: LintRules = { interval: first, moments: ([p]) => p, gain: { kind: "same" }, roles: ["layout"] };
/** An adjoint that writes into zeros: its values and 0. */
const PLACES: LintRules = { interval: ([x]) => hull(x, point(0)), moments: () => null, gain: { kind: "same" }, roles: ["layout"] };

function layout(def: Omit<OpDef, "class" | "flops"> & Partial<OpDef>): OpDef {
  return { class: "layout", flops: zeroFlops, ...def };
}

/**
 * The static slice's region with the dims bound: starts and full extents per
 * axis (dropped axes have extent 1). Starts and ends may be dim expressions
 * (`H:2*H`); an extent that is not a positive integer is an EvalError.
 */
function region(n: Node, ctx: EvalContext): { starts: number[]; extent: number[] } {
  const starts = dims(n.attrs, "starts");
  const ends = dims(n.attrs, "ends");
  const extent = ends.map((e, i) => ctx.dim(subDims(e, starts[i])));
  return { starts: ends.map((e, i) => ctx.dim(e) - extent[i]), extent };
}

function sliceInfer(inputs: readonly Node[], a: Node["attrs"]) {
  const [x] = inputs;
  const starts = dims(a, "starts");
  const ends = dims(a, "ends");
  const drop = nums(a, "drop");
  const out: Dim[] = [];
  x.shape.forEach((d, i) => {
    const s = starts[i];
    const e = ends[i];
    if (drop.includes(i)) return;
    out.push(e === d && s === 0 ? d : subDims(e, s));
  });
  return { shape: out, dtype: x.dtype };
}

const copyOf = (t: Tensor): Tensor => tensor([...t.shape], Float64Array.from(t.data));

export const LAYOUT = {
  reshape: layout({
    codegen: { view: "whole" },
    arity: 1,
    infer: (inputs, a) => {
      const [x] = inputs;
      const shape = dims(a, "shape");
      if (!sameSize(x.shape, shape)) fail(`cannot reshape ${showShape(x.shape)} to ${showShape(shape)}: sizes differ`);
      return { shape: [...shape], dtype: x.dtype };
    },
    eval: ([x], n, ctx) => ({ shape: ctx.shape(dims(n.attrs, "shape")), data: x.data }),
    vjp: (b, n, ct) => [b.op("reshape", [ct], { shape: n.inputs[0].shape })],
    saves: NOTHING,
    lint: MOVES,
    example: { inputs: [[[3, 4], "float"]], attrs: { shape: [2, 6] } },
  }),
  broadcast_to: layout({
    codegen: { view: "strided" },
    arity: 1,
    infer: (inputs, a) => {
      const [x] = inputs;
      const shape = dims(a, "shape");
      const out = broadcastShapes([x.shape, shape]);
      if (!out || !sameShape(out, shape)) fail(`cannot broadcast ${showShape(x.shape)} to ${showShape(shape)}`);
      return { shape: [...shape], dtype: x.dtype };
    },
    eval: ([x], n, ctx) => broadcastTensor(x, ctx.shape(dims(n.attrs, "shape"))),
    vjp: (b, n, ct) => [b.op("sum_to", [ct], { shape: n.inputs[0].shape })],
    saves: NOTHING,
    lint: MOVES,
    example: { inputs: [[[4], "float"]], attrs: { shape: [3, 4] } },
  }),
  concat: layout({
    arity: 2,
    infer: (inputs, a) => {
      const [x, y] = inputs;
      if (x.dtype !== y.dtype) fail("concat operands must have the same dtype");
      const axis = num(a, "axis");
      if (x.shape.length !== y.shape.length) fail(`cannot concat ${showShape(x.shape)} and ${showShape(y.shape)}: ranks differ`);
      const out: Dim[] = [];
      for (let i = 0; i < x.shape.length; i++) {
        const p = x.shape[i];
        const q = y.shape[i];
        if (i === axis) out.push(addDims(p, q));
        else if (p !== q) fail(`cannot concat ${showShape(x.shape)} and ${showShape(y.shape)} along axis ${axis}`);
        else out.push(p);
      }
      return { shape: out, dtype: x.dtype };
    },
    eval: ([p, q], n) => {
      const axis = num(n.attrs, "axis");
      const shape = p.shape.map((d, i) => (i === axis ? d + q.shape[i] : d));
      const out = tensor(shape);
      const outer = numel(shape.slice(0, axis));
      const pi = numel(p.shape.slice(axis));
      const qi = numel(q.shape.slice(axis));
      for (let o = 0; o < outer; o++) {
        out.data.set(p.data.subarray(o * pi, (o + 1) * pi), o * (pi + qi));
        out.data.set(q.data.subarray(o * qi, (o + 1) * qi), o * (pi + qi) + pi);
      }
      return out;
    },
    vjp: (b, n, ct, needs) => {
      const [x] = n.inputs;
      const axis = num(n.attrs, "axis");
      const split = x.shape[axis];
      const total = n.shape[axis];
      const part = (lo: Dim, hi: Dim): Node =>
        b.op("slice", [ct], {
          starts: n.shape.map((_, i) => (i === axis ? lo : 0)),
          ends: n.shape.map((d, i) => (i === axis ? hi : d)),
          drop: [],
        });
      return [needs[0] ? part(0, split) : null, needs[1] ? part(split, total) : null];
    },
    saves: NOTHING,
    lint: {
      interval: ([p, q]) => hull(p, q),
      moments: ([p, q], n, dim) => {
        if (!p || !q) return null;
        const ax = num(n.attrs, "axis");
        const [u, v] = [dim(n.inputs[0].shape[ax]), dim(n.inputs[1].shape[ax])];
        const mean = (u * p.mean + v * q.mean) / (u + v);
        const e2 = (u * (p.var + p.mean ** 2) + v * (q.var + q.mean ** 2)) / (u + v);
        return { mean, var: e2 - mean * mean };
      },
      gain: { kind: "max" },
      roles: ["layout", "layout"],
    },
    example: { inputs: [[[3, 4], "float"], [[3, 2], "float"]], attrs: { axis: 1 } },
  }),
  /**
   * Static slice: per axis a half-open range [starts[i], ends[i]); axes in
   * `drop` were indexed by a single integer and are removed from the result.
   */
  slice: layout({
    codegen: { view: "strided" },
    arity: 1,
    infer: sliceInfer,
    eval: ([t], n, ctx) => {
      const { starts, extent } = region(n, ctx);
      const out = tensor(extent.filter((_, i) => !nums(n.attrs, "drop").includes(i)));
      forBox(t.shape, starts, extent, (off, i) => (out.data[i] = t.data[off]));
      return out;
    },
    vjp: (b, n, ct) => [b.op("unslice", [ct], { ...n.attrs, shape: n.inputs[0].shape })],
    saves: NOTHING,
    lint: MOVES,
    example: { inputs: [[[3, 4], "float"]], attrs: { starts: [0, 1], ends: [3, 3], drop: [] } },
  }),
  /** The inverse of slice: zeros of `shape` with the slice region set to the input. */
  unslice: layout({
    arity: 1,
    infer: (inputs, a) => ({ shape: [...dims(a, "shape")], dtype: inputs[0].dtype }),
    eval: ([v], n, ctx) => {
      const out = tensor(ctx.shape(dims(n.attrs, "shape")));
      const { starts, extent } = region(n, ctx);
      forBox(out.shape, starts, extent, (off, i) => (out.data[off] = v.data[i]));
      return out;
    },
    vjp: (b, n, ct) => [b.op("slice", [ct], { starts: n.attrs.starts, ends: n.attrs.ends, drop: n.attrs.drop })],
    saves: NOTHING,
    lint: PLACES,
    example: { inputs: [[[3, 2], "float"]], attrs: { starts: [0, 1], ends: [3, 3], drop: [], shape: [3, 4] } },
  }),
  /** x[i] along the first axis with a runtime int scalar i (xs[t] in a loop). */
  index: layout({
    // A view when the index is a loop counter; else codegen copies the row.
    codegen: { view: "strided" },
    arity: 2,
    infer: (inputs) => {
      const [x, i] = inputs;
      requireInt(i, "an index");
      if (i.shape.length !== 0) fail("an index must be an int scalar");
      if (x.shape.length === 0) fail("cannot index a scalar");
      return { shape: x.shape.slice(1), dtype: x.dtype };
    },
    eval: ([t, i]) => {
      const k = checkedIndex(i.data[0], t.shape[0], "xs[i]");
      const inner = numel(t.shape.slice(1));
      return { shape: t.shape.slice(1), data: t.data.slice(k * inner, (k + 1) * inner) };
    },
    vjp: (b, n, ct) => [b.op("unindex", [ct, n.inputs[1]], { n: n.inputs[0].shape[0] }), null],
    saves: { inputs: [1], output: false },
    indexes: (n, k) => (k === 1 ? n.inputs[0].shape[0] : null),
    lint: { ...MOVES, roles: ["layout", "select"] },
    example: { inputs: [[[5, 3], "float"], [[], "int"]] },
  }),
  /** Zeros of [n, ...ct.shape] with row i set to ct: the gradient of index. */
  unindex: layout({
    arity: 2,
    infer: (inputs, a) => ({ shape: [a.n as Dim, ...inputs[0].shape], dtype: "float" }),
    eval: ([v, i], n, ctx) => {
      const rows = ctx.dim(n.attrs.n as Dim);
      const out = tensor([rows, ...v.shape]);
      out.data.set(v.data, checkedIndex(i.data[0], rows, "xs[i]") * v.data.length);
      return out;
    },
    vjp: (b, n, ct) => [b.op("index", [ct, n.inputs[1]]), null],
    saves: { inputs: [1], output: false },
    indexes: (n, k) => (k === 1 ? (n.attrs.n as Dim) : null),
    lint: { ...PLACES, roles: ["layout", "select"] },
    example: { inputs: [[[3], "float"], [[], "int"]], attrs: { n: 5 } },
  }),
  /** acc with row i (first axis) increased by v: a loop's gradient for xs where the body reads xs[t]. */
  index_add: layout({
    arity: 3,
    infer: (inputs) => {
      const [acc, v, i] = inputs;
      requireInt(i, "an index");
      if (!sameShape(acc.shape.slice(1), v.shape)) fail(`cannot add ${showShape(v.shape)} into a row of ${showShape(acc.shape)}`);
      return { shape: [...acc.shape], dtype: "float" };
    },
    eval: ([acc, v, i]) => {
      const out = copyOf(acc);
      const at = checkedIndex(i.data[0], acc.shape[0], "xs[i]") * v.data.length;
      for (let k = 0; k < v.data.length; k++) out.data[at + k] += v.data[k];
      return out;
    },
    flops: (n, dv) => size(n.inputs[1], dv),
    indexes: (n, k) => (k === 2 ? n.inputs[0].shape[0] : null),
    lint: { interval: ([acc, v]) => hull(acc, addHull(acc, v)), moments: () => null, gain: { kind: "sum" }, roles: ["compute", "compute", "select"] },
    example: { inputs: [[[5, 3], "float"], [[3], "float"], [[], "int"]] },
  }),
  /**
   * acc with the region of a static slice (`starts`, `ends`, `drop` as for
   * slice) increased by v: gradients of several slices of one value (an
   * LSTM's gates) gathered into one buffer instead of summed unslices.
   */
  slice_add: layout({
    arity: 2,
    infer: (inputs, a) => {
      const [acc, v] = inputs;
      const reg = sliceInfer([acc], a).shape;
      if (!sameShape(reg, v.shape)) fail(`cannot add ${showShape(v.shape)} into a ${showShape(reg)} region of ${showShape(acc.shape)}`);
      return { shape: [...acc.shape], dtype: "float" };
    },
    eval: ([acc, v], n, ctx) => {
      const out = copyOf(acc);
      const { starts, extent } = region(n, ctx);
      forBox(acc.shape, starts, extent, (off, i) => (out.data[off] += v.data[i]));
      return out;
    },
    flops: (n, dv) => size(n.inputs[1], dv),
    lint: { interval: ([acc, v]) => hull(acc, addHull(acc, v)), moments: () => null, gain: { kind: "sum" } },
    example: { inputs: [[[3, 4], "float"], [[3, 2], "float"]], attrs: { starts: [0, 1], ends: [3, 3], drop: [] } },
  }),
} satisfies Partial<Record<OpKind, OpDef>>;

/** Values of acc + v where v lands (acc elsewhere). */
function addHull(acc: Interval, v: Interval): Interval {
  return { lo: acc.lo + v.lo, hi: acc.hi + v.hi, loOpen: acc.loOpen || v.loOpen, hiOpen: acc.hiOpen || v.hiOpen };
}
