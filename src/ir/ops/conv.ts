// Convolutions and pooling over channels-first tensors ([B, C, L] or
// [B, C, H, W], PyTorch's layout), one or two spatial axes. Three conv ops
// close under differentiation: `conv` (cross-correlation), `conv_transpose`
// (its adjoint in the input: the data gradient, and conv_transpose2d) and
// `conv_kernel_grad` (its adjoint in the kernel). Geometry attrs are per
// spatial axis: stride, dilation, pad (before) and padEnd (after, which
// differs from pad only for `padding="same"`), plus groups; conv_transpose
// adds outputPadding (extra rows at the end, PyTorch's output_padding) and
// conv_kernel_grad the kernel's size. Every kernel below runs the 1-D case
// as 2-D with a height of 1.
import { hull, matmulMoments, mulI, point, scaleI, type Interval, type Moments } from "../ranges.js";
import { showShape } from "../shape.js";
import { tensor, type Tensor } from "../tensor.js";
import type { Attrs, Dim, DType, Node } from "../types.js";
import { fail, nums, requireFloat, size, NOTHING, type DimRange, type OpDef } from "./define.js";
import type { OpKind } from "./kinds.js";

/** One conv's geometry, as 2-D (a 1-D conv has H = kh = 1). */
export interface ConvGeom {
  B: number;
  /** Channels of the conv's input and output (for conv_transpose, of the conv it transposes). */
  Cin: number;
  Cout: number;
  groups: number;
  H: number;
  W: number;
  Ho: number;
  Wo: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
}

const spatialName = (rank: number): string => (rank === 3 ? "1d" : "2d");

/** A dim that must be a constant: channels, spatial sizes and kernel sizes. */
function known(d: Dim, what: string): number {
  if (typeof d !== "number") fail(`${what} must be a constant size, got the symbolic dim ${d}`);
  return d;
}

/** PyTorch's output size of one spatial axis. */
export function convOut(n: number, k: number, s: number, d: number, lo: number, hi: number): number {
  return Math.floor((n + lo + hi - d * (k - 1) - 1) / s) + 1;
}

/** conv_transpose's output size of one axis: the input size of the conv it transposes. */
export function convTransposeOut(n: number, k: number, s: number, d: number, lo: number, hi: number, extra: number): number {
  return (n - 1) * s - lo - hi + d * (k - 1) + 1 + extra;
}

function spatialAttrs(a: Attrs, key: string, S: number): readonly number[] {
  const v = nums(a, key);
  if (!Array.isArray(v) || v.length !== S) fail(`internal error: attr ${key} must list ${S} sizes`);
  return v;
}

/** Checks the attrs every conv op has and returns them per axis, padded to 2-D. */
function geomAttrs(a: Attrs, S: number) {
  const pad2 = (k: string, fill: number): [number, number] => {
    const v = spatialAttrs(a, k, S);
    return S === 1 ? [fill, v[0]] : [v[0], v[1]];
  };
  return {
    stride: pad2("stride", 1),
    dilation: pad2("dilation", 1),
    pad: pad2("pad", 0),
    padEnd: pad2("padEnd", 0),
    groups: a.groups as number,
  };
}

function checkRank(x: Node, k: Node, what: string): number {
  const r = x.shape.length;
  if (r !== 3 && r !== 4) fail(`${what} needs a [B, C, L] or [B, C, H, W] input, got ${showShape(x.shape)}`);
  if (k.shape.length !== r) fail(`${what}'s kernel must have ${r} axes to match the input ${showShape(x.shape)}, got ${showShape(k.shape)}`);
  return r - 2;
}

const spatial2 = (shape: readonly Dim[], from: number, what: string): [number, number] => {
  const s = shape.slice(from).map((d) => known(d, what));
  return s.length === 1 ? [1, s[0]] : [s[0], s[1]];
};

