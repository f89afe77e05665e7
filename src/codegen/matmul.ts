// Matmul kernels emitted per shape: out[M, N] = op(a)[M, K] @ op(b)[K, N],
// where op transposes an operand stored column-major, so the backward pass
// never copies a transpose. Each kernel computes blocks of the output in
// local accumulators over the whole of K, reading one value of each operand
// per row and column of the block at each step of k; sizes known at compile
// time are written in as literals, which lets V8 fold the index arithmetic.
// Accumulators are JS numbers (float64), summed in order of k and stored
// once, so f32 modules round each output once, as TF.js does.
//
// Block shapes, as measured on V8 (x64: 15 double registers to allocate):
// - 3x4 blocks: 12 accumulators and 7 loads per step of k. TurboFan places
//   all the loads of a step before its arithmetic, so 4x4 blocks (16
//   accumulators plus 8 loaded values) keep most accumulators on the stack;
//   3x4 spills fewer and runs 10-15% faster on an idle machine (no slower on
//   a busy one). 4x8, 8x8, 2x4, 2x8 and unrolling k are all slower. The order
//   of the loops over blocks (panels of b first, or rows first) makes no
//   difference: the kernels are bound by the core, not by the cache.
// - A leftover pair of rows takes 2x4 blocks; a leftover row (all rows when
//   M < 3, as for a batch of 1) takes 1x8 blocks, whose eight accumulators
//   use each cache line of b they touch in full.
// - Leftover columns of a constant N take one block as wide as they are.
// - With K = 1 (an outer product, as for a batch of 1 in backward) there is
//   no loop over k and nothing carried between steps: 4x4 blocks.
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
  /** Add the product to what out holds (out += a @ b). */
  acc?: boolean;
  /** out starts at an offset `oo` (one slice of a batched product). */
  offset?: boolean;
}

/** A size as a literal when constant, else the kernel parameter that carries it. */
function lit(s: Size, param: string): string {
  return s.syms.length === 0 ? String(s.k) : param;
}

/** The kernel's name: variant and constant sizes, so equal shapes share one kernel. */
export function matmulKernelName(spec: MatmulSpec): string {
  const d = (s: Size, p: string): string => (s.syms.length === 0 ? String(s.k) : p);
  return `matmul${spec.tA ? "T" : "N"}${spec.tB ? "T" : "N"}_${d(spec.M, "m")}x${d(spec.K, "k")}x${d(spec.N, "n")}${spec.acc ? "_acc" : ""}${spec.offset ? "_at" : ""}`;
}

/** The symbolic sizes a kernel takes as arguments, in order M, K, N. */
export function matmulKernelArgs(spec: MatmulSpec): ("M" | "K" | "N")[] {
  return (["M", "K", "N"] as const).filter((p) => spec[p].syms.length > 0);
}

/** A run of blocks `t` wide along one dimension, from `from` up to (not including) `to`. */
interface Span {
  from: string;
  to: string;
  t: number;
  /** Exactly one block (constant bounds): no loop needed. */
  once: boolean;
}

/** Opens the loop of `v` over a span (a plain block binding `v` when the span is one block). */
function loop(v: string, s: Span): string {
  return s.once ? `{ const ${v} = ${s.from};` : `for (let ${v} = ${s.from}; ${v} < ${s.to}; ${v} += ${s.t}) {`;
}

/**
 * Covers a dimension with blocks: `main` wide as far as they fit, then what
 * `rest` says for the leftover (a constant number below `main`, or null when
 * the size is symbolic: then one-wide blocks).
 */
function spans(s: Size, param: string, main: number, rest: (left: number | null) => number): Span[] {
  if (s.syms.length > 0) {
    const to = main === 1 ? param : `${param} - (${param} % ${main})`;
    const out: Span[] = [{ from: "0", to, t: main, once: false }];
    if (main > 1) out.push({ from: to, to: param, t: rest(null), once: false });
    return out;
  }
  const out: Span[] = [];
  const full = s.k - (s.k % main);
  if (full > 0) out.push({ from: "0", to: String(full), t: main, once: full === main });
  let at = full;
  while (at < s.k) {
    const t = Math.min(rest(s.k - at), s.k - at);
    const to = at + Math.floor((s.k - at) / t) * t;
    out.push({ from: String(at), to: String(to), t, once: to - at === t });
    at = to;
  }
  return out;
}

