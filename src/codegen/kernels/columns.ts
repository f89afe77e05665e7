// Column passes: the column sums of one matrix shape (sum or mean over the
// rows of an [R, C] tree, as batch statistics and bias gradients are) that
// can run together share one walk of the rows, and an elementwise node such
// a sum reads is computed in that walk instead of a pass of its own. Batch
// norm's backward sums dy and dy * xhat over the batch in one pass; its
// forward computes z - mu while it sums the squares. Each sum still runs in
// row order in its own float64 accumulator, and a reduction reads the
// elementwise value back as stored, so results are the same to the bit as
// separate loops. A sum runs earlier than its place in the block only when
// every value it reads exists already (nothing is delayed).
import { OPS } from "../../ir/ops.js";
import type { Node } from "../../ir/types.js";
import type { Emitter, View } from "../context.js";
import { Temps } from "../names.js";
import { addTerms, scaled, sizeAtom, sizeEq, sizeStr, type Access, type Size } from "../nest.js";
import { isElementwise } from "../plan.js";
import { leafAccesses, scalarCode, tree } from "./elementwise.js";
import { addsInto, sumToAxes } from "./reduce.js";

/** A column sum or mean: its kind and the [R, C] it walks, or null. */
function columnSum(cx: Emitter, n: Node): { kind: "sum" | "mean"; iter: Size[] } | null {
  const fact = OPS[n.op].codegen;
  if (!fact || !("fold" in fact) || (fact.fold !== "sum" && fact.fold !== "mean")) return null;
  if (!cx.plan.live.has(n) || cx.plan.fused.has(n) || cx.absorbed.has(n) || cx.values.has(n)) return null;
  const x = n.inputs[0];
  if (x.shape.length !== 2 || x.dtype !== "float") return null;
  const axes = n.op === "sum_to" ? sumToAxes(n) : (n.attrs.axes as number[]);
  if (axes.length !== 1 || axes[0] !== 0) return null;
  if (addsInto(cx, n) !== null || cx.homes.has(n)) return null;
  return { kind: fact.fold, iter: cx.sizes(x.shape) };
}

/** An elementwise node with a buffer of its own, walked row-major over [R, C]. */
function producer(cx: Emitter, n: Node): Size[] | null {
  if (!isElementwise(n) || n.dtype !== "float" || n.shape.length !== 2) return null;
  if (!cx.plan.live.has(n) || cx.plan.fused.has(n) || cx.homes.has(n) || cx.resultOf.has(n)) return null;
  const { nodes, leaves } = tree(cx, n);
  if (nodes.length === 1 && OPS[n.op].codegen !== undefined) return null;
  if (leaves.every((l) => cx.value(l).kind === "lit")) return null;
  return cx.sizes(n.shape);
}

const sameIter = (a: Size[], b: Size[]): boolean => a.length === b.length && a.every((d, i) => sizeEq(d, b[i]));

/** The values a column sum reads (the leaves of its fused tree). */
function leavesOf(cx: Emitter, r: Node): Node[] {
  const x = r.inputs[0];
  return cx.plan.fused.has(x) ? tree(cx, x).leaves : [x];
}

/**
 * Emits `n` together with the later column sums of its block that can join
 * it, when there are any: returns false (nothing emitted) otherwise.
 */
export function columnPass(cx: Emitter, n: Node, later: readonly Node[], out: string[]): boolean {
  const asSum = columnSum(cx, n);
  const iter = asSum ? asSum.iter : producer(cx, n);
  if (!iter) return false;
  const prod = asSum ? null : n;
  const ready = (r: Node): boolean => leavesOf(cx, r).every((l) => l === prod || cx.values.has(l));
  const sums = [
    ...(asSum ? [n] : []),
    ...later.filter((r) => cx.plan.block.get(r) === cx.plan.block.get(n) && r.phase === n.phase),
  ].filter((r) => {
    const c = columnSum(cx, r);
    return c !== null && sameIter(c.iter, iter) && ready(r);
  });
  if (prod ? !sums.some((r) => leavesOf(cx, r).includes(prod)) : sums.length < 2) return false;
  emitPass(cx, prod, sums, iter, out);
  for (const r of sums) if (r !== n) cx.absorbed.add(r);
  return true;
}

interface Part {
  nodes: Node[];
  la: ReturnType<typeof leafAccesses>;
  /** Index of this part's first access in the pass's list. */
  at: number;
}

