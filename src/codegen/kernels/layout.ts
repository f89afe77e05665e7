// Layout ops: transpose, reshape, broadcast and static slices are views of
// their input (no copy); concat, unslice and unindex write new buffers;
// index (xs[t]) is a view when t is a loop counter; index_add and slice_add
// add into their accumulator in place when nothing else reads it.
import { subDims } from "../../ir/dimexpr.js";
import { permOf } from "../../ir/ops/linalg.js";
import type { Dim, Node } from "../../ir/types.js";
import type { Emitter, View } from "../context.js";
import { str, Temps } from "../names.js";
import { addTerms, constSize, mul, rowMajor, scaled, sizeAtom, sizeEq, sizeStr, type Size } from "../nest.js";

/** A static slice of a view (also the region unslice writes); starts and ends may be dim expressions. */
export function sliceView(cx: Emitter, v: View, n: Node): View {
  const starts = n.attrs.starts as Dim[];
  const ends = n.attrs.ends as Dim[];
  const drop = n.attrs.drop as number[];
  const term = (s: Dim, a: number): string => (typeof s === "number" ? scaled(String(s), v.strides[a]) : sizeStr(mul(cx.dimSize(s), v.strides[a])));
  const off = addTerms(v.off, ...starts.map(term).filter((s) => !/^0/.test(s)));
  const shape: Size[] = [];
  const strides: Size[] = [];
  v.shape.forEach((_, a) => {
    if (drop.includes(a)) return;
    const s = starts[a];
    const e = ends[a];
    shape.push(s === 0 && typeof e === "number" ? constSize(e) : cx.dimSize(subDims(e, s)));
    strides.push(v.strides[a]);
  });
  return { ...v, off, shape, strides };
}

export function layoutView(cx: Emitter, n: Node, out: string[]): void {
  const x = n.inputs[0];
  const v = cx.value(x);
  if (v.kind !== "view") {
    cx.values.set(n, v);
    return;
  }
  const shape = cx.sizes(n.shape);
  switch (n.op) {
    case "transpose":
      cx.values.set(n, { ...v, shape, strides: permOf(n).map((k) => v.strides[k]) });
      return;
    case "broadcast_to":
      cx.values.set(n, { ...v, shape, strides: cx.broadcastStrides(v, shape) });
      return;
    case "slice":
      cx.values.set(n, sliceView(cx, v, n));
      return;
    case "reshape": {
      if (!cx.isContiguous(v)) cx.comment([n], out); // the copy below is code of n's line
      const c = cx.isContiguous(v) ? v : cx.contiguous(v, v.shape, v.dtype, `${cx.local(n)}_data`, out);
      cx.values.set(n, { ...c, shape, strides: rowMajor(shape) });
      return;
    }
  }
}

export function concat(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const [x, y] = n.inputs;
  const axis = n.attrs.axis as number;
  const dst = cx.out(n);
  const split = cx.dimSize(x.shape[axis]);
  cx.copy({ ...dst, shape: cx.sizes(x.shape) }, cx.value(x), out);
  const off = scaled(sizeAtom(split), dst.strides[axis]);
  cx.copy({ ...dst, off, shape: cx.sizes(y.shape) }, cx.value(y), out);
}

/**
 * Runs `f` with the JS expression of an int scalar index into an axis of
 * size `size`, after a bounds check unless a loop counter's range proves it.
 */
function withIndex(cx: Emitter, i: Node, size: Size, what: string, out: string[], f: (k: string) => string[]): void {
  const iv = cx.value(i);
  if (iv.kind === "int") {
    const range = cx.counters.get(iv.expr);
    const safe =
      range !== undefined &&
      ((range.start === 0 && sizeEq(range.count, size)) ||
        (range.count.syms.length === 0 && size.syms.length === 0 && range.start >= 0 && range.start + range.count.k <= size.k));
    if (!safe) out.push(`${cx.use("checkIndex")}(${str(what)}, ${iv.expr}, ${sizeStr(size)});`);
    out.push(...f(iv.expr));
    return;
  }
  if (iv.kind === "lit") throw new Error("internal error: a float used as an index");
  const t = new Temps(cx.names);
  const k = t.fresh("index");
  out.push(`{`, `const ${k} = ${cx.read(iv, iv.off)};`, `${cx.use("checkIndex")}(${str(what)}, ${k}, ${sizeStr(size)});`, ...f(k), `}`);
}

