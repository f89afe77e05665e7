// einsum: NumPy's, with explicit output subscripts, lowered to permuted
// views and batched matmuls (so its gradient is theirs), diagonals and
// traces included. Each case against
// central differences, against TF.js (tf.einsum where it can: two operands,
// no '...'; else the same contraction written with tf.matMul), and the
// SIMD and JS kernels against f64; how the common forms lower; the errors.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { checkGradients } from "../../src/check/index.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { errorOf, compileSource } from "../helpers/compile.js";
import { gradientsMatchDifferences, kernelsAgree, matchesTfjs, npMatmul, type Case } from "../helpers/linalg.js";

/**
 * An einsum in TF.js that has a gradient (tf.einsum has none): every
 * operand broadcast over all the labels, multiplied, the others summed
 * away, then permuted to the output's order. No '...'.
 */
function ein(spec: string, ...xs: tf.Tensor[]): tf.Tensor {
  const [lhs, out] = spec.split("->");
  const terms = lhs.split(",");
  const all = [...new Set(terms.join(""))];
  const size = new Map<string, number>();
  terms.forEach((t, i) => [...t].forEach((l, k) => size.set(l, xs[i].shape[k])));
  const grown = xs.map((x, i) => {
    const t = [...terms[i]];
    const mine = all.filter((l) => t.includes(l));
    const moved = tf.transpose(x, mine.map((l) => t.indexOf(l)));
    return moved.reshape(all.map((l) => (t.includes(l) ? size.get(l)! : 1)));
  });
  const prod = grown.reduce((p, x) => tf.mul(p, x));
  const summed = all.flatMap((l, k) => (out.includes(l) ? [] : [k]));
  const kept = all.filter((l) => out.includes(l));
  const r = summed.length ? tf.sum(prod, summed) : prod;
  return kept.length > 1 ? tf.transpose(r, [...out].map((l) => kept.indexOf(l))) : r;
}

