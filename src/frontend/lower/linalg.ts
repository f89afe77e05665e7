// Linear algebra in the source: `a @ b` on any rank (NumPy's matmul),
// `x.T`, `x.mT`, and `einsum`, each lowered onto the IR's matmul, transpose,
// reshape, sum and mul. An einsum is contracted a pair of operands at a time
// (left to right), each pair as one batched matmul over permuted views, so
// it runs in the matmul kernel and its gradient is the matmul's; a label
// repeated within an operand (a diagonal, a trace) is read off a padded view.
import { BpcError, type Span } from "../../diag.js";
import { broadcastShapes, showShape } from "../../ir/shape.js";
import type { Dim, Node } from "../../ir/types.js";
import type { Expr } from "../parser/ast.js";
import type { Lowering } from "./context.js";

const reshape = (cx: Lowering, x: Node, shape: Dim[], span: Span): Node =>
  x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i]) ? x : cx.op("reshape", [x], span, { shape });

/** A transpose by `perm`, or x itself when perm keeps every axis in place. */
function permute(cx: Lowering, x: Node, perm: number[], span: Span): Node {
  return perm.every((k, i) => k === i) ? x : cx.op("transpose", [x], span, { perm });
}

/** `a @ b` as NumPy: [..., M, K] @ [..., K, N], batch axes broadcast; a 1-D side is promoted, and its axis dropped after. */
export function lowerMatmul(cx: Lowering, a: Node, b: Node, span: Span): Node {
  const what = `cannot multiply ${showShape(a.shape)} @ ${showShape(b.shape)}`;
  if (a.shape.length === 0 || b.shape.length === 0) {
    throw new BpcError(`${what}: '@' takes tensors of at least one axis`, span, ["to scale by a scalar, write '*'"]);
  }
  const a2 = a.shape.length === 1 ? reshape(cx, a, [1, a.shape[0]], span) : a;
  const b2 = b.shape.length === 1 ? reshape(cx, b, [b.shape[0], 1], span) : b;
  const k1 = a2.shape[a2.shape.length - 1];
  const k2 = b2.shape[b2.shape.length - 2];
  if (k1 !== k2) {
    throw new BpcError(`${what}: the left side's last axis (${k1}) must equal the right side's ${b.shape.length === 1 ? "only" : "second-to-last"} axis (${k2})`, span);
  }
  const batchA = a2.shape.slice(0, -2);
  const batchB = b2.shape.slice(0, -2);
  if (!broadcastShapes([batchA, batchB])) {
    throw new BpcError(`${what}: the batch axes ${showShape(batchA)} and ${showShape(batchB)} do not broadcast`, span, [
      "batch axes (all but the last two) must be equal, 1 or missing, aligned at the right",
    ]);
  }
  const out = cx.op("matmul", [a2, b2], span, { transA: false, transB: false });
  const shape = [...out.shape];
  if (b.shape.length === 1) shape.splice(shape.length - 1, 1);
  if (a.shape.length === 1) shape.splice(shape.length - (b.shape.length === 1 ? 1 : 2), 1);
  return reshape(cx, out, shape, span);
}

/** `x.T` (all axes reversed, as NumPy) and `x.mT` (the last two swapped, as PyTorch). */
export function lowerTransposeSuffix(cx: Lowering, x: Node, which: "T" | "mT", span: Span): Node {
  const r = x.shape.length;
  if (which === "T") return permute(cx, x, [...Array(r).keys()].reverse(), span);
  if (r < 2) throw new BpcError(`x.mT swaps the last two axes, but ${showShape(x.shape)} has ${r === 0 ? "none" : "one"}`, span);
  return permute(cx, x, [...Array(r - 2).keys(), r - 1, r - 2], span);
}

/** An einsum operand: its value and the label of each axis. */
interface Term {
  node: Node;
  labels: string[];
}

