/**
 * Rule `no-gradient` (severity: error).
 *
 * Fires when a parameter's gradient is identically zero, so training never
 * changes it:
 *   - it has no path to the loss at all (unused, or used only by an output);
 *   - every path to the loss is cut by an op whose gradient is zero
 *     everywhere (round, floor, ceil, sign, argmax, a comparison, where's
 *     condition).
 * A parameter whose paths are all cut by an explicit stop_gradient (a target
 * network) gets no diagnostic: that is intended.
 *
 * Message: the parameter and why (which op cuts it, or where it is used
 * instead). Fix: the straight-through or smooth rewrite of the cutting op
 * (see zero-gradient-op), or use/remove the parameter. Span: the cutting op,
 * else the declaration. Params: the parameter.
 */
import type { Node } from "../ir/types.js";
import { LintContext, listText } from "./context.js";
import { cutFix, describeCut, zeroCuts, type Cut } from "./zero-gradient-op.js";
import type { LintDiagnostic, Rule } from "./types.js";

export const noGradient: Rule = {
  meta: {
    id: "no-gradient",
    severity: "error",
    summary: "A parameter's gradient is identically zero: it never reaches the loss, or every path is cut by a zero-gradient op.",
    help: "A parameter with no gradient never changes during training. Connect it to the loss, remove it, or replace the op that cuts its path (round, sign, comparisons, argmax) with a straight-through estimator or a smooth surrogate. Paths cut by an explicit stop_gradient are intended and not reported.",
  },
  run(ctx) {
    const out: LintDiagnostic[] = [];
    const { flow, graph } = ctx;
    const cuts = zeroCuts(ctx);
    // Params cut off by the same ops share one finding that names them all.
    const byCut = new Map<string, { names: string[]; mine: Cut[] }>();
    graph.params.forEach((p, i) => {
      if (flow.reaches.has(p)) return;
      const name = p.name ?? `param${i}`;
      if (flow.reachesUncut.has(p)) {
        const mine = cuts.filter((c) => c.params.has(i));
        if (!mine.length) return;
        const key = mine.map((c) => c.op.id).join(",");
        const group = byCut.get(key) ?? { names: [], mine };
        group.names.push(name);
        byCut.set(key, group);
        return;
      }
      if (reachesLossAtAll(ctx, p)) return; // cut only by stop_gradient: intended
      const outputs = graph.outputs.filter((o) => ctx.flow.valueDeps.get(o.node)?.has(i)).map((o) => o.name);
      const where = outputs.length ? `it is only used by the output${outputs.length > 1 ? "s" : ""} ${outputs.join(", ")}, not by the loss` : "it is not used by the loss";
      out.push({
        rule: "no-gradient",
        severity: "error",
        message: `${name} gets no gradient: ${where}, so training never changes it`,
        span: p.span,
        params: [name],
        fix: { description: `use ${name} in the computation of the minimized loss, or remove its declaration` },
      });
    });
    for (const { names, mine } of byCut.values()) {
      const [first] = mine;
      const who = listText(names);
      const them = names.length === 1 ? names[0] : "them";
      const more = mine.length > 1 ? ` (and ${mine.length - 1} more such op${mine.length > 2 ? "s" : ""}: ${mine.slice(1).map((c) => `line ${c.op.span.line}`).join(", ")})` : "";
      out.push({
        rule: "no-gradient",
        severity: "error",
        message: `${who} get${names.length === 1 ? "s" : ""} no gradient: every path from ${them} to the loss goes through ${ctx.show(first.op)}${more}; ${describeCut(ctx, first)}, so training never changes ${them}`,
        span: first.op.span,
        params: names,
        fix: cutFix(ctx, first),
      });
    }
    return out;
  },
};

function reachesLossAtAll(ctx: LintContext, p: Node): boolean {
  const seen = new Set<Node>([p]);
  const stack = [p];
  while (stack.length) {
    const n = stack.pop()!;
    if (n === ctx.graph.loss) return true;
    for (const e of ctx.flow.outs.get(n) ?? []) {
      if (!seen.has(e.to)) {
        seen.add(e.to);
        stack.push(e.to);
      }
    }
  }
  return false;
}
