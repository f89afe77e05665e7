// The generated modules: they type-check under strict, run, and give the
// values an independent computation gives (TF.js on its CPU backend, or
// hand-written loops); validation errors name the tensor; calls mutate
// nothing and allocate no typed array after the first; hostile .bp names
// compile to working modules; init is deterministic and its statistics right.
import * as tf from "@tensorflow/tfjs";
import { readFileSync } from "node:fs";
import { Project, ts } from "ts-morph";
import { beforeAll, describe, expect, it } from "vitest";
import { emitModule } from "../src/codegen/emit.js";
import { loadModule, type CompiledModule } from "../src/codegen/runtime-load.js";
import { compileStages } from "../src/passes/pipeline.js";

type Arr = Float32Array | Float64Array | Int32Array;
type Inputs = Record<string, Arr>;

interface Built {
  ts: string;
  mod: CompiledModule;
}

async function build(source: string, file: string, opts: { precision?: "f32" | "f64"; inputGrads?: string[] } = {}): Promise<Built> {
  const st = compileStages(source, file, { inputGrads: opts.inputGrads ?? [], verify: true });
  const text = await emitModule(st.opt, { precision: opts.precision ?? "f32", inputGrads: opts.inputGrads ?? [] });
  return { ts: text, mod: await loadModule(text) };
}

const example = (name: string): string => readFileSync(new URL(`../examples/${name}.bp`, import.meta.url), "utf8");

/** A small seeded PRNG for test data. */
function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Inputs for a module: floats uniform in [lo, hi), ints in [0, intHi) per input. */
function makeInputs(
  mod: CompiledModule,
  dims: Record<string, number>,
  seed: number,
  opts: { lo?: number; hi?: number; intHi?: Record<string, number> } = {},
): Inputs {
  const next = rand(seed);
  const out: Inputs = {};
  const f64 = mod.model.precision === "f64";
  for (const [k, v] of Object.entries(mod.model.inputs)) {
    const n = v.shape.map((d) => (typeof d === "string" ? dims[d] : d)).reduce((a, b) => a * b, 1);
    if (v.dtype === "int32") out[k] = Int32Array.from({ length: n }, () => Math.floor(next() * (opts.intHi?.[k] ?? 2)));
    else {
      const lo = opts.lo ?? -1;
      const hi = opts.hi ?? 1;
      const vals = Array.from({ length: n }, () => lo + (hi - lo) * next());
      out[k] = f64 ? Float64Array.from(vals) : Float32Array.from(vals);
    }
  }
  return out;
}

/** Max |a - b| / (1 + |b|) over elements. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return worst;
}

const data = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;

function typeCheck(files: Record<string, string>): string[] {
  const project = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: {
      strict: true,
      noImplicitAny: true,
      noImplicitReturns: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ES2022,
      lib: ["lib.es2022.d.ts"],
      noEmit: true,
    },
  });
  for (const [name, text] of Object.entries(files)) project.createSourceFile(`/${name}.ts`, text);
  return project.getPreEmitDiagnostics().map((d) => `${d.getSourceFile()?.getBaseName()}:${d.getLineNumber()}: ${ts.flattenDiagnosticMessageText(d.getMessageText() as string, "\n")}`);
}

let mlp: Built;
let rnn: Built;
let dqn: Built;

beforeAll(async () => {
  await tf.setBackend("cpu");
  [mlp, rnn, dqn] = await Promise.all([
    build(example("mlp"), "examples/mlp.bp"),
    build(example("rnn"), "examples/rnn.bp"),
    build(example("dqn"), "examples/dqn.bp"),
  ]);
});

// ---- the examples against TF.js ------------------------------------------------

/** TF.js version of mlp.bp: loss and logits from the given params. */
function tfMlp(p: Record<string, tf.Tensor>, x: tf.Tensor, y: tf.Tensor): { loss: tf.Scalar; logits: tf.Tensor } {
  const h = tf.relu(tf.add(tf.matMul(x, p.W1), p.b1));
  const logits = tf.add(tf.matMul(h, p.W2), p.b2);
  const ce = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(y as tf.Tensor1D, 10)), 1));
  return { loss: tf.mean(ce) as tf.Scalar, logits };
}

