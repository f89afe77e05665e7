// Training probes (spec section 12) as graph nodes: a differentiated graph is
// extended with the reductions `probe` reports, so the probe variant of the
// module computes them in its own forward and backward (the plain `backward`
// never sees them). Sites inside a loop are reduced per step onto the loop's
// tape and summed after it; the per-step gradient norms of a carried value
// are the squared norms of the backward loop's carried cotangents, taped.
import { OPS } from "../ir/ops.js";
import { Builder } from "../ir/builder.js";
import type { Dim, Graph, LoopBody, Node, Phase } from "../ir/types.js";

/** One activation site: the forward outputs holding its sums (names of `g.outputs`). */
export interface ProbeSite {
  name: string;
  line: number;
  op: string;
  kind: "relu" | "saturating";
  /** Sum of the input, of its square, and the number of elements summed. */
  sum: string;
  sumSq: string;
  count: string;
  /** relu-like: the number of units positive for some example, and the number of units. */
  alive?: string;
  units?: string;
  /** saturating: the number of elements where the slope is small. */
  saturated?: string;
}

/** A loop-carried value: the backward outputs holding, per step, max |gradient| and the squared norm of the gradient over it. */
export interface ProbeLoop {
  name: string;
  line: number;
  max: string;
  sumSq: string;
}

/** A named forward value: the output that is NaN when it holds a NaN or an infinity. */
export interface ProbeCheck {
  name: string;
  line: number;
  output: string;
}

export interface ProbePlan {
  sites: ProbeSite[];
  loops: ProbeLoop[];
  checks: ProbeCheck[];
  /** Backward-phase nodes the probe variant hands out (ProbeLoop.sumSq names them). */
  backward: { name: string; node: Node }[];
}

function maxId(g: Graph): number {
  let m = 0;
  const walk = (ns: readonly Node[]): void => {
    for (const n of ns) {
      m = Math.max(m, n.id);
      if (n.body) {
        m = Math.max(m, n.body.index.id, ...n.body.carried.map((c) => c.id));
        walk(n.body.nodes);
      }
    }
  };
  walk([...g.inputs, ...g.params, ...g.nodes]);
  return m;
}

const all = (n: Node): number[] => n.shape.map((_, i) => i);

/**
 * Adds the probe reductions to `g` in place (its node lists, loop bodies and
 * tapes, and outputs) and says where each figure lands. Give it a graph of
 * its own: the probe variant is compiled from the result.
 */
