// Elementwise kernels: a tree of elementwise nodes fused into one loop over
// the root's shape (plan.ts decides which nodes fuse), reading each leaf
// through its view's strides (0 where it broadcasts). Fused nodes that a later
// phase reads ("kept") also store their value as they are computed.
import { OPS } from "../../ir/ops.js";
import type { Node } from "../../ir/types.js";
import type { Emitter, View } from "../context.js";
import { Temps } from "../names.js";
import { nest, product, sizeEq, type Access, type Size } from "../nest.js";
import { useSpecial } from "./special.js";

/** stop_gradient and clip_grad: the value of their input. */
function isIdentity(n: Node): boolean {
  const f = OPS[n.op].codegen;
  return f !== undefined && "view" in f && f.view === "identity";
}

/** The fused tree under `root`: its internal nodes (topological, root last) and its leaves. */
export function tree(cx: Emitter, root: Node): { nodes: Node[]; leaves: Node[] } {
  const nodes: Node[] = [];
  const leaves: Node[] = [];
  const seen = new Set<Node>();
  const visit = (n: Node, isRoot: boolean): void => {
    if (seen.has(n)) return;
    seen.add(n);
    // A fused node belongs to the tree of its reader in its own phase; the backward reads it as stored.
    if (isRoot || (cx.plan.fused.has(n) && n.phase === root.phase)) {
      for (const i of n.inputs) visit(i, false);
      nodes.push(n);
    } else leaves.push(n);
  };
  visit(root, true);
  return { nodes, leaves };
}

/**
 * Statements computing a fused tree for one element, given the index of
 * each leaf view in `leafIndex`. An internal node used once is written into
 * its reader's expression; one used more than once becomes a `const` local
 * named after its role. Returns the root's expression.
 */
