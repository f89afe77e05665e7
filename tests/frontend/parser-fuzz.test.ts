// Properties of the front end: no input makes parse() throw anything but a
// BpcError pointing inside the file, and unparse() gives text that parses
// back to the same tree.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BpcError } from "../../src/diag.js";
import type { Expr, IndexItem, Program } from "../../src/frontend/parser/ast.js";
import { tokenize } from "../../src/frontend/parser/lexer.js";
import { parse } from "../../src/frontend/parser/parse.js";
import { unparse } from "../../src/frontend/parser/print.js";

const runs = { numRuns: 300 };

// A model with the constructs the examples may lack: a one-line def block,
// `;`, clip, kwargs, comparisons, slices, lists, transpose and `^`.
const embedded = `model dqn_clip
dim B; dim S = 4; dim A = 2; dim H = 16
input s: [B, S] in [-1, 1]
input a: int[B] in [0, A)
input r: [B] ~ normal(0, 0.5)
param W1: [S, H] ~ uniform(-0.1, 0.1)
param b1: [H] ~ const(0.01)
param W2: [H, A] ~ xavier
def q(x) { h = relu(x @ W1 + b1); return h @ W2 }
q_all = q(s)
best = max(q_all, axis=-1, keepdims=true)
mask = where(q_all >= best, 1, 0)
delta = clip(pick(q_all, a) - r, -1, 1)
g = (W2.T @ W1.T)[0:2, :].T
z = reshape(delta, [B, 1])^2 / 2
for t in 0..3 {
  z = z * 0.9
}
loss = mean(z) + 1e-3 * sum(mask)
output best, g
minimize loss
`;

const exampleDir = join(import.meta.dirname, "..", "..", "examples");
const samples: [string, string][] = [
  ["embedded.bp", embedded],
  ...readdirSync(exampleDir)
    .filter((f) => f.endsWith(".bp"))
    .map((f): [string, string] => [f, readFileSync(join(exampleDir, f), "utf8")]),
];

function strip(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(strip);
  if (x === null || typeof x !== "object") return x;
  return Object.fromEntries(Object.entries(x).filter(([k]) => k !== "span" && k !== "calleeSpan").map(([k, v]) => [k, strip(v)]));
}

function expectRoundTrip(p: Program): void {
  expect(strip(parse(unparse(p), p.file).stmts)).toEqual(strip(p.stmts));
}

/** Parses, and checks that any failure is a BpcError inside the source. */
function parseOrBpcError(src: string): void {
  let p: Program;
  try {
    p = parse(src, "fuzz.bp");
  } catch (e) {
    if (!(e instanceof BpcError)) throw e;
    const lines = src.split("\n").length;
    expect(e.span.file).toBe("fuzz.bp");
    expect(e.span.line).toBeGreaterThanOrEqual(1);
    expect(e.span.line).toBeLessThanOrEqual(lines);
    expect(e.span.col).toBeGreaterThanOrEqual(1);
    expect(e.message).not.toContain("\n");
    return;
  }
  expectRoundTrip(p);
}

describe("samples", () => {
  it.each(samples)("%s parses and round-trips", (file, src) => {
    expectRoundTrip(parse(src, file));
  });
});

describe("garbage in, BpcError out", () => {
  const tokenTexts = samples.flatMap(([file, src]) => tokenize(src, file).map((t) => t.text));
  const pool = [...new Set([...tokenTexts, "$", "\n", "{", "}", "(", ")", "[", "]", ",", ";", "..", "~", ".", "T", "<", "==", ":", "return", "in", "int", "1e", "#"])];

  it("random characters", () => {
    const chars = [..."abxT_019.eE+-*/@^<>=!()[]{},:;~#$ \t\n\r\u00e9\uFFFD"];
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...chars), maxLength: 80 }), parseOrBpcError), runs);
  });

  it("random unicode", () => {
    // Any code point, lone surrogates included (fast-check's "binary" unit is slow to start).
    const unit = fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c));
    fc.assert(fc.property(fc.string({ unit, maxLength: 40 }), parseOrBpcError), runs);
  });

  it("random token soup", () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...pool), { maxLength: 40 }), (ts) => parseOrBpcError(ts.join(" "))), runs);
  });

  it("token mutations of the samples", () => {
    const tokenized = samples.map(([file, src]) => tokenize(src, file).map((t) => t.text));
    const edit = fc.tuple(fc.constantFrom("delete", "swap", "insert"), fc.nat(), fc.nat(), fc.constantFrom(...pool));
    fc.assert(
      fc.property(fc.nat(tokenized.length - 1), fc.array(edit, { minLength: 1, maxLength: 4 }), (which, edits) => {
        const ts = [...tokenized[which]];
        for (const [kind, i, j, text] of edits) {
          const a = i % ts.length, b = j % ts.length;
          if (kind === "delete") ts.splice(a, 1);
          else if (kind === "swap") [ts[a], ts[b]] = [ts[b], ts[a]];
          else ts.splice(a, 0, text);
        }
        parseOrBpcError(ts.join(" "));
      }),
      runs,
    );
  });
});

describe("unparse", () => {
  // Trees without spans; parse(unparse(tree)) must give them back.
  const name = fc.constantFrom("x", "W", "h", "T", "b1", "_t", "xs");
  const { expr } = fc.letrec<{ expr: Expr; item: IndexItem }>((tie) => {
    const e = tie("expr") as fc.Arbitrary<Expr>;
    const opt = fc.option(e, { nil: null });
    return {
      expr: fc.oneof(
        { depthSize: "small", maxDepth: 4 },
        fc.constantFrom("0", "1", "2", "0.5", ".5", "1e-5", "2.5E+3", "128").map((text) => ({ kind: "num", value: Number(text), text })),
        fc.boolean().map((value) => ({ kind: "bool", value })),
        name.map((n) => ({ kind: "name", name: n })),
        e.map((arg) => ({ kind: "unary", op: "-", arg })),
        fc
          .tuple(fc.constantFrom("+", "-", "*", "/", "@", "^", "<", "<=", ">", ">=", "==", "!="), e, e)
          .map(([op, left, right]) => ({ kind: "binary", op, left, right })),
        fc
          .tuple(fc.constantFrom("relu", "sum", "f"), fc.array(e, { maxLength: 3 }), fc.array(fc.tuple(name, e), { maxLength: 2 }))
          .map(([callee, args, kw]) => ({ kind: "call", callee, args, kwargs: kw.map(([n, value]) => ({ name: n, value })) })),
        fc
          .tuple(e, fc.array(tie("item") as fc.Arbitrary<IndexItem>, { minLength: 1, maxLength: 3 }))
          .map(([target, items]) => ({ kind: "index", target, items })),
        fc.tuple(e, fc.constantFrom("T", "mT")).map(([arg, which]) => ({ kind: "transpose", arg, which })),
        fc.array(e, { maxLength: 3 }).map((items) => ({ kind: "list", items })),
      ) as fc.Arbitrary<Expr>,
      item: fc.oneof(
        e.map((ex) => ({ kind: "at", expr: ex })),
        fc.tuple(opt, opt).map(([start, end]) => ({ kind: "slice", start, end })),
      ) as fc.Arbitrary<IndexItem>,
    };
  });

  it("parses back to the tree it printed", () => {
    fc.assert(
      fc.property(expr, (e) => {
        const src = unparse({ file: "u.bp", source: "", stmts: [{ kind: "minimize", value: e } as never] });
        const back = parse(src, "u.bp").stmts[0];
        expect(strip(back)).toEqual({ kind: "minimize", value: e });
      }),
      runs,
    );
  });
});
