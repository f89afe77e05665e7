/**
 * Rule `clip-before-loss` (severity: error).
 *
 * Fires when a value that depends on a parameter is clipped (`clip(x, lo,
 * hi)`, or `minimum`/`maximum` of x against a value that depends on no
 * parameter) and the clipped value then reaches the loss. Outside the range
 * the clip's gradient is exactly 0, so every parameter upstream gets exactly
 * zero gradient from those elements: this is the DQN bug of "Yes you should
 * understand backprop", `square(clip(delta, -1, 1))`, where the examples with
 * the largest error are the ones that teach nothing.
 *
 * Not a finding:
 *   - a clip of a value that depends on no parameter (reward clipping);
 *   - a clip used as a hidden activation: on the way to the loss the clipped
 *     value is multiplied by something that depends on a parameter (that is a
 *     hardtanh-style unit, and relu is dead-relu's domain);
 *   - `maximum(x, 0.01 * x)`: both sides depend on the parameters;
 *   - a flat region where the loss is already as low as this term can make
 *     it (a hinge, `maximum(0, 1 - margin)`): checked on the seeded sample by
 *     setting the clipped value to the bound and nudging it into the range;
 *     the rule fires only when that lowers the loss;
 *   - PPO's `minimum(r * A, clip(r, 1 - e, 1 + e) * A)`: the unclipped branch
 *     carries the gradient.
 *
 * Message: the clip, the range, the parameters cut off, and the fraction of
 * sampled values outside the range at init. Fix: `huber(delta, c)` in place
 * of `square(clip(delta, -c, c))` (a mechanical edit), else `clip_grad`.
 * Span: the clip expression. Params: those the clipped value depends on.
 */
import type { Node } from "../ir/types.js";
import { LintContext, callParts, fraction, listText, pct } from "./context.js";
import { descendants } from "./flow.js";
import { Rng } from "../ir/random.js";
import { broadcastTensor } from "../ir/tensor.js";
import { Evaluator } from "./sample.js";
import { fmt } from "./stats.js";
import type { Fix, LintDiagnostic, Rule } from "./types.js";

const MULTIPLICATIVE = new Set(["matmul", "mul", "div", "pow"]);

export const clipBeforeLoss: Rule = {
  meta: {
    id: "clip-before-loss",
    severity: "error",
    summary: "A parameter-dependent value is clipped before the loss: outside the range its gradient is exactly zero.",
    help: "clip(x, lo, hi), minimum(x, c) and maximum(x, c) pass no gradient where x is outside the range, so the parameters that x depends on learn nothing from exactly the examples that are furthest off. Clip the gradient instead of the value: huber(delta, c) in place of square(clip(delta, -c, c)), or clip_grad(x, lo, hi).",
  },
  run(ctx) {
    const out: LintDiagnostic[] = [];
    const { flow } = ctx;
    for (const n of flow.nodes) {
      const c = asClip(ctx, n);
      if (!c || innerHalf(ctx, n)) continue;
      const deps = flow.deps.get(c.x)!;
      if (!flow.reaches.has(n)) continue;
      const down = descendants(flow, n, (e) => e.kind === "diff" && flow.reaches.has(e.to));
      if (isHidden(ctx, n, down, c.x)) continue;
      if (!keepsLossUp(ctx, n, c)) continue;
      out.push({
        rule: "clip-before-loss",
        severity: "error",
        message: message(ctx, n, c, deps),
        span: n.span,
        params: ctx.paramNames(deps),
        fix: fixFor(ctx, n, c, down),
      });
    }
    return out;
  },
};

interface Clip {
  x: Node;
  /** The bound nodes: lo and/or hi (null when that side is open). */
  lo: Node | null;
  hi: Node | null;
}

function asClip(ctx: LintContext, n: Node): Clip | null {
  const { deps, valueDeps } = ctx.flow;
  const dependent = (m: Node): boolean => (deps.get(m)?.size ?? 0) > 0;
  const free = (m: Node): boolean => (valueDeps.get(m)?.size ?? 0) === 0;
  if (n.op === "clip") {
    const [x, lo, hi] = n.inputs;
    return dependent(x) && free(lo) && free(hi) ? { x, lo, hi } : null;
  }
  if (n.op === "maximum" || n.op === "minimum") {
    const [a, b] = n.inputs;
    const [x, k] = dependent(a) && free(b) ? [a, b] : dependent(b) && free(a) ? [b, a] : [null, null];
    if (!x || !k) return null;
    // minimum(maximum(x, lo), hi), either way round, is clip(x, lo, hi).
    const inner = x.op === (n.op === "maximum" ? "minimum" : "maximum") ? asClip(ctx, x) : null;
    if (inner) return n.op === "maximum" ? { x: inner.x, lo: k, hi: inner.hi } : { x: inner.x, lo: inner.lo, hi: k };
    return n.op === "maximum" ? { x, lo: k, hi: null } : { x, lo: null, hi: k };
  }
  return null;
}

