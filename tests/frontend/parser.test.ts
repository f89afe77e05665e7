// The front end as tables: sources and the tree they give, the spans of
// chosen nodes, and bad sources with the message and position they give.
// parse() itself throws if the grammar yields more than one parse, so every
// valid source here also checks that the grammar is unambiguous.
import { describe, expect, it } from "vitest";
import type { Span } from "../../src/diag.js";
import { BpcError } from "../../src/diag.js";
import type { Expr, IndexItem, InitExpr, Program, Stmt, TypeExpr } from "../../src/frontend/parser/ast.js";
import { tokenize } from "../../src/frontend/parser/lexer.js";
import { parse } from "../../src/frontend/parser/parse.js";
import { printAst, unparse } from "../../src/frontend/parser/print.js";

// --- compact printers ---------------------------------------------------------------

function sx(e: Expr): string {
  switch (e.kind) {
    case "num":
      return e.text;
    case "bool":
      return String(e.value);
    case "name":
      return e.name;
    case "unary":
      return `(neg ${sx(e.arg)})`;
    case "binary":
      return `(${e.op} ${sx(e.left)} ${sx(e.right)})`;
    case "call":
      return `(${[e.callee, ...e.args.map(sx), ...e.kwargs.map((k) => `${k.name}=${sx(k.value)}`)].join(" ")})`;
    case "index":
      return `(index ${[sx(e.target), ...e.items.map(item)].join(" ")})`;
    case "transpose":
      return `(T ${sx(e.arg)})`;
    case "list":
      return `[${e.items.map(sx).join(" ")}]`;
  }
}

function item(i: IndexItem): string {
  return i.kind === "at" ? sx(i.expr) : `${i.start ? sx(i.start) : ""}:${i.end ? sx(i.end) : ""}`;
}

const ty = (t: TypeExpr) => `${t.int ? "int" : ""}[${t.dims.map((d) => ("name" in d ? d.name : d.value)).join(",")}]`;
const init = (i: InitExpr) => [i.name, ...i.args.map(sx)].join(" ");

function st(s: Stmt): string {
  switch (s.kind) {
    case "model":
      return `model ${s.name.name}`;
    case "dim":
      return `dim ${s.name.name}${s.value ? ` ${s.value.value}` : ""}`;
    case "input": {
      const range = s.range ? ` in ${sx(s.range.lo)} ${sx(s.range.hi)}${s.range.closedHi ? "]" : ")"}` : "";
      return `input ${s.name.name} ${ty(s.type)}${range}${s.dist ? ` ~ ${init(s.dist)}` : ""}`;
    }
    case "param":
      return `param ${s.name.name} ${ty(s.type)}${s.init ? ` ~ ${init(s.init)}` : ""}`;
    case "def":
      return `def ${s.name.name}(${s.params.map((p) => p.name).join(",")}) {${s.body.map(st).join("; ")}} ${s.results.map(sx).join(", ")}`;
    case "assign":
      return `${s.name.name} = ${sx(s.value)}`;
    case "unpack":
      return `${s.names.map((n) => n.name).join(", ")} = ${sx(s.value)}`;
    case "for":
      return `for ${s.var.name} ${sx(s.start)} ${sx(s.end)} {${s.body.map(st).join("; ")}}`;
    case "output":
      return `output ${s.names.map((n) => n.name).join(",")}`;
    case "minimize":
      return `minimize ${sx(s.value)}`;
  }
}

const stmts = (src: string) => parse(src, "t.bp").stmts.map(st);
const exprOf = (src: string) => {
  const s = parse(`x = ${src}`, "t.bp").stmts[0];
  if (s.kind !== "assign") throw new Error("not an assignment");
  return s.value;
};
const at = (s: Span) => `${s.line}:${s.col}-${s.endLine}:${s.endCol}`;

/** The tree without spans, for comparing parses of different texts. */
function strip(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(strip);
  if (x === null || typeof x !== "object") return x;
  return Object.fromEntries(Object.entries(x).filter(([k]) => k !== "span" && k !== "calleeSpan").map(([k, v]) => [k, strip(v)]));
}

// --- valid sources ----------------------------------------------------------------------

