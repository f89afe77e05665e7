// The special functions elementwise formulas call (erf, erfc, Φ), emitted
// into a module that uses them. f64 modules carry src/ir/special.ts's code
// (the op table's float64 reference, to the bit); f32 modules faster
// formulas accurate to float32: a rational erf without an exp (absolute
// error < 7e-8), and Numerical Recipes' fit for erfc above 0.5, so that Φ
// (gelu's) keeps float32's relative accuracy in its lower tail.
import type { SpecialFn } from "../../ir/special.js";
import type { Emitter } from "../context.js";

/** The module names these functions and their helpers take (reserved in names.ts). */
export const SPECIAL_NAMES = ["erf", "erfc", "ncdf", "erfSeries", "erfcFraction", "expNegSquare"] as const;

const DEPS: Record<SpecialFn, SpecialFn[]> = { erf: [], erfc: ["erf"], ncdf: ["erfc", "erf"] };

const F64: Record<SpecialFn, string> = {
  erf: `
/** erf(x), float64 (bpc's reference: series below |x| = 1.5, continued fraction beyond). */
function expNegSquare(x: number): number {
  const s = Math.round(x * 4096) / 4096;
  return Math.exp(-s * s) * Math.exp(-(x - s) * (x + s));
}
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = 1;
  let sum = 1;
  for (let n = 1; n < 100 && term >= 1e-17 * sum; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
  }
  return 1.1283791670955126 * x * expNegSquare(x) * sum;
}
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
  return expNegSquare(x) / 1.7724538509055159 / f;
}
function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a < 1.5) return erfSeries(x);
  const r = 1 - erfcFraction(a);
  return x < 0 ? -r : r;
}`,
  erfc: `
/** erfc(x) = 1 - erf(x), float64, accurate in the upper tail. */
function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 1.5) return erfcFraction(x);
  if (x <= -1.5) return 2 - erfcFraction(-x);
  return 1 - erfSeries(x);
}`,
  ncdf: `
/** Φ(x), the standard normal CDF (gelu's), accurate in its lower tail. */
function ncdf(x: number): number {
  return 0.5 * erfc(-x * Math.SQRT1_2);
}`,
};

const F32: Record<SpecialFn, string> = {
  erf: `
/**
 * erf(x) to float32 accuracy (absolute error < 7e-8), without an exp: an odd
 * rational function of x on [-4, 4] (Eigen's fast erf), where float32's erf is
 * already ±1 beyond.
 */
function erf(x: number): number {
  const z = Math.max(-4, Math.min(4, x));
  const z2 = z * z;
  const p = z * (-1.60960333262415e-2 + z2 * (-2.95459980854025e-3 + z2 * (-7.34990630326855e-4 + z2 * (-5.69250639462346e-5 + z2 * (-2.10102402082508e-6 + z2 * (2.77068142495902e-8 + z2 * -2.72614225801306e-10))))));
  const q = -1.42647390514189e-2 + z2 * (-7.37332916720468e-3 + z2 * (-1.68282697438203e-3 + z2 * (-2.13374055278905e-4 + z2 * -1.45660718464996e-5)));
  return p / q;
}`,
  erfc: `
/**
 * erfc(x) to float32 accuracy: 1 - erf(x) below 0.5 (no cancellation there:
 * erfc > 0.47), and beyond, where its relative accuracy matters (Φ of a
 * negative gelu input), Numerical Recipes' fit (relative error < 1.2e-7).
 */
function erfc(x: number): number {
  if (!(x >= 0.5)) return 1 - erf(x);
  const t = 1 / (1 + 0.5 * x);
  return (
    t *
    Math.exp(
      -x * x - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    )
  );
}`,
  ncdf: F64.ncdf,
};

/** Adds a special function (and those it calls) to the module; returns its name. */
export function useSpecial(cx: Emitter, f: SpecialFn): string {
  const key = `special:${f}`;
  if (cx.kernels.has(key)) return f;
  cx.kernels.set(key, (cx.opts.precision === "f32" ? F32 : F64)[f]);
  for (const d of DEPS[f]) useSpecial(cx, d);
  return f;
}
