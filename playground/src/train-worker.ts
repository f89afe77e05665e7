// The train worker: imports a compiled module (JavaScript from the compiler,
// through a Blob URL) and runs its backward with an optimizer in time
// slices, so the page stays responsive and stop/config messages get through.
/// <reference lib="webworker" />
import { adam, sgd, type Optimizer } from "../../src/train/optim.js";
import { batches, gather, gatherLabels } from "../../src/train/data.js";
import { monitor, type Monitor, type Probes } from "../../src/train/monitor.js";
import { EXTENT, GRID, type FromTrainer, type KernelStats, type ProbeReport, type ToTrainer, type TrainConfig, type TrainData } from "./protocol.js";

type Arrays = Record<string, Float32Array | Int32Array>;
interface Module {
  model: {
    name: string;
    params: Record<string, { shape: (number | string)[] }>;
    inputs: Record<string, { shape: (number | string)[]; dtype: string }>;
    outputs: string[];
  };
  init(seed?: number): Record<string, Float32Array>;
  forward(params: Record<string, Float32Array>, inputs: Arrays): Record<string, number | Float32Array>;
  backward(params: Record<string, Float32Array>, inputs: Arrays): { loss: number; grads: Record<string, Float32Array> };
  /** Present when compiled with probes (the stages worker always asks for them). */
  probe?(params: Record<string, Float32Array>, inputs: Arrays): Probes;
}

const post = (m: FromTrainer, transfer: Transferable[] = []): void => (self as DedicatedWorkerGlobalScope).postMessage(m, transfer);

// Observe the module's WebAssembly kernel: every instance it creates and every
// call into the instance's exports. This is how the page (and its test) knows
// the SIMD path really runs rather than the JS fallback.
const kernel: KernelStats = { instances: 0, calls: 0 };
{
  const Real = WebAssembly.Instance;
  WebAssembly.Instance = new Proxy(Real, {
    construct(target, args, newTarget) {
      const inst = Reflect.construct(target, args, newTarget) as WebAssembly.Instance;
      kernel.instances++;
      const exports: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(inst.exports)) {
        if (typeof value !== "function") {
          exports[name] = value;
          continue;
        }
        const fn = value as (...a: unknown[]) => unknown;
        exports[name] = function (this: unknown, ...a: unknown[]) {
          kernel.calls++;
          return fn.apply(this, a);
        };
      }
      return { exports } as unknown as WebAssembly.Instance;
    },
  });
}

let mod: Module | null = null;
let output = "";
let classes = 0;
let params: Record<string, Float32Array> = {};
let opt: Optimizer | null = null;
let watch: Monitor = monitor();
/** The probes last reported, reused while the step stands still (a stop, a config change). */
let probed: ProbeReport | null = null;
let config: TrainConfig = { lr: 0.01, optimizer: "adam", batchSize: 32, pace: 0 };
let data: TrainData | null = null;
let running = false;
let step = 0;
let epoch = 0;
let epochBatches: Int32Array[] = [];
let batchIndex = 0;
let pendingLosses: number[] = [];
let lastReport = 0;
let windowStart = 0;
let windowSteps = 0;
let stepsPerSec = 0;
/** Steps owed under the pace; the time they were last counted. */
let credit = 0;
let lastSlice = 0;
// Preallocated batch buffers and the evaluation batch (data points, then the grid).
let bx = new Float32Array(0);
let by = new Int32Array(0);
let evalX = new Float32Array(0);
let evalY = new Int32Array(0);

function makeOptimizer(c: TrainConfig): Optimizer {
  if (c.optimizer === "adam") return adam({ lr: c.lr });
  return sgd({ lr: c.lr, momentum: c.optimizer === "momentum" ? 0.9 : 0 });
}

/** Why this module cannot be trained on 2-D points, or null when it can. */
function unfit(m: Module): string | null {
  const inputs = m.model.inputs;
  const names = Object.keys(inputs);
  const want = "inputs x: [B, 2] and y: int[B]";
  const x = inputs.x;
  const y = inputs.y;
  if (!x || !y) return `The trainer feeds ${want}; this model's inputs are ${names.join(", ") || "none"}.`;
  const extra = names.filter((n) => n !== "x" && n !== "y");
  if (extra.length) return `The trainer feeds only ${want}; this model also has ${extra.join(", ")}.`;
  const [b, two] = x.shape;
  if (x.dtype !== "float32" || x.shape.length !== 2 || typeof b !== "string" || two !== 2) {
    return `The trainer feeds ${want}; this model declares x: [${x.shape.join(", ")}].`;
  }
  if (y.dtype !== "int32" || y.shape.length !== 1 || y.shape[0] !== b) {
    return `The trainer feeds ${want}; this model declares y: ${y.dtype === "int32" ? "int" : ""}[${y.shape.join(", ")}].`;
  }
  if (m.model.outputs.length === 0) return "The trainer draws the model's first output as class scores [B, C]; add `output logits`.";
  return null;
}

