// The probes panel: what the train worker reports of the module's `probe`
// and `monitor` (spec section 12), drawn as small bars, figures and strips.
import type { ProbeReport } from "./protocol.js";

// monitor()'s default thresholds: a bar this full is one of its findings.
const DEAD = 0.7;
const SATURATED = 0.5;

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
const pct = (x: number): string => `${Math.round(100 * x)} %`;
/** Three significant digits, exponent form outside [1e-3, 1e4). */
function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? x.toExponential(1) : x.toPrecision(3).replace(/\.?0+$/, "") || "0";
}

/** The short form of a finding, as the linter would put it in one line (HTML). */
function summary(f: ProbeReport["findings"][number]): string {
  const m = /^`([^`]+)` on line \d+: (\d+ %) of the (\w+) units are (dead|saturated)/.exec(f.message);
  const since = `since step ${f.step.toLocaleString("en-US")}: `;
  if (m) return esc(since) + `${m[2]} of <code>${esc(m[1])}</code> ${m[4]}`;
  const u = /^`([^`]+)`: each update changes it by (\S+) of its norm .* (above|below) (\[[^\]]+\])/.exec(f.message);
  if (u) return esc(since) + `each update moves <code>${esc(u[1])}</code> by ${u[2]} of its norm, ${u[3]} ${u[4]}`;
  // The others (non-finite, the loop gradients) say where and when in their own words.
  return esc(f.message).replace(/`([^`]+)`/g, "<code>$1</code>");
}

/** A heat strip of a loop's per-step gradient norms, on a log scale from the smallest to the largest. */
function strip(g: Float64Array): string {
  const logs = Array.from(g, (v) => (v > 0 && Number.isFinite(v) ? Math.log10(v) : NaN));
  const finite = logs.filter((v) => !Number.isNaN(v));
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const cells = logs.map((v, i) => {
    const title = `step ${i + 1}: ${num(g[i])}`;
    if (Number.isNaN(v)) return `<i class="nan" title="${title}"></i>`;
    const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    return `<i style="background:hsl(${230 - 230 * t} 75% ${88 - 40 * t}%)" title="${title}"></i>`;
  });
  return `<span class="strip">${cells.join("")}</span><span class="range">${num(Math.pow(10, lo))}–${num(Math.pow(10, hi))}</span>`;
}

export function renderProbes(box: HTMLElement, p: ProbeReport | null, points: number): void {
  box.classList.toggle("live", p !== null);
  if (!p) {
    box.innerHTML = `<strong>Probes</strong><p>Load a model to see its activations and gradients while it trains.</p>`;
    return;
  }
  const parts: string[] = [];
  parts.push(`<div class="probes-head"><strong>Probes</strong><span>step ${p.step.toLocaleString("en-US")}, on the ${points} data points</span></div>`);
  if (p.nonFinite) {
    parts.push(`<p class="nonfinite" data-testid="non-finite">⚠ <code>${esc(p.nonFinite.name)}</code> (line ${p.nonFinite.line}) holds a NaN or an infinity</p>`);
  }
  if (p.findings.length) {
    parts.push(`<ul class="probe-findings">`);
    for (const f of p.findings) {
      parts.push(
        `<li class="${f.severity}" data-rule="${f.rule}" title="${esc(`${f.message}\nfix: ${f.fix}`)}"><span class="rule">${f.rule}</span> ${summary(f)}</li>`,
      );
    }
    parts.push(`</ul>`);
  }
  const blocks: string[] = [];
  if (p.sites.length) {
    const rows = p.sites.map((s) => {
      const kind = s.dead !== undefined ? "dead" : s.saturated !== undefined ? "saturated" : "";
      const frac = s.dead ?? s.saturated;
      const bar =
        frac === undefined
          ? `<td colspan="2"></td>`
          : `<td class="fracbar ${kind}${frac >= (kind === "dead" ? DEAD : SATURATED) ? " bad" : ""}" title="${kind}: ${pct(frac)}"><span class="track"><span style="width:${(100 * frac).toFixed(1)}%"></span></span></td><td class="frac" data-fraction="${frac}">${pct(frac)} ${kind}</td>`;
      return `<tr data-site="${esc(s.name)}"><td class="name"><code>${esc(s.name)}</code> <span class="muted">${s.op}, l. ${s.line}</span></td>${bar}<td class="stat" title="mean and std of the input">${num(s.mean)} ± ${num(s.std)}</td></tr>`;
    });
    blocks.push(`<table class="probe-sites"><caption>activations <span class="muted">(input mean ± std)</span></caption>${rows.join("")}</table>`);
  }
  const params = p.params.map(
    (q) =>
      `<tr><td><code>${esc(q.name)}</code></td><td>${num(q.norm)}</td><td${q.gradNorm === 0 ? ' class="zero"' : ""}>${num(q.gradNorm)}</td><td>${q.updateRatio === undefined ? "–" : num(q.updateRatio)}</td></tr>`,
  );
  blocks.push(`<table class="probe-params"><caption>params</caption><tr><th></th><th>|p|</th><th>|grad|</th><th title="|last update| / |p|, about 1e-3 is healthy">upd/|p|</th></tr>${params.join("")}</table>`);
  if (p.loops.length) {
    const rows = p.loops.map((l) => `<div class="loop"><code>${esc(l.name)}</code> <span class="muted">l. ${l.line}</span> ${strip(l.gradNorms)}</div>`);
    blocks.push(`<div class="probe-loops"><div class="caption">loop gradient norms <span class="muted">(step 1 → T)</span></div>${rows.join("")}</div>`);
  }
  parts.push(`<div class="probe-blocks">${blocks.join("")}</div>`);
  box.innerHTML = parts.join("");
}
