// Sizes and loop nests. A Size is a product of a constant and symbolic dims
// (as JS local names), so strides can be compared and printed. `nest` writes
// the loops that walk an iteration shape while several arrays are read or
// written with their own strides (0 on broadcast axes): the one loop
// generator behind elementwise kernels, reductions and layout copies.
import type { Temps } from "./names.js";

export interface Size {
  readonly k: number;
  /** Symbolic factors (JS names), sorted. */
  readonly syms: readonly string[];
}

export const ZERO: Size = { k: 0, syms: [] };
export const ONE: Size = { k: 1, syms: [] };

export function constSize(k: number): Size {
  return { k, syms: [] };
}

export function symSize(name: string): Size {
  return { k: 1, syms: [name] };
}

export function mul(a: Size, b: Size): Size {
  if (a.k === 0 || b.k === 0) return ZERO;
  return { k: a.k * b.k, syms: [...a.syms, ...b.syms].sort() };
}

export function product(sizes: readonly Size[]): Size {
  return sizes.reduce(mul, ONE);
}

export function sizeEq(a: Size, b: Size): boolean {
  if (a.k === 0 || b.k === 0) return a.k === b.k;
  return a.k === b.k && a.syms.length === b.syms.length && a.syms.every((s, i) => s === b.syms[i]);
}

export function isZero(a: Size): boolean {
  return a.k === 0;
}

export function isOne(a: Size): boolean {
  return a.k === 1 && a.syms.length === 0;
}

/** `B * 128`, `784`, `T * B`. */
export function sizeStr(a: Size): string {
  if (a.k === 0) return "0";
  if (a.syms.length === 0) return String(a.k);
  return a.k === 1 ? a.syms.join(" * ") : `${a.syms.join(" * ")} * ${a.k}`;
}

/** As an operand of `*` or a unary minus: parenthesised when compound. */
export function sizeAtom(a: Size): string {
  const s = sizeStr(a);
  return /^[A-Za-z0-9_$]+$/.test(s) ? s : `(${s})`;
}

/** Row-major strides of a shape. */
export function rowMajor(shape: readonly Size[]): Size[] {
  const out: Size[] = new Array<Size>(shape.length);
  let s = ONE;
  for (let a = shape.length - 1; a >= 0; a--) {
    out[a] = s;
    s = mul(s, shape[a]);
  }
  return out;
}

/** `a + b`, dropping zeros. Offsets are sums of products, so no parentheses are needed. */
export function addTerms(...terms: string[]): string {
  const t = terms.filter((x) => x !== "0" && x !== "");
  return t.length ? t.join(" + ") : "0";
}

/** `i * stride`, simplified. */
export function scaled(index: string, stride: Size): string {
  if (isZero(stride) || index === "0") return "0";
  if (isOne(stride)) return index;
  if (index === "1") return sizeStr(stride);
  if (/^[0-9]+$/.test(index) && stride.syms.length === 0) return String(Number(index) * stride.k);
  return `${index} * ${sizeStr(stride)}`;
}

/** One array walked by a nest: its base offset and its stride on each axis of the iteration shape. */
export interface Access {
  readonly base: string;
  readonly strides: readonly Size[];
}

export interface NestOptions {
  /**
   * Elementwise loops: unroll the innermost loop by 4 when its trip count is a
   * multiple of 4, and walk each access that is contiguous over the whole nest
   * with a running counter instead of `row + j` (V8 then runs a [128, 128]
   * loop about 2.4 times as fast). `body` must be callable once per copy.
   */
  fast?: boolean;
}

/**
 * Emits loops over `dims` (outermost first). `body` receives the index
 * expression of each access and returns the innermost statements. Adjacent
 * axes that every access walks contiguously are merged into one loop, axes of
 * size 1 are dropped, and offsets are hoisted out of inner loops.
 */
