// Positions and user-facing errors. Every error a user can cause is a
// BpcError carrying the span of the text that caused it; the CLI prints it as
// `file:line:column: message` with a code frame, never as a stack trace.
import { codeFrameColumns } from "@babel/code-frame";

/** A region of a .bp source file. Lines and columns are 1-based; end is exclusive. */
export interface Span {
  file: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  /** For code inlined from a `def`: the call that brought it in (the outermost, when calls nest). */
  via?: Span;
}

export const noSpan: Span = { file: "<builtin>", line: 0, col: 0, endLine: 0, endCol: 0 };

export function joinSpans(a: Span, b: Span): Span {
  return { file: a.file, line: a.line, col: a.col, endLine: b.endLine, endCol: b.endCol };
}

export function spanLabel(s: Span): string {
  return `${s.file}:${s.line}:${s.col}`;
}

export interface Diagnostic {
  message: string;
  span: Span;
  /** Extra lines printed after the frame, e.g. "expected one of: ..." */
  notes?: string[];
}

/** An error caused by the user's input (source text, arguments, files). */
export class BpcError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(message: string, span: Span, notes?: string[]) {
    super(message);
    this.name = "BpcError";
    this.diagnostics = [{ message, span, notes }];
  }
  get span(): Span {
    return this.diagnostics[0].span;
  }
}

/** Renders a diagnostic as `file:line:col: message` plus a code frame. */
export function formatDiagnostic(d: Diagnostic, source: string | undefined, color = false): string {
  const head = d.span.line > 0 ? `${spanLabel(d.span)}: error: ${d.message}` : `${d.span.file}: error: ${d.message}`;
  const parts = [head];
  if (source !== undefined && d.span.line > 0) {
    const sameLine = d.span.endLine === d.span.line;
    const end = sameLine
      ? { line: d.span.line, column: Math.max(d.span.endCol, d.span.col + 1) }
      : { line: d.span.line, column: lineLength(source, d.span.line) + 1 };
    parts.push(
      codeFrameColumns(source, { start: { line: d.span.line, column: d.span.col }, end }, {
        highlightCode: color,
        forceColor: color,
        linesAbove: 1,
        linesBelow: 0,
      }),
    );
  }
  for (const n of d.notes ?? []) parts.push(n);
  return parts.join("\n");
}

function lineLength(source: string, line: number): number {
  return (source.split(/\r?\n/)[line - 1] ?? "").length;
}
