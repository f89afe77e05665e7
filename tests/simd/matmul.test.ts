// The per-shape matmul kernels against a plain triple loop: every transpose
// variant, sizes with and without remainders of the 3x4, 2x4 and 1x8 blocks
// (and of the 4x4 blocks of K = 1, which has no loop over k), constant and
// symbolic sizes (K too), operands at an offset, and adding into the output.
// Then the one strided JS kernel SIMD modules fall back to, and the SIMD kernel.
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { matmulKernelArgs, matmulKernelName, matmulKernelSource, type MatmulSpec } from "../../src/codegen/matmul.js";
import { helperSource } from "../../src/codegen/runtime.js";
import { MATMUL_WASM_BASE64 } from "../../src/codegen/generated/matmul-wasm.js";
import { constSize, symSize, type Size } from "../../src/codegen/nest.js";

type Kernel = (out: Float64Array, a: Float64Array, ao: number, b: Float64Array, bo: number, ...sizes: number[]) => void;

function load(spec: MatmulSpec): Kernel {
  const js = ts.transpileModule(matmulKernelSource(spec), { compilerOptions: { target: ts.ScriptTarget.ES2022 } }).outputText;
  return new Function(`${js}\nreturn ${matmulKernelName(spec)};`)() as Kernel;
}

function naive(tA: boolean, tB: boolean, a: Float64Array, ao: number, b: Float64Array, bo: number, M: number, K: number, N: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[ao + (tA ? k * M + i : i * K + k)] * b[bo + (tB ? j * K + k : k * N + j)];
      out[i * N + j] = s;
    }
  return out;
}

// Every remainder of the 3-row, 4-row (K = 1), 4-column and 8-column blocks.
const sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13];
const cases: [boolean, boolean, number, number, number, boolean][] = [];
for (const tA of [false, true])
  for (const tB of [false, true])
    for (const M of sizes)
      for (const N of sizes) cases.push([tA, tB, M, 7, N, (M + N) % 2 === 0]);
// K = 1 (no loop over k), and K below, at and above the block sizes.
for (const tA of [false, true])
  for (const tB of [false, true])
    for (const K of [1, 2, 3, 4, 5])
      for (const [M, N] of [
        [1, 1],
        [3, 4],
        [4, 4],
        [5, 9],
        [7, 6],
        [8, 13],
      ])
        cases.push([tA, tB, M, K, N, false]);

