// The helper functions a generated module carries: input validation, the
// seeded PRNG and initializers, and the kernels that are the same for every
// call site (softmax, cross-entropy, pick, ...; matmuls are emitted per shape by matmul.ts). Each is TypeScript source
// text over the module's float array type; the emitter includes only those a
// model uses.

import { initSource } from "../ir/init.js";
import { RANDOM_SOURCE } from "../ir/random.js";
import { MATMUL_WASM_BASE64 } from "./generated/matmul-wasm.js";

const MATMUL_WASM_BYTES = Math.floor((MATMUL_WASM_BASE64.length * 3) / 4) - (MATMUL_WASM_BASE64.match(/=*$/)?.[0].length ?? 0);

export type Helper =
  | "checkKeys"
  | "checkArray"
  | "checkFinite"
  | "checkFiniteVia"
  | "inferDim"
  | "badDim"
  | "badSize"
  | "describe"
  | "rng"
  | "gauss"
  | "fillNormal"
  | "fillUniform"
  | "orthogonal"
  | "softmax"
  | "logSoftmax"
  | "crossEntropy"
  | "pick"
  | "oneHot"
  | "checkIndex"
  | "simdKernel"
  | "newArena"
  | "take"
  | "matmulSimd"
  | "matmulJs"
  | "transposeInto"
  | "relu32"
  | "checkScalar"
  | "scalarIn";

/** Helpers each helper calls. */
export const HELPER_DEPS: Partial<Record<Helper, Helper[]>> = {
  checkArray: ["describe"],
  checkKeys: ["describe"],
  badDim: ["describe"],
  checkFiniteVia: ["checkFinite"],
  checkScalar: ["checkArray", "checkFinite", "describe"],
  fillNormal: ["gauss"],
  orthogonal: ["gauss"],
  newArena: ["simdKernel"],
};