/** The geometry of conv(x [B, Cin, ...], K [Cout, Cin/groups, k...]); fails on mismatched channels or an empty output. */
function convGeom(x: Node, k: Node, a: Attrs, B: number): ConvGeom {
  const S = checkRank(x, k, "conv");
  const op = `conv${spatialName(S + 2)}`;
  const g = geomAttrs(a, S);
  const Cin = known(x.shape[1], `${op}'s input channels`);
  const Cout = known(k.shape[0], `${op}'s output channels`);
  const [H, W] = spatial2(x.shape, 2, `${op}'s input size`);
  const [kh, kw] = spatial2(k.shape, 2, `${op}'s kernel size`);
  return finish(op, S, { B, Cin, Cout, groups: g.groups, H, W, kh, kw, g, kcin: known(k.shape[1], `${op}'s kernel`) });
}

/** Checks channels and groups, and computes the output size (at least 1). */
function finish(
  op: string,
  S: number,
  c: { B: number; Cin: number; Cout: number; groups: number; H: number; W: number; kh: number; kw: number; kcin: number; g: ReturnType<typeof geomAttrs> },
): ConvGeom {
  const { g } = c;
  if (!(Number.isInteger(c.groups) && c.groups >= 1)) fail(`${op}'s groups must be a positive integer, got ${c.groups}`);
  if (c.Cin % c.groups || c.Cout % c.groups)
    fail(`${op}: groups=${c.groups} must divide the input channels (${c.Cin}) and the output channels (${c.Cout})`);
  if (c.kcin !== c.Cin / c.groups)
    fail(`${op}'s kernel has ${c.kcin} input channels per group, but the input has ${c.Cin} channels in ${c.groups} group${c.groups > 1 ? "s" : ""} (${c.Cin / c.groups} each)`);
  const Ho = convOut(c.H, c.kh, g.stride[0], g.dilation[0], g.pad[0], g.padEnd[0]);
  const Wo = convOut(c.W, c.kw, g.stride[1], g.dilation[1], g.pad[1], g.padEnd[1]);
  if (Ho < 1 || Wo < 1) {
    const show = (v: readonly number[]): string => v.slice(2 - S).join("x");
    fail(
      `${op}'s output size comes out below 1 (${Ho < 1 ? Ho : Wo}): input ${show([c.H, c.W])}, kernel ${show([c.kh, c.kw])}, ` +
        `stride ${show(g.stride)}, padding ${show(g.pad)}, dilation ${show(g.dilation)}`,
    );
  }
  return {
    B: c.B, Cin: c.Cin, Cout: c.Cout, groups: c.groups, H: c.H, W: c.W, Ho, Wo, kh: c.kh, kw: c.kw,
    sh: g.stride[0], sw: g.stride[1], ph: g.pad[0], pw: g.pad[1], dh: g.dilation[0], dw: g.dilation[1],
  };
}

/** The conv geometry of any of the three conv ops, from its node (B from `dim`). */
export function geomOf(n: Node, dim: (d: Dim) => number): ConvGeom {
  const [p, q] = n.inputs;
  const B = dim(p.shape[0]);
  if (n.op === "conv") return convGeom(p, q, n.attrs, B);
  if (n.op === "conv_kernel_grad") return convGeom(p, n, n.attrs, B);
  // conv_transpose(g, K): the conv from its output (shape n) to g.
  const k = q;
  const x = n;
  return convGeom(x, k, n.attrs, B);
}

const convShape = (x: Node, g: ConvGeom, S: number): Dim[] => [x.shape[0], g.Cout, ...(S === 1 ? [g.Wo] : [g.Ho, g.Wo])];

function transposeShape(gIn: Node, k: Node, a: Attrs): Dim[] {
  const S = checkRank(gIn, k, "conv_transpose");
  const geo = geomAttrs(a, S);
  const extra = spatialAttrs(a, "outputPadding", S);
  const ks = spatial2(k.shape, 2, "conv_transpose's kernel size");
  const ins = spatial2(gIn.shape, 2, "conv_transpose's input size");
  const out = [0, 1].map((i) => convTransposeOut(ins[i], ks[i], geo.stride[i], geo.dilation[i], geo.pad[i], geo.padEnd[i], S === 1 && i === 0 ? 0 : extra[S === 1 ? 0 : i]));
  if (out.some((v) => v < 1))
    fail(`conv_transpose${spatialName(S + 2)}'s output size comes out below 1 (${out.join("x")}): input ${showShape(gIn.shape.slice(2))}, kernel ${showShape(k.shape.slice(2))}`);
  const Cout = known(k.shape[1], "conv_transpose's kernel") * (a.groups as number);
  return [gIn.shape[0], Cout, ...(S === 1 ? [out[1]] : out)];
}

