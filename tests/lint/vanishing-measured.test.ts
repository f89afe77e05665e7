// vanishing-gradient is measured (issue 11, point 3): a gate that scales the
// whole state at every step, with no additive carry, shrinks the gradient by
// the product of the gates; the bound (a gate counts as at most 1) cannot
// see it, the run of the loop at init on the sample does. An additive carry
// (LSTM, GRU) and a plain tanh RNN keep the bound's verdict.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LintContext } from "../../src/lint/context.js";
import type { LintDiagnostic } from "../../src/lint/index.js";
import { recurrences } from "../../src/lint/recurrence.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { lint } from "../helpers/lint.js";

const here = dirname(fileURLToPath(import.meta.url));
const example = (f: string): string => readFileSync(join(here, "../../examples", f), "utf8");

function vanishing(source: string): LintDiagnostic[] {
  return lint(frontEnd(source, "t.bp").ir, source).filter((d) => d.rule === "vanishing-gradient");
}

const HEAD = `
dim B
dim T = 50
dim D = 8
dim H = 32
input xs: [T, B, D] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W0: [D, H] ~ xavier
param Wy: [H, 10] ~ xavier
`;

const GATE_ONLY = `${HEAD}param Wf: [D, H] ~ xavier
h = tanh(xs[0] @ W0)
for t in 0..T {
  f = sigmoid(xs[t] @ Wf)
  h = f * h
}
minimize mean(cross_entropy(h @ Wy, y))
`;

describe("a state only rescaled at every step is reported, from the measurement", () => {
  it("h = sigmoid(h @ W) * h: the gate reads the state through a matrix", () => {
    const src = `${HEAD}param Wg: [H, H] ~ orthogonal
h = tanh(xs[0] @ W0)
for t in 0..T {
  h = sigmoid(h @ Wg) * h
}
minimize mean(cross_entropy(h @ Wy, y))
`;
    const d = vanishing(src);
    expect(d).toHaveLength(1);
    expect(d[0].span.line).toBe(13);
    expect(src.split("\n")[12].slice(d[0].span.col - 1, d[0].span.endCol - 1)).toBe("sigmoid(h @ Wg) * h");
    expect(d[0].message).toMatch(/h is only rescaled at every step of the loop at line 12 \(sigmoid\(h @ Wg\) \* h\), with nothing added to carry it/);
    expect(d[0].message).toMatch(/over 50 steps by 0\.\d+\^50 ≈ 1e-\d+/);
    expect(d[0].fix.description).toMatch(/c = f \* c \+ i \* g/);
    expect(d[0].params).toEqual(expect.arrayContaining(["W0", "Wg"]));
  });

  it("h = f * h with the gate from the input alone: a product of gates, no matrix on the cycle", () => {
    const d = vanishing(GATE_ONLY);
    expect(d).toHaveLength(1);
    expect(d[0].span.line).toBe(14);
    expect(d[0].params).toEqual(expect.arrayContaining(["W0", "Wf"]));
  });

  it("the measured factor is the product of the gates: against E[log sigmoid(z)] computed apart", () => {
    const ctx = new LintContext(frontEnd(GATE_ONLY, "t.bp").ir, GATE_ONLY);
    const [r] = recurrences(ctx);
    expect(r.scaledCarry).toBe(true);
    // The bound cannot see it: a gate counts as at most 1.
    expect(r.factor).toBe(1);
    // z = xs[t] @ Wf with xs ~ N(0, 1), Wf xavier on 8x32: var(z) = 8 · (6 / 40) / 3 = 0.4.
    // dh_T/dh_0 = prod_t f_t per unit, so the growth per step is exp(E[log sigmoid(z)]) on
    // average and larger for the luckiest unit, which the measurement follows (the top direction).
    const s = Math.sqrt(0.4);
    let e = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const z = -8 * s + (16 * s * (i + 0.5)) / n;
      const pdf = Math.exp(-(z * z) / (2 * s * s)) / (s * Math.sqrt(2 * Math.PI));
      e += -Math.log1p(Math.exp(-z)) * pdf * ((16 * s) / n);
    }
    const typical = Math.exp(e); // ≈ 0.48
    expect(typical).toBeGreaterThan(0.45);
    expect(typical).toBeLessThan(0.5);
    expect(r.measuredPerStep!).toBeGreaterThan(typical * 0.95);
    expect(r.measuredPerStep!).toBeLessThan(typical * 1.3);
  });

  it("a short loop is not reported: 0.5^5 is above 1e-3", () => {
    expect(vanishing(GATE_ONLY.replace("dim T = 50", "dim T = 5"))).toEqual([]);
  });
});

describe("an additive carry, or a recurrence through a matrix, keeps the bound's verdict", () => {
  it("the LSTM example is clean, and rnn_vanishing.bp is reported", () => {
    expect(vanishing(example("lstm.bp"))).toEqual([]);
    expect(vanishing(example("rnn_vanishing.bp"))).toHaveLength(1);
    expect(vanishing(example("rnn.bp"))).toEqual([]);
  });

  it("an LSTM whose gates read h through square matrices: its cell c = f * c + i * g is an additive carry", () => {
    const src = `${HEAD}param Wi: [H, H] ~ orthogonal
param Wf: [H, H] ~ orthogonal
param Wo: [H, H] ~ orthogonal
param Wc: [H, H] ~ orthogonal
param Ui: [D, H] ~ xavier
param Uf: [D, H] ~ xavier
param Uo: [D, H] ~ xavier
param Uc: [D, H] ~ xavier
param bf: [H] ~ ones
h = zeros([B, H])
c = zeros([B, H])
for t in 0..T {
  x = xs[t]
  i = sigmoid(x @ Ui + h @ Wi)
  f = sigmoid(x @ Uf + h @ Wf + bf)
  o = sigmoid(x @ Uo + h @ Wo)
  g = tanh(x @ Uc + h @ Wc)
  c = f * c + i * g
  h = o * tanh(c)
}
minimize mean(cross_entropy(h @ Wy, y))
`;
    const ctx = new LintContext(frontEnd(src, "t.bp").ir, src);
    expect(recurrences(ctx).every((r) => !r.scaledCarry)).toBe(true);
    expect(vanishing(src)).toEqual([]);
  });

  it("h = f * h + x @ W: new content is added each step, not reported", () => {
    const src = GATE_ONLY.replace("  h = f * h\n", "  h = f * h + xs[t] @ W0\n");
    expect(vanishing(src)).toEqual([]);
  });

  it("a GRU's (1 - z) * h + z * n is an additive carry (its measured growth at init is below 1)", () => {
    const src = readFileSync(join(here, "models/gru_lm.bp"), "utf8");
    const ctx = new LintContext(frontEnd(src, "t.bp").ir, src);
    const h = recurrences(ctx).find((r) => r.carried.some((c) => c.name === "h"))!;
    expect(h.scaledCarry).toBe(false);
    expect(h.measuredPerStep!).toBeLessThan(1);
    expect(vanishing(src)).toEqual([]);
  });
});