function setData(d: TrainData): void {
  data = d;
  const g = GRID * GRID;
  evalX = new Float32Array(2 * (d.n + g));
  evalY = new Int32Array(d.n + g);
  evalX.set(d.x);
  evalY.set(d.y);
  for (let r = 0; r < GRID; r++) {
    for (let c = 0; c < GRID; c++) {
      const i = d.n + r * GRID + c;
      evalX[2 * i] = -EXTENT + ((c + 0.5) / GRID) * 2 * EXTENT;
      evalX[2 * i + 1] = EXTENT - ((r + 0.5) / GRID) * 2 * EXTENT;
    }
  }
  epochBatches = [];
  probed = null;
}

function reset(seed: number): void {
  if (!mod) return;
  params = mod.init(seed);
  opt = makeOptimizer(config);
  step = 0;
  epoch = 0;
  epochBatches = [];
  pendingLosses = [];
  stepsPerSec = 0;
  watch = monitor();
  probed = null;
}

function nextBatch(): Int32Array {
  const d = data as TrainData;
  // Full batches only: a short last batch would be a third batch size and cost the module a workspace.
  // Batch size 0 is the whole data set.
  const size = config.batchSize > 0 ? Math.min(config.batchSize, d.n) : d.n;
  if (batchIndex >= epochBatches.length) {
    if (epochBatches.length) epoch++;
    epochBatches = [...batches({ n: d.n, batchSize: size, seed: 1234, epoch, dropLast: true })];
    batchIndex = 0;
  }
  return epochBatches[batchIndex++];
}

function trainStep(): number {
  const m = mod as Module;
  const d = data as TrainData;
  const idx = nextBatch();
  if (bx.length < 2 * idx.length) {
    bx = new Float32Array(2 * idx.length);
    by = new Int32Array(idx.length);
  }
  const x = gather(d.x, 2, idx, bx);
  const y = gatherLabels(d.y, idx, by);
  const { loss, grads } = m.backward(params, { x, y });
  (opt as Optimizer).step(params, grads);
  step++;
  return loss;
}

/** Accuracy on the data set and class probabilities over the grid, from one forward call. */
function evaluate(): { accuracy: number; probs: Float32Array } {
  const m = mod as Module;
  const d = data as TrainData;
  const out = m.forward(params, { x: evalX, y: evalY })[output];
  if (!(out instanceof Float32Array)) throw new Error(`output ${output} is not a tensor`);
  const rows = d.n + GRID * GRID;
  const C = out.length / rows;
  let correct = 0;
  const probs = new Float32Array(GRID * GRID * classes);
  for (let i = 0; i < rows; i++) {
    let best = 0;
    let max = -Infinity;
    for (let c = 0; c < C; c++) {
      if (out[i * C + c] > max) {
        max = out[i * C + c];
        best = c;
      }
    }
    if (i < d.n) {
      if (best === d.y[i]) correct++;
      continue;
    }
    let z = 0;
    for (let c = 0; c < C; c++) z += Math.exp(out[i * C + c] - max);
    const g = i - d.n;
    for (let c = 0; c < classes && c < C; c++) probs[g * classes + c] = Math.exp(out[i * C + c] - max) / z;
  }
  return { accuracy: correct / d.n, probs };
}

/**
 * The probes on the whole data set, once per report rather than per step (a
 * probe costs about a backward), fed to the monitor with the last update norms.
 */
function probeReport(): ProbeReport | null {
  const m = mod as Module;
  const d = data as TrainData;
  if (!m.probe) return null;
  if (probed && probed.step === step) return probed;
  const p = m.probe(params, { x: d.x, y: d.y });
  const updates = (opt as Optimizer).updateNorms;
  watch.record(step, p, updates);
  probed = {
    step,
    loss: p.loss,
    sites: p.sites.map((s) => ({ ...s })),
    params: Object.entries(p.params).map(([name, v]) => {
      const u = updates[name];
      return { name, norm: v.norm, gradNorm: v.gradNorm, ...(u !== undefined && v.norm > 0 ? { updateRatio: u / v.norm } : {}) };
    }),
    loops: p.loops.map((l) => ({ name: l.name, line: l.line, gradNorms: Float64Array.from(l.gradNorms) })),
    nonFinite: p.nonFinite && { ...p.nonFinite },
    findings: watch.findings.map(({ rule, severity, message, fix, line, step }) => ({ rule, severity, message, fix, line, step })),
  };
  return probed;
}

