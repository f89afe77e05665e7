/**
 * Rule `dead-relu` (severity: warning).
 *
 * Fires when a `relu` (or `maximum(z, 0)`) on a gradient path is off, so its
 * local gradient relu'(z) = 0 (relu'(0) = 0 by the spec's convention):
 *   - provably, for any parameter values: the interval of z is (-∞, 0]
 *     (`relu(-square(z))`, `relu(x - 300)` for x in [0, 255]);
 *   - provably at init: the interval of z over the initializers' support is
 *     (-∞, 0] (zero weights and biases give z = 0 exactly; non-negative
 *     inputs times non-positive weights);
 *   - mostly, at init: on the seeded sample of the initializers and input
 *     hints, at least 90% of z's values are ≤ 0 (a large negative bias, a
 *     negative-mean init on non-negative inputs). A unit that never fires gets
 *     no gradient and never recovers: the "dying ReLU" of the article.
 * A he-initialised relu on zero-mean inputs is off half the time: no finding.
 *
 * Message: why z is never or mostly not positive, the numbers (the range, or
 * the sampled off fraction and the fraction of units off for every sampled
 * input), and the parameters cut off. Fix: he / zeros initializers (edits),
 * else leaky_relu. Span: the relu call. Params: those upstream of z, or, when
 * none, the ones multiplying the relu's output.
 */
import type { Node } from "../ir/types.js";
import { LintContext, fraction, listText, pct, summarize } from "./context.js";
import { explain } from "./explain.js";
import { fmt, initMoments, showInterval } from "./stats.js";
import type { Edit, Fix, LintDiagnostic, Rule } from "./types.js";

/** Fire when at least this fraction of the sampled pre-activation is ≤ 0. */
export const OFF_FRACTION = 0.9;

export const deadRelu: Rule = {
  meta: {
    id: "dead-relu",
    severity: "warning",
    summary: "A relu is never, or at init almost never, positive: it passes no gradient.",
    help: "relu'(z) = 0 for z <= 0, so a unit whose pre-activation is never positive gets no gradient and never recovers. Initialise weights with he and biases with zeros (or a small positive constant), check the sign of the expression, or use leaky_relu.",
  },
  run(ctx) {
    const out: LintDiagnostic[] = [];
    const { flow } = ctx;
    for (const n of flow.nodes) {
      const z = reluInput(n);
      if (!z || !flow.reaches.has(n)) continue;
      const params = affected(ctx, n, z);
      const names = ctx.paramNames(params);
      const who = names.length ? `${listText(names)} get${names.length === 1 ? "s" : ""}` : "nothing upstream gets";
      const relu = ctx.show(n);
      const always = ctx.always.get(z);
      if (always && always.hi <= 0) {
        out.push({
          rule: "dead-relu",
          severity: "warning",
          message: `${relu} is always 0: its input ${ctx.show(z)} is never positive for any parameter values (its range is ${showInterval(always)}), and relu'(z) = 0 for z ≤ 0, so ${who} no gradient through it`,
          span: n.span,
          params: names,
          fix: { description: `check the sign of ${ctx.show(z)}; if negative values should pass a gradient, use leaky_relu or elu` },
        });
        continue;
      }
      const init = ctx.atInit.get(z);
      const cause = explain(ctx, z);
      if (init && init.hi <= 0) {
        out.push({
          rule: "dead-relu",
          severity: "warning",
          message: `${relu} is dead at init: its input ${ctx.show(z)} is ≤ 0 for every input at initialization (range ${showInterval(init)}${cause.because ? `; ${cause.because}` : ""}), and relu'(z) = 0 for z ≤ 0, so ${who} exactly zero gradient through it and never leave${names.length === 1 ? "s" : ""} this state`,
          span: n.span,
          params: names,
          fix: fixFor(ctx, z, cause),
        });
        continue;
      }
      const vals = ctx.samples?.values(z);
      if (!vals) continue;
      const off = fraction(vals, (v) => v <= 0);
      if (off < OFF_FRACTION) continue;
      const s = summarize(vals);
      const units = unitsOff(vals);
      out.push({
        rule: "dead-relu",
        severity: "warning",
        message:
          `${relu} is mostly dead at init: its pre-activation ${ctx.show(z)} has mean ≈ ${fmt(s.mean)} and std ≈ ${fmt(s.std)}${cause.because ? ` (${cause.because})` : ""}; ` +
          `about ${pct(off)} of its values are ≤ 0` +
          (units ? ` and ${pct(units.off)} of its ${units.units} units are off for all ${units.samples} sampled inputs` : "") +
          `, so ${who} almost no gradient through it (estimated by sampling the initializers and input hints)`,
        span: n.span,
        params: names,
        fix: fixFor(ctx, z, cause),
      });
    }
    return out;
  },
};

