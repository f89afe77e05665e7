// IR to a self-contained TypeScript module (spec section 6): metadata,
// types, a seeded `init`, and `forward` / `backward` that validate their
// arguments, bind symbolic dims from input lengths, and run the graph node by
// node over buffers that live in a workspace (allocated once per set of dim
// values). Each value is a view: a buffer, an offset and strides, so
// reshape, transpose, slicing, `xs[t]` and broadcasting copy nothing.
// Elementwise chains are fused into one loop; loops stay loops.
import { format } from "./prettier.js";
import type { Graph } from "../ir/types.js";
import { Emitter } from "./context.js";
import { formatDeclaration, PRETTIER } from "./format.js";
import { helperList, module } from "./module.js";
import { helperSource, type Helper } from "./runtime.js";

export interface EmitOptions {
  precision: "f32" | "f64";
  /** Float inputs whose gradients `backward` returns (`["all"]` for every float input). */
  inputGrads: string[];
  /**
   * Matmul kernels: "simd" (the default; f32 only) runs them in WebAssembly
   * SIMD where available, with the JS kernels as fallback; "js" emits the JS
   * kernels alone.
   */
  kernels?: "simd" | "js";
}

/** Compiles a lowered (and, for `backward`, differentiated) graph to a prettier-formatted TypeScript module. */
export async function emitModule(g: Graph, opts: EmitOptions): Promise<string> {
  return formatModule(moduleParts(g, opts));
}

/** A module before formatting: its top-level declarations in order, then the matmul kernels and runtime helpers it uses. */
export interface ModuleParts {
  declarations: string[];
  kernels: string[];
  helpers: Helper[];
  floatArray: string;
}

export function moduleParts(g: Graph, opts: EmitOptions): ModuleParts {
  const cx = new Emitter(g, opts);
  const declarations = module(cx); // first: it collects the kernels and helpers
  return { declarations, kernels: [...cx.kernels.values()], helpers: helperList(cx), floatArray: cx.FA };
}

/**
 * The module's text, prettier-formatted declaration by declaration; a big
 * declaration is formatted one template of each of its repeated statements or
 * list elements at a time, with the same result (see format.ts).
 * `formatDecl` is for comparisons (tests, the compile-time bench).
 */
export async function formatModule(parts: ModuleParts, formatDecl: (d: string) => Promise<string> = formatDeclaration): Promise<string> {
  const body = (await Promise.all(parts.declarations.map((d) => formatDecl(d)))).map((d) => d.trimEnd()).join("\n\n");
  const kernels = await Promise.all(parts.kernels.map((k) => formattedKernel(k)));
  const helpers = await Promise.all(parts.helpers.map((h) => formattedHelper(h, parts.floatArray)));
  return [body.trimEnd(), ...kernels.map((k) => k.trimEnd()), ...helpers.map((h) => h.trimEnd())].join("\n\n") + "\n";
}

/** Helpers and kernels are the same text in every module that uses them: formatted once per process. */
const helperCache = new Map<string, Promise<string>>();
function formattedHelper(h: Helper, FA: string): Promise<string> {
  const k = `${h}:${FA}`;
  let text = helperCache.get(k);
  if (!text) helperCache.set(k, (text = format(helperSource(h, FA), PRETTIER)));
  return text;
}
const kernelCache = new Map<string, Promise<string>>();
function formattedKernel(source: string): Promise<string> {
  let text = kernelCache.get(source);
  if (!text) kernelCache.set(source, (text = format(source, PRETTIER)));
  return text;
}
