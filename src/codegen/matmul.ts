// Matmul kernels emitted per shape: out[M, N] = op(a)[M, K] @ op(b)[K, N],
// where op transposes an operand stored column-major, so the backward pass
// never copies a transpose. Each kernel computes 4x4 blocks of the output in
// 16 local accumulators (registers), reading 4 values of each operand per
// step of k; sizes known at compile time are written in as literals, which
// lets V8 fold the index arithmetic. Accumulators are JS numbers (float64),
// so f32 modules round each output once, as TF.js does.
import type { Size } from "./nest.js";

export interface MatmulSpec {
  /** a is stored [K, M] (read transposed). */
  tA: boolean;
  /** b is stored [N, K] (read transposed). */
  tB: boolean;
  M: Size;
  K: Size;
  N: Size;
  /** Typed-array type of the float operands. */
  FA: string;
}

/** A size as a literal when constant, else the kernel parameter that carries it. */
function lit(s: Size, param: string): string {
  return s.syms.length === 0 ? String(s.k) : param;
}

/** The kernel's name: variant and constant sizes, so equal shapes share one kernel. */
export function matmulKernelName(spec: MatmulSpec): string {
  const d = (s: Size, p: string): string => (s.syms.length === 0 ? String(s.k) : p);
  return `matmul${spec.tA ? "T" : "N"}${spec.tB ? "T" : "N"}_${d(spec.M, "m")}x${d(spec.K, "k")}x${d(spec.N, "n")}`;
}

/** The symbolic sizes a kernel takes as arguments, in order M, K, N. */
export function matmulKernelArgs(spec: MatmulSpec): ("M" | "K" | "N")[] {
  return (["M", "K", "N"] as const).filter((p) => spec[p].syms.length > 0);
}

export function matmulKernelSource(spec: MatmulSpec): string {
  const { tA, tB, FA } = spec;
  const M = lit(spec.M, "M");
  const K = lit(spec.K, "K");
  const N = lit(spec.N, "N");
  const params = matmulKernelArgs(spec).map((p) => `${p}: number`);
  const name = matmulKernelName(spec);
  const rem = (s: Size, param: string): string | null => {
    if (s.syms.length === 0) return s.k % 4 === 0 ? null : String(s.k - (s.k % 4));
    return `${param} - (${param} % 4)`;
  };
  const rem8 = (s: Size, param: string): string | null => {
    if (s.syms.length === 0) return s.k % 8 === 0 ? null : String(s.k - (s.k % 8));
    return `${param} - (${param} % 8)`;
  };
  const M4 = rem(spec.M, "M");
  const N4 = rem(spec.N, "N");

  /** The k loop and stores of an R x Q block at rows i.., columns j... */
  const block = (R: number, Q: number): string[] => {
    const rs = [...Array(R).keys()];
    const qs = [...Array(Q).keys()];
    const lines: string[] = [];
    // Where the block's operands start; advanced per k where that is cheaper than k * stride.
    if (tA) lines.push(`let pa = ao + i;`);
    else for (const r of rs) lines.push(`const pa${r} = ao + (i${r ? ` + ${r}` : ""}) * ${K};`);
    if (tB) for (const q of qs) lines.push(`const pb${q} = bo + (j${q ? ` + ${q}` : ""}) * ${K};`);
    else lines.push(`let pb = bo + j;`);
    for (const r of rs) lines.push(`let ${qs.map((q) => `c${r}${q} = 0`).join(", ")};`);
    lines.push(`for (let k = 0; k < ${K}; k++) {`);
    for (const r of rs) lines.push(`const a${r} = a[${tA ? `pa${r ? ` + ${r}` : ""}` : `pa${r} + k`}];`);
    for (const q of qs) lines.push(`const b${q} = b[${tB ? `pb${q} + k` : `pb${q ? ` + ${q}` : ""}`}];`);
    for (const r of rs) lines.push(qs.map((q) => `c${r}${q} += a${r} * b${q};`).join(" "));
    if (tA) lines.push(`pa += ${M};`);
    if (!tB) lines.push(`pb += ${N};`);
    lines.push(`}`);
    for (const r of rs) {
      lines.push(`const o${r} = (i${r ? ` + ${r}` : ""}) * ${N} + j;`);
      lines.push(qs.map((q) => `out[o${r}${q ? ` + ${q}` : ""}] = c${r}${q};`).join(" "));
    }
    return lines;
  };

  // Leftover rows (all of them when M < 4, as for a batch of 1) take 1x8
  // blocks: eight accumulators use each cache line of b they touch in full.
  const N8 = rem8(spec.N, "N");
  const cols = (R: number): string[] => {
    const lines: string[] = [];
    let from = "0";
    if (R === 1 && N8 !== "0") {
      lines.push(`for (let j = 0; j < ${N8 ?? N}; j += 8) {`, ...block(1, 8), `}`);
      if (N8 === null) return lines;
      from = N8;
    }
    if (N4 !== "0" && N4 !== from) {
      lines.push(`for (let j = ${from}; j < ${N4 ?? N}; j += 4) {`, ...block(R, 4), `}`);
    }
    if (N4 !== null) lines.push(`for (let j = ${N4}; j < ${N}; j++) {`, ...block(R, 1), `}`);
    return lines;
  };

  const body: string[] = [];
  if (M4 !== "0") body.push(`for (let i = 0; i < ${M4 ?? M}; i += 4) {`, ...cols(4), `}`);
  if (M4 !== null) body.push(`for (let i = ${M4}; i < ${M}; i++) {`, ...cols(1), `}`);

  const shapeA = tA ? `[${K}, ${M}], read transposed` : `[${M}, ${K}]`;
  const shapeB = tB ? `[${N}, ${K}], read transposed` : `[${K}, ${N}]`;
  return [
    `/** out[${M}, ${N}] = a${tA ? "ᵀ" : ""} @ b${tB ? "ᵀ" : ""}, with a ${shapeA} from offset ao and b ${shapeB} from offset bo; 4x4 blocks. */`,
    `function ${name}(out: ${FA}, a: ${FA}, ao: number, b: ${FA}, bo: number${params.length ? ", " + params.join(", ") : ""}): void {`,
    ...body,
    `}`,
  ].join("\n");
}
