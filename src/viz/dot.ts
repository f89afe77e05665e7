// Graphviz DOT for a compiled graph, in the style of the classic picture of
// a batch-norm layer's computational graph: forward nodes and edges in
// black, backward nodes and edges in red, each node labelled with its op and
// shape (and its source name when it has one), inputs as ellipses, params as
// square boxes, each loop as a cluster around its body, and the ops of each
// source statement (a layer, or a def call with its body) as a dotted cluster
// per phase titled with the statement. Hovering a node shows the .bp line it
// came from (the `tooltip` attribute).
//
// What is folded, to keep the picture readable (a folded node is not drawn;
// its consumers show it in their label instead):
//   - `const` scalars and `numel` sizes: `gt(·, 0)`, `div(·, B·4)`, `mul(gamma=0.99, ·)`;
//   - `loop_index` nodes: `index(·, t)`;
//   - unnamed `reshape`s of a folded value (the backward seed's `reshape 1`);
//   - unnamed `reshape`s that only add or drop size-1 dims ([B] to [B, 1],
//     as reductions' gradients do): consumers take the edge straight from the
//     reshape's input;
//   - the `loop` node itself, which is drawn as its cluster.
// Values the reader needs to see are never folded: the loss, the outputs, the
// gradients, and values that enter or leave a loop (initial carries, results,
// tape entries).
//
// Every string that comes from the user's file (names, source text) is
// escaped: tooltips are DOT quoted strings (`\` and `"` escaped, control
// characters dropped) and labels are HTML-like labels (XML-escaped).
import type { Graph, LoopBody, Node, Shape } from "../ir/types.js";

export interface DotOptions {
  /** The heading drawn above the graph; defaults to `model NAME`. */
  title?: string;
}

/** The colours of the two phases, as they appear in the DOT and SVG output. */
export const COLORS = { fwd: "#000000", bwd: "#d00000" } as const;

const FWD_SOFT = "#6b6b6b"; // shapes and secondary text, forward
const BWD_SOFT = "#e06060"; // shapes and secondary text, backward
const FILL_INPUT = "#e8f1fb";
const FILL_PARAM = "#fdf1d2";
const FILL_GRAD = "#fde9e9";
// Graphviz estimates text widths with its own Helvetica metrics (Arial and
// Liberation Sans match them); a font list would fall back to Times metrics.
const FONT = "Helvetica";

// ---- escaping ---------------------------------------------------------------

/** Drops control characters (a newline must never reach a DOT string). */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ");
}

/**
 * A DOT quoted string whose text Graphviz shows verbatim (tooltips).
 * Graphviz decodes `&...;` entities in attribute strings, then runs escape
 * processing twice on tooltips (`\\` to `\`, `\N` to the node's name, ...),
 * so `&` becomes `&amp;`, `\` becomes four backslashes and `"` becomes `\"`.
 * tests/viz/graph.test.ts checks the round trip through the rendered SVG.
 */
export function dotString(s: string): string {
  return `"${clean(s).replace(/&/g, "&amp;").replace(/\\/g, "\\\\\\\\").replace(/"/g, '\\"')}"`;
}

/** Text inside an HTML-like label: XML-escaped, and `\` as an entity (Graphviz drops a bare one). */
export function xmlText(s: string): string {
  return clean(s)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;")
    .replace(/\\/g, "&#92;");
}

type Attr = string | { html: string };

function attrList(attrs: Record<string, Attr | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    parts.push(`${k}=${typeof v === "string" ? dotString(v) : `<${v.html}>`}`);
  }
  return parts.length ? ` [${parts.join(", ")}]` : "";
}

// ---- labels -------------------------------------------------------------------

function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

function shapeText(n: Node): string {
  return `${n.dtype === "int" ? "int" : ""}[${n.shape.join(", ")}]`;
}

function fmtAttr(v: unknown): string {
  if (Array.isArray(v)) return v.map((x) => (typeof x === "number" ? fmtNum(x) : String(x))).join(",");
  if (typeof v === "number") return fmtNum(v);
  return String(v);
}

