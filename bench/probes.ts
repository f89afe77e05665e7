// `npm run bench:probes`: backward in a module compiled with --probes against
// the same model compiled without (spec section 12: at most 1.1x), and probe's
// own cost, interleaved in rounds so that drift on a shared machine hits both.
// The probed module's text begins with the unprobed module's, character for
// character: its backward is the same code, and this measures what that costs.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { emitModule } from "../src/codegen/emit.js";
import { loadModule } from "../src/codegen/runtime-load.js";
import { compileStages } from "../src/passes/pipeline.js";
import { ROOT } from "./worker.js";

type F32 = Float32Array;
interface Mod {
  model: { dims: Record<string, number | null>; inputs: Record<string, { shape: (number | string)[]; dtype: string }> };
  init(seed?: number): Record<string, F32>;
  backward(p: Record<string, F32>, i: Record<string, F32 | Int32Array>): unknown;
  probe?(p: Record<string, F32>, i: Record<string, F32 | Int32Array>): unknown;
}

const CASES = [
  { file: "examples/mnist_mlp.bp", batch: 64 },
  { file: "examples/rnn.bp", batch: 32 },
];
const quick = process.argv.includes("--quick");

async function compile(file: string, probes: boolean): Promise<{ mod: Mod; ts: string }> {
  const st = compileStages(readFileSync(join(ROOT, file), "utf8"), file);
  const ts = await emitModule(st.opt, { precision: "f32", inputGrads: [], probes });
  return { mod: (await loadModule(ts)) as unknown as Mod, ts };
}

function inputsFor(m: Mod, batch: number): Record<string, F32 | Int32Array> {
  let s = 1;
  const next = (): number => ((s = (s * 16807) % 2147483647) / 2147483647);
  const out: Record<string, F32 | Int32Array> = {};
  for (const [k, v] of Object.entries(m.model.inputs)) {
    const shape = v.shape.map((d) => (typeof d === "number" ? d : (m.model.dims[d] ?? batch)));
    const n = shape.reduce((a, b) => a * b, 1);
    out[k] = v.dtype === "int32" ? Int32Array.from({ length: n }, () => Math.floor(next() * 10)) : Float32Array.from({ length: n }, () => next() * 2 - 1);
  }
  return out;
}

function time(f: () => unknown, reps: number): number {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const c of CASES) {
  const plain = await compile(c.file, false);
  const probed = await compile(c.file, true);
  const same = probed.ts.startsWith(plain.ts.trimEnd());
  const p = plain.mod.init(1);
  const inputs = inputsFor(plain.mod, c.batch);
  const f = {
    plain: () => plain.mod.backward(p, inputs),
    probed: () => probed.mod.backward(p, inputs),
    probe: () => probed.mod.probe?.(p, inputs),
  };
  for (const g of Object.values(f)) time(g, 30); // warm up
  const reps = quick ? 20 : 100;
  const rounds = quick ? 5 : 15;
  const t = { plain: [] as number[], probed: [] as number[], probe: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    // Alternate the order, so neither side always runs right after the other's garbage.
    const order = r % 2 ? (["probed", "plain", "probe"] as const) : (["plain", "probed", "probe"] as const);
    for (const k of order) t[k].push(time(f[k], reps));
  }
  const [a, b, q] = [median(t.plain), median(t.probed), median(t.probe)];
  console.log(
    `${c.file} (B = ${c.batch}): backward ${a.toFixed(3)} ms, with --probes ${b.toFixed(3)} ms (${(b / a).toFixed(3)}x, goal <= 1.1x); ` +
      `probe ${q.toFixed(3)} ms (${(q / a).toFixed(2)}x backward); probed module's text starts with the plain one: ${same}`,
  );
}
