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
 * A loop nested in the loop analysed composes: over its n steps the gain of
 * each of its carried values follows v <- G_in v + F (G_in its own step
 * gains, F what its body reads from the outer loop's values), and its
 * results carry v_n into the outer step, with its matrices (a stacked RNN's
 * Wh[l]: one matrix of a param stack, radius the largest of them). A state
 * carried only by rescaling (h = gate * h, no sum adding new content on its
 * matrix-free path) is marked `scaledCarry`: the bound says nothing there,
 * the measurement decides (vanishing-gradient).
 *
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
  /**
   * The state is carried from step to step only by rescaling (h = gate * h):
   * some path from a carried value to its result passes no matrix, and no
   * such path passes a sum that adds new content (as an LSTM's c = f * c +
   * i * g and a GRU's (1 - z) * h + z * n do). The gradient through the
   * state is then the product of the scales, which the measurement gives.
   */
  scaledCarry: boolean;
  /** The product that rescales the state (its span for the message), when scaledCarry. */
  scaler: Node | null;
  /** Nested loops the cycle runs through, with their step counts: each step of this loop runs them whole. */
  through: { loop: Node; steps: number }[];
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
  const [n, m] = (p.shape as number[]).slice(-2); // a stack [L, H, H]: each matrix
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
  for (const L of loops) out.push(...loopInfo(ctx, L).recs);
  return out;
}

/** Matrices wider than this take the initializer's known radius instead of power iteration. */
export const POWER_ITERATION_MAX = 256;

function radiusOf(ctx: LintContext, p: Node): number {
  const key = p;
  const cached = radiusCache.get(ctx)?.get(key);
  if (cached !== undefined) return cached;
  const shape = p.shape as number[];
  const n = shape[shape.length - 1];
  let r: number;
  if (n > POWER_ITERATION_MAX) r = asymptoticRadius(p) ?? NaN;
  else {
    const sample = ctx.samples?.draw.params.get(p) ?? sampleParam(p, shape, 7, ctx.graph.params.indexOf(p));
    // A stack [L, H, H] read as W[l]: the largest radius of its matrices (a bound over every l).
    r = 0;
    for (let l = 0; l < sample.data.length / (n * n); l++) {
      r = Math.max(r, spectralRadius({ shape: [n, n], data: sample.data.subarray(l * n * n, (l + 1) * n * n) }));
    }
  }
  const m = radiusCache.get(ctx) ?? new Map<Node, number>();
  m.set(key, r);
  radiusCache.set(ctx, m);
  return r;
}
const radiusCache = new WeakMap<LintContext, Map<Node, number>>();

/** What a loop's analysis gives: its recurrences, and one step's gains for a loop around it. */
interface LoopInfo {
  recs: Recurrence[];
  /** G[k][j]: the gain of one step from carried j to result k. */
  G: Gain[];
  /** Param matrices, activations and gates on the paths from the carried values to the results. */
  mats: Set<Node>;
  acts: Set<string>;
  slopes: Map<string, number>;
  matmulOf: Map<Node, Node>;
  gated: boolean;
}

const loopCache = new WeakMap<LintContext, Map<Node, LoopInfo>>();

function loopInfo(ctx: LintContext, L: Node): LoopInfo {
  const m = loopCache.get(ctx) ?? new Map<Node, LoopInfo>();
  loopCache.set(ctx, m);
  const hit = m.get(L);
  if (hit) return hit;
  const info = analyzeLoop(ctx, L);
  m.set(L, info);
  return info;
}

/** The square param matrix a matmul operand is: W itself, or W[l] of a stack [L, H, H] of them. */
function squareParam(W: Node): Node | null {
  if (W.op === "param" && W.shape.length === 2 && W.shape[0] === W.shape[1]) return W;
  const P = W.inputs[0];
  if (W.op === "index" && P?.op === "param" && P.shape.length === 3 && P.shape[1] === P.shape[2] && W.inputs[1]?.shape.length === 0) return P;
  return null;
}

