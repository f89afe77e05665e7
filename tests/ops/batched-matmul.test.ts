// `@` on any rank (NumPy's matmul), `x.T`, `x.mT` and transpose(x, perm):
// for every rank combination (a 1-D side promoted, batch axes broadcast,
// 3-D @ 2-D flattened, 4-D @ 4-D, transposed and strided operands), the
// gradient against central differences (bpc check's), the value and the
// gradient against TF.js, the SIMD and JS kernels of f32 modules against
// the f64 module, no allocation per call, and the compile errors.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { checkGradients } from "../../src/check/index.js";
import { countAllocations } from "../helpers/alloc.js";
import { compileSource, type Module } from "../helpers/compile.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { BpcError } from "../../src/diag.js";

type P = Record<string, tf.Tensor>;
interface Case {
  name: string;
  /** Params: name and shape (uniform(-1, 1) init). */
  params: [string, number[]][];
  expr: string;
  twin(p: P): tf.Tensor;
  /** Kernel facts the f32 SIMD module must show (one product over flattened rows, a loop over the batch...). */
  simd?: RegExp[];
}

const mT = (x: tf.Tensor): tf.Tensor => tf.transpose(x, [...x.shape.keys()].map((i, _, a) => (i < a.length - 2 ? i : i === a.length - 2 ? a.length - 1 : a.length - 2)));
/** NumPy matmul for TF.js: batch axes broadcast explicitly (tf.matMul broadcasts them too, but says so nowhere stable). */
function npMatmul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const r = Math.max(a.rank, b.rank);
  const batch = tf.broadcastArgs(a.shape.slice(0, -2), b.shape.slice(0, -2)).arraySync() as number[];
  const grow = (x: tf.Tensor): tf.Tensor => {
    const y = x.reshape([...Array(r - x.rank).fill(1), ...x.shape]);
    return tf.broadcastTo(y, [...batch, ...y.shape.slice(-2)]);
  };
  return r === 2 ? tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D) : tf.matMul(grow(a), grow(b));
}

