// In f32 modules with the SIMD kernel, convolutions run as im2col into the
// arena plus the SIMD matmul (kernels/conv.ts); the direct JS loops are the
// fallback. Both paths, and the f64 reference module, must agree on the
// forward and on every gradient, over stride, padding, dilation, groups and
// conv_transpose2d. The second model has no matmul: convs alone turn the SIMD path on.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { countAllocations } from "../helpers/alloc.js";
import { compileSource, type Module } from "../helpers/compile.js";
import { mulberry32 } from "../../src/ir/random.js";

const MODELS: [string, string][] = [
  [
    "conv, groups, stride, same padding, conv_transpose",
    `dim B
input x: [B, 4, 9, 8] in [-1, 1]
param K1: [6, 2, 3, 3] ~ he
param K2: [4, 6, 2, 3] ~ he
param K3: [4, 3, 3, 3] ~ he
param W: [24, 5] ~ xavier
h1 = tanh(conv2d(x, K1, stride=[2, 1], padding=1, groups=2))
h2 = conv2d(h1, K2, padding="same", dilation=[1, 2])
h3 = conv_transpose2d(max_pool2d(h2, 2), K3, stride=2, padding=1, output_padding=1)
z = reshape(avg_pool2d(h3, 2), [B, 24]) @ W
minimize sum(z * z)
`,
  ],
  [
    "conv1d",
    `dim B
input x: [B, 3, 20] in [-1, 1]
param K: [5, 3, 4] ~ he
z = max_pool1d(relu(conv1d(x, K, stride=2, dilation=2)), 2, padding=1)
minimize sum(z * z)
`,
  ],
];

function inputs(seed: number, shape: number[]): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 2 * next() - 1);
}

function run(mod: Module, shape: number[], f64: boolean) {
  const p = mod.init(4);
  const params = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, f64 ? Float64Array.from(v) : Float32Array.from(v)]));
  const x = inputs(9, shape);
  return mod.backward(params, { x: f64 ? Float64Array.from(x) : x });
}

describe("conv in f32 modules: SIMD (im2col + matmul) and JS kernels against f64", () => {
  it.each(MODELS)("%s", async (_n, src) => {
    const shape = src.includes("[B, 4, 9, 8]") ? [3, 4, 9, 8] : [3, 3, 20];
    const simd = await compileSource(src, { precision: "f32", kernels: "simd" });
    expect(simd.ts).toContain("convForwardMm(");
    expect(simd.ts).toContain("convKernelGradMm(");
    const js = await compileSource(src, { precision: "f32", kernels: "js" });
    expect(js.ts).not.toContain("Mm(");
    const ref = run((await compileSource(src, { precision: "f64" })).mod, shape, true);
    for (const r of [run(simd.mod, shape, false), run(js.mod, shape, false)]) {
      expect(Math.abs(r.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-4);
      for (const [k, g] of Object.entries(ref.grads)) {
        const scale = Math.max(...Array.from(g, Math.abs));
        const err = Math.max(...Array.from(g, (v, i) => Math.abs(v - r.grads[k][i])));
        expect(err / scale, k).toBeLessThan(1e-4);
      }
    }
  });
});

describe("conv modules allocate nothing per call after the first", () => {
  it.each(["simd", "js"] as const)("lenet.bp, %s kernels", async (kernels) => {
    const { mod } = await compileSource(readFileSync("examples/lenet.bp", "utf8"), { precision: "f32", kernels });
    const params = mod.init(2);
    const inputs = { x: inputs_(8 * 784), y: Int32Array.from({ length: 8 }, (_, i) => i % 10) };
    mod.backward(params, inputs);
    mod.forward(params, inputs);
    const losses: number[] = [];
    const made = countAllocations(() => {
      for (let i = 0; i < 2; i++) losses.push(mod.backward(params, inputs).loss, mod.forward(params, inputs).loss);
    });
    expect(made).toBe(0);
    expect(new Set(losses).size).toBe(1);
  });
});

function inputs_(n: number): Float32Array {
  const next = mulberry32(3);
  return Float32Array.from({ length: n }, () => next());
}
