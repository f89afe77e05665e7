// `bpc graph FILE [-o OUT.svg|OUT.dot]`: draws the computational graph of a
// model, forward in black and backward in red.
import { writeFileSync } from "node:fs";
import { extname } from "node:path";
import { BpcError, noSpan } from "../diag.js";
import type { GradOptions } from "../passes/autodiff.js";
import { compileStages } from "../passes/pipeline.js";
import { toDot } from "../viz/dot.js";
import { renderSvg } from "../viz/svg.js";
import { readSource } from "./read.js";

/**
 * Compiles FILE and draws its simplified forward + backward graph.
 *
 * - `out` ending in `.svg`: renders SVG in-process and writes it to `out`.
 * - `out` ending in `.dot` (or `.gv`): writes the DOT source to `out`.
 * - no `out`: returns the DOT source as `output`, for the CLI to print on
 *   stdout, as `dot`-style tools do, so it pipes (`bpc graph m.bp | dot -Tpng`).
 *
 * Returns `{ wrote: out }` when a file was written. Compile errors and an
 * unknown extension are thrown as BpcError. `opts.inputGrads` is passed to
 * autodiff, as `--input-grads` does for the other commands.
 */
export async function runGraph(
  file: string,
  out: string | undefined,
  opts: GradOptions = {},
): Promise<{ output?: string; wrote?: string }> {
  const ext = out === undefined ? undefined : extname(out).toLowerCase();
  if (ext !== undefined && ext !== ".svg" && ext !== ".dot" && ext !== ".gv") {
    throw new BpcError(`cannot tell the format of '${out}': name it .svg or .dot`, { ...noSpan, file: out ?? file });
  }
  const { opt } = compileStages(readSource(file), file, opts);
  const dot = toDot(opt);
  if (out === undefined) return { output: dot };
  const text = ext === ".svg" ? await renderSvg(dot) : dot;
  try {
    writeFileSync(out, text);
  } catch (e) {
    throw new BpcError(`cannot write ${out}: ${(e as Error).message}`, { ...noSpan, file: out });
  }
  return { wrote: out };
}