/**
 * Where index_add and slice_add write: their first input's own buffer, in
 * place, when they are its only reader and run once per value of it (not in
 * a loop nested below it); else a copy of it.
 */
export function accumulator(cx: Emitter, n: Node, out: string[]): View {
  const acc = n.inputs[0];
  const av = cx.value(acc);
  const readers = cx.plan.readers.get(acc)?.size ?? 0;
  const inPlace =
    av.kind === "view" &&
    readers === 1 &&
    !cx.plan.pinned.has(acc) &&
    cx.plan.block.get(acc) === cx.plan.block.get(n) &&
    cx.isWhole(av) &&
    ownsBuffer(cx, acc, av.buf);
  if (inPlace) {
    cx.values.set(n, av);
    return av;
  }
  const dst = cx.out(n);
  cx.copy(dst, av, out);
  return dst;
}

/** Ops that may add into (or write) their first input's buffer in place. */
const IN_PLACE = new Set(["index_add", "slice_add", "dslice_add", "gather_add", "update", "matmul_add"]);

/**
 * Whether `buf` is n's own: allocated for it, the buffer of a carried value,
 * or reached through a chain of in-place accumulations from such a node
 * (`acc + v1[..] + v2[..]` as two adds into one buffer).
 */
export function ownsBuffer(cx: Emitter, n: Node, buf: string): boolean {
  for (let m: Node | undefined = n; m; m = m.inputs[0]) {
    const v = cx.values.get(m);
    if (!v || v.kind !== "view" || v.buf !== buf) return false;
    if (cx.bufs.get(buf)?.owner === m || m.op === "carry") return true;
    if (!IN_PLACE.has(m.op)) return false;
  }
  return false;
}

/** index (xs[t]: a view when t is a loop counter), unindex and index_add. */
export function indexOp(cx: Emitter, n: Node, out: string[]): void {
  const written = n.attrs.what as string | undefined;
  const what = `${written ?? cx.display(n.op === "index" ? n.inputs[0] : n)} (line ${n.span.line})`;
  if (n.op === "index") {
    const [x, i] = n.inputs;
    const v = cx.value(x);
    if (v.kind !== "view") {
      cx.values.set(n, v);
      return;
    }
    const row = (k: string): View => ({ ...v, off: addTerms(v.off, scaled(k, v.strides[0])), shape: v.shape.slice(1), strides: v.strides.slice(1) });
    const iv = cx.value(i);
    if (iv.kind === "int") {
      withIndex(cx, i, v.shape[0], what, out, () => []);
      cx.values.set(n, row(iv.expr));
      return;
    }
    cx.comment([n], out);
    const dst = cx.out(n);
    withIndex(cx, i, v.shape[0], what, out, (k) => {
      const body: string[] = [];
      cx.copy(dst, row(k), body);
      return body;
    });
    return;
  }
  cx.comment([n], out);
  const rowOf = (dst: View, k: string): View => ({ ...dst, off: scaled(k, dst.strides[0]), shape: dst.shape.slice(1), strides: dst.strides.slice(1) });
  if (n.op === "unindex") {
    const [v, i] = n.inputs;
    const dst = cx.out(n);
    out.push(`${cx.ref(dst.buf)}.fill(0);`);
    withIndex(cx, i, dst.shape[0], what, out, (k) => {
      const body: string[] = [];
      cx.copy(rowOf(dst, k), cx.value(v), body);
      return body;
    });
    return;
  }
  // index_add: acc with row i increased by v.
  const [, v, i] = n.inputs;
  const dst = accumulator(cx, n, out);
  withIndex(cx, i, dst.shape[0], what, out, (k) => {
    const body: string[] = [];
    cx.copy(rowOf(dst, k), cx.value(v), body, "+=");
    return body;
  });
}

/** Zeros of the unslice's shape with its slice region set to the input. */
export function unslice(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const dst = cx.out(n);
  out.push(`${cx.ref(dst.buf)}.fill(0);`);
  cx.copy(sliceView(cx, dst, n), cx.value(n.inputs[0]), out);
}

/** acc with a static slice region increased by v. */
export function sliceAdd(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const dst = accumulator(cx, n, out);
  cx.copy(sliceView(cx, dst, n), cx.value(n.inputs[1]), out, "+=");
}
