// Rebuilding a graph node by node: the mechanism under every IR -> IR pass.
// Each node is re-created through a Builder with its inputs substituted; a
// pass may supply a rule that returns a replacement. With `intern`, equal
// nodes are built once, which is common-subexpression elimination.
import { Builder } from "../ir/builder.js";
import type { Graph, LoopBody, Node } from "../ir/types.js";

/** What a rewrite rule sees: the node, its already-rebuilt inputs, and a builder. */
export type Rule = (b: Builder, n: Node, inputs: Node[]) => Node | null;

/**
 * Opens a new scope for a copy of a loop body: fresh `loop_index` and
 * `carry` placeholders, recorded in `remap`. The caller rebuilds the body's
 * nodes, then pops the scope into the new loop.
 */
export function openLoopBody(b: Builder, body: LoopBody, remap: Map<number, Node>): { index: Node; carried: Node[] } {
  b.pushScope();
  const index = b.source("loop_index", body.index.attrs, [], "int");
  index.name = body.index.name;
  remap.set(body.index.id, index);
  const carried = body.carried.map((c) => {
    const x = b.source("carry", c.attrs, c.shape, c.dtype);
    x.name = c.name;
    remap.set(c.id, x);
    return x;
  });
  return { index, carried };
}

export function mapGraph(g: Graph, opts: { rule?: Rule; intern?: boolean } = {}): Graph {
  // Every computed node is rebuilt, so ids restart after the inputs and params.
  const b = new Builder({ startId: Math.max(-1, ...[...g.inputs, ...g.params].map((n) => n.id)) + 1, intern: opts.intern ?? false });
  const remap = new Map<number, Node>();
  const get = (n: Node): Node => remap.get(n.id) ?? n;

  const rebuild = (nodes: readonly Node[]): void => {
    for (const n of nodes) {
      b.span = n.span;
      b.phase = n.phase;
      const inputs = n.inputs.map(get);
      let out: Node | null = null;
      if (n.op === "loop") out = rebuildLoop(n, inputs);
      else {
        out = (opts.rule ? opts.rule(b, n, inputs) : null) ?? b.op(n.op, inputs, n.attrs);
      }
      if (n.name && !out.name) out.name = n.name;
      remap.set(n.id, out);
    }
  };

  const rebuildLoop = (n: Node, inputs: Node[]): Node => {
    const body = n.body as LoopBody;
    const { index, carried } = openLoopBody(b, body, remap);
    rebuild(body.nodes);
    const results = body.results.map(get);
    const tape = body.tape.map(get);
    const nodes = b.popScope();
    b.span = n.span;
    b.phase = n.phase;
    return b.loop(n.attrs.count as string | number, inputs, { index, carried, nodes, results, tape }, n.attrs);
  };

  rebuild(g.nodes);
  return {
    ...g,
    nodes: b.nodes,
    outputs: g.outputs.map((o) => ({ name: o.name, node: get(o.node) })),
    loss: get(g.loss),
    grads: g.grads.map((x) => ({ ...x, node: get(x.node) })),
  };
}

export function maxGraphId(g: Graph): number {
  let m = 0;
  const walk = (nodes: readonly Node[]): void => {
    for (const n of nodes) {
      m = Math.max(m, n.id);
      if (n.body) {
        m = Math.max(m, n.body.index.id, ...n.body.carried.map((c) => c.id));
        walk(n.body.nodes);
      }
    }
  };
  walk(g.inputs);
  walk(g.params);
  walk(g.nodes);
  return m;
}
