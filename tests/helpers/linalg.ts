// Test helper for the linear-algebra tests (tests/ops/batched-matmul.test.ts,
// einsum.test.ts): a case is a .bp expression over params and its TF.js twin;
// `build` compiles r = expr with loss sum(r * w) for a fixed input w.
import * as tf from "@tensorflow/tfjs";
import { expect } from "vitest";
import { checkGradients } from "../../src/check/index.js";
import { compileSource } from "./compile.js";

export type P = Record<string, tf.Tensor>;
export interface Case {
  name: string;
  /** Params: name and shape (uniform(-1, 1) init). */
  params: [string, number[]][];
  expr: string;
  twin(p: P): tf.Tensor;
  /** Kernel facts the f32 SIMD module must show (one product over flattened rows, a loop over the batch...). */
  simd?: RegExp[];
}

/** x.mT: the last two axes swapped. */
export function mT(x: tf.Tensor): tf.Tensor {
  const p = [...Array(x.rank).keys()];
  [p[x.rank - 2], p[x.rank - 1]] = [p[x.rank - 1], p[x.rank - 2]];
  return tf.transpose(x, p);
}
/** NumPy matmul for TF.js: batch axes broadcast explicitly (tf.matMul broadcasts them too, but says so nowhere stable). */
export function npMatmul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const r = Math.max(a.rank, b.rank);
  const batch = tf.broadcastArgs(a.shape.slice(0, -2), b.shape.slice(0, -2)).arraySync() as number[];
  const grow = (x: tf.Tensor): tf.Tensor => {
    const y = x.reshape([...Array(r - x.rank).fill(1), ...x.shape]);
    return tf.broadcastTo(y, [...batch, ...y.shape.slice(-2)]);
  };
  return r === 2 ? tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D) : tf.matMul(grow(a), grow(b));
}

export const decls = (c: Case): string => c.params.map(([n, s]) => `param ${n}: [${s.join(", ")}] ~ uniform(-1, 1)`).join("\n");

/** r = expr, loss = sum(r * w) with w a fixed input of r's shape. */
export async function build(c: Case, opts: { precision: "f32" | "f64"; kernels?: "simd" | "js" }) {
  const probe = await compileSource(`${decls(c)}\nr = ${c.expr}\noutput r\nminimize sum(r)\n`, { precision: "f64" });
  const shape = probe.graph.outputs[0].node.shape as number[];
  const src = `${decls(c)}\ninput w: [${shape.join(", ")}] in [-1, 1]\nr = ${c.expr}\noutput r\nminimize sum(r * w)\n`;
  return { ...(await compileSource(src, opts)), shape, src };
}

export function weights(shape: number[]): Float32Array {
  let s = 7;
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1);
}

export const relErr = (ours: ArrayLike<number>, ref: ArrayLike<number>): number => {
  let scale = 1e-3;
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]));
    err = Math.max(err, Math.abs(ours[i] - ref[i]));
  }
  return err / scale;
};

export const asF64 = (r: Record<string, Float32Array | Float64Array>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float64Array.from(v)]));

/** The gradient of every param against bpc check's central differences (f64). */
export async function gradientsMatchDifferences(c: Case): Promise<void> {
  const { mod, graph } = await build(c, { precision: "f64" });
  const rows = checkGradients(mod as never, graph, { seed: 3, tolerance: 1e-6 });
  expect(rows.length).toBe(c.params.length);
  for (const r of rows) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-6);
}

/** The value and every param's gradient against the TF.js twin (f32 module, TF.js cpu backend). */
export async function matchesTfjs(c: Case): Promise<void> {
  const { mod, shape } = await build(c, { precision: "f32" });
  const params = mod.init(11) as Record<string, Float32Array>;
  const w = weights(shape);
  const fw = mod.forward(params, { w });
  const { grads } = mod.backward(params, { w });
  const names = c.params.map(([n]) => n);
  const tp = Object.fromEntries(c.params.map(([n, sh]) => [n, tf.tensor(params[n], sh)]));
  const r = c.twin(tp);
  expect(r.shape).toEqual(shape);
  const value = typeof fw.r === "number" ? [fw.r] : (fw.r as Float32Array);
  expect(relErr(value, r.dataSync())).toBeLessThan(1e-5);
  const tw = tf.tensor(w, shape);
  const g = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(c.twin(Object.fromEntries(names.map((n, i) => [n, xs[i]]))), tw)));
  const tg = g(names.map((n) => tp[n]));
  names.forEach((n, i) => expect(relErr(grads[n], tg[i].dataSync()), `d${n}`).toBeLessThan(1e-5));
}

/** The f32 module's SIMD and JS kernels against the f64 module: loss and gradients. */
export async function kernelsAgree(c: Case): Promise<void> {
  const f64 = await build(c, { precision: "f64" });
  const params = f64.mod.init(5);
  const w = weights(f64.shape);
  const ref = f64.mod.backward(asF64(params), { w: Float64Array.from(w) });
  const simd = await build(c, { precision: "f32", kernels: "simd" });
  for (const re of c.simd ?? []) expect(simd.ts).toMatch(re);
  const js = await build(c, { precision: "f32", kernels: "js" });
  for (const m of [simd.mod, js.mod]) {
    const p32 = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float32Array.from(v)]));
    const r = m.backward(p32, { w });
    expect(Math.abs(r.loss - ref.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(ref.loss)));
    for (const [k, g] of Object.entries(ref.grads)) expect(relErr(r.grads[k], g), k).toBeLessThan(1e-5);
  }
}
