// Two views of an AST: printAst, an indented tree with every node's span
// (`bpc inspect --stage ast`), and unparse, .bp source text that parses back
// to the same tree (up to spans).
import type { Span } from "../../diag.js";
import type { BinaryOp, Expr, Ident, IndexItem, InitExpr, Program, Stmt, TypeExpr } from "./ast.js";

/** One node per line, children indented, each line ending in `line:col-endLine:endCol`. */
export function printAst(p: Program): string {
  const lines = [`program ${p.file}`];
  const node = (depth: number, label: string, span: Span) =>
    lines.push(`${"  ".repeat(depth)}${label}  ${span.line}:${span.col}-${span.endLine}:${span.endCol}`);

  const expr = (e: Expr, depth: number, role = ""): void => {
    switch (e.kind) {
      case "num":
        return void node(depth, `${role}num ${e.text}`, e.span);
      case "bool":
        return void node(depth, `${role}bool ${e.value}`, e.span);
      case "name":
        return void node(depth, `${role}name ${e.name}`, e.span);
      case "unary":
        node(depth, `${role}unary ${e.op}`, e.span);
        return expr(e.arg, depth + 1);
      case "binary":
        node(depth, `${role}binary ${e.op}`, e.span);
        expr(e.left, depth + 1);
        return expr(e.right, depth + 1);
      case "call":
        node(depth, `${role}call ${e.callee}`, e.span);
        for (const a of e.args) expr(a, depth + 1);
        for (const k of e.kwargs) {
          node(depth + 1, `kwarg ${k.name}`, k.span);
          expr(k.value, depth + 2);
        }
        return;
      case "index":
        node(depth, `${role}index`, e.span);
        expr(e.target, depth + 1);
        for (const item of e.items) indexItem(item, depth + 1);
        return;
      case "transpose":
        node(depth, `${role}transpose .${e.which}`, e.span);
        return expr(e.arg, depth + 1);
      case "list":
        node(depth, `${role}list`, e.span);
        for (const item of e.items) expr(item, depth + 1);
        return;
    }
  };

  const indexItem = (item: IndexItem, depth: number): void => {
    if (item.kind === "at") return expr(item.expr, depth, "at: ");
    if (item.kind === "newaxis") return void node(depth, "None", item.span);
    node(depth, "slice", item.span);
    if (item.start) expr(item.start, depth + 1, "start: ");
    if (item.end) expr(item.end, depth + 1, "end: ");
  };

  const init = (i: InitExpr, depth: number, role: string): void => {
    node(depth, `${role}${i.name}`, i.span);
    for (const a of i.args) expr(a, depth + 1);
  };

  const stmt = (s: Stmt, depth: number): void => {
    switch (s.kind) {
      case "model":
        return void node(depth, `model ${s.name.name}`, s.span);
      case "dim":
        return void node(depth, `dim ${s.name.name}${s.value ? ` = ${s.value.value}` : ""}`, s.span);
      case "input":
        node(depth, `input ${s.name.name}`, s.span);
        node(depth + 1, `type ${typeText(s.type)}`, s.type.span);
        if (s.range) {
          node(depth + 1, `range ${s.range.closedHi ? "[lo, hi]" : "[lo, hi)"}`, s.range.span);
          expr(s.range.lo, depth + 2, "lo: ");
          expr(s.range.hi, depth + 2, "hi: ");
        }
        if (s.dist) init(s.dist, depth + 1, "dist ");
        return;
      case "param":
        node(depth, `param ${s.name.name}`, s.span);
        node(depth + 1, `type ${typeText(s.type)}`, s.type.span);
        if (s.init) init(s.init, depth + 1, "init ");
        return;
      case "def":
        node(depth, `def ${s.name.name}(${names(s.params)})`, s.span);
        for (const b of s.body) stmt(b, depth + 1);
        for (const r of s.results) expr(r, depth + 1, "return: ");
        return;
      case "assign":
        node(depth, `assign ${s.name.name}`, s.span);
        return expr(s.value, depth + 1);
      case "index_assign":
        node(depth, `index_assign ${s.name.name}`, s.span);
        for (const item of s.items) indexItem(item, depth + 1);
        return expr(s.value, depth + 1);
      case "unpack":
        node(depth, `unpack ${names(s.names)}`, s.span);
        return expr(s.value, depth + 1);
      case "for":
        node(depth, `for ${s.var.name}`, s.span);
        expr(s.start, depth + 1, "start: ");
        expr(s.end, depth + 1, "end: ");
        for (const b of s.body) stmt(b, depth + 1);
        return;
      case "output":
        return void node(depth, `output ${names(s.names)}`, s.span);
      case "minimize":
        node(depth, "minimize", s.span);
        return expr(s.value, depth + 1);
    }
  };

  for (const s of p.stmts) stmt(s, 1);
  return lines.join("\n") + "\n";
}

/** Source text for a program: one statement per line, blocks indented by two spaces. */
export function unparse(p: Program): string {
  return p.stmts.map((s) => unparseStmt(s, "")).join("\n") + "\n";
}

