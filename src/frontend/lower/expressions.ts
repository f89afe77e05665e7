// Expressions: literals, names, operators and `@`. Calls and indexing have
// their own files (calls.ts, indexing.ts).
import { BpcError } from "../../diag.js";
import type { OpKind } from "../../ir/ops.js";
import { showShape } from "../../ir/shape.js";
import type { Node } from "../../ir/types.js";
import type { BinaryOp, Expr } from "../parser/ast.js";
import { lowerCall } from "./calls.js";
import { finite, isStatic, staticDim } from "./constants.js";
import type { Lowering } from "./context.js";
import { lowerIndex } from "./indexing.js";
import { integral } from "../../ir/ops/binary.js";
import { lowerMatmul, lowerTransposeSuffix } from "./linalg.js";
import { lookup, type Env } from "./scope.js";
import { unparseExpr } from "../parser/print.js";

const BINARY: Record<Exclude<BinaryOp, "@">, OpKind> = {
  "+": "add",
  "-": "sub",
  "*": "mul",
  "/": "div",
  "//": "floordiv",
  "^": "pow",
  "<": "lt",
  "<=": "le",
  ">": "gt",
  ">=": "ge",
  "==": "eq",
  "!=": "ne",
};

const COMPARISONS = new Set<BinaryOp>(["<", "<=", ">", ">=", "==", "!="]);
/** Operators that take ints and give ints (section 9): `t + 1`, `t * S`, `i // 2`. */
const INT_ARITHMETIC = new Set<BinaryOp>(["+", "-", "*", "//"]);

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
      const x = lowerExpr(cx, e.arg, env);
      // -i of an int is 0 - i (an int).
      if (x.dtype === "int") return cx.op("sub", [cx.op("const", [], e.span, { value: 0 }), x], e.span);
      return cx.op("neg", [x], e.span);
    }
    case "binary": {
      if (e.op === "@") return lowerMatmul(cx, lowerFloat(cx, e.left, env), lowerFloat(cx, e.right, env), e.span);
      // A dim expression with '//' (`T // 2`) is its value, as in a shape.
      if (e.op === "//" && isStatic(e, env)) {
        const d = staticDim(cx, e, "a dim expression");
        return typeof d === "number" ? cx.op("const", [], e.span, { value: d }) : cx.op("numel", [], e.span, { dims: [d] });
      }
      // Comparisons take ints as well (`argmax(logits, axis=1) == y`) and give a float 0 or 1.
      if (COMPARISONS.has(e.op)) return cx.op(BINARY[e.op], [lowerExpr(cx, e.left, env), lowerExpr(cx, e.right, env)], e.span);
      return cx.op(BINARY[e.op], arithmeticOperands(cx, e, env), e.span);
    }
    case "transpose":
      return lowerTransposeSuffix(cx, lowerExpr(cx, e.arg, env), e.which, e.span);
    case "index":
      return lowerIndex(cx, e, env);
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
  if (n.dtype !== "float") throw intAsFloat(n, e);
  return n;
}

function intAsFloat(n: Node, e: Expr): BpcError {
  return new BpcError(`an int tensor ${showShape(n.shape)} is used where a float is needed`, e.span, [
    "int tensors (labels, actions, indices) are used by pick, cross_entropy, one_hot, indexing and comparisons, and with + - * // give ints",
    `to use one as a float, convert it: float(${unparseExpr(e)})`,
  ]);
}


/**
 * The operands of an arithmetic operator. Ints take `+ - * //` with ints,
 * integer constants and dims (an int result); any other mix with an int is
 * an error that says what to write.
 */
function arithmeticOperands(cx: Lowering, e: Extract<Expr, { kind: "binary" }>, env: Env): Node[] {
  const sides = [e.left, e.right];
  const xs = sides.map((x) => lowerExpr(cx, x, env));
  const k = xs.findIndex((x) => x.dtype === "int");
  if (e.op === "//") {
    if (k < 0) throw new BpcError("'//' (floor division) is for ints and dim expressions; for floats write floor(a / b)", e.span);
    const f = xs.findIndex((x) => x.dtype === "float" && !integral(x));
    if (f >= 0) throw new BpcError(`'//' divides ints, got a float ${showShape(xs[f].shape)}`, sides[f].span);
    return xs;
  }
  if (k < 0) return xs;
  if (!INT_ARITHMETIC.has(e.op)) {
    const instead = e.op === "/" ? "write i // j for floor division, or float(i) / j" : `write float(${unparseExpr(sides[k])}) to compute with it as a float`;
    throw new BpcError(`'${e.op}' is not defined on ints; ints take + - * // and comparisons`, e.span, [instead]);
  }
  const f = xs.findIndex((x) => x.dtype === "float" && !integral(x));
  if (f >= 0) throw intAsFloat(xs[k], sides[k]);
  return xs;
}
