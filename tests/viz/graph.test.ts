// `bpc graph`: DOT and SVG pictures of the forward (black) and backward (red)
// graph. Every example renders to well-formed SVG with one SVG node per drawn
// IR node; names and source text from user files never break DOT or SVG.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { Graph, Node } from "../../src/ir/types.js";
import { compileStages } from "../../src/passes/pipeline.js";
import { COLORS, dotString, toDot, xmlText } from "../../src/viz/dot.js";
import { runGraph } from "../../src/cli/graph.js";
import { renderSvg } from "../../src/viz/svg.js";

const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));
const examples = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith(".bp"))
  .sort();

const tmp = mkdtempSync(join(tmpdir(), "bpc-graph-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function compile(source: string, file: string): Graph {
  return compileStages(source, file).opt;
}

/** Every node of the graph, loop bodies included (index and carried placeholders too). */
function allNodes(g: Graph): Node[] {
  const out: Node[] = [...g.inputs, ...g.params];
  const visit = (nodes: readonly Node[]): void => {
    for (const n of nodes) {
      if (n.body) {
        out.push(n.body.index, ...n.body.carried);
        visit(n.body.nodes);
      }
      out.push(n);
    }
  };
  visit(g.nodes);
  return out;
}

/**
 * The nodes the picture should leave out, by the rules documented in
 * src/viz/dot.ts: `loop` nodes (drawn as clusters), and, unless the value is
 * the loss, an output, a gradient or enters or leaves a loop: consts, numels,
 * loop indices, unnamed reshapes of those, and unnamed reshapes that only
 * add or drop size-1 dims.
 */
function expectedFolded(g: Graph): Set<Node> {
  const keep = new Set<Node>([g.loss, ...g.outputs.map((o) => o.node), ...g.grads.map((x) => x.node)]);
  const nodes = allNodes(g);
  for (const n of nodes) if (n.body) for (const v of [...n.inputs, ...n.body.results, ...n.body.tape]) keep.add(v);
  const folded = new Set<Node>();
  const constant = new Set<Node>();
  const squeeze = (s: readonly (string | number)[]): string => JSON.stringify(s.filter((d) => d !== 1));
  for (const n of nodes) {
    if (n.op === "loop") folded.add(n);
    if (keep.has(n)) continue;
    if (n.op === "const" || n.op === "numel" || n.op === "loop_index") {
      folded.add(n);
      constant.add(n);
    } else if (n.op === "reshape" && !n.name) {
      const x = n.inputs[0];
      if (constant.has(x)) constant.add(n);
      if (constant.has(x) || squeeze(x.shape) === squeeze(n.shape)) folded.add(n);
    }
  }
  return folded;
}

/** Decodes the XML escapes Graphviz writes into attribute values. */
function xmlDecode(s: string): string {
  return s
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

/** Graphviz writes runs of spaces as no-break spaces. */
const spaces = (s: string): string => s.replace(/\u00a0/g, " ");

/** A light well-formedness check: an XML prolog or <svg>, balanced <g>, the closing tag. */
function expectSvg(svg: string): void {
  expect(svg.startsWith("<?xml") || svg.startsWith("<svg")).toBe(true);
  expect(svg).toContain("<svg");
  expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
  expect((svg.match(/<g[\s>]/g) ?? []).length).toBe((svg.match(/<\/g>/g) ?? []).length);
  expect((svg.match(/<svg[\s>]/g) ?? []).length).toBe(1);
  expect((svg.match(/<text[\s>]/g) ?? []).length).toBe((svg.match(/<\/text>/g) ?? []).length);
  // Attribute values are quoted and contain no raw `<` or `"`.
  for (const m of svg.matchAll(/<[a-zA-Z][^>]*>/g)) {
    expect(m[0]).toMatch(/^<[a-zA-Z:]+(\s+[a-zA-Z:-]+="[^"<]*")*\s*\/?>$/);
  }
}

/** SVG node groups by their <title> (the DOT node id), and their tooltip. */
function svgNodes(svg: string): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const m of svg.matchAll(
    /<g id="node\d+" class="node">\s*<title>([^<]*)<\/title>(?:\s*<g id="[^"]*"><a xlink:title="([^"]*)")?/g,
  )) {
    out.set(m[1], m[2] === undefined ? undefined : spaces(xmlDecode(m[2])));
  }
  return out;
}

function sourceLine(source: string, line: number): string {
  return source.split(/\r?\n/)[line - 1].trim();
}

describe("toDot and renderSvg on the examples", () => {
  it("has examples to draw", () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  for (const file of examples) {
    it(`draws ${file}`, async () => {
      const path = join(EXAMPLES, file);
      const source = readFileSync(path, "utf8");
      const g = compile(source, `examples/${file}`);
      const dot = toDot(g);
      const svg = await renderSvg(dot);
      expectSvg(svg);

      // Both phases, in their colours, on shapes and edges.
      expect(svg).toContain(`stroke="${COLORS.fwd}"`);
      expect(svg).toContain(`stroke="${COLORS.bwd}"`);
      expect(svg).toMatch(
        new RegExp(`class="edge">\\s*<title>[^<]*</title>\\s*<path fill="none" stroke="${COLORS.bwd}"`),
      );
      expect(svg).toMatch(
        new RegExp(`class="edge">\\s*<title>[^<]*</title>\\s*<path fill="none" stroke="${COLORS.fwd}"`),
      );

      // One SVG node per IR node, but for the folded ones.
      const nodes = allNodes(g);
      const folded = expectedFolded(g);
      const drawn = svgNodes(svg);
      expect(drawn.size).toBe(nodes.length - folded.size);
      for (const n of nodes) expect(drawn.has(`n${n.id}`), `%${n.id} ${n.op}`).toBe(!folded.has(n));

      // Hovering shows the .bp line.
      for (const n of nodes) {
        if (folded.has(n) || n.span.line <= 0) continue;
        expect(drawn.get(`n${n.id}`)).toBe(`line ${n.span.line}: ${sourceLine(source, n.span.line)}`);
      }

      // Each loop, forward and backward, is a cluster holding its body.
      const loops = nodes.filter((n) => n.op === "loop");
      expect((svg.match(/class="cluster">\s*<title>cluster_loop\d+<\/title>/g) ?? []).length).toBe(loops.length);
      for (const l of loops) {
        const start = dot.indexOf(`subgraph cluster_loop${l.id} {`);
        expect(start).toBeGreaterThan(0);
        for (const n of l.body!.nodes)
          if (!folded.has(n)) expect(dot.indexOf(`  n${n.id} [`, start)).toBeGreaterThan(start);
      }

      // Labels carry the source name and the shape.
      const named = nodes.find((n) => n.name && !["input", "param", "full"].includes(n.op) && !folded.has(n));
      if (named) expect(dot).toContain(`${named.name} = ${named.op}`);
      expect(svg).toContain(`>[${g.loss.shape.join(", ")}]<`);
    });
  }

  it("draws the rnn's forward and backward loops as two clusters", async () => {
    const g = compile(readFileSync(join(EXAMPLES, "rnn.bp"), "utf8"), "examples/rnn.bp");
    const dot = toDot(g);
    expect(dot.match(/subgraph cluster_loop\d+ \{/g)).toHaveLength(2);
    expect(dot).toContain("loop: for t in 0..50");
    expect(dot).toContain("backward loop: t from 49 down to 0");
    // Body nodes read outer values (Wh) across the cluster border.
    const wh = g.params.find((p) => p.name === "Wh")!;
    expect(dot).toMatch(new RegExp(`n${wh.id} -> n\\d+ \\[color="${COLORS.fwd}"`));
  });
});

describe("escaping", () => {
  it("escapes DOT strings and HTML label text", () => {
    expect(dotString('a"b')).toBe('"a\\"b"');
    expect(dotString("a\\b")).toBe('"a\\\\\\\\b"');
    expect(dotString("a&b\nc")).toBe('"a&amp;b c"');
    expect(xmlText(`<b>&"'\\`)).toBe("&lt;b&gt;&amp;&quot;&#39;&#92;");
  });

  const hostile = [
    "# hostile.bp: names and comments that must not break DOT or SVG",
    "model __proto__",
    "",
    "dim B",
    "dim D = 4",
    "",
    String.raw`input  constructor: [B, D] ~ normal(0, 1)   # a "quoted" comment: \ <tag> & \N \G \L \n ]]> --> &#92; &amp; é ✓`,
    "param  __proto__: [D, D] ~ he",
    "param  toString: [D] ~ zeros",
    "",
    "hasOwnProperty = tanh(constructor @ __proto__ + toString)   # \"\\\" <b>x</b> 'q' \\\\n end\\",
    'loss = mean(square(hasOwnProperty))   # </svg> <!-- "',
    "minimize loss",
    "",
  ].join("\n");

  it("renders a model with hostile names and source text, tooltips intact", async () => {
    const g = compile(hostile, "hostile.bp");
    const dot = toDot(g, { title: 'model "__proto__" <i>\\N</i> & \\' });
    const svg = await renderSvg(dot);
    expectSvg(svg);
    const drawn = svgNodes(svg);
    const byName = (name: string): Node => allNodes(g).find((n) => n.name === name)!;
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty", "loss"]) {
      const n = byName(name);
      expect(drawn.get(`n${n.id}`)).toBe(`line ${n.span.line}: ${sourceLine(hostile, n.span.line)}`);
      expect(svg).toContain(`>${name}`);
    }
    expect(spaces(xmlDecode(svg))).toContain('model "__proto__" <i>\\N</i> & \\');
  });

  it("never lets a name reach a DOT identifier", () => {
    const dot = toDot(compile(hostile, "hostile.bp"));
    for (const m of dot.matchAll(/^\s*([^\s[{}]+)( ->|\s*\[)/gm)) expect(m[1]).toMatch(/^(n\d+|graph|node|edge)$/);
  });
});

describe("runGraph", () => {
  it("writes SVG or DOT by the extension, and returns DOT without -o", async () => {
    const file = join(tmp, "mlp.bp");
    writeFileSync(file, readFileSync(join(EXAMPLES, "mlp.bp")));
    const svgOut = join(tmp, "mlp.svg");
    expect(await runGraph(file, svgOut)).toEqual({ wrote: svgOut });
    expectSvg(readFileSync(svgOut, "utf8"));
    const dotOut = join(tmp, "mlp.dot");
    expect(await runGraph(file, dotOut)).toEqual({ wrote: dotOut });
    const dot = readFileSync(dotOut, "utf8");
    expect(dot.startsWith("digraph bpc {")).toBe(true);
    expect(await runGraph(file, undefined)).toEqual({ output: dot });
  });

  it("rejects an unknown extension and reports compile errors", async () => {
    await expect(runGraph(join(EXAMPLES, "mlp.bp"), join(tmp, "mlp.png"))).rejects.toThrow(/\.svg or \.dot/);
    const bad = join(tmp, "bad.bp");
    writeFileSync(bad, "model bad\nloss = nope(\n");
    await expect(runGraph(bad, undefined)).rejects.toMatchObject({ name: "BpcError" });
    await expect(runGraph(join(tmp, "missing.bp"), undefined)).rejects.toThrow(/no such file/);
  });
});
