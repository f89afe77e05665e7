// A runtime index on the second axis of a 2-D value, x[:, t] (batch-first data),
// lowers to the first axis of x's transpose: it must agree with the time-major
// model that reads xt[t], values and gradients, in both precisions.
import { describe, expect, it } from "vitest";
import { frontEnd } from "../../src/passes/pipeline.js";
import { compileSource } from "../helpers/compile.js";

const model = (input: string, read: string): string => `dim B
dim T = 5
${input}
param w: [1, 4]
param U: [4, 4] ~ orthogonal
h = zeros([B, 4])
for t in 0..T {
  h = tanh(reshape(${read}, [B, 1]) @ w + h @ U)
}
loss = mean(square(h))
minimize loss
`;

describe("x[:, t] in a loop", () => {
  it.each([["f64" as const], ["f32" as const]])("%s: agrees with the time-major model, input gradient included", async (precision) => {
    const batchFirst = await compileSource(model("input x: [B, T]", "x[:, t]"), { precision, inputGrads: ["x"] });
    const timeMajor = await compileSource(model("input xt: [T, B]", "xt[t]"), { precision, inputGrads: ["xt"] });
    const FA = precision === "f32" ? Float32Array : Float64Array;
    const B = 3;
    const T = 5;
    const x = FA.from({ length: B * T }, (_, k) => Math.sin(k * 0.7));
    const xt = FA.from({ length: T * B }, (_, k) => x[(k % B) * T + Math.floor(k / B)]);
    const params = timeMajor.mod.init(4);
    const a = batchFirst.mod.backward(params, { x });
    const b = timeMajor.mod.backward(params, { xt });
    const tol = precision === "f32" ? 1e-6 : 1e-12;
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(tol);
    for (const k of ["w", "U"]) Array.from(a.grads[k]).forEach((v, i) => expect(Math.abs(v - b.grads[k][i])).toBeLessThan(tol));
    // dx[i, t] = dxt[t, i]
    for (let i = 0; i < B; i++) for (let t = 0; t < T; t++) expect(Math.abs(a.grads.x[i * T + t] - b.grads.xt[t * B + i])).toBeLessThan(tol);
  });

  it("a runtime index on another axis of a higher-rank value compiles (section 9; tests/frontend/indexing-any-axis.test.ts)", () => {
    const src = "dim B\ndim T = 5\ninput x: [B, T, 3]\nparam W: [3, 4]\nh = zeros([B, 4])\nfor t in 0..T {\n  h = tanh(x[:, t] @ W + h)\n}\nloss = mean(square(h))\nminimize loss\n";
    expect(() => frontEnd(src, "t.bp")).not.toThrow();
  });

  it("reading past the end of the second axis is a compile error", () => {
    const src = "dim B\ninput x: [B, 3]\nparam w: [1, 4]\nh = zeros([B, 4])\nfor t in 0..5 {\n  h = tanh(reshape(x[:, t], [B, 1]) @ w + h)\n}\nloss = mean(square(h))\nminimize loss\n";
    expect(() => frontEnd(src, "t.bp")).toThrow(/reads past the end: its second axis has 3 entries but the loop runs 5 steps/);
  });
});
