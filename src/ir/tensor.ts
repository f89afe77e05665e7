// Float64 tensors for the op table's reference `eval`: the linter's sampler,
// `bpc check`'s oracle and the generated op tests run models through these.
// Row-major, NumPy broadcasting; plain loops, written for clarity over speed
// (the sampler runs at small sizes).

export interface Tensor {
  shape: number[];
  data: Float64Array;
}

/** Raised by a reference evaluation on values it cannot evaluate (an index out of range). */
export class EvalError extends Error {}

export const numel = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

export function tensor(shape: number[], data?: Float64Array): Tensor {
  return { shape, data: data ?? new Float64Array(numel(shape)) };
}

export const scalarTensor = (v: number): Tensor => tensor([], Float64Array.of(v));

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let k = 0; k < r; k++) {
    const x = a[a.length - r + k] ?? 1;
    const y = b[b.length - r + k] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new EvalError(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Strides of `shape` read as `out` (0 on broadcast axes). */
export function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const st: number[] = new Array(out.length).fill(0);
  let s = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    const j = out.length - shape.length + k;
    st[j] = shape[k] === 1 && out[j] !== 1 ? 0 : s;
    s *= shape[k];
  }
  return st;
}

export type ScalarFn = (...xs: number[]) => number;

/** How `x` is read at output index i when that needs no index arithmetic: a scalar, the same index, or a trailing block. */
function reader(x: Tensor, out: readonly number[]): ((i: number) => number) | null {
  const d = x.data;
  const n = d.length;
  if (n === 1) {
    const v = d[0];
    return () => v;
  }
  if (n === numel(out)) return (i) => d[i];
  const shape = [...x.shape];
  while (shape.length && shape[0] === 1) shape.shift();
  const tail = out.slice(out.length - shape.length);
  if (shape.every((v, k) => v === tail[k])) return (i) => d[i % n];
  return null;
}

/** Applies `f` elementwise with NumPy broadcasting. */
export function mapElements(f: ScalarFn, xs: readonly Tensor[]): Tensor {
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
    else if (xs.length === 3) for (let i = 0; i < n; i++) o[i] = f(r0(i), r1(i), r2(i));
    else for (let i = 0; i < n; i++) o[i] = f(...rs.map((r) => r!(i)));
    return out;
  }
  const args = new Array<number>(xs.length);
  const st = xs.map((x) => broadcastStrides(x.shape, shape));
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

export function broadcastTensor(x: Tensor, shape: number[]): Tensor {
  return mapElements((v) => v, [x, tensor(shape)]);
}

/**
 * Visits every element of a tensor of `shape` in row-major order with `f(i, o)`:
 * i its offset, o the offset of the element of `into` (a shape `shape`
 * broadcasts from, such as a reduction's result with kept axes) it falls in.
 */
export function forEachInto(shape: readonly number[], into: readonly number[], f: (i: number, o: number) => void): void {
  const st = broadcastStrides(into, shape);
  const idx = new Array(shape.length).fill(0);
  const total = numel(shape);
  let o = 0;
  for (let i = 0; i < total; i++) {
    f(i, o);
    for (let a = shape.length - 1; a >= 0; a--) {
      idx[a]++;
      o += st[a];
      if (idx[a] < shape[a]) break;
      o -= st[a] * shape[a];
      idx[a] = 0;
    }
  }
}

/** Sums `x` down to `shape`, a shape it broadcasts from (the adjoint of broadcasting). */
export function sumTo(x: Tensor, shape: number[]): Tensor {
  const out = tensor(shape);
  forEachInto(x.shape, shape, (i, o) => (out.data[o] += x.data[i]));
  return out;
}

/** Reduction over `axes`: `init`, `step(acc, v)`, `done(acc, count)`. */
export function reduceAxes(
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
  forEachInto(x.shape, kept, (i, o) => (out.data[o] = step(out.data[o], x.data[i])));
  const count = x.shape.reduce((p, d, i) => (axes.includes(i) ? p * d : p), 1);
  for (let i = 0; i < out.data.length; i++) out.data[i] = done(out.data[i], count);
  return keepdims ? out : { shape: x.shape.filter((_, i) => !axes.includes(i)), data: out.data };
}

/** Applies `f` to each 1-D line of `x` along `axis`: a line out keeps the shape, a number out drops the axis. */
export function alongAxis(x: Tensor, axis: number, f: (line: Float64Array, lineIndex: number) => Float64Array | number): Tensor {
  const outer = numel(x.shape.slice(0, axis));
  const len = x.shape[axis];
  const inner = numel(x.shape.slice(axis + 1));
  const line = new Float64Array(len);
  let out: Tensor | null = null;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      for (let k = 0; k < len; k++) line[k] = x.data[(o * len + k) * inner + i];
      const r = f(line, o * inner + i);
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

/** Visits every index of a box of `extent` starting at `starts` in `shape`, calling f(flat offset in shape, running count). */
export function forBox(shape: readonly number[], starts: readonly number[], extent: readonly number[], f: (off: number, i: number) => void): void {
  const st = broadcastStrides(shape, shape);
  const idx = new Array(extent.length).fill(0);
  const total = numel(extent);
  for (let i = 0; i < total; i++) {
    let off = 0;
    for (let k = 0; k < extent.length; k++) off += (starts[k] + idx[k]) * st[k];
    f(off, i);
    for (let k = extent.length - 1; k >= 0; k--) {
      if (++idx[k] < extent[k]) break;
      idx[k] = 0;
    }
  }
}

/** Checks an integer index against an axis of size n (no clamping: the compiled module throws too). */
export function checkedIndex(v: number, n: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= n) throw new EvalError(`${what}: index ${v} is out of range [0, ${n})`);
  return v;
}
