// The gradient check behind `bpc check`: the compiled backward against
// central finite differences of the compiled forward, in f64, at a seeded
// random point. Symbolic dims are
// set to small sizes; float inputs are drawn from their hints, int inputs
// from their ranges. stop_gradient values are frozen at the point for the
// finite differences, as its definition says (identity forward, constant for
// differentiation).
import { emitModule } from "../codegen/emit.js";
import { BpcError } from "../diag.js";
import { loadModule } from "../codegen/runtime-load.js";
import type { Graph, Node } from "../ir/types.js";
import { grad } from "../passes/autodiff.js";
import { compileStages, frontEnd, resolveInputGrads, simplify } from "../passes/pipeline.js";
import { mapGraph } from "../passes/rewrite.js";
import { rng } from "../train/data.js";

type Tensor = Float64Array | Float32Array | Int32Array;
/** The parts of a compiled module the check uses. */
export interface CheckableModule {
  init(seed?: number): Record<string, Float64Array | Float32Array>;
  forward(params: never, inputs: never): { loss: number };
  backward(params: never, inputs: never): { loss: number; grads: Record<string, Float64Array | Float32Array> };
}

export interface CheckRow {
  tensor: string;
  kind: "param" | "input";
  checked: number;
  maxRelError: number;
  maxAbsError: number;
}

function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Every node of the graph, loop bodies included. */
function allNodes(nodes: readonly Node[], out: Node[] = []): Node[] {
  for (const n of nodes) {
    out.push(n);
    if (n.body) allNodes(n.body.nodes, out);
  }
  return out;
}

/**
 * The values an int input may take: its hint, cut to what the ops reading it
 * accept (labels below the classes of cross_entropy, indices below the size of
 * the axis that pick, one_hot or xs[i] index), with symbolic dims at `symSize`.
 * `by` names the op that cut the hint, if one did.
 */