describe("matmul kernels", () => {
  it.each(cases)("tA=%s tB=%s %dx%dx%d symbolic=%s", (tA, tB, M, K, N, symbolic) => {
    const sz = (v: number, name: string): Size => (symbolic ? symSize(name) : constSize(v));
    const spec: MatmulSpec = { tA, tB, M: sz(M, "M"), K: constSize(K), N: sz(N, "N"), FA: "Float64Array" };
    const kernel = load(spec);
    const ao = 3;
    const bo = 5;
    const a = Float64Array.from({ length: ao + M * K }, (_, i) => Math.sin(i * 1.3));
    const b = Float64Array.from({ length: bo + K * N }, (_, i) => Math.cos(i * 0.7));
    const out = new Float64Array(M * N).fill(NaN);
    const args = matmulKernelArgs(spec).map((p) => ({ M, K, N })[p]);
    kernel(out, a, ao, b, bo, ...args);
    const want = naive(tA, tB, a, ao, b, bo, M, K, N);
    for (let i = 0; i < want.length; i++) expect(out[i]).toBeCloseTo(want[i], 12);
  });

  // The batch as K (the backward's xᵀ @ dh), symbolic, with M and N constant or not.
  const symK: [boolean, boolean, number, number, number, string][] = [];
  for (const tA of [false, true])
    for (const tB of [false, true])
      for (const [M, K, N] of [
        [5, 1, 9],
        [7, 3, 10],
        [4, 6, 8],
      ])
        for (const sym of ["K", "MK", "KN", "MKN"]) symK.push([tA, tB, M, K, N, sym]);
  it.each(symK)("tA=%s tB=%s %dx%dx%d symbolic %s", (tA, tB, M, K, N, sym) => {
    const sz = (v: number, name: string): Size => (sym.includes(name) ? symSize(name) : constSize(v));
    const spec: MatmulSpec = { tA, tB, M: sz(M, "M"), K: sz(K, "K"), N: sz(N, "N"), FA: "Float64Array" };
    const kernel = load(spec);
    const a = Float64Array.from({ length: 2 + M * K }, (_, i) => Math.sin(i * 0.9));
    const b = Float64Array.from({ length: 1 + K * N }, (_, i) => Math.cos(i * 1.1));
    const out = new Float64Array(M * N).fill(NaN);
    kernel(out, a, 2, b, 1, ...matmulKernelArgs(spec).map((p) => ({ M, K, N })[p]));
    const want = naive(tA, tB, a, 2, b, 1, M, K, N);
    for (let i = 0; i < want.length; i++) expect(out[i]).toBeCloseTo(want[i], 12);
  });

  // acc: out += a @ b, for every variant, with and without a loop over k.
  const accCases: [boolean, boolean, number, number, number][] = [];
  for (const tA of [false, true]) for (const tB of [false, true]) for (const [M, K, N] of [[5, 7, 9], [4, 1, 6], [1, 3, 13]]) accCases.push([tA, tB, M, K, N]);
  it.each(accCases)("acc: tA=%s tB=%s %dx%dx%d", (tA, tB, M, K, N) => {
    const spec: MatmulSpec = { tA, tB, M: constSize(M), K: constSize(K), N: symSize("N"), FA: "Float64Array", acc: true };
    expect(matmulKernelName(spec)).toMatch(/_acc$/);
    const kernel = load(spec);
    const a = Float64Array.from({ length: M * K }, (_, i) => Math.sin(i * 1.3));
    const b = Float64Array.from({ length: K * N }, (_, i) => Math.cos(i * 0.7));
    const out = Float64Array.from({ length: M * N }, (_, i) => i - 3.5);
    kernel(out, a, 0, b, 0, N);
    const want = naive(tA, tB, a, 0, b, 0, M, K, N);
    for (let i = 0; i < want.length; i++) expect(out[i]).toBeCloseTo(i - 3.5 + want[i], 12);
  });

  // Sums in order of k in a float64 accumulator, one rounding when stored: an
  // f32 output equals the float64 triple loop rounded once, bit for bit.
  it("rounds each f32 output once", () => {
    for (const [tA, tB] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      const [M, K, N] = [7, 37, 10];
      const spec: MatmulSpec = { tA, tB, M: constSize(M), K: constSize(K), N: constSize(N), FA: "Float32Array" };
      type F32Kernel = (out: Float32Array, a: Float32Array, ao: number, b: Float32Array, bo: number) => void;
      const kernel = load(spec) as unknown as F32Kernel;
      const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i * 1.7) * 3);
      const b = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i * 0.3) / 7);
      const out = new Float32Array(M * N);
      kernel(out, a, 0, b, 0);
      const want = Float32Array.from(naive(tA, tB, Float64Array.from(a), 0, Float64Array.from(b), 0, M, K, N));
      expect(Array.from(out)).toEqual(Array.from(want));
    }
  });
});

// The JS kernel behind the SIMD one (one for every shape of a module): both
// operands through strides, so every transpose variant; every remainder of
// its 3x4 blocks; out = or out +=; equal to the per-shape kernel to the bit.
describe("matmulJs, the shared JS kernel", () => {
  type Generic = (out: Float32Array, a: Float32Array, ao: number, sai: number, sak: number, b: Float32Array, bo: number, sbk: number, sbj: number, M: number, K: number, N: number, acc: boolean) => void;
  const js = ts.transpileModule(helperSource("matmulJs", "Float32Array"), { compilerOptions: { target: ts.ScriptTarget.ES2022 } }).outputText;
  const matmulJs = new Function(`${js}\nreturn matmulJs;`)() as Generic;
  const generic: [boolean, boolean, number, number, number, boolean][] = [];
  for (const tA of [false, true])
    for (const tB of [false, true])
      for (const [M, K, N] of [[1, 1, 1], [3, 4, 4], [4, 5, 7], [7, 9, 13], [6, 1, 5]]) for (const acc of [false, true]) generic.push([tA, tB, M, K, N, acc]);
  it.each(generic)("tA=%s tB=%s %dx%dx%d acc=%s", (tA, tB, M, K, N, acc) => {
    const a = Float32Array.from({ length: 2 + M * K }, (_, i) => Math.sin(i * 1.3) * 2);
    const b = Float32Array.from({ length: 3 + K * N }, (_, i) => Math.cos(i * 0.7));
    const start = Float32Array.from({ length: M * N }, (_, i) => (acc ? i / 7 - 1 : NaN));
    const out = start.slice();
    const [sai, sak] = tA ? [1, M] : [K, 1];
    const [sbk, sbj] = tB ? [1, K] : [N, 1];
    matmulJs(out, a, 2, sai, sak, b, 3, sbk, sbj, M, K, N, acc);
    const spec: MatmulSpec = { tA, tB, M: constSize(M), K: constSize(K), N: constSize(N), FA: "Float32Array", acc };
    const perShape = load(spec) as unknown as (out: Float32Array, a: Float32Array, ao: number, b: Float32Array, bo: number) => void;
    const want = start.slice();
    perShape(want, a, 2, b, 3);
    expect(Array.from(out)).toEqual(Array.from(want));
  });
});

