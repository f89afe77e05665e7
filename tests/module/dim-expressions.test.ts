// Dim expressions in compiled modules (spec section 9): values against a
// direct computation, gradients through `bpc check`, dims read off lengths
// such as B*T, and the call-time Error for an expression that is not a
// positive integer.
import { describe, expect, it } from "vitest";
import { checkFile } from "../../src/check/index.js";
import { compileSource } from "../helpers/compile.js";

/** Reshapes (products, -1), a slice H:2*H, zeros([B*T, H]), a loop over T-1 steps and a range [0, B). */
const MODEL = `dim B
dim T
dim D = 3
dim H = 4
input xs: [T, B, D]
input flat: [B*T, D]
input y: int[B] in [0, B)
param W: [D, H]
param V: [D, 2*H]
param U: [H, H] ~ orthogonal
h = zeros([B, H])
for t in 0..T-1 {
  h = tanh(xs[t] @ W + h @ U)
}
s = h @ h.T
g = reshape(flat, [-1, D]) @ V
a = sigmoid(g[:, H:2*H]) + zeros([B*T, H])
e = reshape(a * g[:, 0:H], [B, T*H])
minimize mean(pick(s, y)) + mean(square(e))
`;

/** The loss of MODEL computed directly, in float64. */
function reference(p: Record<string, ArrayLike<number>>, xs: Float64Array, flat: Float64Array, y: Int32Array, B: number, T: number): number {
  const [D, H] = [3, 4];
  let h = new Float64Array(B * H);
  for (let t = 0; t < T - 1; t++) {
    const next = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        let v = 0;
        for (let k = 0; k < D; k++) v += xs[(t * B + b) * D + k] * p.W[k * H + j];
        for (let k = 0; k < H; k++) v += h[b * H + k] * p.U[k * H + j];
        next[b * H + j] = Math.tanh(v);
      }
    }
    h = next;
  }
  let pickSum = 0;
  for (let b = 0; b < B; b++) {
    let v = 0;
    for (let k = 0; k < H; k++) v += h[b * H + k] * h[y[b] * H + k];
    pickSum += v;
  }
  let sq = 0;
  for (let r = 0; r < B * T; r++) {
    const g = (j: number): number => {
      let v = 0;
      for (let k = 0; k < D; k++) v += flat[r * D + k] * p.V[k * 2 * H + j];
      return v;
    };
    for (let j = 0; j < H; j++) {
      const a = 1 / (1 + Math.exp(-g(H + j)));
      sq += (a * g(j)) ** 2;
    }
  }
  return pickSum / B + sq / (B * T * H);
}