export function intRanges(g: Graph, symSize = 3): Map<Node, { lo: number; top: number; by?: string }> {
  const size = (d: number | string): number => (typeof d === "number" ? d : symSize);
  const readers = new Map<Node, { node: Node; k: number }[]>();
  for (const n of allNodes(g.nodes)) n.inputs.forEach((x, k) => readers.set(x, [...(readers.get(x) ?? []), { node: n, k }]));
  // The smallest bound the readers of an int value put on it (views pass their readers' bounds on).
  const bound = (v: Node, seen = new Set<Node>()): { top: number; by?: string } => {
    let best: { top: number; by?: string } = { top: Infinity };
    if (seen.has(v)) return best;
    seen.add(v);
    for (const { node: m, k } of readers.get(v) ?? []) {
      let b: { top: number; by?: string } = { top: Infinity };
      const at = `${m.op} at line ${m.span.line}`;
      if (m.op === "cross_entropy" && k === 1) b = { top: size(m.inputs[0].shape[m.inputs[0].shape.length - 1]), by: at };
      else if (m.op === "pick" && k === 1) b = { top: size(m.inputs[0].shape[1]), by: at };
      else if (m.op === "one_hot" && k === 0) b = { top: m.attrs.n as number, by: at };
      else if (m.op === "index" && k === 1) b = { top: size(m.inputs[0].shape[0]), by: `the index at line ${m.span.line}` };
      else if ((m.op === "index" && k === 0) || m.op === "reshape" || m.op === "slice" || m.op === "transpose") b = bound(m, seen);
      if (b.top < best.top) best = b;
    }
    return best;
  };
  const out = new Map<Node, { lo: number; top: number; by?: string }>();
  for (const n of g.inputs) {
    if (n.dtype !== "int") continue;
    const range = n.attrs.range as number[] | undefined;
    const [lo, hi] = range ?? [0, 1];
    const hintTop = n.attrs.rangeClosed ? hi + 1 : hi;
    const b = bound(n);
    const top = Math.min(hintTop, b.top);
    if (top <= lo) {
      throw new BpcError(
        `the values of ${n.name} hinted ${range ? `in [${lo}, ${hi}${n.attrs.rangeClosed ? "]" : ")"}` : "(no hint: [0, 1))"} leave none that ${b.by ?? "its readers"} accepts (below ${b.top})`,
        n.span,
        [`declare the range the model accepts, for example 'in [0, ${b.top})'`],
      );
    }
    out.set(n, top < hintTop ? { lo, top, by: b.by } : { lo, top });
  }
  return out;
}

/** Sample inputs for the graph's inputs, with each symbolic dim set to `symSize`. */
export function sampleInputs(g: Graph, seed: number, symSize = 3): Record<string, Tensor> {
  const r = rng(seed ^ 0x5eed);
  const out: Record<string, Tensor> = {};
  const ints = intRanges(g, symSize);
  for (const n of g.inputs) {
    const size = n.shape.reduce<number>((p, d) => p * (typeof d === "number" ? d : symSize), 1);
    const range = n.attrs.range as number[] | undefined;
    if (n.dtype === "int") {
      const { lo, top } = ints.get(n) as { lo: number; top: number };
      out[n.name as string] = Int32Array.from({ length: size }, () => lo + Math.floor(r() * Math.max(1, top - lo)));
      continue;
    }
    const a = new Float64Array(size);
    const dist = n.attrs.dist as string | undefined;
    const args = (n.attrs.distArgs as number[] | undefined) ?? [];
    for (let i = 0; i < size; i++) {
      if (range) a[i] = range[0] + r() * (range[1] - range[0]);
      else if (dist === "uniform") a[i] = args[0] + r() * (args[1] - args[0]);
      else if (dist === "const") a[i] = args[0];
      else a[i] = (args[0] ?? 0) + (args[1] ?? 1) * normal(r);
    }
    out[n.name as string] = a;
  }
  return out;
}

/** Given the point, the loss function to difference (called before any perturbation). */
type LossAt = (
  params: Record<string, Tensor>,
  inputs: Record<string, Tensor>,
) => (params: Record<string, Tensor>, inputs: Record<string, Tensor>) => number;

/**
 * Compares `mod.backward` with central differences of the loss that `lossAt`
 * builds at the seeded point (by default `mod.forward`'s loss).
 */
export function checkGradients(
  mod: CheckableModule,
  g: Graph,
  opts: { seed: number; tolerance: number; perTensor?: number },
  lossAt?: LossAt,
): CheckRow[] {
  const r = rng(opts.seed);
  const params = mod.init(opts.seed);
  const inputs = sampleInputs(g, opts.seed);
  const loss = lossAt ? lossAt(params, inputs) : (p: typeof params, i: typeof inputs) => mod.forward(p as never, i as never).loss;
  const call = (): number => loss(params, inputs);
  // Central differences resolve gradients down to about 1e-11 of the loss's
  // scale; below 1e-6 of it a gradient counts as zero.
  const floor = 1e-6 * Math.max(1, Math.abs(call()));
  const { grads } = mod.backward(params as never, inputs as never);
  const analytic = Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, Float64Array.from(v)]));
  const rows: CheckRow[] = [];
  const targets: { name: string; kind: "param" | "input"; arr: Float64Array | Float32Array }[] = [
    ...g.params.map((n) => ({ name: n.name as string, kind: "param" as const, arr: params[n.name as string] })),
    ...g.inputs
      .filter((n) => n.dtype === "float" && analytic[n.name as string])
      .map((n) => ({ name: n.name as string, kind: "input" as const, arr: inputs[n.name as string] as Float64Array })),
  ];
  for (const t of targets) {
    const a = analytic[t.name];
    const n = t.arr.length;
    const picks = new Set<number>([0, n - 1]);
    const want = Math.min(n, opts.perTensor ?? 24);
    while (picks.size < want) picks.add(Math.floor(r() * n));
    // Elements whose gradient is tiny next to the tensor's largest (early
    // steps of a vanishing RNN) are judged against that scale, since central
    // differences resolve about 1e-11 in absolute terms.
    let scale = 0;
    for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]));
    let maxRel = 0;
    let maxAbs = 0;
    for (const i of picks) {
      const x = t.arr[i];
      const h = 1e-5 * Math.max(1, Math.abs(x));
      t.arr[i] = x + h;
      const up = call();
      t.arr[i] = x - h;
      const down = call();
      t.arr[i] = x;
      const numeric = (up - down) / (2 * h);
      const abs = Math.abs(numeric - a[i]);
      const rel = abs / Math.max(Math.abs(numeric), Math.abs(a[i]), 1e-3 * scale, floor);
      maxRel = Math.max(maxRel, rel);
      maxAbs = Math.max(maxAbs, abs);
    }
    rows.push({ tensor: t.name, kind: t.kind, checked: picks.size, maxRelError: maxRel, maxAbsError: maxAbs });
  }
  return rows;
}

async function load(g: Graph, inputGrads: string[]): Promise<CheckableModule> {
  return (await loadModule(await emitModule(g, { precision: "f64", inputGrads }))) as unknown as CheckableModule;
}

