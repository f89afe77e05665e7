// `bpc lint FILE... --format F`: reads each file, lints it with the library
// (src/lint), and decides what is printed where and the exit code.
import { BpcError, formatDiagnostic } from "../diag.js";
import { formatJson, formatSarif, formatText, lintSource, RULE_META, unknownAllowances, type LintDiagnostic } from "../lint/index.js";
import { readSource } from "./read.js";

export interface LintRun {
  /** What to print on stdout. */
  output: string;
  /** 0: clean or warnings only; 1: an error-level diagnostic; 2: a file could not be read or compiled. */
  exitCode: number;
  /** Positioned messages for files that could not be linted (for stderr). */
  errors: string;
  diagnostics: LintDiagnostic[];
}

/** `bpc lint FILE... --format F`: reads, compiles and lints each file. */
export function runLint(files: string[], format: "text" | "json" | "sarif", opts: { color: boolean }): LintRun {
  const diagnostics: LintDiagnostic[] = [];
  const sources = new Map<string, string>();
  const errors: string[] = [];
  const notes: string[] = [];
  let failed = 0;
  let silenced = 0;
  for (const file of files) {
    let source: string | undefined;
    try {
      source = readSource(file);
      sources.set(file, source);
      notes.push(...unknownAllowances(source, file));
      const found = lintSource(source, file);
      diagnostics.push(...found.diagnostics);
      silenced += found.silenced;
    } catch (e) {
      if (!(e instanceof BpcError)) throw e;
      failed++;
      for (const d of e.diagnostics) errors.push(formatDiagnostic(d, source, opts.color));
    }
  }
  const output =
    format === "json"
      ? formatJson(diagnostics)
      : format === "sarif"
        ? formatSarif(diagnostics, RULE_META)
        : failed === files.length
          ? ""
          : formatText(diagnostics, sources, { color: opts.color, files: files.length - failed, silenced });
  const exitCode = errors.length ? 2 : diagnostics.some((d) => d.severity === "error") ? 1 : 0;
  const stderr = [...notes, ...errors];
  return { output, exitCode, errors: stderr.length ? stderr.join("\n\n") + "\n" : "", diagnostics };
}
