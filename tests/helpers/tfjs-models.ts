// Independent TF.js twins of the examples in examples/*.bp, written from the
// .bp sources and the language spec (not from the compiler's IR or output).
// Each oracle declares its inputs (shapes with the symbolic dims bound, and a
// generator that respects the range hints) and builds the loss and the
// `output` values from TF.js ops, so TF.js autograd is the reference.
import * as tf from "@tensorflow/tfjs";

export type Tensors = Record<string, tf.Tensor>;

/** How an input is drawn: the .bp range or distribution hint. */
export type Gen =
  | { kind: "normal"; mean: number; std: number }
  | { kind: "uniform"; lo: number; hi: number }
  /** Integers in [lo, hi). */
  | { kind: "int"; lo: number; hi: number };

export interface InputDecl {
  shape: number[];
  gen: Gen;
}

export interface Oracle {
  /** Inputs by name, shapes with the symbolic dims bound. */
  inputs: Record<string, InputDecl>;
  /** The model: params and inputs to the minimized loss and each `output`. */
  model(p: Tensors, x: Tensors): { loss: tf.Scalar; outputs: Tensors };
  /**
   * For a model that overflows f32 at its init by design: the test then only
   * requires ours' loss to overflow too, and compares in full a second
   * case with the init's params multiplied by `rescale` (by name).
   */
  finiteCase?: { why: string; rescale: Record<string, number> };
  /** A looser tolerance than the test's 1e-4, for a model whose f32 gradient is ill-conditioned, and why. */
  tolerance?: { value: number; why: string };
}

// ---- .bp built-ins that TF.js lacks or names differently --------------------

/** stop_gradient: identity forward, zero gradient (TF.js 4 has no public op). */
export const stopGradient = (x: tf.Tensor): tf.Tensor =>
  tf.customGrad((a: tf.Tensor | tf.GradSaveFunc) => {
    const t = a as tf.Tensor;
    return { value: t.clone(), gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.zerosLike(dy as tf.Tensor) };
  })(x);

/** cross_entropy(logits [B,C], labels int[B]) -> [B]. */
export const crossEntropy = (logits: tf.Tensor, labels: tf.Tensor): tf.Tensor => {
  const c = logits.shape[logits.shape.length - 1]!;
  return tf.neg(tf.sum(tf.mul(tf.oneHot(labels as tf.Tensor1D, c), tf.logSoftmax(logits, -1)), -1));
};

/** pick(x [B,N], idx int[B]) -> [B]: out[i] = x[i, idx[i]]. */
export const pick = (x: tf.Tensor, idx: tf.Tensor): tf.Tensor => {
  const n = x.shape[x.shape.length - 1]!;
  return tf.sum(tf.mul(x, tf.oneHot(idx as tf.Tensor1D, n)), -1);
};

/**
 * huber(x, delta): x^2/2 where |x| <= delta, else delta * (|x| - delta/2),
 * written as m^2/2 + delta * (|x| - m) with m = min(|x|, delta) (TF.js has
 * no gradient through where's comparison).
 */
export const huber = (x: tf.Tensor, delta = 1): tf.Tensor => {
  const ax = tf.abs(x);
  const m = tf.minimum(ax, delta);
  return tf.add(tf.mul(0.5, tf.square(m)), tf.mul(delta, tf.sub(ax, m)));
};

/** one_hot(idx, n) as float. */
export const oneHotF = (idx: tf.Tensor, n: number): tf.Tensor => tf.cast(tf.oneHot(idx as tf.Tensor1D, n), "float32");

const dense = (x: tf.Tensor, W: tf.Tensor, b: tf.Tensor): tf.Tensor =>
  tf.add(tf.matMul(x as tf.Tensor2D, W as tf.Tensor2D), b);
const meanCE = (logits: tf.Tensor, y: tf.Tensor): tf.Scalar => tf.mean(crossEntropy(logits, y)) as tf.Scalar;

const normal = (mean = 0, std = 1): Gen => ({ kind: "normal", mean, std });
const uniform = (lo: number, hi: number): Gen => ({ kind: "uniform", lo, hi });
const int = (lo: number, hi: number): Gen => ({ kind: "int", lo, hi });

/** The batch size bound to every symbolic batch dim. */
export const BATCH = 6;
const B = BATCH;

// ---- the examples ----------------------------------------------------------

