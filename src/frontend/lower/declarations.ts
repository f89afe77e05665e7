// Declarations, taken in before any statement (so a statement may use a
// param declared further down): the model's name, dims, inputs with their
// range and distribution hints, params with their initializers, and defs.
// Also the whole-program checks on symbolic dims (spec section 6).
import { BpcError, type Span } from "../../diag.js";
import { dimAtoms, dimOf, isAtomDim } from "../../ir/dimexpr.js";
import { dimOrder } from "../../ir/dims.js";
import { INIT_NAMES, INITIALIZERS, initializer } from "../../ir/init.js";
import { showShape } from "../../ir/shape.js";
import type { AttrValue, Dim, Node } from "../../ir/types.js";
import type { Expr, Ident, InitExpr, Stmt, TypeExpr } from "../parser/ast.js";
import { BUILTINS } from "./builtins.js";
import { constNumber, requirePositive, staticDim } from "./constants.js";
import type { Lowering } from "./context.js";
import { suggest } from "./scope.js";

/** Param initializers and how many numbers each takes (src/ir/init.ts). */
const INITIALIZER_ARITY = new Map(INIT_NAMES.map((name) => [name, INITIALIZERS[name].args]));
/** Distribution hints of float inputs, for the linter. */
const INPUT_DISTRIBUTIONS = new Map([
  ["normal", 2],
  ["uniform", 2],
  ["const", 1],
]);

/** The most elements a tensor may have (a typed array's limit, comfortably). */
const MAX_ELEMENTS = 2 ** 31 - 1;

export function declare(cx: Lowering, s: Stmt): void {
  switch (s.kind) {
    case "model":
      if (cx.modelSpan) throw new BpcError(`a file names its model once (first at line ${cx.modelSpan.line})`, s.span);
      cx.modelSpan = s.span;
      cx.modelName = s.name.name;
      return;
    case "dim": {
      claim(cx, s.name, "dim");
      const value = s.value ? s.value.value : null;
      if (value !== null && (!Number.isInteger(value) || value < 1 || value > MAX_ELEMENTS)) {
        throw new BpcError(`dim ${s.name.name} must be a positive integer up to ${MAX_ELEMENTS}, got ${value}`, s.value!.span);
      }
      cx.dims.push({ name: s.name.name, value, span: s.span });
      cx.globals.set(s.name.name, { kind: "dim", dim: value ?? s.name.name, span: s.name.span });
      return;
    }
    case "input": {
      claim(cx, s.name, "input");
      const shape = typeShape(cx, s.type);
      const attrs: Record<string, AttrValue> = { name: s.name.name };
      if (s.range) {
        const [lo, hi] = [rangeEnd(cx, s.range.lo), rangeEnd(cx, s.range.hi)];
        attrs.range = [lo, hi];
        attrs.rangeClosed = s.range.closedHi;
        if (typeof lo === "number" && typeof hi === "number" && lo > hi) {
          throw new BpcError("the range's low end is above its high end", s.range.span);
        }
        if (s.type.int && ![lo, hi].every((v) => typeof v === "string" || Number.isInteger(v))) {
          throw new BpcError("an int input's range has integer ends", s.range.span);
        }
        if (!s.type.int && (typeof lo === "string" || typeof hi === "string")) {
          throw new BpcError("a float input's range has constant ends; a symbolic dim may bound an int input's range", s.range.span);
        }
      }
      if (s.dist) {
        if (s.type.int) throw new BpcError("a distribution hint is for float inputs; use 'in [lo, hi)' for ints", s.dist.span);
        const d = initializerCall(cx, s.dist, INPUT_DISTRIBUTIONS, "distribution");
        attrs.dist = d.name;
        attrs.distArgs = d.args;
      }
      cx.b.span = s.span;
      const node = cx.b.source("input", attrs, shape, s.type.int ? "int" : "float");
      node.name = s.name.name;
      cx.inputs.push(node);
      cx.globals.set(s.name.name, { kind: "tensor", node });
      return;
    }
    case "param": {
      claim(cx, s.name, "param");
      if (s.type.int) throw new BpcError("params are float tensors; 'int' is for inputs", s.type.span);
      const shape = typeShape(cx, s.type);
      const sym = shape.find((d) => typeof d === "string");
      if (sym !== undefined) {
        throw new BpcError(`param ${s.name.name} has symbolic dim ${sym}: param shapes must be constant`, s.type.span);
      }
      const init = s.init ? initializerCall(cx, s.init, INITIALIZER_ARITY, "initializer") : { name: shape.length >= 2 ? "xavier" : "zeros", args: [] };
      if (s.init) checkInit(s.name.name, shape, init, s.init);
      cx.b.span = s.span;
      const node = cx.b.source("param", { name: s.name.name, init: init.name, initArgs: init.args }, shape, "float");
      node.name = s.name.name;
      cx.params.push(node);
      cx.globals.set(s.name.name, { kind: "tensor", node });
      return;
    }
    case "def": {
      claim(cx, s.name, "def");
      const seen = new Set<string>();
      for (const p of s.params) {
        if (seen.has(p.name)) throw new BpcError(`def ${s.name.name} names its parameter '${p.name}' twice`, p.span);
        seen.add(p.name);
      }
      cx.defs.set(s.name.name, s);
      return;
    }
    default:
      return;
  }
}

