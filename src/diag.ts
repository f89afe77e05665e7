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

const MAX_FRAME_WIDTH = 160;

/** Renders a diagnostic as `file:line:col: message` plus a code frame. */
export function formatDiagnostic(d: Diagnostic, source: string | undefined, color = false): string {
  const head = d.span.line > 0 ? `${spanLabel(d.span)}: error: ${d.message}` : `${d.span.file}: error: ${d.message}`;
  const parts = [head];
  if (source !== undefined && d.span.line > 0) {
    const sameLine = d.span.endLine === d.span.line;
    let col = d.span.col;
    let endCol = sameLine ? Math.max(d.span.endCol, d.span.col + 1) : lineLength(source, d.span.line) + 1;
    // Very long lines are shown as a window around the span.
    const lines = source.split(/\r?\n/);
    const text = lines[d.span.line - 1] ?? "";
    if (text.length > MAX_FRAME_WIDTH) {
      const from = Math.max(0, col - 1 - MAX_FRAME_WIDTH / 2);
      lines[d.span.line - 1] = (from > 0 ? "…" : "") + text.slice(from, from + MAX_FRAME_WIDTH) + (from + MAX_FRAME_WIDTH < text.length ? "…" : "");
      const shift = from - (from > 0 ? 1 : 0);
      col -= shift;
      endCol = Math.min(endCol - shift, MAX_FRAME_WIDTH + 2);
    }
    const shown = lines.map((l, i) => (i === d.span.line - 1 || l.length <= MAX_FRAME_WIDTH ? l : l.slice(0, MAX_FRAME_WIDTH) + "…")).join("\n");
    const end = { line: d.span.line, column: endCol };
    parts.push(
      codeFrameColumns(shown, { start: { line: d.span.line, column: col }, end }, {
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
