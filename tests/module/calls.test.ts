// The compiled module's calls (LANGUAGE.md section 6): bad params and inputs
// are errors naming the tensor and the shapes; a call mutates nothing,
// allocates nothing but its result object, and no typed array after the first
// call with given dims (also when switching between two batch sizes); a call
// again gives the same numbers.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { moduleToJs as transpile } from "../../src/codegen/to-js.js";
import { countAllocations, HEAP_FLAGS, HEAP_PER_CALL } from "../helpers/alloc.js";
import { build, makeInputs, type Arr, type Built, type Inputs } from "../helpers/build.js";
import { compileSource, type AnyArray, type Module } from "../helpers/compile.js";

const example = (name: string): string => readFileSync(new URL(`../../examples/${name}.bp`, import.meta.url), "utf8");

let mlp: Built;
let rnn: Built;
let dqn: Built;

beforeAll(async () => {
  [mlp, rnn, dqn] = await Promise.all([
    build(example("mlp"), "examples/mlp.bp"),
    build(example("rnn"), "examples/rnn.bp", { inputGrads: ["xs"] }),
    build(example("dqn"), "examples/dqn.bp"),
  ]);
});

/** Seeded inputs for a compileSource module: floats in [-1, 1) of type FA, ints 0. */
function inputsFor(
  mod: Module,
  B: number,
  seed = 7,
  FA: typeof Float32Array | typeof Float64Array = Float32Array,
): Record<string, AnyArray> {
  let s = seed;
  const u = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  const out: Record<string, AnyArray> = {};
  for (const [name, d] of Object.entries(mod.model.inputs)) {
    const n = d.shape.reduce<number>((a, x) => a * (typeof x === "number" ? x : (mod.model.dims[x] ?? B)), 1);
    if (d.dtype === "int32") {
      out[name] = new Int32Array(n);
      continue;
    }
    const a = new FA(n);
    for (let i = 0; i < n; i++) a[i] = u() * 2 - 1;
    out[name] = a;
  }
  return out;
}

describe("argument validation", () => {
  const B = 4;
  let params: Record<string, Float32Array>;
  let inputs: Inputs;
  beforeAll(() => {
    params = mlp.mod.init(1) as Record<string, Float32Array>;
    inputs = makeInputs(mlp.mod, { B }, 9, { lo: 0, hi: 1, intHi: { y: 10 } });
  });
  const call = (p: Record<string, Arr>, i: Inputs) => () => mlp.mod.forward(p as Record<string, Float32Array>, i);

  it.each([
    ["a missing param", () => ({ p: { W1: params.W1, b1: params.b1, W2: params.W2 }, i: inputs }), /params: missing key "b2"/],
    ["an extra param", () => ({ p: { ...params, W3: params.W2 }, i: inputs }), /params: unexpected key "W3"/],
    ["a missing input", () => ({ p: params, i: { x: inputs.x } }), /inputs: missing key "y"/],
    ["a Float64Array", () => ({ p: params, i: { ...inputs, x: Float64Array.from(inputs.x) } }), /inputs\.x: expected Float32Array of shape \[B, 784\], got Float64Array\(3136\)/],
    ["float labels", () => ({ p: params, i: { ...inputs, y: Float32Array.from(inputs.y) } }), /inputs\.y: expected Int32Array of shape int\[B\]/],
    ["a plain array", () => ({ p: { ...params, b1: Array.from(params.b1) as unknown as Float32Array }, i: inputs }), /params\.b1: expected Float32Array of shape \[128\], got Array\(128\)/],
    ["a short param", () => ({ p: { ...params, b2: new Float32Array(9) }, i: inputs }), /params\.b2: expected shape \[10\] \(10 elements\), got 9 elements/],
    ["a length that is no multiple", () => ({ p: params, i: { ...inputs, x: new Float32Array(785) } }), /inputs\.x: expected shape \[B, 784\], a positive multiple of 784 elements, got 785/],
    ["an empty batch", () => ({ p: params, i: { x: new Float32Array(0), y: new Int32Array(0) } }), /inputs\.x: .*got 0 elements/],
    ["inconsistent dims", () => ({ p: params, i: { ...inputs, y: new Int32Array(3) } }), /inputs\.y: expected shape int\[B\] with B = 4 \(from inputs\.x\) \(4 elements\), got 3 elements/],
    ["a label too large", () => ({ p: params, i: { ...inputs, y: Int32Array.from([1, 2, 10, 3]) } }), /cross_entropy \(line 20\): labels inputs\.y: label 10 at position 2 is out of range \[0, 10\)/],
    ["a negative label", () => ({ p: params, i: { ...inputs, y: Int32Array.from([0, -1, 0, 0]) } }), /label -1 at position 1 is out of range \[0, 10\)/],
    ["NaN in an input", () => ({ p: params, i: { ...inputs, x: Float32Array.from(inputs.x, (v, k) => (k === 5 ? NaN : v)) } }), /inputs\.x: element 5 is NaN/],
    // W1 is checked through x @ W1 (smaller at a small batch); the message still names W1.
    ["NaN in a weight matrix", () => ({ p: { ...params, W1: Float32Array.from(params.W1, (v, k) => (k === 7 ? NaN : v)) }, i: inputs }), /params\.W1: element 7 is NaN/],
    ["Infinity in a weight matrix feeding a relu", () => ({ p: { ...params, W2: Float32Array.from(params.W2, (v, k) => (k === 3 ? -Infinity : v)) }, i: inputs }), /params\.W2: element 3 is -Infinity/],
    ["Infinity in a param", () => ({ p: { ...params, b1: Float32Array.from(params.b1, (v, k) => (k === 0 ? Infinity : v)) }, i: inputs }), /params\.b1: element 0 is Infinity/],
    ["params that are not an object", () => ({ p: null as unknown as Record<string, Arr>, i: inputs }), /params: expected an object with keys W1, b1, W2, b2, got null/],
  ])("throws on %s, naming the tensor and the shapes", (_name, make, message) => {
    const { p, i } = make();
    expect(call(p, i)).toThrow(message);
    expect(() => mlp.mod.backward(p as Record<string, Float32Array>, i)).toThrow(message);
  });

  it("an inherited key is not a key", () => {
    const i = Object.create({ y: inputs.y }) as Inputs;
    i.x = inputs.x;
    expect(call(params, i)).toThrow(/inputs: missing key "y"/);
  });

  it("an index out of range throws instead of reading outside the array", async () => {
    // An index read from data (a loop longer than its array is a compile-time error now).
    const src = "dim B\ninput xs: [3, B] ~ normal(0, 1)\ninput k: int[] in [0, 3)\nparam w: [2] ~ zeros\ns = zeros([B])\nfor t in 0..3 {\n  s = s + xs[t]\n}\nr = xs[k] * 2\noutput s, r\nminimize sum(w)\n";
    const b = await build(src, "oob.bp", { forwardOnly: true });
    const xs = Float32Array.from([1, 2, 3, 4, 5, 6]);
    expect(() => b.mod.forward({ w: new Float32Array(2) }, { xs, k: Int32Array.from([3]) })).toThrow(/inputs\.xs \(line 9\): index 3 is out of range \[0, 3\)/);
  });
});

