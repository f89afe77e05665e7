// The linter's numbers against the compiled module. Saturation and dead-relu
// fractions: the model is compiled, its params come from the module's own
// init(seed) (not the linter's sampler), inputs are drawn from their hints
// with an RNG written here, the compiled forward gives the pre-activation
// (declared as an output), and the measured fraction must agree with the
// linter's estimate within a stated tolerance. Clip-before-loss: at a point
// outside the clip range, the compiled backward gives exactly zero gradient
// for every param the finding lists (and a nonzero one inside the range).
import { describe, expect, it } from "vitest";
import { LintContext } from "../../src/lint/context.js";
import { estimate } from "../../src/lint/saturation.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { compileSource, type Module } from "../helpers/compile.js";
import { lint } from "../helpers/lint.js"; // a rule that throws fails the test

/** A small seeded RNG, independent of the linter's. */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

function gauss(u: () => number): number {
  return Math.sqrt(-2 * Math.log(u() + 1e-300)) * Math.cos(2 * Math.PI * u());
}

type Hint = { kind: "uniform"; lo: number; hi: number } | { kind: "normal"; m: number; s: number } | { kind: "int"; n: number };

function draw(u: () => number, n: number, h: Hint): Float64Array | Int32Array {
  if (h.kind === "int") return Int32Array.from({ length: n }, () => Math.floor(u() * h.n));
  return Float64Array.from({ length: n }, () => (h.kind === "uniform" ? h.lo + (h.hi - h.lo) * u() : h.m + h.s * gauss(u)));
}

async function measured(source: string, inputs: Record<string, { n: number; hint: Hint }>, output: string, pred: (v: number) => boolean, seeds = [1, 2, 3]) {
  const { mod } = await compileSource(source, { precision: "f64" });
  let hit = 0;
  let total = 0;
  for (const seed of seeds) {
    const u = xorshift(seed * 7919);
    const params = mod.init(seed);
    const ins = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, draw(u, v.n, v.hint)]));
    const out = mod.forward(params, ins)[output] as Float64Array;
    for (const v of out) {
      total++;
      if (pred(v)) hit++;
    }
  }
  return hit / total;
}

function lintFraction(source: string, rule: string): number {
  const { ir } = frontEnd(source, "t.bp");
  const d = lint(ir, source).find((x) => x.rule === rule);
  expect(d, `${rule} on\n${source}`).toBeDefined();
  return Number(/about ([\d.]+)%/.exec(d!.message)![1]) / 100;
}

const B = 32;

describe("saturation: the linter's fraction agrees with the compiled forward within 5 points", () => {
  const cases: { name: string; source: string; op: string; inputs: Record<string, { n: number; hint: Hint }> }[] = [
    {
      name: "sigmoid on raw pixels, normal(0, 1) weights",
      op: "sigmoid",
      source: `
dim B
input x: [B, 784] in [0, 255]
input y: int[B] in [0, 10)
param W1: [784, 100] ~ normal(0, 1)
param W2: [100, 10] ~ xavier
z = x @ W1
output z
minimize mean(cross_entropy(sigmoid(z) @ W2, y))
`,
      inputs: { x: { n: B * 784, hint: { kind: "uniform", lo: 0, hi: 255 } }, y: { n: B, hint: { kind: "int", n: 10 } } },
    },
    {
      name: "tanh over fan-in 256 with unit weights",
      op: "tanh",
      source: `
dim B
input x: [B, 256] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [256, 64] ~ normal(0, 1)
param V: [64, 10] ~ xavier
z = x @ W
output z
minimize mean(cross_entropy(tanh(z) @ V, y))
`,
      inputs: { x: { n: B * 256, hint: { kind: "normal", m: 0, s: 1 } }, y: { n: B, hint: { kind: "int", n: 10 } } },
    },
    {
      name: "softplus with a bias of -8",
      op: "softplus",
      source: `
dim B
input x: [B, 32] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [32, 64] ~ xavier
param b: [64] ~ const(-8)
param V: [64, 10] ~ xavier
z = x @ W + b
output z
minimize mean(cross_entropy(softplus(z) @ V, y))
`,
      inputs: { x: { n: B * 32, hint: { kind: "normal", m: 0, s: 1 } }, y: { n: B, hint: { kind: "int", n: 10 } } },
    },
  ];
  const th: Record<string, (v: number) => boolean> = {
    sigmoid: (v) => Math.abs(v) > 4.6,
    tanh: (v) => Math.abs(v) > 2.65,
    softplus: (v) => v < -4.6,
  };
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_n, c) => {
    const est = lintFraction(c.source, "saturation");
    const got = await measured(c.source, c.inputs, "z", th[c.op]);
    expect(Math.abs(est - got), `linter ${est}, compiled ${got}`).toBeLessThan(0.05);
  });

  it("a moderately spread tanh (below the 50% threshold) is estimated within 5 points too", async () => {
    const source = `
dim B
input x: [B, 256] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [256, 64] ~ normal(0, 0.2)
param V: [64, 10] ~ xavier
z = x @ W
output z
minimize mean(cross_entropy(tanh(z) @ V, y))
`;
    const { ir } = frontEnd(source, "t.bp");
    expect(lint(ir, source)).toEqual([]);
    const ctx = new LintContext(ir, source);
    const tanh = ir.nodes.find((n) => n.op === "tanh")!;
    const est = estimate(ctx, "tanh", tanh.inputs[0])!.saturated;
    const got = await measured(source, { x: { n: B * 256, hint: { kind: "normal", m: 0, s: 1 } }, y: { n: B, hint: { kind: "int", n: 10 } } }, "z", th.tanh);
    // Independent closed form: z ~ N(0, 256 · 0.04) -> std 3.2, P(|z| > 2.65) = 2 Φ(-0.828) = 0.408.
    expect(Math.abs(got - 0.408)).toBeLessThan(0.06);
    expect(Math.abs(est - got)).toBeLessThan(0.05);
  });
});

