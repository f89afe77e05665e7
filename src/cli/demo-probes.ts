// `bpc demo --probes` (spec section 12): the seed article's training-time
// lessons, watched by compiled probes and `monitor`: ReLUs killed by a too-large
// learning rate (which the static linter cannot see), sigmoids saturated by raw
// pixels, and an RNN whose gradient explodes going back through time. Writes
// out/probes.html.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pc from "picocolors";
import { emitModule } from "../codegen/emit.js";
import { loadModule } from "../codegen/runtime-load.js";
import { compileStages } from "../passes/pipeline.js";
import { batches, gather, gatherLabels, loadMnist, monitor, reportPage, rng, sgd, splitTrainTest } from "../train/index.js";
import type { Dataset, Finding, Monitor, Optimizer, Probes } from "../train/index.js";
import { runLint } from "./lint.js";
import { readSource } from "./read.js";

type F32 = Float32Array;
type Inputs = Record<string, F32 | Int32Array>;
interface ProbedModule {
  init(seed?: number): Record<string, F32>;
  backward(params: Record<string, F32>, inputs: Inputs): { loss: number; grads: Record<string, F32> };
  probe(params: Record<string, F32>, inputs: Inputs): Probes;
}

const say = (s: string): void => void process.stdout.write(s + "\n");

async function compileProbed(root: string, name: string, edit: (src: string) => string = (s) => s): Promise<ProbedModule> {
  const file = join("examples", `${name}.bp`);
  const st = compileStages(edit(readSource(join(root, file))), file);
  return (await loadModule(await emitModule(st.opt, { precision: "f32", inputGrads: [], probes: true }))) as unknown as ProbedModule;
}

function show(f: Finding): string {
  const color = f.severity === "error" ? pc.red : pc.yellow;
  return `  ${color(f.rule)} at step ${f.step}${f.line ? `, line ${f.line}` : ""}: ${f.message}\n    ${pc.dim(`fix: ${f.fix}`)}`;
}

/** Trains for `steps` mini-batches, probing every step; returns the monitor. */
function watch(
  mod: ProbedModule,
  file: string,
  steps: number,
  optimizer: Optimizer,
  batch: (step: number) => Inputs,
  onFinding: (f: Finding) => void = (f) => say(show(f)),
): { mon: Monitor; last: Probes } {
  const params = mod.init(1);
  const mon = monitor({ file });
  let last: Probes | undefined;
  for (let step = 0; step < steps; step++) {
    const inputs = batch(step);
    const probes = mod.probe(params, inputs);
    const { grads } = mod.backward(params, inputs);
    optimizer.step(params, grads);
    for (const f of mon.record(step, probes, optimizer.updateNorms)) onFinding(f);
    last = probes;
    if (probes.nonFinite) break;
  }
  return { mon, last: last as Probes };
}

function mnistBatches(data: Dataset, size: number): (step: number) => Inputs {
  const x = new Float32Array(size * 784);
  const y = new Int32Array(size);
  const all: Int32Array[] = [];
  for (let epoch = 0; epoch < 4; epoch++) for (const idx of batches({ n: data.n, batchSize: size, seed: 7, epoch, dropLast: true })) all.push(idx);
  return (step) => {
    const idx = all[step % all.length];
    return { x: gather(data.images, 784, idx, x), y: gatherLabels(data.labels, idx, y) };
  };
}

export async function probesDemo(root: string, outDir: string): Promise<void> {
  const sections: string[] = [];
  say("");
  say(pc.bold("Probes 1: ReLUs killed by a too-large learning rate (examples/mnist_mlp.bp, sgd lr = 3)"));
  const lint = runLint([join(root, "examples/mnist_mlp.bp")], "text", { color: false });
  say(`static linter on mnist_mlp.bp: ${lint.output.trim() === "" ? "no findings" : lint.output.trim()}`);
  const unit = splitTrainTest(loadMnist({ scale: "unit" }), 0.2, 2026).train;
  const mlp = await compileProbed(root, "mnist_mlp");
  const a = watch(mlp, "examples/mnist_mlp.bp", 60, sgd({ lr: 3 }), mnistBatches(unit, 64));
  const h = a.last.sites[0];
  say(`after ${a.mon.findings.length ? "training" : "60 steps"}: ${Math.round(100 * (h.dead ?? 0))} % of h's units dead; the linter saw a sound model at init (he init, inputs in [0, 1]) and cannot see the step that kills them`);
  sections.push(a.mon.section("ReLU MLP, sgd lr = 3: units die (the static linter is silent on this model)"));

  say("");
  say(pc.bold("Probes 2: sigmoids saturated by raw pixels and a large init (examples/mnist_sigmoid_raw.bp)"));
  const raw = splitTrainTest(loadMnist({ scale: "raw255" }), 0.2, 2026).train;
  const sig = await compileProbed(root, "mnist_sigmoid_raw");
  const b = watch(sig, "examples/mnist_sigmoid_raw.bp", 40, sgd({ lr: 10 }), mnistBatches(raw, 64));
  say(`h's input: mean ${b.last.sites[0].mean.toFixed(1)}, std ${b.last.sites[0].std.toFixed(1)}; ${Math.round(100 * (b.last.sites[0].saturated ?? 0))} % saturated`);
  sections.push(b.mon.section("Sigmoid network on raw pixels, normal(0, 1) init: saturated from the first step"));

  say("");
  say(pc.bold("Probes 3: an RNN whose gradient explodes through time (examples/rnn_exploding.bp)"));
  const next = rng(5);
  const rnnBatch = (T: number, B: number): (() => Inputs) => {
    const xs = new Float32Array(T * B * 16);
    const y = new Int32Array(B);
    return () => {
      for (let i = 0; i < xs.length; i++) xs[i] = 2 * next() - 1;
      for (let i = 0; i < B; i++) y[i] = Math.floor(10 * next());
      return { xs, y };
    };
  };
  const full = await compileProbed(root, "rnn_exploding");
  const nf = full.probe(full.init(1), rnnBatch(50, 16)());
  if (nf.nonFinite) say(`at T = 50 the float32 forward overflows: probe names \`${nf.nonFinite.name}\` on line ${nf.nonFinite.line} as the first value holding an infinity`);
  const T = 16;
  const short = await compileProbed(root, "rnn_exploding", (s) => s.replace(/dim T = 50/, `dim T = ${T}`));
  // A learning rate this small keeps the exploded gradient from wrecking the weights, so the profile stays visible.
  const c = watch(short, `examples/rnn_exploding.bp (T = ${T})`, 20, sgd({ lr: 1e-13 }), rnnBatch(T, 16));
  const g = c.last.loops[0].gradNorms;
  say(`with T = ${T}, |d loss / d h| after step t: ${[0, 4, 8, 12, T - 1].map((t) => `t=${t}: ${g[t].toExponential(1)}`).join(", ")}`);
  sections.push(c.mon.section(`RNN with Wh ~ normal(0, 1), T = ${T}: the gradient grows going back through time`));

  const file = join(outDir, "probes.html");
  writeFileSync(
    file,
    reportPage("bpc demo --probes", sections, "Three networks trained with probe() called every step and monitor() reading the probes (spec section 12)."),
  );
  say("");
  say(`report: ${file}`);
}
