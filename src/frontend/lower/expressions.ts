// Expressions: literals, names, operators and `@`. Calls and indexing have
// their own files (calls.ts, indexing.ts).
import { BpcError } from "../../diag.js";
import type { OpKind } from "../../ir/ops.js";
import { showShape } from "../../ir/shape.js";
import type { Node } from "../../ir/types.js";
import type { BinaryOp, Expr } from "../parser/ast.js";
import { lowerCall } from "./calls.js";
import { finite } from "./constants.js";
import type { Lowering } from "./context.js";
import { lowerIndex } from "./indexing.js";
import { lowerMatmul, lowerTransposeSuffix } from "./linalg.js";
import { lookup, type Env } from "./scope.js";

const BINARY: Record<Exclude<BinaryOp, "@">, OpKind> = {
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
      if (e.op === "@") return lowerMatmul(cx, lowerFloat(cx, e.left, env), lowerFloat(cx, e.right, env), e.span);
      // Comparisons take ints as well (`argmax(logits, axis=1) == y`) and give a float 0 or 1.
      const operand = COMPARISONS.has(e.op) ? (x: Expr) => lowerExpr(cx, x, env) : (x: Expr) => lowerFloat(cx, x, env);
      return cx.op(BINARY[e.op], [operand(e.left), operand(e.right)], e.span);
    }
    case "transpose":
      return lowerTransposeSuffix(cx, lowerExpr(cx, e.arg, env), e.which, e.span);
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
