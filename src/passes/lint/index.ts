/**
 * The gradient linter: reads a model's forward IR before any training run and
 * says where gradients will be exactly zero, vanish or explode (spec section
 * 8). Each rule lives in its own file with a doc comment stating when it
 * fires, its severity, its message and its fix; the analyses they share
 * (gradient paths, intervals and moments, the seeded Monte Carlo sample, the
 * recurrence analysis) are computed once per model in a LintContext.
 *
 *   lint(graph, source)                    -> diagnostics of one model
 *   runLint(files, format, { color })      -> what `bpc lint` prints, and its exit code
 *   formatText / formatJson / formatSarif  -> the three output formats
 */
import { BpcError, formatDiagnostic } from "../../diag.js";
import type { Graph } from "../../ir/types.js";
import { frontEnd, readSource } from "../pipeline.js";
import { clipBeforeLoss } from "./clip-before-loss.js";
import { LintContext } from "./context.js";
import { deadRelu } from "./dead-relu.js";
import { explodingGradient } from "./exploding-gradient.js";
import { formatJson, formatSarif, formatText } from "./format.js";
import { noGradient } from "./no-gradient.js";
import { numericInstability } from "./numeric-instability.js";
import { saturation } from "./saturation.js";
import type { LintDiagnostic, Rule, RuleMeta } from "./types.js";
import { vanishingGradient } from "./vanishing-gradient.js";
import { zeroGradientOp } from "./zero-gradient-op.js";

export type { Edit, Fix, LintDiagnostic, RuleMeta, Severity } from "./types.js";
export { formatJson, formatSarif, formatText } from "./format.js";

/** Every rule, in the spec's order. */
export const RULES: readonly Rule[] = [
  clipBeforeLoss,
  zeroGradientOp,
  noGradient,
  saturation,
  deadRelu,
  explodingGradient,
  vanishingGradient,
  numericInstability,
];

export const RULE_META: readonly RuleMeta[] = RULES.map((r) => r.meta);

const ALLOW = /#\s*lint:\s*allow\s+([A-Za-z0-9_,\s-]+)/;

/**
 * The rules silenced on each line by `# lint: allow RULE`: the next line, as
 * the contract says; written after code, also the line it is on (where a
 * reader of `x = clip(..)  # lint: allow ...` expects it to apply).
 */
export function allowances(source: string): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>();
  source.split(/\r?\n/).forEach((text, i) => {
    const m = ALLOW.exec(text);
    if (!m) return;
    const rules = m[1].split(/[\s,]+/).filter(Boolean);
    const lines = text.slice(0, m.index).trim() === "" ? [i + 2] : [i + 1, i + 2];
    for (const line of lines) out.set(line, new Set([...(out.get(line) ?? []), ...rules]));
  });
  return out;
}

/** `# lint: allow` comments naming a rule that does not exist (a typo silences nothing). */
export function unknownAllowances(source: string, file: string): string[] {
  const known = new Set(RULE_META.map((r) => r.id));
  const out: string[] = [];
  source.split(/\r?\n/).forEach((text, i) => {
    const m = ALLOW.exec(text);
    if (!m) return;
    for (const rule of m[1].split(/[\s,]+/).filter(Boolean)) {
      if (!known.has(rule)) {
        out.push(`${file}:${i + 1}:${text.indexOf(rule) + 1}: warning: '# lint: allow' names no rule '${rule}'; the rules are: ${[...known].join(", ")}`);
      }
    }
  });
  return out;
}

/** Lints one model's forward IR. Diagnostics are sorted by position, duplicates (a def inlined twice) merged. */
export function lint(graph: Graph, source: string): LintDiagnostic[] {
  return lintCounted(graph, source).diagnostics;
}

/** `lint`, and how many findings `# lint: allow` comments silenced. */
export function lintCounted(graph: Graph, source: string): { diagnostics: LintDiagnostic[]; silenced: number } {
  const ctx = new LintContext(graph, source);
  const found: LintDiagnostic[] = [];
  for (const rule of RULES) {
    try {
      found.push(...rule.run(ctx));
    } catch (e) {
      // A rule that cannot analyse an unusual model stays silent rather than
      // take the other rules down with it; tests run with BPC_LINT_STRICT=1.
      if (process.env.BPC_LINT_STRICT) throw e;
    }
  }
  const allow = allowances(source);
  const order = new Map(graph.params.map((p, i) => [p.name ?? "", i] as const));
  const merged = new Map<string, LintDiagnostic>();
  const silenced = new Set<string>();
  for (const d of found) {
    const key0 = `${d.rule}@${d.span.line}:${d.span.col}`;
    if (allow.get(d.span.line)?.has(d.rule)) {
      silenced.add(key0);
      continue;
    }
    const key = `${d.rule}@${d.span.line}:${d.span.col}-${d.span.endLine}:${d.span.endCol}`;
    const prev = merged.get(key);
    if (!prev) merged.set(key, { ...d, params: [...d.params] });
    else prev.params = [...new Set([...prev.params, ...d.params])].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  }
  const rank = new Map(RULES.map((r, i) => [r.meta.id, i] as const));
  const diagnostics = [...merged.values()].sort(
    (a, b) => a.span.line - b.span.line || a.span.col - b.span.col || (rank.get(a.rule) ?? 0) - (rank.get(b.rule) ?? 0),
  );
  return { diagnostics, silenced: silenced.size };
}

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
      const { ir } = frontEnd(source, file);
      const found = lintCounted(ir, source);
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
