/**
 * The linter's three output formats:
 *   - text: `file:line:col: severity[rule]: message`, a code frame with the
 *     span underlined, the affected params and the fix, then a summary line;
 *   - json: the spec's schema, `{"diagnostics": [{"rule", "severity",
 *     "message", "file", "line", "column", "endLine", "endColumn", "params",
 *     "fix"}]}` (columns 1-based, endColumn exclusive, fix a sentence; line
 *     0 for a finding about the whole file, such as a rule that failed);
 *   - sarif: SARIF 2.1.0, one run, the rules' metadata in the driver,
 *     locations as regions, mechanical rewrites as `fixes`.
 */
import { codeFrameColumns } from "@babel/code-frame";
import { createColors } from "picocolors";
import type { LintDiagnostic, RuleMeta } from "./types.js";

export type Sources = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

function sourceOf(sources: Sources, file: string): string | undefined {
  return sources instanceof Map ? sources.get(file) : (sources as Record<string, string>)[file];
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function formatText(
  diags: readonly LintDiagnostic[],
  sources: Sources,
  opts: { color: boolean; files?: number; silenced?: number } = { color: false },
): string {
  const c = createColors(opts.color);
  const out: string[] = [];
  for (const d of diags) {
    const s = d.span;
    const sev = d.severity === "error" ? c.red(c.bold("error")) : c.yellow(c.bold("warning"));
    // Line 0: about the whole file (a rule that failed), with no position to show.
    const at = s.line > 0 ? `${s.file}:${s.line}:${s.col}` : s.file;
    out.push(`${c.bold(at)}: ${sev}${c.dim(`[${d.rule}]`)}: ${d.message}`);
    const src = sourceOf(sources, s.file);
    if (src !== undefined && s.line > 0) {
      const sameLine = s.endLine === s.line;
      const endCol = sameLine ? Math.max(s.endCol, s.col + 1) : (src.split(/\r?\n/)[s.line - 1] ?? "").length + 1;
      out.push(
        codeFrameColumns(src, { start: { line: s.line, column: s.col }, end: { line: s.line, column: endCol } }, {
          highlightCode: opts.color,
          forceColor: opts.color,
          linesAbove: 1,
          linesBelow: 0,
        }),
      );
    }
    if (d.params.length) out.push(`  ${c.cyan("= params:")} ${d.params.join(", ")}`);
    out.push(`  ${c.cyan("= fix:")} ${d.fix.description}`);
    out.push("");
  }
  const errors = diags.filter((d) => d.severity === "error").length;
  const warnings = diags.length - errors;
  const files = opts.files ?? new Set(diags.map((d) => d.span.file)).size;
  const where = `in ${plural(files, "file")}${opts.silenced ? ` (${opts.silenced} silenced by # lint: allow)` : ""}`;
  if (diags.length === 0) out.push(c.green(`no gradient problems found ${where}`));
  else {
    const parts = [errors ? c.red(plural(errors, "error")) : "", warnings ? c.yellow(plural(warnings, "warning")) : ""].filter(Boolean);
    out.push(`${c.bold(parts.join(", "))} ${where}`);
  }
  return out.join("\n") + "\n";
}

export interface JsonDiagnostic {
  rule: string;
  severity: "error" | "warning";
  message: string;
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  params: string[];
  fix: string;
}

export function toJson(d: LintDiagnostic): JsonDiagnostic {
  return {
    rule: d.rule,
    severity: d.severity,
    message: d.message,
    file: d.span.file,
    line: d.span.line,
    column: d.span.col,
    endLine: d.span.endLine,
    endColumn: d.span.endCol,
    params: d.params,
    fix: d.fix.description,
  };
}

export function formatJson(diags: readonly LintDiagnostic[]): string {
  return JSON.stringify({ diagnostics: diags.map(toJson) }, null, 2) + "\n";
}

/**
 * A SARIF artifact URI: relative paths as URI references, absolute ones
 * (POSIX, or a Windows drive) as file: URLs, normalised and encoded as Node's
 * pathToFileURL does, without Node (the linter also runs in a browser).
 */
export function artifactUri(file: string): string {
  const drive = /^[A-Za-z]:[\\/]/.test(file);
  if (!drive && !file.startsWith("/")) return file.split(/[\\/]/).map(encodeURIComponent).join("/");
  const parts: string[] = [];
  for (const p of (drive ? file.replace(/\\/g, "/") : file).split("/")) {
    if (p === "..") parts.pop();
    else if (p !== "" && p !== ".") parts.push(p);
  }
  const url = new URL("file://");
  // The URL setter leaves these as they are; pathToFileURL encodes them.
  url.pathname = `/${parts.join("/")}`.replace(/[%\\\n\r\t^|[\]~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
  return url.href;
}

function region(s: { line: number; col: number; endLine: number; endCol: number }) {
  const line = Math.max(1, s.line);
  return {
    startLine: line,
    startColumn: Math.max(1, s.col),
    endLine: Math.max(line, s.endLine),
    endColumn: Math.max(1, s.endCol),
  };
}

const pascal = (id: string): string => id.replace(/(^|-)(\w)/g, (_m, _d, ch: string) => ch.toUpperCase());

export function formatSarif(diags: readonly LintDiagnostic[], ruleMeta: readonly RuleMeta[], opts: { version?: string } = {}): string {
  const ruleIndex = new Map(ruleMeta.map((r, i) => [r.id, i] as const));
  const files = [...new Set(diags.map((d) => d.span.file))];
  const fileIndex = new Map(files.map((f, i) => [f, i] as const));
  const log = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "bpc",
            fullName: "bpc gradient linter",
            version: opts.version ?? "0.1.0",
            rules: ruleMeta.map((r) => ({
              id: r.id,
              name: pascal(r.id),
              shortDescription: { text: r.summary },
              fullDescription: { text: r.summary },
              help: { text: r.help },
              defaultConfiguration: { level: r.severity },
              properties: { tags: ["gradient"] },
            })),
          },
        },
        artifacts: files.map((f) => ({ location: { uri: artifactUri(f) } })),
        columnKind: "utf16CodeUnits",
        results: diags.map((d) => {
          const loc = { uri: artifactUri(d.span.file), index: fileIndex.get(d.span.file)! };
          const result: Record<string, unknown> = {
            ruleId: d.rule,
            level: d.severity,
            message: { text: d.message },
            locations: [{ physicalLocation: d.span.line > 0 ? { artifactLocation: loc, region: region(d.span) } : { artifactLocation: loc } }],
            properties: { params: d.params, fix: d.fix.description },
          };
          const idx = ruleIndex.get(d.rule);
          if (idx !== undefined) result.ruleIndex = idx;
          if (d.fix.edits?.length) {
            result.fixes = [
              {
                description: { text: d.fix.description },
                artifactChanges: [
                  {
                    artifactLocation: loc,
                    replacements: d.fix.edits.map((e) => ({ deletedRegion: region(e.span), insertedContent: { text: e.text } })),
                  },
                ],
              },
            ];
          }
          return result;
        }),
      },
    ],
  };
  return JSON.stringify(log, null, 2) + "\n";
}
