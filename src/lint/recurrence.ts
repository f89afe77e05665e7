/**
 * Recurrence analysis: how much a loop multiplies its carried values' gradient.
 *
 * For each loop, a per-step gain bound is propagated from each carried value
 * through the body to each result: a matmul by a param matrix W multiplies it
 * by W's spectral radius at init (power iteration on the seeded sample of its
 * initializer), an activation by its largest slope (tanh 1, sigmoid 0.25,
 * relu 1), a product by the other factor's largest magnitude (from the
 * intervals; a sigmoid gate is at most 1), a sum adds gains. The carried
 * values that feed each other form strongly connected components; a
 * component whose cycle goes through a param matrix is a recurrence, and the
 * spectral radius of its gain matrix is the per-step factor g. Over T steps
 * the gradient grows or shrinks by up to g^T.
 *
 * Because g bounds the growth from above, g^T < 1e-3 proves the gradient
 * vanishes. A gated, additive cell (an LSTM's c = f * c + i * g) has a direct
 * path of gain up to 1 (or an unbounded one), so it never looks vanishing.
 * Growth is confirmed by running the recurrence at init on the sample: the
 * loop runs twice, from the carried state and from a slightly perturbed one,
 * renormalising the difference every step (a Lyapunov exponent); its growth
 * over T steps is what a gradient through the loop sees at init.
 */
import { initializer } from "../ir/init.js";
import { isUnsupported, OPS } from "../ir/ops.js";
import { Rng } from "../ir/random.js";
import type { Dim, Node } from "../ir/types.js";
import type { LintContext } from "./context.js";
import { REAL } from "../ir/ranges.js";
import { sampleParam, type Tensor } from "./sample.js";

/** The assumed loop length when the count is a symbolic dim. */
export const SYMBOLIC_STEPS = 50;

export interface Recurrence {
  loop: Node;
  /** Carried values in the component. */
  carried: Node[];
  /** The param matrices the cycle multiplies by, with their spectral radius estimate. */
  matrices: { param: Node; radius: number; asymptotic: number | null; matmul: Node }[];
  /** Activations on the cycle, with their largest slope. */
  activations: { op: string; slope: number }[];
  /** Per-step gain bound (spectral radius of the component's gain matrix), or null when unbounded. */
  factor: number | null;
  steps: number;
  symbolicSteps: boolean;
  /** Measured growth per step at init (Lyapunov), or null when it could not be run. */
  measuredPerStep: number | null;
  /** Params whose gradient flows through the recurrence. */
  params: number[];
  /** Every path of the cycle passes a clip_grad: the gradient carried back is clipped each step, so it cannot explode. */
  clipped: boolean;
  /** The cycle multiplies a carried-dependent value by a sigmoid gate (GRU, LSTM): the bound is loose there. */
  gated: boolean;
}

type Gain = Float64Array; // one entry per carried value of the loop

/** Spectral radius of a square matrix by power iteration (mean log growth of ||W^k v||). */
export function spectralRadius(w: Tensor, seed = 1): number {
  const [n, m] = w.shape;
  if (n !== m) return NaN;
  const rng = new Rng(seed);
  let v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  const iters = n <= 64 ? 200 : 120;
  const burn = Math.floor(iters / 3);
  let logSum = 0;
  for (let it = 0; it < iters; it++) {
    const u = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const vi = v[i];
      if (vi === 0) continue;
      const row = i * n;
      for (let j = 0; j < n; j++) u[j] += vi * w.data[row + j];
    }
    let norm = 0;
    for (let j = 0; j < n; j++) norm += u[j] * u[j];
    norm = Math.sqrt(norm);
    if (norm === 0) return 0;
    if (it >= burn) logSum += Math.log(norm);
    for (let j = 0; j < n; j++) u[j] /= norm;
    v = u;
  }
  return Math.exp(logSum / (iters - burn));
}

/** The known large-n spectral radius of an n×n initializer, or null. */
export function asymptoticRadius(p: Node): number | null {
  const [n, m] = p.shape as number[];
  if (n !== m) return null;
  return initializer(p.attrs.init as string).radius(n, (p.attrs.initArgs as readonly number[]) ?? []);
}

const recurrenceCache = new WeakMap<LintContext, Recurrence[]>();

