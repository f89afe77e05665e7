// Reductions: sum, mean, max and min fold the reduced axes of their input,
// which may be a fused elementwise tree computed in the same loop; column
// sums of a matrix (bias gradients) run four columns at a time. logsumexp,
// argmax and first_extreme_mask are scans: one or two passes over the
// reduced axes per result.
import type { Node } from "../../ir/types.js";
import type { Emitter, View } from "../context.js";
import { Temps } from "../names.js";
import { sameShape } from "../../ir/shape.js";
import { addTerms, nest, product, rowMajor, scaled, sizeAtom, sizeStr, ZERO, type Size } from "../nest.js";
import { leafAccesses, scalarCode, tree } from "./elementwise.js";

export function sumToAxes(n: Node): number[] {
  const s = n.inputs[0].shape;
  const target = n.shape;
  const lead = s.length - target.length;
  const axes: number[] = [];
  s.forEach((d, a) => {
    if (a < lead || (target[a - lead] === 1 && d !== 1)) axes.push(a);
  });
  return axes;
}

/**
 * The add that a sum adds into, when it is the sum's only reader and the
 * value it adds to is already there (a loop's gradient accumulator:
 * `db = db + sum_to(dz)`): the sum then adds into that value's buffer (in
 * place when nothing else reads it) and the add needs no loop of its own.
 */
export function addsInto(cx: Emitter, n: Node): { add: Node; to: Node; inPlace: boolean } | null {
  const rs = cx.plan.readers.get(n);
  if (!rs || rs.size !== 1 || cx.plan.pinned.has(n)) return null;
  const [add] = rs;
  if (add.op !== "add" || add.phase !== n.phase || cx.plan.block.get(add) !== cx.plan.block.get(n)) return null;
  if (cx.plan.fused.has(add) || cx.values.has(add) || !sameShape(add.shape, n.shape)) return null;
  const to = add.inputs[0] === n ? add.inputs[1] : add.inputs[0];
  const v = cx.values.get(to);
  if (to === n || v?.kind !== "view" || !sameShape(to.shape, n.shape)) return null;
  // Not in place into a value of an enclosing block: the add runs once per step of the loop between.
  const inPlace =
    cx.plan.readers.get(to)?.size === 1 &&
    !cx.plan.pinned.has(to) &&
    cx.plan.block.get(to) === cx.plan.block.get(n) &&
    cx.isWhole(v) &&
    cx.bufs.get(v.buf)?.owner === to;
  // A result written into its carried buffer is written where the add is, not earlier.
  if (!inPlace && cx.homes.has(add)) return null;
  return { add, to, inPlace };
}

