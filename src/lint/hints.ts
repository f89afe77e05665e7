/**
 * What the linter assumes of the inputs: their hints (`in [lo, hi]`,
 * `~ normal(m, s)`, `~ uniform(lo, hi)`, `~ const(v)`; a float input without
 * one is normal(0, 1)) as intervals, moments and samples. An int input takes
 * the values its hint allows that every op reading it accepts (labels below
 * cross_entropy's classes, indices below the axis they index: the op table's
 * `indexes` fact), through layout ops that pass it on; `bpc check` draws from
 * the same ranges.
 */
import { approxSize } from "../ir/dims.js";
import { OPS } from "../ir/ops.js";
import { iv, point, REAL, type Interval, type Moments } from "../ir/ranges.js";
import { gauss } from "../ir/random.js";
import { tensor, type Tensor } from "../ir/tensor.js";
import type { Dim, Graph, Node } from "../ir/types.js";
import { BpcError } from "../diag.js";

/**
 * An input's hinted range with symbolic ends (an int input's `in [0, B)`)
 * at `symSize`, or, without one, a symbolic high end as +Infinity.
 */
function hintRange(x: Node, symSize?: number): [number, number] | undefined {
  const range = x.attrs.range as readonly Dim[] | undefined;
  if (!range) return undefined;
  const [lo, hi] = range;
  return [typeof lo === "number" ? lo : symSize === undefined ? -Infinity : approxSize(lo, symSize), typeof hi === "number" ? hi : symSize === undefined ? Infinity : approxSize(hi, symSize)];
}

export function inputInterval(x: Node): Interval {
  const range = hintRange(x);
  const args = (x.attrs.distArgs as readonly number[]) ?? [];
  if (x.dtype === "int" && range) return iv(range[0], x.attrs.rangeClosed === false ? range[1] - 1 : range[1]);
  if (range) return iv(range[0], range[1], false, x.attrs.rangeClosed === false);
  if (x.attrs.dist === "uniform") return iv(args[0], args[1]);
  if (x.attrs.dist === "const") return point(args[0]);
  if (x.attrs.dist === "normal" && args[1] === 0) return point(args[0]);
  return REAL;
}

/** Mean and variance of one element of an input, symbolic dims in its hint at `symSize`. */
export function inputMoments(x: Node, symSize = 32): Moments {
  const range = hintRange(x, symSize);
  const args = (x.attrs.distArgs as readonly number[]) ?? [];
  if (x.dtype === "int" && range) {
    const n = range[1] - range[0] + (x.attrs.rangeClosed === false ? 0 : 1);
    return { mean: range[0] + (n - 1) / 2, var: (n * n - 1) / 12 };
  }
  if (x.attrs.dist === "normal") return { mean: args[0], var: args[1] * args[1] };
  if (x.attrs.dist === "const") return { mean: args[0], var: 0 };
  const u = x.attrs.dist === "uniform" ? args : range;
  if (u) return { mean: (u[0] + u[1]) / 2, var: (u[1] - u[0]) ** 2 / 12 };
  return { mean: 0, var: 1 };
}

/** An int input's values: lo <= v < top; `by` names the op that cut the hint, if one did. */
export interface IntRange {
  lo: number;
  top: number;
  by?: string;
}

function allNodes(nodes: readonly Node[], out: Node[] = []): Node[] {
  for (const n of nodes) {
    out.push(n);
    if (n.body) allNodes(n.body.nodes, out);
  }
  return out;
}

/**
 * The values each int input may take: its hint (none: [0, 1)), cut to what
 * the ops reading it accept, with symbolic dims at `symSize`. A hint that
 * leaves no value is an error at the input.
 */
export function intRanges(g: Graph, symSize: number): Map<Node, IntRange> {
  const size = (d: number | string): number => approxSize(d, symSize);
  const readers = new Map<Node, { node: Node; k: number }[]>();
  for (const n of allNodes(g.nodes)) n.inputs.forEach((x, k) => readers.set(x, [...(readers.get(x) ?? []), { node: n, k }]));
  // The smallest bound the readers of an int value put on it (layout ops pass their readers' bounds on).
  const bound = (v: Node, seen = new Set<Node>()): { top: number; by?: string } => {
    let best: { top: number; by?: string } = { top: Infinity };
    if (seen.has(v)) return best;
    seen.add(v);
    for (const { node: m, k } of readers.get(v) ?? []) {
      const def = OPS[m.op];
      const axis = def.indexes?.(m, k) ?? null;
      let b: { top: number; by?: string } = { top: Infinity };
      if (axis !== null) b = { top: size(axis), by: m.op === "index" ? `the index at line ${m.span.line}` : `${m.op} at line ${m.span.line}` };
      else if (def.lint.roles?.[k] === "layout") b = bound(m, seen);
      if (b.top < best.top) best = b;
    }
    return best;
  };
  const out = new Map<Node, IntRange>();
  for (const n of g.inputs) {
    if (n.dtype !== "int") continue;
    const range = hintRange(n, symSize);
    const [lo, hi] = range ?? [0, 1];
    const hintTop = n.attrs.rangeClosed ? hi + 1 : hi;
    const b = bound(n);
    const top = Math.min(hintTop, b.top);
    if (top <= lo) {
      throw new BpcError(
        `the values of ${n.name} hinted ${range ? `in [${lo}, ${hi}${n.attrs.rangeClosed ? "]" : ")"}` : "(no hint: [0, 1))"} leave none that ${b.by ?? "its readers"} accepts (below ${b.top})`,
        n.span,
        [`declare the range the model accepts, for example 'in [0, ${b.top})'`],
      );
    }
    out.set(n, top < hintTop ? { lo, top, by: b.by } : { lo, top });
  }
  return out;
}

/** Draws an input from its hint (an int input from its range in `ints`). */
export function sampleInput(x: Node, shape: number[], next: () => number, ints: Map<Node, IntRange>): Tensor {
  const t = tensor(shape);
  const d = t.data;
  if (x.dtype === "int") {
    const { lo, top } = ints.get(x)!;
    for (let i = 0; i < d.length; i++) d[i] = lo + Math.floor(next() * (top - lo));
    return t;
  }
  // A float input's range is constant (the front end says so).
  const range = x.attrs.range as readonly number[] | undefined;
  const dist = x.attrs.dist as string | undefined;
  const args = (x.attrs.distArgs as readonly number[]) ?? [];
  if (dist === "const") d.fill(args[0]);
  else if (dist === "uniform" || (!dist && range)) {
    const [lo, hi] = dist === "uniform" ? args : range!;
    for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * next();
  } else {
    const [m, s] = dist === "normal" ? args : [0, 1];
    for (let i = 0; i < d.length; i++) d[i] = m + s * gauss(next);
  }
  return t;
}
