// numeric-instability on division (issue 11, point 3): a denominator that
// can reach 0 (its interval, or the seeded sample) is reported with the fix;
// one bounded away from 0 is clean. And the log of a softmax written by hand,
// over attention scores, points to log_softmax.
import { describe, expect, it } from "vitest";
import type { LintDiagnostic } from "../../src/lint/index.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { lint } from "../helpers/lint.js";

function findings(source: string): LintDiagnostic[] {
  return lint(frontEnd(source, "t.bp").ir, source).filter((d) => d.rule === "numeric-instability");
}

const HEAD = `
dim B
dim D = 16
input x: [B, D] ~ normal(0, 1)
param W: [D, D] ~ he
param w: [D] ~ normal(0, 1)
z = x @ W
`;

describe("division by a value that can reach 0 is reported, with the fix", () => {
  it("x / sum(x) of relu units (the sum is 0 when every unit is off): an epsilon", () => {
    const d = findings(`${HEAD}h = relu(z)\np = h / sum(h, axis=1, keepdims=true)\nminimize mean(square(p))\n`);
    expect(d).toHaveLength(1);
    expect(d[0].span.line).toBe(9);
    expect(d[0].message).toMatch(/the denominator sum\(h, axis=1, keepdims=true\) can be 0 \(its range is \[0, ∞\)\)/);
    expect(d[0].fix.description).toBe("add an epsilon to the denominator: h / (sum(h, axis=1, keepdims=true) + 1e-8)");
    expect(d[0].params).toEqual(["W"]);
  });

  it("x / sum(x) of signed values: the sample shows the sum changing sign, so it passes through 0", () => {
    const d = findings(`${HEAD}p = z / sum(z, axis=1, keepdims=true)\nminimize mean(square(p))\n`);
    expect(d).toHaveLength(1);
    expect(d[0].message).toMatch(/takes both signs in the seeded sample at init \(\d+ values, typical size [\d.]+\), so it passes through 0/);
    expect(d[0].fix.description).toMatch(/has no safe epsilon: divide by a positive scale instead/);
  });

  it("a / (x @ w): a learned denominator of either sign", () => {
    const d = findings(`${HEAD}q = x / reshape(x @ w, [B, 1])\nminimize mean(square(q))\n`);
    expect(d.map((x) => x.params)).toEqual([["w"]]);
  });

  it("x / std without an epsilon: reported once, at the sqrt, with the epsilon edit", () => {
    const src = `${HEAD}mu = mean(z, axis=1, keepdims=true)\nsd = sqrt(mean(square(z - mu), axis=1, keepdims=true))\nn = (z - mu) / sd\nminimize mean(square(n))\n`;
    const d = findings(src);
    expect(d).toHaveLength(1);
    expect(d[0].span.line).toBe(9);
    expect(d[0].fix.description).toBe("add an epsilon: sqrt(mean(square(z - mu), axis=1, keepdims=true) + 1e-5)");
  });

  it("a value that is exactly 0 for some inputs: the count of zeros in the sample", () => {
    // a - a is 0 for every input, but its interval (from two independent-looking terms) is all reals.
    const d = findings(`${HEAD}c = sum(z * z, axis=1, keepdims=true) - sum(z * z, axis=1, keepdims=true)\np = z / c\nminimize mean(p)\n`);
    expect(d).toHaveLength(1);
    expect(d[0].message).toMatch(/is exactly 0 for \d+ of its values/);
  });
});

describe("a denominator bounded away from 0 is clean", () => {
  it.each([
    ["z / (s + 1e-5) with s >= 0", "s = sum(square(z), axis=1, keepdims=true)\nr = z / (s + 1e-5)\nminimize mean(square(r))"],
    ["layer norm with its epsilon", "mu = mean(z, axis=1, keepdims=true)\nv = mean(square(z - mu), axis=1, keepdims=true)\nn = (z - mu) / sqrt(v + 1e-5)\nminimize mean(square(n))"],
    ["a stable hand softmax", "e = exp(z - max(z, axis=1, keepdims=true))\np = e / sum(e, axis=1, keepdims=true)\nminimize mean(square(p))"],
    ["division by a constant", "minimize mean(square(z / 255)) / 50"],
    ["division by 1 + exp(-z)", "minimize mean(x / (1 + exp(-z)))"],
  ])("%s", (_name, body) => {
    expect(findings(`${HEAD}${body}\n`)).toEqual([]);
  });
});

describe("the log of a softmax written by hand over attention scores", () => {
  const ATT = `
dim B = 2
dim BT = 16
dim T = 8
dim D = 16
input x: [B, T, D] ~ normal(0, 1)
param Wq: [D, D] ~ xavier
param Wk: [D, D] ~ xavier
q = reshape(reshape(x, [BT, D]) @ Wq, [B, T, 1, D])
k = reshape(reshape(x, [BT, D]) @ Wk, [B, 1, T, D])
s = sum(q * k, axis=3) / 4
`;
  it("log(exp(s - max(s)) / sum(..)) points to log_softmax(s)", () => {
    const d = findings(`${ATT}e = exp(s - max(s, axis=2, keepdims=true))\na = e / sum(e, axis=2, keepdims=true)\nminimize -mean(log(a))\n`);
    expect(d).toHaveLength(1);
    expect(d[0].span.line).toBe(14);
    expect(d[0].message).toMatch(/takes the log of a softmax written by hand/);
    expect(d[0].fix.description).toBe("compute it from the logits: log_softmax(s, axis=-1); it subtracts the max and never underflows");
    expect(d[0].params).toEqual(["Wq", "Wk"]);
  });

  it("log(softmax(s)) of the scores points to log_softmax", () => {
    const d = findings(`${ATT}minimize -mean(log(softmax(s)))\n`);
    expect(d).toHaveLength(1);
    expect(d[0].fix.description).toMatch(/log_softmax\(s\)/);
  });

  it("log_softmax of the scores is clean", () => {
    expect(findings(`${ATT}minimize -mean(log_softmax(s))\n`)).toEqual([]);
  });
});
