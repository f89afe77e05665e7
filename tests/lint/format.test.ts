// The linter's outputs: the text format (code frame, rule id, colour, summary),
// the spec's JSON schema exactly, SARIF 2.1.0 (a focused structural validator
// for everything we emit, and the official schema when the project has it
// installed), `# lint: allow RULE`, runLint's exit codes, and the time it takes.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runLint } from "../../src/cli/lint.js";
import { formatJson, formatSarif, formatText, RULE_META } from "../../src/lint/index.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { lint } from "../helpers/lint.js"; // a rule that throws fails the test

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const ex = (f: string): string => join(root, "examples", f);
const BUGGY = ["dqn_clipped.bp", "sigmoid_mlp_raw.bp", "dead_relu.bp", "rnn_exploding.bp", "rnn_vanishing.bp"].map(ex);
const CLEAN = ["dqn.bp", "sigmoid_mlp.bp", "relu_he.bp", "lstm.bp", "mlp.bp", "rnn.bp"].map(ex);

function tmp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "bpc-lint-"));
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const lintText = (src: string) => lint(frontEnd(src, "m.bp").ir, src);

describe("text format", () => {
  const r = runLint([ex("dqn_clipped.bp")], "text", { color: false });
  it("names file:line:col, severity and rule, underlines the span, lists params and the fix, and sums up", () => {
    expect(r.output).toContain(`${ex("dqn_clipped.bp")}:31:17: error[clip-before-loss]: clip(delta, -1, 1) zeroes the gradient`);
    expect(r.output).toContain("> 31 | clipped_delta = clip(delta, -1, 1)");
    expect(r.output).toMatch(/\|\s+\^{18}/);
    expect(r.output).toContain("= params: W1, b1, W2, b2, W3, b3");
    expect(r.output).toContain("= fix: clip the gradient instead of the value: replace square(clipped_delta) with huber(delta, 1)");
    expect(r.output.trimEnd().split("\n").pop()).toBe("1 error in 1 file");
    expect(r.output).not.toContain("\u001b[");
  });
  it("colours only when asked", () => {
    expect(runLint([ex("dqn_clipped.bp")], "text", { color: true }).output).toContain("\u001b[");
  });
  it("says so when nothing is found", () => {
    expect(runLint(CLEAN, "text", { color: false }).output.trim()).toBe(`no gradient problems found in ${CLEAN.length} files`);
  });
  it("counts errors and warnings", () => {
    const out = formatText(runLint(BUGGY, "json", { color: false }).diagnostics, {}, { color: false, files: 5 });
    expect(out.trimEnd().split("\n").pop()).toBe("1 error, 4 warnings in 5 files");
  });
});

describe("json format", () => {
  it("is the spec's schema, exactly", () => {
    const r = runLint(BUGGY, "json", { color: false });
    const j = JSON.parse(r.output);
    expect(Object.keys(j)).toEqual(["diagnostics"]);
    expect(j.diagnostics).toHaveLength(5);
    for (const d of j.diagnostics) {
      expect(Object.keys(d)).toEqual(["rule", "severity", "message", "file", "line", "column", "endLine", "endColumn", "params", "fix"]);
      expect(typeof d.message).toBe("string");
      expect(typeof d.fix).toBe("string");
      expect(["error", "warning"]).toContain(d.severity);
      for (const k of ["line", "column", "endLine", "endColumn"]) expect(Number.isInteger(d[k]) && d[k] >= 1).toBe(true);
      expect(Array.isArray(d.params) && d.params.every((p: unknown) => typeof p === "string")).toBe(true);
    }
    expect(j.diagnostics[0]).toMatchObject({ rule: "clip-before-loss", severity: "error", file: ex("dqn_clipped.bp"), line: 31, column: 17, endLine: 31, endColumn: 35, params: ["W1", "b1", "W2", "b2", "W3", "b3"] });
  });
  it("prints an empty list for a clean model", () => {
    expect(JSON.parse(formatJson([]))).toEqual({ diagnostics: [] });
  });
});

