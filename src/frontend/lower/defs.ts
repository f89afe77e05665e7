// Defs are inlined at each call, so shapes are checked per call site. The
// body sees its arguments and the declarations (not top-level assignments);
// an error inside it gains a note naming the call.
import { BpcError } from "../../diag.js";
import type { Node } from "../../ir/types.js";
import type { Expr } from "../parser/ast.js";
import type { Def, Lowering } from "./context.js";
import { lowerExpr } from "./expressions.js";
import { Env, type Binding } from "./scope.js";
import { lowerStatement } from "./statements.js";

/** A def call in an expression: the def must return one value. */
export function inlineDef(cx: Lowering, def: Def, e: Extract<Expr, { kind: "call" }>, env: Env): Node {
  if (def.results.length !== 1) {
    const n = def.results.length;
    throw new BpcError(`${def.name.name} returns ${n} values; unpack them into ${n} names before using them`, e.span, [
      `for example: ${["a", "b", "c", "d", "e", "f"].slice(0, Math.min(n, 6)).join(", ")}${n > 6 ? ", ..." : ""} = ${def.name.name}(...)`,
    ]);
  }
  return inlineDefResults(cx, def, e, env)[0];
}

/** Inlines a def call: the value of each of its results. */
export function inlineDefResults(cx: Lowering, def: Def, e: Extract<Expr, { kind: "call" }>, env: Env): Node[] {
  if (e.kwargs.length) throw new BpcError(`def ${def.name.name} takes no keyword arguments`, e.kwargs[0].span);
  if (e.args.length !== def.params.length) {
    throw new BpcError(
      `${def.name.name} takes ${def.params.length} argument${def.params.length === 1 ? "" : "s"} (${def.params.map((p) => p.name).join(", ")}), got ${e.args.length}`,
      e.span,
    );
  }
  if (cx.callStack.some((c) => c.def === def.name.name)) {
    throw new BpcError(`def ${def.name.name} calls itself; recursion is not supported`, e.calleeSpan, [
      `call chain: ${[...cx.callStack.map((c) => c.def), def.name.name].join(" -> ")}`,
    ]);
  }
  const local = new Env(cx.globals);
  def.params.forEach((p, i) => {
    const a = e.args[i];
    if (a.kind === "name" && env.get(a.name)?.kind === "dim") local.set(p.name, env.get(a.name) as Binding);
    else local.set(p.name, { kind: "tensor", node: lowerExpr(cx, a, env) });
  });
  cx.callStack.push({ def: def.name.name, span: e.span });
  try {
    for (const st of def.body) lowerStatement(cx, st, local);
    return def.results.map((r) => lowerExpr(cx, r, local));
  } catch (err) {
    if (err instanceof BpcError && !err.diagnostics[0].notes?.some((n) => n.startsWith("in the call"))) {
      const d = err.diagnostics[0];
      const note = `in the call ${def.name.name}(...) at ${e.span.file}:${e.span.line}:${e.span.col}`;
      d.notes = [...(d.notes ?? []), note];
    }
    throw err;
  } finally {
    cx.callStack.pop();
  }
}
