// The built-in functions: one row per surface name, giving its parameters
// and the IR op a call builds. calls.ts checks and lowers every call from
// its row alone (argument counts, keywords, defaults, argument kinds, the
// "unknown function" suggestion), so a builtin that maps onto one op is one
// row here: `softsign: { op: "softsign", params: [X] },`. A row naming an op
// the op table lacks does not compile.
import { divExactDims, productDim } from "../../ir/dimexpr.js";
import { OpError, type OpKind } from "../../ir/ops.js";
import { sameShape, showShape, sizeOf } from "../../ir/shape.js";
import type { Attrs, Dim, Node } from "../../ir/types.js";
import { convFinish, convTransposeFinish, poolFinish } from "./conv.js";

/**
 * A parameter: its name, which is also its keyword, and how the argument is
 * read. The tensor kinds (`float`, `tensor`) become the op's inputs, in
 * order. Every other kind is read at compile time and becomes an attribute
 * named after the parameter (`axes` kind: the attribute `axes`), in order.
 * A parameter with a `default` is optional.
 */
export type Param =
  /** A float tensor (an int one is an error naming the argument). */
  | { kind: "float"; name: string }
  /** A tensor of either dtype: labels, indices, or a value only moved. */
  | { kind: "tensor"; name: string }
  /** A constant: a number, a negated number or a constant dim; `positive` requires > 0. */
  | { kind: "number"; name: string; default?: number; positive?: boolean }
  /** An axis of the first tensor argument, negative counting from the end; stored as 0..rank-1. */
  | { kind: "axis"; name: string; default?: number }
  /**
   * An axis, or a list of axes (`axis=[1, 2]`), of the first tensor
   * argument, stored sorted as the list attribute `axes`; default `null`:
   * every axis, a number: that axis. `single`: one axis only (argmax).
   */
  | { kind: "axes"; name: string; default?: null | number; single?: true }
  /** `true` or `false`. */
  | { kind: "bool"; name: string; default?: boolean }
  /** A size: a positive integer expression of dims and integers (`V`, `2*H`). */
  | { kind: "dim"; name: string }
  /** A list of sizes: `[B, 10]`, `[B*T, D]`; `inferred`: one entry may be -1 (the row's finish resolves it). */
  | { kind: "shape"; name: string; inferred?: true }
  /**
   * Per spatial axis of a conv or pool (`rank` of them): an integer for
   * every axis, or a list `[h, w]`; at least `min`. `same` also takes the
   * string "same". Stored as a list, or "same"; a `default` of null: the
   * row's `finish` fills it in (a pool's stride is its window).
   */
  | { kind: "spatial"; name: string; rank: 1 | 2; min: 0 | 1; default?: number | null; same?: boolean }
  /** Every remaining positional argument, each a tensor of either dtype (`stack(a, b, c)`); at least `min`. */
  | { kind: "rest"; name: string; min: number }
  /** A permutation of the first tensor argument's axes: a list of integers, negative counting from the end; stored as 0..rank-1, null when absent. */
  | { kind: "perm"; name: string; default?: null };

/** A builtin: the op it builds, its parameters, and attributes its name fixes. */
export interface Builtin {
  op: OpKind;
  params: readonly Param[];
  /** Attributes set by the name itself, after the parameters' (`ones` is `full` with value 1). */
  attrs?: Attrs;
  /** The op to build when it depends on the inputs' dtypes (`op` otherwise). */
  opFor?: (inputs: readonly Node[]) => OpKind;
  /** Two parameters that must be in order, low then high, when both are constants. */
  ordered?: readonly [string, string];
  /**
   * Turns the attributes read from the parameters into the op's, knowing
   * the tensor inputs (conv's "same" padding needs the kernel's size);
   * throws OpError on values the op rejects.
   */
  finish?: (attrs: Attrs, inputs: readonly Node[]) => Attrs;
  /**
   * Builds the result from several ops instead of one `op` node (`stack`
   * is reshapes and concats); `op` builds a node at the call's span and
   * throws OpError on values an op rejects.
   */
  build?: (op: (kind: OpKind, inputs: Node[], attrs: Attrs) => Node, inputs: readonly Node[], attrs: Attrs) => Node;
}

const X: Param = { kind: "float", name: "x" };
const float = (name: string): Param => ({ kind: "float", name });
const tensor = (name: string): Param => ({ kind: "tensor", name });
const num = (name: string, dflt?: number): Param => ({ kind: "number", name, default: dflt });
const REDUCTION: readonly Param[] = [
  X,
  { kind: "axes", name: "axis", default: null },
  { kind: "bool", name: "keepdims", default: false },
];

const spatial = (name: string, rank: 1 | 2, min: 0 | 1, dflt?: number | null, same = false): Param => ({ kind: "spatial", name, rank, min, default: dflt, same });