// ---- SARIF ---------------------------------------------------------------------------

/** A focused validator for the SARIF 2.1.0 we emit (required members, types, enums, minimums). */
function sarifErrors(log: any): string[] {
  const errs: string[] = [];
  const need = (cond: boolean, what: string) => cond || errs.push(what);
  const isObj = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
  const msg = (m: any, at: string) => need(isObj(m) && typeof m.text === "string" && m.text.length > 0, `${at}.text`);
  const uri = (u: unknown, at: string) => {
    need(typeof u === "string" && u.length > 0, `${at} uri`);
    try {
      new URL(u as string, "file:///base/");
    } catch {
      errs.push(`${at} uri is not a URI reference`);
    }
  };
  const region = (r: any, at: string) => {
    need(isObj(r), at);
    need(posInt(r.startLine), `${at}.startLine`);
    need(posInt(r.startColumn), `${at}.startColumn`);
    need(posInt(r.endLine) && r.endLine >= r.startLine, `${at}.endLine`);
    need(posInt(r.endColumn) && (r.endLine > r.startLine || r.endColumn >= r.startColumn), `${at}.endColumn`);
  };
  need(log.version === "2.1.0", "version");
  need(typeof log.$schema === "string", "$schema");
  need(Array.isArray(log.runs) && log.runs.length === 1, "runs");
  const run = log.runs?.[0] ?? {};
  const driver = run.tool?.driver;
  need(isObj(driver) && typeof driver.name === "string", "tool.driver.name");
  const rules: any[] = driver?.rules ?? [];
  const ids = new Set<string>();
  rules.forEach((r, i) => {
    need(typeof r.id === "string", `rules[${i}].id`);
    need(!ids.has(r.id), `rules[${i}].id unique`);
    ids.add(r.id);
    msg(r.shortDescription, `rules[${i}].shortDescription`);
    msg(r.fullDescription, `rules[${i}].fullDescription`);
    msg(r.help, `rules[${i}].help`);
    need(["none", "note", "warning", "error"].includes(r.defaultConfiguration?.level), `rules[${i}].defaultConfiguration.level`);
  });
  need(["utf16CodeUnits", "unicodeCodePoints"].includes(run.columnKind), "columnKind");
  const artifacts: any[] = run.artifacts ?? [];
  artifacts.forEach((a, i) => uri(a.location?.uri, `artifacts[${i}].location`));
  need(Array.isArray(run.results), "results");
  (run.results ?? []).forEach((r: any, i: number) => {
    const at = `results[${i}]`;
    need(typeof r.ruleId === "string" && ids.has(r.ruleId), `${at}.ruleId`);
    need(Number.isInteger(r.ruleIndex) && rules[r.ruleIndex]?.id === r.ruleId, `${at}.ruleIndex`);
    need(["none", "note", "warning", "error"].includes(r.level), `${at}.level`);
    msg(r.message, `${at}.message`);
    need(Array.isArray(r.locations) && r.locations.length >= 1, `${at}.locations`);
    for (const l of r.locations ?? []) {
      const al = l.physicalLocation?.artifactLocation;
      uri(al?.uri, `${at}.artifactLocation`);
      need(Number.isInteger(al?.index) && artifacts[al.index]?.location?.uri === al.uri, `${at}.artifactLocation.index`);
      region(l.physicalLocation?.region, `${at}.region`);
    }
    if (r.fixes !== undefined) {
      need(Array.isArray(r.fixes) && r.fixes.length >= 1, `${at}.fixes`);
      for (const f of r.fixes) {
        msg(f.description, `${at}.fix.description`);
        need(Array.isArray(f.artifactChanges) && f.artifactChanges.length >= 1, `${at}.fix.artifactChanges`);
        for (const c of f.artifactChanges ?? []) {
          uri(c.artifactLocation?.uri, `${at}.fix.artifactLocation`);
          need(Array.isArray(c.replacements) && c.replacements.length >= 1, `${at}.fix.replacements`);
          for (const rep of c.replacements ?? []) {
            region(rep.deletedRegion, `${at}.fix.deletedRegion`);
            need(rep.insertedContent === undefined || typeof rep.insertedContent.text === "string", `${at}.fix.insertedContent`);
          }
        }
      }
    }
  });
  return errs;
}

