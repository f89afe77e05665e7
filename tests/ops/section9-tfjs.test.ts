// Section 9's elementwise ops, reductions over lists of axes, normalisation, loss and mask ops
// against TF.js (CPU backend, f32) and its autograd: the forward value and
// the gradient of sum(r * w) for every param (random weights w), as in
// conv-tfjs.test.ts. Where TF.js has the op (erf, log1p, expm1, logSigmoid,
// moments, softmaxCrossEntropy, sigmoidCrossEntropy, bandPart) the twin
// calls it; gelu, silu and layer norm are written in TF.js ops.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { compileSource } from "../helpers/compile.js";

type P = Record<string, tf.Tensor>;
interface Case {
  name: string;
  /** Params: name and shape (uniform(-1, 1) init). */
  params: [string, number[]][];
  /** Int inputs: name, shape, and values drawn in [0, hi). */
  ints?: [string, number[], number][];
  expr: string;
  twin(p: P, ints: Record<string, tf.Tensor>): tf.Tensor;
  /** TF.js's own op, for the forward value, where its gradient cannot be used (twin then gives the gradient). */
  ref?(p: P, ints: Record<string, tf.Tensor>): tf.Tensor;
}

const NONE = tf.Reduction.NONE;
const gelu = (x: tf.Tensor): tf.Tensor => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
const geluTanh = (x: tf.Tensor): tf.Tensor =>
  tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));
const layerNorm = (x: tf.Tensor, axes: number[], eps = 1e-5): tf.Tensor => {
  const { mean, variance } = tf.moments(x, axes, true);
  return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
};
/** The lower (upper) triangle, k = 0, of the last two axes: x times bandPart's mask (bandPart's own gradient fails in TF.js 4 for some shapes). */
const lower = (x: tf.Tensor): tf.Tensor => tf.mul(x, tf.linalg.bandPart(tf.ones(x.shape), -1, 0));
const upper = (x: tf.Tensor): tf.Tensor => tf.mul(x, tf.linalg.bandPart(tf.ones(x.shape), 0, -1));