function report(): void {
  const { accuracy, probs } = evaluate();
  const probes = probeReport();
  const losses = new Float32Array(pendingLosses);
  pendingLosses = [];
  post(
    { type: "progress", step, epoch, running, losses, accuracy, probs, grid: GRID, stepsPerSec, kernel: { ...kernel }, probes },
    [losses.buffer, probs.buffer],
  );
  lastReport = performance.now();
}

// Yield to the event loop between slices without setTimeout's clamping.
// A stop and a start in quick succession must not leave two loops running: each
// start begins a new loop id, and a slice of an older loop ends it.
const tick = new MessageChannel();
tick.port1.onmessage = (e: MessageEvent<number>) => slice(e.data);
let loop = 0;

function slice(id: number): void {
  if (id !== loop || !running || !mod || !data) return;
  const start = performance.now();
  // Under a pace, run the steps owed since the last slice (at most a quarter second's worth).
  let budget = Infinity;
  if (config.pace > 0) {
    credit = Math.min(credit + ((start - lastSlice) * config.pace) / 1000, config.pace / 4);
    budget = Math.floor(credit);
    credit -= budget;
  }
  lastSlice = start;
  try {
    for (let i = 0; i < budget && performance.now() - start < 12; i++) {
      const loss = trainStep();
      pendingLosses.push(step, loss);
      windowSteps++;
    }
  } catch (err) {
    running = false;
    post({ type: "error", message: `Training stopped at step ${step}: ${(err as Error).message}` });
    report();
    return;
  }
  const now = performance.now();
  if (now - windowStart > 500) {
    stepsPerSec = (windowSteps * 1000) / (now - windowStart);
    windowStart = now;
    windowSteps = 0;
  }
  if (now - lastReport > 100) report();
  if (config.pace > 0) setTimeout(slice, 16, id);
  else tick.port2.postMessage(id);
}

async function load(code: string): Promise<Module> {
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  try {
    return (await import(/* @vite-ignore */ url)) as Module;
  } finally {
    URL.revokeObjectURL(url);
  }
}

async function handle(msg: ToTrainer): Promise<void> {
  switch (msg.type) {
    case "load": {
      running = false;
      mod = null;
      const m = await load(msg.code);
      const why = unfit(m);
      if (why) {
        post({ type: "unfit", load: msg.id, reason: why });
        return;
      }
      kernel.instances = 0;
      kernel.calls = 0;
      mod = m;
      config = msg.config;
      setData(msg.data);
      output = m.model.outputs.includes("logits") ? "logits" : m.model.outputs[0];
      reset(msg.seed);
      const probe = m.forward(params, { x: msg.data.x.subarray(0, 2), y: msg.data.y.subarray(0, 1) })[output];
      classes = probe instanceof Float32Array ? probe.length : 0;
      if (classes < msg.data.classes) {
        mod = null;
        post({
          type: "unfit",
          load: msg.id,
          reason: `Output ${output} has ${classes} class score${classes === 1 ? "" : "s"} per point, the data set has ${msg.data.classes} classes.`,
        });
        return;
      }
      classes = msg.data.classes;
      const paramCount = Object.values(params).reduce((s, p) => s + p.length, 0);
      // The first report before "ready": a progress saying "not running" that came after it could
      // overtake a start the page sends on "ready" and stop the page's run.
      report();
      post({ type: "ready", load: msg.id, name: m.model.name, classes, output, paramCount });
      return;
    }
    case "data":
      setData(msg.data);
      if (mod) report();
      return;
    case "config":
      if (msg.config.optimizer !== config.optimizer) opt = makeOptimizer(msg.config);
      else if (opt) opt.lr = msg.config.lr;
      if (msg.config.batchSize !== config.batchSize) epochBatches = [];
      config = msg.config;
      return;
    case "start":
      if (!mod || running) return;
      running = true;
      lastSlice = performance.now();
      credit = 1;
      windowStart = performance.now();
      windowSteps = 0;
      slice(++loop);
      return;
    case "stop":
      running = false;
      if (mod) report();
      return;
    case "reset":
      running = false;
      reset(msg.seed);
      if (mod) report();
      return;
  }
}

// One message at a time: a load awaits its import, and what follows it must see the module it loaded.
let queue: Promise<void> = Promise.resolve();
self.onmessage = (e: MessageEvent<ToTrainer>) => {
  const msg = e.data;
  queue = queue.then(() =>
    handle(msg).catch((err: unknown) => {
      running = false;
      const message = (err as Error).message ?? String(err);
      post(msg.type === "load" ? { type: "error", load: msg.id, message } : { type: "error", message });
    }),
  );
};