/** Attributes never shown: implied by the shape, the edges or the node kind. */
const HIDDEN_ATTRS = new Set([
  "name",
  "transA",
  "transB",
  "init",
  "initArgs",
  "dist",
  "distArgs",
  "range",
  "rangeClosed",
  "dtype",
  "count",
  "start",
  "reverse",
  "k",
]);
const SHAPE_ATTR_OPS = new Set(["reshape", "broadcast_to", "sum_to", "unslice", "full", "input", "param", "carry"]);

/** Geometry attrs of convolutions and pools at their default (stride 1, no padding, ...): not shown. */
function defaultGeometry(n: Node, k: string, v: unknown): boolean {
  const all = (x: number): boolean => Array.isArray(v) && v.every((e) => e === x);
  if (k === "stride" || k === "dilation") return all(1);
  if (k === "pad" || k === "outputPadding") return all(0);
  if (k === "padEnd") return JSON.stringify(v) === JSON.stringify(n.attrs.pad);
  if (k === "groups") return v === 1;
  return false;
}

/** `2,2` as `2`: a per-axis attr with one value on every axis. */
function fmtGeometry(v: unknown): unknown {
  return Array.isArray(v) && v.length > 1 && v.every((e) => e === v[0]) ? v[0] : v;
}

function attrText(n: Node): string {
  const parts: string[] = [];
  for (const [k, raw] of Object.entries(n.attrs)) {
    if (HIDDEN_ATTRS.has(k) || defaultGeometry(n, k, raw)) continue;
    const v = ["kernel", "stride", "dilation", "pad", "padEnd", "outputPadding"].includes(k) ? fmtGeometry(raw) : raw;
    if (k === "shape" && SHAPE_ATTR_OPS.has(n.op)) continue;
    if (k === "value" && n.op === "full") continue;
    if (k === "keepdims") {
      if (v === true) parts.push("keepdims");
      continue;
    }
    parts.push(`${k === "axes" && Array.isArray(v) && v.length === 1 ? "axis" : k}=${fmtAttr(v)}`);
  }
  const s = parts.join(" ");
  return s.length > 40 ? s.slice(0, 39) + "…" : s;
}

function opName(n: Node): string {
  if (n.op === "full") {
    const v = n.attrs.value as number;
    return v === 0 ? "zeros" : v === 1 ? "ones" : `full(${fmtNum(v)})`;
  }
  return n.op;
}

// ---- the plan: what is drawn, what is folded ------------------------------------

interface Plan {
  /** Folded values shown as text in their consumers' labels. */
  text: Map<Node, string>;
  /** Folded reshapes: consumers draw their edge from the target instead. */
  alias: Map<Node, Node>;
}

/** Visits every node, loop bodies (index, carried placeholders, nodes) before their loop. */
function walk(nodes: readonly Node[], visit: (n: Node) => void): void {
  for (const n of nodes) {
    if (n.body) {
      visit(n.body.index);
      for (const c of n.body.carried) visit(c);
      walk(n.body.nodes, visit);
    }
    visit(n);
  }
}

