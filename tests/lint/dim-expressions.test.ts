// The linter and `bpc check` on models with dim expressions: every symbolic
// dim is bound to one size, raised until each expression is positive, so
// sampling still runs on a loop over T-70 steps (the linter's largest size is 64).
import { describe, expect, it } from "vitest";
import { symbolicSize } from "../../src/ir/dims.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { lint } from "../helpers/lint.js";

const MODEL = `dim B
dim T
dim D = 8
dim H = 16
input xs: [T, B, D]
input y: int[B*T] in [0, H)
input m: [T]
param W: [D, H] ~ normal(0, 10)
h = sigmoid(reshape(xs, [B*T, D]) @ W)
s = sum(h)
for t in 0..T-70 {
  s = s + sum(xs[t])
}
minimize mean(cross_entropy(h, y)) + s + sum(m)
`;

describe("the linter on dim expressions", () => {
  it("binds symbolic dims to a size at which every expression is positive", () => {
    const g = frontEnd(MODEL, "t.bp").ir;
    expect(symbolicSize(g, 3)).toBe(71);
    expect(symbolicSize(g, 80)).toBe(80);
    const plain = frontEnd("dim B\ninput x: [B]\nminimize sum(x)\n", "p.bp").ir;
    expect(symbolicSize(plain, 3)).toBe(3);
  });

  it("samples a model whose loop runs T-70 steps and finds the saturated sigmoid after reshape(xs, [B*T, D])", () => {
    const g = frontEnd(MODEL, "t.bp").ir;
    const found = lint(g, MODEL);
    const sat = found.find((d) => d.rule === "saturation");
    expect(sat, JSON.stringify(found.map((d) => d.rule))).toBeDefined();
    expect(sat!.message).toContain("estimated by sampling");
    expect(sat!.message).toContain("reshape(xs, [B*T, D])");
  });
});
