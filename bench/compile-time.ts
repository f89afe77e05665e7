// Compile time: generated MLPs of 10, 100 and 1,000 layers and the vanilla
// RNN with T = 10, 100, 1,000, each through every stage (parse + lower,
// autodiff, simplify, emit = codegen + prettier formatting); prints the time
// of each stage and the generated code size. Issue 6's goals: 1,000 layers
// under 2 s, growth near linear in the layers, code size independent of T.
// Run: `npm run bench:compile` (node dist/bench/compile-time.js).
// `node dist/bench/compile-time.js --plain` formats every declaration whole
// with prettier (the way before format.ts), for comparison; both give the same text.
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { format } from "prettier";
import { formatModule, moduleParts } from "../src/codegen/emit.js";
import { PRETTIER } from "../src/codegen/format.js";
import { grad } from "../src/passes/autodiff.js";
import { frontEnd, simplify } from "../src/passes/pipeline.js";

/** An MLP of `layers` tanh layers of width 32, written as a person would: one def, one line per layer. */
export function mlpSource(layers: number): string {
  const L = ["# generated: a deep MLP", `model deep${layers}`, "dim B", "dim D = 32", "dim C = 10"];
  L.push("input x: [B, D] ~ normal(0, 1)", "input y: int[B] in [0, C)");
  for (let i = 0; i < layers; i++) L.push(`param W${i}: [D, D] ~ xavier`, `param b${i}: [D] ~ zeros`);
  L.push("param Wo: [D, C] ~ xavier", "def layer(h, W, b) = tanh(h @ W + b)", "h0 = x");
  for (let i = 0; i < layers; i++) L.push(`h${i + 1} = layer(h${i}, W${i}, b${i})`);
  L.push(`loss = mean(cross_entropy(h${layers} @ Wo, y))`, "minimize loss");
  return L.join("\n") + "\n";
}

/** The bench's vanilla RNN with T steps. */
export function rnnSource(T: number): string {
  return `model rnn${T}
dim B
dim T = ${T}
dim D = 32
dim H = 64
dim C = 10
input  xs: [T, B, D] ~ normal(0, 1)
input  y:  int[B] in [0, C)
param  Wx: [D, H] ~ xavier
param  Wh: [H, H] ~ orthogonal
param  bh: [H]    ~ zeros
param  Wy: [H, C] ~ xavier
param  by: [C]    ~ zeros
h = zeros([B, H])
for t in 0..T {
  h = tanh(xs[t] @ Wx + h @ Wh + bh)
}
logits = h @ Wy + by
loss = mean(cross_entropy(logits, y))
minimize loss
`;
}

export interface CompileTiming {
  name: string;
  sourceLines: number;
  irNodes: number;
  /** ms per stage. */
  front: number;
  autodiff: number;
  simplify: number;
  /** emit = codegen + format. */
  codegen: number;
  format: number;
  emit: number;
  total: number;
  tsChars: number;
  tsLines: number;
}

function countNodes(nodes: readonly { body?: { nodes: readonly unknown[] } }[]): number {
  let n = 0;
  for (const x of nodes) {
    n++;
    if (x.body) n += countNodes(x.body.nodes as typeof nodes);
  }
  return n;
}

/** Formats every declaration whole with prettier instead of through format.ts. */
const plain = process.argv.includes("--plain");
const plainFormat = (d: string): Promise<string> => format(d, PRETTIER);

export async function timeCompile(name: string, src: string): Promise<CompileTiming> {
  const t0 = performance.now();
  const { ir } = frontEnd(src, `${name}.bp`);
  const t1 = performance.now();
  const g = grad(ir, { inputGrads: [] });
  const t2 = performance.now();
  const opt = simplify(g);
  const t3 = performance.now();
  const parts = moduleParts(opt, { precision: "f32", inputGrads: [] });
  const t35 = performance.now();
  const ts = await formatModule(parts, plain ? plainFormat : undefined);
  const t4 = performance.now();
  return {
    name,
    sourceLines: src.split("\n").length - 1,
    irNodes: countNodes(opt.nodes),
    front: t1 - t0,
    autodiff: t2 - t1,
    simplify: t3 - t2,
    codegen: t35 - t3,
    format: t4 - t35,
    emit: t4 - t3,
    total: t4 - t0,
    tsChars: ts.length,
    tsLines: ts.split("\n").length,
  };
}

/** The run with the median total of `reps` runs (1,000 layers runs once: it takes seconds). */
async function median(name: string, src: string, reps: number): Promise<CompileTiming> {
  const runs: CompileTiming[] = [];
  for (let i = 0; i < reps; i++) runs.push(await timeCompile(name, src));
  runs.sort((a, b) => a.total - b.total);
  return runs[Math.floor(runs.length / 2)];
}

async function main(): Promise<void> {
  // Warm the compiler's own code once so the small sizes are not dominated by JIT warm-up.
  await timeCompile("warm", mlpSource(20));
  const rows: CompileTiming[] = [];
  for (const n of [10, 100, 1000]) rows.push(await median(`MLP, ${n} layers`, mlpSource(n), n >= 1000 ? 1 : 5));
  for (const T of [10, 100, 1000]) rows.push(await median(`RNN, T = ${T}`, rnnSource(T), 5));
  const f = (x: number) => x.toFixed(x >= 100 ? 0 : 1);
  const lines = [
    "| model | .bp lines | IR nodes (opt) | parse + lower ms | autodiff ms | simplify ms | emit ms (codegen + prettier) | total ms | generated TS |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.sourceLines} | ${r.irNodes} | ${f(r.front)} | ${f(r.autodiff)} | ${f(r.simplify)} | ${f(r.emit)} (${f(r.codegen)} + ${f(r.format)}) | ${f(r.total)} | ${r.tsLines} lines, ${(r.tsChars / 1024).toFixed(1)} KB |`,
    ),
  ];
  if (plain) console.log("(--plain: every declaration formatted whole by prettier)\n");
  console.log(lines.join("\n"));
  const mlp = rows.slice(0, 3);
  const rnn = rows.slice(3);
  const thousand = mlp[2];
  console.log(
    `\n1,000 layers: ${(thousand.total / 1000).toFixed(2)} s (goal < 2 s: ${thousand.total < 2000 ? "met" : "NOT met"}); ` +
      `growth 100 -> 1,000 layers: ${(thousand.total / mlp[1].total).toFixed(1)}x time for 10x layers (linear: 10x); ` +
      `10 -> 100: ${(mlp[1].total / mlp[0].total).toFixed(1)}x.`,
  );
  // Only the literal T (a few more digits each time) may change with T.
  const sizes = rnn.map((r) => r.tsChars);
  const spread = Math.max(...sizes) - Math.min(...sizes);
  console.log(
    `RNN generated size for T = 10, 100, 1,000: ${sizes.join(", ")} chars: ${spread <= 64 ? `independent of T (the ${spread} chars are the digits of T)` : `DEPENDS on T (+${spread} chars)`}.`,
  );
}

// Run as a script (tests import the sources above).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
