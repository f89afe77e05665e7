// layer_norm and the other section 9 ops inside whole models: a pre-norm
// MLP block with a per-token loss, and a recurrence normalising its hidden
// state at every step (layer_norm's input goes on the loop tape), each
// checked against central finite differences in f64 (`bpc check`'s
// machinery); and the f32 module with the SIMD matmul kernels against the
// same module with JS kernels.
import { describe, expect, it } from "vitest";
import { checkFile } from "../../src/check/index.js";
import { compileSource } from "../helpers/compile.js";

const BLOCK = `dim B = 2
dim T = 3
dim D = 8
dim H = 16
dim C = 5
input x: [B, T, D]
input y: int[B, T] in [0, C)
input soft: [B, T, C] in [0, 1]
param g: [D] ~ ones
param b: [D] ~ zeros
param W1: [D, H] ~ xavier
param W2: [H, D] ~ xavier
param Wo: [D, C] ~ xavier
ln = layer_norm(x) * g + b
u = gelu(reshape(ln, [6, D]) @ W1)
h = x + reshape(u @ W2, [B, T, D])
z = reshape(reshape(layer_norm(h, axis=[1, 2]), [6, D]) @ Wo, [B, T, C])
loss = mean(cross_entropy(z, y)) + 0.1 * mean(cross_entropy(z, soft)) + mean(var(h, axis=-1)) + 0.01 * sum(tril(z[0, :, 0:3]))
minimize loss
`;

const RNN = `dim B = 3
dim T = 5
dim D = 4
dim H = 6
input xs: [T, B, D]
input y: int[T, B] in [0, H)
param Wx: [D, H] ~ xavier
param Wh: [H, H] ~ orthogonal
param g: [H] ~ ones
h = zeros([B, H])
s = 0
for t in 0..T {
  h = layer_norm(silu(xs[t] @ Wx + h @ Wh)) * g
  s = s + mean(cross_entropy(h, y[t])) + mean(bce_with_logits(h, sigmoid(xs[t] @ Wx)))
}
minimize s / T
`;

describe("section 9 ops in whole models, against central differences (f64)", () => {
  it("a pre-norm block: layer_norm, gelu, per-token cross_entropy (labels and soft targets), var, tril", async () => {
    const report = await checkFile(BLOCK, "block.bp", { seed: 3, tolerance: 1e-6 });
    expect(report.rows.map((r) => r.tensor)).toEqual(["g", "b", "W1", "W2", "Wo", "x", "soft"]);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThan(1e-6);
  });

  it("a recurrence normalising its state each step, backpropagated through time", async () => {
    const report = await checkFile(RNN, "lnrnn.bp", { seed: 5, tolerance: 1e-6 });
    expect(report.rows.map((r) => r.tensor)).toEqual(["Wx", "Wh", "g", "xs"]);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThan(1e-6);
  });
});

describe("f32: the SIMD matmul module and the JS kernels agree around layer_norm", () => {
  it("forward and backward", async () => {
    const simd = (await compileSource(BLOCK, { precision: "f32", kernels: "simd" })).mod;
    const js = (await compileSource(BLOCK, { precision: "f32", kernels: "js" })).mod;
    const params = simd.init(4);
    let s = 9;
    const u = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
    const inputs = {
      x: Float32Array.from({ length: 48 }, () => u() * 4 - 2),
      y: Int32Array.from({ length: 6 }, () => Math.floor(u() * 5)),
      soft: Float32Array.from({ length: 30 }, () => u()),
    };
    const a = simd.backward(params, inputs);
    const b = js.backward(params, inputs);
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5 * Math.abs(b.loss));
    for (const k of Object.keys(b.grads)) {
      const scale = Math.max(1e-3, ...Array.from(b.grads[k], Math.abs));
      const err = Math.max(...Array.from(a.grads[k], (v, i) => Math.abs(v - b.grads[k][i])));
      expect(err / scale, k).toBeLessThan(1e-4);
    }
  });
});