function unparseStmt(s: Stmt, indent: string): string {
  const block = (body: Stmt[], last?: string) =>
    [...body.map((b) => unparseStmt(b, indent + "  ")), ...(last ? [indent + "  " + last] : []), indent + "}"].join("\n");
  switch (s.kind) {
    case "model":
      return `${indent}model ${s.name.name}`;
    case "dim":
      return `${indent}dim ${s.name.name}${s.value ? ` = ${s.value.value}` : ""}`;
    case "input": {
      const range = s.range ? ` in [${unparseExpr(s.range.lo)}, ${unparseExpr(s.range.hi)}${s.range.closedHi ? "]" : ")"}` : "";
      return `${indent}input ${s.name.name}: ${typeText(s.type)}${range}${s.dist ? ` ~ ${initText(s.dist)}` : ""}`;
    }
    case "param":
      return `${indent}param ${s.name.name}: ${typeText(s.type)}${s.init ? ` ~ ${initText(s.init)}` : ""}`;
    case "def": {
      const head = `${indent}def ${s.name.name}(${names(s.params)})`;
      if (s.body.length === 0 && s.results.length === 1) return `${head} = ${unparseExpr(s.results[0])}`;
      return `${head} {\n${block(s.body, `return ${s.results.map(unparseExpr).join(", ")}`)}`;
    }
    case "assign":
      return `${indent}${s.name.name} = ${unparseExpr(s.value)}`;
    case "index_assign":
      return `${indent}${s.name.name}[${s.items.map(indexText).join(", ")}] = ${unparseExpr(s.value)}`;
    case "unpack":
      return `${indent}${names(s.names)} = ${unparseExpr(s.value)}`;
    case "for":
      return `${indent}for ${s.var.name} in ${unparseExpr(s.start)}..${unparseExpr(s.end)} {\n${block(s.body)}`;
    case "output":
      return `${indent}output ${names(s.names)}`;
    case "minimize":
      return `${indent}minimize ${unparseExpr(s.value)}`;
  }
}

// Binding strength, loosest first; an operand weaker than its slot needs
// parentheses.
const CMP = 1, SUM = 2, PROD = 3, UNARY = 4, POW = 5, POSTFIX = 6, ATOM = 7;
const binaryPrecedence: Record<BinaryOp, number> = {
  "<": CMP, "<=": CMP, ">": CMP, ">=": CMP, "==": CMP, "!=": CMP,
  "+": SUM, "-": SUM, "*": PROD, "/": PROD, "//": PROD, "@": PROD, "^": POW,
};

function precedence(e: Expr): number {
  switch (e.kind) {
    case "binary":
      return binaryPrecedence[e.op];
    case "unary":
      return UNARY;
    case "index":
    case "transpose":
      return POSTFIX;
    default:
      return ATOM;
  }
}

/** Source text for an expression, with only the parentheses its precedence needs. */
export function unparseExpr(e: Expr, min = CMP): string {
  const text = exprText(e);
  return precedence(e) < min ? `(${text})` : text;
}

function exprText(e: Expr): string {
  switch (e.kind) {
    case "num":
      return e.text;
    case "bool":
      return String(e.value);
    case "name":
      return e.name;
    case "unary":
      return `-${unparseExpr(e.arg, UNARY)}`;
    case "binary": {
      const p = precedence(e);
      // `^` takes a postfix base and a unary exponent (`2^-1`). The others are
      // left-associative, so the right operand must bind tighter; comparisons
      // do not chain at all.
      if (p === POW) return `${unparseExpr(e.left, POSTFIX)}^${unparseExpr(e.right, UNARY)}`;
      const [l, r] = p === CMP ? [SUM, SUM] : [p, p + 1];
      return `${unparseExpr(e.left, l)} ${e.op} ${unparseExpr(e.right, r)}`;
    }
    case "call":
      return `${e.callee}(${[...e.args.map((a) => unparseExpr(a)), ...e.kwargs.map((k) => `${k.name}=${unparseExpr(k.value)}`)].join(", ")})`;
    case "index":
      return `${unparseExpr(e.target, POSTFIX)}[${e.items.map(indexText).join(", ")}]`;
    case "transpose":
      return `${unparseExpr(e.arg, POSTFIX)}.${e.which}`;
    case "list":
      return `[${e.items.map((i) => unparseExpr(i)).join(", ")}]`;
    case "str":
      return `"${e.value}"`;
  }
}

export function unparseIndexItem(item: IndexItem): string {
  return indexText(item);
}

function indexText(item: IndexItem): string {
  if (item.kind === "at") return unparseExpr(item.expr);
  if (item.kind === "newaxis") return "None";
  return `${item.start ? unparseExpr(item.start) : ""}:${item.end ? unparseExpr(item.end) : ""}`;
}

function typeText(t: TypeExpr): string {
  return `${t.int ? "int" : ""}[${t.dims.map((d) => unparseExpr(d, SUM)).join(", ")}]`;
}

function initText(i: InitExpr): string {
  return i.args.length === 0 ? i.name : `${i.name}(${i.args.map((a) => unparseExpr(a)).join(", ")})`;
}

function names(ids: Ident[]): string {
  return ids.map((i) => i.name).join(", ");
}
