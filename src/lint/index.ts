/**
 * The gradient linter: reads a model's forward IR before any training run and
 * says where gradients will be exactly zero, vanish or explode (spec section
 * 8). Each rule lives in its own file with a doc comment stating when it
 * fires, its severity, its message and its fix; the analyses they share
 * (gradient paths, intervals and moments, the seeded Monte Carlo sample, the
 * recurrence analysis) are computed once per model in a LintContext.
 *
 *   lint(graph, source)                    -> diagnostics of one model
 *   lintSource(source, file)               -> the same, from source text
 *   formatText / formatJson / formatSarif  -> the three output formats
 *
 * A rule that throws does not hide its failure: it becomes an error-level
 * `internal` diagnostic naming the rule, and the other rules still run.
 * `bpc lint` (src/cli/lint.ts) reads the files and sets the exit code.
 */
import type { Graph } from "../ir/types.js";
import { frontEnd } from "../passes/pipeline.js";
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

/** A rule that threw, and what it threw. */
export interface RuleCrash {
  rule: string;
  error: unknown;
}

/** The finding that stands for a rule that threw: its findings are missing, and the user must know. */
function crashDiagnostic(crash: RuleCrash, file: string): LintDiagnostic {
  const why = crash.error instanceof Error ? crash.error.message : String(crash.error);
  return {
    rule: "internal",
    severity: "error",
    message: `the rule '${crash.rule}' failed on this model, so its findings are missing: ${why}`,
    span: { file, line: 0, col: 0, endLine: 0, endCol: 0 },
    params: [],
    fix: { description: "this is a bug in bpc, please report it with this model; the other rules ran" },
  };
}

/**
 * `lint`, how many findings `# lint: allow` comments silenced, and the rules
 * that threw (each also an `internal` diagnostic; `error` keeps the stack).
 */
export function lintCounted(graph: Graph, source: string): { diagnostics: LintDiagnostic[]; silenced: number; crashes: RuleCrash[] } {
  const ctx = new LintContext(graph, source);
  const found: LintDiagnostic[] = [];
  const crashes: RuleCrash[] = [];
  for (const rule of RULES) {
    try {
      found.push(...rule.run(ctx));
    } catch (error) {
      // One rule's failure must not take the others down, nor go unseen.
      crashes.push({ rule: rule.meta.id, error });
      found.push(crashDiagnostic(crashes[crashes.length - 1], graph.file));
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
  return { diagnostics, silenced: silenced.size, crashes };
}

/** Compiles and lints one model's source text (`file` names it in spans); a compile error throws a BpcError. */
export function lintSource(source: string, file: string): { diagnostics: LintDiagnostic[]; silenced: number; crashes: RuleCrash[] } {
  return lintCounted(frontEnd(source, file).ir, source);
}
