// Section 10's ops against TF.js (CPU backend, f32) and its autograd: the
// forward value and the gradient of sum(r * w) for every param. TF.js is
// channels-last, so the twins transpose (NCHW <-> NHWC, PyTorch kernels to
// HWIO) inside the test; bpc's layout stays PyTorch's. Metric as in
// tests/tfjs-oracle.test.ts: max abs error over the tensor's largest entry.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { compileSource } from "../helpers/compile.js";
import { toHWIO, toNCHW, toNHWC } from "../helpers/tfjs-models.js";

type P = Record<string, tf.Tensor>;
interface Case {
  name: string;
  /** Params: name and shape (uniform(-1, 1) init). */
  params: [string, number[]][];
  expr: string;
  twin(p: P): tf.Tensor;
}

const NCW = (x: tf.Tensor): tf.Tensor3D => tf.transpose(x, [0, 2, 1]) as tf.Tensor3D;
/** A PyTorch 1-D kernel [Cout, Cin, k] as TF.js's [k, Cin, Cout]. */
const toWIO = (k: tf.Tensor): tf.Tensor3D => tf.transpose(k, [2, 1, 0]) as tf.Tensor3D;
const zeroPad = (x: tf.Tensor4D, p: number): tf.Tensor4D => tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]);

/** Dilation d along axis `axis` of a kernel, as zeros inserted between taps (E @ K, E[r, c] = [r == d c]): TF.js has no gradient for dilated convs. */
function dilate(k: tf.Tensor, axis: number, d: number): tf.Tensor {
  const n = k.shape[axis];
  const m = d * (n - 1) + 1;
  const e = tf.tensor2d(Array.from({ length: m * n }, (_, i) => +(Math.floor(i / n) === d * (i % n))), [m, n]);
  const perm = [axis, ...k.shape.map((_, i) => i).filter((i) => i !== axis)];
  const moved = tf.transpose(k, perm);
  const out = tf.reshape(tf.matMul(e, tf.reshape(moved, [n, -1])), [m, ...moved.shape.slice(1)]);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return tf.transpose(out, inverse);
}

