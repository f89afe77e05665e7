import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  adam,
  batches,
  gather,
  gatherLabels,
  lineChartSvg,
  loadMnist,
  MNIST_PIXELS,
  progressBar,
  rng,
  sgd,
  shuffle,
  splitTrainTest,
  type ParamSet,
  type ProgressStream,
} from "../../src/train/index.js";

const f64 = (...v: number[]) => Float64Array.from(v);

describe("sgd", () => {
  it("plain steps: p -= lr * g", () => {
    const params = { w: f64(1, -2) };
    const opt = sgd({ lr: 0.1 });
    opt.step(params, { w: f64(0.5, -1) });
    expect([...params.w]).toEqual([expect.closeTo(0.95, 12), expect.closeTo(-1.9, 12)]);
    opt.step(params, { w: f64(1, 2) });
    expect([...params.w]).toEqual([expect.closeTo(0.85, 12), expect.closeTo(-2.1, 12)]);
  });

  it("momentum over three steps: v = mu*v + g; p -= lr*v", () => {
    const params = { w: f64(1) };
    const opt = sgd({ lr: 0.1, momentum: 0.9 });
    opt.step(params, { w: f64(1) }); // v = 1,                 p = 1 - 0.1
    expect(params.w[0]).toBeCloseTo(0.9, 12);
    opt.step(params, { w: f64(1) }); // v = 0.9 + 1 = 1.9,     p = 0.9 - 0.19
    expect(params.w[0]).toBeCloseTo(0.71, 12);
    opt.step(params, { w: f64(-2) }); // v = 1.71 - 2 = -0.29, p = 0.71 + 0.029
    expect(params.w[0]).toBeCloseTo(0.739, 12);
  });

  it("weight decay adds wd*p to the gradient, before momentum", () => {
    const params = { w: f64(2) };
    const opt = sgd({ lr: 0.5, momentum: 0.5, weightDecay: 0.1 });
    opt.step(params, { w: f64(1) }); // g' = 1 + 0.2 = 1.2, v = 1.2, p = 2 - 0.6
    expect(params.w[0]).toBeCloseTo(1.4, 12);
    opt.step(params, { w: f64(0) }); // g' = 0.14, v = 0.6 + 0.14 = 0.74, p = 1.4 - 0.37
    expect(params.w[0]).toBeCloseTo(1.03, 12);
  });

  it("updates Float32Array params and follows a changed lr", () => {
    const params = { a: Float32Array.from([1, 2]), b: Float32Array.from([3]) };
    const opt = sgd({ lr: 1 });
    opt.lr = 0.5;
    opt.step(params, { a: Float32Array.from([2, 2]), b: Float32Array.from([-2]), xGrad: new Float32Array(7) });
    expect([...params.a]).toEqual([0, 1]);
    expect([...params.b]).toEqual([4]);
  });

  it("rejects a missing or mis-sized gradient without touching any parameter", () => {
    const params = { a: f64(1, 2), b: f64(3) };
    const opt = sgd({ lr: 0.1, momentum: 0.9 });
    expect(() => opt.step(params, { a: f64(1, 1) })).toThrow(/no gradient for parameter "b"/);
    expect(() => opt.step(params, { a: f64(1, 1), b: f64(1, 1) })).toThrow(
      /"b" has length 2, but the parameter has length 1/,
    );
    expect([...params.a, ...params.b]).toEqual([1, 2, 3]);
    expect(() => sgd({ lr: -1 })).toThrow(/lr/);
    expect(() => sgd({ lr: 0.1, momentum: 1 })).toThrow(/momentum/);
  });
});

