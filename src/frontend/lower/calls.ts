// Calls: a def's call is inlined (defs.ts); a builtin's call is checked and
// lowered from its row in builtins.ts. Arguments bind positionally, then by
// keyword; tensor arguments become the op's inputs and the others its
// attributes, each read as its parameter's kind says.
import { BpcError, type Span } from "../../diag.js";
import { OpError } from "../../ir/ops.js";
import type { AttrValue, Attrs, Node } from "../../ir/types.js";
import type { Expr } from "../parser/ast.js";
import { BUILTINS, isOptional, type Builtin, type Param } from "./builtins.js";
import { showShape } from "../../ir/shape.js";
import { axisOf, boolOf, checkAxis, constNumber, positiveDim, shapeOf, staticInt } from "./constants.js";
import type { Lowering } from "./context.js";
import { inlineDef } from "./defs.js";
import { lowerExpr, lowerFloat } from "./expressions.js";
import { lowerEinsum, subscriptsOf } from "./linalg.js";
import type { Env } from "./scope.js";
import { suggestFunction } from "./suggestions.js";

type Call = Extract<Expr, { kind: "call" }>;

export function lowerCall(cx: Lowering, e: Call, env: Env): Node {
  const def = cx.defs.get(e.callee);
  if (def) return inlineDef(cx, def, e, env);
  if (e.callee === "einsum") return lowerEinsumCall(cx, e, env);
  const row = BUILTINS.get(e.callee);
  if (!row) {
    const known = [...BUILTINS.keys(), "einsum", ...cx.defs.keys()];
    const args = [...e.args.map((a) => sourceText(cx, a.span)), ...e.kwargs.map((k) => sourceText(cx, k.span))];
    const hint = suggestFunction(e.callee, known, { args: args.every((a) => a !== null) ? (args as string[]) : [] });
    throw new BpcError(`unknown function '${e.callee}'${hint}`, e.calleeSpan);
  }
  return lowerBuiltin(cx, row, e, env);
}

/** The source text of a one-line span, or null. */
function sourceText(cx: Lowering, s: Span): string | null {
  if (s.line !== s.endLine) return null;
  return cx.program.source.split(/\r?\n/)[s.line - 1]?.slice(s.col - 1, s.endCol - 1) ?? null;
}

function lowerBuiltin(cx: Lowering, row: Builtin, e: Call, env: Env): Node {
  const { args, rest } = bindArgs(e, row.params);
  // Tensors first, in order: they are the op's inputs, and axes count in the first.
  const inputs: Node[] = [];
  for (const p of row.params) {
    if (p.kind === "float") inputs.push(lowerFloat(cx, args.get(p.name)!, env));
    else if (p.kind === "tensor") inputs.push(lowerExpr(cx, args.get(p.name)!, env));
    else if (p.kind === "rest") inputs.push(...rest.map((a) => lowerExpr(cx, a, env)));
  }
  const attrs: Record<string, AttrValue> = {};
  for (const p of row.params) {
    if (p.kind === "float" || p.kind === "tensor" || p.kind === "rest") continue;
    attrs[p.kind === "axes" ? "axes" : p.name] = readConstant(cx, e, p, args.get(p.name), inputs[0]);
  }
  if (row.ordered) {
    const [lo, hi] = row.ordered.map((name) => constantOf(row, name, inputs, attrs));
    if (lo !== null && hi !== null && lo > hi) {
      throw new BpcError(`${e.callee}'s ${row.ordered[0]} (${lo}) is above its ${row.ordered[1]} (${hi})`, e.span);
    }
  }
  let final: Attrs = { ...attrs, ...row.attrs };
  if (row.finish) {
    try {
      final = row.finish(final, inputs);
    } catch (err) {
      if (err instanceof OpError) throw new BpcError(err.message, e.span);
      throw err;
    }
  }
  // A param read as a conv kernel takes PyTorch's conv fans in he and xavier (ir/init.ts).
  const kernel = inputs[1];
  if ((row.op === "conv" || row.op === "conv_transpose") && kernel.op === "param" && kernel.attrs.fans !== "conv") {
    (kernel as { attrs: Attrs }).attrs = { ...kernel.attrs, fans: "conv" };
  }
  if (row.build) {
    try {
      return row.build((kind, xs, a) => cx.op(kind, xs, e.span, a), inputs, final);
    } catch (err) {
      if (err instanceof OpError) throw new BpcError(`${e.callee}: ${err.message}`, e.span);
      throw err;
    }
  }
  return cx.op(row.opFor?.(inputs) ?? row.op, inputs, e.span, final);
}

