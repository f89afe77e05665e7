// Autodiff as a stage: it leaves the forward graph as it found it (so
// `inspect --stage ir` is the forward alone), builds the loop tape from the
// values the gradient rules declare in `saves` (and holds every rule to its
// declaration), names gradients after their values, and gives what a person
// would write: one tape per carried value, BPTT without per-step weight
// gradient temporaries, cross-entropy's gradient in one loop. Loops are
// checked against finite differences.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkGradients } from "../../src/check/index.js";
import { OPS } from "../../src/ir/ops.js";
import { printGraph } from "../../src/ir/print.js";
import type { Graph, Node } from "../../src/ir/types.js";
import { grad, GradRuleError } from "../../src/passes/autodiff.js";
import { compileStages, frontEnd } from "../../src/passes/pipeline.js";
import { bpc } from "../helpers/cli.js";
import { compileSource } from "../helpers/compile.js";

const example = (name: string): string => readFileSync(new URL(`../../examples/${name}.bp`, import.meta.url), "utf8");

/** The forward loops of a graph (top level). */
const loops = (g: Graph): Node[] => g.nodes.filter((n) => n.op === "loop" && n.phase === "fwd");

/** A function body of a module's text, `function NAME(` to its closing brace at column 0. */
function fn(text: string, name: string): string {
  const start = text.indexOf(`function ${name}(`);
  expect(start, name).toBeGreaterThanOrEqual(0);
  return text.slice(start, text.indexOf("\n}\n", start));
}

