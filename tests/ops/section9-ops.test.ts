// Section 9's ops beyond the generated op tests: the accuracy of the
// special functions (float64 against CPython's libm, the f32 module's
// formula against float64), stability at large arguments, the compile
// errors of bad arguments, and what the linter says about the new ops.
import { describe, expect, it } from "vitest";
import { OPS } from "../../src/ir/ops.js";
import { erf, erfc, ncdf } from "../../src/ir/special.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { errorOf, compileSource } from "../helpers/compile.js";
import { lint } from "../helpers/lint.js";

/** [x, erf(x), erfc(x)] from CPython 3's math.erf / math.erfc (the platform libm). */
const LIBM: [number, number, number][] = [
  [-6, -1.0, 2.0],
  [-3.3, -0.9999969422902035, 1.9999969422902035],
  [-2, -0.9953222650189527, 1.9953222650189528],
  [-1.5, -0.9661051464753108, 1.9661051464753108],
  [-1.2, -0.9103139782296353, 1.9103139782296354],
  [-0.7, -0.6778011938374184, 1.6778011938374184],
  [-0.3, -0.3286267594591274, 1.3286267594591274],
  [-1e-5, -1.1283791670579e-5, 1.0000112837916706],
  [0, 0.0, 1.0],
  [1e-8, 1.1283791670955126e-8, 0.9999999887162083],
  [0.2, 0.22270258921047847, 0.7772974107895215],
  [0.5, 0.5204998778130465, 0.4795001221869535],
  [0.84, 0.7651427114549946, 0.23485728854500548],
  [1.0, 0.8427007929497149, 0.15729920705028513],
  [1.49, 0.9648978648432042, 0.03510213515679579],
  [1.5, 0.9661051464753108, 0.033894853524689274],
  [1.51, 0.9672767481287117, 0.03272325187128836],
  [2.0, 0.9953222650189527, 0.004677734981047265],
  [2.5, 0.999593047982555, 0.0004069520174449589],
  [3.0, 0.9999779095030014, 2.2090496998585438e-5],
  [4.0, 0.9999999845827421, 1.541725790028002e-8],
  [5.5, 0.9999999999999927, 7.357847917974398e-15],
  [7.0, 1.0, 4.183825607779414e-23],
  [10.0, 1.0, 2.088487583762545e-45],
  [15.0, 1.0, 7.212994172451206e-100],
  [25.0, 1.0, 8.300172571196522e-274],
];

const rel = (got: number, want: number): number => (want === 0 ? Math.abs(got) : Math.abs(got - want) / Math.abs(want));

