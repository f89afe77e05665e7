// One bench model in one process: compiles its .bp to our module (f32),
// builds the TF.js (cpu, wasm) and jax-js twins on the same parameters and
// data, checks that they agree, then times interleaved rounds of training
// steps (loss + every parameter gradient) and measures memory per call.
// Started by bench/run.ts (child_process.fork with --expose-gc); sends one
// `WorkerResult` message. Run alone: node --expose-gc dist/bench/worker.js mlp-b64
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { setThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { emitModule } from "../src/codegen/emit.js";
import { loadModule } from "../src/codegen/runtime-load.js";
import { countFlops } from "../src/ir/flops.js";
import { compileStages } from "../src/passes/pipeline.js";
import { dimValue, MODELS, makeInputs, type BenchModel } from "./models/spec.js";
import { tfjsModel, type Tensors } from "./models/tfjs.js";

/** The repository root (this file runs as dist/bench/worker.js). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export type EngineKey = "ours" | "oursFwd" | "tfjsCpu" | "tfjsWasm" | "jax";

export interface Timing {
  /** Median ms per step over `samples` steps after warm-up. */
  median: number;
  p10: number;
  p90: number;
  mean: number;
  samples: number;
  /** ms of the very first call (workspace allocation, jax-js's jit compile). */
  firstCall: number;
}

export interface Memory {
  calls: number;
  /** Retained JS heap growth (heapUsed after gc; the smaller of two windows) per 1,000 calls, bytes. */
  heapPer1000: number;
  /** Growth of process.memoryUsage().arrayBuffers per 1,000 calls, bytes. */
  arrayBuffersPer1000: number;
  /** Typed arrays / ArrayBuffers allocated per call (views on existing buffers excluded). */
  buffersPerCall: number;
  /** Garbage collections that ran during the calls, per 1,000 calls. */
  gcsPer1000: number;
  /** Whether heapUsed was measured after a forced gc (run with --expose-gc). */
  forcedGc: boolean;
}

export interface EngineResult {
  key: EngineKey;
  label: string;
  ok: boolean;
  error?: string;
  timing?: Timing;
  memory?: Memory;
  /** Worst over the gradients of max |g - ours| / max |ours|, and the loss's relative difference. */
  agreement?: { grads: number; loss: number; worst: string };
}

export interface WorkerResult {
  id: string;
  title: string;
  flops: { forward: number; backward: number };
  compile: { ms: number; tsChars: number };
  engines: EngineResult[];
  /** Wall time of the whole worker, s. */
  seconds: number;
}

export interface WorkerOptions {
  rounds: number;
  /** At least this many steps per engine per round... */
  minSteps: number;
  /** ...and steps until this many ms are spent in the round (capped by maxSteps). */
  roundMs: number;
  maxSteps: number;
  warmMs: number;
  /** Calls for the memory measurement (fewer when a call is slow: at most memMs of calls). */
  memCalls: number;
  memMs: number;
  engines: EngineKey[];
}

export const DEFAULT_OPTIONS: WorkerOptions = {
  rounds: 6,
  minSteps: 6,
  roundMs: 60,
  maxSteps: 400,
  warmMs: 300,
  memCalls: 1000,
  memMs: 2500,
  engines: ["ours", "oursFwd", "tfjsCpu", "tfjsWasm", "jax"],
};

type Data = Record<string, Float32Array | Int32Array>;

interface Engine {
  key: EngineKey;
  label: string;
  activate(): Promise<void>;
  step(): number | Promise<number>;
  /** Loss and gradients by parameter name (copies). */
  grads(): Promise<{ loss: number; grads: Record<string, Float32Array> }>;
}

const LABELS: Record<EngineKey, string> = {
  ours: "bpc backward",
  oursFwd: "bpc forward",
  tfjsCpu: "TF.js cpu",
  tfjsWasm: "TF.js wasm",
  jax: "jax-js jit wasm",
};

/** The compiler cannot compile the model yet: `reason` is the "needs: ..." line the bench prints. */
export class NeedsError extends Error {
  readonly reason: string;
  constructor(m: BenchModel, compileError: string) {
    super(`needs: ${(m.needs ?? []).join(", ")} (bpc: ${compileError})`);
    this.reason = this.message;
  }
}

