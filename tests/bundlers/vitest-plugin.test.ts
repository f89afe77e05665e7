// bpc/vite under Vitest: a child Vitest run of tests/bundlers/fixtures/vitest,
// whose config loads the plugin by its package name (the built dist, through
// the package's exports) and whose test imports examples/mlp.bp and trains it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const FIXTURE = join(import.meta.dirname, "fixtures/vitest");

it("a Vitest suite imports and trains a .bp model through the plugin", () => {
  if (!existsSync(join(ROOT, "dist/src/vite.js"))) throw new Error("dist/ is missing: run `npm run build` first (npm test does)");
  const cache = mkdtempSync(join(tmpdir(), "bpc-vitest-cache-"));
  try {
    const env = { ...process.env, BPC_FIXTURE_CACHE: cache, NO_COLOR: "1", CI: "1" };
    delete env.VITEST;
    delete env.VITEST_POOL_ID;
    delete env.VITEST_WORKER_ID;
    const r = spawnSync(process.execPath, [join(ROOT, "node_modules/vitest/vitest.mjs"), "run", "--root", FIXTURE], {
      cwd: FIXTURE,
      env,
      encoding: "utf8",
      timeout: 120_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/✓ .*a \.bp module trains under Vitest|1 passed/);
    expect(out).toMatch(/Tests\s+1 passed \(1\)/);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}, 150_000);
