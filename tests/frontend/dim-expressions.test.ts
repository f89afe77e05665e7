// Dim expressions in the front end (spec section 9): shapes, reshape sizes
// (with one -1), slice bounds, loop bounds, sizes and range hints take
// integer expressions of dims; constants fold, symbolic ones keep a canonical
// form that prints as written; bad constant expressions are compile errors
// that quote them.
import { describe, expect, it } from "vitest";
import { printGraph } from "../../src/ir/print.js";
import type { Node } from "../../src/ir/types.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { errorOf } from "../helpers/compile.js";

const lower = (src: string) => frontEnd(src, "t.bp").ir;
const named = (nodes: readonly Node[], name: string): Node => {
  const n = nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name}`);
  return n;
};


describe("dim expressions: shapes", () => {
  it("declared shapes, reshape and zeros take expressions; products compare by value", () => {
    const g = lower(`dim B
dim T
dim D = 3
input x: [B*T, D]
input m: [T]
input y: [T*B, 2*D]
r = reshape(x, [B, T * D])
f = reshape(r, [-1, D])
z = zeros([B, 2*D - 1])
minimize sum(r) + sum(f) + sum(y) + sum(z) + sum(m)
`);
    expect(g.inputs[0].shape).toEqual(["B*T", 3]);
    // T*B and B*T are one dim.
    expect(g.inputs[2].shape).toEqual(["B*T", 6]);
    expect(named(g.nodes, "r").shape).toEqual(["B", "3*T"]);
    expect(named(g.nodes, "f").shape).toEqual(["B*T", 3]);
    expect(named(g.nodes, "z").shape).toEqual(["B", 5]);
  });

  it("prints shapes with their expressions", () => {
    const g = lower("dim B\ndim T\ninput x: [B*T, 64]\ninput m: [T]\nminimize sum(x) + sum(m)\n");
    expect(printGraph(g)).toContain("f[B*T, 64]");
  });

  it("constant expressions fold: slices, loop bounds, one_hot sizes, range hints", () => {
    const g = lower(`dim B
dim H = 3
dim T = 6
input x: [B, 4*H]
input y: int[B] in [0, H*2)
a = x[:, H:2*H]
o = one_hot(y, 2*H)
s = sum(a)
for t in 0..T-1 {
  s = s + 1
}
minimize s + sum(o)
`);
    const slice = g.nodes.find((n) => n.op === "slice")!;
    expect(slice.attrs.starts).toEqual([0, 3]);
    expect(slice.attrs.ends).toEqual(["B", 6]);
    expect(slice.shape).toEqual(["B", 3]);
    expect(named(g.nodes, "o").shape).toEqual(["B", 6]);
    expect(g.inputs[1].attrs.range).toEqual([0, 6]);
    expect(g.nodes.find((n) => n.op === "loop")!.attrs.count).toBe(5);
  });

  it("symbolic expressions stay symbolic: loop counts and an int range", () => {
    const g = lower(`dim B
dim T
input xs: [T, B]
input y: int[B] in [0, B)
s = sum(xs) * 0
for t in 0..T-1 {
  s = s + sum(xs[t])
}
minimize s + sum(one_hot(y, B))
`);
    expect(g.nodes.find((n) => n.op === "loop")!.attrs.count).toBe("T-1");
    expect(g.inputs[1].attrs.range).toEqual([0, "B"]);
  });

  it("reshape's -1 takes the rest of the size, symbolic or not", () => {
    const g = lower(`dim B
