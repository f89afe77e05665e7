// Messages between the page and its two workers: the stages worker (runs the
// compiler: inspect, graph, compile) and the train worker (runs a compiled
// module's backward in a loop).

export type Stage = "ir" | "grad" | "opt" | "ts" | "js";

export type StagesRequest =
  | { id: number; kind: "inspect"; source: string; stage: "ir" | "grad" | "opt" | "ts" }
  | { id: number; kind: "graph"; source: string }
  | { id: number; kind: "compile"; source: string; kernels: Kernels };

export type StagesReply =
  | { id: number; ok: true; text: string; ms: number }
  | { id: number; ok: false; error: string; line?: number; column?: number };

export type Kernels = "simd" | "js";
export type OptimizerName = "sgd" | "momentum" | "adam";

export interface TrainConfig {
  lr: number;
  optimizer: OptimizerName;
  /** Examples per step; 0: the whole data set. */
  batchSize: number;
  /** Steps per second to aim for, so the regions can be watched as they move; 0: as fast as possible. */
  pace: number;
}

export interface TrainData {
  x: Float32Array;
  y: Int32Array;
  n: number;
  classes: number;
}

export type ToTrainer =
  | { type: "load"; id: number; code: string; data: TrainData; config: TrainConfig; seed: number }
  | { type: "data"; data: TrainData }
  | { type: "config"; config: TrainConfig }
  | { type: "start" }
  | { type: "stop" }
  | { type: "reset"; seed: number };

/** Whether the module's matmuls ran in the WebAssembly SIMD kernel, as observed in the worker. */
export interface KernelStats {
  /** WebAssembly instances the module created (one per workspace arena). */
  instances: number;
  /** Calls into exported WebAssembly functions (the SIMD matmul). */
  calls: number;
}

export type FromTrainer =
  // `load` answers the load message with that id; an error without one happened while training.
  | { type: "ready"; load: number; name: string; classes: number; output: string; paramCount: number }
  | { type: "unfit"; load: number; reason: string }
  | { type: "error"; load?: number; message: string }
  | {
      type: "progress";
      step: number;
      epoch: number;
      running: boolean;
      /** New [step, loss] points since the last message. */
      losses: Float32Array;
      accuracy: number;
      /** Softmax probabilities over the grid, [grid * grid, classes], row 0 at the top. */
      probs: Float32Array;
      grid: number;
      stepsPerSec: number;
      kernel: KernelStats;
      /** The module's training probes on the data set at this step; null before a module loads. */
      probes: ProbeReport | null;
    };

/** What the train worker reports of `probe` and `monitor` (spec section 12). */
export interface ProbeReport {
  step: number;
  loss: number;
  sites: { name: string; line: number; op: string; dead?: number; saturated?: number; mean: number; std: number }[];
  /** |param|, |grad| and, after a step, |last update| / |param|. */
  params: { name: string; norm: number; gradNorm: number; updateRatio?: number }[];
  loops: { name: string; line: number; gradNorms: Float64Array }[];
  nonFinite: null | { name: string; line: number };
  /** Every `monitor` finding of this run so far, in the order they began. */
  findings: { rule: string; severity: "error" | "warning"; message: string; fix: string; line: number; step: number }[];
}

/** The square the decision regions cover, in data units. */
export const EXTENT = 1.25;
export const GRID = 56;
