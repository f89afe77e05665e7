// The .bp editor (CodeMirror 6) with the compiler's `lint` as its linter, and
// the read-only panes that show the compiler's stages.
import { javascript } from "@codemirror/lang-javascript";
import { indentUnit } from "@codemirror/language";
import { lintGutter, linter, type Diagnostic as CmDiagnostic } from "@codemirror/lint";
import { Compartment, EditorState, type Extension, type Text } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { basicSetup } from "codemirror";
import { lint, type Diagnostic } from "bpc";
import { bpHighlight, bpLanguage, irLanguage } from "./languages.js";

export const FILE = "model.bp";

/** What one lint run found, with its timing. */
export interface LintRun {
  source: string;
  diagnostics: Diagnostic[];
  /** Time spent in `lint`. */
  lintMs: number;
  /** From the last edit of the document to these diagnostics being ready (null for the first run). */
  sinceEditMs: number | null;
}

const theme = EditorView.theme({
  "&": { height: "100%", fontSize: "13px", backgroundColor: "#fff" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.55" },
  ".cm-gutters": { backgroundColor: "#f8fafc", color: "#94a3b8", borderRight: "1px solid #e2e8f0" },
  ".cm-activeLineGutter": { backgroundColor: "#eef2ff", color: "#475569" },
  // Translucent: the selection layer is drawn under the lines.
  ".cm-activeLine": { backgroundColor: "rgba(79, 70, 229, 0.045)" },
  "&.cm-focused": { outline: "none" },
  // Visible without the focus too: a click in a listing selects its .bp line here.
  ".cm-selectionBackground": { background: "#d8deff !important" },
  "&.cm-focused .cm-selectionBackground": { background: "#c7d2fe !important" },
  ".cm-tooltip-lint": { maxWidth: "min(560px, 90vw)", fontSize: "12.5px", lineHeight: "1.45" },
  ".cm-diagnosticText": { whiteSpace: "pre-wrap" },
});

/** A document position for a 1-based line and column, clamped into the document. */
export function position(doc: Text, line: number, column: number): number {
  if (line < 1) return 0;
  if (line > doc.lines) return doc.length;
  const l = doc.line(line);
  return Math.min(l.to, l.from + Math.max(0, column - 1));
}

function toCodeMirror(doc: Text, d: Diagnostic): CmDiagnostic {
  const from = position(doc, d.line, d.column);
  let to = position(doc, d.endLine, d.endColumn);
  if (to <= from) to = Math.min(doc.length, from + 1);
  const severity = d.severity === "error" ? "error" : d.severity === "warning" ? "warning" : "info";
  const rule = d.rule === "compile-error" ? "" : `${d.rule}: `;
  return { from, to, severity, source: d.rule, message: `${rule}${d.message}${d.fix ? `\n\nFix: ${d.fix}` : ""}` };
}

/** The .bp editor; `onLint` sees every lint run, `onChange` every edit. */
export function createEditor(
  parent: HTMLElement,
  doc: string,
  onLint: (run: LintRun) => void,
  onChange: (source: string) => void,
): EditorView {
  let lastEdit: number | null = null;
  const extensions: Extension[] = [
    basicSetup,
    indentUnit.of("  "),
    bpLanguage,
    bpHighlight,
    theme,
    EditorView.lineWrapping,
    lintGutter(),
    linter(
      (view) => {
        const source = view.state.doc.toString();
        const t0 = performance.now();
        const diagnostics = lint(source, { file: FILE });
        const t1 = performance.now();
        onLint({ source, diagnostics, lintMs: t1 - t0, sinceEditMs: lastEdit === null ? null : t1 - lastEdit });
        return diagnostics.map((d) => toCodeMirror(view.state.doc, d));
      },
      // Short: the findings should follow typing within 300 ms, and lint takes tens of ms.
      { delay: 100 },
    ),
    EditorView.updateListener.of((u) => {
      if (!u.docChanged) return;
      lastEdit = performance.now();
      onChange(u.state.doc.toString());
    }),
    EditorView.contentAttributes.of({ "aria-label": "model source (.bp)" }),
  ];
  return new EditorView({ parent, state: EditorState.create({ doc, extensions }) });
}

/** Replaces the whole document (an example, a shared link). */
export function setSource(view: EditorView, source: string): void {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: source }, selection: { anchor: 0 } });
  view.scrollDOM.scrollTop = 0;
}

/** Selects a whole source line (from a listing's `# line N`) without taking the focus. */
export function revealLine(view: EditorView, line: number): void {
  if (line < 1 || line > view.state.doc.lines) return;
  const l = view.state.doc.line(line);
  view.dispatch({ selection: { anchor: l.from, head: l.to }, effects: EditorView.scrollIntoView(l.from, { y: "center" }) });
}

/** Selects a diagnostic's span in the editor and scrolls it into view. */
export function reveal(view: EditorView, d: Diagnostic): void {
  const doc = view.state.doc;
  const from = position(doc, d.line, d.column);
  const to = Math.max(from, position(doc, d.endLine, d.endColumn));
  view.dispatch({ selection: { anchor: from, head: to }, scrollIntoView: true });
  view.focus();
}

export type PaneLanguage = "ir" | "ts";

/** The .bp line a listing's line comes from: IR's `# line 19`, generated code's `// line 19: ...`. */
const SOURCE_LINE = /(?:#|\/\/)(?: grad of)? line (\d+)\b/;

/**
 * A read-only code pane whose language can switch between IR listings and
 * TypeScript. Clicking a line that names its .bp line calls `onSourceLine`.
 */
export class CodePane {
  readonly view: EditorView;
  private readonly language = new Compartment();

  constructor(parent: HTMLElement, onSourceLine: (line: number) => void) {
    this.view = new EditorView({
      parent,
      state: EditorState.create({
        doc: "",
        extensions: [
          basicSetup,
          EditorState.readOnly.of(true),
          EditorView.editable.of(false),
          EditorView.contentAttributes.of({ tabindex: "0" }),
          this.language.of(irLanguage),
          bpHighlight,
          theme,
          EditorView.domEventHandlers({
            click: (_e, view) => {
              const m = SOURCE_LINE.exec(view.state.doc.lineAt(view.state.selection.main.head).text);
              if (m) onSourceLine(Number(m[1]));
            },
          }),
        ],
      }),
    });
  }

  /** Shows `text`; keeps the scroll position, or else scrolls to the first line starting with `anchor`. */
  show(text: string, lang: PaneLanguage, keepScroll: boolean, anchor?: string): void {
    // The line at the top of the pane, to put back there after the text is replaced.
    const topLine = this.view.state.doc.lineAt(this.view.lineBlockAtHeight(this.view.scrollDOM.scrollTop).from).number;
    this.view.dispatch({
      changes: { from: 0, to: this.view.state.doc.length, insert: text },
      effects: this.language.reconfigure(lang === "ts" ? javascript({ typescript: true }) : irLanguage),
    });
    const doc = this.view.state.doc;
    let at = 0;
    if (keepScroll) at = doc.line(Math.min(topLine, doc.lines)).from;
    else if (anchor !== undefined) at = Math.max(0, text.search(new RegExp(`^${anchor}`, "m")));
    this.view.dispatch({ effects: EditorView.scrollIntoView(at, { y: "start" }) });
  }
}
