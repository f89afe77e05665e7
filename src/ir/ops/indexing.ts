// Indexing with values known at run time (spec section 9): regions with a
// start per axis (`x[:, t, :]`, `xs[t:t+K]`, `hs[t] = h`), integer-array
// gathers (`Emb[tok]`, `take(x, idx, axis=k)`) and their adjoints.
//
// A region op takes, after its tensor operands, one start per axis of the
// large tensor: an int scalar (a loop variable or an int expression of one)
// or an integer constant. Its attrs: `sizes`, the extent per axis (a Dim),
// `drop`, the axes indexed by a single integer (extent 1, removed from the
// region's shape), and `what`, the source text runtime errors name.
import { hull, point, type Moments } from "../ranges.js";
import { sameShape, showShape } from "../shape.js";
import { checkedIndex, EvalError, numel, tensor, type Tensor } from "../tensor.js";
import type { Attrs, Dim, Node } from "../types.js";
import { dims, fail, nums, requireInt, size, zeroFlops, type LintRules, type OpDef, type Role } from "./define.js";
import type { OpKind } from "./kinds.js";

/** The region's shape: the extents of the axes not dropped. */
export function regionShape(a: Attrs): Dim[] {
  const drop = nums(a, "drop");
  return dims(a, "sizes").filter((_, i) => !drop.includes(i));
}

/** Checks the starts (inputs from `first`) and the region against a tensor of `shape`. */
function checkRegion(inputs: readonly Node[], first: number, shape: readonly Dim[], a: Attrs): void {
  const starts = inputs.slice(first);
  const sizes = dims(a, "sizes");
  if (starts.length !== shape.length || sizes.length !== shape.length) {
    fail(`a region of ${showShape(shape)} needs a start and a size per axis, got ${starts.length} and ${sizes.length}`);
  }
  starts.forEach((s, i) => {
    // A constant start, or the size of a dim expression (`x[H:2*H, t]`).
    const constant = (s.op === "const" && Number.isInteger(s.attrs.value)) || s.op === "numel";
    if (!constant) requireInt(s, "a start");
    if (s.shape.length !== 0) fail(`a start must be an int scalar, got ${showShape(s.shape)}`);
    const d = shape[i];
    const k = sizes[i];
    if (typeof d === "number" && typeof k === "number" && k > d) fail(`a region of ${k} does not fit in axis ${i} of size ${d}`);
    if (k !== d && typeof k !== "number" && typeof d === "number") fail(`a region of symbolic size ${k} does not fit in axis ${i} of size ${d}`);
  });
  for (const ax of nums(a, "drop")) if (sizes[ax] !== 1) fail(`axis ${ax} is indexed by one integer but its extent is ${sizes[ax]}`);
}

/** The region's starts and extents for evaluation, each start checked (no clamping). */
function evalRegion(x: readonly Tensor[], first: number, shape: readonly number[], n: Node, dim: (d: Dim) => number) {
  const sizes = dims(n.attrs, "sizes").map(dim);
  const starts = x.slice(first).map((t, i) => {
    const v = t.data[0];
    if (!Number.isInteger(v) || v < 0 || v + sizes[i] > shape[i]) {
      throw new EvalError(`${n.attrs.what}: start ${v} of axis ${i} is out of range [0, ${shape[i] - sizes[i] + 1})`);
    }
    return v;
  });
  return { starts, sizes };
}

/** Visits each element of the region: f(offset in the large tensor, running index in the region). */
function forRegion(shape: readonly number[], starts: readonly number[], sizes: readonly number[], f: (off: number, i: number) => void): void {
  const strides = shape.map((_, a) => numel(shape.slice(a + 1)));
  const idx = new Array<number>(sizes.length).fill(0);
  const total = numel(sizes);
  for (let i = 0; i < total; i++) {
    let off = 0;
    for (let a = 0; a < sizes.length; a++) off += (starts[a] + idx[a]) * strides[a];
    f(off, i);
    for (let a = sizes.length - 1; a >= 0; a--) {
      if (++idx[a] < sizes[a]) break;
      idx[a] = 0;
    }
  }
}

