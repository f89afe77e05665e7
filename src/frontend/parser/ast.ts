// The abstract syntax tree of a .bp file. Every node carries the span of the
// text it was parsed from, so later stages can point back at the source.
import type { Span } from "../../diag.js";

export type BinaryOp = "+" | "-" | "*" | "/" | "//" | "@" | "^" | "<" | "<=" | ">" | ">=" | "==" | "!=";

export type Expr =
  | { kind: "num"; value: number; text: string; span: Span }
  | { kind: "bool"; value: boolean; span: Span }
  /** A string literal: an option's value (`padding="same"`). */
  | { kind: "str"; value: string; span: Span }
  | { kind: "name"; name: string; span: Span }
  | { kind: "unary"; op: "-"; arg: Expr; span: Span }
  | { kind: "binary"; op: BinaryOp; left: Expr; right: Expr; span: Span }
  | { kind: "call"; callee: string; calleeSpan: Span; args: Expr[]; kwargs: KwArg[]; span: Span }
  | { kind: "index"; target: Expr; items: IndexItem[]; span: Span }
  /** `x.T` reverses the axes; `x.mT` swaps the last two. */
  | { kind: "transpose"; arg: Expr; which: "T" | "mT"; span: Span }
  /** A bracketed list, used for shapes: `reshape(x, [B, 10])`, `zeros([H])`. */
  | { kind: "list"; items: Expr[]; span: Span };

export interface KwArg {
  name: string;
  value: Expr;
  span: Span;
}

/** One position inside `x[...]`: an index expression, a slice `a:b` (either end optional), or `None` (a new axis). */
export type IndexItem =
  | { kind: "at"; expr: Expr; span: Span }
  | { kind: "newaxis"; span: Span }
  | { kind: "slice"; start: Expr | null; end: Expr | null; span: Span };

export interface Ident {
  name: string;
  span: Span;
}

/** `[B, 784]`, `int[B]`, `[B*T, D]`: each dim is an expression of integer literals and dims (spec section 9). */
export interface TypeExpr {
  int: boolean;
  dims: Expr[];
  span: Span;
}

/** `in [lo, hi]` or `in [lo, hi)`. */
export interface RangeHint {
  lo: Expr;
  hi: Expr;
  closedHi: boolean;
  span: Span;
}

/** `~ normal(0, 1)`, `~ zeros`, `~ xavier`. */
export interface InitExpr {
  name: string;
  args: Expr[];
  span: Span;
}

export type Stmt =
  | { kind: "model"; name: Ident; span: Span }
  | { kind: "dim"; name: Ident; value: { value: number; span: Span } | null; span: Span }
  | { kind: "input"; name: Ident; type: TypeExpr; range: RangeHint | null; dist: InitExpr | null; span: Span }
  | { kind: "param"; name: Ident; type: TypeExpr; init: InitExpr | null; span: Span }
  | { kind: "def"; name: Ident; params: Ident[]; body: Stmt[]; results: Expr[]; span: Span }
  | { kind: "assign"; name: Ident; value: Expr; span: Span }
  /** `hs[t] = v`: writes v into a region of the tensor `name` holds (a new value; earlier readers keep the old). */
  | { kind: "index_assign"; name: Ident; items: IndexItem[]; value: Expr; span: Span }
  /** `h, c = cell(x, h, c)`: the results of a def returning several. */
  | { kind: "unpack"; names: Ident[]; value: Expr; span: Span }
  | { kind: "for"; var: Ident; start: Expr; end: Expr; body: Stmt[]; span: Span }
  | { kind: "output"; names: Ident[]; span: Span }
  | { kind: "minimize"; value: Expr; span: Span };

export interface Program {
  file: string;
  source: string;
  stmts: Stmt[];
}