describe("adam", () => {
  it("matches two hand-computed steps with bias correction", () => {
    const params = { w: f64(1, -0.5) };
    const opt = adam({ lr: 0.1 });
    // Step 1, g = 2: m = 0.1*2 = 0.2, v = 0.001*4 = 0.004;
    // m^ = 0.2/(1-0.9) = 2, v^ = 0.004/(1-0.999) = 4; p -= 0.1 * 2/(2 + 1e-8).
    // The second element has g = 0, so m = 0 and it does not move.
    opt.step(params, { w: f64(2, 0) });
    expect(params.w[0]).toBeCloseTo(1 - 0.2 / (2 + 1e-8), 14);
    expect(params.w[1]).toBe(-0.5);
    // Step 2, g = -1: m = 0.9*0.2 - 0.1 = 0.08, v = 0.999*0.004 + 0.001 = 0.004996;
    // m^ = 0.08/(1-0.81), v^ = 0.004996/(1-0.998001); p -= 0.1 * m^/(sqrt(v^) + 1e-8).
    opt.step(params, { w: f64(-1, 0) });
    const mHat = 0.08 / 0.19;
    const vHat = 0.004996 / 0.001999;
    expect(params.w[0]).toBeCloseTo(0.9000000005 - (0.1 * mHat) / (Math.sqrt(vHat) + 1e-8), 12);
    expect(params.w[0]).toBeCloseTo(0.8733662967, 9);
  });

  it("moves each element by about lr on the first step, whatever the gradient scale", () => {
    const params: ParamSet = { w: new Float32Array([0, 0, 0]) };
    adam({ lr: 0.01 }).step(params, { w: Float32Array.from([1e-3, -50, 7]) });
    expect([...params.w].map((v) => Number(v.toFixed(6)))).toEqual([-0.01, 0.01, -0.01]);
  });

  it("rejects a wrong-length gradient", () => {
    expect(() => adam().step({ w: f64(1, 2) }, { w: f64(1) })).toThrow(/adam\.step: gradient for "w" has length 1/);
  });
});

