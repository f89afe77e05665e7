// Indexing, slicing and indexed assignment. Constant indices and slices
// become one `slice` node (a view). A runtime index (a loop variable, or an
// int expression of loop variables and dims) on the first axis is `index`
// (xs[t], a view the loop's gradient re-reads); elsewhere, and for a slice of
// constant length with a runtime start (xs[t:t+K]), one `dslice` over the
// whole region. An int tensor index gathers (`Emb[tok]`); `None` inserts an
// axis. `hs[t] = v` is `hs = update(hs, v, starts)`.
import { BpcError, type Span } from "../../diag.js";
import { addDims, dimAtLeast, dimAtoms, dimOf, subDims } from "../../ir/dimexpr.js";
import { showShape } from "../../ir/shape.js";
import type { Dim, Node } from "../../ir/types.js";
import type { Expr, IndexItem } from "../parser/ast.js";
import { unparseExpr } from "../parser/print.js";
import { isStatic, staticDim } from "./constants.js";
import type { Lowering } from "./context.js";
import { lowerExpr } from "./expressions.js";
import type { Env } from "./scope.js";

type Item = Exclude<IndexItem, { kind: "newaxis" }>;

/** What an index item does to its axis, once its expressions are lowered. */
type Step =
  | { kind: "all" }
  | { kind: "static"; item: Item }
  | { kind: "at"; i: Node; item: Item }
  | { kind: "range"; start: Node; size: Dim; item: Extract<Item, { kind: "slice" }> }
  | { kind: "gather"; idx: Node; item: Item };

export function lowerIndex(cx: Lowering, e: Extract<Expr, { kind: "index" }>, env: Env): Node {
  const target = lowerExpr(cx, e.target, env);
  const what = unparseExpr(e);
  const axes = e.items.filter((it): it is Item => it.kind !== "newaxis");
  if (axes.length > target.shape.length) {
    throw new BpcError(`too many indices: ${showShape(target.shape)} has ${target.shape.length} axes, got ${axes.length} indices`, e.span);
  }
  const steps = axes.map((it, axis) => stepOf(cx, it, target, axis, env, what));
  const gathers = steps.flatMap((s, axis) => (s.kind === "gather" ? [axis] : []));
  let out: Node;
  if (gathers.length > 1) {
    throw new BpcError("one int-array index per indexing: NumPy's rules for several are not supported", e.span, [
      "index one axis at a time, as take(take(x, i, axis=0), j, axis=1)",
    ]);
  }
  if (gathers.length === 1) {
    const g = gathers[0];
    if (steps.some((s) => s.kind === "at" || (s.kind === "static" && s.item.kind === "at"))) {
      throw new BpcError("an int-array index with single-integer indices on other axes is not supported", e.span, [
        "take the single indices first, then gather: y = x[0]; y[idx]",
      ]);
    }
    const step = steps[g] as Extract<Step, { kind: "gather" }>;
    const rest = steps.map((s, k): Step => (k === g ? { kind: "all" } : s));
    const region = read(cx, target, rest, e.span, what);
    out = cx.op("gather", [region, step.idx], e.span, { axis: g, what });
  } else out = read(cx, target, steps, e.span, what);
  return newAxes(cx, out, e.items, steps, e.span);
}

/** `name[items] = value`: `name` rebound to the tensor with that region replaced. */
export function lowerIndexAssign(cx: Lowering, x: Node, items: IndexItem[], value: Node, span: Span, what: string, env: Env): Node {
  const axes: Item[] = [];
  for (const it of items) {
    if (it.kind === "newaxis") throw new BpcError("None selects no elements and cannot be assigned through", it.span);
    axes.push(it);
  }
  if (axes.length > x.shape.length) {
    throw new BpcError(`too many indices: ${showShape(x.shape)} has ${x.shape.length} axes, got ${axes.length} indices`, span);
  }
  const steps = axes.map((it, axis) => stepOf(cx, it, x, axis, env, what));
  const g = steps.find((s) => s.kind === "gather");
  if (g) {
    throw new BpcError("assignment through an int-array index is not supported", g.item.span, [
      "write each index with a loop variable: for k in 0..K { y[idx_k] = ... }, or build the value with one_hot",
    ]);
  }
  const r = region(cx, x, steps, span);
  if (value.dtype !== x.dtype) {
    throw new BpcError(`cannot write ${value.dtype === "int" ? "an int" : "a float"} value into ${x.dtype === "int" ? "an int" : "a float"} tensor`, span);
  }
  return cx.op("update", [x, value, ...r.starts], span, { sizes: r.sizes, drop: r.drop, what });
}

