// Regressions found reviewing 52126c8..HEAD (pow at a zero base / where folding, int
// comparisons, scalar inputs as numbers, unused dims, check's intRanges, EPIPE, and the
// linter audit: single-example sampling, gated/clipped recurrences, selects(),
// minimum/maximum pairs, hand-written softmax, grouped no-gradient, trailing allow).
// Each test failed at the reviewed HEAD (ffb36f5) and passes since the fix that
// followed; its comment says where the bug came from.
import { describe, expect, it } from "vitest";
import type { LintDiagnostic } from "../src/lint/index.js";
import { frontEnd } from "../src/passes/pipeline.js";
import { compileSource } from "./helpers/compile.js";
import { lint } from "./helpers/lint.js";

const lintSource = (src: string): LintDiagnostic[] => lint(frontEnd(src, "review3.bp").ir, src);

describe("lint: single-example sampling (context.ts SINGLE_EXAMPLE_BUDGET)", () => {
  // 31e5874 added `if (!symbolic && forwardCost(g, 1) <= SINGLE_EXAMPLE_BUDGET) symbolic = 1`
  // in LintContext.sample() so big recurrences get measured. But that sample (B = 1) is
  // used by every rule, and batch statistics of one example are degenerate: with B = 1,
  // z - mean(z, axis=0) is exactly 0, so a batch-norm layer's output is all zeros (plus
  // the zero bias) and dead-relu reports every relu after batch norm as "100% of its units
  // are off for all 1 sampled inputs". At 52126c8 this model (cost(1) = 5.8e6 > 3e6) was
  // not sampled and got no finding; a well-built batch-norm MLP must get none.
  // (The same degenerate B = 1 draw was already possible below 3e6 when cost(2) > 3e6.)
  // Suggested fix: never bind a dim that is reduced over (batch statistics: a mean/sum over
  // a symbolic axis) to 1; use the single-example draw only for the recurrence measurement
  // (measuredPerStep), or require at least B = 2 (better 8) for the value-based rules.
  it("a 784-2048-2048 batch-norm MLP gets no dead-relu warning", () => {
    const src = `model bn
dim B
dim D = 784
dim H = 2048
dim C = 10
input x: [B, D] in [0, 1]
input y: int[B] in [0, C)
param W1: [D, H] ~ he
param g1: [H] ~ ones
param be1: [H] ~ zeros
param W2: [H, H] ~ he
param g2: [H] ~ ones
param be2: [H] ~ zeros
param W3: [H, C] ~ xavier
def bnorm(z, g, b) {
  m = mean(z, axis=0, keepdims=true)
  v = mean(square(z - m), axis=0, keepdims=true)
  return (z - m) / sqrt(v + 1e-5) * g + b
}
h1 = relu(bnorm(x @ W1, g1, be1))
h2 = relu(bnorm(h1 @ W2, g2, be2))
loss = mean(cross_entropy(h2 @ W3, y))
minimize loss
`;
    const found = lintSource(src).map((d) => `${d.rule}: ${d.message.slice(0, 80)}`);
    expect(found).toEqual([]); // observed: two dead-relu warnings, "for all 1 sampled inputs"
  });
});

describe("lint: clip-before-loss minimum/maximum pairs (clip-before-loss.ts innerHalf)", () => {
  // innerHalf() skips a maximum (minimum) whose every reader is a minimum (maximum) with
  // `asClip(ctx, r)?.x !== n`. When the outer op is not a clip at all (its other operand
  // depends on a parameter), asClip returns null, `undefined !== n` is true, and the inner
  // clip is skipped as "reported there" although nothing reports it. At 52126c8 this model
  // got a clip-before-loss error on maximum(p, -1); now it gets nothing.
  // Suggested fix: `readers.every((r) => { const c = asClip(ctx, r); return c !== null && c.x !== n; })`.
  it("maximum(p, -1) read by minimum(., cap) with a parameter-dependent cap is still reported", () => {
    const src = `model cl
dim B
dim D = 8
input x: [B, D] ~ normal(0, 1)
input t: [B] ~ normal(0, 1)
param w: [D] ~ normal(0, 0.1)
param v: [D] ~ normal(0, 0.1)
p = x @ w
cap = x @ v
pred = minimum(maximum(p, -1), cap)
loss = mean(square(pred - t))
minimize loss
`;
    const found = lintSource(src).filter((d) => d.rule === "clip-before-loss");
    expect(found.map((d) => d.span.line)).toEqual([10]); // observed: []
    expect(found[0]?.message).toMatch(/maximum\(p, -1\)/);
  });
});

