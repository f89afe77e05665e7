/**
 * Monte Carlo statistics: a seeded float64 forward evaluation of the IR.
 *
 * Params are drawn by their initializers exactly as the compiled module's
 * `init(seed)` draws them (src/ir/init.ts, one stream per param), inputs from
 * their hints (src/lint/hints.ts), symbolic dims are bound to a small
 * size, and every op runs through its entry's float64 reference `eval` (the
 * op table; a generated test holds `eval` to the compiled module). Values of
 * watched nodes are recorded (every step of a loop), and a node's value can
 * be overridden (the clip-before-loss direction test).
 */
import { fanShape, initializer } from "../ir/init.js";
import { OPS } from "../ir/ops.js";
import { rng } from "../ir/random.js";
import { EvalError, numel, scalarTensor, tensor, type Tensor } from "../ir/tensor.js";
import type { Dim, Graph, Node } from "../ir/types.js";
import { intRanges, sampleInput } from "./hints.js";
import { nodeFlops } from "../ir/flops.js";
import { approxSize, sizeValue } from "../ir/dims.js";

export { EvalError, type Tensor };

/** A parameter's initial value: what `init(seed)` gives the param at position `k`, in float64. */
export function sampleParam(p: Node, shape: number[], seed: number, k: number): Tensor {
  const t = tensor(shape);
  initializer(p.attrs.init as string).sample(t.data, fanShape(p.attrs.init as string, shape, p.attrs), (p.attrs.initArgs as readonly number[]) ?? [], rng(seed, k));
  return t;
}

export interface EvalOptions {
  /** Nodes whose values to record (each loop step appends one entry). */
  watch?: ReadonlySet<Node>;
  /** Values to use instead of computing a node (applied everywhere the node is evaluated). */
  override?: Map<Node, (computed: Tensor) => Tensor>;
  /** Cap on recorded loop steps per watched node. */
  maxSteps?: number;
}

export class Evaluator {
  readonly values = new Map<Node, Tensor>();
  readonly recorded = new Map<Node, Tensor[]>();
  private readonly tapes = new Map<Node, Tensor[]>();
  constructor(
    readonly g: Graph,
    readonly dims: Map<string, number>,
    readonly params: Map<Node, Tensor>,
    readonly inputs: Map<Node, Tensor>,
    readonly opts: EvalOptions = {},
  ) {}

  /** A size with the symbolic dims bound; an EvalError quoting it when it is not a positive integer. */
  dim(d: Dim): number {
    return sizeValue(d, this.dims);
  }

  shape(s: readonly Dim[]): number[] {
    return s.map((d) => this.dim(d));
  }

  run(): void {
    for (const p of this.g.params) this.values.set(p, this.params.get(p)!);
    for (const x of this.g.inputs) this.values.set(x, this.inputs.get(x)!);
    this.block(this.g.nodes);
  }

  get(n: Node): Tensor {
    const v = this.values.get(n);
    if (!v) throw new EvalError(`no value for %${n.id}`);
    return v;
  }

  block(nodes: readonly Node[]): void {
    for (const n of nodes) {
      let v = OPS[n.op].eval(
        n.inputs.map((x) => this.get(x)),
        n,
        this,
      );
      const o = this.opts.override?.get(n);
      if (o) v = o(v);
      this.values.set(n, v);
      if (this.opts.watch?.has(n)) {
        const list = this.recorded.get(n) ?? this.recorded.set(n, []).get(n)!;
        if (list.length < (this.opts.maxSteps ?? 64)) list.push(v);
      }
    }
  }

  /** The evaluator's side of the op table's EvalContext. */
  value(n: Node): Tensor {
    return this.get(n);
  }

  tape(loop: Node, k: number): Tensor {
    const steps = this.tapes.get(loop.body!.tape[k]);
    if (!steps) throw new EvalError(`tape ${k} of a loop that has not run`);
    const inner = steps[0]?.shape ?? [];
    const out = tensor([steps.length, ...inner]);
    steps.forEach((s, t) => out.data.set(s.data, t * numel(inner)));
    return out;
  }

  loop(n: Node): Tensor {
    const b = n.body!;
    const count = this.dim(n.attrs.count as Dim);
    const start = (n.attrs.start as number) ?? 0;
    const reverse = n.attrs.reverse === true;
    for (const v of b.tape) this.tapes.set(v, []);
    b.carried.forEach((c, k) => this.values.set(c, this.get(n.inputs[k])));
    for (let t = 0; t < count; t++) {
      this.values.set(b.index, scalarTensor(reverse ? start + count - 1 - t : start + t));
      this.stepHook?.(n, t);
      this.block(b.nodes);
      for (const v of b.tape) this.tapes.get(v)!.push(this.get(v));
      const next = b.results.map((r) => this.get(r));
      b.carried.forEach((c, k) => this.values.set(c, next[k]));
    }
    return tensor([]);
  }

  /** Called before each loop step (the recurrence analysis perturbs carried values here). */
  stepHook?: (loop: Node, step: number) => void;
}

// ---- drawing a whole model ---------------------------------------------------------

/**
 * Multiply-adds of one forward pass with every symbolic dim bound to `b`:
 * a matrix product's from its flops, every other node one per element it
 * reads or writes.
 */
export function forwardCost(g: Graph, b: number): number {
  const dim = (d: Dim): number => approxSize(d, b);
  let total = 0;
  const walk = (nodes: readonly Node[], reps: number): void => {
    for (const n of nodes) {
      if (n.body) {
        walk(n.body.nodes, reps * dim(n.attrs.count as Dim));
        continue;
      }
      const elems = (m: Node): number => m.shape.reduce<number>((p, d) => p * dim(d), 1);
      const work = OPS[n.op].class === "linalg" ? nodeFlops(n, dim) / 2 : Math.max(elems(n), n.inputs.length ? elems(n.inputs[0]) : 0);
      total += reps * work;
    }
  };
  walk(g.nodes, 1);
  return total;
}

export interface Draw {
  dims: Map<string, number>;
  params: Map<Node, Tensor>;
  inputs: Map<Node, Tensor>;
}

/** Binds symbolic dims, draws params as `init(seed)` does and inputs from their hints. */
export function draw(g: Graph, symbolic: number, seed: number): Draw {
  const dims = new Map<string, number>();
  for (const d of g.dims) if (d.value === null) dims.set(d.name, symbolic);
  const sh = (s: readonly Dim[]): number[] => s.map((d) => sizeValue(d, (a) => dims.get(a) ?? symbolic));
  const params = new Map(g.params.map((p, k) => [p, sampleParam(p, sh(p.shape), seed, k)] as const));
  const next = rng(seed, -1);
  const ints = intRanges(g, symbolic);
  const inputs = new Map(g.inputs.map((x) => [x, sampleInput(x, sh(x.shape), next, ints)] as const));
  return { dims, params, inputs };
}
