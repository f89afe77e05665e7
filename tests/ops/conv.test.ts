// Section 10 as the language writes it: each row's gradient (data, kernel,
// pooled input) against central finite differences in f64, over stride,
// padding (including "same"), dilation and groups; output sizes against
// PyTorch's formula; and the compile errors of bad geometry. Each op alone is
// also in the generated op tests (eval against kernel, f32 and f64).
import { describe, expect, it } from "vitest";
import { checkGradients } from "../../src/check/index.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { compileSource } from "../helpers/compile.js";

interface Row {
  name: string;
  x: string;
  k?: string;
  expr: string;
  /** The output shape PyTorch gives. */
  shape: number[];
}

const ROWS: Row[] = [
  { name: "conv2d", x: "[2, 3, 6, 5]", k: "[4, 3, 3, 3]", expr: "conv2d(a, K)", shape: [2, 4, 4, 3] },
  { name: "conv2d stride 2, padding 1", x: "[2, 2, 7, 6]", k: "[3, 2, 3, 3]", expr: "conv2d(a, K, stride=2, padding=1)", shape: [2, 3, 4, 3] },
  { name: "conv2d per-axis stride and padding", x: "[1, 2, 7, 6]", k: "[3, 2, 3, 2]", expr: "conv2d(a, K, stride=[2, 1], padding=[0, 1])", shape: [1, 3, 3, 7] },
  { name: "conv2d same, odd kernel", x: "[2, 2, 5, 5]", k: "[2, 2, 3, 3]", expr: 'conv2d(a, K, padding="same")', shape: [2, 2, 5, 5] },
  { name: "conv2d same, even kernel (extra at the end)", x: "[1, 2, 5, 4]", k: "[3, 2, 2, 4]", expr: 'conv2d(a, K, padding="same")', shape: [1, 3, 5, 4] },
  { name: "conv2d same with dilation", x: "[1, 1, 6, 6]", k: "[2, 1, 3, 2]", expr: 'conv2d(a, K, padding="same", dilation=2)', shape: [1, 2, 6, 6] },
  { name: "conv2d dilation 2", x: "[1, 2, 7, 7]", k: "[2, 2, 3, 3]", expr: "conv2d(a, K, dilation=2)", shape: [1, 2, 3, 3] },
  { name: "conv2d groups 2", x: "[2, 4, 5, 5]", k: "[6, 2, 3, 3]", expr: "conv2d(a, K, groups=2, padding=1)", shape: [2, 6, 5, 5] },
  { name: "conv2d depthwise", x: "[1, 3, 5, 4]", k: "[3, 1, 3, 3]", expr: "conv2d(a, K, groups=3, stride=2, padding=1)", shape: [1, 3, 3, 2] },
  { name: "conv1d", x: "[2, 3, 9]", k: "[4, 3, 3]", expr: "conv1d(a, K, stride=2, padding=1, dilation=2)", shape: [2, 4, 4] },
  { name: "conv1d same, groups", x: "[1, 4, 7]", k: "[2, 2, 4]", expr: 'conv1d(a, K, padding="same", groups=2)', shape: [1, 2, 7] },
  { name: "conv_transpose2d", x: "[2, 3, 4, 3]", k: "[3, 2, 3, 3]", expr: "conv_transpose2d(a, K)", shape: [2, 2, 6, 5] },
  { name: "conv_transpose2d stride, padding, output_padding", x: "[1, 2, 3, 4]", k: "[2, 3, 3, 2]", expr: "conv_transpose2d(a, K, stride=2, padding=1, output_padding=[1, 0])", shape: [1, 3, 6, 6] },
  { name: "max_pool2d", x: "[2, 3, 6, 6]", expr: "max_pool2d(a, 2)", shape: [2, 3, 3, 3] },
  { name: "max_pool2d stride 1, padding", x: "[1, 2, 5, 4]", expr: "max_pool2d(a, 3, stride=1, padding=1)", shape: [1, 2, 5, 4] },
  { name: "max_pool2d per-axis", x: "[1, 2, 7, 5]", expr: "max_pool2d(a, [3, 2], stride=[2, 1])", shape: [1, 2, 3, 4] },
  { name: "max_pool1d", x: "[2, 3, 7]", expr: "max_pool1d(a, 2)", shape: [2, 3, 3] },
  { name: "avg_pool2d padding counted", x: "[2, 2, 5, 5]", expr: "avg_pool2d(a, 3, stride=2, padding=1)", shape: [2, 2, 3, 3] },
  { name: "avg_pool1d", x: "[1, 3, 8]", expr: "avg_pool1d(a, 3, stride=2)", shape: [1, 3, 3] },
  { name: "conv, bias, relu, pool, conv", x: "[2, 1, 8, 8]", k: "[3, 1, 3, 3]", expr: "conv2d(max_pool2d(tanh(conv2d(a, K, padding=1) + reshape(b, [3, 1, 1])), 2), K2)", shape: [2, 2, 2, 2] },
];

function source(r: Row, tail: string): string {
  const lines = [`param a: ${r.x} ~ uniform(-2, 2)`];
  if (r.k) lines.push(`param K: ${r.k} ~ uniform(-1, 1)`);
  if (r.expr.includes("K2")) lines.push("param K2: [2, 3, 3, 3] ~ uniform(-1, 1)", "param b: [3] ~ uniform(-1, 1)");
  return [...lines, `r = ${r.expr}`, "output r", tail].join("\n") + "\n";
}

