// The generated module of every example, snapshot-tested: a change to
// codegen or to any pass shows up as a diff of readable TypeScript.
// After an intended change, update with `npx vitest run tests/snapshots.test.ts -u`
// and read the diff.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { emitModule } from "../src/codegen/emit.js";
import { compileStages } from "../src/passes/pipeline.js";

const examples = readdirSync("examples").filter((f) => f.endsWith(".bp")).sort();

describe("generated modules", () => {
  it.each(examples)("%s", async (f) => {
    const file = `examples/${f}`;
    const st = compileStages(readFileSync(join("examples", f), "utf8"), file);
    const ts = await emitModule(st.opt, { precision: "f32", inputGrads: [] });
    await expect(ts).toMatchFileSnapshot(`snapshots/modules/${f.replace(/\.bp$/, "")}.ts.snap`);
  });
});
