// Self-contained SVG line charts (loss curves and the like), written by hand
// so that training reports need no plotting dependency or browser.

/** One line of a chart. */
export interface Series {
  name: string;
  /** [x, y] pairs drawn in the given order; non-finite points (and y <= 0 on a log axis) leave a gap. */
  points: ReadonlyArray<readonly [number, number]>;
  /** Any SVG colour; defaults to a palette entry. */
  color?: string;
}

/** Options for {@link lineChartSvg}. */
export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ReadonlyArray<Series>;
  /** Pixels (default 640). */
  width?: number;
  /** Pixels (default 400). */
  height?: number;
  /** Logarithmic y axis (default false). */
  logY?: boolean;
}

// Matplotlib's "tab10": distinguishable and familiar from training plots.
const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

const MARGIN = { top: 40, right: 20, bottom: 52, left: 72 };

/** Escapes text for XML content and attributes; drops characters XML 1.0 cannot hold at all. */
export function escapeXml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** Coordinates to 2 decimals keep the SVG small without visible loss. */
const fmt = (v: number): string => String(Math.round(v * 100) / 100);

/** Tick label for `value`, with `decimals` digits unless it needs scientific notation. */
function tickLabel(value: number, decimals: number): string {
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e6 || abs < 1e-4) return Number(value.toPrecision(12)).toExponential().replace("e+", "e");
  return value.toFixed(decimals);
}

interface Tick {
  value: number;
  label: string;
  major: boolean;
}

interface Axis {
  lo: number;
  hi: number;
  ticks: Tick[];
}

/** A linear axis widened to round bounds, with about `target` ticks at 1, 2 or 5 × 10^k steps. */
function linearAxis(lo: number, hi: number, target: number): Axis {
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / target;
  let exp = Math.floor(Math.log10(raw));
  const norm = raw / 10 ** exp;
  let unit = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  if (unit === 10) {
    unit = 1;
    exp++;
  }
  const step = unit * 10 ** exp;
  // Ticks as integer multiples of the step, so 0.1 + 0.2 never shows up as 0.30000000000000004.
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step);
  const decimals = Math.max(0, -exp);
  const ticks: Tick[] = [];
  for (let k = first; k <= last; k++)
    ticks.push({ value: k * step, label: tickLabel(k * step, decimals), major: true });
  return { lo: first * step, hi: last * step, ticks };
}

/** A log10 axis spanning whole decades; axis values are log10 of the data. */
function logAxis(lo: number, hi: number): Axis {
  let a = Math.floor(Math.log10(lo));
  let b = Math.ceil(Math.log10(hi));
  if (a === b) {
    a--;
    b++;
  }
  const stride = Math.ceil((b - a) / 8);
  const ticks: Tick[] = [];
  for (let e = a; e <= b; e++) {
    const labelled = (e - a) % stride === 0;
    ticks.push({ value: e, label: labelled ? tickLabel(10 ** e, Math.max(0, -e)) : "", major: labelled });
    // Few decades leave too few gridlines to read values off, so add 2× and 5×.
    if (b - a <= 3 && e < b) {
      for (const m of [2, 5])
        ticks.push({ value: e + Math.log10(m), label: tickLabel(m * 10 ** e, Math.max(0, -e)), major: false });
    }
  }
  return { lo: a, hi: b, ticks };
}

/**
 * Renders a line chart as a standalone SVG document: title, axes with round
 * tick values, gridlines, one `<path>` per series and a legend. All text is
 * XML-escaped, so series names may contain `<`, `&` and quotes.
 */
