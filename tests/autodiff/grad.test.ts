// Gradients of whole expressions against central finite differences in f64
// (`bpc check`'s machinery): each row is a small model whose loss is a random
// weighting of an op's output as the language writes it, with operands drawn
// from a domain away from kinks. Every op alone is covered by the generated
// tests in tests/ops/generated.test.ts. Kinks get hand-computed cases with the
// spec's conventions.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkGradients } from "../../src/check/index.js";
import type { Node } from "../../src/ir/types.js";
import { compileStages, frontEnd } from "../../src/passes/pipeline.js";
import { compileSource } from "../helpers/compile.js";

interface Row {
  name: string;
  /** Operand declarations: name, shape, domain [lo, hi]. */
  args: [string, string, [number, number]][];
  expr: string;
  extra?: string;
}

const A = (shape: string, lo = -2, hi = 2): [string, string, [number, number]] => ["a", shape, [lo, hi]];
const Bv = (shape: string, lo = -2, hi = 2): [string, string, [number, number]] => ["c", shape, [lo, hi]];
const pos: [number, number] = [0.5, 2];

const ROWS: Row[] = [
  // Elementwise unary.
  ...["exp", "sigmoid", "tanh", "relu", "softplus", "sin", "cos", "square", "abs"].map((f) => ({ name: f, args: [A("[3, 4]")], expr: `${f}(a)` })),
  { name: "log", args: [A("[3, 4]", ...pos)], expr: "log(a)" },
  { name: "sqrt", args: [A("[3, 4]", ...pos)], expr: "sqrt(a)" },
  { name: "neg", args: [A("[5]")], expr: "-a" },
  { name: "leaky_relu", args: [A("[3, 4]")], expr: "leaky_relu(a, a=0.1)" },
  { name: "elu", args: [A("[3, 4]")], expr: "elu(a, a=0.7)" },
  { name: "huber", args: [A("[3, 4]", -3, 3)], expr: "huber(a, delta=1.5)" },
  { name: "zero-gradient unary ops", args: [A("[3, 4]", -3, 3)], expr: "sign(a) + round(a) + floor(a) + ceil(a) + a" },
  // Elementwise binary, with broadcasting.
  { name: "add with bias broadcast", args: [A("[3, 4]"), Bv("[4]")], expr: "a + c" },
  { name: "sub with column broadcast", args: [A("[3, 4]"), Bv("[3, 1]")], expr: "a - c" },
  { name: "mul outer broadcast", args: [A("[3, 1]"), Bv("[1, 4]")], expr: "a * c" },
  { name: "div", args: [A("[3, 4]"), Bv("[4]", ...pos)], expr: "a / c" },
  { name: "pow", args: [A("[3, 4]", ...pos), Bv("[4]", 0.5, 2)], expr: "a ^ c" },
  { name: "pow with a constant exponent", args: [A("[3, 4]", ...pos)], expr: "a ^ 3 + a ^ 2" },
  { name: "scalar times tensor", args: [A("[]"), Bv("[2, 3]")], expr: "a * c + a" },
  { name: "maximum", args: [A("[3, 4]"), Bv("[3, 4]")], expr: "maximum(a, c)" },
  { name: "minimum with broadcast", args: [A("[3, 4]"), Bv("[4]")], expr: "minimum(a, c)" },
  { name: "comparisons", args: [A("[3, 4]"), Bv("[3, 4]")], expr: "(a < c) + (a <= c) + (a > c) + (a >= c) + (a == c) + (a != c) + a * c" },
  { name: "where", args: [A("[3, 4]"), Bv("[3, 4]")], expr: "where(a > c, a * c, a + c)" },
  { name: "clip", args: [A("[3, 4]", -3, 3)], expr: "clip(a, -1, 1)" },
  { name: "clip with tensor bounds", args: [A("[3, 4]", -3, 3), Bv("[4]", -0.5, 0.5)], expr: "clip(a, c - 1, c + 1)" },
  // Reductions.
  { name: "sum all", args: [A("[3, 4]")], expr: "sum(a) * a" },
  { name: "sum axis keepdims", args: [A("[3, 4]")], expr: "sum(a, axis=1, keepdims=true) * a" },
  { name: "mean axis 0", args: [A("[3, 4]")], expr: "mean(a, axis=0)" },
  { name: "mean with a symbolic dim", args: [A("[4]")], expr: "mean(a * z, axis=0) + mean(z * a)", extra: "input z: [B, 4] in [-1, 1]" },
  { name: "max axis", args: [A("[3, 4]")], expr: "max(a, axis=-1)" },
  { name: "min all", args: [A("[3, 4]")], expr: "min(a) * a" },
  { name: "logsumexp", args: [A("[3, 4]")], expr: "logsumexp(a, axis=1, keepdims=true) + a" },
  { name: "argmax", args: [A("[3, 4]")], expr: "pick(a, argmax(a, axis=1))" },
  // Linear algebra and layout.
  { name: "matmul [M,K]@[K,N]", args: [A("[3, 4]"), Bv("[4, 2]")], expr: "a @ c" },
  { name: "matmul [K]@[K,N]", args: [A("[4]"), Bv("[4, 2]")], expr: "a @ c" },
  { name: "matmul [M,K]@[K]", args: [A("[3, 4]"), Bv("[4]")], expr: "a @ c" },
  { name: "matmul with transposes", args: [A("[4, 3]"), Bv("[2, 4]")], expr: "a.T @ c.T" },
  { name: "transpose", args: [A("[3, 4]")], expr: "transpose(a) * 2" },
  { name: "reshape", args: [A("[3, 4]")], expr: "reshape(a, [2, 6]) * reshape(a, [2, 6])" },
  { name: "concat", args: [A("[3, 4]"), Bv("[3, 2]")], expr: "concat(a, c, axis=1) * concat(a, c, axis=-1)" },
  { name: "slice and index", args: [A("[3, 4]")], expr: "a[:, 1:3] * a[0, 2:4] + a[2, 0]" },
  { name: "zeros and ones", args: [A("[3, 4]")], expr: "a * ones([3, 4]) + zeros([4])" },
  // Neural-network ops.
  { name: "softmax", args: [A("[3, 4]")], expr: "softmax(a)" },
  { name: "softmax axis 0", args: [A("[3, 4]")], expr: "softmax(a, axis=0)" },
  { name: "log_softmax", args: [A("[3, 4]")], expr: "log_softmax(a, axis=-1)" },
  { name: "cross_entropy", args: [A("[3, 4]")], expr: "cross_entropy(a, labels)", extra: "input labels: int[3] in [0, 4)" },
  { name: "pick", args: [A("[3, 4]")], expr: "pick(a, labels)", extra: "input labels: int[3] in [0, 4)" },
  { name: "one_hot", args: [A("[3, 4]")], expr: "a * one_hot(labels, 4)", extra: "input labels: int[3] in [0, 4)" },
  // A loop: backprop through time with a carried value, xs[t] and a running sum.
  {
    name: "loop (BPTT)",
    args: [A("[3, 3]", -0.8, 0.8), Bv("[2, 3]", -1, 1)],
    expr: "h",
    extra: "input xs: [4, 2, 2] in [-1, 1]\nh = zeros([2, 3])\ns = 0\nfor t in 0..4 {\n  h = tanh(h @ a + xs[t] @ c)\n  s = s + sum(h * h)\n}\nh = h * s",
  },
];

