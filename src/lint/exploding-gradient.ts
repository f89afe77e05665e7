/**
 * Rule `exploding-gradient` (severity: warning).
 *
 * Fires when a loop-carried value is multiplied by the same parameter matrix
 * at every step and, at init, the gradient through the loop grows by more
 * than 1e3 over the loop's length: the "exploding gradients in RNNs" of the
 * article (Whh = randn(H, H): the largest eigenvalue is > 1).
 *
 * The per-step factor is the spectral radius of the matrix at init (power
 * iteration on the seeded sample of its initializer) times the activation's
 * largest slope (tanh 1, sigmoid 0.25, relu 1), combined over every path of
 * the loop body (see recurrence.ts); its T-th power bounds the growth. The
 * rule also needs the growth measured by running the recurrence at init on
 * the sample to exceed 1e3 (when the model can be sampled): a bound that the
 * activations' actual slopes keep in check is not reported.
 *
 * Threshold: 1e3. A gradient 1000× larger at the start of the loop than at
 * its end makes a step size that suits the last steps overshoot by 1000× on
 * the first ones; that is where gradient clipping becomes necessary.
 *
 * Through nested loops (a stacked RNN: for t { for l { ... Wh[l] ... } }),
 * the inner loop's steps compose into each step of the outer loop
 * (recurrence.ts), and the recurrence is reported once, at the matmul
 * inside the inner loop, naming both loops.
 *
 * Message: the matrix, its radius (and the asymptotic value for its init),
 * the activation and slope, the per-step factor and its T-th power, the
 * measured growth. Fix: orthogonal init (an edit), clip_grad inside the loop,
 * or a gated cell. Span: the `h @ W` expression. Params: those whose gradient
 * flows through the recurrence.
 */
import { LintContext } from "./context.js";
import { POWER_ITERATION_MAX, recurrences, type Recurrence } from "./recurrence.js";
import { fmt } from "./stats.js";
import type { Edit, LintDiagnostic, Rule } from "./types.js";

export const EXPLODE = 1e3;

/** `b^T ≈ 1e45` without overflowing. */
export function power(base: number, t: number): string {
  const l = t * Math.log10(base);
  const v = Math.abs(l) < 6 ? fmt(10 ** l) : `1e${Math.round(l)}`;
  return `${fmt(base)}^${t} ≈ ${v}`;
}

/** The common part of the exploding and vanishing messages. */
export function describe(ctx: LintContext, r: Recurrence): string {
  const names = r.carried.map((c) => c.name ?? `%${c.id}`);
  const what = names.length === 1 ? `${names[0]} is` : `${names.join(" and ")} are`;
  const mats = r.matrices.map((m) => {
    const size = `${ctx.initText(m.param)} on ${m.param.shape.join("×")}`;
    if ((m.param.shape[m.param.shape.length - 1] as number) > POWER_ITERATION_MAX) {
      return `${m.param.name}'s spectral radius at init is ≈ ${fmt(m.radius)} (${size}: the known value for this init at this size)`;
    }
    const asym = m.asymptotic !== null && Number.isFinite(m.asymptotic) ? `; ≈ ${fmt(m.asymptotic)} for this init as n grows` : "";
    const stack = m.param.shape.length === 3 ? `, the largest of its ${m.param.shape[0]} matrices` : "";
    return `${m.param.name}'s spectral radius at init is ≈ ${fmt(m.radius)} (${size}, power iteration on a seeded sample${stack}${asym})`;
  });
  const acts = r.activations.length
    ? `times ${r.activations.map((a) => `${a.op}'s largest slope ${fmt(a.slope)}`).join(" and ")}`
    : "with no activation in between";
  const steps = r.symbolicSteps ? `${r.steps} steps (the loop length is a symbolic dim; ${r.steps} assumed)` : `${r.steps} steps`;
  const inner = r.through.length
    ? ` (through the inner loop${r.through.length > 1 ? "s" : ""} at line ${r.through.map((x) => `${x.loop.span.line}, ${x.steps} steps`).join(" and line ")} at each of its steps, so the factor below is per step of the outer loop)`
    : "";
  return `${what} multiplied by ${r.matrices.map((m) => m.param.name).join(" and ")} at every step of the loop at line ${r.loop.span.line}${inner}: ${mats.join("; ")}, ${acts}, gives a per-step factor of ≈ ${fmt(r.factor!)}; over ${steps} the gradient through ${names.join(" and ")} scales by up to ${power(r.factor!, r.steps)}`;
}

