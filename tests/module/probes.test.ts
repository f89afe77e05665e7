// spec section 12: every figure `probe` reports, against a float64 computation written out here.
import { describe, expect, it } from "vitest";
import { emitModule } from "../../src/codegen/emit.js";
import { loadModule } from "../../src/codegen/runtime-load.js";
import { compileStages } from "../../src/passes/pipeline.js";
import { HEAP_FLAGS, HEAP_PER_CALL } from "../helpers/alloc.js";

type F = Float32Array | Float64Array;
interface Probed {
  init(seed?: number): Record<string, F>;
  backward(p: Record<string, F>, i: Record<string, F | Int32Array>): { loss: number; grads: Record<string, F> };
  probe(p: Record<string, F>, i: Record<string, F | Int32Array>): {
    loss: number;
    sites: { name: string; line: number; op: string; dead?: number; saturated?: number; mean: number; std: number }[];
    params: Record<string, { norm: number; gradNorm: number }>;
    loops: { name: string; line: number; gradNorms: Float64Array }[];
    nonFinite: null | { name: string; line: number };
  };
}

async function probed(source: string, precision: "f32" | "f64" = "f64"): Promise<Probed> {
  const st = compileStages(source, "probe.bp", { inputGrads: [] });
  return (await loadModule(await emitModule(st.opt, { precision, inputGrads: [], probes: true }))) as unknown as Probed;
}

function rand(n: number, seed: number, scale = 1): Float64Array {
  let s = seed;
  return Float64Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648 - 0.5) * 2 * scale;
  });
}

/** x [n, k] @ W [k, m] + b [m], in float64. */
function affine(x: ArrayLike<number>, W: ArrayLike<number>, b: ArrayLike<number> | null, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = b ? b[j] : 0;
      for (let q = 0; q < k; q++) s += x[i * k + q] * W[q * m + j];
      out[i * m + j] = s;
    }
  return out;
}

function stats(a: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / a.length) };
}

const norm = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));

const MLP = `model probe_mlp
dim B
dim D = 5
dim H = 6
dim C = 3
input  x: [B, D]
input  y: int[B] in [0, C)
param  W1: [D, H] ~ normal(0, 1)
param  b1: [H]    ~ zeros
param  W2: [H, H] ~ normal(0, 3)
param  W3: [H, C] ~ xavier
h = relu(x @ W1 + b1 - 1)
s = sigmoid(h @ W2)
t = tanh(s @ W3)
loss = mean(cross_entropy(t, y))
minimize loss
`;