/**
 * An engine whose warm step takes over SLOW_MS (TF.js cpu and jax-js on the
 * all-conv net: seconds, tens of seconds on a loaded machine) is timed in the
 * first SLOW_ROUNDS rounds only, one step each, and not measured for memory
 * (its row says n/a), so the model fits the run's 10 minutes per model.
 */
const SLOW_MS = 1000;
const SLOW_ROUNDS = 3;

// ---- engines -----------------------------------------------------------------

async function oursEngines(
  m: BenchModel,
  params: Data,
  inputs: Data,
  mod: Awaited<ReturnType<typeof loadModule>>,
): Promise<Engine[]> {
  const grads = async () => {
    const r = mod.backward(params as Record<string, Float32Array>, inputs);
    return {
      loss: r.loss,
      grads: Object.fromEntries(Object.entries(r.grads).map(([k, v]) => [k, Float32Array.from(v)])),
    };
  };
  void m;
  return [
    {
      key: "ours",
      label: LABELS.ours,
      activate: async () => {},
      step: () => mod.backward(params as Record<string, Float32Array>, inputs).loss,
      grads,
    },
    {
      key: "oursFwd",
      label: LABELS.oursFwd,
      activate: async () => {},
      step: () => mod.forward(params as Record<string, Float32Array>, inputs).loss,
      grads,
    },
  ];
}

let wasmReady = false;

let tfQuiet = false;