function source(r: Row, tail: string): string {
  const decls = r.args.map(([n, shape, [lo, hi]]) => `param ${n}: ${shape} ~ uniform(${lo}, ${hi})`);
  const body = [...decls, r.extra ?? "", `r = ${r.expr}`, "output r", tail].join("\n") + "\n";
  // A symbolic dim no input uses is a compile error: declare B only where the row uses it.
  return /\bB\b/.test(body) ? `dim B\n${body}` : body;
}

/** The loss: a random weighting of the op's output, so every element matters differently. */
function withWeights(r: Row): string {
  const probe = frontEnd(source(r, "minimize sum(r)"), "probe.bp").ir;
  const shape = `[${probe.outputs[0].node.shape.join(", ")}]`;
  return source(r, `input w: ${shape} in [-1, 1]\nminimize sum(r * w)`);
}


describe("gradient rules vs central finite differences (f64)", () => {
  it.each(ROWS.map((r) => [r.name, r] as const))("%s", async (_n, r) => {
    const src = withWeights(r);
    const { mod, graph } = await compileSource(src, { precision: "f64", inputGrads: ["w"] });
    for (const seed of [1, 2, 3]) {
      const rows = checkGradients(mod as never, graph, { seed, tolerance: 1e-6, perTensor: 40 });
      for (const row of rows) {
        expect(row.maxRelError, `${row.tensor} (seed ${seed})`).toBeLessThan(1e-6);
      }
    }
  });


});

