// Neural-network ops: softmax and log_softmax along an axis, the fused
// cross-entropy, pick (DQN's Q[:, a]) and one_hot.
import { sameShape, showShape } from "../shape.js";
import { iv, mulI, type Interval } from "../ranges.js";
import { alongAxis, checkedIndex, mapElements, reduceAxes, tensor, type Tensor } from "../tensor.js";
import type { Attrs, DType, Dim, Node } from "../types.js";
import {
  axisInfer,
  axisOf,
  fail,
  num,
  nums,
  requireFloat,
  requireInt,
  size,
  unsupported,
  INPUT0,
  NOTHING,
  OUTPUT,
  type DimRange,
  type OpDef,
} from "./define.js";
import type { OpKind } from "./kinds.js";

function softmaxLine(log: boolean): (l: Float64Array) => Float64Array {
  return (l) => {
    let m = -Infinity;
    for (const v of l) m = Math.max(m, v);
    let s = 0;
    for (const v of l) s += Math.exp(v - m);
    const out = new Float64Array(l.length);
    for (let k = 0; k < l.length; k++) out[k] = log ? l[k] - m - Math.log(s) : Math.exp(l[k] - m) / s;
    return out;
  };
}

const lastAxis = (shape: readonly Dim[]): Dim => shape[shape.length - 1];

/** A [..., C] tensor as rows: their count and length. */
function rowsOf(t: Tensor): [number, number] {
  const C = t.shape[t.shape.length - 1];
  return [t.data.length / C, C];
}