function tfParams(params: Record<string, Arr>, shapes: Record<string, { shape: (number | string)[] }>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, tf.tensor(Float32Array.from(v), shapes[k].shape as number[])]));
}

describe("examples vs TF.js", () => {
  it("mlp.bp: forward loss and logits, backward grads", () => {
    const B = 6;
    const params = mlp.mod.init(7);
    const inputs = makeInputs(mlp.mod, { B }, 1, { lo: 0, hi: 1, intHi: { y: 10 } });
    const out = mlp.mod.forward(params, inputs);
    const x = tf.tensor2d(inputs.x as Float32Array, [B, 784]);
    const y = tf.tensor1d(inputs.y as Int32Array, "int32");
    const p = tfParams(params, mlp.mod.model.params);
    const ref = tfMlp(p, x, y);
    expect(relErr([out.loss], [ref.loss.dataSync()[0]])).toBeLessThan(1e-5);
    expect(relErr(out.logits as Float32Array, data(ref.logits))).toBeLessThan(1e-5);

    const names = ["W1", "b1", "W2", "b2"];
    const g = tf.grads((...ts: tf.Tensor[]) => tfMlp(Object.fromEntries(names.map((n, i) => [n, ts[i]])), x, y).loss)(names.map((n) => p[n]));
    const bw = mlp.mod.backward(params, inputs);
    expect(bw.loss).toBeCloseTo(out.loss, 6);
    expect(Object.keys(bw.grads)).toEqual(names);
    names.forEach((n, i) => expect(relErr(bw.grads[n], data(g[i])), n).toBeLessThan(1e-5));
  });

  it("rnn.bp: forward through 50 steps, backprop through time", () => {
    const B = 3;
    const params = rnn.mod.init(2);
    const inputs = makeInputs(rnn.mod, { B }, 3, { intHi: { y: 10 } });
    const p = tfParams(params, rnn.mod.model.params);
    const xs = tf.tensor3d(inputs.xs as Float32Array, [50, B, 32]);
    const y = tf.tensor1d(inputs.y as Int32Array, "int32");
    const run = (Wx: tf.Tensor, Wh: tf.Tensor, bh: tf.Tensor, Wy: tf.Tensor, by: tf.Tensor) => {
      let h: tf.Tensor = tf.zeros([B, 64]);
      const steps = tf.unstack(xs);
      for (let t = 0; t < 50; t++) h = tf.tanh(tf.add(tf.add(tf.matMul(steps[t], Wx), tf.matMul(h, Wh)), bh));
      const logits = tf.add(tf.matMul(h, Wy), by);
      const ce = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(y as tf.Tensor1D, 10)), 1));
      return { loss: tf.mean(ce) as tf.Scalar, logits };
    };
    const names = ["Wx", "Wh", "bh", "Wy", "by"] as const;
    const args = names.map((n) => p[n]) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const ref = run(...args);
    const out = rnn.mod.forward(params, inputs);
    expect(relErr([out.loss], [ref.loss.dataSync()[0]])).toBeLessThan(1e-5);
    expect(relErr(out.logits as Float32Array, data(ref.logits))).toBeLessThan(1e-4);
    const g = tf.grads((...ts: tf.Tensor[]) => run(...(ts as typeof args)).loss)(args);
    const bw = rnn.mod.backward(params, inputs);
    names.forEach((n, i) => expect(relErr(bw.grads[n], data(g[i])), n).toBeLessThan(1e-4));
  });

  it("dqn.bp: huber TD loss with pick, max and stop_gradient", () => {
    const B = 5;
    const params = dqn.mod.init(4);
    const inputs = makeInputs(dqn.mod, { B }, 5, { intHi: { a: 4 } });
    const p = tfParams(params, dqn.mod.model.params);
    const t = (k: string, shape: number[]) => tf.tensor(inputs[k] as Float32Array, shape);
    const s = t("s", [B, 8]);
    const sNext = t("s_next", [B, 8]);
    const r = t("r", [B]);
    const done = t("done", [B]);
    const a = tf.tensor1d(inputs.a as Int32Array, "int32");
    const q = (x: tf.Tensor, w: Record<string, tf.Tensor>) => {
      const h1 = tf.relu(tf.add(tf.matMul(x, w.W1), w.b1));
      const h2 = tf.relu(tf.add(tf.matMul(h1, w.W2), w.b2));
      return tf.add(tf.matMul(h2, w.W3), w.b3);
    };
    // stop_gradient: the target is computed from constant params.
    const target = tf.add(r, tf.mul(tf.mul(0.99, tf.sub(1, done)), tf.max(q(sNext, p), 1)));
    const names = ["W1", "b1", "W2", "b2", "W3", "b3"];
    const lossOf = (w: Record<string, tf.Tensor>) => {
      const qActed = tf.sum(tf.mul(q(s, w), tf.oneHot(a as tf.Tensor1D, 4)), 1);
      const d = tf.sub(target, qActed);
      // huber(d, 1) = 0.5 q^2 + (|d| - q) with q = min(|d|, 1)
      const ad = tf.abs(d);
      const q1 = tf.minimum(ad, 1);
      const hub = tf.add(tf.mul(0.5, tf.square(q1)), tf.sub(ad, q1));
      return { loss: tf.mean(hub) as tf.Scalar, qActed };
    };
    const ref = lossOf(p);
    const out = dqn.mod.forward(params, inputs);
    expect(relErr([out.loss], [ref.loss.dataSync()[0]])).toBeLessThan(1e-5);
    expect(relErr(out.q_acted as Float32Array, data(ref.qActed))).toBeLessThan(1e-5);
    const g = tf.grads((...ts: tf.Tensor[]) => lossOf(Object.fromEntries(names.map((n, i) => [n, ts[i]]))).loss)(names.map((n) => p[n]));
    const bw = dqn.mod.backward(params, inputs);
    names.forEach((n, i) => expect(relErr(bw.grads[n], data(g[i])), n).toBeLessThan(1e-5));
  });
});