const CASES: Case[] = [
  { name: "erf", params: [["a", [3, 5]]], expr: "erf(a * 2)", twin: (p) => tf.erf(tf.mul(p.a, 2)) },
  { name: "log1p", params: [["a", [3, 5]]], expr: "log1p(a * 0.9)", twin: (p) => tf.log1p(tf.mul(p.a, 0.9)) },
  { name: "expm1", params: [["a", [3, 5]]], expr: "expm1(a * 3)", twin: (p) => tf.expm1(tf.mul(p.a, 3)) },
  // Large |x| both ways: stable where log(sigmoid(x)) is not.
  // TF.js's logSigmoid has no working gradient (4.x): the gradient's twin is -softplus(-x).
  {
    name: "log_sigmoid at ±30",
    params: [["a", [3, 5]]],
    expr: "log_sigmoid(a * 30)",
    ref: (p) => tf.logSigmoid(tf.mul(p.a, 30)),
    twin: (p) => tf.neg(tf.softplus(tf.neg(tf.mul(p.a, 30)))),
  },
  { name: "gelu (exact)", params: [["a", [3, 5]]], expr: "gelu(a * 4)", twin: (p) => gelu(tf.mul(p.a, 4)) },
  { name: "gelu_tanh", params: [["a", [3, 5]]], expr: "gelu_tanh(a * 4)", twin: (p) => geluTanh(tf.mul(p.a, 4)) },
  {
    name: "silu",
    params: [["a", [3, 5]]],
    expr: "silu(a * 6)",
    twin: (p) => tf.mul(tf.mul(p.a, 6), tf.sigmoid(tf.mul(p.a, 6))),
  },
  {
    name: "var over axes [1, 2], keepdims",
    params: [["a", [2, 3, 4]]],
    expr: "var(a * 3 + 1, axis=[1, 2], keepdims=true)",
    twin: (p) => tf.moments(tf.add(tf.mul(p.a, 3), 1), [1, 2], true).variance,
  },
  {
    name: "sum over axes [0, 2]",
    params: [["a", [2, 3, 4]]],
    expr: "sum(a, axis=[0, 2])",
    twin: (p) => tf.sum(p.a, [0, 2]),
  },
  {
    name: "mean over axes [1, 2]",
    params: [["a", [2, 3, 4]]],
    expr: "mean(a, axis=[1, -1])",
    twin: (p) => tf.mean(p.a, [1, 2]),
  },
  {
    name: "max over axes [0, 2], keepdims",
    params: [["a", [2, 3, 4]]],
    expr: "max(a, axis=[2, 0], keepdims=true)",
    twin: (p) => tf.max(p.a, [0, 2], true),
  },
  {
    name: "min over axes [0, 1]",
    params: [["a", [2, 3, 4]]],
    expr: "min(a, axis=[0, 1])",
    twin: (p) => tf.min(p.a, [0, 1]),
  },
  {
    name: "logsumexp over axes [0, 2]",
    params: [["a", [2, 3, 4]]],
    expr: "logsumexp(a * 3, axis=[0, 2])",
    twin: (p) => tf.logSumExp(tf.mul(p.a, 3), [0, 2]),
  },
  {
    name: "var over axis 0",
    params: [["a", [4, 3]]],
    expr: "var(a, axis=0)",
    twin: (p) => tf.moments(p.a, [0]).variance,
  },
  {
    name: "layer_norm over the last axis, scaled and shifted",
    params: [
      ["a", [2, 3, 8]],
      ["g", [8]],
      ["b", [8]],
    ],
    expr: "layer_norm(a) * g + b",
    twin: (p) => tf.add(tf.mul(layerNorm(p.a, [2]), p.g), p.b),
  },
  {
    name: "layer_norm over axes [1, 2], eps 1e-3",
    params: [["a", [2, 3, 4]]],
    expr: "layer_norm(a * 0.1, axis=[1, 2], eps=1e-3)",
    twin: (p) => layerNorm(tf.mul(p.a, 0.1), [1, 2], 1e-3),
  },
  {
    name: "layer_norm over a middle axis (channels of [B, C, L])",
    params: [["a", [2, 5, 3]]],
    expr: "layer_norm(a, axis=1)",
    twin: (p) => layerNorm(p.a, [1]),
  },
  {
    name: "cross_entropy per token on [B, T, C]",
    params: [["z", [2, 3, 5]]],
    ints: [["y", [2, 3], 5]],
    expr: "cross_entropy(z * 3, y)",
    twin: (p, i) => tf.losses.softmaxCrossEntropy(tf.oneHot(i.y as tf.Tensor2D, 5), tf.mul(p.z, 3), undefined, 0, NONE),
  },
  {
    name: "cross_entropy with float targets (gradient to both)",
    params: [
      ["z", [2, 3, 5]],
      ["t", [2, 3, 5]],
    ],
    expr: "cross_entropy(z * 3, softmax(t))",
    ref: (p) => tf.losses.softmaxCrossEntropy(tf.softmax(p.t), tf.mul(p.z, 3), undefined, 0, NONE),
    // -sum(targets * log_softmax(logits)): TF.js's softmaxCrossEntropy gives no gradient to its labels.
    twin: (p) => tf.neg(tf.sum(tf.mul(tf.softmax(p.t), tf.logSoftmax(tf.mul(p.z, 3))), -1)),
  },
  {
    name: "bce_with_logits (gradient to both)",
    params: [
      ["z", [3, 4]],
      ["t", [3, 4]],
    ],
    expr: "bce_with_logits(z * 20, sigmoid(t * 3))",
    twin: (p) => tf.losses.sigmoidCrossEntropy(tf.sigmoid(tf.mul(p.t, 3)), tf.mul(p.z, 20), undefined, 0, NONE),
  },
  {
    name: "pick on [B, T, N]",
    params: [["x", [2, 3, 4]]],
    ints: [["idx", [2, 3], 4]],
    expr: "pick(x, idx)",
    twin: (p, i) => tf.sum(tf.mul(p.x, tf.oneHot(i.idx as tf.Tensor2D, 4)), -1),
  },
  { name: "tril", params: [["x", [2, 4, 4]]], expr: "tril(x)", twin: (p) => lower(p.x) },
  { name: "triu", params: [["x", [4, 5]]], expr: "triu(x)", twin: (p) => upper(p.x) },
  { name: "triu(x, k=1)", params: [["x", [3, 4]]], expr: "triu(x, k=1)", twin: (p) => tf.sub(p.x, lower(p.x)) },
  { name: "tril(x, k=-1)", params: [["x", [2, 3, 3]]], expr: "tril(x, k=-1)", twin: (p) => tf.sub(p.x, upper(p.x)) },
  {
    name: "causal softmax with tril(ones([T, T]))",
    params: [["s", [2, 4, 4]]],
    expr: "softmax(s * 3 + (tril(ones([4, 4])) - 1) * 1e9)",
    twin: (p) => tf.softmax(tf.add(tf.mul(p.s, 3), tf.mul(tf.sub(lower(tf.ones([4, 4])), 1), 1e9))),
  },
  {
    name: "eye and float(arange(n))",
    params: [["x", [4, 4]]],
    expr: "x * eye(4) + float(arange(4)) * x",
    twin: (p) => tf.add(tf.mul(p.x, tf.eye(4)), tf.mul(tf.range(0, 4), p.x)),
  },
];

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const relErr = (ours: ArrayLike<number>, ref: ArrayLike<number>): number => {
  let scale = 1e-3;
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]));
    err = Math.max(err, Math.abs(ours[i] - ref[i]));
  }
  return err / scale;
};

