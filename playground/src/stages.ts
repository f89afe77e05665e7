// The page's side of the stages worker: one request at a time per key, the
// newest wins, results cached per source.
import type { Kernels, StagesReply, StagesRequest } from "./protocol.js";

type Job = { kind: "inspect"; stage: "ir" | "grad" | "opt" | "ts" } | { kind: "graph" } | { kind: "compile"; kernels: Kernels };

export type StageResult = { ok: true; text: string; ms: number } | { ok: false; error: string; line?: number; column?: number };

export class Stages {
  private readonly worker = new Worker(new URL("./stages-worker.ts", import.meta.url), { type: "module" });
  private readonly waiting = new Map<number, (r: StagesReply) => void>();
  private readonly cache = new Map<string, StageResult>();
  private nextId = 1;

  constructor() {
    this.worker.onmessage = (e: MessageEvent<StagesReply>) => {
      const resolve = this.waiting.get(e.data.id);
      this.waiting.delete(e.data.id);
      resolve?.(e.data);
    };
  }

  /** Runs `job` on `source` (or answers from the cache). */
  async run(job: Job, source: string): Promise<StageResult> {
    const key = `${JSON.stringify(job)}\n${source}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const id = this.nextId++;
    const reply = await new Promise<StagesReply>((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ id, source, ...job } as StagesRequest);
    });
    const result: StageResult = reply.ok
      ? { ok: true, text: reply.text, ms: reply.ms }
      : { ok: false, error: reply.error, line: reply.line, column: reply.column };
    // A small cache: switching tabs back and forth on one source is instant.
    if (this.cache.size > 40) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, result);
    return result;
  }
}