dim T = 5
input x: [B, T, 4]
a = reshape(x, [-1, 4])
b = reshape(x, [B, -1])
c = reshape(x, [2, -1, 5])
minimize sum(a) + sum(b) + sum(c)
`);
    expect(named(g.nodes, "a").shape).toEqual(["5*B", 4]);
    expect(named(g.nodes, "b").shape).toEqual(["B", 20]);
    expect(named(g.nodes, "c").shape).toEqual([2, "2*B", 5]);
  });

  it("a dim is inferred from an input where it is the only unknown factor", () => {
    // T from m, then B from x's length over T*3.
    const g = lower("dim B\ndim T\ninput x: [B*T, 3]\ninput m: [T]\nminimize sum(x) + sum(m)\n");
    expect(g.inputs.map((n) => n.shape)).toEqual([["B*T", 3], ["T"]]);
  });
});

describe("dim expressions: errors", () => {
  const cases: [string, string, RegExp, number, number][] = [
    ["a constant shape entry that is not positive", "dim H = 3\ninput x: [4]\nz = zeros([H-5, 3])\nminimize sum(z) + sum(x)\n", /a dim must be a positive integer, got H-5 = -2/, 3, 12],
    ["a declared shape that is not positive", "dim H = 3\ninput x: [H - 3, 2]\nminimize sum(x)\n", /a dim must be a positive integer, got H-3 = 0/, 2, 11],
    ["a constant division by zero", "dim B\ndim H = 3\ninput x: [B]\nz = zeros([B//(H-3), 2])\nminimize sum(z) + sum(x)\n", /division by zero in the dim expression B\/\/\(H-3\)/, 4, 12],
    ["'/' in a dim", "dim B\ninput x: [B, 4]\nr = reshape(x, [B, 4/2, 2])\nminimize sum(r)\n", /'\/' is not allowed in a dim expression: write '\/\/' for floor division/, 3, 20],
    ["a decimal in a shape", "dim B\ninput x: [B, 2.5]\nminimize sum(x)\n", /a dim expression takes integers, got 2.5/, 2, 14],
    ["a tensor in a dim", "dim B\ninput x: [B, 4]\nz = zeros([B, sum(x)])\nminimize sum(z)\n", /a dim expression takes integers, dims/, 3, 15],
    ["an unknown name in a declared shape", "dim B\ninput x: [B*N, 4]\nminimize sum(x)\n", /unknown dim 'N'/, 2, 13],
    ["two -1 in a reshape", "dim B\ninput x: [B, 4]\nr = reshape(x, [-1, -1])\nminimize sum(r)\n", /only one entry of a shape may be -1/, 3, 21],
    ["a -1 that does not divide", "dim B\ninput x: [B, 6]\nr = reshape(x, [-1, 4])\nminimize sum(r)\n", /cannot reshape \[B, 6\] to \[-1, 4\]: its 6\*B elements are not a multiple of 4/, 3, 5],
    ["-1 outside reshape", "dim B\ninput x: [B, 6]\nz = zeros([-1, 4])\nminimize sum(z) + sum(x)\n", /a dim must be a positive integer, got -1/, 3, 12],
    ["a size that is not positive", "dim H = 3\ninput y: int[4]\nminimize sum(one_hot(y, H-3))\n", /one_hot's n must be a positive integer, got H-3 = 0/, 3, 25],
    ["an empty constant loop", "dim T = 1\ninput x: [3]\ns = sum(x)\nfor t in 0..T-1 {\n  s = s + 1\n}\nminimize s\n", /empty loop/, 4, 13],
    ["a dim only in a sum cannot be inferred", "dim B\ninput x: [B+1, 3]\nminimize sum(x)\n", /dim B cannot be inferred from the inputs/, 1, 1],
    ["a dim squared cannot be inferred", "dim B\ninput x: [B, B]\nminimize sum(x)\n", /dim B cannot be inferred from the inputs/, 1, 1],
    ["'//' on tensors", "input x: [3]\nminimize sum(x // 2)\n", /'\/\/' \(floor division\) is for ints and dim expressions/, 2, 14],
    ["a symbolic end in a float input's range", "dim B\ninput x: [B] in [0, B]\nminimize sum(x)\n", /a float input's range has constant ends/, 2, 14],
  ];
  it.each(cases)("%s", (_name, src, message, line, col) => {
    const e = errorOf(src);
    expect(e.message).toMatch(message);
    expect(`${e.span.line}:${e.span.col}`).toBe(`${line}:${col}`);
  });

  it("the note says how to make a dim inferable when it appears only in expressions", () => {
    const e = errorOf("dim B\ninput x: [B+1, 3]\nminimize sum(x)\n");
    expect(e.diagnostics[0].notes?.join("\n")).toMatch(/only as a factor/);
  });
});