/** A compile-time argument: the given expression read as the parameter's kind, or its default. */
function readConstant(cx: Lowering, e: Call, p: Param, given: Expr | undefined, first: Node | undefined): AttrValue {
  const firstTensor = (): Node => {
    if (!first) throw new Error(`internal error: builtin ${e.callee} has an axis but no tensor before it`);
    return first;
  };
  switch (p.kind) {
    case "number": {
      const v = given ? constNumber(cx, given) : p.default!;
      if (p.positive && v <= 0) throw new BpcError(`${e.callee}'s ${p.name} must be positive`, given?.span ?? e.span);
      return v;
    }
    case "axis":
      return given ? axisOf(cx, given, firstTensor()) : checkAxis(p.default!, firstTensor(), e.span);
    case "axes": {
      const x = firstTensor();
      if (!given) return typeof p.default === "number" ? [checkAxis(p.default, x, e.span)] : x.shape.map((_, i) => i);
      if (given.kind !== "list") return [axisOf(cx, given, x)];
      if (p.single && given.items.length !== 1) throw new BpcError(`${e.callee} takes one axis, got a list of ${given.items.length}`, given.span);
      if (!given.items.length) throw new BpcError(`${e.callee}'s ${p.name} lists no axis (leave it out to use every axis)`, given.span);
      const axes = given.items.map((it) => axisOf(cx, it, x));
      const twice = axes.findIndex((a, i) => axes.indexOf(a) !== i);
      if (twice >= 0) throw new BpcError(`${e.callee}'s ${p.name} lists axis ${axes[twice]} twice`, given.items[twice].span);
      return [...axes].sort((a, b) => a - b);
    }
    case "bool":
      return given ? boolOf(given) : p.default!;
    case "dim":
      return positiveDim(cx, given!, `${e.callee}'s ${p.name}`);
    case "shape":
      return shapeOf(cx, given!, p.inferred);
    case "spatial":
      return spatialOf(cx, e.callee, p, given);
    case "perm":
      return given ? permOf(cx, e.callee, given, firstTensor()) : null;
    case "float":
    case "tensor":
    case "rest":
      throw new Error(`internal error: ${p.kind} is not a compile-time argument`);
  }
}

/** An option per spatial axis: an integer for every axis, a list of one per axis, or "same" where allowed. */
function spatialOf(cx: Lowering, callee: string, p: Extract<Param, { kind: "spatial" }>, given: Expr | undefined): AttrValue {
  if (!given) return p.default === null ? null : Array<number>(p.rank).fill(p.default!);
  const what = `${callee}'s ${p.name}`;
  const form = `an integer${p.rank === 2 ? " or a list [h, w]" : ""}${p.same ? ', or "same"' : ""}`;
  if (given.kind === "str") {
    if (p.same && given.value === "same") return "same";
    throw new BpcError(`${what} must be ${form}, got "${given.value}"`, given.span);
  }
  const items = given.kind === "list" ? given.items : [given];
  if (given.kind === "list" && items.length !== p.rank) {
    throw new BpcError(`${what} must list ${p.rank} size${p.rank > 1 ? "s" : ""}, one per spatial axis, got ${items.length}`, given.span);
  }
  const vs = items.map((x) => staticInt(cx, x, what));
  const bad = vs.find((v) => v < p.min);
  if (bad !== undefined) throw new BpcError(`${what} must be at least ${p.min}, got ${bad}`, given.span);
  return given.kind === "list" ? vs : Array<number>(p.rank).fill(vs[0]);
}