/** A two-layer ReLU classifier: mlp, mnist_mlp, relu_he and dead_relu differ only in init. */
const reluMlp = (D: number, C: number): Oracle => ({
  inputs: { x: { shape: [B, D], gen: uniform(0, 1) }, y: { shape: [B], gen: int(0, C) } },
  model(p, x) {
    const h = tf.relu(dense(x.x!, p.W1!, p.b1!));
    const logits = dense(h, p.W2!, p.b2!);
    return { loss: meanCE(logits, x.y!), outputs: { logits } };
  },
});

/** A sigmoid hidden layer and cross-entropy: sigmoid_mlp.bp and its raw-pixel twin. */
const sigmoidCe = (D: number, C: number, pixelHi: number): Oracle => ({
  inputs: { x: { shape: [B, D], gen: uniform(0, pixelHi) }, y: { shape: [B], gen: int(0, C) } },
  model(p, x) {
    const h = tf.sigmoid(dense(x.x!, p.W1!, p.b1!));
    const logits = dense(h, p.W2!, p.b2!);
    return { loss: meanCE(logits, x.y!), outputs: { logits } };
  },
});

/** xs[t] of a [T, B, D] tensor. */
const step = (xs: tf.Tensor, t: number): tf.Tensor2D =>
  tf.squeeze(tf.slice(xs, [t, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D;

/** A vanilla RNN h = act(xs[t] @ Wx + h @ Wh + bh) over T steps, classified from its last state. */
const vanillaRnn = (T: number, D: number, H: number, C: number, act: (z: tf.Tensor) => tf.Tensor): Oracle => ({
  inputs: { xs: { shape: [T, B, D], gen: normal() }, y: { shape: [B], gen: int(0, C) } },
  model(p, x) {
    let h: tf.Tensor = tf.zeros([B, H]);
    for (let t = 0; t < T; t++)
      h = act(
        tf.add(
          tf.add(tf.matMul(step(x.xs!, t), p.Wx! as tf.Tensor2D), tf.matMul(h as tf.Tensor2D, p.Wh! as tf.Tensor2D)),
          p.bh!,
        ),
      );
    const logits = dense(h, p.Wy!, p.by!);
    return { loss: meanCE(logits, x.y!), outputs: { logits } };
  },
});

/** The DQN Q-network: two relu layers and a linear head. */
const qNet = (p: Tensors, s: tf.Tensor): tf.Tensor => {
  const h1 = tf.relu(dense(s, p.W1!, p.b1!));
  const h2 = tf.relu(dense(h1, p.W2!, p.b2!));
  return dense(h2, p.W3!, p.b3!);
};

/** Sigmoid hidden layer, sigmoid outputs, squared error against one-hot labels. */
const sigmoidMse = (P: number, C: number, pixelHi: number): Oracle => ({
  inputs: { x: { shape: [B, P], gen: uniform(0, pixelHi) }, y: { shape: [B], gen: int(0, C) } },
  model(p, x) {
    const h = tf.sigmoid(dense(x.x!, p.W1!, p.b1!));
    const logits = dense(h, p.W2!, p.b2!);
    const pr = tf.sigmoid(logits);
    const loss = tf.mean(tf.square(tf.sub(pr, oneHotF(x.y!, C)))) as tf.Scalar;
    return { loss, outputs: { logits } };
  },
});

/** NCHW <-> NHWC (TF.js is channels-last; bpc keeps PyTorch's layout, so the test transposes). */
export const toNHWC = (x: tf.Tensor): tf.Tensor4D => tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
export const toNCHW = (x: tf.Tensor): tf.Tensor4D => tf.transpose(x, [0, 3, 1, 2]) as tf.Tensor4D;
/** A PyTorch conv kernel [Cout, Cin, kh, kw] as TF.js's filter [kh, kw, Cin, Cout]. */
export const toHWIO = (k: tf.Tensor): tf.Tensor4D => tf.transpose(k, [2, 3, 1, 0]) as tf.Tensor4D;

/** LeNet-5 (lenet.bp): conv 5x5 pad 2, relu, max-pool 2, conv 5x5, relu, max-pool 2, three dense layers. */
const lenet: Oracle = {
  inputs: { x: { shape: [B, 1, 28, 28], gen: uniform(0, 1) }, y: { shape: [B], gen: int(0, 10) } },
  model(p, x) {
    const c1 = tf.relu(tf.add(tf.conv2d(toNHWC(x.x!), toHWIO(p.K1!), 1, 2), p.c1!)) as tf.Tensor4D;
    const h1 = tf.maxPool(c1, 2, 2, "valid");
    const c2 = tf.relu(tf.add(tf.conv2d(h1, toHWIO(p.K2!), 1, "valid"), p.c2!)) as tf.Tensor4D;
    const h2 = tf.reshape(toNCHW(tf.maxPool(c2, 2, 2, "valid")), [B, 400]);
    const h3 = tf.relu(dense(h2, p.W3!, p.b3!));
    const h4 = tf.relu(dense(h3, p.W4!, p.b4!));
    const logits = dense(h4, p.W5!, p.b5!);
    return { loss: meanCE(logits, x.y!), outputs: { logits } };
  },
};

/** conv_autoencoder.bp: two stride-2 convs, two stride-2 transposed convs (PyTorch's kernels [Cin, Cout, kh, kw] are TF.js's [kh, kw, Cout, Cin]). */
const convAutoencoder: Oracle = {
  inputs: { x: { shape: [B, 1, 28, 28], gen: uniform(0, 1) } },
  model(p, x) {
    const h1 = tf.relu(tf.add(tf.conv2d(toNHWC(x.x!), toHWIO(p.K1!), 2, 1), p.c1!)) as tf.Tensor4D;
    const code = tf.relu(tf.add(tf.conv2d(h1, toHWIO(p.K2!), 2, 1), p.c2!)) as tf.Tensor4D;
    const u1 = tf.relu(tf.add(tf.conv2dTranspose(code, toHWIO(p.T1!), [B, 14, 14, 8], 2, 1), p.d1!)) as tf.Tensor4D;
    const recon = toNCHW(tf.sigmoid(tf.add(tf.conv2dTranspose(u1, toHWIO(p.T2!), [B, 28, 28, 1], 2, 1), p.d2!)));
    return { loss: tf.mean(tf.square(tf.sub(recon, x.x!))) as tf.Scalar, outputs: { recon } };
  },
};

// ---- section 9: the transformer, char_lm, lstm2 and seq2seq_attention examples ----

/** x @ W on any rank, W 2-D: the leading axes flattened. */
const proj = (x: tf.Tensor, W: tf.Tensor): tf.Tensor => {
  const [k, n] = W.shape as [number, number];
  const lead = x.shape.slice(0, -1);
  return tf.reshape(tf.matMul(tf.reshape(x, [-1, k]) as tf.Tensor2D, W as tf.Tensor2D), [...lead, n]);
};

/** layer_norm over the last axis, eps 1e-5, population variance. */
const layerNorm = (x: tf.Tensor, eps = 1e-5): tf.Tensor => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
};

/** gelu, exact: x · Φ(x) = x/2 · (1 + erf(x/√2)). */
const gelu = (x: tf.Tensor): tf.Tensor => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));

