// The recurrence rules through nested loops (issue 11, point 3): an inner
// loop's steps compose into each step of the outer loop, so a stacked RNN's
// badly scaled recurrence is reported once, at the matmul inside the inner
// loop, naming both loops; a well-scaled one is clean.
import { describe, expect, it } from "vitest";
import { LintContext } from "../../src/lint/context.js";
import type { LintDiagnostic } from "../../src/lint/index.js";
import { recurrences } from "../../src/lint/recurrence.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { lint } from "../helpers/lint.js";

function findings(source: string): LintDiagnostic[] {
  return lint(frontEnd(source, "t.bp").ir, source);
}

// A two-layer RNN: time outside, layers inside, the layers' states in hs
// (written with one_hot until `hs[l] = h` arrives).
const STACKED = (wh: string): string => `
dim B
dim T = 30
dim L = 2
dim H = 32
input xs: [T, B, H] ~ normal(0, 1)
input y: int[B] in [0, 10)
param Wx: [L, H, H] ~ xavier
param Wh: [L, H, H] ~ ${wh}
param Wy: [H, 10] ~ xavier
hs = zeros([L, B, H])
for t in 0..T {
  x = xs[t]
  for l in 0..L {
    x = tanh(x @ Wx[l] + hs[l] @ Wh[l])
    hs = hs + reshape(one_hot(l, L), [L, 1, 1]) * (reshape(x, [1, B, H]) - hs)
  }
}
minimize mean(cross_entropy(hs[1] @ Wy, y))
`;

describe("a stacked RNN as nested loops", () => {
  it("a badly scaled inner recurrence (Wh ~ normal(0, 1)) is reported once, at the inner loop's line", () => {
    const src = STACKED("normal(0, 1)");
    const d = findings(src).filter((x) => x.rule === "exploding-gradient" || x.rule === "vanishing-gradient");
    expect(d).toHaveLength(1);
    expect(d[0].rule).toBe("exploding-gradient");
    expect(d[0].span.line).toBe(15);
    expect(src.split("\n")[14].slice(d[0].span.col - 1, d[0].span.endCol - 1)).toBe("hs[l] @ Wh[l]");
    expect(d[0].message).toMatch(/at every step of the loop at line 12 \(through the inner loop at line 14, 2 steps at each of its steps/);
    expect(d[0].message).toMatch(/Wh's spectral radius at init is ≈ [\d.]+ \(normal\(0, 1\) on 2×32×32, power iteration on a seeded sample, the largest of its 2 matrices/);
    expect(d[0].params).toEqual(["Wx", "Wh"]);
    // The fix edits the declaration's initializer.
    expect(d[0].fix.edits?.map((e) => e.text)).toContain("orthogonal");
  });

  it("the per-step factor composes: the inner loop runs whole in each outer step", () => {
    const src = STACKED("normal(0, 1)");
    const ctx = new LintContext(frontEnd(src, "t.bp").ir, src);
    const outer = recurrences(ctx).find((r) => r.loop.span.line === 12)!;
    expect(outer.through.map((t) => [t.loop.span.line, t.steps])).toEqual([[14, 2]]);
    expect(outer.matrices.map((m) => m.param.name).sort()).toEqual(["Wh", "Wx"]);
    // Each radius is the largest over the stack's matrices: normal(0, 1) on 32x32 is about sqrt(32).
    const wh = outer.matrices.find((m) => m.param.name === "Wh")!;
    expect(wh.radius).toBeGreaterThan(4.5);
    expect(wh.radius).toBeLessThan(7);
    // The growth measured by running the outer loop (with its inner loop) at init.
    expect(30 * Math.log10(outer.measuredPerStep!)).toBeGreaterThan(3);
  });

  it("orthogonal recurrent matrices: clean", () => {
    expect(findings(STACKED("orthogonal"))).toEqual([]);
  });
});

describe("an inner loop's recurrence inside an outer loop", () => {
  const MICRO = (k: number, carriedOut: boolean): string => `
dim B
dim T = 20
dim D = 8
dim H = 32
input xs: [T, B, D] ~ normal(0, 1)
input y: int[B] in [0, 10)
param Wx: [D, H] ~ xavier
param Wh: [H, H] ~ normal(0, 0.05)
param Wy: [H, 10] ~ xavier
${carriedOut ? "h = zeros([B, H])\n" : ""}acc = 0
for t in 0..T {
  u = xs[t] @ Wx
  ${carriedOut ? "" : "h = u\n  "}for k in 0..${k} {
    h = tanh(u + h @ Wh)
  }
  acc = acc + mean(cross_entropy(h @ Wy, y))
}
minimize acc
`;

  it("a state carried through both loops shrinks over all T·K steps: reported once, naming both loops", () => {
    const src = MICRO(3, true);
    const d = findings(src).filter((x) => x.rule === "vanishing-gradient");
    expect(d).toHaveLength(1);
    expect(d[0].span.line).toBe(16);
    expect(d[0].message).toMatch(/loop at line 13 \(through the inner loop at line 15, 3 steps/);
    expect(d[0].message).toMatch(/over 20 steps/);
  });

  it("when the inner loop alone would be reported too, the finding is the outer one, once", () => {
    const src = MICRO(6, true);
    const ctx = new LintContext(frontEnd(src, "t.bp").ir, src);
    // Both loops hold a recurrence through Wh that vanishes on its own ...
    const rs = recurrences(ctx).filter((r) => r.carried.some((c) => c.name === "h"));
    expect(rs.map((r) => r.loop.span.line)).toEqual([13, 15]);
    expect(rs.every((r) => r.steps * Math.log10(r.factor!) < -3)).toBe(true);
    // ... and one finding says so, for the whole length.
    const d = findings(src).filter((x) => x.rule === "vanishing-gradient");
    expect(d).toHaveLength(1);
    expect(d[0].message).toMatch(/loop at line 13 \(through the inner loop at line 15, 6 steps/);
  });

  it("a state made afresh at each outer step: the inner loop alone, over its own steps", () => {
    const src = MICRO(6, false);
    const d = findings(src).filter((x) => x.rule === "vanishing-gradient");
    expect(d).toHaveLength(1);
    expect(d[0].message).toMatch(/at every step of the loop at line 15: /);
    expect(d[0].message).toMatch(/over 6 steps/);
    // Measured on the sample, as a top-level loop is: the inner loop runs from the outer loop's last step.
    expect(d[0].message).toMatch(/Running the loop at init on the sample/);
  });

  it("the same inner loop with three steps made afresh each time: 0.28^3 is above 1e-3, clean", () => {
    expect(findings(MICRO(3, false)).filter((x) => x.rule === "vanishing-gradient")).toEqual([]);
  });
});