/** Every recurrence through a param matrix in the model's loops (computed once per context). */
export function recurrences(ctx: LintContext): Recurrence[] {
  const hit = recurrenceCache.get(ctx);
  if (hit) return hit;
  const out: Recurrence[] = [];
  recurrenceCache.set(ctx, out);
  const loops: Node[] = [];
  const collect = (nodes: readonly Node[]): void => {
    for (const n of nodes)
      if (n.op === "loop" && n.body) {
        loops.push(n);
        collect(n.body.nodes);
      }
  };
  collect(ctx.graph.nodes);
  for (const L of loops) out.push(...analyzeLoop(ctx, L));
  return out;
}

/** Matrices wider than this take the initializer's known radius instead of power iteration. */
export const POWER_ITERATION_MAX = 256;

function radiusOf(ctx: LintContext, p: Node): number {
  const key = p;
  const cached = radiusCache.get(ctx)?.get(key);
  if (cached !== undefined) return cached;
  const shape = p.shape as number[];
  let r: number;
  if (shape[0] > POWER_ITERATION_MAX) r = asymptoticRadius(p) ?? NaN;
  else {
    const sample = ctx.samples?.draw.params.get(p) ?? sampleParam(p, shape, 7, ctx.graph.params.indexOf(p));
    r = spectralRadius(sample);
  }
  const m = radiusCache.get(ctx) ?? new Map<Node, number>();
  m.set(key, r);
  radiusCache.set(ctx, m);
  return r;
}
const radiusCache = new WeakMap<LintContext, Map<Node, number>>();

