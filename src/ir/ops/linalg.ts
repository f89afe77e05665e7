// Linear algebra: the matrix product on any rank (NumPy's matmul: batch
// axes broadcast), the product that adds into an accumulator, and transpose
// by any permutation. `@` with a vector, `x.mT` and einsum are lowered onto
// these in the front end (src/frontend/lower/linalg.ts).
import { broadcastShapes, sameShape, showShape } from "../shape.js";
import { mulI, scaleI, matmulMoments, type Interval } from "../ranges.js";
import { broadcastShape, broadcastStrides, numel, tensor, type Tensor } from "../tensor.js";
import type { Attrs, Dim, Node, Shape } from "../types.js";
import { fail, requireFloat, NOTHING, type DimRange, type IRBuilder, type LintRules, type OpDef } from "./define.js";
import type { OpKind } from "./kinds.js";

/**
 * The parts of a product op(a) @ op(b), where op transposes the last two
 * axes when transA / transB: op(a) is [...batchA, M, K], op(b) [...batchB, K, N].
 */
export interface MatmulDims {
  batchA: Dim[];
  batchB: Dim[];
  M: Dim;
  K: Dim;
  N: Dim;
}

export function matmulDims(a: Shape, b: Shape, attrs: Attrs): MatmulDims {
  const ra = a.length;
  const rb = b.length;
  const [M, K] = attrs.transA === true ? [a[ra - 1], a[ra - 2]] : [a[ra - 2], a[ra - 1]];
  const N = attrs.transB === true ? b[rb - 2] : b[rb - 1];
  return { batchA: a.slice(0, ra - 2), batchB: b.slice(0, rb - 2), M, K, N };
}

/** The contracted dim of a matmul (or matmul_add) node. */
export function innerDim(n: Node): Dim {
  const [x, y] = n.op === "matmul_add" ? n.inputs.slice(1) : n.inputs;
  return matmulDims(x.shape, y.shape, n.attrs).K;
}

/** The output's batch axes (before sumBatch sums them away). */
export function batchOf(n: Node): Dim[] {
  const [x, y] = n.op === "matmul_add" ? n.inputs.slice(1) : n.inputs;
  const d = matmulDims(x.shape, y.shape, n.attrs);
  return broadcastShapes([d.batchA, d.batchB]) ?? [];
}

/** How many products one output element sums: K, times the batch when summed over it. */
function terms(n: Node): Dim[] {
  return n.attrs.sumBatch === true ? [innerDim(n), ...batchOf(n)] : [innerDim(n)];
}

const rangeOf = (ds: readonly Dim[], range: DimRange): [number, number] =>
  ds.reduce<[number, number]>(
    ([lo, hi], d) => {
      const [l, h] = range(d);
      return [lo * l, hi * h];
    },
    [1, 1],
  );

function matmulInfer(inputs: readonly Node[], a: Attrs): { shape: Dim[]; dtype: "float" } {
  requireFloat(inputs);
  const [x, y] = inputs;
  const what = `cannot multiply ${showShape(x.shape)}${a.transA ? "ᵀ" : ""} @ ${showShape(y.shape)}${a.transB ? "ᵀ" : ""}`;
  if (x.shape.length < 2 || y.shape.length < 2) fail(`${what}: matmul operands must have at least 2 axes`);
  const d = matmulDims(x.shape, y.shape, a);
  const kb = a.transB === true ? y.shape[y.shape.length - 1] : y.shape[y.shape.length - 2];
  if (d.K !== kb) fail(`${what}: inner dims ${d.K} and ${kb} differ`);
  const batch = broadcastShapes([d.batchA, d.batchB]);
  if (!batch) fail(`${what}: batch dims ${showShape(d.batchA)} and ${showShape(d.batchB)} do not broadcast`);
  return { shape: a.sumBatch === true ? [d.M, d.N] : [...batch, d.M, d.N], dtype: "float" };
}

