// Indexing and slicing. A runtime index (a loop variable) reads the first
// axis (xs[t]), or the second of a 2-D value (x[:, t]) through a transpose;
// constant indices and slices become one `slice` node.
import { BpcError, type Span } from "../../diag.js";
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
  const starts: number[] = [];
  const ends: Dim[] = [];
  const drop: number[] = [];
  shape.forEach((d, axis) => {
    const it = rest[axis];
    if (!it || (it.kind === "slice" && !it.start && !it.end)) {
      starts.push(0);
      ends.push(d);
      return;
    }
    const bound = (v: Dim, what: string, s: Span, allowEnd: boolean): number => {
      if (typeof d !== "number") {
        throw new BpcError(`cannot ${what} into axis ${axis} of symbolic size ${d} with a constant; use ':'`, s);
      }
      const n = typeof v === "number" && v < 0 ? v + d : v;
      if (typeof n !== "number" || n < 0 || n > d || (!allowEnd && n === d)) {
        throw new BpcError(`index ${v} is out of bounds for axis ${axis} of size ${d} in ${showShape(shape)}`, s);
      }
      return n;
    };
    if (it.kind === "at") {
      const v = staticDim(cx, it.expr, "an index");
      if (v === d) throw new BpcError(`index ${v} is out of bounds for axis ${axis} of size ${d}`, it.span);
      const k = bound(v, "index", it.span, false);
      starts.push(k);
      ends.push(k + 1);
      drop.push(axis);
    } else {
      const s0 = it.start ? staticDim(cx, it.start, "a slice bound") : 0;
      const e0 = it.end ? staticDim(cx, it.end, "a slice bound") : d;
      if (s0 === 0 && e0 === d) {
        starts.push(0);
        ends.push(d);
        return;
      }
      const s1 = bound(s0, "slice", it.span, true);
      const e1 = bound(e0, "slice", it.span, true);
      if (e1 <= s1) throw new BpcError(`empty slice ${s0}:${e0} on axis ${axis} of size ${d}`, it.span);
      starts.push(s1);
      ends.push(e1);
    }
  });
  const whole = drop.length === 0 && starts.every((s, i) => s === 0 && ends[i] === shape[i]);
  return whole ? target : cx.op("slice", [target], span, { starts, ends, drop });
}
