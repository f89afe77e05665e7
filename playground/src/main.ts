// The playground page: the editor with live lint, the compiler's stages in
// tabs, the graph, and the train panel.
import type { Diagnostic } from "bpc";
import { CodePane, createEditor, reveal, revealLine, setSource, type LintRun } from "./editor.js";
import { DEFAULT_EXAMPLE, EXAMPLES } from "./examples.js";
import { sourceFromUrl, sourceToUrl } from "./share.js";
import { Stages } from "./stages.js";
import { TrainPanel } from "./train.js";
import "./style.css";

type View = "ir" | "grad" | "opt" | "ts" | "graph";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const stages = new Stages();
const train = new TrainPanel(stages);
// Clicking a listing's line selects the .bp line it came from.
const codePane = new CodePane($("code"), (line) => revealLine(editor, line));
let view: View = "grad";
let source = "";
let urlTimer = 0;
let viewTimer = 0;
/** What the code pane shows: the view and source it was made from. */
let shown: { view: View; source: string } | null = null;
/** A new model was loaded (menu): the pane opens at its start rather than where it was. */
let freshModel = false;

// ---- examples menu ----
const menu = $<HTMLSelectElement>("examples");
const groups = new Map<string, HTMLOptGroupElement>();
for (const ex of EXAMPLES) {
  let g = groups.get(ex.group);
  if (!g) {
    g = document.createElement("optgroup");
    g.label = ex.group;
    groups.set(ex.group, g);
    menu.append(g);
  }
  g.append(new Option(`${ex.name}.bp`, ex.name));
}
const custom = new Option("(edited)", "", false, false);
custom.disabled = true;
menu.prepend(custom);

function selectExample(src: string): void {
  const match = EXAMPLES.find((e) => e.source === src);
  menu.value = match ? match.name : "";
}

// ---- editor and diagnostics ----
const initial = sourceFromUrl() ?? DEFAULT_EXAMPLE.source;
const editor = createEditor($("editor"), initial, showDiagnostics, (src) => {
  source = src;
  selectExample(src);
  clearTimeout(urlTimer);
  urlTimer = window.setTimeout(() => sourceToUrl(src), 300);
  scheduleView();
});
source = initial;
selectExample(initial);

menu.onchange = () => {
  const ex = EXAMPLES.find((e) => e.name === menu.value);
  if (!ex) return;
  freshModel = true;
  setSource(editor, ex.source);
};

function showDiagnostics(run: LintRun): void {
  const box = $("diagnostics");
  const compiles = !run.diagnostics.some((d) => d.rule === "compile-error");
  box.replaceChildren();
  const head = document.createElement("div");
  head.className = "diag-head";
  const errors = run.diagnostics.filter((d) => d.severity === "error").length;
  const warnings = run.diagnostics.length - errors;
  head.textContent = run.diagnostics.length
    ? `Problems: ${[errors && `${errors} error${errors > 1 ? "s" : ""}`, warnings && `${warnings} warning${warnings > 1 ? "s" : ""}`].filter(Boolean).join(", ")}`
    : "No problems: every parameter gets a gradient, nothing saturates or dies at init.";
  head.classList.toggle("clean", run.diagnostics.length === 0);
  box.append(head);
  for (const d of run.diagnostics) box.append(diagnosticItem(d));
  // The keystroke-to-diagnostics time, for the status line and the browser test.
  if (run.sinceEditMs !== null) box.dataset.latencyMs = run.sinceEditMs.toFixed(1);
  box.dataset.runs = String(Number(box.dataset.runs ?? 0) + 1);
  $("lint-status").textContent = `linted in ${run.lintMs.toFixed(0)} ms`;
  train.sourceChanged(run.source, compiles);
}

function diagnosticItem(d: Diagnostic): HTMLElement {
  const item = document.createElement("button");
  item.type = "button";
  item.className = `diag ${d.severity}`;
  item.dataset.rule = d.rule;
  const top = document.createElement("div");
  top.className = "diag-top";
  const sev = document.createElement("span");
  sev.className = "sev";
  sev.textContent = d.severity;
  const rule = document.createElement("span");
  rule.className = "rule";
  rule.textContent = d.rule;
  const where = document.createElement("span");
  where.className = "where";
  where.textContent = d.line > 0 ? `line ${d.line}:${d.column}` : "";
  top.append(sev, rule, where);
  const msg = document.createElement("div");
  msg.className = "msg";
  msg.textContent = d.message;
  item.append(top, msg);
  if (d.fix) {
    const fix = document.createElement("div");
    fix.className = "fix";
    fix.textContent = `Fix: ${d.fix}`;
    item.append(fix);
  }
  item.onclick = () => reveal(editor, d);
  return item;
}

// ---- stage tabs and graph ----
const tabs = [...document.querySelectorAll<HTMLButtonElement>("[data-view]")];
for (const t of tabs) t.onclick = () => selectView(t.dataset.view as View);

function selectView(v: View): void {
  view = v;
  for (const t of tabs) t.setAttribute("aria-selected", String(t.dataset.view === v));
  $("code").hidden = v === "graph";
  $("graph").hidden = v !== "graph";
  void refreshView();
}

function scheduleView(): void {
  clearTimeout(viewTimer);
  viewTimer = window.setTimeout(() => void refreshView(), 250);
}

async function refreshView(): Promise<void> {
  const v = view;
  const src = source;
  if (shown && shown.view === v && shown.source === src) return;
  const status = $("view-status");
  status.textContent = "compiling…";
  const result = v === "graph" ? await stages.run({ kind: "graph" }, src) : await stages.run({ kind: "inspect", stage: v }, src);
  if (v !== view || src !== source) return; // superseded
  const err = $("view-error");
  if (!result.ok) {
    // Keep the last good output, marked out of date.
    err.hidden = false;
    err.textContent = `${result.line ? `line ${result.line}:${result.column}: ` : ""}${result.error}${shown ? " (showing the last version that compiled)" : ""}`;
    status.textContent = "";
    return;
  }
  err.hidden = true;
  status.textContent = `${result.ms.toFixed(0)} ms`;
  if (v === "graph") {
    $("graph-svg").innerHTML = result.text;
  } else {
    // The backward stages open at their backward half; the forward half above it is the IR tab's.
    const keep = shown?.view === v && !freshModel;
    codePane.show(result.text, v === "ts" ? "ts" : "ir", keep, v === "grad" || v === "opt" ? "# backward" : undefined);
    freshModel = false;
  }
  $(v === "graph" ? "graph" : "code").dataset.view = v;
  shown = { view: v, source: src };
}

$("graph-zoom").onclick = () => {
  const box = $("graph-svg");
  box.classList.toggle("actual");
  $("graph-zoom").textContent = box.classList.contains("actual") ? "Fit" : "Actual size";
};

// ---- share ----
$("share").onclick = async () => {
  sourceToUrl(source);
  const btn = $<HTMLButtonElement>("share");
  try {
    await navigator.clipboard.writeText(location.href);
    btn.textContent = "Link copied";
  } catch {
    btn.textContent = "Link is in the address bar";
  }
  setTimeout(() => (btn.textContent = "Share"), 1800);
};

selectView(view);