/** sum, mean, max, min over `axes` of the input, which may be a fused elementwise tree. */
export function reduce(cx: Emitter, n: Node, kind: "sum" | "mean" | "max" | "min", axes: number[], out: string[]): void {
  const x = n.inputs[0];
  const fusedInput = cx.plan.fused.has(x);
  const { nodes, leaves } = fusedInput ? tree(cx, x) : { nodes: [] as Node[], leaves: [x] };
  const into = kind === "sum" || kind === "mean" ? addsInto(cx, n) : null;
  cx.comment([...nodes, n, ...(into ? [into.add] : [])], out);
  const iter = cx.sizes(x.shape);
  let dst: View;
  if (into) {
    // The sum is added to `into.to`'s value, in its buffer or in a copy of it that is the add's.
    dst = into.inPlace ? (cx.value(into.to) as View) : cx.out(into.add);
    if (!into.inPlace) cx.copy(dst, cx.value(into.to), out);
    cx.values.set(into.add, dst);
    cx.absorbed.add(into.add);
  } else dst = cx.out(n);
  const store = into ? "+=" : "=";
  const keptAxes = iter.map((_, a) => a).filter((a) => !axes.includes(a));
  const keptStrides = rowMajor(keptAxes.map((a) => iter[a]));
  const outStrides = iter.map((_, a) => (axes.includes(a) ? ZERO : keptStrides[keptAxes.indexOf(a)]));
  const count = product(axes.map((a) => iter[a]));
  const la = leafAccesses(cx, leaves, iter, nodes.filter((k) => cx.plan.kept.has(k)));
  const t = new Temps(cx.names);
  const element = (ix: string[]): { stmts: string[]; expr: string } =>
    nodes.length ? scalarCode(cx, nodes, (l) => la.expr(l, ix), (k) => la.index(k, ix)) : { stmts: [], expr: la.expr(x, ix) };
  const o = cx.ref(dst.buf);

  const leading = axes.length > 0 && keptAxes.length > 0 && Math.max(...axes) < Math.min(...keptAxes);
  if ((kind === "sum" || kind === "mean") && leading && iter.length === 2) {
    // Column sums of a matrix (a bias gradient, batch statistics): four columns at a time,
    // each summed down the rows in a local float64 accumulator. The sums run in the same order
    // as row by row into a scratch row, so the results are the same to the bit, but nothing
    // goes through memory between rows (twice as fast in V8).
    const [R, C] = iter;
    const i = t.fresh("i");
    const j = t.fresh("j");
    const scale = kind === "mean" ? ` / ${sizeAtom(count)}` : "";
    // Accesses with the same base and strides share one row offset.
    const sig = la.accesses.map((a) => `${a.base}|${sizeStr(a.strides[0])}|${sizeStr(a.strides[1])}`);
    const groups = [...new Set(sig)];
    const rowOff = groups.map(() => t.fresh("o"));
    const first = groups.map((g) => la.accesses[sig.indexOf(g)]);
    const columns = (width: number, from: string, to: string, step: boolean): string[] => {
      const accs = [...Array(width).keys()].map((q) => t.fresh(width === 1 ? "acc" : `acc${q}`));
      const rowLines = groups.map((_, g) => `const ${rowOff[g]} = ${addTerms(first[g].base, scaled(i, first[g].strides[0]), scaled(j, first[g].strides[1]))};`);
      const col = (q: number): string[] => {
        const e = element(sig.map((sg) => addTerms(rowOff[groups.indexOf(sg)], scaled(String(q), la.accesses[sig.indexOf(sg)].strides[1]))));
        const add = `${accs[q]} += ${e.expr};`;
        return e.stmts.length ? [`{`, ...e.stmts, add, `}`] : [add];
      };
      return [
        `for (let ${j} = ${from}; ${j} < ${to}; ${j}${step ? ` += ${width}` : "++"}) {`,
        `let ${accs.map((a) => `${a} = 0`).join(", ")};`,
        `for (let ${i} = 0; ${i} < ${sizeStr(R)}; ${i}++) {`,
        ...(groups.length ? rowLines : []),
        ...accs.flatMap((_, q) => col(q)),
        `}`,
        ...accs.map((a, q) => `${o}[${addTerms(scaled(j, outStrides[1]), scaled(String(q), outStrides[1]))}] ${store} ${a}${scale};`),
        `}`,
      ];
    };
    const Cs = sizeStr(C);
    const wide = C.syms.length ? `${Cs} - (${Cs} % 4)` : String(C.k - (C.k % 4));
    if (C.syms.length || C.k >= 4) out.push(...columns(4, "0", wide, true));
    if (C.syms.length || C.k % 4) out.push(...columns(1, wide, Cs, false));
    return;
  }
  if ((kind === "sum" || kind === "mean") && leading) {
    // Reduced axes lead (a bias gradient): walk the input in memory order, accumulating
    // rows (in float64 scratch for an f32 output, rounded once at the end).
    const n = product(dst.shape);
    const accBuf = cx.opts.precision === "f32" || into ? cx.scratch(n) : o;
    out.push(accBuf === o ? `${o}.fill(0);` : `${accBuf}.fill(0, 0, ${sizeStr(n)});`);
    out.push(
      ...nest(t, iter, [{ base: "0", strides: outStrides }, ...la.accesses], (ix) => {
        const e = element(ix.slice(1));
        return [...e.stmts, `${accBuf}[${ix[0]}] += ${e.expr};`];
      }),
    );
    if (kind === "mean" || accBuf !== o) {
      const v = t.fresh("i");
      const scale = kind === "mean" ? ` / ${sizeAtom(count)}` : "";
      out.push(`for (let ${v} = 0; ${v} < ${sizeStr(n)}; ${v}++) ${o}[${v}] ${store} ${accBuf}[${v}]${scale};`);
    }
    return;
  }
  const keep = (s: readonly Size[]): Size[] => keptAxes.map((a) => s[a]);
  const red = (s: readonly Size[]): Size[] => axes.map((a) => s[a]);
  const accName = t.fresh("acc");
  const init = kind === "max" ? "-Infinity" : kind === "min" ? "Infinity" : "0";
  out.push(
    ...nest(t, keep(iter), [{ base: "0", strides: keep(outStrides) }, ...la.accesses.map((a) => ({ base: a.base, strides: keep(a.strides) }))], (ox) => [
      `let ${accName} = ${init};`,
      ...nest(t, red(iter), la.accesses.map((a, i) => ({ base: ox[i + 1], strides: red(a.strides) })), (ix) => {
        const e = element(ix);
        const step =
          kind === "max"
            ? `${accName} = Math.max(${accName}, ${e.expr});`
            : kind === "min"
              ? `${accName} = Math.min(${accName}, ${e.expr});`
              : `${accName} += ${e.expr};`;
        return [...e.stmts, step];
      }),
      `${o}[${ox[0]}] ${store} ${kind === "mean" ? `${accName} / ${sizeAtom(count)}` : accName};`,
    ]),
  );
}

