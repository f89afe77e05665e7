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
import { errorOf, compileSource, type Module } from "../helpers/compile.js";
import { gradientsMatchDifferences, kernelsAgree, matchesTfjs, mT, npMatmul, relErr, weights, type Case } from "../helpers/linalg.js";
import { nodeFlops } from "../../src/ir/flops.js";
import { compileStages } from "../../src/passes/pipeline.js";

const CASES: Case[] = [
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

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("batched matmul and transposes: gradients against central differences (f64)", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_n, c) => gradientsMatchDifferences(c));
});

describe("batched matmul and transposes against TF.js (value and gradients, f32)", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_n, c) => matchesTfjs(c));
});

describe("f32 modules: the SIMD and JS kernels agree with the f64 module", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_n, c) => kernelsAgree(c));
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

const RNN = `dim B = 2
dim T = 5
dim N = 3
dim D = 4
dim H = 6
input x: [T, B, N, D] in [-1, 1]
param Wx: [D, H] ~ xavier
param Wh: [H, H] ~ orthogonal
param Ws: [B, N, N] ~ normal(0, 0.3)
h = zeros([B, N, H])
for t in 0..T {
  h = tanh(x[t] @ Wx + h @ Wh + Ws @ h)
}
minimize sum(square(h))
`;

const MODELS: [string, string, number[]][] = [
  ["multi-head attention: batched products over strided heads", ATTENTION, [4, 8, 16]],
  // BPTT adds each step's products into the weight gradients: matmul_add, summed over the batch for Wx and Wh.
  ["a recurrence over batched states (matmul_add, summed over the batch)", RNN, [5, 2, 3, 4]],
];

describe.each(MODELS)("%s", (_name, src, xShape) => {
  const run = (mod: Module, f64: boolean) => {
    const p = mod.init(3);
    const params = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, f64 ? Float64Array.from(v) : Float32Array.from(v)]));
    const x = weights(xShape);
    return { params, inputs: { x: f64 ? Float64Array.from(x) : x } };
  };

  it("the gradients pass bpc check's central differences", async () => {
    const { mod, graph } = await compileSource(src, { precision: "f64" });
    for (const r of checkGradients(mod as never, graph, { seed: 2, tolerance: 1e-6 })) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-6);
  });

  it.each(["simd", "js"] as const)("%s kernels agree with f64 and allocate nothing per call", async (kernels) => {
    const ref64 = await compileSource(src, { precision: "f64" });
    const a = run(ref64.mod, true);
    const ref = ref64.mod.backward(a.params, a.inputs);
    const { mod, ts } = await compileSource(src, { precision: "f32", kernels });
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
    expect(made).toBe(0);
  });
});

describe("how products and their gradients lower", () => {
  const opt = (src: string) => compileStages(src, "t.bp", { inputGrads: ["x"], verify: true }).opt;
  it("x @ W with x [B, T, D]: dW is one product summed over the batch, no [B, D, K] temporary", () => {
    const g = opt("dim B\ninput x: [B, 5, 8]\nparam W: [8, 3]\nminimize sum(square(x @ W))\n");
    const dW = g.grads.find((r) => r.name === "W")!.node;
    expect([dW.op, dW.attrs.sumBatch, dW.shape]).toEqual(["matmul", true, [8, 3]]);
    expect(g.nodes.filter((n) => n.op === "sum_to" || n.op === "transpose")).toEqual([]);
  });
  it("h @ h.mT: the transposed gradient is written as a product in place, not a transposed view", () => {
    const g = opt("dim B\ninput x: [B, 5, 3]\nparam W: [3, 3]\nh = x @ W\nminimize sum(square(h @ h.mT))\n");
    expect(g.nodes.filter((n) => n.op === "transpose")).toEqual([]);
  });
});

describe("flops of batched products: 2 · batch · M · K · N", () => {
  it("x @ W with x [B, T, D], its dx and its dW summed over the batch each count 2 B T D K", () => {
    const src = "dim B\ndim T = 5\ninput x: [B, T, 8]\nparam W: [8, 3]\nminimize sum(x @ W)\n";
    const st = compileStages(src, "t.bp", { inputGrads: ["x"], verify: true });
    const mm = (g: typeof st.opt) => g.nodes.filter((n) => n.op === "matmul" || n.op === "matmul_add");
    const dv = (d: string | number) => (d === "B" ? 4 : (d as number));
    expect(mm(st.opt).map((n) => nodeFlops(n, dv))).toEqual([2 * 4 * 5 * 8 * 3, 2 * 4 * 5 * 8 * 3, 2 * 4 * 5 * 8 * 3]);
  });
  it("a broadcast batch counts the output's batch: [2, 1, 3, 4] @ [5, 4, 6]", () => {
    const st = compileStages("param a: [2, 1, 3, 4]\nparam b: [5, 4, 6]\nminimize sum(a @ b)\n", "t.bp", { verify: true });
    const [m] = st.ir.nodes.filter((n) => n.op === "matmul");
    expect(nodeFlops(m, (d) => d as number)).toBe(2 * 10 * 3 * 4 * 6);
  });
});


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
    ["matmul(x, W)", "unknown function 'matmul'; write x @ W instead"],
  ])("%s", (expr, message) => {
    const e = errorOf(`${head}r = ${expr}\nminimize sum(r)\n`);
    expect(e.message).toBe(message);
    expect(e.diagnostics[0].span.line).toBe(7);
  });
});
