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
 * pre-activation through the op's own scalar formula by quadrature. These
 * explain the numbers the sampler measures ("fan-in 784 × E[x²] ≈ 21675 ×
 * var(W1) = 1").
 */
import type { Dim, Graph, Node } from "../../ir/types.js";
import { scalarFn } from "./sample.js";

export interface Interval {
  lo: number;
  hi: number;
  loOpen: boolean;
  hiOpen: boolean;
}

export const REAL: Interval = { lo: -Infinity, hi: Infinity, loOpen: true, hiOpen: true };
const iv = (lo: number, hi: number, loOpen = false, hiOpen = false): Interval => ({
  lo,
  hi,
  loOpen: loOpen || lo === -Infinity,
  hiOpen: hiOpen || hi === Infinity,
});
const point = (v: number): Interval => iv(v, v);

/** Whether the interval contains 0 (as a value actually reached). */
export function reachesZero(i: Interval): boolean {
  if (i.lo > 0 || i.hi < 0) return false;
  if (i.lo === 0 && i.loOpen) return false;
  if (i.hi === 0 && i.hiOpen) return false;
  return true;
}

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

function hull(a: Interval, b: Interval): Interval {
  const lo = Math.min(a.lo, b.lo);
  const hi = Math.max(a.hi, b.hi);
  return {
    lo,
    hi,
    loOpen: (a.lo !== lo || a.loOpen) && (b.lo !== lo || b.loOpen),
    hiOpen: (a.hi !== hi || a.hiOpen) && (b.hi !== hi || b.hiOpen),
  };
}

function addI(a: Interval, b: Interval): Interval {
  return iv(a.lo + b.lo, a.hi + b.hi, a.loOpen || b.loOpen, a.hiOpen || b.hiOpen);
}

function negI(a: Interval): Interval {
  return { lo: -a.hi, hi: -a.lo, loOpen: a.hiOpen, hiOpen: a.loOpen };
}

function mulI(a: Interval, b: Interval): Interval {
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
function scaleI(a: Interval, nlo: number, nhi: number): Interval {
  const lo = a.lo >= 0 ? a.lo * nlo : a.lo * nhi;
  const hi = a.hi <= 0 ? a.hi * nlo : a.hi * nhi;
  return iv(Number.isNaN(lo) ? -Infinity : lo, Number.isNaN(hi) ? Infinity : hi, a.loOpen, a.hiOpen);
}

/** A monotone increasing function applied to an interval; `lim` are its limits at ∓∞. */
function monotone(a: Interval, f: (x: number) => number): Interval {
  return iv(f(a.lo), f(a.hi), a.loOpen, a.hiOpen);
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

export type ParamMode = "always" | "init";

function initInterval(p: Node): Interval {
  const args = (p.attrs.initArgs as readonly number[]) ?? [];
  const [fi, fo] = [p.shape[0] as number, (p.shape[1] as number) ?? 1];
  switch (p.attrs.init) {
    case "zeros":
      return point(0);
    case "ones":
      return point(1);
    case "const":
      return point(args[0]);
    case "normal":
      return args[1] === 0 ? point(args[0]) : REAL;
    case "uniform":
      return iv(args[0], args[1]);
    case "xavier": {
      const a = Math.sqrt(6 / (fi + fo));
      return iv(-a, a);
    }
    case "orthogonal":
      return iv(-1, 1);
    default:
      return REAL;
  }
}

export function inputInterval(x: Node): Interval {
  const range = x.attrs.range as readonly number[] | undefined;
  const args = (x.attrs.distArgs as readonly number[]) ?? [];
  if (x.dtype === "int" && range) return iv(range[0], x.attrs.rangeClosed === false ? range[1] - 1 : range[1]);
  if (range) return iv(range[0], range[1], false, x.attrs.rangeClosed === false);
  if (x.attrs.dist === "uniform") return iv(args[0], args[1]);
  if (x.attrs.dist === "const") return point(args[0]);
  if (x.attrs.dist === "normal" && args[1] === 0) return point(args[0]);
  return REAL;
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
        const [c0, c1] = dimRange(n.attrs.count as Dim);
        const start = (n.attrs.start as number) ?? 0;
        out.set(b.index, iv(start, start + c1 - 1));
        void c0;
        b.carried.forEach((c, k) => out.set(c, get(n.inputs[k])));
        let stable = false;
        for (let round = 0; round < 4 && !stable; round++) {
          block(b.nodes);
          stable = true;
          b.carried.forEach((c, k) => {
            const prev = get(c);
            const next = hull(prev, get(b.results[k]));
            if (next.lo !== prev.lo || next.hi !== prev.hi || next.loOpen !== prev.loOpen || next.hiOpen !== prev.hiOpen) {
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
      out.set(n, intervalOf(n, get));
    }
  };
  block(g.nodes);
  return out;
}

function intervalOf(n: Node, get: (n: Node) => Interval): Interval {
  const x = (i: number): Interval => get(n.inputs[i]);
  const a = n.attrs;
  switch (n.op) {
    case "const":
      return point(a.value as number);
    case "full":
      return point(a.value as number);
    case "numel": {
      const ds = (a.dims as Dim[]).map(dimRange);
      return iv(
        ds.reduce((p, d) => p * d[0], 1),
        ds.reduce((p, d) => p * d[1], 1),
      );
    }
    case "add":
      return addI(x(0), x(1));
    case "sub":
      return addI(x(0), negI(x(1)));
    case "neg":
      return negI(x(0));
    case "mul":
      return n.inputs[0] === n.inputs[1] ? square(x(0)) : mulI(x(0), x(1));
    case "div": {
      const d = x(1);
      if (reachesZero(d) || (d.lo < 0 && d.hi > 0)) return REAL;
      const inv = { lo: 1 / d.hi, hi: 1 / d.lo, loOpen: d.hiOpen, hiOpen: d.loOpen };
      return mulI(x(0), iv(inv.lo, inv.hi, inv.loOpen, inv.hiOpen));
    }
    case "pow": {
      const b = x(0);
      if (b.lo > 0) return iv(0, Infinity, true);
      return REAL;
    }
    case "maximum": {
      const [p, q] = [x(0), x(1)];
      const lo = Math.max(p.lo, q.lo);
      const hi = Math.max(p.hi, q.hi);
      return iv(lo, hi, (p.lo !== lo || p.loOpen) && (q.lo !== lo || q.loOpen), (p.hi !== hi || p.hiOpen) && (q.hi !== hi || q.hiOpen));
    }
    case "minimum":
      return negI(intervalOf({ ...n, op: "maximum", inputs: n.inputs } as Node, (m) => negI(get(m))));
    case "lt":
    case "le":
    case "gt":
    case "ge":
    case "eq":
    case "ne":
    case "one_hot":
      return iv(0, 1);
    case "sign":
      return iv(-1, 1);
    case "round":
    case "floor":
    case "ceil":
      return iv(Math.floor(x(0).lo), Math.ceil(x(0).hi));
    case "exp":
      return monotone(x(0), Math.exp);
    case "log": {
      const p = x(0);
      return iv(Math.log(Math.max(p.lo, 0)), Math.log(p.hi), p.lo > 0 && p.loOpen, p.hiOpen);
    }
    case "sqrt": {
      const p = x(0);
      return iv(Math.sqrt(Math.max(p.lo, 0)), Math.sqrt(Math.max(p.hi, 0)), p.lo >= 0 && p.loOpen, p.hiOpen);
    }
    case "abs":
      return abs(x(0));
    case "square":
      return square(x(0));
    case "sigmoid":
      return monotone(x(0), sigmoid);
    case "tanh":
      return monotone(x(0), Math.tanh);
    case "softplus":
      return monotone(x(0), softplus);
    case "relu": {
      const p = x(0);
      if (p.hi <= 0) return point(0);
      return iv(Math.max(p.lo, 0), p.hi, p.lo >= 0 && p.loOpen, p.hiOpen);
    }
    case "leaky_relu": {
      const s = a.a as number;
      return monotone(x(0), (v) => (v > 0 ? v : s * v));
    }
    case "elu": {
      const s = a.a as number;
      return monotone(x(0), (v) => (v > 0 ? v : s * (Math.exp(v) - 1)));
    }
    case "huber": {
      const d = a.delta as number;
      const h = (v: number): number => (Math.abs(v) <= d ? 0.5 * v * v : d * (Math.abs(v) - 0.5 * d));
      const m = abs(x(0));
      return iv(h(m.lo), h(m.hi), m.loOpen, m.hiOpen);
    }
    case "sin":
    case "cos":
      return iv(-1, 1);
    case "clip": {
      const [p, lo, hi] = [x(0), x(1), x(2)];
      return iv(Math.max(p.lo, lo.lo), Math.min(p.hi, hi.hi));
    }
    case "where":
      return hull(x(1), x(2));
    case "sum": {
      const axes = a.axes as number[];
      const ds = axes.map((i) => dimRange(n.inputs[0].shape[i]));
      return scaleI(x(0), ds.reduce((p, d) => p * d[0], 1), ds.reduce((p, d) => p * d[1], 1));
    }
    case "mean":
    case "max":
    case "min":
    case "stop_gradient":
    case "clip_grad":
    case "transpose":
    case "reshape":
    case "broadcast_to":
    case "slice":
    case "index":
    case "pick":
      return x(0);
    case "logsumexp": {
      const axes = a.axes as number[];
      const n1 = axes.reduce((p, i) => p * dimRange(n.inputs[0].shape[i])[1], 1);
      return iv(x(0).lo, x(0).hi + Math.log(n1), x(0).loOpen, x(0).hiOpen);
    }
    case "argmax": {
      const d = dimRange(n.inputs[0].shape[(a.axes as number[])[0]]);
      return iv(0, d[1] - 1);
    }
    case "matmul": {
      const p = x(0);
      const k = (a.transA ? n.inputs[0].shape[0] : n.inputs[0].shape[1]) as Dim;
      const [klo, khi] = dimRange(k);
      return scaleI(mulI(p, x(1)), klo, khi);
    }
    case "concat":
      return hull(x(0), x(1));
    case "softmax":
      return iv(0, 1, true, false);
    case "log_softmax":
      return iv(-Infinity, 0);
    case "cross_entropy":
      return iv(0, Infinity);
    case "loop_out":
      return get(n.inputs[0].body!.carried[a.k as number]);
    default:
      return REAL;
  }
}

function abs(p: Interval): Interval {
  if (p.lo >= 0) return p;
  if (p.hi <= 0) return negI(p);
  const hi = Math.max(-p.lo, p.hi);
  return iv(0, hi, false, (-p.lo !== hi || p.loOpen) && (p.hi !== hi || p.hiOpen));
}

function square(p: Interval): Interval {
  const m = abs(p);
  return iv(m.lo * m.lo, m.hi * m.hi, m.loOpen, m.hiOpen);
}

// ---- moments -------------------------------------------------------------------

export interface Moments {
  mean: number;
  var: number;
}

export function initMoments(p: Node): Moments {
  const args = (p.attrs.initArgs as readonly number[]) ?? [];
  const [fi, fo] = [p.shape[0] as number, (p.shape[1] as number) ?? 1];
  switch (p.attrs.init) {
    case "zeros":
      return { mean: 0, var: 0 };
    case "ones":
      return { mean: 1, var: 0 };
    case "const":
      return { mean: args[0], var: 0 };
    case "normal":
      return { mean: args[0], var: args[1] * args[1] };
    case "uniform":
      return { mean: (args[0] + args[1]) / 2, var: (args[1] - args[0]) ** 2 / 12 };
    case "xavier":
      return { mean: 0, var: 2 / (fi + fo) };
    case "he":
      return { mean: 0, var: 2 / fi };
    case "orthogonal":
      return { mean: 0, var: 1 / Math.max(fi, fo) };
    default:
      return { mean: 0, var: 1 };
  }
}

export function inputMoments(x: Node): Moments {
  const range = x.attrs.range as readonly number[] | undefined;
  const args = (x.attrs.distArgs as readonly number[]) ?? [];
  if (x.dtype === "int" && range) {
    const n = range[1] - range[0] + (x.attrs.rangeClosed === false ? 0 : 1);
    return { mean: range[0] + (n - 1) / 2, var: (n * n - 1) / 12 };
  }
  if (x.attrs.dist === "normal") return { mean: args[0], var: args[1] * args[1] };
  if (x.attrs.dist === "const") return { mean: args[0], var: 0 };
  const u = x.attrs.dist === "uniform" ? args : range;
  if (u) return { mean: (u[0] + u[1]) / 2, var: (u[1] - u[0]) ** 2 / 12 };
  return { mean: 0, var: 1 };
}

/** E[f(z)] and Var[f(z)] for z ~ N(m, v), by quadrature over ±8 standard deviations. */
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

const UNARY_MAPPED = new Set([
  "exp", "log", "sqrt", "abs", "square", "sigmoid", "tanh", "relu", "softplus", "sin", "cos", "leaky_relu", "elu", "huber", "sign", "round", "floor", "ceil",
]);

/** Per-element mean and variance of every forward node it can estimate (null: unknown). */
export function moments(g: Graph, symbolic: number): Map<Node, Moments | null> {
  const out = new Map<Node, Moments | null>();
  for (const p of g.params) out.set(p, initMoments(p));
  for (const x of g.inputs) out.set(x, inputMoments(x));
  const dim = (d: Dim): number => (typeof d === "number" ? d : symbolic);
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
      out.set(n, momentsOf(n, get, dim));
    }
  };
  block(g.nodes);
  return out;
}

function momentsOf(n: Node, get: (n: Node) => Moments | null, dim: (d: Dim) => number): Moments | null {
  const ins = n.inputs.map(get);
  const [p, q] = ins;
  const a = n.attrs;
  if (UNARY_MAPPED.has(n.op)) return p ? gaussianMap(scalarFn(n.op, a, 1), p) : null;
  switch (n.op) {
    case "const":
    case "full":
      return { mean: a.value as number, var: 0 };
    case "numel":
      return { mean: (a.dims as Dim[]).reduce<number>((s, d) => s * dim(d), 1), var: 0 };
    case "add":
      return p && q ? { mean: p.mean + q.mean, var: p.var + q.var } : null;
    case "sub":
      return p && q ? { mean: p.mean - q.mean, var: p.var + q.var } : null;
    case "neg":
      return p ? { mean: -p.mean, var: p.var } : null;
    case "mul":
      if (!p || !q) return null;
      if (n.inputs[0] === n.inputs[1]) return gaussianMap((z) => z * z, p);
      return { mean: p.mean * q.mean, var: p.var * q.var + p.var * q.mean ** 2 + q.var * p.mean ** 2 };
    case "div":
      return p && q && q.var === 0 && q.mean !== 0 ? { mean: p.mean / q.mean, var: p.var / q.mean ** 2 } : null;
    case "matmul": {
      if (!p || !q) return null;
      const K = dim((a.transA ? n.inputs[0].shape[0] : n.inputs[0].shape[1]) as Dim);
      return matmulMoments(p, q, K);
    }
    case "sum": {
      if (!p) return null;
      const k = (a.axes as number[]).reduce((s, i) => s * dim(n.inputs[0].shape[i]), 1);
      return { mean: k * p.mean, var: k * p.var };
    }
    case "mean": {
      if (!p) return null;
      const k = (a.axes as number[]).reduce((s, i) => s * dim(n.inputs[0].shape[i]), 1);
      return { mean: p.mean, var: p.var / k };
    }
    case "stop_gradient":
    case "clip_grad":
    case "transpose":
    case "reshape":
    case "broadcast_to":
    case "slice":
    case "index":
    case "pick":
      return p;
    case "concat": {
      if (!p || !q) return null;
      const ax = a.axis as number;
      const [u, v] = [dim(n.inputs[0].shape[ax]), dim(n.inputs[1].shape[ax])];
      const mean = (u * p.mean + v * q.mean) / (u + v);
      const e2 = (u * (p.var + p.mean ** 2) + v * (q.var + q.mean ** 2)) / (u + v);
      return { mean, var: e2 - mean * mean };
    }
    case "where":
      return null;
    case "loop_out":
      return get(n.inputs[0].body!.carried[a.k as number]);
    default:
      return null;
  }
}

/** z = Σ_k x_k w_k over K independent terms. */
export function matmulMoments(x: Moments, w: Moments, K: number): Moments {
  return {
    mean: K * x.mean * w.mean,
    var: K * (x.var * w.var + x.var * w.mean ** 2 + x.mean ** 2 * w.var),
  };
}
