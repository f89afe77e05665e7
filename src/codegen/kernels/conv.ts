// Convolutions and pooling (../../ir/ops/conv.ts): direct loops over
// channels-first buffers, one kernel function per op shared by every call
// site, the 1-D ops run as 2-D with a height of 1. The loops hoist each
// kernel tap's weight and clip its output range to the cells that read the
// input (padding is skipped, never read), so the innermost loop is a
// branch-free multiply-add along a row. Nothing is allocated per call.
import { geomOf, poolGeom } from "../../ir/ops/conv.js";
import type { Node } from "../../ir/types.js";
import type { Emitter, View } from "../context.js";
import { constSize, product, sizeStr } from "../nest.js";
import { inArena } from "../simd.js";

/** The runtime kernels' names (reserved in names.ts). */
export const CONV_KERNELS = [
  "convForward",
  "convTranspose",
  "convKernelGrad",
  "convForwardMm",
  "convTransposeMm",
  "convKernelGradMm",
  "maxPool",
  "maxPoolGrad",
  "avgPool",
  "avgPoolGrad",
] as const;
type ConvKernel = (typeof CONV_KERNELS)[number];

const GEOM = "B: number, Cin: number, H: number, W: number, Cout: number, Ho: number, Wo: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, G: number";
const POOL = "P: number, H: number, W: number, Ho: number, Wo: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number";

/**
 * The loop nest every conv kernel shares: for each (batch, output channel,
 * input channel of its group, kernel tap), the output rows and columns whose
 * tap lands inside the input; `body` is the innermost statement over `xr`
 * (the input row start, stepped by sw), `orow` (the output row) and `wi`.
 */
function convLoops(pre: string, tap: string, body: string, post: string): string {
  return `const cpg = Cin / G;
  const opg = Cout / G;
  ${pre}
  for (let b = 0; b < B; b++) {
    for (let co = 0; co < Cout; co++) {
      const grp = (co / opg) | 0;
      const ob = (b * Cout + co) * Ho * Wo;
      for (let c = 0; c < cpg; c++) {
        const xb = (b * Cin + grp * cpg + c) * H * W;
        for (let ky = 0; ky < kh; ky++) {
          const y0 = ky * dh - ph;
          const oy0 = y0 >= 0 ? 0 : Math.ceil(-y0 / sh);
          const oy1 = Math.min(Ho, Math.floor((H - 1 - y0) / sh) + 1);
          for (let kx = 0; kx < kw; kx++) {
            const x0 = kx * dw - pw;
            const ox0 = x0 >= 0 ? 0 : Math.ceil(-x0 / sw);
            const ox1 = Math.min(Wo, Math.floor((W - 1 - x0) / sw) + 1);
            const wi = ((co * cpg + c) * kh + ky) * kw + kx;
            ${tap}
            for (let oy = oy0; oy < oy1; oy++) {
              const xr = xb + (oy * sh + y0) * W + x0;
              const orow = ob + oy * Wo;
              ${body}
            }
            ${post}
          }
        }
      }
    }
  }`;
}

/** For each window, the clipped rows and columns of the input it covers (padding is never a cell). */
function poolLoops(body: string): string {
  return `for (let q = 0; q < P; q++) {
    const base = q * H * W;
    for (let oy = 0; oy < Ho; oy++) {
      const y0 = Math.max(0, oy * sh - ph);
      const y1 = Math.min(H, oy * sh - ph + kh);
      for (let ox = 0; ox < Wo; ox++) {
        const x0 = Math.max(0, ox * sw - pw);
        const x1 = Math.min(W, ox * sw - pw + kw);
        const oi = (q * Ho + oy) * Wo + ox;
        ${body}
      }
    }
  }`;
}

/**
 * The SIMD path's shared parts: the matmul kernel's signature, and im2col of
 * one batch element's group: col[(c, ky, kx), (oy, ox)] (or its transpose,
 * colT[(oy, ox), (c, ky, kx)]), zero where the tap reads padding.
 */
