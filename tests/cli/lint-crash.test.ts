// A lint rule that throws is a visible error, never a silent gap: an
// error-level `internal` finding naming the rule and what it threw (no
// stack), in every format, exit code 1, and never "no gradient problems".
// The saturation rule is made to throw: in process with vi.mock, and in the
// built binary with a Node module hook that patches the built rule.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { runLint } from "../../src/cli/lint.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { lintCounted } from "../../src/lint/index.js";
import { BIN } from "../helpers/cli.js";

vi.mock("../../src/lint/saturation.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/lint/saturation.js")>();
  return {
    ...real,
    saturation: {
      meta: real.saturation.meta,
      run: () => {
        throw new TypeError("Cannot read properties of undefined (reading 'shape')");
      },
    },
  };
});

const WHY = "Cannot read properties of undefined (reading 'shape')";
const CLEAN = "examples/mlp.bp";
const BUGGY = "examples/dqn_clipped.bp";
const noStack = (s: string): void => expect(s).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

describe("a rule that throws", () => {
  it("is an internal error in the text format, and the other rules still report", () => {
    const r = runLint([BUGGY], "text", { color: false });
    expect(r.exitCode).toBe(1);
    expect(r.output).toContain(`${BUGGY}: error[internal]: the rule 'saturation' failed on this model, so its findings are missing: ${WHY}`);
    expect(r.output).toContain("= fix: this is a bug in bpc, please report it with this model; the other rules ran");
    expect(r.output).toMatch(/dqn_clipped\.bp:31:17: error\[clip-before-loss\]/);
    expect(r.output).toMatch(/^2 errors in 1 file$/m);
    noStack(r.output);
  });

  it("never lets a model pass as clean", () => {
    const r = runLint([CLEAN], "text", { color: false });
    expect(r.exitCode).toBe(1);
    expect(r.output).not.toContain("no gradient problems");
    expect(r.output).toMatch(/^1 error in 1 file$/m);
  });

  it("is in the JSON and SARIF output", () => {
    const json = runLint([CLEAN], "json", { color: false });
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.output)).toEqual({
      diagnostics: [
        {
          rule: "internal",
          severity: "error",
          message: `the rule 'saturation' failed on this model, so its findings are missing: ${WHY}`,
          file: CLEAN,
          line: 0,
          column: 0,
          endLine: 0,
          endColumn: 0,
          params: [],
          fix: "this is a bug in bpc, please report it with this model; the other rules ran",
        },
      ],
    });
    const sarif = runLint([CLEAN], "sarif", { color: false });
    expect(sarif.exitCode).toBe(1);
    const result = (JSON.parse(sarif.output) as { runs: { results: Record<string, unknown>[] }[] }).runs[0].results[0];
    expect(result).toMatchObject({ ruleId: "internal", level: "error", locations: [{ physicalLocation: { artifactLocation: { uri: CLEAN } } }] });
    expect(JSON.stringify(result)).not.toContain("region");
  });

  it("keeps what it threw, with its stack, for the library's caller", () => {
    const source = `dim B\ninput x: [B, 2]\nparam W: [2, 2] ~ xavier\nminimize mean(square(x @ W))\n`;
    const { diagnostics, crashes } = lintCounted(frontEnd(source, "m.bp").ir, source);
    expect(diagnostics.map((d) => d.rule)).toEqual(["internal"]);
    expect(crashes).toHaveLength(1);
    expect(crashes[0].rule).toBe("saturation");
    expect(crashes[0].error).toBeInstanceOf(TypeError);
  });
});

describe("a rule that throws, in the built binary", () => {
  const dir = mkdtempSync(join(tmpdir(), "bpc-lint-crash-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 1 with the internal finding", () => {
    // A load hook that makes the built saturation rule throw.
    writeFileSync(
      join(dir, "hooks.mjs"),
      `export async function load(url, context, next) {
        const r = await next(url, context);
        if (!url.endsWith("/dist/src/lint/saturation.js")) return r;
        return { ...r, source: String(r.source) + "\\nsaturation.run = () => { throw new RangeError('boom'); };\\n" };
      }\n`,
    );
    writeFileSync(join(dir, "register.mjs"), `import { register } from "node:module";\nregister("./hooks.mjs", import.meta.url);\n`);
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", join(dir, "register.mjs"), BIN, ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    const text = run("lint", CLEAN);
    expect(text.status).toBe(1);
    expect(text.stdout).toContain(`${CLEAN}: error[internal]: the rule 'saturation' failed on this model, so its findings are missing: boom`);
    expect(text.stdout).not.toContain("no gradient problems");
    noStack(text.stdout + text.stderr);
    const json = run("lint", CLEAN, "--format", "json");
    expect(json.status).toBe(1);
    expect((JSON.parse(json.stdout) as { diagnostics: { rule: string }[] }).diagnostics.map((d) => d.rule)).toEqual(["internal"]);
  });
});
