// `bpc demo --model char_lm` as a user runs it: compiles examples/char_lm.bp,
// trains it on the bundled text, beats the unigram entropy on held-out text,
// and samples from the trained model. A short run (40 steps) keeps it quick;
// the README's figures come from the default 300.
import { rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { bpc, tempFiles } from "../helpers/cli.js";

describe("bpc demo --model char_lm", () => {
  it("trains below the unigram entropy and prints a sample", { timeout: 180_000 }, () => {
    const { dir } = tempFiles("bpc-charlm-");
    try {
      const r = bpc("demo", "--model", "char_lm", "--steps", "40", "--out", dir);
      expect(r.err.includes("internal error")).toBe(false);
      expect(r.code).toBe(0);
      const m = /held-out loss: ([\d.]+) nats per character after 40 steps .*unigram entropy ([\d.]+)/.exec(r.out);
      expect(m, r.out).not.toBeNull();
      const [held, entropy] = [Number(m![1]), Number(m![2])];
      expect(entropy).toBeGreaterThan(2.5);
      expect(held).toBeLessThan(entropy);
      const sample = r.out.split("sampled from the trained model (temperature 0.8):\n")[1] ?? "";
      expect(sample.startsWith("Call me Ishmael. ")).toBe(true);
      expect(sample.trim().length).toBeGreaterThan("Call me Ishmael. ".length + 200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects --epochs for char_lm and --steps for the MNIST models", () => {
    expect(bpc("demo", "--model", "char_lm", "--epochs", "2").code).toBe(2);
    const r = bpc("demo", "--steps", "5");
    expect(r.code).toBe(2);
    expect(r.err).toContain("--steps is for --model char_lm");
  });
});
