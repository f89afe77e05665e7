// `bpc demo --model char_lm`: compiles examples/char_lm.bp (a GRU character
// language model with an embedding and a per-token loss), trains it with the
// compiled backward on the bundled Moby-Dick chapters, compares its held-out
// loss with the text's unigram entropy, and prints text sampled from the
// trained model with its `forward`.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pc from "picocolors";
import { emitModule } from "../codegen/emit.js";
import { loadModule } from "../codegen/runtime-load.js";
import { compileStages } from "../passes/pipeline.js";
import { adam, lineChartSvg, progressBar, rng } from "../train/index.js";
import { buildVocab, loadMobyDick, sampleWindows, unigramEntropy } from "../train/text.js";
import { readSource } from "./read.js";

type F32 = Float32Array;
interface LanguageModel {
  init(seed?: number): Record<string, F32>;
  forward(params: Record<string, F32>, inputs: Record<string, Int32Array>): { loss: number; logits: F32 };
  backward(params: Record<string, F32>, inputs: Record<string, Int32Array>): { loss: number; grads: Record<string, F32> };
}

const say = (s: string): void => void process.stdout.write(s + "\n");
const BATCH = 32;

/** A declared constant dim of the compiled model (the demo sizes its data from the model, not the other way round). */
function constDim(dims: readonly { name: string; value: number | null }[], name: string): number {
  const d = dims.find((x) => x.name === name);
  if (!d || d.value === null) throw new Error(`examples/char_lm.bp must declare 'dim ${name} = <size>'`);
  return d.value;
}

export async function charLmDemo(root: string, outDir: string, steps: number): Promise<void> {
  const file = "examples/char_lm.bp";
  const st = compileStages(readSource(join(root, file)), file);
  const T = constDim(st.opt.dims, "T");
  const V = constDim(st.opt.dims, "V");
  const ts = await emitModule(st.opt, { precision: "f32", inputGrads: [] });
  const modPath = join(outDir, "char_lm.ts");
  writeFileSync(modPath, ts);
  const mod = (await loadModule(ts)) as unknown as LanguageModel;
  say(`compiled ${file} -> ${modPath}`);

  const text = loadMobyDick();
  const vocab = buildVocab(text, V);
  const ids = vocab.encode(text);
  const cut = Math.floor(ids.length * 0.9);
  const train = ids.subarray(0, cut);
  const held = ids.subarray(cut);
  const entropy = unigramEntropy(train, V);
  say(pc.bold(`Moby-Dick, chapters 1-25 (data/moby-dick.txt): ${ids.length} characters, ${V} classes, 90 % train / 10 % held out`));
  say(`unigram entropy of the text: ${entropy.toFixed(3)} nats per character (a model that ignores context can do no better)`);

  const params = mod.init(1);
  const opt = adam({ lr: 3e-3 });
  const random = rng(2026);
  const tok = new Int32Array(BATCH * T);
  const next = new Int32Array(BATCH * T);
  const curve: [number, number][] = [];
  const bar = progressBar({ total: steps });
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    sampleWindows(train, BATCH, T, random, tok, next);
    const { loss, grads } = mod.backward(params, { tok, next });
    opt.step(params, grads);
    bar.tick(loss, BATCH * T);
    if (step % 5 === 0) curve.push([step, loss]);
  }
  bar.done();
  const seconds = (performance.now() - t0) / 1000;

  // Held-out loss: the mean over fixed windows of text the model never trained on.
  const evalRandom = rng(7);
  let heldLoss = 0;
  const rounds = 8;
  for (let r = 0; r < rounds; r++) {
    sampleWindows(held, BATCH, T, evalRandom, tok, next);
    heldLoss += mod.forward(params, { tok, next }).loss / rounds;
  }
  const ok = heldLoss < entropy ? pc.green : pc.red;
  say(ok(`held-out loss: ${heldLoss.toFixed(3)} nats per character after ${steps} steps (${seconds.toFixed(1)} s of training); unigram entropy ${entropy.toFixed(3)}`));

  const curveFile = join(outDir, "char_lm_loss.svg");
  writeFileSync(
    curveFile,
    lineChartSvg({
      title: "char_lm.bp: training loss",
      xLabel: "step",
      yLabel: "cross-entropy (nats per character)",
      series: [{ name: "char_lm", points: curve }, { name: "unigram entropy", points: [[0, entropy], [steps - 1, entropy]] }],
    }),
  );
  say(`loss curve: ${curveFile}`);
  say("");
  say(pc.bold("sampled from the trained model (temperature 0.8):"));
  say(sample(mod, params, vocab, T, V, "Call me Ishmael. ", 240, 0.8));
}

/**
 * Generates `count` characters after `prompt`: each step runs `forward` on
 * the last T characters (a batch of 1) and draws the next one from the
 * softmax of the last position's logits at `temperature`.
 */
function sample(mod: LanguageModel, params: Record<string, F32>, vocab: ReturnType<typeof buildVocab>, T: number, V: number, prompt: string, count: number, temperature: number): string {
  const random = rng(11);
  const ids = [...vocab.encode(prompt)];
  const space = vocab.encode(" ")[0];
  const tok = new Int32Array(T);
  const next = new Int32Array(T);
  const p = new Float64Array(V);
  for (let n = 0; n < count; n++) {
    const window = ids.slice(-T);
    // Left-pad a short prompt with spaces; the last position is the newest character.
    tok.fill(space);
    tok.set(window, T - window.length);
    const logits = mod.forward(params, { tok, next }).logits;
    const row = logits.subarray((T - 1) * V, T * V);
    let max = -Infinity;
    for (const z of row) max = Math.max(max, z);
    let total = 0;
    for (let c = 0; c < V; c++) total += p[c] = Math.exp((row[c] - max) / temperature);
    let u = random() * total;
    let pick = V - 1;
    for (let c = 0; c < V; c++) if ((u -= p[c]) < 0) { pick = c; break; }
    ids.push(pick);
  }
  return vocab.decode(ids);
}