async function tfEngine(
  backend: "cpu" | "wasm",
  m: BenchModel,
  params: Data,
  shapes: Record<string, number[]>,
  inputs: Data,
): Promise<Engine> {
  if (!tfQuiet) {
    // Prod mode: no per-op validation (what a user timing TF.js would set);
    // it also silences the "install tfjs-node" banner.
    tf.enableProdMode();
    tfQuiet = true;
  }
  if (backend === "wasm" && !wasmReady) {
    setWasmPaths(join(ROOT, "node_modules", "@tensorflow", "tfjs-backend-wasm", "dist") + "/");
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    setThreadsCount(1);
    wasmReady = true;
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} did not initialise`);
  await tf.ready();
  if (backend === "wasm" && !(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")))
    throw new Error("TF.js wasm: no SIMD support");
  const names = Object.keys(params);
  const pt = names.map((n) => tf.tensor(params[n], shapes[n], "float32"));
  const asRecord = (ps: readonly tf.Tensor[]): Tensors => Object.fromEntries(names.map((n, i) => [n, ps[i]]));
  const model = tfjsModel(m);
  const { tensors: x, steps } = model.prepare(inputs);
  let detached: Tensors = {};
  const vg = tf.valueAndGrads((...ps: tf.Tensor[]) => model.loss(asRecord(ps), x, steps, detached));
  const run = () => {
    detached = model.detached ? tf.tidy(() => model.detached!(asRecord(pt), x)) : {};
    const { value, grads } = vg(pt);
    const loss = value.dataSync()[0];
    tf.dispose(Object.values(detached));
    return { value, grads, loss };
  };
  return {
    key: backend === "cpu" ? "tfjsCpu" : "tfjsWasm",
    label: backend === "cpu" ? LABELS.tfjsCpu : LABELS.tfjsWasm,
    activate: async () => {
      if (tf.getBackend() !== backend) await tf.setBackend(backend);
    },
    step: () => {
      const { value, grads, loss } = run();
      tf.dispose([value, ...grads]);
      return loss;
    },
    grads: async () => {
      const { value, grads, loss } = run();
      const out = Object.fromEntries(names.map((n, i) => [n, Float32Array.from(grads[i].dataSync() as Float32Array)]));
      tf.dispose([value, ...grads]);
      return { loss, grads: out };
    },
  };
}

async function jaxEngine(m: BenchModel, params: Data, shapes: Record<string, number[]>, inputs: Data): Promise<Engine> {
  const jx = await import("@jax-js/jax");
  const { jaxArrays, jaxLoss } = await import("./models/jax.js");
  const devices = await jx.init("wasm");
  if (!devices.includes("wasm")) throw new Error(`jax-js: no wasm device (got ${devices.join(", ")})`);
  jx.defaultDevice("wasm");
  const P = jaxArrays(params, shapes);
  const X = jaxArrays(inputs, Object.fromEntries(Object.entries(m.inputs).map(([k, v]) => [k, v.shape])));
  const vg = jx.jit(jx.valueAndGrad(jaxLoss(m)));
  const run = async () => {
    const [l, g] = vg(jx.tree.ref(P), jx.tree.ref(X));
    await jx.blockUntilReady(g);
    return { loss: l.dataSync()[0], g };
  };
  return {
    key: "jax",
    label: LABELS.jax,
    activate: async () => {},
    step: async () => {
      const { loss, g } = await run();
      jx.tree.dispose(g);
      return loss;
    },
    grads: async () => {
      const { loss, g } = await run();
      const out: Record<string, Float32Array> = {};
      for (const [k, v] of Object.entries(g)) out[k] = Float32Array.from(v.dataSync() as Float32Array);
      return { loss, grads: out };
    },
  };
}

// ---- measurement ---------------------------------------------------------------

async function timeStep(e: Engine): Promise<number> {
  const t0 = performance.now();
  const r = e.step();
  if (typeof r !== "number") await r;
  return performance.now() - t0;
}

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

/** Counts typed arrays and ArrayBuffers allocated while `fn` runs (views on existing buffers excluded). */
async function countingBuffers(fn: () => Promise<void>): Promise<number> {
  const g = globalThis as unknown as Record<string, unknown>;
  const names = [
    "Float32Array",
    "Float64Array",
    "Int32Array",
    "Uint32Array",
    "Int16Array",
    "Uint16Array",
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "ArrayBuffer",
  ];
  const saved = names.map((n) => g[n] as new (...a: unknown[]) => object);
  const TypedProto = Object.getPrototypeOf(Int8Array.prototype) as Record<string, (...a: unknown[]) => unknown>;
  const methods = ["slice", "map", "filter"];
  const savedMethods = methods.map((k) => TypedProto[k]);
  const AB = ArrayBuffer;
  const SAB = typeof SharedArrayBuffer === "undefined" ? AB : SharedArrayBuffer;
  let count = 0;
  names.forEach((n, i) => {
    const target = saved[i];
    const proxy: unknown = new Proxy(target, {
      construct(t, args, nt) {
        if (n === "ArrayBuffer" || !(args[0] instanceof AB || args[0] instanceof SAB)) count++;
        return Reflect.construct(t, args, nt === proxy ? t : nt) as object;
      },
    });
    g[n] = proxy;
  });
  methods.forEach((k, i) => {
    const orig = savedMethods[i];
    TypedProto[k] = function (this: unknown, ...args: unknown[]) {
      count++;
      return orig.apply(this, args);
    };
  });
  try {
    await fn();
  } finally {
    names.forEach((n, i) => (g[n] = saved[i]));
    methods.forEach((k, i) => (TypedProto[k] = savedMethods[i]));
  }
  return count;
}

async function measureMemory(e: Engine, median: number, opts: WorkerOptions): Promise<Memory> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const collect = () => {
    if (gc) {
      gc();
      gc();
    }
  };
  const calls = Math.min(opts.memCalls, Math.max(20, Math.floor(opts.memMs / Math.max(median, 1e-3))));
  await e.activate();
  // Settle first: the timed rounds' garbage and lazily built state go before the baseline.
  for (let i = 0; i < Math.min(calls, 50); i++) await timeStep(e);
  const gcs: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcs.push(entry.startTime);
  });
  obs.observe({ entryTypes: ["gc"] });
  // Two windows of calls/2, each between forced gcs: a leak grows the heap in
  // both, while code V8 compiles during one window does not recur, so the
  // smaller growth counts.
  const half = Math.ceil(calls / 2);
  const windows: { heap: number; ab: number }[] = [];
  let busy = 0;
  for (let w = 0; w < 2; w++) {
    collect();
    await new Promise((r) => setImmediate(r));
    const m0 = process.memoryUsage();
    const t0 = performance.now();
    for (let i = 0; i < half; i++) {
      const r = e.step();
      if (typeof r !== "number") await r;
    }
    const t1 = performance.now();
    collect();
    const m1 = process.memoryUsage();
    windows.push({ heap: m1.heapUsed - m0.heapUsed, ab: m1.arrayBuffers - m0.arrayBuffers });
    // gc entries reach the observer asynchronously.
    await new Promise((r) => setTimeout(r, 100));
    busy += gcs.filter((t) => t >= t0 && t <= t1).length;
  }
  obs.disconnect();
  const during = busy;
  const per1000 = 1000 / (2 * half);
  const m0 = { heapUsed: 0, arrayBuffers: 0 };
  const m1 = {
    heapUsed: 2 * Math.min(...windows.map((x) => x.heap)),
    arrayBuffers: 2 * Math.min(...windows.map((x) => x.ab)),
  };
  // Buffer counting swaps the global constructors (which deoptimises code
  // that reads them), so it runs apart from the heap measurement.
  const counted = Math.min(calls, 50);
  const buffers = await countingBuffers(async () => {
    for (let i = 0; i < counted; i++) {
      const r = e.step();
      if (typeof r !== "number") await r;
    }
  });
  return {
    calls: 2 * half,
    heapPer1000: (m1.heapUsed - m0.heapUsed) * per1000,
    arrayBuffersPer1000: (m1.arrayBuffers - m0.arrayBuffers) * per1000,
    buffersPerCall: buffers / counted,
    gcsPer1000: during * per1000,
    forcedGc: gc !== undefined,
  };
}

function agreement(
  ref: { loss: number; grads: Record<string, Float32Array> },
  got: { loss: number; grads: Record<string, Float32Array> },
) {
  let worst = 0;
  let worstName = "";
  for (const [name, r] of Object.entries(ref.grads)) {
    const g = got.grads[name];
    if (!g || g.length !== r.length)
      return { grads: Infinity, loss: Infinity, worst: `${name}: missing or wrong length` };
    let scale = 1e-12;
    let diff = 0;
    for (let i = 0; i < r.length; i++) {
      scale = Math.max(scale, Math.abs(r[i]));
      diff = Math.max(diff, Math.abs(r[i] - g[i]));
    }
    if (diff / scale > worst || worstName === "") {
      worst = diff / scale;
      worstName = name;
    }
  }
  return { grads: worst, loss: Math.abs(ref.loss - got.loss) / Math.max(1e-12, Math.abs(ref.loss)), worst: worstName };
}

// ---- the run ---------------------------------------------------------------------

export async function benchModel(
  m: BenchModel,
  opts: WorkerOptions,
  log: (s: string) => void = () => {},
): Promise<WorkerResult> {
  const start = performance.now();
  const file = join(ROOT, "bench", "models", m.bp);
  const src = readFileSync(file, "utf8");
  const c0 = performance.now();
  let st: ReturnType<typeof compileStages>;
  let ts: string;
  try {
    st = compileStages(src, `bench/models/${m.bp}`, { inputGrads: [] });
    ts = await emitModule(st.opt, { precision: "f32", inputGrads: [] });
  } catch (err) {
    // A model written in syntax the compiler does not have yet (spec section 9): skipped, saying what it needs.
    if (m.needs) throw new NeedsError(m, String((err as Error).message ?? err).split("\n")[0]);
    throw err;
  }
  const compileMs = performance.now() - c0;
  const mod = await loadModule(ts);
  const flops = countFlops(st.opt, m.sizes);

  const params = mod.init(1) as Data;
  const shapes: Record<string, number[]> = Object.fromEntries(
    Object.entries(mod.model.params).map(([k, v]) => [k, v.shape.map((d) => dimValue(d, m.sizes))]),
  );
  const inputs = makeInputs(m, 7);

  const results = new Map<EngineKey, EngineResult>();
  const engines: Engine[] = [];
  const want = new Set(opts.engines);
  const add = async (key: EngineKey, make: () => Promise<Engine | Engine[]>) => {
    try {
      const made = await make();
      for (const e of Array.isArray(made) ? made : [made]) {
        if (!want.has(e.key)) continue;
        engines.push(e);
        results.set(e.key, { key: e.key, label: e.label, ok: true });
      }
    } catch (err) {
      results.set(key, {
        key,
        label: LABELS[key],
        ok: false,
        error: String((err as Error).message ?? err).split("\n")[0],
      });
      log(`  ${LABELS[key]}: failed to set up: ${(err as Error).message}`);
    }
  };
  await add("ours", () => oursEngines(m, params, inputs, mod));
  if (want.has("tfjsCpu")) await add("tfjsCpu", () => tfEngine("cpu", m, params, shapes, inputs));
  if (want.has("tfjsWasm")) await add("tfjsWasm", () => tfEngine("wasm", m, params, shapes, inputs));
  if (want.has("jax")) await add("jax", () => jaxEngine(m, params, shapes, inputs));

  // First calls (timed: workspaces, jit compiles), agreement with our gradients, warm-up.
  const firstCall = new Map<EngineKey, number>();
  const slow = new Set<EngineKey>();
  let reference: { loss: number; grads: Record<string, Float32Array> } | undefined;
  for (const e of [...engines]) {
    const r = results.get(e.key)!;
    try {
      await e.activate();
      firstCall.set(e.key, await timeStep(e));
      if (e.key === "ours") reference = await e.grads();
      else if (e.key !== "oursFwd" && reference) r.agreement = agreement(reference, await e.grads());
      // A step of seconds (TF.js cpu and jax-js on convs) warms with one step and runs in fewer, shorter rounds.
      const first = await timeStep(e);
      if (first > SLOW_MS) slow.add(e.key);
      const t0 = performance.now();
      for (let i = 1; !slow.has(e.key) && (i < 5 || (performance.now() - t0 < opts.warmMs && i < 500)); i++) await timeStep(e);
    } catch (err) {
      r.ok = false;
      r.error = String((err as Error).message ?? err).split("\n")[0];
      engines.splice(engines.indexOf(e), 1);
      log(`  ${e.label}: failed: ${r.error}`);
    }
  }

  // Interleaved rounds.
  const samples = new Map<EngineKey, number[]>(engines.map((e) => [e.key, []]));
  for (let round = 0; round < opts.rounds; round++) {
    for (const e of engines) {
      if (slow.has(e.key) && round >= SLOW_ROUNDS) continue;
      await e.activate();
      const out = samples.get(e.key)!;
      let spent = 0;
      const min = slow.has(e.key) ? 1 : opts.minSteps;
      for (let k = 0; k < min || (spent < opts.roundMs && k < opts.maxSteps); k++) {
        const dt = await timeStep(e);
        out.push(dt);
        spent += dt;
      }
    }
  }
  for (const e of engines) {
    const s = [...samples.get(e.key)!].sort((a, b) => a - b);
    const timing: Timing = {
      median: quantile(s, 0.5),
      p10: quantile(s, 0.1),
      p90: quantile(s, 0.9),
      mean: s.reduce((a, b) => a + b, 0) / s.length,
      samples: s.length,
      firstCall: firstCall.get(e.key) ?? NaN,
    };
    const r = results.get(e.key)!;
    r.timing = timing;
    log(`  ${e.label.padEnd(16)} ${timing.median.toFixed(3).padStart(9)} ms/step (median of ${s.length})`);
  }

  // Memory per call.
  for (const e of engines) {
    const r = results.get(e.key)!;
    try {
      if (slow.has(e.key)) continue;
      r.memory = await measureMemory(e, r.timing!.median, opts);
    } catch (err) {
      log(`  ${e.label}: memory measurement failed: ${(err as Error).message}`);
    }
  }

  const order: EngineKey[] = ["ours", "oursFwd", "tfjsCpu", "tfjsWasm", "jax"];
  return {
    id: m.id,
    title: m.title,
    flops,
    compile: { ms: compileMs, tsChars: ts.length },
    engines: order.filter((k) => results.has(k)).map((k) => results.get(k)!),
    seconds: (performance.now() - start) / 1000,
  };
}

async function main(): Promise<void> {
  const id = process.argv[2];
  const m = MODELS.find((x) => x.id === id);
  if (!m) {
    console.error(
      `usage: node --expose-gc dist/bench/worker.js MODEL [options-json]; models: ${MODELS.map((x) => x.id).join(", ")}`,
    );
    process.exit(2);
  }
  const opts: WorkerOptions = {
    ...DEFAULT_OPTIONS,
    ...(process.argv[3] ? (JSON.parse(process.argv[3]) as Partial<WorkerOptions>) : {}),
  };
  const send = (msg: object): Promise<void> =>
    new Promise<void>((resolve, reject) => process.send!(msg, (err: Error | null) => (err ? reject(err) : resolve())));
  let result: WorkerResult;
  try {
    result = await benchModel(m, opts, (s) => console.log(s));
  } catch (err) {
    if (!(err instanceof NeedsError)) throw err;
    if (process.send) await send({ type: "skip", reason: err.reason });
    else console.log(`skipped: ${err.reason}`);
    process.exit(0);
  }
  if (process.send) await send({ type: "result", result });
  else console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
