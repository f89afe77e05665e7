// Shape arithmetic shared by the op table and the checker: broadcasting,
// axis normalisation and symbolic sizes. A dim is a number or a canonical dim
// expression (src/ir/dimexpr.ts); two dims match when they are the same number
// or the same string.
import { productDim } from "./dimexpr.js";
import type { Dim, Shape } from "./types.js";

export function showShape(s: Shape): string {
  return `[${s.join(", ")}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** NumPy broadcasting; returns null when the shapes are incompatible. */
export function broadcastShapes(shapes: readonly Shape[]): Dim[] | null {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const e = s[s.length - rank + k];
      if (e === undefined || e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) return null;
    }
    out.push(d);
  }
  return out;
}

/** Normalises a possibly negative axis; null when out of range. */
export function normAxis(axis: number, rank: number): number | null {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : null;
}

/** The number of elements, as a Dim: `[B*T, 64]` and `[B, T, 64]` both give `64*B*T`. */
export function sizeOf(s: Shape): Dim {
  return productDim(s);
}

export function sameSize(a: Shape, b: Shape): boolean {
  return sizeOf(a) === sizeOf(b);
}

/** Number of elements when every dim is constant, else null. */
export function constSize(s: Shape): number | null {
  let n = 1;
  for (const d of s) {
    if (typeof d !== "number") return null;
    n *= d;
  }
  return n;
}

/** Shape after reducing `axes`, keeping them as size 1 when `keepdims`. */
export function reducedShape(s: Shape, axes: readonly number[], keepdims: boolean): Dim[] {
  const out: Dim[] = [];
  s.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}