/** op(a) @ op(b) in float64 on any rank, batch axes broadcast; summed over the batch when `sumBatch`. */
export function matmulTensors(a: Tensor, b: Tensor, attrs: Attrs): Tensor {
  const tA = attrs.transA === true;
  const tB = attrs.transB === true;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [m, k] = tA ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
  const n = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batch = broadcastShape(a.shape.slice(0, ra - 2), b.shape.slice(0, rb - 2));
  const sa = broadcastStrides(a.shape.slice(0, ra - 2), batch);
  const sb = broadcastStrides(b.shape.slice(0, rb - 2), batch);
  const sum = attrs.sumBatch === true;
  const out = tensor(sum ? [m, n] : [...batch, m, n]);
  // a'[i, p] = a[ao + i * ai + p * ap], b'[p, j] = b[bo + p * bp + j * bj].
  const [ai, ap] = tA ? [1, m] : [k, 1];
  const [bp, bj] = tB ? [1, k] : [n, 1];
  const idx = new Array<number>(batch.length).fill(0);
  for (let t = 0; t < numel(batch); t++) {
    let ao = 0;
    let bo = 0;
    for (let q = 0; q < batch.length; q++) {
      ao += idx[q] * sa[q] * m * k;
      bo += idx[q] * sb[q] * k * n;
    }
    const oo = sum ? 0 : t * m * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a.data[ao + i * ai + p * ap] * b.data[bo + p * bp + j * bj];
        out.data[oo + i * n + j] += s;
      }
    for (let q = batch.length - 1; q >= 0; q--) {
      if (++idx[q] < batch[q]) break;
      idx[q] = 0;
    }
  }
  return out;
}

/**
 * The matmul that gives an operand's gradient: its product, summed over the
 * batch when the operand has no batch axes (a weight read by every batch
 * element: one product over the flattened rows), else reduced to the
 * operand's shape where it was broadcast.
 */
function gradProduct(b: IRBuilder, x: Node, y: Node, attrs: Attrs, target: Node): Node {
  const full = matmulInfer([x, y], attrs).shape;
  if (sameShape(full, target.shape)) return b.op("matmul", [x, y], attrs);
  if (target.shape.length === 2) return b.op("matmul", [x, y], { ...attrs, sumBatch: true });
  return b.op("sum_to", [b.op("matmul", [x, y], attrs)], { shape: target.shape });
}

const matmulLint: LintRules = {
  interval: ([p, q], n, range) => scaleI(mulI(p, q), ...rangeOf(terms(n), range)),
  moments: ([p, q], n, dim) => (p && q ? matmulMoments(p, q, terms(n).reduce<number>((s, d) => s * dim(d), 1)) : null),
  gain: { kind: "linear" },
};

/** Batch size times the product's 2 M K N (a multiply and an add per term). */
function matmulFlops(n: Node, dv: (d: Dim) => number): number {
  const [x, y] = n.op === "matmul_add" ? n.inputs.slice(1) : n.inputs;
  const d = matmulDims(x.shape, y.shape, n.attrs);
  const batch = batchOf(n).reduce<number>((s, e) => s * dv(e), 1);
  return 2 * batch * dv(d.M) * dv(d.K) * dv(d.N);
}

/** The permutation of a transpose node: its `perm`, or all axes reversed. */
export function permOf(n: Node): number[] {
  const rank = n.inputs[0].shape.length;
  const p = n.attrs.perm as number[] | null | undefined;
  return p ? [...p] : [...Array(rank).keys()].reverse();
}