describe("probe on an MLP", () => {
  const B = 7;
  const x = rand(B * 5, 3);
  const y = Int32Array.from({ length: B }, (_, i) => i % 3);

  for (const precision of ["f64", "f32"] as const) {
    it(`sites, param norms and the loss match float64 (${precision})`, async () => {
      const m = await probed(MLP, precision);
      const p = m.init(2);
      const xs = precision === "f64" ? x : Float32Array.from(x);
      const r = m.probe(p, { x: xs, y });
      const tol = precision === "f64" ? 1e-9 : 1e-4;
      // Pre-activations in float64.
      const a1 = affine(x, p.W1, p.b1, B, 5, 6).map((v) => v - 1);
      const h = a1.map((v) => (v > 0 ? v : 0));
      const a2 = affine(h, p.W2, null, B, 6, 6);
      const s = a2.map((v) => 1 / (1 + Math.exp(-v)));
      const a3 = affine(s, p.W3, null, B, 6, 3);
      expect(r.sites.map((q) => [q.name, q.line, q.op])).toEqual([
        ["h", 12, "relu"],
        ["s", 13, "sigmoid"],
        ["t", 14, "tanh"],
      ]);
      let dead = 0;
      for (let j = 0; j < 6; j++) if ([...Array(B).keys()].every((i) => a1[i * 6 + j] <= 0)) dead++;
      expect(r.sites[0].dead).toBeCloseTo(dead / 6, 12);
      expect(r.sites[0].saturated).toBeUndefined();
      // The op table's facts: sigmoid saturates beyond 4.6, tanh beyond 2.65 (two-sided).
      expect(r.sites[1].saturated).toBeCloseTo(a2.filter((v) => Math.abs(v) > 4.6).length / a2.length, 12);
      expect(r.sites[2].saturated).toBeCloseTo(a3.filter((v) => Math.abs(v) > 2.65).length / a3.length, 12);
      for (const [k, a] of [a1, a2, a3].entries()) {
        const st = stats(a);
        expect(Math.abs(r.sites[k].mean - st.mean)).toBeLessThan(tol * (1 + Math.abs(st.mean)));
        expect(Math.abs(r.sites[k].std - st.std)).toBeLessThan(tol * (1 + st.std));
      }
      const b = m.backward(p, { x: xs, y });
      expect(Math.abs(r.loss - b.loss)).toBeLessThan(tol);
      for (const k of ["W1", "b1", "W2", "W3"]) {
        expect(r.params[k].norm).toBeCloseTo(norm(p[k]), 6);
        expect(Math.abs(r.params[k].gradNorm - norm(b.grads[k]))).toBeLessThan(tol * (1 + norm(b.grads[k])));
      }
      expect(r.nonFinite).toBeNull();
      expect(r.loops).toEqual([]);
    });
  }

  it("names the first value holding a NaN or an infinity", async () => {
    const m = await probed(MLP);
    // Params and inputs must be finite (the module checks), but x @ W1 overflows: h on line 12 is the first.
    const p = m.init(2);
    p.W1.fill(1e308);
    expect(m.probe(p, { x: new Float64Array(B * 5).fill(1), y }).nonFinite).toEqual({ name: "h", line: 12 });
    expect(m.probe(m.init(2), { x, y }).nonFinite).toBeNull();
  });

  it("allocates the loops' arrays once", async () => {
    const m = await probed(RNN);
    const p = m.init(1);
    const inp = rnnInputs();
    const a = m.probe(p, inp).loops[0].gradNorms;
    const b = m.probe(p, inp).loops[0].gradNorms;
    expect(b).toBe(a);
  });
});

const RNN = `model probe_rnn
dim B
dim T = 6
dim D = 3
dim H = 4
dim C = 2
input  xs: [T, B, D]
input  y:  int[B] in [0, C)
param  Wx: [D, H] ~ normal(0, 1)
param  Wh: [H, H] ~ normal(0, 1)
param  Wy: [H, C] ~ normal(0, 1)
h = zeros([B, H])
for t in 0..T {
  h = tanh(xs[t] @ Wx + h @ Wh)
}
logits = h @ Wy
loss = mean(cross_entropy(logits, y))
minimize loss
`;
const RB = 3;
function rnnInputs(): { xs: Float64Array; y: Int32Array } {
  return { xs: rand(6 * RB * 3, 11), y: Int32Array.of(0, 1, 1) };
}