/** The official SARIF 2.1.0 schema and a draft-04 validator, when installed (dev deps @microsoft/jest-sarif and ajv@6). */
function officialValidator(): ((log: unknown) => string[]) | null {
  try {
    const require = createRequire(join(root, "package.json"));
    const schemaPath = join(dirname(require.resolve("@microsoft/jest-sarif/package.json")), "lib/schemas/sarif-2.1.0-rtm.5.json");
    if (!existsSync(schemaPath)) return null;
    const Ajv = require("ajv");
    const ajv = new Ajv({ schemaId: "id", allErrors: true, logger: false });
    ajv.addMetaSchema(require("ajv/lib/refs/json-schema-draft-04.json"));
    const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")));
    return (log) => (validate(log) ? [] : (validate.errors ?? []).map((e: any) => `${e.dataPath} ${e.message}`));
  } catch {
    return null;
  }
}

describe("sarif format", () => {
  const r = runLint([...BUGGY, ...CLEAN], "sarif", { color: false });
  const log = JSON.parse(r.output);

  it("passes the structural SARIF 2.1.0 validator", () => {
    expect(sarifErrors(log)).toEqual([]);
  });

  it("the validator rejects what the schema rejects", () => {
    const bad = JSON.parse(r.output);
    bad.runs[0].results[0].level = "fatal";
    bad.runs[0].results[0].fixes = [{ description: { text: "x" }, artifactChanges: [] }];
    bad.runs[0].results[1].locations[0].physicalLocation.region.startLine = 0;
    expect(sarifErrors(bad)).toHaveLength(3);
  });

  const official = officialValidator();
  it.skipIf(!official)("passes the official SARIF 2.1.0 JSON schema", () => {
    expect(official!(log)).toEqual([]);
  });

  it("carries rule metadata for every rule, results with locations, and the mechanical fixes", () => {
    expect(log.runs[0].tool.driver.rules.map((x: any) => x.id)).toEqual(RULE_META.map((m) => m.id));
    expect(log.runs[0].results).toHaveLength(5);
    const clip = log.runs[0].results.find((x: any) => x.ruleId === "clip-before-loss");
    expect(clip.level).toBe("error");
    expect(clip.locations[0].physicalLocation.region).toEqual({ startLine: 31, startColumn: 17, endLine: 31, endColumn: 35 });
    expect(clip.fixes[0].artifactChanges[0].replacements[0]).toEqual({
      deletedRegion: { startLine: 32, startColumn: 16, endLine: 32, endColumn: 37 },
      insertedContent: { text: "huber(delta, 1)" },
    });
    expect(clip.properties.params).toEqual(["W1", "b1", "W2", "b2", "W3", "b3"]);
    expect(log.runs[0].artifacts[0].location.uri).toMatch(/^file:\/\/\/.*dqn_clipped\.bp$/);
  });

  it("relative paths become URI references", () => {
    const src = readFileSync(ex("dqn_clipped.bp"), "utf8");
    const diags = lint(frontEnd(src, "my models/dqn clipped.bp").ir, src);
    const l = JSON.parse(formatSarif(diags, RULE_META));
    expect(l.runs[0].artifacts[0].location.uri).toBe("my%20models/dqn%20clipped.bp");
    expect(sarifErrors(l)).toEqual([]);
  });
});

