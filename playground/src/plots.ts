// The train panel's two canvases: the loss curve and the decision regions.
import { EXTENT } from "./protocol.js";

/** Class colours: fill for the regions, stroke for the points. */
export const CLASS_COLORS: readonly [number, number, number][] = [
  [59, 130, 246], // blue
  [245, 158, 11], // amber
  [16, 185, 129], // green
  [168, 85, 247], // violet
  [236, 72, 153], // pink
];

/** Sizes a canvas's backing store to its CSS box at the device's pixel ratio. */
function fit(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/** At most this many points are kept: when full, neighbours merge and each point covers twice the steps. */
const CAPACITY = 2048;

export class LossChart {
  /** Mean loss per bucket of `width` steps, at the bucket's last step. */
  private steps: number[] = [];
  private losses: number[] = [];
  private width = 1;
  private open = { n: 0, sum: 0 };

  constructor(private readonly canvas: HTMLCanvasElement) {}

  clear(): void {
    this.steps = [];
    this.losses = [];
    this.width = 1;
    this.open = { n: 0, sum: 0 };
    this.draw();
  }

  /** Appends [step, loss] pairs. */
  add(pairs: Float32Array): void {
    for (let i = 0; i < pairs.length; i += 2) {
      this.open.n++;
      this.open.sum += pairs[i + 1];
      if (this.open.n < this.width) continue;
      this.steps.push(pairs[i]);
      this.losses.push(this.open.sum / this.open.n);
      this.open = { n: 0, sum: 0 };
      if (this.losses.length >= CAPACITY) this.merge();
    }
  }

  private merge(): void {
    const steps: number[] = [];
    const losses: number[] = [];
    for (let i = 0; i + 1 < this.losses.length; i += 2) {
      steps.push(this.steps[i + 1]);
      losses.push((this.losses[i] + this.losses[i + 1]) / 2);
    }
    this.steps = steps;
    this.losses = losses;
    this.width *= 2;
  }

  get last(): number | undefined {
    return this.losses.length ? this.smoothed().at(-1) : undefined;
  }

  private smoothed(): number[] {
    const out: number[] = [];
    // Started at the first loss, so the curve needs no bias correction.
    let ema = this.losses[0] ?? 0;
    const k = Math.min(0.5, 0.05 * this.width);
    for (const l of this.losses) {
      ema = Number.isFinite(l) ? (1 - k) * ema + k * l : ema;
      out.push(ema);
    }
    return out;
  }

  draw(): void {
    const ctx = fit(this.canvas);
    const W = this.canvas.clientWidth;
    const H = this.canvas.clientHeight;
    ctx.clearRect(0, 0, W, H);
    const L = 34;
    const R = 16;
    const T = 8;
    const B = 20;
    ctx.font = "10px ui-sans-serif, system-ui, sans-serif";
    ctx.fillStyle = "#64748b";
    ctx.strokeStyle = "#e2e8f0";
    ctx.lineWidth = 1;
    if (this.losses.length < 2) {
      ctx.textAlign = "center";
      ctx.fillText("the loss appears here while training", W / 2, H / 2);
      return;
    }
    // The scale follows the smoothed curve, so a few noisy batches do not flatten it.
    const smooth = this.smoothed();
    const lo = 0;
    const hi = Math.max(1e-3, Math.max(...smooth.filter(Number.isFinite)) * 1.1);
    const s0 = this.steps[0];
    const s1 = Math.max(s0 + 1, this.steps.at(-1) as number);
    const x = (s: number): number => L + ((s - s0) / (s1 - s0)) * (W - L - R);
    const y = (v: number): number => T + (1 - (Math.min(v, hi) - lo) / (hi - lo)) * (H - T - B);
    // grid and ticks
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of ticks(lo, hi, 4)) {
      ctx.beginPath();
      ctx.moveTo(L, Math.round(y(v)) + 0.5);
      ctx.lineTo(W - R, Math.round(y(v)) + 0.5);
      ctx.stroke();
      ctx.fillText(formatTick(v), L - 4, y(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const s of ticks(s0, s1, 4)) ctx.fillText(String(Math.round(s)), x(s), H - B + 5);
    // raw losses, downsampled to about one point per pixel
    const every = Math.max(1, Math.floor(this.losses.length / (W - L - R)));
    ctx.strokeStyle = "rgba(220, 38, 38, 0.25)";
    this.path(ctx, x, y, this.losses, every);
    ctx.strokeStyle = "#dc2626";
    ctx.lineWidth = 2;
    this.path(ctx, x, y, smooth, every);
  }

  private path(ctx: CanvasRenderingContext2D, x: (s: number) => number, y: (v: number) => number, vs: number[], every: number): void {
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < vs.length; i += every) {
      if (!Number.isFinite(vs[i])) {
        pen = false;
        continue;
      }
      if (pen) ctx.lineTo(x(this.steps[i]), y(vs[i]));
      else ctx.moveTo(x(this.steps[i]), y(vs[i]));
      pen = true;
    }
    ctx.stroke();
  }
}

function ticks(lo: number, hi: number, n: number): number[] {
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) as number;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}

function formatTick(v: number): string {
  return Math.abs(v) >= 10 || v === 0 ? String(Math.round(v)) : v.toPrecision(2).replace(/\.?0+$/, "");
}

/** Draws the decision regions (class probabilities over a grid) and the data points. */
export function drawRegions(
  canvas: HTMLCanvasElement,
  probs: Float32Array | null,
  grid: number,
  classes: number,
  x: Float32Array,
  y: Int32Array,
): void {
  const ctx = fit(canvas);
  const S = canvas.clientWidth;
  ctx.clearRect(0, 0, S, S);
  ctx.fillStyle = "#f8fafc";
  ctx.fillRect(0, 0, S, S);
  if (probs && classes > 0) {
    const img = new ImageData(grid, grid);
    for (let g = 0; g < grid * grid; g++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (probs[g * classes + c] > probs[g * classes + best]) best = c;
      // The more confident, the stronger the tint; an undecided cell stays near white.
      const p = probs[g * classes + best];
      const a = Math.max(0, Math.min(1, (p - 1 / classes) / (1 - 1 / classes)));
      const [r, gr, b] = CLASS_COLORS[best % CLASS_COLORS.length];
      const k = 0.18 + 0.45 * a;
      img.data[4 * g] = 255 + (r - 255) * k;
      img.data[4 * g + 1] = 255 + (gr - 255) * k;
      img.data[4 * g + 2] = 255 + (b - 255) * k;
      img.data[4 * g + 3] = 255;
    }
    const off = new OffscreenCanvas(grid, grid);
    (off.getContext("2d") as OffscreenCanvasRenderingContext2D).putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, S, S);
  }
  const px = (v: number): number => ((v + EXTENT) / (2 * EXTENT)) * S;
  const py = (v: number): number => ((EXTENT - v) / (2 * EXTENT)) * S;
  const radius = Math.max(2, S / 110);
  ctx.lineWidth = 1;
  ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
  for (let i = 0; i < y.length; i++) {
    const [r, g, b] = CLASS_COLORS[y[i] % CLASS_COLORS.length];
    ctx.fillStyle = `rgb(${r * 0.8}, ${g * 0.8}, ${b * 0.8})`;
    ctx.beginPath();
    ctx.arc(px(x[2 * i]), py(x[2 * i + 1]), radius, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
  }
}
