// The library in a browser (spec section 11): src/index.ts bundled by Vite
// for the browser, with any import of a Node built-in failing the build,
// loaded in headless Chromium, where compile (TypeScript and JavaScript),
// lint, inspect and graph give what they give in Node, and the compiled
// JavaScript module trains.
import { builtinModules } from "node:module";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { build, type Plugin } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile, graph, inspect, lint } from "../../src/index.js";
import { loadModule } from "../../src/codegen/runtime-load.js";
import { launchChromium, openPage, serveStatic } from "../helpers/chromium.js";

const ROOT = join(import.meta.dirname, "../..");
const MLP = readFileSync(join(ROOT, "examples/mlp.bp"), "utf8");
const CLIPPED = readFileSync(join(ROOT, "examples/dqn_clipped.bp"), "utf8");

/** Fails the bundle on any import of a Node built-in, naming the importer. */
const noNodeBuiltins: Plugin = {
  name: "no-node-builtins",
  enforce: "pre",
  resolveId(id, importer) {
    const bare = id.replace(/^node:/, "");
    if (id.startsWith("node:") || builtinModules.includes(bare)) this.error(`'${importer}' imports the Node built-in '${id}'`);
    return null;
  },
};

let dir = "";
let server: { url: string; close(): Promise<void> } | undefined;
let browser: Browser | undefined;
let page: Page;
let errors: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bpc-browser-lib-"));
  await build({
    configFile: false,
    root: dir,
    logLevel: "warn",
    plugins: [noNodeBuiltins],
    build: {
      outDir: join(dir, "out"),
      lib: { entry: join(ROOT, "src/index.ts"), formats: ["es"], fileName: "bpc" },
      target: "es2022",
      minify: false,
      reportCompressedSize: false,
    },
  });
  writeFileSync(
    join(dir, "out/index.html"),
    `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>bpc</title>
<script type="module">
  import * as bpc from "./bpc.mjs";
  window.bpc = bpc;
  window.importUrl = (url) => import(url); // page.evaluate's code is rewritten by Vitest, its import() too
  document.title = "ready";
</script>`,
  );
  server = await serveStatic(join(dir, "out"));
  browser = await launchChromium();
  ({ page, errors } = await openPage(browser));
  await page.goto(server.url);
  await page.waitForFunction(() => document.title === "ready");
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// The page's `window.bpc`, typed loosely: the test passes plain data in and out.
type Lib = typeof import("../../src/index.js");
type Win = { bpc: Lib; importUrl(url: string): Promise<Record<string, any>> };

