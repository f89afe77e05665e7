/**
 * Monte Carlo statistics: a small seeded forward evaluator over the IR.
 *
 * Inputs are drawn from their hints (`in [lo, hi]`: uniform; `~ normal(m, s)`,
 * `~ uniform(lo, hi)`, `~ const(v)`; no hint: normal(0, 1); int inputs:
 * uniform over their range, or over the size of what they index), params from
 * their initializers exactly as the spec defines them (xavier: uniform
 * ±sqrt(6/(fan_in+fan_out)); he: normal(0, sqrt(2/fan_in)); orthogonal:
 * orthonormal rows or columns), symbolic dims are bound to a small size, and
 * the forward graph is run in float64. Elementwise ops use the op table's own
 * scalar formulas, so the evaluator computes what the compiled module
 * computes. Values of watched nodes are recorded (every step of a loop), and
 * a node's value can be overridden (the clip-before-loss direction test).
 */
import { OPS, type OpKind } from "../../ir/ops.js";
import type { Attrs, Dim, Graph, Node } from "../../ir/types.js";

export interface Tensor {
  shape: number[];
  data: Float64Array;
}

/** mulberry32: small, fast, seeded. */
export class Rng {
  private s: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = this.next();
    while (u <= 1e-300) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

export class EvalError extends Error {}

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

export function tensor(shape: number[], data?: Float64Array): Tensor {
  return { shape, data: data ?? new Float64Array(size(shape)) };
}

// ---- initializers and input hints -------------------------------------------

/** A parameter's initial value, per the spec's initializers. */
export function sampleParam(p: Node, shape: number[], rng: Rng): Tensor {
  const t = tensor(shape);
  const d = t.data;
  const args = (p.attrs.initArgs as readonly number[]) ?? [];
  const fanIn = shape[0] ?? 1;
  const fanOut = shape[1] ?? 1;
  switch (p.attrs.init as string) {
    case "zeros":
      break;
    case "ones":
      d.fill(1);
      break;
    case "const":
      d.fill(args[0]);
      break;
    case "normal":
      for (let i = 0; i < d.length; i++) d[i] = args[0] + args[1] * rng.normal();
      break;
    case "uniform":
      for (let i = 0; i < d.length; i++) d[i] = args[0] + (args[1] - args[0]) * rng.next();
      break;
    case "xavier": {
      const a = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < d.length; i++) d[i] = (2 * rng.next() - 1) * a;
      break;
    }
    case "he": {
      const s = Math.sqrt(2 / fanIn);
      for (let i = 0; i < d.length; i++) d[i] = s * rng.normal();
      break;
    }
    case "orthogonal":
      orthogonalInto(t, rng);
      break;
    default:
      throw new EvalError(`unknown initializer ${String(p.attrs.init)}`);
  }
  return t;
}

/** Orthonormal rows (rows <= cols) or columns, by Gram-Schmidt on a Gaussian matrix. */
function orthogonalInto(t: Tensor, rng: Rng): void {
  const [r, c] = t.shape;
  const n = Math.min(r, c);
  const m = Math.max(r, c);
  const v: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const x = new Float64Array(m);
    for (let k = 0; k < m; k++) x[k] = rng.normal();
    for (let pass = 0; pass < 2; pass++) {
      for (const u of v) {
        let dot = 0;
        for (let k = 0; k < m; k++) dot += x[k] * u[k];
        for (let k = 0; k < m; k++) x[k] -= dot * u[k];
      }
    }
    let norm = 0;
    for (let k = 0; k < m; k++) norm += x[k] * x[k];
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < m; k++) x[k] /= norm;
    v.push(x);
  }
  for (let i = 0; i < r; i++)
    for (let j = 0; j < c; j++) t.data[i * c + j] = r <= c ? v[i][j] : v[j][i];
}

/** The range an int input is drawn from: its hint, else the size of what it indexes. */
function intRange(g: Graph, x: Node): [number, number] {
  const range = x.attrs.range as readonly number[] | undefined;
  if (range) return [range[0], x.attrs.rangeClosed === false ? range[1] - 1 : range[1]];
  let hi = 0;
  const scan = (list: readonly Node[]): void => {
    for (const n of list) {
      if (n.body) scan(n.body.nodes);
      const k = n.inputs.indexOf(x);
      if (k < 0) continue;
      const first = n.inputs[0];
      const dim =
        n.op === "cross_entropy" || n.op === "pick" ? first.shape[1] : n.op === "one_hot" ? (n.attrs.n as Dim) : n.op === "index" ? first.shape[0] : 1;
      if (typeof dim === "number") hi = Math.max(hi, dim - 1);
    }
  };
  scan(g.nodes);
  return [0, hi];
}

