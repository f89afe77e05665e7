// DOT to SVG in-process, with the Graphviz build compiled to WebAssembly
// (@hpcc-js/wasm-graphviz): no system Graphviz needed. The module is loaded
// once and reused.
import { Graphviz } from "@hpcc-js/wasm-graphviz";

let loading: Promise<Graphviz> | undefined;

function graphviz(): Promise<Graphviz> {
  loading ??= Graphviz.load();
  return loading;
}

/**
 * Lays out DOT source with the `dot` engine and returns the SVG text.
 * Throws Graphviz's message (an Error) when the DOT does not parse.
 */
export async function renderSvg(dot: string): Promise<string> {
  const gv = await graphviz();
  const svg = gv.layout(dot, "svg", "dot");
  // Graphviz sizes text with Helvetica metrics and writes the family as
  // "Helvetica,sans-Serif"; viewers without Helvetica should fall back to a
  // metric-compatible face (Arial, Liberation Sans), not a wider sans-serif.
  return svg.replace(/font-family="Helvetica,sans-Serif"/g, 'font-family="Helvetica,Arial,Liberation Sans,sans-serif"');
}