function stepOf(cx: Lowering, it: Item, x: Node, axis: number, env: Env, what: string): Step {
  if (it.kind === "slice") {
    if (!it.start && !it.end) return { kind: "all" };
    if ((!it.start || isStatic(it.start, env)) && (!it.end || isStatic(it.end, env))) {
      const d = x.shape[axis];
      const whole = (it.start ? staticDim(cx, it.start, "a slice bound") : 0) === 0 && (it.end ? staticDim(cx, it.end, "a slice bound") : d) === d;
      return whole ? { kind: "all" } : { kind: "static", item: it };
    }
    if (!it.start || !it.end) {
      throw new BpcError("a slice with a runtime bound needs both bounds, of constant length: xs[t:t+K]", it.span);
    }
    const start = intScalar(cx, it.start, env);
    const size = sliceLength(it.start, it.end, env);
    if (size === null || (typeof size === "number" && size < 1) || (typeof size !== "number" && !dimAtLeast(size, 1))) {
      throw new BpcError(`the length of the slice ${unparseExpr(it.start)}:${unparseExpr(it.end)} is not a positive constant`, it.span, [
        `write its end as the start plus a constant: ${unparseExpr(it.start)}:${unparseExpr(it.start)} + K`,
      ]);
    }
    const d = x.shape[axis];
    const room = subDims(d, size);
    if (typeof room === "number" ? room < 0 : !dimAtLeast(room, 0)) {
      throw new BpcError(`a slice of length ${size} does not fit in axis ${axis} of size ${d}`, it.span);
    }
    pastTheEnd(cx, start, d, size, axis, it, what);
    return { kind: "range", start, size, item: it };
  }
  if (isStatic(it.expr, env)) return { kind: "static", item: it };
  const i = lowerExpr(cx, it.expr, env);
  if (i.dtype !== "int") throw new BpcError(`an index must be an int or an integer constant, got a float ${showShape(i.shape)}`, it.span);
  if (i.shape.length > 0) return { kind: "gather", idx: i, item: it };
  pastTheEnd(cx, i, x.shape[axis], 1, axis, it, what);
  return { kind: "at", i, item: it };
}

function intScalar(cx: Lowering, e: Expr, env: Env): Node {
  const i = lowerExpr(cx, e, env);
  if (i.dtype !== "int" || i.shape.length !== 0) {
    throw new BpcError(`a slice bound must be an int scalar or an integer constant, got ${i.dtype}${showShape(i.shape)}`, e.span);
  }
  return i;
}

const ORDINALS = ["first", "second", "third", "fourth"];

/** A loop variable as the start: the loop's steps must fit in the axis (known at compile time when both are numbers). */
function pastTheEnd(cx: Lowering, start: Node, d: Dim, size: Dim, axis: number, it: Item, what: string): void {
  const steps = cx.loopCounts.get(start);
  if (typeof steps !== "number" || typeof d !== "number" || typeof size !== "number" || steps + size - 1 <= d) return;
  const which = ORDINALS[axis] ? `its ${ORDINALS[axis]} axis` : `its axis ${axis}`;
  throw new BpcError(`${what} reads past the end: ${which} has ${d} entries but the loop runs ${steps} steps`, it.span);
}

/**
 * The constant length of a slice with a runtime start: `end - start`
 * normalised as a dim expression whose atoms are the loop variables and
 * dims (`t:t+K`, `t*S:t*S+K`, `2*t+1:2*(t+1)`); null when it depends on a
 * runtime value.
 */
export function sliceLength(start: Expr, end: Expr, env: Env): Dim | null {
  const resolve = (name: string, span: Span): Dim => {
    const b = env.get(name);
    if (b?.kind === "dim") return b.dim;
    if (b?.kind === "tensor" && b.node.op === "loop_index") return `${name}`;
    throw new BpcError(`'${name}' is not a dim or a loop variable`, span);
  };
  let len: Dim;
  try {
    len = subDims(dimOf(end, resolve), dimOf(start, resolve));
  } catch (e) {
    if (e instanceof BpcError) return null;
    throw e;
  }
  // No loop variable may remain: the length is the same at every step.
  const vars = dimAtoms(len).filter((a) => env.get(a)?.kind !== "dim");
  return vars.length ? null : len;
}

/** Reads the region the steps select (no gathers among them). */
function read(cx: Lowering, target: Node, steps: Step[], span: Span, what: string): Node {
  if (steps.every((s) => s.kind === "all" || s.kind === "static")) return constantSlice(cx, target, steps, span);
  // xs[t, ...]: the row is a view, and a loop's gradient re-reads it.
  const [first] = steps;
  if (first.kind === "at") {
    // A bare name (xs[t]) is named in errors as it is; an expression (xs[t + 1]) by its text.
    const row = cx.op("index", [target, first.i], span, first.item.kind === "at" && first.item.expr.kind === "name" ? {} : { what });
    const rest = steps.slice(1);
    return rest.length ? read(cx, row, rest, span, what) : row;
  }
  const r = region(cx, target, steps, span);
  return cx.op("dslice", [target, ...r.starts], span, { sizes: r.sizes, drop: r.drop, what });
}