describe("the library in Chromium", () => {
  it("compiles to TypeScript and JavaScript as in Node", async () => {
    const got = await page.evaluate(async (src) => {
      const bpc = (window as unknown as { bpc: Lib }).bpc;
      const ts = await bpc.compile(src, { file: "mlp.bp" });
      const js = await bpc.compile(src, { file: "mlp.bp", emit: "js", precision: "f64", inputGrads: ["x"] });
      return { ts, js };
    }, MLP);
    expect(got.ts.code).toBe((await compile(MLP, { file: "mlp.bp" })).code);
    expect(got.ts.dts).toBeUndefined();
    const node = await compile(MLP, { file: "mlp.bp", emit: "js", precision: "f64", inputGrads: ["x"] });
    expect(got.js.code).toBe(node.code);
    expect(got.js.dts).toBe(node.dts);
    expect(got.js.code).toContain("new Float64Array");
    expect(got.js.dts).toContain("export declare function backward(params: Params, inputs: Inputs)");
  });

  it("runs the compiled JavaScript module: the loss is Node's, and SGD lowers it", async () => {
    const B = 8;
    const inputs = {
      x: Array.from({ length: B * 784 }, (_, i) => ((i * 7919) % 1000) / 1000),
      y: Array.from({ length: B }, (_, i) => i % 10),
    };
    const got = await page.evaluate(
      async ({ src, x, y }) => {
        const win = window as unknown as Win;
        const { code } = await win.bpc.compile(src, { file: "mlp.bp", emit: "js" });
        const m = await win.importUrl(URL.createObjectURL(new Blob([code], { type: "text/javascript" })));
        const params = m.init(1);
        const data = { x: Float32Array.from(x), y: Int32Array.from(y) };
        const first = m.forward(params, data).loss as number;
        for (let step = 0; step < 10; step++) {
          const { grads } = m.backward(params, data);
          for (const k of Object.keys(params)) for (let i = 0; i < params[k].length; i++) params[k][i] -= 0.1 * grads[k][i];
        }
        return { first, last: m.forward(params, data).loss as number, grads: m.model.grads as string[] };
      },
      { src: MLP, ...inputs },
    );
    const mod = await loadModule((await compile(MLP, { file: "mlp.bp" })).code);
    const nodeLoss = mod.forward(mod.init(1), { x: Float32Array.from(inputs.x), y: Int32Array.from(inputs.y) }).loss;
    expect(got.first).toBeCloseTo(nodeLoss, 5);
    expect(got.last).toBeLessThan(got.first);
    expect(got.grads).toEqual(["W1", "b1", "W2", "b2"]);
  });

  it("lints: findings and compile errors through one call", async () => {
    const bad = "param W: [3]\nloss = sum(W) +\nminimize loss\n";
    const got = await page.evaluate(
      ({ clipped, bad }) => {
        const bpc = (window as unknown as { bpc: Lib }).bpc;
        return { clipped: bpc.lint(clipped, { file: "dqn_clipped.bp" }), bad: bpc.lint(bad) };
      },
      { clipped: CLIPPED, bad },
    );
    expect(got.clipped).toEqual(lint(CLIPPED, { file: "dqn_clipped.bp" }));
    expect(got.clipped.map((d) => [d.rule, d.line, d.column])).toContainEqual(["clip-before-loss", 31, 17]);
    expect(got.bad).toEqual([expect.objectContaining({ rule: "compile-error", severity: "error", file: "model.bp", line: 2, column: 16 })]);
  });

  it("inspects every stage, and rejects a compile error with section 8's diagnostics", async () => {
    const got = await page.evaluate(async (src) => {
      const bpc = (window as unknown as { bpc: Lib }).bpc;
      const stages: Record<string, string> = {};
      for (const s of ["ast", "ir", "grad", "opt", "ts"] as const) stages[s] = await bpc.inspect(src, s, { file: "mlp.bp" });
      const err = await bpc.inspect("dim B\nx = relu(\n", "opt", { file: "bad.bp" }).then(
        () => null,
        (e: InstanceType<Lib["BpcError"]>) => ({ name: e.name, isBpcError: e instanceof bpc.BpcError, diagnostics: e.diagnostics }),
      );
      return { stages, err };
    }, MLP);
    for (const s of ["ast", "ir", "grad", "opt", "ts"] as const) expect(got.stages[s], s).toBe(await inspect(MLP, s, { file: "mlp.bp" }));
    expect(got.stages.opt).toContain("grad W1 = ");
    expect(got.err).toMatchObject({ name: "BpcError", isBpcError: true });
    expect(got.err!.diagnostics).toEqual([
      {
        rule: "compile-error",
        severity: "error",
        message: expect.stringContaining("unexpected end of file"),
        file: "bad.bp",
        line: 2,
        column: 10,
        endLine: 2,
        endColumn: 10,
        params: [],
        fix: "",
      },
    ]);
  });

  it("draws the graph as SVG and DOT", async () => {
    const got = await page.evaluate(async (src) => {
      const bpc = (window as unknown as { bpc: Lib }).bpc;
      return { svg: await bpc.graph(src, { file: "mlp.bp" }), dot: await bpc.graph(src, { format: "dot" }) };
    }, MLP);
    expect(got.dot).toBe(await graph(MLP, { format: "dot" }));
    expect(got.svg).toMatch(/<svg[\s>]/);
    expect(got.svg).toContain("dW1");
    expect(got.svg).toContain('stroke="#d00000"'); // backward in red
    expect(got.svg).toBe(await graph(MLP, { file: "mlp.bp" }));
  });

  it("logged no console error and failed no request", () => {
    expect(errors).toEqual([]);
  });
});