describe("dim expressions in a compiled module", () => {
  it("computes what the expressions say, for several B and T", async () => {
    const { mod } = await compileSource(MODEL, { precision: "f64" });
    expect(mod.model.inputs.flat.shape).toEqual(["B*T", 3]);
    const params = mod.init(3) as Record<string, Float64Array>;
    for (const [B, T] of [
      [2, 3],
      [5, 2],
      [1, 7],
    ]) {
      const xs = Float64Array.from({ length: T * B * 3 }, (_, k) => Math.sin(k * 0.37));
      const flat = Float64Array.from({ length: B * T * 3 }, (_, k) => Math.cos(k * 0.21));
      const y = Int32Array.from({ length: B }, (_, k) => (k * 7) % B);
      const { loss } = mod.forward(params, { xs, flat, y });
      expect(Math.abs(loss - reference(params, xs, flat, y, B, T))).toBeLessThan(1e-12);
    }
  });

  it("passes bpc check", async () => {
    const report = await checkFile(MODEL, "dims.bp", { seed: 1, tolerance: 1e-5 });
    expect(report.rows.map((r) => r.tensor).sort()).toEqual(["U", "V", "W", "flat", "xs"]);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-5);
  });

  it("passes bpc check where the dims must be larger than the default size (T-5)", async () => {
    const src = "dim B\ndim T\ninput x: [T, B]\ninput m: [B]\nparam w: [1]\ns = sum(m * w)\nfor t in 0..T-5 {\n  s = s + sum(x[t] * w) * 0.5\n}\nminimize s * s\n";
    const report = await checkFile(src, "t5.bp", { seed: 2, tolerance: 1e-5 });
    expect(report.rows.map((r) => r.tensor)).toEqual(["w", "x", "m"]);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-5);
  });

  it("throws a call-time Error quoting an expression that is not a positive integer", async () => {
    const { mod } = await compileSource("dim T\ninput m: [T]\nparam p: [3]\nz = zeros([T-5, 3]) + p\nminimize sum(z) + sum(m)\n", { precision: "f64" });
    const params = mod.init(1);
    expect(() => mod.forward(params, { m: new Float64Array(2) })).toThrow("dim T-5 = -3 is not a positive integer (T = 2)");
    expect(() => mod.backward(params, { m: new Float64Array(5) })).toThrow("dim T-5 = 0 is not a positive integer (T = 5)");
    // 6 is fine: one row of p.
    expect(mod.forward(params, { m: new Float64Array(6) }).loss).toBeCloseTo(Array.from(params.p).reduce((a, b) => a + b, 0), 12);
  });

  it("checks a loop count and a floor division at call time", async () => {
    const src = "dim T\ninput x: [2, T]\ns = sum(x)\nfor t in 0..T//2 - 1 {\n  s = s + sum(x)\n}\nminimize s\n";
    const { mod } = await compileSource(src, { precision: "f64" });
    const x = (T: number) => new Float64Array(2 * T).fill(1);
    expect(() => mod.forward({}, { x: x(3) })).toThrow("dim T//2-1 = 0 is not a positive integer (T = 3)");
    // T = 6: 2 extra sums of 12 ones.
    expect(mod.forward({}, { x: x(6) }).loss).toBe(36);
  });

  it("reads B off an input of length B*T*D once T is known, and reports a bad length", async () => {
    const { mod } = await compileSource("dim B\ndim T\ninput x: [B*T, 2]\ninput m: [T]\nminimize sum(x) + sum(m)\n", { precision: "f64" });
    expect(mod.forward({}, { x: new Float64Array(12).fill(1), m: new Float64Array(3).fill(1) }).loss).toBe(15);
    expect(() => mod.forward({}, { x: new Float64Array(10), m: new Float64Array(3) })).toThrow(/a positive multiple of T \* 2|a positive multiple of 6/);
  });

  it.each([["f64" as const], ["f32" as const]])("%s: slices with symbolic bounds (H:2*H, -1, 1:) read the right elements", async (precision) => {
    const src = `dim B
dim H
dim T
input x: [B, 4*H]
input m: [H]
input xs: [T, B]
a = x[:, H:2*H]
c = x[:, -1]
d = xs[1:]
e = x[0, 3*H:]
output a, c, d, e
minimize sum(a) + sum(c) + sum(d) + sum(e * m)
`;
    const { mod } = await compileSource(src, { precision });
    const FA = precision === "f32" ? Float32Array : Float64Array;
    const [B, H, T] = [2, 3, 4];
    const x = FA.from({ length: B * 4 * H }, (_, k) => k);
    const xs = FA.from({ length: T * B }, (_, k) => 100 + k);
    const out = mod.forward({}, { x, m: new FA(H).fill(1), xs });
    const row = (b: number, from: number, to: number) => Array.from({ length: to - from }, (_, j) => b * 4 * H + from + j);
    expect(Array.from(out.a as Float64Array)).toEqual([...row(0, H, 2 * H), ...row(1, H, 2 * H)]);
    expect(Array.from(out.c as Float64Array)).toEqual([4 * H - 1, 8 * H - 1]);
    expect(Array.from(out.d as Float64Array)).toEqual(Array.from(xs.slice(B)));
    expect(Array.from(out.e as Float64Array)).toEqual(row(0, 3 * H, 4 * H));
    const { grads } = mod.backward({}, { x, m: new FA(H).fill(1), xs });
    expect(Object.keys(grads)).toEqual([]);
    // T = 1 leaves xs[1:] empty: the call says so.
    expect(() => mod.forward({}, { x, m: new FA(H), xs: new FA(B) })).toThrow("dim T-1 = 0 is not a positive integer (T = 1)");
  });

  it("passes bpc check through symbolic slices", async () => {
    const src = "dim B\ndim H\ninput x: [B, 4*H]\ninput m: [H]\nparam w: [1] ~ normal(0, 1)\na = x[:, H:2*H] * w\nb = tanh(x[:, 3*H:] + m)\nminimize sum(a * b) + sum(square(x[:, -1] * w))\n";
    const report = await checkFile(src, "slices.bp", { seed: 3, tolerance: 1e-5 });
    expect(report.rows.map((r) => r.tensor)).toEqual(["w", "x", "m"]);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-5);
  });

  it("concat joins along a symbolic axis, with gradients (bpc check)", async () => {
    const src = "dim B\ndim H\ninput x: [B, H]\ninput m: [H]\nparam w: [1] ~ normal(0, 1)\nz = concat(x, tanh(x * w + m), axis=1)\nminimize sum(square(z[:, H-1:H+1]))\n";
    const { ir } = (await import("../../src/passes/pipeline.js")).frontEnd(src, "c.bp");
    expect(ir.nodes.find((n) => n.name === "z")!.shape).toEqual(["B", "2*H"]);
    const report = await checkFile(src, "c.bp", { seed: 4, tolerance: 1e-5 });
    expect(report.rows.map((r) => r.tensor)).toEqual(["w", "x", "m"]);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-5);
  });
});
