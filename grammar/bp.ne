# The .bp grammar (LANGUAGE.md sections 2-4). Compiled by
# scripts/build-grammar.mjs to src/frontend/parser/generated/grammar.ts.
#
# The grammar must stay unambiguous: parse() fails loudly on more than one
# result. Statement separators are newline tokens (only those outside
# brackets reach the parser) and `;`. A node's span covers its text; a
# parenthesised expression's span includes the parentheses.

@preprocessor typescript
@lexer lexer

@{%
import { lexer, type Token } from "../lexer.js";
import { joinSpans, type Span } from "../../../diag.js";
import type { Expr, Ident, IndexItem, InitExpr, KwArg, RangeHint, Stmt, TypeExpr } from "../ast.js";

type Spanned = { span: Span };

const join = (a: Spanned, b: Spanned): Span => joinSpans(a.span, b.span);
const toIdent = (t: Token): Ident => ({ name: t.value, span: t.span });
const num = (t: Token) => ({ value: Number(t.value), span: t.span });
const append = <T>(list: T[], x: T): T[] => [...list, x];
const binary = ([left, op, right]: [Expr, Token, Expr]): Expr =>
  ({ kind: "binary", op: op.value as Extract<Expr, { kind: "binary" }>["op"], left, right, span: join(left, right) });
%}

program -> seps:?                               {% (): Stmt[] => [] %}
         | seps:? topStmts seps:?               {% (d): Stmt[] => d[1] %}

topStmts -> topStmt                             {% (d): Stmt[] => [d[0]] %}
          | topStmts seps topStmt               {% (d): Stmt[] => append(d[0], d[2]) %}

seps -> sep | seps sep
sep -> %nl | ";"

topStmt -> model {% id %} | dim {% id %} | input {% id %} | param {% id %} | def {% id %}
         | assign {% id %} | indexAssign {% id %} | for {% id %} | output {% id %} | minimize {% id %}

model -> "model" name
  {% ([k, name]): Stmt => ({ kind: "model", name, span: join(k, name) }) %}

dim -> "dim" name
  {% ([k, name]): Stmt => ({ kind: "dim", name, value: null, span: join(k, name) }) %}
     | "dim" name "=" %integer
  {% ([k, name, , n]): Stmt => ({ kind: "dim", name, value: num(n), span: join(k, n) }) %}

input -> "input" name ":" type range:? ("~" init {% (d) => d[1] %}):?
  {% ([k, name, , type, range, dist]): Stmt =>
       ({ kind: "input", name, type, range, dist, span: join(k, dist ?? range ?? type) }) %}

param -> "param" name ":" type ("~" init {% (d) => d[1] %}):?
  {% ([k, name, , type, init]): Stmt => ({ kind: "param", name, type, init, span: join(k, init ?? type) }) %}

# `def f(a, b) = EXPR`, or a block of assignments ending in `return EXPR`
# (or `return a, b`: several results, unpacked by `x, y = f(...)`).
def -> "def" name "(" names:? ")" "=" expr
  {% ([k, name, , params, , , result]): Stmt =>
       ({ kind: "def", name, params: params ?? [], body: [], results: [result], span: join(k, result) }) %}
     | "def" name "(" names:? ")" "{" seps:? defBody "return" exprs seps:? "}"
  {% ([k, name, , params, , , , body, , results, , close]): Stmt =>
       ({ kind: "def", name, params: params ?? [], body, results, span: join(k, close) }) %}

defBody -> null                                 {% (): Stmt[] => [] %}
         | defBody assign seps                  {% (d): Stmt[] => append(d[0], d[1]) %}
         | defBody indexAssign seps             {% (d): Stmt[] => append(d[0], d[1]) %}

assign -> name "=" expr
  {% ([name, , value]): Stmt => ({ kind: "assign", name, value, span: join(name, value) }) %}
        | name "," names "=" expr
  {% ([first, , rest, , value]): Stmt => ({ kind: "unpack", names: [first, ...rest], value, span: join(first, value) }) %}

# `hs[t] = h`: writes into an existing tensor (lowered as hs = update(hs, ...)).
indexAssign -> name "[" indexItems "]" "=" expr
  {% ([name, , items, , , value]): Stmt => ({ kind: "index_assign", name, items, value, span: join(name, value) }) %}

for -> "for" name "in" expr ".." expr "{" seps:? loopBody "}"
  {% ([k, v, , start, , end, , , body, close]): Stmt =>
       ({ kind: "for", var: v, start, end, body, span: join(k, close) }) %}

loopBody -> null                                {% (): Stmt[] => [] %}
          | loopStmts seps:?                    {% id %}
loopStmts -> loopStmt                           {% (d): Stmt[] => [d[0]] %}
           | loopStmts seps loopStmt            {% (d): Stmt[] => append(d[0], d[2]) %}
loopStmt -> assign {% id %} | indexAssign {% id %} | for {% id %}

output -> "output" names
  {% ([k, names]): Stmt => ({ kind: "output", names, span: join(k, names[names.length - 1]) }) %}

minimize -> "minimize" expr
  {% ([k, value]): Stmt => ({ kind: "minimize", value, span: join(k, value) }) %}