/** The inner half of a minimum(maximum(..)) pair whose only reader is the outer half: reported there. */
function innerHalf(ctx: LintContext, n: Node): boolean {
  if (n.op !== "minimum" && n.op !== "maximum") return false;
  const readers = (ctx.flow.outs.get(n) ?? []).map((e) => e.to);
  return (
    readers.length > 0 &&
    readers.every((r) => {
      if (r.op !== (n.op === "maximum" ? "minimum" : "maximum")) return false;
      const outer = asClip(ctx, r);
      return outer !== null && outer.x !== n; // the outer half merged this one into its clip
    })
  );
}

/** The clipped value meets a parameter multiplicatively before the loss (a hidden unit), or a PPO-style min/max picks the unclipped branch. */
function isHidden(ctx: LintContext, n: Node, down: Set<Node>, x: Node): boolean {
  const { deps, valueDeps } = ctx.flow;
  const xDeps = deps.get(x)!;
  for (const d of down) {
    const others = d.inputs.filter((i) => i !== n && !down.has(i));
    if (MULTIPLICATIVE.has(d.op) && others.some((o) => (valueDeps.get(o)?.size ?? 0) > 0)) return true;
    if ((d.op === "minimum" || d.op === "maximum") && others.some((o) => [...(deps.get(o) ?? [])].some((p) => xDeps.has(p)))) return true;
  }
  return false;
}

/**
 * Whether a flat side of the clip sits where the loss could still go down.
 * On the small seeded sample, every element of the clipped value is set to
 * the bound (all elements on the flat side), then a few elements at a time
 * (each one alone when there are at most 32) are nudged into the range and
 * the part of the model after the clip is re-run: the side is a bug if
 * nudging some elements lowers the loss, i.e. the loss would pull them back
 * into the range if the clip passed a gradient. True when the check cannot
 * run (the structural finding stands).
 */
function keepsLossUp(ctx: LintContext, n: Node, c: Clip): boolean {
  const s = ctx.small;
  // Without the main sample, small is one example, too few to judge a side.
  if (!s || !ctx.samples || ctx.flow.loopOf.has(n)) return true;
  const base = s.evaluator;
  const after = afterNode(ctx, n);
  const g = ctx.graph;
  try {
    const width = c.lo && c.hi ? Math.abs(constValue(ctx, c.hi) - constValue(ctx, c.lo)) : NaN;
    const delta = 1e-3 * (Number.isFinite(width) && width > 0 ? Math.min(1, width) : 1);
    const shape = base.get(n).shape;
    const size = base.get(n).data.length;
    const groups = size <= 32 ? Array.from({ length: size }, (_, i) => [i]) : subsets(size, 32);
    const lossWith = (bound: Node, nudge: number, group: number[] | null): number => {
      const ev = new Evaluator(g, s.draw.dims, s.draw.params, s.draw.inputs);
      for (const [k, v] of base.values) ev.values.set(k, v);
      const flat = broadcastTensor(base.get(bound), shape);
      if (group) for (const i of group) flat.data[i] += nudge;
      ev.values.set(n, flat);
      ev.block(after);
      return ev.get(g.loss).data[0];
    };
    const sides: [Node, number][] = [];
    if (c.hi) sides.push([c.hi, -delta]);
    if (c.lo) sides.push([c.lo, delta]);
    for (const [bound, nudge] of sides) {
      const at = lossWith(bound, 0, null);
      if (!Number.isFinite(at)) return true;
      for (const group of groups) {
        const inside = lossWith(bound, nudge, group);
        if (!Number.isFinite(inside)) return true;
        if (inside < at - 1e-9 * Math.max(1e-6, Math.abs(at)) * delta) return true;
      }
    }
    return false;
  } catch {
    return true;
  }
}

/** Top-level nodes after `n` that depend on it, in order. */
function afterNode(ctx: LintContext, n: Node): Node[] {
  const dep = new Set<Node>([n]);
  const out: Node[] = [];
  const nodes = ctx.graph.nodes;
  for (let i = nodes.indexOf(n) + 1; i < nodes.length; i++) {
    const m = nodes[i];
    const reads = (x: Node): boolean => x.inputs.some((y) => dep.has(y)) || (x.body?.nodes.some(reads) ?? false);
    if (reads(m)) {
      dep.add(m);
      out.push(m);
    }
  }
  return out;
}