/** How many starts are valid on an axis of size d for an extent k (for samplers and the generated tests). */
function startsOn(d: Dim, k: Dim): Dim {
  return typeof d === "number" && typeof k === "number" ? d - k + 1 : d;
}

const regionOf = (n: Node): Attrs => ({ sizes: n.attrs.sizes, drop: n.attrs.drop, what: n.attrs.what });
const startsFrom = (n: Node, first: number): Node[] => n.inputs.slice(first);
/** Roles of a region op's inputs: its tensors', then a start per axis (any rank up to 8) that selects. */
const withStarts = (...tensors: Role[]): Role[] => [...tensors, ...Array<Role>(8).fill("select")];

/** Values pass through unchanged in what they are. */
const MOVES: LintRules = { interval: (x) => x[0], moments: ([p]) => p, gain: { kind: "same" }, roles: withStarts("layout") };

/** Mean and variance of a tensor made of `part` elements of law q and the rest of law p. */
function mixture(p: Moments | null, q: Moments | null, part: number): Moments | null {
  if (!p || !q) return null;
  const mean = (1 - part) * p.mean + part * q.mean;
  const e2 = (1 - part) * (p.var + p.mean ** 2) + part * (q.var + q.mean ** 2);
  return { mean, var: Math.max(0, e2 - mean * mean) };
}

const copyOf = (t: Tensor): Tensor => tensor([...t.shape], Float64Array.from(t.data));

/** The output shape of a gather along `axis`: x's axis replaced by idx's shape. */
function gatherShape(x: readonly Dim[], idx: readonly Dim[], axis: number): Dim[] {
  return [...x.slice(0, axis), ...idx, ...x.slice(axis + 1)];
}

/** Visits a gather's pairs: f(offset in the output, offset in x) over every element; checks each index. */
function forGather(x: readonly number[], idx: Tensor, axis: number, what: string, f: (o: number, i: number) => void): void {
  const outer = numel(x.slice(0, axis));
  const n = x[axis];
  const inner = numel(x.slice(axis + 1));
  const m = idx.data.length;
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < m; j++) {
      const k = checkedIndex(idx.data[j], n, what);
      for (let i = 0; i < inner; i++) f((o * m + j) * inner + i, (o * n + k) * inner + i);
    }
}

