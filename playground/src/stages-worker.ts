// The stages worker: runs the compiler's slower entry points (prettier
// formatting, Graphviz layout) off the page's thread. Training modules carry
// probes (spec section 12): `probe` costs nothing until the trainer calls it.
/// <reference lib="webworker" />
import { compile, graph, inspect } from "bpc";
import type { StagesReply, StagesRequest } from "./protocol.js";

const FILE = "model.bp";

async function run(req: StagesRequest): Promise<string> {
  switch (req.kind) {
    case "inspect":
      return inspect(req.source, req.stage, { file: FILE });
    case "graph":
      return graph(req.source, { format: "svg" });
    case "compile":
      return (await compile(req.source, { file: FILE, emit: "js", kernels: req.kernels, probes: true })).code;
  }
}

self.onmessage = async (e: MessageEvent<StagesRequest>) => {
  const req = e.data;
  const t0 = performance.now();
  let reply: StagesReply;
  try {
    const text = await run(req);
    reply = { id: req.id, ok: true, text, ms: performance.now() - t0 };
  } catch (err) {
    const d = (err as { diagnostics?: { message: string; line: number; column: number }[] }).diagnostics?.[0];
    reply = d
      ? { id: req.id, ok: false, error: d.message, line: d.line, column: d.column }
      : { id: req.id, ok: false, error: (err as Error).message ?? String(err) };
  }
  (self as DedicatedWorkerGlobalScope).postMessage(reply);
};