/** Sizes equal once size-1 dims are dropped. */
function unitReshape(from: Shape, to: Shape): boolean {
  const a = from.filter((d) => d !== 1);
  const b = to.filter((d) => d !== 1);
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function plan(g: Graph): Plan {
  const keep = new Set<Node>([g.loss, ...g.outputs.map((o) => o.node), ...g.grads.map((gr) => gr.node)]);
  walk(g.nodes, (n) => {
    if (n.op !== "loop" || !n.body) return;
    for (const v of [...n.inputs, ...n.body.results, ...n.body.tape]) keep.add(v);
  });
  const text = new Map<Node, string>();
  const alias = new Map<Node, Node>();
  walk(g.nodes, (n) => {
    if (keep.has(n)) return;
    if (n.op === "const") {
      const v = fmtNum(n.attrs.value as number);
      text.set(n, n.name ? `${n.name}=${v}` : v);
    } else if (n.op === "numel") {
      const dims = (n.attrs.dims as readonly (string | number)[]) ?? [];
      text.set(n, dims.length ? dims.join("·") : "1");
    } else if (n.op === "loop_index") {
      text.set(n, n.name ?? "i");
    } else if (n.op === "reshape" && !n.name) {
      const x = n.inputs[0];
      const t = text.get(x);
      if (t !== undefined) text.set(n, t);
      else if (unitReshape(x.shape, n.shape)) alias.set(n, alias.get(x) ?? x);
    }
  });
  return { text, alias };
}

// ---- emitting ----------------------------------------------------------------------

const nodeId = (n: Node): string => `n${n.id}`;

class DotWriter {
  private readonly out: string[] = [];
  private readonly edges: string[] = [];
  private readonly lines: string[];
  private readonly p: Plan;
  private readonly keyNodes: Set<Node>;
  private readonly gradNodes: Set<Node>;

  constructor(private readonly g: Graph) {
    this.lines = g.source.split(/\r\n|\r|\n/);
    this.p = plan(g);
    this.keyNodes = new Set([g.loss, ...g.outputs.map((o) => o.node)]);
    this.gradNodes = new Set(g.grads.map((gr) => gr.node));
  }

  write(title: string): string {
    const g = this.g;
    this.out.push("digraph bpc {");
    this.out.push(
      `  graph${attrList({
        rankdir: "TB",
        fontname: FONT,
        fontsize: "13",
        nodesep: "0.3",
        ranksep: "0.35",
        labelloc: "t",
        labeljust: "c",
        bgcolor: "white",
        pad: "0.3",
        label: { html: this.heading(title) },
      })};`,
    );
    this.out.push(
      `  node${attrList({ fontname: FONT, fontsize: "11", shape: "box", style: "rounded", height: "0.3", margin: "0.12,0.05", penwidth: "1.2" })};`,
    );
    this.out.push(`  edge${attrList({ arrowsize: "0.6", penwidth: "1.1", fontname: FONT, fontsize: "9" })};`);
    for (const n of g.inputs) this.leaf(n, "ellipse", FILL_INPUT, "  ");
    for (const n of g.params) this.leaf(n, "box", FILL_PARAM, "  ");
    this.nodes(g.nodes, "  ", true);
    this.out.push(...this.edges);
    this.out.push("}");
    return this.out.join("\n") + "\n";
  }

  /** The title and a legend, as an HTML table (the graph label, so the legend adds no nodes). */
  private heading(title: string): string {
    const cell = (text: string, color: string, fill?: string): string =>
      `<TD BORDER="${fill ? 1 : 0}" COLOR="${color}"${fill ? ` BGCOLOR="${fill}"` : ""}><FONT COLOR="${color}">${text}</FONT></TD>`;
    return (
      `<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="6" CELLPADDING="3">` +
      `<TR><TD COLSPAN="7"><FONT POINT-SIZE="16"><B>${xmlText(title)}</B></FONT></TD></TR>` +
      `<TR>${cell("<B>forward</B>", COLORS.fwd)}${cell("<B>backward</B>", COLORS.bwd)}` +
      `${cell("input", COLORS.fwd, FILL_INPUT)}${cell("param", COLORS.fwd, FILL_PARAM)}` +
      `${cell("gradient", COLORS.bwd, FILL_GRAD)}` +
      `${cell("op(·, 0): · is an operand drawn as an edge", FWD_SOFT)}</TR></TABLE>`
    );
  }

  private tooltip(n: Node): string {
    const line = n.span.line;
    const text = line > 0 ? (this.lines[line - 1] ?? "").trim() : "";
    if (line <= 0) return `${n.op} (generated)`;
    return `line ${line}: ${text.length > 200 ? text.slice(0, 199) + "…" : text}`;
  }

  private label(head: string, n: Node): { html: string } {
    const soft = n.phase === "bwd" ? BWD_SOFT : FWD_SOFT;
    return { html: `${head}<BR/><FONT POINT-SIZE="9" COLOR="${soft}">${xmlText(shapeText(n))}</FONT>` };
  }

  private leaf(n: Node, shape: string, fill: string, indent: string): void {
    const color = COLORS[n.phase];
    this.out.push(
      `${indent}${nodeId(n)}${attrList({
        shape,
        style: "filled",
        fillcolor: fill,
        color,
        fontcolor: color,
        label: this.label(`<B>${xmlText(n.name ?? `%${n.id}`)}</B>`, n),
        tooltip: this.tooltip(n),
      })};`,
    );
  }

  /**
   * Draws a block's nodes. With `layers`, the ops of one source statement
   * (a layer: `h1 = max_pool2d(relu(conv2d(x, K1) + c1), 2)`, or a def call
   * with the def's body) and one phase are drawn in a cluster of their own,
   * when there are two or more of them; loops are clusters already.
   */
  private nodes(nodes: readonly Node[], indent: string, layers = false): void {
    const drawn = (n: Node): boolean => !this.p.text.has(n) && !this.p.alias.has(n);
    const groups = new Map<string, Node[]>();
    const key = (n: Node): string | null => {
      const line = (n.span.via ?? n.span).line;
      return layers && n.op !== "loop" && drawn(n) && line > 0 ? `${n.phase}:${line}` : null;
    };
    for (const n of nodes) {
      const k = key(n);
      if (k !== null) groups.set(k, [...(groups.get(k) ?? []), n]);
    }
    const done = new Set<string>();
    for (const n of nodes) {
      const k = key(n);
      const group = k === null ? undefined : groups.get(k);
      if (k !== null && group && group.length > 1) {
        if (!done.has(k)) {
          done.add(k);
          this.layer(group, indent);
        }
      } else if (n.op === "loop" && n.body) this.loop(n, n.body, indent);
      else if (drawn(n)) this.op(n, indent);
    }
  }

  /** One statement's ops of one phase, as a cluster titled with the statement. */
  private layer(group: readonly Node[], indent: string): void {
    const first = group[0];
    const line = (first.span.via ?? first.span).line;
    const text = clean((this.lines[line - 1] ?? "").replace(/#.*$/, "").replace(/\s+/g, " ").trim());
    const src = text.length > 70 ? text.slice(0, 69) + "…" : text;
    const soft = first.phase === "bwd" ? BWD_SOFT : FWD_SOFT;
    this.out.push(
      `${indent}subgraph cluster_${first.phase}_line${line}_${first.id} {`,
      `${indent}  graph${attrList({
        label: { html: xmlText(`${first.phase === "bwd" ? "grad of line" : "line"} ${line}: ${src}`) },
        labeljust: "l",
        style: "rounded,dotted",
        color: soft,
        fontcolor: soft,
        fontsize: "10",
        penwidth: "1",
        tooltip: `line ${line}: ${text.length > 200 ? text.slice(0, 199) + "…" : text}`,
      })};`,
    );
    for (const n of group) this.op(n, indent + "  ");
    this.out.push(`${indent}}`);
  }

  /** The drawn node an input reads, or the text of a folded one. */
  private resolve(n: Node): Node | string {
    const t = this.p.text.get(n);
    if (t !== undefined) return t;
    return this.p.alias.get(n) ?? n;
  }

  private op(n: Node, indent: string): void {
    const color = COLORS[n.phase];
    const args: string[] = [];
    let decorated = false;
    if (n.op === "loop_out" || n.op === "loop_tape") this.loopReads(n);
    else {
      n.inputs.forEach((x, i) => {
        const r = this.resolve(x);
        const trans =
          n.op === "matmul" && ((i === 0 && n.attrs.transA === true) || (i === 1 && n.attrs.transB === true));
        if (typeof r === "string") {
          args.push(xmlText(r) + (trans ? "ᵀ" : ""));
          decorated = true;
        } else {
          args.push(trans ? "·ᵀ" : "·");
          decorated ||= trans;
          this.edge(r, n, {});
        }
      });
    }
    // One text span per line: Graphviz places mixed-font spans by estimated
    // widths, which drift from the real font's.
    let head = xmlText(opName(n)) + (decorated ? `(${args.join(", ")})` : "");
    const attrs = attrText(n);
    if (attrs) head += ` ${xmlText(attrs)}`;
    if (n.name) head = `${xmlText(n.name)} = ${head}`;
    const grad = this.gradNodes.has(n);
    const key = grad || this.keyNodes.has(n);
    const carried = n.op === "carry";
    this.out.push(
      `${indent}${nodeId(n)}${attrList({
        color,
        fontcolor: color,
        style: carried ? "rounded,dashed" : grad ? "rounded,filled" : undefined,
        fillcolor: grad ? FILL_GRAD : undefined,
        penwidth: key ? "2.2" : undefined,
        label: this.label(head, n),
        tooltip: this.tooltip(n),
      })};`,
    );
  }

  private loop(n: Node, body: LoopBody, indent: string): void {
    const color = COLORS[n.phase];
    const idx = xmlText(body.index.name ?? "i");
    const count = n.attrs.count;
    const start = typeof n.attrs.start === "number" ? n.attrs.start : 0;
    const range = n.attrs.reverse
      ? typeof count === "number"
        ? `${idx} from ${start + count - 1} down to ${start}`
        : `${idx} in ${start}..${xmlText(String(count))}, reversed`
      : `for ${idx} in ${start}..${xmlText(String(count))}`;
    const title = n.phase === "bwd" ? `backward loop: ${range}` : `loop: ${range}`;
    this.out.push(
      `${indent}subgraph cluster_loop${n.id} {`,
      `${indent}  graph${attrList({
        label: { html: `<B>${title}</B>` },
        labeljust: "l",
        style: "rounded,dashed",
        color,
        fontcolor: color,
        fontsize: "11",
        penwidth: "1.2",
        tooltip: this.tooltip(n),
      })};`,
    );
    // The loop index is folded into its readers; carried values are the body's placeholders.
    this.nodes(body.carried, indent + "  ");
    this.nodes(body.nodes, indent + "  ", true);
    this.out.push(`${indent}}`);
    const soft = n.phase === "bwd" ? BWD_SOFT : FWD_SOFT;
    body.carried.forEach((c, k) => {
      const init = this.resolve(n.inputs[k]);
      if (typeof init !== "string") this.edge(init, c, { label: "init" });
      const next = this.resolve(body.results[k]);
      if (typeof next !== "string")
        this.edge(next, c, { label: "next", style: "dashed", constraint: "false", color: soft });
    });
  }

  /** Edges into `loop_out` / `loop_tape` nodes come from the loop's body. */
  private loopReads(n: Node): void {
    const loop = n.inputs[0];
    const body = loop.body;
    if (!body) return;
    const k = n.attrs.k as number;
    const src = n.op === "loop_out" ? body.results[k] : body.tape[k];
    if (!src) return;
    const r = this.resolve(src);
    if (typeof r !== "string") this.edge(r, n, { label: n.op === "loop_out" ? "last" : "all steps", style: "dashed" });
  }

  private edge(from: Node, to: Node, extra: Record<string, string>): void {
    const color = COLORS[to.phase];
    const attrs: Record<string, Attr | undefined> = { color, fontcolor: color, ...extra };
    // Backward reading a forward value (a saved activation, a param): red too,
    // but lighter, so the gradient's own path stands out.
    if (to.phase === "bwd" && from.phase === "fwd" && extra.color === undefined) {
      attrs.color = BWD_SOFT;
      attrs.penwidth = "0.9";
    }
    this.edges.push(`  ${nodeId(from)} -> ${nodeId(to)}${attrList(attrs)};`);
  }
}

/**
 * The DOT source of a graph's picture: forward in black, backward in red,
 * loops as clusters. Pass the simplified graph (`compileStages(...).opt`).
 */
export function toDot(g: Graph, opts: DotOptions = {}): string {
  return new DotWriter(g).write(opts.title ?? `model ${g.name}`);
}
