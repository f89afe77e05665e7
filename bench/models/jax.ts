// The jax-js twins of the bench models, written from the .bp sources as a
// JAX user would: a loss over a params tree, jit(valueAndGrad(loss)) on the
// wasm device. jax-js arrays are reference-counted and every op consumes its
// arguments, so a value read twice is passed as `.ref` (see jax-js's README).
// The RNN's loop is a JS loop, unrolled into the jitted program.
import { type Array as JArray, lax, nn, numpy as np, tree } from "@jax-js/jax";
import type { BenchModel } from "./spec.js";

export type JTree = Record<string, JArray>;
export type JaxLoss = (p: JTree, x: JTree) => JArray;

/** Mean softmax cross-entropy of logits [B, C] against int labels [B]. */
function crossEntropy(logits: JArray, y: JArray, C: number): JArray {
  return nn.logSoftmax(logits, -1).mul(nn.oneHot(y, C)).sum(1).mean().neg();
}

export function jaxLoss(m: BenchModel): JaxLoss {
  const s = m.sizes;
  switch (m.family) {
    case "mlp":
      return (p, x) => {
        const h = nn.relu(np.matmul(x.x, p.W1).add(p.b1));
        return crossEntropy(np.matmul(h, p.W2).add(p.b2), x.y, s.C);
      };
    case "rnn":
      return (p, x) => {
        let h = np.zeros([s.B, s.H]);
        for (let t = 0; t < s.T; t++) {
          h = np.tanh(np.matmul(x.xs.ref.slice(t), p.Wx.ref).add(np.matmul(h, p.Wh.ref)).add(p.bh.ref));
        }
        tree.dispose([x.xs, p.Wx, p.Wh, p.bh]);
        return crossEntropy(np.matmul(h, p.Wy).add(p.by), x.y, s.C);
      };
    case "dqn": {
      // Reads the params without consuming them (the caller disposes).
      const q = (p: JTree, obs: JArray): JArray => {
        const h1 = nn.relu(np.matmul(obs, p.W1.ref).add(p.b1.ref));
        const h2 = nn.relu(np.matmul(h1, p.W2.ref).add(p.b2.ref));
        return np.matmul(h2, p.W3.ref).add(p.b3.ref);
      };
      return (p, x) => {
        const qActed = q(p, x.s).mul(nn.oneHot(x.a, s.A)).sum(1);
        const qNext = q(p, x.s_next).max(1);
        tree.dispose(p);
        const target = lax.stopGradient(x.r.add(np.subtract(1, x.done).mul(0.99).mul(qNext)));
        const delta = target.sub(qActed);
        const ad = np.abs(delta.ref);
        const hub = np.where(ad.ref.lessEqual(1), delta.ref.mul(delta).mul(0.5), ad.sub(0.5));
        return hub.mean();
      };
    }
    case "lenet": {
      // lax.conv's default layout is NCHW with OIHW kernels, bpc's own; max-pool 2 as a reshape and a max.
      const pool = (h: JArray, C: number, H: number): JArray => h.reshape([s.B, C, H / 2, 2, H / 2, 2]).max([3, 5]);
      return (p, x) => {
        const z1 = lax
          .conv(
            x.x,
            p.K1,
            [1, 1],
            [
              [2, 2],
              [2, 2],
            ],
          )
          .add(p.c1.reshape([6, 1, 1]));
        const h1 = pool(nn.relu(z1), 6, 28);
        const z2 = lax.conv(h1, p.K2, [1, 1], "VALID").add(p.c2.reshape([16, 1, 1]));
        const h2 = pool(nn.relu(z2), 16, 10).reshape([s.B, 400]);
        const h3 = nn.relu(np.matmul(h2, p.W3).add(p.b3));
        const h4 = nn.relu(np.matmul(h3, p.W4).add(p.b4));
        return crossEntropy(np.matmul(h4, p.W5).add(p.b5), x.y, s.C);
      };
    }
    case "allconv": {
      const conv = (h: JArray, k: JArray, c: JArray, C: number): JArray =>
        nn.relu(
          lax
            .conv(
              h,
              k,
              [2, 2],
              [
                [1, 1],
                [1, 1],
              ],
            )
            .add(c.reshape([C, 1, 1])),
        );
      return (p, x) => {
        const h3 = conv(conv(conv(x.x, p.K1, p.c1, 16), p.K2, p.c2, 32), p.K3, p.c3, 64);
        return crossEntropy(np.matmul(h3.mean([2, 3]), p.W).add(p.b), x.y, s.C);
      };
    }
    case "transformer": {
      const layerNorm = (z: JArray): JArray => nn.standardize(z, -1, { epsilon: 1e-5 });
      return (p, x) => {
        const a = layerNorm(x.x.ref).mul(p.g1).add(p.e1);
        const q = np.matmul(a.ref, p.Wq);
        const k = np.matmul(a.ref, p.Wk);
        const v = np.matmul(a, p.Wv);
        const maskBias = np
          .tril(np.ones([s.T, s.T]))
          .sub(1)
          .mul(1e9);
        const scores = np.matmul(q, np.matrixTranspose(k)).mul(0.125).add(maskBias);
        const h = x.x.add(np.matmul(np.matmul(nn.softmax(scores, -1), v), p.Wo));
        const m = layerNorm(h.ref).mul(p.g2).add(p.e2);
        const out = h.add(np.matmul(nn.gelu(np.matmul(m, p.W1).add(p.b1), { approximate: false }), p.W2)).add(p.b2);
        return np.square(out.sub(x.target)).mean();
      };
    }
    case "char_lm":
      return (p, x) => {
        const H = s.H;
        const emb = np.take(p.Emb, x.tok, 0);
        let h = np.zeros([s.B, H]);
        const hs: JArray[] = [];
        for (let t = 0; t < s.T; t++) {
          const gx = np.matmul(emb.ref.slice(t), p.Wx.ref).add(p.bx.ref);
          const gh = np.matmul(h.ref, p.Wh.ref).add(p.bh.ref);
          const r = nn.sigmoid(gx.ref.slice([], [0, H]).add(gh.ref.slice([], [0, H])));
          const z = nn.sigmoid(gx.ref.slice([], [H, 2 * H]).add(gh.ref.slice([], [H, 2 * H])));
          const n = np.tanh(gx.slice([], [2 * H, 3 * H]).add(r.mul(gh.slice([], [2 * H, 3 * H]))));
          h = np.subtract(1, z.ref).mul(n).add(z.mul(h));
          hs.push(h.ref);
        }
        tree.dispose([emb, h, p.Wx, p.Wh, p.bx, p.bh]);
        const logits = np.matmul(np.stack(hs), p.Wy).add(p.by);
        return nn.logSoftmax(logits, -1).mul(nn.oneHot(x.next, s.V)).sum(-1).mean().neg();
      };
    case "batchnorm":
      return (p, x) => {
        const z = np.matmul(x.x, p.W1);
        const mu = z.ref.mean(0, { keepdims: true });
        const zc = z.sub(mu);
        const v = np.square(zc.ref).mean(0, { keepdims: true });
        const zhat = zc.div(np.sqrt(v.add(1e-5)));
        const h = nn.relu(p.gamma.mul(zhat).add(p.beta));
        return crossEntropy(np.matmul(h, p.W2).add(p.b2), x.y, s.C);
      };
  }
}

/** Device arrays of the given data: floats as float32, ints as int32. */
export function jaxArrays(data: Record<string, Float32Array | Int32Array>, shapes: Record<string, number[]>): JTree {
  const out: JTree = {};
  for (const [name, a] of Object.entries(data)) {
    out[name] =
      a instanceof Int32Array
        ? np.array(a, { dtype: np.int32 }).reshape(shapes[name])
        : np.array(a).reshape(shapes[name]);
  }
  return out;
}
