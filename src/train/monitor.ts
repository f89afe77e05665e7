// Watches training through a module's `probe` (spec section 12): fed each
// step's probes and the optimizer's update norms, it reports section 8's
// findings for what only shows while training (units that die after a large
// update, sigmoids that drift into saturation, recurrences whose gradient
// explodes or vanishes over the steps, updates far from 1e-3 of their
// param, NaN), and draws the history as a self-contained HTML report.
import { escapeXml, lineChartSvg, type Series } from "./plot.js";

/** What a compiled module's `probe` returns (spec section 12). */
export interface Probes {
  loss: number;
  sites: { name: string; line: number; op: string; dead?: number; saturated?: number; mean: number; std: number }[];
  params: Record<string, { norm: number; gradNorm: number }>;
  loops: { name: string; line: number; gradNorms: Float64Array }[];
  nonFinite: null | { name: string; line: number };
}

/** A finding in section 8's JSON form, with the training step it began at. */
export interface Finding {
  rule: "dead-relu" | "saturation" | "exploding-gradient" | "vanishing-gradient" | "update-ratio" | "non-finite";
  severity: "error" | "warning";
  message: string;
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  params: string[];
  fix: string;
  /** The step the condition began at. */
  step: number;
}

export interface MonitorOptions {
  /** The .bp file the findings point into (default "model.bp"). */
  file?: string;
  /** A relu-like site with at least this fraction of dead units is reported (default 0.7, as in AUTOTRAINER). */
  dead?: number;
  /** A saturating site with at least this fraction of saturated units is reported (default 0.5, as in AUTOTRAINER). */
  saturated?: number;
  /** |update| / |param| outside this range is reported (default [1e-4, 1e-2], around CS231n's 1e-3); params that start at zero (biases) are not. */
  updateRatio?: readonly [number, number];
  /** Consecutive steps an update ratio must stay out of range before it is reported (default 5). */
  patience?: number;
  /** A loop whose gradient grows by this factor from its last step back to its first is exploding (default 1e3). */
  explode?: number;
  /** ...or shrinks by this factor: vanishing (default 1e-3). */
  vanish?: number;
}

/** One step as the report draws it. */
interface Record_ {
  step: number;
  loss: number;
  sites: { key: string; dead?: number; saturated?: number }[];
  grads: Record<string, number>;
  loops: { key: string; gradNorms: Float64Array }[];
}

export interface Monitor {
  /** Takes one step's probes (and the optimizer's `updateNorms`); returns the findings that began at this step. */
  record(step: number, probes: Probes, updateNorms?: Readonly<Record<string, number>>): Finding[];
  /** Every finding so far, in the order they began. */
  readonly findings: Finding[];
  /** The report: a self-contained HTML page (inline SVG, no scripts, no fetches). */
  html(title?: string): string;
  /** The report's body as one titled section, for a page of several runs ({@link reportPage}). */
  section(title: string): string;
}

/** A self-contained HTML page of several monitors' sections. */
export function reportPage(title: string, sections: readonly string[], intro = ""): string {
  return page(title, (intro ? `<p>${escapeXml(intro)}</p>\n` : "") + sections.join("\n"));
}

const pct = (x: number): string => `${Math.round(100 * x)} %`;
const sci = (x: number): string => (x === 0 || !Number.isFinite(x) ? String(x) : x.toExponential(1));