/** logsumexp, argmax and first_extreme_mask: a kept-axes loop around one or two passes over the reduced axes. */
export function scan(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const x = n.inputs[0];
  const axes = n.attrs.axes as number[];
  const iter = cx.sizes(x.shape);
  const xv = cx.value(x);
  const src: View = xv.kind === "view" ? xv : cx.contiguous(xv, iter, "float", "filled", out);
  const dst = cx.out(n);
  const keptAxes = iter.map((_, a) => a).filter((a) => !axes.includes(a));
  const keep = (s: readonly Size[]): Size[] => keptAxes.map((a) => s[a]);
  const red = (s: readonly Size[]): Size[] => axes.map((a) => s[a]);
  const keptStrides = rowMajor(keep(iter));
  // The mask has the input's shape; the others the kept axes'.
  const outStrides =
    n.op === "first_extreme_mask" ? rowMajor(iter) : iter.map((_, a) => (axes.includes(a) ? ZERO : keptStrides[keptAxes.indexOf(a)]));
  const xs = cx.broadcastStrides(src, iter);
  const t = new Temps(cx.names);
  const o = cx.ref(dst.buf);
  const inner = (ox: string[], f: (xi: string, oi: string) => string[]): string[] =>
    nest(t, red(iter), [{ base: ox[0], strides: red(outStrides) }, { base: ox[1], strides: red(xs) }], (ix) => f(cx.read(src, ix[1]), ix[0]));
  const outer = (f: (ox: string[]) => string[]): string[] =>
    nest(t, keep(iter), [{ base: "0", strides: keep(outStrides) }, { base: src.off, strides: keep(xs) }], f);

  if (n.op === "logsumexp") {
    const m = t.fresh("max");
    const s = t.fresh("sum");
    out.push(
      ...outer((ox) => [
        `let ${m} = -Infinity;`,
        ...inner(ox, (v) => [`${m} = Math.max(${m}, ${v});`]),
        `let ${s} = 0;`,
        ...inner(ox, (v) => [`${s} += Math.exp(${v} - ${m});`]),
        `${o}[${ox[0]}] = ${m} === -Infinity ? ${m} : ${m} + Math.log(${s});`,
      ]),
    );
  } else if (n.op === "var") {
    // Two passes (the mean, then the squared deviations): no cancellation when the mean is large.
    const count = sizeAtom(product(red(iter)));
    const [s, m, ss, d] = [t.fresh("sum"), t.fresh("mean"), t.fresh("ss"), t.fresh("d")];
    out.push(
      ...outer((ox) => [
        `let ${s} = 0;`,
        ...inner(ox, (v) => [`${s} += ${v};`]),
        `const ${m} = ${s} / ${count};`,
        `let ${ss} = 0;`,
        ...inner(ox, (v) => [`const ${d} = ${v} - ${m};`, `${ss} += ${d} * ${d};`]),
        `${o}[${ox[0]}] = ${ss} / ${count};`,
      ]),
    );
  } else if (n.op === "argmax") {
    const best = t.fresh("best");
    const arg = t.fresh("arg");
    const r = t.fresh("r");
    out.push(
      ...outer((ox) => [
        `let ${best} = 0;`,
        `let ${arg} = 0;`,
        `let ${r} = 0;`,
        ...inner(ox, (v) => [`if (${r} === 0 || ${v} > ${best}) {`, `${best} = ${v};`, `${arg} = ${r};`, `}`, `${r}++;`]),
        `${o}[${ox[0]}] = ${arg};`,
      ]),
    );
  } else {
    // first_extreme_mask: 1 at the first maximal (minimal) element of each group, 0 elsewhere.
    const cmp = n.attrs.mode === "min" ? "<" : ">";
    const best = t.fresh("best");
    const at = t.fresh("at");
    out.push(
      ...outer((ox) => [
        `let ${best} = 0;`,
        `let ${at} = -1;`,
        ...inner(ox, (v, oi) => [`${o}[${oi}] = 0;`, `if (${at} < 0 || ${v} ${cmp} ${best}) {`, `${best} = ${v};`, `${at} = ${oi};`, `}`]),
        `${o}[${at}] = 1;`,
      ]),
    );
  }
}