export function nest(
  t: Temps,
  dims: readonly Size[],
  accesses: readonly Access[],
  body: (index: string[]) => string[],
  opts: NestOptions = {},
): string[] {
  // Drop size-1 axes, then merge axis a into a+1 where every access is contiguous across them.
  let axes = dims
    .map((d, a) => ({ dim: d, strides: accesses.map((x) => x.strides[a]) }))
    .filter((ax) => !isOne(ax.dim));
  const merged: typeof axes = [];
  for (let a = axes.length - 1; a >= 0; a--) {
    const cur = axes[a];
    const inner = merged[0];
    if (inner && cur.strides.every((s, i) => sizeEq(s, mul(inner.strides[i], inner.dim)))) {
      merged[0] = { dim: mul(cur.dim, inner.dim), strides: inner.strides };
    } else merged.unshift(cur);
  }
  axes = merged;

  // Accesses with the same base and strides share their offset variables.
  const sig = accesses.map((x, i) => `${x.base}|${axes.map((ax) => sizeStr(ax.strides[i])).join(",")}`);
  const groups = [...new Set(sig)];
  const groupOf = sig.map((s) => groups.indexOf(s));
  const firstOf = groups.map((g) => sig.indexOf(g));

  const fast = opts.fast === true && axes.length > 0;
  // Groups walked in memory order over a nest of two or more loops: a running counter each.
  const rm = rowMajor(axes.map((ax) => ax.dim));
  const counter = groups.map((_, g) =>
    fast && axes.length > 1 && axes.every((ax, l) => sizeEq(ax.strides[firstOf[g]], rm[l])) ? t.fresh("k") : null,
  );
  const innerDim = axes.length ? axes[axes.length - 1].dim : ONE;
  const unroll = fast && innerDim.k % 4 === 0 && (innerDim.syms.length > 0 || innerDim.k >= 8) ? 4 : 1;

  const emit = (level: number, offsets: string[]): string[] => {
    if (level === axes.length) {
      const lines = body(groupOf.map((g) => offsets[g]));
      // Without a loop around them, declarations would leak into the enclosing scope.
      return level === 0 && lines.some((l) => /^(const|let) /.test(l)) ? ["{", ...lines, "}"] : lines;
    }
    const ax = axes[level];
    const v = t.fresh("i");
    const last = level === axes.length - 1;
    if (last && fast) {
      // Each copy q reads element v + q; counters advance with v.
      const at = (q: number): string[] =>
        offsets.map((off, g) => {
          const c = counter[g];
          if (c) return addTerms(c, String(q));
          const s = ax.strides[firstOf[g]];
          return addTerms(off, scaled(v, s), scaled(String(q), s));
        });
      const copies = [...Array(unroll).keys()].map((q) => body(groupOf.map((g) => at(q)[g])));
      const scoped = unroll > 1 && copies.some((ls) => ls.some((l) => /^(const|let) /.test(l)));
      const step = unroll === 1 ? "++" : ` += ${unroll}`;
      const bumps = counter.filter((c): c is string => c !== null).map((c) => `, ${c}${step}`);
      return [
        `for (let ${v} = 0; ${v} < ${sizeStr(ax.dim)}; ${v}${step}${bumps.join("")}) {`,
        ...copies.flatMap((ls) => (scoped ? ["{", ...ls, "}"] : ls)),
        `}`,
      ];
    }
    const pre: string[] = [];
    const next = offsets.map((off, g) => {
      if (counter[g]) return off;
      const e = addTerms(off, scaled(v, ax.strides[firstOf[g]]));
      if (last || e === off || /^[A-Za-z0-9_$]+$/.test(e)) return e;
      const o = t.fresh("o");
      pre.push(`const ${o} = ${e};`);
      return o;
    });
    return [`for (let ${v} = 0; ${v} < ${sizeStr(ax.dim)}; ${v}++) {`, ...pre, ...emit(level + 1, next), `}`];
  };
  const starts = counter.flatMap((c, g) => (c ? [`let ${c} = ${accesses[firstOf[g]].base};`] : []));
  const loops = emit(
    0,
    groups.map((_, g) => accesses[firstOf[g]].base),
  );
  return starts.length ? ["{", ...starts, ...loops, "}"] : loops;
}