const MM = "mm: (c: number, a: number, b: number, M: number, K: number, N: number, sai: number, sak: number, acc: number) => void";
function im2col(transposed: boolean): string {
  // col[r, p] lives at r * HoWo + p, colT's at p * Kc + r.
  const [rs, ps] = transposed ? ["1", "Kc"] : ["HoWo", "1"];
  return `for (let c = 0; c < cpg; c++) {
        const xb = xo + (b * Cin + grp * cpg + c) * H * W;
        for (let ky = 0; ky < kh; ky++) {
          const y0 = ky * dh - ph;
          for (let kx = 0; kx < kw; kx++) {
            const x0 = kx * dw - pw;
            const ox0 = x0 >= 0 ? 0 : Math.min(Wo, Math.ceil(-x0 / sw));
            const ox1 = Math.max(ox0, Math.min(Wo, Math.floor((W - 1 - x0) / sw) + 1));
            const r = ((c * kh + ky) * kw + kx) * ${rs};
            for (let oy = 0; oy < Ho; oy++) {
              const iy = oy * sh + y0;
              const row = r + oy * Wo * ${ps};
              if (iy < 0 || iy >= H) {
                for (let ox = 0; ox < Wo; ox++) col[row + ox * ${ps}] = 0;
                continue;
              }
              const xr = xb + iy * W + x0;
              for (let ox = 0; ox < ox0; ox++) col[row + ox * ${ps}] = 0;
              for (let ox = ox0; ox < ox1; ox++) col[row + ox * ${ps}] = x[xr + ox * sw];
              for (let ox = ox1; ox < Wo; ox++) col[row + ox * ${ps}] = 0;
            }
          }
        }
      }`;
}

