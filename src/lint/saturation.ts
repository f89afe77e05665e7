/**
 * Rule `saturation` (severity: warning).
 *
 * Fires when a `sigmoid`, `tanh` or `softplus` unit on a gradient path sits,
 * at initialization, where its local gradient is near zero for most of its
 * inputs: the first lesson of "Yes you should understand backprop" (a large
 * init or raw 0-255 pixels drive z = x @ W to hundreds, z·(1-z) vanishes).
 *
 * Saturated means the output is within 1% of an asymptote:
 *   sigmoid: |z| > 4.6, where sigmoid'(z) < 0.01 (its maximum is 0.25);
 *   tanh:    |z| > 2.65, where 1 - tanh²(z) < 0.02 (its maximum is 1);
 *   softplus: z < -4.6, where softplus'(z) = sigmoid(z) < 0.01.
 * The rule fires when at least half of the pre-activation's values are
 * saturated ("most units"), measured on the seeded sample of the
 * initializers and input hints (closed-form Gaussian estimate when the model
 * is too large to sample).
 *
 * Message: the pre-activation's estimated std and mean, where they come from
 * (input hint, fan-in, initializer, closed form), the saturated fraction and
 * threshold. Fix: normalise the input and/or initialise with xavier (an edit
 * of the initializer when the init is the cause). Span: the activation call.
 * Params: those whose gradient passes through the unit.
 */
import { OPS, type OpKind } from "../ir/ops.js";
import type { Node } from "../ir/types.js";
import { LintContext, fraction, listText, pct, summarize } from "./context.js";
import { explain } from "./explain.js";
import { fmt } from "./stats.js";
import type { Edit, Fix, LintDiagnostic, Rule } from "./types.js";

/** Fire when at least this fraction of the pre-activation is saturated. */
export const SATURATED_FRACTION = 0.5;

/** The saturated region of a saturating unit (its op table entry's activation fact), or undefined. */
export function threshold(op: OpKind): { t: number; twoSided: boolean; grad: string } | undefined {
  const a = OPS[op].lint.activation;
  return a?.kind === "saturating" ? { t: a.beyond, twoSided: a.twoSided, grad: a.slope } : undefined;
}

/** Whether a pre-activation value is in the saturated region of `op`. */
export const isSaturated = (op: OpKind) => {
  const th = threshold(op)!;
  return (v: number): boolean => (th.twoSided ? Math.abs(v) > th.t : v < -th.t);
};

/** P(saturated) for z ~ N(m, s²). */
function gaussianSaturated(op: OpKind, m: number, s: number): number {
  const th = threshold(op)!;
  const cdf = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);
  if (s === 0) return isSaturated(op)(m) ? 1 : 0;
  const below = cdf((-th.t - m) / s);
  return th.twoSided ? below + (1 - cdf((th.t - m) / s)) : below;
}

