// Integer-array indexing (spec section 9): `E[idx]` and `take(x, idx, axis=k)`
// against TF.js's gather and its autograd (f32), an embedding lookup whose
// repeated indices add up in the gradient, the f64 gradient check of a gather
// inside a loop, and the run-time error for an index out of range.
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkFile } from "../../src/check/index.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { compileSource } from "../helpers/compile.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});
afterAll(() => tf.disposeVariables());

/** max |a - b| over max(max |b|, 1e-3): the oracle tests' metric. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  let top = 1e-3;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    top = Math.max(top, Math.abs(b[i]));
  }
  return err / top;
}

const ramp = (n: number, f: (i: number) => number): Float32Array => Float32Array.from({ length: n }, (_, i) => f(i));

describe("gather against TF.js", () => {
  it("Emb[tok] with tok int[B, L] is [B, L, E]; loss and gradient equal tf.gather's", async () => {
    const src = `dim B
dim L = 5
dim V = 7
dim E = 3
input tok: int[B, L] in [0, V)
input w: [B, L, E]
param Emb: [V, E] ~ normal(0, 1)
e = Emb[tok]
loss = sum(tanh(e) * w)
output e
minimize loss
`;
    const { mod, graph } = await compileSource(src, { precision: "f32" });
    expect(graph.outputs[0].node.shape).toEqual(["B", 5, 3]);
    const B = 4;
    const tok = Int32Array.from({ length: B * 5 }, (_, i) => (i * 3) % 7);
    const w = ramp(B * 5 * 3, (i) => Math.sin(i));
    const params = mod.init(3);
    const ours = mod.backward(params, { tok, w });
    const out = mod.forward(params, { tok, w });
    const Emb = tf.tensor2d(params.Emb as Float32Array, [7, 3]);
    const f = (m: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.tanh(tf.gather(m, tf.tensor2d(tok, [B, 5], "int32"))), tf.tensor3d(w, [B, 5, 3])));
    const loss = f(Emb).dataSync()[0];
    const dEmb = tf.grad(f)(Emb).dataSync();
    expect(Math.abs(ours.loss - loss) / Math.max(Math.abs(loss), 1e-3)).toBeLessThan(1e-4);
    expect(relErr(ours.grads.Emb, dEmb)).toBeLessThan(1e-4);
    expect(relErr(out.e as Float32Array, tf.gather(Emb, tf.tensor2d(tok, [B, 5], "int32")).dataSync())).toBe(0);
  });

  it("take(x, idx, axis=1) equals tf.gather(x, idx, 1), values and gradients", async () => {
    const src = `dim B = 3
dim N = 6
input x: [B, N, 2]
input idx: int[4] in [0, N)
input w: [B, 4, 2]
param s: [N, 2] ~ normal(0, 1)
y = take(x * s, idx, axis=1)
output y
minimize sum(y * w)
`;
    const { mod } = await compileSource(src, { precision: "f32", inputGrads: ["x"] });
    const x = ramp(3 * 6 * 2, (i) => Math.cos(i * 0.7));
    const idx = Int32Array.of(5, 0, 5, 2);
    const w = ramp(3 * 4 * 2, (i) => 0.5 + Math.sin(i));
    const params = mod.init(1);
    const ours = mod.backward(params, { x, idx, w });
    const out = mod.forward(params, { x, idx, w });
    const tx = tf.tensor3d(x, [3, 6, 2]);
    const ts = tf.tensor2d(params.s as Float32Array, [6, 2]);
    const ti = tf.tensor1d(idx, "int32");
    const f = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.gather(tf.mul(a, b), ti, 1), tf.tensor3d(w, [3, 4, 2])));
    const [dx, ds] = tf.grads(f)([tx, ts]);
    expect(relErr(out.y as Float32Array, tf.gather(tf.mul(tx, ts), ti, 1).dataSync())).toBeLessThan(1e-6);
    expect(relErr(ours.grads.x, dx.dataSync())).toBeLessThan(1e-4);
    expect(relErr(ours.grads.s, ds.dataSync())).toBeLessThan(1e-4);
  });
});

describe("an embedding lookup", () => {
  it("adds up the gradient of a repeated index, and leaves rows nobody read at zero", async () => {
    const src = `dim L = 6
dim V = 5
dim E = 2
input tok: int[L] in [0, V)
param Emb: [V, E] ~ normal(0, 1)
minimize sum(Emb[tok])
`;
    const { mod } = await compileSource(src, { precision: "f64" });
    const tok = Int32Array.of(3, 1, 3, 3, 0, 1);
    const { grads } = mod.backward(mod.init(1), { tok });
    // d sum / d Emb[v] = the number of times v is read, on each of its E entries.
    expect(Array.from(grads.Emb)).toEqual([1, 1, 2, 2, 0, 0, 3, 3, 0, 0]);
  });

  it("inside a loop (a token per step) passes the f64 gradient check", async () => {
    const src = `dim B
dim T = 4
dim V = 6
dim E = 3
dim H = 4
input tok: int[T, B] in [0, V)
param Emb: [V, E] ~ normal(0, 1)
param Wx: [E, H] ~ xavier
param Wh: [H, H] ~ orthogonal
h = zeros([B, H])
for t in 0..T {
  h = tanh(Emb[tok[t]] @ Wx + h @ Wh)
}
minimize sum(h * h)
`;
    const report = await checkFile(src, "emb_rnn.bp", { seed: 3, tolerance: 1e-6 });
    expect(report.rows.map((r) => r.tensor)).toEqual(["Emb", "Wx", "Wh"]);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThan(1e-6);
  });

  it("an index out of range throws, naming the tensor; no clamping", async () => {
    const src = "dim L = 3\ndim V = 4\ninput tok: int[L]\nparam Emb: [V, 2]\nminimize sum(Emb[tok])\n";
    const { mod } = await compileSource(src, { precision: "f32" });
    const params = mod.init(1);
    expect(() => mod.forward(params, { tok: Int32Array.of(0, 4, 1) })).toThrow(/params\.Emb\[inputs\.tok\] \(line 5\): index 4 is out of range \[0, 4\)/);
    expect(() => mod.backward(params, { tok: Int32Array.of(-1, 0, 1) })).toThrow(/Emb\[inputs\.tok\].*index -1 is out of range/);
  });

  it("a float index is a compile error; so is more than one int array", () => {
    const head = "dim L = 3\ndim V = 4\ninput tok: int[L]\ninput f: [L]\nparam Emb: [V, 2]\n";
    expect(() => frontEnd(`${head}minimize sum(take(Emb, f))\n`, "t.bp")).toThrow(/take's idx must be an int tensor/);
    expect(() => frontEnd(`${head}minimize sum(Emb[tok, tok])\n`, "t.bp")).toThrow(/one int-array index per indexing/);
  });
});