describe("special functions", () => {
  it("float64 erf and erfc match libm (erf to 2e-15, erfc to 5e-14 relative, tails included)", () => {
    for (const [x, e, c] of LIBM) {
      expect(rel(erf(x), e), `erf(${x})`).toBeLessThan(2e-15);
      expect(rel(erfc(x), c), `erfc(${x})`).toBeLessThan(5e-14);
    }
  });

  it("exact gelu keeps its relative accuracy in the lower tail (x·Φ(x) from erfc, not 1 + erf)", () => {
    // x · erfc(-x/√2) / 2 from CPython.
    const want: [number, number][] = [
      [-10, -7.619853024160593e-23],
      [-5, -1.4332578593959731e-6],
      [-1, -0.15865525393145707],
      [0.5, 0.34573123063700656],
      [3, 2.99595030590511],
    ];
    const gelu = OPS.gelu.f64!({});
    for (const [x, g] of want) expect(rel(gelu(x), g), `gelu(${x})`).toBeLessThan(1e-13);
    expect(ncdf(-40)).toBe(0);
    expect(ncdf(40)).toBe(1);
  });

  it("the f32 module's erf, erfc-based gelu are within float32 accuracy of float64; the f64 module's are float64's to the bit", async () => {
    const xs = Float64Array.from({ length: 801 }, (_, i) => -8 + i * 0.02 + 0.0013);
    const src = `input x: [801]\nparam s: [1] ~ ones\ne = erf(x * s)\ng = gelu(x * s)\noutput e, g\nminimize sum(e)\n`;
    const f32 = (await compileSource(src, { precision: "f32" })).mod;
    const f64 = (await compileSource(src, { precision: "f64" })).mod;
    const o32 = f32.forward({ s: Float32Array.of(1) }, { x: Float32Array.from(xs) });
    const o64 = f64.forward({ s: Float64Array.of(1) }, { x: xs });
    const x32 = Float64Array.from(Float32Array.from(xs));
    const gelu = OPS.gelu.f64!({});
    for (let i = 0; i < xs.length; i++) {
      expect(Math.abs((o32.e as Float32Array)[i] - erf(x32[i])), `f32 erf(${x32[i]})`).toBeLessThan(2.5e-7);
      const g = gelu(x32[i]);
      expect(Math.abs((o32.g as Float32Array)[i] - g), `f32 gelu(${x32[i]})`).toBeLessThan(
        3e-7 * Math.max(Math.abs(g), 1e-30) + 1e-38,
      );
      expect((o64.e as Float64Array)[i]).toBe(erf(xs[i]));
      expect((o64.g as Float64Array)[i]).toBe(gelu(xs[i]));
    }
  });

  it("log_sigmoid and bce_with_logits stay finite and exact at |x| = 1000, gradients too", async () => {
    const src = `input z: [4]\ninput t: [4] in [0, 1]\nl = log_sigmoid(z)\nb = bce_with_logits(z, t)\noutput l, b\nminimize sum(l) + sum(b)\n`;
    const { mod } = await compileSource(src, { precision: "f32", inputGrads: ["z", "t"] });
    const inputs = { z: Float32Array.of(-1000, 1000, -30, 30), t: Float32Array.of(0, 1, 1, 0) };
    const out = mod.forward({}, inputs);
    expect(Array.from(out.l as Float32Array)).toEqual([
      -1000,
      -0,
      Math.fround(-30 - Math.log1p(Math.exp(-30))),
      Math.fround(-Math.log1p(Math.exp(-30))),
    ]);
    // bce: t = 0 at z = -1000 and t = 1 at z = 1000 are right answers (loss ~0); the others are 30-ish.
    const b = Array.from(out.b as Float32Array);
    expect(b[0]).toBe(0);
    expect(b[1]).toBe(0);
    expect(b[2]).toBeCloseTo(30, 5);
    expect(b[3]).toBeCloseTo(30, 5);
    const { grads } = mod.backward({}, inputs);
    // d/dz [log_sigmoid(z) + bce(z, t)] = sigmoid(-z) + sigmoid(z) - t = 1 - t.
    [1, 0, 0, 1].forEach((g, i) => expect(grads.z[i]).toBeCloseTo(g, 7));
    expect(Array.from(grads.t)).toEqual([1000, -1000, 30, -30]);
  });
});


const HEAD = `dim B
dim T = 4
dim C = 5
input x: [B, T, C]
input y: int[B, T] in [0, 5)
input v: [C]
input y5: int[B, 5] in [0, 5)
`;