describe("lint: hand-written softmax fix (numeric-instability.ts handSoftmax)", () => {
  // ffb36f5's fix text is always `log_softmax(z, axis=-1)`, whatever axis the hand-written
  // softmax normalises over: handSoftmax() checks only that the denominator is a sum of the
  // numerator's exp, not the sum's axes. For exp(z) / sum(exp(z), axis=0, keepdims=true)
  // (a softmax over the batch / a column softmax) the suggested rewrite normalises the
  // other axis and changes the model's numbers.
  // Suggested fix: read the sum's `axes` attr and write that axis in the fix
  // (log_softmax(z, axis=0)); when the sum reduces more than one axis of a 2-D value (a
  // softmax over all entries), give the finding without a log_softmax rewrite.
  it("a softmax over axis 0 is fixed with log_softmax(z, axis=0), not axis=-1", () => {
    const src = `model hs
dim B
dim D = 16
dim C = 10
input x: [B, D] ~ normal(0, 1)
param W: [D, C] ~ xavier
z = x @ W
e = exp(z)
p = e / sum(e, axis=0, keepdims=true)
loss = -mean(log(p))
minimize loss
`;
    const found = lintSource(src).filter((d) => d.rule === "numeric-instability");
    expect(found.length).toBe(1);
    const fix = found[0].fix?.description ?? "";
    expect(fix).not.toMatch(/axis=-1/); // observed: "log_softmax(z, axis=-1)"
    expect(fix).toMatch(/log_softmax\(z, axis=0\)/);
  });
});

describe("lint: zero-gradient-op selects() (zero-gradient-op.ts)", () => {
  // 31e5874 reports a zero-gradient op whose input also reaches the loss another way
  // unless its value "selects or masks" another value, and counts every mul/div reader as
  // a mask. Scaling a comparison by a constant masks nothing, yet
  // mean(0.1 * (logits > 0)) is exempt while the same penalty written
  // 0.1 * mean(logits > 0) is reported (a mean is not in SELECTORS/PASS_THROUGH).
  // Suggested fix: count a mul/div as a selector only when its other operand depends on a
  // parameter or input (a masked value), not when it is a constant; treat a mul by a
  // constant like a pass-through.
  it("a comparison scaled by a constant and summed into the loss is reported like the unscaled one", () => {
    const head = `model pen
dim B
dim D = 16
dim C = 10
input x: [B, D] ~ normal(0, 1)
input y: int[B] in [0, C)
param W: [D, C] ~ xavier
logits = x @ W
`;
    const outer = lintSource(`${head}loss = mean(cross_entropy(logits, y)) + 0.1 * mean(logits > 0)\nminimize loss\n`);
    const inner = lintSource(`${head}loss = mean(cross_entropy(logits, y)) + mean(0.1 * (logits > 0))\nminimize loss\n`);
    expect(outer.filter((d) => d.rule === "zero-gradient-op").length).toBe(1);
    expect(inner.filter((d) => d.rule === "zero-gradient-op").length).toBe(1); // observed: 0
  });
});

describe("scalar inputs passed as numbers (runtime.ts checkScalar)", () => {
  // checkScalar accepts any finite JS number for a float scalar, but an f32 module stores it
  // in a Float32Array box (scalarIn), where 1e39 becomes Infinity: forward returns loss
  // Infinity and backward Infinity gradients without an error, while the same value as a
  // Float32Array ([Infinity]) is rejected by checkFinite. LANGUAGE.md section 6: "No call
  // returns silently wrong numbers or NaN from bad input."
  // Suggested fix: in checkScalar, for the float type test Number.isFinite(Math.fround(v))
  // in f32 modules (or compare `new type([v])[0]`), and say the value is out of float32 range.
  it("f32: a number outside the float32 range throws like the array form does", async () => {
    const { mod } = await compileSource(`dim B\ninput x: [B, 2]\ninput s: []\nparam w: [2]\nloss = mean(x * w) * s\nminimize loss\n`, {
      precision: "f32",
    });
    const params = { w: Float32Array.from([1, 1]) };
    const x = Float32Array.from([1, 2, 3, 4]);
    expect(() => mod.forward(params, { x, s: Float32Array.from([1e39]) })).toThrow(/inputs\.s/);
    expect(() => mod.forward(params, { x, s: 1e39 as never })).toThrow(/inputs\.s/); // observed: loss Infinity
  });
});
