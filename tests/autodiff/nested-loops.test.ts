// Loops inside loops (spec section 9, "Loops"): gradients flow through every
// level (the backward of an outer step runs the inner loop's backward), the
// generated code does not grow with any trip count, and a nested loop's tape
// is stored once, inside the enclosing loop's tape ([inner steps, outer
// steps, ...]), never copied into it.
import { describe, expect, it } from "vitest";
import { checkFile } from "../../src/check/index.js";
import { emitModule } from "../../src/codegen/emit.js";
import { loadModule } from "../../src/codegen/runtime-load.js";
import type { Graph, Node } from "../../src/ir/types.js";
import { printGraph } from "../../src/ir/print.js";
import { compileStages } from "../../src/passes/pipeline.js";
import { lint } from "../helpers/lint.js";

/** A two-layer RNN over time: the inner loop over layers reads Wx[l] and the outer step's h. */
const RNN2 = (T: string, L: string): string => `dim B = 2
dim T${T}
dim L${L}
dim H = 3
input xs: [T, B, H]
param Wx: [L, H, H] ~ xavier
param Wh: [L, H, H] ~ xavier
h = zeros([B, H])
for t in 0..T {
  x = xs[t]
  for l in 0..L {
    x = tanh(x @ Wx[l] + h @ Wh[l])
  }
  h = x
}
minimize sum(h * h)
`;

/**
 * A stacked LSTM as nested loops: per-layer states carried by both loops
 * (hs, cs: [L, B*H], a layer's row replaced through a one-hot mask), the
 * cell a def returning two values, per-layer weights Wx[l], Wh[l], b[l].
 */
const LSTM2 = (T: string): string => `dim B = 2
dim T${T}
dim L = 2
dim H = 3
dim G = 12
dim BH = 6
input xs: [T, B, H]
input y: int[B] in [0, H)
param Wx: [L, H, G] ~ xavier
param Wh: [L, H, G] ~ xavier
param b: [L, G] ~ normal(0, 0.1)
def cell(x, h, c, l) {
  z = x @ Wx[l] + h @ Wh[l] + b[l]
  c2 = sigmoid(z[:, 3:6] + 1) * c + sigmoid(z[:, 0:3]) * tanh(z[:, 6:9])
  return sigmoid(z[:, 9:12]) * tanh(c2), c2
}
hs = zeros([L, BH])
cs = zeros([L, BH])
for t in 0..T {
  x = xs[t]
  for l in 0..L {
    h, c = cell(x, reshape(hs[l], [B, H]), reshape(cs[l], [B, H]), l)
    m = reshape(one_hot(l, L), [L, 1])
    hs = hs * (1 - m) + m * reshape(h, [1, BH])
    cs = cs * (1 - m) + m * reshape(c, [1, BH])
    x = h
  }
}
minimize mean(cross_entropy(reshape(hs[1], [B, H]), y))
`;

/** Three deep, with symbolic trip counts at the outer and innermost levels, running sums at two levels and a loop from 1. */
const DEEP3 = `dim B = 2
dim T
dim K
dim H = 3
input xs: [T, B, H]
input ks: [K, H]
param W: [2, H, H] ~ xavier
param U: [H, H] ~ xavier
h = zeros([B, H])
s = 0
for t in 0..T {
  x = xs[t]
  for l in 0..2 {
    for k in 0..K {
      x = tanh(x @ U + ks[k]) * 0.5 + x * 0.5
      s = s + mean(x * x)
    }
    x = tanh(x @ W[l] + h)
  }
  h = x
}
minimize sum(h * h) + s
`;

async function expectGradientsRight(src: string, tensors: string[]): Promise<void> {
  const report = await checkFile(src, "nested.bp", { seed: 3, tolerance: 1e-6 });
  expect(report.rows.map((r) => r.tensor)).toEqual(tensors);
  for (const r of report.rows) {
    expect(r.maxRelError, r.tensor).toBeLessThan(1e-6);
    expect(r.checked, r.tensor).toBeGreaterThan(0);
  }
}

function loops(nodes: readonly Node[], out: Node[] = []): Node[] {
  for (const n of nodes) {
    if (n.op !== "loop") continue;
    out.push(n);
    loops(n.body!.nodes, out);
  }
  return out;
}