/** Per-token cross-entropy on any rank: [..., C] logits with int [...] labels. */
const tokenCE = (logits: tf.Tensor, labels: tf.Tensor): tf.Tensor => {
  const c = logits.shape[logits.shape.length - 1]!;
  return crossEntropy(tf.reshape(logits, [-1, c]), tf.reshape(labels, [-1]));
};

/** x[:, t] of a [B, T, ...] tensor. */
const col = (x: tf.Tensor, t: number): tf.Tensor => {
  const begin = x.shape.map((_, i) => (i === 1 ? t : 0));
  const size = x.shape.map((d, i) => (i === 1 ? 1 : d!));
  return tf.squeeze(tf.slice(x, begin, size), [1]);
};

/** x[t] of a [T, ...] tensor. */
const row = (x: tf.Tensor, t: number): tf.Tensor => tf.squeeze(tf.slice(x, [t], [1]), [0]);

/** z[:, lo:hi] of a 2-D tensor. */
const cols = (z: tf.Tensor, lo: number, hi: number): tf.Tensor => tf.slice(z, [0, lo], [-1, hi - lo]);

/** transformer.bp: a pre-norm block, causal 4-head attention, GELU MLP, per-token loss. */
const transformer: Oracle = {
  inputs: { tok: { shape: [B, 32], gen: int(0, 64) }, next: { shape: [B, 32], gen: int(0, 64) } },
  model(p, x) {
    const [T, D, NH, Dh] = [32, 64, 4, 16];
    const heads = (z: tf.Tensor): tf.Tensor => tf.transpose(tf.reshape(z, [B, T, NH, Dh]), [0, 2, 1, 3]);
    let h: tf.Tensor = tf.add(tf.gather(p.Emb!, x.tok!), p.Pos!);
    const a = tf.mul(layerNorm(h), p.g1!);
    const q = heads(proj(a, p.Wq!));
    const k = heads(proj(a, p.Wk!));
    const v = heads(proj(a, p.Wv!));
    const causal = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9);
    const s = tf.add(tf.mul(tf.matMul(q, k, false, true), 0.25), causal);
    const o = tf.reshape(tf.transpose(tf.matMul(tf.softmax(s, -1), v), [0, 2, 1, 3]), [B, T, D]);
    h = tf.add(h, proj(o, p.Wo!));
    const m = tf.mul(layerNorm(h), p.g2!);
    h = tf.add(h, tf.add(proj(gelu(tf.add(proj(m, p.W1!), p.b1!)), p.W2!), p.b2!));
    const logits = proj(tf.mul(layerNorm(h), p.gf!), p.Wout!);
    return { loss: tf.mean(tokenCE(logits, x.next!)) as tf.Scalar, outputs: { logits } };
  },
};

