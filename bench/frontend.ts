// Front-end speed: a generated model of about 2,000 lines is parsed, checked
// and lowered; prints the median time of several runs. Not a test: run it
// with `npm run bench:frontend`.
import { performance } from "node:perf_hooks";
import { lower } from "../src/frontend/lower/index.js";
import { parse } from "../src/frontend/parser/parse.js";

/** A deep MLP written the way a person would: one def, one line per layer. */
export function generatedModel(layers: number): string {
  const lines = ["# generated: a deep tanh MLP", "model deep", "dim B", "dim D = 32", "input x: [B, D] ~ normal(0, 1)", "input y: int[B] in [0, D)"];
  for (let i = 0; i < layers; i++) lines.push(`param W${i}: [D, D] ~ xavier`, `param b${i}: [D] ~ zeros`);
  lines.push("def layer(h, W, b) = tanh(h @ W + b)", "h0 = x");
  for (let i = 0; i < layers; i++) lines.push(`h${i + 1} = layer(h${i}, W${i}, b${i})   # layer ${i}`);
  lines.push(`loss = mean(cross_entropy(h${layers}, y))`, "minimize loss");
  return lines.join("\n") + "\n";
}

const src = generatedModel(665);
const count = src.split("\n").length - 1;
const times: number[] = [];
let nodes = 0;
for (let i = 0; i < 7; i++) {
  const t0 = performance.now();
  const g = lower(parse(src, "deep.bp"));
  times.push(performance.now() - t0);
  nodes = g.nodes.length;
}
times.sort((a, b) => a - b);
console.log(`front end: ${count} lines, ${nodes} IR nodes: median ${times[3].toFixed(1)} ms (first run ${times[times.length - 1].toFixed(1)} ms max)`);
