// The abstract values the op table's linter rules compute with: intervals
// (what values a tensor's elements can take) and moments (the mean and
// variance of one element, assuming operands independent). Each op's entry
// maps its inputs' intervals and moments to its output's; src/lint
// runs those maps over a graph.

export interface Interval {
  lo: number;
  hi: number;
  loOpen: boolean;
  hiOpen: boolean;
}

export const REAL: Interval = { lo: -Infinity, hi: Infinity, loOpen: true, hiOpen: true };

export const iv = (lo: number, hi: number, loOpen = false, hiOpen = false): Interval => ({
  lo,
  hi,
  loOpen: loOpen || lo === -Infinity,
  hiOpen: hiOpen || hi === Infinity,
});

export const point = (v: number): Interval => iv(v, v);

/** Whether the interval contains 0 (as a value actually reached). */
export function reachesZero(i: Interval): boolean {
  if (i.lo > 0 || i.hi < 0) return false;
  if (i.lo === 0 && i.loOpen) return false;
  if (i.hi === 0 && i.hiOpen) return false;
  return true;
}

export function sameInterval(a: Interval, b: Interval): boolean {
  return a.lo === b.lo && a.hi === b.hi && a.loOpen === b.loOpen && a.hiOpen === b.hiOpen;
}

export function hull(a: Interval, b: Interval): Interval {
  const lo = Math.min(a.lo, b.lo);
  const hi = Math.max(a.hi, b.hi);
  return {
    lo,
    hi,
    loOpen: (a.lo !== lo || a.loOpen) && (b.lo !== lo || b.loOpen),
    hiOpen: (a.hi !== hi || a.hiOpen) && (b.hi !== hi || b.hiOpen),
  };
}

export function addI(a: Interval, b: Interval): Interval {
  return iv(a.lo + b.lo, a.hi + b.hi, a.loOpen || b.loOpen, a.hiOpen || b.hiOpen);
}

export function negI(a: Interval): Interval {
  return { lo: -a.hi, hi: -a.lo, loOpen: a.hiOpen, hiOpen: a.loOpen };
}

export function mulI(a: Interval, b: Interval): Interval {
  const corners: { v: number; open: boolean }[] = [];
  const prod = (x: number, y: number): number => (x === 0 || y === 0 ? 0 : x * y);
  for (const [x, xo] of [
    [a.lo, a.loOpen],
    [a.hi, a.hiOpen],
  ] as const)
    for (const [y, yo] of [
      [b.lo, b.loOpen],
      [b.hi, b.hiOpen],
    ] as const) {
      const attained = (!xo && !yo) || (!xo && x === 0) || (!yo && y === 0);
      corners.push({ v: prod(x, y), open: !attained });
    }
  const lo = Math.min(...corners.map((c) => c.v));
  const hi = Math.max(...corners.map((c) => c.v));
  return iv(lo, hi, corners.every((c) => c.v !== lo || c.open), corners.every((c) => c.v !== hi || c.open));
}

/** A sum of n terms each in `a`, for n in [nlo, nhi]. */
export function scaleI(a: Interval, nlo: number, nhi: number): Interval {
  const lo = a.lo >= 0 ? a.lo * nlo : a.lo * nhi;
  const hi = a.hi <= 0 ? a.hi * nlo : a.hi * nhi;
  return iv(Number.isNaN(lo) ? -Infinity : lo, Number.isNaN(hi) ? Infinity : hi, a.loOpen, a.hiOpen);
}

/** A monotone increasing function applied to an interval. */
export function monotoneI(a: Interval, f: (x: number) => number): Interval {
  return iv(f(a.lo), f(a.hi), a.loOpen, a.hiOpen);
}

export function absI(p: Interval): Interval {
  if (p.lo >= 0) return p;
  if (p.hi <= 0) return negI(p);
  const hi = Math.max(-p.lo, p.hi);
  return iv(0, hi, false, (-p.lo !== hi || p.loOpen) && (p.hi !== hi || p.hiOpen));
}

export function squareI(p: Interval): Interval {
  const m = absI(p);
  return iv(m.lo * m.lo, m.hi * m.hi, m.loOpen, m.hiOpen);
}

/** The largest magnitude in an interval. */
export const supAbs = (i: Interval): number => Math.max(Math.abs(i.lo), Math.abs(i.hi));

// ---- moments --------------------------------------------------------------------

export interface Moments {
  mean: number;
  var: number;
}

/** E[f(z)] and Var[f(z)] for z ~ N(m, v), by quadrature over ±8 standard deviations; null when f is not finite there. */
export function gaussianMap(f: (z: number) => number, m: Moments): Moments | null {
  const s = Math.sqrt(m.var);
  if (s === 0) {
    const v = f(m.mean);
    return Number.isFinite(v) ? { mean: v, var: 0 } : null;
  }
  let w = 0;
  let e1 = 0;
  let e2 = 0;
  const N = 400;
  for (let i = 0; i <= N; i++) {
    const t = -8 + (16 * i) / N;
    const wt = Math.exp(-0.5 * t * t) * (i === 0 || i === N ? 0.5 : 1);
    const y = f(m.mean + s * t);
    if (!Number.isFinite(y)) return null;
    w += wt;
    e1 += wt * y;
    e2 += wt * y * y;
  }
  e1 /= w;
  e2 /= w;
  return { mean: e1, var: Math.max(0, e2 - e1 * e1) };
}

/** z = Σ_k x_k w_k over K independent terms. */
export function matmulMoments(x: Moments, w: Moments, K: number): Moments {
  return {
    mean: K * x.mean * w.mean,
    var: K * (x.var * w.var + x.var * w.mean ** 2 + x.mean ** 2 * w.var),
  };
}