/** `k` disjoint groups covering 0..n-1 in a seeded random order. */
function subsets(n: number, k: number): number[][] {
  const rng = new Rng(11);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return Array.from({ length: k }, (_, g) => idx.filter((_, i) => i % k === g));
}

/** A bound's value when it is a constant scalar expression (`1`, `1 - 1e-7`). */
function constValue(ctx: LintContext, n: Node | null): number {
  if (!n) return NaN;
  if (n.op === "const") return n.attrs.value as number;
  const i = ctx.always.get(n);
  return i && i.lo === i.hi && Number.isFinite(i.lo) && n.shape.length === 0 ? i.lo : NaN;
}

function rangeText(ctx: LintContext, c: Clip): string {
  const t = (m: Node | null): string => (m ? (m.op === "const" ? fmt(m.attrs.value as number) : ctx.show(m)) : "");
  if (c.lo && c.hi) return `outside [${t(c.lo)}, ${t(c.hi)}]`;
  if (c.lo) return `below ${t(c.lo)}`;
  return `above ${t(c.hi)}`;
}

function message(ctx: LintContext, n: Node, c: Clip, deps: Set<number>): string {
  const what = ctx.ref(c.x);
  const names = ctx.paramNames(deps);
  let msg =
    `${ctx.show(n)} zeroes the gradient wherever ${what} is ${rangeText(ctx, c)}: there the clip's gradient is exactly 0, ` +
    `so those elements send no gradient to ${listText(names)} and the loss cannot pull ${what} back into the range`;
  const vals = ctx.samples?.values(c.x);
  const lo = constValue(ctx, c.lo);
  const hi = constValue(ctx, c.hi);
  if (vals && (c.lo === null || !Number.isNaN(lo)) && (c.hi === null || !Number.isNaN(hi))) {
    const f = fraction(vals, (v) => (c.lo !== null && v < lo) || (c.hi !== null && v > hi));
    msg += `; at init ${pct(f)} of ${what}'s sampled values are ${rangeText(ctx, c)} (estimated from the initializers and input hints)`;
  }
  return msg;
}

function fixFor(ctx: LintContext, n: Node, c: Clip, down: Set<Node>): Fix {
  const parts = callParts(ctx.text(n.span));
  const xText = parts && parts.callee === n.op ? (n.op === "clip" ? parts.args[0] : parts.args.find((a) => a === ctx.ref(c.x)) ?? ctx.ref(c.x)) : ctx.ref(c.x);
  const lo = constValue(ctx, c.lo);
  const hi = constValue(ctx, c.hi);
  const square = [...ctx.flow.outs.get(n) ?? []]
    .map((e) => e.to)
    .find((u) => down.has(u) && (u.op === "square" || (u.op === "mul" && u.inputs[0] === n && u.inputs[1] === n) || (u.op === "pow" && constValue(ctx, u.inputs[1]) === 2)));
  if (c.lo && c.hi && square && lo === -hi && hi > 0) {
    const rewrite = `huber(${xText}, ${fmt(hi)})`;
    return {
      description: `clip the gradient instead of the value: replace ${ctx.text(square.span)} with ${rewrite}; its gradient is ${xText} clipped to [${fmt(lo)}, ${fmt(hi)}] instead of 0 outside it (huber is ½·${xText}² inside the range and grows linearly outside)`,
      edits: [{ span: square.span, text: rewrite }],
    };
  }
  if (c.x.op === "sigmoid" || c.x.op === "softmax") {
    return {
      description: `${c.x.op === "sigmoid" ? "compute the loss from the logits instead of clipping the probability: log(sigmoid(z)) = -softplus(-z) and log(1 - sigmoid(z)) = -softplus(z)" : "compute the loss from the logits instead of clipping the probability: log_softmax(z), or cross_entropy(z, y)"}; both are exact and keep a gradient everywhere`,
    };
  }
  const range = c.lo && c.hi && !Number.isNaN(lo) && !Number.isNaN(hi) ? `${fmt(lo)}, ${fmt(hi)}` : "lo, hi";
  return {
    description: `to limit the gradient rather than the value, use clip_grad(${xText}, ${range}) (identity forward; the backward pass clips the gradient); to bound the value, use a smooth squashing function such as tanh or sigmoid, whose gradient is never exactly 0`,
  };
}
