// Elementwise ops of two or three tensors, broadcasting as NumPy does:
// arithmetic, maximum/minimum, comparisons, clip and where.
import { broadcastShapes, showShape } from "../shape.js";
import {
  addI,
  gaussianMap,
  hull,
  iv,
  mulI,
  negI,
  reachesZero,
  REAL,
  squareI,
  type Interval,
  type Moments,
} from "../ranges.js";
import type { DType, Dim, Node } from "../types.js";
import type { ScalarFn } from "../tensor.js";
import { addIntervals, broadcastInfer, fail, nary, NOTHING, sumMoments, type LintRules, type OpDef, type Vjp } from "./define.js";
import type { OpKind } from "./kinds.js";

/** Moments of f(x, c) when the second operand is a constant c; unknown otherwise (the operands' joint law is not tracked). */
function againstConstant(f: (x: number, c: number) => number) {
  return ([p, q]: readonly (Moments | null)[]): Moments | null => (p && q && q.var === 0 ? gaussianMap((z) => f(z, q.mean), p) : null);
}

function maxI(p: Interval, q: Interval): Interval {
  const lo = Math.max(p.lo, q.lo);
  const hi = Math.max(p.hi, q.hi);
  return iv(lo, hi, (p.lo !== lo || p.loOpen) && (q.lo !== lo || q.loOpen), (p.hi !== hi || p.hiOpen) && (q.hi !== hi || q.hiOpen));
}

function binary(
  f64: (x: number, y: number) => number,
  emit: (x: string, y: string) => string,
  vjp: Vjp,
  saves: OpDef["saves"] & object,
  lint: LintRules,
  { domain, ...extra }: Partial<OpDef> & { domain?: readonly [number, number][] } = {},
): OpDef {
  return {
    ...nary({ arity: 2, f64: () => f64 as ScalarFn, emit: ([x, y]) => emit(x, y), vjp, saves, lint, domain }),
    ...extra,
  };
}

/**
 * Comparisons give 0 or 1 and have zero gradient everywhere. Written `+(x > y)`
 * rather than `x > y ? 1 : 0`: V8 turns the boolean into a number without a
 * branch, which is 2.5x faster on a relu mask that is half ones at random.
 */
function comparison(js: string, f64: (x: number, y: number) => number): OpDef {
  return binary(
    f64,
    (x, y) => `+(${x} ${js} ${y})`,
    () => [null, null],
    NOTHING,
    { interval: () => iv(0, 1), moments: againstConstant(f64), gain: { kind: "zero" } },
    {
      zeroGrad: "everywhere",
      // Ints compare too (`argmax(logits, axis=1) == y` for accuracy); the result is a float 0 or 1.
      infer: (inputs) => {
        const shape = broadcastShapes(inputs.map((n) => n.shape));
        if (!shape) fail(`shapes ${inputs.map((n) => showShape(n.shape)).join(" and ")} do not broadcast`);
        return { shape, dtype: "float" };
      },
    },
  );
}

/** Whether a float operand may join int arithmetic: an integer constant, a dim's size, or + - * of them (`T - 1`). */
export function integral(n: Node): boolean {
  if (n.op === "numel") return true;
  if (n.op === "const") return Number.isInteger(n.attrs.value);
  return (n.op === "add" || n.op === "sub" || n.op === "mul") && n.dtype === "float" && n.inputs.every(integral);
}

/**
 * `+ - *` on floats, or on ints (with integer constants and dims) giving an
 * int: `t + 1`, `t * S`, `T - 1 - t`. An int with a float tensor is an error.
 */
export function intArithInfer(inputs: readonly Node[]): { shape: Dim[]; dtype: DType } {
  if (inputs.every((n) => n.dtype === "float")) return broadcastInfer(inputs);
  const bad = inputs.find((n) => n.dtype === "float" && !integral(n));
  if (bad) fail(`cannot combine an int tensor with a float ${showShape(bad.shape)}; convert the int with float(i)`);
  const shape = broadcastShapes(inputs.map((n) => n.shape));
  if (!shape) fail(`shapes ${inputs.map((n) => showShape(n.shape)).join(" and ")} do not broadcast`);
  return { shape, dtype: "int" };
}

