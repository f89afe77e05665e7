// The compiler as a library (spec section 11): compile, lint, inspect and
// graph take source text and run in browsers as well as Node (nothing on
// these paths imports a Node built-in). Errors in the source come back as
// section 8's diagnostic objects: `lint` returns them, `compile`, `inspect`
// and `graph` reject with a BpcError carrying them.
import { BpcError as SourceError, type Diagnostic as SourceDiagnostic } from "./diag.js";
import { emitModule } from "./codegen/emit.js";
import { printAst } from "./frontend/parser/print.js";
import { printGraph } from "./ir/print.js";
import { toJson, type JsonDiagnostic } from "./lint/format.js";
import { lintSource } from "./lint/index.js";
import { backEnd, frontEnd, resolveInputGrads, type Stages } from "./passes/pipeline.js";
import { toDot } from "./viz/dot.js";
import { renderSvg } from "./viz/svg.js";
import { toJsModule } from "./js-module.js";

/** A finding or an error, as `bpc lint --format json` prints it (spec section 8). */
export type Diagnostic = JsonDiagnostic;

/** Why `compile`, `inspect` or `graph` could not run: the source's errors as section 8's objects (rule "compile-error"). */
export class BpcError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[], options?: { cause?: unknown }) {
    super(diagnostics.map(headline).join("\n"), options);
    this.name = "BpcError";
    this.diagnostics = diagnostics;
  }
}

export interface CompileOptions {
  /** The name the source goes by in messages and the module's header (default "model.bp"). */
  file?: string;
  /** "ts" (default): a TypeScript module; "js": a JavaScript ES module and its `.d.ts`. */
  emit?: "ts" | "js";
  precision?: "f32" | "f64";
  /** The float inputs backward also returns gradients for: "all" or their names. */
  inputGrads?: "all" | string[];
  /** Matmul kernels: "simd" (default; WebAssembly SIMD with a JS fallback, f32 only) or "js". */
  kernels?: "simd" | "js";
  /** Training probes (spec section 12): adds `probe(params, inputs)` to the module. */
  probes?: boolean;
}

export type Stage = "ast" | "ir" | "grad" | "opt" | "ts";

export interface GraphOptions {
  file?: string;
  /** "svg" (default): laid out by Graphviz compiled to WebAssembly; "dot": the Graphviz source. */
  format?: "svg" | "dot";
  inputGrads?: "all" | string[];
}

const DEFAULT_FILE = "model.bp";

/** Compiles a model: the module's code, and for `emit: "js"` its declarations as `dts`. */
export async function compile(source: string, opts: CompileOptions = {}): Promise<{ code: string; dts?: string }> {
  const o = checkOptions(opts);
  const st = await stages(source, o.file, o.inputGrads);
  const ts = await library(o.file, async () => emitModule(st.opt, { precision: o.precision, inputGrads: st.inputGrads, kernels: o.kernels, probes: o.probes === true }));
  return o.emit === "js" ? toJsModule(ts) : { code: ts };
}

/**
 * Lints a model: section 8's findings, or the compile errors (rule
 * "compile-error") when it does not compile. Never throws for bad source.
 */
export function lint(source: string, opts: { file?: string } = {}): Diagnostic[] {
  const file = fileOption(opts.file);
  if (typeof source !== "string") throw optionError(`the source must be a string, got ${show(source)}`, file);
  try {
    return lintSource(source, file).diagnostics.map(toJson);
  } catch (e) {
    if (e instanceof SourceError) return e.diagnostics.map(compileError);
    throw e;
  }
}

/** A compiler stage as `bpc inspect --stage` prints it; "ts" is the generated code (JavaScript with `emit: "js"`). */
export async function inspect(source: string, stage: Stage, opts: CompileOptions = {}): Promise<string> {
  if (!["ast", "ir", "grad", "opt", "ts"].includes(stage)) throw optionError(`stage must be ast, ir, grad, opt or ts, got ${show(stage)}`, opts.file);
  if (stage === "ts") return (await compile(source, opts)).code;
  const o = checkOptions(opts);
  if (stage === "ast") return library(o.file, async () => printAst(frontEnd(source, o.file).ast));
  const st = await stages(source, o.file, o.inputGrads);
  return printGraph(stage === "ir" ? st.ir : stage === "grad" ? st.grad : st.opt);
}

