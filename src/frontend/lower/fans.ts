// How a param is used decides the fans its initializer reads (ir/init.ts,
// fanShape): a param of three or more axes read one matrix at a time, as
// W[l] or as the batch of matrices of an `@`, is a stack of matrices. Marked
// after lowering, from the IR, so every form of read counts (a conv kernel
// is marked where the conv is lowered, calls.ts).
import type { Attrs, Node } from "../../ir/types.js";

export function markStacks(nodes: readonly Node[]): void {
  for (const n of nodes) {
    if (n.body) markStacks(n.body.nodes);
    const stack = stackRead(n);
    if (stack && stack.attrs.fans === undefined) (stack as { attrs: Attrs }).attrs = { ...stack.attrs, fans: "stack" };
  }
}

/** The param a node reads as a stack of matrices, if any. */
function stackRead(n: Node): Node | null {
  const p = n.inputs[0];
  const isStack = (x: Node | undefined): x is Node => x !== undefined && x.op === "param" && x.shape.length >= 3;
  // W[l]: one int index on the first axis (a loop variable or an int expression).
  if (n.op === "index" && isStack(p) && n.inputs[1]?.shape.length === 0 && n.shape.length === p.shape.length - 1) return p;
  // W[0]: a constant index on the first axis only.
  if (n.op === "slice" && isStack(p)) {
    const drop = (n.attrs.drop as readonly number[] | undefined) ?? [];
    const starts = n.attrs.starts as readonly number[];
    const ends = n.attrs.ends as readonly unknown[];
    const rest = p.shape.every((d, i) => i === 0 || (starts[i] === 0 && ends[i] === d));
    if (drop.length === 1 && drop[0] === 0 && rest) return p;
  }
  // x @ W with W [..., D, H]: batched matmul reads W's last two axes as the matrix.
  if (n.op === "matmul") return n.inputs.find(isStack) ?? null;
  return null;
}
