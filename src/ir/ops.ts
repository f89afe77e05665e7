// The op table: one entry per IR op, holding everything the compiler knows
// about it in one place: arity, shape and dtype rule, the scalar formula of
// elementwise ops (used by codegen), the gradient rule (VJP) with the forward
// values it reads, and the facts the linter reads (`zeroGrad`). The table is
// typed `Record<OpKind, OpDef>`, so an op without an entry does not compile.
import {
  broadcastShapes,
  normAxis,
  reducedShape,
  sameShape,
  sameSize,
  showShape,
} from "./shape.js";
import type { Attrs, DType, Dim, Node } from "./types.js";

/** Raised by shape rules; the builder turns it into a positioned BpcError. */
export class OpError extends Error {}

function fail(msg: string): never {
  throw new OpError(msg);
}

/** What a gradient rule may build: IR nodes, never strings. */
export interface IRBuilder {
  op(kind: OpKind, inputs: readonly Node[], attrs?: Attrs): Node;
  const(value: number): Node;
}

/**
 * A gradient rule: given the cotangent of the node's output, returns one
 * cotangent per input, or null for a symbolic zero (never materialised).
 * Cotangents of elementwise inputs may have the broadcast output shape; the
 * autodiff driver sums them back to each input's shape. `needs[i]` says
 * whether input i wants a gradient at all.
 */
export type Vjp = (b: IRBuilder, node: Node, ct: Node, needs: readonly boolean[]) => (Node | null)[];

export type OpClass =
  | "source"
  | "elementwise"
  | "reduce"
  | "linalg"
  | "layout"
  | "nn"
  | "control"
  | "loop";

export interface OpDef {
  class: OpClass;
  /** Number of inputs. */
  arity: number;
  /** Shape and dtype of the output; throws OpError on bad inputs. */
  infer(inputs: readonly Node[], attrs: Attrs): { shape: Dim[]; dtype: DType };
  /** Elementwise ops: the JS expression of one element, over plain identifiers. */
  scalar?(args: readonly string[], attrs: Attrs): string;
  /**
   * Optionally, a faster formula for float32 modules that calls a runtime
   * helper of the generated module; its result rounded to float32 must equal
   * `scalar`'s (tests/relu32.test.ts holds relu to this).
   */
  scalarF32?: { helper: "relu32"; code(args: readonly string[]): string };
  vjp?: Vjp;
  /** Forward values the VJP reads: input positions, and whether it reads the output. */
  saves?: { inputs: readonly number[]; output: boolean };
  /**
   * Zero-gradient facts for the linter: "everywhere" (round, sign, ...), or
   * "outside" (clip-like: zero outside a range of the input).
   */
  zeroGrad?: "everywhere" | "outside";
  /**
   * Floating-point operations of one execution of the node; `dimValue` gives
   * the size of each dim (symbolic ones bound). Each arithmetic operation,
   * comparison or Math call counts as 1. Ops without an entry (sources,
   * layout, gathers, loops) move data only and count 0; src/ir/flops.ts sums
   * these over a graph, loop bodies times their count.
   */
  flops?(node: Node, dimValue: (d: Dim) => number): number;
  /**
   * What codegen needs beyond the class. `view`: the value is a view of the
   * first input, never a copy: the same value ("identity"), the whole buffer
   * in order under a new shape ("whole"), or a strided view ("strided").
   * `fold`: a reduction folding its input into one accumulator per result,
   * whose loop can compute a fused elementwise input in place.
   */
  codegen?: { view: "identity" | "whole" | "strided" } | { fold: "sum" | "mean" | "max" | "min" };
}

// ---- helpers for the entries ---------------------------------------------

const num = (a: Attrs, k: string): number => a[k] as number;
const nums = (a: Attrs, k: string): readonly number[] => a[k] as readonly number[];
const dims = (a: Attrs, k: string): readonly Dim[] => a[k] as readonly Dim[];

function requireFloat(inputs: readonly Node[], ...which: number[]): void {
  for (const i of which.length ? which : inputs.map((_, k) => k)) {
    if (inputs[i].dtype !== "float") fail(`expected a float tensor, got an int tensor ${showShape(inputs[i].shape)}`);
  }
}

function requireInt(n: Node, what: string): void {
  if (n.dtype !== "int") fail(`${what} must be an int tensor, got a float tensor ${showShape(n.shape)}`);
}

function broadcastInfer(inputs: readonly Node[]): { shape: Dim[]; dtype: DType } {
  requireFloat(inputs);
  const shape = broadcastShapes(inputs.map((n) => n.shape));
  if (!shape) fail(`shapes ${inputs.map((n) => showShape(n.shape)).join(" and ")} do not broadcast`);
  return { shape, dtype: "float" };
}

const size = (n: Node, dv: (d: Dim) => number): number => n.shape.reduce<number>((p, d) => p * dv(d), 1);