function source(k: ConvKernel, FA: string): string {
  switch (k) {
    case "convForwardMm":
      return `
/**
 * convForward by the SIMD matmul: per batch element and group, im2col into
 * col (arena) and out[opg, Ho*Wo] = w[opg, Kc] @ col[Kc, Ho*Wo]. w and out live in the arena.
 */
function convForwardMm(${MM}, out: Float32Array, oo: number, x: Float32Array, xo: number, w: Float32Array, wo: number, col: Float32Array, ${GEOM}): void {
  const cpg = Cin / G;
  const opg = Cout / G;
  const Kc = cpg * kh * kw;
  const HoWo = Ho * Wo;
  for (let b = 0; b < B; b++) {
    for (let grp = 0; grp < G; grp++) {
      ${im2col(false)}
      mm(out.byteOffset + 4 * (oo + (b * Cout + grp * opg) * HoWo), w.byteOffset + 4 * (wo + grp * opg * Kc), col.byteOffset, opg, Kc, HoWo, 4 * Kc, 4, 0);
    }
  }
}`;
    case "convTransposeMm":
      return `
/**
 * convTranspose by the SIMD matmul: per batch element and group, col[Kc,
 * Ho*Wo] = w[opg, Kc]ᵀ @ g[opg, Ho*Wo], then col2im adds col into out. w, g and col live in the arena.
 */
function convTransposeMm(${MM}, out: Float32Array, oo: number, g: Float32Array, go: number, w: Float32Array, wo: number, col: Float32Array, ${GEOM}): void {
  const cpg = Cin / G;
  const opg = Cout / G;
  const Kc = cpg * kh * kw;
  const HoWo = Ho * Wo;
  out.fill(0, oo, oo + B * Cin * H * W);
  for (let b = 0; b < B; b++) {
    for (let grp = 0; grp < G; grp++) {
      mm(col.byteOffset, w.byteOffset + 4 * (wo + grp * opg * Kc), g.byteOffset + 4 * (go + (b * Cout + grp * opg) * HoWo), Kc, opg, HoWo, 4, 4 * Kc, 0);
      for (let c = 0; c < cpg; c++) {
        const xb = oo + (b * Cin + grp * cpg + c) * H * W;
        for (let ky = 0; ky < kh; ky++) {
          const y0 = ky * dh - ph;
          const oy0 = y0 >= 0 ? 0 : Math.ceil(-y0 / sh);
          const oy1 = Math.min(Ho, Math.floor((H - 1 - y0) / sh) + 1);
          for (let kx = 0; kx < kw; kx++) {
            const x0 = kx * dw - pw;
            const ox0 = x0 >= 0 ? 0 : Math.ceil(-x0 / sw);
            const ox1 = Math.min(Wo, Math.floor((W - 1 - x0) / sw) + 1);
            const r = ((c * kh + ky) * kw + kx) * HoWo;
            for (let oy = oy0; oy < oy1; oy++) {
              const xr = xb + (oy * sh + y0) * W + x0;
              const cr = r + oy * Wo;
              for (let ox = ox0; ox < ox1; ox++) out[xr + ox * sw] += col[cr + ox];
            }
          }
        }
      }
    }
  }
}`;
    case "convKernelGradMm":
      return `
/**
 * convKernelGrad by the SIMD matmul: per batch element and group, im2col
 * (transposed) into col and out[opg, Kc] += g[opg, Ho*Wo] @ colᵀ[Ho*Wo, Kc]. g, col and out live in the arena.
 */
function convKernelGradMm(${MM}, out: Float32Array, oo: number, x: Float32Array, xo: number, g: Float32Array, go: number, col: Float32Array, ${GEOM}): void {
  const cpg = Cin / G;
  const opg = Cout / G;
  const Kc = cpg * kh * kw;
  const HoWo = Ho * Wo;
  for (let b = 0; b < B; b++) {
    for (let grp = 0; grp < G; grp++) {
      ${im2col(true)}
      mm(out.byteOffset + 4 * (oo + grp * opg * Kc), g.byteOffset + 4 * (go + (b * Cout + grp * opg) * HoWo), col.byteOffset, opg, HoWo, Kc, 4 * HoWo, 4, b > 0 ? 1 : 0);
    }
  }
}`;
    case "convForward":
      return `
/** out[B, Cout, Ho, Wo] = cross-correlation of x[B, Cin, H, W] with w[Cout, Cin/G, kh, kw]. */
function convForward(out: ${FA}, oo: number, x: ${FA}, xo: number, w: ${FA}, wo: number, ${GEOM}): void {
  ${convLoops(
    "out.fill(0, oo, oo + B * Cout * Ho * Wo);",
    "const wv = w[wo + wi];",
    "for (let ox = ox0; ox < ox1; ox++) out[oo + orow + ox] += wv * x[xo + xr + ox * sw];",
    "",
  )}
}`;
    case "convTranspose":
      return `
/** out[B, Cin, H, W] = conv's adjoint in its input, applied to g[B, Cout, Ho, Wo] with the conv's kernel w. */
function convTranspose(out: ${FA}, oo: number, g: ${FA}, go: number, w: ${FA}, wo: number, ${GEOM}): void {
  ${convLoops(
    "out.fill(0, oo, oo + B * Cin * H * W);",
    "const wv = w[wo + wi];",
    "for (let ox = ox0; ox < ox1; ox++) out[oo + xr + ox * sw] += wv * g[go + orow + ox];",
    "",
  )}
}`;
    case "convKernelGrad":
      return `
/** out[Cout, Cin/G, kh, kw] = conv's adjoint in its kernel: the correlation of x[B, Cin, H, W] with g[B, Cout, Ho, Wo]. */
function convKernelGrad(out: ${FA}, oo: number, x: ${FA}, xo: number, g: ${FA}, go: number, ${GEOM}): void {
  out.fill(0, oo, oo + Cout * (Cin / G) * kh * kw);
  ${convLoops(
    "",
    "let s = 0;",
    "for (let ox = ox0; ox < ox1; ox++) s += g[go + orow + ox] * x[xo + xr + ox * sw];",
    "out[oo + wi] += s;",
  )}
}`;
    case "maxPool":
      return `
/** out = the max of each window of x[P, H, W]. */
function maxPool(out: ${FA}, oo: number, x: ${FA}, xo: number, ${POOL}): void {
  ${poolLoops(`let m = -Infinity;
        for (let y = y0; y < y1; y++) for (let c = x0; c < x1; c++) m = Math.max(m, x[xo + base + y * W + c]);
        out[oo + oi] = m;`)}
}`;
    case "maxPoolGrad":
      return `
/** out[P, H, W] = each window's g added at the window's first maximal cell of x, in row-major order. */
function maxPoolGrad(out: ${FA}, oo: number, x: ${FA}, xo: number, g: ${FA}, go: number, ${POOL}): void {
  out.fill(0, oo, oo + P * H * W);
  ${poolLoops(`let best = base + y0 * W + x0;
        let m = x[xo + best];
        for (let y = y0; y < y1; y++) {
          for (let c = x0; c < x1; c++) {
            const v = x[xo + base + y * W + c];
            if (v > m) {
              m = v;
              best = base + y * W + c;
            }
          }
        }
        out[oo + best] += g[go + oi];`)}
}`;
    case "avgPool":
      return `
/** out = the mean of each window of x[P, H, W], zero padding counted. */
function avgPool(out: ${FA}, oo: number, x: ${FA}, xo: number, ${POOL}): void {
  const inv = 1 / (kh * kw);
  ${poolLoops(`let s = 0;
        for (let y = y0; y < y1; y++) for (let c = x0; c < x1; c++) s += x[xo + base + y * W + c];
        out[oo + oi] = s * inv;`)}
}`;
    case "avgPoolGrad":
      return `
/** out[P, H, W] = avg_pool's adjoint: each window's g spread evenly over its cells. */
function avgPoolGrad(out: ${FA}, oo: number, g: ${FA}, go: number, ${POOL}): void {
  const inv = 1 / (kh * kw);
  out.fill(0, oo, oo + P * H * W);
  ${poolLoops(`const v = g[go + oi] * inv;
        for (let y = y0; y < y1; y++) for (let c = x0; c < x1; c++) out[oo + base + y * W + c] += v;`)}
}`;
  }
}

