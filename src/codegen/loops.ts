// Loops stay loops: a `for` over the body, run once per step (backward
// loops walk the steps in reverse), with carried values in buffers of their
// own and tape entries stored row by row for the backward pass.
import type { Dim, Node } from "../ir/types.js";
import type { Emitter, Value, View } from "./context.js";
import { scaled, sizeAtom, sizeStr } from "./nest.js";

/**
 * A `for` loop over the body. Carried values live in buffers that the body
 * reads; the results are copied in after the whole step (through a staging
 * buffer when a result still reads a carried buffer), and tape entries are
 * stored as row t of a [count, ...] buffer.
 */
export function loop(cx: Emitter, n: Node, out: string[], block: (nodes: readonly Node[], out: string[]) => void): void {
  const b = n.body;
  if (!b) throw new Error("internal error: loop without a body");
  const start = (n.attrs.start as number | undefined) ?? 0;
  const count = cx.dimSize(n.attrs.count as Dim);
  const reverse = n.attrs.reverse === true;
  const header: string[] = [];
  cx.fn.lastLine = -1;
  cx.fn.lastInner = 0;
  cx.comment([n], header);
  out.push(...header);

  const carried = b.carried.map((c, k) => {
    const v = cx.alloc(cx.local(c), cx.sizes(c.shape), c.dtype, c);
    cx.values.set(c, v);
    cx.copy(v, cx.value(n.inputs[k]), out);
    return v;
  });
  const usedTape = new Set<number>();
  const markTape = (nodes: readonly Node[]): void => {
    for (const m of nodes) {
      if (m.op === "loop_tape" && m.inputs[0] === n && cx.plan.live.has(m)) usedTape.add(m.attrs.k as number);
      if (m.body) markTape(m.body.nodes);
    }
  };
  markTape(cx.g.nodes);
  const tape = b.tape.map((tv, k) =>
    usedTape.has(k) ? cx.alloc(cx.names.claim(`${cx.role(tv)}_tape`), [count, ...cx.sizes(tv.shape)], tv.dtype) : null,
  );
  cx.loops.set(n, { carried, tape });

  b.results.forEach((r, k) => {
    if (r.op !== "carry") cx.resultOf.set(r, carried[k]);
  });
  const t = cx.local(b.index);
  cx.values.set(b.index, { kind: "int", expr: t });
  cx.counters.set(t, { start, count });
  const end =
    count.syms.length === 0 ? String(start + count.k) : start === 0 ? sizeStr(count) : `${start} + ${sizeAtom(count)}`;
  const last = count.syms.length === 0 ? String(start + count.k - 1) : `${end} - 1`;
  out.push(
    reverse
      ? `for (let ${t} = ${last}; ${t} >= ${start}; ${t}--) {`
      : `for (let ${t} = ${start}; ${t} < ${end}; ${t}++) {`,
  );
  const body: string[] = [];
  block(b.nodes, body);
  const step = start === 0 ? t : `(${t} - ${start})`;
  b.tape.forEach((tv, k) => {
    const dst = tape[k];
    if (!dst) return;
    const row: View = { ...dst, off: scaled(step, dst.strides[0]), shape: dst.shape.slice(1), strides: dst.strides.slice(1) };
    cx.copy(row, cx.value(tv), body);
  });
  // Results: skip a result that is its own carried buffer; stage any that read a carried buffer.
  const carriedBufs = new Set(carried.map((c) => c.buf));
  const pending: { dst: View; src: Value }[] = [];
  b.results.forEach((r, k) => {
    const rv = cx.value(r);
    const dst = carried[k];
    if (rv.kind === "view" && rv.buf === dst.buf && rv.off === "0" && cx.isContiguous(rv)) return;
    if (rv.kind === "view" && carriedBufs.has(rv.buf)) {
      const stage = cx.alloc(cx.names.claim(`${dst.buf}_next`), dst.shape, dst.dtype);
      cx.copy(stage, rv, body);
      pending.push({ dst, src: stage });
    } else pending.push({ dst, src: rv });
  });
  if (pending.length) body.push(`// carry to the next step`);
  for (const p of pending) cx.copy(p.dst, p.src, body);
  out.push(...body, `}`);
  cx.counters.delete(t);
  for (const r of b.results) cx.resultOf.delete(r);
  cx.fn.lastLine = -1;
  cx.fn.lastInner = 0;
}
