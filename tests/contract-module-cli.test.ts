// Regressions from an audit of the compiled module (LANGUAGE.md section 6) and
// the command line (section 7) against the contract.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileSource } from "./helpers/compile.js";
import { BIN, bpc, tempFiles } from "./helpers/cli.js";

const { dir: tmp, file } = tempFiles("bpc-audit-");

const stackLine = /^\s+at .+:\d+:\d+\)?$/m;

describe("section 7: exit codes and errors (no stack trace)", () => {
  // LANGUAGE.md section 7: "2 a usage, syntax, shape or I/O error ..., never a stack
  // trace"; exit 1 means only "lint found an error-level diagnostic". A reader that
  // goes away (`bpc compile m.bp | head -1`, a closed pager) used to crash the write
  // with an unhandled EPIPE, a stack trace and exit 1; src/cli/main.ts now stops quietly.
  it.each([
    ["compile", ["compile", "examples/mlp.bp"]],
    ["lint --format json", ["lint", "examples/dqn.bp", "--format", "json"]],
  ])("a closed stdout (EPIPE) in %s is not a stack trace nor exit 1", (_label, args) => {
    const errFile = join(tmp, `epipe-${args[0]}.err`);
    const quoted = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(" ");
    // `true` exits at once without reading, so bpc's first write hits a closed pipe.
    const r = spawnSync("bash", ["-c", `${quoted} 2>'${errFile}' | true; echo "\${PIPESTATUS[0]}"`], {
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    const code = Number(r.stdout.trim());
    const err = readFileSync(errFile, "utf8");
    expect(err).not.toMatch(stackLine);
    expect(err).not.toContain("Unhandled 'error' event");
    expect(code).not.toBe(1); // 1 is reserved for lint errors
  });

  // `bpc check` drew int inputs from their hints alone; a label hint wider than the
  // classes (`in [0, 20)` with C = 10) made the module throw, reported as an internal
  // error. It now draws from the part of the hint the ops accept and says so; a hint
  // with no such part is an error at the input's declaration.
  it("bpc check draws labels the model accepts from a hint wider than the classes", () => {
    const src = readFileSync("examples/mlp.bp", "utf8").replace("in [0, C)", "in [0, 20)");
    const r = bpc("check", file("widehint.bp", src));
    expect(r.err).toBe("");
    expect(r.out).toMatch(/note: y drawn from \[0, 10\), the part of its hint that cross_entropy at line 20 accepts/);
    expect(r.out).toMatch(/all 5 tensors within tolerance/);
    expect(r.code).toBe(0);
  });

  it("bpc check on a label hint outside the classes is an error at the input, exit 2", () => {
    const src = readFileSync("examples/mlp.bp", "utf8").replace("in [0, C)", "in [12, 20)");
    const r = bpc("check", file("badhint.bp", src));
    expect(r.err).not.toContain("internal error");
    expect(r.err).toMatch(/badhint\.bp:10:1: error: the values of y hinted in \[12, 20\) leave none that cross_entropy at line 20 accepts/);
    expect(r.code).toBe(2);
  });
});

describe("section 6: symbolic dims", () => {
  // LANGUAGE.md section 6: "Every symbolic dim must be inferable from the inputs ...;
  // one that is not is a compile error." A symbolic dim no input (and nothing else)
  // used, used to compile, reported as `dims: { N: null }`.
  it("an unused, uninferable symbolic dim is a compile error", () => {
    const f = file("unused_dim.bp", ["dim B", "dim N", "input x: [B, 3]", "param w: [3]", "loss = sum(x * w)", "minimize loss", ""].join("\n"));
    const r = bpc("compile", f);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unused_dim\.bp:2:\d+: .*N/);
  });
});

describe("section 6: scalars are numbers", () => {
  // LANGUAGE.md section 6: "Scalars are `number`". A scalar input used to be accepted
  // only as a one-element array; it is now `number | Float32Array` (or Int32Array).
  it("a scalar input is a number", async () => {
    const src = ["dim B", "input x: [B, 2]", "input s: []", "param w: [2] ~ ones", "loss = sum(x * w) * s", "minimize loss"].join("\n");
    const { mod, ts } = await compileSource(src, { file: "scalar_input.bp" });
    expect(ts.match(/export type Inputs = \{[^}]*\}/)?.[0]).toMatch(/\bs: number/);
    const params = mod.init(1);
    const x = Float64Array.from([1, 2, 3, 4]);
    const out = mod.forward(params, { x, s: 2 } as never);
    expect(out.loss).toBeCloseTo(20, 10);
  });
});

describe("section 6: scalar inputs as numbers, both precisions and ints", () => {
  const src = ["dim B", "input x: [B, 2]", "input s: []", "input k: int[]", "param w: [2] ~ ones", "param Q: [4, 2] ~ ones", "loss = sum(x * w) * s + sum(Q[k] * w) * s", "minimize loss"].join("\n");
  it.each([["f32" as const], ["f64" as const]])("%s: numbers and one-element arrays give the same results", async (precision) => {
    const { mod, ts } = await compileSource(src, { precision });
    expect(ts).toMatch(/export type Inputs = \{ x: Float(32|64)Array; s: number \| Float(32|64)Array; k: number \| Int32Array \}/);
    const FA = precision === "f32" ? Float32Array : Float64Array;
    const params = mod.init(1);
    const x = FA.from([1, 2, 3, 4]);
    const asNumbers = mod.backward(params, { x, s: 0.5, k: 2 } as never);
    const loss = asNumbers.loss;
    const dQ = Array.from(asNumbers.grads.Q);
    const asArrays = mod.backward(params, { x, s: FA.of(0.5), k: Int32Array.of(2) });
    expect(asArrays.loss).toBe(loss);
    expect(Array.from(asArrays.grads.Q)).toEqual(dQ);
    expect(loss).toBeCloseTo((1 + 2 + 3 + 4) * 0.5 + 2 * 0.5, 6);
    expect(dQ).toEqual([0, 0, 0, 0, 0.5, 0.5, 0, 0]);
  });
  it("a bad number names the input and what it needs", async () => {
    const { mod } = await compileSource(src, { precision: "f64" });
    const params = mod.init(1);
    const x = Float64Array.from([1, 2, 3, 4]);
    expect(() => mod.forward(params, { x, s: NaN, k: 0 } as never)).toThrow(/inputs\.s: expected a finite number \(shape \[\]\), got NaN/);
    expect(() => mod.forward(params, { x, s: 1, k: 1.5 } as never)).toThrow(/inputs\.k: expected an integer \(shape \[\]\), got 1\.5/);
    expect(() => mod.forward(params, { x, s: 1, k: 9 } as never)).toThrow(/out of range \[0, 4\)/);
    expect(() => mod.forward(params, { x, s: "1", k: 0 } as never)).toThrow(/inputs\.s: expected a number or a Float64Array of shape \[\]/);
  });
});
