// The generated module of every example, snapshot-tested: a change to
// codegen or to any pass shows up as a diff of readable TypeScript, and of
// the JavaScript and declarations that `--emit js` writes.
// After an intended change, update with `npx vitest run tests/snapshots.test.ts -u`
// and read the diff.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { emitModule } from "../src/codegen/emit.js";
import { toJsModule } from "../src/js-module.js";
import { compileStages } from "../src/passes/pipeline.js";

const examples = readdirSync("examples").filter((f) => f.endsWith(".bp")).sort();

describe("generated modules", () => {
  it.each(examples)("%s", async (f) => {
    const file = `examples/${f}`;
    const st = compileStages(readFileSync(join("examples", f), "utf8"), file);
    const ts = await emitModule(st.opt, { precision: "f32", inputGrads: [] });
    const name = f.replace(/\.bp$/, "");
    await expect(ts).toMatchFileSnapshot(`snapshots/modules/${name}.ts.snap`);
    const js = await toJsModule(ts);
    await expect(js.code).toMatchFileSnapshot(`snapshots/modules/${name}.js.snap`);
    await expect(js.dts).toMatchFileSnapshot(`snapshots/modules/${name}.d.ts.snap`);
  });
});
