// `bpc check`'s verdict: a wrong gradient fails (NaN too), and its tolerance
// model measures round-off so that a correct gradient of a loss summed over
// many elements passes while an error of 1e-4 relative still fails.
import { describe, expect, it } from "vitest";
import { checkFile, checkGradients, formatCheck } from "../../src/check/index.js";
import { compileSource } from "../helpers/compile.js";

describe("the check's tolerance model: round-off measured, real errors caught", () => {
  // A tied-weight autoencoder whose loss sums over 784 pixels: the loss is
  // hundreds, while single gradient elements are tiny.
  const AE =
    "dim B\ndim D = 784\ndim H = 32\ninput x: [B, D] in [0, 1]\nparam W: [D, H] ~ xavier\nparam b: [H] ~ zeros\nparam c: [D] ~ zeros\nh = sigmoid(x @ W + b)\nr = sigmoid(h @ W.T + c)\nminimize sum(square(r - x)) / B\n";

  it("the checker fails a wrong gradient, and NaN counts as a failure", async () => {
    const { mod, graph } = await compileSource("param a: [3] ~ uniform(-1, 1)\nminimize sum(a * a)\n", { precision: "f64" });
    const wrong = {
      ...mod,
      backward: (p: Record<string, Float64Array>, i: Record<string, Float64Array>) => {
        const r = mod.backward(p, i);
        return { loss: r.loss, grads: { a: r.grads.a.map((g) => g * 1.01) } };
      },
    };
    const rows = checkGradients(wrong as never, graph, { seed: 1, tolerance: 1e-6 });
    expect(rows[0].maxRelError).toBeGreaterThan(1e-3);
    const nan = formatCheck([{ ...rows[0], maxRelError: NaN }], 1e-5);
    expect(nan).toContain("FAIL");
    expect(nan).toContain("1 of 1 tensors above tolerance");
  });

  it("passes a correct gradient of a loss summed over 784 pixels", async () => {
    const report = await checkFile(AE, "ae.bp", { seed: 1, tolerance: 1e-5 });
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-5);
  });

  it("still fails a gradient off by 1e-4 relative on the same model", async () => {
    const { mod, graph } = await compileSource(AE, { precision: "f64" });
    const off = {
      ...mod,
      backward: (p: Record<string, Float64Array>, i: Record<string, Float64Array>) => {
        const r = mod.backward(p, i);
        return { loss: r.loss, grads: { ...r.grads, W: r.grads.W.map((g) => g * (1 + 1e-4)) } };
      },
    };
    const rows = checkGradients(off as never, graph, { seed: 1, tolerance: 1e-5 });
    expect(rows.find((r) => r.tensor === "W")!.maxRelError).toBeGreaterThan(5e-5);
    for (const r of rows.filter((r) => r.tensor !== "W")) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-5);
  });
});
