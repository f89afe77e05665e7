// Elementwise functions of one tensor: math, activations, piecewise-constant
// ops and gradient control. Each entry: the float64 formula, the JS kernel
// formula (the same function; a generated test holds them together), the
// gradient rule and what it saves, the flops per element and the linter's
// interval, gain and activation facts (moments come from the formula).
import { absI, iv, negI, point, squareI, supAbs, type Interval } from "../ranges.js";
import { erf, ncdf } from "../special.js";
import { mapElements } from "../tensor.js";
import type { Node } from "../types.js";
import { increasing, INPUT0, lit, NOTHING, num, OUTPUT, unary, type IRBuilder, type OpDef } from "./define.js";
import type { OpKind } from "./kinds.js";

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const near = (x: number, k: number): boolean => Math.abs(x - k) < 1e-3;
const slope = (s: number, activation = false) => ({ kind: "slope" as const, slope: () => s, activation });
const first = (x: readonly Interval[]): Interval => x[0];

/** A piecewise-constant op: zero gradient everywhere; the derivative's jumps are where the value jumps. */
function constantPieces(f64: (x: number) => number, emit: (x: string) => string, interval: (x: Interval) => Interval, nearKink: (x: number) => boolean): OpDef {
  return unary({
    f64,
    emit,
    vjp: () => [null],
    saves: NOTHING,
    zeroGrad: "everywhere",
    interval: (x) => interval(x[0]),
    gain: { kind: "zero" },
    nearKink,
  });
}

const roundHalfEven = (x: number): number => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x));
const integerHull = (p: Interval): Interval => iv(Math.floor(p.lo), Math.ceil(p.hi));

