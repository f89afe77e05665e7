// Indexing and slicing. A runtime index (a loop variable) reads the first
// axis (xs[t]), or the second of a 2-D value (x[:, t]) through a transpose;
// constant indices and slices become one `slice` node.
import { BpcError, type Span } from "../../diag.js";
import { addDims, dimAtLeast, subDims } from "../../ir/dimexpr.js";
import { showShape } from "../../ir/shape.js";
import type { Dim, Node } from "../../ir/types.js";
import type { Expr, IndexItem } from "../parser/ast.js";
import { unparseExpr } from "../parser/print.js";
import { isStatic, staticDim } from "./constants.js";
import type { Lowering } from "./context.js";
import { lowerExpr } from "./expressions.js";
import type { Env } from "./scope.js";

export function lowerIndex(cx: Lowering, targetExpr: Expr, items: IndexItem[], span: Span, env: Env): Node {
  let target = lowerExpr(cx, targetExpr, env);
  let rest = items;
  // A runtime int scalar index on the first axis (xs[t]).
  const first = items[0];
  if (first && first.kind === "at" && !isStatic(first.expr, env)) {
    const i = runtimeIndex(cx, first, env);
    if (target.shape.length === 0) throw new BpcError("cannot index a scalar", span);
    const steps = cx.loopCounts.get(i);
    const rows = target.shape[0];
    if (typeof steps === "number" && typeof rows === "number" && steps > rows) {
      throw new BpcError(
        `${unparseExpr(targetExpr)}[${first.expr.kind === "name" ? first.expr.name : "t"}] reads past the end: its first axis has ${rows} entries but the loop runs ${steps} steps`,
        first.span,
      );
    }
    target = cx.op("index", [target, i], span);
    rest = items.slice(1);
    if (rest.length === 0) return target;
  }
  // A runtime index on the second axis of a 2-D value (x[:, t], batch-first): the first
  // axis of its transpose, which is a view; the gradient goes back through both.
  const [all, second] = rest;
  if (
    rest.length === 2 &&
    target.shape.length === 2 &&
    all.kind === "slice" &&
    !all.start &&
    !all.end &&
    second.kind === "at" &&
    !isStatic(second.expr, env)
  ) {
    const i = runtimeIndex(cx, second, env);
    const steps = cx.loopCounts.get(i);
    const cols = target.shape[1];
    if (typeof steps === "number" && typeof cols === "number" && steps > cols) {
      throw new BpcError(
        `${unparseExpr(targetExpr)}[:, ${second.expr.kind === "name" ? second.expr.name : "t"}] reads past the end: its second axis has ${cols} entries but the loop runs ${steps} steps`,
        second.span,
      );
    }
    return cx.op("index", [cx.op("transpose", [target], span), i], span);
  }
  const runtime = rest.find((it) => it.kind === "at" && !isStatic(it.expr, env));
  if (runtime) {
    throw new BpcError("a runtime index (a loop variable) can only index the first axis, or the second of a 2-D value (x[:, t])", runtime.span, [
      "store sequences time-major, as [T, B, D], and write xs[t]",
    ]);
  }
  return constantSlice(cx, target, rest, items.length, span);
}

function runtimeIndex(cx: Lowering, item: Extract<IndexItem, { kind: "at" }>, env: Env): Node {
  const i = lowerExpr(cx, item.expr, env);
  if (i.dtype !== "int" || i.shape.length !== 0) {
    throw new BpcError(`an index must be an int scalar or an integer constant, got ${i.dtype}${showShape(i.shape)}`, item.span);
  }
  return i;
}

/** Constant indices and slices, one per leading axis; the whole tensor when they select all of it. */
function constantSlice(cx: Lowering, target: Node, rest: IndexItem[], written: number, span: Span): Node {
  const shape = target.shape;
  if (rest.length > shape.length) {
    throw new BpcError(`too many indices: ${showShape(shape)} has ${shape.length} axes, got ${written} indices`, span);
  }
  const starts: Dim[] = [];
  const ends: Dim[] = [];
  const drop: number[] = [];
  shape.forEach((d, axis) => {
    const it = rest[axis];
    if (!it || (it.kind === "slice" && !it.start && !it.end)) {
      starts.push(0);
      ends.push(d);
      return;
    }
    // A negative constant counts from the end. Bounds may be dim expressions
    // (spec section 9: `H:2*H`); a symbolic one must be provably inside the
    // axis, and a symbolic extent (`1:T` is T-1) is checked at call time.
    const bound = (v: Dim, s: Span, allowEnd: boolean): Dim => {
      const n = typeof v === "number" && v < 0 ? addDims(d, v) : v;
      const room = subDims(d, n);
      const inside = typeof n === "number" && typeof room === "number"
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
      const v = staticDim(cx, it.expr, "an index");
      const k = bound(v, it.span, false);
      starts.push(k);
      ends.push(addDims(k, 1));
      drop.push(axis);
    } else {
      const s0 = it.start ? staticDim(cx, it.start, "a slice bound") : 0;
      const e0 = it.end ? staticDim(cx, it.end, "a slice bound") : d;
      if (s0 === 0 && e0 === d) {
        starts.push(0);
        ends.push(d);
        return;
      }
      const s1 = bound(s0, it.span, true);
      const e1 = bound(e0, it.span, true);
      const extent = subDims(e1, s1);
      if (typeof extent === "number" && extent < 1) throw new BpcError(`empty slice ${s0}:${e0} on axis ${axis} of size ${d}`, it.span);
      starts.push(s1);
      ends.push(e1);
    }
  });
  const whole = drop.length === 0 && starts.every((s, i) => s === 0 && ends[i] === shape[i]);
  return whole ? target : cx.op("slice", [target], span, { starts, ends, drop });
}