describe("probe on an RNN", () => {
  it("per-step gradient norms match a hand-written BPTT; the site's figures span every step", async () => {
    const m = await probed(RNN);
    const p = m.init(4);
    const { xs, y } = rnnInputs();
    const r = m.probe(p, { xs, y });
    const T = 6, H = 4, D = 3, C = 2;
    // Forward in float64, keeping every state and pre-activation.
    const hs: Float64Array[] = [new Float64Array(RB * H)];
    const pre: number[] = [];
    for (let t = 0; t < T; t++) {
      const a = affine(xs.subarray(t * RB * D, (t + 1) * RB * D), p.Wx, null, RB, D, H);
      const b = affine(hs[t], p.Wh, null, RB, H, H);
      const z = a.map((v, i) => v + b[i]);
      pre.push(...z);
      hs.push(z.map(Math.tanh));
    }
    const logits = affine(hs[T], p.Wy, null, RB, H, C);
    // d loss / d logits = (softmax - onehot) / B.
    const dl = new Float64Array(RB * C);
    for (let i = 0; i < RB; i++) {
      const mx = Math.max(logits[i * C], logits[i * C + 1]);
      const e = [0, 1].map((c) => Math.exp(logits[i * C + c] - mx));
      const z = e[0] + e[1];
      for (let c = 0; c < C; c++) dl[i * C + c] = (e[c] / z - (y[i] === c ? 1 : 0)) / RB;
    }
    // d loss / d h after step t, from the last step back.
    let dh = new Float64Array(RB * H);
    for (let i = 0; i < RB; i++) for (let j = 0; j < H; j++) for (let c = 0; c < C; c++) dh[i * H + j] += dl[i * C + c] * p.Wy[j * C + c];
    const want = new Float64Array(T);
    for (let t = T - 1; t >= 0; t--) {
      want[t] = norm(dh);
      const h1 = hs[t + 1];
      const da = dh.map((v, i) => v * (1 - h1[i] * h1[i]));
      const prev = new Float64Array(RB * H);
      for (let i = 0; i < RB; i++) for (let q = 0; q < H; q++) for (let j = 0; j < H; j++) prev[i * H + q] += da[i * H + j] * p.Wh[q * H + j];
      dh = prev;
    }
    expect(r.loops.map((l) => [l.name, l.line])).toEqual([["h", 14]]);
    const got = r.loops[0].gradNorms;
    expect(got.length).toBe(T);
    for (let t = 0; t < T; t++) expect(Math.abs(got[t] - want[t])).toBeLessThan(1e-9 * (1 + want[t]));
    expect(r.sites.map((q) => [q.name, q.line, q.op])).toEqual([["h", 14, "tanh"]]);
    const st = stats(pre);
    expect(r.sites[0].mean).toBeCloseTo(st.mean, 9);
    expect(r.sites[0].std).toBeCloseTo(st.std, 9);
    expect(r.sites[0].saturated).toBeCloseTo(pre.filter((v) => Math.abs(v) > 2.65).length / pre.length, 12);
  });

  it("a relu inside a loop is dead only where it is off at every step for every example", async () => {
    const m = await probed(RNN.replace("tanh(", "relu(").replace("h = zeros", "h = zeros"));
    const p = m.init(4);
    // Unit 0 never fires: its input column is very negative at every step.
    for (let q = 0; q < 3; q++) p.Wx[q * 4] = 0;
    for (let q = 0; q < 4; q++) p.Wh[q * 4] = 0;
    const { xs, y } = rnnInputs();
    const r = m.probe(p, { xs, y });
    // Column 0 is exactly 0 (not positive) everywhere: at least that unit is dead.
    expect(r.sites[0].dead).toBeGreaterThanOrEqual(0.25);
    expect(r.sites[0].dead).toBeLessThanOrEqual(1);
  });
});

