// The work behind each CLI command, as functions that return text, so tests
// can call them without spawning processes.
// Heavy modules (prettier, graphviz, the linter) load on first use, so
// `bpc --help` starts fast.
import pc from "picocolors";
import { BpcError, noSpan } from "../diag.js";
import { printGraph } from "../ir/print.js";
import type { Graph } from "../ir/types.js";
import { printAst } from "../frontend/parser/print.js";
import { backEnd, frontEnd, readSource, type Stages } from "../passes/pipeline.js";

/** Sources read during this run, so an error can show its code frame. */
export const sources = new Map<string, string>();

function read(file: string): string {
  const text = readSource(file);
  sources.set(file, text);
  return text;
}

/** Resolves `--input-grads all|a,b` against the model's float inputs. */
export function inputGradNames(g: Graph, spec: string | undefined): string[] {
  if (!spec) return [];
  const floats = g.inputs.filter((n) => n.dtype === "float").map((n) => n.name as string);
  if (spec === "all") return floats;
  const names = spec.split(",").map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    const inp = g.inputs.find((x) => x.name === n);
    if (!inp) {
      throw new BpcError(`--input-grads: '${n}' is not an input of this model (its inputs: ${g.inputs.map((x) => x.name).join(", ")})`, { ...noSpan, file: g.file });
    }
    if (inp.dtype !== "float") throw new BpcError(`--input-grads: '${n}' is an int input; only float inputs have gradients`, inp.span);
  }
  return names;
}

/** Parses, lowers and differentiates once, resolving --input-grads against the model's inputs. */
function stages(file: string, inputGrads: string | undefined): { st: Stages; names: string[] } {
  const front = frontEnd(read(file), file);
  const names = inputGradNames(front.ir, inputGrads);
  return { st: backEnd(front, { inputGrads: names }), names };
}

export async function compileFile(file: string, precision: "f32" | "f64", inputGrads?: string, kernels: "simd" | "js" = "simd"): Promise<string> {
  const { st, names } = stages(file, inputGrads);
  const { emitModule } = await import("../codegen/emit.js");
  return emitModule(st.opt, { precision, inputGrads: names, kernels });
}

export const commands = {
  compile: compileFile,

  async inspect(file: string, stage: "ast" | "ir" | "grad" | "opt" | "ts", inputGrads?: string): Promise<string> {
    if (stage === "ts") return compileFile(file, "f32", inputGrads);
    if (stage === "ast") return printAst(frontEnd(read(file), file).ast);
    const { st } = stages(file, inputGrads);
    return printGraph(stage === "ir" ? st.ir : stage === "grad" ? st.grad : st.opt);
  },

  async lint(files: string[], format: "text" | "json" | "sarif"): Promise<{ output: string; errors: string; exitCode: number }> {
    const { runLint } = await import("../passes/lint/index.js");
    return runLint(files, format, { color: format === "text" && pc.isColorSupported && process.stdout.isTTY === true });
  },

  async graph(file: string, out: string | undefined): Promise<{ output?: string; wrote?: string }> {
    read(file);
    const { runGraph } = await import("../viz/graph-command.js");
    return runGraph(file, out);
  },

  async check(file: string, tolerance: number, seed: number): Promise<{ output: string; ok: boolean }> {
    const source = read(file);
    const { checkFile, formatCheck } = await import("./check.js");
    const report = await checkFile(source, file, { seed, tolerance });
    return { output: formatCheck(report, tolerance), ok: report.rows.every((r) => r.maxRelError <= tolerance) };
  },

  async demo(opts: { epochs: number; out: string; saturation: boolean }): Promise<void> {
    const { runDemo } = await import("./demo.js");
    await runDemo(opts);
  },
};
