// Several results (spec section 9): `return a, b` in a def, unpacked by
// `h, c = cell(x, h, c)` at top level, inside loops and inside defs; the
// parse, its printed form, the values, the gradients, and the errors.
import { describe, expect, it } from "vitest";
import { checkFile } from "../../src/check/index.js";
import { parse } from "../../src/frontend/parser/parse.js";
import { printAst, unparse } from "../../src/frontend/parser/print.js";
import { errorOf, compileSource } from "../helpers/compile.js";

const HEAD = `dim B = 2
dim H = 3
input x: [B, H]
param W: [H, H] ~ xavier
`;


describe("several results: the parse", () => {
  it("return a, b and a, b = f(...) parse (unambiguously) and print back", () => {
    const src = "def f(a) {\n  h = a * 2\n  return h, a + 1\n}\np, q = f(x)\n";
    const prog = parse(src, "t.bp");
    const [def, un] = prog.stmts;
    expect(def.kind === "def" && def.results.length).toBe(2);
    expect(un.kind).toBe("unpack");
    if (un.kind !== "unpack") return;
    expect(un.names.map((n) => n.name)).toEqual(["p", "q"]);
    expect([un.span.line, un.span.col, un.span.endCol]).toEqual([5, 1, 12]);
    expect(unparse(prog)).toBe("def f(a) {\n  h = a * 2\n  return h, a + 1\n}\np, q = f(x)\n");
    expect(printAst(prog)).toMatch(/unpack p, q/);
    // The printed text parses to the same tree.
    expect(unparse(parse(unparse(prog), "t.bp"))).toBe(unparse(prog));
  });

  it("three names, inside a loop and a def body", () => {
    const src = "def g(a) {\n  u, v, w = f(a)\n  return u\n}\nfor t in 0..3 {\n  h, c = cell(h, c)\n}\n";
    const prog = parse(src, "t.bp");
    expect(unparse(prog)).toBe(src);
  });
});

describe("several results: values and gradients", () => {
  it("top level: each name gets its result, in order", async () => {
    const src = `${HEAD}def two(a) {\n  z = a @ W\n  return relu(z), z * 2\n}\nr, s = two(x)\noutput r, s\nminimize sum(r) + sum(s)\n`;
    const { mod } = await compileSource(src);
    const params = mod.init(3);
    const x = Float64Array.from([0.5, -1, 2, 1.5, 0.25, -0.75]);
    const out = mod.forward(params, { x });
    const W = params.W;
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++) {
        let z = 0;
        for (let k = 0; k < 3; k++) z += x[i * 3 + k] * W[k * 3 + j];
        expect((out.r as Float64Array)[i * 3 + j]).toBeCloseTo(Math.max(z, 0), 12);
        expect((out.s as Float64Array)[i * 3 + j]).toBeCloseTo(2 * z, 12);
      }
  });

  it("an LSTM cell returning h and c, unpacked in a loop: gradients match finite differences", async () => {
    const src = `dim B = 2
dim H = 3
dim G = 12
input xs: [4, B, H]
param Wx: [H, G] ~ xavier
param Wh: [H, G] ~ xavier
def cell(x, h, c) {
  z = x @ Wx + h @ Wh
  c = sigmoid(z[:, 3:6]) * c + sigmoid(z[:, 0:3]) * tanh(z[:, 6:9])
  return sigmoid(z[:, 9:12]) * tanh(c), c
}
h = zeros([B, H])
c = zeros([B, H])
for t in 0..4 {
  h, c = cell(xs[t], h, c)
}
minimize sum(h * h) + mean(c)
`;
    const report = await checkFile(src, "cell.bp", { seed: 5, tolerance: 1e-6 });
    expect(report.rows.map((r) => r.tensor)).toEqual(["Wx", "Wh", "xs"]);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThan(1e-6);
  });

  it("the names are assigned after the call: a, b = f(b, a) swaps", async () => {
    const src = `${HEAD}def swap(p, q) {\n  return q, p\n}\na = x\nb = x * 2\na, b = swap(a, b)\noutput a, b\nminimize sum(a @ W)\n`;
    const { mod } = await compileSource(src);
    const x = Float64Array.from([1, 2, 3, 4, 5, 6]);
    const out = mod.forward(mod.init(1), { x });
    expect([...(out.a as Float64Array)]).toEqual([...x].map((v) => 2 * v));
    expect([...(out.b as Float64Array)]).toEqual([...x]);
  });

  it("a def may unpack another def's results", async () => {
    const src = `${HEAD}def two(a) {\n  return a + 1, a - 1\n}\ndef both(a) {\n  p, q = two(a)\n  return p * q\n}\nminimize sum(both(x))\n`;
    const { mod } = await compileSource(src);
    const x = Float64Array.from([1, 2, 3, 4, 5, 6]);
    expect(mod.forward(mod.init(1), { x }).loss).toBeCloseTo(
      [...x].reduce((s, v) => s + v * v - 1, 0),
      12,
    );
  });
});

describe("several results: errors", () => {
  const TWO = `${HEAD}def two(a) {\n  return a, a * 2\n}\n`;
  const bad: [string, string, RegExp, number, number][] = [
    [
      "fewer names than results",
      `${TWO}p = 1\nq, r, s = two(x)\nminimize sum(q)\n`,
      /3 names on the left of '=' but two returns 2 values/,
      9,
      1,
    ],
    [
      "more results than names",
      `${HEAD}def three(a) {\n  return a, a, a\n}\nq, r = three(x)\nminimize sum(q)\n`,
      /2 names on the left of '=' but three returns 3 values/,
      8,
      1,
    ],
    [
      "a two-result def in an expression",
      `${TWO}minimize sum(two(x))\n`,
      /two returns 2 values; unpack them into 2 names/,
      8,
      14,
    ],
    [
      "a two-result def assigned to one name",
      `${TWO}q = two(x)\nminimize sum(q)\n`,
      /two returns 2 values; unpack them/,
      8,
      5,
    ],
    [
      "unpacking a value that is not a def call",
      `${HEAD}q, r = x @ W\nminimize sum(q)\n`,
      /cannot unpack one value into 2 names/,
      5,
      8,
    ],
    ["unpacking a built-in", `${HEAD}q, r = relu(x)\nminimize sum(q)\n`, /cannot unpack one value into 2 names/, 5, 8],
    ["a name twice", `${TWO}q, q = two(x)\nminimize sum(q)\n`, /'q' is named twice on the left of '='/, 8, 4],
    ["unpacking into a param", `${TWO}q, W = two(x)\nminimize sum(q)\n`, /cannot assign to param 'W'/, 8, 4],
  ];
  for (const [name, src, message, line, col] of bad) {
    it(name, () => {
      const e = errorOf(src);
      const d = e.diagnostics[0];
      expect(d.message).toMatch(message);
      expect([d.span.line, d.span.col]).toEqual([line, col]);
    });
  }

  it("the count mismatch names both counts and says what to write", () => {
    const d = errorOf(`${HEAD}def two(a) {\n  return a, a * 2\n}\nq, r, s = two(x)\nminimize sum(q)\n`).diagnostics[0];
    expect(d.message).toContain("3");
    expect(d.message).toContain("2");
    expect(d.notes?.join("\n")).toMatch(/write 2 names on the left/);
  });
});
