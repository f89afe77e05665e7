// The TF.js twins of the bench models, written from the .bp sources the way a
// TF.js user would: tf ops, softmax cross-entropy from tf.losses, autograd
// with tf.valueAndGrads over the parameters. Labels are fed one-hot and the
// RNN's sequence pre-split into steps (data preparation, outside the timed
// step); stop_gradient is a value computed before the taped loss. Prod mode
// (no per-op validation) is on in the worker.
import * as tf from "@tensorflow/tfjs";
import type { BenchModel } from "./spec.js";

export type Tensors = Record<string, tf.Tensor>;

export interface TfModel {
  /** Turns the raw inputs into the tensors the loss reads (once, untimed). */
  prepare(inputs: Record<string, Float32Array | Int32Array>): { tensors: Tensors; steps?: tf.Tensor[] };
  /** Values outside the gradient (stop_gradient), computed each step before the taped loss. */
  detached?(p: Tensors, x: Tensors): Tensors;
  loss(p: Tensors, x: Tensors, steps: tf.Tensor[] | undefined, detached: Tensors): tf.Scalar;
}

const f32 = (a: Float32Array | Int32Array, shape: number[]): tf.Tensor =>
  tf.tensor(Float32Array.from(a), shape, "float32");
const oneHot = (a: Float32Array | Int32Array, n: number): tf.Tensor =>
  tf.oneHot(tf.tensor1d(Int32Array.from(a), "int32"), n);

