// Loops stay loops: a `for` over the body, run once per step (backward
// loops walk the steps in reverse). A carried value the backward pass reads
// lives in its tape: [count + 1, ...] rows holding its value before each step
// and after the last, so a step reads row t and writes row t + 1, and the
// value is taped once and never copied. Other carried values have a buffer of
// their own, and other tape entries are written to row t of theirs. A loop
// nested in another writes its tape inside the enclosing loop's (see Layout).
import type { DType, Dim, Node } from "../ir/types.js";
import type { BufInfo, Emitter, Value, View } from "./context.js";
import { addTerms, product, scaled, sizeAtom, sizeStr, type Size } from "./nest.js";
import { OPS } from "../ir/ops.js";
import type { LoopBody } from "../ir/types.js";
import { isElementwise } from "./plan.js";

/** Row `k` (an index expression) of a stacked view. */
function row(v: View, k: string): View {
  return { ...v, off: addTerms(v.off, scaled(k, v.strides[0])), shape: v.shape.slice(1), strides: v.strides.slice(1) };
}

/** Rows [from, from + count) of a stacked view, as a stacked view. */
function rows(v: View, from: string, count: Size): View {
  return { ...v, off: addTerms(v.off, scaled(from, v.strides[0])), shape: [count, ...v.shape.slice(1)] };
}

/** A slab of an enclosing loop's tape at one of its steps: axis 1 (that loop's steps) fixed. */
function atStep(v: View, step: string): View {
  return {
    ...v,
    off: addTerms(v.off, scaled(step, v.strides[1])),
    shape: [v.shape[0], ...v.shape.slice(2)],
    strides: [v.strides[0], ...v.strides.slice(2)],
  };
}

/**
 * The storage of a loop's tape: slabs, each [count, ...] rows over the steps
 * (a carried value's history has one row more: its value before each step
 * and after the last). A slab of a loop nested in the body, which this
 * loop's tape stacks, gains this loop's steps as axis 1, and the nested loop
 * writes its tape straight into it: each value is stored once, never copied,
 * and strides stay products of dims.
 */
interface Slab {
  name: string;
  shape: Size[];
  history: boolean;
  dtype: DType;
}
interface Layout {
  taped: Set<Node>;
  slabs: Slab[];
  /** Per carried value: the slab of its history, if the backward reads it. */
  history: (number | null)[];
  /** Taped body values with a slab of their own. */
  own: Map<Node, number>;
  /** For each loop in the body: which of its slabs are stacked here, as which slab of this loop. */
  nested: Map<Node, Map<number, number>>;
  /** Each used tape entry: its slab, and its stacked view given the slabs' views. */
  entries: ({ slab: number; view: (slabs: readonly View[]) => View } | null)[];
}

