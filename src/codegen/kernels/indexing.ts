// Runtime regions and gathers (spec section 9). A region's start per axis is
// a number, an int expression of loop counters (then a dslice is a view and
// needs no copy), or an int held in a buffer (read into a local first). Each
// start is checked against its axis unless a loop counter's range proves it.
// `update` writes into its input's buffer in place when nothing reads the
// old value afterwards; else it writes into a copy. Gathers read the rows
// their indices name and nothing else.
import { OPS } from "../../ir/ops.js";
import type { Dim, Node } from "../../ir/types.js";
import type { Emitter, View } from "../context.js";
import { str, Temps } from "../names.js";
import { addTerms, constSize, isOne, product, rowMajor, scaled, sizeAtom, sizeEq, sizeStr, type Size } from "../nest.js";
import { accumulator, ownsBuffer } from "./layout.js";

/** The JS expressions of a region's starts, the statements that read and check them, and whether they read locals. */
interface Starts {
  exprs: string[];
  pre: string[];
  local: boolean;
}

/** How many starts an axis of size d allows for an extent k: d - k + 1, as a Size when it is one. */
function limit(d: Size, k: Size): { size: Size | null; text: string } {
  if (isOne(k)) return { size: d, text: sizeStr(d) };
  if (d.syms.length === 0 && k.syms.length === 0) return { size: constSize(d.k - k.k + 1), text: String(d.k - k.k + 1) };
  return { size: null, text: `${sizeAtom(d)} - ${sizeAtom(k)} + 1` };
}

function startsOf(cx: Emitter, n: Node, first: number, shape: readonly Dim[], what: string): Starts {
  const sizes = n.attrs.sizes as Dim[];
  const t = new Temps(cx.names);
  const out: Starts = { exprs: [], pre: [], local: false };
  n.inputs.slice(first).forEach((s, a) => {
    const v = cx.value(s);
    const lim = limit(cx.dimSize(shape[a]), cx.dimSize(sizes[a]));
    const check = (k: string): string => `${cx.use("checkIndex")}(${str(what)}, ${k}, ${lim.text});`;
    if (v.kind === "lit") {
      // Constant starts are checked by the compiler.
      out.exprs.push(v.expr);
      return;
    }
    if (v.kind === "int") {
      const range = cx.counters.get(v.expr);
      const size = lim.size;
      const safe =
        range !== undefined &&
        size !== null &&
        ((range.start === 0 && sizeEq(range.count, size)) ||
          (range.count.syms.length === 0 && size.syms.length === 0 && range.start >= 0 && range.start + range.count.k <= size.k));
      if (!safe) out.pre.push(check(v.expr));
      out.exprs.push(/^[A-Za-z0-9_$]+$/.test(v.expr) ? v.expr : `(${v.expr})`);
      return;
    }
    const k = t.fresh("at");
    out.pre.push(`const ${k} = ${cx.read(v, v.off)};`, check(k));
    out.exprs.push(k);
    out.local = true;
  });
  return out;
}

/** The region of a view at the given starts: `sizes` per axis, `drop` axes removed. */
function regionView(cx: Emitter, v: View, n: Node, starts: readonly string[]): View {
  const sizes = n.attrs.sizes as Dim[];
  const drop = n.attrs.drop as number[];
  const off = addTerms(v.off, ...starts.map((s, a) => scaled(s, v.strides[a])));
  const shape: Size[] = [];
  const strides: Size[] = [];
  sizes.forEach((d, a) => {
    if (drop.includes(a)) return;
    shape.push(cx.dimSize(d));
    strides.push(v.strides[a]);
  });
  return { ...v, off, shape, strides };
}

const where = (n: Node): string => `${n.attrs.what as string} (line ${n.span.line})`;

/** Statements run with the starts in scope: in a block of their own when they declare locals. */
function scoped(st: Starts, body: string[]): string[] {
  return st.local ? ["{", ...st.pre, ...body, "}"] : [...st.pre, ...body];
}

