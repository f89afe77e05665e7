// The work behind each CLI command, as functions that return text, so tests
// can call them without spawning processes. This layer reads the files; the
// library below it takes source text.
// Heavy modules (prettier, graphviz, the linter) load on first use, so
// `bpc --help` starts fast.
import pc from "picocolors";
import { printGraph } from "../ir/print.js";
import { printAst } from "../frontend/parser/print.js";
import { backEnd, frontEnd, resolveInputGrads, type Stages } from "../passes/pipeline.js";
import type { DemoModel } from "./demo.js";
import { readSource } from "./read.js";

/** Sources read during this run, so an error can show its code frame. */
export const sources = new Map<string, string>();

function read(file: string): string {
  const text = readSource(file);
  sources.set(file, text);
  return text;
}

/** Parses, lowers and differentiates once, resolving --input-grads against the model's inputs. */
function stages(file: string, inputGrads: string | undefined): { st: Stages; names: string[] } {
  const front = frontEnd(read(file), file);
  const names = resolveInputGrads(front.ir, inputGrads);
  return { st: backEnd(front, { inputGrads: names }), names };
}

export async function compileFile(file: string, precision: "f32" | "f64", inputGrads?: string, kernels: "simd" | "js" = "simd", probes = false): Promise<string> {
  const { st, names } = stages(file, inputGrads);
  const { emitModule } = await import("../codegen/emit.js");
  return emitModule(st.opt, { precision, inputGrads: names, kernels, probes });
}

/** `--emit js`: the JavaScript module and its declarations. */
export async function compileFileToJs(file: string, precision: "f32" | "f64", inputGrads?: string, kernels: "simd" | "js" = "simd", probes = false): Promise<{ code: string; dts: string }> {
  const ts = await compileFile(file, precision, inputGrads, kernels, probes);
  const { toJsModule } = await import("../js-module.js");
  return toJsModule(ts);
}

export const commands = {
  compile: compileFile,
  compileJs: compileFileToJs,

  async inspect(file: string, stage: "ast" | "ir" | "grad" | "opt" | "ts", inputGrads?: string): Promise<string> {
    if (stage === "ts") return compileFile(file, "f32", inputGrads);
    if (stage === "ast") return printAst(frontEnd(read(file), file).ast);
    const { st } = stages(file, inputGrads);
    return printGraph(stage === "ir" ? st.ir : stage === "grad" ? st.grad : st.opt);
  },

  async lint(files: string[], format: "text" | "json" | "sarif"): Promise<{ output: string; errors: string; exitCode: number }> {
    const { runLint } = await import("./lint.js");
    return runLint(files, format, { color: format === "text" && pc.isColorSupported && process.stdout.isTTY === true });
  },

  async graph(file: string, out: string | undefined): Promise<{ output?: string; wrote?: string }> {
    read(file);
    const { runGraph } = await import("./graph.js");
    return runGraph(file, out);
  },

  async check(file: string, tolerance: number, seed: number): Promise<{ output: string; ok: boolean }> {
    const source = read(file);
    const { checkFile, formatCheck } = await import("../check/index.js");
    const report = await checkFile(source, file, { seed, tolerance });
    return { output: formatCheck(report, tolerance), ok: report.rows.every((r) => r.maxRelError <= tolerance) };
  },

  async demo(opts: { model: DemoModel; epochs?: number; steps?: number; out: string; saturation: boolean; probes?: boolean }): Promise<void> {
    const { runDemo } = await import("./demo.js");
    await runDemo(opts);
  },
};