function convRow(rank: 1 | 2): Builtin {
  return {
    op: "conv",
    params: [
      X,
      float("K"),
      spatial("stride", rank, 1, 1),
      spatial("padding", rank, 0, 0, true),
      spatial("dilation", rank, 1, 1),
      { kind: "number", name: "groups", default: 1, positive: true },
    ],
    finish: convFinish(rank),
  };
}

function poolRow(op: "max_pool" | "avg_pool", rank: 1 | 2): Builtin {
  return { op, params: [X, spatial("k", rank, 1), spatial("stride", rank, 1, null), spatial("padding", rank, 0, 0)], finish: poolFinish(`${op}${rank}d`, rank) };
}

// The order is the order suggestions are tried in ("did you mean ...").
const ROWS: Readonly<Record<string, Builtin>> = {
  // elementwise, one float argument
  exp: { op: "exp", params: [X] },
  log: { op: "log", params: [X] },
  sqrt: { op: "sqrt", params: [X] },
  abs: { op: "abs", params: [X] },
  square: { op: "square", params: [X] },
  sigmoid: { op: "sigmoid", params: [X] },
  tanh: { op: "tanh", params: [X] },
  relu: { op: "relu", params: [X] },
  softplus: { op: "softplus", params: [X] },
  softsign: { op: "softsign", params: [X] },
  sin: { op: "sin", params: [X] },
  cos: { op: "cos", params: [X] },
  sign: { op: "sign", params: [X] },
  round: { op: "round", params: [X] },
  floor: { op: "floor", params: [X] },
  ceil: { op: "ceil", params: [X] },
  stop_gradient: { op: "stop_gradient", params: [X] }, // identity forward, zero gradient
  // elementwise with constants
  leaky_relu: { op: "leaky_relu", params: [X, num("a", 0.01)] },
  elu: { op: "elu", params: [X, num("a", 1)] },
  huber: { op: "huber", params: [X, { kind: "number", name: "delta", default: 1, positive: true }] },
  // elementwise, several tensors
  maximum: { op: "maximum", params: [float("a"), float("b")] },
  minimum: { op: "minimum", params: [float("a"), float("b")] },
  clip: { op: "clip", params: [X, float("lo"), float("hi")], ordered: ["lo", "hi"] },
  clip_grad: { op: "clip_grad", params: [X, num("lo"), num("hi")], ordered: ["lo", "hi"] },
  where: { op: "where", params: [float("cond"), float("a"), float("b")] },
  // reductions
  sum: { op: "sum", params: REDUCTION },
  mean: { op: "mean", params: REDUCTION },
  max: { op: "max", params: REDUCTION },
  min: { op: "min", params: REDUCTION },
  logsumexp: { op: "logsumexp", params: REDUCTION },
  argmax: { op: "argmax", params: [X, { kind: "axes", name: "axis", single: true }] },
  // layout
  reshape: { op: "reshape", params: [tensor("x"), { kind: "shape", name: "shape", inferred: true }], finish: reshapeFinish },
  concat: { op: "concat", params: [tensor("a"), tensor("b"), { kind: "axis", name: "axis", default: 0 }] },
  // neural-network
  softmax: { op: "softmax", params: [X, { kind: "axis", name: "axis", default: -1 }] },
  log_softmax: { op: "log_softmax", params: [X, { kind: "axis", name: "axis", default: -1 }] },
  // Float targets (soft labels) are a different op: the targets take a gradient, labels select.
  cross_entropy: {
    op: "cross_entropy",
    params: [float("logits"), tensor("labels")],
    opFor: (inputs) => (inputs[1].dtype === "float" ? "soft_cross_entropy" : "cross_entropy"),
  },
  pick: { op: "pick", params: [X, tensor("idx")] },
  one_hot: { op: "one_hot", params: [tensor("idx"), { kind: "dim", name: "n" }] },
  // convolutional (section 10)
  conv1d: convRow(1),
  conv2d: convRow(2),
  conv_transpose2d: {
    op: "conv_transpose",
    params: [X, float("K"), spatial("stride", 2, 1, 1), spatial("padding", 2, 0, 0), spatial("output_padding", 2, 0, 0)],
    finish: convTransposeFinish,
  },
  max_pool1d: poolRow("max_pool", 1),
  max_pool2d: poolRow("max_pool", 2),
  avg_pool1d: poolRow("avg_pool", 1),
  avg_pool2d: poolRow("avg_pool", 2),
  // constructors
  zeros: { op: "full", params: [{ kind: "shape", name: "shape" }], attrs: { value: 0 } },
  ones: { op: "full", params: [{ kind: "shape", name: "shape" }], attrs: { value: 1 } },
  // section 9: ops
  gelu: { op: "gelu", params: [X] },
  gelu_tanh: { op: "gelu_tanh", params: [X] },
  silu: { op: "silu", params: [X] },
  erf: { op: "erf", params: [X] },
  log1p: { op: "log1p", params: [X] },
  expm1: { op: "expm1", params: [X] },
  log_sigmoid: { op: "log_sigmoid", params: [X] },
  float: { op: "to_float", params: [tensor("x")] },
  var: { op: "var", params: REDUCTION },
  layer_norm: {
    op: "layer_norm",
    params: [X, { kind: "axes", name: "axis", default: -1 }, { kind: "number", name: "eps", default: 1e-5, positive: true }],
  },
  bce_with_logits: { op: "bce_with_logits", params: [float("logits"), float("targets")] },
  arange: { op: "arange", params: [{ kind: "dim", name: "n" }] },
  eye: { op: "eye", params: [{ kind: "dim", name: "n" }] },
  tril: { op: "tril", params: [X, num("k", 0)] },
  triu: { op: "triu", params: [X, num("k", 0)] },
  // section 9: index
  take: {
    op: "gather",
    params: [tensor("x"), tensor("idx"), { kind: "axis", name: "axis", default: 0 }],
    finish: (a, [x, idx]) => {
      if (idx.dtype !== "int") throw new OpError(`take's idx must be an int tensor, got a float ${showShape(idx.shape)}`);
      return { axis: a.axis, what: `take(${showShape(x.shape)}, axis=${a.axis})` };
    },
  },
  expand_dims: { op: "reshape", params: [tensor("x"), { kind: "number", name: "axis" }], finish: (a, [x]) => ({ shape: expandDims(x.shape, a.axis as number) }) },
  squeeze: { op: "reshape", params: [tensor("x"), { kind: "axis", name: "axis" }], finish: (a, [x]) => ({ shape: squeezeAxis(x.shape, a.axis as number) }) },
  stack: { op: "concat", params: [{ kind: "rest", name: "xs", min: 1 }, { kind: "number", name: "axis", default: 0 }], build: stack },
  // section 9: linalg (einsum is a special form: calls.ts, lower/linalg.ts)
  // No perm: all axes reversed (the op's default, so no attribute).
  transpose: { op: "transpose", params: [tensor("x"), { kind: "perm", name: "perm", default: null }], finish: ({ perm, ...a }) => (perm === null ? a : { ...a, perm }) },
};