export const NN = {
  softmax: {
    class: "nn",
    arity: 1,
    infer: axisInfer,
    eval: ([x], n) => alongAxis(x, axisOf(n), softmaxLine(false)),
    vjp: (b, n, ct) => {
      const axes = [axisOf(n)];
      const dot = b.op("sum", [b.op("mul", [ct, n])], { axes, keepdims: true });
      return [b.op("mul", [n, b.op("sub", [ct, dot])])];
    },
    saves: OUTPUT,
    // max, subtract, exp, sum, divide per element.
    flops: (n, dv) => 5 * size(n, dv),
    lint: { interval: () => iv(0, 1, true, false), moments: () => null, gain: { kind: "same" } },
    example: { inputs: [[[3, 4], "float"]], attrs: { axis: 1 } },
  },
  log_softmax: {
    class: "nn",
    arity: 1,
    infer: axisInfer,
    eval: ([x], n) => alongAxis(x, axisOf(n), softmaxLine(true)),
    vjp: (b, n, ct) => {
      const axes = [axisOf(n)];
      const total = b.op("sum", [ct], { axes, keepdims: true });
      return [b.op("sub", [ct, b.op("mul", [b.op("exp", [n]), total])])];
    },
    saves: OUTPUT,
    // max, subtract, exp, sum, subtract per element (the log is per row).
    flops: (n, dv) => 5 * size(n, dv),
    lint: { interval: () => iv(-Infinity, 0), moments: () => null, gain: { unsupported: "log_softmax's slope is not bounded per element" } },
    example: { inputs: [[[3, 4], "float"]], attrs: { axis: 1 } },
  },
  /** Softmax cross-entropy per row of [..., C] logits: logsumexp(z) - z[label]. */
  cross_entropy: {
    class: "nn",
    arity: 2,
    infer: (inputs) => {
      const [z, y] = inputs;
      requireFloat(inputs, 0);
      requireInt(y, "cross_entropy's labels");
      if (z.shape.length < 1) fail(`cross_entropy's logits must be [..., C], got a scalar`);
      if (!sameShape(y.shape, z.shape.slice(0, -1)))
        fail(
          `cross_entropy's labels must be int${showShape(z.shape.slice(0, -1))} to match logits ${showShape(z.shape)} (or float targets of the logits' shape), got int${showShape(y.shape)}`,
        );
      return { shape: z.shape.slice(0, -1), dtype: "float" };
    },
    eval: ([z, y]) => {
      const [B, C] = rowsOf(z);
      const out = tensor(z.shape.slice(0, -1));
      for (let i = 0; i < B; i++) {
        let m = -Infinity;
        for (let k = 0; k < C; k++) m = Math.max(m, z.data[i * C + k]);
        let s = 0;
        for (let k = 0; k < C; k++) s += Math.exp(z.data[i * C + k] - m);
        out.data[i] = Math.log(s) + m - z.data[i * C + checkedIndex(y.data[i], C, "cross_entropy's labels")];
      }
      return out;
    },
    vjp: (b, n, ct) => [b.op("cross_entropy_grad", n.inputs.concat(ct)), null],
    saves: { inputs: [0, 1], output: false },
    // max, subtract, exp, sum per element; log, add, subtract per row.
    flops: (n, dv) => 4 * size(n.inputs[0], dv) + 3 * size(n, dv),
    indexes: (n, k) => (k === 1 ? lastAxis(n.inputs[0].shape) : null),
    lint: {
      interval: () => iv(0, Infinity),
      moments: () => null,
      gain: { unsupported: "cross_entropy's slope is not bounded per element" },
      roles: ["compute", "select"],
    },
    example: { inputs: [[["B", 3, 4], "float"], [["B", 3], "int"]] },
  },
  /**
   * cross_entropy's gradient for logits z [..., C], labels y and a per-row
   * cotangent g [...]: (softmax(z) - one_hot(y)) * g per row, computed as
   * (exp(z - lse) - one_hot(y)) * g with each row's log-sum-exp kept by the
   * forward's cross_entropy of the same z and y. Built by that VJP only.
   */
  cross_entropy_grad: {
    class: "nn",
    arity: 3,
    infer: (inputs) => {
      const [z, y, g] = inputs;
      requireFloat(inputs, 0, 2);
      requireInt(y, "cross_entropy's labels");
      const rows = z.shape.slice(0, -1);
      if (z.shape.length < 1 || !sameShape(y.shape, rows) || !sameShape(g.shape, rows))
        fail(`cross_entropy_grad takes logits [..., C], labels int[...] and a gradient [...], got ${inputs.map((x) => showShape(x.shape)).join(", ")}`);
      return { shape: [...z.shape], dtype: "float" };
    },
    eval: ([z, y, g]) => {
      const p = alongAxis(z, z.shape.length - 1, softmaxLine(false));
      const [B, C] = rowsOf(z);
      for (let i = 0; i < B; i++) {
        p.data[i * C + checkedIndex(y.data[i], C, "cross_entropy's labels")] -= 1;
        for (let k = 0; k < C; k++) p.data[i * C + k] *= g.data[i];
      }
      return p;
    },
    // subtract lse, exp, compare with the label and subtract, multiply per element (lse is the forward's).
    flops: (n, dv) => 5 * size(n, dv),
    indexes: (n, k) => (k === 1 ? lastAxis(n.inputs[0].shape) : null),
    lint: {
      interval: ([, , g]) => mulI(iv(-1, 1), g),
      moments: () => null,
      gain: { unsupported: "cross_entropy_grad is built by autodiff, after the linter's analyses" },
      roles: ["compute", "select", "mask"],
    },
    example: { inputs: [[[2, 3, 4], "float"], [[2, 3], "int"], [[2, 3], "float"]] },
  },
  /** out[...] = x[..., idx[...]]: DQN's Q[:, a], on any rank. */
  pick: {
    class: "nn",
    arity: 2,
    infer: (inputs) => {
      const [x, idx] = inputs;
      requireFloat(inputs, 0);
      requireInt(idx, "pick's indices");
      if (x.shape.length < 1) fail(`pick needs a [..., N] tensor, got a scalar`);
      if (!sameShape(idx.shape, x.shape.slice(0, -1)))
        fail(`pick's indices must be int${showShape(x.shape.slice(0, -1))} to match ${showShape(x.shape)}, got ${showShape(idx.shape)}`);
      return { shape: x.shape.slice(0, -1), dtype: "float" };
    },
    eval: ([t, idx]) => {
      const [B, N] = rowsOf(t);
      const out = tensor(t.shape.slice(0, -1));
      for (let i = 0; i < B; i++) out.data[i] = t.data[i * N + checkedIndex(idx.data[i], N, "pick's indices")];
      return out;
    },
    vjp: (b, n, ct) => {
      const [x, idx] = n.inputs;
      const hot = b.op("one_hot", [idx], { n: lastAxis(x.shape) });
      return [b.op("mul", [hot, b.op("reshape", [ct], { shape: [...idx.shape, 1] })]), null];
    },
    saves: { inputs: [1], output: false },
    flops: () => 0,
    indexes: (n, k) => (k === 1 ? lastAxis(n.inputs[0].shape) : null),
    lint: { interval: (x: readonly Interval[]) => x[0], moments: ([p]) => p, gain: { kind: "same" }, roles: ["layout", "select"] },
    example: { inputs: [[["B", 3, 4], "float"], [["B", 3], "int"]] },
  },
  one_hot: {
    class: "nn",
    arity: 1,
    infer: (inputs, a) => {
      requireInt(inputs[0], "one_hot's indices");
      return { shape: [...inputs[0].shape, a.n as Dim], dtype: "float" };
    },
    eval: ([idx], n, ctx) => {
      const k = ctx.dim(n.attrs.n as Dim);
      const out = tensor([...idx.shape, k]);
      for (let i = 0; i < idx.data.length; i++) out.data[i * k + checkedIndex(idx.data[i], k, "one_hot's indices")] = 1;
      return out;
    },
    vjp: () => [null],
    saves: NOTHING,
    flops: () => 0,
    indexes: (n, k) => (k === 0 ? (n.attrs.n as Dim) : null),
    lint: { interval: () => iv(0, 1), moments: () => null, gain: { kind: "zero" }, roles: ["select"] },
    example: { inputs: [[[3], "int"]], attrs: { n: 4 } },
  },
  // section 9: ops
  /**
   * (x - mean) / sqrt(var + eps) over `axes` (sorted, any of them), without
   * scale or shift. Two passes per group (no cancellation); its gradient is
   * layer_norm_grad, one fused op.
   */
  layer_norm: {
    class: "nn",
    arity: 1,
    infer: normInfer,
    eval: ([x], n) => normalized(x, nums(n.attrs, "axes"), num(n.attrs, "eps")).y,
    vjp: (b, n, ct) => [b.op("layer_norm_grad", [n.inputs[0], ct], n.attrs)],
    saves: INPUT0,
    // Mean (add), variance (subtract, square, add), then subtract and multiply per element.
    flops: (n, dv) => 6 * size(n, dv),
    lint: {
      // Each value is at most sqrt(N - 1) standard deviations from the mean of N.
      interval: (_x, n, range) => {
        const N = countOf(n, range)[1];
        return iv(-Math.sqrt(Math.max(N - 1, 0)), Math.sqrt(Math.max(N - 1, 0)));
      },
      // Mean 0 and variance var / (var + eps) per group, whatever the input: never saturating at init.
      moments: ([p], n) => ({ mean: 0, var: p ? p.var / (p.var + num(n.attrs, "eps")) : 1 }),
      // Its Jacobian's norm is 1 / sqrt(var + eps): at most 1 / sqrt(eps).
      gain: { kind: "slope", slope: (_x, a) => 1 / Math.sqrt(num(a, "eps")) },
    },
    example: { inputs: [[["B", 3, 4], "float"]], attrs: { axes: [1, 2], eps: 1e-5 } },
  },
  /**
   * layer_norm's gradient for input x and cotangent g: with y = (x - mean) ·
   * r, r = 1 / sqrt(var + eps), dx = r (g - mean(g) - y mean(g y)) per
   * group. Built by that VJP only; recomputes the group statistics from x.
   */
  layer_norm_grad: {
    class: "nn",
    arity: 2,
    infer: (inputs, a) => {
      requireFloat(inputs);
      if (!sameShape(inputs[0].shape, inputs[1].shape)) fail(`layer_norm_grad takes x and a gradient of one shape, got ${inputs.map((x) => showShape(x.shape)).join(", ")}`);
      return normInfer(inputs.slice(0, 1), a);
    },
    eval: ([x, g], n) => {
      const axes = nums(n.attrs, "axes");
      const { y, r } = normalized(x, axes, num(n.attrs, "eps"));
      const mean = (t: Tensor): Tensor => reduceAxes(t, axes, true, 0, (s, v) => s + v, (s, c) => s / c);
      const gm = mean(g);
      const gy = mean(mapElements((a, b) => a * b, [g, y]));
      return mapElements((gg, yy, rr, m1, m2) => rr * (gg - m1 - yy * m2), [g, y, r, gm, gy]);
    },
    // Statistics of x (4), of g and g·y (4), then 4 per element.
    flops: (n, dv) => 12 * size(n, dv),
    lint: {
      interval: unsupported("layer_norm_grad is built by autodiff, after the linter's analyses"),
      moments: () => null,
      gain: { unsupported: "layer_norm_grad is built by autodiff, after the linter's analyses" },
    },
    example: { inputs: [[["B", 3, 4], "float"], [["B", 3, 4], "float"]], attrs: { axes: [2], eps: 1e-5 } },
  },
  /**
   * cross_entropy with float targets t of the logits' shape (soft labels):
   * -sum(t * log_softmax(z), axis=-1) = lse(z) · sum(t) - sum(t · z) per
   * row. Gradients: g (softmax(z) sum(t) - t) to z, -g log_softmax(z) to t.
   */
  soft_cross_entropy: {
    class: "nn",
    arity: 2,
    infer: (inputs) => {
      const [z, t] = inputs;
      requireFloat(inputs);
      if (z.shape.length < 1) fail(`cross_entropy's logits must be [..., C], got a scalar`);
      if (!sameShape(t.shape, z.shape))
        fail(`cross_entropy's float targets must have the logits' shape ${showShape(z.shape)} (or use int labels ${showShape(z.shape.slice(0, -1))}), got ${showShape(t.shape)}`);
      return { shape: z.shape.slice(0, -1), dtype: "float" };
    },
    eval: ([z, t]) => {
      const [B, C] = rowsOf(z);
      const logp = alongAxis(z, z.shape.length - 1, softmaxLine(true));
      const out = tensor(z.shape.slice(0, -1));
      for (let i = 0; i < B; i++) {
        let s = 0;
        for (let k = 0; k < C; k++) s -= t.data[i * C + k] * logp.data[i * C + k];
        out.data[i] = s;
      }
      return out;
    },
    vjp: (b, n, ct, needs) => {
      const [z, t] = n.inputs;
      const last = z.shape.length - 1;
      const g = b.op("reshape", [ct], { shape: [...n.shape, 1] });
      const dz = needs[0]
        ? b.op("mul", [g, b.op("sub", [b.op("mul", [b.op("softmax", [z], { axis: last }), b.op("sum", [t], { axes: [last], keepdims: true })]), t])])
        : null;
      const dt = needs[1] ? b.op("neg", [b.op("mul", [g, b.op("log_softmax", [z], { axis: last })])]) : null;
      return [dz, dt];
    },
    saves: { inputs: [0, 1], output: false },
    // max, subtract, exp, sum, then subtract, multiply, add per element.
    flops: (n, dv) => 7 * size(n.inputs[0], dv),
    lint: {
      // Non-negative for non-negative targets.
      interval: ([, t]) => iv(t.lo >= 0 ? 0 : -Infinity, Infinity),
      moments: () => null,
      gain: { unsupported: "cross_entropy's slope is not bounded per element" },
    },
    example: { inputs: [[["B", 3, 4], "float"], [["B", 3, 4], "float"]], domain: [[-2, 2], [0, 1]] },
  },
} satisfies Partial<Record<OpKind, OpDef>>;