const CASES: Case[] = [
  { name: "btd,dk->btk", params: [["a", [2, 5, 4]], ["b", [4, 3]]], expr: 'einsum("btd,dk->btk", a, b)', twin: (p) => ein("btd,dk->btk", p.a, p.b) },
  {
    name: "bhqd,bhkd->bhqk (attention scores)",
    params: [["a", [2, 3, 4, 5]], ["b", [2, 3, 6, 5]]],
    expr: 'einsum("bhqd,bhkd->bhqk", a, b)',
    twin: (p) => ein("bhqd,bhkd->bhqk", p.a, p.b),
  },
  { name: "ij,jk->ki (output permuted)", params: [["a", [3, 4]], ["b", [4, 5]]], expr: 'einsum("ij,jk->ki", a, b)', twin: (p) => ein("ij,jk->ki", p.a, p.b) },
  { name: "ij,ij->i (rowwise dot)", params: [["a", [3, 4]], ["b", [3, 4]]], expr: 'einsum("ij,ij->i", a, b)', twin: (p) => ein("ij,ij->i", p.a, p.b) },
  { name: "i,j->ij (outer product)", params: [["a", [3]], ["b", [4]]], expr: 'einsum("i,j->ij", a, b)', twin: (p) => ein("i,j->ij", p.a, p.b) },
  { name: "bi,bi->bi (elementwise)", params: [["a", [3, 4]], ["b", [3, 4]]], expr: 'einsum("bi,bi->bi", a, b)', twin: (p) => tf.mul(p.a, p.b) },
  { name: "ijk,jkl->il (two contracted axes)", params: [["a", [2, 3, 4]], ["b", [3, 4, 5]]], expr: 'einsum("ijk,jkl->il", a, b)', twin: (p) => tf.matMul(p.a.reshape([2, 12]), p.b.reshape([12, 5])) },
  { name: "abc,dc->adb (free axes on both sides)", params: [["a", [2, 3, 4]], ["b", [5, 4]]], expr: 'einsum("abc,dc->adb", a, b)', twin: (p) => ein("abc,dc->adb", p.a, p.b) },
  { name: "ab,cd->abcd (outer product of matrices)", params: [["a", [2, 3]], ["b", [4, 2]]], expr: 'einsum("ab,cd->abcd", a, b)', twin: (p) => ein("ab,cd->abcd", p.a, p.b) },
  { name: "ij->ji (one operand)", params: [["a", [3, 4]]], expr: 'einsum("ij->ji", a)', twin: (p) => tf.transpose(p.a) },
  { name: "ijk->ki (one operand, summed)", params: [["a", [2, 3, 4]]], expr: 'einsum("ijk->ki", a)', twin: (p) => tf.transpose(tf.sum(p.a, 1)) },
  { name: "ij,jk->", params: [["a", [3, 4]], ["b", [4, 5]]], expr: 'einsum("ij,jk->", a, b)', twin: (p) => tf.sum(tf.matMul(p.a as tf.Tensor2D, p.b as tf.Tensor2D)) },
  {
    name: "bi,ij,jk->bk (three operands)",
    params: [["a", [2, 3]], ["b", [3, 4]], ["c", [4, 5]]],
    expr: 'einsum("bi,ij,jk->bk", a, b, c)',
    twin: (p) => ein("bj,jk->bk", ein("bi,ij->bj", p.a, p.b), p.c),
  },
  {
    name: "i,bij,j->b (three operands, vectors on both sides)",
    params: [["a", [3]], ["b", [2, 3, 4]], ["c", [4]]],
    expr: 'einsum("i,bij,j->b", a, b, c)',
    twin: (p) => tf.sum(tf.mul(tf.mul(p.b, p.a.reshape([1, 3, 1])), p.c.reshape([1, 1, 4])), [1, 2]),
  },
  { name: "...ij,jk->...ik (ellipsis)", params: [["a", [2, 3, 4, 5]], ["b", [5, 6]]], expr: 'einsum("...ij,jk->...ik", a, b)', twin: (p) => npMatmul(p.a, p.b) },
  {
    name: "...d,...d->... (ellipsis, rowwise dot)",
    params: [["a", [2, 3, 4]], ["b", [3, 4]]],
    expr: 'einsum("...d,...d->...", a, b)',
    twin: (p) => tf.sum(tf.mul(p.a, p.b), -1),
  },
  { name: "ii->i (a diagonal)", params: [["a", [3, 3]]], expr: 'einsum("ii->i", a)', twin: (p) => tf.sum(tf.mul(p.a, tf.eye(3)), 1) },
  { name: "ii-> (a trace)", params: [["a", [4, 4]]], expr: 'einsum("ii->", a)', twin: (p) => tf.sum(tf.mul(p.a, tf.eye(4))) },
  { name: "bii->bi (batched diagonals)", params: [["a", [2, 3, 3]]], expr: 'einsum("bii->bi", a)', twin: (p) => tf.sum(tf.mul(p.a, tf.eye(3).reshape([1, 3, 3])), 2) },
  { name: "iij->ji (a diagonal, moved)", params: [["a", [3, 3, 2]]], expr: 'einsum("iij->ji", a)', twin: (p) => tf.transpose(tf.sum(tf.mul(p.a, tf.eye(3).reshape([3, 3, 1])), 1)) },
  {
    name: "iii->i (three repeats)",
    params: [["a", [3, 3, 3]]],
    expr: 'einsum("iii->i", a)',
    twin: (p) => tf.sum(tf.mul(p.a, tf.tensor3d(Array.from({ length: 27 }, (_, k) => +(k % 13 === 0)), [3, 3, 3])), [1, 2]),
  },
  {
    name: "ij,jj->ij (a diagonal times a matrix)",
    params: [["a", [3, 4]], ["b", [4, 4]]],
    expr: 'einsum("ij,jj->ij", a, b)',
    twin: (p) => tf.mul(p.a, tf.sum(tf.mul(p.b, tf.eye(4)), 1).reshape([1, 4])),
  },
  {
    name: "bij,bjk->bik with a batch of 1 broadcast",
    params: [["a", [1, 3, 4]], ["b", [2, 4, 5]]],
    expr: 'einsum("bij,bjk->bik", a, b)',
    twin: (p) => npMatmul(p.a, p.b),
  },
];

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("einsum: gradients against central differences (f64)", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_n, c) => gradientsMatchDifferences(c));
});

describe("einsum against TF.js (value and gradients, f32)", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_n, c) => matchesTfjs(c));
});

describe("einsum in f32 modules: the SIMD and JS kernels agree with the f64 module", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_n, c) => kernelsAgree(c));
});

const ops = (src: string): string[] =>
  frontEnd(src, "t.bp")
    .ir.nodes.filter((n) => !["input", "param", "const"].includes(n.op))
    .map((n) => n.op);

