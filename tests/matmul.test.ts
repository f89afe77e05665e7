// The per-shape matmul kernels against a plain triple loop: every transpose
// variant, sizes with and without remainders of the 4x4 and 1x8 blocks,
// constant and symbolic sizes, and operands at an offset.
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { matmulKernelArgs, matmulKernelName, matmulKernelSource, type MatmulSpec } from "../src/codegen/matmul.js";
import { constSize, symSize, type Size } from "../src/codegen/nest.js";

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

const sizes = [1, 3, 4, 5, 8, 9, 13];
const cases: [boolean, boolean, number, number, number, boolean][] = [];
for (const tA of [false, true])
  for (const tB of [false, true])
    for (const M of sizes)
      for (const N of sizes) cases.push([tA, tB, M, 7, N, (M + N) % 2 === 0]);

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
});