/** Whether a dslice copies its region: its input is later updated, which may then be in place. */
function copiesRegion(cx: Emitter, n: Node): boolean {
  const x = n.inputs[0];
  return [...(cx.plan.readers.get(x) ?? [])].some((r) => r.op === "update" && r.inputs[0] === x);
}

export function dslice(cx: Emitter, n: Node, out: string[]): void {
  const x = n.inputs[0];
  const xv = cx.value(x);
  if (xv.kind !== "view") {
    // A number everywhere: the region is that number (its starts still checked).
    const st = startsOf(cx, n, 1, x.shape, where(n));
    out.push(...scoped(st, []));
    cx.values.set(n, xv);
    return;
  }
  const st = startsOf(cx, n, 1, x.shape, where(n));
  if (!st.local && !copiesRegion(cx, n)) {
    out.push(...st.pre);
    cx.values.set(n, regionView(cx, xv, n, st.exprs));
    return;
  }
  cx.comment([n], out);
  const dst = cx.out(n);
  const body: string[] = [];
  cx.copy(dst, regionView(cx, xv, n, st.exprs), body);
  out.push(...scoped(st, body));
}

/** dunslice (zeros with the region set), dslice_add (the region increased) and update (the region replaced). */
export function regionWrite(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const what = where(n);
  if (n.op === "dunslice") {
    const dst = cx.out(n);
    out.push(`${cx.ref(dst.buf)}.fill(0);`);
    const st = startsOf(cx, n, 1, n.shape, what);
    const body: string[] = [];
    cx.copy(regionView(cx, dst, n, st.exprs), cx.value(n.inputs[0]), body);
    out.push(...scoped(st, body));
    return;
  }
  const v = cx.value(n.inputs[1]);
  const dst = n.op === "dslice_add" ? accumulator(cx, n, out) : updateTarget(cx, n, out);
  const st = startsOf(cx, n, 2, n.shape, what);
  const body: string[] = [];
  cx.copy(regionView(cx, dst, n, st.exprs), v, body, n.op === "dslice_add" ? "+=" : "=");
  out.push(...scoped(st, body));
}

/**
 * Where an update writes: its input's own buffer when no one reads the old
 * value after it (everything reading it or a view of it runs before, none
 * is kept for later, and the written value is not a view of it); else a
 * copy of the input.
 */
function updateTarget(cx: Emitter, n: Node, out: string[]): View {
  const x = n.inputs[0];
  const xv = cx.value(x);
  // A value from outside the update's loop body is read again at the next step: never written in place.
  const sameBlock = cx.plan.block.get(x) === cx.plan.block.get(n);
  if (xv.kind === "view" && sameBlock && cx.isWhole(xv) && ownsBuffer(cx, x, xv.buf) && soleLateReader(cx, n)) {
    cx.values.set(n, xv);
    return xv;
  }
  const dst = cx.out(n);
  if (!(xv.kind === "view" && xv.buf === dst.buf && xv.off === dst.off)) cx.copy(dst, xv, out);
  return dst;
}

/** Position of every node in its block, and the loop whose body holds it. */
interface Where {
  block: readonly Node[];
  pos: number;
  parent: Node | null;
}
const layouts = new WeakMap<Emitter, Map<Node, Where>>();

function positions(cx: Emitter): Map<Node, Where> {
  let m = layouts.get(cx);
  if (m) return m;
  const map = new Map<Node, Where>();
  const walk = (nodes: readonly Node[], parent: Node | null): void =>
    nodes.forEach((x, pos) => {
      map.set(x, { block: nodes, pos, parent });
      if (x.body) walk(x.body.nodes, x);
    });
  walk(cx.g.nodes, null);
  layouts.set(cx, (m = map));
  return m;
}

