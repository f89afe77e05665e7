/**
 * Explanations shared by the saturation and dead-relu rules: where a
 * pre-activation's spread comes from (the layer's input, its fan-in, the
 * weight's initializer, the bias), and what to change.
 */
import { innerDim } from "../ir/ops/linalg.js";
import type { Node } from "../ir/types.js";
import { LintContext, summarize } from "./context.js";
import { fmt, initMoments, matmulMoments, type Moments } from "./stats.js";

export interface Layer {
  /** The matmul `a @ W` behind the pre-activation, if any. */
  matmul: Node | null;
  input: Node | null;
  weight: Node | null;
  fanIn: number | null;
  /** Params added to the matmul (biases). */
  biases: Node[];
}

/** Every `a @ W` summed into a pre-activation (through add/sub/neg and layout ops), and the params added to it. */
function terms(z: Node): { matmuls: Node[]; biases: Node[] } {
  const biases: Node[] = [];
  const matmuls: Node[] = [];
  const walk = (n: Node, depth: number): void => {
    if (depth > 8) return;
    if (n.op === "param") biases.push(n);
    else if (n.op === "matmul") matmuls.push(n);
    else if (n.op === "add" || n.op === "sub") n.inputs.forEach((x) => walk(x, depth + 1));
    else if (["neg", "reshape", "broadcast_to", "transpose", "slice"].includes(n.op)) walk(n.inputs[0], depth + 1);
  };
  walk(z, 0);
  return { matmuls, biases };
}

function layerFrom(m: Node | null, biases: Node[]): Layer {
  if (!m) return { matmul: null, input: null, weight: null, fanIn: null, biases };
  const [a, w] = m.inputs;
  const [x, W] = w.op === "param" ? [a, w] : a.op === "param" ? [w, a] : [a, null];
  const k = innerDim(m);
  return { matmul: m, input: x, weight: W, fanIn: typeof k === "number" ? k : null, biases };
}

/** The layer behind a pre-activation: of several `a @ W` terms, the one contributing the most variance. */
export function layerOf(ctx: LintContext, z: Node): Layer {
  const { matmuls, biases } = terms(z);
  let best: Node | null = null;
  let bestVar = -1;
  for (const m of matmuls) {
    const l = layerFrom(m, biases);
    let v = 0;
    if (l.input && l.weight && l.fanIn) {
      const xm = momentsOf(ctx, l.input);
      const wm = initMoments(l.weight);
      v = xm ? matmulMoments(xm, wm, l.fanIn).var : 0;
    }
    if (v > bestVar) {
      bestVar = v;
      best = m;
    }
  }
  return layerFrom(best, biases);
}

/** Moments of a node: measured on the sample when recorded, else closed form. */
export function momentsOf(ctx: LintContext, n: Node): Moments | null {
  const vals = ctx.samples?.values(n);
  if (vals) {
    const s = summarize(vals);
    if (s.n > 0) return { mean: s.mean, var: s.std * s.std };
  }
  return ctx.moments.get(n) ?? null;
}

export interface Cause {
  /** "x in [0, 255], fan-in 784, W1 ~ normal(0, 1)" */
  because: string;
  /** "√(784 · 21675 · 1) ≈ 4122", when the closed form applies. */
  closedForm: string | null;
  inputTooLarge: boolean;
  initTooLarge: boolean;
  /** A bias whose initializer shifts the pre-activation far from 0. */
  biasShift: Node | null;
  /** A weight whose initializer has a mean that shifts the pre-activation. */
  weightShift: boolean;
  layer: Layer;
}

export function explain(ctx: LintContext, z: Node): Cause {
  const layer = layerOf(ctx, z);
  const parts: string[] = [];
  let closedForm: string | null = null;
  let inputTooLarge = false;
  let initTooLarge = false;
  let weightShift = false;
  let biasShift: Node | null = null;
  const { input, weight, fanIn } = layer;
  if (input && weight && fanIn) {
    const xm = momentsOf(ctx, input);
    const wm = initMoments(weight);
    if (input.op === "input") parts.push(ctx.inputHint(input));
    else if (xm) parts.push(`its input ${ctx.show(input)} has mean ≈ ${fmt(xm.mean)} and std ≈ ${fmt(Math.sqrt(xm.var))}`);
    parts.push(`fan-in ${fanIn}`);
    parts.push(`${weight.name} ~ ${ctx.initText(weight)}`);
    if (xm) {
      const e2 = xm.var + xm.mean ** 2;
      const w2 = wm.var + wm.mean ** 2;
      inputTooLarge = e2 > 4;
      initTooLarge = fanIn * w2 > 4;
      weightShift = Math.abs(wm.mean) > 0 && fanIn * wm.mean ** 2 * e2 > 4 * fanIn * wm.var * e2;
      const zm = matmulMoments(xm, wm, fanIn);
      if (wm.mean === 0) closedForm = `√(${fanIn} · E[${ctx.show(input)}²] ${fmt(e2)} · var(${weight.name}) ${fmt(wm.var)}) ≈ ${fmt(Math.sqrt(zm.var))}`;
    }
  }
  for (const b of layer.biases) {
    const bm = initMoments(b);
    if (Math.abs(bm.mean) > 1 || bm.var > 1) {
      biasShift = b;
      parts.push(`${b.name} ~ ${ctx.initText(b)}`);
    }
  }
  return { because: parts.join(", "), closedForm, inputTooLarge, initTooLarge, biasShift, weightShift, layer };
}