/** char_lm.bp: embedding, GRU over T steps, per-token next-character loss. */
const charLm: Oracle = {
  inputs: { tok: { shape: [B, 64], gen: int(0, 64) }, next: { shape: [B, 64], gen: int(0, 64) } },
  model(p, x) {
    const [T, H] = [64, 128];
    const xs = tf.add(proj(tf.gather(p.Emb!, x.tok!), p.Wx!), p.b!);
    let h: tf.Tensor = tf.zeros([B, H]);
    const hs: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const zx = col(xs, t);
      const zh = tf.matMul(h as tf.Tensor2D, p.Wh! as tf.Tensor2D);
      const r = tf.sigmoid(tf.add(cols(zx, 0, H), cols(zh, 0, H)));
      const u = tf.sigmoid(tf.add(cols(zx, H, 2 * H), cols(zh, H, 2 * H)));
      const n = tf.tanh(tf.add(cols(zx, 2 * H, 3 * H), tf.mul(r, cols(zh, 2 * H, 3 * H))));
      h = tf.add(tf.mul(tf.sub(1, u), n), tf.mul(u, h));
      hs.push(h);
    }
    const logits = tf.add(proj(tf.stack(hs, 1), p.Wy!), p.by!);
    return { loss: tf.mean(tokenCE(logits, x.next!)) as tf.Scalar, outputs: { logits } };
  },
};

/** lstm2.bp: a 2-layer LSTM (time outside, layers inside), classified from the top layer's last state. */
const lstm2: Oracle = {
  inputs: { xs: { shape: [20, B, 16], gen: normal() }, y: { shape: [B], gen: int(0, 10) } },
  model(p, x) {
    const [T, L, H] = [20, 2, 32];
    const h: tf.Tensor[] = Array.from({ length: L }, () => tf.zeros([B, H]));
    const c: tf.Tensor[] = Array.from({ length: L }, () => tf.zeros([B, H]));
    for (let t = 0; t < T; t++) {
      let inp = tf.matMul(row(x.xs!, t) as tf.Tensor2D, p.Win! as tf.Tensor2D) as tf.Tensor;
      for (let l = 0; l < L; l++) {
        const z = tf.add(tf.add(tf.matMul(inp as tf.Tensor2D, row(p.Wx!, l) as tf.Tensor2D), tf.matMul(h[l] as tf.Tensor2D, row(p.Wh!, l) as tf.Tensor2D)), row(p.b!, l));
        const i = tf.sigmoid(cols(z, 0, H));
        const f = tf.sigmoid(tf.add(cols(z, H, 2 * H), row(p.bf!, l)));
        const o = tf.sigmoid(cols(z, 2 * H, 3 * H));
        const g = tf.tanh(cols(z, 3 * H, 4 * H));
        c[l] = tf.add(tf.mul(f, c[l]!), tf.mul(i, g));
        h[l] = tf.mul(o, tf.tanh(c[l]!));
        inp = h[l]!;
      }
    }
    const logits = tf.add(tf.matMul(h[L - 1] as tf.Tensor2D, p.Wy! as tf.Tensor2D), p.by!);
    return { loss: tf.mean(crossEntropy(logits, x.y!)) as tf.Scalar, outputs: { logits } };
  },
};

