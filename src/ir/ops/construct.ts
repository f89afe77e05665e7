// Constructors (section 9): arange(n) and eye(n), and the triangular masks
// tril(x, k) and triu(x, k) on the last two axes of any rank
// (`tril(ones([T, T]))` is a causal mask).
import { hull, iv, point } from "../ranges.js";
import { showShape } from "../shape.js";
import { mapElements, tensor, type Tensor } from "../tensor.js";
import type { Attrs, Dim, DType, Node } from "../types.js";
import { fail, num, requireFloat, zeroFlops, NOTHING, type OpDef } from "./define.js";
import type { OpKind } from "./kinds.js";

/** Whether element (i, j) of the last two axes is kept: on or below the k-th diagonal (tril), on or above (triu). */
export function keptByTriangle(op: "tril" | "triu", k: number): (i: number, j: number) => boolean {
  return op === "tril" ? (i, j) => j - i <= k : (i, j) => j - i >= k;
}

function triangleInfer(inputs: readonly Node[], a: Attrs): { shape: Dim[]; dtype: DType } {
  requireFloat(inputs);
  const x = inputs[0];
  if (x.shape.length < 2)
    fail(`tril and triu need a tensor of rank 2 or more (they mask its last two axes), got ${showShape(x.shape)}`);
  if (!Number.isInteger(num(a, "k"))) fail(`the diagonal k must be an integer, got ${num(a, "k")}`);
  return { shape: [...x.shape], dtype: "float" };
}

function triangleEval(x: Tensor, op: "tril" | "triu", k: number): Tensor {
  const [M, N] = x.shape.slice(-2);
  const keep = keptByTriangle(op, k);
  const out = mapElements((v) => v, [x]);
  for (let e = 0; e < out.data.length; e++) {
    const j = e % N;
    const i = Math.floor(e / N) % M;
    if (!keep(i, j)) out.data[e] = 0;
  }
  return out;
}

function triangle(op: "tril" | "triu"): OpDef {
  return {
    class: "nn",
    arity: 1,
    infer: triangleInfer,
    eval: ([x], n) => triangleEval(x, op, num(n.attrs, "k")),
    // The gradient is masked the same way.
    vjp: (b, n, ct) => [b.op(op, [ct], n.attrs)],
    saves: NOTHING,
    flops: zeroFlops,
    lint: {
      interval: ([x]) => hull(x, point(0)),
      moments: () => null,
      gain: { kind: "same" },
      roles: ["layout"],
    },
    example: { inputs: [[["B", 3, 4], "float"]], attrs: { k: op === "tril" ? 0 : 1 } },
  };
}

const dimOf = (a: Attrs): Dim => a.n as Dim;

export const CONSTRUCT = {
  /** 0, 1, ..., n-1 as int [n]. */
  arange: {
    class: "nn",
    arity: 0,
    infer: (_i, a) => ({ shape: [dimOf(a)], dtype: "int" }),
    eval: (_x, n, ctx) => {
      const k = ctx.dim(dimOf(n.attrs));
      return tensor(
        [k],
        Float64Array.from({ length: k }, (_, i) => i),
      );
    },
    flops: zeroFlops,
    lint: {
      interval: (_x, n, range) => iv(0, range(dimOf(n.attrs))[1] - 1),
      // Uniform over 0..n-1.
      moments: (_m, n, dim) => {
        const k = dim(dimOf(n.attrs));
        return { mean: (k - 1) / 2, var: (k * k - 1) / 12 };
      },
      gain: { kind: "zero" },
    },
    example: { inputs: [], attrs: { n: 5 } },
  },
  /** The n × n identity. */
  eye: {
    class: "nn",
    arity: 0,
    infer: (_i, a) => ({ shape: [dimOf(a), dimOf(a)], dtype: "float" }),
    eval: (_x, n, ctx) => {
      const k = ctx.dim(dimOf(n.attrs));
      const t = tensor([k, k]);
      for (let i = 0; i < k; i++) t.data[i * k + i] = 1;
      return t;
    },
    flops: zeroFlops,
    lint: {
      interval: () => iv(0, 1),
      moments: (_m, n, dim) => {
        const k = dim(dimOf(n.attrs));
        return { mean: 1 / k, var: 1 / k - 1 / (k * k) };
      },
      gain: { kind: "zero" },
    },
    example: { inputs: [], attrs: { n: 4 } },
  },
  tril: triangle("tril"),
  triu: triangle("triu"),
} satisfies Partial<Record<OpKind, OpDef>>;