const constructs: [string, string, string[]][] = [
  ["model", "model mlp", ["model mlp"]],
  ["dims", "dim B\ndim D = 784", ["dim B", "dim D 784"]],
  ["input", "input x: [B, D]", ["input x [B,D]"]],
  ["int input", "input y: int[B]", ["input y int[B]"]],
  ["scalar input", "input lr: []", ["input lr []"]],
  ["closed range", "input x: [B, 784] in [0, 1]", ["input x [B,784] in 0 1]"]],
  ["half-open range", "input y: int[B] in [0, C)", ["input y int[B] in 0 C)"]],
  ["negative range", "input r: [B] in [-1, 1]", ["input r [B] in (neg 1) 1]"]],
  ["distribution", "input x: [B, D] ~ normal(0, 1)", ["input x [B,D] ~ normal 0 1"]],
  ["range and distribution", "input x: [B] in [-3, 3] ~ normal(0, 0.5)", ["input x [B] in (neg 3) 3] ~ normal 0 0.5"]],
  ["param inits", "param W: [D, H] ~ xavier\nparam b: [H] ~ const(0.1)\nparam V: [7, G] ~ uniform(-0.1, 0.1)",
    ["param W [D,H] ~ xavier", "param b [H] ~ const 0.1", "param V [7,G] ~ uniform (neg 0.1) 0.1"]],
  ["param without init", "param W: [D, H]", ["param W [D,H]"]],
  ["def expression", "def dense(x, W, b) = x @ W + b", ["def dense(x,W,b) {} (+ (@ x W) b)"]],
  ["def without params", "def one() = 1", ["def one() {} 1"]],
  ["def block", "def f(a) {\n  h = relu(a)\n  g = h * 2\n  return g\n}", ["def f(a) {h = (relu a); g = (* h 2)} g"]],
  ["def block on one line", "def f(a) { h = a; return h }", ["def f(a) {h = a} h"]],
  ["def block, return only", "def f(a) {\n  return -a\n}", ["def f(a) {} (neg a)"]],
  ["assign", "h = relu(x @ W1 + b1)", ["h = (relu (+ (@ x W1) b1))"]],
  ["reassign", "x = x + 1", ["x = (+ x 1)"]],
  ["for", "for t in 0..T {\n  h = tanh(xs[t] @ Wx + h @ Wh)\n}", ["for t 0 T {h = (tanh (+ (@ (index xs t) Wx) (@ h Wh)))}"]],
  ["nested for", "for i in 1..N { for j in 0..M { s = s + 1 } }", ["for i 1 N {for j 0 M {s = (+ s 1)}}"]],
  ["empty for", "for t in 0..3 {\n}", ["for t 0 3 {}"]],
  ["output", "output logits, h", ["output logits,h"]],
  ["minimize", "minimize mean(loss)", ["minimize (mean loss)"]],
  ["semicolons", "dim B; dim C = 3;; minimize x;", ["dim B", "dim C 3", "minimize x"]],
  ["comments and blank lines", "# head\n\n  # indented comment\nminimize x # trailing\n\n# tail", ["minimize x"]],
  ["CRLF", "dim B\r\nminimize x\r\n", ["dim B", "minimize x"]],
  ["byte-order mark", "\uFEFFminimize x", ["minimize x"]],
  ["no final newline", "dim B\nminimize x", ["dim B", "minimize x"]],
  ["line breaks inside brackets", "h = relu(\n  x @ W   # comment\n  + b\n)\ny = x[\n0]", ["h = (relu (+ (@ x W) b))", "y = (index x 0)"]],
  ["line break inside a shape", "input x: [B,\n  D]", ["input x [B,D]"]],
  ["numbers", "x = [3, 0.5, .5, 1e-5, 2.5E+3, 10e3]", ["x = [3 0.5 .5 1e-5 2.5E+3 10e3]"]],
  ["booleans and kwargs", "s = sum(x, axis=-1, keepdims=true)", ["s = (sum x axis=(neg 1) keepdims=true)"]],
  ["kwargs only", "y = f(axis=0)", ["y = (f axis=0)"]],
  ["empty call", "y = f()", ["y = (f)"]],
  ["lists", "y = reshape(x, [B, 10])\nz = zeros([])", ["y = (reshape x [B 10])", "z = (zeros [])"]],
  ["slices", "y = x[:, 0:H, 1:, :2, i]", ["y = (index x : 0:H 1: :2 i)"]],
  ["keywords as prefixes of names", "model_x = input1 + format + int8", ["model_x = (+ (+ input1 format) int8)"]],
  ["T as a name", "T = x.T + T", ["T = (+ (T x) T)"]],
];

describe("constructs", () => {
  it.each(constructs)("%s", (_, src, expected) => {
    expect(stmts(src)).toEqual(expected);
  });

  it.each(constructs)("round-trips: %s", (_, src) => {
    const p = parse(src, "t.bp");
    const again = parse(unparse(p), "t.bp");
    expect(strip(again.stmts)).toEqual(strip(p.stmts));
  });
});