export const BINARY = {
  add: binary(
    (x, y) => x + y,
    (x, y) => `${x} + ${y}`,
    (_b, _n, ct) => [ct, ct],
    NOTHING,
    { interval: addIntervals, moments: sumMoments(1), gain: { kind: "sum" } },
    { infer: intArithInfer },
  ),
  sub: binary(
    (x, y) => x - y,
    (x, y) => `${x} - ${y}`,
    (b, _n, ct, needs) => [ct, needs[1] ? b.op("neg", [ct]) : null],
    NOTHING,
    { interval: (x) => addI(x[0], negI(x[1])), moments: sumMoments(-1), gain: { kind: "sum" } },
    { infer: intArithInfer },
  ),
  mul: binary(
    (x, y) => x * y,
    (x, y) => `${x} * ${y}`,
    (b, n, ct, needs) => [needs[0] ? b.op("mul", [ct, n.inputs[1]]) : null, needs[1] ? b.op("mul", [ct, n.inputs[0]]) : null],
    { inputs: [0, 1], output: false },
    {
      interval: (x, n) => (n.inputs[0] === n.inputs[1] ? squareI(x[0]) : mulI(x[0], x[1])),
      moments: ([p, q], n) => {
        if (!p || !q) return null;
        if (n.inputs[0] === n.inputs[1]) return gaussianMap((z) => z * z, p);
        return { mean: p.mean * q.mean, var: p.var * q.var + p.var * q.mean ** 2 + q.var * p.mean ** 2 };
      },
      gain: { kind: "product" },
      roles: ["mask", "mask"],
    },
    { infer: intArithInfer },
  ),
  div: binary(
    (x, y) => x / y,
    (x, y) => `${x} / ${y}`,
    (b, n, ct, needs) => {
      const [, y] = n.inputs;
      const dx = b.op("div", [ct, y]);
      // d(x/y)/dy = -x/y^2 = -(1/y) * (x/y): reuse dx and the output.
      return [needs[0] ? dx : null, needs[1] ? b.op("neg", [b.op("mul", [dx, n])]) : null];
    },
    { inputs: [1], output: true },
    {
      interval: ([p, d]) => {
        if (reachesZero(d) || (d.lo < 0 && d.hi > 0)) return REAL;
        return mulI(p, iv(1 / d.hi, 1 / d.lo, d.hiOpen, d.loOpen));
      },
      moments: ([p, q]) => (p && q && q.var === 0 && q.mean !== 0 ? { mean: p.mean / q.mean, var: p.var / q.mean ** 2 } : null),
      gain: { kind: "quotient" },
      roles: ["mask", "mask"],
    },
    { domain: [[-2, 2], [0.5, 2]] },
  ),
  pow: binary(
    Math.pow,
    (x, y) => `Math.pow(${x}, ${y})`,
    // At a zero base the gradients are 0, not NaN, as in JAX and PyTorch:
    // d/dx is 0 where y = 0 (not 0 * 0^-1), d/dy is 0 where x = 0 (not 0 * log 0).
    (b, n, ct, needs) => {
      const [x, y] = n.inputs;
      const zero = b.const(0);
      const dx = (): Node => {
        const slope = b.op("mul", [y, b.op("pow", [x, b.op("sub", [y, b.const(1)])])]);
        const constant = y.op === "const" ? (y.attrs.value as number) : null;
        return constant !== null && constant !== 0 ? slope : b.op("where", [b.op("eq", [y, zero]), zero, slope]);
      };
      const dy = (): Node => b.op("mul", [n, b.op("log", [b.op("where", [b.op("eq", [x, zero]), b.const(1), x])])]);
      return [needs[0] ? b.op("mul", [ct, dx()]) : null, needs[1] ? b.op("mul", [ct, dy()]) : null];
    },
    { inputs: [0, 1], output: true },
    {
      interval: ([b]) => (b.lo > 0 ? iv(0, Infinity, true) : REAL),
      moments: againstConstant(Math.pow),
      gain: { unsupported: "x ^ y's slope depends on both operands without a bound" },
    },
    { domain: [[0.5, 2], [0.5, 2]] },
  ),
  maximum: binary(
    (x, y) => (x >= y ? x : y),
    (x, y) => `(${x} >= ${y} ? ${x} : ${y})`,
    (b, n, ct, needs) => [
      needs[0] ? b.op("mul", [ct, b.op("ge", [n.inputs[0], n.inputs[1]])]) : null,
      needs[1] ? b.op("mul", [ct, b.op("lt", [n.inputs[0], n.inputs[1]])]) : null,
    ],
    { inputs: [0, 1], output: false },
    { interval: ([p, q]) => maxI(p, q), moments: againstConstant((x, c) => (x >= c ? x : c)), gain: { kind: "max" } },
    { zeroGrad: "outside" },
  ),
  minimum: binary(
    (x, y) => (x <= y ? x : y),
    (x, y) => `(${x} <= ${y} ? ${x} : ${y})`,
    (b, n, ct, needs) => [
      needs[0] ? b.op("mul", [ct, b.op("le", [n.inputs[0], n.inputs[1]])]) : null,
      needs[1] ? b.op("mul", [ct, b.op("gt", [n.inputs[0], n.inputs[1]])]) : null,
    ],
    { inputs: [0, 1], output: false },
    { interval: ([p, q]) => negI(maxI(negI(p), negI(q))), moments: againstConstant((x, c) => (x <= c ? x : c)), gain: { kind: "max" } },
    { zeroGrad: "outside" },
  ),
  lt: comparison("<", (x, y) => +(x < y)),
  le: comparison("<=", (x, y) => +(x <= y)),
  gt: comparison(">", (x, y) => +(x > y)),
  ge: comparison(">=", (x, y) => +(x >= y)),
  eq: comparison("===", (x, y) => +(x === y)),
  ne: comparison("!==", (x, y) => +(x !== y)),
  clip: nary({
    arity: 3,
    f64: () => (x, lo, hi) => (x < lo ? lo : x > hi ? hi : x),
    emit: ([x, lo, hi]) => `(${x} < ${lo} ? ${lo} : ${x} > ${hi} ? ${hi} : ${x})`,
    // Gradient passes where lo <= x <= hi (the spec's convention).
    vjp: (b, n, ct, needs) => {
      const [x, lo, hi] = n.inputs;
      return [
        needs[0] ? b.op("mul", [ct, b.op("mul", [b.op("ge", [x, lo]), b.op("le", [x, hi])])]) : null,
        needs[1] ? b.op("mul", [ct, b.op("lt", [x, lo])]) : null,
        needs[2] ? b.op("mul", [ct, b.op("gt", [x, hi])]) : null,
      ];
    },
    saves: { inputs: [0, 1, 2], output: false },
    zeroGrad: "outside",
    flops: 2,
    // Bounds in order (lo < hi), with x on both sides of each.
    domain: [
      [-2, 2],
      [-1.5, -0.5],
      [0.5, 1.5],
    ],
    lint: {
      interval: ([p, lo, hi]) => iv(Math.max(p.lo, lo.lo), Math.min(p.hi, hi.hi)),
      moments: ([p, lo, hi]) =>
        p && lo && hi && lo.var === 0 && hi.var === 0 ? gaussianMap((z) => (z < lo.mean ? lo.mean : z > hi.mean ? hi.mean : z), p) : null,
      gain: { kind: "slope", slope: () => 1, activation: true },
    },
  }),
  where: nary({
    arity: 3,
    f64: () => (c, x, y) => (c !== 0 ? x : y),
    emit: ([c, x, y]) => `(${c} !== 0 ? ${x} : ${y})`,
    vjp: (b, n, ct, needs) => {
      const [c] = n.inputs;
      const zero = b.const(0);
      return [null, needs[1] ? b.op("where", [c, ct, zero]) : null, needs[2] ? b.op("where", [c, zero, ct]) : null];
    },
    saves: { inputs: [0], output: false },
    lint: {
      interval: ([, x, y]) => hull(x, y),
      // A mixture whose weights depend on the condition: not tracked.
      moments: () => null,
      gain: { kind: "max" },
      roles: ["select", "layout", "layout"],
    },
  }),
  // section 9: ops
  /** Binary cross-entropy on logits x with targets t, unreduced: max(x, 0) - x t + log1p(e^{-|x|}) (PyTorch's). */
  bce_with_logits: nary({
    arity: 2,
    f64: () => (x, t) => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x))),
    emit: ([x, t]) => `(${x} > 0 ? ${x} : 0) - ${x} * ${t} + Math.log1p(Math.exp(-Math.abs(${x})))`,
    // d/dx = sigmoid(x) - t, d/dt = -x.
    vjp: (b, n, ct, needs) => {
      const [x, t] = n.inputs;
      return [
        needs[0] ? b.op("mul", [ct, b.op("sub", [b.op("sigmoid", [x]), t])]) : null,
        needs[1] ? b.op("neg", [b.op("mul", [ct, x])]) : null,
      ];
    },
    saves: { inputs: [0, 1], output: false },
    flops: 7, // compare, multiply, subtract, abs, exp, log1p, add
    lint: {
      // softplus(x) - x t >= 0 when 0 <= t <= 1.
      interval: ([, t]) => iv(t.lo >= 0 && t.hi <= 1 ? 0 : -Infinity, Infinity),
      moments: () => null,
      gain: { unsupported: "bce_with_logits's slope toward its targets is its logits, unbounded" },
    },
    domain: [[-2, 2], [0, 1]],
  }),
  // section 9: index (int arithmetic)
  /**
   * Floor division of ints (`i // 2`), NumPy's: rounds toward minus
   * infinity; a zero divisor gives 0, as the generated Int32Array stores it.
   */
  floordiv: {
    ...nary({
      arity: 2,
      f64: () => (x, y) => Math.floor(x / y) | 0,
      emit: ([x, y]) => `Math.floor(${x} / ${y}) | 0`,
      vjp: () => [null, null],
      saves: NOTHING,
      zeroGrad: "everywhere",
      infer: (inputs) => {
        const t = intArithInfer(inputs);
        if (t.dtype !== "int") fail("'//' (floor division) is for ints and dim expressions; for floats write floor(a / b)");
        return t;
      },
      lint: {
        interval: ([p, q]) => (q.lo >= 1 && p.lo >= 0 ? iv(Math.floor(p.lo / q.hi), Math.floor(p.hi / q.lo)) : REAL),
        moments: () => null,
        gain: { kind: "zero" },
        roles: ["select", "select"],
      },
    }),
    example: { inputs: [[["B", 4], "int"], [[4], "int"]] },
  },
} satisfies Partial<Record<OpKind, OpDef>>;