name -> %ident                                  {% ([t]) => toIdent(t) %}
names -> name                                   {% (d): Ident[] => [d[0]] %}
       | names "," name                         {% (d): Ident[] => append(d[0], d[2]) %}

# --- declarations' parts -----------------------------------------------------

type -> "int":? "[" dims:? "]"
  {% ([int, open, dims, close]): TypeExpr => ({ int: int !== null, dims: dims ?? [], span: join(int ?? open, close) }) %}

dims -> dimItem                                 {% (d) => [d[0]] %}
      | dims "," dimItem                        {% (d) => append(d[0], d[2]) %}
# A dim expression (`B*T`, `2*H`, `T-1`); no comparisons, so `in` after the type stays a range hint.
dimItem -> sum                                  {% id %}

range -> "in" "[" expr "," expr ("]" | ")")
  {% ([k, , lo, , hi, [close]]): RangeHint => ({ lo, hi, closedHi: close.value === "]", span: join(k, close) }) %}

init -> %ident
  {% ([t]): InitExpr => ({ name: t.value, args: [], span: t.span }) %}
      | %ident "(" exprs:? ")"
  {% ([t, , args, close]): InitExpr => ({ name: t.value, args: args ?? [], span: join(t, close) }) %}

# --- expressions, loosest first ------------------------------------------------

# Comparisons do not chain: `a < b < c` is a syntax error.
expr -> sum                                     {% id %}
      | sum ("<" | "<=" | ">" | ">=" | "==" | "!=") sum {% ([l, [op], r]) => binary([l, op, r]) %}

sum -> prod                                     {% id %}
     | sum ("+" | "-") prod                     {% ([l, [op], r]) => binary([l, op, r]) %}

prod -> unary                                   {% id %}
      | prod ("*" | "/" | "//" | "@") unary            {% ([l, [op], r]) => binary([l, op, r]) %}

unary -> pow                                    {% id %}
       | "-" unary                              {% ([op, arg]): Expr => ({ kind: "unary", op: "-", arg, span: join(op, arg) }) %}

# Right-associative, and binds tighter than unary minus on its left
# (`-x^2` is `-(x^2)`) but admits one on its right (`2^-1`).
pow -> postfix                                  {% id %}
     | postfix "^" unary                        {% (d) => binary(d as [Expr, Token, Expr]) %}

postfix -> atom                                 {% id %}
         | postfix "[" indexItems "]"
  {% ([target, , items, close]): Expr => ({ kind: "index", target, items, span: join(target, close) }) %}
         | postfix "." ("T" | "mT")
  {% ([arg, , [t]]): Expr => ({ kind: "transpose", arg, which: t.value as "T" | "mT", span: join(arg, t) }) %}

atom -> (%integer | %decimal)
  {% ([[t]]): Expr => ({ kind: "num", value: Number(t.value), text: t.value, span: t.span }) %}
      | %string
  {% ([t]): Expr => ({ kind: "str", value: t.value.slice(1, -1), span: t.span }) %}
      | ("true" | "false")
  {% ([[t]]): Expr => ({ kind: "bool", value: t.value === "true", span: t.span }) %}
      | %ident
  {% ([t]): Expr => ({ kind: "name", name: t.value, span: t.span }) %}
      | call                                    {% id %}
      | "(" expr ")"
  {% ([open, e, close]): Expr => ({ ...e, span: join(open, close) }) %}
      | "[" exprs:? "]"
  {% ([open, items, close]): Expr => ({ kind: "list", items: items ?? [], span: join(open, close) }) %}

# Positional arguments first, then keyword arguments.
call -> %ident "(" callArgs ")"
  {% ([t, , [args, kwargs], close]): Expr =>
       ({ kind: "call", callee: t.value, calleeSpan: t.span, args, kwargs, span: join(t, close) }) %}

callArgs -> null                                {% (): [Expr[], KwArg[]] => [[], []] %}
          | exprs                               {% (d): [Expr[], KwArg[]] => [d[0], []] %}
          | kwArgs                              {% (d): [Expr[], KwArg[]] => [[], d[0]] %}
          | exprs "," kwArgs                    {% (d): [Expr[], KwArg[]] => [d[0], d[2]] %}

kwArgs -> kwArg                                 {% (d): KwArg[] => [d[0]] %}
        | kwArgs "," kwArg                      {% (d): KwArg[] => append(d[0], d[2]) %}
kwArg -> %ident "=" expr
  {% ([t, , value]): KwArg => ({ name: t.value, value, span: join(t, value) }) %}

exprs -> expr                                   {% (d): Expr[] => [d[0]] %}
       | exprs "," expr                         {% (d): Expr[] => append(d[0], d[2]) %}

indexItems -> indexItem                         {% (d): IndexItem[] => [d[0]] %}
            | indexItems "," indexItem          {% (d): IndexItem[] => append(d[0], d[2]) %}

indexItem -> expr
  {% ([expr]): IndexItem => ({ kind: "at", expr, span: expr.span }) %}
           | "None"
  {% ([t]): IndexItem => ({ kind: "newaxis", span: t.span }) %}
           | expr:? ":" expr:?
  {% ([start, colon, end]): IndexItem => ({ kind: "slice", start, end, span: join(start ?? colon, end ?? colon) }) %}
