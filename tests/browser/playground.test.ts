// The playground (spec section 11) in headless Chromium: the production
// build of playground/ served from a temporary directory, driven as a user
// would. Typing shows lint findings (and how long they take), the tabs show
// the backward code, the spiral trains to 90 % in the page's worker on the
// WebAssembly SIMD kernel with its training probes drawn live, the dead-ReLU
// model shows its dead units, and nothing logs an error.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, openPage, serveStatic } from "../helpers/chromium.js";

const ROOT = join(import.meta.dirname, "../..");
const SPIRAL = readFileSync(join(ROOT, "playground/models/spiral.bp"), "utf8");
// The spiral model with its loss clipped: outside [0, 2] no gradient reaches a parameter.
const LOSS_LINE = SPIRAL.split("\n").findIndex((l) => l.startsWith("loss")) + 1;
const CLIPPED = SPIRAL.replace("loss   = mean(cross_entropy(logits, y))", "loss   = mean(clip(cross_entropy(logits, y), 0, 2))");

let dir = "";
let server: { url: string; close(): Promise<void> } | undefined;
let browser: Browser | undefined;
let page: Page;
let errors: string[] = [];
/** Numbers the report quotes, printed at the end. */
const measured: Record<string, string> = {};

/** How many lint runs the page has shown so far. */
const lintRuns = (): Promise<number> => page.getByTestId("diagnostics").evaluate((el) => Number((el as HTMLElement).dataset.runs ?? 0));

/** Waits for the page to show a lint run after `before`. */
async function nextLint(before: number): Promise<void> {
  await page.waitForFunction((n) => Number(document.querySelector<HTMLElement>("[data-testid=diagnostics]")?.dataset.runs ?? 0) > n, before, {
    timeout: 10_000,
  });
}

/** Replaces the editor's text as a paste would (bracket auto-closing would garble typed text). */
async function replaceSource(text: string): Promise<void> {
  await page.locator("[data-testid=editor] .cm-content").click();
  await page.keyboard.press("Control+A");
  await page.keyboard.insertText(text);
}

async function trainPhase(phase: string): Promise<void> {
  await page.waitForFunction((p) => document.body.dataset.train === p, phase, { timeout: 30_000 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bpc-playground-"));
  const t0 = performance.now();
  await build({
    configFile: join(ROOT, "playground/vite.config.ts"),
    logLevel: "warn",
    build: { outDir: dir, emptyOutDir: true, reportCompressedSize: false },
  });
  measured["build"] = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  server = await serveStatic(dir);
  browser = await launchChromium();
  ({ page, errors } = await openPage(browser));
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(server.url);
  // The first lint run and the spiral model loaded into the train worker.
  await nextLint(0);
  await trainPhase("ready");
}, 110_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (Object.keys(measured).length) console.log(`playground: ${Object.entries(measured).map(([k, v]) => `${k} ${v}`).join("; ")}`);
});

