// Test helper: the linter, where a rule that throws fails the test with its
// own error and stack, instead of the `internal` finding a user sees.
import type { Graph } from "../../src/ir/types.js";
import { lintCounted, type LintDiagnostic } from "../../src/lint/index.js";

export function lint(graph: Graph, source: string): LintDiagnostic[] {
  const { diagnostics, crashes } = lintCounted(graph, source);
  if (crashes.length) throw crashes[0].error;
  return diagnostics;
}
