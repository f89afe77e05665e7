// bpc/register (spec section 11): `node --import bpc/register app.mjs` imports
// .bp files, compiled on import. Child processes on the built dist, the hook
// loaded by its package name (run from the repository, which Node resolves
// as the package itself).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempFiles } from "../helpers/cli.js";

const ROOT = join(import.meta.dirname, "../..");
const MLP = readFileSync(join(ROOT, "examples/mlp.bp"), "utf8");
const tmp = tempFiles("bpc-register-");

function node(script: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ["--import", "bpc/register", script], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist/src/register.js"))) throw new Error("dist/ is missing: run `npm run build` first (npm test does)");
  tmp.file("mlp.bp", MLP);
  tmp.file("data.json", `{ "n": 3 }`);
  tmp.file("bad.bp", MLP.replace("h      = relu(", "h      = rleu("));
});
afterAll(() => rmSync(tmp.dir, { recursive: true, force: true }));

describe("node --import bpc/register", () => {
  it("imports a .bp file as an ES module that trains", () => {
    const app = tmp.file(
      "app.mjs",
      `import { backward, forward, init, model } from "./mlp.bp";
       const B = 4, x = new Float32Array(B * 784).fill(0.25), y = Int32Array.from([0, 1, 2, 3]);
       const p = init(1);
       const first = forward(p, { x, y }).loss;
       for (let s = 0; s < 10; s++) {
         const { grads } = backward(p, { x, y });
         for (const k in p) for (let i = 0; i < p[k].length; i++) p[k][i] -= 0.1 * grads[k][i];
       }
       console.log(JSON.stringify({ name: model.name, grads: model.grads, first, last: forward(p, { x, y }).loss }));`,
    );
    const r = node(app);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as { name: string; grads: string[]; first: number; last: number };
    expect(got.name).toBe("mlp");
    expect(got.grads).toEqual(["W1", "b1", "W2", "b2"]);
    expect(Number.isFinite(got.first)).toBe(true);
    expect(got.last).toBeLessThan(got.first);
  });

  it("fails the import of a broken model with file:line:column and the code frame", () => {
    const r = node(tmp.file("broken.mjs", `import "./bad.bp";`));
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/bad\.bp:18:10: error: unknown function 'rleu'; did you mean 'relu'\?/);
    expect(r.err).toMatch(/> 18 \| h {6}= rleu\(dense\(x, W1, b1\)\)\n {5}\| {10}\^{4}/);
    expect(r.err).not.toMatch(/^\s+at /m); // no stack trace
  });

  it("leaves other modules alone", () => {
    const r = node(tmp.file("plain.mjs", `import { basename } from "node:path"; import data from "./data.json" with { type: "json" }; console.log(basename("/a/b.js"), data.n);`));
    expect(r.err).toBe("");
    expect(r.out).toBe("b.js 3\n");
  });
});
