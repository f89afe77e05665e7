// Neural-network ops: softmax and log_softmax over an axis, cross_entropy and
// pick (one element per row, chosen by an int index, checked against its
// range), one_hot, and cross_entropy's fused gradient.
import { normAxis } from "../../ir/shape.js";
import type { Dim, Node } from "../../ir/types.js";
import type { BufInfo, Emitter, View } from "../context.js";
import { str, Temps } from "../names.js";
import { lit } from "../../ir/ops.js";
import { addTerms, constSize, mul, nest, ONE, product, rowMajor, scaled, sizeAtom, sizeStr, ZERO, type Size } from "../nest.js";

export function softmax(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const x = n.inputs[0];
  const shape = cx.sizes(x.shape);
  const src = cx.contiguous(cx.value(x), shape, "float", "logits", out);
  const axis = normAxis(n.attrs.axis as number, shape.length) as number;
  const dst = cx.out(n);
  const outer = product(shape.slice(0, axis));
  const inner = product(shape.slice(axis + 1));
  const f = cx.use(n.op === "softmax" ? "softmax" : "logSoftmax");
  out.push(`${f}(${cx.ref(dst.buf)}, ${cx.ref(src.buf)}, ${src.off}, ${sizeStr(outer)}, ${sizeStr(shape[axis])}, ${sizeStr(inner)});`);
}

/** A [..., C] shape as rows: their count and length. */
function rows(shape: readonly Size[]): [Size, Size] {
  return [product(shape.slice(0, -1)), shape[shape.length - 1]];
}

/** cross_entropy(z, labels) and pick(x, idx) on [..., C]: one element per row, chosen by an int index. */
export function rowPick(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const [x, idx] = n.inputs;
  const shape = cx.sizes(x.shape);
  const [R, C] = rows(shape);
  const src = cx.contiguous(cx.value(x), shape, "float", "rows", out);
  const iv = cx.contiguous(cx.value(idx), cx.sizes(idx.shape), "int", "indices", out);
  const dst = cx.out(n);
  const f = cx.use(n.op === "pick" ? "pick" : "crossEntropy");
  const role = n.op === "pick" ? "indices" : "labels";
  const what = `${n.op} (line ${n.span.line}): ${role} ${cx.display(idx)}`;
  // The log-sum-exp of each row, kept (in float64) for the backward's cross_entropy_grad.
  let lse = "";
  if (n.op === "cross_entropy" && [...cx.plan.lseFrom.values()].includes(n)) {
    const v = cx.alloc(cx.names.claim(`${cx.role(x)}_lse`), [R], "float");
    (cx.bufs.get(v.buf) as BufInfo).wide = true;
    cx.keptLse.set(n, v);
    lse = `, ${cx.ref(v.buf)}`;
  }
  out.push(
    `${f}(${cx.ref(dst.buf)}, ${cx.ref(src.buf)}, ${src.off}, ${cx.ref(iv.buf)}, ${iv.off}, ${sizeStr(R)}, ${sizeStr(C)}, ${str(what)}${lse});`,
  );
}

/**
 * cross_entropy's gradient, one pass over the logits: (exp(z - lse) -
 * one_hot(y)) * g per row, with the log-sum-exp the forward kept (else
 * computed here, in two passes over the row). The forward has checked the
 * labels.
 */
