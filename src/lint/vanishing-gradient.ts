/**
 * Rule `vanishing-gradient` (severity: warning).
 *
 * Fires when a loop-carried value is multiplied by the same parameter matrix
 * at every step and the gradient through the loop provably shrinks below
 * 1e-3 of its size over the loop's length: the per-step factor (the
 * matrix's spectral radius at init times the activation's largest slope,
 * over every path of the body; see recurrence.ts) is an upper bound, so its
 * T-th power below 1e-3 means the early steps get less than a thousandth of
 * the gradient of the last ones and the model cannot learn dependencies
 * across the loop. A sigmoid recurrence (slope at most 0.25) or a tiny
 * recurrent init does this.
 *
 * A gated, additive cell state (an LSTM: c = f * c + i * g) is not reported:
 * its direct path c -> c has a gain up to 1 (the forget gate), so the bound
 * never falls below 1.
 *
 * Measured case: a state carried only by rescaling, with nothing added
 * (h = sigmoid(h @ W) * h, or h = f * h with no `+ i * g`), has a bound of
 * 1 or more (a gate counts as at most 1) however strongly the gates shrink
 * it. There the loop is run at init on the sample (recurrence.ts, the
 * perturbation renormalised each step: power iteration on the product of
 * the step Jacobians), and the rule fires when the measured growth over the
 * loop is below 1e-3. An additive carry (LSTM, GRU) or a plain recurrence
 * through a matrix (a tanh RNN) keeps the bound's verdict: their gradient
 * is not only a product of gates, and at init they are well-built models.
 * Through nested loops, the inner loop's steps compose into the outer
 * step (recurrence.ts); a recurrence is reported once, at the matmul.
 *
 * Threshold: 1e-3. Message: the same numbers as exploding-gradient, and the
 * growth measured at init. Fix: tanh instead of sigmoid, orthogonal init (an
 * edit), or a gated cell. Span: the `h @ W` expression. Params: those whose
 * gradient flows through the recurrence.
 */
import type { LintContext } from "./context.js";
import { covered, describe, initEdit, measured, power } from "./exploding-gradient.js";
import { recurrences, type Recurrence } from "./recurrence.js";
import { fmt } from "./stats.js";
import type { LintDiagnostic, Rule } from "./types.js";

export const VANISH = 1e-3;

export const vanishingGradient: Rule = {
  meta: {
    id: "vanishing-gradient",
    severity: "warning",
    summary: "A loop multiplies a carried value by the same matrix every step, and its gradient provably shrinks below 1e-3 over the loop.",
    help: "Backprop through time multiplies the gradient by the recurrent matrix and the activation's slope once per step; when their product is below 1 the gradient from early steps vanishes exponentially. Use tanh rather than sigmoid, initialise the recurrent matrix with orthogonal, or use a gated cell (LSTM) whose additive cell state carries the gradient.",
  },
  run(ctx) {
    const out: LintDiagnostic[] = [];
    const reported: Recurrence[] = [];
    for (const r of recurrences(ctx)) {
      const proved = r.matrices.length > 0 && r.factor !== null && r.steps * Math.log10(Math.max(r.factor, 1e-300)) < Math.log10(VANISH);
      if (covered(r, reported)) continue;
      if (!proved) {
        const m = scaledOnly(ctx, r);
        if (m) {
          out.push(m);
          reported.push(r);
        }
        continue;
      }
      const steps: string[] = [];
      if (r.activations.some((a) => a.op === "sigmoid")) steps.push("use tanh (largest slope 1) instead of sigmoid for the state");
      const small = r.matrices.filter((m) => m.radius < 0.9);
      const edits = small.length ? initEdit(ctx, { ...r, matrices: small }, "orthogonal") : [];
      if (small.length) steps.push(`initialise ${small.map((m) => m.param.name).join(" and ")} with orthogonal (spectral radius 1)`);
      steps.push("or use a gated cell whose additive state carries the gradient (LSTM: c = f * c + i * g; h = o * tanh(c))");
      reported.push(r);
      out.push({
        rule: "vanishing-gradient",
        severity: "warning",
        message: `the gradient vanishes through the loop: ${describe(ctx, r)}${measured(r)}`,
        span: r.matrices[0].matmul.span,
        params: ctx.paramNames(r.params),
        fix: { description: steps.join("; "), ...(edits.length ? { edits } : {}) },
      });
    }
    return out;
  },
};

/**
 * A state carried only by rescaling (h = sigmoid(h @ W) * h, or h = f * h
 * with no `+ i * g`): the bound counts a gate as at most 1, so the measured
 * growth at init decides. Reported when the perturbation of the state,
 * run through the loop at init, shrinks below VANISH over the loop.
 */
function scaledOnly(ctx: LintContext, r: Recurrence): LintDiagnostic | null {
  if (!r.scaledCarry || r.measuredPerStep === null || r.params.length === 0) return null;
  if (r.steps * Math.log10(Math.max(r.measuredPerStep, 1e-300)) >= Math.log10(VANISH)) return null;
  const names = r.carried.map((c) => c.name ?? `%${c.id}`);
  const what = names.join(" and ");
  const scaler = r.scaler ?? r.matrices[0]?.matmul ?? null;
  if (!scaler) return null;
  const steps = r.symbolicSteps ? `${r.steps} steps (the loop length is a symbolic dim; ${r.steps} assumed)` : `${r.steps} steps`;
  const perStep = `the Jacobian of one step shrinks it by ≈ ${fmt(r.measuredPerStep)} (measured at init on the sample, power iteration over the steps)`;
  return {
    rule: "vanishing-gradient",
    severity: "warning",
    message: `the gradient vanishes through the loop: ${what} ${names.length === 1 ? "is" : "are"} only rescaled at every step of the loop at line ${r.loop.span.line} (${ctx.show(scaler)}), with nothing added to carry it, so the gradient through ${what} is the product of the scales: ${perStep}, and over ${steps} by ${power(r.measuredPerStep, r.steps)}`,
    span: scaler.span,
    params: ctx.paramNames(r.params),
    fix: {
      description: `carry the state additively, as an LSTM's cell does: c = f * c + i * g, so that the gate scales only the old state and new content is added each step; start the gate near 1 (a forget-gate bias of ones); a running product of probabilities is better kept as the sum of their logs (logp = logp - softplus(-z) for sigmoid(z))`,
    },
  };
}