describe("dead-relu: the linter's off fraction agrees with the compiled forward within 2 points", () => {
  it.each([
    ["bias -1 with small weights", "normal(0, 0.01)", "const(-1)"],
    ["bias -0.6 with he weights on [0, 1] pixels", "normal(0, 0.02)", "const(-0.6)"],
  ])("%s", async (_n, winit, binit) => {
    const source = `
dim B
input x: [B, 256] in [0, 1]
input y: int[B] in [0, 10)
param W1: [256, 64] ~ ${winit}
param b1: [64] ~ ${binit}
param W2: [64, 10] ~ xavier
z = x @ W1 + b1
output z
minimize mean(cross_entropy(relu(z) @ W2, y))
`;
    const est = lintFraction(source, "dead-relu");
    const got = await measured(source, { x: { n: B * 256, hint: { kind: "uniform", lo: 0, hi: 1 } }, y: { n: B, hint: { kind: "int", n: 10 } } }, "z", (v) => v <= 0);
    expect(Math.abs(est - got), `linter ${est}, compiled ${got}`).toBeLessThan(0.02);
  });
});

describe("clip-before-loss: the compiled backward gives exactly zero gradients outside the range", () => {
  const cases: {
    name: string;
    source: string;
    inputs: (u: () => number, params: Record<string, Float64Array>) => Record<string, Float64Array | Int32Array>;
    outside: (params: Record<string, Float64Array>) => void;
  }[] = [
    {
      name: "the article's DQN",
      source: `
dim B
input s: [B, 8] ~ normal(0, 1)
input a: int[B] in [0, 4)
input target_q: [B] ~ normal(0, 3)
param W1: [8, 32] ~ he
param b1: [32] ~ zeros
param W2: [32, 4] ~ xavier
param b2: [4] ~ zeros
q = relu(s @ W1 + b1) @ W2 + b2
delta = target_q - pick(q, a)
minimize mean(square(clip(delta, -1, 1)))
`,
      inputs: (u) => ({ s: draw(u, B * 8, { kind: "normal", m: 0, s: 1 }), a: draw(u, B, { kind: "int", n: 4 }), target_q: draw(u, B, { kind: "normal", m: 0, s: 0.01 }) }),
      outside: (p) => p.b2.fill(50),
    },
    {
      name: "a clipped prediction",
      source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: [B, 1] in [0, 1]
param W: [16, 1] ~ normal(0, 1)
param b: [1] ~ zeros
pred = clip(x @ W + b, 0, 1)
minimize mean(square(pred - y))
`,
      inputs: (u) => ({ x: draw(u, B * 16, { kind: "normal", m: 0, s: 0.01 }), y: draw(u, B, { kind: "uniform", lo: 0, hi: 1 }) }),
      outside: (p) => p.b.fill(10),
    },
    {
      name: "maximum against a data floor",
      source: `
dim B
input x: [B, 4] ~ normal(0, 1)
input floor_: [B] ~ normal(0, 1)
input y: [B] ~ normal(0, 2)
param w: [4] ~ normal(0, 1)
param c: [] ~ zeros
minimize mean(square(maximum(x @ w + c, floor_) - y))
`,
      inputs: (u) => ({ x: draw(u, B * 4, { kind: "normal", m: 0, s: 0.01 }), floor_: draw(u, B, { kind: "normal", m: 0, s: 0.01 }), y: draw(u, B, { kind: "normal", m: 0, s: 2 }) }),
      outside: (p) => p.c.fill(-10),
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_n, c) => {
    const { ir } = frontEnd(c.source, "t.bp");
    const d = lint(ir, c.source).find((x) => x.rule === "clip-before-loss");
    expect(d).toBeDefined();
    const { mod } = await compileSource(c.source, { precision: "f64" });
    const u = xorshift(5);
    const params = mod.init(3) as Record<string, Float64Array>;
    const inputs = c.inputs(u, params);
    // Inside the range (small inputs, init params): the listed params get some gradient.
    const inside = (mod as Module).backward(params, inputs);
    expect(d!.params.some((p) => inside.grads[p].some((g) => g !== 0))).toBe(true);
    // Outside: exactly zero for every listed param.
    const shifted = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v)]));
    c.outside(shifted);
    const out = (mod as Module).backward(shifted, inputs);
    for (const p of d!.params) expect([...out.grads[p]].every((g) => g === 0), p).toBe(true);
  });
});
