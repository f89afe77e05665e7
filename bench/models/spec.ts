// The bench's models: each names its .bp source (bench/models/*.bp, sizes
// fixed), its sizes, how its inputs are drawn (from the .bp hints), and the
// peer figures issue 6 measured on this machine. The TF.js and jax-js twins
// are in tfjs.ts and jax.ts, written from the same .bp text.

import { mulberry32 } from "../../src/ir/random.js";
export type Gen =
  | { kind: "normal"; std: number }
  | { kind: "uniform"; lo: number; hi: number }
  /** Integers in [0, n). */
  | { kind: "int"; n: number }
  /** 1 with probability p, else 0 (as floats). */
  | { kind: "bernoulli"; p: number };

export type Family = "mlp" | "rnn" | "dqn" | "batchnorm" | "lenet" | "allconv" | "transformer" | "char_lm";

export interface BenchModel {
  id: string;
  title: string;
  family: Family;
  /** File name under bench/models. */
  bp: string;
  /** Every dim of the .bp, by name. */
  sizes: Record<string, number>;
  inputs: Record<string, { shape: number[]; gen: Gen }>;
  /** Issue 6's figures on this machine, ms per step. */
  issue?: { tfjsCpu: number; tfjsWasm: number; jax: number; hand: number };
  /**
   * The language features the .bp uses beyond what every model uses (spec
   * section 9): when it does not compile, the bench skips the model with a
   * "needs: ..." line naming them.
   */
  needs?: string[];
}

function mlp(B: number, issue: BenchModel["issue"]): BenchModel {
  return {
    id: `mlp-b${B}`,
    title: `MLP 784-128-10 relu, softmax CE, batch ${B}`,
    family: "mlp",
    bp: `mlp_b${B}.bp`,
    sizes: { B, D: 784, H: 128, C: 10 },
    inputs: {
      x: { shape: [B, 784], gen: { kind: "uniform", lo: 0, hi: 1 } },
      y: { shape: [B], gen: { kind: "int", n: 10 } },
    },
    issue,
  };
}

export const MODELS: BenchModel[] = [
  mlp(1, { tfjsCpu: 2.64, tfjsWasm: 1.36, jax: 0.86, hand: 0.23 }),
  mlp(64, { tfjsCpu: 44.7, tfjsWasm: 8.8, jax: 2.47, hand: 6.43 }),
  mlp(256, { tfjsCpu: 172, tfjsWasm: 32.0, jax: 7.05, hand: 25.6 }),
  {
    id: "rnn",
    title: "vanilla RNN, D 32, H 64, T 50, batch 16",
    family: "rnn",
    bp: "rnn.bp",
    sizes: { B: 16, T: 50, D: 32, H: 64, C: 10 },
    inputs: {
      xs: { shape: [50, 16, 32], gen: { kind: "normal", std: 1 } },
      y: { shape: [16], gen: { kind: "int", n: 10 } },
    },
    issue: { tfjsCpu: 71.9, tfjsWasm: 25.6, jax: 12.9, hand: 8.56 },
  },
  {
    id: "dqn",
    title: "DQN loss, batch 32, 8 features, 2 hidden of 64, 4 actions",
    family: "dqn",
    bp: "dqn.bp",
    sizes: { B: 32, S: 8, H: 64, A: 4 },
    inputs: {
      s: { shape: [32, 8], gen: { kind: "normal", std: 1 } },
      a: { shape: [32], gen: { kind: "int", n: 4 } },
      r: { shape: [32], gen: { kind: "uniform", lo: -1, hi: 1 } },
      s_next: { shape: [32, 8], gen: { kind: "normal", std: 1 } },
      done: { shape: [32], gen: { kind: "bernoulli", p: 0.1 } },
    },
  },
  {
    id: "batchnorm",
    title: "batch-norm MLP 64-128-10, batch 128",
    family: "batchnorm",
    bp: "batchnorm.bp",
    sizes: { B: 128, D: 64, H: 128, C: 10 },
    inputs: {
      x: { shape: [128, 64], gen: { kind: "normal", std: 1 } },
      y: { shape: [128], gen: { kind: "int", n: 10 } },
    },
  },
  {
    id: "lenet",
    title: "LeNet-5 (conv 5x5, max-pool, conv 5x5, max-pool, 120-84-10), batch 64",
    family: "lenet",
    bp: "lenet_b64.bp",
    sizes: { B: 64, C: 10 },
    inputs: {
      x: { shape: [64, 1, 28, 28], gen: { kind: "uniform", lo: 0, hi: 1 } },
      y: { shape: [64], gen: { kind: "int", n: 10 } },
    },
  },
  {
    id: "allconv",
    title: "all-conv net (3x3 conv stride 2 x3: 16, 32, 64; global average pool; 10), batch 64",
    family: "allconv",
    bp: "allconv_b64.bp",
    sizes: { B: 64, C: 10 },
    inputs: {
      x: { shape: [64, 1, 28, 28], gen: { kind: "uniform", lo: 0, hi: 1 } },
      y: { shape: [64], gen: { kind: "int", n: 10 } },
    },
  },
  {
    id: "transformer",
    title: "pre-norm transformer block (causal attention, gelu MLP 256), B 16, T 32, D 64",
    family: "transformer",
    bp: "transformer.bp",
    sizes: { B: 16, T: 32, D: 64, F: 256 },
    inputs: {
      x: { shape: [16, 32, 64], gen: { kind: "normal", std: 1 } },
      target: { shape: [16, 32, 64], gen: { kind: "normal", std: 1 } },
    },
    needs: ["any-rank @", ".mT", "layer_norm", "gelu", "tril", "softmax on a rank-3 tensor"],
  },
  {
    id: "char_lm",
    title: "GRU character LM (embedding 32, H 128, vocab 64, per-token loss), B 32, T 64",
    family: "char_lm",
    bp: "char_lm.bp",
    sizes: { T: 64, B: 32, V: 64, E: 32, H: 128 },
    inputs: {
      tok: { shape: [64, 32], gen: { kind: "int", n: 64 } },
      next: { shape: [64, 32], gen: { kind: "int", n: 64 } },
    },
    needs: [
      "dim expressions (3 * H, H:2*H)",
      "Emb[tok] (gather)",
      "hs[t] = h (indexed assignment)",
      "any-rank @",
      "any-rank cross_entropy",
    ],
  },
];