function unary(
  scalar: (x: string, a: Attrs) => string,
  vjp: Vjp | undefined,
  saves: OpDef["saves"],
  flops = 1,
  extra: Partial<OpDef> = {},
): OpDef {
  return {
    class: "elementwise",
    arity: 1,
    infer: broadcastInfer,
    scalar: ([x], a) => scalar(x, a),
    vjp,
    saves,
    flops: (n, dv) => flops * size(n, dv),
    ...extra,
  };
}

function binary(
  scalar: (x: string, y: string) => string,
  vjp: Vjp | undefined,
  saves: OpDef["saves"],
  extra: Partial<OpDef> = {},
): OpDef {
  return {
    class: "elementwise",
    arity: 2,
    infer: broadcastInfer,
    scalar: ([x, y]) => scalar(x, y),
    vjp,
    saves,
    flops: (n, dv) => size(n, dv),
    ...extra,
  };
}

/**
 * Comparisons give 0 or 1 and have zero gradient everywhere. Written `+(x > y)`
 * rather than `x > y ? 1 : 0`: V8 turns the boolean into a number without a
 * branch, which is 2.5x faster on a relu mask that is half ones at random.
 */
function comparison(js: string): OpDef {
  return binary((x, y) => `+(${x} ${js} ${y})`, () => [null, null], { inputs: [], output: false }, {
    zeroGrad: "everywhere",
    // Ints compare too (`argmax(logits, axis=1) == y` for accuracy); the result is a float 0 or 1.
    infer: (inputs) => {
      const shape = broadcastShapes(inputs.map((n) => n.shape));
      if (!shape) fail(`shapes ${inputs.map((n) => showShape(n.shape)).join(" and ")} do not broadcast`);
      return { shape, dtype: "float" };
    },
  });
}

const zeroUnary = (scalar: (x: string) => string): OpDef =>
  unary(scalar, () => [null], { inputs: [], output: false }, 1, { zeroGrad: "everywhere" });

/** Shape with reduced axes kept as 1, to broadcast a reduction's cotangent back. */
function keepdimsOf(b: IRBuilder, node: Node, ct: Node): Node {
  const x = node.inputs[0];
  const kept = reducedShape(x.shape, nums(node.attrs, "axes"), true);
  return node.attrs.keepdims ? ct : b.op("reshape", [ct], { shape: kept });
}

function broadcastBack(b: IRBuilder, node: Node, ct: Node): Node {
  return b.op("broadcast_to", [keepdimsOf(b, node, ct)], { shape: node.inputs[0].shape });
}

function reduceInfer(inputs: readonly Node[], a: Attrs): { shape: Dim[]; dtype: DType } {
  requireFloat(inputs);
  return { shape: reducedShape(inputs[0].shape, nums(a, "axes"), a.keepdims === true), dtype: "float" };
}

function reduction(extra: Partial<OpDef>): OpDef {
  return { class: "reduce", arity: 1, infer: reduceInfer, flops: (n, dv) => size(n.inputs[0], dv), ...extra };
}

function axisInfer(inputs: readonly Node[], a: Attrs): { shape: Dim[]; dtype: DType } {
  requireFloat(inputs);
  if (normAxis(num(a, "axis"), inputs[0].shape.length) === null) fail(`axis ${num(a, "axis")} is out of range`);
  return { shape: [...inputs[0].shape], dtype: "float" };
}

function sourceOp(dtypeOf: (a: Attrs) => DType): OpDef {
  return {
    class: "source",
    arity: 0,
    infer: (_i, a) => ({ shape: [...dims(a, "shape")], dtype: dtypeOf(a) }),
  };
}

// ---- the table -------------------------------------------------------------

export const OP_KINDS = [
  "input",
  "param",
  "const",
  "full",
  "numel",
  "loop_index",
  "carry",
  "add",
  "sub",
  "mul",
  "div",
  "pow",
  "maximum",
  "minimum",
  "lt",
  "le",
  "gt",
  "ge",
  "eq",
  "ne",
  "neg",
  "exp",
  "log",
  "sqrt",
  "abs",
  "square",
  "sigmoid",
  "tanh",
  "relu",
  "softplus",
  "sin",
  "cos",
  "leaky_relu",
  "elu",
  "huber",
  "sign",
  "round",
  "floor",
  "ceil",
  "clip",
  "where",
  "stop_gradient",
  "clip_grad",
  "sum",
  "mean",
  "max",
  "min",
  "logsumexp",
  "argmax",
  "first_extreme_mask",
  "matmul",
  "matmul_add",
  "transpose",
  "reshape",
  "broadcast_to",
  "sum_to",
  "concat",
  "slice",
  "unslice",
  "index",
  "unindex",
  "index_add",
  "slice_add",
  "softmax",
  "log_softmax",
  "cross_entropy",
  "cross_entropy_grad",
  "pick",
  "one_hot",
  "loop",
  "loop_out",
  "loop_tape",
] as const;

