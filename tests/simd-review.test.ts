// Review of the SIMD matmul path (464ebff, 2c1385e): cases where an f32
// module built with the default --kernels simd fails although the same model
// works with --kernels js.
import { describe, expect, it } from "vitest";
import { helperSource } from "../src/codegen/runtime.js";
import { moduleToJs as transpile } from "../src/codegen/to-js.js";
import { compileSource, type AnyArray, type Module } from "./helpers/compile.js";

function inputsFor(mod: Module, B: number): Record<string, AnyArray> {
  let s = 7;
  const u = (): number => ((s = (s * 16807) % 2147483647) / 2147483647);
  const out: Record<string, AnyArray> = {};
  for (const [name, d] of Object.entries(mod.model.inputs)) {
    const n = d.shape.reduce<number>((a, x) => a * (typeof x === "number" ? x : (mod.model.dims[x] ?? B)), 1);
    out[name] = d.dtype === "int32" ? Int32Array.from({ length: n }, () => 0) : Float32Array.from({ length: n }, () => u() * 2 - 1);
  }
  return out;
}

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
});

describe("take", () => {
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