export const UNARY = {
  neg: unary({
    f64: (x) => -x,
    emit: (x) => `-${x}`,
    vjp: (b, _n, ct) => [b.op("neg", [ct])],
    saves: NOTHING,
    interval: (x) => negI(x[0]),
    gain: slope(1),
    roles: ["negate"],
    moments: ([p]) => (p ? { mean: -p.mean, var: p.var } : null),
  }),
  exp: unary({
    f64: Math.exp,
    emit: (x) => `Math.exp(${x})`,
    vjp: (b, n, ct) => [b.op("mul", [ct, n])],
    saves: OUTPUT,
    interval: increasing(Math.exp),
    gain: { kind: "slope", slope: (x) => Math.exp(x.hi) },
  }),
  log: unary({
    f64: Math.log,
    emit: (x) => `Math.log(${x})`,
    vjp: (b, n, ct) => [b.op("div", [ct, n.inputs[0]])],
    saves: INPUT0,
    interval: ([p]) => iv(Math.log(Math.max(p.lo, 0)), Math.log(p.hi), p.lo > 0 && p.loOpen, p.hiOpen),
    gain: { kind: "slope", slope: (x) => (x.lo > 0 ? 1 / x.lo : Infinity) },
    domain: [[0.5, 2]],
  }),
  sqrt: unary({
    f64: Math.sqrt,
    emit: (x) => `Math.sqrt(${x})`,
    vjp: (b, n, ct) => [b.op("div", [ct, b.op("mul", [b.const(2), n])])],
    saves: OUTPUT,
    interval: ([p]) => iv(Math.sqrt(Math.max(p.lo, 0)), Math.sqrt(Math.max(p.hi, 0)), p.lo >= 0 && p.loOpen, p.hiOpen),
    gain: { kind: "slope", slope: (x) => (x.lo > 0 ? 0.5 / Math.sqrt(x.lo) : Infinity) },
    domain: [[0.5, 2]],
  }),
  abs: unary({
    f64: Math.abs,
    emit: (x) => `Math.abs(${x})`,
    vjp: (b, n, ct) => [b.op("mul", [ct, b.op("sign", [n.inputs[0]])])],
    saves: INPUT0,
    interval: (x) => absI(x[0]),
    gain: slope(1),
    nearKink: (x) => near(x, 0),
  }),
  square: unary({
    f64: (x) => x * x,
    emit: (x) => `${x} * ${x}`,
    vjp: (b, n, ct) => [b.op("mul", [ct, b.op("mul", [b.const(2), n.inputs[0]])])],
    saves: INPUT0,
    interval: (x) => squareI(x[0]),
    gain: { kind: "slope", slope: (x) => 2 * supAbs(x) },
  }),
  sigmoid: unary({
    f64: sigmoid,
    emit: (x) => `1 / (1 + Math.exp(-${x}))`,
    vjp: (b, n, ct) => [b.op("mul", [ct, b.op("mul", [n, b.op("sub", [b.const(1), n])])])],
    saves: OUTPUT,
    flops: 4, // negate, exp, add, divide
    interval: increasing(sigmoid),
    gain: slope(0.25, true),
    activation: { kind: "saturating", beyond: 4.6, twoSided: true, slope: "sigmoid' < 0.01" },
  }),
  tanh: unary({
    f64: Math.tanh,
    emit: (x) => `Math.tanh(${x})`,
    vjp: (b, n, ct) => [b.op("mul", [ct, b.op("sub", [b.const(1), b.op("square", [n])])])],
    saves: OUTPUT,
    interval: increasing(Math.tanh),
    gain: slope(1, true),
    activation: { kind: "saturating", beyond: 2.65, twoSided: true, slope: "1 - tanh² < 0.02" },
  }),
  relu: unary({
    f64: (x) => (x > 0 ? x : 0),
    emit: (x) => `(${x} > 0 ? ${x} : 0)`,
    // relu(x) > 0 exactly where x > 0, so the mask reads the output (as PyTorch does): the
    // forward then stores only the activation, not the pre-activation as well.
    vjp: (b, n, ct) => [b.op("mul", [ct, b.op("gt", [n, b.const(0)])])],
    saves: OUTPUT,
    zeroGrad: "outside",
    interval: ([p]) => (p.hi <= 0 ? point(0) : iv(Math.max(p.lo, 0), p.hi, p.lo >= 0 && p.loOpen, p.hiOpen)),
    gain: slope(1, true),
    activation: { kind: "relu" },
    nearKink: (x) => near(x, 0),
    // The ternary is a branch, mispredicted on about half the units of a
    // layer whose pre-activations have random signs; relu32 is bit operations.
    extra: { scalarF32: { helper: "relu32", code: ([x]) => `relu32(${x})` } },
  }),
  softplus: unary({
    // log(1 + e^x) without overflow for large x.
    f64: softplus,
    emit: (x) => `(${x} > 0 ? ${x} + Math.log1p(Math.exp(-${x})) : Math.log1p(Math.exp(${x})))`,
    vjp: (b, n, ct) => [b.op("mul", [ct, b.op("sigmoid", [n.inputs[0]])])],
    saves: INPUT0,
    flops: 4, // compare, exp, log1p, add
    interval: increasing(softplus),
    gain: slope(1, true),
    activation: { kind: "saturating", beyond: 4.6, twoSided: false, slope: "softplus' < 0.01" },
  }),
  softsign: unary({
    f64: (x) => x / (1 + Math.abs(x)),
    emit: (x) => `${x} / (1 + Math.abs(${x}))`,
    // softsign'(x) = 1 / (1 + |x|)²: largest at 0, and below 0.01 beyond |x| = 9.
    vjp: (b, n, ct) => [b.op("div", [ct, b.op("square", [b.op("add", [b.const(1), b.op("abs", [n.inputs[0]])])])])],
    saves: INPUT0,
    flops: 3, // abs, add, divide
    interval: increasing((x) => x / (1 + Math.abs(x))),
    gain: slope(1, true),
    activation: { kind: "saturating", beyond: 9, twoSided: true, slope: "softsign' < 0.01" },
  }),
  sin: unary({
    f64: Math.sin,
    emit: (x) => `Math.sin(${x})`,
    vjp: (b, n, ct) => [b.op("mul", [ct, b.op("cos", [n.inputs[0]])])],
    saves: INPUT0,
    interval: () => iv(-1, 1),
    gain: slope(1, true),
  }),
  cos: unary({
    f64: Math.cos,
    emit: (x) => `Math.cos(${x})`,
    vjp: (b, n, ct) => [b.op("neg", [b.op("mul", [ct, b.op("sin", [n.inputs[0]])])])],
    saves: INPUT0,
    interval: () => iv(-1, 1),
    gain: slope(1, true),
  }),
  leaky_relu: unary({
    f64: (x, a) => (x > 0 ? x : num(a, "a") * x),
    emit: (x, a) => `(${x} > 0 ? ${x} : ${lit(num(a, "a"))} * ${x})`,
    vjp: (b, n, ct) => [b.op("where", [b.op("gt", [n.inputs[0], b.const(0)]), ct, b.op("mul", [ct, b.const(num(n.attrs, "a"))])])],
    saves: INPUT0,
    flops: 2, // compare, multiply
    interval: increasing((x, a) => (x > 0 ? x : num(a, "a") * x)),
    gain: { kind: "slope", slope: (_x, a) => Math.max(1, Math.abs(num(a, "a"))) },
    // Relu-like for the probes (a unit off for every example); the static dead-relu rule matches relu itself.
    activation: { kind: "relu" },
    nearKink: (x) => near(x, 0),
    attrs: { a: 0.1 },
  }),
  elu: unary({
    f64: (x, a) => (x > 0 ? x : num(a, "a") * (Math.exp(x) - 1)),
    emit: (x, a) => `(${x} > 0 ? ${x} : ${lit(num(a, "a"))} * (Math.exp(${x}) - 1))`,
    // For x <= 0, d/dx a(e^x - 1) = a e^x = y + a.
    vjp: (b, n, ct) => [
      b.op("where", [b.op("gt", [n.inputs[0], b.const(0)]), ct, b.op("mul", [ct, b.op("add", [n, b.const(num(n.attrs, "a"))])])]),
    ],
    saves: { inputs: [0], output: true },
    flops: 4, // compare, exp, subtract, multiply
    interval: increasing((x, a) => (x > 0 ? x : num(a, "a") * (Math.exp(x) - 1))),
    gain: { kind: "slope", slope: (_x, a) => Math.max(1, Math.abs(num(a, "a"))) },
    activation: { kind: "relu" },
    nearKink: (x) => near(x, 0),
    attrs: { a: 1 },
  }),
  huber: unary({
    f64: (x, a) => huber(x, num(a, "delta")),
    emit: (x, a) =>
      `(Math.abs(${x}) <= ${lit(num(a, "delta"))} ? 0.5 * ${x} * ${x} : ${lit(num(a, "delta"))} * (Math.abs(${x}) - ${lit(0.5 * num(a, "delta"))}))`,
    // huber' is the residual clipped to [-delta, delta]: never zero outside a range.
    vjp: (b, n, ct) => {
      const d = num(n.attrs, "delta");
      return [b.op("mul", [ct, b.op("clip", [n.inputs[0], b.const(-d), b.const(d)])])];
    },
    saves: INPUT0,
    flops: 4, // abs, compare, multiply, multiply
    interval: (x, n) => {
      const m = absI(x[0]);
      const d = num(n.attrs, "delta");
      return iv(huber(m.lo, d), huber(m.hi, d), m.loOpen, m.hiOpen);
    },
    gain: { kind: "slope", slope: (_x, a) => num(a, "delta") },
    attrs: { delta: 1 },
  }),
  sign: constantPieces(Math.sign, (x) => `Math.sign(${x})`, () => iv(-1, 1), (x) => near(x, 0)),
  // Round half to even, as NumPy and JAX do.
  round: constantPieces(
    roundHalfEven,
    (x) => `(Math.abs(${x} % 1) === 0.5 ? 2 * Math.round(${x} / 2) : Math.round(${x}))`,
    integerHull,
    (x) => near(Math.abs(x % 1), 0.5),
  ),
  floor: constantPieces(Math.floor, (x) => `Math.floor(${x})`, integerHull, (x) => near(x, Math.round(x))),
  ceil: constantPieces(Math.ceil, (x) => `Math.ceil(${x})`, integerHull, (x) => near(x, Math.round(x))),

  // Gradient control: identity forward.
  stop_gradient: unary({
    f64: (x) => x,
    emit: (x) => x,
    vjp: () => [null],
    saves: NOTHING,
    flops: 0,
    interval: first,
    gain: { kind: "zero" },
    roles: ["identity"],
    moments: ([p]) => p,
    extra: { codegen: { view: "identity" } },
  }),
  clip_grad: unary({
    f64: (x) => x,
    emit: (x) => x,
    vjp: (b, n, ct) => [b.op("clip", [ct, b.const(num(n.attrs, "lo")), b.const(num(n.attrs, "hi"))])],
    saves: NOTHING,
    flops: 0,
    interval: first,
    gain: slope(1),
    roles: ["identity"],
    moments: ([p]) => p,
    attrs: { lo: -1, hi: 1 },
    extra: { codegen: { view: "identity" } },
  }),

  // ---- section 9: ops ----
  // gelu, gelu_tanh and silu dip to a minimum below 0 and approach 0 from
  // below: their saturated side is the negative one (slope below 0.01 in
  // magnitude beyond the thresholds, computed from the derivatives). They
  // are not relu-like: a negative pre-activation still has a gradient.
  gelu: unary({
    f64: (x) => x * ncdf(x),
    emit: (x) => `${x} * ncdf(${x})`,
    // gelu'(x) = Φ(x) + x φ(x), with Φ(x) = (1 + erf(x / √2)) / 2.
    vjp: (b, n, ct) => {
      const x = n.inputs[0];
      const cdf = b.op("mul", [b.const(0.5), b.op("add", [b.const(1), b.op("erf", [b.op("mul", [x, b.const(Math.SQRT1_2)])])])]);
      return [b.op("mul", [ct, b.op("add", [cdf, b.op("mul", [x, gaussian(b, x, 0.5, 1 / Math.sqrt(2 * Math.PI))])])])];
    },
    saves: INPUT0,
    flops: 4, // erfc, negate, multiply, multiply
    interval: valley((x) => x * ncdf(x), -0.7518, -0.16998),
    gain: slope(1.129, true),
    activation: { kind: "saturating", beyond: 3.07, twoSided: false, slope: "|gelu'| < 0.01" },
    extra: { calls: ["ncdf"] },
  }),
  gelu_tanh: unary({
    f64: geluTanh,
    emit: (x) => `0.5 * ${x} * (1 + Math.tanh(${lit(GELU_C)} * (${x} + 0.044715 * ${x} * ${x} * ${x})))`,
    // With t = tanh(c (x + 0.044715 x³)): (1 + t) / 2 + x (1 - t²) c (1 + 3 · 0.044715 x²) / 2.
    vjp: (b, n, ct) => {
      const x = n.inputs[0];
      const x2 = b.op("square", [x]);
      const u = b.op("mul", [b.const(GELU_C), b.op("add", [x, b.op("mul", [b.const(0.044715), b.op("mul", [x2, x])])])]);
      const t = b.op("tanh", [u]);
      const du = b.op("mul", [b.const(GELU_C), b.op("add", [b.const(1), b.op("mul", [b.const(3 * 0.044715), x2])])]);
      const left = b.op("mul", [b.const(0.5), b.op("add", [b.const(1), t])]);
      const right = b.op("mul", [b.op("mul", [b.const(0.5), x]), b.op("mul", [b.op("sub", [b.const(1), b.op("square", [t])]), du])]);
      return [b.op("mul", [ct, b.op("add", [left, right])])];
    },
    saves: INPUT0,
    flops: 9, // cube (2), multiply-add (2), scale, tanh, add, 2 multiplies
    interval: valley(geluTanh, -0.7525, -0.17005),
    gain: slope(1.129, true),
    activation: { kind: "saturating", beyond: 3.06, twoSided: false, slope: "|gelu_tanh'| < 0.01" },
  }),
  silu: unary({
    f64: (x) => x / (1 + Math.exp(-x)),
    emit: (x) => `${x} / (1 + Math.exp(-${x}))`,
    // silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x).
    vjp: (b, n, ct) => {
      const x = n.inputs[0];
      const s = b.op("sigmoid", [x]);
      return [b.op("mul", [ct, b.op("mul", [s, b.op("add", [b.const(1), b.op("mul", [x, b.op("sub", [b.const(1), s])])])])])];
    },
    saves: INPUT0,
    flops: 4, // negate, exp, add, divide
    interval: valley((x) => x / (1 + Math.exp(-x)), -1.2785, -0.27847),
    gain: slope(1.1, true),
    activation: { kind: "saturating", beyond: 6.27, twoSided: false, slope: "|silu'| < 0.01" },
  }),
  erf: unary({
    f64: erf,
    emit: (x) => `erf(${x})`,
    // erf'(x) = 2/√π e^{-x²}.
    vjp: (b, n, ct) => [b.op("mul", [ct, gaussian(b, n.inputs[0], 1, 2 / Math.sqrt(Math.PI))])],
    saves: INPUT0,
    flops: 4, // erf counts as one call, as exp does
    interval: increasing(erf),
    gain: slope(2 / Math.sqrt(Math.PI), true),
    // erf(1.82) = 0.99, where erf' = 0.041 (its largest, at 0, is 1.13).
    activation: { kind: "saturating", beyond: 1.82, twoSided: true, slope: "erf' < 0.042" },
    extra: { calls: ["erf"] },
  }),
  log1p: unary({
    f64: Math.log1p,
    emit: (x) => `Math.log1p(${x})`,
    vjp: (b, n, ct) => [b.op("div", [ct, b.op("add", [b.const(1), n.inputs[0]])])],
    saves: INPUT0,
    interval: ([p]) => iv(Math.log1p(Math.max(p.lo, -1)), Math.log1p(p.hi), p.lo > -1 && p.loOpen, p.hiOpen),
    gain: { kind: "slope", slope: (x) => (x.lo > -1 ? 1 / (1 + x.lo) : Infinity) },
    domain: [[-0.5, 2]],
  }),
  expm1: unary({
    f64: Math.expm1,
    emit: (x) => `Math.expm1(${x})`,
    // expm1'(x) = e^x = expm1(x) + 1.
    vjp: (b, n, ct) => [b.op("mul", [ct, b.op("add", [n, b.const(1)])])],
    saves: OUTPUT,
    interval: increasing(Math.expm1),
    gain: { kind: "slope", slope: (x) => Math.exp(x.hi) },
  }),
  log_sigmoid: unary({
    // -softplus(-x), without overflow or log(0) at either end.
    f64: logSigmoid,
    emit: (x) => `(${x} < 0 ? ${x} - Math.log1p(Math.exp(${x})) : -Math.log1p(Math.exp(-${x})))`,
    // log_sigmoid'(x) = sigmoid(-x), in (0, 1).
    vjp: (b, n, ct) => [b.op("mul", [ct, b.op("sigmoid", [b.op("neg", [n.inputs[0]])])])],
    saves: INPUT0,
    flops: 4, // compare, exp, log1p, subtract
    interval: increasing(logSigmoid),
    gain: slope(1),
    // No activation fact: it flattens out for large positive inputs, a side the saturation facts cannot express.
  }),
  /** float(i): an int tensor as float (a float one unchanged). */
  to_float: unary({
    f64: (x) => x,
    emit: (x) => x,
    vjp: (_b, _n, ct, needs) => [needs[0] ? ct : null],
    saves: NOTHING,
    flops: 0,
    interval: first,
    gain: slope(1),
    moments: ([p]) => p,
    extra: {
      infer: (inputs) => ({ shape: [...inputs[0].shape], dtype: "float" }),
      eval: ([x]) => mapElements((v) => v, [x]),
      example: { inputs: [[["B", 4], "int"]] },
    },
  }),
} satisfies Partial<Record<OpKind, OpDef>>;