/** Parses `"btd,dk->btk"` against the operands: each operand's labels (an ellipsis as labels of its own) and the output's. */
function parseSubscripts(spec: string, operands: readonly Node[], span: Span): { terms: string[][]; output: string[] } {
  const err = (msg: string, notes: string[] = []): never => {
    throw new BpcError(`einsum("${spec}"): ${msg}`, span, notes);
  };
  const text = spec.replace(/\s+/g, "");
  if (!text.includes("->")) err(`the output subscripts are required, as in "ij,jk->ik"`);
  const [lhs, rhs, ...more] = text.split("->");
  if (more.length) err(`'->' may appear once`);
  const parts = lhs.split(",");
  if (parts.length !== operands.length) err(`${parts.length} operand subscript${parts.length === 1 ? "" : "s"} for ${operands.length} operand${operands.length === 1 ? "" : "s"}`);
  const valid = (p: string): boolean => p.split("...").length <= 2 && /^[A-Za-z]*$/.test(p.replace("...", ""));
  // The ellipsis' axes: as many as the most any operand has there; labels "0", "1", ... (digits: never a letter).
  const ellipsis = parts.map((p, i) => {
    if (!valid(p)) err(`'${p}' must be letters, with at most one '...'`);
    const letters = p.replace("...", "").length;
    const r = operands[i].shape.length;
    if (p.includes("...") ? letters > r : letters !== r) {
      err(`operand ${i + 1} has shape ${showShape(operands[i].shape)} (${r} axes) but '${p}' names ${letters}`);
    }
    return p.includes("...") ? r - letters : 0;
  });
  const E = Math.max(0, ...ellipsis);
  const expand = (p: string, e: number): string[] => {
    const [pre, post] = p.includes("...") ? p.split("...") : [p, null];
    const dots = post === null ? [] : Array.from({ length: e }, (_, k) => String(E - e + k));
    return [...pre, ...dots, ...(post ?? "")];
  };
  const terms = parts.map((p, i) => expand(p, ellipsis[i]));
  if (!valid(rhs)) err(`the output '${rhs}' must be letters, with at most one '...'`);
  if (E > 0 && !rhs.includes("...") && ellipsis.some((e) => e > 0)) err(`the operands' '...' axes must appear in the output: write '...' there too`);
  const output = expand(rhs, E);
  const seen = new Set(terms.flat());
  for (const l of output) if (!seen.has(l)) err(`the output's '${l}' is in no operand's subscripts`);
  const dupOut = output.find((l, k) => output.indexOf(l) !== k);
  if (dupOut !== undefined) err(`'${dupOut}' appears twice in the output`);
  return { terms, output };
}

/** `einsum("subscripts", a, b, ...)`: NumPy's, with explicit output subscripts. */
export function lowerEinsum(cx: Lowering, spec: string, operands: readonly Node[], span: Span): Node {
  const { terms, output } = parseSubscripts(spec, operands, span);
  // Each label's size; a 1 broadcasts against a larger size (as NumPy, for '...' axes and letters alike).
  const size = new Map<string, Dim>();
  terms.forEach((t, i) =>
    t.forEach((l, k) => {
      const d = operands[i].shape[k];
      const had = size.get(l);
      if (had === undefined || had === 1) size.set(l, d);
      else if (d !== 1 && d !== had) {
        const name = /[0-9]/.test(l) ? "a '...' axis" : `'${l}'`;
        throw new BpcError(`einsum("${spec}"): ${name} is ${had} in one operand and ${d} in operand ${i + 1} ${showShape(operands[i].shape)}`, span);
      }
    }),
  );
  // A label repeated in one operand takes its diagonal; axes of size 1 where
  // the label is larger elsewhere are dropped: the operand broadcasts there.
  const ops: Term[] = terms.map((labels, i) => {
    let t: Term = { node: operands[i], labels };
    for (let dup = repeated(t.labels); dup !== undefined; dup = repeated(t.labels)) t = diagonal(cx, t, dup, spec, span);
    const x = t.node;
    const keep = t.labels.map((l, k) => !(x.shape[k] === 1 && size.get(l) !== 1));
    if (keep.every(Boolean)) return t;
    return { node: reshape(cx, x, x.shape.filter((_, k) => keep[k]), span), labels: t.labels.filter((_, k) => keep[k]) };
  });
  const needed = (from: number): Set<string> => new Set([...output, ...ops.slice(from).flatMap((o) => o.labels)]);
  let cur = sumOut(cx, ops[0], needed(1), span);
  for (let i = 1; i < ops.length; i++) {
    const keep = needed(i + 1);
    const next = sumOut(cx, ops[i], new Set([...keep, ...cur.labels]), span);
    cur = contract(cx, sumOut(cx, cur, new Set([...keep, ...next.labels]), span), next, keep, size, span);
  }
  return permute(
    cx,
    cur.node,
    output.map((l) => cur.labels.indexOf(l)),
    span,
  );
}

const repeated = (labels: readonly string[]): string | undefined => labels.find((l, k) => labels.indexOf(l) !== k);

/**
 * The diagonal over two axes labelled l, moved last: the pair flattened to
 * n·n, padded with n zeros and read as [n, n + 1], whose column 0 is the
 * diagonal (element r is at r·(n + 1) = r·n + r). Views, a concat and a
 * slice, so the gradient is theirs. The size must be a constant.
 */
function diagonal(cx: Lowering, t: Term, l: string, spec: string, span: Span): Term {
  const p = t.labels.indexOf(l);
  const q = t.labels.indexOf(l, p + 1);
  const n = t.node.shape[p];
  if (typeof n !== "number") throw new BpcError(`einsum("${spec}"): the diagonal over '${l}' needs a constant size, got ${n}`, span);
  const rest = t.labels.map((_, k) => k).filter((k) => k !== p && k !== q);
  const lead = rest.map((k) => t.node.shape[k]);
  const flat = reshape(cx, permute(cx, t.node, [...rest, p, q], span), [...lead, n * n], span);
  const padded = cx.op("concat", [flat, cx.op("full", [], span, { shape: [...lead, n], value: 0 })], span, { axis: lead.length });
  const ends = [...lead, n, 1];
  const grid = reshape(cx, padded, [...lead, n, n + 1], span);
  const diag = cx.op("slice", [grid], span, { starts: ends.map(() => 0), ends, drop: [lead.length + 1] });
  return { node: diag, labels: [...rest.map((k) => t.labels[k]), l] };
}

