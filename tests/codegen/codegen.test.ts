// The generated modules: they type-check under strict, run, and give the
// values an independent computation gives (TF.js on its CPU backend, or
// hand-written loops); hostile .bp names compile to working modules; init is
// deterministic and its statistics right. (Argument checks and what a call
// allocates are in tests/module/calls.test.ts.)
import * as tf from "@tensorflow/tfjs";
import { readFileSync } from "node:fs";
import { Project, ts } from "ts-morph";
import { beforeAll, describe, expect, it } from "vitest";
import { build, makeInputs, type Arr, type Built, type Inputs } from "../helpers/build.js";
import { emitModule } from "../../src/codegen/emit.js";
import { loadModule } from "../../src/codegen/runtime-load.js";
import { Builder } from "../../src/ir/builder.js";
import type { AttrValue, Graph, Node } from "../../src/ir/types.js";
import { grad } from "../../src/passes/autodiff.js";

async function buildGraph(g: Graph, precision: "f32" | "f64" = "f64"): Promise<Built> {
  const text = await emitModule(g, { precision, inputGrads: [] });
  return { ts: text, mod: await loadModule(text) };
}

const example = (name: string): string => readFileSync(new URL(`../../examples/${name}.bp`, import.meta.url), "utf8");

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
let hostile: Built;
let mlp64: Built;
let ops: Built;
let indexAdd: Built;

