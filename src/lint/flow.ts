/**
 * Gradient-path analysis over the forward IR.
 *
 * The forward graph (loop bodies included) is viewed as a data-flow graph
 * whose edges say whether a gradient crosses them:
 *   - `diff`: the gradient flows (add, matmul, tanh, clip inside its range, ...);
 *   - `zero`: the op's gradient is zero everywhere (round, floor, ceil, sign,
 *     comparisons, argmax, where's condition), read from the op table's
 *     `zeroGrad: "everywhere"` facts;
 *   - `stop`: an explicit stop_gradient (intentional: never a diagnostic);
 *   - `int`: an int operand (labels, actions, indices), never differentiated.
 * A loop's carried value gets an edge from its initial value and a back edge
 * from the body's result; a `loop_out` gets an edge from the body's result.
 *
 * Facts, computed to a fixpoint (loops make the graph cyclic):
 *   - `deps(n)`: the params with a path of `diff` edges to n (n's value
 *     carries their gradient);
 *   - `reaches(n)`: n has a path of `diff` edges to the loss (the loss's
 *     gradient reaches n);
 *   - `reachesUncut(n)`: n has a path to the loss that no stop_gradient cuts
 *     (`diff`, `zero` and `int` edges): its value feeds the loss, whether or
 *     not a gradient can come back.
 */
import { OPS } from "../ir/ops.js";
import type { Graph, Node } from "../ir/types.js";

export type EdgeKind = "diff" | "zero" | "stop" | "int";

export interface Edge {
  from: Node;
  to: Node;
  kind: EdgeKind;
  /** The input position at `to` (-1 for loop plumbing). */
  pos: number;
}

export interface Flow {
  /** Every forward node, loop bodies included, in an order where inputs come first (back edges aside). */
  nodes: Node[];
  /** The loop node whose body holds a node (innermost), or undefined at top level. */
  loopOf: Map<Node, Node>;
  ins: Map<Node, Edge[]>;
  outs: Map<Node, Edge[]>;
  /** Params reaching each node through diff edges, as indices into graph.params. */
  deps: Map<Node, Set<number>>;
  reaches: Set<Node>;
  reachesUncut: Set<Node>;
  /** Params reaching each node through any edge but stop (the value depends on them). */
  valueDeps: Map<Node, Set<number>>;
}

export function edgeKind(user: Node, pos: number): EdgeKind {
  const input = user.inputs[pos];
  if (user.op === "stop_gradient") return "stop";
  if (input.dtype === "int") return "int";
  if (OPS[user.op].zeroGrad === "everywhere") return "zero";
  if (user.op === "where" && pos === 0) return "zero";
  return "diff";
}

export function analyzeFlow(g: Graph): Flow {
  const nodes: Node[] = [];
  const loopOf = new Map<Node, Node>();
  const ins = new Map<Node, Edge[]>();
  const outs = new Map<Node, Edge[]>();
  const add = (from: Node, to: Node, kind: EdgeKind, pos: number): void => {
    const e = { from, to, kind, pos };
    (ins.get(to) ?? ins.set(to, []).get(to)!).push(e);
    (outs.get(from) ?? outs.set(from, []).get(from)!).push(e);
  };
  const visit = (list: readonly Node[], loop: Node | undefined): void => {
    for (const n of list) {
      if (loop) loopOf.set(n, loop);
      if (n.op === "loop" && n.body) {
        const b = n.body;
        for (const c of [b.index, ...b.carried]) {
          loopOf.set(c, n);
          nodes.push(c);
        }
        b.carried.forEach((c, k) => add(n.inputs[k], c, n.inputs[k].dtype === "int" ? "int" : "diff", -1));
        visit(b.nodes, n);
        b.carried.forEach((c, k) => add(b.results[k], c, b.results[k].dtype === "int" ? "int" : "diff", -1));
        continue;
      }
      nodes.push(n);
      if (n.op === "loop_out") {
        const L = n.inputs[0];
        const r = L.body!.results[n.attrs.k as number];
        add(r, n, r.dtype === "int" ? "int" : "diff", -1);
        continue;
      }
      n.inputs.forEach((x, i) => add(x, n, edgeKind(n, i), i));
    }
  };
  visit([...g.inputs, ...g.params], undefined);
  visit(g.nodes, undefined);

  // Forward facts: param sets, to a fixpoint.
  const deps = new Map<Node, Set<number>>();
  const valueDeps = new Map<Node, Set<number>>();
  g.params.forEach((p, i) => {
    deps.set(p, new Set([i]));
    valueDeps.set(p, new Set([i]));
  });
  const forward = (facts: Map<Node, Set<number>>, pass: (k: EdgeKind) => boolean): void => {
    let changed = true;
    while (changed) {
      changed = false;
      for (const n of nodes) {
        const s = facts.get(n) ?? new Set<number>();
        const before = s.size;
        for (const e of ins.get(n) ?? []) {
          if (!pass(e.kind)) continue;
          for (const p of facts.get(e.from) ?? []) s.add(p);
        }
        if (s.size !== before || !facts.has(n)) {
          facts.set(n, s);
          if (s.size !== before) changed = true;
        }
      }
    }
  };
  forward(deps, (k) => k === "diff");
  forward(valueDeps, (k) => k !== "stop");

  const backward = (pass: (k: EdgeKind) => boolean): Set<Node> => {
    const seen = new Set<Node>([g.loss]);
    const stack = [g.loss];
    while (stack.length) {
      const n = stack.pop()!;
      for (const e of ins.get(n) ?? []) {
        if (!pass(e.kind) || seen.has(e.from)) continue;
        seen.add(e.from);
        stack.push(e.from);
      }
    }
    return seen;
  };
  return {
    nodes,
    loopOf,
    ins,
    outs,
    deps,
    valueDeps,
    reaches: backward((k) => k === "diff"),
    reachesUncut: backward((k) => k !== "stop"),
  };
}

/** Nodes reachable from `start` along out-edges accepted by `pass` (start excluded unless on a cycle). */
export function descendants(flow: Flow, start: Node, pass: (e: Edge) => boolean): Set<Node> {
  const seen = new Set<Node>();
  const stack = [start];
  while (stack.length) {
    const n = stack.pop()!;
    for (const e of flow.outs.get(n) ?? []) {
      if (!pass(e) || seen.has(e.to)) continue;
      seen.add(e.to);
      stack.push(e.to);
    }
  }
  return seen;
}