export const LINALG = {
  /**
   * op(a) @ op(b), where op transposes the last two axes (transA / transB):
   * [...Ba, M, K] @ [...Bb, K, N] -> [...broadcast(Ba, Bb), M, N]; with
   * `sumBatch`, [M, N] summed over the batch (a weight's gradient).
   */
  matmul: {
    class: "linalg",
    arity: 2,
    infer: matmulInfer,
    eval: ([a, b], n) => matmulTensors(a, b, n.attrs),
    vjp: (b, n, ct, needs) => {
      const [x, y] = n.inputs;
      const tA = n.attrs.transA === true;
      const tB = n.attrs.transB === true;
      // d op(a) = ct @ op(b)ᵀ and d op(b) = op(a)ᵀ @ ct, written in each operand's stored layout.
      const dx = () => (tA ? gradProduct(b, y, ct, { transA: tB, transB: true }, x) : gradProduct(b, ct, y, { transA: false, transB: !tB }, x));
      const dy = () => (tB ? gradProduct(b, ct, x, { transA: true, transB: tA }, y) : gradProduct(b, x, ct, { transA: !tA, transB: false }, y));
      return [needs[0] ? dx() : null, needs[1] ? dy() : null];
    },
    saves: { inputs: [0, 1], output: false },
    flops: matmulFlops,
    lint: matmulLint,
    example: { inputs: [[["B", 2, 3, 4], "float"], [[2, 4, 5], "float"]], attrs: { transA: false, transB: false } },
  },
  /**
   * acc + op(a) @ op(b), transposes and batch as for matmul: a matmul that
   * adds into its output. Built by simplification from acc + a @ b (BPTT's
   * weight gradients, xs[t] @ Wx + h @ Wh), so no temporary holds the
   * product; it is never differentiated (autodiff runs before simplification).
   */
  matmul_add: {
    class: "linalg",
    arity: 3,
    infer: (inputs, a) => {
      const [acc, x, y] = inputs;
      const t = matmulInfer([x, y], a);
      requireFloat(inputs, 0);
      if (!sameShape(acc.shape, t.shape)) fail(`cannot add ${showShape(t.shape)} into ${showShape(acc.shape)}`);
      return t;
    },
    eval: ([acc, a, b], n) => {
      const out = matmulTensors(a, b, n.attrs);
      for (let i = 0; i < out.data.length; i++) out.data[i] += acc.data[i];
      return out;
    },
    // The matmul's flops, and an add per element.
    flops: (n, dv) => matmulFlops(n, dv) + n.shape.reduce<number>((s, d) => s * dv(d), 1),
    lint: {
      interval: ([acc, p, q], n, range) => addHull(acc, scaleI(mulI(p, q), ...rangeOf(terms(n), range))),
      moments: ([acc, p, q], n, dim) => {
        if (!acc || !p || !q) return null;
        const m = matmulMoments(p, q, terms(n).reduce<number>((s, d) => s * dim(d), 1));
        return { mean: acc.mean + m.mean, var: acc.var + m.var };
      },
      gain: { unsupported: "matmul_add is built by simplification, after the linter's analyses" },
    },
    example: { inputs: [[[2, 3, 2], "float"], [[2, 3, 4], "float"], [[4, 2], "float"]], attrs: { transA: false, transB: false } },
  },
  /** Axes permuted: out axis i is input axis perm[i] (no `perm`: all axes reversed). A strided view. */
  transpose: {
    class: "layout",
    codegen: { view: "strided" },
    arity: 1,
    infer: (inputs, a) => {
      const [x] = inputs;
      const rank = x.shape.length;
      const p = a.perm as number[] | null | undefined;
      if (p === undefined || p === null) return { shape: [...x.shape].reverse(), dtype: x.dtype };
      const seen = new Set(p);
      if (p.length !== rank || seen.size !== rank || p.some((k) => !Number.isInteger(k) || k < 0 || k >= rank)) {
        fail(`transpose's permutation [${p.join(", ")}] must list each axis of ${showShape(x.shape)} (0 to ${rank - 1}) once`);
      }
      return { shape: p.map((k) => x.shape[k]), dtype: x.dtype };
    },
    eval: ([t], n) => {
      const perm = permOf(n);
      const shape = perm.map((k) => t.shape[k]);
      const inStrides = broadcastStrides(t.shape, t.shape);
      const st = perm.map((k) => inStrides[k]);
      const out = tensor(shape);
      const idx = new Array<number>(shape.length).fill(0);
      for (let i = 0; i < out.data.length; i++) {
        let off = 0;
        for (let q = 0; q < shape.length; q++) off += idx[q] * st[q];
        out.data[i] = t.data[off];
        for (let q = shape.length - 1; q >= 0; q--) {
          if (++idx[q] < shape[q]) break;
          idx[q] = 0;
        }
      }
      return out;
    },
    vjp: (b, n, ct) => {
      const perm = permOf(n);
      const inverse = perm.map((_, i) => perm.indexOf(i));
      return [b.op("transpose", [ct], { perm: inverse })];
    },
    saves: NOTHING,
    flops: () => 0,
    lint: { interval: (x) => x[0], moments: ([p]) => p, gain: { kind: "same" }, roles: ["layout"] },
    example: { inputs: [[["B", 3, 4], "float"]], attrs: { perm: [2, 0, 1] } },
  },
} satisfies Partial<Record<OpKind, OpDef>>;

/** Values of acc + v where v lands (acc elsewhere). */
function addHull(acc: Interval, v: Interval): Interval {
  return { lo: acc.lo + v.lo, hi: acc.hi + v.hi, loOpen: acc.loOpen || v.loOpen, hiOpen: acc.hiOpen || v.hiOpen };
}