/**
 * Heap bytes one call of forward and backward allocates, past what building
 * a result object of the same shape allocates: measured in a child process
 * whose young generation is big enough that no collection runs meanwhile.
 */
function allocationPerCall(moduleTs: string, B: number): { forward: number; backward: number } {
  const dir = mkdtempSync(join(tmpdir(), "bpc-alloc-"));
  writeFileSync(join(dir, "m.mjs"), transpile(moduleTs));
  writeFileSync(
    join(dir, "probe.mjs"),
    `import v8 from "node:v8";
const m = await import("./m.mjs");
const params = m.init(1);
const inputs = {};
for (const [k, d] of Object.entries(m.model.inputs)) {
  const n = d.shape.reduce((a, x) => a * (typeof x === "number" ? x : ${B}), 1);
  inputs[k] = d.dtype === "int32" ? new Int32Array(n) : new Float32Array(n).fill(0.25);
}
${HEAP_PER_CALL}
const out = m.forward(params, inputs);
const grads = m.backward(params, inputs).grads;
const like = (o) => Object.fromEntries(Object.keys(o).map((k) => [k, o[k]]));
// Result objects of the same shapes, with a fresh number for the loss as the modules make.
const fwdShape = like(out);
const bwdShape = like(grads);
const fwdBase = perCall(() => ({ ...fwdShape, loss: Math.random() }));
const bwdBase = perCall(() => ({ loss: Math.random(), grads: { ...bwdShape } }));
console.log(JSON.stringify({ forward: perCall(() => m.forward(params, inputs)) - fwdBase, backward: perCall(() => m.backward(params, inputs)) - bwdBase }));
`,
  );
  const r = spawnSync(process.execPath, [...HEAP_FLAGS, join(dir, "probe.mjs")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as { forward: number; backward: number };
}

describe("calls", () => {
  // Argument checks build no message, key list or dims object unless a check fails.
  it.each(["mlp", "dqn", "rnn"])("%s: allocate nothing per call but the result object", async (name) => {
    const text = name === "mlp" ? mlp.ts : name === "dqn" ? dqn.ts : rnn.ts;
    const bytes = allocationPerCall(text, 4);
    expect(bytes.forward, "forward").toBeLessThanOrEqual(16);
    expect(bytes.backward, "backward").toBeLessThanOrEqual(16);
  });

  it("do not mutate params or inputs", () => {
    for (const { mod } of [mlp, rnn, dqn]) {
      const params = mod.init(3);
      const inputs = makeInputs(mod, { B: 3 }, 4, { intHi: { y: 10, a: 4 } });
      const before = JSON.stringify([params, inputs], (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v));
      mod.forward(params, inputs);
      mod.backward(params, inputs);
      expect(JSON.stringify([params, inputs], (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v))).toBe(before);
    }
  });

  it("allocate no typed array after the first call with given dims", async () => {
    const mod = (await build(example("rnn"), "examples/rnn.bp")).mod;
    const params = mod.init(0);
    const small = makeInputs(mod, { B: 2 }, 1, { intHi: { y: 10 } });
    const big = makeInputs(mod, { B: 5 }, 1, { intHi: { y: 10 } });
    const counts = { Float32Array: 0, Float64Array: 0, Int32Array: 0 };
    const real = { Float32Array, Float64Array, Int32Array };
    const g = globalThis as unknown as Record<string, unknown>;
    for (const k of Object.keys(counts) as (keyof typeof counts)[]) {
      g[k] = new Proxy(real[k], {
        construct(target, args, newTarget) {
          counts[k]++;
          return Reflect.construct(target, args, newTarget) as object;
        },
      });
    }
    const total = () => counts.Float32Array + counts.Float64Array + counts.Int32Array;
    try {
      const r1 = mod.forward(params, small);
      const first = total();
      expect(first).toBeGreaterThan(0); // the forward workspace
      const r2 = mod.forward(params, small);
      mod.backward(params, small);
      const afterBackward = total();
      mod.backward(params, small);
      mod.forward(params, small);
      expect(total()).toBe(afterBackward);
      expect(r2.logits).toBe(r1.logits); // workspace-owned, reused
      mod.forward(params, big); // new dims: a new workspace
      expect(total()).toBeGreaterThan(afterBackward);
      const n = total();
      mod.backward(params, big);
      mod.backward(params, big);
      const m = total();
      mod.backward(params, big);
      expect(total()).toBe(m);
      expect(m).toBeGreaterThan(n);
    } finally {
      Object.assign(g, real);
    }
  });

  it("alternate two batch sizes (train and eval) without allocating after the first call of each", async () => {
    // mlp is an f32 module with the SIMD kernel: its workspaces live in an arena, and the
    // previous pair is kept for a switch back.
    expect(mlp.ts).toMatch(/function useWorkspaces\(/);
    const mod = mlp.mod;
    const params = mod.init(2) as Record<string, Float32Array>;
    const train = makeInputs(mod, { B: 3 }, 4, { intHi: { y: 10 } });
    const evalSet = makeInputs(mod, { B: 8 }, 5, { intHi: { y: 10 } });
    const want = {
      train: mod.backward(params, train).loss,
      eval: (mod.forward(params, evalSet) as { loss: number }).loss,
    };
    mod.backward(params, train);
    const losses: number[] = [];
    const made = countAllocations(() => {
      for (let i = 0; i < 3; i++) losses.push(mod.backward(params, train).loss, (mod.forward(params, evalSet) as { loss: number }).loss);
    });
    expect(made).toBe(0);
    expect(losses).toEqual([want.train, want.eval, want.train, want.eval, want.train, want.eval]);
  });

  // The previous workspace pair was kept only in SIMD modules with a backward pass;
  // f64 modules (the gradient-check build) and --kernels js f32 modules rebuilt both
  // workspaces on every switch between a training and an evaluation batch size.
  const source = `model m\ndim B\ninput x: [B, 3]\nparam W: [3, 5]\nh = relu(x @ W)\nloss = mean(square(h))\nminimize loss\n`;
  it.each([
    ["f64", { precision: "f64" as const }],
    ["f32 --kernels js", { precision: "f32" as const, kernels: "js" as const }],
  ])("alternate two batch sizes in %s modules without allocating after the first call of each", async (_, opts) => {
    const { mod } = await compileSource(source, opts);
    const FA = opts.precision === "f64" ? Float64Array : Float32Array;
    const params = mod.init(2);
    const train = inputsFor(mod, 3, 4, FA);
    const evalSet = inputsFor(mod, 8, 5, FA);
    const want = { train: mod.backward(params, train).loss, eval: mod.forward(params, evalSet).loss };
    const losses: number[] = [];
    const made = countAllocations(() => {
      for (let i = 0; i < 3; i++) losses.push(mod.backward(params, train).loss, mod.forward(params, evalSet).loss);
    });
    expect(losses).toEqual([want.train, want.eval, want.train, want.eval, want.train, want.eval]);
    expect(made).toBe(0);
  });

  it("give the same numbers when called again and after other dims", () => {
    const params = rnn.mod.init(5);
    const a = makeInputs(rnn.mod, { B: 2 }, 1, { intHi: { y: 10 } });
    const b = makeInputs(rnn.mod, { B: 3 }, 2, { intHi: { y: 10 } });
    const la = rnn.mod.forward(params, a).loss;
    const ga = rnn.mod.backward(params, a).grads.Wh.slice();
    rnn.mod.backward(params, b);
    expect(rnn.mod.forward(params, a).loss).toBe(la);
    expect(Array.from(rnn.mod.backward(params, a).grads.Wh)).toEqual(Array.from(ga));
  });
});