/** Whether the update n is the last to read its input's value (see updateTarget). */
function soleLateReader(cx: Emitter, n: Node): boolean {
  const [x, v] = n.inputs;
  const pos = positions(cx);
  const home = pos.get(n);
  if (!home) return false;
  // A fused node runs where its root does; a node in a nested loop, where that loop does.
  const at = (m: Node): number => {
    let r = m;
    while (cx.plan.fused.has(r)) r = [...(cx.plan.readers.get(r) ?? [])].find((q) => q.phase === r.phase) as Node;
    for (let w = pos.get(r); w; w = w.parent ? pos.get(w.parent) : undefined) {
      if (w.block === home.block) return w.pos;
      if (!w.parent) break;
    }
    return Infinity;
  };
  const alias = new Set<Node>([x]);
  const work = [x];
  while (work.length) {
    const a = work.pop() as Node;
    if (cx.plan.pinned.has(a)) return false;
    for (const r of cx.plan.readers.get(a) ?? []) {
      if (r === n || alias.has(r)) continue;
      const f = OPS[r.op].codegen;
      const view = f !== undefined && "view" in f && r.inputs[0] === a && !(r.op === "dslice" && copiesRegion(cx, r));
      if (view) {
        alias.add(r);
        work.push(r);
      } else if (at(r) > home.pos) return false;
    }
  }
  return !alias.has(v);
}

/** The indices as a contiguous Int32 view, and their count. */
function indices(cx: Emitter, idx: Node, out: string[]): { iv: View; count: Size } {
  const shape = cx.sizes(idx.shape);
  return { iv: cx.contiguous(cx.value(idx), shape, "int", "indices", out), count: product(shape) };
}

/** The view of `v` with the axes [axis, axis + span) read as one flat axis, then dropped at index k. */
function rowOf(v: View, axis: number, span: number, k: string): View {
  const flatStride = v.strides[axis + span - 1];
  return {
    ...v,
    off: addTerms(v.off, scaled(k, flatStride)),
    shape: [...v.shape.slice(0, axis), ...v.shape.slice(axis + span)],
    strides: [...v.strides.slice(0, axis), ...v.strides.slice(axis + span)],
  };
}

/** gather, scatter_add and gather_add: one pass over the indices, moving a slice per index. */
export function gatherOp(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const axis = n.attrs.axis as number;
  const idx = n.inputs[n.op === "gather_add" ? 2 : 1];
  const big = n.op === "gather" ? n.inputs[0] : n;
  const span = idx.shape.length;
  const { iv, count } = indices(cx, idx, out);
  const t = new Temps(cx.names);
  const g = t.fresh("g");
  const k = t.fresh("row");
  const what = `${cx.display(n.op === "gather" ? n.inputs[0] : n)}[${cx.display(idx)}] (line ${n.span.line})`;
  const size = cx.dimSize(big.shape[axis]);
  // The small side (the gathered values) with the index axes flattened into one.
  const flat = (v: View): View => {
    const shape = [...v.shape.slice(0, axis), count, ...v.shape.slice(axis + span)];
    return { ...v, shape, strides: rowMajor(shape) };
  };
  const body: string[] = [];
  let wide: View;
  let small: View;
  if (n.op === "gather") {
    const xv = cx.value(n.inputs[0]);
    const dst = cx.out(n);
    small = flat(cx.contiguous(dst, dst.shape, dst.dtype, "gathered", out));
    if (xv.kind !== "view") {
      out.push(`${cx.ref(dst.buf)}.fill(${xv.expr});`);
      wide = dst;
    } else wide = xv;
  } else {
    const v = n.inputs[n.op === "gather_add" ? 1 : 0];
    small = flat(cx.contiguous(cx.value(v), cx.sizes(v.shape), "float", "rows", out));
    if (n.op === "scatter_add") {
      wide = cx.out(n);
      out.push(`${cx.ref(wide.buf)}.fill(0);`);
    } else wide = accumulator(cx, n, out);
  }
  const src = rowOf(small, axis, 1, g);
  const row = rowOf(wide, axis, 1, k);
  if (n.op === "gather") {
    if (cx.value(n.inputs[0]).kind === "view") cx.copy(src, row, body);
  } else cx.copy(row, src, body, "+=");
  out.push(
    `for (let ${g} = 0; ${g} < ${sizeStr(count)}; ${g}++) {`,
    `const ${k} = ${cx.read(iv, addTerms(iv.off, g))};`,
    `${cx.use("checkIndex")}(${str(what)}, ${k}, ${sizeStr(size)});`,
    ...body,
    `}`,
  );
}
