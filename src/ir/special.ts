// Special functions in float64: erf, erfc and the standard normal CDF Φ
// (the exact gelu's). Math has none of them. The float64 reference of the
// op table and the functions of f64 modules (codegen/kernels/special.ts, the
// same code as text) use these; relative error below 1e-15 for erf and
// 3e-14 for erfc (checked against CPython's libm in tests/ops/section9-ops).
// f32 modules use a faster formula accurate to float32 (also there).

/** Module functions an elementwise formula may call (their sources: codegen/kernels/special.ts). */
export type SpecialFn = "erf" | "erfc" | "ncdf";

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const SQRT_PI = 1.7724538509055159;

/** exp(-x²) with x² split so that its rounding error does not reach the exponent (erfc(25) keeps 15 digits). */
function expNegSquare(x: number): number {
  const s = Math.round(x * 4096) / 4096;
  return Math.exp(-s * s) * Math.exp(-(x - s) * (x + s));
}

/** erf for |x| < 1.5: (2/√π) x e^{-x²} Σ (2x²)^n / (2n+1)!!, a series of positive terms (no cancellation). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = 1;
  let sum = 1;
  for (let n = 1; n < 100 && term >= 1e-17 * sum; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
  }
  return TWO_OVER_SQRT_PI * x * expNegSquare(x) * sum;
}

/** erfc for x >= 1.5: e^{-x²}/√π / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), by Lentz's method (at most ~90 terms). */
function erfcFraction(x: number): number {
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    d = 1 / (x + (k / 2) * d);
    c = x + k / 2 / c;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return expNegSquare(x) / SQRT_PI / f;
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a < 1.5) return erfSeries(x);
  const r = 1 - erfcFraction(a);
  return x < 0 ? -r : r;
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 1.5) return erfcFraction(x);
  if (x <= -1.5) return 2 - erfcFraction(-x);
  return 1 - erfSeries(x);
}

/** Φ(x), the standard normal CDF: erfc(-x/√2)/2, accurate in its lower tail. */
export function ncdf(x: number): number {
  return 0.5 * erfc(-x * Math.SQRT1_2);
}

/** φ(x), the standard normal density. */
export function npdf(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}
