// The README's "Tensors of any rank" section shows every section-9 form in
// two models: each must compile and pass `bpc check`, so the README cannot
// drift from the language.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkFile } from "../../src/check/index.js";

const readme = readFileSync("README.md", "utf8");
const section = readme.split("## Tensors of any rank")[1]?.split("\n## ")[0] ?? "";
const blocks = [...section.matchAll(/```bp\n([\s\S]*?)```/g)].map((m) => m[1]);

describe("the README's section-9 snippets", () => {
  it("has them", () => {
    expect(blocks.length).toBe(2);
  });
  it.each(blocks.map((b, i) => [i, b] as const))("block %i compiles and its gradients pass bpc check", { timeout: 120_000 }, async (_i, text) => {
    const report = await checkFile(text, "README.md", { seed: 1, tolerance: 1e-5 });
    expect(report.rows.length).toBeGreaterThan(0);
    for (const r of report.rows) expect(r.maxRelError, r.tensor).toBeLessThanOrEqual(1e-5);
  });
});