export const INDEXING = {
  /** A region of x with runtime starts (a view when the starts are loop counters). */
  dslice: {
    class: "layout",
    codegen: { view: "strided" },
    arity: -1,
    infer: (inputs, a) => {
      const [x] = inputs;
      checkRegion(inputs, 1, x.shape, a);
      return { shape: regionShape(a), dtype: x.dtype };
    },
    eval: ([x, ...s], n, ctx) => {
      const { starts, sizes } = evalRegion([x, ...s], 1, x.shape, n, (d) => ctx.dim(d));
      const out = tensor(ctx.shape(regionShape(n.attrs)));
      forRegion(x.shape, starts, sizes, (off, i) => (out.data[i] = x.data[off]));
      return out;
    },
    vjp: (b, n, ct) => [b.op("dunslice", [ct, ...startsFrom(n, 1)], { ...regionOf(n), shape: n.inputs[0].shape }), ...startsFrom(n, 1).map(() => null)],
    saves: { inputs: [], output: false, rest: 1 },
    flops: zeroFlops,
    indexes: (n, k) => (k >= 1 ? startsOn(n.inputs[0].shape[k - 1], dims(n.attrs, "sizes")[k - 1]) : null),
    lint: MOVES,
    example: { inputs: [[[4, 5], "float"], [[], "int"], [[], "int"]], attrs: { sizes: [1, 3], drop: [0], what: "x[i, j:j + 3]" } },
  },
  /** Zeros of `shape` with the region set to v: the gradient of dslice. */
  dunslice: {
    class: "layout",
    arity: -1,
    infer: (inputs, a) => {
      const [v] = inputs;
      const shape = dims(a, "shape");
      checkRegion(inputs, 1, shape, a);
      if (!sameShape(regionShape(a), v.shape)) fail(`cannot place ${showShape(v.shape)} in a ${showShape(regionShape(a))} region`);
      return { shape: [...shape], dtype: "float" };
    },
    eval: ([v, ...s], n, ctx) => {
      const out = tensor(ctx.shape(dims(n.attrs, "shape")));
      const { starts, sizes } = evalRegion([v, ...s], 1, out.shape, n, (d) => ctx.dim(d));
      forRegion(out.shape, starts, sizes, (off, i) => (out.data[off] = v.data[i]));
      return out;
    },
    vjp: (b, n, ct) => [b.op("dslice", [ct, ...startsFrom(n, 1)], regionOf(n)), ...startsFrom(n, 1).map(() => null)],
    saves: { inputs: [], output: false, rest: 1 },
    flops: zeroFlops,
    indexes: (n, k) => (k >= 1 ? startsOn(dims(n.attrs, "shape")[k - 1], dims(n.attrs, "sizes")[k - 1]) : null),
    lint: { interval: ([x]) => hull(x, point(0)), moments: () => null, gain: { kind: "same" }, roles: withStarts("layout") },
    example: { inputs: [[[3], "float"], [[], "int"], [[], "int"]], attrs: { sizes: [1, 3], drop: [0], shape: [4, 5], what: "x[i, j:j + 3]" } },
  },
  /** acc with the region increased by v: a loop's gradient for xs where the body reads a region of it. */
  dslice_add: {
    class: "layout",
    arity: -1,
    infer: (inputs, a) => {
      const [acc, v] = inputs;
      checkRegion(inputs, 2, acc.shape, a);
      if (!sameShape(regionShape(a), v.shape)) fail(`cannot add ${showShape(v.shape)} into a ${showShape(regionShape(a))} region`);
      return { shape: [...acc.shape], dtype: "float" };
    },
    eval: ([acc, v, ...s], n, ctx) => {
      const out = copyOf(acc);
      const { starts, sizes } = evalRegion([acc, v, ...s], 2, acc.shape, n, (d) => ctx.dim(d));
      forRegion(acc.shape, starts, sizes, (off, i) => (out.data[off] += v.data[i]));
      return out;
    },
    flops: (n, dv) => size(n.inputs[1], dv),
    indexes: (n, k) => (k >= 2 ? startsOn(n.inputs[0].shape[k - 2], dims(n.attrs, "sizes")[k - 2]) : null),
    lint: {
      interval: ([acc, v]) => hull(acc, { lo: acc.lo + v.lo, hi: acc.hi + v.hi, loOpen: acc.loOpen || v.loOpen, hiOpen: acc.hiOpen || v.hiOpen }),
      moments: () => null,
      gain: { kind: "sum" },
      roles: withStarts("compute", "compute"),
    },
    example: { inputs: [[[4, 5], "float"], [[3], "float"], [[], "int"], [[], "int"]], attrs: { sizes: [1, 3], drop: [0], what: "x[i, j:j + 3]" } },
  },
  /**
   * x with the region replaced by v (v broadcasts to the region): `hs[t] = h`.
   * A new value: readers of x still see x (codegen writes in place only
   * when none reads x later). Gradients need no saved values: x's is the
   * cotangent with the region zeroed, v's the cotangent's region.
   */
  update: {
    class: "layout",
    arity: -1,
    infer: (inputs, a) => {
      const [x, v] = inputs;
      checkRegion(inputs, 2, x.shape, a);
      if (v.dtype !== x.dtype) fail(`cannot write a ${v.dtype} value into an ${x.dtype} tensor`);
      const region = regionShape(a);
      const lead = region.length - v.shape.length;
      if (lead < 0 || v.shape.some((d, i) => d !== 1 && d !== region[lead + i])) {
        fail(`cannot write ${showShape(v.shape)} into a ${showShape(region)} region of ${showShape(x.shape)}`);
      }
      return { shape: [...x.shape], dtype: x.dtype };
    },
    eval: ([x, v, ...s], n, ctx) => {
      const out = copyOf(x);
      const { starts, sizes } = evalRegion([x, v, ...s], 2, x.shape, n, (d) => ctx.dim(d));
      const region = ctx.shape(regionShape(n.attrs));
      const w = v.data.length === numel(region) ? v : { shape: region, data: broadcastData(v, region) };
      forRegion(x.shape, starts, sizes, (off, i) => (out.data[off] = w.data[i]));
      return out;
    },
    vjp: (b, n, ct, needs) => {
      const starts = startsFrom(n, 2);
      // The region is read before it is zeroed, so the zeroing may happen in place.
      const dv = needs[1] ? b.op("dslice", [ct, ...starts], regionOf(n)) : null;
      const dx = needs[0] ? b.op("update", [ct, b.const(0), ...starts], regionOf(n)) : null;
      return [dx, dv, ...starts.map(() => null)];
    },
    saves: { inputs: [], output: false, rest: 2 },
    flops: zeroFlops,
    indexes: (n, k) => (k >= 2 ? startsOn(n.inputs[0].shape[k - 2], dims(n.attrs, "sizes")[k - 2]) : null),
    lint: {
      interval: ([x, v]) => hull(x, v),
      moments: ([p, q], n, dim) => {
        const part = regionShape(n.attrs).reduce<number>((s, d) => s * dim(d), 1) / n.shape.reduce<number>((s, d) => s * dim(d), 1);
        return mixture(p, q, part);
      },
      // Each element comes from x or from v ("max" would be the tight bound); as a sum, the
      // recurrence analysis reads `hs[t] = h` in a loop as new content added to the carried
      // hs (as it is), not as hs rescaled at every step.
      gain: { kind: "sum" },
      roles: withStarts("layout", "layout"),
    },
    example: { inputs: [[[4, 5], "float"], [[3], "float"], [[], "int"], [[], "int"]], attrs: { sizes: [1, 3], drop: [0], what: "x[i, j:j + 3]" } },
  },
  /** x's entries along `axis` at the indices idx (any shape): `Emb[tok]`, `take(x, idx, axis=k)`. */
  gather: {
    class: "layout",
    arity: 2,
    infer: (inputs, a) => {
      const [x, idx] = inputs;
      requireInt(idx, "the indices");
      const axis = a.axis as number;
      if (!(axis >= 0 && axis < x.shape.length)) fail(`axis ${axis} is out of range for ${showShape(x.shape)}`);
      return { shape: gatherShape(x.shape, idx.shape, axis), dtype: x.dtype };
    },
    eval: ([x, idx], n, ctx) => {
      const out = tensor(ctx.shape(n.shape));
      forGather(x.shape, idx, n.attrs.axis as number, n.attrs.what as string, (o, i) => (out.data[o] = x.data[i]));
      return out;
    },
    vjp: (b, n, ct) => [b.op("scatter_add", [ct, n.inputs[1]], { axis: n.attrs.axis, n: n.inputs[0].shape[n.attrs.axis as number], what: n.attrs.what }), null],
    saves: { inputs: [1], output: false },
    flops: zeroFlops,
    indexes: (n, k) => (k === 1 ? n.inputs[0].shape[n.attrs.axis as number] : null),
    lint: { interval: (x) => x[0], moments: ([p]) => p, gain: { kind: "same" }, roles: ["layout", "select"] },
    example: { inputs: [[[5, 3], "float"], [["B", 2], "int"]], attrs: { axis: 0, what: "E[idx]" } },
  },
  /**
   * Zeros of x's shape (axis of size n) with each slice of v added at its
   * index: the gradient of gather (a repeated index adds up).
   */
  scatter_add: {
    class: "layout",
    arity: 2,
    infer: (inputs, a) => {
      const [v, idx] = inputs;
      requireInt(idx, "the indices");
      const axis = a.axis as number;
      const lead = v.shape.slice(0, axis);
      const tail = v.shape.slice(axis + idx.shape.length);
      if (!sameShape(v.shape.slice(axis, axis + idx.shape.length), idx.shape)) fail(`cannot scatter ${showShape(v.shape)} by indices ${showShape(idx.shape)}`);
      return { shape: [...lead, a.n as Dim, ...tail], dtype: "float" };
    },
    eval: ([v, idx], n, ctx) => {
      const out = tensor(ctx.shape(n.shape));
      forGather(out.shape, idx, n.attrs.axis as number, n.attrs.what as string, (o, i) => (out.data[i] += v.data[o]));
      return out;
    },
    vjp: (b, n, ct) => [b.op("gather", [ct, n.inputs[1]], { axis: n.attrs.axis, what: n.attrs.what }), null],
    saves: { inputs: [1], output: false },
    flops: (n, dv) => size(n.inputs[0], dv),
    indexes: (n, k) => (k === 1 ? (n.attrs.n as Dim) : null),
    lint: { interval: ([x]) => hull(x, point(0)), moments: () => null, gain: { kind: "same" }, roles: ["layout", "select"] },
    example: { inputs: [[["B", 2, 3], "float"], [["B", 2], "int"]], attrs: { axis: 0, n: 5, what: "E[idx]" } },
  },
  /** acc with each slice of v added at its index along `axis` (a loop's gradient of a gather, in place). */
  gather_add: {
    class: "layout",
    arity: 3,
    infer: (inputs, a) => {
      const [acc, v, idx] = inputs;
      requireInt(idx, "the indices");
      const axis = a.axis as number;
      if (!sameShape(gatherShape(acc.shape, idx.shape, axis), v.shape)) fail(`cannot scatter ${showShape(v.shape)} into ${showShape(acc.shape)}`);
      return { shape: [...acc.shape], dtype: "float" };
    },
    eval: ([acc, v, idx], n) => {
      const out = copyOf(acc);
      forGather(acc.shape, idx, n.attrs.axis as number, n.attrs.what as string, (o, i) => (out.data[i] += v.data[o]));
      return out;
    },
    flops: (n, dv) => size(n.inputs[1], dv),
    indexes: (n, k) => (k === 2 ? n.inputs[0].shape[n.attrs.axis as number] : null),
    lint: {
      interval: ([acc, v]) => hull(acc, { lo: acc.lo + v.lo, hi: acc.hi + v.hi, loOpen: acc.loOpen || v.loOpen, hiOpen: acc.hiOpen || v.hiOpen }),
      moments: () => null,
      gain: { kind: "sum" },
      roles: ["compute", "compute", "select"],
    },
    example: { inputs: [[[5, 3], "float"], [["B", 2, 3], "float"], [["B", 2], "int"]], attrs: { axis: 0, what: "E[idx]" } },
  },
} satisfies Partial<Record<OpKind, OpDef>>;

/** v's elements broadcast to `shape` (NumPy: trailing axes align), row-major. */
function broadcastData(v: Tensor, shape: readonly number[]): Float64Array {
  const out = new Float64Array(numel(shape));
  const lead = shape.length - v.shape.length;
  const st = v.shape.map((d, i) => (d === 1 ? 0 : numel(v.shape.slice(i + 1))));
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    let off = 0;
    for (let a = lead; a < shape.length; a++) off += idx[a] * st[a - lead];
    out[i] = v.data[off];
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}