export function measured(r: Recurrence): string {
  if (r.measuredPerStep === null) return "";
  return `. Running the loop at init on the sample, a perturbation of ${r.carried.map((c) => c.name).join(" and ")} changes by ${power(r.measuredPerStep, r.steps)} over the ${r.steps} steps`;
}

/**
 * Whether an outer loop's reported recurrence already runs through `r`'s
 * loop with all of `r`'s matrices: a stacked RNN's inner recurrence is
 * reported once, by the loop that sees its whole length.
 */
export function covered(r: Recurrence, reported: readonly Recurrence[]): boolean {
  return reported.some((o) => o.through.some((t) => t.loop === r.loop) && r.matrices.every((m) => o.matrices.some((x) => x.param === m.param)));
}

export function initEdit(ctx: LintContext, r: Recurrence, init: string): Edit[] {
  const edits: Edit[] = [];
  for (const m of r.matrices) {
    const s = ctx.initSpan(m.param);
    if (s && m.param.attrs.init !== init) edits.push({ span: s, text: init });
  }
  return edits;
}

export const explodingGradient: Rule = {
  meta: {
    id: "exploding-gradient",
    severity: "warning",
    summary: "A loop multiplies a carried value by the same matrix every step, and its gradient grows by more than 1e3 over the loop.",
    help: "Backprop through time multiplies the gradient by the recurrent matrix (and the activation's slope) once per step; with a spectral radius above 1 it grows exponentially in the loop length. Initialise the recurrent matrix with orthogonal, clip the gradient (clip_grad) inside the loop, or use a gated cell (LSTM).",
  },
  run(ctx) {
    const out: LintDiagnostic[] = [];
    const reported: Recurrence[] = [];
    for (const r of recurrences(ctx)) {
      if (covered(r, reported)) continue;
      if (r.clipped) continue; // clip_grad on every path of the cycle bounds the gradient each step
      if (r.matrices.length === 0) continue; // a state only rescaled (h = f * h): vanishing-gradient's measured case
      // A gated cell's bound adds up every gate path and is far above what such cells do at init
      // (a 128-wide GRU: bound 4.25 per step, measured 0.67); without a measurement, say nothing.
      if (r.gated && r.measuredPerStep === null) continue;
      if (r.factor === null || r.steps * Math.log10(r.factor) <= Math.log10(EXPLODE)) continue;
      if (r.measuredPerStep !== null && r.steps * Math.log10(r.measuredPerStep) <= Math.log10(EXPLODE)) continue;
      const edits = initEdit(ctx, r, "orthogonal");
      const names = r.carried.map((c) => c.name);
      reported.push(r);
      out.push({
        rule: "exploding-gradient",
        severity: "warning",
        message: `the gradient explodes through the loop: ${describe(ctx, r)}${measured(r)}`,
        // The matmul by the largest matrix: the one to fix.
        span: r.matrices.reduce((a, m) => (m.radius > a.radius ? m : a)).matmul.span,
        params: ctx.paramNames(r.params),
        fix: {
          description: `initialise ${r.matrices.map((m) => m.param.name).join(" and ")} with orthogonal (spectral radius 1); clip the gradient inside the loop (${names[0]} = clip_grad(..., -1, 1)); or use a gated cell such as an LSTM`,
          ...(edits.length ? { edits } : {}),
        },
      });
    }
    return out;
  },
};
