// The tensor IR: flat SSA nodes, each with an op from the op table, its
// inputs, attributes, a shape (constant or symbolic dims), a dtype and the
// span of the .bp text it came from. Loops stay loops: a `loop` node owns a
// body block that runs once per step, and `loop_out` / `loop_tape` nodes
// read its results.
import type { Span } from "../diag.js";
import type { OpKind } from "./ops.js";

export type DType = "float" | "int";
/** A dimension: a constant size or the name of a symbolic dim bound at call time. */
export type Dim = number | string;
export type Shape = readonly Dim[];

/** forward: computes the model; backward: computes gradients. */
export type Phase = "fwd" | "bwd";

export interface Node {
  readonly id: number;
  readonly op: OpKind;
  readonly inputs: readonly Node[];
  readonly attrs: Attrs;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly span: Span;
  readonly phase: Phase;
  /** The source name this value was bound to (`h`, `logits`), or a derived one (`dW1`). */
  name?: string;
  /** The body of a `loop` node. */
  readonly body?: LoopBody;
}

/** Attribute values are plain data, so nodes can be hashed and printed. */
export type AttrValue = number | string | boolean | null | readonly number[] | readonly Dim[] | readonly (number | null)[];
export type Attrs = Readonly<Record<string, AttrValue>>;

/**
 * One step of a loop. `index` is the step number (int scalar); `carried` are
 * placeholders for the values carried in from the previous step; `results`
 * are the values carried out, one per carried value. Body nodes may read any
 * node defined outside the loop (parameters, inputs, earlier values).
 * `tape` lists body values that are stacked over steps and readable after the
 * loop through `loop_tape` nodes (backprop through time reads them); autodiff
 * fills it in. The loop node's attrs: `count` (a Dim), `start` (the first
 * value of the index), and `reverse` (true on backward loops: the index walks
 * start+count-1 down to start).
 */
export interface LoopBody {
  readonly index: Node;
  readonly carried: readonly Node[];
  readonly nodes: readonly Node[];
  readonly results: readonly Node[];
  readonly tape: Node[];
}

export interface DimDecl {
  name: string;
  value: number | null;
  span: Span;
}

/** The whole program: the forward graph and, after autodiff, the backward graph. */
export interface Graph {
  name: string;
  file: string;
  source: string;
  dims: DimDecl[];
  /** `input` nodes in declaration order. */
  inputs: Node[];
  /** `param` nodes in declaration order. */
  params: Node[];
  /** Every computed top-level node, topologically ordered (inputs and params excluded). */
  nodes: Node[];
  outputs: { name: string; node: Node }[];
  loss: Node;
  /** Filled by autodiff: the gradient of the loss for each param (and requested inputs). */
  grads: { name: string; of: Node; node: Node }[];
}
