// Loads a generated module in this process: transpiles the TypeScript with
// `typescript`'s transpileModule (no type check) and imports the JavaScript
// from a data: URL. Used by `bpc check` and the tests.
import ts from "typescript";

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

/** Transpiles a module's TypeScript to ES2022 JavaScript. */
export function transpile(tsSource: string): string {
  return ts.transpileModule(tsSource, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  }).outputText;
}

let loads = 0;

/**
 * Imports a generated module. Every call gives a fresh module instance (its
 * own workspaces), even for identical source text.
 */
export async function loadModule(tsSource: string): Promise<CompiledModule> {
  const js = `${transpile(tsSource)}\n// instance ${++loads} ${Date.now()}\n`;
  const url = `data:text/javascript;base64,${Buffer.from(js, "utf8").toString("base64")}`;
  return (await import(/* @vite-ignore */ url)) as CompiledModule;
}
