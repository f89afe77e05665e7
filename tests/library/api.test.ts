// The library of spec section 11 in Node: compile, lint, inspect and graph
// give what the CLI gives for the same source; compile errors are section 8's
// objects (returned by lint, in a rejected BpcError otherwise); lint never
// throws for bad source; bad options are BpcErrors that say what is allowed.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BpcError, compile, graph, inspect, lint, type Diagnostic } from "../../src/index.js";
import { commands } from "../../src/cli/commands.js";
import { formatJson, lintSource } from "../../src/lint/index.js";

const examples = readdirSync("examples").filter((f) => f.endsWith(".bp")).sort();
const read = (f: string): string => readFileSync(join("examples", f), "utf8");
const MLP = read("mlp.bp");

async function rejection(p: Promise<unknown>): Promise<BpcError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BpcError);
  return e as BpcError;
}

describe("the library gives what the CLI gives", () => {
  it("compile and inspect, on mlp.bp with options", async () => {
    const file = "examples/mlp.bp";
    expect((await compile(MLP, { file })).code).toBe(await commands.compile(file, "f32"));
    expect((await compile(MLP, { file, precision: "f64", inputGrads: ["x"], kernels: "js" })).code).toBe(await commands.compile(file, "f64", "x", "js"));
    for (const stage of ["ast", "ir", "grad", "opt", "ts"] as const) expect(await inspect(MLP, stage, { file }), stage).toBe(await commands.inspect(file, stage));
    expect(await inspect(MLP, "opt", { file, inputGrads: "all" })).toBe(await commands.inspect(file, "opt", "all"));
    expect(await inspect(MLP, "ts", { file, emit: "js" })).toBe((await compile(MLP, { file, emit: "js" })).code);
  });

  it("lint: the JSON of `bpc lint --format json`, for every example", () => {
    for (const f of examples) {
      const file = `examples/${f}`;
      const json = JSON.parse(formatJson(lintSource(read(f), file).diagnostics)) as { diagnostics: Diagnostic[] };
      expect(lint(read(f), { file }), f).toEqual(json.diagnostics);
    }
    expect(lint(read("dqn_clipped.bp")).map((d) => [d.rule, d.file, d.line])).toEqual([["clip-before-loss", "model.bp", 31]]);
  });

  it("graph: DOT as `bpc graph` prints it, SVG by default", async () => {
    expect(await graph(MLP, { file: "examples/mlp.bp", format: "dot" })).toBe((await commands.graph("examples/mlp.bp", undefined)).output);
    const svg = await graph(MLP);
    expect(svg).toMatch(/^<\?xml[\s\S]*<svg[\s>]/);
    expect(svg).toContain("dW1");
  });
});