const CASES: Case[] = [
  {
    name: "conv2d stride 2, padding 1",
    params: [["a", [2, 3, 7, 6]], ["K", [4, 3, 3, 3]]],
    expr: "conv2d(a, K, stride=2, padding=1)",
    twin: (p) => toNCHW(tf.conv2d(toNHWC(p.a), toHWIO(p.K), 2, 1)),
  },
  {
    name: 'conv2d padding="same", even kernel',
    params: [["a", [2, 2, 6, 5]], ["K", [3, 2, 4, 2]]],
    expr: 'conv2d(a, K, padding="same")',
    twin: (p) => toNCHW(tf.conv2d(toNHWC(p.a), toHWIO(p.K), 1, "same")),
  },
  {
    name: "conv2d dilation 2",
    params: [["a", [2, 2, 8, 7]], ["K", [3, 2, 3, 3]]],
    expr: "conv2d(a, K, dilation=2)",
    twin: (p) => toNCHW(tf.conv2d(toNHWC(p.a), dilate(dilate(toHWIO(p.K), 0, 2), 1, 2) as tf.Tensor4D, 1, "valid")),
  },
  {
    name: "conv2d depthwise (groups = channels, multiplier 2)",
    params: [["a", [2, 3, 6, 6]], ["K", [6, 1, 3, 3]]],
    expr: "conv2d(a, K, groups=3, stride=2, padding=1)",
    // TF.js's depthwise filter [kh, kw, C, mult]; channel c * mult + m is bpc's output channel.
    twin: (p) => toNCHW(tf.depthwiseConv2d(toNHWC(p.a), tf.transpose(tf.reshape(p.K, [3, 2, 3, 3]), [2, 3, 0, 1]) as tf.Tensor4D, 2, 1)),
  },
  {
    name: "conv_transpose2d stride 2, padding 1, output_padding 1",
    params: [["a", [2, 4, 3, 4]], ["K", [4, 3, 3, 3]]],
    expr: "conv_transpose2d(a, K, stride=2, padding=1, output_padding=1)",
    // bpc's (PyTorch's) [Cin, Cout, kh, kw] is TF.js's transposed filter [kh, kw, Cout, Cin].
    twin: (p) => toNCHW(tf.conv2dTranspose(toNHWC(p.a), toHWIO(p.K), [2, 6, 8, 3], 2, 1)),
  },
  {
    name: "max_pool2d 3, stride 2, padding 1",
    params: [["a", [2, 3, 7, 6]]],
    expr: "max_pool2d(a, 3, stride=2, padding=1)",
    twin: (p) => toNCHW(tf.maxPool(toNHWC(p.a), 3, 2, 1)),
  },
  {
    name: "avg_pool2d 3, stride 2, padding 1 (zero padding counted)",
    params: [["a", [2, 3, 7, 5]]],
    expr: "avg_pool2d(a, 3, stride=2, padding=1)",
    twin: (p) => toNCHW(tf.avgPool(zeroPad(toNHWC(p.a), 1), 3, 2, "valid")),
  },
  {
    name: "conv1d stride 2, padding 1",
    params: [["a", [2, 3, 11]], ["K", [4, 3, 3]]],
    expr: "conv1d(a, K, stride=2, padding=1)",
    twin: (p) => NCW(tf.conv1d(tf.pad(NCW(p.a), [[0, 0], [1, 1], [0, 0]]), toWIO(p.K), 2, "valid")),
  },
  {
    name: "conv1d dilation 3, max_pool1d",
    params: [["a", [2, 2, 14]], ["K", [3, 2, 3]]],
    expr: "max_pool1d(conv1d(a, K, dilation=3), 2)",
    twin: (p) => {
      const c = tf.conv1d(NCW(p.a), dilate(toWIO(p.K), 0, 3) as tf.Tensor3D, 1, "valid"); // [B, 8, 3]
      return NCW(tf.reshape(tf.maxPool(tf.reshape(c, [2, 1, 8, 3]) as tf.Tensor4D, [1, 2], [1, 2], "valid"), [2, 4, 3]));
    },
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

describe("conv and pool ops against TF.js (f32)", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_n, c) => {
    const decls = c.params.map(([n, s]) => `param ${n}: [${s.join(", ")}] ~ uniform(-1, 1)`).join("\n");
    const probe = await compileSource(`${decls}\nr = ${c.expr}\noutput r\nminimize sum(r)\n`, { precision: "f32" });
    const rShape = probe.graph.outputs[0].node.shape as number[];
    const src = `${decls}\ninput w: [${rShape.join(", ")}] in [-1, 1]\nr = ${c.expr}\noutput r\nminimize sum(r * w)\n`;
    const { mod } = await compileSource(src, { precision: "f32" });
    const params = mod.init(11) as Record<string, Float32Array>;
    let s = 7;
    const w = Float32Array.from({ length: rShape.reduce((a, b) => a * b, 1) }, () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1);
    const fw = mod.forward(params, { w });
    const { grads } = mod.backward(params, { w });

    const names = c.params.map(([n]) => n);
    const tp = Object.fromEntries(c.params.map(([n, sh]) => [n, tf.tensor(params[n], sh)]));
    const tw = tf.tensor(w, rShape);
    const r = c.twin(tp);
    expect(r.shape).toEqual(rShape);
    expect(relErr(fw.r as Float32Array, r.dataSync())).toBeLessThan(1e-4);
    const g = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(c.twin(Object.fromEntries(names.map((n, i) => [n, xs[i]]))), tw)));
    const tg = g(names.map((n) => tp[n]));
    names.forEach((n, i) => expect(relErr(grads[n], tg[i].dataSync()), `d${n}`).toBeLessThan(1e-4));
  });
});
