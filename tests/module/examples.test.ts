// Every bundled example compiles, passes `bpc check` (backward against
// central finite differences in f64), and the demo's network learns on a
// slice of MNIST with the compiled backward and the package's optimizer.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkFile } from "../../src/check/index.js";
import { adam, batches, gather, gatherLabels, loadMnist, splitTrainTest } from "../../src/train/index.js";
import { compileSource } from "../helpers/compile.js";

const examples = readdirSync("examples").filter((f) => f.endsWith(".bp")).sort();

describe("bpc check passes on every example", () => {
  // The float64 evaluator is generic: the transformer's and char_lm's checks take
  // about a minute alone on this two-core machine.
  it.each(examples)("%s", { timeout: 300_000 }, async (f) => {
    const report = await checkFile(readFileSync(join("examples", f), "utf8"), f, { seed: 3, tolerance: 1e-5 });
    expect(report.rows.length).toBeGreaterThan(0);
    for (const r of report.rows) expect(r.maxRelError, `${f}: ${r.tensor}`).toBeLessThanOrEqual(1e-5);
  });
});

describe("training the demo network with its compiled backward", () => {
  it("lowers the loss over one epoch of 600 digits", async () => {
    const { mod } = await compileSource(readFileSync("examples/mnist_mlp.bp", "utf8"), { precision: "f32", file: "mnist_mlp.bp" });
    const digits = splitTrainTest(loadMnist({ scale: "unit" }), 0.94, 5).train;
    expect(digits.n).toBe(600);
    const params = mod.init(3);
    const opt = adam({ lr: 3e-3 });
    const x = new Float32Array(32 * 784);
    const y = new Int32Array(32);
    const all = Int32Array.from({ length: digits.n }, (_, i) => i);
    const fullLoss = (): number =>
      mod.forward(params, { x: gather(digits.images, 784, all), y: gatherLabels(digits.labels, all) }).loss;
    const before = fullLoss();
    for (const idx of batches({ n: digits.n, batchSize: 32, seed: 1, dropLast: true })) {
      const { grads } = mod.backward(params, { x: gather(digits.images, 784, idx, x), y: gatherLabels(digits.labels, idx, y) });
      opt.step(params as Record<string, Float32Array>, grads);
    }
    const after = fullLoss();
    expect(before).toBeGreaterThan(2);
    expect(after).toBeLessThan(0.6 * before);
  });
});