function normInfer(inputs: readonly Node[], a: Attrs): { shape: Dim[]; dtype: DType } {
  requireFloat(inputs);
  const axes = nums(a, "axes");
  const rank = inputs[0].shape.length;
  if (!axes.length || axes.some((k) => !Number.isInteger(k) || k < 0 || k >= rank)) fail(`layer_norm's axes ${JSON.stringify(axes)} are out of range for ${showShape(inputs[0].shape)}`);
  if (!(num(a, "eps") >= 0)) fail(`layer_norm's eps must be non-negative, got ${num(a, "eps")}`);
  return { shape: [...inputs[0].shape], dtype: "float" };
}

/** How many elements one group normalises, as a range over the symbolic dims. */
function countOf(n: Node, range: DimRange): [number, number] {
  const ds = nums(n.attrs, "axes").map((k) => range(n.inputs[0].shape[k]));
  return [ds.reduce((p, d) => p * d[0], 1), ds.reduce((p, d) => p * d[1], 1)];
}

/** y = (x - mean) · r over `axes`, and r = 1 / sqrt(var + eps) (kept axes as 1). */
function normalized(x: Tensor, axes: readonly number[], eps: number): { y: Tensor; r: Tensor } {
  const mean = (t: Tensor): Tensor => reduceAxes(t, axes, true, 0, (s, v) => s + v, (s, c) => s / c);
  const m = mean(x);
  const v = mean(mapElements((a, b) => (a - b) * (a - b), [x, m]));
  const r = mapElements((vv) => 1 / Math.sqrt(vv + eps), [v]);
  return { y: mapElements((a, b, c) => (a - b) * c, [x, m, r]), r };
}