/** x's shape with a size-1 axis at `axis` of the result (-1: last), as NumPy's expand_dims. */
function expandDims(shape: readonly Dim[], axis: number): Dim[] {
  const a = axis < 0 ? axis + shape.length + 1 : axis;
  if (!Number.isInteger(a) || a < 0 || a > shape.length) throw new OpError(`axis ${axis} is out of range for a new axis of ${showShape(shape)}`);
  return [...shape.slice(0, a), 1, ...shape.slice(a)];
}

function squeezeAxis(shape: readonly Dim[], axis: number): Dim[] {
  if (shape[axis] !== 1) throw new OpError(`cannot squeeze axis ${axis} of ${showShape(shape)}: its size is ${shape[axis]}, not 1`);
  return shape.filter((_, i) => i !== axis);
}

/** stack(a, b, ..., axis=k): each tensor gets a size-1 axis k, then they are joined along it. */
function stack(op: (kind: OpKind, inputs: Node[], attrs: Attrs) => Node, xs: readonly Node[], a: Attrs): Node {
  const [first] = xs;
  for (const x of xs) {
    if (!sameShape(x.shape, first.shape) || x.dtype !== first.dtype) {
      throw new OpError(`stack joins tensors of one shape and dtype, got ${showShape(first.shape)} and ${showShape(x.shape)}`);
    }
  }
  const shape = expandDims(first.shape, a.axis as number);
  const axis = (a.axis as number) < 0 ? (a.axis as number) + first.shape.length + 1 : (a.axis as number);
  const parts = xs.map((x) => op("reshape", [x], { shape }));
  // A balanced tree of concats: each element is copied about log2(n) times.
  const join = (ps: Node[]): Node => (ps.length === 1 ? ps[0] : op("concat", [join(ps.slice(0, ps.length >> 1)), join(ps.slice(ps.length >> 1))], { axis }));
  return join(parts);
}

/** Every builtin by surface name. A Map, so that names like `constructor` are not found on a prototype. */
export const BUILTINS: ReadonlyMap<string, Builtin> = new Map(Object.entries(ROWS));

/** Whether a parameter may be left out. */
export function isOptional(p: Param): boolean {
  return "default" in p && p.default !== undefined;
}

/** reshape's `-1` entry (spec section 9, as NumPy): the input's size over the other entries' product. */
function reshapeFinish(attrs: Attrs, [x]: readonly Node[]): Attrs {
  const shape = attrs.shape as Dim[];
  const k = shape.indexOf(-1);
  if (k < 0) return attrs;
  const rest = productDim(shape.filter((_, i) => i !== k));
  const d = divExactDims(sizeOf(x.shape), rest);
  if (d === null || (typeof d === "number" && d < 1)) {
    throw new OpError(`cannot reshape ${showShape(x.shape)} to ${showShape(shape)}: its ${sizeOf(x.shape)} elements are not a multiple of ${rest}`);
  }
  return { ...attrs, shape: shape.map((e, i) => (i === k ? d : e)) };
}
