// The Vite plugin (`bpc/vite`, spec section 11), on a tiny app in a temp
// folder that imports a model (a copy of examples/mlp.bp) and trains it:
// - `vite build`, the output served on 127.0.0.1 and run in headless
//   Chromium: the loss is finite, backward runs, SGD lowers the loss, and the
//   console stays clean;
// - the dev server: `dts: true` writes model.bp.d.ts; a compile error shows
//   in Vite's overlay with file:line:column and the code frame; editing the
//   .bp reloads the page with the new model;
// - `bpc/client` and the written .d.ts type-check a TypeScript consumer;
// - a build with a broken model fails with the error's position and frame.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Project, ts } from "ts-morph";
import type { Browser } from "playwright-core";
import { build, createServer, type ViteDevServer } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bpc } from "../../src/vite.js";
import { launchChromium, openPage, serveStatic } from "../helpers/chromium.js";

const ROOT = join(import.meta.dirname, "../..");
const MLP = readFileSync(join(ROOT, "examples/mlp.bp"), "utf8");

// The app: trains the model for a few SGD steps and writes what happened into the page.
const MAIN = `
import { backward, forward, init, model } from "./model.bp";

const B = 16;
const x = new Float32Array(B * model.params.W1.shape[0]).map((_, i) => ((i * 7919) % 1000) / 1000);
const y = Int32Array.from({ length: B }, (_, i) => i % 10);
const params = init(1);
const first = forward(params, { x, y }).loss;
for (let step = 0; step < 20; step++) {
  const { grads } = backward(params, { x, y });
  for (const k of Object.keys(params)) params[k].forEach((v, i) => (params[k][i] = v - 0.1 * grads[k][i]));
}
const last = forward(params, { x, y }).loss;
const out = document.createElement("pre");
out.dataset.testid = "result";
out.textContent = JSON.stringify({ name: model.name, W1: model.params.W1.shape, first, last });
document.body.append(out);
`;
const HTML = `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>bp app</title></head>
<body><script type="module" src="./main.ts"></script></body></html>`;

interface Result {
  name: string;
  W1: number[];
  first: number;
  last: number;
}

let app = "";
let browser: Browser | undefined;

function makeApp(): string {
  const dir = mkdtempSync(join(tmpdir(), "bpc-vite-app-"));
  writeFileSync(join(dir, "index.html"), HTML);
  writeFileSync(join(dir, "main.ts"), MAIN);
  writeFileSync(join(dir, "model.bp"), MLP);
  return dir;
}

beforeAll(async () => {
  app = makeApp();
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (app) rmSync(app, { recursive: true, force: true });
});