describe("compile errors for bad arguments", () => {
  const BAD: [string, string, string][] = [
    ["an axis listed twice", "layer_norm(x, axis=[2, -1])", "layer_norm's axis lists axis 2 twice"],
    ["an empty axis list", "sum(x, axis=[])", "sum's axis lists no axis"],
    ["an axis out of range in a list", "var(x, axis=[0, 3])", "axis 3 is out of range for a tensor of shape [B, 4, 5]"],
    ["argmax with two axes", "float(argmax(x, axis=[1, 2]))", "argmax takes one axis, got a list of 2"],
    ["tril on a vector", "tril(v)", "tril and triu need a tensor of rank 2 or more"],
    ["a fractional diagonal", "triu(x, k=0.5)", "the diagonal k must be an integer, got 0.5"],
    ["layer_norm with eps 0", "layer_norm(x, eps=0)", "layer_norm's eps must be positive"],
    [
      "labels of the wrong shape",
      "cross_entropy(x, y5)",
      "cross_entropy's labels must be int[B, 4] to match logits [B, 4, 5]",
    ],
    [
      "float targets of the wrong shape",
      "cross_entropy(x, v[0:4])",
      "cross_entropy's float targets must have the logits' shape [B, 4, 5]",
    ],
    ["pick's indices of the wrong shape", "pick(x, y5)", "pick's indices must be int[B, 4] to match [B, 4, 5]"],
    ["an int argument to gelu", "gelu(y)", "an int tensor [B, 4] is used where a float"],
    ["bce_with_logits of shapes that do not broadcast", "bce_with_logits(x, v[0:4])", "do not broadcast"],
  ];
  it.each(BAD)("%s", (_name, expr, message) => {
    const e = errorOf(`${HEAD}r = ${expr}\nminimize sum(r)\n`);
    expect(e.message).toContain(message);
    expect(e.span.line).toBe(8);
  });

  it("gelu, silu and erf are known names (never 'did you mean relu')", () => {
    for (const f of ["gelu", "gelu_tanh", "silu", "erf", "log1p", "expm1", "log_sigmoid"]) {
      expect(() => frontEnd(`${HEAD}r = ${f}(x)\nminimize sum(r)\n`, "t.bp")).not.toThrow();
    }
  });
});

function lintSource(source: string) {
  return lint(frontEnd(source, "t.bp").ir, source);
}

describe("the linter on section 9's ops", () => {
  const model = (act: string, norm: boolean): string => `dim B
dim D = 64
dim H = 32
input x: [B, D] in [0, 255]
input y: int[B] in [0, 32)
param W: [D, H] ~ normal(0, 1)
z = x @ W
h = ${act}(${norm ? "layer_norm(z)" : "z"})
minimize mean(cross_entropy(h, y))
`;

  it("reports a saturated erf (raw pixels times normal(0, 1) weights)", () => {
    const ds = lintSource(model("erf", false));
    const sat = ds.filter((d) => d.rule === "saturation");
    expect(sat).toHaveLength(1);
    expect(sat[0].span.line).toBe(8);
    expect(sat[0].message).toContain("erf' < 0.042");
    expect(sat[0].params).toEqual(["W"]);
  });

  it.each(["erf", "tanh", "sigmoid", "gelu", "silu"])(
    "does not report %s after layer_norm (mean 0, variance 1)",
    (act) => {
      expect(lintSource(model(act, true))).toEqual([]);
    },
  );

  it("reports a gelu whose pre-activation sits far below its saturation threshold", () => {
    const src = `dim B
dim D = 16
input x: [B, D] in [0, 1]
input y: int[B] in [0, 16)
param W: [D, D] ~ xavier
param b: [D] ~ const(-8)
h = gelu(x @ W + b)
minimize mean(cross_entropy(h, y))
`;
    const sat = lintSource(src).filter((d) => d.rule === "saturation");
    expect(sat).toHaveLength(1);
    expect(sat[0].message).toContain("|gelu'| < 0.01");
  });

  it("gives layer_norm the moments of a normalised value and a bounded interval", () => {
    const ln = OPS.layer_norm;
    const n = frontEnd(`dim B\ninput x: [B, 10]\nr = layer_norm(x)\nminimize sum(r)\n`, "t.bp").ir.nodes.find(
      (k) => k.op === "layer_norm",
    )!;
    const moments = ln.lint.moments as Exclude<typeof ln.lint.moments, { unsupported: string }>;
    expect(moments([{ mean: 1000, var: 1e6 }], n, () => 10)).toEqual({ mean: 0, var: 1e6 / (1e6 + 1e-5) });
    const interval = ln.lint.interval as Exclude<typeof ln.lint.interval, { unsupported: string }>;
    expect(
      interval([{ lo: -1e9, hi: 1e9, loOpen: false, hiOpen: false }], n, (d) =>
        typeof d === "number" ? [d, d] : [1, Infinity],
      ),
    ).toMatchObject({ lo: -3, hi: 3 });
  });
});