export interface CheckReport {
  rows: CheckRow[];
  notes: string[];
}

/** `bpc check`: every param and float input of a .bp source (`file` names it in messages). */
export async function checkFile(source: string, file: string, opts: { seed: number; tolerance: number }): Promise<CheckReport> {
  const { ir } = frontEnd(source, file);
  const names = resolveInputGrads(ir, "all");
  const st = compileStages(source, file, { inputGrads: names });
  const mod = await load(st.opt, names);
  const notes: string[] = [];
  const frozen = ir.nodes.filter((n) => n.op === "stop_gradient");
  const inLoops = ir.nodes.some((n) => n.body?.nodes.some((x) => x.op === "stop_gradient"));
  if (inLoops) notes.push("stop_gradient inside a loop is not frozen for the finite differences: expect differences there");
  if (containsOp(ir.nodes, "clip_grad")) {
    notes.push("clip_grad clips the gradient on purpose: where it clips, backward differs from finite differences");
  }
  let lossAt: LossAt | undefined;
  if (frozen.length) {
    // Probe the stop_gradient values at the point, then differentiate a copy
    // of the model in which they are inputs held at those values.
    const probeGraph: Graph = { ...ir, outputs: [...ir.outputs, ...frozen.map((n, k) => ({ name: `__frozen${k}`, node: n }))] };
    const probe = await load(simplify(grad(probeGraph)), []);
    const extra: Node[] = [];
    const fdGraph = mapGraph(ir, {
      rule: (b, n) => {
        const k = frozen.indexOf(n);
        if (k < 0) return null;
        const input = b.source("input", { name: `__frozen${k}` }, n.shape, "float");
        input.name = `__frozen${k}`;
        extra.push(input);
        return input;
      },
    });
    const fd = await load(simplify(grad({ ...fdGraph, inputs: [...fdGraph.inputs, ...extra] })), []);
    lossAt = (p0, i0) => {
      const out = probe.forward(p0 as never, i0 as never) as unknown as Record<string, number | Float64Array>;
      const held: Record<string, Tensor> = {};
      frozen.forEach((_, k) => {
        const v = out[`__frozen${k}`];
        held[`__frozen${k}`] = typeof v === "number" ? Float64Array.of(v) : Float64Array.from(v);
      });
      return (p, i) => fd.forward(p as never, { ...i, ...held } as never).loss;
    };
    notes.push(`${frozen.length} stop_gradient value${frozen.length > 1 ? "s" : ""} held constant for the finite differences`);
  }
  for (const [n, r] of intRanges(st.opt)) {
    if (r.by) notes.push(`${n.name} drawn from [${r.lo}, ${r.top}), the part of its hint that ${r.by} accepts`);
  }
  const loss = mod.forward(mod.init(opts.seed) as never, sampleInputs(st.opt, opts.seed) as never).loss;
  if (Math.abs(loss) > 1e10) {
    notes.push(`the loss is ${loss.toExponential(2)} at this point: finite differences of a number this large cannot resolve small gradients`);
  }
  return { rows: checkGradients(mod, st.opt, opts, lossAt), notes };
}

function containsOp(nodes: readonly Node[], op: string): boolean {
  return nodes.some((n) => n.op === op || (n.body ? containsOp(n.body.nodes, op) : false));
}

export function formatCheck(report: CheckReport | CheckRow[], tolerance: number): string {
  const rows = Array.isArray(report) ? report : report.rows;
  const notes = Array.isArray(report) ? [] : report.notes;
  const w = Math.max(6, ...rows.map((r) => r.tensor.length));
  const lines = [`${"tensor".padEnd(w)}  kind   checked  max rel error  max abs error`];
  for (const r of rows) {
    const flag = r.maxRelError <= tolerance ? "ok" : "FAIL";
    lines.push(
      `${r.tensor.padEnd(w)}  ${r.kind.padEnd(5)}  ${String(r.checked).padStart(7)}  ${r.maxRelError.toExponential(2).padStart(13)}  ${r.maxAbsError.toExponential(2).padStart(13)}  ${flag}`,
    );
  }
  const bad = rows.filter((r) => !(r.maxRelError <= tolerance)).length;
  for (const n of notes) lines.push(`note: ${n}`);
  lines.push(bad ? `${bad} of ${rows.length} tensors above tolerance ${tolerance}` : `all ${rows.length} tensors within tolerance ${tolerance}`);
  return lines.join("\n") + "\n";
}
