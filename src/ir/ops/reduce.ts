// Reductions over axes (`axes` normalised: non-negative, sorted), argmax,
// the first-extreme mask that routes max's gradient, and sum_to (the adjoint
// of broadcasting).
import { broadcastShapes, reducedShape, sameShape, showShape } from "../shape.js";
import { iv, scaleI, type Interval } from "../ranges.js";
import { alongAxis, forEachInto, mapElements, reduceAxes, sumTo, type Tensor } from "../tensor.js";
import type { Dim, DType, Node } from "../types.js";
import {
  broadcastBack,
  dims,
  fail,
  keepdimsOf,
  nums,
  requireFloat,
  size,
  NOTHING,
  INPUT0,
  type DimRange,
  type LintRules,
  type OpDef,
} from "./define.js";
import type { OpKind } from "./kinds.js";

function reduceInfer(inputs: readonly Node[], a: Node["attrs"]): { shape: Dim[]; dtype: DType } {
  requireFloat(inputs);
  return { shape: reducedShape(inputs[0].shape, nums(a, "axes"), a.keepdims === true), dtype: "float" };
}

const reducedDims = (n: Node): Dim[] => nums(n.attrs, "axes").map((i) => n.inputs[0].shape[i]);

/** How many elements one output element reduces, as a range over the symbolic dims. */
function countRange(ds: readonly Dim[], range: DimRange): [number, number] {
  const rs = ds.map(range);
  return [rs.reduce((p, d) => p * d[0], 1), rs.reduce((p, d) => p * d[1], 1)];
}

const SAME: LintRules["gain"] = { kind: "same" };
const first = (x: readonly Interval[]): Interval => x[0];

function reduction(def: Omit<OpDef, "class" | "arity" | "infer" | "example" | "flops"> & Partial<OpDef>): OpDef {
  return {
    class: "reduce",
    arity: 1,
    infer: reduceInfer,
    flops: (n, dv) => size(n.inputs[0], dv),
    example: { inputs: [[["B", 4], "float"]], attrs: { axes: [1], keepdims: false } },
    ...def,
  };
}

const axesOf = (n: Node): number[] => [...nums(n.attrs, "axes")];

/** 1 at the first element (row-major) equal to the extreme of its reduced group, 0 elsewhere. */
function firstExtremeMask(x: Tensor, axes: readonly number[], mode: "max" | "min"): Tensor {
  const ext = reduceAxes(x, axes, true, mode === "max" ? -Infinity : Infinity, mode === "max" ? Math.max : Math.min);
  const taken = new Uint8Array(ext.data.length);
  const out = mapElements(() => 0, [x]);
  forEachInto(x.shape, ext.shape, (i, o) => {
    if (!taken[o] && x.data[i] === ext.data[o]) {
      taken[o] = 1;
      out.data[i] = 1;
    }
  });
  return out;
}

