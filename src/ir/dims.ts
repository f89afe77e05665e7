// How a call's symbolic dims are found (spec section 6): each is read off the
// length of an input in which it is the only dim not yet known. The front end
// rejects a model with a dim this cannot find; codegen reads them in this order.
import type { Node } from "./types.js";

/** The order in which symbolic dims are read off input lengths, each with the input that gives it. */
export function dimOrder(inputs: readonly Node[]): { dim: string; input: Node }[] {
  const known = new Set<string>();
  const order: { dim: string; input: Node }[] = [];
  for (let progress = true; progress; ) {
    progress = false;
    for (const n of inputs) {
      const unknown = n.shape.filter((d): d is string => typeof d === "string" && !known.has(d));
      if (unknown.length === 1) {
        known.add(unknown[0]);
        order.push({ dim: unknown[0], input: n });
        progress = true;
      }
    }
  }
  return order;
}
