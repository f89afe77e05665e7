// A `for` loop becomes one `loop` node whose body runs once per step. Names
// defined before the loop and reassigned in it are carried from step to step
// (they must keep their shape); after the loop they are its `loop_out`s.
import { BpcError } from "../../diag.js";
import { showShape } from "../../ir/shape.js";
import type { Dim, Node } from "../../ir/types.js";
import type { Stmt } from "../parser/ast.js";
import { staticDim, staticInt } from "./constants.js";
import type { Lowering } from "./context.js";
import { Env } from "./scope.js";
import { lowerStatement } from "./statements.js";

export function lowerLoop(cx: Lowering, s: Extract<Stmt, { kind: "for" }>, env: Env): void {
  const start = staticInt(cx, s.start, "a loop bound");
  const end = staticDim(cx, s.end, "a loop bound");
  // The language's loops run t = 0, 1, ..., T-1 (spec section 4).
  if (start !== 0) throw new BpcError(`a loop runs from 0: write 'for ${s.var.name} in 0..N'`, s.start.span);
  if (typeof end === "number" && end < 1) throw new BpcError(`empty loop: 0..${end}`, s.end.span);
  const count: Dim = end;

  const assigned = assignedNames(s.body);
  const carriedNames = [...assigned].filter((n) => {
    const b = env.get(n);
    return b !== undefined && b.kind === "tensor";
  });
  const init = carriedNames.map((n) => (env.get(n) as { node: Node }).node);

  const { b } = cx;
  b.span = s.span;
  b.pushScope();
  const index = b.source("loop_index", { start }, [], "int");
  index.name = s.var.name;
  cx.loopCounts.set(index, count);
  const carried = init.map((n, i) => {
    const c = b.source("carry", { k: i }, n.shape, n.dtype);
    c.name = carriedNames[i];
    return c;
  });
  const inner = new Env(env, false);
  inner.set(s.var.name, { kind: "tensor", node: index });
  carriedNames.forEach((n, i) => inner.set(n, { kind: "tensor", node: carried[i] }));
  for (const st of s.body) {
    for (const id of st.kind === "assign" ? [st.name] : st.kind === "unpack" ? st.names : []) {
      if (!env.has(id.name) && !cx.loopLocals.has(id.name)) cx.loopLocals.set(id.name, id.span);
    }
    lowerStatement(cx, st, inner);
  }
  const results = carriedNames.map((n, i) => {
    const r = (inner.get(n) as { node: Node }).node;
    if (r.dtype !== init[i].dtype || r.shape.length !== init[i].shape.length || r.shape.some((d, k) => d !== init[i].shape[k])) {
      throw new BpcError(
        `'${n}' is carried through the loop as ${showShape(init[i].shape)} but the loop body makes it ${showShape(r.shape)}`,
        s.span,
        ["a loop-carried value must keep its shape from step to step"],
      );
    }
    return r;
  });
  const nodes = b.popScope();
  b.span = s.span;
  const loop = b.loop(count, init, { index, carried, nodes, results, tape: [] }, { start });
  carriedNames.forEach((n, k) => {
    const out = b.op("loop_out", [loop], { k });
    out.name = n;
    env.assign(n, { kind: "tensor", node: out });
  });
}

/** Names assigned in a loop body, nested loops included. */
function assignedNames(body: Stmt[]): Set<string> {
  const out = new Set<string>();
  for (const s of body) {
    if (s.kind === "assign" || s.kind === "index_assign") out.add(s.name.name);
    else if (s.kind === "unpack") for (const n of s.names) out.add(n.name);
    else if (s.kind === "for") for (const n of assignedNames(s.body)) out.add(n);
  }
  return out;
}
