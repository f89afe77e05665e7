// A 2-layer stacked LSTM written as nested loops (time outside, layers
// inside, per-layer weights Wx[l], a cell def returning h and c) against the
// same model unrolled in TF.js: the compiled f32 module's loss, logits and
// every gradient (params and the input sequence) must equal TF.js autograd.
// Metric as tests/module/tfjs-oracle.test.ts: max |ours - tf| over
// max(max |tf|, 1e-3), at most 1e-4.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { compileSource } from "../helpers/compile.js";

const [B, T, L, H, C] = [3, 6, 2, 4, 5];
const G = 4 * H;

const SOURCE = `dim B = ${B}
dim T
dim L = ${L}
dim H = ${H}
dim G = ${G}
dim BH = ${B * H}
dim C = ${C}
input xs: [T, B, H] ~ normal(0, 1)
input y: int[B] in [0, C)
param Wx: [L, H, G] ~ xavier
param Wh: [L, H, G] ~ xavier
param b: [L, G] ~ normal(0, 0.1)
param Wy: [H, C] ~ xavier
param by: [C] ~ zeros

def cell(x, h, c, l) {
  z = x @ Wx[l] + h @ Wh[l] + b[l]
  c = sigmoid(z[:, ${H}:${2 * H}] + 1) * c + sigmoid(z[:, 0:${H}]) * tanh(z[:, ${3 * H}:${G}])
  return sigmoid(z[:, ${2 * H}:${3 * H}]) * tanh(c), c
}

hs = zeros([L, BH])
cs = zeros([L, BH])
for t in 0..T {
  x = xs[t]
  for l in 0..L {
    h, c = cell(x, reshape(hs[l], [B, H]), reshape(cs[l], [B, H]), l)
    m = reshape(one_hot(l, L), [L, 1])
    hs = hs * (1 - m) + m * reshape(h, [1, BH])
    cs = cs * (1 - m) + m * reshape(c, [1, BH])
    x = h
  }
}
logits = reshape(hs[${L - 1}], [B, H]) @ Wy + by
output logits
minimize mean(cross_entropy(logits, y))
`;

type P = Record<string, tf.Tensor>;

/** The same model, unrolled over time and layers. */
function tfModel(p: P, xs: tf.Tensor, y: tf.Tensor): { loss: tf.Scalar; logits: tf.Tensor } {
  const cols = (z: tf.Tensor, lo: number, hi: number): tf.Tensor => tf.slice(z, [0, lo], [-1, hi - lo]);
  const layer = (w: tf.Tensor, l: number): tf.Tensor2D =>
    tf.squeeze(tf.slice(w, [l, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D;
  const hs: tf.Tensor[] = Array.from({ length: L }, () => tf.zeros([B, H]));
  const cs: tf.Tensor[] = Array.from({ length: L }, () => tf.zeros([B, H]));
  const steps = tf.unstack(xs);
  for (let t = 0; t < T; t++) {
    let x = steps[t];
    for (let l = 0; l < L; l++) {
      const bl = tf.squeeze(tf.slice(p.b, [l, 0], [1, -1]), [0]);
      const z = tf.add(
        tf.add(tf.matMul(x as tf.Tensor2D, layer(p.Wx, l)), tf.matMul(hs[l] as tf.Tensor2D, layer(p.Wh, l))),
        bl,
      );
      const i = tf.sigmoid(cols(z, 0, H));
      const f = tf.sigmoid(tf.add(cols(z, H, 2 * H), 1));
      const o = tf.sigmoid(cols(z, 2 * H, 3 * H));
      const g = tf.tanh(cols(z, 3 * H, G));
      cs[l] = tf.add(tf.mul(f, cs[l]), tf.mul(i, g));
      hs[l] = tf.mul(o, tf.tanh(cs[l]));
      x = hs[l];
    }
  }
  const logits = tf.add(tf.matMul(hs[L - 1] as tf.Tensor2D, p.Wy as tf.Tensor2D), p.by);
  const ce = tf.neg(tf.sum(tf.mul(tf.oneHot(y as tf.Tensor1D, C), tf.logSoftmax(logits, -1)), -1));
  return { loss: tf.mean(ce) as tf.Scalar, logits };
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 1e-3;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(a[i])) return Infinity;
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("a 2-layer stacked LSTM as nested loops agrees with TF.js unrolled", () => {
  for (const emit of ["ts", "js"] as const) {
    it(`forward, loss and every gradient (${emit})`, async () => {
      const { mod } = await compileSource(SOURCE, { precision: "f32", inputGrads: ["xs"], file: "lstm2.bp", emit });
      const params = mod.init(7) as Record<string, Float32Array>;
      const xs = Float32Array.from({ length: T * B * H }, (_, i) => Math.sin(1.3 * i) * 1.5);
      const y = Int32Array.from({ length: B }, (_, i) => (2 * i + 1) % C);
      const fwd = mod.forward(params, { xs, y });
      const bwd = mod.backward(params, { xs, y });

      const shapes: Record<string, number[]> = { Wx: [L, H, G], Wh: [L, H, G], b: [L, G], Wy: [H, C], by: [C] };
      const ref = tf.tidy(() => {
        const p: P = {};
        for (const [k, s] of Object.entries(shapes)) p[k] = tf.tensor(params[k], s);
        const xT = tf.tensor(xs, [T, B, H]);
        const yT = tf.tensor(y, [B], "int32");
        const names = [...Object.keys(shapes), "xs"];
        const f = (...args: tf.Tensor[]): tf.Scalar => {
          const q: P = {};
          Object.keys(shapes).forEach((k, i) => (q[k] = args[i]));
          return tfModel(q, args[args.length - 1], yT).loss;
        };
        const { value, grads } = tf.valueAndGrads(f)([...Object.keys(shapes).map((k) => p[k]), xT]);
        const g: Record<string, Float32Array> = {};
        names.forEach((n, i) => (g[n] = Float32Array.from(grads[i].dataSync())));
        return { loss: value.dataSync()[0], logits: Float32Array.from(tfModel(p, xT, yT).logits.dataSync()), grads: g };
      });

      expect(Math.abs(bwd.loss - ref.loss) / Math.max(Math.abs(ref.loss), 1e-3)).toBeLessThan(1e-4);
      expect(Math.abs(fwd.loss - ref.loss) / Math.max(Math.abs(ref.loss), 1e-3)).toBeLessThan(1e-4);
      expect(relErr(fwd.logits as Float32Array, ref.logits)).toBeLessThan(1e-4);
      expect(Object.keys(bwd.grads).sort()).toEqual(Object.keys(ref.grads).sort());
      for (const [n, g] of Object.entries(ref.grads)) {
        expect(Math.max(...Array.from(g, Math.abs)), `d${n} is not all zero`).toBeGreaterThan(1e-4);
        expect(relErr(bwd.grads[n], g), `d${n}`).toBeLessThan(1e-4);
      }
    });
  }
});
