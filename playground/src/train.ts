// The train panel: compiles the model to JavaScript (stages worker), hands it
// to the train worker, and draws what the worker reports.
import { DATASETS, makeDataset, type Dataset, type DatasetName } from "./datasets.js";
import { drawRegions, LossChart } from "./plots.js";
import { renderProbes } from "./probes.js";
import type { FromTrainer, Kernels, OptimizerName, ToTrainer, TrainConfig } from "./protocol.js";
import type { Stages } from "./stages.js";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const DATA_SEED = 7;
const INIT_SEED = 0;

type Phase = "idle" | "loading" | "ready" | "running" | "unfit" | "broken";

export class TrainPanel {
  private readonly worker = new Worker(new URL("./train-worker.ts", import.meta.url), { type: "module" });
  private readonly button = $<HTMLButtonElement>("train");
  private readonly note = $<HTMLDivElement>("train-note");
  private readonly regions = $<HTMLCanvasElement>("regions");
  private readonly chart = new LossChart($<HTMLCanvasElement>("loss-chart"));
  private data: Dataset;
  private phase: Phase = "idle";
  /** The source the worker's module was compiled from, and with which kernels. */
  private loaded: { source: string; kernels: Kernels } | null = null;
  private source = "";
  private compiles = true;
  private probs: Float32Array | null = null;
  private classes = 0;
  private grid = 0;
  /** Loads sent to the worker and not yet answered. */
  private readonly loads = new Map<number, (ok: boolean) => void>();
  private nextLoad = 1;
  /** The compile-and-load under way, so a second request for the same source waits for it. */
  private inflight: { key: string; promise: Promise<boolean> } | null = null;
  private previewTimer = 0;

  constructor(private readonly stages: Stages) {
    const dataset = $<HTMLSelectElement>("dataset");
    for (const [name, d] of Object.entries(DATASETS)) dataset.add(new Option(d.label, name));
    this.data = makeDataset("spiral", DATA_SEED);
    dataset.onchange = () => this.setDataset(dataset.value as DatasetName);
    for (const id of ["optimizer", "lr", "batch", "pace"]) $(id).onchange = () => this.post({ type: "config", config: this.config() });
    $("kernels").onchange = () => void this.reload();
    this.button.onclick = () => void this.toggle();
    $("reset").onclick = () => void this.reset();
    this.worker.onmessage = (e: MessageEvent<FromTrainer>) => this.receive(e.data);
    this.worker.onerror = (e) => this.fail(`The train worker failed: ${e.message}`);
    new ResizeObserver(() => this.draw()).observe(this.regions);
    this.draw();
  }

  /** The editor's source changed; `compiles` is whether lint found no compile error. */
  sourceChanged(source: string, compiles: boolean): void {
    this.source = source;
    this.compiles = compiles;
    clearTimeout(this.previewTimer);
    if (this.phase === "running") {
      this.showNote(
        "info",
        compiles ? "The model changed. Reset to train the new version." : "The edited model does not compile; this run goes on with the last version.",
      );
      return;
    }
    // When idle, load the new model soon so the regions show its initial state.
    if (compiles) this.previewTimer = window.setTimeout(() => void this.ensureLoaded(), 700);
  }

  private config(): TrainConfig {
    return {
      lr: Number($<HTMLSelectElement>("lr").value),
      optimizer: $<HTMLSelectElement>("optimizer").value as OptimizerName,
      batchSize: Number($<HTMLSelectElement>("batch").value),
      pace: Number($<HTMLSelectElement>("pace").value),
    };
  }

  private kernels(): Kernels {
    return $<HTMLSelectElement>("kernels").value as Kernels;
  }

  private post(m: ToTrainer): void {
    this.worker.postMessage(m);
  }

  private async toggle(): Promise<void> {
    if (this.phase === "running") {
      this.post({ type: "stop" });
      this.setPhase("ready");
      return;
    }
    if (await this.ensureLoaded()) {
      this.post({ type: "start" });
      this.setPhase("running");
    }
  }

  private async reset(): Promise<void> {
    this.post({ type: "stop" });
    if (this.phase === "running") this.setPhase("ready");
    this.chart.clear();
    if (this.isCurrent()) this.post({ type: "reset", seed: INIT_SEED });
    else await this.ensureLoaded();
    this.hideNote();
  }

  private async reload(): Promise<void> {
    const wasRunning = this.phase === "running";
    this.post({ type: "stop" });
    this.loaded = null;
    if ((await this.ensureLoaded()) && wasRunning) {
      this.post({ type: "start" });
      this.setPhase("running");
    }
  }

  private setDataset(name: DatasetName): void {
    this.data = makeDataset(name, DATA_SEED);
    this.probs = null;
    this.chart.clear();
    if (this.loaded) {
      // New data means a new problem: restart from the initial parameters.
      this.loaded = null;
      void this.reload();
    }
    this.draw();
  }