/** A range hint's end: a number (`0.5`, `-1`) or a dim expression (`B`, `V-1`), spec section 9. */
function rangeEnd(cx: Lowering, e: Expr): Dim {
  const literal = e.kind === "num" || (e.kind === "unary" && e.arg.kind === "num");
  return literal ? constNumber(cx, e) : staticDim(cx, e, "a range end");
}

function claim(cx: Lowering, id: Ident, what: string): void {
  const prev = cx.declared.get(id.name);
  if (prev) throw new BpcError(`duplicate declaration of '${id.name}' (first declared at line ${prev.line})`, id.span);
  if (BUILTINS.has(id.name) && what === "def") {
    throw new BpcError(`'${id.name}' is a built-in function; choose another name for this def`, id.span);
  }
  cx.declared.set(id.name, id.span);
}

function typeShape(cx: Lowering, t: TypeExpr): Dim[] {
  const shape = typeDims(cx, t);
  const size = shape.reduce<number>((p, d) => p * (typeof d === "number" ? d : 1), 1);
  if (size > MAX_ELEMENTS) {
    throw new BpcError(`${showShape(shape)} has ${size} elements; a typed array holds at most ${MAX_ELEMENTS}`, t.span);
  }
  return shape;
}

function typeDims(cx: Lowering, t: TypeExpr): Dim[] {
  const resolve = (name: string, span: Span): Dim => {
    const b = cx.globals.get(name);
    if (!b || b.kind !== "dim") {
      throw new BpcError(`unknown dim '${name}'${suggest(name, cx.dims.map((x) => x.name))}`, span, [
        `declare it with: dim ${name} = <size>   or   dim ${name}`,
      ]);
    }
    return b.dim;
  };
  return t.dims.map((e) => requirePositive(dimOf(e, resolve), e, "a dim"));
}

/** An initializer or distribution: a known name with the right number of constant arguments. */
function initializerCall(cx: Lowering, e: InitExpr, table: ReadonlyMap<string, number>, what: string): { name: string; args: number[] } {
  const arity = table.get(e.name);
  if (arity === undefined) {
    throw new BpcError(`unknown ${what} '${e.name}'${suggest(e.name, table.keys())}`, e.span, [
      `expected one of: ${[...table.keys()].join(", ")}`,
    ]);
  }
  if (e.args.length !== arity) {
    throw new BpcError(`${e.name} takes ${arity} argument${arity === 1 ? "" : "s"}, got ${e.args.length}`, e.span);
  }
  return { name: e.name, args: e.args.map((a) => constNumber(cx, a)) };
}

/** What each initializer needs of the param's shape and of its arguments (its entry's check). */
function checkInit(param: string, shape: Dim[], init: { name: string; args: number[] }, e: InitExpr): void {
  const why = initializer(init.name).check(shape as number[], init.args, param);
  if (why) throw new BpcError(why, e.span);
}

/** Every symbolic dim must be recoverable from input lengths (spec section 6); returns those that are. */
export function checkDimsInferable(cx: Lowering): Set<string> {
  const used = new Set(cx.inputs.flatMap((n) => n.shape.flatMap(dimAtoms)));
  const known = new Set(dimOrder(cx.inputs).map((d) => d.dim));
  for (const d of cx.dims) {
    if (d.value === null && used.has(d.name) && !known.has(d.name)) {
      const inExpr = cx.inputs.some((n) => n.shape.some((x) => !isAtomDim(x) && dimAtoms(x).includes(d.name)));
      throw new BpcError(
        `dim ${d.name} cannot be inferred from the inputs: it must appear in an input whose other dims are known`,
        d.span,
        inExpr ? [`an input's length gives ${d.name} only as a factor (${d.name}, ${d.name}*T), with its other dims known; add an input shaped with ${d.name} itself`] : undefined,
      );
    }
  }
  return known;
}

/** A symbolic dim in a computed shape or a loop bound must be one the inputs' lengths give. */
export function checkSymbolicUses(nodes: readonly Node[], known: Set<string>): void {
  for (const n of nodes) {
    const dims = n.op === "loop" ? [n.attrs.count as Dim] : n.shape;
    for (const d of dims.flatMap(dimAtoms)) {
      if (!known.has(d)) {
        throw new BpcError(`dim ${d} is not known when the module is called: no input's shape gives it`, n.span, [
          `use ${d} in an input's shape, or give it a size: dim ${d} = ...`,
        ]);
      }
    }
    if (n.body) checkSymbolicUses(n.body.nodes, known);
  }
}