export function monitor(options: MonitorOptions = {}): Monitor {
  const file = options.file ?? "model.bp";
  const dead = options.dead ?? 0.7;
  const saturated = options.saturated ?? 0.5;
  const [lo, hi] = options.updateRatio ?? [1e-4, 1e-2];
  const patience = options.patience ?? 5;
  const explode = options.explode ?? 1e3;
  const vanish = options.vanish ?? 1e-3;
  for (const [name, v] of [["dead", dead], ["saturated", saturated]] as const) {
    if (!(v > 0 && v <= 1)) throw new Error(`monitor: ${name} must be a fraction in (0, 1], got ${v}`);
  }
  if (!(lo > 0 && hi > lo)) throw new Error(`monitor: updateRatio must be [lo, hi] with 0 < lo < hi, got [${lo}, ${hi}]`);
  if (!(explode > 1 && vanish > 0 && vanish < 1)) throw new Error(`monitor: explode must exceed 1 and vanish lie in (0, 1), got ${explode} and ${vanish}`);

  const findings: Finding[] = [];
  const reported = new Set<string>();
  const zeroAtStart = new Set<string>();
  const outOfRange = new Map<string, number>(); // param -> first step of the current run out of range
  const history: Record_[] = [];
  const finding = (key: string, f: Omit<Finding, "file" | "column" | "endLine" | "endColumn">, out: Finding[]): void => {
    if (reported.has(key)) return;
    reported.add(key);
    const full: Finding = { ...f, file, column: 1, endLine: f.line, endColumn: 1 };
    findings.push(full);
    out.push(full);
  };

  return {
    findings,
    record(step, probes, updateNorms) {
      const out: Finding[] = [];
      if (probes.nonFinite) {
        const { name, line } = probes.nonFinite;
        finding(`nf`, {
          rule: "non-finite", severity: "error", line, params: [], step,
          message: `\`${name}\` on line ${line} holds a NaN or an infinity at step ${step} (loss ${probes.loss}); every later update is garbage`,
          fix: "lower the learning rate or clip the gradient (clip_grad); look for a log, sqrt or division whose argument reaches 0 (use log_softmax, cross_entropy or an epsilon)",
        }, out);
      }
      for (const s of probes.sites) {
        if (s.dead !== undefined && s.dead >= dead) {
          finding(`dead:${s.name}:${s.line}`, {
            rule: "dead-relu", severity: "warning", line: s.line, params: [], step,
            message: `\`${s.name}\` on line ${s.line}: ${pct(s.dead)} of the ${s.op} units are dead (zero for every example in the batch) since step ${step}; their input has mean ${s.mean.toPrecision(3)} and std ${s.std.toPrecision(3)}, and the weights feeding them get no gradient, so they do not come back`,
            fix: `lower the learning rate (one large update can push a unit's input below zero for every example), or use leaky_relu or elu for \`${s.name}\``,
          }, out);
        }
        if (s.saturated !== undefined && s.saturated >= saturated) {
          finding(`sat:${s.name}:${s.line}`, {
            rule: "saturation", severity: "warning", line: s.line, params: [], step,
            message: `\`${s.name}\` on line ${s.line}: ${pct(s.saturated)} of the ${s.op} units are saturated (slope below 0.01) since step ${step}; their input has mean ${s.mean.toPrecision(3)} and std ${s.std.toPrecision(3)}, so the gradient through them nearly vanishes`,
            fix: `normalise the inputs, scale the initialisation down (xavier), or lower the learning rate so \`${s.name}\`'s input stays within a few units of 0`,
          }, out);
        }
      }
      for (const l of probes.loops) {
        const g = l.gradNorms;
        // A zero or NaN end says nothing about growth (a loop whose last steps get no gradient; non-finite reports NaN).
        if (g.length < 2 || !(g[0] > 0) || !(g[g.length - 1] > 0)) continue;
        const ratio = g[0] / g[g.length - 1];
        const perStep = Math.pow(ratio, 1 / (g.length - 1));
        const numbers = `|d loss / d ${l.name}| is ${sci(g[g.length - 1])} after the last step and ${sci(g[0])} after the first, ${sci(ratio)} times as large (${perStep.toPrecision(3)} per step over ${g.length} steps)`;
        if (!(ratio < explode)) {
          finding(`explode:${l.name}:${l.line}`, {
            rule: "exploding-gradient", severity: "warning", line: l.line, params: [], step,
            message: `\`${l.name}\` on line ${l.line}, carried through the loop: ${numbers} at step ${step}; the gradient explodes going back through time`,
            fix: "use an orthogonal initialisation for the recurrent matrix, clip the gradient (clip_grad), or a gated cell (lstm)",
          }, out);
        } else if (ratio <= vanish) {
          finding(`vanish:${l.name}:${l.line}`, {
            rule: "vanishing-gradient", severity: "warning", line: l.line, params: [], step,
            message: `\`${l.name}\` on line ${l.line}, carried through the loop: ${numbers} at step ${step}; the early steps get almost no gradient`,
            fix: "use a gated cell (lstm), an orthogonal recurrent matrix, or a shorter loop",
          }, out);
        }
      }
      if (history.length === 0) for (const [k, v] of Object.entries(probes.params)) if (v.norm === 0) zeroAtStart.add(k);
      if (updateNorms) {
        for (const [name, u] of Object.entries(updateNorms)) {
          const p = probes.params[name];
          // The rule of thumb is about weights: a param that starts at zero (a bias) has no scale to compare with.
          if (!p || p.norm === 0 || zeroAtStart.has(name)) continue;
          const r = u / p.norm;
          if (r >= lo && r <= hi) {
            outOfRange.delete(name);
            continue;
          }
          const since = outOfRange.get(name) ?? step;
          outOfRange.set(name, since);
          if (history.filter((h) => h.step >= since).length + 1 < patience) continue;
          finding(`update:${name}`, {
            rule: "update-ratio", severity: "warning", line: 0, params: [name], step: since,
            message: `\`${name}\`: each update changes it by ${sci(r)} of its norm (|update| ${sci(u)}, |${name}| ${sci(p.norm)}) since step ${since}, ${r > hi ? "above" : "below"} [${lo}, ${hi}] around the rule of thumb 1e-3`,
            fix: r > hi ? "lower the learning rate: updates this large make training unstable" : "raise the learning rate: updates this small barely move the parameter",
          }, out);
        }
      }
      history.push({
        step,
        loss: probes.loss,
        sites: probes.sites.map((s) => ({ key: `${s.name} (line ${s.line}, ${s.op})`, dead: s.dead, saturated: s.saturated })),
        grads: Object.fromEntries(Object.entries(probes.params).map(([k, v]) => [k, v.gradNorm])),
        loops: probes.loops.map((l) => ({ key: `${l.name} (line ${l.line})`, gradNorms: Float64Array.from(l.gradNorms) })),
      });
      return out;
    },
    html(title = "bpc probes") {
      return page(title, section(null, history, findings));
    },
    section(title: string) {
      return section(title, history, findings);
    },
  };
}

