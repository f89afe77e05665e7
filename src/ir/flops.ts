// Flop counting over the IR: each op's `flops` entry in the op table, summed
// over the graph with symbolic dims bound to sizes, loop bodies counted once
// per step. The benchmark divides these counts by measured times (GFLOP/s) and
// compares the backward/forward time ratio with the flop ratio.
import { evalDim } from "./dimexpr.js";
import { OPS } from "./ops.js";
import type { Dim, Graph, Node } from "./types.js";

export interface FlopCount {
  /** Flops of the nodes with phase "fwd": one forward pass. */
  forward: number;
  /** Flops of the nodes with phase "bwd": the gradient computation alone (without its forward pass). */
  backward: number;
}

/**
 * Counts the flops of one forward pass and of the backward part of a graph.
 * `dims` binds symbolic dims (`{ B: 64 }`); dims declared with a value need no
 * entry (an entry that disagrees with the declaration is an error). Loop
 * bodies count `count` times. A symbolic dim without a value throws.
 */
export function countFlops(g: Graph, dims: Record<string, number>): FlopCount {
  const declared = new Map<string, number | null>(g.dims.map((d) => [d.name, d.value]));
  for (const [name, v] of Object.entries(dims)) {
    const decl = declared.get(name);
    if (decl !== undefined && decl !== null && decl !== v) {
      throw new Error(`countFlops: dim ${name} is declared ${decl}, got ${v}`);
    }
    if (!Number.isInteger(v) || v < 0) throw new Error(`countFlops: dim ${name} must be a non-negative integer, got ${v}`);
  }
  const atom = (d: string): number => {
    const given = dims[d];
    if (given !== undefined) return given;
    const decl = declared.get(d);
    if (decl !== undefined && decl !== null) return decl;
    throw new Error(`countFlops: symbolic dim ${d} has no value (pass it in dims)`);
  };
  const dimValue = (d: Dim): number => evalDim(d, atom);
  const total: FlopCount = { forward: 0, backward: 0 };
  countBlock(g.nodes, 1, dimValue, total);
  return total;
}

/** The flops of one node alone (0 for ops without an entry: sources, layout, loops). */
export function nodeFlops(n: Node, dimValue: (d: Dim) => number): number {
  const f = OPS[n.op].flops;
  return f ? f(n, dimValue) : 0;
}

/**
 * Scalars computed only from constants and dims (mean's 1/B) are known once
 * the dims are bound: they cost nothing per element and are not counted.
 */
function isStatic(n: Node, memo: Map<number, boolean>): boolean {
  const hit = memo.get(n.id);
  if (hit !== undefined) return hit;
  const v =
    n.op === "const" || n.op === "numel" || (n.shape.length === 0 && n.inputs.length > 0 && OPS[n.op].class === "elementwise" && n.inputs.every((i) => isStatic(i, memo)));
  memo.set(n.id, v);
  return v;
}

function countBlock(nodes: readonly Node[], times: number, dimValue: (d: Dim) => number, total: FlopCount, memo = new Map<number, boolean>()): void {
  for (const n of nodes) {
    if (n.op === "loop" && n.body) {
      countBlock(n.body.nodes, times * dimValue(n.attrs.count as Dim), dimValue, total, memo);
      continue;
    }
    if (isStatic(n, memo)) continue;
    const f = nodeFlops(n, dimValue) * times;
    if (n.phase === "bwd") total.backward += f;
    else total.forward += f;
  }
}