export const REDUCE = {
  sum: reduction({
    codegen: { fold: "sum" },
    eval: ([x], n) => reduceAxes(x, axesOf(n), n.attrs.keepdims === true, 0, (s, v) => s + v),
    vjp: (b, n, ct) => [broadcastBack(b, n, ct)],
    saves: NOTHING,
    lint: {
      interval: ([x], n, range) => scaleI(x, ...countRange(reducedDims(n), range)),
      moments: ([p], n, dim) => {
        if (!p) return null;
        const k = reducedDims(n).reduce<number>((s, d) => s * dim(d), 1);
        return { mean: k * p.mean, var: k * p.var };
      },
      gain: { unsupported: "a sum's gain grows with the number of terms it adds" },
    },
  }),
  mean: reduction({
    codegen: { fold: "mean" },
    eval: ([x], n) => reduceAxes(x, axesOf(n), n.attrs.keepdims === true, 0, (s, v) => s + v, (s, c) => s / c),
    vjp: (b, n, ct) => {
      const x = n.inputs[0];
      const count = b.op("numel", [], { dims: nums(n.attrs, "axes").map((i) => x.shape[i]) });
      return [b.op("div", [broadcastBack(b, n, ct), count])];
    },
    saves: NOTHING,
    lint: {
      interval: first,
      moments: ([p], n, dim) => {
        if (!p) return null;
        const k = reducedDims(n).reduce<number>((s, d) => s * dim(d), 1);
        return { mean: p.mean, var: p.var / k };
      },
      gain: SAME,
    },
  }),
  max: reduction({
    codegen: { fold: "max" },
    eval: ([x], n) => reduceAxes(x, axesOf(n), n.attrs.keepdims === true, -Infinity, Math.max),
    vjp: (b, n, ct) => [b.op("mul", [b.op("first_extreme_mask", [n.inputs[0]], { axes: n.attrs.axes, mode: "max" }), broadcastBack(b, n, ct)])],
    saves: INPUT0,
    zeroGrad: "outside",
    lint: { interval: first, moments: () => null, gain: SAME },
  }),
  min: reduction({
    codegen: { fold: "min" },
    eval: ([x], n) => reduceAxes(x, axesOf(n), n.attrs.keepdims === true, Infinity, Math.min),
    vjp: (b, n, ct) => [b.op("mul", [b.op("first_extreme_mask", [n.inputs[0]], { axes: n.attrs.axes, mode: "min" }), broadcastBack(b, n, ct)])],
    saves: INPUT0,
    zeroGrad: "outside",
    lint: { interval: first, moments: () => null, gain: SAME },
  }),
  logsumexp: reduction({
    eval: ([x], n) => {
      const axes = axesOf(n);
      const m = reduceAxes(x, axes, true, -Infinity, Math.max);
      const e = mapElements((v, mm) => Math.exp(v - mm), [x, m]);
      const s = reduceAxes(e, axes, true, 0, (p, v) => p + v);
      const r = mapElements((ss, mm) => Math.log(ss) + mm, [s, m]);
      return n.attrs.keepdims ? r : { shape: x.shape.filter((_, i) => !axes.includes(i)), data: r.data };
    },
    vjp: (b, n, ct) => {
      const x = n.inputs[0];
      const y = b.op("broadcast_to", [keepdimsOf(b, n, n)], { shape: x.shape });
      return [b.op("mul", [b.op("exp", [b.op("sub", [x, y])]), broadcastBack(b, n, ct)])];
    },
    saves: { inputs: [0], output: true },
    // max, subtract, exp, add per element; log and add per result.
    flops: (n, dv) => 4 * size(n.inputs[0], dv) + 2 * size(n, dv),
    lint: {
      interval: ([x], n, range) => iv(x.lo, x.hi + Math.log(countRange(reducedDims(n), range)[1]), x.loOpen, x.hiOpen),
      moments: () => null,
      gain: SAME,
    },
  }),
  argmax: reduction({
    infer: (inputs, a) => {
      requireFloat(inputs);
      return { shape: reducedShape(inputs[0].shape, nums(a, "axes"), false), dtype: "int" };
    },
    eval: ([x], n) =>
      alongAxis(x, axesOf(n)[0], (l) => {
        let best = 0;
        for (let k = 1; k < l.length; k++) if (l[k] > l[best]) best = k;
        return best;
      }),
    vjp: () => [null],
    saves: NOTHING,
    zeroGrad: "everywhere",
    lint: {
      interval: (_x, n, range) => iv(0, range(n.inputs[0].shape[axesOf(n)[0]])[1] - 1),
      moments: () => null,
      gain: { kind: "zero" },
    },
  }),
  // section 9: ops
  /** Population variance (NumPy's default, ddof 0), two passes: the mean, then the squared deviations. */
  var: reduction({
    eval: ([x], n) => {
      const axes = axesOf(n);
      const m = reduceAxes(x, axes, true, 0, (s, v) => s + v, (s, c) => s / c);
      const d2 = mapElements((v, mm) => (v - mm) * (v - mm), [x, m]);
      return reduceAxes(d2, axes, n.attrs.keepdims === true, 0, (s, v) => s + v, (s, c) => s / c);
    },
    // d var / d x = 2 (x - mean) / N.
    vjp: (b, n, ct) => {
      const x = n.inputs[0];
      const axes = nums(n.attrs, "axes");
      const dev = b.op("sub", [x, b.op("mean", [x], { axes, keepdims: true })]);
      const count = b.op("numel", [], { dims: axes.map((i) => x.shape[i]) });
      return [b.op("div", [b.op("mul", [b.op("mul", [b.const(2), dev]), broadcastBack(b, n, ct)]), count])];
    },
    saves: INPUT0,
    // add; subtract, square, add per element.
    flops: (n, dv) => 4 * size(n.inputs[0], dv),
    lint: {
      // At most (hi - lo)² / 4 (Popoviciu).
      interval: ([x]) => iv(0, Number.isFinite(x.hi - x.lo) ? ((x.hi - x.lo) * (x.hi - x.lo)) / 4 : Infinity),
      // Of k independent Gaussian values: E = σ²(k-1)/k, Var = 2σ⁴(k-1)/k².
      moments: ([p], n, dim) => {
        if (!p) return null;
        const k = reducedDims(n).reduce<number>((s, d) => s * dim(d), 1);
        return { mean: (p.var * (k - 1)) / k, var: (2 * p.var * p.var * (k - 1)) / (k * k) };
      },
      gain: { unsupported: "var's slope grows with the spread of its input" },
    },
  }),
  /** 1 at the first maximal (or minimal) element along `axes`, 0 elsewhere: max's gradient route. */
  first_extreme_mask: reduction({
    infer: (inputs) => ({ shape: [...inputs[0].shape], dtype: "float" }),
    eval: ([x], n) => firstExtremeMask(x, axesOf(n), n.attrs.mode === "min" ? "min" : "max"),
    vjp: () => [null],
    saves: NOTHING,
    zeroGrad: "everywhere",
    // Find the extreme, then compare each element with it.
    flops: (n, dv) => 2 * size(n, dv),
    lint: { interval: () => iv(0, 1), moments: () => null, gain: { kind: "zero" } },
    example: { inputs: [[[3, 4], "float"]], attrs: { axes: [1], mode: "max" } },
  }),
  /** Sums a broadcast value back to a shape it was broadcast from. */
  sum_to: reduction({
    codegen: { fold: "sum" },
    infer: (inputs, a) => {
      const [x] = inputs;
      const shape = dims(a, "shape");
      const out = broadcastShapes([x.shape, shape]);
      if (!out || !sameShape(out, x.shape)) fail(`cannot sum ${showShape(x.shape)} to ${showShape(shape)}`);
      return { shape: [...shape], dtype: "float" };
    },
    eval: ([x], n, ctx) => sumTo(x, ctx.shape(dims(n.attrs, "shape"))),
    vjp: (b, n, ct) => [b.op("broadcast_to", [ct], { shape: n.inputs[0].shape })],
    saves: NOTHING,
    lint: {
      interval: ([x], n, range) => scaleI(x, ...countRange(summedDims(n), range)),
      moments: ([p], n, dim) => {
        if (!p) return null;
        const k = summedDims(n).reduce<number>((s, d) => s * dim(d), 1);
        return { mean: k * p.mean, var: k * p.var };
      },
      gain: { unsupported: "a sum's gain grows with the number of terms it adds" },
    },
    example: { inputs: [[[3, 4], "float"]], attrs: { shape: [4] } },
  }),
} satisfies Partial<Record<OpKind, OpDef>>;

/** The input dims that sum_to adds up: the leading axes it drops and the axes it keeps as 1. */
function summedDims(n: Node): Dim[] {
  const x = n.inputs[0].shape;
  const to = dims(n.attrs, "shape");
  const lead = x.length - to.length;
  return x.filter((d, i) => i < lead || (to[i - lead] === 1 && d !== 1));
}