const flopsOf = (g: ConvGeom): number => 2 * g.B * g.Cout * g.Ho * g.Wo * (g.Cin / g.groups) * g.kh * g.kw;

/** Shared attrs of the conv an op transposes or differentiates, without the op's own extras. */
function convAttrs(a: Attrs): Attrs {
  return { stride: a.stride, dilation: a.dilation, pad: a.pad, padEnd: a.padEnd, groups: a.groups };
}

/** The outputPadding that makes conv_transpose give back an input of size `n` along each axis. */
function extraFor(x: Node, k: Node, out: Node, a: Attrs): number[] {
  const S = x.shape.length - 2;
  return Array.from({ length: S }, (_, i) => {
    const base = convTransposeOut(out.shape[2 + i] as number, k.shape[2 + i] as number, nums(a, "stride")[i], nums(a, "dilation")[i], nums(a, "pad")[i], nums(a, "padEnd")[i], 0);
    return (x.shape[2 + i] as number) - base;
  });
}

// ---- float64 references -----------------------------------------------------

type Visit = (xi: number, wi: number, oi: number) => void;

/** Calls f for every (input, kernel, output) index triple of the conv with geometry g. */
function eachTap(g: ConvGeom, f: Visit): void {
  const cpg = g.Cin / g.groups;
  const opg = g.Cout / g.groups;
  for (let b = 0; b < g.B; b++)
    for (let co = 0; co < g.Cout; co++) {
      const grp = Math.floor(co / opg);
      for (let c = 0; c < cpg; c++) {
        const ci = grp * cpg + c;
        for (let ky = 0; ky < g.kh; ky++)
          for (let kx = 0; kx < g.kw; kx++) {
            const wi = ((co * cpg + c) * g.kh + ky) * g.kw + kx;
            for (let oy = 0; oy < g.Ho; oy++) {
              const iy = oy * g.sh - g.ph + ky * g.dh;
              if (iy < 0 || iy >= g.H) continue;
              for (let ox = 0; ox < g.Wo; ox++) {
                const ix = ox * g.sw - g.pw + kx * g.dw;
                if (ix < 0 || ix >= g.W) continue;
                f(((b * g.Cin + ci) * g.H + iy) * g.W + ix, wi, ((b * g.Cout + co) * g.Ho + oy) * g.Wo + ox);
              }
            }
          }
      }
    }
}

const dimsOf = (n: Node, dim: (d: Dim) => number): number[] => n.shape.map(dim);

// ---- pooling geometry ---------------------------------------------------------

