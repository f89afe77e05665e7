// `bpc demo`: the whole job on bundled material. Compiles
// examples/mnist_mlp.bp (or, with --model lenet, the convolutional
// examples/lenet.bp) to a TypeScript module, trains it with the compiled
// backward on MNIST digits from the `mnist` package, prints test accuracy and
// writes the loss curve. With --saturation it also replays the article's first
// lesson: a sigmoid network on raw 0-255 pixels with a large init, linted, then
// trained next to its normalised twin.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import pc from "picocolors";
import { emitModule } from "../codegen/emit.js";
import { loadModule } from "../codegen/runtime-load.js";
import { compileStages } from "../passes/pipeline.js";
import { adam, batches, gather, gatherLabels, lineChartSvg, loadMnist, progressBar, sgd, splitTrainTest } from "../train/index.js";
import type { Dataset, Optimizer } from "../train/index.js";
import { runLint } from "./lint.js";
import { readSource } from "./read.js";

type F32 = Float32Array;
interface TrainableModule {
  init(seed?: number): Record<string, F32>;
  forward(params: Record<string, F32>, inputs: Record<string, F32 | Int32Array>): { loss: number; [out: string]: number | F32 | Int32Array };
  backward(params: Record<string, F32>, inputs: Record<string, F32 | Int32Array>): { loss: number; grads: Record<string, F32> };
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const say = (s: string): void => void process.stdout.write(s + "\n");

/** Compiles a bundled example and writes the module next to the outputs, as a user would. */
async function compileExample(name: string, outDir: string): Promise<{ mod: TrainableModule; path: string }> {
  const file = join("examples", `${name}.bp`);
  const source = readSource(join(root, file));
  const st = compileStages(source, file);
  const ts = await emitModule(st.opt, { precision: "f32", inputGrads: [] });
  const path = join(outDir, `${name}.ts`);
  writeFileSync(path, ts);
  return { mod: (await loadModule(ts)) as unknown as TrainableModule, path };
}

interface TrainResult {
  curve: [number, number][];
  accuracy: number;
  seconds: number;
}

async function train(
  mod: TrainableModule,
  data: { train: Dataset; test: Dataset },
  opts: { epochs: number; batchSize: number; optimizer: Optimizer; decay?: number },
): Promise<TrainResult> {
  const lr0 = opts.optimizer.lr;
  const params = mod.init(1);
  const { train: tr, test } = data;
  const x = new Float32Array(opts.batchSize * 784);
  const y = new Int32Array(opts.batchSize);
  const curve: [number, number][] = [];
  const t0 = performance.now();
  let step = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    // An optional per-epoch learning-rate decay (lenet's schedule).
    opts.optimizer.lr = lr0 * (opts.decay ?? 1) ** epoch;
    const bs = batches({ n: tr.n, batchSize: opts.batchSize, seed: 7, epoch, dropLast: true });
    const bar = progressBar({ total: bs.count, epoch: epoch + 1, epochs: opts.epochs });
    for (const idx of bs) {
      const { loss, grads } = mod.backward(params, { x: gather(tr.images, 784, idx, x), y: gatherLabels(tr.labels, idx, y) });
      opts.optimizer.step(params, grads);
      bar.tick(loss, idx.length);
      if (step % 10 === 0) curve.push([step, loss]);
      step++;
    }
    bar.done();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { curve, accuracy: accuracy(mod, params, test), seconds };
}

function accuracy(mod: TrainableModule, params: Record<string, F32>, test: Dataset): number {
  const n = 500;
  const x = new Float32Array(n * 784);
  const y = new Int32Array(n);
  let correct = 0;
  for (let start = 0; start + n <= test.n; start += n) {
    const idx = Int32Array.from({ length: n }, (_, i) => start + i);
    const out = mod.forward(params, { x: gather(test.images, 784, idx, x), y: gatherLabels(test.labels, idx, y) });
    const logits = out.logits as F32;
    const classes = logits.length / n;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      if (best === y[i]) correct++;
    }
  }
  return correct / (Math.floor(test.n / n) * n);
}

/** The models `--model` trains: the example, its epochs, and its optimizer (lenet: Adam with its rate decayed 0.8x per epoch). */
const MODELS = {
  mlp: { example: "mnist_mlp", epochs: 3, lr: 2e-3, decay: 1, target: 0.9 },
  lenet: { example: "lenet", epochs: 10, lr: 3e-3, decay: 0.8, target: 0.98 },
} as const;

