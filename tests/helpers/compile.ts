// Test helper: .bp source text to a loaded, compiled module.
import { emitModule } from "../../src/codegen/emit.js";
import { loadModule } from "../../src/codegen/runtime-load.js";
import type { Graph } from "../../src/ir/types.js";
import { toJsModule } from "../../src/js-module.js";
import { BpcError } from "../../src/diag.js";
import { compileStages, frontEnd } from "../../src/passes/pipeline.js";

export type AnyArray = Float32Array | Float64Array | Int32Array;
export interface Module {
  model: {
    name: string;
    dims: Record<string, number | null>;
    params: Record<string, { shape: (number | string)[] }>;
    inputs: Record<string, { shape: (number | string)[]; dtype: "float32" | "int32" }>;
    outputs: string[];
    grads: string[];
  };
  init(seed?: number): Record<string, Float32Array | Float64Array>;
  forward(params: Record<string, AnyArray>, inputs: Record<string, AnyArray>): Record<string, number | AnyArray> & { loss: number };
  backward(
    params: Record<string, AnyArray>,
    inputs: Record<string, AnyArray>,
  ): { loss: number; grads: Record<string, Float32Array | Float64Array> };
}

export interface Compiled {
  mod: Module;
  graph: Graph;
  ts: string;
  /** With `emit: "js"`: the JavaScript module that was loaded. */
  js?: string;
}

let jsLoads = 0;

/** Imports a JavaScript module's text as it is (a fresh instance per call). */
export async function loadJs(js: string): Promise<Module> {
  const url = `data:text/javascript;charset=utf-8,${encodeURIComponent(`${js}\n// instance ${++jsLoads}\n`)}`;
  return (await import(/* @vite-ignore */ url)) as Module;
}

export async function compileSource(
  source: string,
  opts: { precision?: "f32" | "f64"; inputGrads?: string[]; file?: string; kernels?: "simd" | "js"; emit?: "ts" | "js" } = {},
): Promise<Compiled> {
  const file = opts.file ?? "test.bp";
  const st = compileStages(source, file, { inputGrads: opts.inputGrads ?? [], verify: true });
  const ts = await emitModule(st.opt, { precision: opts.precision ?? "f64", inputGrads: opts.inputGrads ?? [], kernels: opts.kernels });
  if (opts.emit === "js") {
    const { code } = await toJsModule(ts);
    return { mod: await loadJs(code), graph: st.opt, ts, js: code };
  }
  const mod = (await loadModule(ts)) as unknown as Module;
  return { mod, graph: st.opt, ts };
}

/** The compile error a source gives (parsing and lowering); fails the test when it compiles. */
export function errorOf(src: string): BpcError {
  try {
    frontEnd(src, "t.bp");
  } catch (e) {
    if (e instanceof BpcError) return e;
    throw e;
  }
  throw new Error("expected a compile error");
}
