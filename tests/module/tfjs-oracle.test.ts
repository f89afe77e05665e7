// Every example in examples/*.bp against an independent TF.js twin
// (tests/helpers/tfjs-models.ts): the compiled f32 module's forward outputs,
// backward loss and every gradient (params and float inputs) must equal TF.js
// (CPU backend, f32) and its autograd.
//
// Metric, per tensor: max_i |ours_i - tf_i| / max(max_i |tf_i|, 1e-3), and
// for scalars |ours - tf| / max(|tf|, 1e-3); it must be <= 1e-4. Scaling by the
// tensor's largest entry rather than per element keeps f32 rounding in
// near-zero entries from counting as error; the 1e-3 floor does the same for
// tensors that are all (near) zero, e.g. a saturated layer's gradient.
//
// Params come from the module's own init(seed); inputs from a seeded RNG that
// respects each input's range hint; symbolic batch dims are bound to BATCH.
// A model that overflows f32 at init by design (rnn_exploding) must overflow in
// ours too, and is compared in full on rescaled params (Oracle.finiteCase).
// The examples are listed at test time, one test each: an example without an
// oracle fails, and so does an oracle without an example. Each runs twice: on
// the TypeScript module and on the JavaScript one (`--emit js`), loaded as is.
import * as tf from "@tensorflow/tfjs";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileSource, type AnyArray, type Module } from "../helpers/compile.js";
import { ORACLES, type Gen, type Oracle, type Tensors } from "../helpers/tfjs-models.js";

const EXAMPLES = join(import.meta.dirname, "..", "..", "examples");
const TOL = 1e-4;
const FLOOR = 1e-3;

const listExamples = (): string[] =>
  readdirSync(EXAMPLES)
    .filter((f) => f.endsWith(".bp"))
    .sort();

/** mulberry32: a small seeded uniform RNG in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function draw(gen: Gen, n: number, u: () => number): Float32Array | Int32Array {
  switch (gen.kind) {
    case "int": {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = gen.lo + Math.floor(u() * (gen.hi - gen.lo));
      return out;
    }
    case "uniform": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = gen.lo + u() * (gen.hi - gen.lo);
      return out;
    }
    case "normal": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const r = Math.sqrt(-2 * Math.log(1 - u()));
        out[i] = gen.mean + gen.std * r * Math.cos(2 * Math.PI * u());
      }
      return out;
    }
  }
}

/** max |a - b| / max(max |b|, FLOOR); b is the reference. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = FLOOR;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(a[i]!)) return Infinity;
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

const worst: Record<string, { err: number; where: string }> = {};

beforeAll(async () => {
  await tf.setBackend("cpu");
});

afterAll(() => {
  const rows = Object.entries(worst).map(([ex, w]) => `  ${ex.padEnd(28)} ${w.err.toExponential(2)}  (${w.where})`);
  if (rows.length) console.log(`worst relative error vs TF.js per example:\n${rows.join("\n")}`);
});

type F32 = Record<string, Float32Array>;
type Ints = Record<string, Float32Array | Int32Array>;
interface Result {
  loss: number;
  /** `forward`'s loss and outputs. */
  outs: Record<string, number | Float32Array>;
  grads: F32;
}

/** The compiled module: forward, then backward; every returned array copied. */
function runOurs(mod: Module, params: F32, inputs: Ints): Result {
  const outs: Result["outs"] = {};
  for (const [k, v] of Object.entries(mod.forward(params, inputs)))
    outs[k] = typeof v === "number" ? v : Float32Array.from(v as AnyArray);
  const bwd = mod.backward(params, inputs);
  const grads: F32 = {};
  for (const [k, v] of Object.entries(bwd.grads)) grads[k] = Float32Array.from(v);
  return { loss: bwd.loss, outs, grads };
}

/** The TF.js twin: its forward values and its autograd gradients wrt `diff` (params and float inputs). */
function runTf(oracle: Oracle, mod: Module, params: F32, inputs: Ints, diff: string[]): Result {
  const paramShape = (n: string): number[] =>
    mod.model.params[n]!.shape.map((d) => {
      if (typeof d === "number") return d;
      throw new Error(`param ${n} has a symbolic dim ${d}`);
    });
  return tf.tidy(() => {
    const pT: Tensors = {};
    const xT: Tensors = {};
    for (const n of Object.keys(params)) pT[n] = tf.tensor(params[n]!, paramShape(n), "float32");
    for (const [n, d] of Object.entries(oracle.inputs))
      xT[n] = tf.tensor(inputs[n]!, d.shape, d.gen.kind === "int" ? "int32" : "float32");
    const { loss, outputs } = oracle.model(pT, xT);
    const outs: Result["outs"] = { loss: loss.dataSync()[0]! };
    for (const [k, v] of Object.entries(outputs))
      outs[k] = v.rank === 0 ? v.dataSync()[0]! : Float32Array.from(v.dataSync());
    const f = (...args: tf.Tensor[]): tf.Scalar => {
      const p2: Tensors = { ...pT };
      const x2: Tensors = { ...xT };
      diff.forEach((n, i) => ((n in pT ? p2 : x2)[n] = args[i]!));
      return oracle.model(p2, x2).loss;
    };
    const { value, grads } = tf.valueAndGrads(f)(diff.map((n) => pT[n] ?? xT[n]!));
    const g: F32 = {};
    diff.forEach((n, i) => (g[n] = Float32Array.from(grads[i]!.dataSync())));
    return { loss: value.dataSync()[0]!, outs, grads: g };
  });
}

