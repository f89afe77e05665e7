// Statements in order: assignments, loops, `output` and `minimize`.
// Declarations were taken in before (declarations.ts).
import { BpcError } from "../../diag.js";
import { showShape } from "../../ir/shape.js";
import type { Stmt } from "../parser/ast.js";
import type { Lowering } from "./context.js";
import { lowerExpr } from "./expressions.js";
import { lowerIndexAssign } from "./indexing.js";
import { lowerLoop } from "./loops.js";
import { unparseIndexItem } from "../parser/print.js";
import { lookup, type Env } from "./scope.js";

export function lowerStatement(cx: Lowering, s: Stmt, env: Env): void {
  switch (s.kind) {
    case "assign": {
      const prev = cx.declared.get(s.name.name);
      const bound = env.get(s.name.name);
      const declaration = bound !== undefined && bound === cx.globals.get(s.name.name);
      if (prev && bound && declaration && (bound.kind === "dim" || bound.node.op === "param")) {
        throw new BpcError(
          `cannot assign to ${bound.kind === "dim" ? "dim" : "param"} '${s.name.name}' (declared at line ${prev.line}); use a new name`,
          s.name.span,
        );
      }
      if (cx.defs.has(s.name.name)) throw new BpcError(`'${s.name.name}' is a def; use a new name`, s.name.span);
      const node = lowerExpr(cx, s.value, env);
      if (!node.name) node.name = s.name.name;
      env.assign(s.name.name, { kind: "tensor", node });
      return;
    }
    case "index_assign": {
      const name = s.name.name;
      const b = lookup(cx, name, s.name.span, env);
      if (b.kind === "dim") throw new BpcError(`cannot assign into dim '${name}'`, s.name.span);
      if (b.node.op === "param" && b === cx.globals.get(name)) {
        throw new BpcError(`cannot assign into param '${name}' (declared at line ${cx.declared.get(name)?.line}); copy it first: w = ${name} * 1`, s.name.span);
      }
      const value = lowerExpr(cx, s.value, env);
      const what = `${name}[${s.items.map((it) => unparseIndexItem(it)).join(", ")}]`;
      const node = lowerIndexAssign(cx, b.node, s.items, value, s.span, what, env);
      node.name = name;
      env.assign(name, { kind: "tensor", node });
      return;
    }
    case "for":
      lowerLoop(cx, s, env);
      return;
    case "output":
      for (const id of s.names) {
        const b = lookup(cx, id.name, id.span, env);
        if (b.kind !== "tensor") throw new BpcError(`'${id.name}' is a dim, not a value to output`, id.span);
        if (cx.outputs.some((o) => o.name === id.name)) throw new BpcError(`'${id.name}' is already an output`, id.span);
        if (id.name === "loss") throw new BpcError("'loss' is always returned by forward; it cannot also be an output", id.span);
        cx.outputs.push({ name: id.name, node: b.node });
      }
      return;
    case "minimize": {
      if (cx.loss) {
        throw new BpcError(`a model has exactly one 'minimize' (the first is at line ${cx.loss.span.line})`, s.span);
      }
      const node = lowerExpr(cx, s.value, env);
      if (node.dtype !== "float") throw new BpcError("minimize needs a float scalar, got an int tensor", s.value.span);
      if (node.shape.length !== 0) {
        throw new BpcError(`minimize needs a scalar, got a tensor of shape ${showShape(node.shape)}`, s.value.span, [
          "reduce it first, for example: minimize mean(...)",
        ]);
      }
      cx.loss = { node, span: s.span };
      return;
    }
    default:
      return;
  }
}