// tf.einsum also lacks '...', diagonals, a scalar output (it leaves "ij,jk->" unsummed) and broadcasting a batch of 1.
const TF_EINSUM = CASES.filter((c) => c.params.length === 2 && !/\.\.\.|->"|broadcast|diagonal/.test(c.expr + c.name));

describe("the TF.js twin against tf.einsum (forward: tf.einsum has no gradient)", () => {
  it.each(TF_EINSUM.map((c) => [c.name, c] as const))("%s", (_n, c) => {
    const spec = /einsum\("([^"]*)"/.exec(c.expr)![1];
    const xs = c.params.map(([, sh], i) => tf.tensor(Float32Array.from({ length: sh.reduce((a, b) => a * b, 1) }, (_, k) => Math.sin(k + i)), sh));
    const want = tf.einsum(spec, ...xs).dataSync();
    const got = ein(spec, ...xs).dataSync();
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5);
  });
});

describe("how einsum lowers", () => {
  const head = "dim B\ndim T = 4\ndim D = 8\ndim K = 3\ninput x: [B, T, D]\nparam W: [D, K]\ninput q: [B, 2, T, D]\ninput k: [B, 2, T, D]\n";
  it("btd,dk->btk is one matmul by the matrix, as x @ W", () => {
    expect(ops(`${head}r = einsum("btd,dk->btk", x, W)\nminimize sum(r)\n`)).toEqual(["matmul", "sum"]);
  });
  it("bhqd,bhkd->bhqk is one batched matmul of q by a transposed view of k", () => {
    expect(ops(`${head}r = einsum("bhqd,bhkd->bhqk", q, k)\nminimize sum(r)\n`)).toEqual(["transpose", "matmul", "sum"]);
  });
  it("contracting a symbolic and a constant axis (dW of x @ W) is one batched product summed over the batch", async () => {
    const src = `${head}input y: [B, T, K]\nr = einsum("btd,btk->dk", x, y)\nminimize sum(r * W)\n`;
    expect(ops(src)).toEqual(["transpose", "matmul", "sum", "mul", "sum"]);
    const { mod, graph } = await compileSource(src, { precision: "f64", inputGrads: ["x", "y"] });
    for (const r of checkGradients(mod as never, graph, { seed: 4, tolerance: 1e-6 })) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-6);
  });
});


describe("einsum's compile errors", () => {
  const head = "dim B\ninput x: [B, 4, 8]\nparam W: [8, 3]\nparam V: [6, 3]\ninput z: [B, B]\ninput y: int[B] in [0, 3)\n";
  it.each([
    ['einsum("btd,dk", x, W)', 'einsum("btd,dk"): the output subscripts are required, as in "ij,jk->ik"'],
    ['einsum("btd->bt->b", x)', "einsum(\"btd->bt->b\"): '->' may appear once"],
    ['einsum("btd,dk->btk", x)', 'einsum("btd,dk->btk"): 2 operand subscripts for 1 operand'],
    ['einsum("bd,dk->bk", x, W)', "einsum(\"bd,dk->bk\"): operand 1 has shape [B, 4, 8] (3 axes) but 'bd' names 2"],
    ['einsum("btd,dk->btk", x, V)', "einsum(\"btd,dk->btk\"): 'd' is 8 in one operand and 6 in operand 2 [6, 3]"],
    ['einsum("ii->i", z)', "einsum(\"ii->i\"): the diagonal over 'i' needs a constant size, got B"],
    ['einsum("btd,dk->btz", x, W)', "einsum(\"btd,dk->btz\"): the output's 'z' is in no operand's subscripts"],
    ['einsum("btd,dk->bb", x, W)', "einsum(\"btd,dk->bb\"): 'b' appears twice in the output"],
    ['einsum("b1d,dk->bk", x, W)', "einsum(\"b1d,dk->bk\"): 'b1d' must be letters, with at most one '...'"],
    ['einsum("...d,dk->k", x, W)', "einsum(\"...d,dk->k\"): the operands' '...' axes must appear in the output: write '...' there too"],
    ["einsum(x, W)", 'einsum\'s first argument must be its subscripts as a string, as in einsum("btd,dk->btk", x, W)'],
    ['einsum("btd->btd")', 'einsum needs its operands after the subscripts, as in einsum("btd->btd", a, b)'],
    ['einsum("b->b", y)', "an int tensor [B] is used where a float is needed"],
    ['einsum("btd->btd", x, axis=1)', "einsum takes no keyword arguments"],
    ["einsun(x)", "unknown function 'einsun'; did you mean 'einsum'?"],
  ])("%s", (expr, message) => {
    const e = errorOf(`${head}r = ${expr}\nminimize sum(r)\n`);
    expect(e.message).toBe(message);
    expect(e.diagnostics[0].span.line).toBe(7);
  });
});
