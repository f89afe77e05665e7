// `--emit js` (spec section 11): the JavaScript module and its `.d.ts`.
// - The declarations are exactly the TypeScript module's types: for every
//   example (and a model whose names mean something to JavaScript), each
//   exported value and type of the `.d.ts` is identical to the one in the
//   TypeScript compiler's own declarations of the `.ts` module (its
//   transpileDeclaration), checked by the compiler under strict.
// - A strict TypeScript consumer of a `.d.ts` compiles, and its misuses are
//   type errors.
// - `bpc compile --emit js -o model.js` writes model.js and model.d.ts, the
//   JavaScript runs in plain Node, and a bad output name is a usage error.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Project, ts } from "ts-morph";
import { afterAll, describe, expect, it } from "vitest";
import { compile } from "../../src/api.js";
import { toJsModule } from "../../src/js-module.js";
import { bpc, tempFiles } from "../helpers/cli.js";

const ROOT = join(import.meta.dirname, "../..");
const examples = readdirSync(join(ROOT, "examples")).filter((f) => f.endsWith(".bp")).sort();

const HOSTILE = `model hostile
dim B
dim i = 3
input constructor: [B, i] ~ normal(0, 1)
input hasOwnProperty: int[B] in [0, 2)
param __proto__: [i, 2] ~ normal(0, 1)
param default: [2] ~ uniform(-1, 1)
param Math: [i, 2] ~ xavier
let = constructor @ __proto__ + default
loss = mean(cross_entropy(let, hasOwnProperty))
output let
minimize loss
`;

function typeCheck(files: Record<string, string>): string[] {
  const project = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: {
      strict: true,
      noImplicitAny: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ["lib.es2022.d.ts"],
      noEmit: true,
    },
  });
  for (const [name, text] of Object.entries(files)) project.createSourceFile(`/${name}`, text);
  return project
    .getPreEmitDiagnostics()
    .map((d) => `${d.getSourceFile()?.getBaseName()}:${d.getLineNumber()}: ${ts.flattenDiagnosticMessageText(d.getMessageText(), "\n")}`);
}

const EXPORTS = ["model", "init", "forward", "backward"];
const TYPES = ["ModelInfo", "Params", "Inputs", "Outputs", "Grads"];

describe("the .d.ts of --emit js", () => {
  it("declares exactly the TypeScript module's types, for every example", async () => {
    const files: Record<string, string> = {
      "equal.ts": "export type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;\n",
    };
    const models: [string, string, "f32" | "f64"][] = [
      ...examples.map((f): [string, string, "f32"] => [f.replace(/\.bp$/, ""), readFileSync(join(ROOT, "examples", f), "utf8"), "f32"]),
      ["hostile", HOSTILE, "f64"],
    ];
    for (const [name, source, precision] of models) {
      const inputGrads = name === "hostile" ? ["constructor"] : undefined;
      const tsModule = await compile(source, { file: `${name}.bp`, precision, inputGrads });
      const js = await toJsModule(tsModule.code);
      const ref = ts.transpileDeclaration(tsModule.code, { fileName: `${name}.ts` });
      expect(ref.diagnostics ?? [], name).toEqual([]);
      files[`${name}_ts.d.ts`] = ref.outputText;
      files[`${name}_js.d.ts`] = js.dts;
      files[`${name}_check.ts`] = [
        `import type { Equal } from "./equal.js";`,
        `import * as T from "./${name}_ts.js";`,
        `import * as D from "./${name}_js.js";`,
        `const names: Equal<keyof typeof T, keyof typeof D> = true;`,
        ...EXPORTS.map((e) => `const ${e}: Equal<typeof T.${e}, typeof D.${e}> = true;`),
        ...TYPES.map((t) => `const t${t}: Equal<T.${t}, D.${t}> = true;`),
        `export { names, ${EXPORTS.join(", ")}, ${TYPES.map((t) => `t${t}`).join(", ")} };`,
      ].join("\n");
    }
    expect(typeCheck(files)).toEqual([]);
  });

  it("types a strict consumer, and its misuses are errors", async () => {
    const mlp = readFileSync(join(ROOT, "examples/mlp.bp"), "utf8");
    const { dts } = await compile(mlp, { file: "mlp.bp", emit: "js" });
    const consumer = `
      import { backward, forward, init, model, type Params } from "./mlp.js";
      const params: Params = init(1);
      const B = 2;
      const x = new Float32Array(B * 784);
      const y = new Int32Array(B);
      const out = forward(params, { x, y });
      const loss: number = out.loss;
      const logits: Float32Array = out.logits;
      const g: Float32Array = backward(params, { x, y }).grads.W1;
      const shape: (number | string)[] = model.params.W1.shape;
      const name: string = model.name;
      // @ts-expect-error: y is missing
      forward(params, { x });
      // @ts-expect-error: labels are Int32Array
      forward(params, { x, y: new Float32Array(B) });
      // @ts-expect-error: no such output
      out.probabilities;
      // @ts-expect-error: no such gradient
      backward(params, { x, y }).grads.W3;
      // @ts-expect-error: the seed is a number
      init("1");
      export { loss, logits, g, shape, name };
    `;
    expect(typeCheck({ "mlp.d.ts": dts!, "app.ts": consumer })).toEqual([]);
    // The same consumer against a wrong declaration file fails: the check can fail.
    expect(typeCheck({ "mlp.d.ts": dts!.replace("y: Int32Array", "y: Float32Array"), "app.ts": consumer }).length).toBeGreaterThan(0);
  });
});