describe("the playground in Chromium", () => {
  it("has the section 11 test hooks", async () => {
    for (const id of ["editor", "diagnostics", "stage-tabs", "code", "train-button", "accuracy", "loss-chart", "probes"]) {
      await expect(page.getByTestId(id).isVisible(), id).resolves.toBe(true);
    }
    await expect(page.getByTestId("graph").count()).resolves.toBe(1);
    // The loaded spiral model's probes at step 0: its relu site and its params.
    await page.waitForFunction(() => document.querySelector("[data-testid=probes] tr[data-site=h]") !== null, null, { timeout: 10_000 });
    await expect(page.getByTestId("probes").textContent()).resolves.toMatch(/step 0, on the 300 data points/);
  });

  it("shows a clip-before-loss finding as the model is typed, in the list and as an underline", async () => {
    const before = await lintRuns();
    await replaceSource(CLIPPED);
    await nextLint(before);
    const item = page.locator("[data-testid=diagnostics] [data-rule=clip-before-loss]");
    await expect(item.count()).resolves.toBe(1);
    await expect(item.textContent()).resolves.toMatch(/clip\(cross_entropy\(logits, y\), 0, 2\).*gradient/);
    await expect(item.textContent()).resolves.toContain(`line ${LOSS_LINE}:`);
    // CodeMirror's lint underline sits on the clip call.
    const underlined = await page.locator("[data-testid=editor] .cm-lintRange-error").allTextContents();
    expect(underlined.join("")).toContain("clip(cross_entropy(logits, y), 0, 2)");
    // Fixing it clears the finding.
    const again = await lintRuns();
    await replaceSource(SPIRAL);
    await nextLint(again);
    await expect(item.count()).resolves.toBe(0);
  });

  it("updates the findings within 300 ms of a keystroke on every example", async () => {
    const names = await page.locator("#examples option:not([disabled])").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(names.length).toBeGreaterThan(10);
    /** The page's own measure: from the keystroke's transaction to the diagnostics shown. */
    const keystroke = async (): Promise<number> => {
      await page.locator("[data-testid=editor] .cm-content").click();
      await page.keyboard.press("Control+End");
      const before = await lintRuns();
      await page.keyboard.type(" ");
      await nextLint(before);
      return page.getByTestId("diagnostics").evaluate((el) => Number((el as HTMLElement).dataset.latencyMs));
    };
    const latencies: Record<string, number> = {};
    for (const name of names) {
      const before = await lintRuns();
      await page.selectOption("#examples", name);
      await nextLint(before);
      latencies[name] = await keystroke();
      // Other test files share the CPU: a slow run is measured twice more, and the best counts.
      for (let i = 0; i < 2 && latencies[name] >= 300; i++) latencies[name] = Math.min(latencies[name], await keystroke());
    }
    const values = Object.values(latencies);
    const worst = Object.entries(latencies).sort((a, b) => b[1] - a[1])[0];
    measured["keystroke to diagnostics"] = `median ${median(values).toFixed(0)} ms, worst ${worst[1].toFixed(0)} ms (${worst[0]})`;
    for (const [name, ms] of Object.entries(latencies)) expect(ms, name).toBeLessThan(300);
  });

  it("shows the forward IR, the backward IR, the simplified backward IR, the generated code and the graph", async () => {
    await page.selectOption("#examples", "spiral");
    const tabs = page.getByTestId("stage-tabs");
    const code = page.getByTestId("code");
    const show = async (tab: string, view: string, text: RegExp): Promise<void> => {
      await tabs.getByRole("tab", { name: tab, exact: true }).click();
      await expect(tabs.getByRole("tab", { name: tab, exact: true }).getAttribute("aria-selected")).resolves.toBe("true");
      // The pane names the view it shows once the worker's answer is in.
      await page.waitForFunction(
        ([v, src]) => {
          const pane = document.querySelector<HTMLElement>("[data-testid=code]");
          return pane?.dataset.view === v && new RegExp(src).test(pane.querySelector(".cm-content")?.textContent ?? "");
        },
        [view, text.source] as const,
        { timeout: 20_000 },
      );
    };
    // The pane renders the lines in view: the IR tab opens at the top, the backward tabs at "# backward".
    await show("IR", "ir", /%8:h: f\[B, 64\] = relu %7/);
    // Clicking a listing's line selects the .bp line it came from.
    await code.locator(".cm-line", { hasText: "%8:h: f[B, 64] = relu %7" }).click();
    await page.waitForFunction(() => document.querySelector("[data-testid=editor] .cm-selectionBackground") !== null, null, { timeout: 5000 });
    // The backward pass, from the loss's gradient at the logits back to W2.
    const backward = /# backward.*:dlogits: f\[B, 3\].*:dW2: f\[64, 3\] = matmul %8:h, %\d+:dlogits/;
    await show("Backward IR", "grad", backward);
    const raw = await code.locator(".cm-content").textContent();
    await show("Simplified", "opt", backward);
    // The simplifier changed something: the two stages are not the same listing.
    expect(await code.locator(".cm-content").textContent()).not.toBe(raw);
    await show("Code", "ts", /Generated by bpc from model\.bp.*export const model/);
    await tabs.getByRole("tab", { name: "Graph", exact: true }).click();
    const svg = page.locator("[data-testid=graph] svg");
    await svg.waitFor({ timeout: 20_000 });
    const strokes = await svg.locator("[stroke]").evaluateAll((els) => els.map((e) => e.getAttribute("stroke")));
    expect(strokes).toContain("#000000"); // forward
    expect(strokes).toContain("#d00000"); // backward
  });

  it("trains the spiral classifier to 90 % in a worker, on the WebAssembly SIMD kernel", async () => {
    await page.selectOption("#examples", "spiral");
    await page.selectOption("#pace", "0"); // as fast as it goes
    await trainPhase("ready");
    const kernel = page.getByTestId("kernel");
    const t0 = Date.now();
    await page.getByTestId("train-button").click();
    await trainPhase("running");
    // The first report at 90 % or more: its accuracy and step count.
    const reached = await page.waitForFunction(
      () => {
        const acc = Number(document.querySelector<HTMLElement>("[data-testid=accuracy]")?.dataset.value);
        return acc >= 0.9 ? { acc, steps: document.querySelector("#stat-step")?.textContent } : null;
      },
      null,
      { timeout: 30_000, polling: 20 },
    );
    const seconds = (Date.now() - t0) / 1000;
    const { acc, steps } = (await reached.jsonValue()) as { acc: number; steps: string };
    await page.getByTestId("train-button").click();
    await trainPhase("ready");
    const accuracy = Number(await page.getByTestId("accuracy").getAttribute("data-value"));
    measured["spiral"] = `${(100 * acc).toFixed(1)} % after ${steps} steps in ${seconds.toFixed(2)} s (from the click), ${(100 * accuracy).toFixed(1)} % when stopped`;
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
    // The matmuls ran in the module's WebAssembly instance, observed in the worker.
    expect(Number(await kernel.getAttribute("data-instances"))).toBeGreaterThan(0);
    expect(Number(await kernel.getAttribute("data-calls"))).toBeGreaterThan(100);
    await expect(kernel.textContent()).resolves.toBe("WebAssembly SIMD");
    // The probes panel followed the run: the relu site h with its dead fraction and input figures, every param's norms.
    const probes = await probeFigures();
    expect(probes.step).toBeGreaterThan(0);
    expect(probes.sites).toHaveLength(1);
    expect(probes.sites[0].name).toBe("h relu, l. 19");
    expect(probes.sites[0].fraction).toBeGreaterThanOrEqual(0);
    expect(probes.sites[0].fraction).toBeLessThan(0.7); // a trained spiral keeps most units alive
    expect(probes.sites[0].stat).toMatch(/^-?[\d.e+-]+ ± [\d.e+-]+$/);
    expect(probes.params.map((r) => r[0])).toEqual(["W1", "b1", "W2", "b2"]);
    for (const [name, norm, grad, ratio] of probes.params) {
      expect(Number(norm), name).toBeGreaterThan(0);
      expect(Number(grad), name).toBeGreaterThan(0);
      expect(Number(ratio), name).toBeGreaterThan(0);
    }
    expect(probes.findings.filter((f) => f.rule === "dead-relu")).toEqual([]);
    // The loss curve is drawn (red pixels on the canvas).
    const red = await page.getByTestId("loss-chart").evaluate((c) => {
      const canvas = c as HTMLCanvasElement;
      const px = (canvas.getContext("2d") as CanvasRenderingContext2D).getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] > 180 && px[i + 1] < 90 && px[i + 3] > 200) n++;
      return n;
    });
    expect(red).toBeGreaterThan(50);
    // The observation can tell the paths apart: the JS kernels make no WebAssembly call.
    await page.selectOption("#kernels", "js");
    await trainPhase("ready");
    await page.getByTestId("train-button").click();
    await page.waitForFunction(() => Number(document.querySelector("#stat-step")?.textContent?.replace(/,/g, "")) > 200, null, { timeout: 20_000 });
    await page.getByTestId("train-button").click();
    await trainPhase("ready");
    expect(Number(await kernel.getAttribute("data-calls"))).toBe(0);
    await expect(kernel.textContent()).resolves.toBe("JS");
    await page.selectOption("#kernels", "simd");
    await trainPhase("ready");
  });

  it("shows the dead-ReLU model's dead units in the probes panel, with monitor's dead-relu finding", async () => {
    await page.selectOption("#examples", "spiral_dead_relu");
    await page.waitForFunction(() => document.querySelector("[data-testid=probes] tr[data-site]")?.textContent?.includes("l. 25"), null, {
      timeout: 30_000,
    });
    await trainPhase("ready");
    await page.getByTestId("train-button").click();
    await page.waitForFunction(() => Number(document.querySelector("#stat-step")?.textContent?.replace(/,/g, "")) > 300, null, { timeout: 20_000 });
    await page.getByTestId("train-button").click();
    await trainPhase("ready");
    const probes = await probeFigures();
    expect(probes.step).toBeGreaterThan(300);
    expect(probes.sites.map((s) => s.name)).toEqual(["h relu, l. 25"]);
    expect(probes.sites[0].fraction).toBeGreaterThanOrEqual(0.7);
    // No gradient reaches W1 and b1 through the dead units.
    expect(probes.params.filter(([, , grad]) => Number(grad) === 0).map((r) => r[0])).toEqual(expect.arrayContaining(["W1", "b1"]));
    const dead = probes.findings.find((f) => f.rule === "dead-relu");
    expect(dead?.text).toBe("dead-relu since step 0: 100 % of h dead");
    expect(dead?.title).toMatch(/`h` on line 25: 100 % of the relu units are dead/);
    // Back to the spiral for the tests that follow.
    await page.selectOption("#examples", "spiral");
    await trainPhase("ready");
  });

  it("says when a model does not fit the 2-D trainer", async () => {
    await page.selectOption("#examples", "mlp");
    await page.waitForFunction(() => document.body.dataset.train === "unfit", null, { timeout: 30_000 });
    await expect(page.locator("#train-note").textContent()).resolves.toMatch(/x: \[B, 784\]/);
  });

  it("keeps the source in the URL, so a link opens the same model", async () => {
    await replaceSource(CLIPPED);
    await page.waitForFunction(() => location.hash.length > 20, null, { timeout: 5000 });
    await page.waitForTimeout(400); // the URL follows edits after 300 ms
    const url = page.url();
    const { page: other, errors: otherErrors } = await openPage(browser as Browser);
    await other.goto(url);
    await other.waitForFunction(() => document.querySelector("[data-rule=clip-before-loss]") !== null, null, { timeout: 20_000 });
    const text = await other.locator("[data-testid=editor] .cm-content").evaluate((el) => (el as HTMLElement).innerText);
    expect(text.replace(/\s+/g, " ").trim()).toBe(CLIPPED.replace(/\s+/g, " ").trim());
    await other.close();
    expect(otherErrors).toEqual([]);
  });

  it("logs no console error", () => {
    expect(errors).toEqual([]);
  });
});

/** What the probes panel shows: its step, activation sites, param norms and findings. */
function probeFigures(): Promise<{
  step: number;
  sites: { name: string; fraction: number; stat: string }[];
  params: string[][];
  findings: { rule: string; text: string; title: string }[];
}> {
  return page.getByTestId("probes").evaluate((box) => ({
    step: Number(/step ([\d,]+)/.exec(box.querySelector(".probes-head")?.textContent ?? "")?.[1].replace(/,/g, "") ?? NaN),
    sites: [...box.querySelectorAll("tr[data-site]")].map((tr) => ({
      name: tr.querySelector(".name")?.textContent?.trim() ?? "",
      fraction: Number(tr.querySelector<HTMLElement>(".frac")?.dataset.fraction),
      stat: tr.querySelector(".stat")?.textContent ?? "",
    })),
    params: [...box.querySelectorAll(".probe-params tr")].slice(1).map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")),
    findings: [...box.querySelectorAll(".probe-findings li")].map((li) => ({
      rule: (li as HTMLElement).dataset.rule ?? "",
      text: li.textContent?.replace(/\s+/g, " ").trim() ?? "",
      title: li.getAttribute("title") ?? "",
    })),
  }));
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
