// Regressions found reviewing c15c830 (hoisted transposes W2_T, useWorkspaces,
// staged copies), 94570b0 (relu32) and relu's output mask: cases where a
// compiled module failed, gave wrong numbers, or allocated per call.
import { describe, expect, it } from "vitest";
import { countAllocations } from "./helpers/alloc.js";
import { compileSource, type AnyArray, type Module } from "./helpers/compile.js";

function inputsFor(
  mod: Module,
  B: number,
  seed = 7,
  FA: typeof Float32Array | typeof Float64Array = Float32Array,
): Record<string, AnyArray> {
  let s = seed;
  const u = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  const out: Record<string, AnyArray> = {};
  for (const [name, d] of Object.entries(mod.model.inputs)) {
    const n = d.shape.reduce<number>((a, x) => a * (typeof x === "number" ? x : (mod.model.dims[x] ?? B)), 1);
    if (d.dtype === "int32") {
      out[name] = new Int32Array(n);
      continue;
    }
    const a = new FA(n);
    for (let i = 0; i < n; i++) a[i] = u() * 2 - 1;
    out[name] = a;
  }
  return out;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe("useWorkspaces and source names", () => {
  // useWorkspaces once declared a local `last` in a function whose parameters are the
  // dims' locals, so a dim named `last` made the SIMD module fail to load ("Identifier
  // 'last' has already been declared"). Its locals are now claimed from the Namer.
  it("a dim named last: the SIMD module loads and agrees with --kernels js", async () => {
    const source = `model m\ndim last\ninput x: [last, 3]\nparam W: [3, 5]\nloss = mean(square(x @ W))\nminimize loss\n`;
    const js = await compileSource(source, { precision: "f32", kernels: "js" });
    const params = js.mod.init(1);
    const inputs = inputsFor(js.mod, 4);
    const want = js.mod.backward(params, inputs);
    let simd: Module | undefined;
    await expect(compileSource(source, { precision: "f32" }).then((c) => (simd = c.mod))).resolves.toBeDefined();
    const got = (simd as Module).backward(params, inputs);
    expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-6);
    expect(maxDiff(got.grads.W, want.grads.W)).toBeLessThan(1e-6);
  });
});

describe("hoisted transposes (W_T) of a param reshaped two ways", () => {
  // simdMatmul() in src/codegen/simd.ts caches the once-per-pass transposed copy of a whole
  // param/input; the cache was keyed by buffer and pass only, so a param read transposed
  // as two 2-D shapes (weight tying through reshape(w, [3, 4]).T and reshape(w, [4, 3]).T)
  // got the first shape's transpose in the second matmul. The key now includes K and N.
  const fwdSource = `model m
dim B
input x: [B, 4]
param w: [12] ~ normal(0, 1)
a = x @ reshape(w, [3, 4]).T
b = a @ reshape(w, [4, 3]).T
loss = mean(square(b))
output a, b
minimize loss
`;
  it("forward: the loss and outputs agree with --kernels js", async () => {
    const simd = await compileSource(fwdSource, { precision: "f32" });
    const js = await compileSource(fwdSource, { precision: "f32", kernels: "js" });
    const params = js.mod.init(1);
    const inputs = inputsFor(js.mod, 4);
    const want = js.mod.forward(params, inputs);
    const got = simd.mod.forward(params, inputs);
    expect(maxDiff(got.b as Float32Array, want.b as Float32Array)).toBeLessThan(1e-5);
    expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5 * Math.abs(want.loss));
  });

  // Here the forward reads w untransposed (right) and only the backward pass reads it
  // transposed, as [3, 4]ᵀ for dh2 and [4, 3]ᵀ for dh1: the loss is right and dw is wrong.
  const bwdSource = `model m
dim B
input x: [B, 4]
param w: [12] ~ normal(0, 0.5)
h1 = tanh(x @ reshape(w, [4, 3]))
h2 = tanh(h1 @ reshape(w, [3, 4]))
out = h2 @ reshape(w, [4, 3])
loss = mean(square(out))
minimize loss
`;
  it("backward: the gradient agrees with --kernels js and the f64 module", async () => {
    const simd = await compileSource(bwdSource, { precision: "f32" });
    const js = await compileSource(bwdSource, { precision: "f32", kernels: "js" });
    const f64 = await compileSource(bwdSource, { precision: "f64" });
    const params = js.mod.init(1);
    const inputs = inputsFor(js.mod, 4);
    const want = js.mod.backward(params, inputs);
    const p64 = { w: Float64Array.from(params.w) };
    const i64 = { x: Float64Array.from(inputs.x) };
    const ref = f64.mod.backward(p64, i64);
    expect(maxDiff(want.grads.w, ref.grads.w)).toBeLessThan(1e-6); // --kernels js is right
    const got = simd.mod.backward(params, inputs);
    expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-6);
    expect(maxDiff(got.grads.w, want.grads.w)).toBeLessThan(1e-6);
  });
});

describe("alternating two batch sizes without --kernels simd", () => {
  // The previous workspace pair was kept only in SIMD modules with a backward pass;
  // f64 modules (the gradient-check build) and --kernels js f32 modules rebuilt both
  // workspaces on every switch between a training and an evaluation batch size.
  const source = `model m\ndim B\ninput x: [B, 3]\nparam W: [3, 5]\nh = relu(x @ W)\nloss = mean(square(h))\nminimize loss\n`;
  it.each([
    ["f64", { precision: "f64" as const }],
    ["f32 --kernels js", { precision: "f32" as const, kernels: "js" as const }],
  ])("%s: no typed array is allocated after the first call of each size", async (_, opts) => {
    const { mod } = await compileSource(source, opts);
    const FA = opts.precision === "f64" ? Float64Array : Float32Array;
    const params = mod.init(2);
    const train = inputsFor(mod, 3, 4, FA);
    const evalSet = inputsFor(mod, 8, 5, FA);
    const want = { train: mod.backward(params, train).loss, eval: mod.forward(params, evalSet).loss };
    const losses: number[] = [];
    const made = countAllocations(() => {
      for (let i = 0; i < 3; i++) losses.push(mod.backward(params, train).loss, mod.forward(params, evalSet).loss);
    });
    expect(losses).toEqual([want.train, want.eval, want.train, want.eval, want.train, want.eval]);
    expect(made).toBe(0);
  });
});

describe("staging params for the SIMD kernel", () => {
  // A param read only as W.T (whole) is transposed into the arena once per pass; it is
  // not also copied into the arena on every forward call.
  it("a param read only transposed gets a transposed copy and no staged copy", async () => {
    const source = `model m\ndim B\ninput x: [B, 3]\nparam W: [5, 3]\nparam V: [5, 2]\nh = x @ W.T\nloss = mean(square(h @ V))\nminimize loss\n`;
    const simd = await compileSource(source, { precision: "f32" });
    expect(simd.ts).toMatch(/transposeInto\(W_T, W, 0, 5, 3\)/);
    expect(simd.ts).not.toMatch(/W_simd/);
    expect(simd.ts).toMatch(/V_simd\.set\(V\)/);
    const js = await compileSource(source, { precision: "f32", kernels: "js" });
    const params = js.mod.init(1);
    const inputs = inputsFor(js.mod, 4);
    const want = js.mod.backward(params, inputs);
    const got = simd.mod.backward(params, inputs);
    expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-6);
    for (const k of ["W", "V"]) expect(maxDiff(got.grads[k], want.grads[k])).toBeLessThan(1e-5);
  });
});