describe("autodiff leaves the forward graph untouched", () => {
  it.each(["rnn", "lstm", "mlp", "dqn"])("%s: the forward IR prints the same before and after", (name) => {
    const { ir } = frontEnd(example(name), `examples/${name}.bp`);
    const before = printGraph(ir);
    const g = grad(ir);
    expect(printGraph(ir)).toBe(before);
    expect(before).not.toMatch(/tape/);
    // The differentiated graph holds a copy of the forward, with the same ids.
    expect(g.nodes.filter((n) => n.phase === "fwd").map((n) => n.id)).toEqual(ir.nodes.map((n) => n.id));
  });

  it("bpc inspect examples/rnn.bp --stage ir prints no tape; --stage grad does", () => {
    const ir = bpc("inspect", "examples/rnn.bp", "--stage", "ir");
    expect(ir.code).toBe(0);
    expect(ir.out).toMatch(/loop/);
    expect(ir.out).not.toMatch(/tape/);
    const g = bpc("inspect", "examples/rnn.bp", "--stage", "grad");
    expect(g.out).toMatch(/tape\(/);
  });
});

describe("the tape is what the gradient rules save", () => {
  it("rnn: the carried h (matmul saves its operands) and tanh's output (tanh saves its output)", () => {
    const st = compileStages(example("rnn"), "examples/rnn.bp");
    const [fwd] = loops(st.grad);
    const body = fwd.body!;
    expect(body.tape.map((v) => v.op)).toEqual(["carry", "tanh"]);
    expect(body.tape[0]).toBe(body.carried[0]);
    expect(body.tape[1]).toBe(body.results[0]);
  });

  it("a body whose rules save only outer values and xs[t] tapes nothing", () => {
    const src = "dim B\ninput xs: [4, B, 3] ~ normal(0, 1)\nparam w: [3] ~ normal(0, 1)\ns = zeros([B, 3])\nfor t in 0..4 {\n  s = s + xs[t] * w\n}\nminimize sum(s * s)\n";
    const [fwd] = loops(compileStages(src, "t.bp").grad);
    expect(fwd.body!.tape).toEqual([]);
  });

  it("a rule that reads a value its saves do not declare is an error naming the op", () => {
    const saves = OPS.tanh.saves;
    OPS.tanh.saves = { inputs: [], output: false };
    try {
      expect(() => compileStages(example("rnn"), "examples/rnn.bp")).toThrow(GradRuleError);
      expect(() => compileStages(example("rnn"), "examples/rnn.bp")).toThrow(/gradient rule of tanh reads .* which its saves do not declare/);
    } finally {
      OPS.tanh.saves = saves;
    }
  });
});

describe("the backward a person would write", () => {
  it("mlp: cross-entropy's gradient is one loop over the logits, reusing the forward's log-sum-exp", async () => {
    const { ts } = await compileSource(example("mlp"), { precision: "f32", file: "examples/mlp.bp" });
    const backward = fn(ts, "computeBackward");
    expect(backward).not.toMatch(/softmax|one_?hot|oneHot/i);
    expect(backward).toMatch(/dlogits\[row \+ j\] = \(Math\.exp\(logits\[row \+ j\] - lse\) - \+\(j === label\)\) \* \(1 \/ B\);/);
    expect(fn(ts, "computeForward")).toMatch(/crossEntropy\([^;]*logits_lse,?\s*\);/);
    expect(ts).toMatch(/logits_lse: new Float64Array\(B\)/);
  });

  it("rnn: h is taped once, read and written in place (no copies per step)", async () => {
    const { ts } = await compileSource(example("rnn"), { precision: "f32", file: "examples/rnn.bp" });
    expect(ts.match(/\b\w+_tape\b(?=: take)/g)).toEqual(["h_tape"]);
    const forward = fn(ts, "computeForward");
    const step = forward.slice(forward.indexOf("for (let t = 0;"));
    expect(step).not.toMatch(/\.set\(|carry to the next step/);
    expect(step).toMatch(/h_tape\[k\] = Math\.tanh\(/);
    const backward = fn(ts, "computeBackward");
    expect(backward).not.toMatch(/carry to the next step/);
  });

  it("rnn: BPTT's weight gradients add into their accumulators (no per-step dW)", async () => {
    const { ts } = await compileSource(example("rnn"), { precision: "f32", file: "examples/rnn.bp" });
    expect(ts).not.toMatch(/dW[xh]_\d/);
    expect(ts).toMatch(/matmulSimd\(arena, dWh, h_tape, t_2 \* B \* 64, dh_pre, 0, 64, B, 64, true, true\);/);
    expect(ts).toMatch(/matmulJs\(dWh, h_tape, t_2 \* B \* 64, 1, 64, dh_pre, 0, 64, 1, 64, B, 64, true\);/);
  });

  it("rnn: the bias gradient's sum adds into its accumulator (no per-step db)", async () => {
    const { ts } = await compileSource(example("rnn"), { precision: "f32", file: "examples/rnn.bp" });
    expect(ts).not.toMatch(/dbh_\d/);
    expect(fn(ts, "computeBackward")).toMatch(/dbh\[j\] \+= acc0;/);
  });

  it("names come from roles: d + the value's name", () => {
    const st = compileStages(example("mlp"), "examples/mlp.bp");
    const names = st.opt.nodes.filter((n) => n.phase === "bwd" && n.name).map((n) => n.name);
    expect(names).toEqual(expect.arrayContaining(["dlogits", "dh", "dh_pre", "dW1", "db1", "dW2", "db2"]));
  });
});

describe("loops against finite differences (f64)", () => {
  const cases: [string, string][] = [
    [
      "a symbolic number of steps, two carried values, tapes of both",
      "dim B\ndim T\ninput m: [B, 3] in [0, 1]\ninput xs: [T, B, 3] in [-1, 1]\nparam W: [3, 3] ~ uniform(-0.5, 0.5)\nparam U: [3, 3] ~ uniform(-0.5, 0.5)\nh = zeros([B, 3])\nc = ones([B, 3])\nfor t in 0..T {\n  c = c * sigmoid(xs[t] @ U) + tanh(h @ W)\n  h = tanh(c) * sigmoid(h @ U + xs[t])\n}\nminimize sum(h * h * m) + mean(c)\n",
    ],
    [
      "carried values that swap",
      "dim B\ninput xs: [5, B, 2] in [-1, 1]\nparam W: [2, 2] ~ uniform(-1, 1)\np = zeros([B, 2])\nq = ones([B, 2])\nfor t in 0..5 {\n  n = tanh(p @ W + xs[t])\n  p = q\n  q = n * q\n}\nminimize sum(p * q)\n",
    ],
    [
      "a per-step cross-entropy (the log-sum-exp computed in the backward loop)",
      "dim B\ninput xs: [4, B, 3] in [-1, 1]\ninput ys: int[4, B] in [0, 3)\nparam W: [3, 3] ~ uniform(-1, 1)\nh = zeros([B, 3])\nl = 0\nfor t in 0..4 {\n  h = tanh(h @ W + xs[t])\n  l = l + mean(cross_entropy(h @ W, ys[t]))\n}\nminimize l\n",
    ],
    [
      "biases whose gradient sums add into an accumulator: in a loop, and a bias used twice",
      "dim B\ninput xs: [3, B, 2] in [-1, 1]\ninput z: [B, 2] in [-1, 1]\nparam W: [2, 2] ~ uniform(-1, 1)\nparam b: [2] ~ uniform(-1, 1)\nparam c: [2] ~ uniform(-1, 1)\nh = zeros([B, 2])\nfor t in 0..3 {\n  h = tanh(h @ W + xs[t] + b)\n}\nu = sigmoid(z @ W + c)\nv = tanh(h @ W + c)\nminimize sum(u * v) + mean(h)\n",
    ],
    [
      "a weight used twice in a step (two matmuls add into one gradient)",
      "dim B\ninput xs: [3, B, 2] in [-1, 1]\nparam W: [2, 2] ~ uniform(-1, 1)\nh = ones([B, 2])\nfor t in 0..3 {\n  h = tanh(h @ W + (xs[t] @ W) * h)\n}\nminimize sum(h)\n",
    ],
  ];
  it.each(cases)("%s", async (_name, src) => {
    const { mod, graph } = await compileSource(src, { precision: "f64", inputGrads: [] });
    for (const seed of [1, 2]) {
      for (const row of checkGradients(mod as never, graph, { seed, tolerance: 1e-6, perTensor: 30 })) {
        expect(row.maxRelError, `${row.tensor} (seed ${seed})`).toBeLessThan(1e-6);
      }
    }
    // f32 with the SIMD kernel and with the JS kernels agree with f64.
    const f32 = await compileSource(src, { precision: "f32" });
    const js = await compileSource(src, { precision: "f32", kernels: "js" });
    const params = f32.mod.init(3);
    const p64 = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v)]));
    const dims = { B: 2, T: 3 };
    const inputs = Object.fromEntries(
      Object.entries(f32.mod.model.inputs).map(([k, d]) => {
        const n = d.shape.reduce<number>((a, x) => a * (typeof x === "number" ? x : dims[x as "B" | "T"]), 1);
        return [k, d.dtype === "int32" ? Int32Array.from({ length: n }, (_, i) => i % 3) : Float32Array.from({ length: n }, (_, i) => Math.sin(i))];
      }),
    );
    const i64 = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v instanceof Int32Array ? v : Float64Array.from(v)]));
    const want = mod.backward(p64, i64);
    for (const m of [f32.mod, js.mod]) {
      const got = m.backward(params, inputs);
      expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5 * (1 + Math.abs(want.loss)));
      for (const [k, g] of Object.entries(want.grads)) {
        const scale = Math.max(1, ...Array.from(g, Math.abs));
        Array.from(got.grads[k]).forEach((v, i) => expect(Math.abs(v - g[i]) / scale, k).toBeLessThan(1e-5));
      }
    }
  });
});