const GELU_C = Math.sqrt(2 / Math.PI);

function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
}

function logSigmoid(x: number): number {
  return x < 0 ? x - Math.log1p(Math.exp(x)) : -Math.log1p(Math.exp(-x));
}

/** k · exp(-a x²) as IR (the derivatives of erf and gelu). */
function gaussian(b: IRBuilder, x: Node, a: number, k: number): Node {
  return b.op("mul", [b.const(k), b.op("exp", [b.op("mul", [b.const(-a), b.op("square", [x])])])]);
}

/**
 * Interval of a function decreasing to its minimum `fmin` at `xmin`, then
 * increasing, with f(-∞) = 0 and f(∞) = ∞ (gelu, silu). `fmin` is rounded
 * down, so the interval holds the true range.
 */
function valley(f: (x: number) => number, xmin: number, fmin: number) {
  const at = (x: number): number => (x === -Infinity ? 0 : x === Infinity ? Infinity : f(x));
  return ([p]: readonly Interval[]): Interval => {
    if (p.hi <= xmin) return iv(Math.min(at(p.hi), at(p.lo)), Math.max(at(p.hi), at(p.lo)));
    if (p.lo >= xmin) return iv(at(p.lo), at(p.hi), p.loOpen, p.hiOpen);
    return iv(fmin, Math.max(at(p.lo), at(p.hi)));
  };
}

function huber(x: number, d: number): number {
  return Math.abs(x) <= d ? 0.5 * x * x : d * (Math.abs(x) - 0.5 * d);
}