describe("nested loops: gradients against central finite differences (f64)", () => {
  it("two deep, constant trip counts: an RNN over time with a loop over layers reading Wx[l]", async () => {
    await expectGradientsRight(RNN2(" = 4", " = 2"), ["Wx", "Wh", "xs"]);
  });

  it("two deep, a symbolic number of time steps", async () => {
    await expectGradientsRight(RNN2("", " = 3"), ["Wx", "Wh", "xs"]);
  });

  it("a stacked LSTM: per-layer h and c carried through both loops, a two-result cell", async () => {
    await expectGradientsRight(LSTM2(" = 3"), ["Wx", "Wh", "b", "xs"]);
    await expectGradientsRight(LSTM2(""), ["Wx", "Wh", "b", "xs"]);
  });

  it("three deep, symbolic counts outside and inside, sums carried at two levels", async () => {
    await expectGradientsRight(DEEP3, ["W", "U", "xs", "ks"]);
  });

  it("sibling loops in a step, the second reading the first's result, both reading the outer h and xs[t]", async () => {
    const src = `dim B = 2
dim T
dim H = 3
input xs: [T, B, H]
param W: [2, H, H] ~ xavier
param V: [H, H] ~ xavier
h = zeros([B, H])
acc = zeros([B, H])
for t in 0..T {
  x = h
  for l in 0..2 {
    x = tanh(xs[t] @ V + x @ W[l])
  }
  y = x
  for k in 0..3 {
    y = y * sigmoid(y @ V + h)
    acc = acc + y
  }
  h = tanh(y + x)
}
minimize sum(h * h) + mean(acc * acc)
`;
    await expectGradientsRight(src, ["W", "V", "xs"]);
  });

  it("an outer value read inside the inner loop is not updated in place (the inner loop reads it every step)", async () => {
    // x @ W[l] + h fuses into a matmul adding into h's buffer, which must stay h for the next inner step.
    const src = RNN2(" = 4", " = 2").replace("x @ Wx[l] + h @ Wh[l]", "x @ Wx[l] + h");
    await expectGradientsRight(src, ["Wx", "Wh", "xs"]);
  });
});

describe("nested loops: the backward graph", () => {
  it("the backward of the outer loop holds the backward of the inner one, and inspect prints both levels", () => {
    const st = compileStages(RNN2(" = 4", " = 2"), "rnn2.bp");
    const bwd = st.grad.nodes.filter((n) => n.op === "loop" && n.phase === "bwd");
    expect(bwd).toHaveLength(1);
    const inner = loops(bwd[0].body!.nodes);
    expect(inner).toHaveLength(1);
    expect(inner[0].attrs.reverse).toBe(true);
    const text = printGraph(st.opt);
    expect(text).toMatch(/^ {2}%\d+ = loop %\d+:l in 0\.\.2/m);
    expect(text).toMatch(/^ {4}%\d+:x: f\[2, 3\] = tanh/m);
  });

  it("the inner loop's tape is read by the outer tape: a per-step tape of the outer loop", () => {
    const st = compileStages(RNN2(" = 4", " = 2"), "rnn2.bp");
    const [outer, inner] = loops(st.grad.nodes.filter((n) => n.phase === "fwd"));
    const stacked = outer.body!.tape.filter((v) => v.op === "loop_tape");
    expect(stacked.length).toBeGreaterThan(0);
    for (const v of stacked) {
      expect(v.inputs[0]).toBe(inner);
      expect(v.phase).toBe("fwd");
    }
  });
});

async function emit(src: string, precision: "f32" | "f64" = "f64"): Promise<string> {
  const st = compileStages(src, "nested.bp", { inputGrads: [] });
  return emitModule(st.opt, { precision, inputGrads: [], kernels: "js" });
}

/** The forward (or backward) workspace's buffers and their lengths, read off the generated module. */
function forwardBuffers(ts: string, which = "forward"): Map<string, number> {
  const ws = new RegExp(`function ${which}Workspace\\(\\) \\{\\n {2}return \\{\\n([\\s\\S]*?)\\n {2}\\};`).exec(ts);
  if (!ws) throw new Error(`no ${which}Workspace in the module`);
  const out = new Map<string, number>();
  for (const m of ws[1].matchAll(/^ {4}(\w+): new Float(?:32|64)Array\((\d+)\),$/gm)) out.set(m[1], Number(m[2]));
  return out;
}

