// Expressions: literals, names, operators and `@`. Calls and indexing have
// their own files (calls.ts, indexing.ts).
import { BpcError, type Span } from "../../diag.js";
import type { OpKind } from "../../ir/ops.js";
import { showShape } from "../../ir/shape.js";
import type { Node } from "../../ir/types.js";
import type { BinaryOp, Expr } from "../parser/ast.js";
import { lowerCall } from "./calls.js";
import { finite } from "./constants.js";
import type { Lowering } from "./context.js";
import { lowerIndex } from "./indexing.js";
import { lookup, type Env } from "./scope.js";

const BINARY: Record<Exclude<BinaryOp, "@" | "//">, OpKind> = {
  "+": "add",
  "-": "sub",
  "*": "mul",
  "/": "div",
  "^": "pow",
  "<": "lt",
  "<=": "le",
  ">": "gt",
  ">=": "ge",
  "==": "eq",
  "!=": "ne",
};

const COMPARISONS = new Set<BinaryOp>(["<", "<=", ">", ">=", "==", "!="]);

export function lowerExpr(cx: Lowering, e: Expr, env: Env): Node {
  switch (e.kind) {
    case "num":
      return cx.op("const", [], e.span, { value: finite(e.value, e.span) });
    case "bool":
      return cx.op("const", [], e.span, { value: e.value ? 1 : 0 });
    case "name": {
      const b = lookup(cx, e.name, e.span, env);
      if (b.kind === "tensor") return b.node;
      return typeof b.dim === "number"
        ? cx.op("const", [], e.span, { value: b.dim })
        : cx.op("numel", [], e.span, { dims: [b.dim] });
    }
    case "unary": {
      if (e.arg.kind === "num") return cx.op("const", [], e.span, { value: -finite(e.arg.value, e.span) });
      return cx.op("neg", [lowerFloat(cx, e.arg, env)], e.span);
    }
    case "binary": {
      if (e.op === "@") return matmul(cx, e.left, e.right, e.span, env);
      if (e.op === "//") {
        throw new BpcError("'//' (floor division) is for dim expressions: shapes, slice bounds, loop bounds and sizes", e.span, [
          "for a float tensor, write floor(a / b)",
        ]);
      }
      // Comparisons take ints as well (`argmax(logits, axis=1) == y`) and give a float 0 or 1.
      const operand = COMPARISONS.has(e.op) ? (x: Expr) => lowerExpr(cx, x, env) : (x: Expr) => lowerFloat(cx, x, env);
      return cx.op(BINARY[e.op], [operand(e.left), operand(e.right)], e.span);
    }
    case "transpose":
      return cx.op("transpose", [lowerExpr(cx, e.arg, env)], e.span);
    case "index":
      return lowerIndex(cx, e.target, e.items, e.span, env);
    case "call":
      return lowerCall(cx, e, env);
    case "list":
      throw new BpcError("a list [...] is only allowed as a shape argument, as in zeros([B, H])", e.span);
    case "str":
      throw new BpcError(`a string is only allowed as an option's value, as in conv2d(x, K, padding="same")`, e.span);
  }
}

/** Lowers an expression that must be a float tensor, with a message naming it otherwise. */
export function lowerFloat(cx: Lowering, e: Expr, env: Env): Node {
  const n = lowerExpr(cx, e, env);
  if (n.dtype !== "float") {
    throw new BpcError(`an int tensor ${showShape(n.shape)} is used where a float is needed`, e.span, [
      "int tensors (labels, actions, indices) can only be used by pick, cross_entropy, one_hot, indexing and comparisons",
    ]);
  }
  return n;
}

/** `a @ b` for [M,K]@[K,N], and a vector on either side as a reshaped matrix. */
function matmul(cx: Lowering, left: Expr, right: Expr, span: Span, env: Env): Node {
  const a = lowerFloat(cx, left, env);
  const c = lowerFloat(cx, right, env);
  const ra = a.shape.length;
  const rc = c.shape.length;
  const mismatch = (): never => {
    throw new BpcError(`cannot multiply ${showShape(a.shape)} @ ${showShape(c.shape)}`, span, [
      `the last dim of the left side (${a.shape[ra - 1] ?? "none"}) must equal the first dim of the right side (${c.shape[0] ?? "none"})`,
    ]);
  };
  if (ra < 1 || ra > 2 || rc < 1 || rc > 2 || (ra === 1 && rc === 1)) {
    throw new BpcError(`'@' takes [M,K]@[K,N], [K]@[K,N] or [M,K]@[K]; got ${showShape(a.shape)} @ ${showShape(c.shape)}`, span);
  }
  if (a.shape[ra - 1] !== c.shape[0]) mismatch();
  const a2 = ra === 1 ? cx.op("reshape", [a], span, { shape: [1, a.shape[0]] }) : a;
  const c2 = rc === 1 ? cx.op("reshape", [c], span, { shape: [c.shape[0], 1] }) : c;
  const out = cx.op("matmul", [a2, c2], span, { transA: false, transB: false });
  if (ra === 1) return cx.op("reshape", [out], span, { shape: [c.shape[1]] });
  if (rc === 1) return cx.op("reshape", [out], span, { shape: [a.shape[0]] });
  return out;
}