describe("precedence", () => {
  const table: [string, string][] = [
    ["-x^2", "(neg (^ x 2))"],
    ["(-x)^2", "(^ (neg x) 2)"],
    ["a+b*c", "(+ a (* b c))"],
    ["a*b+c", "(+ (* a b) c)"],
    ["a@b+c", "(+ (@ a b) c)"],
    ["a*b@c", "(@ (* a b) c)"],
    ["a/b*c", "(* (/ a b) c)"],
    ["a-b-c", "(- (- a b) c)"],
    ["a-(b-c)", "(- a (- b c))"],
    ["x^y^z", "(^ x (^ y z))"],
    ["2^-1", "(^ 2 (neg 1))"],
    ["2^-x^2", "(^ 2 (neg (^ x 2)))"],
    ["-a*b", "(* (neg a) b)"],
    ["a*-b", "(* a (neg b))"],
    ["a - -b", "(- a (neg b))"],
    ["--a", "(neg (neg a))"],
    ["f(x)[0].T", "(T (index (f x) 0))"],
    ["x.T.T", "(T (T x))"],
    ["x[0][1]", "(index (index x 0) 1)"],
    ["-x.T", "(neg (T x))"],
    ["x.T^2", "(^ (T x) 2)"],
    ["a < b + c", "(< a (+ b c))"],
    ["a + b >= c * d", "(>= (+ a b) (* c d))"],
    ["(a < b) == c", "(== (< a b) c)"],
    ["a != -b", "(!= a (neg b))"],
    ["where(x > 0, x, 0.01 * x)", "(where (> x 0) x (* 0.01 x))"],
  ];
  it.each(table)("%s", (src, expected) => {
    expect(sx(exprOf(src))).toBe(expected);
  });
});

describe("spans", () => {
  const src = [
    "model m", //                                          1
    "input y: int[B] in [0, C) ~ normal(0, 1)   # hint", // 2
    "h = (a + b) * relu(x)[0, 1:].T", //                   3
    "def f(a) {", //                                       4
    "  return a", //                                       5
    "}", //                                                6
    "s = sum(x, axis=-1)", //                              7
  ].join("\n");
  const p = parse(src, "m.bp");
  const [model, input, assign, def, sum] = p.stmts;
  const h = assign.kind === "assign" ? assign.value : null;
  const call = sum.kind === "assign" ? sum.value : null;
  const table: [string, Span | undefined, string][] = [
    ["model statement", model.span, "1:1-1:8"],
    ["input statement stops before the comment", input.span, "2:1-2:41"],
    ["input type", input.kind === "input" ? input.type.span : undefined, "2:10-2:16"],
    ["range hint", input.kind === "input" ? input.range?.span : undefined, "2:17-2:26"],
    ["distribution", input.kind === "input" ? input.dist?.span : undefined, "2:29-2:41"],
    ["assignment", assign.span, "3:1-3:31"],
    ["binary from left start to right end", h?.span, "3:5-3:31"],
    ["parenthesised operand includes the parentheses", h?.kind === "binary" ? h.left.span : undefined, "3:5-3:12"],
    ["transpose", h?.kind === "binary" ? h.right.span : undefined, "3:15-3:31"],
    ["slice", h?.kind === "binary" && h.right.kind === "transpose" && h.right.arg.kind === "index" ? h.right.arg.items[1].span : undefined, "3:26-3:28"],
    ["def block", def.span, "4:1-6:2"],
    ["call from callee to ')'", call?.span, "7:5-7:20"],
    ["callee", call?.kind === "call" ? call.calleeSpan : undefined, "7:5-7:8"],
    ["kwarg", call?.kind === "call" ? call.kwargs[0].span : undefined, "7:12-7:19"],
  ];
  it.each(table)("%s", (_, span, expected) => {
    expect(span && at(span)).toBe(expected);
    expect(span?.file).toBe("m.bp");
  });

  it("counts columns after CRLF line breaks", () => {
    const s = parse("dim B\r\n  minimize x", "t.bp").stmts[1];
    expect(at(s.span)).toBe("2:3-2:13");
  });
});