export function erfc(x: number): number {
  // Numerical Recipes' erfc, |error| < 1.2e-7.
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

export const saturation: Rule = {
  meta: {
    id: "saturation",
    severity: "warning",
    summary: "A sigmoid/tanh/softplus unit is saturated at init: its local gradient is near zero for most inputs.",
    help: "When the pre-activation is large, sigmoid and tanh outputs sit at 0 or ±1 and their local gradient z·(1-z) or 1 - tanh² vanishes, so everything upstream stops learning. Normalise the inputs (e.g. pixels to [0, 1]) and initialise the weights with xavier so the pre-activation has a std near 1.",
  },
  run(ctx) {
    const out: LintDiagnostic[] = [];
    const { flow } = ctx;
    for (const n of flow.nodes) {
      if (!threshold(n.op)) continue;
      const z = n.inputs[0];
      const deps = flow.deps.get(z);
      if (!deps || deps.size === 0 || !flow.reaches.has(n)) continue;
      const est = estimate(ctx, n.op, z);
      if (!est || est.saturated < SATURATED_FRACTION) continue;
      const names = ctx.paramNames(deps);
      const cause = explain(ctx, z);
      const th = threshold(n.op)!;
      const where = th.twoSided ? `|z| > ${th.t}` : `z < -${th.t}`;
      const because = [cause.because, cause.closedForm ? `closed form: std ≈ ${cause.closedForm}` : ""].filter(Boolean).join("; ");
      out.push({
        rule: "saturation",
        severity: "warning",
        message:
          `${n.op} saturates at init: its pre-activation ${ctx.show(z)} has std ≈ ${fmt(est.std)} and mean ≈ ${fmt(est.mean)}` +
          (because ? ` (${because})` : "") +
          `; about ${pct(est.saturated)} of its values have ${where}, where ${th.grad}, so ${listText(names)} get${names.length === 1 ? "s" : ""} almost no gradient through it ` +
          `(${est.sampled ? "estimated by sampling the initializers and input hints" : "Gaussian estimate from the initializers and input hints"})`,
        span: n.span,
        params: names,
        fix: fixFor(ctx, n, cause),
      });
    }
    return out;
  },
};

export interface SaturationEstimate {
  saturated: number;
  mean: number;
  std: number;
  sampled: boolean;
}

export function estimate(ctx: LintContext, op: OpKind, z: Node): SaturationEstimate | null {
  const vals = ctx.samples?.values(z);
  if (vals) {
    const s = summarize(vals);
    return { saturated: fraction(vals, isSaturated(op)), mean: s.mean, std: s.std, sampled: true };
  }
  const m = ctx.moments.get(z);
  if (!m) return null;
  const std = Math.sqrt(m.var);
  return { saturated: gaussianSaturated(op, m.mean, std), mean: m.mean, std, sampled: false };
}

function fixFor(ctx: LintContext, n: Node, cause: ReturnType<typeof explain>): Fix {
  const steps: string[] = [];
  const edits: Edit[] = [];
  const { input, weight, fanIn } = cause.layer;
  if (cause.inputTooLarge && input?.op === "input") {
    const r = input.attrs.range as readonly (number | string)[] | undefined;
    // A symbolic end (an int input's `in [0, B)`) gives no scale to suggest.
    const range = r && typeof r[0] === "number" && typeof r[1] === "number" ? (r as readonly number[]) : undefined;
    if (range && range[0] === 0) steps.push(`scale ${input.name} to [0, 1] (${input.name} / ${fmt(range[1])}) and declare it 'in [0, 1]'`);
    else if (range) steps.push(`scale ${input.name} to [0, 1] ((${input.name} - ${fmt(range[0])}) / ${fmt(range[1] - range[0])})`);
    else steps.push(`standardise ${input.name} to mean 0 and std 1`);
  }
  const recurrent = input?.op === "carry" && weight?.shape[0] === weight?.shape[1];
  if ((cause.initTooLarge || cause.weightShift) && weight && fanIn && recurrent) {
    steps.push(`initialise the recurrent matrix ${weight.name} with orthogonal (spectral radius 1, entries of std ≈ ${fmt(1 / Math.sqrt(fanIn))}) instead of ${ctx.initText(weight)}`);
    const s = ctx.initSpan(weight);
    if (s) edits.push({ span: s, text: "orthogonal" });
  } else if ((cause.initTooLarge || cause.weightShift) && weight && fanIn) {
    const fanOut = (weight.shape[1] as number) ?? 1;
    steps.push(`initialise ${weight.name} with xavier (std ≈ √(2/(${fanIn}+${fanOut})) ≈ ${fmt(Math.sqrt(2 / (fanIn + fanOut)))}) instead of ${ctx.initText(weight)}`);
    const s = ctx.initSpan(weight);
    if (s) edits.push({ span: s, text: "xavier" });
  }
  if (cause.biasShift) {
    steps.push(`initialise ${cause.biasShift.name} with zeros instead of ${ctx.initText(cause.biasShift)}`);
    const s = ctx.initSpan(cause.biasShift);
    if (s) edits.push({ span: s, text: "zeros" });
  }
  if (steps.length === 0) steps.push(`scale the pre-activation of ${n.op} down to a std near 1 (normalised inputs, xavier init)`);
  return { description: steps.join("; "), ...(edits.length ? { edits } : {}) };
}