describe("conv and pool gradients against central finite differences (f64)", () => {
  it.each(ROWS.map((r) => [r.name, r] as const))("%s", async (_n, r) => {
    const probe = frontEnd(source(r, "minimize sum(r)"), "probe.bp").ir;
    expect(probe.outputs[0].node.shape).toEqual(r.shape);
    const src = source(r, `input w: [${r.shape.join(", ")}] in [-1, 1]\nminimize sum(r * w)`);
    const { mod, graph } = await compileSource(src, { precision: "f64", inputGrads: ["w"] });
    for (const seed of [1, 2]) {
      const rows = checkGradients(mod as never, graph, { seed, tolerance: 1e-6, perTensor: 40 });
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(row.maxRelError, `${row.tensor} (seed ${seed})`).toBeLessThan(1e-6);
    }
  });
});

describe("max_pool's gradient goes to the first maximal element, and padding never wins", () => {
  it("ties go to the first in row-major order; an all-negative window with padding picks a cell", async () => {
    const src = "param a: [1, 1, 2, 4] ~ zeros\nminimize sum(max_pool2d(a, 2, padding=1))\n";
    const { mod } = await compileSource(src, { precision: "f64" });
    // Windows (padding 1, stride 2) over rows [-1..0], [1..2] and columns [-1..0], [1..2], [3..4].
    const a = Float64Array.from([-5, -1, -1, -3, -2, -1, -7, -4]);
    const { loss, grads } = mod.backward({ a }, {});
    expect(loss).toBe(-5 + -1 + -3 + -2 + -1 + -4);
    expect(Array.from(grads.a)).toEqual([1, 1, 0, 1, 1, 1, 0, 1]);
    const b = Float64Array.from([2, 2, 2, 2, 2, 2, 2, 2]);
    expect(Array.from(mod.backward({ a: b }, {}).grads.a)).toEqual([1, 1, 0, 1, 1, 1, 0, 1]);
  });
});

describe("kernel calls", () => {
  it("pool over batch times channels planes, with a constant batch", async () => {
    const { ts } = await compileSource("param a: [2, 3, 6, 6] ~ zeros\nminimize sum(max_pool2d(a, 2)) + sum(avg_pool2d(a, 2))\n", { precision: "f32" });
    expect(ts).toMatch(/maxPool\([^;]*, 6, 6, 6, 3, 3, 2, 2, 2, 2, 0, 0\);/);
    expect(ts).toMatch(/avgPool\([^;]*, 6, 6, 6, 3, 3, 2, 2, 2, 2, 0, 0\);/);
  });
});

describe("conv compile errors name the op and the sizes", () => {
  const err = (body: string): string => {
    try {
      frontEnd(`input x: [2, 3, 4, 4] in [0, 1]\n${body}\n`, "e.bp");
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };
  it.each([
    ["param K: [2, 3, 5, 5] ~ he\nminimize sum(conv2d(x, K))", /conv2d's output size comes out below 1.*input 4x4, kernel 5x5/],
    ["param K: [2, 3, 3, 3] ~ he\nminimize sum(conv2d(x, K, stride=2, padding=\"same\"))", /padding="same" needs stride 1/],
    ["param K: [2, 3, 3, 3] ~ he\nminimize sum(conv2d(x, K, padding=\"valid\"))", /conv2d's padding must be an integer or a list \[h, w\], or "same", got "valid"/],
    ["param K: [2, 2, 3, 3] ~ he\nminimize sum(conv2d(x, K))", /kernel has 2 input channels per group, but the input has 3 channels/],
    ["param K: [4, 1, 3, 3] ~ he\nminimize sum(conv2d(x, K, groups=2))", /groups=2 must divide the input channels \(3\)/],
    ["param K: [2, 3, 3] ~ he\nminimize sum(conv1d(x, K))", /conv1d needs a \[B, C, L\] input, got \[2, 3, 4, 4\]/],
    ["param K: [2, 3, 3, 3] ~ he\nminimize sum(conv2d(x, K, stride=[1, 2, 3]))", /conv2d's stride must list 2 sizes/],
    ["param K: [2, 3, 3, 3] ~ he\nminimize sum(conv2d(x, K, stride=0))", /conv2d's stride must be at least 1, got 0/],
    ["minimize sum(max_pool2d(x, 5))", /max_pool2d's output size comes out below 1/],
    ["minimize sum(max_pool2d(x, 2, padding=2))", /padding .* must be at most half the window/],
    ["param K: [3, 2, 3, 3] ~ he\nminimize sum(conv_transpose2d(x, K, stride=2, output_padding=2))", /output_padding \(2x2\) must be below its stride \(2x2\)/],
    ["minimize sum(maxpool2d(x, 2))", /unknown function 'maxpool2d'; did you mean 'max_pool2d'/],
    ['minimize sum(x * "same")', /a string is only allowed as an option's value/],
  ])("%#", (body, re) => expect(err(body)).toMatch(re));
});

describe("flops follow section 10", () => {
  it("a conv counts 2 B Cout Hout Wout (Cin/groups) kh kw", async () => {
    const { OPS } = await import("../../src/ir/ops.js");
    const g = frontEnd("param a: [2, 4, 7, 7] ~ zeros\nparam K: [6, 2, 3, 3] ~ zeros\nr = conv2d(a, K, groups=2, stride=2)\noutput r\nminimize sum(r)\n", "f.bp").ir;
    const n = g.outputs[0].node;
    expect(n.shape).toEqual([2, 6, 3, 3]);
    expect(OPS[n.op].flops(n, (d) => d as number)).toBe(2 * 2 * 6 * 3 * 3 * 2 * 3 * 3);
  });
});