function layout(cx: Emitter, n: Node): Layout {
  const b = n.body as LoopBody;
  const count = cx.dimSize(n.attrs.count as Dim);
  // The tape entries some live loop_tape reads.
  const used = new Set<number>();
  const markTape = (nodes: readonly Node[]): void => {
    for (const m of nodes) {
      if (m.op === "loop_tape" && m.inputs[0] === n && cx.plan.live.has(m)) used.add(m.attrs.k as number);
      if (m.body) markTape(m.body.nodes);
    }
  };
  markTape(cx.g.nodes);
  const taped = new Set(b.tape.filter((_, k) => used.has(k)));
  const slabs: Slab[] = [];
  const history = b.carried.map((c, k) => {
    const r = b.results[k];
    if (!taped.has(c) && !(taped.has(r) && r.op !== "carry")) return null;
    slabs.push({ name: `${cx.role(c)}_tape`, shape: [count, ...cx.sizes(c.shape)], history: true, dtype: c.dtype });
    return slabs.length - 1;
  });
  const own = new Map<Node, number>();
  const nested = new Map<Node, Map<number, number>>();
  const inner = new Map<Node, Layout>();
  const entries = b.tape.map((v, k): Layout["entries"][number] => {
    if (!used.has(k)) return null;
    const c = b.carried.indexOf(v);
    if (c >= 0) {
      const s = history[c] as number;
      return { slab: s, view: (vs) => rows(vs[s], "0", count) };
    }
    const r = b.results.findIndex((x, j) => x === v && history[j] !== null);
    if (r >= 0) {
      const s = history[r] as number;
      return { slab: s, view: (vs) => rows(vs[s], "1", count) };
    }
    const m = v.inputs[0];
    if (v.op === "loop_tape" && b.nodes.includes(m)) {
      let lm = inner.get(m);
      if (!lm) inner.set(m, (lm = layout(cx, m)));
      const e = lm.entries[v.attrs.k as number];
      if (!e) throw new Error("internal error: a stacked tape entry its loop does not keep");
      const map = nested.get(m) ?? new Map<number, number>();
      nested.set(m, map);
      let s = map.get(e.slab);
      if (s === undefined) {
        const sl = lm.slabs[e.slab];
        slabs.push({ ...sl, shape: [sl.shape[0], count, ...sl.shape.slice(1)] });
        map.set(e.slab, (s = slabs.length - 1));
      }
      const slab = s;
      const ms = lm.slabs.map((_, i) => map.get(i) ?? slab);
      return {
        slab,
        view: (vs) => {
          const x = e.view(ms.map((i) => atStep(vs[i], "0")));
          return { ...x, shape: [vs[slab].shape[1], ...x.shape], strides: [vs[slab].strides[1], ...x.strides] };
        },
      };
    }
    // A value listed twice (merged by CSE) has one slab.
    let s = own.get(v);
    if (s === undefined) {
      slabs.push({ name: `${cx.role(v)}_tape`, shape: [count, ...cx.sizes(v.shape)], history: false, dtype: v.dtype });
      own.set(v, (s = slabs.length - 1));
    }
    const slab = s;
    return { slab, view: (vs) => vs[slab] };
  });
  return { taped, slabs, history, own, nested, entries };
}

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

  const lay = layout(cx, n);
  const { taped } = lay;
  // Slabs: inside an enclosing loop's tape when that loop stacks them, else buffers of their own.
  const homed = cx.tapeHomes.get(n);
  const slabs = lay.slabs.map((sl, i) => {
    const home = homed?.get(i);
    if (home) return home;
    const v = cx.alloc(cx.names.claim(sl.name), sl.shape, sl.dtype);
    if (sl.history) (cx.bufs.get(v.buf) as BufInfo).plus = product(sl.shape.slice(1)); // the row after the last step
    return v;
  });

  const t = cx.local(b.index);
  const step = start === 0 ? t : `(${t} - ${start})`;
  const next = start === 0 ? `(${t} + 1)` : start === 1 ? t : `(${t} - ${start - 1})`;
  for (const [m, map] of lay.nested) cx.tapeHomes.set(m, new Map([...map].map(([i, s]) => [i, atStep(slabs[s], step)])));
  // Carried values: a history tape when the backward reads the value before or after a step.
  const history = lay.history.map((s) => (s === null ? null : slabs[s]));
  const carried = b.carried.map((c, k) => {
    const h = history[k];
    if (h) {
      cx.copy(row(h, "0"), cx.value(n.inputs[k]), out);
      const v = row(h, step);
      cx.values.set(c, v);
      return v;
    }
    // An initial value nothing else reads is carried in its own buffer; else a copy is.
    const init = n.inputs[k];
    const iv = cx.value(init);
    const sole = cx.plan.readers.get(init)?.size === 1 && !cx.plan.pinned.has(init) && n.inputs.indexOf(init) === k;
    const info = cx.bufs.get(iv.kind === "view" ? iv.buf : "");
    if (sole && cx.isWhole(iv) && info?.owner === init) {
      // The buffer passes to the carried value (a nested loop's accumulator may then update it in place).
      info.owner = c;
      cx.values.set(c, iv);
      return iv;
    }
    const v = cx.alloc(cx.local(c), cx.sizes(c.shape), c.dtype, c);
    cx.values.set(c, v);
    cx.copy(v, iv, out);
    return v;
  });
  // Other tape entries: [count, ...] slabs, written a row per step.
  const own = new Map<Node, View>([...lay.own].map(([v, s]) => [v, slabs[s]]));
  const tape = lay.entries.map((e) => (e ? e.view(slabs) : null));
  const final = carried.map((v, k) => (history[k] ? row(history[k] as View, sizeAtom(count)) : v));
  cx.loops.set(n, { final, tape });

  // Where values land as they are computed: results in the next row of their history, tape entries in their row.
  const writesInto = new Map<Node, View>();
  const ownBuffer = lastReadBeforeResult(cx, b, own);
  b.results.forEach((r, k) => {
    if (history[k] && r.op !== "carry") writesInto.set(r, row(history[k] as View, next));
    else if (!history[k] && r.op !== "carry") {
      cx.resultOf.set(r, carried[k]);
      if (ownBuffer[k] && !cx.values.has(r)) cx.homes.set(r, carried[k]);
    }
  });
  for (const [v, buf] of own) writesInto.set(v, row(buf, step));
  for (const [v, home] of writesInto) if (isElementwise(v) && !cx.values.has(v)) cx.homes.set(v, home);

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
  // Values not computed where they land (views, matmuls, carried values passed on): copied there.
  const same = (a: Value, v: View): boolean => a.kind === "view" && a.buf === v.buf && a.off === v.off;
  for (const [v, home] of writesInto) {
    if (!same(cx.value(v), home)) cx.copy(home, cx.value(v), body);
  }
  for (const v of taped) {
    const k = b.carried.indexOf(v);
    if (k >= 0 && !history[k]) throw new Error("internal error: a taped carried value without a history");
  }
  // Results of the other carried values: skip one that is its own carried buffer; stage any that read a carried buffer.
  const carriedBufs = new Set(carried.filter((_, k) => !history[k]).map((c) => c.buf));
  const pending: { dst: View; src: Value }[] = [];
  b.results.forEach((r, k) => {
    if (history[k]) {
      if (r.op === "carry") cx.copy(row(history[k] as View, next), cx.value(r), body);
      return;
    }
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
  for (const m of lay.nested.keys()) cx.tapeHomes.delete(m);
  for (const r of b.results) cx.resultOf.delete(r);
  for (const v of [...writesInto.keys(), ...b.results]) cx.homes.delete(v);
  cx.fn.lastLine = -1;
  cx.fn.lastInner = 0;
}

/**
 * For each carried value, whether its result may be computed straight into
 * its buffer: everything that reads the buffer (directly or through a view)
 * runs before the result is computed, and nothing reads it at the end of the
 * step (another result, a tape row). Then no copy carries it to the next step.
 */
function lastReadBeforeResult(cx: Emitter, b: LoopBody, own: ReadonlyMap<Node, View>): boolean[] {
  const pos = new Map<Node, number>(b.nodes.map((m, i) => [m, i]));
  // A fused node runs where its root does.
  const at = (m: Node): number => {
    let x = m;
    while (cx.plan.fused.has(x)) x = [...(cx.plan.readers.get(x) ?? [])].find((r) => r.phase === x.phase) as Node;
    return pos.get(x) ?? -1;
  };
  const reads = (m: Node, alias: Set<Node>): boolean =>
    m.inputs.some((i) => alias.has(i)) || (m.body !== undefined && m.body.nodes.some((x) => reads(x, alias)));
  return b.carried.map((c, k) => {
    const r = b.results[k];
    if (r.op === "carry" || !pos.has(r) || !cx.plan.live.has(r)) return false;
    const alias = new Set<Node>([c]);
    for (const m of b.nodes) {
      const f = OPS[m.op].codegen;
      if (f && "view" in f && alias.has(m.inputs[0])) alias.add(m);
    }
    if (alias.has(r) || b.results.some((x, j) => j !== k && alias.has(x)) || [...own.keys()].some((v) => alias.has(v))) return false;
    const last = Math.max(-1, ...b.nodes.filter((m) => cx.plan.live.has(m) && !alias.has(m) && reads(m, alias)).map(at));
    return last < at(r);
  });
}