beforeAll(async () => {
  await tf.setBackend("cpu");
  [mlp, rnn, dqn, hostile, mlp64, ops, indexAdd] = await Promise.all([
    build(example("mlp"), "examples/mlp.bp"),
    build(example("rnn"), "examples/rnn.bp", { inputGrads: ["xs"] }),
    build(example("dqn"), "examples/dqn.bp"),
    build(HOSTILE, "hostile*/.bp", { inputGrads: ["constructor"] }),
    build(example("mlp"), "examples/mlp.bp", { precision: "f64" }),
    build(opTableSource().source, "ops.bp", { forwardOnly: true }),
    buildGraph(indexAddGraph()),
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
    // --input-grads xs: the gradient of every step's input.
    expect(rnn.mod.model.grads).toEqual([...names, "xs"]);
    const dxs = tf.grad((x: tf.Tensor) => {
      let h: tf.Tensor = tf.zeros([B, 64]);
      const steps = tf.unstack(x);
      for (let t = 0; t < 50; t++) h = tf.tanh(tf.add(tf.add(tf.matMul(steps[t], p.Wx), tf.matMul(h, p.Wh)), p.bh));
      const logits = tf.add(tf.matMul(h, p.Wy), p.by);
      return tf.mean(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(y as tf.Tensor1D, 10)), 1)));
    })(xs);
    expect(relErr(bw.grads.xs, data(dxs))).toBeLessThan(1e-4);
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
    // One project for every module the tests build: type-checking is the slow part.
    const files = { mlp: mlp.ts, rnn: rnn.ts, dqn: dqn.ts, hostile: hostile.ts, mlp64: mlp64.ts, ops: ops.ts, indexAdd: indexAdd.ts };
    expect(typeCheck(files)).toEqual([]);
  });

  it("read like the source: header, line comments, source names, loops kept", () => {
    expect(mlp.ts.startsWith("// Generated by bpc from examples/mlp.bp. Do not edit.\n")).toBe(true);
    expect(mlp.ts).toContain("// line 18: h = relu(dense(x, W1, b1))");
    expect(mlp.ts).toContain("// grad of line 18: h = relu(dense(x, W1, b1))");
    expect(mlp.ts).toMatch(/matmulSimd\(arena, dW1, x_simd, 0, dh_pre, 0, 784, B, 128, true, false\);/);
    // The JS path: one shared kernel behind the SIMD one; a JS-only module's kernels are per shape.
    expect(mlp.ts).toMatch(/matmulJs\(dW1, x, 0, 1, 784, dh_pre, 0, 128, 1, 784, B, 128, false\);/);
    expect(mlp.ts).not.toMatch(/function matmul[NT][NT]_/);
    expect(mlp64.ts).toMatch(/matmulTN_784xkx128\(dW1, x, 0, dh_pre, 0, B\);/);
    // The RNN's 50 steps stay one loop each way.
    expect(rnn.ts.match(/for \(let t = 0; t < 50; t\+\+\)/g)).toHaveLength(1);
    expect(rnn.ts.match(/for \(let t_2 = 49; t_2 >= 0; t_2--\)/g)).toHaveLength(1);
    // Elementwise chains are one loop: bias and relu in one pass over the matmul's output,
    // storing only the activation (relu's gradient mask reads h, not the pre-activation).
    expect(mlp.ts).toMatch(/h\[k\] = relu32\(x_W1\[k\] \+ b1\[j\]\);/);
    expect(mlp.ts).toMatch(/dh_pre\[o\] = dh\[o\] \* \+\(h\[o\] > 0\);/);
  });

  it("allocate typed arrays only in the workspace builders and init", () => {
    for (const { ts: text } of [mlp, rnn, dqn]) {
      // Split at every top-level declaration (a declaration's doc comment ends the one before).
      const chunks = text.split(/\n(?=(?:export )?(?:function|const|let) |\/\*\*)/);
      for (const c of chunks) {
        // take() hands out a view of the SIMD arena; only the workspace builders call it.
        if (/\btake\(arena,/.test(c)) expect(c).toMatch(/^function (forwardWorkspace|backwardWorkspace)\(/);
        if (!/new (Float32|Float64|Int32)Array\(/.test(c)) continue;
        // relu32's one-float scratch (and its Int32 view) is allocated once, when the module loads.
        expect(c).toMatch(/^(?:(?:export )?function (forwardWorkspace|backwardWorkspace|init|orthogonal|take)\(|const RELU_F32 = new Float32Array\(1\);$|const RELU_BITS = new Int32Array\(RELU_F32\.buffer\);$)/);
      }
    }
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
  beforeAll(() => {
    h = hostile;
  });

  it("compile to a module (type-checked with the others above)", () => {
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

    // Hand computation. (Keys such as `constructor` are read through a string:
    // TypeScript types `obj.constructor` as Object.prototype's even on a Record.)
    const at = <T,>(o: object, k: string): T => (o as Record<string, T>)[k];
    const x = at<Float32Array>(inputs, "constructor");
    const P = params.__proto__;
    const M = params.Math;
    const lab = at<Int32Array>(inputs, "hasOwnProperty");
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
      expect(at<Float32Array>(out, "toString")[b]).toBeCloseTo(ce, 5);
      loss += ce / B;
    }
    expect(out.loss).toBeCloseTo(loss, 5);

    const bw = h.mod.backward(params, inputs);
    expect(Object.keys(bw.grads)).toEqual(["__proto__", "default", "Math", "Float32Array", "constructor"]);
    expect(Object.getPrototypeOf(bw.grads)).toBe(Object.prototype);
    expect(bw.grads.__proto__).toBeInstanceOf(Float32Array);
    expect(at<Float32Array>(bw.grads, "constructor")).toBeInstanceOf(Float32Array);
    expect(at<Float32Array>(bw.grads, "constructor")).toHaveLength(B * 3);
  });

  it("source names that a derived name or a helper also uses stay distinct", async () => {
    // Names codegen derives (x_W1, h_pre, dh_pre, logits_lse, h_tape) and names the module
    // defines (matmulJs, paramKeys, inputKeys, badDim, forwardOutputs) given to source values.
    const names = ["x_W1", "h_pre", "dh_pre", "logits_lse", "h_tape", "matmulJs", "paramKeys", "inputKeys", "badDim", "forwardOutputs"];
    const model = (n: string[]): string =>
      `dim B\ninput x: [B, 3] ~ normal(0, 1)\ninput y: int[B] in [0, 2)\ninput ${n[5]}: [B, 2] in [0, 1]\nparam W1: [3, 2] ~ normal(0, 1)\nparam ${n[6]}: [2, 2] ~ normal(0, 1)\n` +
      `${n[0]} = x @ W1 * 2\nh = zeros([B, 2])\nfor t in 0..3 {\n  ${n[1]} = tanh(h @ ${n[6]}) + ${n[0]}\n  h = relu(${n[1]} + ${n[5]})\n}\n` +
      `${n[2]} = h * ${n[5]}\nlogits = ${n[2]} @ ${n[6]}\n${n[3]} = mean(cross_entropy(logits, y))\n${n[4]} = ${n[3]} * 1\n${n[7]} = ${n[4]}\n${n[8]} = ${n[7]}\n${n[9]} = ${n[8]}\n` +
      `output logits, ${n[9]}\nminimize ${n[9]}\n`;
    const clashing = await build(model(names), "clash.bp");
    const plain = await build(model(names.map((_, i) => `v${i}`)), "plain.bp");
    expect(typeCheck({ clashing: clashing.ts })).toEqual([]);
    const params = plain.mod.init(2);
    const clashParams = { W1: params.W1, [names[6]]: params.v6 };
    const inputs = makeInputs(plain.mod, { B: 4 }, 3, { intHi: { y: 2 } });
    const clashInputs = { x: inputs.x, y: inputs.y, [names[5]]: inputs.v5 };
    const a = plain.mod.backward(params, inputs);
    const b = clashing.mod.backward(clashParams as never, clashInputs);
    expect(b.loss).toBe(a.loss);
    expect(Array.from(b.grads[names[6]])).toEqual(Array.from(a.grads.v6));
    expect(Array.from(b.grads.W1)).toEqual(Array.from(a.grads.W1));
  });

  it("never leak into the code as anything but sanitised identifiers, strings or comments", () => {
    expect(h.ts).not.toMatch(/\bconst let\b|\blet let\b|function [a-zA-Z]*\(.*\bdefault\b:/);
    expect(h.ts).toMatch(/const \{ Float32Array: Float32Array_, Math: Math_, \["__proto__"\]: __proto___, default: default_ \} = params;/);
    expect(h.ts).toContain(`model: ModelInfo`);
  });
});

describe("arbitrary strings as names (a graph built by other means)", () => {
  it("stay inside string literals, sanitised identifiers and one-line comments", async () => {
    const b = new Builder();
    const evil = ['x"]; throw 1; //', "w */ evil \u2028 line", "r\nnext line", "out`${1}`"];
    const x = sourceNode(b, "input", evil[0], [2]);
    const w = sourceNode(b, "param", evil[1], [2]);
    const r = b.op("mul", [x, w]);
    r.name = evil[2];
    const loss = b.op("sum", [r], { axes: [0], keepdims: false });
    const g = grad(graph(b, [x], [w], { [evil[3]]: r }, loss), { inputGrads: [evil[0]] });
    const text = await emitModule({ ...g, file: "a*/b\nc.bp", name: "m\u2029n" }, { precision: "f64", inputGrads: [evil[0]] });
    expect(typeCheck({ evil: text })).toEqual([]);
    const mod = await loadModule(text);
    expect(Object.keys(mod.model.params)).toEqual([evil[1]]);
    const out = mod.forward({ [evil[1]]: Float64Array.from([2, 3]) }, { [evil[0]]: Float64Array.from([5, 7]) });
    expect(out.loss).toBe(31);
    expect(Array.from(out[evil[3]] as Float64Array)).toEqual([10, 21]);
    const bw = mod.backward({ [evil[1]]: Float64Array.from([2, 3]) }, { [evil[0]]: Float64Array.from([5, 7]) });
    expect(Array.from(bw.grads[evil[1]])).toEqual([5, 7]);
    expect(Array.from(bw.grads[evil[0]])).toEqual([2, 3]);
    expect(() => mod.forward({ [evil[1]]: new Float64Array(3) }, { [evil[0]]: new Float64Array(2) })).toThrow(`params.${evil[1]}: expected shape [2]`);
    // Asking codegen for a gradient autodiff did not build is a compile error, not silent zeros.
    await expect(emitModule(grad(graph(b, [x], [w], {}, loss)), { precision: "f64", inputGrads: [evil[0]] })).rejects.toThrow(/no gradient for/);
  });
});

describe("values handed out", () => {
  it("outputs that are params, inputs, numbers, ints and scalars; gradients that are zero", async () => {
    const src = [
      "dim B",
      "input x: [B, 2] in [0, 1]",
      "param W: [2, 2] ~ normal(0, 1)",
      "param unused: [3] ~ ones",
      "z = zeros([B, 2])",
      "k = argmax(x @ W, axis=1)",
      "s = sum(x)",
      "loss = sum(x @ W)",
      "output W, x, z, k, s",
      "minimize loss",
    ].join("\n");
    const { mod, ts: text } = await build(src, "outs.bp");
    const params = mod.init(1);
    const x = Float32Array.from([0.1, 0.9, 0.8, 0.2]);
    const out = mod.forward(params, { x });
    expect(out.W).not.toBe(params.W); // a copy, not the caller's array
    expect(Array.from(out.W as Float32Array)).toEqual(Array.from(params.W));
    expect(out.x).not.toBe(x);
    expect(Array.from(out.z as Float32Array)).toEqual([0, 0, 0, 0]);
    expect(out.k).toBeInstanceOf(Int32Array);
    expect(out.s).toBeCloseTo(2, 6);
    const bw = mod.backward(params, { x });
    expect(Array.from(bw.grads.unused)).toEqual([0, 0, 0]);
    // Handed-out buffers are rewritten on every call, so a caller scribbling on them is harmless.
    bw.grads.unused.fill(7);
    (out.z as Float32Array).fill(7);
    expect(Array.from(mod.backward(params, { x }).grads.unused)).toEqual([0, 0, 0]);
    expect(Array.from(mod.forward(params, { x }).z as Float32Array)).toEqual([0, 0, 0, 0]);
    expect(text).toContain("export type Outputs = {");
  });
});

// ---- precision ----------------------------------------------------------------------

describe("--precision f64", () => {
  it("emits the same module over Float64Array", () => {
    const m64 = mlp64;
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
param N: [100, 100] ~ normal(1, 0.5)
param U: [100, 100] ~ uniform(-2, 3)
param X: [100, 200] ~ xavier
param X3: [20, 30, 4] ~ xavier
param H: [400, 50] ~ he
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
    const same = (p: ArrayLike<number>, q: ArrayLike<number>): boolean => p.length === q.length && Array.prototype.every.call(p, (v: number, i: number) => v === q[i]);
    for (const k of Object.keys(a)) expect(same(a[k], b[k]), k).toBe(true);
    expect(same(a.N, c.N)).toBe(false);
    expect(same(m.mod.init().H, m.mod.init(0).H)).toBe(true);
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
    const lim = Math.sqrt(6 / 300);
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

// ---- every op's forward kernel against TF.js ------------------------------------------

interface OpRow {
  name: string;
  /** Declarations: params are drawn by the module's init. */
  decl: string;
  expr: string;
  ref: (t: Record<string, tf.Tensor>) => tf.Tensor;
  /** Extra statements before `r = ...`. */
  pre?: string;
  int?: boolean;
}

const f = (t: tf.Tensor): tf.Tensor => tf.cast(t, "float32");
const A34 = "param a: [3, 4] ~ uniform(-2, 2)";
const POS = "param a: [3, 4] ~ uniform(0.5, 2)";
const LABELS = "input labels: int[3] in [0, 4)";
const unary = (name: string, ref: (x: tf.Tensor) => tf.Tensor, decl = A34): OpRow => ({ name, decl, expr: `${name}(a)`, ref: (t) => ref(t.a) });

const OP_ROWS: OpRow[] = [
  ...(
    [
      ["exp", tf.exp],
      ["abs", tf.abs],
      ["square", tf.square],
      ["sigmoid", tf.sigmoid],
      ["tanh", tf.tanh],
      ["relu", tf.relu],
      ["softplus", tf.softplus],
      ["sin", tf.sin],
      ["cos", tf.cos],
      ["sign", tf.sign],
      ["floor", tf.floor],
      ["ceil", tf.ceil],
    ] as [string, (x: tf.Tensor) => tf.Tensor][]
  ).map(([n, r]) => unary(n, r)),
  unary("log", tf.log, POS),
  unary("sqrt", tf.sqrt, POS),
  { name: "neg", decl: A34, expr: "-a", ref: (t) => tf.neg(t.a) },
  { name: "round half to even", decl: "param a: [6] ~ uniform(-3, 3)\nparam h: [1] ~ const(2.5)\nparam g: [1] ~ const(-1.5)", expr: "round(a) + round(h) * 10 + round(g) * 100", ref: (t) => tf.add(tf.add(tf.round(t.a), tf.mul(tf.round(t.h), 10)), tf.mul(tf.round(t.g), 100)) },
  { name: "leaky_relu", decl: A34, expr: "leaky_relu(a, a=0.1)", ref: (t) => tf.leakyRelu(t.a, 0.1) },
  { name: "elu", decl: A34, expr: "elu(a, a=0.7)", ref: (t) => tf.where(tf.greater(t.a, 0), t.a, tf.mul(0.7, tf.sub(tf.exp(t.a), 1))) },
  {
    name: "huber",
    decl: "param a: [3, 4] ~ uniform(-3, 3)",
    expr: "huber(a, delta=1.5)",
    ref: (t) => tf.where(tf.lessEqual(tf.abs(t.a), 1.5), tf.mul(0.5, tf.square(t.a)), tf.mul(1.5, tf.sub(tf.abs(t.a), 0.75))),
  },
  { name: "add, bias broadcast", decl: `${A34}\nparam c: [4] ~ uniform(-1, 1)`, expr: "a + c", ref: (t) => tf.add(t.a, t.c) },
  { name: "sub, column broadcast", decl: `${A34}\nparam c: [3, 1] ~ uniform(-1, 1)`, expr: "a - c", ref: (t) => tf.sub(t.a, t.c) },
  { name: "mul, outer broadcast", decl: "param a: [3, 1] ~ uniform(-2, 2)\nparam c: [1, 4] ~ uniform(-1, 1)", expr: "a * c", ref: (t) => tf.mul(t.a, t.c) },
  { name: "div", decl: `${A34}\nparam c: [4] ~ uniform(0.5, 2)`, expr: "a / c", ref: (t) => tf.div(t.a, t.c) },
  { name: "pow", decl: `${POS}\nparam c: [4] ~ uniform(0.5, 2)`, expr: "a ^ c", ref: (t) => tf.pow(t.a, t.c) },
  { name: "scalar param", decl: "param a: [] ~ uniform(-2, 2)\nparam c: [2, 3] ~ uniform(-1, 1)", expr: "a * c + a", ref: (t) => tf.add(tf.mul(t.a, t.c), t.a) },
  { name: "maximum, minimum", decl: `${A34}\nparam c: [4] ~ uniform(-1, 1)`, expr: "maximum(a, c) + minimum(a, c) * 10", ref: (t) => tf.add(tf.maximum(t.a, t.c), tf.mul(tf.minimum(t.a, t.c), 10)) },
  {
    name: "comparisons",
    decl: `${A34}\nparam c: [3, 4] ~ uniform(-2, 2)`,
    expr: "(a < c) + 2 * (a <= c) + 4 * (a > c) + 8 * (a >= c) + 16 * (a == a) + 32 * (a != c)",
    ref: (t) =>
      tf.addN([f(tf.less(t.a, t.c)), tf.mul(2, f(tf.lessEqual(t.a, t.c))), tf.mul(4, f(tf.greater(t.a, t.c))), tf.mul(8, f(tf.greaterEqual(t.a, t.c))), tf.mul(16, f(tf.equal(t.a, t.a))), tf.mul(32, f(tf.notEqual(t.a, t.c)))]),
  },
  { name: "where", decl: `${A34}\nparam c: [3, 4] ~ uniform(-2, 2)`, expr: "where(a > c, a * c, a + c)", ref: (t) => tf.where(tf.greater(t.a, t.c), tf.mul(t.a, t.c), tf.add(t.a, t.c)) },
  { name: "clip", decl: A34, expr: "clip(a, -1, 1)", ref: (t) => tf.clipByValue(t.a, -1, 1) },
  { name: "clip with tensor bounds", decl: `${A34}\nparam c: [4] ~ uniform(-0.5, 0.5)`, expr: "clip(a, c - 1, c + 1)", ref: (t) => tf.minimum(tf.maximum(t.a, tf.sub(t.c, 1)), tf.add(t.c, 1)) },
  { name: "stop_gradient, clip_grad", decl: A34, expr: "stop_gradient(a) * 2 + clip_grad(a, -1, 1)", ref: (t) => tf.mul(t.a, 3) },
  { name: "sum all", decl: A34, expr: "sum(a) * a", ref: (t) => tf.mul(tf.sum(t.a), t.a) },
  { name: "sum axis keepdims", decl: A34, expr: "sum(a, axis=1, keepdims=true) * a", ref: (t) => tf.mul(tf.sum(t.a, 1, true), t.a) },
  { name: "sum axis 0 of an expression", decl: A34, expr: "sum(a * a + 1, axis=0)", ref: (t) => tf.sum(tf.add(tf.mul(t.a, t.a), 1), 0) },
  { name: "mean axis 0", decl: A34, expr: "mean(a, axis=0)", ref: (t) => tf.mean(t.a, 0) },
  { name: "mean of a 3-D tensor's middle axis", decl: "param a: [2, 3, 4] ~ uniform(-2, 2)", expr: "mean(a, axis=1)", ref: (t) => tf.mean(t.a, 1) },
  { name: "max axis -1", decl: A34, expr: "max(a, axis=-1)", ref: (t) => tf.max(t.a, -1) },
  { name: "max axis 0 keepdims", decl: A34, expr: "max(a, axis=0, keepdims=true) - a", ref: (t) => tf.sub(tf.max(t.a, 0, true), t.a) },
  { name: "min all", decl: A34, expr: "min(a) * a", ref: (t) => tf.mul(tf.min(t.a), t.a) },
  { name: "logsumexp axis keepdims", decl: A34, expr: "logsumexp(a, axis=1, keepdims=true) + a", ref: (t) => tf.add(tf.logSumExp(t.a, 1, true), t.a) },
  { name: "logsumexp axis 0", decl: A34, expr: "logsumexp(a, axis=0)", ref: (t) => tf.logSumExp(t.a, 0) },
  { name: "argmax", decl: A34, expr: "argmax(a, axis=1)", ref: (t) => tf.argMax(t.a, 1), int: true },
  { name: "argmax axis 0", decl: A34, expr: "argmax(a, axis=0)", ref: (t) => tf.argMax(t.a, 0), int: true },
  { name: "matmul [M,K]@[K,N]", decl: `${A34}\nparam c: [4, 2] ~ uniform(-2, 2)`, expr: "a @ c", ref: (t) => tf.matMul(t.a as tf.Tensor2D, t.c as tf.Tensor2D) },
  { name: "matmul [K]@[K,N]", decl: "param a: [4] ~ uniform(-2, 2)\nparam c: [4, 2] ~ uniform(-2, 2)", expr: "a @ c", ref: (t) => tf.reshape(tf.matMul(tf.reshape(t.a, [1, 4]) as tf.Tensor2D, t.c as tf.Tensor2D), [2]) },
  { name: "matmul [M,K]@[K]", decl: `${A34}\nparam c: [4] ~ uniform(-2, 2)`, expr: "a @ c", ref: (t) => tf.reshape(tf.matMul(t.a as tf.Tensor2D, tf.reshape(t.c, [4, 1]) as tf.Tensor2D), [3]) },
  { name: "matmul of transposes", decl: "param a: [4, 3] ~ uniform(-2, 2)\nparam c: [2, 4] ~ uniform(-2, 2)", expr: "a.T @ c.T", ref: (t) => tf.matMul(t.a as tf.Tensor2D, t.c as tf.Tensor2D, true, true) },
  { name: "matmul of a slice", decl: `${A34}\nparam c: [3, 2] ~ uniform(-2, 2)`, expr: "a[:, 1:4].T @ c", ref: (t) => tf.matMul(tf.slice(t.a, [0, 1], [3, 3]) as tf.Tensor2D, t.c as tf.Tensor2D, true, false) },
  { name: "transpose", decl: A34, expr: "transpose(a) * 2", ref: (t) => tf.mul(tf.transpose(t.a), 2) },
  { name: "reshape", decl: A34, expr: "reshape(a, [2, 6]) * reshape(a.T, [6, 2]).T", ref: (t) => tf.mul(tf.reshape(t.a, [2, 6]), tf.transpose(tf.reshape(tf.transpose(t.a), [6, 2]))) },
  { name: "concat axis 1", decl: `${A34}\nparam c: [3, 2] ~ uniform(-2, 2)`, expr: "concat(a, c, axis=1)", ref: (t) => tf.concat([t.a, t.c], 1) },
  { name: "concat axis 0", decl: `${A34}\nparam c: [2, 4] ~ uniform(-2, 2)`, expr: "concat(a, c)", ref: (t) => tf.concat([t.a, t.c], 0) },
  { name: "slices and indices", decl: A34, expr: "a[:, 1:3] * a[0, 2:4] + a[2, 0]", ref: (t) => tf.add(tf.mul(tf.slice(t.a, [0, 1], [3, 2]), tf.slice(t.a, [0, 2], [1, 2])), tf.slice(t.a, [2, 0], [1, 1]).reshape([])) },
  { name: "a block slice", decl: A34, expr: "a[1:3, 0:2] * 3", ref: (t) => tf.mul(tf.slice(t.a, [1, 0], [2, 2]), 3) },
  { name: "zeros and ones", decl: A34, expr: "a * ones([3, 4]) + zeros([4]) + ones([1, 4])", ref: (t) => tf.add(t.a, 1) },
  { name: "softmax", decl: A34, expr: "softmax(a)", ref: (t) => tf.softmax(t.a) },
  { name: "softmax axis 0", decl: A34, expr: "softmax(a, axis=0)", ref: (t) => tf.transpose(tf.softmax(tf.transpose(t.a))) },
  { name: "log_softmax", decl: A34, expr: "log_softmax(a, axis=-1)", ref: (t) => tf.logSoftmax(t.a) },
  { name: "log_softmax axis 0", decl: A34, expr: "log_softmax(a, axis=0)", ref: (t) => tf.transpose(tf.logSoftmax(tf.transpose(t.a))) },
  { name: "cross_entropy", decl: `${A34}\n${LABELS}`, expr: "cross_entropy(a * 5, labels)", ref: (t) => tf.neg(tf.sum(tf.mul(tf.logSoftmax(tf.mul(t.a, 5)), tf.oneHot(t.labels as tf.Tensor1D, 4)), 1)) },
  { name: "pick", decl: `${A34}\n${LABELS}`, expr: "pick(a, labels)", ref: (t) => tf.sum(tf.mul(t.a, tf.oneHot(t.labels as tf.Tensor1D, 4)), 1) },
  { name: "one_hot", decl: `${A34}\n${LABELS}`, expr: "a * one_hot(labels, 4)", ref: (t) => tf.mul(t.a, tf.oneHot(t.labels as tf.Tensor1D, 4)) },
  { name: "argmax feeds pick", decl: A34, expr: "pick(a, argmax(a, axis=1))", ref: (t) => tf.max(t.a, 1) },
  { name: "mean over a symbolic dim", decl: "param a: [4] ~ uniform(-2, 2)\ndim B\ninput z: [B, 4] in [-1, 1]", expr: "mean(a * z, axis=0) + mean(z * a) + B", ref: (t) => tf.add(tf.add(tf.mean(tf.mul(t.a, t.z), 0), tf.mean(tf.mul(t.z, t.a))), t.z.shape[0]) },
  {
    name: "loop with carried state and a running sum",
    decl: "param a: [3, 3] ~ uniform(-0.8, 0.8)\nparam c: [2, 3] ~ uniform(-1, 1)\ninput xs: [4, 2, 2] in [-1, 1]",
    pre: "h = zeros([2, 3])\ns = 0\nfor t in 0..4 {\n  h = tanh(h @ a + xs[t] @ c)\n  s = s + sum(h * h)\n}",
    expr: "h * s",
    ref: (t) => {
      let h: tf.Tensor = tf.zeros([2, 3]);
      let s: tf.Tensor = tf.scalar(0);
      const xs = tf.unstack(t.xs);
      for (let k = 0; k < 4; k++) {
        h = tf.tanh(tf.add(tf.matMul(h as tf.Tensor2D, t.a as tf.Tensor2D), tf.matMul(xs[k] as tf.Tensor2D, t.c as tf.Tensor2D)));
        s = tf.add(s, tf.sum(tf.mul(h, h)));
      }
      return tf.mul(h, s);
    },
  },
  {
    name: "nested loops",
    decl: "param a: [3] ~ uniform(-1, 1)\ninput xs: [4, 3] in [-1, 1]",
    pre: "s = zeros([3])\nfor t in 0..3 {\n  for u in 0..4 {\n    s = s * 0.5 + xs[u] * a\n  }\n}",
    expr: "s",
    ref: (t) => {
      let s: tf.Tensor = tf.zeros([3]);
      const xs = tf.unstack(t.xs);
      for (let k = 0; k < 3; k++) for (let u = 0; u < 4; u++) s = tf.add(tf.mul(s, 0.5), tf.mul(xs[u], t.a));
      return s;
    },
  },
];

/**
 * All rows compiled as one model (compiling is the slow part): row k's names
 * get a suffix `_k` and its result is output `r_k`.
 */
function opTableSource(): { source: string; rename: Map<string, string>[] } {
  const lines = ["dim B"];
  const outs: string[] = [];
  const rename = OP_ROWS.map((row, k) => {
    const names = [...`${row.decl}\n${row.pre ?? ""}`.matchAll(/^\s*(?:param|input)?\s*([A-Za-z_]\w*)\s*[:=]/gm)].map((m) => m[1]);
    const map = new Map(names.filter((n) => n !== "dim").map((n) => [n, `${n}_${k}`]));
    const sub = (text: string): string =>
      text
        .replace(/\b([A-Za-z_]\w*)\b(?!\s*=[^=])/g, (w) => map.get(w) ?? w)
        .replace(/^(\s*)([A-Za-z_]\w*)(\s*=[^=])/gm, (_m, sp: string, w: string, eq: string) => `${sp}${map.get(w) ?? w}${eq}`)
        .replace(/^dim B$/m, "");
    lines.push(sub(row.decl), sub(row.pre ?? ""), `r_${k} = ${sub(row.expr)}`);
    outs.push(`r_${k}`);
    return map;
  });
  lines.push(`output ${outs.join(", ")}`, "minimize sum(a_0)");
  return { source: lines.filter((l) => l.trim()).join("\n") + "\n", rename };
}

describe("every op's forward kernel vs TF.js", () => {
  let out: Record<string, number | Arr>;
  let tensors: Record<string, tf.Tensor>;
  beforeAll(() => {
    const params = ops.mod.init(11);
    const inputs = makeInputs(ops.mod, { B: 3 }, 12, { intHi: Object.fromEntries(OP_ROWS.map((_r, k) => [`labels_${k}`, 4])) });
    out = ops.mod.forward(params, inputs);
    tensors = {};
    for (const [k, v] of Object.entries(params)) tensors[k] = tf.tensor(Float32Array.from(v), ops.mod.model.params[k].shape as number[]);
    for (const [k, v] of Object.entries(inputs)) {
      const shape = ops.mod.model.inputs[k].shape.map((d) => (typeof d === "string" ? 3 : d));
      tensors[k] = v instanceof Int32Array ? tf.tensor(v, shape, "int32") : tf.tensor(Float32Array.from(v), shape);
    }
  });

  const { rename } = opTableSource();
  it.each(OP_ROWS.map((r, k) => [r.name, r, k] as const))("%s", (_n, row, k) => {
    const t = Object.fromEntries([...rename[k]].filter(([, to]) => tensors[to]).map(([from, to]) => [from, tensors[to]]));
    const ref = row.ref(t);
    const got = out[`r_${k}`];
    const vals = typeof got === "number" ? [got] : Array.from(got);
    if (row.int) {
      expect(got).toBeInstanceOf(Int32Array);
      expect(vals).toEqual(Array.from(ref.dataSync()));
    } else expect(relErr(vals, ref.dataSync())).toBeLessThan(2e-6);
  });
});

// ---- graphs built directly: ops only the backward pass makes --------------------------

function graph(b: Builder, inputs: Node[], params: Node[], outputs: Record<string, Node>, loss: Node): Graph {
  return { name: "built", file: "built.bp", source: "", dims: [{ name: "B", value: null, span: loss.span }], inputs, params, nodes: b.nodes, outputs: Object.entries(outputs).map(([name, node]) => ({ name, node })), loss, grads: [] };
}

function sourceNode(b: Builder, kind: "input" | "param", name: string, shape: (number | string)[], dtype: "float" | "int" = "float"): Node {
  const attrs: Record<string, AttrValue> = kind === "param" ? { name, init: "uniform", initArgs: [-1, 1] } : { name, dtype };
  const n = b.source(kind, attrs, shape, dtype);
  n.name = name;
  return n;
}

/** A loop over `count` steps whose body is built by `body(index, carried)`, returning results and tape. */
function loop(b: Builder, count: number, init: Node[], attrs: { start?: number; reverse?: boolean }, body: (t: Node, c: Node[]) => { results: Node[]; tape?: Node[] }): Node {
  b.pushScope();
  const index = b.source("loop_index", { start: attrs.start ?? 0 }, [], "int");
  index.name = "t";
  const carried = init.map((x, k) => b.source("carry", { k, dtype: x.dtype }, x.shape, x.dtype));
  const r = body(index, carried);
  const nodes = b.popScope();
  return b.loop(count, init, { index, carried, nodes, results: r.results, tape: r.tape ?? [] }, { start: attrs.start ?? 0, reverse: attrs.reverse ?? false });
}

/** acc[t] += xs[t] * w over a reverse loop: index_add in place. */
function indexAddGraph(): Graph {
  const b = new Builder();
  const xs = sourceNode(b, "input", "xs", [4, "B"]);
  const w = sourceNode(b, "param", "w", [1]);
  const zero = b.op("full", [], { shape: [4, "B"], value: 0 });
  const l = loop(b, 4, [zero], { reverse: true }, (t, [acc]) => {
    const row = b.op("index", [xs, t]);
    const scaled = b.op("mul", [row, b.op("broadcast_to", [w], { shape: ["B"] })]);
    return { results: [b.op("index_add", [acc, scaled, t])] };
  });
  const acc = b.op("loop_out", [l], { k: 0 });
  const cols = b.op("sum_to", [acc], { shape: [1, "B"] });
  const loss = b.op("sum", [acc], { axes: [0, 1], keepdims: false });
  return graph(b, [xs], [w], { acc, cols }, loss);
}

describe("kernels the backward pass uses", () => {
  it("index_add accumulates rows in place over a reverse loop; sum_to, broadcast_to", () => {
    const { mod, ts: text } = indexAdd;
    expect(text).toMatch(/for \(let t = 3; t >= 0; t--\)/);
    expect(text).not.toMatch(/index_add/); // in place: no buffer of its own
    const x = Float64Array.from({ length: 8 }, (_, k) => k + 1);
    const out = mod.forward({ w: Float64Array.from([2]) }, { xs: x });
    expect(Array.from(out.acc as Float64Array)).toEqual(Array.from(x, (v) => 2 * v));
    expect(Array.from(out.cols as Float64Array)).toEqual([2 * (1 + 3 + 5 + 7), 2 * (2 + 4 + 6 + 8)]);
  });

  it("a loop that swaps its carried values stages them; tape rows are per step", async () => {
    const b = new Builder();
    const x = sourceNode(b, "input", "x", [2]);
    const y = sourceNode(b, "input", "y", [2]);
    const w = sourceNode(b, "param", "w", [1]);
    const l = loop(b, 3, [x, y], { start: 1 }, (_t, [p, q]) => {
      const twice = b.op("mul", [q, b.const(2)]);
      return { results: [twice, p], tape: [p] };
    });
    const p = b.op("loop_out", [l], { k: 0 });
    const q = b.op("loop_out", [l], { k: 1 });
    const tape = b.op("loop_tape", [l], { k: 0 });
    const loss = b.op("sum", [w], { axes: [0], keepdims: false });
    const { mod } = await buildGraph(graph(b, [x, y], [w], { p, q, tape }, loss));
    const out = mod.forward({ w: new Float64Array(1) }, { x: Float64Array.from([1, 2]), y: Float64Array.from([3, 4]) });
    // (p, q): (x, y) -> (2y, x) -> (2x, 2y) -> (4y, 2x)
    expect(Array.from(out.p as Float64Array)).toEqual([12, 16]);
    expect(Array.from(out.q as Float64Array)).toEqual([2, 4]);
    expect(Array.from(out.tape as Float64Array)).toEqual([1, 2, 6, 8, 2, 4]);
  });

  it("first_extreme_mask and argmax pick the first of tied elements", async () => {
    const b = new Builder();
    const x = sourceNode(b, "input", "x", ["B", 3]);
    const w = sourceNode(b, "param", "w", [1]);
    const maxMask = b.op("first_extreme_mask", [x], { axes: [1], mode: "max" });
    const minMask = b.op("first_extreme_mask", [x], { axes: [0], mode: "min" });
    const arg = b.op("argmax", [x], { axes: [1] });
    const loss = b.op("sum", [w], { axes: [0], keepdims: false });
    const { mod } = await buildGraph(graph(b, [x], [w], { maxMask, minMask, arg }, loss));
    const out = mod.forward({ w: new Float64Array(1) }, { x: Float64Array.from([1, 3, 3, 2, 2, 1]) });
    expect(Array.from(out.maxMask as Float64Array)).toEqual([0, 1, 0, 1, 0, 0]);
    expect(Array.from(out.minMask as Float64Array)).toEqual([1, 0, 0, 0, 1, 1]);
    expect(Array.from(out.arg as Int32Array)).toEqual([1, 0]);
  });

  it("unslice and unindex place a value into zeros", async () => {
    const b = new Builder();
    const x = sourceNode(b, "input", "x", [2, 2]);
    const k = sourceNode(b, "input", "k", [], "int");
    const w = sourceNode(b, "param", "w", [1]);
    const un = b.op("unslice", [x], { starts: [1, 0], ends: [3, 2], drop: [], shape: [3, 3] });
    const ui = b.op("unindex", [x, k], { n: 3 });
    const loss = b.op("sum", [w], { axes: [0], keepdims: false });
    const { mod } = await buildGraph(graph(b, [x, k], [w], { un, ui }, loss));
    const out = mod.forward({ w: new Float64Array(1) }, { x: Float64Array.from([1, 2, 3, 4]), k: Int32Array.from([2]) });
    expect(Array.from(out.un as Float64Array)).toEqual([0, 0, 0, 1, 2, 0, 3, 4, 0]);
    expect(Array.from(out.ui as Float64Array)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    expect(() => mod.forward({ w: new Float64Array(1) }, { x: new Float64Array(4), k: Int32Array.from([3]) })).toThrow(/index 3 is out of range \[0, 3\)/);
  });
});
