// f32 modules run their matmuls in the embedded WebAssembly SIMD kernel, with
// one shared JS kernel (matmulJs) as the fallback. Both paths must give the same
// gradients (to f32 summation order) on every example with a matmul, and a
// module must fall back by itself where WebAssembly is missing.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
