// Statements in order: assignments, loops, `output` and `minimize`.
// Declarations were taken in before (declarations.ts).
import { BpcError } from "../../diag.js";
import { showShape } from "../../ir/shape.js";
import type { Node } from "../../ir/types.js";
import type { Ident, Stmt } from "../parser/ast.js";
import { inlineDefResults } from "./defs.js";
import type { Lowering } from "./context.js";
import { lowerExpr } from "./expressions.js";
import { lowerIndexAssign } from "./indexing.js";
import { lowerLoop } from "./loops.js";
import { unparseIndexItem } from "../parser/print.js";
import { lookup, type Env } from "./scope.js";

export function lowerStatement(cx: Lowering, s: Stmt, env: Env): void {
  switch (s.kind) {
    case "assign": {
      assignable(cx, s.name, env);
      bind(s.name, lowerExpr(cx, s.value, env), env);
      return;
    }
    case "unpack": {
      const seen = new Set<string>();
      for (const id of s.names) {
        if (seen.has(id.name)) throw new BpcError(`'${id.name}' is named twice on the left of '='`, id.span);
        seen.add(id.name);
        assignable(cx, id, env);
      }
      const values = unpacked(cx, s, env);
      s.names.forEach((id, k) => bind(id, values[k], env));
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

/** Throws unless `id` may be (re)assigned here: not a dim, param or def. */
function assignable(cx: Lowering, id: Ident, env: Env): void {
  const prev = cx.declared.get(id.name);
  const bound = env.get(id.name);
  const declaration = bound !== undefined && bound === cx.globals.get(id.name);
  if (prev && bound && declaration && (bound.kind === "dim" || bound.node.op === "param")) {
    throw new BpcError(
      `cannot assign to ${bound.kind === "dim" ? "dim" : "param"} '${id.name}' (declared at line ${prev.line}); use a new name`,
      id.span,
    );
  }
  if (cx.defs.has(id.name)) throw new BpcError(`'${id.name}' is a def; use a new name`, id.span);
}

function bind(id: Ident, node: Node, env: Env): void {
  if (!node.name) node.name = id.name;
  env.assign(id.name, { kind: "tensor", node });
}

/** The values `a, b = EXPR` unpacks: EXPR must call a def returning as many. */
function unpacked(cx: Lowering, s: Extract<Stmt, { kind: "unpack" }>, env: Env): Node[] {
  const n = s.names.length;
  const e = s.value;
  const def = e.kind === "call" ? cx.defs.get(e.callee) : undefined;
  if (e.kind !== "call" || !def) {
    throw new BpcError(`cannot unpack one value into ${n} names`, e.span, [
      "only a call of a def that returns several values (`return a, b`) can be unpacked",
    ]);
  }
  const k = def.results.length;
  if (k !== n) {
    throw new BpcError(
      `${n} names on the left of '=' but ${def.name.name} returns ${k} value${k === 1 ? "" : "s"}`,
      s.span,
      [`write ${k} name${k === 1 ? "" : "s"} on the left, one per value in its 'return'`],
    );
  }
  return inlineDefResults(cx, def, e, env);
}