describe("bpc compile --emit js", () => {
  const tmp = tempFiles("bpc-emit-js-");
  afterAll(() => rmSync(tmp.dir, { recursive: true, force: true }));

  it("writes model.js and model.d.ts; the JavaScript runs in plain Node", async () => {
    const out = join(tmp.dir, "model.js");
    const r = bpc("compile", "examples/mlp.bp", "--emit", "js", "-o", out);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe(`wrote ${out}\nwrote ${join(tmp.dir, "model.d.ts")}\n`);
    const js = readFileSync(out, "utf8");
    const { code, dts } = await compile(readFileSync(join(ROOT, "examples/mlp.bp"), "utf8"), { file: "examples/mlp.bp", emit: "js" });
    expect(js).toBe(code);
    expect(readFileSync(join(tmp.dir, "model.d.ts"), "utf8")).toBe(dts);
    const script = `
      import { backward, forward, init, model } from ${JSON.stringify(pathToFileURL(out).href)};
      const p = init(1);
      const x = new Float32Array(3 * 784).fill(0.5), y = Int32Array.from([1, 2, 3]);
      const { loss, grads } = backward(p, { x, y });
      console.log(JSON.stringify({ name: model.name, loss, same: forward(p, { x, y }).loss === loss, n: grads.W1.length }));
    `;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const got = JSON.parse(run.stdout) as { name: string; loss: number; same: boolean; n: number };
    expect(got).toMatchObject({ name: "mlp", same: true, n: 784 * 128 });
    expect(Number.isFinite(got.loss)).toBe(true);
  });

  it("prints the JavaScript without -o, and .mjs gets a .d.mts", () => {
    const r = bpc("compile", "examples/mlp.bp", "--emit", "js");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^\/\/ Generated by bpc from examples\/mlp\.bp/);
    expect(r.out).toContain("export function init(seed = 0) {");
    expect(r.out).not.toMatch(/: (Params|Float32Array)\b/);
    const mjs = join(tmp.dir, "m.mjs");
    expect(bpc("compile", "examples/mlp.bp", "--emit", "js", "-o", mjs).err).toBe(`wrote ${mjs}\nwrote ${join(tmp.dir, "m.d.mts")}\n`);
  });

  it("refuses an output that is not .js or .mjs, and a bad --emit", () => {
    const r = bpc("compile", "examples/mlp.bp", "--emit", "js", "-o", join(tmp.dir, "model.ts"));
    expect(r.code).toBe(2);
    expect(r.err).toContain("name the output .js or .mjs");
    const bad = bpc("compile", "examples/mlp.bp", "--emit", "wasm");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--emit.*wasm.*(ts|js)/s);
  });
});