function use(cx: Emitter, k: ConvKernel): string {
  if (!cx.kernels.has(k)) cx.kernels.set(k, source(k, cx.FA));
  return k;
}

function operand(cx: Emitter, n: Node, out: string[]): string {
  const v: View = cx.contiguous(cx.value(n), cx.sizes(n.shape), "float", "operand", out);
  return `${cx.ref(v.buf)}, ${v.off}`;
}

/** An operand the SIMD matmul reads: in the arena already, else copied into an arena buffer per call. */
function inArenaOperand(cx: Emitter, n: Node, v: View, out: string[]): string {
  const info = cx.bufs.get(v.buf);
  if (info && inArena(cx, info)) return `${cx.ref(v.buf)}, ${v.off}`;
  const size = product(cx.sizes(n.shape));
  const copy = cx.alloc(cx.names.claim(`${cx.role(n)}_arena`), [size], "float");
  const i = cx.names.claim("i");
  out.push(`for (let ${i} = 0; ${i} < ${sizeStr(size)}; ${i}++) ${cx.ref(copy.buf)}[${i}] = ${cx.ref(v.buf)}[${v.off} + ${i}];`);
  return `${cx.ref(copy.buf)}, 0`;
}

/**
 * conv, conv_transpose and conv_kernel_grad. In SIMD modules, im2col into
 * the arena and the SIMD matmul (measured faster than the direct loops:
 * see the README), with the direct loops where the arena has no kernel.
 */
export function conv(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const [p, q] = n.inputs;
  const g = geomOf(n, (d) => (typeof d === "number" ? d : 1));
  const B = sizeStr(cx.dimSize(p.shape[0]));
  const geom = [B, g.Cin, g.H, g.W, g.Cout, g.Ho, g.Wo, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups].join(", ");
  const pv = cx.contiguous(cx.value(p), cx.sizes(p.shape), "float", "operand", out);
  const qv = cx.contiguous(cx.value(q), cx.sizes(q.shape), "float", "operand", out);
  const dst = cx.out(n);
  const f = use(cx, n.op === "conv" ? "convForward" : n.op === "conv_transpose" ? "convTranspose" : "convKernelGrad");
  const direct = `${f}(${cx.ref(dst.buf)}, ${dst.off}, ${cx.ref(pv.buf)}, ${pv.off}, ${cx.ref(qv.buf)}, ${qv.off}, ${geom});`;
  const home = cx.bufs.get(dst.buf);
  if (!cx.simd || !home || !inArena(cx, home)) {
    out.push(direct);
    return;
  }
  const Kc = (g.Cin / g.groups) * g.kh * g.kw;
  const col = cx.alloc(cx.names.claim("im2col"), [constSize(Kc * g.Ho * g.Wo)], "float");
  const mm = `${cx.ref(cx.arena)}.mm`;
  const simd: string[] = [];
  // conv reads x anywhere (im2col copies it) and w from the arena; the adjoints read g from the arena, and the transpose w.
  const a = n.op === "conv_kernel_grad" || n.op === "conv" ? `${cx.ref(pv.buf)}, ${pv.off}` : inArenaOperand(cx, p, pv, simd);
  const b = inArenaOperand(cx, q, qv, simd);
  const fm = use(cx, n.op === "conv" ? "convForwardMm" : n.op === "conv_transpose" ? "convTransposeMm" : "convKernelGradMm");
  simd.push(`${fm}(${mm}, ${cx.ref(dst.buf)}, ${dst.off}, ${a}, ${b}, ${cx.ref(col.buf)}, ${geom});`);
  out.push(`if (${mm} !== null) {`, ...simd, `} else {`, direct, `}`);
}

/** max_pool, max_pool_grad, avg_pool and avg_pool_grad. */
export function pool(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const plane = n.op === "avg_pool_grad" ? n : n.inputs[0];
  const p = poolGeom(plane.shape, n.attrs, n.op, (d) => (typeof d === "number" ? d : 1));
  // Batch times channels: every plane is pooled alike.
  const P = sizeStr(product(cx.sizes(plane.shape.slice(0, 2))));
  const geom = [P, p.H, p.W, p.Ho, p.Wo, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw].join(", ");
  const args = n.inputs.map((x) => operand(cx, x, out)).join(", ");
  const dst = cx.out(n);
  const f = use(cx, n.op === "max_pool" ? "maxPool" : n.op === "max_pool_grad" ? "maxPoolGrad" : n.op === "avg_pool" ? "avgPool" : "avgPoolGrad");
  out.push(`${f}(${cx.ref(dst.buf)}, ${dst.off}, ${args}, ${geom});`);
}
