/**
 * Range and statistics propagation over the forward IR, in closed form.
 *
 * Intervals. Each value gets an interval with open or closed ends, computed
 * from input hints and, for params, either the whole real line (`always`:
 * true for any parameter values training may reach) or the support of the
 * initializer (`init`: true at initialization). They prove facts such as "this
 * relu's input is never positive" or "this log's argument can reach 0".
 *
 * Moments. Each value gets a mean and a variance per element, assuming the
 * elements of different operands are independent: inputs from their hints
 * (default normal(0, 1)), params from their initializers; `a @ W` over fan-in
 * K has mean K·μa·μw and variance K·(σa²σw² + σa²μw² + μa²σw²) (the variance
 * of a sum of K independent products); activations map a Gaussian
 * pre-activation through the op's own float64 formula by quadrature. These
 * explain the numbers the sampler measures ("fan-in 784 × E[x²] ≈ 21675 ×
 * var(W1) = 1").
 *
 * The transfer rule of every op is its entry's `lint.interval` and
 * `lint.moments` (src/ir/ops/); this file runs them over a graph, seeds the
 * sources (src/ir/init.ts, ./hints.ts) and iterates loop bodies.
 */

import { fanShape, initializer } from "../ir/init.js";
import { isUnsupported, OPS } from "../ir/ops.js";
import { hull, iv, REAL, sameInterval, type Interval, type Moments } from "../ir/ranges.js";
import type { Dim, Graph, Node } from "../ir/types.js";
import { inputInterval, inputMoments } from "./hints.js";
import { approxSize } from "../ir/dims.js";

export { REAL, reachesZero, gaussianMap, matmulMoments, type Interval, type Moments } from "../ir/ranges.js";
export { inputInterval, inputMoments } from "./hints.js";

export function showInterval(i: Interval): string {
  const f = (v: number): string => (v === Infinity ? "∞" : v === -Infinity ? "-∞" : fmt(v));
  return `${i.loOpen ? "(" : "["}${f(i.lo)}, ${f(i.hi)}${i.hiOpen ? ")" : "]"}`;
}

/** A number for a message: 3 significant digits, no exponent for everyday sizes. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return v > 0 ? "∞" : v < 0 ? "-∞" : "NaN";
  const a = Math.abs(v);
  if (a < 1e-12) return "0";
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(1).replace("e+", "e").replace(".0e", "e");
  if (a >= 100) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

export type ParamMode = "always" | "init";

const initArgs = (p: Node): readonly number[] => (p.attrs.initArgs as readonly number[]) ?? [];
/** A param's shape with symbolic dims at `symbolic` (params have constant shapes; the fallback is for safety of the analysis only). */
const paramShape = (p: Node): number[] => [...fanShape(p.attrs.init as string, p.shape.map((d) => (typeof d === "number" ? d : 1)), p.attrs)];

/** The interval of a param's initial values. */
export function initInterval(p: Node): Interval {
  return initializer(p.attrs.init as string).interval(paramShape(p), initArgs(p));
}

/** Mean and variance of one element of a param at init. */
export function initMoments(p: Node): Moments {
  return initializer(p.attrs.init as string).moments(paramShape(p), initArgs(p));
}

const dimRange = (d: Dim): [number, number] => (typeof d === "number" ? [d, d] : [1, Infinity]);

/** Intervals of every forward node; params range over `mode`. */
export function intervals(g: Graph, mode: ParamMode): Map<Node, Interval> {
  const out = new Map<Node, Interval>();
  for (const p of g.params) out.set(p, mode === "init" ? initInterval(p) : REAL);
  for (const x of g.inputs) out.set(x, inputInterval(x));
  const get = (n: Node): Interval => out.get(n) ?? REAL;
  const block = (nodes: readonly Node[]): void => {
    for (const n of nodes) {
      if (n.op === "loop" && n.body) {
        const b = n.body;
        const [, c1] = dimRange(n.attrs.count as Dim);
        const start = (n.attrs.start as number) ?? 0;
        out.set(b.index, iv(start, start + c1 - 1));
        b.carried.forEach((c, k) => out.set(c, get(n.inputs[k])));
        let stable = false;
        for (let round = 0; round < 4 && !stable; round++) {
          block(b.nodes);
          stable = true;
          b.carried.forEach((c, k) => {
            const prev = get(c);
            const next = hull(prev, get(b.results[k]));
            if (!sameInterval(next, prev)) {
              stable = false;
              out.set(c, next);
            }
          });
        }
        if (!stable) {
          // Widen the bounds that kept moving, then settle.
          b.carried.forEach((c, k) => {
            const p = get(c);
            const r = hull(p, get(b.results[k]));
            out.set(c, iv(r.lo < p.lo ? -Infinity : p.lo, r.hi > p.hi ? Infinity : p.hi, p.loOpen, p.hiOpen));
          });
          block(b.nodes);
        }
        continue;
      }
      if (n.op === "loop_out") {
        out.set(n, get(n.inputs[0].body!.carried[n.attrs.k as number]));
        continue;
      }
      const rule = OPS[n.op].lint.interval;
      // An op that cannot bound its values may take any.
      out.set(n, isUnsupported(rule) ? REAL : rule(n.inputs.map(get), n, dimRange));
    }
  };
  block(g.nodes);
  return out;
}

/** Per-element mean and variance of every forward node it can estimate (null: unknown). */
export function moments(g: Graph, symbolic: number): Map<Node, Moments | null> {
  const out = new Map<Node, Moments | null>();
  for (const p of g.params) out.set(p, initMoments(p));
  for (const x of g.inputs) out.set(x, inputMoments(x, symbolic));
  const dim = (d: Dim): number => approxSize(d, symbolic);
  const get = (n: Node): Moments | null => out.get(n) ?? null;
  const block = (nodes: readonly Node[]): void => {
    for (const n of nodes) {
      if (n.op === "loop" && n.body) {
        const b = n.body;
        b.carried.forEach((c, k) => out.set(c, get(n.inputs[k])));
        out.set(b.index, null);
        const steps = Math.min(dim(n.attrs.count as Dim), 200);
        for (let t = 0; t < steps; t++) {
          block(b.nodes);
          b.carried.forEach((c, k) => out.set(c, get(b.results[k])));
        }
        continue;
      }
      if (n.op === "loop_out") {
        out.set(n, get(n.inputs[0].body!.carried[n.attrs.k as number]));
        continue;
      }
      const rule = OPS[n.op].lint.moments;
      out.set(n, isUnsupported(rule) ? null : rule(n.inputs.map(get), n, dim));
    }
  };
  block(g.nodes);
  return out;
}