describe("probes through the library", () => {
  it("compile({ probes: true, emit: 'js' }) declares probe and its result type", async () => {
    const { compile } = await import("../../src/api.js");
    const { code, dts } = await compile(RNN, { probes: true, emit: "js" });
    expect(code).toContain("export function probe(");
    expect(dts).toMatch(/export type Probes = \{/);
    expect(dts).toMatch(/export declare function probe\(params: Params, inputs: Inputs\): Probes;/);
    const plain = await compile(RNN, { emit: "js" });
    expect(plain.dts).not.toContain("function probe");
  });

  it("a model without params has no training step to probe: a clear error", async () => {
    const { compile } = await import("../../src/api.js");
    await expect(compile("model np\ndim B\ninput x: [B, 3]\nloss = mean(square(x))\nminimize loss\n", { probes: true })).rejects.toThrow(
      /--probes: the model has no parameters/,
    );
  });
});

describe("probes leave backward alone", () => {
  it("a probed module's text begins with the unprobed module, character for character", async () => {
    for (const src of [MLP, RNN]) {
      const emit = (probes: boolean) => emitModule(compileStages(src, "probe.bp", { inputGrads: [] }).opt, { precision: "f32", inputGrads: [], probes });
      const [plain, withProbes] = [await emit(false), await emit(true)];
      expect(withProbes.startsWith(plain.trimEnd())).toBe(true);
      expect(withProbes.slice(plain.trimEnd().length)).toContain("export function probe(");
    }
  });
});

describe("relu-like sites beyond relu", () => {
  it("leaky_relu and elu: dead is the fraction of units whose input is not positive for any example", async () => {
    const src = `model probe_leaky
dim B
dim D = 4
dim H = 8
input  x: [B, D]
param  W: [D, H] ~ normal(0, 1)
param  V: [H, 1] ~ normal(0, 1)
z = x @ W - 1
a = leaky_relu(z, a=0.1)
e = elu(a @ V)
loss = mean(square(e))
minimize loss
`;
    const m = await probed(src);
    const p = m.init(3);
    const B = 5;
    const x = rand(B * 4, 9);
    const r = m.probe(p, { x });
    const z = affine(x, p.W, null, B, 4, 8).map((v) => v - 1);
    let dead = 0;
    for (let j = 0; j < 8; j++) if ([...Array(B).keys()].every((i) => z[i * 8 + j] <= 0)) dead++;
    expect(r.sites.map((s) => [s.name, s.line, s.op])).toEqual([
      ["a", 9, "leaky_relu"],
      ["e", 10, "elu"],
    ]);
    expect(r.sites[0].dead).toBeCloseTo(dead / 8, 12);
    expect(r.sites[0].mean).toBeCloseTo(stats(z).mean, 9);
    const a = z.map((v) => (v > 0 ? v : 0.1 * v));
    const u = affine(a, p.V, null, B, 8, 1);
    expect(r.sites[1].dead).toBe(u.every((v) => v <= 0) ? 1 : 0);
    expect(r.sites[1].std).toBeCloseTo(stats(u).std, 9);
  });
});

describe("probe's allocations", () => {
  it("allocates nothing per call past a result object of the same shape", async () => {
    const { spawnSync } = await import("node:child_process");
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { moduleToJs } = await import("../../src/codegen/to-js.js");
    const dir = mkdtempSync(join(tmpdir(), "bpc-probe-alloc-"));
    const ts = await emitModule(compileStages(RNN.replace("tanh(", "relu("), "probe.bp", { inputGrads: [] }).opt, { precision: "f32", inputGrads: [], probes: true });
    writeFileSync(join(dir, "m.mjs"), moduleToJs(ts));
    writeFileSync(
      join(dir, "run.mjs"),
      `import v8 from "node:v8";
const m = await import("./m.mjs");
const params = m.init(1);
const inputs = { xs: new Float32Array(6 * 3 * 3).fill(0.25), y: Int32Array.of(0, 1, 1) };
${HEAP_PER_CALL}
const r = m.probe(params, inputs);
const names = Object.keys(r.params);
// The same result, built from fresh numbers the way probe builds it.
const like = () => {
  const sites = r.sites.map((s) => s.dead !== undefined
    ? { name: s.name, line: s.line, op: s.op, dead: Math.random(), mean: Math.random(), std: Math.random() }
    : { name: s.name, line: s.line, op: s.op, saturated: Math.random(), mean: Math.random(), std: Math.random() });
  const norms = {};
  for (const k of names) norms[k] = { norm: Math.random(), gradNorm: Math.random() };
  const loops = r.loops.map((l) => ({ name: l.name, line: l.line, gradNorms: l.gradNorms }));
  let nonFinite = null;
  return { loss: Math.random(), sites, params: norms, loops, nonFinite };
};
console.log(JSON.stringify({ probe: perCall(() => m.probe(params, inputs)), like: perCall(like) }));
`,
    );
    const r = spawnSync(process.execPath, [...HEAP_FLAGS, join(dir, "run.mjs")], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const { probe, like } = JSON.parse(r.stdout) as { probe: number; like: number };
    console.log(`probe: ${probe} bytes per call, a result of the same shape ${like}`);
    // Two least-of-six estimates differ by up to ~20 bytes on a loaded machine
    // (21.7 seen in CI); a buffer allocated per call (a typed array and its
    // ArrayBuffer, well over 100 bytes) still fails.
    expect(probe - like).toBeLessThanOrEqual(48);
  });
});