describe("syntax errors", () => {
  const table: [string, string, string, string][] = [
    ["missing operand", "x = )", "unexpected ')'; expected an expression", "1:5"],
    ["two operands", "x = a b", "unexpected identifier 'b'; expected an operator or end of line", "1:7"],
    ["unclosed call at end of file", "h = relu(x @ W", "unexpected end of file; expected one of: an operator, ',', ')'", "1:15"],
    ["unclosed call, next line", "h = relu(x\nminimize h", "unexpected 'minimize'", "2:1"],
    ["unclosed shape", "input y: int\n", "unexpected end of line; expected '['", "1:13"],
    ["chained comparison", "x = a < b < c", "comparisons do not chain", "1:11"],
    ["invalid character", "x = a $ b", "unexpected character '$'", "1:7"],
    ["invalid character on a later line", "dim B\n  x = é", "unexpected character 'é'", "2:7"],
    ["control character", "x = a\u0007", "unexpected character 'U+0007'", "1:6"],
    ["lone carriage return", "dim B\rminimize x", "unexpected character 'U+000D'", "1:6"],
    ["empty file", "", "empty file: expected declarations and a 'minimize' statement", "1:1"],
    ["comments only", "# nothing\n\n   # here\n", "empty file", "1:1"],
    ["replacement character", "dim B\nx = \uFFFD", "file is not UTF-8 text", "2:5"],
    ["NUL", "dim B\0", "file is not UTF-8 text", "1:6"],
    ["decimal dim", "dim D = 1.5", "expected integer", "1:9"],
    ["call on an expression", "y = (f)(x)", "unexpected '('", "1:8"],
    ["transpose of another name", "y = x.U", "unexpected identifier 'U'; expected 'T'", "1:7"],
    ["empty index", "y = x[]", "unexpected ']'", "1:7"],
    ["positional after keyword", "y = f(axis=1, x)", "unexpected ')'", "1:16"],
    ["keyword as a name", "in = 3", "unexpected 'in'; expected a statement", "1:1"],
    ["two statements on a line", "dim B dim C", "unexpected 'dim'", "1:7"],
    ["def block without return", "def f(a) {\n  h = a\n}", "unexpected '}'; expected one of: identifier, 'return', end of line", "3:1"],
    ["declaration inside a loop", "for t in 0..T {\n  param W: [H]\n}", "unexpected 'param'", "2:3"],
    ["unclosed loop", "for t in 0..T {\n  h = h + 1\n", "unexpected end of file; expected one of: identifier, '}', 'for', end of line", "2:12"],
    ["number then dot", "x = 1. + 2", "unexpected '+'; expected 'T'", "1:8"],
    ["statement starting with an operator", "x = 1\n+ 2", "unexpected '+'; expected a statement", "2:1"],
  ];
  it.each(table)("%s", (_, src, message, where) => {
    let error: unknown;
    try {
      parse(src, "bad.bp");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BpcError);
    const e = error as BpcError;
    expect(e.message).toContain(message);
    expect(e.message).not.toContain("\n");
    expect(`${e.span.line}:${e.span.col}`).toBe(where);
    expect(e.span.file).toBe("bad.bp");
  });
});

describe("lexer", () => {
  it("drops whitespace, comments and line breaks inside brackets", () => {
    const kinds = tokenize("f(a,\n b) # c\n[x\n] in [0, 1)\ny", "t.bp").map((t) => (t.type === "nl" ? "NL" : t.text));
    expect(kinds).toEqual(["f", "(", "a", ",", "b", ")", "NL", "[", "x", "]", "in", "[", "0", ",", "1", ")", "NL", "y"]);
  });

  it("splits ranges from numbers", () => {
    expect(tokenize("0..T 1.5..2 .5", "t.bp").map((t) => `${t.type}:${t.text}`)).toEqual([
      "integer:0", "op:..", "ident:T", "decimal:1.5", "op:..", "integer:2", "decimal:.5",
    ]);
  });

  it("throws a BpcError at an invalid character", () => {
    expect(() => tokenize("a\n  ?", "t.bp")).toThrow(BpcError);
  });
});

describe("printAst", () => {
  it("prints one node per line with spans", () => {
    const p: Program = parse("model m\nh = relu(x)[0] + 1\nminimize h", "m.bp");
    expect(printAst(p)).toBe(
      [
        "program m.bp",
        "  model m  1:1-1:8",
        "  assign h  2:1-2:19",
        "    binary +  2:5-2:19",
        "      index  2:5-2:15",
        "        call relu  2:5-2:12",
        "          name x  2:10-2:11",
        "        at: num 0  2:13-2:14",
        "      num 1  2:18-2:19",
        "  minimize  3:1-3:11",
        "    name h  3:10-3:11",
        "",
      ].join("\n"),
    );
  });
});
