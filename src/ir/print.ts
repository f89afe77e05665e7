// The IR printer: one line per node, `%id name: type = op inputs {attrs}`,
// followed by the .bp line it came from. Loop bodies print indented.
import type { Graph, Node } from "./types.js";

export function typeStr(n: Node): string {
  return `${n.dtype === "int" ? "int" : "f"}[${n.shape.join(", ")}]`;
}

function ref(n: Node): string {
  return n.name ? `%${n.id}:${n.name}` : `%${n.id}`;
}

function attrStr(n: Node): string {
  const entries = Object.entries(n.attrs).filter(([k]) => !(n.op === "loop" && k === "count"));
  if (entries.length === 0) return "";
  return ` {${entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")}}`;
}

function line(n: Node, indent: string): string {
  const lhs = `${indent}${ref(n)}: ${typeStr(n)}`;
  const rhs = `${n.op}${n.inputs.length ? " " + n.inputs.map(ref).join(", ") : ""}${attrStr(n)}`;
  const text = `${lhs} = ${rhs}`;
  const where = n.span.line > 0 ? `line ${n.span.line}${n.span.via ? ` via line ${n.span.via.line}` : ""}` : "";
  return where ? `${text.padEnd(64)}  # ${where}` : text;
}

function printNodes(nodes: readonly Node[], indent: string, out: string[]): void {
  for (const n of nodes) {
    if (n.op === "loop" && n.body) {
      const b = n.body;
      out.push(
        `${indent}${ref(n)} = loop ${ref(b.index)} in 0..${String(n.attrs.count)} carry(${b.carried
          .map((c, i) => `${ref(c)} <- ${ref(n.inputs[i])}`)
          .join(", ")}) {`.padEnd(66) + (n.span.line > 0 ? `# line ${n.span.line}` : ""),
      );
      printNodes(b.nodes, indent + "  ", out);
      out.push(`${indent}  next(${b.results.map(ref).join(", ")})`);
      if (b.tape.length) out.push(`${indent}  tape(${b.tape.map(ref).join(", ")})`);
      out.push(`${indent}}`);
    } else {
      out.push(line(n, indent));
    }
  }
}

/** Prints the forward graph, and the backward graph when autodiff has run. */
export function printGraph(g: Graph, opts: { phase?: "fwd" | "all" } = {}): string {
  const out: string[] = [`model ${g.name}  # ${g.file}`];
  for (const d of g.dims) out.push(`dim ${d.name}${d.value === null ? "" : ` = ${d.value}`}`);
  for (const n of [...g.inputs, ...g.params]) out.push(line(n, ""));
  const fwd = g.nodes.filter((n) => n.phase === "fwd");
  const bwd = g.nodes.filter((n) => n.phase === "bwd");
  if (bwd.length && opts.phase !== "fwd") out.push("# forward");
  printNodes(fwd, "", out);
  for (const o of g.outputs) out.push(`output ${o.name} = ${ref(o.node)}`);
  out.push(`minimize ${ref(g.loss)}`);
  if (bwd.length && opts.phase !== "fwd") {
    out.push("# backward");
    printNodes(bwd, "", out);
  }
  for (const gr of g.grads) out.push(`grad ${gr.name} = ${ref(gr.node)}`);
  return out.join("\n") + "\n";
}