// ---- the generated text ------------------------------------------------------------

describe("generated modules", () => {
  it("type-check under strict", () => {
    expect(typeCheck({ mlp: mlp.ts, rnn: rnn.ts, dqn: dqn.ts })).toEqual([]);
  });

  it("read like the source: header, line comments, source names, loops kept", () => {
    expect(mlp.ts.startsWith("// Generated by bpc from examples/mlp.bp. Do not edit.\n")).toBe(true);
    expect(mlp.ts).toContain("// line 18: h = relu(dense(x, W1, b1))");
    expect(mlp.ts).toContain("// grad of line 18: h = relu(dense(x, W1, b1))");
    expect(mlp.ts).toMatch(/matmulTN\(dW1, x, 0, /);
    // The RNN's 50 steps stay one loop each way.
    expect(rnn.ts.match(/for \(let t = 0; t < 50; t\+\+\)/g)).toHaveLength(1);
    expect(rnn.ts.match(/for \(let t_2 = 49; t_2 >= 0; t_2--\)/g)).toHaveLength(1);
    // Elementwise chains are one loop: bias and relu in one pass over the matmul's output,
    // storing the pre-activation the backward pass reads.
    expect(mlp.ts).toMatch(/add7\[o \+ j\] = matmul6\[o \+ j\] \+ b1\[j\];\n\s*h\[o \+ j\] = add7\[o \+ j\] > 0 \? add7\[o \+ j\] : 0;/);
  });

  it("allocate typed arrays only in the workspace builders and init", () => {
    for (const { ts: text } of [mlp, rnn, dqn]) {
      const chunks = text.split(/\n(?=(?:export )?function )/);
      for (const c of chunks) {
        if (!/new (Float32|Float64|Int32)Array\(/.test(c)) continue;
        expect(c).toMatch(/^(?:export )?function (forwardWorkspace|backwardWorkspace|init|orthogonal)\(/);
      }
    }
  });
});

// ---- runtime behaviour --------------------------------------------------------------

describe("runtime validation", () => {
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

  it("an index out of range in a loop throws instead of reading outside the array", async () => {
    const src = "dim B\ninput xs: [3, B] ~ normal(0, 1)\nparam w: [B] ~ zeros\ns = zeros([B])\nfor t in 0..4 {\n  s = s + xs[t]\n}\nminimize sum(s)\n";
    const b = await build(src, "oob.bp").catch((e: Error) => e);
    if (b instanceof Error) return; // the front end may reject it statically, which is also fine
    expect(() => b.mod.forward({ w: new Float32Array(2) }, { xs: new Float32Array(6) })).toThrow(/xs.*index 3 is out of range \[0, 3\)/);
  });
});

describe("calls", () => {
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

// ---- names ------------------------------------------------------------------------

const HOSTILE = `# every name here means something to JavaScript or to the generated module
model hostile
dim B
dim i = 3
input constructor: [B, i] ~ normal(0, 1)
input hasOwnProperty: int[B] in [0, 2)
param __proto__: [i, 2] ~ normal(0, 1)
param default: [2] ~ uniform(-1, 1)
param Math: [i, 2] ~ xavier
param Float32Array: [2] ~ ones
let = constructor @ __proto__ + default
o = constructor @ Math + Float32Array
acc = sum(o, axis=1)
grads = tanh(let) * o + reshape(acc, [B, 1])
toString = cross_entropy(grads, hasOwnProperty)
fw = mean(toString)
output let, grads, toString
minimize fw
`;

describe("hostile identifiers", () => {
  let h: Built;
  beforeAll(async () => {
    h = await build(HOSTILE, "hostile*/.bp", { inputGrads: ["constructor"] });
  });

  it("compile to a module that type-checks", () => {
    expect(typeCheck({ hostile: h.ts })).toEqual([]);
    expect(h.ts.startsWith("// Generated by bpc from hostile* /.bp. Do not edit.")).toBe(true);
  });

  it("run and compute the right values, with every name an own key", () => {
    const B = 3;
    const params = h.mod.init(1);
    expect(Object.keys(params)).toEqual(["__proto__", "default", "Math", "Float32Array"]);
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect(params.Float32Array).toEqual(new Float32Array([1, 1]));
    const inputs: Inputs = {};
    Object.defineProperty(inputs, "constructor", { value: Float32Array.from({ length: B * 3 }, (_, k) => Math.sin(k)), enumerable: true });
    Object.defineProperty(inputs, "hasOwnProperty", { value: Int32Array.from([0, 1, 1]), enumerable: true });
    const out = h.mod.forward(params, inputs);
    expect(Object.keys(out)).toEqual(["loss", "let", "grads", "toString"]);

    // Hand computation.
    const x = inputs.constructor as Float32Array;
    const P = params.__proto__;
    const M = params.Math;
    const lab = inputs.hasOwnProperty as Int32Array;
    let loss = 0;
    for (let b = 0; b < B; b++) {
      const l = [0, 1].map((j) => [0, 1, 2].reduce((s, k) => s + x[b * 3 + k] * P[k * 2 + j], 0) + params.default[j]);
      const o = [0, 1].map((j) => [0, 1, 2].reduce((s, k) => s + x[b * 3 + k] * M[k * 2 + j], 0) + 1);
      const acc = o[0] + o[1];
      const g = [0, 1].map((j) => Math.tanh(l[j]) * o[j] + acc);
      const m = Math.max(...g);
      const ce = m + Math.log(Math.exp(g[0] - m) + Math.exp(g[1] - m)) - g[lab[b]];
      expect((out.let as Float32Array)[b * 2 + 1]).toBeCloseTo(l[1], 5);
      expect((out.grads as Float32Array)[b * 2]).toBeCloseTo(g[0], 5);
      expect((out.toString as Float32Array)[b]).toBeCloseTo(ce, 5);
      loss += ce / B;
    }
    expect(out.loss).toBeCloseTo(loss, 5);

    const bw = h.mod.backward(params, inputs);
    expect(Object.keys(bw.grads)).toEqual(["__proto__", "default", "Math", "Float32Array", "constructor"]);
    expect(Object.getPrototypeOf(bw.grads)).toBe(Object.prototype);
    expect(bw.grads.__proto__).toBeInstanceOf(Float32Array);
    expect(bw.grads.constructor).toHaveLength(B * 3);
  });

  it("never leak into the code as anything but sanitised identifiers, strings or comments", () => {
    expect(h.ts).not.toMatch(/\bconst let\b|\blet let\b|function [a-zA-Z]*\(.*\bdefault\b:/);
    expect(h.ts).toMatch(/const \{ __proto__: __proto___, Math: Math_, Float32Array: Float32Array_, default: default_ \} = params;|__proto__: __proto___/);
    expect(h.ts).toContain(`model: ModelInfo`);
  });
});

// ---- precision ----------------------------------------------------------------------

describe("--precision f64", () => {
  it("emits the same module over Float64Array", async () => {
    const m64 = await build(example("mlp"), "examples/mlp.bp", { precision: "f64" });
    expect(typeCheck({ mlp64: m64.ts })).toEqual([]);
    expect(m64.ts).not.toContain("Float32Array");
    expect(m64.mod.model.inputs.x.dtype).toBe("float64");
    expect(m64.mod.model.precision).toBe("f64");
    const p64 = m64.mod.init(2);
    expect(p64.W1).toBeInstanceOf(Float64Array);
    const i64 = makeInputs(m64.mod, { B: 3 }, 1, { lo: 0, hi: 1, intHi: { y: 10 } });
    const r64 = m64.mod.forward(p64, i64);
    expect(r64.logits).toBeInstanceOf(Float64Array);
    // The f32 module on the same numbers agrees to f32 precision.
    const p32 = Object.fromEntries(Object.entries(p64).map(([k, v]) => [k, Float32Array.from(v)]));
    const i32 = { x: Float32Array.from(i64.x), y: i64.y };
    const r32 = mlp.mod.forward(p32, i32);
    expect(Math.abs(r32.loss - r64.loss)).toBeLessThan(1e-5);
    expect(m64.mod.backward(p64, i64).grads.W1).toBeInstanceOf(Float64Array);
    expect(() => m64.mod.forward(p32, i32)).toThrow(/params\.W1: expected Float64Array/);
  });
});

// ---- init ----------------------------------------------------------------------------

const INITS = `model inits
param N: [200, 300] ~ normal(1, 0.5)
param U: [300, 200] ~ uniform(-2, 3)
param X: [200, 300] ~ xavier
param X3: [20, 30, 4] ~ xavier
param H: [400, 250] ~ he
param O: [64, 64] ~ orthogonal
param Otall: [7, 3] ~ orthogonal
param Owide: [3, 7] ~ orthogonal
param C: [5] ~ const(-0.25)
param I: [5] ~ ones
param Z: [5] ~ zeros
loss = sum(N) + sum(U) + sum(X) + sum(X3) + sum(H) + sum(O) + sum(Otall) + sum(Owide) + sum(C) + sum(I) + sum(Z)
minimize loss
`;

function stats(a: ArrayLike<number>): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < a.length; i++) {
    s += a[i];
    min = Math.min(min, a[i]);
    max = Math.max(max, a[i]);
  }
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / a.length), min, max };
}

/** Max |Q^T Q - I| over the Gram matrix of the columns (or rows, when `rows`). */
function orthoError(q: ArrayLike<number>, r: number, c: number, rows: boolean): number {
  const n = rows ? r : c;
  const len = rows ? c : r;
  const at = (v: number, k: number) => (rows ? q[v * c + k] : q[k * c + v]);
  let worst = 0;
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      let dot = 0;
      for (let k = 0; k < len; k++) dot += at(a, k) * at(b, k);
      worst = Math.max(worst, Math.abs(dot - (a === b ? 1 : 0)));
    }
  }
  return worst;
}