describe("compile errors as section 8's objects", () => {
  const CASES: { name: string; source: string; at: [number, number]; message: RegExp; fix?: RegExp }[] = [
    { name: "syntax", source: "param W: [3]\nloss = sum(W) *\nminimize loss\n", at: [2, 16], message: /^unexpected end of line; expected an expression/ },
    { name: "unknown function", source: MLP.replace("relu(", "rleu("), at: [18, 10], message: /unknown function 'rleu'; did you mean 'relu'\?/ },
    { name: "shape", source: MLP.replace("x @ W + b", "x @ b + W"), at: [16, 22], message: /^cannot multiply \[B, 784\] @ \[128\]: the left side's last axis \(784\) must equal the right side's only axis \(128\), in the call dense\(\.\.\.\) at m\.bp:18:15/ },
    { name: "no minimize", source: "param W: [3]\nloss = sum(W)\n", at: [2, 1], message: /^no 'minimize' statement/, fix: /^add a line such as: minimize loss$/ },
    { name: "empty", source: "", at: [1, 1], message: /^empty file/ },
  ];

  it.each(CASES)("$name: lint returns it, compile and inspect reject with it", async ({ source, at, message, fix }) => {
    const found = lint(source, { file: "m.bp" });
    expect(found).toHaveLength(1);
    const d = found[0];
    expect(d).toMatchObject({ rule: "compile-error", severity: "error", file: "m.bp", line: at[0], column: at[1], params: [] });
    expect(d.message).toMatch(message);
    if (fix) expect(d.fix).toMatch(fix);
    for (const k of ["rule", "severity", "message", "file", "line", "column", "endLine", "endColumn", "params", "fix"]) expect(d).toHaveProperty(k);
    const e = await rejection(compile(source, { file: "m.bp" }));
    expect(e.diagnostics).toEqual(found);
    expect(e.name).toBe("BpcError");
    expect(e.message).toBe(`m.bp:${at[0]}:${at[1]}: ${d.message}`);
    expect((await rejection(inspect(source, "grad", { file: "m.bp" }))).diagnostics).toEqual(found);
    expect((await rejection(graph(source, { file: "m.bp" }))).diagnostics).toEqual(found);
  });

  it("an error inside a def says which call it came through", () => {
    const source = MLP.replace("h      = relu(dense(x, W1, b1))", "h      = relu(dense(x, W2, b1))");
    const [d] = lint(source);
    expect(d.rule).toBe("compile-error");
    expect(d.message).toMatch(/, in the call dense\(\.\.\.\) at model\.bp:18:15$/);
  });

  it("lint never throws for bad source: any text gives diagnostics with positions inside it", () => {
    const pieces = ["param W: [3]", "dim B", "input x: [B, 3]", "loss = sum(W)", "minimize loss", "h = relu(x @ W", ")", "#", "\n", "[", "'", "\u0000", "é", "for t in 0..3 {", "}", "def f(a) = a"];
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 8 })), { maxLength: 12 }), (parts) => {
        const source = parts.join(" ");
        const found = lint(source, { file: "fuzz.bp" });
        const lines = source.split(/\r?\n/).length;
        for (const d of found) {
          expect(d.file).toBe("fuzz.bp");
          expect(d.line).toBeGreaterThanOrEqual(0);
          expect(d.line).toBeLessThanOrEqual(lines + 1);
          expect(d.rule).not.toBe("internal");
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("options", () => {
  const BAD: [string, object, RegExp][] = [
    ["emit", { emit: "wasm" }, /^emit must be "ts" or "js", got "wasm"$/],
    ["precision", { precision: "f16" }, /^precision must be "f32" or "f64", got "f16"$/],
    ["kernels", { kernels: "gpu" }, /^kernels must be "simd" or "js", got "gpu"$/],
    ["inputGrads", { inputGrads: "x" }, /^inputGrads must be "all" or an array of input names, got "x"$/],
    ["file", { file: 3 }, /^file must be a non-empty string, got number$/],
    ["probes", { probes: "yes" }, /^probes must be true or false, got "yes"$/],
    ["unknown input", { inputGrads: ["nope"] }, /^--input-grads: 'nope' is not an input of this model \(its inputs: x, y\)$/],
    ["int input", { inputGrads: ["y"] }, /^--input-grads: 'y' is an int input/],
  ];

  it.each(BAD)("%s: a BpcError that says what is allowed", async (_name, opts, message) => {
    const e = await rejection(compile(MLP, opts as never));
    expect(e.diagnostics).toHaveLength(1);
    expect(e.diagnostics[0].rule).toBe("compile-error");
    expect(e.diagnostics[0].message).toMatch(message);
  });

  it("probes: false compiles; a bad stage or format is refused", async () => {
    expect((await compile(MLP, { probes: false })).code).toContain("export function backward(");
    expect((await rejection(inspect(MLP, "tokens" as never))).message).toBe('model.bp: stage must be ast, ir, grad, opt or ts, got "tokens"');
    expect((await rejection(graph(MLP, { format: "png" as never }))).message).toBe('model.bp: format must be "svg" or "dot", got "png"');
    expect(() => lint(42 as never)).toThrow(BpcError);
  });
});