describe("nested loops: code size and tape memory", () => {
  it("the generated code is the same size whatever the trip counts", async () => {
    // The same text up to the numbers in it (and prettier's line breaks, which follow their widths).
    const shape = (ts: string): string => ts.replace(/\d+/g, "N").replace(/\s+/g, "");
    const rnn = await Promise.all(
      [
        [" = 2", " = 2"],
        [" = 9", " = 5"],
        [" = 40", " = 7"],
      ].map(async ([T, L]) => shape(await emit(RNN2(T, L)))),
    );
    expect(rnn[1] === rnn[0], "T 9, L 5 vs T 2, L 2").toBe(true);
    expect(rnn[2] === rnn[0], "T 40, L 7 vs T 2, L 2").toBe(true);
    const deep = await Promise.all(
      [2, 6].map(async (k) => shape(await emit(DEEP3.replace("dim K\n", `dim K = ${k}\n`)))),
    );
    expect(deep[1] === deep[0], "K 6 vs K 2").toBe(true);
  });

  it("the tape holds each taped value once: the inner loop writes into the outer tape, [L + 1, T, B, H]", async () => {
    const [T, L, B, H] = [5, 3, 2, 3];
    const ts = await emit(RNN2(` = ${T}`, ` = ${L}`));
    const bufs = forwardBuffers(ts);
    const tapes = [...bufs].filter(([name]) => name.endsWith("_tape"));
    // h before each outer step and after the last; x before each inner step and after the last, per outer step.
    expect(new Map(tapes)).toEqual(
      new Map([
        ["h_tape", (T + 1) * B * H],
        ["x_tape", (L + 1) * T * B * H],
      ]),
    );
    // Nothing else in the forward workspace grows with the steps.
    for (const [name, n] of bufs) if (!name.endsWith("_tape")) expect(n, name).toBeLessThanOrEqual(B * H);
    // No copy of a tape into a tape: the inner loop writes its steps in place.
    expect(ts).not.toMatch(/_tape\w*\.set\(/);
  });

  it("the inner backward adds into the outer loop's weight-gradient sums: no per-step copy or sum of them", async () => {
    const [L, H] = [3, 3];
    const ts = await emit(RNN2(" = 5", ` = ${L}`));
    const big = [...forwardBuffers(ts, "backward")].filter(([, n]) => n >= L * H * H).map(([name]) => name);
    expect(big.sort()).toEqual(["dWh", "dWx"]);
    const body = ts.slice(ts.indexOf("function computeBackward"));
    expect(body).not.toMatch(/dW[xh]\.set\(|dW[xh]_\d/);
  });

  it("three deep: the innermost tape gains a step axis per enclosing loop", async () => {
    const ts = await emit(DEEP3.replace("dim T\n", "dim T = 4\n").replace("dim K\n", "dim K = 5\n"));
    const bufs = forwardBuffers(ts);
    const [T, L, K, B, H] = [4, 2, 5, 2, 3];
    // The innermost carried x, before each of its steps and after the last, for every (l, t).
    expect([...bufs.values()]).toContain((K + 1) * L * T * B * H);
    const total = [...bufs].filter(([n]) => n.endsWith("_tape")).reduce((s, [, n]) => s + n, 0);
    // Taped: x (inner, K + 1 rows) and x @ U + ks[k]'s tanh (K rows) per (l, t); the middle x and h per step.
    expect(total).toBeLessThanOrEqual((K + 1 + K) * L * T * B * H + (L + 1) * T * B * H + 2 * (T + 1) * B * H);
  });
});

describe("nested loops: linter, probes", () => {
  it("the linter runs on nested loops without a finding on a clean stacked LSTM", () => {
    const src = LSTM2(" = 3");
    const st = compileStages(src, "lstm2.bp");
    expect(lint(st.ir as Graph, src)).toEqual([]);
  });

  it("a probed module of nested loops runs, its plain backward unchanged", async () => {
    const src = RNN2(" = 4", " = 2");
    const st = compileStages(src, "rnn2.bp", { inputGrads: [] });
    const plain = (await loadModule(
      await emitModule(st.opt, { precision: "f64", inputGrads: [] }),
    )) as unknown as ProbedModule;
    const mod = (await loadModule(
      await emitModule(st.opt, { precision: "f64", inputGrads: [], probes: true }),
    )) as unknown as ProbedModule;
    const params = mod.init(1);
    const xs = Float64Array.from({ length: 24 }, (_, i) => Math.sin(i));
    const p = mod.probe(params, { xs });
    expect(Number.isFinite(p.loss)).toBe(true);
    expect(p.nonFinite).toBeNull();
    const a = plain.backward(params, { xs });
    const b = mod.backward(params, { xs });
    expect(b.loss).toBe(a.loss);
    expect([...b.grads.Wx]).toEqual([...a.grads.Wx]);
  });
});

interface ProbedModule {
  init(seed?: number): Record<string, Float64Array>;
  backward(
    p: Record<string, Float64Array>,
    i: Record<string, Float64Array>,
  ): { loss: number; grads: Record<string, Float64Array> };
  probe(p: Record<string, Float64Array>, i: Record<string, Float64Array>): { loss: number; nonFinite: unknown };
}
