// Seeded randomness and mini-batching for training loops. Everything here is
// deterministic per seed so that a training run can be reproduced exactly.
import { mulberry32 } from "../ir/random.js";

/**
 * A seeded pseudo-random generator (mulberry32, the one the compiled modules'
 * `init` and the linter draw from): returns a function yielding uniform
 * floats in [0, 1). Same seed, same sequence. The seed is taken as a 32-bit
 * unsigned integer.
 */
export function rng(seed: number): () => number {
  return mulberry32(seed >>> 0);
}

/** Anything indexable and writable: plain arrays and typed arrays. */
export interface MutableArrayLike<T> {
  readonly length: number;
  [index: number]: T;
}

/**
 * Shuffles `array` in place (Fisher–Yates) and returns it. `random` is a seed
 * or a generator from {@link rng}; never `Math.random`, so results reproduce.
 */
export function shuffle<A extends MutableArrayLike<unknown>>(array: A, random: number | (() => number)): A {
  const next = typeof random === "number" ? rng(random) : random;
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const tmp = array[i];
    array[i] = array[j];
    array[j] = tmp;
  }
  return array;
}

/** Options for {@link batches}. */
export interface BatchOptions {
  /** Number of examples; indices run over 0..n-1. */
  n: number;
  batchSize: number;
  /** Seed of the run; combined with `epoch` so each epoch has its own order. */
  seed: number;
  /** Epoch number (default 0). Each epoch's order is reproducible on its own, e.g. when resuming. */
  epoch?: number;
  /** Drop the final batch when it is smaller than `batchSize` (default false). */
  dropLast?: boolean;
}

/** One epoch's mini-batches: iterable (repeatably, in the same order) and counted. */
export interface Batches extends Iterable<Int32Array> {
  /** Number of batches the iteration yields. */
  readonly count: number;
}

/**
 * The mini-batches of one epoch: a seeded permutation of 0..n-1 cut into
 * `Int32Array` batches of `batchSize` indices (the last one shorter unless
 * `dropLast`). Every index appears exactly once per epoch (minus the dropped
 * tail). Batches are views into one shared permutation: do not mutate them.
 */
export function batches(options: BatchOptions): Batches {
  const { n, batchSize, seed, epoch = 0, dropLast = false } = options;
  if (!Number.isInteger(n) || n < 0) throw new Error(`batches: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batches: batchSize must be a positive integer, got ${batchSize}`);
  }
  if (!Number.isInteger(epoch) || epoch < 0)
    throw new Error(`batches: epoch must be a non-negative integer, got ${epoch}`);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // Mix the epoch into the seed with an odd multiplier so that neighbouring
  // (seed, epoch) pairs start the generator far apart.
  shuffle(order, rng((seed ^ Math.imul(epoch + 1, 0x9e3779b9)) >>> 0));
  const count = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  return {
    count,
    *[Symbol.iterator]() {
      for (let b = 0; b < count; b++) yield order.subarray(b * batchSize, Math.min(n, (b + 1) * batchSize));
    },
  };
}

function checkIndices(what: string, rows: number, indices: ArrayLike<number>): void {
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    // An out-of-range index would read `undefined` and silently become NaN or 0.
    if (!Number.isInteger(i) || i < 0 || i >= rows) {
      throw new Error(`${what}: index ${i} at position ${k} is out of range for ${rows} rows`);
    }
  }
}

function checkOut(what: string, needed: number, out: { length: number } | undefined): void {
  if (out !== undefined && out.length < needed) {
    throw new Error(`${what}: output buffer has length ${out.length}, needs at least ${needed}`);
  }
}

/**
 * Copies rows `indices` of the row-major matrix `src` (rows of `rowSize`
 * values) into a batch. Pass a preallocated `out` (sized for a full batch) to
 * avoid allocating per step: the result is then a view of `out` holding
 * exactly `indices.length * rowSize` values, so a shorter final batch still
 * has the right length.
 */
export function gather(
  src: Float32Array,
  rowSize: number,
  indices: ArrayLike<number>,
  out?: Float32Array,
): Float32Array {
  if (!Number.isInteger(rowSize) || rowSize < 1 || src.length % rowSize !== 0) {
    throw new Error(`gather: rowSize ${rowSize} does not divide the source length ${src.length}`);
  }
  const needed = indices.length * rowSize;
  checkOut("gather", needed, out);
  checkIndices("gather", src.length / rowSize, indices);
  const dst = out === undefined ? new Float32Array(needed) : out.subarray(0, needed);
  for (let k = 0; k < indices.length; k++) {
    const start = indices[k] * rowSize;
    dst.set(src.subarray(start, start + rowSize), k * rowSize);
  }
  return dst;
}

/** {@link gather} for one integer label per example: picks `src[indices[k]]`. */
export function gatherLabels(src: Int32Array, indices: ArrayLike<number>, out?: Int32Array): Int32Array {
  checkOut("gatherLabels", indices.length, out);
  checkIndices("gatherLabels", src.length, indices);
  const dst = out === undefined ? new Int32Array(indices.length) : out.subarray(0, indices.length);
  for (let k = 0; k < indices.length; k++) dst[k] = src[indices[k]];
  return dst;
}