export function sampleInput(g: Graph, x: Node, shape: number[], rng: Rng): Tensor {
  const t = tensor(shape);
  const d = t.data;
  if (x.dtype === "int") {
    const [lo, hi] = intRange(g, x);
    for (let i = 0; i < d.length; i++) d[i] = lo + Math.floor(rng.next() * (hi - lo + 1));
    return t;
  }
  const range = x.attrs.range as readonly number[] | undefined;
  const dist = x.attrs.dist as string | undefined;
  const args = (x.attrs.distArgs as readonly number[]) ?? [];
  if (dist === "const") d.fill(args[0]);
  else if (dist === "uniform" || (!dist && range)) {
    const [lo, hi] = dist === "uniform" ? args : range!;
    for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rng.next();
  } else {
    const [m, s] = dist === "normal" ? args : [0, 1];
    for (let i = 0; i < d.length; i++) d[i] = m + s * rng.normal();
  }
  return t;
}

// ---- the evaluator -------------------------------------------------------------

type ScalarFn = (...xs: number[]) => number;
const scalarCache = new Map<string, ScalarFn>();

/** The op table's scalar formula as a JS function (the code the compiled module runs). */
export function scalarFn(op: OpKind, attrs: Attrs, arity: number): ScalarFn {
  const key = `${op}${JSON.stringify(attrs)}`;
  let f = scalarCache.get(key);
  if (!f) {
    const def = OPS[op];
    if (!def.scalar) throw new EvalError(`no scalar formula for ${op}`);
    const names = Array.from({ length: arity }, (_, i) => `a${i}`);
    f = new Function(...names, `return ${def.scalar(names, attrs)};`) as ScalarFn;
    scalarCache.set(key, f);
  }
  return f;
}