export function tfjsModel(m: BenchModel): TfModel {
  const s = m.sizes;
  switch (m.family) {
    case "mlp":
      return {
        prepare: (x) => ({ tensors: { x: f32(x.x, [s.B, s.D]), y: oneHot(x.y, s.C) } }),
        loss: (p, x) => {
          const h = tf.relu(tf.add(tf.matMul(x.x, p.W1), p.b1));
          const logits = tf.add(tf.matMul(h, p.W2), p.b2);
          return tf.losses.softmaxCrossEntropy(x.y, logits) as tf.Scalar;
        },
      };
    case "rnn":
      return {
        prepare: (x) => {
          const xs = f32(x.xs, [s.T, s.B, s.D]);
          const steps = tf.unstack(xs);
          xs.dispose();
          return { tensors: { y: oneHot(x.y, s.C) }, steps };
        },
        loss: (p, x, steps) => {
          let h: tf.Tensor = tf.zeros([s.B, s.H]);
          for (const xt of steps ?? []) h = tf.tanh(tf.add(tf.add(tf.matMul(xt, p.Wx), tf.matMul(h, p.Wh)), p.bh));
          const logits = tf.add(tf.matMul(h, p.Wy), p.by);
          return tf.losses.softmaxCrossEntropy(x.y, logits) as tf.Scalar;
        },
      };
    case "dqn": {
      const q = (p: Tensors, x: tf.Tensor): tf.Tensor => {
        const h1 = tf.relu(tf.add(tf.matMul(x, p.W1), p.b1));
        const h2 = tf.relu(tf.add(tf.matMul(h1, p.W2), p.b2));
        return tf.add(tf.matMul(h2, p.W3), p.b3);
      };
      return {
        prepare: (x) => ({
          tensors: {
            s: f32(x.s, [s.B, s.S]),
            a: oneHot(x.a, s.A),
            r: f32(x.r, [s.B]),
            s_next: f32(x.s_next, [s.B, s.S]),
            done: f32(x.done, [s.B]),
          },
        }),
        detached: (p, x) => ({
          target: tf.add(x.r, tf.mul(tf.mul(0.99, tf.sub(1, x.done)), tf.max(q(p, x.s_next), 1))),
        }),
        loss: (p, x, _steps, d) => {
          // huber(target - q_acted, 1), averaged (TF.js's where cannot differentiate its comparison).
          const qActed = tf.sum(tf.mul(q(p, x.s), x.a), 1);
          return tf.losses.huberLoss(d.target, qActed, undefined, 1, tf.Reduction.MEAN) as tf.Scalar;
        },
      };
    }
    case "lenet": {
      // TF.js is channels-last: the NCHW input and the [Cout, Cin, kh, kw] kernels are transposed in the step, as a user porting the weights would.
      const conv = (x: tf.Tensor4D, k: tf.Tensor, pad: number | "valid"): tf.Tensor4D =>
        tf.conv2d(x, tf.transpose(k, [2, 3, 1, 0]) as tf.Tensor4D, 1, pad);
      return {
        prepare: (x) => ({ tensors: { x: f32(x.x, [s.B, 1, 28, 28]), y: oneHot(x.y, s.C) } }),
        loss: (p, x) => {
          const h1 = tf.maxPool(
            tf.relu(tf.add(conv(tf.transpose(x.x, [0, 2, 3, 1]) as tf.Tensor4D, p.K1, 2), p.c1)) as tf.Tensor4D,
            2,
            2,
            "valid",
          );
          const h2 = tf.maxPool(tf.relu(tf.add(conv(h1, p.K2, "valid"), p.c2)) as tf.Tensor4D, 2, 2, "valid");
          const flat = tf.reshape(tf.transpose(h2, [0, 3, 1, 2]), [s.B, 400]);
          const h3 = tf.relu(tf.add(tf.matMul(flat, p.W3), p.b3));
          const h4 = tf.relu(tf.add(tf.matMul(h3, p.W4), p.b4));
          return tf.losses.softmaxCrossEntropy(x.y, tf.add(tf.matMul(h4, p.W5), p.b5)) as tf.Scalar;
        },
      };
    }
    case "allconv": {
      // Channels-last, kernels transposed in the step (as for LeNet); a number pad is PyTorch's symmetric padding.
      const conv = (x: tf.Tensor4D, k: tf.Tensor): tf.Tensor4D =>
        tf.conv2d(x, tf.transpose(k, [2, 3, 1, 0]) as tf.Tensor4D, 2, 1);
      return {
        prepare: (x) => ({ tensors: { x: f32(x.x, [s.B, 1, 28, 28]), y: oneHot(x.y, s.C) } }),
        loss: (p, x) => {
          const h1 = tf.relu(tf.add(conv(tf.transpose(x.x, [0, 2, 3, 1]) as tf.Tensor4D, p.K1), p.c1)) as tf.Tensor4D;
          const h2 = tf.relu(tf.add(conv(h1, p.K2), p.c2)) as tf.Tensor4D;
          const h3 = tf.relu(tf.add(conv(h2, p.K3), p.c3)) as tf.Tensor4D;
          const pooled = tf.mean(h3, [1, 2]);
          return tf.losses.softmaxCrossEntropy(x.y, tf.add(tf.matMul(pooled, p.W), p.b)) as tf.Scalar;
        },
      };
    }
    case "transformer": {
      const N = s.B * s.T;
      // [B, T, K] @ [K, M] as TF.js users write it: through a [B*T, K] matrix.
      const dense = (z: tf.Tensor, w: tf.Tensor): tf.Tensor =>
        tf.reshape(tf.matMul(tf.reshape(z, [N, w.shape[0]]), w), [s.B, s.T, w.shape[1] as number]);
      const layerNorm = (z: tf.Tensor): tf.Tensor => {
        const { mean, variance } = tf.moments(z, -1, true);
        return tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, 1e-5)));
      };
      const gelu = (z: tf.Tensor): tf.Tensor => tf.mul(tf.mul(z, 0.5), tf.add(1, tf.erf(tf.mul(z, Math.SQRT1_2))));
      return {
        prepare: (x) => ({
          tensors: {
            x: f32(x.x, [s.B, s.T, s.D]),
            target: f32(x.target, [s.B, s.T, s.D]),
            // (tril(ones) - 1) * 1e9: 0 on and below the diagonal, -1e9 above.
            maskBias: tf.mul(tf.sub(tf.linalg.bandPart(tf.ones([s.T, s.T]), -1, 0), 1), 1e9),
          },
        }),
        loss: (p, x) => {
          const a = tf.add(tf.mul(layerNorm(x.x), p.g1), p.e1);
          const q = dense(a, p.Wq);
          const k = dense(a, p.Wk);
          const v = dense(a, p.Wv);
          const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 0.125), x.maskBias);
          const h = tf.add(x.x, dense(tf.matMul(tf.softmax(scores), v), p.Wo));
          const m = tf.add(tf.mul(layerNorm(h), p.g2), p.e2);
          const out = tf.add(tf.add(h, dense(gelu(tf.add(dense(m, p.W1), p.b1)), p.W2)), p.b2);
          return tf.mean(tf.square(tf.sub(out, x.target))) as tf.Scalar;
        },
      };
    }
    case "char_lm":
      return {
        prepare: (x) => ({
          tensors: {
            tok: tf.tensor2d(Int32Array.from(x.tok), [s.T, s.B], "int32"),
            next: oneHot(x.next, s.V).reshape([s.T * s.B, s.V]),
          },
        }),
        loss: (p, x) => {
          const xs = tf.unstack(tf.gather(p.Emb, x.tok));
          let h: tf.Tensor = tf.zeros([s.B, s.H]);
          const hs: tf.Tensor[] = [];
          for (const xt of xs) {
            const [xr, xz, xn] = tf.split(tf.add(tf.matMul(xt, p.Wx), p.bx), 3, 1);
            const [hr, hz, hn] = tf.split(tf.add(tf.matMul(h, p.Wh), p.bh), 3, 1);
            const r = tf.sigmoid(tf.add(xr, hr));
            const z = tf.sigmoid(tf.add(xz, hz));
            const n = tf.tanh(tf.add(xn, tf.mul(r, hn)));
            h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
            hs.push(h);
          }
          const logits = tf.add(tf.matMul(tf.reshape(tf.stack(hs), [s.T * s.B, s.H]), p.Wy), p.by);
          return tf.losses.softmaxCrossEntropy(x.next, logits) as tf.Scalar;
        },
      };
    case "batchnorm":
      return {
        prepare: (x) => ({ tensors: { x: f32(x.x, [s.B, s.D]), y: oneHot(x.y, s.C) } }),
        loss: (p, x) => {
          const z = tf.matMul(x.x, p.W1);
          const mu = tf.mean(z, 0, true);
          const zc = tf.sub(z, mu);
          const v = tf.mean(tf.square(zc), 0, true);
          const zhat = tf.div(zc, tf.sqrt(tf.add(v, 1e-5)));
          const h = tf.relu(tf.add(tf.mul(p.gamma, zhat), p.beta));
          const logits = tf.add(tf.matMul(h, p.W2), p.b2);
          return tf.losses.softmaxCrossEntropy(x.y, logits) as tf.Scalar;
        },
      };
  }
}
