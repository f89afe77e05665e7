// `bpc check`: the compiled backward against central finite differences of
// the compiled forward, in f64, at a seeded random point. Symbolic dims are
// set to small sizes; float inputs are drawn from their hints, int inputs
// from their ranges.
import type { Graph } from "../ir/types.js";

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

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Sample inputs for the graph's inputs, with each symbolic dim set to `symSize`. */
export function sampleInputs(g: Graph, seed: number, symSize = 3): Record<string, Tensor> {
  const r = rng(seed ^ 0x5eed);
  const out: Record<string, Tensor> = {};
  for (const n of g.inputs) {
    const size = n.shape.reduce<number>((p, d) => p * (typeof d === "number" ? d : symSize), 1);
    const range = n.attrs.range as number[] | undefined;
    if (n.dtype === "int") {
      const [lo, hi] = range ?? [0, 1];
      const top = n.attrs.rangeClosed ? hi + 1 : hi;
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

export function checkGradients(
  mod: CheckableModule,
  g: Graph,
  opts: { seed: number; tolerance: number; perTensor?: number },
): CheckRow[] {
  const r = rng(opts.seed);
  const params = mod.init(opts.seed);
  const inputs = sampleInputs(g, opts.seed);
  const call = (): number => mod.forward(params as never, inputs as never).loss;
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
      const rel = abs / Math.max(Math.abs(numeric), Math.abs(a[i]), 1e-6);
      maxRel = Math.max(maxRel, rel);
      maxAbs = Math.max(maxAbs, abs);
    }
    rows.push({ tensor: t.name, kind: t.kind, checked: picks.size, maxRelError: maxRel, maxAbsError: maxAbs });
  }
  return rows;
}

export function formatCheck(rows: CheckRow[], tolerance: number): string {
  const w = Math.max(6, ...rows.map((r) => r.tensor.length));
  const lines = [`${"tensor".padEnd(w)}  kind   checked  max rel error  max abs error`];
  for (const r of rows) {
    const flag = r.maxRelError <= tolerance ? "ok" : "FAIL";
    lines.push(
      `${r.tensor.padEnd(w)}  ${r.kind.padEnd(5)}  ${String(r.checked).padStart(7)}  ${r.maxRelError.toExponential(2).padStart(13)}  ${r.maxAbsError.toExponential(2).padStart(13)}  ${flag}`,
    );
  }
  const bad = rows.filter((r) => r.maxRelError > tolerance).length;
  lines.push(bad ? `${bad} of ${rows.length} tensors above tolerance ${tolerance}` : `all ${rows.length} tensors within tolerance ${tolerance}`);
  return lines.join("\n") + "\n";
}
