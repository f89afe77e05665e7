// The linter's data types: a diagnostic, its fix, a rule's metadata, and the
// shape of a rule (a function from the shared analyses to diagnostics).
import type { Span } from "../diag.js";
import type { LintContext } from "./context.js";

export type Severity = "error" | "warning";

/** A text replacement in the linted file: `span` is replaced by `text`. */
export interface Edit {
  span: Span;
  text: string;
}

/** What to change. `edits` is present when the rewrite is mechanical. */
export interface Fix {
  description: string;
  edits?: Edit[];
}

export interface LintDiagnostic {
  rule: string;
  severity: Severity;
  message: string;
  /** The responsible expression. Lines and columns are 1-based; the end is exclusive. */
  span: Span;
  /** Parameters whose gradient is affected, in declaration order. */
  params: string[];
  fix: Fix;
}

export interface RuleMeta {
  id: string;
  severity: Severity;
  /** One line: when the rule fires. */
  summary: string;
  /** Why it matters and what to do, for SARIF's help text. */
  help: string;
}

export interface Rule {
  meta: RuleMeta;
  run(ctx: LintContext): LintDiagnostic[];
}