describe("data", () => {
  it("rng is deterministic per seed and uniform-ish in [0, 1)", () => {
    const a = rng(42),
      b = rng(42),
      c = rng(43);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    expect(c()).not.toBe(xs[0]);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
  });

  it("shuffle is a seeded permutation", () => {
    const base = Array.from({ length: 50 }, (_, i) => i);
    const s1 = shuffle([...base], 7);
    expect(shuffle([...base], 7)).toEqual(s1);
    expect(shuffle([...base], 8)).not.toEqual(s1);
    expect([...s1].sort((x, y) => x - y)).toEqual(base);
    expect(s1).not.toEqual(base);
  });

  it("batches cover every index once per epoch, reproducibly per (seed, epoch)", () => {
    const collect = (seed: number, epoch: number, dropLast = false) =>
      [...batches({ n: 103, batchSize: 10, seed, epoch, dropLast })].map((b) => [...b]);
    const e0 = collect(1, 0);
    expect(e0).toEqual(collect(1, 0));
    expect(e0.map((b) => b.length)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    expect(e0.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect(collect(1, 1)).not.toEqual(e0);
    expect(collect(2, 0)).not.toEqual(e0);
    const dropped = collect(1, 0, true);
    expect(dropped).toEqual(e0.slice(0, 10));
    const plan = batches({ n: 103, batchSize: 10, seed: 1 });
    expect(plan.count).toBe(11);
    expect([...plan].map((b) => [...b])).toEqual([...plan].map((b) => [...b]));
    expect(() => batches({ n: 10, batchSize: 0, seed: 1 })).toThrow(/batchSize/);
  });

  it("gather copies rows into a reusable buffer, sized to the batch", () => {
    const src = Float32Array.from({ length: 12 }, (_, i) => i); // 4 rows of 3
    const buf = new Float32Array(9);
    const got = gather(src, 3, [2, 0], buf);
    expect([...got]).toEqual([6, 7, 8, 0, 1, 2]);
    expect(got.buffer).toBe(buf.buffer);
    expect([...gather(src, 3, Int32Array.from([3]))]).toEqual([9, 10, 11]);
    expect(() => gather(src, 3, [4])).toThrow(/index 4 at position 0 is out of range for 4 rows/);
    expect(() => gather(src, 3, [0, 1, 2, 3], buf)).toThrow(/length 9, needs at least 12/);
    expect(() => gather(src, 5, [0])).toThrow(/rowSize/);
    const labels = Int32Array.from([5, 6, 7]);
    expect([...gatherLabels(labels, [2, 2, 0], new Int32Array(4))]).toEqual([7, 7, 5]);
    expect(() => gatherLabels(labels, [-1])).toThrow(/out of range/);
  });
});

/** Element-wise equality; expect().toEqual is very slow on million-element typed arrays. */
function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe("mnist", () => {
  // Per-class counts in the package, as documented in src/train/mnist.ts.
  const COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

  it("loads 10,000 labelled digits quickly, raw bytes 0..255", () => {
    const t0 = performance.now();
    const raw = loadMnist({ scale: "raw255" });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(raw.n).toBe(10_000);
    expect(raw.images.length).toBe(10_000 * MNIST_PIXELS);
    const counts = new Array(10).fill(0);
    for (const l of raw.labels) counts[l]++;
    expect(counts).toEqual(COUNTS);
    let min = Infinity,
      max = -Infinity;
    for (const v of raw.images) {
      if (!Number.isInteger(v)) throw new Error(`non-integer raw pixel ${v}`);
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect([min, max]).toEqual([0, 255]);
  });

  it("unit scale is raw/255 and agrees with the package's own 3-decimal floats", () => {
    const raw = loadMnist({ scale: "raw255" });
    const unit = loadMnist();
    expect(
      sameValues(
        unit.images,
        raw.images.map((v) => v / 255),
      ),
    ).toBe(true);
    // Cross-check one class file against a plain JSON.parse of the package data.
    const root = dirname(createRequire(import.meta.url).resolve("mnist/package.json"));
    const five: number[] = JSON.parse(readFileSync(join(root, "src", "digits", "5.json"), "utf8")).data;
    const offset = COUNTS.slice(0, 5).reduce((a, b) => a + b, 0) * MNIST_PIXELS;
    expect(five.length).toBe(863 * MNIST_PIXELS);
    for (let i = 0; i < five.length; i++) {
      if (Math.round((raw.images[offset + i] / 255) * 1000) / 1000 !== five[i])
        throw new Error(`pixel ${i} of class 5 differs`);
    }
    expect(unit.labels[offset / MNIST_PIXELS]).toBe(5);
  });

  it("splitTrainTest is deterministic per seed and disjoint", () => {
    const data = loadMnist();
    const a = splitTrainTest(data, 0.2, 123);
    const b = splitTrainTest(data, 0.2, 123);
    const c = splitTrainTest(data, 0.2, 124);
    expect([a.train.n, a.test.n]).toEqual([8000, 2000]);
    expect(a.testIndices).toEqual(b.testIndices);
    expect(sameValues(a.test.images, b.test.images)).toBe(true);
    expect(c.testIndices).not.toEqual(a.testIndices);
    const seen = new Set([...a.trainIndices, ...a.testIndices]);
    expect(seen.size).toBe(10_000);
    // The split's rows really are the source rows it names.
    const k = 17,
      src = a.testIndices[k];
    expect(a.test.labels[k]).toBe(data.labels[src]);
    const row = (d: Float32Array, i: number) => d.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS);
    expect(sameValues(row(a.test.images, k), row(data.images, src))).toBe(true);
  });
});

/** A fake stream recording writes, with a controllable clock. */
function recorder(isTTY: boolean): ProgressStream & { text: string } {
  return {
    isTTY,
    columns: 120,
    text: "",
    write(s: string) {
      this.text += s;
    },
  };
}

describe("progressBar", () => {
  it("prints a plain line every 10 % off a TTY", () => {
    const stream = recorder(false);
    let clock = 0;
    const bar = progressBar({ total: 100, epoch: 2, epochs: 3, stream, now: () => clock });
    for (let i = 0; i < 100; i++) {
      clock += 10; // 10 ms per step of 50 examples: 5,000 ex/s
      bar.tick(2, 50);
    }
    bar.done();
    const lines = stream.text.trimEnd().split("\n");
    expect(lines).toHaveLength(10);
    expect(lines[0]).toMatch(/^epoch 2\/3 +10\/100 \( 10%\) +loss 2\.0000 +5,000 ex\/s/);
    expect(lines[9]).toContain("100/100 (100%)");
    expect(stream.text).not.toContain("\r");
    expect(bar.smoothedLoss).toBeCloseTo(2, 12);
  });

  it("redraws in place on a TTY and ends the line on done", () => {
    const stream = recorder(true);
    let clock = 0;
    const bar = progressBar({ total: 5, stream, now: () => clock });
    for (let i = 0; i < 5; i++) {
      clock += 100;
      bar.tick(i === 4 ? NaN : 1, 8);
    }
    bar.done();
    expect(stream.text.startsWith("\r")).toBe(true);
    expect(stream.text.endsWith("\n")).toBe(true);
    expect(stream.text.split("\r").length - 1).toBeGreaterThanOrEqual(5);
    expect(stream.text).toContain("5/5");
    expect(stream.text).toContain("NaN"); // a diverged batch is shown, not averaged away
    expect(bar.smoothedLoss).toBeCloseTo(1, 12);
  });
});

/** Minimal well-formedness check: tags balance and no stray markup characters in text. */
function checkWellFormed(svg: string): string[] {
  const stack: string[] = [];
  const names: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(svg); m !== null; m = tag.exec(svg)) {
    const text = svg.slice(last, m.index);
    if (/[<>]/.test(text) || /&(?!(amp|lt|gt|quot|apos);)/.test(text)) throw new Error(`bad text: ${text}`);
    for (const [, value] of m[3].matchAll(/="([^"]*)"/g)) {
      if (/[<>]/.test(value) || /&(?!(amp|lt|gt|quot|apos);)/.test(value)) throw new Error(`bad attribute: ${value}`);
    }
    last = tag.lastIndex;
    const [, close, name, , selfClose] = m;
    names.push(name);
    if (close) {
      if (stack.pop() !== name) throw new Error(`unbalanced </${name}>`);
    } else if (!selfClose) stack.push(name);
  }
  if (svg.slice(last).trim() !== "") throw new Error("trailing garbage");
  if (stack.length > 0) throw new Error(`unclosed ${stack.join(", ")}`);
  return names;
}

