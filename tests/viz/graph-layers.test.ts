// `bpc graph` on conv nets (issue 12 point 6): the ops of each source
// statement (a layer, or a def call with its body) are one dotted cluster per
// phase, titled with the statement; every op shows its shape; convolution
// and pooling labels show only their non-default geometry.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { compileStages } from "../../src/passes/pipeline.js";
import { toDot } from "../../src/viz/dot.js";
import { renderSvg } from "../../src/viz/svg.js";

const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

function dotOf(file: string): string {
  return toDot(compileStages(readFileSync(join(EXAMPLES, file), "utf8"), `examples/${file}`).opt);
}

/** Each cluster of the DOT text: its name, its label, the labels of the nodes directly in it. */
function clusters(dot: string): { name: string; label: string; nodes: string[] }[] {
  const out: { name: string; label: string; nodes: string[] }[] = [];
  const stack: { name: string; label: string; nodes: string[] }[] = [];
  for (const line of dot.split("\n")) {
    const open = /subgraph (cluster_\w+) \{/.exec(line);
    if (open) {
      const c = { name: open[1], label: "", nodes: [] as string[] };
      stack.push(c);
      out.push(c);
      continue;
    }
    if (/^\s*\}$/.test(line)) {
      stack.pop();
      continue;
    }
    const top = stack[stack.length - 1];
    if (!top) continue;
    const g = /^\s*graph \[label=<(.*?)>, /.exec(line);
    if (g) top.label = g[1];
    const n = /^\s*n\d+ \[.*label=<(.*?)<BR\/>/.exec(line);
    if (n) top.nodes.push(n[1]);
  }
  return out;
}

describe("bpc graph clusters a conv net by layer", () => {
  const dot = dotOf("lenet.bp");
  const cs = clusters(dot);

  it("draws one forward cluster per conv layer, titled with its statement, holding conv, bias, relu and pool", () => {
    const convLayers = cs.filter((c) => c.name.startsWith("cluster_fwd_") && c.nodes.some((l) => /^conv\b/.test(l)));
    expect(convLayers).toHaveLength(2);
    expect(convLayers[0].label).toMatch(/^line 22: h1 = max_pool2d\(relu\(conv2d\(x, K1, padding=2\)/);
    expect(convLayers[1].label).toMatch(/^line 23: h2 = max_pool2d\(relu\(conv2d\(h1, K2\)/);
    for (const c of convLayers) {
      expect(c.nodes.filter((l) => /^conv\b/.test(l))).toHaveLength(1);
      expect(c.nodes.some((l) => /max_pool/.test(l))).toBe(true);
      expect(c.nodes).toContain("relu");
    }
    // The first conv shows its padding and nothing at its default; the pool its kernel and stride.
    expect(convLayers[0].nodes).toContain("conv pad=2");
    expect(convLayers[1].nodes).toContain("conv");
    expect(convLayers[0].nodes).toContain("h1 = max_pool kernel=2 stride=2");
  });

  it("draws the backward of each conv layer as its own cluster, with the transposed conv and the kernel gradient", () => {
    const grads = cs.filter(
      (c) => c.name.startsWith("cluster_bwd_") && c.nodes.some((l) => /conv_kernel_grad/.test(l)),
    );
    expect(grads.map((c) => c.label.replace(/:.*/, ""))).toEqual(["grad of line 23", "grad of line 22"]);
    expect(grads[0].nodes.some((l) => /^dh1 = conv_transpose/.test(l))).toBe(true);
  });

  it("labels every op with its shape, symbolic batch included", async () => {
    expect(dot).toContain(">[B, 6, 28, 28]<");
    expect(dot).toContain(">[B, 6, 14, 14]<");
    expect(dot).toContain(">[B, 16, 10, 10]<");
    expect(dot).toContain(">[16, 6, 5, 5]<");
    const svg = await renderSvg(dot);
    expect(svg).toContain(">[B, 6, 28, 28]<");
    // Graphviz draws each cluster as an SVG group titled with its name.
    const titles = [...svg.matchAll(/<g id="clust\d+" class="cluster">\s*<title>(cluster_\w+)<\/title>/g)].map(
      (m) => m[1],
    );
    for (const c of cs) expect(titles).toContain(c.name);
  });

  it("puts a def call and the def's body in the cluster of the call's statement", () => {
    const bn = clusters(dotOf("batchnorm.bp"));
    const call = bn.filter(
      (c) =>
        c.name.startsWith("cluster_fwd_") && c.label.startsWith("line 26: h = relu(batchnorm(x @ W1, gamma, beta))"),
    );
    expect(call).toHaveLength(1);
    // mean (mu), sub (zc), the variance, the division and relu all come from that one call.
    expect(call[0].nodes.some((l) => l.startsWith("mu = mean"))).toBe(true);
    expect(call[0].nodes.some((l) => l.startsWith("zhat = div"))).toBe(true);
    expect(call[0].nodes.some((l) => l.startsWith("h = relu"))).toBe(true);
  });

  it("clusters statements inside a loop body within the loop's cluster", () => {
    const dot = dotOf("lstm.bp");
    const loops = dot.split("\n").filter((l) => /subgraph cluster_loop\d+ \{/.test(l));
    expect(loops.length).toBeGreaterThan(0);
    // A statement cluster opened while a loop cluster is open.
    const open: string[] = [];
    let nested = 0;
    for (const line of dot.split("\n")) {
      const m = /subgraph cluster_(loop|fwd|bwd)/.exec(line);
      if (m) {
        if (m[1] !== "loop" && open.includes("loop")) nested++;
        open.push(m[1]);
      } else if (/^\s*\}$/.test(line)) open.pop();
    }
    expect(nested).toBeGreaterThan(0);
  });
});
