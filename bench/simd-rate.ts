// The standalone rate of the modules' WebAssembly SIMD matmul kernel (the
// yardstick for a model's GFLOP/s, issue 12): out[64, 128] = a[64, 784] @
// b[784, 128], the MLP's first layer, called directly on arena memory with no
// copies or checks; the median of timed rounds.
import { performance } from "node:perf_hooks";
import { MATMUL_WASM_BASE64 } from "../src/codegen/generated/matmul-wasm.js";

type Mm = (
  c: number,
  a: number,
  b: number,
  M: number,
  K: number,
  N: number,
  sai: number,
  sak: number,
  acc: number,
) => void;

export function simdMatmulRate(rounds = 15, roundMs = 20): { gflops: number; shape: string } {
  const [M, K, N] = [64, 784, 128];
  const memory = new WebAssembly.Memory({ initial: Math.ceil((4 * (M * K + K * N + M * N)) / 65536) + 1 });
  const module = new WebAssembly.Module(Buffer.from(MATMUL_WASM_BASE64, "base64"));
  const mm = new WebAssembly.Instance(module, { env: { memory } }).exports.mm as Mm;
  const a = new Float32Array(memory.buffer, 0, M * K);
  const b = new Float32Array(memory.buffer, a.byteLength, K * N);
  const c = new Float32Array(memory.buffer, a.byteLength + b.byteLength, M * N);
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(i);
  for (let i = 0; i < b.length; i++) b[i] = Math.cos(i);
  const call = () => mm(c.byteOffset, a.byteOffset, b.byteOffset, M, K, N, 4 * K, 4, 0);
  for (let i = 0; i < 50; i++) call();
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < roundMs) {
      call();
      n++;
    }
    per.push((performance.now() - t0) / n);
  }
  per.sort((x, y) => x - y);
  const ms = per[per.length >> 1];
  return { gflops: (2 * M * K * N) / (ms * 1e6), shape: `${M}x${K}x${N}` };
}