function analyzeLoop(ctx: LintContext, L: Node): Recurrence[] {
  const b = L.body!;
  const K = b.carried.length;
  const inBody = new Set<Node>([b.index, ...b.carried, ...b.nodes]);
  const gain = new Map<Node, Gain>();
  const mats = new Map<Node, Set<Node>>(); // param matrices on the path from a carried value
  const acts = new Map<Node, Set<string>>();
  // Whether some path from a carried value reaches the node without passing a clip_grad.
  const unclipped = new Map<Node, boolean>();
  // Products of two carried-dependent values, one through a sigmoid: gates.
  const gates = new Set<Node>();
  const gatedResult = new Map<Node, boolean>();
  const zero = (): Gain => new Float64Array(K);
  const intervals = ctx.always;
  const supAbs = (n: Node): number => {
    const i = intervals.get(n);
    return i ? Math.max(Math.abs(i.lo), Math.abs(i.hi)) : Infinity;
  };
  const g = (n: Node): Gain => gain.get(n) ?? zero();
  const isZero = (x: Gain): boolean => x.every((v) => v === 0);
  const scale = (x: Gain, s: number): Gain => x.map((v) => (v === 0 ? 0 : v * s));
  const plus = (x: Gain, y: Gain): Gain => x.map((v, i) => v + y[i]);
  const maxG = (x: Gain, y: Gain): Gain => x.map((v, i) => Math.max(v, y[i]));
  const unionInto = <T>(m: Map<Node, Set<T>>, n: Node, from: readonly Node[]): void => {
    const s = new Set<T>();
    for (const f of from) for (const v of m.get(f) ?? []) s.add(v);
    m.set(n, s);
  };
  const matmulOf = new Map<Node, Node>();
  /** The largest slope of each activation on the loop body. */
  const slopes = new Map<string, number>();

  b.carried.forEach((c, k) => {
    const e = zero();
    e[k] = 1;
    gain.set(c, e);
  });
  for (const n of b.nodes) {
    const ins = n.inputs.map((x) => (inBody.has(x) ? g(x) : zero()));
    const live = n.inputs.filter((x, i) => inBody.has(x) && !isZero(ins[i]));
    unionInto(mats, n, live);
    unionInto(acts, n, live);
    unclipped.set(n, n.op !== "clip_grad" && live.some((x) => b.carried.includes(x) || unclipped.get(x) === true));
    if (n.op === "mul" && live.length === 2 && live.some((x) => acts.get(x)?.has("sigmoid") === true)) gates.add(n);
    gatedResult.set(n, gates.has(n) || live.some((x) => gatedResult.get(x) === true));
    if (live.length === 0) {
      gain.set(n, zero());
      continue;
    }
    // The op table's gain fact says how the gradient's size changes through the op.
    const rule = OPS[n.op].lint.gain;
    if (n.op === "stop_gradient" || OPS[n.op].zeroGrad === "everywhere" || (!isUnsupported(rule) && rule.kind === "zero")) {
      gain.set(n, zero());
      continue;
    }
    let r: Gain;
    const unbounded = (): Gain => ins[0].map(() => Infinity);
    if (isUnsupported(rule)) r = unbounded();
    else
      switch (rule.kind) {
        case "zero":
          r = zero();
          break;
        case "same":
          r = ins[0];
          break;
        case "sum":
          r = ins.reduce(plus);
          break;
        case "max":
          r = ins.reduce(maxG);
          break;
        case "product":
          r = n.inputs[0] === n.inputs[1] ? scale(ins[0], 2 * supAbs(n.inputs[0])) : plus(scale(ins[0], supAbs(n.inputs[1])), scale(ins[1], supAbs(n.inputs[0])));
          break;
        case "quotient": {
          const d = intervals.get(n.inputs[1]);
          const inf = d && (d.lo > 0 || d.hi < 0) ? Math.min(Math.abs(d.lo), Math.abs(d.hi)) : 0;
          r = isZero(ins[1]) && inf > 0 ? scale(ins[0], 1 / inf) : unbounded();
          break;
        }
        case "linear": {
          const [x, w] = n.inputs;
          const side = isZero(ins[1]) ? 1 : isZero(ins[0]) ? 0 : -1;
          const W = side === 1 ? w : side === 0 ? x : null;
          if (W && W.op === "param" && W.shape[0] === W.shape[1]) {
            const rad = radiusOf(ctx, W);
            r = scale(ins[side === 1 ? 0 : 1], Number.isFinite(rad) ? rad : Infinity);
            mats.get(n)!.add(W);
            matmulOf.set(W, n);
          } else r = unbounded();
          break;
        }
        case "slope": {
          const slope = rule.slope(intervals.get(n.inputs[0]) ?? REAL, n.attrs);
          r = scale(ins[0], slope);
          if (rule.activation) {
            acts.get(n)!.add(n.op);
            slopes.set(n.op, Math.max(slopes.get(n.op) ?? 0, slope));
          }
          break;
        }
      }
    gain.set(n, r);
  }

  // The gain matrix: G[k][j] = gain from carried j to result k.
  const G = b.results.map((r) => (inBody.has(r) ? g(r) : zero()));
  const comps = scc(K, (j) => G.map((row, k) => (row[j] > 0 ? k : -1)).filter((k) => k >= 0));
  const found: Recurrence[] = [];
  const countDim = L.attrs.count as Dim;
  const symbolicSteps = typeof countDim !== "number";
  const steps = typeof countDim === "number" ? countDim : SYMBOLIC_STEPS;
  for (const comp of comps) {
    const cyclic = comp.length > 1 || G[comp[0]][comp[0]] > 0;
    if (!cyclic) continue;
    if (b.carried[comp[0]].dtype !== "float") continue;
    const matrices = new Set<Node>();
    const activations = new Set<string>();
    for (const k of comp) {
      for (const m of mats.get(b.results[k]) ?? []) matrices.add(m);
      for (const a of acts.get(b.results[k]) ?? []) activations.add(a);
    }
    if (matrices.size === 0) continue;
    const sub = comp.map((k) => comp.map((j) => G[k][j]));
    const factor = sub.some((row) => row.some((v) => !Number.isFinite(v))) ? null : matrixRadius(sub);
    const params = new Set<number>();
    for (const k of comp) for (const p of ctx.flow.deps.get(b.results[k]) ?? []) params.add(p);
    found.push({
      loop: L,
      carried: comp.map((k) => b.carried[k]),
      matrices: [...matrices].map((p) => ({ param: p, radius: radiusOf(ctx, p), asymptotic: asymptoticRadius(p), matmul: matmulOf.get(p)! })),
      activations: [...activations].map((op) => ({ op, slope: slopes.get(op) ?? 1 })),
      factor,
      steps,
      symbolicSteps,
      measuredPerStep: measure(ctx, L, comp),
      params: [...params].sort((x, y) => x - y),
      clipped: comp.every((k) => !b.carried.includes(b.results[k]) && unclipped.get(b.results[k]) !== true),
      gated: comp.some((k) => gatedResult.get(b.results[k]) === true),
    });
  }
  return found;
}

/** Spectral radius of a small non-negative matrix (power iteration). */
function matrixRadius(m: number[][]): number {
  const n = m.length;
  if (n === 1) return m[0][0];
  let v = new Array(n).fill(1);
  let r = 0;
  for (let it = 0; it < 200; it++) {
    const u = m.map((row) => row.reduce((s, x, j) => s + x * v[j], 0));
    const norm = Math.max(...u);
    if (norm === 0) return 0;
    r = norm / Math.max(...v);
    v = u.map((x) => x / norm);
  }
  return r;
}

