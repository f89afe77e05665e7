// Loads a generated module in this process: strips its types (to-js.ts) and
// imports the JavaScript from a data: URL. Used by `bpc check`, `bpc demo`
// and the tests; no Node built-in, so it also runs in a browser.
import { moduleToJs } from "./to-js.js";

export type FloatArray = Float32Array | Float64Array;

/** The API of every compiled module (spec section 6), over either precision. */
export interface CompiledModule {
  model: {
    name: string;
    precision: "f32" | "f64";
    dims: Record<string, number | null>;
    params: Record<string, { shape: (number | string)[] }>;
    inputs: Record<string, { shape: (number | string)[]; dtype: "float32" | "float64" | "int32" }>;
    outputs: string[];
    grads: string[];
  };
  init(seed?: number): Record<string, FloatArray>;
  forward(params: Record<string, FloatArray>, inputs: Record<string, FloatArray | Int32Array>): { loss: number } & Record<string, number | FloatArray | Int32Array>;
  backward(
    params: Record<string, FloatArray>,
    inputs: Record<string, FloatArray | Int32Array>,
  ): { loss: number; grads: Record<string, FloatArray> };
}

let loads = 0;

/**
 * Imports a generated module. Every call gives a fresh module instance (its
 * own workspaces), even for identical source text.
 */
export async function loadModule(tsSource: string): Promise<CompiledModule> {
  const js = `${moduleToJs(tsSource)}\n// instance ${++loads} ${Date.now()}\n`;
  const url = `data:text/javascript;charset=utf-8,${encodeURIComponent(js)}`;
  return (await import(/* @vite-ignore */ url)) as CompiledModule;
}