export function crossEntropyGrad(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const [z, y, g] = n.inputs;
  const [B, C] = rows(cx.sizes(z.shape));
  const zv = cx.contiguous(cx.value(z), cx.sizes(z.shape), "float", "rows", out);
  const yv = cx.contiguous(cx.value(y), cx.sizes(y.shape), "int", "indices", out);
  // Rows are walked by one flat index: a gradient of rank 2 or more is read contiguous (a scalar's stays a number).
  const g0 = cx.value(g);
  const gv = g0.kind === "view" && g.shape.length > 1 ? cx.contiguous(g0, cx.sizes(g.shape), "float", "gradient", out) : g0;
  const dst = cx.out(n);
  const t = new Temps(cx.names);
  const [i, j, row, label, shift] = [t.fresh("i"), t.fresh("j"), t.fresh("row"), t.fresh("label"), t.fresh("lse")];
  const zAt = (k: string): string => cx.read(zv, addTerms(zv.off, row, k));
  // Rank 1: its stride (0 where a [1] broadcasts); higher ranks are contiguous, walked flat.
  const at = (v: View, k: string): string => cx.read(v, addTerms(v.off, scaled(k, v.shape.length > 1 ? ONE : cx.broadcastStrides(v, [B])[0])));
  const ce = cx.plan.lseFrom.get(n);
  const kept = ce && cx.keptLse.get(ce);
  const lse: string[] = kept
    ? [`const ${shift} = ${at(kept, i)};`]
    : (() => {
        const [m, sum] = [t.fresh("max"), t.fresh("sum")];
        return [
          `let ${m} = -Infinity;`,
          `for (let ${j} = 0; ${j} < ${sizeStr(C)}; ${j}++) ${m} = Math.max(${m}, ${zAt(j)});`,
          `let ${sum} = 0;`,
          `for (let ${j} = 0; ${j} < ${sizeStr(C)}; ${j}++) ${sum} += Math.exp(${zAt(j)} - ${m});`,
          `const ${shift} = ${m} + Math.log(${sum});`,
        ];
      })();
  const gi = gv.kind === "view" ? at(gv, i) : gv.expr;
  out.push(
    `for (let ${i} = 0; ${i} < ${sizeStr(B)}; ${i}++) {`,
    `const ${row} = ${scaled(i, C)};`,
    ...lse,
    `const ${label} = ${at(yv, i)};`,
    `for (let ${j} = 0; ${j} < ${sizeStr(C)}; ${j}++) {`,
    `${cx.read(dst, `${row} + ${j}`)} = (Math.exp(${zAt(j)} - ${shift}) - +(${j} === ${label})) * ${gi};`,
    `}`,
    `}`,
  );
}

/** One-hot rows of int indices, checked against the number of classes. */
export function oneHot(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const idx = cx.contiguous(cx.value(n.inputs[0]), cx.sizes(n.inputs[0].shape), "int", "indices", out);
  const dst = cx.out(n);
  const count = product(idx.shape);
  out.push(
    `${cx.use("oneHot")}(${cx.ref(dst.buf)}, ${cx.ref(idx.buf)}, ${idx.off}, ${sizeStr(count)}, ${sizeStr(cx.dimSize(n.attrs.n as Dim))}, ${str(`one_hot (line ${n.span.line}): ${cx.display(n.inputs[0])}`)});`,
  );
}

// section 9: ops

/**
 * layer_norm and layer_norm_grad: per group of the normalised axes (any of
 * them, walked through each operand's strides), two passes for the mean and
 * variance, then (the gradient) two for mean(g) and mean(g·y), then one
 * writing the result. A forward layer_norm whose gradient is in the
 * backward keeps each group's mean and 1/std (float64), and the gradient
 * reads them instead of its first two passes.
 */