describe("gradients at kinks follow the spec's conventions", () => {
  async function gradsAt(expr: string, a: number[], c?: number[]): Promise<Record<string, number[]>> {
    const n = a.length;
    const src = `param a: [${n}] ~ zeros\n${c ? `param c: [${n}] ~ zeros\n` : ""}minimize sum(${expr})\n`;
    const { mod } = await compileSource(src, { precision: "f64" });
    const params: Record<string, Float64Array> = { a: Float64Array.from(a) };
    if (c) params.c = Float64Array.from(c);
    const { grads } = mod.backward(params, {});
    return Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, Array.from(v)]));
  }

  it("relu'(0) = 0", async () => expect((await gradsAt("relu(a)", [-1, 0, 2])).a).toEqual([0, 0, 1]));
  it("abs'(0) = 0", async () => expect((await gradsAt("abs(a)", [-1, 0, 2])).a).toEqual([-1, 0, 1]));
  it("maximum sends a tie to its first argument", async () => {
    const g = await gradsAt("maximum(a, c)", [1, 2, 3], [1, 5, 0]);
    expect(g.a).toEqual([1, 0, 1]);
    expect(g.c).toEqual([0, 1, 0]);
  });
  it("minimum sends a tie to its first argument", async () => {
    const g = await gradsAt("minimum(a, c)", [1, 2, 3], [1, 5, 0]);
    expect(g.a).toEqual([1, 1, 0]);
    expect(g.c).toEqual([0, 0, 1]);
  });
  it("max reduction sends the gradient to the first maximal element", async () => {
    expect((await gradsAt("max(a)", [3, 1, 3, 2])).a).toEqual([1, 0, 0, 0]);
  });
  it("min reduction sends the gradient to the first minimal element", async () => {
    expect((await gradsAt("min(a)", [3, 1, 1, 2])).a).toEqual([0, 1, 0, 0]);
  });
  it("clip passes the gradient where lo <= x <= hi, bounds included", async () => {
    expect((await gradsAt("clip(a, -1, 1)", [-2, -1, 0, 1, 2])).a).toEqual([0, 1, 1, 1, 0]);
  });
  it("sign, round, floor, ceil and comparisons have zero gradient", async () => {
    expect((await gradsAt("sign(a) + round(a) + floor(a) + ceil(a) + (a > 0)", [-1.5, 0, 0.5, 2])).a).toEqual([0, 0, 0, 0]);
  });
  it("stop_gradient blocks the gradient; the forward value is unchanged", async () => {
    expect((await gradsAt("a * stop_gradient(a)", [2, -3])).a).toEqual([2, -3]);
  });
  it("clip_grad clips the incoming gradient, not the value", async () => {
    expect((await gradsAt("5 * clip_grad(a, -1, 1) + 0.5 * clip_grad(a, -1, 1)", [2, -3])).a).toEqual([1.5, 1.5]);
  });
});

describe("property: random expressions, backward vs finite differences", () => {
  const unary = ["tanh", "sigmoid", "sin", "softplus", "exp", "square", "-"];
  const binary = ["+", "-", "*"];
  const leaf = fc.constantFrom("a", "c", "(a @ M)", "(0.5 * a)");
  const expr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.tuple(fc.constantFrom(...unary), tie("e")).map(([f, x]) => (f === "-" ? `-(${x})` : `${f}(${x})`)),
      fc.tuple(tie("e"), fc.constantFrom(...binary), tie("e")).map(([x, o, y]) => `(${x} ${o} ${y})`),
      tie("e").map((x) => `softmax(${x})`),
      tie("e").map((x) => `sum(${x}, axis=-1, keepdims=true)`),
    ),
  })).e;

  it("backward matches central differences on random well-typed expressions", async () => {
    const samples = fc.sample(expr.filter((s) => s.length < 160), { numRuns: 25, seed: 42 });
    for (const e of samples) {
      const src = `param a: [2, 3] ~ uniform(-1, 1)\nparam c: [3] ~ uniform(-1, 1)\nparam M: [3, 3] ~ uniform(-0.5, 0.5)\nr = tanh(${e}) + 0 * a\ninput w: [2, 3] in [-1, 1]\nminimize sum(r * w)\n`;
      const { mod, graph } = await compileSource(src, { precision: "f64" });
      const rows = checkGradients(mod as never, graph, { seed: 5, tolerance: 1e-6, perTensor: 20 });
      for (const row of rows) expect(row.maxRelError, `${row.tensor} in ${e}`).toBeLessThan(1e-6);
    }
  });
});

describe("a loop over a symbolic number of steps", () => {
  it("infers T from an input declared before the one that binds B, and backprops through time", async () => {
    const { checkFile } = await import("../../src/check/index.js");
    const src = `dim B\ndim T\ndim D = 3\ndim H = 4\ninput xs: [T, B, D]\ninput y: int[B] in [0, H)\nparam Wx: [D, H] ~ xavier\nparam Wh: [H, H] ~ orthogonal\nh = zeros([B, H])\ns = 0\nfor t in 0..T {\n  h = tanh(xs[t] @ Wx + h @ Wh)\n  s = s + mean(h)\n}\nminimize mean(cross_entropy(h, y)) + s / T\n`;
    const report = await checkFile(src, "rnnT.bp", { seed: 2, tolerance: 1e-6 });
    expect(report.rows.map((r) => r.tensor)).toEqual(["Wx", "Wh", "xs"]);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThan(1e-6);
  });
});

describe("loops: a learned initial state", () => {
  it("a learned initial state (a param) flows through the loop and gets its gradient", async () => {
    const { checkFile } = await import("../../src/check/index.js");
    const src = "dim B = 2\ndim T = 3\ndim H = 4\ninput xs: [T, B, H]\nparam h0: [B, H] ~ normal(0, 0.5)\nparam W: [H, H] ~ xavier\nh = h0\nfor t in 0..T {\n  h = tanh(xs[t] + h @ W)\n}\nminimize sum(h)\n";
    const report = await checkFile(src, "h0.bp", { seed: 4, tolerance: 1e-6 });
    expect(report.rows.map((r) => r.tensor)).toEqual(["h0", "W", "xs"]);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThan(1e-6);
  });
});
