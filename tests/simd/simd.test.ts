// f32 modules run their matmuls in the embedded WebAssembly SIMD kernel, with
// one shared JS kernel (matmulJs) as the fallback. Both paths must give the same
// gradients (to f32 summation order) on every example with a matmul, and a
// module must fall back by itself where WebAssembly is missing. Then what a
// SIMD module does apart from the kernel (its arena, hoisted transposes, staged
// params, module-local names) is checked against the same model built with
// --kernels js, where each of these once went wrong.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { helperSource } from "../../src/codegen/runtime.js";
import { moduleToJs as transpile } from "../../src/codegen/to-js.js";
import { compileSource, type AnyArray, type Module } from "../helpers/compile.js";

const EXAMPLES = join(import.meta.dirname, "..", "..", "examples");
const withMatmul = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith(".bp") && /@/.test(readFileSync(join(EXAMPLES, f), "utf8").replace(/#.*$/gm, "")))
  .sort();

/** Seeded inputs for a module: floats in [-1, 1), ints in [0, the smallest class count). */
function inputsFor(mod: Module, B: number): Record<string, AnyArray> {
  let s = 7;
  const u = (): number => ((s = (s * 16807) % 2147483647) / 2147483647);
  const out: Record<string, AnyArray> = {};
  for (const [name, d] of Object.entries(mod.model.inputs)) {
    const n = d.shape.reduce<number>((a, x) => a * (typeof x === "number" ? x : (mod.model.dims[x] ?? B)), 1);
    out[name] = d.dtype === "int32" ? Int32Array.from({ length: n }, () => Math.floor(u() * 2)) : Float32Array.from({ length: n }, () => u() * 2 - 1);
  }
  return out;
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 1e-3;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** The loss and gradients from both kernel choices; the JS ones must succeed. */
async function bothWays(source: string): Promise<{ simd: () => unknown; js: unknown }> {
  const simd = await compileSource(source, { precision: "f32" });
  const js = await compileSource(source, { precision: "f32", kernels: "js" });
  const params = js.mod.init(1);
  const inputs = inputsFor(js.mod, 4);
  const run = (m: Module): { loss: number; grads: Record<string, number[]> } => {
    m.forward(params, inputs);
    const r = m.backward(params, inputs);
    return { loss: r.loss, grads: Object.fromEntries(Object.entries(r.grads).map(([k, v]) => [k, Array.from(v)])) };
  };
  return { simd: () => run(simd.mod), js: run(js.mod) };
}

const model = (decls: string, body: string): string => `model m\n${decls}\n${body}\nminimize loss\n`;

describe("SIMD and JS matmul kernels", () => {
  it("cover the examples with a matmul", () => expect(withMatmul.length).toBeGreaterThan(8));

  it.each(withMatmul)("%s: the same loss and gradients", async (file) => {
    const source = readFileSync(join(EXAMPLES, file), "utf8");
    const simd = await compileSource(source, { precision: "f32", file });
    const js = await compileSource(source, { precision: "f32", file, kernels: "js" });
    expect(simd.ts).toContain("matmulSimd(");
    expect(js.ts).not.toContain("matmulSimd(");
    const params = simd.mod.init(3);
    const inputs = inputsFor(simd.mod, 5);
    const a = simd.mod.backward(params, inputs);
    const b = js.mod.backward(params, inputs);
    if (!Number.isFinite(b.loss)) return expect(a.loss).not.toBeLessThan(Infinity); // rnn_exploding overflows either way
    expect(Math.abs(a.loss - b.loss) / Math.max(1e-3, Math.abs(b.loss))).toBeLessThan(1e-5);
    for (const k of Object.keys(b.grads)) {
      // rnn_exploding's gradient overflows f32 by design: then it must overflow in both.
      if (!b.grads[k]!.every(Number.isFinite)) expect(a.grads[k]!.every(Number.isFinite), k).toBe(false);
      else expect(maxRel(a.grads[k]!, b.grads[k]!), k).toBeLessThan(1e-4);
    }
  });

  it("fall back to the JS kernels without WebAssembly", async () => {
    const source = readFileSync(join(EXAMPLES, "mlp.bp"), "utf8");
    const simd = await compileSource(source, { precision: "f32" });
    const js = await compileSource(source, { precision: "f32", kernels: "js" });
    const params = js.mod.init(1);
    const inputs = inputsFor(js.mod, 4);
    const saved = globalThis.WebAssembly;
    let grads: Record<string, Float32Array | Float64Array>;
    try {
      // The kernel is compiled when the first workspace is made: hide WebAssembly until then.
      (globalThis as { WebAssembly?: unknown }).WebAssembly = undefined;
      grads = simd.mod.backward(params, inputs).grads;
    } finally {
      globalThis.WebAssembly = saved;
    }
    const want = js.mod.backward(params, inputs).grads;
    // The shared JS kernel sums as the per-shape ones do: equal to the bit.
    for (const k of Object.keys(want)) expect(Array.from(grads[k]!)).toEqual(Array.from(want[k]!));
  });
});

describe("SIMD modules and source names", () => {
  // The backward workspace is built with `fw.arena`, but the arena's local is
  // claimed after params, inputs and dims: a source name `arena` pushes it to
  // `arena_2`, and `fw.arena` is then the param (undefined) or the dim.
  it.each([
    ["a param named arena", model("dim B\ninput x: [B, 3]\nparam arena: [3, 5]", "loss = mean(square(x @ arena))")],
    ["a dim named arena", model("dim arena\ninput x: [arena, 3]\nparam W: [3, 5]", "loss = mean(square(x @ W))")],
  ])("%s: backward works as with --kernels js", async (_, source) => {
    const { simd, js } = await bothWays(source);
    expect(simd).not.toThrow();
    const got = simd() as { loss: number };
    expect(Math.abs(got.loss - (js as { loss: number }).loss)).toBeLessThan(1e-5);
  });

  // The new helpers (take, newArena, matmulSimd, transposeInto) are not in
  // names.ts's MODULE_NAMES, so a source name can shadow them where they are
  // called: computeForward/computeBackward destructure values by source name,
  // and the workspace builders take the dims as parameters.
  it.each([
    ["a param named matmulSimd", model("dim B\ninput x: [B, 3]\nparam matmulSimd: [3, 5]", "loss = mean(square(x @ matmulSimd))")],
    ["a value named matmulSimd", model("dim B\ninput x: [B, 3]\nparam W: [3, 5]\nparam V: [5, 2]", "matmulSimd = x @ W\nloss = mean(square(matmulSimd @ V))")],
    ["an input named transposeInto", model("dim B\ninput transposeInto: [B, 3]\nparam W: [5, 3]", "loss = mean(square(transposeInto @ W.T))")],
    ["a dim named take", model("dim take\ninput x: [take, 3]\nparam W: [3, 5]", "loss = mean(square(x @ W))")],
    ["a dim named newArena", model("dim newArena\ninput x: [newArena, 3]\nparam W: [3, 5]", "loss = mean(square(x @ W))")],
  ])("%s: forward and backward work as with --kernels js", async (_, source) => {
    const { simd, js } = await bothWays(source);
    expect(simd).not.toThrow();
    const got = simd() as { loss: number };
    expect(Math.abs(got.loss - (js as { loss: number }).loss)).toBeLessThan(1e-5);
  });

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

describe("the arena's take", () => {
  // `(4 * n + 15) & ~15` is 32-bit arithmetic: a tensor of 2^29 or more floats
  // (the contract allows up to 2^31 - 1 elements, and --kernels js handles one)
  // moves the arena's cursor to a negative offset, so the next take throws
  // "Start offset -2147483632 is outside the bounds of the buffer". End to end:
  // `dim N = 536870912`, `param w: [1, N]`, `loss = sum(x @ w)` with x: [B, 1]
  // runs forward with --kernels js and throws with --kernels simd.
  it("advances past a buffer of 2^29 floats", () => {
    const take = new Function(`${transpile(helperSource("take", "Float32Array"))}\nreturn take;`)() as (
      arena: { buffer: ArrayBuffer; next: number; mm: null },
      n: number,
    ) => Float32Array;
    // Allocated lazily by the OS: no 2 GB is touched.
    const arena = { buffer: new ArrayBuffer(2 ** 31 + 64), next: 0, mm: null };
    expect(take(arena, 2 ** 29).length).toBe(2 ** 29);
    expect(arena.next).toBe(2 ** 31);
    expect(take(arena, 4).byteOffset).toBe(2 ** 31);
  });
});