export function layerNorm(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const axes = n.attrs.axes as number[];
  const eps = lit(n.attrs.eps as number);
  const iter = cx.sizes(n.inputs[0].shape);
  const views = n.inputs.map((i): View => {
    const v = cx.value(i);
    return v.kind === "view" ? v : cx.contiguous(v, iter, "float", "filled", out);
  });
  const dst = cx.out(n);
  const keptAxes = iter.map((_, a) => a).filter((a) => !axes.includes(a));
  const keep = (s: readonly Size[]): Size[] => keptAxes.map((a) => s[a]);
  const red = (s: readonly Size[]): Size[] => axes.map((a) => s[a]);
  const accesses = [
    { base: dst.off, strides: dst.strides },
    ...views.map((v) => ({ base: v.off, strides: cx.broadcastStrides(v, iter) })),
  ];
  // The kept statistics: [groups, 2] (mean, 1/std), one pair per group.
  const from = n.op === "layer_norm_grad" ? cx.plan.statsFrom.get(n) : undefined;
  let stored = from && cx.keptStats.get(from);
  if (n.op === "layer_norm" && [...cx.plan.statsFrom.values()].includes(n)) {
    stored = cx.alloc(cx.names.claim(`${cx.role(n.inputs[0])}_stats`), [mul(product(keep(iter)), constSize(2))], "float");
    (cx.bufs.get(stored.buf) as BufInfo).wide = true;
    cx.keptStats.set(n, stored);
  }
  if (stored) {
    const groupStrides = rowMajor(keep(iter)).map((st) => mul(st, constSize(2)));
    accesses.push({ base: stored.off, strides: iter.map((_, a) => (axes.includes(a) ? ZERO : groupStrides[keptAxes.indexOf(a)])) });
  }
  const statsAt = accesses.length - 1;
  const t = new Temps(cx.names);
  const count = sizeAtom(product(red(iter)));
  const inner = (ox: string[], f: (ix: string[]) => string[]): string[] =>
    nest(t, red(iter), accesses.map((a, k) => ({ base: ox[k], strides: red(a.strides) })), f);
  const [xv, gv] = views;
  const xAt = (ix: string[]): string => cx.read(xv, ix[1]);
  const [s, m, ss, d, r] = [t.fresh("sum"), t.fresh("mean"), t.fresh("ss"), t.fresh("d"), t.fresh("rstd")];
  const stats = (ox: string[]): string[] => {
    if (!stored) return compute(ox);
    const at = (k: string): string => cx.read(stored as View, addTerms(ox[statsAt], k));
    if (n.op === "layer_norm") return [...compute(ox), `${at("0")} = ${m};`, `${at("1")} = ${r};`];
    return [`const ${m} = ${at("0")};`, `const ${r} = ${at("1")};`];
  };
  const compute = (ox: string[]): string[] => [
    `let ${s} = 0;`,
    ...inner(ox, (ix) => [`${s} += ${xAt(ix)};`]),
    `const ${m} = ${s} / ${count};`,
    `let ${ss} = 0;`,
    ...inner(ox, (ix) => [`const ${d} = ${xAt(ix)} - ${m};`, `${ss} += ${d} * ${d};`]),
    `const ${r} = 1 / Math.sqrt(${ss} / ${count} + ${eps});`,
  ];
  const group = (ox: string[]): string[] => {
    if (n.op === "layer_norm") return [...stats(ox), ...inner(ox, (ix) => [`${cx.read(dst, ix[0])} = (${xAt(ix)} - ${m}) * ${r};`])];
    const gAt = (ix: string[]): string => cx.read(gv, ix[2]);
    const [sg, sgy, mg, mgy] = [t.fresh("sg"), t.fresh("sgy"), t.fresh("mg"), t.fresh("mgy")];
    return [
      ...stats(ox),
      `let ${sg} = 0;`,
      `let ${sgy} = 0;`,
      ...inner(ox, (ix) => [`${sg} += ${gAt(ix)};`, `${sgy} += ${gAt(ix)} * (${xAt(ix)} - ${m});`]),
      `const ${mg} = ${sg} / ${count};`,
      `const ${mgy} = (${sgy} / ${count}) * ${r};`,
      ...inner(ox, (ix) => [`${cx.read(dst, ix[0])} = ${r} * (${gAt(ix)} - ${mg} - (${xAt(ix)} - ${m}) * ${r} * ${mgy});`]),
    ];
  };
  out.push(...nest(t, keep(iter), accesses.map((a) => ({ base: a.base, strides: keep(a.strides) })), group));
}

