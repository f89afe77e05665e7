// The linter through convolutions (section 10, issue 12 point 4): the conv
// entries' interval and moment rules (a matmul over the receptive field)
// carry dead-relu and saturation past conv layers, and a clean LeNet is
// clean.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { frontEnd } from "../../src/passes/pipeline.js";
import { lint } from "../helpers/lint.js";

const rules = (src: string): string[] => lint(frontEnd(src, "t.bp").ir, src).map((d) => d.rule);

const HEAD = `dim B
input x: [B, 1, 12, 12] in [0, 1]
input y: int[B] in [0, 10)
param W: [288, 10] ~ xavier
param b: [10] ~ zeros
`;
const TAIL = `logits = reshape(max_pool2d(h, 2), [B, 288]) @ W + b
minimize mean(cross_entropy(logits, y))
`;

describe("lint after conv layers", () => {
  it("a conv + relu whose bias is const(-3) is dead", () => {
    const src = `${HEAD}param K: [8, 1, 3, 3] ~ normal(0, 0.01)\nparam c: [8] ~ const(-3)\nh = relu(conv2d(x, K, padding=1) + reshape(c, [8, 1, 1]))\n${TAIL}`;
    expect(rules(src)).toContain("dead-relu");
  });

  it("raw 0-255 pixels into tanh after a conv saturate", () => {
    const src = HEAD.replace("in [0, 1]", "in [0, 255]") + `param K: [8, 1, 3, 3] ~ he\nparam c: [8] ~ zeros\nh = tanh(conv2d(x, K, padding=1) + reshape(c, [8, 1, 1]))\n${TAIL}`;
    expect(rules(src)).toContain("saturation");
  });

  it("the same conv on pixels in [0, 1] with he init is clean", () => {
    const src = `${HEAD}param K: [8, 1, 3, 3] ~ he\nparam c: [8] ~ zeros\nh = relu(conv2d(x, K, padding=1) + reshape(c, [8, 1, 1]))\n${TAIL}`;
    expect(rules(src)).toEqual([]);
  });

  it.each(["lenet.bp", "conv_autoencoder.bp"])("no finding on examples/%s", (file) => {
    const src = readFileSync(`examples/${file}`, "utf8");
    expect(lint(frontEnd(src, file).ir, src)).toEqual([]);
  });

  it("no finding on a ResNet-style block (conv, relu, conv, plus the input)", () => {
    const src = `${HEAD}param K0: [8, 1, 3, 3] ~ he
param K1: [8, 8, 3, 3] ~ he
param K2: [8, 8, 3, 3] ~ he
h0 = relu(conv2d(x, K0, padding=1))
r = relu(conv2d(h0, K1, padding=1))
h = relu(h0 + conv2d(r, K2, padding="same"))
${TAIL}`;
    expect(rules(src)).toEqual([]);
  });

  it("clip-before-loss sees a clipped conv residual on its way to the loss, and not a huber one", () => {
    const src = (loss: string): string => `dim B
input x: [B, 1, 12, 12] in [0, 1]
input t: [B, 8, 12, 12] in [-3, 3]
param K: [8, 1, 3, 3] ~ he
minimize ${loss}
`;
    expect(rules(src("mean(square(clip(conv2d(x, K, padding=1) - t, -1, 1)))"))).toContain("clip-before-loss");
    expect(rules(src("mean(huber(conv2d(x, K, padding=1) - t, delta=1))"))).toEqual([]);
  });
});