/** A region over every axis: a start node, an extent and whether it is dropped, per axis. */
function region(cx: Lowering, x: Node, steps: Step[], span: Span): { starts: Node[]; sizes: Dim[]; drop: number[] } {
  const starts: Node[] = [];
  const sizes: Dim[] = [];
  const drop: number[] = [];
  const constant = (v: number): Node => cx.op("const", [], span, { value: v });
  x.shape.forEach((d, axis) => {
    const s = steps[axis] ?? { kind: "all" };
    switch (s.kind) {
      case "all":
        starts.push(constant(0));
        sizes.push(d);
        return;
      case "static": {
        const [a, b] = staticBounds(cx, s.item, d, axis, x.shape);
        // A symbolic start (`x[H:2*H, t]`) is the size of its dim expression.
        starts.push(typeof a === "number" ? constant(a) : cx.op("numel", [], span, { dims: [a] }));
        sizes.push(subDims(b, a));
        if (s.item.kind === "at") drop.push(axis);
        return;
      }
      case "at":
        starts.push(s.i);
        sizes.push(1);
        drop.push(axis);
        return;
      case "range":
        starts.push(s.start);
        sizes.push(s.size);
        return;
      case "gather":
        throw new Error("internal error: a gather inside a region");
    }
  });
  return { starts, sizes, drop };
}

/**
 * A constant index or slice's half-open bounds on an axis: a negative
 * constant counts from the end; bounds may be dim expressions (`H:2*H`),
 * which must be provably inside the axis.
 */
function staticBounds(cx: Lowering, it: Item, d: Dim, axis: number, shape: readonly Dim[]): [Dim, Dim] {
  const bound = (v: Dim, s: Span, allowEnd: boolean): Dim => {
    const n = typeof v === "number" && v < 0 ? addDims(d, v) : v;
    const room = subDims(d, n);
    const inside =
      typeof n === "number" && typeof room === "number"
        ? n >= 0 && (allowEnd ? room >= 0 : room >= 1)
        : dimAtLeast(n, 0) && dimAtLeast(room, allowEnd ? 0 : 1);
    if (inside) return n;
    if (typeof n === "number" && typeof room === "number") {
      throw new BpcError(`index ${v} is out of bounds for axis ${axis} of size ${d} in ${showShape(shape)}`, s);
    }
    throw new BpcError(`cannot tell that ${v} is inside axis ${axis} of size ${d} in ${showShape(shape)} for every value of its dims`, s, [
      "a symbolic bound must be a dim expression that stays inside the axis for all sizes, as H:2*H on an axis of 4*H",
    ]);
  };
  if (it.kind === "at") {
    const k = bound(staticDim(cx, it.expr, "an index"), it.span, false);
    return [k, addDims(k, 1)];
  }
  const s0 = it.start ? staticDim(cx, it.start, "a slice bound") : 0;
  const e0 = it.end ? staticDim(cx, it.end, "a slice bound") : d;
  const s1 = bound(s0, it.span, true);
  const e1 = bound(e0, it.span, true);
  const extent = subDims(e1, s1);
  // A symbolic extent (`1:T` is T-1) is checked when the module is called.
  if (typeof extent === "number" && extent < 1) {
    throw new BpcError(`empty slice ${s0}:${e0} on axis ${axis} of size ${d}`, it.span);
  }
  return [s1, e1];
}

/** Constant indices and slices as one `slice` node; the whole tensor when they select all of it. */
function constantSlice(cx: Lowering, target: Node, steps: Step[], span: Span): Node {
  const shape = target.shape;
  const starts: Dim[] = [];
  const ends: Dim[] = [];
  const drop: number[] = [];
  shape.forEach((d, axis) => {
    const s = steps[axis];
    if (!s || s.kind !== "static") {
      starts.push(0);
      ends.push(d);
      return;
    }
    const it = s.item;
    const [a, b] = staticBounds(cx, it, d, axis, shape);
    starts.push(a);
    ends.push(b);
    if (it.kind === "at") drop.push(axis);
  });
  const whole = drop.length === 0 && starts.every((s, i) => s === 0 && ends[i] === shape[i]);
  return whole ? target : cx.op("slice", [target], span, { starts, ends, drop });
}

/** Inserts the size-1 axes that `None` items ask for, where NumPy puts them. */
function newAxes(cx: Lowering, x: Node, items: IndexItem[], steps: Step[], span: Span): Node {
  if (!items.some((it) => it.kind === "newaxis")) return x;
  const at: number[] = [];
  let pos = 0;
  let k = 0;
  for (const it of items) {
    if (it.kind === "newaxis") {
      at.push(pos++);
      continue;
    }
    const s = steps[k++];
    if (s.kind === "gather") pos += s.idx.shape.length;
    else if (!(s.kind === "at" || (s.kind === "static" && s.item.kind === "at"))) pos++;
  }
  const shape: Dim[] = [...x.shape];
  for (const p of at) shape.splice(p, 0, 1);
  return cx.op("reshape", [x], span, { shape });
}