export const CASES: Case[] = [
  { name: "[K] @ [K, N]", params: [["a", [4]], ["b", [4, 3]]], expr: "a @ b", twin: (p) => npMatmul(p.a.reshape([1, 4]), p.b).reshape([3]) },
  { name: "[M, K] @ [K]", params: [["a", [3, 4]], ["b", [4]]], expr: "a @ b", twin: (p) => npMatmul(p.a, p.b.reshape([4, 1])).reshape([3]) },
  { name: "[K] @ [K] (a dot product)", params: [["a", [5]], ["b", [5]]], expr: "a @ b", twin: (p) => tf.sum(tf.mul(p.a, p.b)) },
  { name: "[B, M, K] @ [K]", params: [["a", [2, 3, 4]], ["b", [4]]], expr: "a @ b", twin: (p) => npMatmul(p.a, p.b.reshape([4, 1])).reshape([2, 3]) },
  { name: "[K] @ [B, K, N]", params: [["a", [4]], ["b", [2, 4, 3]]], expr: "a @ b", twin: (p) => npMatmul(p.a.reshape([1, 4]), p.b).reshape([2, 3]) },
  {
    name: "[B, T, D] @ [D, K]: one product over the flattened rows",
    params: [["a", [2, 5, 4]], ["b", [4, 6]]],
    expr: "a @ b",
    twin: (p) => npMatmul(p.a, p.b),
    // x @ W forward, dW = xᵀ @ dy summed over the batch: each one call over B*T rows.
    simd: [/matmulSimd\(arena, [a-z_]+, a_simd, 0, b_simd, 0, 10, 4, 6, false, false\)/, /matmulSimd\(arena, db, a_simd, 0, [a-z_]+, 0, 4, 10, 6, true, false\)/],
  },
  { name: "[M, K] @ [B, K, N]", params: [["a", [3, 4]], ["b", [2, 4, 5]]], expr: "a @ b", twin: (p) => npMatmul(p.a, p.b) },
  { name: "[B, M, K] @ [B, K, N]", params: [["a", [2, 3, 4]], ["b", [2, 4, 5]]], expr: "a @ b", twin: (p) => npMatmul(p.a, p.b) },
  { name: "[2, 1, M, K] @ [3, K, N]: batch axes broadcast", params: [["a", [2, 1, 3, 4]], ["b", [3, 4, 5]]], expr: "a @ b", twin: (p) => npMatmul(p.a, p.b) },
  { name: "[B, H, T, T] @ [B, H, T, Dh]", params: [["a", [2, 3, 4, 4]], ["b", [2, 3, 4, 5]]], expr: "a @ b", twin: (p) => npMatmul(p.a, p.b) },
  {
    name: "attention scores q @ k.mT",
    params: [["a", [2, 5, 4]], ["b", [2, 5, 4]]],
    expr: "a @ b.mT",
    twin: (p) => npMatmul(p.a, mT(p.b)),
  },
  { name: "a.mT @ b", params: [["a", [2, 4, 3]], ["b", [2, 4, 5]]], expr: "a.mT @ b", twin: (p) => npMatmul(mT(p.a), p.b) },
  { name: "a.mT @ b.mT, 4-D", params: [["a", [2, 2, 4, 3]], ["b", [2, 2, 5, 4]]], expr: "a.mT @ b.mT", twin: (p) => npMatmul(mT(p.a), mT(p.b)) },
  {
    name: "a strided batch: transpose(a, [1, 0, 2]) @ b",
    params: [["a", [3, 2, 4]], ["b", [2, 4, 5]]],
    expr: "transpose(a, [1, 0, 2]) @ b",
    twin: (p) => npMatmul(tf.transpose(p.a, [1, 0, 2]), p.b),
  },
  { name: "x.T reverses every axis", params: [["a", [2, 3, 4]]], expr: "a.T * 1", twin: (p) => tf.transpose(p.a) },
  { name: "transpose(x, [2, 0, 1])", params: [["a", [2, 3, 4]]], expr: "transpose(a, [2, 0, -2])", twin: (p) => tf.transpose(p.a, [2, 0, 1]) },
  { name: "transpose of a transpose", params: [["a", [2, 3, 4, 5]]], expr: "transpose(a.mT, [3, 1, 0, 2]) * 1", twin: (p) => tf.transpose(mT(p.a), [3, 1, 0, 2]) },
];

const decls = (c: Case): string => c.params.map(([n, s]) => `param ${n}: [${s.join(", ")}] ~ uniform(-1, 1)`).join("\n");

/** r = expr, loss = sum(r * w) with w a fixed input of r's shape. */
async function build(c: Case, opts: { precision: "f32" | "f64"; kernels?: "simd" | "js" }) {
  const probe = await compileSource(`${decls(c)}\nr = ${c.expr}\noutput r\nminimize sum(r)\n`, { precision: "f64" });
  const shape = probe.graph.outputs[0].node.shape as number[];
  const src = `${decls(c)}\ninput w: [${shape.join(", ")}] in [-1, 1]\nr = ${c.expr}\noutput r\nminimize sum(r * w)\n`;
  return { ...(await compileSource(src, opts)), shape, src };
}

function weights(shape: number[]): Float32Array {
  let s = 7;
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1);
}

const relErr = (ours: ArrayLike<number>, ref: ArrayLike<number>): number => {
  let scale = 1e-3;
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]));
    err = Math.max(err, Math.abs(ours[i] - ref[i]));
  }
  return err / scale;
};

const asF64 = (r: Record<string, Float32Array | Float64Array>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float64Array.from(v)]));

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("batched matmul and transposes: gradients against central differences (f64)", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_n, c) => {
    const { mod, graph } = await build(c, { precision: "f64" });
    const rows = checkGradients(mod as never, graph, { seed: 3, tolerance: 1e-6 });
    expect(rows.length).toBe(c.params.length);
    for (const r of rows) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-6);
  });
});

describe("batched matmul and transposes against TF.js (value and gradients, f32)", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_n, c) => {
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
  });
});

describe("f32 modules: the SIMD and JS kernels agree with the f64 module", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_n, c) => {
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
  });
});

