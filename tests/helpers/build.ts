// Test helper: .bp source to a loaded module through the emitter directly
// (codegen's options: a forward-only module), and seeded inputs for it.
import { emitModule } from "../../src/codegen/emit.js";
import { loadModule, type CompiledModule } from "../../src/codegen/runtime-load.js";
import { compileStages, frontEnd } from "../../src/passes/pipeline.js";

export type Arr = Float32Array | Float64Array | Int32Array;
export type Inputs = Record<string, Arr>;

export interface Built {
  ts: string;
  mod: CompiledModule;
}

export async function build(
  source: string,
  file: string,
  opts: { precision?: "f32" | "f64"; inputGrads?: string[]; forwardOnly?: boolean } = {},
): Promise<Built> {
  const g = opts.forwardOnly ? frontEnd(source, file).ir : compileStages(source, file, { inputGrads: opts.inputGrads ?? [], verify: true }).opt;
  const text = await emitModule(g, { precision: opts.precision ?? "f32", inputGrads: opts.inputGrads ?? [] });
  return { ts: text, mod: await loadModule(text) };
}

/** A small seeded PRNG for test data. */
export function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Inputs for a module: floats uniform in [lo, hi), ints in [0, intHi) per input. */
export function makeInputs(
  mod: CompiledModule,
  dims: Record<string, number>,
  seed: number,
  opts: { lo?: number; hi?: number; intHi?: Record<string, number> } = {},
): Inputs {
  const next = rand(seed);
  const out: Inputs = {};
  const f64 = mod.model.precision === "f64";
  for (const [k, v] of Object.entries(mod.model.inputs)) {
    const n = v.shape.map((d) => (typeof d === "string" ? dims[d] : d)).reduce((a, b) => a * b, 1);
    if (v.dtype === "int32") out[k] = Int32Array.from({ length: n }, () => Math.floor(next() * (opts.intHi?.[k] ?? 2)));
    else {
      const lo = opts.lo ?? -1;
      const hi = opts.hi ?? 1;
      const vals = Array.from({ length: n }, () => lo + (hi - lo) * next());
      out[k] = f64 ? Float64Array.from(vals) : Float32Array.from(vals);
    }
  }
  return out;
}