function emitPass(cx: Emitter, prod: Node | null, sums: Node[], iter: Size[], out: string[]): void {
  const [R, C] = iter;
  const t = new Temps(cx.names);
  const accesses: Access[] = [];
  const part = (root: Node | null, leaves: Node[], nodes: Node[]): Part => {
    const at = accesses.length;
    const la = leafAccesses(
      cx,
      leaves,
      iter,
      nodes.filter((k) => k !== root && cx.plan.kept.has(k)),
    );
    accesses.push(...la.accesses);
    return { nodes, la, at };
  };
  const all: Node[] = [];
  // The producer first: its buffer, then its tree's leaves.
  let prodPart: Part | null = null;
  let prodDst: View | null = null;
  if (prod) {
    const { nodes, leaves } = tree(cx, prod);
    all.push(...nodes);
    prodDst = cx.out(prod);
    accesses.push({ base: prodDst.off, strides: prodDst.strides });
    prodPart = part(prod, leaves, nodes);
  }
  const sumParts = sums.map((r) => {
    const x = r.inputs[0];
    const fusedInput = cx.plan.fused.has(x);
    const { nodes, leaves } = fusedInput ? tree(cx, x) : { nodes: [] as Node[], leaves: [x] };
    all.push(...nodes, r);
    const p = part(null, leaves, nodes);
    return { r, p, x, dst: cx.out(r), kind: (OPS[r.op].codegen as { fold: "sum" | "mean" }).fold };
  });
  cx.comment(all, out);

  const i = t.fresh("i");
  const j = t.fresh("j");
  // Accesses with the same base and strides share one row offset.
  const sig = accesses.map((a) => `${a.base}|${sizeStr(a.strides[0])}|${sizeStr(a.strides[1])}`);
  const groups = [...new Set(sig)];
  const rowOff = groups.map(() => "");
  const offName = groups.map(() => t.fresh("o"));
  const first = groups.map((g) => accesses[sig.indexOf(g)]);
  const count = R;

  const columns = (width: number, from: string, to: string, step: boolean): string[] => {
    const accs = sumParts.map((_, m) =>
      [...Array(width).keys()].map((q) => t.fresh(width === 1 ? `acc${m || ""}` : m ? `acc${m}_${q}` : `acc${q}`)),
    );
    const ix = (q: number, p: Part, k: number): string => {
      const a = p.at + k;
      return addTerms(rowOff[groups.indexOf(sig[a])], scaled(String(q), accesses[a].strides[1]));
    };
    const col = (q: number): string[] => {
      const lines: string[] = [];
      if (prod && prodPart && prodDst) {
        const p = prodPart;
        const idx = p.la.accesses.map((_, k) => ix(q, p, k));
        const e = scalarCode(
          cx,
          p.nodes,
          (l) => p.la.expr(l, idx),
          (k) => p.la.index(k, idx),
        );
        lines.push(
          ...e.stmts,
          `${cx.read(prodDst, addTerms(rowOff[groups.indexOf(sig[0])], scaled(String(q), prodDst.strides[1])))} = ${e.expr};`,
        );
      }
      sumParts.forEach(({ p, x }, m) => {
        const idx = p.la.accesses.map((_, k) => ix(q, p, k));
        const e = p.nodes.length
          ? scalarCode(
              cx,
              p.nodes,
              (l) => p.la.expr(l, idx),
              (k) => p.la.index(k, idx),
            )
          : { stmts: [], expr: p.la.expr(x, idx) };
        lines.push(...e.stmts, `${accs[m][q]} += ${e.expr};`);
      });
      return lines.some((l) => /^(const|let) /.test(l)) ? ["{", ...lines, "}"] : lines;
    };
    // An offset that is a bare name (a row of a broadcast operand: `j`) needs no local.
    const rowLines: string[] = [];
    groups.forEach((_, g) => {
      const e = addTerms(first[g].base, scaled(i, first[g].strides[0]), scaled(j, first[g].strides[1]));
      if (/^[A-Za-z0-9_$]+$/.test(e)) rowOff[g] = e;
      else {
        rowOff[g] = offName[g];
        rowLines.push(`const ${rowOff[g]} = ${e};`);
      }
    });
    return [
      `for (let ${j} = ${from}; ${j} < ${to}; ${j}${step ? ` += ${width}` : "++"}) {`,
      `let ${accs
        .flat()
        .map((a) => `${a} = 0`)
        .join(", ")};`,
      `for (let ${i} = 0; ${i} < ${sizeStr(R)}; ${i}++) {`,
      ...rowLines,
      ...[...Array(width).keys()].flatMap(col),
      `}`,
      ...sumParts.flatMap(({ dst, kind }, m) => {
        // The result ([C] or [1, C]) is contiguous: column j + q is element j + q.
        const o = cx.ref(dst.buf);
        return accs[m].map(
          (a, q) =>
            `${o}[${addTerms(dst.off, j, q ? String(q) : "0")}] = ${a}${kind === "mean" ? ` / ${sizeAtom(count)}` : ""};`,
        );
      }),
      `}`,
    ];
  };
  const Cs = sizeStr(C);
  const wide = C.syms.length ? `${Cs} - (${Cs} % 4)` : String(C.k - (C.k % 4));
  if (C.syms.length || C.k >= 4) out.push(...columns(4, "0", wide, true));
  if (C.syms.length || C.k % 4) out.push(...columns(1, wide, Cs, false));
}