/** seq2seq_attention.bp: tanh-RNN encoder storing hs[s], decoder with additive attention, per-token loss. */
const seq2seqAttention: Oracle = {
  inputs: {
    src: { shape: [B, 12], gen: int(0, 32) },
    tgt: { shape: [B, 10], gen: int(0, 32) },
    gold: { shape: [B, 10], gen: int(0, 32) },
  },
  model(p, x) {
    const [S, T, H] = [12, 10, 32];
    const xe = tf.gather(p.Es!, x.src!);
    let h: tf.Tensor = tf.zeros([B, H]);
    const states: tf.Tensor[] = [];
    for (let s = 0; s < S; s++) {
      h = tf.tanh(tf.add(tf.add(tf.matMul(col(xe, s) as tf.Tensor2D, p.Wxe! as tf.Tensor2D), tf.matMul(h as tf.Tensor2D, p.Whe! as tf.Tensor2D)), p.be!));
      states.push(h);
    }
    const hs = tf.stack(states, 0); // [S, B, H]
    const keys = proj(hs, p.Wk!); // [S, B, A]
    const xd = tf.gather(p.Et!, x.tgt!);
    let d = h;
    const ds: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const e = tf.sum(tf.mul(tf.tanh(tf.add(keys, tf.matMul(d as tf.Tensor2D, p.Wq! as tf.Tensor2D))), p.va!), 2); // [S, B]
      const alpha = tf.softmax(tf.transpose(e), -1).transpose(); // softmax over axis 0
      const ctx = tf.sum(tf.mul(tf.expandDims(alpha, 2), hs), 0); // [B, H]
      const mm = (a: tf.Tensor, w: tf.Tensor): tf.Tensor => tf.matMul(a as tf.Tensor2D, w as tf.Tensor2D);
      d = tf.tanh(tf.add(tf.add(tf.add(mm(col(xd, t), p.Wxd!), mm(d, p.Whd!)), mm(ctx, p.Wc!)), p.bd!));
      ds.push(d);
    }
    const logits = tf.add(proj(tf.stack(ds, 1), p.Wy!), p.by!);
    return { loss: tf.mean(tokenCE(logits, x.gold!)) as tf.Scalar, outputs: { logits } };
  },
};

