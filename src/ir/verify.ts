// The IR verifier: every node's shape and dtype agree with its op's rule,
// every input is defined before use and visible from where it is used, and
// loop bodies carry values of unchanging shape. Run after every pass in tests.
import { OPS } from "./ops.js";
import { sameShape, showShape } from "./shape.js";
import type { Graph, Node } from "./types.js";

export class VerifyError extends Error {}

export function verifyGraph(g: Graph): void {
  const seen = new Set<number>();
  for (const n of [...g.inputs, ...g.params]) seen.add(n.id);
  verifyBlock(g.nodes, seen);
  const must = (n: Node, what: string): void => {
    if (!seen.has(n.id)) throw new VerifyError(`${what} refers to %${n.id}, which is not defined at top level`);
  };
  for (const o of g.outputs) must(o.node, `output ${o.name}`);
  must(g.loss, "minimize");
  if (g.loss.shape.length !== 0) throw new VerifyError("the loss is not a scalar");
  for (const gr of g.grads) {
    must(gr.node, `grad ${gr.name}`);
    if (!sameShape(gr.node.shape, gr.of.shape))
      throw new VerifyError(`grad ${gr.name} has shape ${showShape(gr.node.shape)}, expected ${showShape(gr.of.shape)}`);
  }
}

function verifyBlock(nodes: readonly Node[], visible: Set<number>): void {
  for (const n of nodes) {
    if (visible.has(n.id)) throw new VerifyError(`%${n.id} (${n.op}) is defined twice`);
    for (const i of n.inputs) {
      if (!visible.has(i.id)) throw new VerifyError(`%${n.id} (${n.op}) uses %${i.id} (${i.op}) before it is defined`);
    }
    if (n.op === "loop") verifyLoop(n, visible);
    else {
      const t = OPS[n.op].infer(n.inputs, n.attrs);
      if (!sameShape(t.shape, n.shape) || t.dtype !== n.dtype) {
        throw new VerifyError(
          `%${n.id} (${n.op}) has type ${n.dtype}${showShape(n.shape)}, but its rule gives ${t.dtype}${showShape(t.shape)}`,
        );
      }
    }
    visible.add(n.id);
  }
}

function verifyLoop(n: Node, visible: Set<number>): void {
  const b = n.body;
  if (!b) throw new VerifyError(`loop %${n.id} has no body`);
  if (b.carried.length !== n.inputs.length || b.results.length !== n.inputs.length) {
    throw new VerifyError(`loop %${n.id}: ${n.inputs.length} initial values, ${b.carried.length} carried, ${b.results.length} results`);
  }
  const inner = new Set(visible);
  inner.add(b.index.id);
  b.carried.forEach((c, i) => {
    inner.add(c.id);
    if (!sameShape(c.shape, n.inputs[i].shape)) throw new VerifyError(`loop %${n.id}: carried %${c.id} changes shape`);
  });
  verifyBlock(b.nodes, inner);
  b.results.forEach((r, i) => {
    if (!inner.has(r.id)) throw new VerifyError(`loop %${n.id}: result %${r.id} is not visible in the body`);
    if (!sameShape(r.shape, b.carried[i].shape))
      throw new VerifyError(`loop %${n.id}: result %${r.id} has shape ${showShape(r.shape)}, carried ${showShape(b.carried[i].shape)}`);
  });
  for (const t of b.tape) if (!inner.has(t.id)) throw new VerifyError(`loop %${n.id}: tape value %${t.id} is not in the body`);
}