/** An SVG document as an inline element. */
const inline = (svg: string): string => svg.replace(/^<\?xml[^>]*>\s*/, "");

function section(title: string | null, history: readonly Record_[], findings: readonly Finding[]): string {
  const charts: string[] = [];
  const siteKeys = [...new Set(history.flatMap((h) => h.sites.map((s) => s.key)))];
  const series = (pick: (h: Record_, key: string) => number | undefined, keys: string[]): Series[] =>
    keys
      .map((k) => ({ name: k, points: history.flatMap((h) => { const v = pick(h, k); return v === undefined ? [] : [[h.step, v] as const]; }) }))
      .filter((s) => s.points.length);
  const fractions = [
    ...series((h, k) => h.sites.find((s) => s.key === k)?.dead, siteKeys).map((s) => ({ ...s, name: `dead: ${s.name}` })),
    ...series((h, k) => h.sites.find((s) => s.key === k)?.saturated, siteKeys).map((s) => ({ ...s, name: `saturated: ${s.name}` })),
  ];
  if (history.length) {
    charts.push(inline(lineChartSvg({ title: "Loss", xLabel: "training step", yLabel: "loss", series: series((h) => h.loss, ["loss"]), width: 560, height: 320 })));
  }
  if (fractions.length) {
    charts.push(inline(lineChartSvg({ title: "Dead and saturated units per site", xLabel: "training step", yLabel: "fraction", series: fractions, width: 560, height: 320 })));
  }
  const params = [...new Set(history.flatMap((h) => Object.keys(h.grads)))];
  if (params.length) {
    charts.push(inline(lineChartSvg({ title: "Gradient norm per param", xLabel: "training step", yLabel: "|grad| (log scale)", series: series((h, k) => h.grads[k], params), logY: true, width: 560, height: 320 })));
  }
  const loopKeys = [...new Set(history.flatMap((h) => h.loops.map((l) => l.key)))];
  for (const k of loopKeys) charts.push(heatMap(k, history.flatMap((h) => { const l = h.loops.find((x) => x.key === k); return l ? [{ step: h.step, norms: l.gradNorms }] : []; })));
  const rows = findings
    .map((f) => `<tr class="${f.severity}"><td>${f.step}</td><td><code>${f.rule}</code></td><td>${f.line || ""}</td><td>${escapeXml(f.message)}<br><em>fix:</em> ${escapeXml(f.fix)}</td></tr>`)
    .join("\n");
  return `<section>
${title === null ? "" : `<h2>${escapeXml(title)}</h2>\n`}<p>${history.length} training steps probed.</p>
<h3>Findings</h3>
${findings.length ? `<table><tr><th>step</th><th>rule</th><th>line</th><th>what</th></tr>\n${rows}</table>` : "<p>None.</p>"}
<div class="charts">
${charts.join("\n")}
</div>
</section>`;
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 12px 0 24px; }
td, th { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
tr.error td:nth-child(2) { color: #b00; } tr.warning td:nth-child(2) { color: #a60; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
section { margin-bottom: 32px; }
</style></head><body>
<h1>${escapeXml(title)}</h1>
${body}
</body></html>
`;
}

/** Per-step gradient norms of one loop: training step (x) by time step (y), colour = log10 norm. */
function heatMap(name: string, rows: { step: number; norms: Float64Array }[]): string {
  const W = 560, H = 320, L = 64, R = 80, T = 40, Bm = 44;
  const steps = rows.length;
  const times = Math.max(0, ...rows.map((r) => r.norms.length));
  let min = Infinity, max = -Infinity;
  for (const r of rows) for (const v of r.norms) if (v > 0 && Number.isFinite(v)) { min = Math.min(min, Math.log10(v)); max = Math.max(max, Math.log10(v)); }
  if (!(max >= min)) { min = 0; max = 1; }
  if (max === min) max = min + 1;
  const cw = (W - L - R) / Math.max(1, steps), ch = (H - T - Bm) / Math.max(1, times);
  const color = (v: number): string => {
    if (!Number.isFinite(v)) return "#000";
    if (v <= 0) return "#fff";
    const f = (Math.log10(v) - min) / (max - min);
    // Blue (small) through white to red (large).
    const r = Math.round(f < 0.5 ? 2 * f * 255 : 255), b = Math.round(f < 0.5 ? 255 : (1 - f) * 2 * 255), g = Math.round(255 - Math.abs(f - 0.5) * 2 * 200);
    return `rgb(${r},${g},${b})`;
  };
  const cells: string[] = [];
  rows.forEach((r, i) => r.norms.forEach((v, t) => cells.push(`<rect x="${(L + i * cw).toFixed(2)}" y="${(T + (times - 1 - t) * ch).toFixed(2)}" width="${(cw + 0.3).toFixed(2)}" height="${(ch + 0.3).toFixed(2)}" fill="${color(v)}"/>`)));
  const legend = [0, 0.5, 1].map((f) => `<text x="${W - R + 30}" y="${T + (1 - f) * (H - T - Bm) + 4}" font-size="11">1e${(min + f * (max - min)).toFixed(1)}</text><rect x="${W - R + 10}" y="${T + (1 - f) * (H - T - Bm) - 6}" width="14" height="12" fill="${color(10 ** (min + f * (max - min)))}" stroke="#999"/>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">|d loss / d ${escapeXml(name)}| per time step</text>
${cells.join("")}
<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - Bm}" fill="none" stroke="#333"/>
<text x="${L}" y="${H - Bm + 16}" font-size="11">${rows[0]?.step ?? ""}</text><text x="${W - R}" y="${H - Bm + 16}" font-size="11" text-anchor="end">${rows[rows.length - 1]?.step ?? ""}</text>
<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle" font-size="12">training step</text>
<text x="${L - 8}" y="${T + 10}" font-size="11" text-anchor="end">t=${times - 1}</text><text x="${L - 8}" y="${H - Bm}" font-size="11" text-anchor="end">t=0</text>
<text transform="translate(16 ${(T + H - Bm) / 2}) rotate(-90)" text-anchor="middle" font-size="12">time step</text>
${legend.join("")}
</svg>`;
}