describe("bpc/vite", () => {
  it("vite build: the app trains the model in Chromium", async () => {
    const out = join(app, "dist");
    await build({ configFile: false, root: app, logLevel: "warn", plugins: [bpc()], build: { outDir: out, emptyOutDir: true, reportCompressedSize: false } });
    const scripts = readdirSync(join(out, "assets")).filter((f) => f.endsWith(".js"));
    expect(scripts).toHaveLength(1);
    expect(readFileSync(join(out, "assets", scripts[0]), "utf8")).not.toContain("model.bp");
    const server = await serveStatic(out);
    try {
      const { page, errors } = await openPage(browser!);
      await page.goto(server.url);
      const r = JSON.parse(await page.getByTestId("result").textContent({ timeout: 30_000 }) ?? "") as Result;
      expect(r.name).toBe("mlp");
      expect(r.W1).toEqual([784, 128]);
      expect(Number.isFinite(r.first)).toBe(true);
      expect(r.last).toBeLessThan(r.first);
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      await server.close();
    }
  });

  it("a build with a broken model fails at the error's position, with the code frame", async () => {
    const dir = makeApp();
    try {
      writeFileSync(join(dir, "model.bp"), MLP.replace("dim H = 128", "dim H = 128\nparam oops: [H"));
      const err = await build({ configFile: false, root: dir, logLevel: "silent", plugins: [bpc()], build: { write: false } }).then(
        () => null,
        (e: Error & { loc?: { file: string; line: number; column: number }; frame?: string; plugin?: string }) => e,
      );
      expect(err).not.toBeNull();
      expect(err!.plugin).toBe("bpc");
      // The parser reads on past the open bracket and stops at the next line's first token.
      expect(err!.loc).toEqual({ file: join(dir, "model.bp"), line: 8, column: 1 });
      expect(err!.message).toContain("unexpected 'dim'; expected one of: an operator, ',', ']'");
      expect(err!.frame).toMatch(/ {2}7 \| param oops: \[H\n> 8 \| dim C = 10\n {4}\| \^{3}\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("the dev server", () => {
    let server: ViteDevServer | undefined;
    let dir = "";
    beforeAll(async () => {
      dir = makeApp();
      server = await createServer({
        configFile: false,
        root: dir,
        logLevel: "silent",
        plugins: [bpc({ dts: true })],
        server: { host: "127.0.0.1", port: 0, strictPort: false, watch: { usePolling: false } },
        optimizeDeps: { noDiscovery: true },
      });
      await server.listen();
    }, 60_000);
    afterAll(async () => {
      await server?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("compiles on import, writes model.bp.d.ts, shows compile errors in the overlay and reloads on edit", async () => {
      const url = server!.resolvedUrls!.local[0];
      const { page, errors } = await openPage(browser!);
      await page.goto(url);
      const first = JSON.parse((await page.getByTestId("result").textContent()) ?? "") as Result;
      expect(first.W1).toEqual([784, 128]);
      expect(Number.isFinite(first.first)).toBe(true);
      expect(errors).toEqual([]);
      const dts = readFileSync(join(dir, "model.bp.d.ts"), "utf8");
      expect(dts).toContain("export type Params = { W1: Float32Array; b1: Float32Array; W2: Float32Array; b2: Float32Array };");

      // A compile error: Vite's overlay shows the file, line and column, and the frame.
      writeFileSync(join(dir, "model.bp"), MLP.replace("h      = relu(", "h      = rleu("));
      const overlay = page.locator("vite-error-overlay");
      await overlay.waitFor({ state: "attached", timeout: 30_000 });
      expect(await overlay.locator(".plugin").textContent()).toContain("bpc");
      expect(await overlay.locator(".file").textContent()).toMatch(/\/model\.bp:18:10$/);
      expect(await overlay.locator(".message-body").textContent()).toContain("unknown function 'rleu'; did you mean 'relu'?");
      expect(await overlay.locator(".frame").textContent()).toMatch(/> 18 \| h {6}= rleu\(dense\(x, W1, b1\)\)\n {5}\| {10}\^{4}/);

      // Fixed, and changed: the page reloads with the new model.
      errors.length = 0;
      writeFileSync(join(dir, "model.bp"), MLP.replace("dim H = 128", "dim H = 32"));
      await page.waitForFunction(() => document.querySelector("[data-testid=result]")?.textContent?.includes('"W1":[784,32]'), undefined, { timeout: 30_000 });
      expect(await page.locator("vite-error-overlay").count()).toBe(0);
      expect(readFileSync(join(dir, "model.bp.d.ts"), "utf8")).toContain(`W1: Float32Array`);
      expect(errors).toEqual([]);
      await page.close();
    });
  });
});

describe("bpc/client and the written declarations", () => {
  function typeCheck(files: Record<string, string>): string[] {
    const project = new Project({
      useInMemoryFileSystem: true,
      compilerOptions: {
        strict: true,
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
  const client = readFileSync(join(ROOT, "client.d.ts"), "utf8");
  const use = `
    import { backward, forward, init, model } from "./model.bp";
    const p = init(1);
    const x = new Float32Array(784), y = new Int32Array(1);
    const loss: number = forward(p, { x, y }).loss;
    const g = backward(p, { x, y }).grads;
    const names: string[] = model.outputs;
    export { loss, g, names };
  `;

  it("bpc/client types any .bp import", () => {
    expect(typeCheck({ "client.d.ts": client, "app.ts": use })).toEqual([]);
    // Without it, a .bp import is an error: the check can fail.
    expect(typeCheck({ "app.ts": use }).join("\n")).toMatch(/model\.bp/);
  });

  it("a written NAME.bp.d.ts wins over bpc/client with the model's exact types", async () => {
    const { compile } = await import("../../src/api.js");
    const { dts } = await compile(MLP, { file: "model.bp", emit: "js" });
    const strict = `${use}
      // @ts-expect-error: y is missing
      forward(p, { x });
      // @ts-expect-error: mlp has no param W3
      p.W3;
    `;
    expect(typeCheck({ "client.d.ts": client, "model.bp.d.ts": dts!, "app.ts": strict })).toEqual([]);
    // With bpc/client alone those lines type-check, so their @ts-expect-error is unused: the exact types made the difference.
    expect(typeCheck({ "client.d.ts": client, "app.ts": strict }).length).toBeGreaterThan(0);
  });
});
