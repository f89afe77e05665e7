// Values known at compile time: numbers, integers, dims, axes, shapes and
// booleans written as literals or constant dims, each with the error a user
// gets when the expression is not one.
import { BpcError, type Span } from "../../diag.js";
import { normAxis, showShape } from "../../ir/shape.js";
import type { Dim, Node } from "../../ir/types.js";
import type { Expr } from "../parser/ast.js";
import type { Lowering } from "./context.js";
import type { Env } from "./scope.js";

export function finite(v: number, span: Span): number {
  if (!Number.isFinite(v)) throw new BpcError("this number is too large for a float", span);
  return v;
}

/** A compile-time number: a literal, a negated literal, or a constant dim. */
export function constNumber(cx: Lowering, e: Expr): number {
  if (e.kind === "num") return finite(e.value, e.span);
  if (e.kind === "unary" && e.arg.kind === "num") return -finite(e.arg.value, e.span);
  if (e.kind === "name") {
    const b = cx.globals.get(e.name);
    if (b?.kind === "dim" && typeof b.dim === "number") return b.dim;
  }
  throw new BpcError("expected a constant number here", e.span);
}

/** A size: an integer constant or a dim (symbolic or not). */
export function staticDim(cx: Lowering, e: Expr, what: string): Dim {
  if (e.kind === "name") {
    const b = cx.globals.get(e.name);
    if (b?.kind === "dim") return b.dim;
  }
  return staticInt(cx, e, what);
}

export function staticInt(cx: Lowering, e: Expr, what: string): number {
  let v: number | null = null;
  if (e.kind === "num") v = e.value;
  else if (e.kind === "unary" && e.arg.kind === "num") v = -e.arg.value;
  else if (e.kind === "name") {
    const b = cx.globals.get(e.name);
    if (b?.kind === "dim" && typeof b.dim === "number") v = b.dim;
  }
  if (v === null || !Number.isInteger(v)) {
    throw new BpcError(`${what} must be an integer constant or a dim`, e.span);
  }
  return v;
}

/** Whether an index expression is known at compile time (else it is read at run time, as xs[t]). */
export function isStatic(e: Expr, env: Env): boolean {
  if (e.kind === "num") return true;
  if (e.kind === "unary") return isStatic(e.arg, env);
  if (e.kind === "name") return env.get(e.name)?.kind === "dim";
  return false;
}

/** An axis of `x` written in the source, normalised to 0..rank-1. */
export function axisOf(cx: Lowering, e: Expr, x: Node): number {
  return checkAxis(staticInt(cx, e, "an axis"), x, e.span);
}

export function checkAxis(v: number, x: Node, span: Span): number {
  const a = normAxis(v, x.shape.length);
  if (a === null) throw new BpcError(`axis ${v} is out of range for a tensor of shape ${showShape(x.shape)}`, span);
  return a;
}

/** A shape argument: `[B, 10]`. */
export function shapeOf(cx: Lowering, e: Expr): Dim[] {
  if (e.kind !== "list") throw new BpcError("expected a shape such as [B, 10]", e.span);
  return e.items.map((it) => {
    const d = staticDim(cx, it, "a dim");
    if (typeof d === "number" && d < 1) throw new BpcError(`a dim must be a positive integer, got ${d}`, it.span);
    return d;
  });
}

export function boolOf(e: Expr): boolean {
  if (e.kind === "bool") return e.value;
  throw new BpcError("expected true or false", e.span);
}