/** Tarjan's strongly connected components over k = 0..n-1. */
function scc(n: number, next: (k: number) => number[]): number[][] {
  const index = new Array(n).fill(-1);
  const low = new Array(n).fill(0);
  const on = new Array(n).fill(false);
  const stack: number[] = [];
  const out: number[][] = [];
  let i = 0;
  const visit = (v: number): void => {
    index[v] = low[v] = i++;
    stack.push(v);
    on[v] = true;
    for (const w of next(v)) {
      if (index[w] < 0) {
        visit(w);
        low[v] = Math.min(low[v], low[w]);
      } else if (on[w]) low[v] = Math.min(low[v], index[w]);
    }
    if (low[v] === index[v]) {
      const c: number[] = [];
      let w: number;
      do {
        w = stack.pop()!;
        on[w] = false;
        c.push(w);
      } while (w !== v);
      out.push(c.sort((a, b) => a - b));
    }
  };
  for (let v = 0; v < n; v++) if (index[v] < 0) visit(v);
  return out;
}

/**
 * Runs a top-level loop at init from its sampled inputs, twice: from the
 * carried state and from a perturbed one, renormalising the perturbation each
 * step. Returns the geometric-mean growth per step of the perturbation.
 */
function measure(ctx: LintContext, L: Node, comp: number[]): number | null {
  const s = ctx.small;
  if (!s || ctx.flow.loopOf.has(L)) return null;
  const ev = s.evaluator;
  const b = L.body!;
  const saved = new Map([...ev.recorded].map(([k, v]) => [k, v.slice()] as const));
  try {
    const count = ev.dim(L.attrs.count as Dim);
    const start = (L.attrs.start as number) ?? 0;
    const rng = new Rng(3);
    let base: Tensor[] = b.carried.map((_, k) => ev.get(L.inputs[k]));
    const rms = (ts: Tensor[]): number => {
      let s2 = 0;
      let n = 0;
      for (const k of comp)
        for (const v of ts[k].data) {
          s2 += v * v;
          n++;
        }
      return Math.sqrt(s2 / Math.max(1, n));
    };
    const dist = (a: Tensor[], c: Tensor[]): number => {
      let s2 = 0;
      for (const k of comp) for (let i = 0; i < a[k].data.length; i++) s2 += (a[k].data[i] - c[k].data[i]) ** 2;
      return Math.sqrt(s2);
    };
    const perturb = (from: Tensor[], dir: Tensor[] | null): Tensor[] => {
      const eps = 1e-7 * Math.max(1e-3, rms(from));
      const d = from.map((t, k) => {
        if (!comp.includes(k)) return new Float64Array(t.data.length);
        return dir ? dir[k].data.map((v, i) => v - t.data[i]) : t.data.map(() => rng.normal());
      });
      let norm = 0;
      for (const k of comp) for (const v of d[k]) norm += v * v;
      norm = Math.sqrt(norm) || 1;
      const size = comp.reduce((p, k) => p + from[k].data.length, 0);
      const target = eps * Math.sqrt(size);
      return from.map((t, k) => ({ shape: t.shape, data: t.data.map((v, i) => v + (d[k][i] * target) / norm) }));
    };
    const step = (carried: Tensor[], t: number): Tensor[] => {
      b.carried.forEach((c, k) => ev.values.set(c, carried[k]));
      ev.values.set(b.index, { shape: [], data: Float64Array.of(start + t) });
      ev.block(b.nodes);
      return b.results.map((r) => ev.get(r));
    };
    let pert = perturb(base, null);
    let logSum = 0;
    let n = 0;
    for (let t = 0; t < count; t++) {
      const d0 = dist(pert, base);
      const nb = step(base, t);
      const np = step(pert, t);
      const d1 = dist(np, nb);
      if (!Number.isFinite(d1) || d0 === 0) return n ? Math.exp(logSum / n) : null;
      if (d1 === 0) return 0;
      logSum += Math.log(d1 / d0);
      n++;
      base = nb;
      pert = perturb(base, np);
    }
    return n ? Math.exp(logSum / n) : null;
  } catch {
    return null;
  } finally {
    ev.recorded.clear();
    for (const [k, v] of saved) ev.recorded.set(k, v);
  }
}
