// The linter through section 9's indexing ops: a gather passes its table's
// intervals and moments on (saturation after an embedding), a state stored
// with hs[t] = h keeps the analysis of the recurrence that makes it, and a
// clean attention model over stored states gets no finding.
import { describe, expect, it } from "vitest";
import { frontEnd } from "../../src/passes/pipeline.js";
import { lint } from "../helpers/lint.js";

const rules = (src: string): string[] => {
  const { ir } = frontEnd(src, "t.bp");
  return lint(ir, src).map((d) => d.rule);
};

const attention = (init: string): string => `dim B
dim T = 8
dim V = 50
dim E = 16
dim H = 32
input tok: int[T, B] in [0, V)
input y: int[B] in [0, V)
param Emb: [V, E] ~ normal(0, 1)
param Wx: [E, H] ~ xavier
param Wh: [H, H] ~ ${init}
param q: [H] ~ normal(0, 0.1)
param Wo: [H, V] ~ xavier
h = zeros([B, H])
hs = zeros([T, B, H])
for t in 0..T {
  h = tanh(Emb[tok[t]] @ Wx + h @ Wh)
  hs[t] = h
}
a = softmax(sum(hs * q, axis=2), axis=0)
ctx = sum(hs * a[:, :, None], axis=0)
minimize mean(cross_entropy(ctx @ Wo, y))
`;

describe("lint through gathers and indexed assignment", () => {
  it("a clean RNN with attention over its stored states: no finding", () => {
    expect(rules(attention("orthogonal"))).toEqual([]);
  });

  it("the same with a normal(0, 1) recurrent matrix: its saturated state is found (the fix names orthogonal)", () => {
    const src = attention("normal(0, 1)");
    const { ir } = frontEnd(src, "t.bp");
    const found = lint(ir, src);
    expect(found.map((d) => d.rule)).toEqual(["saturation"]);
    expect(found[0].fix.description).toMatch(/orthogonal/);
  });

  it("an embedding of std 10 saturates the sigmoid it feeds (the gather passes its table's spread on)", () => {
    const src = "dim B\ndim L = 4\ndim V = 50\ndim E = 16\ninput tok: int[B, L] in [0, V)\nparam Emb: [V, E] ~ normal(0, 10)\nminimize mean(sigmoid(Emb[tok]))\n";
    expect(rules(src)).toEqual(["saturation"]);
    expect(rules(src.replace("normal(0, 10)", "normal(0, 0.5)"))).toEqual([]);
  });

  it("a dslice of a tensor keeps its spread: x[:, t] of wide pixels saturates", () => {
    const src = "dim B\ndim T = 4\ninput x: [B, T, 8] in [0, 255]\nparam W: [8, 8] ~ normal(0, 1)\nh = zeros([B, 8])\nfor t in 0..T {\n  h = h + sigmoid(x[:, t, :] @ W)\n}\nminimize mean(h)\n";
    expect(rules(src)).toContain("saturation");
  });
});