describe("# lint: allow RULE", () => {
  const src = readFileSync(ex("dqn_clipped.bp"), "utf8");
  const at = (text: string, line: number, insert: string) => {
    const ls = text.split("\n");
    ls.splice(line - 1, 0, insert);
    return ls.join("\n");
  };
  it("on the line before silences that rule there", () => {
    expect(lintText(at(src, 31, "# lint: allow clip-before-loss"))).toEqual([]);
  });
  it("does not silence another rule, or the rule on another line", () => {
    expect(lintText(at(src, 31, "# lint: allow saturation")).map((d) => d.rule)).toEqual(["clip-before-loss"]);
    expect(lintText(at(src, 30, "# lint: allow clip-before-loss")).map((d) => d.rule)).toEqual(["clip-before-loss"]);
  });
  it("accepts several rules and a trailing comment on the line before", () => {
    expect(lintText(at(src, 31, "delta2 = delta  # lint: allow saturation, clip-before-loss"))).toEqual([]);
  });
  it("the text summary counts what was silenced", () => {
    const f = tmp("allowed.bp", at(src, 31, "# lint: allow clip-before-loss"));
    const r = runLint([f], "text", { color: false });
    expect(r.output).toMatch(/no gradient problems found in 1 file \(1 silenced by # lint: allow\)/);
    expect(r.exitCode).toBe(0);
  });
  it("written after code, also silences the line it is on", () => {
    const ls = src.split("\n");
    ls[30] = `${ls[30]}  # lint: allow clip-before-loss`;
    expect(lintText(ls.join("\n"))).toEqual([]);
    ls[30] = `${ls[30].replace("clip-before-loss", "saturation")}`;
    expect(lintText(ls.join("\n")).map((d) => d.rule)).toEqual(["clip-before-loss"]);
  });
});

describe("runLint exit codes", () => {
  it("0 for clean models and for warnings only", () => {
    expect(runLint(CLEAN, "text", { color: false }).exitCode).toBe(0);
    expect(runLint([ex("sigmoid_mlp_raw.bp"), ex("dead_relu.bp")], "text", { color: false }).exitCode).toBe(0);
  });
  it("1 when a diagnostic is an error", () => {
    expect(runLint([ex("dqn_clipped.bp"), ex("dqn.bp")], "json", { color: false }).exitCode).toBe(1);
  });
  it("2 for a file that does not compile or cannot be read, with a positioned message; other files are still linted", () => {
    const bad = tmp("bad.bp", "dim B\ninput x: [B, 4]\nparam W: [5, 2] ~ xavier\nminimize mean(x @ W)\n");
    const r = runLint([bad, ex("dqn_clipped.bp"), join(tmpdir(), "no-such-model.bp")], "json", { color: false });
    expect(r.exitCode).toBe(2);
    expect(r.errors).toContain(`${bad}:4:15: error: cannot multiply [B, 4] @ [5, 2]`);
    expect(r.errors).toMatch(/> 4 \| minimize mean\(x @ W\)/);
    expect(r.errors).toContain("no-such-model.bp: error: cannot read");
    expect(JSON.parse(r.output).diagnostics.map((d: any) => d.rule)).toEqual(["clip-before-loss"]);
  });
});

describe("speed", () => {
  it("lints each example well under 100 ms after start-up", () => {
    const files = [...BUGGY, ...CLEAN];
    const sources = files.map((f) => readFileSync(f, "utf8"));
    sources.forEach((s, i) => lint(frontEnd(s, files[i]).ir, s)); // warm-up
    const times = sources.map((s, i) => {
      const runs: number[] = [];
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        lint(frontEnd(s, files[i]).ir, s);
        runs.push(performance.now() - t0);
      }
      return Math.min(...runs);
    });
    console.log(files.map((f, i) => `${f.split("/").pop()}: ${times[i].toFixed(1)} ms`).join(", "));
    // The target is well under 100 ms; the bound leaves room for a loaded CI machine.
    for (const t of times) expect(t).toBeLessThan(200);
  });
});