const ATTENTION = `dim B
dim T = 8
dim D = 16
dim H = 2
dim Dh = 8
input x: [B, T, D] in [-1, 1]
param Wq: [D, D] ~ xavier
param Wk: [D, D] ~ xavier
param Wv: [D, D] ~ xavier
q = transpose(reshape(x @ Wq, [B, T, H, Dh]), [0, 2, 1, 3])
k = transpose(reshape(x @ Wk, [B, T, H, Dh]), [0, 2, 1, 3])
v = transpose(reshape(x @ Wv, [B, T, H, Dh]), [0, 2, 1, 3])
a = softmax(q @ k.mT / 3, axis=-1)
o = a @ v
minimize sum(o * o)
`;

describe("multi-head attention: batched products over strided heads", () => {
  const run = (mod: Module, f64: boolean) => {
    const p = mod.init(3);
    const params = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, f64 ? Float64Array.from(v) : Float32Array.from(v)]));
    const x = weights([4, 8, 16]);
    return { params, inputs: { x: f64 ? Float64Array.from(x) : x } };
  };

  it("the gradients pass bpc check's central differences", async () => {
    const { mod, graph } = await compileSource(ATTENTION, { precision: "f64" });
    for (const r of checkGradients(mod as never, graph, { seed: 2, tolerance: 1e-6 })) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-6);
  });

  it.each(["simd", "js"] as const)("%s kernels agree with f64 and allocate nothing per call", async (kernels) => {
    const ref64 = await compileSource(ATTENTION, { precision: "f64" });
    const a = run(ref64.mod, true);
    const ref = ref64.mod.backward(a.params, a.inputs);
    const { mod, ts } = await compileSource(ATTENTION, { precision: "f32", kernels });
    if (kernels === "simd") expect(ts).toContain("matmulSimd(");
    const b = run(mod, false);
    const got = mod.backward(b.params, b.inputs);
    for (const [k, g] of Object.entries(ref.grads)) expect(relErr(got.grads[k], g), k).toBeLessThan(1e-4);
    mod.forward(b.params, b.inputs);
    const made = countAllocations(() => {
      for (let i = 0; i < 3; i++) {
        mod.backward(b.params, b.inputs);
        mod.forward(b.params, b.inputs);
      }
    });
    // A result object per call is the module's contract; typed arrays and buffers are not made again.
    expect(made).toBe(0);
  });
});

function errorOf(src: string): BpcError {
  try {
    frontEnd(src, "t.bp");
  } catch (e) {
    if (e instanceof BpcError) return e;
    throw e;
  }
  throw new Error("expected a compile error");
}

describe("compile errors of @ and transpose", () => {
  const head = "dim B\ndim T = 4\ninput x: [B, T, 64]\nparam W: [32, 10]\nparam V: [3, 64, 8]\nparam s: []\n";
  it.each([
    ["x @ W", "cannot multiply [B, 4, 64] @ [32, 10]: the left side's last axis (64) must equal the right side's second-to-last axis (32)"],
    ["x @ V", "cannot multiply [B, 4, 64] @ [3, 64, 8]: the batch axes [B] and [3] do not broadcast"],
    ["x @ s", "cannot multiply [B, 4, 64] @ []: '@' takes tensors of at least one axis"],
    ["sum(x, axis=0) @ W", "cannot multiply [4, 64] @ [32, 10]: the left side's last axis (64) must equal the right side's second-to-last axis (32)"],
    ["s.mT", "x.mT swaps the last two axes, but [] has none"],
    ["transpose(x, [0, 1])", "transpose's permutation must list each of the 3 axes of [B, 4, 64] once, got [0, 1]"],
    ["transpose(x, [0, 1, 1])", "transpose's permutation must list each of the 3 axes of [B, 4, 64] once, got [0, 1, 1]"],
    ["transpose(x, [0, 1, 3])", "axis 3 is out of range for a tensor of shape [B, 4, 64]"],
    ["transpose(x, 1)", "transpose's perm must be a list of axes, as in [0, 2, 1]"],
    ["matmul(x, W)", "unknown function 'matmul': write a @ b (any rank, batch axes broadcast)"],
  ])("%s", (expr, message) => {
    const e = errorOf(`${head}r = ${expr}\nminimize sum(r)\n`);
    expect(e.message).toBe(message);
    expect(e.diagnostics[0].span.line).toBe(7);
  });
});