/** The computational graph, forward in black and backward in red, as SVG (default) or DOT. */
export async function graph(source: string, opts: GraphOptions = {}): Promise<string> {
  const format = opts.format ?? "svg";
  if (format !== "svg" && format !== "dot") throw optionError(`format must be "svg" or "dot", got ${show(format)}`, opts.file);
  const file = fileOption(opts.file);
  const st = await stages(source, file, inputGradsOption(opts.inputGrads, file));
  const dot = toDot(st.opt);
  return format === "dot" ? dot : renderSvg(dot);
}

/** Parses, lowers, differentiates and simplifies, with source errors as the library's BpcError. */
function stages(source: string, file: string, inputGrads: "all" | string[] | undefined): Promise<Stages & { inputGrads: string[] }> {
  if (typeof source !== "string") throw optionError(`the source must be a string, got ${show(source)}`, file);
  return library(file, async () => {
    const front = frontEnd(source, file);
    const names = resolveInputGrads(front.ir, inputGrads);
    return { ...backEnd(front, { inputGrads: names }), inputGrads: names };
  });
}

/** Runs the compiler, turning its positioned errors into the library's BpcError. */
async function library<T>(file: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof SourceError) throw new BpcError(e.diagnostics.map(compileError), { cause: e });
    if (e instanceof BpcError) throw e;
    throw e instanceof Error ? e : new Error(`internal error in ${file}: ${String(e)}`);
  }
}

/**
 * A compiler error as a section 8 object. Notes that say which `def` call
 * an error came through join the message; the others (what to write
 * instead, what was expected) are the fix.
 */
export function compileError(d: SourceDiagnostic): Diagnostic {
  const notes = d.notes ?? [];
  const context = notes.filter((n) => n.startsWith("in the call"));
  const fix = notes.filter((n) => !n.startsWith("in the call"));
  return {
    rule: "compile-error",
    severity: "error",
    message: [d.message, ...context].join(", "),
    file: d.span.file,
    line: d.span.line,
    column: d.span.col,
    endLine: d.span.endLine,
    endColumn: d.span.endCol,
    params: [],
    fix: fix.join("\n"),
  };
}

function headline(d: Diagnostic): string {
  return d.line > 0 ? `${d.file}:${d.line}:${d.column}: ${d.message}` : `${d.file}: ${d.message}`;
}

/** A bad option (JavaScript callers have no type check): a BpcError about the whole input. */
function optionError(message: string, file: unknown): BpcError {
  const f = typeof file === "string" && file !== "" ? file : DEFAULT_FILE;
  return new BpcError([
    { rule: "compile-error", severity: "error", message, file: f, line: 0, column: 0, endLine: 0, endColumn: 0, params: [], fix: "" },
  ]);
}

function show(v: unknown): string {
  return typeof v === "string" ? `"${v}"` : v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
}

function fileOption(file: unknown): string {
  if (file === undefined) return DEFAULT_FILE;
  if (typeof file !== "string" || file === "") throw optionError(`file must be a non-empty string, got ${show(file)}`, undefined);
  return file;
}

function inputGradsOption(v: unknown, file: string): "all" | string[] | undefined {
  if (v === undefined || v === "all") return v;
  if (Array.isArray(v) && v.every((n) => typeof n === "string")) return v as string[];
  throw optionError(`inputGrads must be "all" or an array of input names, got ${show(v)}`, file);
}

function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[], file: string): T | undefined {
  if (v === undefined || allowed.includes(v as T)) return v as T | undefined;
  throw optionError(`${name} must be ${allowed.map((a) => `"${a}"`).join(" or ")}, got ${show(v)}`, file);
}

function checkOptions(opts: CompileOptions) {
  if (opts === null || typeof opts !== "object") throw optionError(`options must be an object, got ${show(opts)}`, undefined);
  const file = fileOption(opts.file);
  if (opts.probes !== undefined && typeof opts.probes !== "boolean") throw optionError(`probes must be true or false, got ${show(opts.probes)}`, file);
  return {
    file,
    emit: oneOf("emit", opts.emit, ["ts", "js"], file) ?? "ts",
    precision: oneOf("precision", opts.precision, ["f32", "f64"], file) ?? "f32",
    kernels: oneOf("kernels", opts.kernels, ["simd", "js"], file) ?? "simd",
    inputGrads: inputGradsOption(opts.inputGrads, file),
    probes: opts.probes === true,
  };
}