describe("lineChartSvg", () => {
  const series = [
    {
      name: `train <loss> & "more"`,
      points: Array.from({ length: 20 }, (_, i) => [i, 2 / (i + 1)] as [number, number]),
    },
    {
      name: "test's",
      points: [
        [0, 2.1],
        [10, NaN],
        [19, 0.3],
      ] as [number, number][],
      color: "#123456",
    },
  ];

  it("is well-formed, escapes names and draws one path per series", () => {
    const svg = lineChartSvg({ title: "Loss & accuracy", xLabel: "step", yLabel: "loss <nats>", series });
    const names = checkWellFormed(svg);
    expect(names[0]).toBe("svg");
    expect(names.filter((n) => n === "path")).toHaveLength(4); // opening and closing tags
    expect(svg).toContain("train &lt;loss&gt; &amp; &quot;more&quot;");
    expect(svg).toContain("test&apos;s");
    expect(svg).toContain("Loss &amp; accuracy");
    expect(svg).toContain("loss &lt;nats&gt;");
    expect(svg).toContain('stroke="#123456"');
    // The NaN point splits the second series into two lone points, each drawn as a dot.
    const d = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]);
    expect(d[1]).toMatch(/^M[\d.]+ [\d.]+ h0 M[\d.]+ [\d.]+ h0$/);
  });

  it("uses round tick values on linear and log axes", () => {
    const labels = (svg: string) => [...svg.matchAll(/text-anchor="end"[^>]*>([^<]*)</g)].map((m) => m[1]);
    const lin = lineChartSvg({
      title: "t",
      xLabel: "x",
      yLabel: "y",
      series: [
        {
          name: "s",
          points: [
            [0, 0.03],
            [1, 0.29],
          ],
        },
      ],
    });
    expect(labels(lin)).toEqual(["0", "0.05", "0.10", "0.15", "0.20", "0.25", "0.30"]);
    const log = lineChartSvg({ title: "t", xLabel: "x", yLabel: "y", logY: true, series });
    checkWellFormed(log);
    expect(labels(log)).toEqual(["0.1", "0.2", "0.5", "1", "2", "5", "10"]);
  });

  it("handles empty input", () => {
    checkWellFormed(lineChartSvg({ title: "", xLabel: "", yLabel: "", series: [] }));
    checkWellFormed(
      lineChartSvg({ title: "t", xLabel: "x", yLabel: "y", series: [{ name: "one", points: [[3, 3]] }] }),
    );
  });
});