const scalarErr = (a: number, b: number): number =>
  Number.isFinite(a) ? Math.abs(a - b) / Math.max(Math.abs(b), FLOOR) : Infinity;

/** Relative error of every compared value: backward loss, forward loss and outputs, each gradient. */
function compare(ours: Result, ref: Result, diff: string[]): [string, number][] {
  expect(Object.keys(ours.outs).sort()).toEqual(Object.keys(ref.outs).sort());
  expect(Object.keys(ours.grads).sort()).toEqual([...diff].sort());
  const errs: [string, number][] = [["backward loss", scalarErr(ours.loss, ref.loss)]];
  for (const [k, v] of Object.entries(ref.outs)) {
    const got = ours.outs[k]!;
    errs.push([`forward ${k}`, typeof v === "number" ? scalarErr(got as number, v) : relErr(got as Float32Array, v)]);
  }
  for (const n of diff) errs.push([`d${n}`, relErr(ours.grads[n]!, ref.grads[n]!)]);
  return errs;
}

function record(file: string, errs: [string, number][]): void {
  const w = errs.reduce((m, e) => (e[1] > m[1] ? e : m));
  if (!worst[file] || !(w[1] <= worst[file].err)) worst[file] = { err: w[1], where: w[0] };
  const tol = ORACLES[file]?.tolerance?.value ?? TOL;
  const bad = errs
    .filter(([, e]) => !(e <= tol))
    .map(([n, e]) => `${n}: ${e.toExponential(2)}`)
    .join(", ");
  expect(bad, `${file}: relative error above ${tol}`).toBe("");
}

describe("compiled f32 modules agree with TF.js autograd", () => {
  for (const file of listExamples()) for (const emit of ["ts", "js"] as const) {
    const oracle = ORACLES[file];
    it(`${file} (${emit})`, async () => {
      if (!oracle) throw new Error(`examples/${file} has no TF.js oracle in tests/helpers/tfjs-models.ts`);
      const source = readFileSync(join(EXAMPLES, file), "utf8");
      const floatInputs = Object.entries(oracle.inputs)
        .filter(([, d]) => d.gen.kind !== "int")
        .map(([n]) => n);
      const { mod, js } = await compileSource(source, { precision: "f32", inputGrads: floatInputs, file, emit });
      if (emit === "js") expect(js).not.toMatch(/^export (type|interface) /m);

      const params = mod.init(1) as F32;
      const u = rng(12345);
      const inputs: Ints = {};
      for (const [name, d] of Object.entries(oracle.inputs))
        inputs[name] = draw(
          d.gen,
          d.shape.reduce((a, b) => a * b, 1),
          u,
        );

      // The module's declared interface matches the oracle's reading of the source.
      expect(Object.keys(mod.model.inputs).sort()).toEqual(Object.keys(oracle.inputs).sort());
      const bound: Record<string, number> = {};
      for (const [name, d] of Object.entries(oracle.inputs)) {
        const decl = mod.model.inputs[name]!;
        expect(decl.dtype, name).toBe(d.gen.kind === "int" ? "int32" : "float32");
        expect(decl.shape.length, name).toBe(d.shape.length);
        decl.shape.forEach((s, i) => {
          const fixed = typeof s === "number" ? s : mod.model.dims[s];
          if (typeof fixed === "number") expect(d.shape[i], `${name} axis ${i}`).toBe(fixed);
          else expect((bound[s as string] ??= d.shape[i]!), `symbolic dim ${s}`).toBe(d.shape[i]);
        });
      }
      const paramNames = Object.keys(params).sort();
      expect(Object.keys(mod.model.params).sort()).toEqual(paramNames);
      expect([...mod.model.grads].sort()).toEqual([...paramNames, ...floatInputs].sort());
      for (const n of paramNames) expect(params[n]).toBeInstanceOf(Float32Array);
      const diff = [...paramNames, ...floatInputs];

      const ours = runOurs(mod, params, inputs);
      const ref = runTf(oracle, mod, params, inputs, diff);
      if (Number.isFinite(ref.loss)) record(file, compare(ours, ref, diff));
      else {
        // f32 overflow at init (rnn_exploding): ours must overflow too, and a rescaled case is compared.
        expect(
          oracle.finiteCase,
          `${file}: TF.js's loss is ${ref.loss} at init; the oracle needs a finiteCase`,
        ).toBeDefined();
        expect(Number.isFinite(ours.loss), `${file}: TF.js's loss overflows to ${ref.loss}, ours is ${ours.loss}`).toBe(
          false,
        );
      }
      if (oracle.finiteCase) {
        const scaled: F32 = {};
        for (const n of paramNames) scaled[n] = params[n]!.map((v) => v * (oracle.finiteCase!.rescale[n] ?? 1));
        const ref2 = runTf(oracle, mod, scaled, inputs, diff);
        expect(Number.isFinite(ref2.loss), `${file}: finiteCase still overflows`).toBe(true);
        record(file, compare(runOurs(mod, scaled, inputs), ref2, diff));
      }
    });
  }

  it("every oracle names an existing example", () => {
    const files = new Set(listExamples());
    expect(Object.keys(ORACLES).filter((f) => !files.has(f))).toEqual([]);
  });
});