export interface PoolGeom {
  /** Batch times channels: pooling treats each plane alike. */
  P: number;
  H: number;
  W: number;
  Ho: number;
  Wo: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

/** The pooling geometry from the pooled input's shape (x) and the attrs kernel, stride, pad. */
export function poolGeom(xShape: readonly Dim[], a: Attrs, op: string, dim: (d: Dim) => number = (d) => d as number): PoolGeom {
  const r = xShape.length;
  if (r !== 3 && r !== 4) fail(`${op} needs a [B, C, L] or [B, C, H, W] input, got ${showShape(xShape)}`);
  const S = r - 2;
  const get = (k: string, fill: number): [number, number] => {
    const v = spatialAttrs(a, k, S);
    return S === 1 ? [fill, v[0]] : [v[0], v[1]];
  };
  const [kh, kw] = get("kernel", 1);
  const [sh, sw] = get("stride", 1);
  const [ph, pw] = get("pad", 0);
  if (ph > kh / 2 || pw > kw / 2) fail(`${op}'s padding (${get("pad", 0).slice(2 - S).join("x")}) must be at most half the window (${[kh, kw].slice(2 - S).join("x")})`);
  const [H, W] = spatial2(xShape, 2, `${op}'s input size`);
  const Ho = convOut(H, kh, sh, 1, ph, ph);
  const Wo = convOut(W, kw, sw, 1, pw, pw);
  if (Ho < 1 || Wo < 1) fail(`${op}'s output size comes out below 1: input ${showShape(xShape.slice(2))}, window ${[kh, kw].slice(2 - S).join("x")}`);
  return { P: dim(xShape[0]) * known(xShape[1], `${op}'s channels`), H, W, Ho, Wo, kh, kw, sh, sw, ph, pw };
}

const pooledShape = (x: readonly Dim[], p: PoolGeom): Dim[] => [x[0], x[1], ...(x.length === 3 ? [p.Wo] : [p.Ho, p.Wo])];

/** For each output cell: the input cells of its window that are inside the input (padding is never a cell). */
function eachWindow(p: PoolGeom, f: (oi: number, cells: number[]) => void): void {
  const cells: number[] = [];
  for (let q = 0; q < p.P; q++)
    for (let oy = 0; oy < p.Ho; oy++)
      for (let ox = 0; ox < p.Wo; ox++) {
        cells.length = 0;
        for (let ky = 0; ky < p.kh; ky++) {
          const iy = oy * p.sh - p.ph + ky;
          if (iy < 0 || iy >= p.H) continue;
          for (let kx = 0; kx < p.kw; kx++) {
            const ix = ox * p.sw - p.pw + kx;
            if (ix >= 0 && ix < p.W) cells.push((q * p.H + iy) * p.W + ix);
          }
        }
        f((q * p.Ho + oy) * p.Wo + ox, cells);
      }
}

/** The first maximal cell of a window, in row-major order. */
function firstMax(x: Float64Array, cells: number[]): number {
  let best = cells[0];
  for (const c of cells) if (x[c] > x[best]) best = c;
  return best;
}

// ---- lint rules ---------------------------------------------------------------

/** A sum of K products of p and q, with zero terms where padding is read. */
function convInterval(p: Interval, q: Interval, K: number, padded: boolean): Interval {
  const term = padded ? hull(mulI(p, q), point(0)) : mulI(p, q);
  return scaleI(term, K, K);
}

const padded = (a: Attrs): boolean => [...nums(a, "pad"), ...nums(a, "padEnd")].some((v) => v > 0);

/** The terms each output of a conv op sums: Cin/groups * prod(k) (the receptive field). */
function receptive(n: Node, dim: (d: Dim) => number): number {
  const g = geomOf(n, dim);
  if (n.op === "conv") return (g.Cin / g.groups) * g.kh * g.kw;
  if (n.op === "conv_transpose") return (g.Cout / g.groups) * g.kh * g.kw;
  return g.B * g.Ho * g.Wo;
}

const bilinearLint = {
  // The largest number of terms: a symbolic batch (conv_kernel_grad sums over it) at its upper end.
  interval: ([p, q]: readonly Interval[], n: Node, range: DimRange) => convInterval(p, q, receptive(n, (d) => range(d)[1]), padded(n.attrs)),
  moments: ([p, q]: readonly (Moments | null)[], n: Node, dim: (d: Dim) => number) => (p && q ? matmulMoments(p, q, receptive(n, dim)) : null),
  gain: { unsupported: "a convolution's gain in a recurrence is not modelled" },
} as const;

const FLOAT: DType = "float";

export const CONV = {
  /** Cross-correlation, PyTorch's conv1d / conv2d. */
  conv: {
    class: "linalg",
    arity: 2,
    infer: (inputs, a) => {
      requireFloat(inputs);
      const [x, k] = inputs;
      const g = convGeom(x, k, a, 1);
      return { shape: convShape(x, g, x.shape.length - 2), dtype: FLOAT };
    },
    eval: ([x, k], n, ctx) => {
      const g = geomOf(n, (d) => ctx.dim(d));
      const out = tensor(dimsOf(n, (d) => ctx.dim(d)));
      eachTap(g, (xi, wi, oi) => (out.data[oi] += x.data[xi] * k.data[wi]));
      return out;
    },
    vjp: (b, n, ct, needs) => {
      const [x, k] = n.inputs;
      const a = convAttrs(n.attrs);
      return [
        needs[0] ? b.op("conv_transpose", [ct, k], { ...a, outputPadding: extraFor(x, k, n, n.attrs) }) : null,
        needs[1] ? b.op("conv_kernel_grad", [x, ct], { ...a, kernel: k.shape.slice(2) as number[] }) : null,
      ];
    },
    saves: { inputs: [0, 1], output: false },
    flops: (n, dv) => flopsOf(geomOf(n, dv)),
    lint: bilinearLint,
    example: {
      inputs: [[["B", 4, 5, 6], FLOAT], [[6, 2, 3, 2], FLOAT]],
      attrs: { stride: [2, 1], dilation: [1, 2], pad: [1, 0], padEnd: [1, 1], groups: 2 },
    },
  },
  /**
   * The adjoint of conv in its input: g [B, Cout, Ho, Wo] and the conv's
   * kernel [Cout, Cin/groups, kh, kw] give [B, Cin, H, W]. conv's data
   * gradient, and conv_transpose2d (whose [Cin, Cout, kh, kw] kernel is this
   * layout read from the other side).
   */
  conv_transpose: {
    class: "linalg",
    arity: 2,
    infer: (inputs, a) => {
      requireFloat(inputs);
      const shape = transposeShape(inputs[0], inputs[1], a);
      const fake = { ...inputs[0], shape } as Node;
      const g = convGeom(fake, inputs[1], a, 1);
      const gs = inputs[0].shape.slice(2);
      const back = gs.length === 1 ? [g.Wo] : [g.Ho, g.Wo];
      if (gs.some((d, i) => d !== back[i]) || inputs[1].shape[0] !== inputs[0].shape[1])
        fail(`conv_transpose's input ${showShape(inputs[0].shape)} does not match its kernel ${showShape(inputs[1].shape)} and output ${showShape(shape)}`);
      return { shape, dtype: FLOAT };
    },
    eval: ([gIn, k], n, ctx) => {
      const g = geomOf(n, (d) => ctx.dim(d));
      const out = tensor(dimsOf(n, (d) => ctx.dim(d)));
      eachTap(g, (xi, wi, oi) => (out.data[xi] += gIn.data[oi] * k.data[wi]));
      return out;
    },
    vjp: (b, n, ct, needs) => {
      const [gIn, k] = n.inputs;
      const a = convAttrs(n.attrs);
      return [
        needs[0] ? b.op("conv", [ct, k], a) : null,
        needs[1] ? b.op("conv_kernel_grad", [ct, gIn], { ...a, kernel: k.shape.slice(2) as number[] }) : null,
      ];
    },
    saves: { inputs: [0, 1], output: false },
    flops: (n, dv) => flopsOf(geomOf(n, dv)),
    lint: bilinearLint,
    example: {
      inputs: [[["B", 6, 3, 3], FLOAT], [[6, 2, 3, 2], FLOAT]],
      attrs: { stride: [2, 1], dilation: [1, 2], pad: [1, 0], padEnd: [1, 1], groups: 2, outputPadding: [1, 0] },
    },
  },
  /** The adjoint of conv in its kernel: x [B, Cin, H, W] and g [B, Cout, Ho, Wo] give [Cout, Cin/groups, kh, kw]. */
  conv_kernel_grad: {
    class: "linalg",
    arity: 2,
    infer: (inputs, a) => {
      requireFloat(inputs);
      const [x, gIn] = inputs;
      const ks = nums(a, "kernel");
      const groups = a.groups as number;
      const Cout = known(gIn.shape[1], "conv_kernel_grad's gradient channels");
      const Cin = known(x.shape[1], "conv_kernel_grad's input channels");
      if (Cin % groups) fail(`groups=${groups} must divide the input channels (${Cin})`);
      const shape: Dim[] = [Cout, Cin / groups, ...ks];
      const g = convGeom(x, { ...gIn, shape } as Node, a, 1);
      const back = ks.length === 1 ? [g.Wo] : [g.Ho, g.Wo];
      if (gIn.shape.slice(2).some((d, i) => d !== back[i]) || gIn.shape[0] !== x.shape[0])
        fail(`conv_kernel_grad's gradient ${showShape(gIn.shape)} does not match the conv of ${showShape(x.shape)} by a kernel ${showShape(shape)}`);
      return { shape, dtype: FLOAT };
    },
    eval: ([x, gIn], n, ctx) => {
      const g = geomOf(n, (d) => ctx.dim(d));
      const out = tensor(dimsOf(n, (d) => ctx.dim(d)));
      eachTap(g, (xi, wi, oi) => (out.data[wi] += x.data[xi] * gIn.data[oi]));
      return out;
    },
    vjp: (b, n, ct, needs) => {
      const [x, gIn] = n.inputs;
      const a = convAttrs(n.attrs);
      return [
        needs[0] ? b.op("conv_transpose", [gIn, ct], { ...a, outputPadding: extraFor(x, n, gIn, n.attrs) }) : null,
        needs[1] ? b.op("conv", [x, ct], a) : null,
      ];
    },
    saves: { inputs: [0, 1], output: false },
    flops: (n, dv) => flopsOf(geomOf(n, dv)),
    lint: bilinearLint,
    example: {
      inputs: [[["B", 4, 5, 6], FLOAT], [["B", 6, 3, 5], FLOAT]],
      attrs: { stride: [2, 1], dilation: [1, 2], pad: [1, 0], padEnd: [1, 1], groups: 2, kernel: [3, 2] },
    },
  },
  /** Max over each window; padding never wins. */
  max_pool: {
    class: "nn",
    arity: 1,
    infer: (inputs, a) => {
      requireFloat(inputs);
      const x = inputs[0];
      return { shape: pooledShape(x.shape, poolGeom(x.shape, a, `max_pool${spatialName(x.shape.length)}`)), dtype: FLOAT };
    },
    eval: ([x], n, ctx) => {
      const out = tensor(dimsOf(n, (d) => ctx.dim(d)));
      eachWindow(poolGeom(n.inputs[0].shape, n.attrs, "max_pool", (d) => ctx.dim(d)), (oi, cells) => (out.data[oi] = x.data[firstMax(x.data, cells)]));
      return out;
    },
    vjp: (b, n, ct) => [b.op("max_pool_grad", [n.inputs[0], ct], n.attrs)],
    saves: { inputs: [0], output: false },
    // A comparison per window cell.
    flops: (n, dv) => size(n, dv) * nums(n.attrs, "kernel").reduce((p, k) => p * k, 1),
    lint: { interval: (x: readonly Interval[]) => x[0], moments: () => null, gain: { kind: "same" }, roles: ["layout"] },
    example: { inputs: [[["B", 2, 5, 6], FLOAT]], attrs: { kernel: [3, 2], stride: [2, 2], pad: [1, 0] } },
  },
  /** max_pool's gradient: each window's cotangent goes to its first maximal cell of x. Built by that VJP only. */
  max_pool_grad: {
    class: "nn",
    arity: 2,
    infer: (inputs, a) => {
      requireFloat(inputs);
      const [x, g] = inputs;
      const want = pooledShape(x.shape, poolGeom(x.shape, a, "max_pool"));
      if (g.shape.length !== want.length || g.shape.some((d, i) => d !== want[i]))
        fail(`max_pool_grad's gradient must be ${showShape(want)}, got ${showShape(g.shape)}`);
      return { shape: [...x.shape], dtype: FLOAT };
    },
    eval: ([x, g], n, ctx) => {
      const out = tensor(dimsOf(n, (d) => ctx.dim(d)));
      eachWindow(poolGeom(n.shape, n.attrs, "max_pool", (d) => ctx.dim(d)), (oi, cells) => (out.data[firstMax(x.data, cells)] += g.data[oi]));
      return out;
    },
    flops: (n, dv) => size(n.inputs[1], dv) * nums(n.attrs, "kernel").reduce((p, k) => p * k, 1),
    lint: {
      interval: ([, g]: readonly Interval[]) => hull(g, point(0)),
      moments: () => null,
      gain: { unsupported: "max_pool_grad is built by autodiff, after the linter's analyses" },
      roles: ["select", "layout"],
    },
    example: { inputs: [[["B", 2, 5, 6], FLOAT], [["B", 2, 3, 3], FLOAT]], attrs: { kernel: [3, 2], stride: [2, 2], pad: [1, 0] } },
  },
  /** Mean over each window, zero padding counted (PyTorch's count_include_pad). */
  avg_pool: {
    class: "nn",
    arity: 1,
    infer: (inputs, a) => {
      requireFloat(inputs);
      const x = inputs[0];
      return { shape: pooledShape(x.shape, poolGeom(x.shape, a, `avg_pool${spatialName(x.shape.length)}`)), dtype: FLOAT };
    },
    eval: ([x], n, ctx) => {
      const out = tensor(dimsOf(n, (d) => ctx.dim(d)));
      const p = poolGeom(n.inputs[0].shape, n.attrs, "avg_pool", (d) => ctx.dim(d));
      eachWindow(p, (oi, cells) => (out.data[oi] = cells.reduce((s, c) => s + x.data[c], 0) / (p.kh * p.kw)));
      return out;
    },
    vjp: (b, n, ct) => [b.op("avg_pool_grad", [ct], { ...n.attrs, size: n.inputs[0].shape.slice(2) as number[] })],
    saves: NOTHING,
    // An add per window cell and a divide per output.
    flops: (n, dv) => size(n, dv) * (nums(n.attrs, "kernel").reduce((p, k) => p * k, 1) + 1),
    lint: {
      interval: ([x]: readonly Interval[], n: Node) => (nums(n.attrs, "pad").some((v) => v > 0) ? hull(x, point(0)) : x),
      moments: ([m]: readonly (Moments | null)[], n: Node) => (m ? { mean: m.mean, var: m.var / nums(n.attrs, "kernel").reduce((p, k) => p * k, 1) } : null),
      gain: { kind: "same" },
    },
    example: { inputs: [[["B", 2, 5, 6], FLOAT]], attrs: { kernel: [3, 2], stride: [2, 2], pad: [1, 1] } },
  },
  /** avg_pool's adjoint: g [B, C, Ho, Wo] spread back over each window, into [B, C, size...]. */
  avg_pool_grad: {
    class: "nn",
    arity: 1,
    infer: (inputs, a) => {
      requireFloat(inputs);
      const [g] = inputs;
      const shape: Dim[] = [g.shape[0], g.shape[1], ...nums(a, "size")];
      const want = pooledShape(shape, poolGeom(shape, a, "avg_pool"));
      if (g.shape.length !== want.length || g.shape.some((d, i) => d !== want[i]))
        fail(`avg_pool_grad's gradient must be ${showShape(want)}, got ${showShape(g.shape)}`);
      return { shape, dtype: FLOAT };
    },
    eval: ([g], n, ctx) => {
      const out = tensor(dimsOf(n, (d) => ctx.dim(d)));
      const p = poolGeom(n.shape, n.attrs, "avg_pool", (d) => ctx.dim(d));
      eachWindow(p, (oi, cells) => {
        for (const c of cells) out.data[c] += g.data[oi] / (p.kh * p.kw);
      });
      return out;
    },
    vjp: (b, n, ct) => {
      const { size: _, ...a } = n.attrs;
      return [b.op("avg_pool", [ct], a)];
    },
    saves: NOTHING,
    flops: (n, dv) => size(n.inputs[0], dv) * (nums(n.attrs, "kernel").reduce((p, k) => p * k, 1) + 1),
    lint: {
      interval: ([g]: readonly Interval[]) => hull(g, point(0)),
      moments: () => null,
      gain: { kind: "same" },
    },
    example: { inputs: [[["B", 2, 3, 4], FLOAT]], attrs: { kernel: [3, 2], stride: [2, 2], pad: [1, 1], size: [5, 6] } },
  },
} satisfies Partial<Record<OpKind, OpDef>>;
