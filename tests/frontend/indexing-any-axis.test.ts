// Section 9 indexing: runtime indices on any axis and slices of constant
// length with a runtime start, `None` / expand_dims / squeeze, int arithmetic
// (`t + 1`, `T - 1 - t`, `//`) and its compile errors, indexed assignment
// (`hs[t] = h`, functional, exact gradients, in place in a loop) and `stack`.
// Gradients are checked against central differences in f64 (`bpc check`).
import { describe, expect, it } from "vitest";
import { checkFile } from "../../src/check/index.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { compileSource } from "../helpers/compile.js";

async function gradientsPass(src: string, tensors: string[], seed = 2): Promise<void> {
  const report = await checkFile(src, "t.bp", { seed, tolerance: 1e-6 });
  expect(report.rows.map((r) => r.tensor).sort()).toEqual([...tensors].sort());
  for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThan(1e-6);
}

const errorOf = (src: string): string => {
  try {
    frontEnd(src, "t.bp");
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected a compile error");
};

describe("runtime indices on any axis", () => {
  const rnn = (decl: string, read: string, loop = "0..T"): string => `dim B
dim T = 5
dim D = 3
dim H = 4
${decl}
param Wx: [D, H] ~ xavier
param Wh: [H, H] ~ orthogonal
h = zeros([B, H])
for t in ${loop} {
  h = tanh(${read} @ Wx + h @ Wh)
}
minimize sum(h * h)
`;

  it.each([
    ["x[:, t, :] of [B, T, D]", "input x: [B, T, D]", "x[:, t, :]"],
    ["x[:, :, t] of [B, D, T]", "input x: [B, D, T]", "x[:, :, t]"],
    ["x[T - 1 - t] (reversed)", "input x: [T, B, D]", "x[T - 1 - t]"],
    ["x[:, t + 1] - x[:, t] (differences)", "input x: [B, 6, D]", "(x[:, t + 1] - x[:, t])"],
    ["x[t // 2] (floor division)", "input x: [3, B, D]", "x[t // 2]"],
  ])("%s: gradients pass the check", async (_name, decl, read) => {
    await gradientsPass(rnn(decl, read), ["Wx", "Wh", "x"]);
  });

  it("x[:, t] of [B, T, D] equals xs[t] of the time-major copy", async () => {
    const a = await compileSource(rnn("input x: [B, T, D]", "x[:, t]"), { precision: "f64", inputGrads: ["x"] });
    const b = await compileSource(rnn("input xs: [T, B, D]", "xs[t]"), { precision: "f64", inputGrads: ["xs"] });
    const B = 2;
    const x = Float64Array.from({ length: B * 5 * 3 }, (_, k) => Math.sin(k));
    // xs[t, b, d] = x[b, t, d]
    const xs = new Float64Array(x.length);
    for (let i = 0; i < B; i++) for (let t = 0; t < 5; t++) for (let d = 0; d < 3; d++) xs[(t * B + i) * 3 + d] = x[(i * 5 + t) * 3 + d];
    const p = a.mod.init(3);
    const ga = a.mod.backward(p, { x });
    const gb = b.mod.backward(p, { xs });
    expect(ga.loss).toBeCloseTo(gb.loss, 12);
    for (let i = 0; i < B; i++)
      for (let t = 0; t < 5; t++) for (let d = 0; d < 3; d++) expect(ga.grads.x[(i * 5 + t) * 3 + d]).toBeCloseTo(gb.grads.xs[(t * B + i) * 3 + d], 12);
  });

  it("slices of constant length with a runtime start: xs[t:t+K] and x[:, t*S:t*S+K]", async () => {
    const src = `dim B
dim T = 7
dim K = 3
input xs: [T, B]
input x: [B, 11]
param w: [K, 1] ~ normal(0, 1)
param v: [3] ~ normal(0, 1)
s = zeros([B])
for t in 0..5 {
  s = s + sum(xs[t:t+K] * w, axis=0) + sin(x[:, t*2:t*2+3]) @ v
}
output s
minimize sum(s * s)
`;
    await gradientsPass(src, ["w", "v", "xs", "x"]);
    const { mod } = await compileSource(src, { precision: "f64" });
    const xs = Float64Array.from({ length: 14 }, (_, k) => k + 1);
    const x = new Float64Array(22);
    const p = { w: Float64Array.of(1, 10, 100), v: Float64Array.of(0, 0, 0) };
    // s[b] = sum over t < 5 of xs[t, b] + 10 xs[t + 1, b] + 100 xs[t + 2, b]
    const want = [0, 1].map((b) => [0, 1, 2, 3, 4].reduce((acc, t) => acc + xs[t * 2 + b] + 10 * xs[(t + 1) * 2 + b] + 100 * xs[(t + 2) * 2 + b], 0));
    expect(Array.from(mod.forward(p, { xs, x }).s as Float64Array)).toEqual(want);
  });

  it("a slice length the dim normaliser proves constant: x[:, t*S:(t+1)*S]", async () => {
    const src = "dim B\ndim S = 2\ninput x: [B, 8]\nparam w: [S] ~ normal(0, 1)\ns = zeros([B])\nfor t in 0..4 {\n  s = tanh(s + x[:, t*S:(t+1)*S] @ w)\n}\nminimize sum(s * s)\n";
    await gradientsPass(src, ["w", "x"]);
  });

  it("the backward loop recomputes an index of the step (t + 1) instead of taping it", async () => {
    const src = rnn("input x: [B, 6, D]", "(x[:, t + 1] - x[:, t])");
    const { graph, ts } = await compileSource(src, { precision: "f64", inputGrads: ["x"] });
    const loops = graph.nodes.filter((n) => n.op === "loop");
    expect(loops[0].body!.tape.some((v) => v.dtype === "int")).toBe(false);
    // Both regions of dx add into its accumulator: no [B, 6, D] zero-fill per step.
    const start = ts.search(/for \(let t\w* = 4; /);
    const body = ts.slice(start, ts.indexOf("\n  }\n", start));
    expect(body).toMatch(/dx\[/);
    expect(body).not.toMatch(/\.fill\(/);
  });

  it("an index out of range at run time throws, naming the expression; no clamping", async () => {
    const src = "dim B\ndim T = 4\ninput xs: [T, B]\ns = zeros([B])\nfor t in 0..T {\n  s = s + xs[t + 1]\n}\nminimize sum(s)\n";
    const { mod } = await compileSource(src, { precision: "f64" });
    expect(() => mod.forward({}, { xs: new Float64Array(8) })).toThrow(/xs\[t \+ 1\] \(line 6\): index 4 is out of range \[0, 4\)/);
    const k = "dim B\ninput x: [B, 3]\ninput k: int[]\nminimize sum(x[:, k])\n";
    const c = await compileSource(k, { precision: "f64" });
    expect(c.mod.forward({}, { x: Float64Array.of(1, 2, 3), k: Int32Array.of(2) }).loss).toBe(3);
    expect(() => c.mod.forward({}, { x: Float64Array.of(1, 2, 3), k: Int32Array.of(3) })).toThrow(/x\[:, k\] \(line 4\): index 3 is out of range \[0, 3\)/);
    expect(() => c.mod.forward({}, { x: Float64Array.of(1, 2, 3), k: Int32Array.of(-1) })).toThrow(/index -1 is out of range/);
  });

  it("negative constant indices count from the end", async () => {
    const { mod } = await compileSource("dim B\ninput x: [B, 4]\ny = x[:, -1] + x[:, -4:-2][:, 1]\noutput y\nminimize sum(y)\n", { precision: "f64" });
    expect(Array.from(mod.forward({}, { x: Float64Array.of(1, 2, 3, 4) }).y as Float64Array)).toEqual([6]);
  });

  it("compile errors: a slice whose length is not constant, a loop that reads past the end", () => {
    const head = "dim B\ndim T = 6\ninput xs: [T, B]\ninput k: int[]\ns = zeros([B])\n";
    expect(errorOf(`${head}for t in 0..3 {\n  s = s + sum(xs[t:k], axis=0)\n}\nminimize sum(s)\n`)).toMatch(/the length of the slice t:k is not a positive constant/);
    expect(errorOf(`${head}for t in 0..5 {\n  s = s + sum(xs[t:t+3], axis=0)\n}\nminimize sum(s)\n`)).toMatch(/xs\[t:t \+ 3\] reads past the end: its first axis has 6 entries but the loop runs 5 steps/);
    expect(errorOf("dim B\ninput x: [B, 4]\ninput f: []\nminimize sum(x[:, f])\n")).toMatch(/an index must be an int or an integer constant, got a float/);
  });
});

describe("new axes", () => {
  it("None inserts size-1 axes where NumPy does; expand_dims and squeeze move them", async () => {
    const src = `dim B
input b: [3]
input x: [B, 3]
p = b[:, None, None]
q = x[None, :, None]
r = expand_dims(x, axis=-1)
s = squeeze(expand_dims(b, 0), axis=0)
y = sum(sum(p, axis=2), axis=1) + s
output p, q, r, y
minimize sum(y)
`;
    const { mod, graph } = await compileSource(src, { precision: "f64", inputGrads: ["b"] });
    const shapes = Object.fromEntries(graph.outputs.map((o) => [o.name, o.node.shape]));
    expect(shapes).toEqual({ p: [3, 1, 1], q: [1, "B", 1, 3], r: ["B", 3, 1], y: [3] });
    const out = mod.forward({}, { b: Float64Array.of(1, 2, 3), x: Float64Array.of(4, 5, 6) });
    expect(Array.from(out.y as Float64Array)).toEqual([2, 4, 6]);
    expect(Array.from(mod.backward({}, { b: Float64Array.of(1, 2, 3), x: Float64Array.of(4, 5, 6) }).grads.b)).toEqual([2, 2, 2]);
  });

  it("squeezing an axis whose size is not 1 is a compile error", () => {
    expect(errorOf("dim B\ninput x: [B, 3]\nminimize sum(squeeze(x, axis=1))\n")).toMatch(/cannot squeeze axis 1 of \[B, 3\]: its size is 3, not 1/);
  });
});

describe("int arithmetic", () => {
  it("+ - * // on int tensors give ints (floor division rounds toward minus infinity)", async () => {
    const src = "dim B\ninput y: int[B] in [-5, 5)\ninput x: [B]\na = y * 2 + 1\nq = y // 2\nn = -y\noutput a, q, n\nminimize sum(x)\n";
    const { mod, graph } = await compileSource(src, { precision: "f64" });
    expect(graph.outputs.map((o) => o.node.dtype)).toEqual(["int", "int", "int"]);
    const out = mod.forward({}, { y: Int32Array.of(-3, 4, 0), x: new Float64Array(3) });
    expect(out.a).toBeInstanceOf(Int32Array);
    expect(Array.from(out.a as Int32Array)).toEqual([-5, 9, 1]);
    expect(Array.from(out.q as Int32Array)).toEqual([-2, 2, 0]);
    expect(Array.from(out.n as Int32Array)).toEqual([3, -4, 0]);
  });

  it("other arithmetic on ints is a compile error that says what to write", () => {
    const head = "dim B\ninput y: int[B]\ninput x: [B]\n";
    expect(errorOf(`${head}minimize sum(x * (y / 2))\n`)).toMatch(/'\/' is not defined on ints/);
    expect(errorOf(`${head}minimize sum(x + y)\n`)).toMatch(/an int tensor \[B\] is used where a float is needed/);
    expect(errorOf(`${head}minimize sum(x // 2)\n`)).toMatch(/'\/\/' \(floor division\) is for ints and dim expressions; for floats write floor\(a \/ b\)/);
    expect(errorOf(`${head}minimize sum(x * exp(y))\n`)).toMatch(/an int tensor \[B\] is used where a float is needed/);
    try {
      frontEnd(`${head}minimize sum(x + y)\n`, "t.bp");
    } catch (e) {
      expect(JSON.stringify((e as { diagnostics: unknown }).diagnostics)).toMatch(/float\(y\)/);
    }
  });
});

describe("indexed assignment", () => {
  it("writes a region; readers of the old value still see it (functional)", async () => {
    const src = `dim B
input x: [B, 4]
y = zeros([B, 6])
old = y
y[:, 0:4] = x
y[:, 5] = x[:, 0] * 10
z = y
z[:, 0] = z[:, 0] + 1
output old, y, z
minimize sum(y * y) + sum(z)
`;
    const { mod } = await compileSource(src, { precision: "f64", inputGrads: ["x"] });
    const x = Float64Array.of(1, 2, 3, 4);
    const out = mod.forward({}, { x });
    expect(Array.from(out.old as Float64Array)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(out.y as Float64Array)).toEqual([1, 2, 3, 4, 0, 10]);
    expect(Array.from(out.z as Float64Array)).toEqual([2, 2, 3, 4, 0, 10]);
    // d/dx of sum(y^2) + sum(z): 2 y + 1 on the copied entries, plus x[0]'s path through y[:, 5] (both sums).
    expect(Array.from(mod.backward({}, { x }).grads.x)).toEqual([3 + 2 * 10 * 10 + 10, 5, 7, 9]);
  });

  it("an RNN storing its states with hs[t] = h, then attention over hs: exact gradients", async () => {
    const src = `dim B
dim T = 5
dim D = 3
dim H = 4
input xs: [T, B, D]
param Wx: [D, H] ~ xavier
param Wh: [H, H] ~ orthogonal
param q: [H] ~ normal(0, 1)
h = zeros([B, H])
hs = zeros([T, B, H])
for t in 0..T {
  h = tanh(xs[t] @ Wx + h @ Wh)
  hs[t] = h
}
a = softmax(sum(hs * q, axis=2), axis=0)
ctx = sum(hs * a[:, :, None], axis=0)
minimize sum(ctx * ctx) + sum(h)
`;
    await gradientsPass(src, ["Wx", "Wh", "q", "xs"]);
  });

  it("a stacked RNN as nested loops, each layer storing its states for the next: exact gradients", async () => {
    const src = `dim B
dim T = 4
dim L = 2
dim H = 3
input xs: [T, B, H]
param W: [L, H, H] ~ normal(0, 0.5)
param U: [L, H, H] ~ normal(0, 0.5)
seq = xs
for l in 0..L {
  h = zeros([B, H])
  hs = zeros([T, B, H])
  for t in 0..T {
    h = tanh(seq[t] @ W[l] + h @ U[l])
    hs[t] = h
  }
  seq = hs
}
minimize sum(seq * seq)
`;
    await gradientsPass(src, ["W", "U", "xs"]);
  });

  it("in a loop, the write is in place: no copy of the whole tensor per step, forward or backward", async () => {
    const src = `dim B
dim T = 6
dim H = 3
input xs: [T, B, H]
param W: [H, H] ~ orthogonal
h = zeros([B, H])
hs = zeros([T, B, H])
for t in 0..T {
  h = tanh(xs[t] + h @ W)
  hs[t] = h
}
minimize sum(hs * hs)
`;
    const { ts } = await compileSource(src, { precision: "f64" });
    // Inside each loop, only row-sized work: no .set() or loop over the T * B * H buffer.
    const loops = [...ts.matchAll(/for \(let (t\w*) = [^\n]*\n([\s\S]*?)\n  \}\n/g)];
    expect(loops.length).toBe(2);
    for (const [, , body] of loops) {
      expect(body).not.toMatch(/\.set\(/);
      expect(body).not.toMatch(/< B \* 18|< 18 \* B|< 6 \* B/);
    }
    await gradientsPass(src, ["W", "xs"]);
  });

  it("a loop variable can start a written slice; errors name what to write", async () => {
    const src = `dim B
dim T = 4
input x: [B, 2]
y = zeros([B, 8])
for t in 0..T {
  y[:, t*2:t*2+2] = x * 2
}
minimize sum(y * y)
`;
    await gradientsPass(src, ["x"]);
    expect(errorOf("dim B\ninput x: [B, 2]\nparam W: [2, 2]\nW[0] = x[0]\nminimize sum(W)\n")).toMatch(/cannot assign into param 'W'/);
    expect(errorOf("dim B\ninput x: [B, 2]\ny = x\ny[:, None] = x\nminimize sum(y)\n")).toMatch(/None selects no elements/);
  });
});

describe("stack", () => {
  it("joins tensors of one shape on a new axis; its gradient splits back", async () => {
    const src = `dim B
input a: [B, 2]
input b: [B, 2]
input c: [B, 2]
s = stack(a, b, c, axis=1)
t = stack(a, b)
output s, t
minimize sum(s * s) + sum(t[1])
`;
    const { mod, graph } = await compileSource(src, { precision: "f64", inputGrads: ["a", "b", "c"] });
    expect(graph.outputs.map((o) => o.node.shape)).toEqual([
      ["B", 3, 2],
      [2, "B", 2],
    ]);
    const ins = { a: Float64Array.of(1, 2), b: Float64Array.of(3, 4), c: Float64Array.of(5, 6) };
    expect(Array.from(mod.forward({}, ins).s as Float64Array)).toEqual([1, 2, 3, 4, 5, 6]);
    const g = mod.backward({}, ins).grads;
    expect([...g.a, ...g.b, ...g.c]).toEqual([2, 4, 7, 9, 10, 12]);
    expect(errorOf("dim B\ninput a: [B, 2]\ninput b: [B, 3]\nminimize sum(stack(a, b))\n")).toMatch(/stack joins tensors of one shape/);
  });
});
