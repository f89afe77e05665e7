// The WebAssembly SIMD backend of f32 modules: every float buffer of both
// workspaces lives in one arena (WebAssembly memory) that the matmul kernel
// reads; params and inputs a matmul reads are copied into it once per call,
// and those read transposed are transposed into it once per pass. Each matmul
// calls the SIMD kernel when the arena has it (`arena.mm`), else the JS
// kernel (kernels/matmul.ts writes both calls).
import { OPS } from "../ir/ops.js";
import type { Node, Phase } from "../ir/types.js";
import type { BufInfo, Emitter } from "./context.js";
import { product, sizeEq, sizeStr, ZERO, type Size } from "./nest.js";

/**
 * Whether the module runs its matmuls in the SIMD kernel (f32, kernels
 * "simd", and at least one live matmul); if so, claims the arena and the
 * arena copies of the params and inputs matmuls read, and returns the
 * arena's local name.
 */
export function planSimd(cx: Emitter): { arena: string } | null {
  const matmuls: Node[] = [];
  // Convolutions run on the SIMD matmul too (kernels/conv.ts stages their operands itself).
  let convs = 0;
  const findMatmuls = (nodes: readonly Node[]): void => {
    for (const n of nodes) {
      if (!cx.plan.live.has(n)) continue;
      if (n.op === "matmul" || n.op === "matmul_add") matmuls.push(n);
      if (n.op === "conv" || n.op === "conv_transpose" || n.op === "conv_kernel_grad") convs++;
      if (n.body) findMatmuls(n.body.nodes);
    }
  };
  findMatmuls(cx.g.nodes);
  if (!(cx.opts.precision === "f32" && (cx.opts.kernels ?? "simd") === "simd" && matmuls.length + convs > 0)) return null;
  const arena = cx.names.claim("arena");
  cx.bufs.set(arena, { home: "fw", size: ZERO, dtype: "float", arena: true });
  // Params and inputs a matmul reads (through views) are copied into the arena once per
  // call, except those read only whole and transposed (b of x @ W.T): matmul() transposes
  // those into the arena once per pass instead.
  for (const m of matmuls) {
    for (const [k, operand] of (m.op === "matmul_add" ? m.inputs.slice(1) : m.inputs).entries()) {
      let x = operand;
      let whole = true;
      for (let f = OPS[x.op].codegen; f && "view" in f; f = OPS[x.op].codegen) {
        if (f.view === "strided") whole = false;
        x = x.inputs[0];
      }
      if ((x.op !== "param" && x.op !== "input") || x.dtype !== "float") continue;
      if (k === 1 && m.attrs.transB === true && whole && operand.shape.length === 2) continue;
      const l = cx.local(x);
      if (cx.stagedCopy.has(l)) continue;
      const info = cx.bufs.get(l) as BufInfo;
      const copy = cx.names.claim(`${x.name}_simd`);
      cx.bufs.set(copy, { home: "fw", size: info.size, dtype: "float", stages: l });
      cx.stagedCopy.set(l, copy);
    }
  }
  return { arena };
}

/** A matmul operand as the kernels see it: a buffer, an offset, and whether it is stored column-major. */
export interface Operand {
  buf: string;
  off: string;
  colMajor: boolean;
}

/**
 * The statements of a SIMD matmul: out (dst, from offset oo) = op(a) @ op(b)
 * (+= with acc) with a [M, K] and b [K, N] read transposed when tA / tB. The
 * kernel reads the arena: params and inputs through their staged copies; a
 * transposed b is transposed into it.
 */
export function simdMatmul(
  cx: Emitter,
  n: Node,
  dst: string,
  a: Operand,
  b: Operand,
  tA: boolean,
  tB: boolean,
  sizes: { M: Size; K: Size; N: Size },
  acc: boolean,
  oo = "0",
): string[] {
  const { M, K, N } = sizes;
  const inArena = (o: { buf: string; off: string }): { buf: string; off: string } => {
    const staged = cx.stagedCopy.get(o.buf);
    return staged ? { buf: staged, off: o.off } : o;
  };
  const sa = inArena(a);
  let sb = inArena(b);
  const simd: string[] = [];
  const whole = cx.bufs.get(b.buf);
  if (tB && b.off === "0" && (whole?.home === "params" || whole?.home === "inputs") && sizeEq(whole.size, product([K, N]))) {
    // A whole param or input read transposed (Wᵀ in a backward pass, Whᵀ in every step of BPTT):
    // transposed once per call, at the start of the pass.
    const k = `${b.buf}|${sizeStr(K)}|${sizeStr(N)}|${cx.fn.phase}`;
    let bt = cx.transposed.get(k);
    if (!bt) {
      bt = { buf: cx.alloc(cx.names.claim(`${whole.key}_T`), [K, N], "float").buf, line: "" };
      bt.line = `${cx.use("transposeInto")}(${cx.ref(bt.buf)}, ${cx.ref(b.buf)}, 0, ${sizeStr(N)}, ${sizeStr(K)});`;
      cx.transposed.set(k, bt);
    }
    sb = { buf: cx.ref(bt.buf), off: "0" };
  } else if (tB) {
    const bt = cx.alloc(cx.names.claim(`${cx.local(n)}_bT`), [K, N], "float");
    simd.push(`${cx.use("transposeInto")}(${cx.ref(bt.buf)}, ${cx.ref(b.buf)}, ${b.off}, ${sizeStr(N)}, ${sizeStr(K)});`);
    sb = { buf: bt.buf, off: "0" };
  }
  for (const o of [sa, sb, { buf: dst, off: "0" }]) {
    const home = cx.bufs.get(o.buf)?.home;
    if (home !== "fw" && home !== "bw") throw new Error(`internal error: matmul operand ${o.buf} is not in the arena`);
  }
  const dims = [M, K, N].map(sizeStr).join(", ");
  simd.push(`${cx.use("matmulSimd")}(${cx.ref(cx.arena)}, ${cx.ref(dst)}, ${cx.ref(sa.buf)}, ${sa.off}, ${cx.ref(sb.buf)}, ${sb.off}, ${dims}, ${tA}, ${acc}${oo === "0" ? "" : `, ${oo}`});`);
  return simd;
}

/** The lines that make this pass's transposed copies of params and inputs for the SIMD kernel. */
export function transposedCopies(cx: Emitter, phase: Phase): string[] {
  const lines = [...cx.transposed.entries()].filter(([k]) => k.endsWith(`|${phase}`)).map(([, t]) => t.line);
  if (!lines.length) return [];
  return [`// params and inputs the SIMD kernel reads transposed, transposed once per call`, `if (${cx.ref(cx.arena)}.mm !== null) {`, ...lines, `}`];
}

/** Lines copying the params and inputs the SIMD kernel reads into the arena, at the start of the forward pass. */
export function stagedCopies(cx: Emitter): string[] {
  const staged = [...cx.bufs.entries()].filter(([, b]) => b.stages);
  if (!staged.length) return [];
  return [
    `// the params and inputs the SIMD kernel reads, copied into the arena (backward reads them too)`,
    `if (${cx.ref(cx.arena)}.mm !== null) {`,
    ...staged.map(([name, b]) => `${cx.ref(name)}.set(${cx.ref(b.stages as string)});`),
    `}`,
  ];
}

/** Whether a workspace buffer is taken from the arena (SIMD modules: every float buffer but float64 ones). */
export function inArena(cx: Emitter, b: BufInfo): boolean {
  return cx.simd && (b.home === "fw" || b.home === "bw") && !b.scratch && !b.wide && !b.arena && b.dtype === "float";
}