export function lineChartSvg(options: LineChartOptions): string {
  const { title, xLabel, yLabel, series, width = 640, height = 400, logY = false } = options;
  if (!(Number.isFinite(width) && width > MARGIN.left + MARGIN.right + 20))
    throw new Error(`lineChartSvg: width ${width} is too small`);
  if (!(Number.isFinite(height) && height > MARGIN.top + MARGIN.bottom + 20))
    throw new Error(`lineChartSvg: height ${height} is too small`);

  const drawable = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);
  let xMin = Infinity,
    xMax = -Infinity,
    yMin = Infinity,
    yMax = -Infinity;
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (!drawable(x, y)) continue;
      xMin = Math.min(xMin, x);
      xMax = Math.max(xMax, x);
      yMin = Math.min(yMin, y);
      yMax = Math.max(yMax, y);
    }
  }
  if (xMin > xMax) [xMin, xMax, yMin, yMax] = [0, 1, logY ? 1 : 0, logY ? 10 : 1];

  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const xAxis = linearAxis(xMin, xMax, Math.max(2, Math.floor(plotW / 90)));
  const yAxis = logY ? logAxis(yMin, yMax) : linearAxis(yMin, yMax, Math.max(2, Math.floor(plotH / 50)));
  const toY = logY ? Math.log10 : (y: number) => y;
  const px = (x: number) => MARGIN.left + ((x - xAxis.lo) / (xAxis.hi - xAxis.lo)) * plotW;
  // `py` takes axis values (log10 already applied on a log axis).
  const py = (v: number) => MARGIN.top + plotH - ((v - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotH;
  const bottom = MARGIN.top + plotH;
  const right = MARGIN.left + plotW;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${fmt(width)}" height="${fmt(height)}" viewBox="0 0 ${fmt(width)} ${fmt(height)}" font-family="system-ui, Helvetica, Arial, sans-serif" font-size="12" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${fmt(width / 2)}" y="24" text-anchor="middle" font-size="16" font-weight="600">${escapeXml(title)}</text>`,
  );

  out.push(`<g stroke-width="1">`);
  for (const t of xAxis.ticks) {
    const x = fmt(px(t.value));
    out.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${bottom}" stroke="#e6e6e6"/>`);
    out.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#333333"/>`);
    out.push(`<text x="${x}" y="${bottom + 18}" text-anchor="middle" fill="#333333">${escapeXml(t.label)}</text>`);
  }
  for (const t of yAxis.ticks) {
    const y = fmt(py(t.value));
    out.push(
      `<line x1="${MARGIN.left}" y1="${y}" x2="${right}" y2="${y}" stroke="${t.major ? "#e6e6e6" : "#f3f3f3"}"/>`,
    );
    out.push(
      `<line x1="${MARGIN.left - (t.major ? 5 : 3)}" y1="${y}" x2="${MARGIN.left}" y2="${y}" stroke="#333333"/>`,
    );
    if (t.label !== "") {
      out.push(
        `<text x="${MARGIN.left - 8}" y="${y}" dy="0.32em" text-anchor="end" fill="#333333">${escapeXml(t.label)}</text>`,
      );
    }
  }
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${fmt(plotW)}" height="${fmt(plotH)}" fill="none" stroke="#333333"/>`,
  );
  out.push(`</g>`);
  out.push(
    `<text x="${fmt(MARGIN.left + plotW / 2)}" y="${fmt(height - 12)}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
  );
  const yLabelY = fmt(MARGIN.top + plotH / 2);
  out.push(
    `<text x="18" y="${yLabelY}" transform="rotate(-90 18 ${yLabelY})" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  );

  const colorOf = (s: Series, i: number) => s.color ?? PALETTE[i % PALETTE.length];
  series.forEach((s, i) => {
    const parts: string[] = [];
    let runLength = 0;
    for (const [x, y] of s.points) {
      if (!drawable(x, y)) {
        // A lone point would be an invisible zero-length segment; "h0" with a round cap draws it as a dot.
        if (runLength === 1) parts.push("h0");
        runLength = 0;
        continue;
      }
      parts.push(`${runLength === 0 ? "M" : "L"}${fmt(px(x))} ${fmt(py(toY(y)))}`);
      runLength++;
    }
    if (runLength === 1) parts.push("h0");
    out.push(
      `<path d="${parts.join(" ")}" fill="none" stroke="${escapeXml(colorOf(s, i))}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"><title>${escapeXml(s.name)}</title></path>`,
    );
  });

  if (series.length > 0) {
    // Width estimated from character count: SVG cannot measure text without a renderer.
    const longest = Math.max(...series.map((s) => s.name.length));
    const boxW = Math.min(plotW - 16, 38 + longest * 7);
    const boxH = 10 + series.length * 18;
    const bx = right - boxW - 8;
    const by = MARGIN.top + 8;
    out.push(`<g>`);
    out.push(
      `<rect x="${fmt(bx)}" y="${by}" width="${fmt(boxW)}" height="${boxH}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc" rx="3"/>`,
    );
    series.forEach((s, i) => {
      const y = by + 14 + i * 18;
      out.push(
        `<line x1="${fmt(bx + 8)}" y1="${y}" x2="${fmt(bx + 28)}" y2="${y}" stroke="${escapeXml(colorOf(s, i))}" stroke-width="2"/>`,
      );
      out.push(`<text x="${fmt(bx + 34)}" y="${y}" dy="0.32em">${escapeXml(s.name)}</text>`);
    });
    out.push(`</g>`);
  }

  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
