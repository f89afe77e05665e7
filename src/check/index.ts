// The gradient check behind `bpc check`: the compiled backward against
// central finite differences of the model's loss, in f64, at a seeded random
// point. The loss is evaluated through the op table's float64 references
// (the linter's evaluator, src/lint/sample.ts), not by the compiled
// forward, so the check does not trust the code it checks. Symbolic dims are
// set to small sizes; float inputs are drawn from their hints, int inputs
// from the ranges their readers accept (src/lint/hints.ts).
// stop_gradient values are held at the point for the finite differences, as
// its definition says (identity forward, constant for differentiation).
import { emitModule } from "../codegen/emit.js";
import { loadModule } from "../codegen/runtime-load.js";
import { sizeValue, symbolicSize } from "../ir/dims.js";
import { rng } from "../ir/random.js";
import type { Tensor as Values } from "../ir/tensor.js";
import type { Dim, Graph, Node } from "../ir/types.js";
import { intRanges, sampleInput } from "../lint/hints.js";
import { Evaluator } from "../lint/sample.js";
import { backEnd, frontEnd, resolveInputGrads } from "../passes/pipeline.js";

type Tensor = Float64Array | Float32Array | Int32Array;
/** The parts of a compiled module the check uses. */
export interface CheckableModule {
  init(seed?: number): Record<string, Float64Array | Float32Array>;
  backward(params: never, inputs: never): { loss: number; grads: Record<string, Float64Array | Float32Array> };
}

export interface CheckRow {
  tensor: string;
  kind: "param" | "input";
  checked: number;
  maxRelError: number;
  maxAbsError: number;
}

/** The size every symbolic dim gets, or the first above it at which every dim expression is positive (`T-5`). */
const SYM_SIZE = 3;

/** Inputs for the graph at the seeded point, each symbolic dim set to the graph's symbolic size. */
export function sampleInputs(g: Graph, seed: number): Record<string, Tensor> {
  const next = rng(seed, -2);
  const sym = symbolicSize(g, SYM_SIZE);
  const ints = intRanges(g, sym);
  const out: Record<string, Tensor> = {};
  for (const n of g.inputs) {
    const t = sampleInput(n, n.shape.map((d) => sizeValue(d, () => sym)), next, ints);
    out[n.name as string] = n.dtype === "int" ? Int32Array.from(t.data) : t.data;
  }
  return out;
}

/**
 * The model's loss as a function of the (mutable) arrays at the point,
 * evaluated through the op table; stop_gradient values outside loops are held
 * at their values at the point.
 */
function lossFunction(g: Graph, params: Record<string, Tensor>, inputs: Record<string, Tensor>): () => number {
  const sym = symbolicSize(g, SYM_SIZE);
  const dims = new Map(g.dims.filter((d) => d.value === null).map((d) => [d.name, sym]));
  const shape = (n: Node): number[] => n.shape.map((d: Dim) => sizeValue(d, dims));
  const view = (n: Node, a: Tensor): Values => ({ shape: shape(n), data: a instanceof Float64Array ? a : Float64Array.from(a) });
  const p = new Map(g.params.map((n) => [n, view(n, params[n.name as string])]));
  const x = new Map(g.inputs.map((n) => [n, view(n, inputs[n.name as string])]));
  const forward: Graph = { ...g, nodes: g.nodes.filter((n) => n.phase === "fwd") };
  const run = (override?: Map<Node, (v: Values) => Values>): Evaluator => {
    const ev = new Evaluator(forward, dims, p, x, { override });
    ev.run();
    return ev;
  };
  const frozen = forward.nodes.filter((n) => n.op === "stop_gradient");
  const at = run();
  const held = new Map(frozen.map((n) => [n, () => at.get(n)] as const));
  return () => run(held).get(g.loss).data[0];
}

/** Compares `mod.backward` with central differences of the model's loss at the seeded point. */
export function checkGradients(mod: CheckableModule, g: Graph, opts: { seed: number; tolerance: number; perTensor?: number }): CheckRow[] {
  const r = rng(opts.seed, -3);
  const params = mod.init(opts.seed);
  const inputs = sampleInputs(g, opts.seed);
  // Float32 params (an f32 module) are differenced in float64.
  for (const k of Object.keys(params)) params[k] = Float64Array.from(params[k]);
  const call = lossFunction(g, params, inputs);
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
      let size = 0;
      const central = (h: number): number => {
        t.arr[i] = x + h;
        const up = call();
        t.arr[i] = x - h;
        const down = call();
        t.arr[i] = x;
        size = Math.max(size, Math.abs(up), Math.abs(down));
        return (up - down) / (2 * h);
      };
      const h = 1e-5 * Math.max(1, Math.abs(x));
      const d1 = central(h);
      const d2 = central(h / 2);
      // Richardson extrapolation cancels the h² term of the truncation error.
      const numeric = (4 * d2 - d1) / 3;
      // What the differences cannot resolve: the two estimates differ by
      // their truncation and round-off errors, and round-off grows with the
      // magnitude of the terms the loss sums (not with the loss itself), so
      // it is measured; it is never below a few ulps of the loss over h. An
      // error within it is not counted.
      const unresolved = Math.max(3 * Math.abs(d1 - d2), (8 * Number.EPSILON * size) / h);
      const abs = Math.abs(numeric - a[i]);
      const rel = Math.max(0, abs - unresolved) / Math.max(Math.abs(numeric), Math.abs(a[i]), 1e-3 * scale, Number.MIN_VALUE);
      maxRel = Math.max(maxRel, rel);
      maxAbs = Math.max(maxAbs, abs);
    }
    rows.push({ tensor: t.name, kind: t.kind, checked: picks.size, maxRelError: maxRel, maxAbsError: maxAbs });
  }
  return rows;
}

export interface CheckReport {
  rows: CheckRow[];
  notes: string[];
}

/** `bpc check`: every param and float input of a .bp source (`file` names it in messages). */
export async function checkFile(source: string, file: string, opts: { seed: number; tolerance: number }): Promise<CheckReport> {
  const front = frontEnd(source, file);
  const names = resolveInputGrads(front.ir, "all");
  const st = backEnd(front, { inputGrads: names });
  const mod = (await loadModule(await emitModule(st.opt, { precision: "f64", inputGrads: names }))) as unknown as CheckableModule;
  const notes: string[] = [];
  const frozen = st.ir.nodes.filter((n) => n.op === "stop_gradient").length;
  if (st.ir.nodes.some((n) => n.body?.nodes.some((x) => x.op === "stop_gradient"))) {
    notes.push("stop_gradient inside a loop is not frozen for the finite differences: expect differences there");
  }
  if (containsOp(st.ir.nodes, "clip_grad")) {
    notes.push("clip_grad clips the gradient on purpose: where it clips, backward differs from finite differences");
  }
  if (frozen) notes.push(`${frozen} stop_gradient value${frozen > 1 ? "s" : ""} held constant for the finite differences`);
  for (const [n, r] of intRanges(st.opt, symbolicSize(st.opt, SYM_SIZE))) {
    if (r.by) notes.push(`${n.name} drawn from [${r.lo}, ${r.top}), the part of its hint that ${r.by} accepts`);
  }
  const rows = checkGradients(mod, st.opt, opts);
  const params = mod.init(opts.seed);
  const loss = lossFunction(st.ir, params, sampleInputs(st.ir, opts.seed))();
  if (Math.abs(loss) > 1e10) {
    notes.push(`the loss is ${loss.toExponential(2)} at this point: finite differences of a number this large cannot resolve small gradients`);
  }
  return { rows, notes };
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