export const ORACLES: Record<string, Oracle> = {
  "char_lm.bp": charLm,
  "lstm2.bp": lstm2,
  "seq2seq_attention.bp": seq2seqAttention,
  "transformer.bp": transformer,
  "conv_autoencoder.bp": convAutoencoder,
  "lenet.bp": lenet,
  "mlp.bp": reluMlp(784, 10),
  "mnist_mlp.bp": reluMlp(784, 10),
  "mnist_sigmoid.bp": sigmoidMse(784, 10, 1),
  "mnist_sigmoid_raw.bp": sigmoidMse(784, 10, 255),
  "relu_he.bp": reluMlp(784, 10),
  "dead_relu.bp": reluMlp(784, 10),
  "sigmoid_mlp.bp": sigmoidCe(784, 10, 1),
  // Pre-activations in the thousands: TF.js's own f32 rounding puts its dW1 about
  // 6e-5 (relative) off the f64 value; the module (f64 accumulation) is closer.
  "sigmoid_mlp_raw.bp": {
    ...sigmoidCe(784, 10, 255),
    tolerance: {
      value: 1e-2,
      why:
        "raw pixels in [0, 255] against N(0, 1) weights give pre-activations near 1e3, whose f32 spacing (6e-5) " +
        "already moves sigmoid' by that much relative: the f32 gradient is 2.5e-2 from the f64 one whichever order " +
        "the sums run in, and TF.js (f64 sums, rounded once) and the SIMD kernel (f32 sums) differ by 2e-3",
    },
  },

  "batchnorm.bp": {
    inputs: { x: { shape: [B, 16], gen: normal() }, y: { shape: [B], gen: int(0, 4) } },
    model(p, x) {
      const z = tf.matMul(x.x! as tf.Tensor2D, p.W1! as tf.Tensor2D);
      const mu = tf.mean(z, 0, true);
      const zc = tf.sub(z, mu);
      const v = tf.mean(tf.square(zc), 0, true);
      const zhat = tf.div(zc, tf.sqrt(tf.add(v, 1e-5)));
      const h = tf.relu(tf.add(tf.mul(p.gamma!, zhat), p.beta!));
      const logits = dense(h, p.W2!, p.b2!);
      return { loss: meanCE(logits, x.y!), outputs: { logits } };
    },
  },

  "dqn.bp": {
    inputs: {
      s: { shape: [B, 8], gen: normal() },
      a: { shape: [B], gen: int(0, 4) },
      r: { shape: [B], gen: uniform(-1, 1) },
      s_next: { shape: [B, 8], gen: normal() },
      done: { shape: [B], gen: uniform(0, 1) },
    },
    model(p, x) {
      const gamma = 0.99;
      const qActed = pick(qNet(p, x.s!), x.a!);
      const qNext = tf.max(qNet(p, x.s_next!), 1);
      const target = stopGradient(tf.add(x.r!, tf.mul(tf.mul(gamma, tf.sub(1, x.done!)), qNext)));
      const delta = tf.sub(target, qActed);
      const loss = tf.mean(huber(delta, 1)) as tf.Scalar;
      return { loss, outputs: { q_acted: qActed } };
    },
  },

  "dqn_clipped.bp": {
    inputs: {
      s: { shape: [B, 8], gen: normal() },
      a: { shape: [B], gen: int(0, 4) },
      target_q: { shape: [B], gen: normal(0, 3) },
    },
    model(p, x) {
      const qActed = pick(qNet(p, x.s!), x.a!);
      const delta = tf.sub(x.target_q!, qActed);
      const loss = tf.mean(tf.square(tf.clipByValue(delta, -1, 1))) as tf.Scalar;
      return { loss, outputs: { q_acted: qActed } };
    },
  },

  "rnn.bp": vanillaRnn(50, 32, 64, 10, tf.tanh),
  "rnn_vanishing.bp": vanillaRnn(50, 16, 64, 10, tf.sigmoid),
  "rnn_exploding.bp": {
    ...vanillaRnn(50, 16, 64, 10, tf.relu),
    finiteCase: {
      why: "Wh ~ normal(0, 1) grows h about sqrt(H/2) = 5.7x per step: 5.7^50 overflows f32 (the lesson of the example)",
      rescale: { Wh: 1 / 8 }, // normal(0, 1/sqrt(H)): spectral radius about 1
    },
  },

  "lstm.bp": {
    inputs: { xs: { shape: [50, B, 16], gen: normal() }, y: { shape: [B], gen: int(0, 10) } },
    model(p, x) {
      const T = 50;
      const H = 64;
      const cols = (z: tf.Tensor, lo: number, hi: number): tf.Tensor => tf.slice(z, [0, lo], [-1, hi - lo]);
      let h: tf.Tensor = tf.zeros([B, H]);
      let c: tf.Tensor = tf.zeros([B, H]);
      for (let t = 0; t < T; t++) {
        const z = tf.add(
          tf.add(tf.matMul(step(x.xs!, t), p.Wx! as tf.Tensor2D), tf.matMul(h as tf.Tensor2D, p.Wh! as tf.Tensor2D)),
          p.b!,
        );
        const i = tf.sigmoid(cols(z, 0, H));
        const f = tf.sigmoid(tf.add(cols(z, H, 2 * H), p.bf!));
        const o = tf.sigmoid(cols(z, 2 * H, 3 * H));
        const g = tf.tanh(cols(z, 3 * H, 4 * H));
        c = tf.add(tf.mul(f, c), tf.mul(i, g));
        h = tf.mul(o, tf.tanh(c));
      }
      const logits = dense(h, p.Wy!, p.by!);
      return { loss: meanCE(logits, x.y!), outputs: { logits } };
    },
  },

  "softmax_classifier.bp": {
    inputs: { x: { shape: [B, 20], gen: normal() }, y: { shape: [B], gen: int(0, 5) } },
    model(p, x) {
      const logits = dense(x.x!, p.W!, p.b!);
      const logp = tf.logSoftmax(logits, -1);
      const nll = tf.neg(tf.mean(tf.sum(tf.mul(logp, oneHotF(x.y!, 5)), 1)));
      const loss = tf.add(nll, tf.mul(0.0001, tf.sum(tf.square(p.W!)))) as tf.Scalar;
      return { loss, outputs: { logits } };
    },
  },
};