describe("end to end: a 2-layer softmax classifier trained with sgd", () => {
  const H = 32,
    K = 10;

  /** Mean cross-entropy of a 784-H-10 ReLU MLP, and its gradients (plain loops). */
  function backward(
    p: { W1: Float32Array; b1: Float32Array; W2: Float32Array; b2: Float32Array },
    x: Float32Array,
    y: Int32Array,
  ) {
    const B = y.length;
    const g = {
      W1: new Float32Array(p.W1.length),
      b1: new Float32Array(H),
      W2: new Float32Array(p.W2.length),
      b2: new Float32Array(K),
    };
    const h = new Float32Array(H),
      probs = new Float64Array(K),
      dh = new Float32Array(H);
    let loss = 0;
    for (let n = 0; n < B; n++) {
      const xn = x.subarray(n * MNIST_PIXELS, (n + 1) * MNIST_PIXELS);
      for (let j = 0; j < H; j++) {
        let s = p.b1[j];
        for (let i = 0; i < MNIST_PIXELS; i++) s += xn[i] * p.W1[i * H + j];
        h[j] = Math.max(0, s);
      }
      let maxZ = -Infinity;
      for (let k = 0; k < K; k++) {
        let s = p.b2[k];
        for (let j = 0; j < H; j++) s += h[j] * p.W2[j * K + k];
        probs[k] = s;
        maxZ = Math.max(maxZ, s);
      }
      let sum = 0;
      for (let k = 0; k < K; k++) sum += probs[k] = Math.exp(probs[k] - maxZ);
      for (let k = 0; k < K; k++) probs[k] /= sum;
      loss -= Math.log(probs[y[n]]);
      // dL/dz = (softmax - onehot) / B, then back through W2 and the ReLU.
      dh.fill(0);
      for (let k = 0; k < K; k++) {
        const dz = (probs[k] - (k === y[n] ? 1 : 0)) / B;
        g.b2[k] += dz;
        for (let j = 0; j < H; j++) {
          g.W2[j * K + k] += h[j] * dz;
          dh[j] += p.W2[j * K + k] * dz;
        }
      }
      for (let j = 0; j < H; j++) {
        if (h[j] <= 0) continue;
        g.b1[j] += dh[j];
        for (let i = 0; i < MNIST_PIXELS; i++) g.W1[i * H + j] += xn[i] * dh[j];
      }
    }
    return { loss: loss / B, grads: g };
  }

  it("one epoch over 500 digits lowers the loss", () => {
    const data = loadMnist();
    const { test: few } = splitTrainTest(data, 500 / data.n, 2024);
    const r = rng(1);
    const uniform = (n: number, a: number) => Float32Array.from({ length: n }, () => (2 * r() - 1) * a);
    const params = {
      W1: uniform(MNIST_PIXELS * H, Math.sqrt(6 / MNIST_PIXELS)),
      b1: new Float32Array(H),
      W2: uniform(H * K, Math.sqrt(6 / H)),
      b2: new Float32Array(K),
    };
    const before = backward(params, few.images, few.labels).loss;
    const opt = sgd({ lr: 0.1, momentum: 0.9 });
    const xBuf = new Float32Array(20 * MNIST_PIXELS),
      yBuf = new Int32Array(20);
    const losses: number[] = [];
    for (const idx of batches({ n: few.n, batchSize: 20, seed: 5 })) {
      const x = gather(few.images, MNIST_PIXELS, idx, xBuf);
      const y = gatherLabels(few.labels, idx, yBuf);
      const { loss, grads } = backward(params, x, y);
      losses.push(loss);
      opt.step(params, grads);
    }
    const after = backward(params, few.images, few.labels).loss;
    expect(losses).toHaveLength(25);
    expect(before).toBeGreaterThan(1.5);
    expect(after).toBeLessThan(0.6 * before);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)));
  });
});
