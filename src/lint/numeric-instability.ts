/**
 * Rule `numeric-instability` (severity: warning).
 *
 * Fires where the forward value or the gradient becomes inf or NaN:
 *   - `log(softmax(z))` (also through indexing or `pick`): softmax underflows
 *     to 0 for logits ~100 apart in float32, log(0) = -inf and its gradient
 *     1/p is infinite. Fix: `log_softmax(z)`, or `-cross_entropy(z, y)` for
 *     `log(pick(softmax(z), y))` (mechanical edits when written inline);
 *   - `log(sigmoid(z))`, `log(1 - sigmoid(z))`: the same underflow. Fix:
 *     `-softplus(-z)`, `-softplus(z)`;
 *   - `log(x)`, `sqrt(x)` where x depends on a parameter and its interval
 *     (for any parameter values) reaches 0 or below: log'(0) and sqrt'(0) are
 *     infinite (`sqrt(mean(square(x - mu)))`: a constant feature has
 *     variance 0). Fix: an epsilon, `sqrt(var + 1e-5)` (mechanical edit);
 *   - `a / b` on a gradient path where b's interval touches 0 at an end it
 *     reaches (a relu, an abs, a variance, a count that can be 0), or where
 *     b's interval contains 0 and the seeded sample shows b at 0, taking both
 *     signs (`x / sum(x)` of signed values, `a / (x @ w)`), or within 1e-6
 *     of 0 relative to its typical size: the quotient and both gradients
 *     blow up. Fix: `a / (b + 1e-8)` for b >= 0, else a denominator kept
 *     away from 0. A denominator bounded away from 0 (`s + 1e-5`, s >= 0;
 *     `sum(exp(z))`) is not reported, nor one already reported as a sqrt. A value computed from parameters alone (a
 * weight norm `sqrt(sum(square(W)))`) is 0 only at one point of parameter
 * space: it is reported only when the initializer puts it there (zeros).
 *
 * Span: the log, sqrt or division. Params: those the argument depends on.
 */
import { OPS } from "../ir/ops.js";
import type { Node } from "../ir/types.js";
import { LintContext, callParts, listText } from "./context.js";
import { fmt, reachesZero, showInterval } from "./stats.js";
import type { Fix, LintDiagnostic, Rule } from "./types.js";