export function scalarCode(
  cx: Emitter,
  nodes: readonly Node[],
  leafExpr: (n: Node) => string,
  keptIndex: (n: Node) => string = () => {
    throw new Error("internal error: a kept node outside a kernel");
  },
): { stmts: string[]; expr: string } {
  const exprs = new Map<Node, string>();
  const stmts: string[] = [];
  const arg = (n: Node): string => exprs.get(n) ?? leafExpr(n);
  // Nodes computed from numbers alone (`1 / B`) stay inline expressions rather than locals.
  const numeric = new Set<Node>();
  const isNumeric = (n: Node): boolean => numeric.has(n) || (!nodes.includes(n) && cx.values.get(n)?.kind === "lit");
  const uses = new Map<Node, number>();
  for (const n of nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  const operand = (e: string): string => (/^[A-Za-z0-9_.]+$/.test(e) ? e : `(${e})`);
  nodes.forEach((n, i) => {
    const def = OPS[n.op];
    for (const f of def.calls ?? []) useSpecial(cx, f);
    const e = isIdentity(n)
      ? arg(n.inputs[0])
      : def.scalarF32 && cx.opts.precision === "f32"
        ? (cx.use(def.scalarF32.helper), def.scalarF32.code(n.inputs.map(arg)))
        : (def.scalar as NonNullable<typeof def.scalar>)(n.inputs.map(arg), n.attrs);
    if (i < nodes.length - 1 && !cx.plan.kept.has(n) && n.inputs.every(isNumeric)) {
      numeric.add(n);
      exprs.set(n, operand(e));
    } else if (i === nodes.length - 1 && !cx.plan.kept.has(n)) exprs.set(n, e);
    else if (!cx.plan.kept.has(n) && uses.get(n) === 1) exprs.set(n, operand(e));
    else if (cx.plan.kept.has(n)) {
      // Stored for the backward pass; later uses re-read it, as an unfused reader would.
      const at = cx.read(cx.view(n), keptIndex(n));
      stmts.push(`${at} = ${e};`);
      exprs.set(n, at);
    } else {
      const l = cx.local(n);
      stmts.push(`const ${l} = ${e};`);
      exprs.set(n, l);
    }
  });
  return { stmts, expr: exprs.get(nodes[nodes.length - 1]) as string };
}

/** Leaf accesses of a tree walked over `iter`, and a function giving each leaf's element expression. */
export function leafAccesses(
  cx: Emitter,
  leaves: readonly Node[],
  iter: Size[],
  kept: readonly Node[] = [],
): { accesses: Access[]; expr: (n: Node, ix: string[]) => string; index: (n: Node, ix: string[]) => string } {
  const accesses: Access[] = [];
  const slot = new Map<Node, number>();
  for (const k of kept) {
    const v = cx.out(k);
    slot.set(k, accesses.length);
    accesses.push({ base: v.off, strides: v.strides });
  }
  for (const l of leaves) {
    const v = cx.value(l);
    if (v.kind === "view") {
      slot.set(l, accesses.length);
      accesses.push({ base: v.off, strides: cx.broadcastStrides(v, iter) });
    }
  }
  return {
    accesses,
    index: (n, ix) => ix[slot.get(n) as number],
    expr: (n, ix) => {
      const v = cx.value(n);
      if (v.kind === "view") return cx.read(v, ix[slot.get(n) as number]);
      return v.expr;
    },
  };
}

export function elementwise(cx: Emitter, n: Node, out: string[]): void {
  const { nodes, leaves } = tree(cx, n);
  // Identity ops (stop_gradient, clip_grad) on a value that already exists: the same value.
  if (nodes.length === 1 && isIdentity(n)) {
    cx.values.set(n, cx.value(n.inputs[0]));
    return;
  }
  // All leaves are numbers: a number.
  if (leaves.every((l) => cx.value(l).kind === "lit")) {
    const { stmts, expr } = scalarCode(cx, nodes, (l) => (cx.value(l) as { expr: string }).expr);
    if (stmts.length === 0) {
      cx.values.set(n, { kind: "lit", expr: `(${expr})` });
      return;
    }
  }
  // An int scalar of loop counters and numbers (`t + 1`, `T - 1 - t`): an expression, no buffer.
  if (n.dtype === "int" && n.shape.length === 0 && !cx.homes.has(n) && leaves.every((l) => cx.value(l).kind !== "view")) {
    const { stmts, expr } = scalarCode(cx, nodes, (l) => (cx.value(l) as { expr: string }).expr);
    if (stmts.length === 0) {
      cx.values.set(n, { kind: "int", expr: `(${expr})` });
      return;
    }
  }
  cx.comment(nodes, out);
  const dst = inPlaceCarry(cx, n, leaves) ?? cx.out(n);
  const t = new Temps(cx.names);
  const la = leafAccesses(cx, leaves, dst.shape, nodes.filter((k) => cx.plan.kept.has(k)));
  out.push(
    ...nest(t, dst.shape, [{ base: dst.off, strides: dst.strides }, ...la.accesses], (ix) => {
      const leafIx = ix.slice(1);
      const { stmts, expr } = scalarCode(cx, nodes, (l) => la.expr(l, leafIx), (k) => la.index(k, leafIx));
      return [...stmts, `${cx.read(dst, ix[0])} = ${expr};`];
    }, { fast: true }),
  );
}

/**
 * A loop result computed elementwise from its own carried value (a running
 * sum, a gradient accumulator: `acc = acc + v`) is written straight into the
 * carried buffer, when nothing else reads the old value and every element
 * is read at the position it is written.
 */
function inPlaceCarry(cx: Emitter, n: Node, leaves: readonly Node[]): View | null {
  const target = cx.resultOf.get(n);
  if (!target) return null;
  const c = leaves.find((l) => {
    const v = cx.values.get(l);
    return l.op === "carry" && v?.kind === "view" && v.buf === target.buf;
  });
  if (!c || cx.plan.pinned.has(c) || (cx.plan.readers.get(c)?.size ?? 0) !== 1) return null;
  const v = cx.value(c) as View;
  if (v.off !== "0" || !cx.isContiguous(v) || !sizeEq(product(v.shape), product(cx.sizes(n.shape))) || v.shape.length !== n.shape.length)
    return null;
  if (!v.shape.every((d, a) => sizeEq(d, cx.dimSize(n.shape[a])))) return null;
  cx.values.set(n, v);
  return v;
}