/**
 * A dim of a shape as the compiler reports it (a number, a dim's name, or a
 * dim expression such as `3 * H` or `B * T`) at the model's sizes.
 */
export function dimValue(d: number | string, sizes: Record<string, number>): number {
  if (typeof d === "number") return d;
  const toks = d.match(/\d+|[A-Za-z_]\w*|\/\/|[-+*()]/g) ?? [];
  let i = 0;
  const atom = (): number => {
    const t = toks[i++];
    if (t === "(") {
      const v = sum();
      i++;
      return v;
    }
    if (t === "-") return -atom();
    if (t !== undefined && /^\d+$/.test(t)) return Number(t);
    if (t !== undefined && t in sizes) return sizes[t];
    throw new Error(`bench: cannot size the dim '${d}' (sizes: ${Object.keys(sizes).join(", ")})`);
  };
  const prod = (): number => {
    let v = atom();
    while (toks[i] === "*" || toks[i] === "//") v = toks[i++] === "*" ? v * atom() : Math.floor(v / atom());
    return v;
  };
  const sum = (): number => {
    let v = prod();
    while (toks[i] === "+" || toks[i] === "-") v = toks[i++] === "+" ? v + prod() : v - prod();
    return v;
  };
  const v = sum();
  if (i !== toks.length) throw new Error(`bench: cannot size the dim '${d}'`);
  return v;
}

/** A seeded PRNG: bpc's shared mulberry32 (src/ir/random.ts). */
export const rng = mulberry32;

/** The model's inputs, drawn deterministically from `seed`. */
export function makeInputs(m: BenchModel, seed: number): Record<string, Float32Array | Int32Array> {
  const next = rng(seed);
  const out: Record<string, Float32Array | Int32Array> = {};
  for (const [name, { shape, gen }] of Object.entries(m.inputs)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (gen.kind === "int") {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = Math.floor(next() * gen.n);
      out[name] = a;
      continue;
    }
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (gen.kind === "uniform") a[i] = gen.lo + (gen.hi - gen.lo) * next();
      else if (gen.kind === "bernoulli") a[i] = next() < gen.p ? 1 : 0;
      else a[i] = gen.std * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    }
    out[name] = a;
  }
  return out;
}
