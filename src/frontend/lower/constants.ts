// Values known at compile time: numbers, integers, dims, axes, shapes and
// booleans written as literals or constant dims, each with the error a user
// gets when the expression is not one.
import { BpcError, type Span } from "../../diag.js";
import { dimOf, dimText } from "../../ir/dimexpr.js";
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

/**
 * A size: an integer expression of dims (spec section 9: `B*T`, `2*H`,
 * `T-1`), folded when constant, symbolic dims kept. Not checked for sign:
 * each use says what it accepts (positiveDim for sizes).
 */
export function staticDim(cx: Lowering, e: Expr, what: string): Dim {
  return dimOf(e, (name, span) => {
    const b = cx.globals.get(name);
    if (b?.kind === "dim") return b.dim;
    throw new BpcError(`${what} must be an integer constant or a dim, or an expression of them ('${name}' is not a dim)`, span);
  });
}

/** A size that must be a positive integer: a constant one is checked here, a symbolic one when the module is called. */
export function positiveDim(cx: Lowering, e: Expr, what: string): Dim {
  return requirePositive(staticDim(cx, e, what), e, what);
}

/** `d`, the Dim of `e`, when it is not a constant below 1; else an error quoting the expression. */
export function requirePositive(d: Dim, e: Expr, what: string): Dim {
  if (typeof d === "number" && d < 1) {
    const text = dimText(e);
    throw new BpcError(`${what} must be a positive integer, got ${text === String(d) ? d : `${text} = ${d}`}`, e.span);
  }
  return d;
}

/** An integer known at compile time: a literal, a constant dim, or an expression of them (`H-1`). */
export function staticInt(cx: Lowering, e: Expr, what: string): number {
  const literal = e.kind === "num" ? e.value : e.kind === "unary" && e.arg.kind === "num" ? -e.arg.value : null;
  if (literal !== null && !Number.isInteger(literal)) throw new BpcError(`${what} must be an integer constant or a dim`, e.span);
  const v = staticDim(cx, e, what);
  if (typeof v !== "number") throw new BpcError(`${what} must be an integer constant, got the symbolic ${v}`, e.span);
  return v;
}

/** Whether an index expression is known at compile time (else it is read at run time, as xs[t]). */
export function isStatic(e: Expr, env: Env): boolean {
  if (e.kind === "num") return true;
  if (e.kind === "unary") return isStatic(e.arg, env);
  if (e.kind === "name") return env.get(e.name)?.kind === "dim";
  // A dim expression (`2*H`, `T-1`).
  if (e.kind === "binary" && ["+", "-", "*", "//"].includes(e.op)) return isStatic(e.left, env) && isStatic(e.right, env);
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

/** A shape argument: `[B, 10]`, `[B*T, 2*H]`; with `inferred`, one entry may be the literal -1 (reshape). */
export function shapeOf(cx: Lowering, e: Expr, inferred = false): Dim[] {
  if (e.kind !== "list") throw new BpcError("expected a shape such as [B, 10]", e.span);
  let minusOne: Expr | null = null;
  return e.items.map((it) => {
    if (inferred && it.kind === "unary" && it.arg.kind === "num" && it.arg.value === 1) {
      if (minusOne) throw new BpcError("only one entry of a shape may be -1", it.span);
      minusOne = it;
      return -1;
    }
    return positiveDim(cx, it, "a dim");
  });
}

export function boolOf(e: Expr): boolean {
  if (e.kind === "bool") return e.value;
  throw new BpcError("expected true or false", e.span);
}