/** The pre-activation of a relu-like node: relu(z), maximum(z, 0), maximum(0, z). */
export function reluInput(n: Node): Node | null {
  if (n.op === "relu") return n.inputs[0];
  if (n.op === "maximum") {
    const [a, b] = n.inputs;
    const zero = (m: Node): boolean => (m.op === "const" || m.op === "full") && m.attrs.value === 0;
    if (zero(b) && !zero(a)) return a;
    if (zero(a) && !zero(b)) return b;
  }
  return null;
}

function affected(ctx: LintContext, n: Node, z: Node): Set<number> {
  const up = ctx.flow.deps.get(z);
  if (up && up.size) return up;
  const down = new Set<number>();
  for (const e of ctx.flow.outs.get(n) ?? []) {
    if (e.to.op !== "matmul" && e.to.op !== "mul") continue;
    for (const o of e.to.inputs) if (o !== n && o.op === "param") down.add(ctx.graph.params.indexOf(o));
  }
  return down;
}

/** Units are the last axis; a unit is off when every sampled value of it is ≤ 0. */
function unitsOff(vals: readonly { shape: number[]; data: Float64Array }[]): { off: number; units: number; samples: number } | null {
  const shape = vals[0].shape;
  if (shape.length < 2) return null;
  const units = shape[shape.length - 1];
  const on = new Uint8Array(units);
  let total = 0;
  for (const t of vals) {
    for (let i = 0; i < t.data.length; i++) if (t.data[i] > 0) on[i % units] = 1;
    total += t.data.length;
  }
  const off = on.reduce((s, v) => s + (v ? 0 : 1), 0);
  return { off: off / units, units, samples: total / units };
}

function fixFor(ctx: LintContext, z: Node, cause: ReturnType<typeof explain>): Fix {
  const steps: string[] = [];
  const edits: Edit[] = [];
  const { weight, input } = cause.layer;
  if (weight) {
    const wm = initMoments(weight);
    const xm = input ? ctx.moments.get(input) : null;
    const shifted = wm.mean !== 0 && (xm ? xm.mean * wm.mean < 0 || Math.abs(xm.mean) < 1e-9 : true);
    if ((wm.var === 0 && wm.mean === 0) || shifted) {
      steps.push(`initialise ${weight.name} with he (zero mean, std √(2/fan_in)) instead of ${ctx.initText(weight)}`);
      const s = ctx.initSpan(weight);
      if (s) edits.push({ span: s, text: "he" });
    }
  }
  for (const b of cause.layer.biases) {
    const bm = initMoments(b);
    if (bm.mean < 0) {
      steps.push(`initialise ${b.name} with zeros (or a small positive constant such as const(0.01)) instead of ${ctx.initText(b)}`);
      const s = ctx.initSpan(b);
      if (s) edits.push({ span: s, text: "zeros" });
    }
  }
  if (steps.length === 0) steps.push(`check the sign and scale of ${ctx.show(z)}, or use leaky_relu so units that are off still pass a gradient`);
  return { description: steps.join("; "), ...(edits.length ? { edits } : {}) };
}
