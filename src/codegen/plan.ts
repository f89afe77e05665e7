// What codegen decides before writing a line: which nodes are live, who
// reads each node, and which elementwise nodes are fused into the loop of
// their single reader (so `relu(x @ W + b)` is one loop after the matmul and
// `x @ W + b` never gets a buffer of its own).
import { OPS } from "../ir/ops.js";
import { sameShape } from "../ir/shape.js";
import type { Graph, Node } from "../ir/types.js";

export interface Plan {
  live: Set<Node>;
  /** Distinct live readers of each node (nodes whose inputs include it). */
  readers: Map<Node, Set<Node>>;
  /** Nodes read by something other than a node input: outputs, loss, grads, loop results and tapes. */
  pinned: Set<Node>;
  /** Elementwise nodes computed inside their reader's loop instead of a loop of their own. */
  fused: Set<Node>;
  /** Fused nodes that also store their value, for readers in a later phase (the backward pass). */
  kept: Set<Node>;
  /** The block (top level or a loop body) each node belongs to. */
  block: Map<Node, number>;
  /**
   * For a cross_entropy_grad, the forward cross_entropy of the same logits
   * and labels, which keeps each row's log-sum-exp for it.
   */
  lseFrom: Map<Node, Node>;
  /**
   * For a layer_norm_grad at top level, the forward layer_norm of the same
   * input and attributes, which keeps each group's mean and 1/std for it.
   */
  statsFrom: Map<Node, Node>;
}

export function isElementwise(n: Node): boolean {
  return OPS[n.op].class === "elementwise" && OPS[n.op].scalar !== undefined;
}

/** Every node of a block and the blocks nested in it, with the block each belongs to. */
function walk(nodes: readonly Node[], id: { next: number }, blockId: number, f: (n: Node, block: number) => void): void {
  for (const n of nodes) {
    f(n, blockId);
    if (n.body) {
      const inner = id.next++;
      f(n.body.index, inner);
      for (const c of n.body.carried) f(c, inner);
      walk(n.body.nodes, id, inner, f);
    }
  }
}

/** `roots`: more nodes to keep live and pinned (the probe variant's backward figures). */
export function plan(g: Graph, roots: readonly Node[] = []): Plan {
  // Liveness: from the loss, the outputs and the gradients back through inputs;
  // a live loop keeps its results, a live loop_tape keeps its tape entry.
  const live = new Set<Node>();
  const work: Node[] = [];
  const mark = (n: Node): void => {
    if (!live.has(n)) {
      live.add(n);
      work.push(n);
    }
  };
  mark(g.loss);
  for (const o of g.outputs) mark(o.node);
  for (const gr of g.grads) mark(gr.node);
  for (const r of roots) mark(r);
  while (work.length) {
    const n = work.pop() as Node;
    for (const i of n.inputs) mark(i);
    if (n.op === "loop" && n.body) {
      for (const r of n.body.results) mark(r);
      for (const c of n.body.carried) mark(c);
      mark(n.body.index);
    }
    if (n.op === "loop_tape") {
      const loop = n.inputs[0];
      const t = loop.body?.tape[n.attrs.k as number];
      if (t) mark(t);
    }
  }

  const readers = new Map<Node, Set<Node>>();
  const pinned = new Set<Node>([g.loss, ...g.outputs.map((o) => o.node), ...g.grads.map((x) => x.node), ...roots]);
  const block = new Map<Node, number>();
  walk(g.nodes, { next: 1 }, 0, (n, b) => {
    block.set(n, b);
    if (!live.has(n)) return;
    for (const i of n.inputs) {
      let s = readers.get(i);
      if (!s) readers.set(i, (s = new Set()));
      s.add(n);
    }
    if (n.body) {
      for (const r of n.body.results) pinned.add(r);
      n.body.tape.forEach((t) => pinned.add(t));
    }
  });

  // A node fuses into its one reader of the same phase and block. It also
  // stores its value ("kept") when something else reads it later: the backward
  // pass, or a tape, loop result or output (read at the end of a step or call,
  // after its reader's loop has run).
  const fused = new Set<Node>();
  const kept = new Set<Node>();
  for (const [n, rs] of readers) {
    if (!isElementwise(n) || n.dtype !== "float") continue;
    const same = [...rs].filter((r) => r.phase === n.phase);
    if (same.length !== 1) continue;
    const [r] = same;
    if (block.get(r) !== block.get(n)) continue;
    const fold = OPS[r.op].codegen;
    const ok = (isElementwise(r) && sameShape(r.shape, n.shape)) || (fold !== undefined && "fold" in fold && r.inputs[0] === n);
    if (!ok) continue;
    fused.add(n);
    if (rs.size > 1 || pinned.has(n)) kept.add(n);
  }
  const lseFrom = new Map<Node, Node>();
  for (const n of live) {
    if (n.op !== "cross_entropy_grad") continue;
    const [z, y] = n.inputs;
    const ce = [...(readers.get(z) ?? [])].find((r) => r.op === "cross_entropy" && r.phase === "fwd" && r.inputs[1] === y);
    if (ce) lseFrom.set(n, ce);
  }
  // Top level only: a loop body's buffers hold the last step's values when the backward runs.
  const statsFrom = new Map<Node, Node>();
  for (const n of live) {
    if (n.op !== "layer_norm_grad" || block.get(n) !== 0) continue;
    const x = n.inputs[0];
    const same = (r: Node): boolean => JSON.stringify(r.attrs) === JSON.stringify(n.attrs);
    const ln = [...(readers.get(x) ?? [])].find((r) => r.op === "layer_norm" && r.phase === "fwd" && block.get(r) === 0 && same(r));
    if (ln) statsFrom.set(n, ln);
  }
  return { live, readers, pinned, fused, kept, block, lseFrom, statsFrom };
}