export function matmulKernelSource(spec: MatmulSpec): string {
  const { tA, tB, FA } = spec;
  const M = lit(spec.M, "M");
  const K = lit(spec.K, "K");
  const N = lit(spec.N, "N");
  const params = matmulKernelArgs(spec).map((p) => `${p}: number`);
  const name = matmulKernelName(spec);
  // With K = 1 there is no loop over k (no accumulator is carried), so the larger block pays.
  const noLoop = spec.K.syms.length === 0 && spec.K.k === 1;
  const rows = noLoop ? 4 : 3;
  const cols = 4;
  const store = spec.acc ? "+=" : "=";
  const plus = (x: string, r: number): string => (r ? `${x} + ${r}` : x);
  const row = (r: number): string => (r ? `(i + ${r})` : "i");
  const outAt = (r: number): string => `${spec.offset ? "oo + " : ""}${row(r)} * ${N} + j`;

  /** The k loop and stores of an R x Q block at rows i.., columns j... */
  const block = (R: number, Q: number): string[] => {
    const rs = [...Array(R).keys()];
    const qs = [...Array(Q).keys()];
    const lines: string[] = [];
    // Where the block's operands start; advanced per k where that is cheaper than k * stride.
    if (tA) lines.push(`${noLoop ? "const" : "let"} pa = ao + i;`);
    else for (const r of rs) lines.push(`const pa${r} = ao + ${row(r)} * ${K};`);
    if (tB) for (const q of qs) lines.push(`const pb${q} = bo + ${q ? `(j + ${q})` : "j"} * ${K};`);
    else lines.push(`${noLoop ? "const" : "let"} pb = bo + j;`);
    const at = (p: string): string => (noLoop ? p : `${p} + k`);
    const aAt = (r: number): string => `a[${tA ? plus("pa", r) : at(`pa${r}`)}]`;
    const bAt = (q: number): string => `b[${tB ? at(`pb${q}`) : plus("pb", q)}]`;
    if (noLoop) {
      for (const r of rs) lines.push(`const a${r} = ${aAt(r)};`);
      for (const q of qs) lines.push(`const b${q} = ${bAt(q)};`);
      for (const r of rs) {
        lines.push(`const o${r} = ${outAt(r)};`);
        lines.push(qs.map((q) => `out[${plus(`o${r}`, q)}] ${store} a${r} * b${q};`).join(" "));
      }
      return lines;
    }
    for (const r of rs) lines.push(`let ${qs.map((q) => `c${r}${q} = 0`).join(", ")};`);
    lines.push(`for (let k = 0; k < ${K}; k++) {`);
    for (const r of rs) lines.push(`const a${r} = ${aAt(r)};`);
    if (R === 1) {
      for (const q of qs) lines.push(`const b${q} = ${bAt(q)};`);
      lines.push(qs.map((q) => `c0${q} += a0 * b${q};`).join(" "));
    } else {
      // One column at a time (V8 reorders the arithmetic anyway; this reads best).
      for (const q of qs)
        lines.push(`const b${q} = ${bAt(q)}; ${rs.map((r) => `c${r}${q} += a${r} * b${q};`).join(" ")}`);
    }
    if (tA) lines.push(`pa += ${M};`);
    if (!tB) lines.push(`pb += ${N};`);
    lines.push(`}`);
    for (const r of rs) {
      lines.push(`const o${r} = ${outAt(r)};`);
      lines.push(qs.map((q) => `out[${plus(`o${r}`, q)}] ${store} c${r}${q};`).join(" "));
    }
    return lines;
  };

  // Rows in blocks of `rows`; a constant leftover of two rows (three with
  // K = 1) in one block, else one row at a time.
  const rowSpans = spans(spec.M, "M", rows, (left) => (left !== null && left >= 2 ? left : 1));
  const body: string[] = [];
  for (const rs of rowSpans) {
    // Single rows go 8 columns at a time; leftover columns of a constant N in one block.
    const Q = rs.t === 1 && !noLoop ? 8 : cols;
    const colSpans = spans(spec.N, "N", Q, (left) => left ?? 1);
    body.push(loop("i", rs));
    for (const cs of colSpans) body.push(loop("j", cs), ...block(rs.t, cs.t), `}`);
    body.push(`}`);
  }

  const shapeA = tA ? `[${K}, ${M}], read transposed` : `[${M}, ${K}]`;
  const shapeB = tB ? `[${N}, ${K}], read transposed` : `[${K}, ${N}]`;
  return [
    `/** out[${M}, ${N}]${spec.offset ? " from offset oo" : ""} ${store} a${tA ? "ᵀ" : ""} @ b${tB ? "ᵀ" : ""}, with a ${shapeA} from offset ao and b ${shapeB} from offset bo; ${rows}x${cols} blocks. */`,
    `function ${name}(out: ${FA}, a: ${FA}, ao: number, b: ${FA}, bo: number${spec.offset ? ", oo: number" : ""}${params.length ? ", " + params.join(", ") : ""}): void {`,
    ...body,
    `}`,
  ].join("\n");
}
