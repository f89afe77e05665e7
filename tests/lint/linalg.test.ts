// The linter after batched matmuls and einsum (section 9): saturation and
// dead-relu read the product's fan-in (the contracted axis, not the second
// axis of a 3-D operand), and clean attention-shaped models get no finding.
import { describe, expect, it } from "vitest";
import { frontEnd } from "../../src/passes/pipeline.js";
import { lint } from "../helpers/lint.js";

const lintSource = (source: string) => lint(frontEnd(source, "t.bp").ir, source);
const num = (msg: string, re: RegExp): number => Number(re.exec(msg)?.[1]);

describe("saturation and dead-relu after a batched matmul", () => {
  it("tanh(x @ W + b) with x [B, T, 256] and unit weights: std ≈ 16 over fan-in 256", () => {
    const ds = lintSource(`dim B
dim T = 6
input x: [B, T, 256] ~ normal(0, 1)
param W: [256, 64] ~ normal(0, 1)
param b: [64] ~ zeros
param V: [64, 10] ~ xavier
h = tanh(x @ W + b)
minimize sum(h @ V)
`);
    expect(ds.map((d) => d.rule)).toEqual(["saturation"]);
    const [d] = ds;
    expect(d.span.line).toBe(7);
    expect(d.params).toEqual(["W", "b"]);
    expect(d.message).toContain("fan-in 256");
    expect(d.message).toMatch(/closed form: std ≈ √\(256 · /);
    expect(Math.abs(num(d.message, /has std ≈ ([\d.]+)/) - 16) / 16).toBeLessThan(0.15);
    expect(d.fix.description).toContain("√(2/(256+64))");
  });

  it("relu(einsum(...) + b) with a negative bias: dead, fan-in 784", () => {
    const ds = lintSource(`dim B
dim T = 6
input x: [B, T, 784] in [0, 1]
param W1: [784, 128] ~ normal(0, 0.01)
param b1: [128] ~ const(-1)
param W2: [128, 10] ~ xavier
h = relu(einsum("btd,dh->bth", x, W1) + b1)
minimize sum(square(h @ W2))
`);
    expect(ds.map((d) => d.rule)).toEqual(["dead-relu"]);
    expect(ds[0].span.line).toBe(7);
    expect(ds[0].message).toContain("fan-in 784");
    expect(num(ds[0].message, /std ≈ ([\d.]+)/)).toBeCloseTo(Math.sqrt((784 / 3) * 1e-4), 1);
  });

  it("a recurrence over batched states [B, N, H] is reported as the one over [B, H]", () => {
    const rnn = (state: string, x: string) => `dim B
dim T = 50
dim D = 4
dim H = 64
input xs: [T, ${x}] ~ normal(0, 1)
param Wx: [D, H] ~ xavier
param Wh: [H, H] ~ normal(0, 1)
h = zeros([${state}])
for t in 0..T {
  h = tanh(xs[t] @ Wx + h @ Wh)
}
minimize sum(square(h))
`;
    const flat = lintSource(rnn("B, H", "B, D"));
    const batched = lintSource(rnn("B, 3, H", "B, 3, D"));
    expect(flat.map((d) => d.rule)).toEqual(["saturation", "exploding-gradient"]);
    expect(batched.map((d) => [d.rule, d.span.line, d.span.col, d.params])).toEqual(flat.map((d) => [d.rule, d.span.line, d.span.col, d.params]));
    expect(batched[1].message).toMatch(/spectral radius at init is ≈ [\d.]+ .* over 50 steps/);
  });

  it("a clean self-attention block gets no finding", () => {
    const ds = lintSource(`dim B
dim T = 8
dim D = 32
input x: [B, T, D] ~ normal(0, 1)
param Wq: [D, D] ~ xavier
param Wk: [D, D] ~ xavier
param Wv: [D, D] ~ xavier
param W1: [D, 64] ~ he
param b1: [64] ~ zeros
param W2: [64, D] ~ xavier
q = x @ Wq
k = x @ Wk
v = x @ Wv
a = softmax(q @ k.mT / 5.66, axis=-1)
h = x + a @ v
m = relu(h @ W1 + b1)
y = h + einsum("btf,fd->btd", m, W2)
minimize mean(square(y))
`);
    expect(ds).toEqual([]);
  });
});