/** A permutation of x's axes written as a list of integer constants (negative from the end). */
function permOf(cx: Lowering, callee: string, given: Expr, x: Node): number[] {
  const r = x.shape.length;
  if (given.kind !== "list") throw new BpcError(`${callee}'s perm must be a list of axes, as in [0, 2, 1]`, given.span);
  const axes = given.items.map((it) => checkAxis(staticInt(cx, it, "an axis"), x, it.span));
  if (axes.length !== r || new Set(axes).size !== r) {
    throw new BpcError(`${callee}'s permutation must list each of the ${r} axes of ${showShape(x.shape)} once, got [${axes.join(", ")}]`, given.span);
  }
  return axes;
}

/** `einsum("btd,dk->btk", a, b, ...)`: the subscripts, then two or more float tensors (one also works, as NumPy). */
function lowerEinsumCall(cx: Lowering, e: Call, env: Env): Node {
  if (e.kwargs.length) throw new BpcError("einsum takes no keyword arguments", e.kwargs[0].span);
  const spec = subscriptsOf(e.args[0], e.span);
  if (e.args.length < 2) throw new BpcError(`einsum needs its operands after the subscripts, as in einsum("${spec}", a, b)`, e.span);
  return lowerEinsum(cx, spec, e.args.slice(1).map((a) => lowerFloat(cx, a, env)), e.span);
}

/** The value of a row's parameter when it is a constant (a number attribute or a const node); else null. */
function constantOf(row: Builtin, name: string, inputs: Node[], attrs: Record<string, AttrValue>): number | null {
  const tensors = row.params.filter((p) => p.kind === "float" || p.kind === "tensor");
  const k = tensors.findIndex((p) => p.name === name);
  if (k >= 0) return inputs[k].op === "const" ? (inputs[k].attrs.value as number) : null;
  const v = attrs[name];
  return typeof v === "number" ? v : null;
}

/**
 * Matches a call's arguments to a builtin's parameters, positional then
 * keyword; absent optional ones are left out. A `rest` parameter takes the
 * positional arguments from its position on; the parameters after it are
 * keyword-only.
 */
function bindArgs(e: Call, all: readonly Param[]): { args: Map<string, Expr>; rest: Expr[] } {
  const r = all.findIndex((p) => p.kind === "rest");
  if (r >= 0) {
    const p = all[r] as Extract<Param, { kind: "rest" }>;
    const rest = e.args.slice(r);
    if (rest.length < p.min) throw new BpcError(`${e.callee} takes at least ${r + p.min} tensor argument${r + p.min === 1 ? "" : "s"}, got ${e.args.length}`, e.span);
    const named = all.filter((_, i) => i !== r);
    return { args: bindArgs({ ...e, args: e.args.slice(0, r) }, named).args, rest };
  }
  return { args: bindNamed(e, all), rest: [] };
}

function bindNamed(e: Call, params: readonly Param[]): Map<string, Expr> {
  const out = new Map<string, Expr>();
  const names = params.map((p) => p.name);
  const required = params.filter((p) => !isOptional(p)).map((p) => p.name);
  if (e.args.length > params.length) {
    throw new BpcError(
      `${e.callee} takes at most ${params.length} argument${params.length === 1 ? "" : "s"} (${names.join(", ")}), got ${e.args.length}`,
      e.span,
    );
  }
  e.args.forEach((a, i) => out.set(names[i], a));
  for (const kw of e.kwargs) {
    if (!names.includes(kw.name)) {
      const kws = params.filter((p) => isOptional(p) || !required.slice(0, e.args.length).includes(p.name)).map((p) => p.name);
      throw new BpcError(`${e.callee} has no keyword argument '${kw.name}'`, kw.span, [
        kws.length ? `its keyword arguments are: ${kws.join(", ")}` : `${e.callee} takes no keyword arguments`,
      ]);
    }
    if (out.has(kw.name)) throw new BpcError(`${e.callee} got '${kw.name}' twice`, kw.span);
    out.set(kw.name, kw.value);
  }
  for (const name of required) {
    if (!out.has(name)) {
      throw new BpcError(
        `${e.callee} takes ${required.length} argument${required.length === 1 ? "" : "s"} (${required.join(", ")}), got ${e.args.length}`,
        e.span,
      );
    }
  }
  return out;
}