// The WebAssembly SIMD kernel f32 modules embed (scripts/build-wasm.mjs), run
// directly: every remainder of its 4-row and 8-, 4- and 1-column blocks, a
// row-major and a column-major a, K = 0 and operands at unaligned offsets.
describe("SIMD matmul kernel", () => {
  type MM = (c: number, a: number, b: number, M: number, K: number, N: number, sai: number, sak: number, acc?: number) => void;
  const memory = new WebAssembly.Memory({ initial: 4 });
  const mm = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(MATMUL_WASM_BASE64, "base64")), { env: { memory } })
    .exports.mm as MM;

  const simdCases: [boolean, number, number, number][] = [];
  for (const tA of [false, true])
    for (const M of [1, 2, 3, 4, 5, 7, 8, 9])
      for (const N of [1, 3, 4, 5, 7, 8, 9, 12, 13, 17]) simdCases.push([tA, M, (M * 3 + N) % 11, N]);
  it.each(simdCases)("tA=%s %dx%dx%d", (tA, M, K, N) => {
    const heap = new Float32Array(memory.buffer);
    // a at float 1, b at float 1 + M*K + 2, c after: none 16-byte aligned in general.
    const ao = 1;
    const bo = ao + M * K + 2;
    const co = bo + K * N + 3;
    for (let i = 0; i < M * K; i++) heap[ao + i] = Math.sin(i * 1.3) * 2;
    for (let i = 0; i < K * N; i++) heap[bo + i] = Math.cos(i * 0.7);
    heap.fill(NaN, co, co + M * N + 8);
    mm(4 * co, 4 * ao, 4 * bo, M, K, N, tA ? 4 : 4 * K, tA ? 4 * M : 4);
    const want = naive(tA, false, Float64Array.from(heap.subarray(ao, ao + M * K)), 0, Float64Array.from(heap.subarray(bo, bo + K * N)), 0, M, K, N);
    for (let i = 0; i < want.length; i++) expect(Math.abs(heap[co + i] - want[i])).toBeLessThanOrEqual(1e-5 * (1 + K));
    // Nothing written past the output.
    for (let i = M * N; i < M * N + 8; i++) expect(heap[co + i]).toBeNaN();
  });

  // acc: c += a' @ b (K = 0 leaves c as it was).
  it.each(simdCases.filter((_, i) => i % 5 === 0))("acc: tA=%s %dx%dx%d", (tA, M, K, N) => {
    const heap = new Float32Array(memory.buffer);
    const [ao, bo] = [1, 2 + M * K];
    const co = bo + K * N + 3;
    for (let i = 0; i < M * K; i++) heap[ao + i] = Math.sin(i * 1.3) * 2;
    for (let i = 0; i < K * N; i++) heap[bo + i] = Math.cos(i * 0.7);
    for (let i = 0; i < M * N; i++) heap[co + i] = i / 3 - 2;
    heap.fill(NaN, co + M * N, co + M * N + 8);
    mm(4 * co, 4 * ao, 4 * bo, M, K, N, tA ? 4 : 4 * K, tA ? 4 * M : 4, 1);
    const want = naive(tA, false, Float64Array.from(heap.subarray(ao, ao + M * K)), 0, Float64Array.from(heap.subarray(bo, bo + K * N)), 0, M, K, N);
    for (let i = 0; i < want.length; i++) expect(Math.abs(heap[co + i] - (i / 3 - 2 + want[i]))).toBeLessThanOrEqual(1e-5 * (1 + K));
    for (let i = M * N; i < M * N + 8; i++) expect(heap[co + i]).toBeNaN();
  });
});