/** A Park-Miller stream in [0, 1). */
function stream(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

describe("section 9 ops against TF.js (f32)", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_n, c) => {
    const decls = [
      ...c.params.map(([n, s]) => `param ${n}: [${s.join(", ")}] ~ uniform(-1, 1)`),
      ...(c.ints ?? []).map(([n, s, hi]) => `input ${n}: int[${s.join(", ")}] in [0, ${hi})`),
    ].join("\n");
    const probe = await compileSource(`${decls}\nr = ${c.expr}\noutput r\nminimize sum(r)\n`, { precision: "f32" });
    const rShape = probe.graph.outputs[0].node.shape as number[];
    const src = `${decls}\ninput w: [${rShape.join(", ")}] in [-1, 1]\nr = ${c.expr}\noutput r\nminimize sum(r * w)\n`;
    const { mod } = await compileSource(src, { precision: "f32" });
    const params = mod.init(11) as Record<string, Float32Array>;
    const u = stream(7);
    const w = Float32Array.from({ length: rShape.reduce((a, b) => a * b, 1) }, () => u() * 2 - 1);
    const ints = Object.fromEntries(
      (c.ints ?? []).map(([n, s, hi]) => [
        n,
        Int32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => Math.floor(u() * hi)),
      ]),
    );
    const fw = mod.forward(params, { w, ...ints });
    const { grads } = mod.backward(params, { w, ...ints });

    const names = c.params.map(([n]) => n);
    const tp = Object.fromEntries(c.params.map(([n, sh]) => [n, tf.tensor(params[n], sh)]));
    const ti = Object.fromEntries((c.ints ?? []).map(([n, sh]) => [n, tf.tensor(ints[n], sh, "int32")]));
    const tw = tf.tensor(w, rShape);
    const r = (c.ref ?? c.twin)(tp, ti);
    expect(r.shape).toEqual(rShape);
    expect(relErr(fw.r as Float32Array, r.dataSync())).toBeLessThan(1e-4);
    const g = tf.grads((...xs: tf.Tensor[]) =>
      tf.sum(tf.mul(c.twin(Object.fromEntries(names.map((n, i) => [n, xs[i]])), ti), tw)),
    );
    const tg = g(names.map((n) => tp[n]));
    names.forEach((n, i) => expect(relErr(grads[n], tg[i].dataSync()), `d${n}`).toBeLessThan(1e-4));
  });
});