/** cross_entropy with float targets: per row of [..., C], lse(z) · sum(t) - sum(t · z), stable. */
export function softCrossEntropy(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const [z, tg] = n.inputs;
  const shape = cx.sizes(z.shape);
  const [R, C] = rows(shape);
  const zv = cx.contiguous(cx.value(z), shape, "float", "logits", out);
  const tv = cx.contiguous(cx.value(tg), shape, "float", "targets", out);
  const dst = cx.out(n);
  const t = new Temps(cx.names);
  const [i, j, row, m, s, lse, acc] = [t.fresh("i"), t.fresh("j"), t.fresh("row"), t.fresh("max"), t.fresh("sum"), t.fresh("lse"), t.fresh("acc")];
  const zAt = cx.read(zv, addTerms(zv.off, row, j));
  const tAt = cx.read(tv, addTerms(tv.off, row, j));
  out.push(
    `for (let ${i} = 0; ${i} < ${sizeStr(R)}; ${i}++) {`,
    `const ${row} = ${scaled(i, C)};`,
    `let ${m} = -Infinity;`,
    `for (let ${j} = 0; ${j} < ${sizeStr(C)}; ${j}++) ${m} = Math.max(${m}, ${zAt});`,
    `let ${s} = 0;`,
    `for (let ${j} = 0; ${j} < ${sizeStr(C)}; ${j}++) ${s} += Math.exp(${zAt} - ${m});`,
    `const ${lse} = ${m} + Math.log(${s});`,
    `let ${acc} = 0;`,
    `for (let ${j} = 0; ${j} < ${sizeStr(C)}; ${j}++) ${acc} += ${tAt} * (${lse} - ${zAt});`,
    `${cx.read(dst, addTerms(dst.off, i))} = ${acc};`,
    `}`,
  );
}

/** arange(n) (int) and eye(n): filled on every call (a few writes per element). */
export function construct(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const dst = cx.out(n);
  const k = sizeStr(cx.dimSize(n.attrs.n as Dim));
  const t = new Temps(cx.names);
  const [i, j] = [t.fresh("i"), t.fresh("j")];
  if (n.op === "arange") {
    out.push(`for (let ${i} = 0; ${i} < ${k}; ${i}++) ${cx.read(dst, addTerms(dst.off, scaled(i, dst.strides[0])))} = ${i};`);
    return;
  }
  out.push(
    `for (let ${i} = 0; ${i} < ${k}; ${i}++) {`,
    `for (let ${j} = 0; ${j} < ${k}; ${j}++) ${cx.read(dst, addTerms(dst.off, scaled(i, dst.strides[0]), scaled(j, dst.strides[1])))} = +(${i} === ${j});`,
    `}`,
  );
}

/** tril(x, k) and triu(x, k): x on one side of the k-th diagonal of the last two axes, 0 on the other. */
export function triangle(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const iter = cx.sizes(n.shape);
  const xv = cx.value(n.inputs[0]);
  const dst = cx.out(n);
  const t = new Temps(cx.names);
  const [i, j] = [t.fresh("i"), t.fresh("j")];
  const k = n.attrs.k as number;
  const kept = n.op === "tril" ? `${j} - ${i} <= ${k}` : `${j} - ${i} >= ${k}`;
  const accesses = [{ base: dst.off, strides: dst.strides }, ...(xv.kind === "view" ? [{ base: xv.off, strides: cx.broadcastStrides(xv, iter) }] : [])];
  const r = iter.length - 2;
  const at = (a: { strides: readonly Size[] }, off: string): string => addTerms(off, scaled(i, a.strides[r]), scaled(j, a.strides[r + 1]));
  out.push(
    ...nest(t, iter.slice(0, r), accesses.map((a) => ({ base: a.base, strides: a.strides.slice(0, r) })), (ox) => [
      `for (let ${i} = 0; ${i} < ${sizeStr(iter[r])}; ${i}++) {`,
      `for (let ${j} = 0; ${j} < ${sizeStr(iter[r + 1])}; ${j}++) {`,
      `${cx.read(dst, at(accesses[0], ox[0]))} = ${kept} ? ${xv.kind === "view" ? cx.read(xv, at(accesses[1], ox[1])) : xv.expr} : 0;`,
      `}`,
      `}`,
    ]),
  );
}