  private isCurrent(): boolean {
    return this.loaded !== null && this.loaded.source === this.source && this.loaded.kernels === this.kernels();
  }

  /** Compiles and loads the current source unless the worker already has it; false when it cannot train. */
  private ensureLoaded(): Promise<boolean> {
    if (this.isCurrent()) return Promise.resolve(this.phase === "ready" || this.phase === "running");
    if (!this.compiles) {
      this.showNote("error", "The model does not compile: fix the errors under the editor to train it.");
      return Promise.resolve(false);
    }
    const key = `${this.kernels()}\n${this.source}`;
    if (this.inflight?.key === key) return this.inflight.promise;
    const promise = this.load(this.source, this.kernels()).finally(() => {
      if (this.inflight?.promise === promise) this.inflight = null;
    });
    this.inflight = { key, promise };
    return promise;
  }

  private async load(source: string, kernels: Kernels): Promise<boolean> {
    this.setPhase("loading");
    const result = await this.stages.run({ kind: "compile", kernels }, source);
    if (!result.ok) {
      this.setPhase("broken");
      this.showNote("error", `Does not compile: ${result.error}`);
      return false;
    }
    this.loaded = { source, kernels };
    this.chart.clear();
    const id = this.nextLoad++;
    return new Promise<boolean>((resolve) => {
      this.loads.set(id, resolve);
      const { x, y, n, classes } = this.data;
      this.post({ type: "load", id, code: result.text, data: { x, y, n, classes }, config: this.config(), seed: INIT_SEED });
    });
  }

  private receive(m: FromTrainer): void {
    switch (m.type) {
      case "ready":
        if (!this.answer(m.load, true)) return;
        this.classes = m.classes;
        this.setPhase("ready");
        this.hideNote();
        this.draw();
        return;
      case "unfit":
        if (!this.answer(m.load, false)) return;
        this.setPhase("unfit");
        this.probs = null;
        renderProbes($("probes"), null, 0);
        this.showNote("info", `This model cannot be trained here. ${m.reason} Pick a model from "Train in the page" to train one.`);
        this.draw();
        return;
      case "error":
        if (m.load !== undefined && !this.answer(m.load, false)) return;
        this.setPhase(m.load !== undefined ? "broken" : "ready");
        this.showNote("error", m.message);
        return;
      case "progress": {
        this.chart.add(m.losses);
        this.probs = m.probs;
        this.grid = m.grid;
        $("accuracy").textContent = `${(100 * m.accuracy).toFixed(1)} %`;
        $("accuracy").dataset.value = String(m.accuracy);
        const loss = this.chart.last;
        $("stat-loss").textContent = loss === undefined ? "–" : loss.toFixed(4);
        $("stat-step").textContent = m.step.toLocaleString("en-US");
        $("stat-epoch").textContent = String(m.epoch);
        $("stat-speed").textContent = m.stepsPerSec ? `${Math.round(m.stepsPerSec).toLocaleString("en-US")} steps/s` : "–";
        const k = $("stat-kernel");
        k.textContent = m.kernel.calls > 0 ? "WebAssembly SIMD" : m.kernel.instances > 0 ? "SIMD ready" : "JS";
        k.title = `${m.kernel.instances} WebAssembly instance(s), ${m.kernel.calls.toLocaleString("en-US")} kernel calls`;
        k.dataset.instances = String(m.kernel.instances);
        k.dataset.calls = String(m.kernel.calls);
        renderProbes($("probes"), m.probes, this.data.n);
        if (!m.running && this.phase === "running") this.setPhase("ready");
        this.draw();
        return;
      }
    }
  }

  /** Settles load `id`; false when a newer load has been sent since (its answer decides the panel). */
  private answer(id: number, ok: boolean): boolean {
    this.loads.get(id)?.(ok);
    this.loads.delete(id);
    return id === this.nextLoad - 1;
  }

  private fail(message: string): void {
    this.setPhase("broken");
    this.showNote("error", message);
    for (const resolve of this.loads.values()) resolve(false);
    this.loads.clear();
  }

  private setPhase(p: Phase): void {
    this.phase = p;
    this.button.textContent = p === "running" ? "Stop" : p === "loading" ? "Compiling…" : "Train";
    this.button.classList.toggle("running", p === "running");
    this.button.disabled = p === "loading";
    document.body.dataset.train = p;
  }

  private showNote(kind: "info" | "error", text: string): void {
    this.note.hidden = false;
    this.note.className = `train-note ${kind}`;
    this.note.textContent = text;
  }

  private hideNote(): void {
    this.note.hidden = true;
  }

  private draw(): void {
    drawRegions(this.regions, this.probs, this.grid, this.classes, this.data.x, this.data.y);
    this.chart.draw();
  }
}
