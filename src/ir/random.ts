// The one seeded random source of bpc: the generated modules' `init`, the
// linter's sampler, `bpc check` and `bpc/train` all draw from mulberry32
// streams and Box-Muller normals defined here. Generated modules import
// nothing, so they carry the same functions as source text (RANDOM_SOURCE);
// tests hold the text and these functions to the same sequences.

/** mulberry32: uniform numbers in [0, 1) from a 32-bit state. Same seed, same sequence. */
export function mulberry32(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The starting state of stream `stream` of `seed` (each param of a model draws from its own stream). */
export function streamState(seed: number, stream: number): number {
  let s = Math.imul(Math.floor(seed) | 0, 0x9e3779b9) ^ Math.imul(stream + 1, 0x85ebca6b);
  s = Math.imul(s ^ (s >>> 16), 0x7feb352d);
  s = Math.imul(s ^ (s >>> 15), 0x846ca68b);
  return s ^ (s >>> 16);
}

/** Stream `stream` of `seed`. */
export const rng = (seed: number, stream: number): (() => number) => mulberry32(streamState(seed, stream));

/** A standard normal sample (Box-Muller on two uniforms). */
export function gauss(next: () => number): number {
  const u = 1 - next(); // in (0, 1]
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

/** The same functions as generated-module source (TypeScript): `rng(seed, stream)` and `gauss(next)`. */
export const RANDOM_SOURCE = {
  rng: `
/** A seeded PRNG (mulberry32) for stream \`stream\` of \`seed\`: uniform numbers in [0, 1). */
function rng(seed: number, stream: number): () => number {
  let s = Math.imul(Math.floor(seed) | 0, 0x9e3779b9) ^ Math.imul(stream + 1, 0x85ebca6b);
  s = Math.imul(s ^ (s >>> 16), 0x7feb352d);
  s = Math.imul(s ^ (s >>> 15), 0x846ca68b);
  s ^= s >>> 16;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}`,
  gauss: `
/** A standard normal sample (Box-Muller). */
function gauss(next: () => number): number {
  const u = 1 - next(); // in (0, 1]
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}`,
} as const;

/** A generator object for code that draws many kinds of numbers from one stream (the linter's probes). */
export class Rng {
  readonly next: () => number;
  constructor(seed: number, stream = 0) {
    this.next = rng(seed, stream);
  }
  normal(): number {
    return gauss(this.next);
  }
}
