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

export type Family = "mlp" | "rnn" | "dqn" | "batchnorm" | "lenet";

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
];

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