describe("init", () => {
  let m: Built;
  beforeAll(async () => {
    m = await build(INITS, "inits.bp");
  });

  it("is deterministic per seed", () => {
    const a = m.mod.init(42);
    const b = m.mod.init(42);
    const c = m.mod.init(43);
    for (const k of Object.keys(a)) expect(Array.from(a[k]), k).toEqual(Array.from(b[k]));
    expect(Array.from(a.N)).not.toEqual(Array.from(c.N));
    expect(Array.from(m.mod.init().H)).toEqual(Array.from(m.mod.init(0).H));
    expect(a.N).not.toBe(b.N); // fresh arrays each call
  });

  it("draws each initializer's distribution", () => {
    const p = m.mod.init(1);
    const n = stats(p.N);
    expect(n.mean).toBeCloseTo(1, 1);
    expect(n.std).toBeGreaterThan(0.48);
    expect(n.std).toBeLessThan(0.52);
    const u = stats(p.U);
    expect(u.min).toBeGreaterThanOrEqual(-2);
    expect(u.max).toBeLessThan(3);
    expect(u.mean).toBeCloseTo(0.5, 1);
    // Glorot uniform: limit sqrt(6 / (fan_in + fan_out)), std limit / sqrt(3).
    const lim = Math.sqrt(6 / 500);
    const x = stats(p.X);
    expect(x.max).toBeLessThanOrEqual(lim);
    expect(x.min).toBeGreaterThanOrEqual(-lim);
    expect(x.std / (lim / Math.sqrt(3))).toBeGreaterThan(0.97);
    expect(x.std / (lim / Math.sqrt(3))).toBeLessThan(1.03);
    // Rank 3: fans times the receptive field (4).
    expect(stats(p.X3).max).toBeLessThanOrEqual(Math.sqrt(6 / (80 + 120)));
    expect(stats(p.X3).max).toBeGreaterThan(0.9 * Math.sqrt(6 / (80 + 120)));
    // Kaiming normal: std sqrt(2 / fan_in).
    const h = stats(p.H);
    expect(Math.abs(h.mean)).toBeLessThan(0.01);
    expect(h.std / Math.sqrt(2 / 400)).toBeGreaterThan(0.97);
    expect(h.std / Math.sqrt(2 / 400)).toBeLessThan(1.03);
    expect(Array.from(p.C)).toEqual([-0.25, -0.25, -0.25, -0.25, -0.25]);
    expect(Array.from(p.I)).toEqual([1, 1, 1, 1, 1]);
    expect(Array.from(p.Z)).toEqual([0, 0, 0, 0, 0]);
  });

  it("orthogonal gives orthonormal columns (tall and square) or rows (wide)", () => {
    for (const seed of [0, 1, 2]) {
      const p = m.mod.init(seed);
      expect(orthoError(p.O, 64, 64, false)).toBeLessThan(1e-5);
      expect(orthoError(p.O, 64, 64, true)).toBeLessThan(1e-5);
      expect(orthoError(p.Otall, 7, 3, false)).toBeLessThan(1e-6);
      expect(orthoError(p.Owide, 3, 7, true)).toBeLessThan(1e-6);
    }
    expect(orthoError(rnn.mod.init(0).Wh, 64, 64, false)).toBeLessThan(1e-5);
  });
});