function broadcastShape(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let k = 0; k < r; k++) {
    const x = a[a.length - r + k] ?? 1;
    const y = b[b.length - r + k] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new EvalError(`shapes ${a} and ${b} do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Strides of `shape` read as `out` (0 on broadcast axes). */
function bstrides(shape: number[], out: number[]): number[] {
  const st: number[] = new Array(out.length).fill(0);
  let s = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    const j = out.length - shape.length + k;
    st[j] = shape[k] === 1 && out[j] !== 1 ? 0 : s;
    s *= shape[k];
  }
  return st;
}

/** How input `x` is read at output index i: a scalar, the same index, a trailing block (i % n), or general strides. */
function reader(x: Tensor, out: number[]): ((i: number) => number) | null {
  const d = x.data;
  const n = d.length;
  const total = size(out);
  if (n === 1) {
    const v = d[0];
    return () => v;
  }
  if (n === total) return (i) => d[i];
  // A suffix of the output shape (a bias [H] added to [B, H]).
  const shape = [...x.shape];
  while (shape.length && shape[0] === 1) shape.shift();
  const tail = out.slice(out.length - shape.length);
  if (shape.every((v, k) => v === tail[k])) return (i) => d[i % n];
  return null;
}

/** Applies `f` elementwise with NumPy broadcasting. */
export function elementwise(f: ScalarFn, xs: Tensor[]): Tensor {
  let shape: number[] = [];
  for (const x of xs) shape = broadcastShape(shape, x.shape);
  const out = tensor(shape);
  const n = out.data.length;
  const o = out.data;
  const rs = xs.map((x) => reader(x, shape));
  if (rs.every((r) => r !== null)) {
    const [r0, r1, r2] = rs as ((i: number) => number)[];
    if (xs.length === 1) for (let i = 0; i < n; i++) o[i] = f(r0(i));
    else if (xs.length === 2) for (let i = 0; i < n; i++) o[i] = f(r0(i), r1(i));
    else for (let i = 0; i < n; i++) o[i] = f(r0(i), r1(i), r2(i));
    return out;
  }
  const args = new Array<number>(xs.length);
  const st = xs.map((x) => bstrides(x.shape, shape));
  const idx = new Array(shape.length).fill(0);
  const off = new Array(xs.length).fill(0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < xs.length; k++) args[k] = xs[k].data[off[k]];
    o[i] = f(...args);
    for (let a = shape.length - 1; a >= 0; a--) {
      idx[a]++;
      for (let k = 0; k < xs.length; k++) off[k] += st[k][a];
      if (idx[a] < shape[a]) break;
      for (let k = 0; k < xs.length; k++) off[k] -= st[k][a] * shape[a];
      idx[a] = 0;
    }
  }
  return out;
}

function broadcastTo(x: Tensor, shape: number[]): Tensor {
  return elementwise((v) => v, [x, tensor(shape)]);
}

/** Reduction over `axes`: `init`, `step(acc, v)`, `done(acc, count)`. */
function reduce(
  x: Tensor,
  axes: readonly number[],
  keepdims: boolean,
  init: number,
  step: (acc: number, v: number) => number,
  done: (acc: number, count: number) => number = (a) => a,
): Tensor {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = tensor(kept);
  out.data.fill(init);
  const ost = bstrides(kept, x.shape);
  const idx = new Array(x.shape.length).fill(0);
  let o = 0;
  for (let i = 0; i < x.data.length; i++) {
    out.data[o] = step(out.data[o], x.data[i]);
    for (let a = x.shape.length - 1; a >= 0; a--) {
      idx[a]++;
      o += ost[a];
      if (idx[a] < x.shape[a]) break;
      o -= ost[a] * x.shape[a];
      idx[a] = 0;
    }
  }
  const count = x.shape.reduce((p, d, i) => (axes.includes(i) ? p * d : p), 1);
  for (let i = 0; i < out.data.length; i++) out.data[i] = done(out.data[i], count);
  return keepdims ? out : { shape: x.shape.filter((_, i) => !axes.includes(i)), data: out.data };
}

/** Applies `f` to each 1-D line of `x` along `axis` (softmax, argmax). */
function alongAxis(x: Tensor, axis: number, f: (line: Float64Array) => Float64Array | number): Tensor {
  const outer = size(x.shape.slice(0, axis));
  const len = x.shape[axis];
  const inner = size(x.shape.slice(axis + 1));
  const line = new Float64Array(len);
  let out: Tensor | null = null;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      for (let k = 0; k < len; k++) line[k] = x.data[(o * len + k) * inner + i];
      const r = f(line);
      if (typeof r === "number") {
        out ??= tensor([...x.shape.slice(0, axis), ...x.shape.slice(axis + 1)]);
        out.data[o * inner + i] = r;
      } else {
        out ??= tensor([...x.shape]);
        for (let k = 0; k < len; k++) out.data[(o * len + k) * inner + i] = r[k];
      }
    }
  return out ?? tensor([...x.shape.slice(0, axis), ...x.shape.slice(axis + 1)]);
}

function softmaxLine(log: boolean): (l: Float64Array) => Float64Array {
  return (l) => {
    let m = -Infinity;
    for (const v of l) m = Math.max(m, v);
    let s = 0;
    for (const v of l) s += Math.exp(v - m);
    const out = new Float64Array(l.length);
    for (let k = 0; k < l.length; k++) out[k] = log ? l[k] - m - Math.log(s) : Math.exp(l[k] - m) / s;
    return out;
  };
}

function matmul(a: Tensor, b: Tensor, tA: boolean, tB: boolean): Tensor {
  const [m, k] = tA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const n = tB ? b.shape[0] : b.shape[1];
  const out = tensor([m, n]);
  const A = a.data;
  const B = b.data;
  const O = out.data;
  const as0 = tA ? 1 : a.shape[1];
  const as1 = tA ? a.shape[1] : 1;
  const bs0 = tB ? 1 : b.shape[1];
  const bs1 = tB ? b.shape[1] : 1;
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const av = A[i * as0 + p * as1];
      if (av === 0) continue;
      const bo = p * bs0;
      const oo = i * n;
      for (let j = 0; j < n; j++) O[oo + j] += av * B[bo + j * bs1];
    }
  return out;
}

export interface EvalOptions {
  /** Nodes whose values to record (each step of a loop appends one entry). */
  watch?: ReadonlySet<Node>;
  /** Values to use instead of computing a node (applied everywhere the node is evaluated). */
  override?: Map<Node, (computed: Tensor) => Tensor>;
  /** Cap on recorded loop steps per watched node. */
  maxSteps?: number;
}

export class Evaluator {
  readonly values = new Map<Node, Tensor>();
  readonly recorded = new Map<Node, Tensor[]>();
  constructor(
    readonly g: Graph,
    readonly dims: Map<string, number>,
    readonly params: Map<Node, Tensor>,
    readonly inputs: Map<Node, Tensor>,
    readonly opts: EvalOptions = {},
  ) {}

  dim(d: Dim): number {
    if (typeof d === "number") return d;
    const v = this.dims.get(d);
    if (v === undefined) throw new EvalError(`unbound dim ${d}`);
    return v;
  }

  shape(s: readonly Dim[]): number[] {
    return s.map((d) => this.dim(d));
  }

  run(): void {
    for (const p of this.g.params) this.values.set(p, this.params.get(p)!);
    for (const x of this.g.inputs) this.values.set(x, this.inputs.get(x)!);
    this.block(this.g.nodes);
  }

  get(n: Node): Tensor {
    const v = this.values.get(n);
    if (!v) throw new EvalError(`no value for %${n.id}`);
    return v;
  }

  block(nodes: readonly Node[]): void {
    for (const n of nodes) {
      let v = this.eval(n);
      const o = this.opts.override?.get(n);
      if (o) v = o(v);
      this.values.set(n, v);
      if (this.opts.watch?.has(n)) {
        const list = this.recorded.get(n) ?? this.recorded.set(n, []).get(n)!;
        if (list.length < (this.opts.maxSteps ?? 64)) list.push(v);
      }
    }
  }

  private eval(n: Node): Tensor {
    const a = n.attrs;
    const x = (i: number): Tensor => this.get(n.inputs[i]);
    const def = OPS[n.op];
    if (def.class === "elementwise") return elementwise(scalarFn(n.op, a, n.inputs.length), n.inputs.map((_, i) => x(i)));
    switch (n.op) {
      case "const":
        return tensor([], Float64Array.of(a.value as number));
      case "full":
        return { shape: this.shape(a.shape as Dim[]), data: new Float64Array(size(this.shape(a.shape as Dim[]))).fill(a.value as number) };
      case "numel":
        return tensor([], Float64Array.of((a.dims as Dim[]).reduce<number>((p, d) => p * this.dim(d), 1)));
      case "sum":
        return reduce(x(0), a.axes as number[], a.keepdims === true, 0, (s, v) => s + v);
      case "mean":
        return reduce(x(0), a.axes as number[], a.keepdims === true, 0, (s, v) => s + v, (s, c) => s / c);
      case "max":
        return reduce(x(0), a.axes as number[], a.keepdims === true, -Infinity, Math.max);
      case "min":
        return reduce(x(0), a.axes as number[], a.keepdims === true, Infinity, Math.min);
      case "logsumexp": {
        const axes = a.axes as number[];
        const m = reduce(x(0), axes, true, -Infinity, Math.max);
        const e = elementwise((v, mm) => Math.exp(v - mm), [x(0), m]);
        const s = reduce(e, axes, true, 0, (p, v) => p + v);
        const r = elementwise((ss, mm) => Math.log(ss) + mm, [s, m]);
        return a.keepdims ? r : { shape: x(0).shape.filter((_, i) => !axes.includes(i)), data: r.data };
      }
      case "argmax":
        return alongAxis(x(0), (a.axes as number[])[0], (l) => {
          let best = 0;
          for (let k = 1; k < l.length; k++) if (l[k] > l[best]) best = k;
          return best;
        });
      case "matmul":
        return matmul(x(0), x(1), a.transA === true, a.transB === true);
      case "transpose": {
        const t = x(0);
        const [r, c] = t.shape;
        const out = tensor([c, r]);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.data[j * r + i] = t.data[i * c + j];
        return out;
      }
      case "reshape":
        return { shape: this.shape(a.shape as Dim[]), data: x(0).data };
      case "broadcast_to":
        return broadcastTo(x(0), this.shape(a.shape as Dim[]));
      case "concat": {
        const [p, q] = [x(0), x(1)];
        const axis = a.axis as number;
        const shape = p.shape.map((d, i) => (i === axis ? d + q.shape[i] : d));
        const out = tensor(shape);
        const outer = size(shape.slice(0, axis));
        const pi = size(p.shape.slice(axis));
        const qi = size(q.shape.slice(axis));
        for (let o = 0; o < outer; o++) {
          out.data.set(p.data.subarray(o * pi, (o + 1) * pi), o * (pi + qi));
          out.data.set(q.data.subarray(o * qi, (o + 1) * qi), o * (pi + qi) + pi);
        }
        return out;
      }
      case "slice": {
        const t = x(0);
        const starts = a.starts as number[];
        const ends = (a.ends as Dim[]).map((d) => this.dim(d));
        const drop = a.drop as number[];
        const full = ends.map((e, i) => e - starts[i]);
        const out = tensor(full);
        const st = bstrides(t.shape, t.shape);
        const idx = new Array(full.length).fill(0);
        for (let i = 0; i < out.data.length; i++) {
          let off = 0;
          for (let k = 0; k < full.length; k++) off += (starts[k] + idx[k]) * st[k];
          out.data[i] = t.data[off];
          for (let k = full.length - 1; k >= 0; k--) {
            if (++idx[k] < full[k]) break;
            idx[k] = 0;
          }
        }
        return { shape: full.filter((_, i) => !drop.includes(i)), data: out.data };
      }
      case "index": {
        const t = x(0);
        const i = Math.max(0, Math.min(t.shape[0] - 1, Math.trunc(x(1).data[0])));
        const inner = size(t.shape.slice(1));
        return { shape: t.shape.slice(1), data: t.data.slice(i * inner, (i + 1) * inner) };
      }
      case "softmax":
      case "log_softmax":
        return alongAxis(x(0), a.axis as number, softmaxLine(n.op === "log_softmax"));
      case "cross_entropy": {
        const [z, y] = [x(0), x(1)];
        const [B, C] = z.shape;
        const out = tensor([B]);
        for (let i = 0; i < B; i++) {
          let m = -Infinity;
          for (let k = 0; k < C; k++) m = Math.max(m, z.data[i * C + k]);
          let s = 0;
          for (let k = 0; k < C; k++) s += Math.exp(z.data[i * C + k] - m);
          out.data[i] = Math.log(s) + m - z.data[i * C + y.data[i]];
        }
        return out;
      }
      case "pick": {
        const [t, idx] = [x(0), x(1)];
        const [B, N] = t.shape;
        const out = tensor([B]);
        for (let i = 0; i < B; i++) out.data[i] = t.data[i * N + idx.data[i]];
        return out;
      }
      case "one_hot": {
        const idx = x(0);
        const k = this.dim(a.n as Dim);
        const out = tensor([...idx.shape, k]);
        for (let i = 0; i < idx.data.length; i++) out.data[i * k + idx.data[i]] = 1;
        return out;
      }
      case "loop":
        return this.loop(n);
      case "loop_out": {
        const L = n.inputs[0];
        return this.get(L.body!.results[a.k as number]);
      }
      default:
        throw new EvalError(`the sampler does not evaluate ${n.op}`);
    }
  }

  private loop(n: Node): Tensor {
    const b = n.body!;
    const count = this.dim(n.attrs.count as Dim);
    const start = (n.attrs.start as number) ?? 0;
    b.carried.forEach((c, k) => this.values.set(c, this.get(n.inputs[k])));
    for (let t = 0; t < count; t++) {
      this.values.set(b.index, tensor([], Float64Array.of(start + t)));
      this.stepHook?.(n, t);
      this.block(b.nodes);
      const next = b.results.map((r) => this.get(r));
      b.carried.forEach((c, k) => this.values.set(c, next[k]));
    }
    return tensor([]);
  }

  /** Called before each loop step (the recurrence analysis perturbs carried values here). */
  stepHook?: (loop: Node, step: number) => void;
}

// ---- drawing a whole model ---------------------------------------------------------

/** Multiply-adds of one forward pass with every symbolic dim bound to `b`. */
export function forwardCost(g: Graph, b: number): number {
  const dim = (d: Dim): number => (typeof d === "number" ? d : b);
  let total = 0;
  const walk = (nodes: readonly Node[], reps: number): void => {
    for (const n of nodes) {
      if (n.body) {
        walk(n.body.nodes, reps * dim(n.attrs.count as Dim));
        continue;
      }
      const elems = n.shape.reduce<number>((p, d) => p * dim(d), 1);
      let c = elems;
      if (n.op === "matmul") {
        const x = n.inputs[0];
        c *= dim((n.attrs.transA ? x.shape[0] : x.shape[1]) as Dim);
      } else if (n.inputs.length) c = Math.max(c, n.inputs[0].shape.reduce<number>((p, d) => p * dim(d), 1));
      total += reps * c;
    }
  };
  walk(g.nodes, 1);
  return total;
}

export interface Draw {
  dims: Map<string, number>;
  params: Map<Node, Tensor>;
  inputs: Map<Node, Tensor>;
}

/** Binds symbolic dims and samples params and inputs with a fixed seed. */
export function draw(g: Graph, symbolic: number, seed: number): Draw {
  const dims = new Map<string, number>();
  for (const d of g.dims) if (d.value === null) dims.set(d.name, symbolic);
  const rng = new Rng(seed);
  const sh = (s: readonly Dim[]): number[] => s.map((d) => (typeof d === "number" ? d : dims.get(d) ?? symbolic));
  const params = new Map(g.params.map((p) => [p, sampleParam(p, sh(p.shape), rng)] as const));
  const inputs = new Map(g.inputs.map((x) => [x, sampleInput(g, x, sh(x.shape), rng)] as const));
  return { dims, params, inputs };
}