export type OpKind = (typeof OP_KINDS)[number];

export const OPS: Record<OpKind, OpDef> = {
  // Sources: no inputs. `shape` is an attribute.
  input: sourceOp((a) => a.dtype as DType),
  param: sourceOp(() => "float"),
  const: { class: "source", arity: 0, infer: () => ({ shape: [], dtype: "float" }) },
  /** A filled tensor: zeros([...]), ones([...]). */
  full: sourceOp(() => "float"),
  /** The product of some dims as a float scalar (symbolic sizes for `mean`). */
  numel: { class: "source", arity: 0, infer: () => ({ shape: [], dtype: "float" }) },
  loop_index: { class: "loop", arity: 0, infer: () => ({ shape: [], dtype: "int" }) },
  carry: sourceOp((a) => a.dtype as DType),

  // Elementwise arithmetic.
  add: binary((x, y) => `${x} + ${y}`, (_b, _n, ct) => [ct, ct], { inputs: [], output: false }),
  sub: binary((x, y) => `${x} - ${y}`, (b, _n, ct, needs) => [ct, needs[1] ? b.op("neg", [ct]) : null], {
    inputs: [],
    output: false,
  }),
  mul: binary(
    (x, y) => `${x} * ${y}`,
    (b, n, ct, needs) => [
      needs[0] ? b.op("mul", [ct, n.inputs[1]]) : null,
      needs[1] ? b.op("mul", [ct, n.inputs[0]]) : null,
    ],
    { inputs: [0, 1], output: false },
  ),
  div: binary(
    (x, y) => `${x} / ${y}`,
    (b, n, ct, needs) => {
      const [, y] = n.inputs;
      const dx = b.op("div", [ct, y]);
      // d(x/y)/dy = -x/y^2 = -(1/y) * (x/y): reuse dx and the output.
      return [needs[0] ? dx : null, needs[1] ? b.op("neg", [b.op("mul", [dx, n])]) : null];
    },
    { inputs: [1], output: true },
  ),
  pow: binary(
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
    { flops: (n, dv) => size(n, dv) },
  ),
  maximum: binary(
    (x, y) => `(${x} >= ${y} ? ${x} : ${y})`,
    (b, n, ct, needs) => [
      needs[0] ? b.op("mul", [ct, b.op("ge", [n.inputs[0], n.inputs[1]])]) : null,
      needs[1] ? b.op("mul", [ct, b.op("lt", [n.inputs[0], n.inputs[1]])]) : null,
    ],
    { inputs: [0, 1], output: false },
    { zeroGrad: "outside" },
  ),
  minimum: binary(
    (x, y) => `(${x} <= ${y} ? ${x} : ${y})`,
    (b, n, ct, needs) => [
      needs[0] ? b.op("mul", [ct, b.op("le", [n.inputs[0], n.inputs[1]])]) : null,
      needs[1] ? b.op("mul", [ct, b.op("gt", [n.inputs[0], n.inputs[1]])]) : null,
    ],
    { inputs: [0, 1], output: false },
    { zeroGrad: "outside" },
  ),
  lt: comparison("<"),
  le: comparison("<="),
  gt: comparison(">"),
  ge: comparison(">="),
  eq: comparison("==="),
  ne: comparison("!=="),

  neg: unary((x) => `-${x}`, (b, _n, ct) => [b.op("neg", [ct])], { inputs: [], output: false }),
  exp: unary((x) => `Math.exp(${x})`, (b, n, ct) => [b.op("mul", [ct, n])], { inputs: [], output: true }),
  log: unary((x) => `Math.log(${x})`, (b, n, ct) => [b.op("div", [ct, n.inputs[0]])], { inputs: [0], output: false }),
  sqrt: unary(
    (x) => `Math.sqrt(${x})`,
    (b, n, ct) => [b.op("div", [ct, b.op("mul", [b.const(2), n])])],
    { inputs: [], output: true },
  ),
  abs: unary((x) => `Math.abs(${x})`, (b, n, ct) => [b.op("mul", [ct, b.op("sign", [n.inputs[0]])])], {
    inputs: [0],
    output: false,
  }),
  square: unary((x) => `${x} * ${x}`, (b, n, ct) => [b.op("mul", [ct, b.op("mul", [b.const(2), n.inputs[0]])])], {
    inputs: [0],
    output: false,
  }),
  sigmoid: unary(
    (x) => `1 / (1 + Math.exp(-${x}))`,
    (b, n, ct) => [b.op("mul", [ct, b.op("mul", [n, b.op("sub", [b.const(1), n])])])],
    { inputs: [], output: true },
    4, // negate, exp, add, divide
  ),
  tanh: unary(
    (x) => `Math.tanh(${x})`,
    (b, n, ct) => [b.op("mul", [ct, b.op("sub", [b.const(1), b.op("square", [n])])])],
    { inputs: [], output: true },
  ),
  relu: unary(
    (x) => `(${x} > 0 ? ${x} : 0)`,
    // relu(x) > 0 exactly where x > 0, so the mask reads the output (as PyTorch does): the
    // forward then stores only the activation, not the pre-activation as well.
    (b, n, ct) => [b.op("mul", [ct, b.op("gt", [n, b.const(0)])])],
    { inputs: [], output: true },
    1,
    // The ternary is a branch, mispredicted on about half the units of a
    // layer whose pre-activations have random signs; relu32 is bit operations.
    { zeroGrad: "outside", scalarF32: { helper: "relu32", code: ([x]) => `relu32(${x})` } },
  ),
  softplus: unary(
    // log(1 + e^x) without overflow for large x.
    (x) => `(${x} > 0 ? ${x} + Math.log1p(Math.exp(-${x})) : Math.log1p(Math.exp(${x})))`,
    (b, n, ct) => [b.op("mul", [ct, b.op("sigmoid", [n.inputs[0]])])],
    { inputs: [0], output: false },
    4, // compare, exp, log1p, add
  ),
  sin: unary((x) => `Math.sin(${x})`, (b, n, ct) => [b.op("mul", [ct, b.op("cos", [n.inputs[0]])])], {
    inputs: [0],
    output: false,
  }),
  cos: unary(
    (x) => `Math.cos(${x})`,
    (b, n, ct) => [b.op("neg", [b.op("mul", [ct, b.op("sin", [n.inputs[0]])])])],
    { inputs: [0], output: false },
  ),
  leaky_relu: unary(
    (x, a) => `(${x} > 0 ? ${x} : ${lit(num(a, "a"))} * ${x})`,
    (b, n, ct) => [b.op("where", [b.op("gt", [n.inputs[0], b.const(0)]), ct, b.op("mul", [ct, b.const(num(n.attrs, "a"))])])],
    { inputs: [0], output: false },
    2, // compare, multiply
  ),
  elu: unary(
    (x, a) => `(${x} > 0 ? ${x} : ${lit(num(a, "a"))} * (Math.exp(${x}) - 1))`,
    // For x <= 0, d/dx a(e^x - 1) = a e^x = y + a.
    (b, n, ct) => [
      b.op("where", [
        b.op("gt", [n.inputs[0], b.const(0)]),
        ct,
        b.op("mul", [ct, b.op("add", [n, b.const(num(n.attrs, "a"))])]),
      ]),
    ],
    { inputs: [0], output: true },
    4, // compare, exp, subtract, multiply
  ),
  huber: unary(
    (x, a) => `(Math.abs(${x}) <= ${lit(num(a, "delta"))} ? 0.5 * ${x} * ${x} : ${lit(num(a, "delta"))} * (Math.abs(${x}) - ${lit(0.5 * num(a, "delta"))}))`,
    // huber' is the residual clipped to [-delta, delta]: never zero outside a range.
    (b, n, ct) => {
      const d = num(n.attrs, "delta");
      return [b.op("mul", [ct, b.op("clip", [n.inputs[0], b.const(-d), b.const(d)])])];
    },
    { inputs: [0], output: false },
    4, // abs, compare, multiply, multiply
  ),
  sign: zeroUnary((x) => `Math.sign(${x})`),
  // Round half to even, as NumPy and JAX do.
  round: zeroUnary((x) => `(Math.abs(${x} % 1) === 0.5 ? 2 * Math.round(${x} / 2) : Math.round(${x}))`),
  floor: zeroUnary((x) => `Math.floor(${x})`),
  ceil: zeroUnary((x) => `Math.ceil(${x})`),
  clip: {
    class: "elementwise",
    arity: 3,
    infer: broadcastInfer,
    scalar: ([x, lo, hi]) => `(${x} < ${lo} ? ${lo} : ${x} > ${hi} ? ${hi} : ${x})`,
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
    flops: (n, dv) => 2 * size(n, dv),
  },
  where: {
    class: "elementwise",
    arity: 3,
    infer: broadcastInfer,
    scalar: ([c, x, y]) => `(${c} !== 0 ? ${x} : ${y})`,
    vjp: (b, n, ct, needs) => {
      const [c] = n.inputs;
      const zero = b.const(0);
      return [null, needs[1] ? b.op("where", [c, ct, zero]) : null, needs[2] ? b.op("where", [c, zero, ct]) : null];
    },
    saves: { inputs: [0], output: false },
    flops: (n, dv) => size(n, dv),
  },

  // Gradient control.
  stop_gradient: unary((x) => x, () => [null], { inputs: [], output: false }, 0, { codegen: { view: "identity" } }),
  clip_grad: unary(
    (x) => x,
    (b, n, ct) => [b.op("clip", [ct, b.const(num(n.attrs, "lo")), b.const(num(n.attrs, "hi"))])],
    { inputs: [], output: false },
    0,
    { codegen: { view: "identity" } },
  ),

  // Reductions. `axes` are normalised (non-negative, sorted).
  sum: reduction({
    vjp: (b, n, ct) => [broadcastBack(b, n, ct)],
    saves: { inputs: [], output: false },
    codegen: { fold: "sum" },
  }),
  mean: reduction({
    vjp: (b, n, ct) => {
      const x = n.inputs[0];
      const count = b.op("numel", [], { dims: nums(n.attrs, "axes").map((i) => x.shape[i]) });
      return [b.op("div", [broadcastBack(b, n, ct), count])];
    },
    saves: { inputs: [], output: false },
    codegen: { fold: "mean" },
  }),
  max: reduction({
    vjp: (b, n, ct) => [b.op("mul", [b.op("first_extreme_mask", [n.inputs[0]], { axes: n.attrs.axes, mode: "max" }), broadcastBack(b, n, ct)])],
    saves: { inputs: [0], output: false },
    zeroGrad: "outside",
    codegen: { fold: "max" },
  }),
  min: reduction({
    vjp: (b, n, ct) => [b.op("mul", [b.op("first_extreme_mask", [n.inputs[0]], { axes: n.attrs.axes, mode: "min" }), broadcastBack(b, n, ct)])],
    saves: { inputs: [0], output: false },
    zeroGrad: "outside",
    codegen: { fold: "min" },
  }),
  logsumexp: reduction({
    vjp: (b, n, ct) => {
      const x = n.inputs[0];
      const y = b.op("broadcast_to", [keepdimsOf(b, n, n)], { shape: x.shape });
      return [b.op("mul", [b.op("exp", [b.op("sub", [x, y])]), broadcastBack(b, n, ct)])];
    },
    saves: { inputs: [0], output: true },
    // max, subtract, exp, add per element; log and add per result.
    flops: (n, dv) => 4 * size(n.inputs[0], dv) + 2 * size(n, dv),
  }),
  argmax: {
    class: "reduce",
    arity: 1,
    infer: (inputs, a) => {
      requireFloat(inputs);
      return { shape: reducedShape(inputs[0].shape, nums(a, "axes"), false), dtype: "int" };
    },
    vjp: () => [null],
    saves: { inputs: [], output: false },
    zeroGrad: "everywhere",
    flops: (n, dv) => size(n.inputs[0], dv),
  },
  /** 1 at the first maximal (or minimal) element along `axes`, 0 elsewhere: max's gradient route. */
  first_extreme_mask: {
    class: "reduce",
    arity: 1,
    infer: (inputs) => ({ shape: [...inputs[0].shape], dtype: "float" }),
    vjp: () => [null],
    zeroGrad: "everywhere",
    // Find the extreme, then compare each element with it.
    flops: (n, dv) => 2 * size(n, dv),
  },

  // Linear algebra and layout.
  /** 2-D matmul of op(a) @ op(b), where op transposes when transA / transB. */
  matmul: {
    class: "linalg",
    arity: 2,
    infer: (inputs, a) => {
      requireFloat(inputs);
      const [x, y] = inputs;
      if (x.shape.length !== 2 || y.shape.length !== 2) fail("matmul operands must be 2-D");
      const [m, k1] = a.transA ? [x.shape[1], x.shape[0]] : [x.shape[0], x.shape[1]];
      const [k2, nn] = a.transB ? [y.shape[1], y.shape[0]] : [y.shape[0], y.shape[1]];
      if (k1 !== k2) fail(`cannot multiply ${showShape(x.shape)} @ ${showShape(y.shape)}: inner dims ${k1} and ${k2} differ`);
      return { shape: [m, nn], dtype: "float" };
    },
    vjp: (b, n, ct, needs) => {
      const [x, y] = n.inputs;
      const tA = n.attrs.transA === true;
      const tB = n.attrs.transB === true;
      const dx = tA
        ? b.op("matmul", [y, ct], { transA: tB, transB: true })
        : b.op("matmul", [ct, y], { transA: false, transB: !tB });
      const dy = tB
        ? b.op("matmul", [ct, x], { transA: true, transB: tA })
        : b.op("matmul", [x, ct], { transA: !tA, transB: false });
      return [needs[0] ? dx : null, needs[1] ? dy : null];
    },
    saves: { inputs: [0, 1], output: false },
    // 2 M N K: a multiply and an add per term.
    flops: (n, dv) => {
      const x = n.inputs[0];
      const k = (n.attrs.transA ? x.shape[0] : x.shape[1]) as Dim;
      return 2 * size(n, dv) * dv(k);
    },
  },
  /**
   * acc + op(a) @ op(b), transposes as for matmul: a matmul that adds into
   * its output. Built by simplification from acc + a @ b (BPTT's weight
   * gradients, xs[t] @ Wx + h @ Wh), so no temporary holds the product.
   */
  matmul_add: {
    class: "linalg",
    arity: 3,
    infer: (inputs, a) => {
      const [acc, x, y] = inputs;
      const t = OPS.matmul.infer([x, y], a);
      requireFloat(inputs, 0);
      if (!sameShape(acc.shape, t.shape)) fail(`cannot add ${showShape(t.shape)} into ${showShape(acc.shape)}`);
      return t;
    },
    // The matmul's 2 M N K, and an add per element.
    flops: (n, dv) => {
      const x = n.inputs[1];
      const k = (n.attrs.transA ? x.shape[0] : x.shape[1]) as Dim;
      return 2 * size(n, dv) * dv(k) + size(n, dv);
    },
  },
  transpose: {
    class: "layout",
    arity: 1,
    infer: (inputs) => {
      const [x] = inputs;
      if (x.shape.length !== 2) fail(`transpose needs a 2-D tensor, got ${showShape(x.shape)}`);
      return { shape: [x.shape[1], x.shape[0]], dtype: x.dtype };
    },
    vjp: (b, _n, ct) => [b.op("transpose", [ct])],
    saves: { inputs: [], output: false },
    codegen: { view: "strided" },
  },
  reshape: {
    class: "layout",
    arity: 1,
    infer: (inputs, a) => {
      const [x] = inputs;
      const shape = dims(a, "shape");
      if (!sameSize(x.shape, shape)) fail(`cannot reshape ${showShape(x.shape)} to ${showShape(shape)}: sizes differ`);
      return { shape: [...shape], dtype: x.dtype };
    },
    vjp: (b, n, ct) => [b.op("reshape", [ct], { shape: n.inputs[0].shape })],
    saves: { inputs: [], output: false },
    codegen: { view: "whole" },
  },
  broadcast_to: {
    class: "layout",
    arity: 1,
    infer: (inputs, a) => {
      const [x] = inputs;
      const shape = dims(a, "shape");
      const out = broadcastShapes([x.shape, shape]);
      if (!out || !sameShape(out, shape)) fail(`cannot broadcast ${showShape(x.shape)} to ${showShape(shape)}`);
      return { shape: [...shape], dtype: x.dtype };
    },
    vjp: (b, n, ct) => [b.op("sum_to", [ct], { shape: n.inputs[0].shape })],
    saves: { inputs: [], output: false },
    codegen: { view: "strided" },
  },
  /** Sums a broadcast value back to a shape it was broadcast from. */
  sum_to: {
    class: "reduce",
    arity: 1,
    infer: (inputs, a) => {
      const [x] = inputs;
      const shape = dims(a, "shape");
      const out = broadcastShapes([x.shape, shape]);
      if (!out || !sameShape(out, x.shape)) fail(`cannot sum ${showShape(x.shape)} to ${showShape(shape)}`);
      return { shape: [...shape], dtype: "float" };
    },
    vjp: (b, n, ct) => [b.op("broadcast_to", [ct], { shape: n.inputs[0].shape })],
    saves: { inputs: [], output: false },
    flops: (n, dv) => size(n.inputs[0], dv),
    codegen: { fold: "sum" },
  },
  concat: {
    class: "layout",
    arity: 2,
    infer: (inputs, a) => {
      const [x, y] = inputs;
      if (x.dtype !== y.dtype) fail("concat operands must have the same dtype");
      const axis = num(a, "axis");
      if (x.shape.length !== y.shape.length) fail(`cannot concat ${showShape(x.shape)} and ${showShape(y.shape)}: ranks differ`);
      const out: Dim[] = [];
      for (let i = 0; i < x.shape.length; i++) {
        const p = x.shape[i];
        const q = y.shape[i];
        if (i === axis) {
          if (typeof p !== "number" || typeof q !== "number") fail("concat along a symbolic dim is not supported");
          out.push(p + q);
        } else if (p !== q) fail(`cannot concat ${showShape(x.shape)} and ${showShape(y.shape)} along axis ${axis}`);
        else out.push(p);
      }
      return { shape: out, dtype: x.dtype };
    },
    vjp: (b, n, ct, needs) => {
      const [x] = n.inputs;
      const axis = num(n.attrs, "axis");
      const split = x.shape[axis] as number;
      const total = n.shape[axis] as number;
      const part = (lo: number, hi: number): Node =>
        b.op("slice", [ct], {
          starts: n.shape.map((_, i) => (i === axis ? lo : 0)),
          ends: n.shape.map((d, i) => (i === axis ? hi : d)),
          drop: [],
        });
      return [needs[0] ? part(0, split) : null, needs[1] ? part(split, total) : null];
    },
    saves: { inputs: [], output: false },
  },
  /**
   * Static slice: per axis a half-open range [starts[i], ends[i]); axes in
   * `drop` were indexed by a single integer and are removed from the result.
   */
  slice: {
    class: "layout",
    arity: 1,
    infer: (inputs, a) => {
      const [x] = inputs;
      const starts = nums(a, "starts");
      const ends = dims(a, "ends");
      const drop = nums(a, "drop");
      const out: Dim[] = [];
      x.shape.forEach((d, i) => {
        const s = starts[i];
        const e = ends[i];
        if (drop.includes(i)) return;
        if (e === d && s === 0) out.push(d);
        else if (typeof e === "number") out.push(e - s);
        else fail(`slice of symbolic dim ${d} must cover the whole axis`);
      });
      return { shape: out, dtype: x.dtype };
    },
    vjp: (b, n, ct) => [b.op("unslice", [ct], { ...n.attrs, shape: n.inputs[0].shape })],
    saves: { inputs: [], output: false },
    codegen: { view: "strided" },
  },
  /** The inverse of slice: zeros of `shape` with the slice region set to the input. */
  unslice: {
    class: "layout",
    arity: 1,
    infer: (inputs, a) => ({ shape: [...dims(a, "shape")], dtype: inputs[0].dtype }),
    vjp: (b, n, ct) => [b.op("slice", [ct], { starts: n.attrs.starts, ends: n.attrs.ends, drop: n.attrs.drop })],
    saves: { inputs: [], output: false },
  },
  /** x[i] along the first axis with a runtime int scalar i (xs[t] in a loop). */
  index: {
    class: "layout",
    arity: 2,
    infer: (inputs) => {
      const [x, i] = inputs;
      requireInt(i, "an index");
      if (i.shape.length !== 0) fail("an index must be an int scalar");
      if (x.shape.length === 0) fail("cannot index a scalar");
      return { shape: x.shape.slice(1), dtype: x.dtype };
    },
    vjp: (b, n, ct) => [b.op("unindex", [ct, n.inputs[1]], { n: n.inputs[0].shape[0] }), null],
    saves: { inputs: [1], output: false },
    // A view when the index is a loop counter; else codegen copies the row.
    codegen: { view: "strided" },
  },
  /** Zeros of [n, ...ct.shape] with row i set to ct: the gradient of index. */
  unindex: {
    class: "layout",
    arity: 2,
    infer: (inputs, a) => ({ shape: [a.n as Dim, ...inputs[0].shape], dtype: "float" }),
    vjp: (b, n, ct) => [b.op("index", [ct, n.inputs[1]]), null],
    saves: { inputs: [1], output: false },
  },

  /** acc with row i (first axis) increased by v: a loop's gradient for xs where the body reads xs[t]. */
  index_add: {
    class: "layout",
    arity: 3,
    infer: (inputs) => {
      const [acc, v, i] = inputs;
      requireInt(i, "an index");
      if (!sameShape(acc.shape.slice(1), v.shape)) fail(`cannot add ${showShape(v.shape)} into a row of ${showShape(acc.shape)}`);
      return { shape: [...acc.shape], dtype: "float" };
    },
    flops: (n, dv) => size(n.inputs[1], dv),
  },
  /**
   * acc with the region of a static slice (`starts`, `ends`, `drop` as for
   * slice) increased by v: gradients of several slices of one value (an
   * LSTM's gates) gathered into one buffer instead of summed unslices.
   */
  slice_add: {
    class: "layout",
    arity: 2,
    infer: (inputs, a) => {
      const [acc, v] = inputs;
      const region = OPS.slice.infer([acc], a).shape;
      if (!sameShape(region, v.shape)) fail(`cannot add ${showShape(v.shape)} into a ${showShape(region)} region of ${showShape(acc.shape)}`);
      return { shape: [...acc.shape], dtype: "float" };
    },
    flops: (n, dv) => size(n.inputs[1], dv),
  },

  // Neural-network ops.
  softmax: {
    class: "nn",
    arity: 1,
    infer: axisInfer,
    vjp: (b, n, ct) => {
      const axes = [axisOf(n)];
      const dot = b.op("sum", [b.op("mul", [ct, n])], { axes, keepdims: true });
      return [b.op("mul", [n, b.op("sub", [ct, dot])])];
    },
    saves: { inputs: [], output: true },
    // max, subtract, exp, sum, divide per element.
    flops: (n, dv) => 5 * size(n, dv),
  },
  log_softmax: {
    class: "nn",
    arity: 1,
    infer: axisInfer,
    vjp: (b, n, ct) => {
      const axes = [axisOf(n)];
      const total = b.op("sum", [ct], { axes, keepdims: true });
      return [b.op("sub", [ct, b.op("mul", [b.op("exp", [n]), total])])];
    },
    saves: { inputs: [], output: true },
    // max, subtract, exp, sum, subtract per element (the log is per row).
    flops: (n, dv) => 5 * size(n, dv),
  },
  /** Mean-free softmax cross-entropy per row: logsumexp(z) - z[label]. */
  cross_entropy: {
    class: "nn",
    arity: 2,
    infer: (inputs) => {
      const [z, y] = inputs;
      requireFloat(inputs, 0);
      requireInt(y, "cross_entropy's labels");
      if (z.shape.length !== 2) fail(`cross_entropy's logits must be [B, C], got ${showShape(z.shape)}`);
      if (y.shape.length !== 1 || y.shape[0] !== z.shape[0])
        fail(`cross_entropy's labels must be int[${z.shape[0]}] to match logits ${showShape(z.shape)}, got ${showShape(y.shape)}`);
      return { shape: [z.shape[0]], dtype: "float" };
    },
    vjp: (b, n, ct) => [b.op("cross_entropy_grad", n.inputs.concat(ct)), null],
    saves: { inputs: [0, 1], output: false },
    // max, subtract, exp, sum per element; log, add, subtract per row.
    flops: (n, dv) => 4 * size(n.inputs[0], dv) + 3 * size(n, dv),
  },
  /**
   * cross_entropy's gradient for logits z [B, C], labels y and a per-row
   * cotangent g [B]: (softmax(z) - one_hot(y)) * g per row, computed as
   * (exp(z - lse) - one_hot(y)) * g with each row's log-sum-exp kept by the
   * forward's cross_entropy of the same z and y. Built by that VJP only.
   */
  cross_entropy_grad: {
    class: "nn",
    arity: 3,
    infer: (inputs) => {
      const [z, y, g] = inputs;
      requireFloat(inputs, 0, 2);
      requireInt(y, "cross_entropy's labels");
      if (z.shape.length !== 2 || !sameShape(y.shape, [z.shape[0]]) || !sameShape(g.shape, [z.shape[0]]))
        fail(`cross_entropy_grad takes logits [B, C], labels int[B] and a gradient [B], got ${inputs.map((x) => showShape(x.shape)).join(", ")}`);
      return { shape: [...z.shape], dtype: "float" };
    },
    // subtract lse, exp, compare with the label and subtract, multiply per element (lse is the forward's).
    flops: (n, dv) => 5 * size(n, dv),
  },
  /** out[i] = x[i, idx[i]]: DQN's Q[:, a]. */
  pick: {
    class: "nn",
    arity: 2,
    infer: (inputs) => {
      const [x, idx] = inputs;
      requireFloat(inputs, 0);
      requireInt(idx, "pick's indices");
      if (x.shape.length !== 2) fail(`pick needs a [B, N] tensor, got ${showShape(x.shape)}`);
      if (idx.shape.length !== 1 || idx.shape[0] !== x.shape[0])
        fail(`pick's indices must be int[${x.shape[0]}] to match ${showShape(x.shape)}, got ${showShape(idx.shape)}`);
      return { shape: [x.shape[0]], dtype: "float" };
    },
    vjp: (b, n, ct) => {
      const [x, idx] = n.inputs;
      const hot = b.op("one_hot", [idx], { n: x.shape[1] });
      return [b.op("mul", [hot, b.op("reshape", [ct], { shape: [x.shape[0], 1] })]), null];
    },
    saves: { inputs: [1], output: false },
  },
  one_hot: {
    class: "nn",
    arity: 1,
    infer: (inputs, a) => {
      requireInt(inputs[0], "one_hot's indices");
      return { shape: [...inputs[0].shape, a.n as Dim], dtype: "float" };
    },
    vjp: () => [null],
    saves: { inputs: [], output: false },
  },

  // Loops. The autodiff driver differentiates loops itself (backprop through time).
  loop: { class: "loop", arity: -1, infer: () => ({ shape: [], dtype: "float" }) },
  /** The final value of carried value `k` of a loop. */
  loop_out: {
    class: "loop",
    arity: 1,
    infer: (inputs, a) => {
      const r = loopBody(inputs[0]).results[num(a, "k")];
      return { shape: [...r.shape], dtype: r.dtype };
    },
  },
  /** Tape entry `k` of a loop: the per-step values stacked over steps. */
  loop_tape: {
    class: "loop",
    arity: 1,
    infer: (inputs, a) => {
      const v = loopBody(inputs[0]).tape[num(a, "k")];
      return { shape: [inputs[0].attrs.count as Dim, ...v.shape], dtype: v.dtype };
    },
  },
};

function loopBody(n: Node) {
  if (n.op !== "loop" || !n.body) fail("expected a loop node");
  return n.body;
}

function axisOf(n: Node): number {
  return normAxis(num(n.attrs, "axis"), n.shape.length) as number;
}

/** A number as a JS literal that round-trips (used in scalar formulas). */
export function lit(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  const s = String(v);
  return v < 0 ? `(${s})` : s;
}

export function isElementwise(op: OpKind): boolean {
  return OPS[op].class === "elementwise";
}