export const numericInstability: Rule = {
  meta: {
    id: "numeric-instability",
    severity: "warning",
    summary: "log(softmax), log(sigmoid), or log/sqrt/division of a value that can reach 0: the gradient becomes inf or NaN.",
    help: "softmax and sigmoid underflow to exactly 0 in float32, and log, sqrt and division have infinite derivatives at 0, so one extreme example turns the loss and every gradient into inf or NaN. Use log_softmax, cross_entropy or -softplus(-z), or add an epsilon: sqrt(var + 1e-5).",
  },
  run(ctx) {
    const out: LintDiagnostic[] = [];
    const { flow } = ctx;
    const flaggedSqrt = new Set<Node>();
    for (const n of flow.nodes) {
      if (!flow.reachesUncut.has(n)) continue;
      if (n.op !== "log" && n.op !== "sqrt" && n.op !== "div") continue;
      const arg = n.op === "div" ? n.inputs[1] : n.inputs[0];
      const deps = n.op === "div" ? new Set([...(flow.deps.get(n.inputs[0]) ?? []), ...(flow.deps.get(n.inputs[1]) ?? [])]) : flow.deps.get(arg);
      if (!deps || deps.size === 0) continue;
      const names = ctx.paramNames(deps);
      const push = (message: string, fix: Fix): void => {
        out.push({ rule: "numeric-instability", severity: "warning", message, span: n.span, params: names, fix });
      };
      const grads = `the loss and the gradients of ${listText(names)} become inf or NaN`;

      if (n.op === "log") {
        const inner = throughLayout(arg);
        if (inner.node.op === "softmax") {
          push(
            `log(softmax(..)) is unstable: softmax underflows to exactly 0 when logits differ by about 100 (float32), then log gives -inf and its gradient 1/p is infinite, so ${grads}`,
            softmaxFix(ctx, n, inner.node, inner.pick),
          );
          continue;
        }
        const hand = handSoftmax(inner.node);
        if (hand) {
          const written = argText(ctx, hand.exp) ?? "z";
          // exp(s - max(s, ..)): log_softmax subtracts the max itself, so it takes s.
          const zText = /^(\w+)\s*-\s*max\(\s*\1\s*[,)]/.exec(written)?.[1] ?? written;
          const overflow = /\bmax\(/.test(written) ? "" : ", or overflows when one is above 88";
          // cross_entropy is over the last axis of [B, C] logits, as pick is.
          const ce = inner.pick && hand.axis === -1 ? `, or for the log-probability of the labels, -cross_entropy(${zText}, ${ctx.show(inner.pick.inputs[1])})` : "";
          push(
            `${ctx.show(n)} takes the log of a softmax written by hand (${ctx.show(inner.node)}): exp(${written}) / sum(exp(${written})) underflows to exactly 0 when logits differ by about 100 (float32)${overflow}, then log gives -inf and its gradient is infinite, so ${grads}`,
            hand.axis === null
              ? { description: `compute the log-probabilities from the logits with log_softmax, which subtracts the max and never underflows` }
              : { description: `compute it from the logits: log_softmax(${zText}, axis=${hand.axis})${ce}; ${ce ? "both subtract" : "it subtracts"} the max and never underflow${ce ? "" : "s"}` },
          );
          continue;
        }
        const sig = sigmoidOf(arg);
        if (sig) {
          const zText = argText(ctx, sig.sigmoid) ?? "z";
          const rewrite = sig.complement ? `-softplus(${zText})` : `-softplus(-${wrap(zText)})`;
          push(
            `${ctx.show(n)} is unstable: sigmoid rounds to exactly ${sig.complement ? "1" : "0"} for large ${sig.complement ? "positive" : "negative"} inputs, then log gives -inf and its gradient is infinite, so ${grads}`,
            ctx.text(n.span).includes(ctx.text(sig.sigmoid.span))
              ? { description: `use the identity ${ctx.show(n)} = ${rewrite}, which is exact and stable`, edits: [{ span: n.span, text: rewrite }] }
              : { description: `compute it from the logits: log(sigmoid(z)) = -softplus(-z) and log(1 - sigmoid(z)) = -softplus(z), exact and stable` },
          );
          continue;
        }
      }
      const range = ctx.always.get(arg);
      if (!range) continue;
      // A value computed from parameters alone (a weight norm) is 0 only at
      // one point of parameter space: reported only if the init puts it there.
      if (!readsData(ctx, arg) && !zeroAtInit(ctx, arg)) continue;
      if (n.op === "log" || n.op === "sqrt") {
        if (!(range.lo < 0 || reachesZero(range))) continue;
        const eps = n.op === "log" ? "1e-8" : "1e-5";
        const a = argText(ctx, n);
        const f = n.op === "log" ? "log(0) = -∞ and log'(x) = 1/x" : "sqrt'(x) = 1/(2·sqrt(x))";
        const neg = range.lo < 0 ? `can be negative (${n.op} of a negative is NaN) and ` : "";
        if (n.op === "sqrt") flaggedSqrt.add(n);
        push(
          `${n.op}'s argument ${ctx.show(arg)} ${neg}can reach 0 (its range is ${showInterval(range)}): ${f} is infinite there, so ${grads}`,
          a
            ? { description: `add an epsilon: ${n.op}(${a} + ${eps})`, edits: [{ span: n.span, text: `${n.op}(${a} + ${eps})` }] }
            : { description: `add an epsilon to the argument of ${n.op}, e.g. + ${eps}` },
        );
        continue;
      }
      // Division by a value that reaches 0 at an end of its range, or that the sample shows reaching 0.
      if (flaggedSqrt.has(arg)) continue;
      const touches = (range.lo === 0 && !range.loOpen) || (range.hi === 0 && !range.hiOpen);
      const seen = touches ? null : sampledNearZero(ctx, arg, range);
      if (!touches && !seen) continue;
      const why = touches ? `can be 0 (its range is ${showInterval(range)})` : seen!;
      const den = ctx.ref(arg);
      const fix = range.lo >= 0
        ? `add an epsilon to the denominator: ${ctx.ref(n.inputs[0])} / (${den} + 1e-8)`
        : `a denominator that changes sign has no safe epsilon: divide by a positive scale instead, e.g. ${ctx.ref(n.inputs[0])} / sqrt(mean(square(${den})) + 1e-5), or use a stable op (softmax, log_softmax)`;
      push(`the denominator ${ctx.show(arg)} ${why}: the quotient and its gradient -a/b² are infinite there, so ${grads}`, { description: fix });
    }
    return out;
  },
};

/** A tiny magnitude, relative to the typical one, that a float32 quotient cannot survive. */
const TINY = 1e-6;

/**
 * What the seeded sample shows of a denominator whose interval does not end
 * at 0: it changes sign (so, being continuous in the inputs and params, it
 * passes through 0), or some value is tiny next to its typical size. Only a
 * denominator whose interval contains 0 (or ends there, open) is looked at:
 * a value bounded away from 0 (`s + 1e-5` with s >= 0) is safe whatever the
 * sample.
 */
function sampledNearZero(ctx: LintContext, n: Node, range: { lo: number; hi: number }): string | null {
  if (range.lo > 0 || range.hi < 0) return null;
  const ts = ctx.samples?.values(n);
  if (!ts || ts.length === 0) return null;
  let neg = 0;
  let pos = 0;
  let zero = 0;
  let min = Infinity;
  let s2 = 0;
  let count = 0;
  for (const t of ts)
    for (const v of t.data) {
      if (Number.isNaN(v)) continue;
      if (v < 0) neg++;
      else if (v > 0) pos++;
      else zero++;
      min = Math.min(min, Math.abs(v));
      s2 += v * v;
      count++;
    }
  if (!count) return null;
  const rms = Math.sqrt(s2 / count);
  const where = `in the seeded sample at init (${count} values, typical size ${fmt(rms)})`;
  if (zero) return `is exactly 0 for ${zero} of its values ${where}`;
  if (neg && pos) return `takes both signs ${where}, so it passes through 0; its smallest magnitude there is ${fmt(min)}`;
  if (rms > 0 && min <= TINY * rms) return `comes within ${fmt(min)} of 0 ${where}`;
  return null;
}

/** Whether the seeded sample at init has a value of `n` at or below 0 (or the init interval is exactly 0). */
function zeroAtInit(ctx: LintContext, n: Node): boolean {
  const v = ctx.flow.loopOf.has(n) ? undefined : ctx.samples?.evaluator.values.get(n);
  if (v) return v.data.some((x) => x <= 0);
  const i = ctx.atInit.get(n);
  return i !== undefined && i.lo <= 0 && i.hi >= 0 && reachesZero(i) && i.hi - i.lo === 0;
}

/** Whether a value depends on an input (data), not only on parameters and constants. */
function readsData(ctx: LintContext, n: Node): boolean {
  const seen = new Set<Node>();
  const stack = [n];
  while (stack.length) {
    const m = stack.pop()!;
    if (m.op === "input") return true;
    for (const e of ctx.flow.ins.get(m) ?? []) {
      if (!seen.has(e.from)) {
        seen.add(e.from);
        stack.push(e.from);
      }
    }
  }
  return false;
}

function throughLayout(n: Node): { node: Node; pick: Node | null } {
  let cur = n;
  let pick: Node | null = null;
  // Through ops whose elements are their first input's, moved or picked (the op table's layout role).
  while (OPS[cur.op].lint.roles?.[0] === "layout") {
    if (cur.op === "pick") pick = cur;
    cur = cur.inputs[0];
  }
  return { node: cur, pick };
}

/**
 * A hand-written softmax `e / sum(e, axis=k, keepdims=true)` with e = exp(z):
 * the exp node, and the axis when the sum runs over exactly one (null otherwise).
 */
function handSoftmax(n: Node): { exp: Node; axis: number | null } | null {
  if (n.op !== "div") return null;
  const [num, den] = n.inputs;
  let d = den;
  while (d.op === "reshape" || d.op === "broadcast_to") d = d.inputs[0];
  // The sum's exp may be the same node or exp of the same value written again.
  const same = d.inputs[0] === num || (d.inputs[0]?.op === "exp" && d.inputs[0].inputs[0] === num.inputs[0]);
  if (num.op !== "exp" || d.op !== "sum" || !same) return null;
  const axes = d.attrs.axes as number[] | undefined;
  const rank = num.shape.length;
  const axis = axes && axes.length === 1 ? (axes[0] === rank - 1 ? -1 : axes[0]) : null;
  return { exp: num, axis };
}

/** sigmoid(z) or 1 - sigmoid(z), through layout ops. */
function sigmoidOf(n: Node): { sigmoid: Node; complement: boolean } | null {
  const a = throughLayout(n).node;
  if (a.op === "sigmoid") return { sigmoid: a, complement: false };
  if (a.op === "sub" && a.inputs[0].op === "const" && a.inputs[0].attrs.value === 1) {
    const b = throughLayout(a.inputs[1]).node;
    if (b.op === "sigmoid") return { sigmoid: b, complement: true };
  }
  return null;
}

/** The text of a one-argument call's argument, from the source. */
function argText(ctx: LintContext, n: Node): string | null {
  const p = callParts(ctx.text(n.span));
  return p && p.callee === n.op && p.args.length >= 1 ? p.args[0] : null;
}

const wrap = (t: string): string => (/^[\w.]+$/.test(t) || /^\w+\(.*\)$/.test(t) ? t : `(${t})`);

function softmaxFix(ctx: LintContext, log: Node, softmax: Node, pick: Node | null): Fix {
  const sm = callParts(ctx.text(softmax.span));
  const zText = sm && sm.callee === "softmax" ? sm.args.join(", ") : null;
  const logText = ctx.text(log.span);
  const inline = logText.includes(ctx.text(softmax.span));
  if (pick) {
    const pp = callParts(ctx.text(pick.span));
    const yText = pp && pp.callee === "pick" ? pp.args[1] : null;
    const z1 = sm?.args[0];
    if (z1 && yText && inline && (sm?.args.length ?? 0) === 1) {
      const rewrite = `-cross_entropy(${z1}, ${yText})`;
      return { description: `replace ${logText} with ${rewrite}: fused and stable`, edits: [{ span: log.span, text: rewrite }] };
    }
    return { description: "compute the log-probability of the label with -cross_entropy(logits, labels), or pick from log_softmax(logits)" };
  }
  if (zText && inline && logText.replace(/\s+/g, "") === `log(${ctx.text(softmax.span)})`.replace(/\s+/g, "")) {
    return { description: `replace ${logText} with log_softmax(${zText})`, edits: [{ span: log.span, text: `log_softmax(${zText})` }] };
  }
  return { description: `use log_softmax(${zText ?? "z"}) instead of the log of softmax(${zText ?? "z"})` };
}
