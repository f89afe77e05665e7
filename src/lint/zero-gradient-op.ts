/**
 * Rule `zero-gradient-op` (severity: warning).
 *
 * Fires when `round`, `floor`, `ceil`, `sign`, `argmax`, a comparison, or
 * `where`'s condition lies on a path from a parameter to the loss: the op's
 * input depends on parameters, its output feeds the loss (not under a
 * stop_gradient), and the op is the only way that input reaches the loss. The
 * op's gradient is zero everywhere (the op table's `zeroGrad: "everywhere"`),
 * so nothing flows back through it: the loss term it feeds trains nothing
 * upstream.
 *
 * Not a finding: a selector or mask whose input also reaches the loss another
 * way (`where(z > 0, z, 0.01 * z)`, `sign(z) * z`: z's gradient flows through
 * the selected branch), anything under stop_gradient (a straight-through
 * estimator `z + stop_gradient(round(z) - z)`, a DQN target). When the cut
 * leaves a parameter with no gradient at all, `no-gradient` reports it
 * instead (an error), and this rule lists only the parameters that still
 * learn from other terms.
 *
 * Fix: the straight-through rewrite for round/floor/ceil/sign (mechanical),
 * a smooth surrogate for comparisons and argmax. Span: the op. Params: the
 * parameters whose gradient through this term is lost.
 */
import { OPS, type Role } from "../ir/ops.js";
import type { Node } from "../ir/types.js";
import { LintContext, callParts, listText } from "./context.js";
import type { Fix, LintDiagnostic, Rule } from "./types.js";

export const zeroGradientOp: Rule = {
  meta: {
    id: "zero-gradient-op",
    severity: "warning",
    summary: "An op whose gradient is zero everywhere lies on a path from a parameter to the loss.",
    help: "round, floor, ceil, sign, argmax, comparisons and where's condition are piecewise constant: their gradient is 0 everywhere, so the loss term they feed cannot train what is upstream. Use a straight-through estimator (z + stop_gradient(round(z) - z)) or a smooth surrogate (sigmoid, softmax).",
  },
  run(ctx) {
    const out: LintDiagnostic[] = [];
    for (const cut of zeroCuts(ctx)) {
      const stillLearning = [...cut.params].filter((p) => ctx.flow.reaches.has(ctx.graph.params[p]));
      if (stillLearning.length === 0) continue;
      const names = ctx.paramNames(stillLearning);
      out.push({
        rule: "zero-gradient-op",
        severity: "warning",
        message: `${describeCut(ctx, cut)}, so ${listText(names)} get${names.length === 1 ? "s" : ""} no gradient from the loss term it feeds (only from other terms)`,
        span: cut.op.span,
        params: names,
        fix: cutFix(ctx, cut),
      });
    }
    return out;
  },
};

export interface Cut {
  /** The zero-gradient op. */
  op: Node;
  /** Its input that depends on parameters. */
  input: Node;
  /** Params whose only route through `input` is this op. */
  params: Set<number>;
}

/** Zero-gradient ops that cut the only route of a parameter-dependent value to the loss. */
export function zeroCuts(ctx: LintContext): Cut[] {
  const { flow } = ctx;
  const cuts: Cut[] = [];
  for (const n of flow.nodes) {
    if (!flow.reachesUncut.has(n)) continue;
    for (const e of flow.ins.get(n) ?? []) {
      if (e.kind !== "zero") continue;
      const deps = flow.deps.get(e.from);
      if (!deps || deps.size === 0) continue;
      // Its gradient reaches the loss another way, and the op selects or masks a value
      // (where(z > 0, z, a * z), sign(z) * z, pick(q, argmax(q2))): a piecewise-linear unit,
      // not a lost term. A zero-gradient op summed into the loss (a penalty mean(h > 0)) is.
      if (flow.reaches.has(e.from) && selects(flow, n)) continue;
      cuts.push({ op: n, input: e.from, params: deps });
    }
  }
  return cuts;
}

/** How a reader uses the value at input `pos` (the op table's roles). */
const roleOf = (n: Node, pos: number): Role => OPS[n.op].lint.roles?.[pos] ?? "compute";
/** Roles that carry a value through unchanged in what it selects. */
const PASSES: ReadonlySet<Role> = new Set(["layout", "identity", "negate"]);

/** Whether the value of `n` is used (through layout ops) to select or mask another value. */
function selects(flow: LintContext["flow"], n: Node, seen = new Set<Node>()): boolean {
  if (seen.has(n)) return false;
  seen.add(n);
  for (const e of flow.outs.get(n) ?? []) {
    // A product masks something only if the other factor carries a gradient (not 0.1 * (z > 0)).
    const role = roleOf(e.to, e.pos);
    if (role === "mask") {
      const other = e.to.inputs[1 - e.pos];
      if ((flow.deps.get(other)?.size ?? 0) > 0) return true;
      if (selects(flow, e.to, seen)) return true;
      continue;
    }
    if (role === "select") return true;
    if (PASSES.has(role) && selects(flow, e.to, seen)) return true;
  }
  return false;
}

const COMPARISON: Record<string, string> = { lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=" };

export function describeCut(ctx: LintContext, cut: Cut): string {
  const op = cut.op;
  if (op.op === "where") return `where's condition ${ctx.show(cut.input)} gets zero gradient (a condition only selects)`;
  if (COMPARISON[op.op]) return `the comparison ${ctx.show(op)} gives 0 or 1 and has zero gradient everywhere`;
  if (op.op === "argmax") return `${ctx.show(op)} is piecewise constant and has zero gradient everywhere`;
  return `${ctx.show(op)} is piecewise constant: ${op.op}'s gradient is zero everywhere`;
}

export function cutFix(ctx: LintContext, cut: Cut): Fix {
  const op = cut.op;
  if (["round", "floor", "ceil", "sign"].includes(op.op)) {
    const parts = callParts(ctx.text(op.span));
    if (parts && parts.callee === op.op && parts.args.length === 1) {
      const z = parts.args[0];
      const simple = /^[\w.]+$/.test(z);
      const zz = simple ? z : `(${z})`;
      const rewrite = `${zz} + stop_gradient(${op.op}(${z}) - ${zz})`;
      return {
        description: `to keep ${op.op} in the forward pass and let the gradient through, use the straight-through estimator: replace ${ctx.text(op.span)} with ${rewrite}; or drop ${op.op} from the loss`,
        edits: [{ span: op.span, text: rewrite }],
      };
    }
    return { description: `use the straight-through estimator z + stop_gradient(${op.op}(z) - z), or drop ${op.op} from the loss` };
  }
  if (COMPARISON[op.op]) {
    return { description: `a hard threshold cannot be trained through; use a smooth surrogate such as sigmoid((a - b) / temperature) in place of a ${COMPARISON[op.op]} b` };
  }
  if (op.op === "argmax") return { description: "use softmax(z) as soft weights instead of a hard argmax choice, or put the choice under stop_gradient if no gradient is intended" };
  return { description: "make the condition a fixed mask (stop_gradient) if no gradient is intended, or blend with a smooth weight: s * a + (1 - s) * b with s = sigmoid(...)" };
}