export function addProbes(g: Graph): ProbePlan {
  const b = new Builder({ startId: maxId(g) + 1 });
  const plan: ProbePlan = { sites: [], loops: [], checks: [], backward: [] };
  let next = 0;
  const top: Node[] = [];
  const output = (n: Node): string => {
    const name = `__probe${next++}`;
    g.outputs.push({ name, node: n });
    return name;
  };
  /** Builds `make`'s nodes in a scope and returns them with its result. */
  const build = (phase: Phase, span: Node["span"], make: () => Node[]): { nodes: Node[]; res: Node[] } => {
    b.phase = phase;
    b.span = span;
    b.pushScope();
    const res = make();
    return { nodes: b.popScope(), res };
  };

  // Reductions of x: top-level ones become outputs; in a loop body each step's is taped and summed after the loop.
  const reduceAt = (loop: Node | null, x: Node, reductions: ((x: Node) => Node)[]): Node[] => {
    if (!loop) {
      const { nodes, res } = build("fwd", x.span, () => reductions.map((r) => r(x)));
      top.push(...nodes);
      return res;
    }
    const body = loop.body as LoopBody;
    const inner = build("fwd", x.span, () => reductions.map((r) => r(x)));
    (body.nodes as Node[]).push(...inner.nodes);
    const outer = build("fwd", x.span, () =>
      inner.res.map((r) => {
        body.tape.push(r);
        const t = b.op("loop_tape", [loop], { k: body.tape.length - 1 });
        // Counts of units alive are a max over the steps; everything else adds up.
        return r.shape.length ? b.op("max", [t], { axes: [0] }) : b.op("sum", [t], { axes: [0] });
      }),
    );
    top.push(...outer.nodes);
    return outer.res;
  };

  const visit = (nodes: readonly Node[], loop: Node | null): void => {
    for (const n of [...nodes]) {
      if (n.phase !== "fwd") continue;
      // Sites one loop deep: a loop nested in a loop body, and the readers of its tape there, are skipped.
      if (n.body) {
        if (!loop) visit(n.body.nodes, n);
        continue;
      }
      if (n.op === "loop_tape") continue;
      const count = (dims: readonly Dim[]): Node => {
        const c = loop ? [loop.attrs.count as Dim, ...dims] : dims;
        b.phase = "fwd";
        const num = b.op("numel", [], { dims: c });
        top.push(num);
        return num;
      };
      if (n.name && n.dtype === "float" && !n.name.startsWith("__")) {
        const [bad] = reduceAt(loop, n, [(x) => b.op("sum", [b.op("mul", [x, b.const(0)])], { axes: all(x) })]);
        plan.checks.push({ name: n.name, line: n.span.line, output: output(bad) });
      }
      const act = OPS[n.op].lint.activation;
      if (!act) continue;
      const x = n.inputs[0];
      const name = n.name ?? n.op;
      const reds: ((x: Node) => Node)[] = [
        (x) => b.op("sum", [x], { axes: all(x) }),
        (x) => b.op("sum", [b.op("square", [x])], { axes: all(x) }),
      ];
      // Units: every axis but the batch (axis 0) of a tensor of rank 2 or more.
      const unitAxes = x.shape.length >= 2 ? [0] : [];
      if (act.kind === "relu") {
        reds.push((x) => {
          const pos = b.op("gt", [x, b.const(0)]);
          return unitAxes.length ? b.op("max", [pos], { axes: unitAxes }) : pos;
        });
      } else {
        reds.push((x) =>
          b.op("sum", [act.twoSided ? b.op("gt", [b.op("abs", [x]), b.const(act.beyond)]) : b.op("lt", [x, b.const(-act.beyond)])], {
            axes: all(x),
          }),
        );
      }
      const res = reduceAt(loop, x, reds);
      const site: ProbeSite = {
        name,
        line: n.span.line,
        op: n.op,
        kind: act.kind,
        sum: output(res[0]),
        sumSq: output(res[1]),
        count: output(count(x.shape)),
      };
      if (act.kind === "relu") {
        b.phase = "fwd";
        b.span = n.span;
        const alive = res[2].shape.length ? b.op("sum", [res[2]], { axes: all(res[2]) }) : res[2];
        if (alive !== res[2]) top.push(alive);
        site.alive = output(alive);
        const unitsNode = b.op("numel", [], { dims: x.shape.slice(unitAxes.length) });
        top.push(unitsNode);
        site.units = output(unitsNode);
      } else site.saturated = output(res[2]);
      plan.sites.push(site);
    }
  };
  visit(g.nodes, null);

  // Backward loops: the carried cotangents' squared norms per step, on the backward loop's tape.
  const fwdLoops = g.nodes.filter((n) => n.op === "loop" && n.phase === "fwd");
  for (const bl of g.nodes.filter((n) => n.op === "loop" && n.phase === "bwd")) {
    const fl = fwdLoops.find((f) => f.span.line === bl.span.line && f.span.col === bl.span.col);
    if (!fl) continue;
    const fb = fl.body as LoopBody;
    const body = bl.body as LoopBody;
    fb.carried.forEach((c, k) => {
      const ct = body.carried[k];
      if (!ct || c.dtype !== "float") return;
      // The norm as max|ct| * |ct / max|ct||: squares overflow float32 from norms of 1.8e19 on, an exploding gradient's range.
      const inner = build("bwd", ct.span, () => {
        const mx = b.op("max", [b.op("abs", [ct])], { axes: all(ct) });
        const scaled = b.op("div", [ct, b.op("add", [mx, b.const(1e-30)])]);
        return [mx, b.op("sum", [b.op("square", [scaled])], { axes: all(ct) })];
      });
      (body.nodes as Node[]).push(...inner.nodes);
      const names = inner.res.map((v) => {
        body.tape.push(v);
        const outer = build("bwd", bl.span, () => [b.op("loop_tape", [bl], { k: body.tape.length - 1 })]);
        top.push(...outer.nodes);
        const name = `__probe${next++}`;
        plan.backward.push({ name, node: outer.res[0] });
        return name;
      });
      const r = fb.results[k];
      plan.loops.push({ name: c.name ?? r.name ?? `carried${k}`, line: (r.inputs.length ? r : fl).span.line, max: names[0], sumSq: names[1] });
    });
  }
  g.nodes.push(...top.filter((n) => n.phase === "fwd"), ...top.filter((n) => n.phase === "bwd"));
  return plan;
}
