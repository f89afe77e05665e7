// Comparisons take int tensors (labels, argmax results) as well as floats and
// give a float 0 or 1, so accuracy is one line: mean(argmax(logits, axis=1) == y).
// Other arithmetic on ints stays a compile error.
import { describe, expect, it } from "vitest";
import { compileSource } from "../helpers/compile.js";
import type { BpcError } from "../../src/diag.js";
import { frontEnd } from "../../src/passes/pipeline.js";

const source = `dim B
input x: [B, 4]
input y: int[B] in [0, 3)
param W: [4, 3]
logits = x @ W
pred = argmax(logits, axis=1)
acc = mean(pred == y)
counts = mean(y == 1) + mean(y > 0.5) + mean(pred != pred)
loss = mean(cross_entropy(logits, y))
output acc, counts, pred, logits
minimize loss
`;

describe("comparisons on int tensors", () => {
  it.each([["f32" as const], ["f64" as const]])("%s: accuracy and label counts are right", async (precision) => {
    const { mod } = await compileSource(source, { precision });
    const FA = precision === "f32" ? Float32Array : Float64Array;
    const params = mod.init(3);
    const B = 10;
    const x = FA.from({ length: B * 4 }, (_, i) => Math.sin(i * 1.7));
    const y = Int32Array.from({ length: B }, (_, i) => i % 3);
    const r = mod.forward(params, { x, y }) as unknown as { acc: number; counts: number; pred: Int32Array; logits: Float32Array };
    let hits = 0;
    for (let i = 0; i < B; i++) {
      let best = 0;
      for (let c = 1; c < 3; c++) if (r.logits[i * 3 + c] > r.logits[i * 3 + best]) best = c;
      expect(r.pred[i]).toBe(best);
      hits += best === y[i] ? 1 : 0;
    }
    expect(r.acc).toBeCloseTo(hits / B, 6);
    // y = 0 1 2 0 1 2 0 1 2 0: three 1s, six above 0.5, and pred != pred never.
    expect(r.counts).toBeCloseTo(0.3 + 0.6 + 0, 6);
    // The comparisons are outputs only: the gradient is cross-entropy's alone.
    const { grads } = mod.backward(params, { x, y });
    expect(Array.from(grads.W).every(Number.isFinite)).toBe(true);
  });

  it("other arithmetic on an int tensor is still a compile error, whose note names comparisons", () => {
    const bad = "dim B\ninput y: int[B]\nparam w: []\nloss = mean(y + w)\nminimize loss\n";
    expect(() => frontEnd(bad, "t.bp")).toThrow(/an int tensor \[B\] is used where a float is needed/);
    try {
      frontEnd(bad, "t.bp");
    } catch (e) {
      const notes = (e as BpcError).diagnostics.flatMap((d) => d.notes ?? []);
      expect(notes.join("\n")).toMatch(/indexing and comparisons/);
    }
  });
});