export type DemoModel = keyof typeof MODELS | "char_lm";

export async function runDemo(opts: { model?: DemoModel; epochs?: number; steps?: number; out: string; saturation: boolean; probes?: boolean }): Promise<void> {
  const outDir = resolve(opts.out);
  mkdirSync(outDir, { recursive: true });
  const t0 = performance.now();
  if (opts.model === "char_lm") {
    const { charLmDemo } = await import("./demo-charlm.js");
    await charLmDemo(root, outDir, opts.steps ?? 300);
    say(pc.dim(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`));
    return;
  }
  const m = MODELS[opts.model ?? "mlp"];
  const epochs = opts.epochs ?? m.epochs;
  if (opts.probes) {
    const { probesDemo } = await import("./demo-probes.js");
    await probesDemo(root, outDir);
    say(pc.dim(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`));
    return;
  }
  const digits = loadMnist({ scale: "unit" });
  const split = splitTrainTest(digits, 0.2, 2026);
  say(pc.bold(`MNIST: ${digits.n} digits from the 'mnist' package, split ${split.train.n} train / ${split.test.n} test (seed 2026)`));

  const { mod, path } = await compileExample(m.example, outDir);
  say(`compiled examples/${m.example}.bp -> ${path}`);
  const r = await train(mod, split, { epochs, batchSize: 64, optimizer: adam({ lr: m.lr }), decay: m.decay });
  const curveFile = join(outDir, `${m.example}_loss.svg`);
  writeFileSync(
    curveFile,
    lineChartSvg({ title: `${m.example}.bp: training loss`, xLabel: "step", yLabel: "cross-entropy", series: [{ name: m.example, points: r.curve }] }),
  );
  const ok = r.accuracy >= m.target ? pc.green : pc.red;
  say(ok(`test accuracy: ${(100 * r.accuracy).toFixed(2)}% after ${epochs} epoch${epochs === 1 ? "" : "s"} (${r.seconds.toFixed(1)} s of training)`));
  say(`loss curve: ${curveFile}`);

  if (opts.saturation) await saturationLesson(outDir);
  say(pc.dim(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`));
}

/** The article's first lesson, on real data: the linter's warning first, then both loss curves. */
async function saturationLesson(outDir: string): Promise<void> {
  say("");
  say(pc.bold("Lesson 1: sigmoids saturated by raw pixels and a large init"));
  const lint = runLint([join(root, "examples/mnist_sigmoid_raw.bp")], "text", { color: pc.isColorSupported && process.stdout.isTTY === true });
  say(lint.output.trimEnd());
  const raw = splitTrainTest(loadMnist({ scale: "raw255" }), 0.2, 2026);
  const unit = splitTrainTest(loadMnist({ scale: "unit" }), 0.2, 2026);
  const bad = await compileExample("mnist_sigmoid_raw", outDir);
  const good = await compileExample("mnist_sigmoid", outDir);
  const epochs = 2;
  say("training mnist_sigmoid_raw.bp (raw 0-255 pixels, W ~ normal(0, 1)):");
  const rb = await train(bad.mod, raw, { epochs, batchSize: 64, optimizer: sgd({ lr: 10 }) });
  say("training mnist_sigmoid.bp (pixels in [0, 1], xavier init):");
  const rg = await train(good.mod, unit, { epochs, batchSize: 64, optimizer: sgd({ lr: 10 }) });
  const file = join(outDir, "saturation_loss.svg");
  writeFileSync(
    file,
    lineChartSvg({
      title: "Saturated sigmoids do not learn",
      xLabel: "step",
      yLabel: "loss",
      series: [
        { name: "raw pixels, normal(0, 1) init", points: rb.curve, color: "#d62728" },
        { name: "pixels in [0, 1], xavier init", points: rg.curve, color: "#1f77b4" },
      ],
    }),
  );
  say(`raw pixels, large init:  test accuracy ${(100 * rb.accuracy).toFixed(1)}%, loss ${rb.curve[0][1].toFixed(3)} -> ${rb.curve[rb.curve.length - 1][1].toFixed(3)}`);
  say(`normalised, xavier init: test accuracy ${(100 * rg.accuracy).toFixed(1)}%, loss ${rg.curve[0][1].toFixed(3)} -> ${rg.curve[rg.curve.length - 1][1].toFixed(3)}`);
  say(`both loss curves: ${file}`);
}