function analyzeLoop(ctx: LintContext, L: Node): LoopInfo {
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
  // Carried values with a matrix-free path to each node, and those whose matrix-free
  // path passes a sum that adds new content (an additive carry): bit k for carried k.
  const direct = new Map<Node, Set<number>>();
  const additive = new Map<Node, Set<number>>();
  const scalerOf = new Map<Node, Node>(); // the first product on a direct path, by node
  const isConst = (x: Node): boolean => x.op === "const" || x.op === "full";
  /** The largest slope of each activation on the loop body. */
  const slopes = new Map<string, number>();
  const trackCarry = (n: Node): void => {
    const rule = OPS[n.op].lint.gain;
    const kind = isUnsupported(rule) ? null : rule.kind;
    const ds = n.inputs.map((x) => direct.get(x) ?? new Set<number>());
    const union = (sets: Set<number>[]): Set<number> => new Set(sets.flatMap((x) => [...x]));
    if (kind === "linear" || kind === "zero" || kind === null || n.op === "stop_gradient") {
      direct.set(n, new Set());
      additive.set(n, new Set());
      return;
    }
    const d = union(ds);
    const a = union(n.inputs.map((x) => additive.get(x) ?? new Set<number>()));
    // A sum that joins a direct-carried term with any other non-constant term adds new content;
    // so does a "max" join (an indexed write hs[t] = h replaces a region with new content).
    if ((kind === "sum" || kind === "max") && d.size > 0 && n.inputs.filter((x) => !isConst(x)).length >= 2) for (const k of d) a.add(k);
    direct.set(n, d);
    additive.set(n, a);
    const from = n.inputs.find((x) => scalerOf.has(x));
    if (from) scalerOf.set(n, scalerOf.get(from)!);
    else if (kind === "product" && d.size > 0) scalerOf.set(n, n);
  };

  b.carried.forEach((c, k) => {
    const e = zero();
    e[k] = 1;
    gain.set(c, e);
    direct.set(c, new Set([k]));
  });
  // A loop nested in this one: its steps compose. Over its n steps a carried value's gain
  // follows v <- G_in v + F, where F is what the inner body reads from this loop's values.
  const composed = new Map<Node, { out: Gain[]; mats: Set<Node>; acts: Set<string>; gated: boolean; steps: number }>();
  const composeInner = (Lin: Node): void => {
    const bi = Lin.body!;
    const info = loopInfo(ctx, Lin);
    const inputs = Lin.inputs.map((x) => (inBody.has(x) ? g(x) : zero()));
    for (const x of [bi.index, ...bi.carried]) {
      gain.set(x, zero());
      direct.set(x, new Set());
    }
    for (const x of [bi.index, ...bi.carried, ...bi.nodes]) inBody.add(x);
    for (const m of bi.nodes) visit(m);
    const F = bi.results.map((r) => (inBody.has(r) ? g(r) : zero()));
    const steps = typeof Lin.attrs.count === "number" ? Lin.attrs.count : SYMBOLIC_STEPS;
    let v = inputs;
    for (let t = 0; t < steps; t++) {
      v = Array.from(info.G, (row, k) => {
        const out = F[k].slice();
        row.forEach((gkj, j) => {
          if (gkj !== 0) for (let i = 0; i < K; i++) if (v[j][i] !== 0) out[i] += gkj * v[j][i];
        });
        return out;
      });
    }
    const liveIn = Lin.inputs.filter((x, i) => inBody.has(x) && !isZero(inputs[i]));
    const fromLoop = <T>(m: Map<Node, Set<T>>, inner: Set<T>): Set<T> => new Set([...inner, ...liveIn.flatMap((x) => [...(m.get(x) ?? [])]), ...bi.results.flatMap((r) => [...(m.get(r) ?? [])])]);
    for (const [p, mm] of info.matmulOf) if (!matmulOf.has(p)) matmulOf.set(p, mm);
    for (const [op, sl] of info.slopes) slopes.set(op, Math.max(slopes.get(op) ?? 0, sl));
    composed.set(Lin, { out: v, mats: fromLoop(mats, info.mats), acts: fromLoop(acts, info.acts), gated: info.gated, steps });
    gain.set(Lin, zero());
  };
  const fromInner = (n: Node): void => {
    const c = composed.get(n.inputs[0])!;
    const out = c.out[n.attrs.k as number] ?? zero();
    gain.set(n, out);
    mats.set(n, isZero(out) ? new Set() : c.mats);
    acts.set(n, isZero(out) ? new Set() : c.acts);
    unclipped.set(n, !isZero(out));
    gatedResult.set(n, c.gated);
    direct.set(n, new Set());
    additive.set(n, new Set());
  };
  const visit = (n: Node): void => {
    if (n.op === "loop" && n.body) {
      composeInner(n);
      return;
    }
    if (n.op === "loop_out" && composed.has(n.inputs[0])) {
      fromInner(n);
      return;
    }
    const ins = n.inputs.map((x) => (inBody.has(x) ? g(x) : zero()));
    const live = n.inputs.filter((x, i) => inBody.has(x) && !isZero(ins[i]));
    trackCarry(n);
    unionInto(mats, n, live);
    unionInto(acts, n, live);
    unclipped.set(n, n.op !== "clip_grad" && live.some((x) => b.carried.includes(x) || unclipped.get(x) === true));
    if (n.op === "mul" && live.length === 2 && live.some((x) => acts.get(x)?.has("sigmoid") === true)) gates.add(n);
    gatedResult.set(n, gates.has(n) || live.some((x) => gatedResult.get(x) === true));
    if (live.length === 0) {
      gain.set(n, zero());
      return;
    }
    // The op table's gain fact says how the gradient's size changes through the op.
    const rule = OPS[n.op].lint.gain;
    if (n.op === "stop_gradient" || OPS[n.op].zeroGrad === "everywhere" || (!isUnsupported(rule) && rule.kind === "zero")) {
      gain.set(n, zero());
      return;
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
          const P = W ? squareParam(W) : null;
          if (P) {
            const rad = radiusOf(ctx, P);
            r = scale(ins[side === 1 ? 0 : 1], Number.isFinite(rad) ? rad : Infinity);
            mats.get(n)!.add(P);
            matmulOf.set(P, n);
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
  };
  for (const n of b.nodes) visit(n);

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
    const results = comp.map((k) => b.results[k]);
    const scaledCarry =
      results.some((r) => comp.some((k) => direct.get(r)?.has(k))) && results.every((r) => comp.every((k) => !additive.get(r)?.has(k)));
    if (matrices.size === 0 && !scaledCarry) continue;
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
      scaledCarry,
      through: [...composed].filter(([, c]) => [...c.mats].some((m) => matrices.has(m))).map(([loop, c]) => ({ loop, steps: c.steps })),
      scaler: scaledCarry ? (results.map((r) => scalerOf.get(r)).find((x) => x !== undefined) ?? null) : null,
    });
  }
  const all = <T>(m: Map<Node, Set<T>>): Set<T> => new Set(b.results.flatMap((r) => [...(m.get(r) ?? [])]));
  return { recs: found, G, mats: all(mats), acts: all(acts), slopes, matmulOf, gated: b.results.some((r) => gatedResult.get(r) === true) };
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
 * Runs a loop at init from its sampled inputs (a nested loop: from the values
 * of the outer loop's last step), twice: from the
 * carried state and from a perturbed one, renormalising the perturbation each
 * step. Returns the geometric-mean growth per step of the perturbation.
 */
function measure(ctx: LintContext, L: Node, comp: number[]): number | null {
  const s = ctx.small;
  if (!s) return null;
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
