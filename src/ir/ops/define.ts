// What an op table entry is, and the builders that most entries are made
// with. An entry holds every fact the compiler knows about one op: its arity,
// shape and dtype rule, the float64 reference `eval` (the linter's sampler,
// `bpc check` and the generated op tests run it), the JS kernel formula of
// elementwise ops, the gradient rule with the forward values it saves, its
// flops, and the linter's transfer rules (intervals, moments, the largest
// slope a recurrence multiplies by, and how it uses each input). The table
// is typed `Record<OpKind, OpDef>` in ../ops.ts, so a missing entry or a
// missing fact does not compile; a fact that cannot be given says so with
// `unsupported("why")`, which the linter reports instead of guessing.
import {
  absI,
  addI,
  gaussianMap,
  monotoneI,
  type Interval,
  type Moments,
} from "../ranges.js";
import { broadcastShapes, normAxis, reducedShape, showShape } from "../shape.js";
import { mapElements, tensor, type ScalarFn, type Tensor } from "../tensor.js";
import type { Attrs, DType, Dim, Node, Shape } from "../types.js";
import type { SpecialFn } from "../special.js";
import type { OpKind } from "./kinds.js";

/** Raised by shape rules; the builder turns it into a positioned BpcError. */
export class OpError extends Error {}

export function fail(msg: string): never {
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

/** Forward values a gradient rule reads: input positions, and whether it reads the output. */
export interface Saves {
  inputs: readonly number[];
  output: boolean;
  /** And every input from this position on (a region op's starts, one per axis). */
  rest?: number;
}

export type OpClass = "source" | "elementwise" | "reduce" | "linalg" | "layout" | "nn" | "control" | "loop";

/** A fact an entry cannot give, with the reason; the linter shows the reason where it needed the fact. */
export interface Unsupported {
  readonly unsupported: string;
}
export const unsupported = (why: string): Unsupported => ({ unsupported: why });
export const isUnsupported = (x: unknown): x is Unsupported => typeof x === "object" && x !== null && "unsupported" in x;

/** What `eval` may ask of the evaluator running it. */
export interface EvalContext {
  dim(d: Dim): number;
  shape(s: Shape): number[];
  /** Runs a loop node's body over its steps (the evaluator owns loop bodies). */
  loop(n: Node): Tensor;
  /** Tape entry k of a loop that has run: its per-step values stacked. */
  tape(loop: Node, k: number): Tensor;
  /** The value of a node evaluated earlier (a loop's results). */
  value(n: Node): Tensor;
}

/** The range of values a dim can take: a constant, or [1, ∞) for a symbolic dim. */
export type DimRange = (d: Dim) => [number, number];

/**
 * How the size of a gradient changes through one op, for the recurrence
 * analysis (exploding and vanishing gradients): the gain from each input to
 * the output is a bound on |d out / d in|.
 *  - zero: no gradient passes (also implied by `zeroGrad: "everywhere"`);
 *  - same: input 0's gain passes unchanged (layout, mean, softmax);
 *  - sum: the inputs' gains add (add, sub);
 *  - max: the largest of the inputs' gains (selections: maximum, where, concat);
 *  - product: each input's gain times the other factor's largest magnitude;
 *  - quotient: a numerator's gain over the denominator's smallest magnitude;
 *  - linear: a matrix product; through a square param matrix, its spectral radius;
 *  - slope: input 0's gain times the op's largest slope on the input's interval
 *    (`activation` names it as an activation in the linter's messages).
 */
export type Gain =
  | { kind: "zero" | "same" | "sum" | "max" | "product" | "quotient" | "linear" }
  | { kind: "slope"; slope: (x: Interval, a: Attrs) => number; activation?: boolean }
  | Unsupported;

/**
 * How an op uses an input, for the linter's flow rules:
 *  - compute: computes with its value (the default for positions not listed);
 *  - layout: the output's elements are this input's elements, moved, repeated or picked;
 *  - identity: the output is this input's value (stop_gradient, clip_grad);
 *  - negate: the output is minus this input;
 *  - select: the input chooses or indexes (a where condition, labels, an index);
 *  - mask: the input scales the other operand (a product or quotient: a 0/1 mask there selects).
 */
export type Role = "compute" | "layout" | "identity" | "negate" | "select" | "mask";

/**
 * A relu-like unit (dead where its input is not positive), or a saturating
 * one, saturated (output within about 1% of an asymptote) where its input is
 * beyond `beyond` (below -beyond only, when one-sided), where its slope is
 * small (`slope` says how small, for messages).
 */
export type Activation = { kind: "relu" } | { kind: "saturating"; beyond: number; twoSided: boolean; slope: string };

/** The linter's transfer rules for an op. */
export interface LintRules {
  /** The output's interval from the inputs' intervals. */
  interval: ((x: readonly Interval[], n: Node, dims: DimRange) => Interval) | Unsupported;
  /** The output's per-element mean and variance from the inputs' (null: an input's is unknown). */
  moments: ((m: readonly (Moments | null)[], n: Node, dim: (d: Dim) => number) => Moments | null) | Unsupported;
  gain: Gain;
  /** Per input position; positions not listed compute. */
  roles?: readonly Role[];
  /** What kind of unit it is, for the activation rules (dead-relu, saturation) and the sampler. */
  activation?: Activation;
}

export interface OpDef {
  class: OpClass;
  /** Number of inputs (-1: any; loops). */
  arity: number;
  /** Shape and dtype of the output; throws OpError on bad inputs. */
  infer(inputs: readonly Node[], attrs: Attrs): { shape: Dim[]; dtype: DType };
  /** The float64 reference: the output from the inputs' values. */
  eval(x: readonly Tensor[], n: Node, ctx: EvalContext): Tensor;
  /** Elementwise ops: the JS expression of one element, over plain identifiers (the kernel). */
  scalar?(args: readonly string[], attrs: Attrs): string;
  /** Elementwise ops: the same formula as a float64 function (what `eval` maps). */
  f64?(attrs: Attrs): ScalarFn;
  /**
   * Optionally, a faster formula for float32 modules that calls a runtime
   * helper of the generated module; its result rounded to float32 must equal
   * `scalar`'s (tests/codegen/relu32.test.ts holds relu to this).
   */
  scalarF32?: { helper: "relu32"; code(args: readonly string[]): string };
  /**
   * Elementwise ops: the special functions (../special.ts) `scalar` calls;
   * the module carries them (float64 exactly as `f64`, float32 to float32
   * accuracy), and constant folding evaluates `f64` instead of `scalar`.
   */
  calls?: readonly SpecialFn[];
  /** The gradient rule; ops without one are differentiated by the driver (loops) or are never differentiated. */
  vjp?: Vjp;
  saves?: Saves;
  /**
   * Zero-gradient facts for the linter: "everywhere" (round, sign, ...), or
   * "outside" (clip-like: zero outside a range of the input).
   */
  zeroGrad?: "everywhere" | "outside";
  /** Whether x (a value of input 0) is within 1e-3 of a point where the derivative jumps (relu's 0); tests keep away. */
  nearKink?(x: number, attrs: Attrs): boolean;
  /** Input k is an int index into an axis of this size (labels below the classes; xs[i] below xs's length). */
  indexes?(n: Node, k: number): Dim | null;
  /**
   * Floating-point operations of one execution of the node; `dimValue` gives
   * the size of each dim (symbolic ones bound). Each arithmetic operation,
   * comparison or Math call counts as 1. Ops that only move data count 0.
   */
  flops(node: Node, dimValue: (d: Dim) => number): number;
  /**
   * What codegen needs beyond the class. `view`: the value is a view of the
   * first input, never a copy: the same value ("identity"), the whole buffer
   * in order under a new shape ("whole"), or a strided view ("strided").
   * `fold`: a reduction folding its input into one accumulator per result,
   * whose loop can compute a fused elementwise input in place.
   */
  codegen?: { view: "identity" | "whole" | "strided" } | { fold: "sum" | "mean" | "max" | "min" };
  lint: LintRules;
  /**
   * A representative application, for the generated op tests: operand shapes
   * and dtypes, attrs its shape rule accepts, and where to draw each float
   * operand from when the op is not defined or not smooth everywhere
   * (default [-2, 2]).
   */
  example: { inputs: readonly [Dim[], DType][]; attrs?: Attrs; domain?: readonly [number, number][] };
}

// ---- helpers for the entries ---------------------------------------------

export const num = (a: Attrs, k: string): number => a[k] as number;
export const nums = (a: Attrs, k: string): readonly number[] => a[k] as readonly number[];
export const dims = (a: Attrs, k: string): readonly Dim[] => a[k] as readonly Dim[];

export function requireFloat(inputs: readonly Node[], ...which: number[]): void {
  for (const i of which.length ? which : inputs.map((_, k) => k)) {
    if (inputs[i].dtype !== "float") fail(`expected a float tensor, got an int tensor ${showShape(inputs[i].shape)}`);
  }
}

export function requireInt(n: Node, what: string): void {
  if (n.dtype !== "int") fail(`${what} must be an int tensor, got a float tensor ${showShape(n.shape)}`);
}

export function broadcastInfer(inputs: readonly Node[]): { shape: Dim[]; dtype: DType } {
  requireFloat(inputs);
  const shape = broadcastShapes(inputs.map((n) => n.shape));
  if (!shape) fail(`shapes ${inputs.map((n) => showShape(n.shape)).join(" and ")} do not broadcast`);
  return { shape, dtype: "float" };
}

export const size = (n: Node, dv: (d: Dim) => number): number => n.shape.reduce<number>((p, d) => p * dv(d), 1);
export const zeroFlops = (): number => 0;

/** The saves of a rule that reads nothing forward. */
export const NOTHING: Saves = { inputs: [], output: false };
export const OUTPUT: Saves = { inputs: [], output: true };
export const INPUT0: Saves = { inputs: [0], output: false };

/** A number as a JS literal that round-trips (used in scalar formulas). */
export function lit(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  const s = String(v);
  return v < 0 ? `(${s})` : s;
}

/** Moments of an op applied elementwise to one Gaussian input, from its float64 formula, by quadrature. */
export function mappedMoments(f64: (a: Attrs) => ScalarFn) {
  return (m: readonly (Moments | null)[], n: Node): Moments | null => (m[0] ? gaussianMap(f64(n.attrs), m[0]) : null);
}

/** Interval of a monotone increasing unary op, from its float64 formula. */
export function increasing(f64: (x: number, a: Attrs) => number) {
  return (x: readonly Interval[], n: Node): Interval => monotoneI(x[0], (v) => f64(v, n.attrs));
}

const elementwiseEval =
  (f64: (a: Attrs) => ScalarFn) =>
  (x: readonly Tensor[], n: Node): Tensor =>
    mapElements(f64(n.attrs), x);

export interface UnarySpec {
  f64: (x: number, a: Attrs) => number;
  emit: (x: string, a: Attrs) => string;
  vjp: Vjp;
  saves: Saves;
  flops?: number;
  interval: LintRules["interval"];
  gain: Gain;
  activation?: LintRules["activation"];
  roles?: LintRules["roles"];
  /** Exact moments, where the Gaussian map of the formula is not needed. */
  moments?: LintRules["moments"];
  zeroGrad?: OpDef["zeroGrad"];
  nearKink?: OpDef["nearKink"];
  attrs?: Attrs;
  domain?: readonly [number, number][];
  extra?: Partial<OpDef>;
}

/** An elementwise unary op: moments come from its float64 formula over a Gaussian input. */
export function unary(s: UnarySpec): OpDef {
  const flops = s.flops ?? 1;
  const f64 = (a: Attrs): ScalarFn => (x) => s.f64(x, a);
  return {
    class: "elementwise",
    arity: 1,
    infer: broadcastInfer,
    eval: elementwiseEval(f64),
    scalar: ([x], a) => s.emit(x, a),
    f64,
    vjp: s.vjp,
    saves: s.saves,
    zeroGrad: s.zeroGrad,
    nearKink: s.nearKink,
    flops: (n, dv) => flops * size(n, dv),
    lint: { interval: s.interval, moments: s.moments ?? mappedMoments(f64), gain: s.gain, activation: s.activation, roles: s.roles },
    example: { inputs: [[["B", 4], "float"]], attrs: s.attrs, domain: s.domain },
    ...s.extra,
  };
}

export interface NaryElementwiseSpec {
  arity: number;
  f64: (a: Attrs) => ScalarFn;
  emit: (args: readonly string[], a: Attrs) => string;
  vjp: Vjp;
  saves: Saves;
  flops?: number;
  lint: LintRules;
  zeroGrad?: OpDef["zeroGrad"];
  infer?: OpDef["infer"];
  nearKink?: OpDef["nearKink"];
  domain?: readonly [number, number][];
}

/** An elementwise op of two or more inputs, broadcasting. */
export function nary(s: NaryElementwiseSpec): OpDef {
  const flops = s.flops ?? 1;
  const shapes: Dim[][] = [["B", 4], [4], [1, 4]];
  return {
    class: "elementwise",
    arity: s.arity,
    infer: s.infer ?? broadcastInfer,
    eval: elementwiseEval(s.f64),
    scalar: s.emit,
    f64: s.f64,
    vjp: s.vjp,
    saves: s.saves,
    zeroGrad: s.zeroGrad,
    nearKink: s.nearKink,
    flops: (n, dv) => flops * size(n, dv),
    lint: s.lint,
    example: { inputs: shapes.slice(0, s.arity).map((sh) => [sh, "float"] as [Dim[], DType]), domain: s.domain },
  };
}

/** Mean and variance of a sum or difference of independent operands. */
export function sumMoments(sign: 1 | -1) {
  return (m: readonly (Moments | null)[]): Moments | null => {
    const [p, q] = m;
    return p && q ? { mean: p.mean + sign * q.mean, var: p.var + q.var } : null;
  };
}

export const addIntervals = (x: readonly Interval[]): Interval => addI(x[0], x[1]);
export const absInterval = (x: readonly Interval[]): Interval => absI(x[0]);

/** Shape with reduced axes kept as 1, to broadcast a reduction's cotangent back. */
export function keepdimsOf(b: IRBuilder, node: Node, ct: Node): Node {
  const x = node.inputs[0];
  const kept = reducedShape(x.shape, nums(node.attrs, "axes"), true);
  return node.attrs.keepdims ? ct : b.op("reshape", [ct], { shape: kept });
}

export function broadcastBack(b: IRBuilder, node: Node, ct: Node): Node {
  return b.op("broadcast_to", [keepdimsOf(b, node, ct)], { shape: node.inputs[0].shape });
}

export function axisInfer(inputs: readonly Node[], a: Attrs): { shape: Dim[]; dtype: DType } {
  requireFloat(inputs);
  if (normAxis(num(a, "axis"), inputs[0].shape.length) === null) fail(`axis ${num(a, "axis")} is out of range`);
  return { shape: [...inputs[0].shape], dtype: "float" };
}

export function axisOf(n: Node): number {
  return normAxis(num(n.attrs, "axis"), n.shape.length) as number;
}

/** A source's value: a tensor of its shape filled with one number. */
export function filled(shape: number[], v: number): Tensor {
  const t = tensor(shape);
  t.data.fill(v);
  return t;
}

