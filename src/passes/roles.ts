// Names for the values the source does not name, derived from what they are,
// never from IR ids (which shift whenever a pass changes): `x @ W1` is
// `x_W1`, the input of an activation is its pre-activation (`h_pre` for
// `h = relu(...)`), anything else is its op and the value it reads
// (`tanh_c`). Autodiff names a gradient `d` + the name of its value
// (`dh_pre`), and codegen names buffers and locals with these. A name may
// repeat; codegen's Namer makes identifiers unique and safe.
import { OPS } from "../ir/ops.js";
import type { Graph, Node } from "../ir/types.js";

/** Derived names longer than this fall back to the op's name alone. */
const MAX_LENGTH = 24;

/** Shorter words for ops in derived names, as people write them. */
const WORD: Partial<Record<string, string>> = { cross_entropy: "ce" };

/** The readers of every node of a graph, loop bodies included; and for each carried value, what it carries. */
function readersOf(g: Graph): { readers: Map<Node, Node[]>; carries: Map<Node, Node[]> } {
  const readers = new Map<Node, Node[]>();
  const carries = new Map<Node, Node[]>();
  const walk = (nodes: readonly Node[]): void => {
    for (const n of nodes) {
      for (const i of n.inputs) {
        const rs = readers.get(i);
        if (rs) rs.push(n);
        else readers.set(i, [n]);
      }
      if (n.body) {
        const b = n.body;
        b.carried.forEach((c, k) => carries.set(c, [b.results[k], n.inputs[k]]));
        walk(b.nodes);
      }
    }
  };
  walk(g.nodes);
  return { readers, carries };
}

/** Whether an op is an activation: elementwise on one input, and not an identity. */
function isActivation(n: Node): boolean {
  const def = OPS[n.op];
  return def.class === "elementwise" && def.arity === 1 && !(def.codegen && "view" in def.codegen);
}

/**
 * A function naming every node of `g`: its source name when it has one, else
 * a name derived from its role.
 */
export function roleNamer(g: Graph): (n: Node) => string {
  const { readers, carries } = readersOf(g);
  const memo = new Map<Node, string>();
  const name = (n: Node): string => {
    if (n.name) return n.name;
    let s = memo.get(n);
    if (s === undefined) {
      memo.set(n, n.op); // a cycle (there is none in an IR graph) would stop here
      s = derive(n);
      memo.set(n, s);
    }
    return s;
  };
  const short = (s: string, fallback: string): string => (s.length <= MAX_LENGTH ? s : fallback);
  const derive = (n: Node): string => {
    const [a, b] = n.inputs;
    switch (n.op) {
      case "matmul":
        return short(`${name(a)}_${name(b)}`, n.op);
      case "matmul_add":
        return name(a); // it adds into a, in place
      case "index":
        return short(`${name(a)}_${name(b)}`, `${name(a)}_row`);
      case "carry": {
        // The value carried: named as its next value or its initial one is.
        const [next, init] = carries.get(n) ?? [];
        const named = [next, init].find((x) => x && x !== n && x.name);
        return named?.name ?? n.op;
      }
      case "loop_out":
      case "loop_tape":
      case "loop_index":
        return n.op;
    }
    const rs = readers.get(n) ?? [];
    if (rs.length === 1 && isActivation(rs[0]) && rs[0].phase === n.phase) return short(`${name(rs[0])}_pre`, n.op);
    const named = n.inputs.find((x) => x.name) ?? n.inputs.find((x) => x.op !== "const");
    const word = WORD[n.op] ?? n.op;
    return named ? short(`${word}_${name(named)}`, word) : word;
  };
  return name;
}