export function helperSource(h: Helper, FA: string): string {
  switch (h) {
    case "simdKernel":
      return `
/**
 * The f32 SIMD matmul kernel (WebAssembly, ${MATMUL_WASM_BYTES} bytes, assembled by bpc's
 * scripts/build-wasm.mjs), compiled on first use; null where WebAssembly or
 * its SIMD instructions are unavailable (the module then runs its JS kernels).
 */
let simdModule: WasmModule | null | undefined;
interface WasmModule { readonly _module: unique symbol }
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
}
const SIMD_KERNEL = ${JSON.stringify(MATMUL_WASM_BASE64)};
function simdKernel(): { wasm: WasmApi; module: WasmModule } | null {
  const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (simdModule === undefined) {
    simdModule = null;
    try {
      const { atob } = globalThis as unknown as { atob: (s: string) => string };
      if (wasm) simdModule = new wasm.Module(Uint8Array.from(atob(SIMD_KERNEL), (c: string) => c.charCodeAt(0)));
    } catch {
      simdModule = null;
    }
  }
  return wasm && simdModule ? { wasm, module: simdModule } : null;
}`;
    case "newArena":
      return `
/** Where a workspace's float buffers live: one block of memory the SIMD kernel can read (mm is null without it). */
interface Arena {
  buffer: ArrayBuffer;
  next: number;
  mm: ((c: number, a: number, b: number, M: number, K: number, N: number, sai: number, sak: number, acc: number) => void) | null;
}
/** An arena of \`bytes\` bytes: WebAssembly memory with the kernel bound to it, or a plain ArrayBuffer. */
function newArena(bytes: number): Arena {
  const k = simdKernel();
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  if (k && pages <= 32768) {
    try {
      const memory = new k.wasm.Memory({ initial: pages });
      const mm = new k.wasm.Instance(k.module, { env: { memory } }).exports.mm as Arena["mm"];
      return { buffer: memory.buffer, next: 0, mm };
    } catch {
      // Out of memory for WebAssembly: fall back to plain arrays and JS kernels.
    }
  }
  return { buffer: new ArrayBuffer(bytes), next: 0, mm: null };
}`;
    case "take":
      return `
/** The arena's next n floats (16-byte aligned). */
function take(arena: Arena, n: number): Float32Array {
  const at = arena.next;
  arena.next = at + Math.ceil(n / 4) * 16;
  return new Float32Array(arena.buffer, at, n);
}`;
    case "matmulSimd":
      return `
/**
 * out[M, N] = a @ b (out += a @ b with acc) by the SIMD kernel, with a [M, K]
 * from offset ao (stored [K, M] when tA), b [K, N] from offset bo, and out
 * from offset oo (a batched product's slice); all three live in the arena.
 * Sums are accumulated in f32, four columns per instruction.
 */
function matmulSimd(arena: Arena, out: Float32Array, a: Float32Array, ao: number, b: Float32Array, bo: number, M: number, K: number, N: number, tA: boolean, acc: boolean, oo = 0): void {
  const mm = arena.mm as NonNullable<Arena["mm"]>;
  mm(out.byteOffset + 4 * oo, a.byteOffset + 4 * ao, b.byteOffset + 4 * bo, M, K, N, tA ? 4 : 4 * K, tA ? 4 * M : 4, acc ? 1 : 0);
}`;
    case "matmulJs":
      return `
/**
 * The JS path of the SIMD kernel, for every matmul of the module: out[M, N] =
 * a'[M, K] @ b'[K, N] (out += ... with acc), where a'[i, k] = a[ao + i * sai +
 * k * sak] and b'[k, j] = b[bo + k * sbk + j * sbj], so either operand may be
 * read transposed in place; out from offset oo (a batched product's slice).
 * 3x4 blocks of float64 accumulators, summed in order of k and rounded once
 * when stored.
 */
function matmulJs(
  out: ${FA},
  a: ${FA},
  ao: number,
  sai: number,
  sak: number,
  b: ${FA},
  bo: number,
  sbk: number,
  sbj: number,
  M: number,
  K: number,
  N: number,
  acc: boolean,
  oo = 0,
): void {
  const s1 = sbj;
  const s2 = 2 * sbj;
  const s3 = 3 * sbj;
  const N4 = N - (N % 4);
  let i = 0;
  for (; i + 3 <= M; i += 3) {
    const r0 = ao + i * sai;
    const r1 = r0 + sai;
    const r2 = r1 + sai;
    const o0 = oo + i * N;
    const o1 = o0 + N;
    const o2 = o1 + N;
    for (let j = 0; j < N4; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let pa = 0;
      let pb = bo + j * sbj;
      for (let k = 0; k < K; k++) {
        const a0 = a[r0 + pa];
        const a1 = a[r1 + pa];
        const a2 = a[r2 + pa];
        const b0 = b[pb];
        const b1 = b[pb + s1];
        const b2 = b[pb + s2];
        const b3 = b[pb + s3];
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        pa += sak;
        pb += sbk;
      }
      if (acc) {
        out[o0 + j] += c00; out[o0 + j + 1] += c01; out[o0 + j + 2] += c02; out[o0 + j + 3] += c03;
        out[o1 + j] += c10; out[o1 + j + 1] += c11; out[o1 + j + 2] += c12; out[o1 + j + 3] += c13;
        out[o2 + j] += c20; out[o2 + j + 1] += c21; out[o2 + j + 2] += c22; out[o2 + j + 3] += c23;
      } else {
        out[o0 + j] = c00; out[o0 + j + 1] = c01; out[o0 + j + 2] = c02; out[o0 + j + 3] = c03;
        out[o1 + j] = c10; out[o1 + j + 1] = c11; out[o1 + j + 2] = c12; out[o1 + j + 3] = c13;
        out[o2 + j] = c20; out[o2 + j + 1] = c21; out[o2 + j + 2] = c22; out[o2 + j + 3] = c23;
      }
    }
    for (let j = N4; j < N; j++) {
      let c0 = 0, c1 = 0, c2 = 0;
      let pa = 0;
      let pb = bo + j * sbj;
      for (let k = 0; k < K; k++) {
        const bk = b[pb];
        c0 += a[r0 + pa] * bk;
        c1 += a[r1 + pa] * bk;
        c2 += a[r2 + pa] * bk;
        pa += sak;
        pb += sbk;
      }
      out[o0 + j] = acc ? out[o0 + j] + c0 : c0;
      out[o1 + j] = acc ? out[o1 + j] + c1 : c1;
      out[o2 + j] = acc ? out[o2 + j] + c2 : c2;
    }
  }
  for (; i < M; i++) {
    const r0 = ao + i * sai;
    const o0 = oo + i * N;
    for (let j = 0; j < N; j++) {
      let c = 0;
      let pa = r0;
      let pb = bo + j * sbj;
      for (let k = 0; k < K; k++) {
        c += a[pa] * b[pb];
        pa += sak;
        pb += sbk;
      }
      out[o0 + j] = acc ? out[o0 + j] + c : c;
    }
  }
}`;
    case "transposeInto":
      return `
/** out[K, N] = the transpose of b [N, K] from offset bo (for the SIMD kernel, which reads b by rows). */
function transposeInto(out: Float32Array, b: Float32Array, bo: number, N: number, K: number): void {
  for (let n = 0; n < N; n++) {
    const row = bo + n * K;
    for (let k = 0; k < K; k++) out[k * N + n] = b[row + k];
  }
}`;
    case "describe":
      return `
/** How a value looks in an error message: its array type and length, or its typeof. */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return \`Array(\${v.length})\`;
  if (ArrayBuffer.isView(v)) return \`\${v.constructor.name}(\${(v as unknown as { length: number }).length})\`;
  return typeof v;
}`;
    case "checkKeys":
      return `
/**
 * Throws unless \`obj\` has exactly the own keys \`expected\`. Allocates
 * nothing unless it throws: the keys are counted, not listed.
 */
function checkKeys(what: string, obj: unknown, expected: readonly string[]): void {
  if (typeof obj !== "object" || obj === null) {
    throw new Error(\`\${what}: expected an object with keys \${expected.join(", ")}, got \${describe(obj)}\`);
  }
  for (let i = 0; i < expected.length; i++) {
    if (!Object.prototype.hasOwnProperty.call(obj, expected[i])) {
      throw new Error(\`\${what}: missing key \${JSON.stringify(expected[i])} (expected keys: \${expected.join(", ")})\`);
    }
  }
  let own = 0;
  for (const k in obj) if (Object.prototype.hasOwnProperty.call(obj, k)) own++;
  if (own === expected.length) return;
  for (const k of Object.keys(obj)) {
    if (!expected.includes(k)) {
      throw new Error(\`\${what}: unexpected key \${JSON.stringify(k)} (expected keys: \${expected.join(", ")})\`);
    }
  }
}`;
    case "checkArray":
      return `
/** Throws unless \`a\` is an array of \`type\` with \`length\` elements; \`shape\` describes the expected shape. */
function checkArray(
  what: string,
  a: unknown,
  type: typeof ${FA} | typeof Int32Array,
  shape: string,
  length: number,
): void {
  if (!(a instanceof type)) {
    throw new Error(\`\${what}: expected \${type.name} of shape \${shape}, got \${describe(a)}\`);
  }
  if (a.length !== length) {
    throw new Error(\`\${what}: expected shape \${shape} (\${length} elements), got \${a.length} elements\`);
  }
}`;
    case "badSize":
      return `
/** Throws for a dim expression that is not a positive integer at this call (spec section 9); \`given\` lists its dims' values. */
function badSize(text: string, value: number, given: string): never {
  throw new Error(\`dim \${text} = \${value} is not a positive integer (\${given})\`);
}`;
    case "inferDim":
      return `
/**
 * Reads a symbolic dim off an input's length: \`a.length / rest\` when that is
 * a positive integer and \`a\` an array of \`type\`, else 0 (then badDim says why).
 */
function inferDim(a: unknown, type: typeof ${FA} | typeof Int32Array, rest: number): number {
  if (!(a instanceof type)) return 0;
  const n = a.length / rest;
  return Number.isInteger(n) && n >= 1 ? n : 0;
}`;
    case "badDim":
      return `
/** Throws the reason inferDim gave 0 for \`a\`: the wrong type, or a length that is no positive multiple of \`rest\`. */
function badDim(what: string, a: unknown, type: typeof ${FA} | typeof Int32Array, shape: string, dim: string, rest: number): never {
  if (!(a instanceof type)) {
    throw new Error(\`\${what}: expected \${type.name} of shape \${shape}, got \${describe(a)}\`);
  }
  throw new Error(
    \`\${what}: expected shape \${shape}, a positive multiple of \${rest} elements, got \${a.length} elements (\${dim} would be \${a.length / rest})\`,
  );
}`;
    case "checkScalar":
      return `
/**
 * A scalar input: a number (finite; for an int input, an integer in the int32
 * range) or a one-element array of the input's type.
 */
function checkScalar(what: string, v: unknown, type: typeof ${FA} | typeof Int32Array): void {
  if (typeof v === "number") {
    // A float32 module stores it rounded to float32: 1e39 would become Infinity there.
    const ok = type === Int32Array ? Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 : Number.isFinite(type === Float32Array ? Math.fround(v) : v);
    if (!ok) throw new Error(\`\${what}: expected \${type === Int32Array ? "an integer" : type === Float32Array ? "a number finite in float32" : "a finite number"} (shape []), got \${v}\`);
    return;
  }
  if (!(v instanceof type)) {
    throw new Error(\`\${what}: expected a number or a \${type.name} of shape [], got \${describe(v)}\`);
  }
  checkArray(what, v, type, type === Int32Array ? "int[]" : "[]", 1);
  if (type !== Int32Array) checkFinite(what, v as ${FA});
}`;
    case "scalarIn":
      return `
/** A scalar input as a one-element array: \`v\` itself, or \`box\` holding the number. */
function scalarIn<T extends ${FA} | Int32Array>(v: number | T, box: T): T {
  if (typeof v !== "number") return v;
  box[0] = v;
  return box;
}`;
    case "checkFinite":
      return `
/** Throws at the first NaN or infinite element: bad input must not come out as NaN. */
function checkFinite(what: string, a: ${FA}): void {
  // x * 0 is 0 for finite x and NaN otherwise: one branch-free pass, then a search on failure.
  // Four sums, so the adds do not wait on each other (about 3x faster than one).
  const n = a.length;
  const n4 = n - (n % 4);
  let p0 = 0,
    p1 = 0,
    p2 = 0,
    p3 = 0;
  for (let i = 0; i < n4; i += 4) {
    p0 += a[i] * 0;
    p1 += a[i + 1] * 0;
    p2 += a[i + 2] * 0;
    p3 += a[i + 3] * 0;
  }
  for (let i = n4; i < n; i++) p0 += a[i] * 0;
  if (p0 + p1 + p2 + p3 === 0) return;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new Error(\`\${what}: element \${i} is \${a[i]}; expected finite numbers\`);
  }
}`;
    case "checkFiniteVia":
      return `
/**
 * A param's finiteness, read off a product it feeds: a NaN or infinity in the
 * param makes the product non-finite, and the product is smaller. Only then
 * is the param scanned, to name the bad element (an overflow of finite
 * values is not the caller's error, and passes).
 */
function checkFiniteVia(product: ${FA}, what: string, param: ${FA}): void {
  let probe = 0;
  for (let i = 0; i < product.length; i++) probe += product[i] * 0;
  if (probe !== 0) checkFinite(what, param);
}`;
    case "checkIndex":
      return `
/** Throws unless \`k\` is an index into an axis of size \`n\`. */
function checkIndex(what: string, k: number, n: number): void {
  if (!(k >= 0 && k < n)) throw new Error(\`\${what}: index \${k} is out of range [0, \${n})\`);
}`;
    case "rng":
    case "gauss":
      return RANDOM_SOURCE[h];
    case "fillNormal":
    case "fillUniform":
    case "orthogonal":
      return initSource(h, FA);
    case "relu32":
      return `
/**
 * relu(x) rounded to float32, without a data-dependent branch: \`x > 0 ? x : 0\`
 * is a branch the CPU mispredicts on about half the units of a layer whose
 * inputs have random signs (4x slower there). (f + |f|) / 2 is exact: f for
 * f > 0 and +Infinity, +0 for negatives and -0; NaN (a NaN, or -Infinity +
 * Infinity) becomes 0, which gives exactly what the ternary stores. About
 * twice as fast as clearing the bits through a typed array.
 */
function relu32(x: number): number {
  const f = Math.fround(x);
  const y = (f + Math.abs(f)) * 0.5;
  return y === y ? y : 0;
}`;
    case "softmax":
      return `
/** Softmax over the middle axis of x viewed as [outer, n, inner]; stable (max-subtracted). */
function softmax(out: ${FA}, x: ${FA}, xo: number, outer: number, n: number, inner: number): void {
  for (let a = 0; a < outer; a++) {
    for (let c = 0; c < inner; c++) {
      const base = a * n * inner + c;
      let m = -Infinity;
      for (let r = 0; r < n; r++) m = Math.max(m, x[xo + base + r * inner]);
      let s = 0;
      for (let r = 0; r < n; r++) {
        const e = Math.exp(x[xo + base + r * inner] - m);
        out[base + r * inner] = e;
        s += e;
      }
      for (let r = 0; r < n; r++) out[base + r * inner] /= s;
    }
  }
}`;
    case "logSoftmax":
      return `
/** Log-softmax over the middle axis of x viewed as [outer, n, inner]: x - max - log(sum(exp(x - max))). */
function logSoftmax(out: ${FA}, x: ${FA}, xo: number, outer: number, n: number, inner: number): void {
  for (let a = 0; a < outer; a++) {
    for (let c = 0; c < inner; c++) {
      const base = a * n * inner + c;
      let m = -Infinity;
      for (let r = 0; r < n; r++) m = Math.max(m, x[xo + base + r * inner]);
      let s = 0;
      for (let r = 0; r < n; r++) s += Math.exp(x[xo + base + r * inner] - m);
      const shift = m + Math.log(s);
      for (let r = 0; r < n; r++) out[base + r * inner] = x[xo + base + r * inner] - shift;
    }
  }
}`;
    case "crossEntropy":
      return `
/**
 * out[i] = logsumexp(z[i, :]) - z[i, y[i]] for z [B, C]: softmax cross-entropy,
 * fused and stable; each row's log-sum-exp is also stored in \`lse\` when
 * given (the backward reuses it). Throws when a label is outside [0, C).
 */
function crossEntropy(
  out: ${FA},
  z: ${FA},
  zo: number,
  y: Int32Array,
  yo: number,
  B: number,
  C: number,
  what: string,
  lse?: Float64Array,
): void {
  for (let i = 0; i < B; i++) {
    const row = zo + i * C;
    const label = y[yo + i];
    if (!(label >= 0 && label < C)) {
      throw new Error(\`\${what}: label \${label} at position \${i} is out of range [0, \${C})\`);
    }
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, z[row + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(z[row + c] - m);
    const l = m + Math.log(s);
    if (lse !== undefined) lse[i] = l;
    out[i] = l - z[row + label];
  }
}`;
    case "pick":
      return `
/** out[i] = x[i, idx[i]] for x [B, N]. Throws when an index is outside [0, N). */
function pick(out: ${FA}, x: ${FA}, xo: number, idx: Int32Array, io: number, B: number, N: number, what: string): void {
  for (let i = 0; i < B; i++) {
    const k = idx[io + i];
    if (!(k >= 0 && k < N)) throw new Error(\`\${what}: index \${k} at position \${i} is out of range [0, \${N})\`);
    out[i] = x[xo + i * N + k];
  }
}`;
    case "oneHot":
      return `
/** out[i, :] = one-hot of idx[i] over n classes. Throws when an index is outside [0, n). */
function oneHot(out: ${FA}, idx: Int32Array, io: number, count: number, n: number, what: string): void {
  out.fill(0, 0, count * n);
  for (let i = 0; i < count; i++) {
    const k = idx[io + i];
    if (!(k >= 0 && k < n)) throw new Error(\`\${what}: index \${k} at position \${i} is out of range [0, \${n})\`);
    out[i * n + k] = 1;
  }
}`;
  }
}