/** Sums away the axes whose labels are not in `keep`. */
function sumOut(cx: Lowering, t: Term, keep: Set<string>, span: Span): Term {
  const axes = t.labels.flatMap((l, k) => (keep.has(l) ? [] : [k]));
  if (!axes.length) return t;
  return { node: cx.op("sum", [t.node], span, { axes, keepdims: false }), labels: t.labels.filter((l) => keep.has(l)) };
}

/**
 * a and b contracted over their shared labels not in `keep`: labels in both
 * and kept are batch axes; a's own (kept) labels are the rows, b's the
 * columns. One batched matmul, [...batch, ...rest of a's rows, ...rest of b's
 * columns, M, K] @ [..., K, N], where rows or columns beyond one become batch
 * axes that the other side broadcasts over; several contracted labels
 * are merged into one axis when their sizes are constants, else summed
 * as batch axes after the product. No contraction: a broadcast product.
 */
function contract(cx: Lowering, a: Term, b: Term, keep: Set<string>, size: Map<string, Dim>, span: Span): Term {
  const inB = new Set(b.labels);
  const inA = new Set(a.labels);
  const batch = a.labels.filter((l) => inB.has(l) && keep.has(l));
  const con = a.labels.filter((l) => inB.has(l) && !keep.has(l));
  const freeA = a.labels.filter((l) => !inB.has(l));
  const freeB = b.labels.filter((l) => !inA.has(l));
  const dimsOf = (ls: string[]): Dim[] => ls.map((l) => size.get(l) as Dim);
  const ones = (ls: string[]): Dim[] => ls.map(() => 1);
  const arrange = (t: Term, order: string[]): Node =>
    permute(
      cx,
      t.node,
      order.map((l) => t.labels.indexOf(l)),
      span,
    );
  if (!con.length) {
    // An outer or elementwise product: [batch, freeA, 1s] * [batch, 1s, freeB].
    const x = reshape(cx, arrange(a, [...batch, ...freeA]), [...dimsOf(batch), ...dimsOf(freeA), ...ones(freeB)], span);
    const y = reshape(cx, arrange(b, [...batch, ...freeB]), [...dimsOf(batch), ...ones(freeA), ...dimsOf(freeB)], span);
    return { node: cx.op("mul", [x, y], span), labels: [...batch, ...freeA, ...freeB] };
  }
  // Contracted labels: one axis when their product is a constant, else all but the last become batch axes summed after.
  const merge = con.length > 1 && con.every((l) => typeof size.get(l) === "number");
  const kAxis: Dim[] = merge ? [con.reduce((p, l) => p * (size.get(l) as number), 1)] : dimsOf(con.slice(-1));
  const extra = merge ? [] : con.slice(0, -1);
  const rowsA = freeA.slice(0, -1);
  const colsB = freeB.slice(0, -1);
  const m = freeA.slice(-1);
  const n = freeB.slice(-1);
  const kLabels = merge ? con : con.slice(-1);
  // Leading 1s are left out (matmul broadcasts missing batch axes): x @ W stays a product by a matrix.
  const x = reshape(
    cx,
    arrange(a, [...batch, ...rowsA, ...extra, ...m, ...kLabels]),
    unpadded([...dimsOf(batch), ...dimsOf(rowsA), ...ones(colsB), ...dimsOf(extra), ...(m.length ? dimsOf(m) : [1]), ...kAxis]),
    span,
  );
  const y = reshape(
    cx,
    arrange(b, [...batch, ...colsB, ...extra, ...kLabels, ...n]),
    unpadded([...dimsOf(batch), ...ones(rowsA), ...dimsOf(colsB), ...dimsOf(extra), ...kAxis, ...(n.length ? dimsOf(n) : [1])]),
    span,
  );
  let out = cx.op("matmul", [x, y], span, { transA: false, transB: false });
  const lead = batch.length + rowsA.length + colsB.length;
  if (extra.length) out = cx.op("sum", [out], span, { axes: extra.map((_, k) => lead + k), keepdims: false });
  const labels = [...batch, ...rowsA, ...colsB, ...m, ...n];
  return { node: reshape(cx, out, dimsOf(labels), span), labels };
}

/** A shape without its leading 1s, keeping at least two axes. */
function unpadded(shape: Dim[]): Dim[] {
  let k = 0;
  while (shape.length - k > 2 && shape[k] === 1) k++;
  return shape.slice(k);
}

/** The subscripts argument of einsum: a string literal. */
export function subscriptsOf(e: Expr | undefined, span: Span): string {
  if (!e || e.kind !== "str") {
    throw new BpcError(`einsum's first argument must be its subscripts as a string, as in einsum("btd,dk->btk", x, W)`, e?.span ?? span);
  }
  return e.value;
}
