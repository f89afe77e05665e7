// First-order optimizers that update a compiled module's `Params` in place
// from the `grads` returned by its `backward`. Semantics follow PyTorch's
// torch.optim.SGD (dampening 0, no Nesterov) and torch.optim.Adam.

/** Named parameter tensors, e.g. a compiled module's `Params`. */
export type ParamSet = Record<string, Float32Array | Float64Array>;

/** Gradients by parameter name; keys that are not parameters (input gradients) are ignored. */
export type GradSet = Readonly<Record<string, Float32Array | Float64Array>>;

/** An optimizer: call `step` once per mini-batch with that batch's gradients. */
export interface Optimizer {
  /** Learning rate; may be changed between steps to follow a schedule. */
  lr: number;
  /**
   * Updates every tensor of `params` in place using `grads`. Throws, before
   * touching any parameter, if a gradient is missing or its length differs.
   */
  step(params: ParamSet, grads: GradSet): void;
  /**
   * The L2 norm of the change the last `step` made to each parameter, by
   * name (empty before the first step): what `monitor`'s update-ratio reads.
   */
  readonly updateNorms: Record<string, number>;
}

/** Options for {@link sgd}. */
export interface SgdOptions {
  /** Learning rate. */
  lr: number;
  /** Momentum factor μ in [0, 1) (default 0): v = μ·v + g; p -= lr·v. */
  momentum?: number;
  /** L2 penalty added to the gradient, g += weightDecay·p (default 0). */
  weightDecay?: number;
}

/** Options for {@link adam}. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay of the first-moment estimate (default 0.9). */
  beta1?: number;
  /** Decay of the second-moment estimate (default 0.999). */
  beta2?: number;
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps?: number;
}

function checkRange(name: string, value: number, lo: number, hi: number): void {
  if (!(Number.isFinite(value) && value >= lo && value < hi))
    throw new Error(`${name} must be in [${lo}, ${hi}), got ${value}`);
}

function checkLr(who: string, lr: number): void {
  if (!(Number.isFinite(lr) && lr > 0)) throw new Error(`${who}: lr must be a positive finite number, got ${lr}`);
}

/** Checks every gradient up front so a bad call leaves `params` untouched. */
function checkGrads(who: string, params: ParamSet, grads: GradSet): void {
  for (const name of Object.keys(params)) {
    const g = grads[name];
    if (g === undefined) throw new Error(`${who}.step: no gradient for parameter "${name}"`);
    if (g.length !== params[name].length) {
      throw new Error(
        `${who}.step: gradient for "${name}" has length ${g.length}, but the parameter has length ${params[name].length}`,
      );
    }
  }
}

/**
 * Per-parameter state buffers, allocated on first sight of each name and
 * reused afterwards. State is kept in float64 so that float32 parameters do
 * not also accumulate rounding error in their moment estimates.
 */
function stateFor(who: string, store: Map<string, Float64Array>, name: string, length: number): Float64Array {
  let buf = store.get(name);
  if (buf === undefined) {
    buf = new Float64Array(length);
    store.set(name, buf);
  } else if (buf.length !== length) {
    throw new Error(`${who}.step: parameter "${name}" changed length from ${buf.length} to ${length} between steps`);
  }
  return buf;
}

/**
 * Stochastic gradient descent, optionally with momentum and weight decay
 * (PyTorch semantics): g' = g + weightDecay·p; v = momentum·v + g'; p -= lr·v.
 * With momentum 0 this is plain p -= lr·g'.
 */
export function sgd(options: SgdOptions): Optimizer {
  const { momentum = 0, weightDecay = 0 } = options;
  checkLr("sgd", options.lr);
  checkRange("sgd: momentum", momentum, 0, 1);
  checkRange("sgd: weightDecay", weightDecay, 0, Infinity);
  const velocity = new Map<string, Float64Array>();
  // `opt.lr` rather than `this.lr`, so a detached `step` still works.
  const opt: Optimizer = {
    lr: options.lr,
    updateNorms: {},
    step(params, grads) {
      const lr = opt.lr;
      checkLr("sgd", lr);
      checkGrads("sgd", params, grads);
      for (const name of Object.keys(params)) {
        const p = params[name];
        const g = grads[name];
        let sq = 0;
        if (momentum === 0) {
          for (let i = 0; i < p.length; i++) {
            const d = lr * (g[i] + weightDecay * p[i]);
            p[i] -= d;
            sq += d * d;
          }
        } else {
          const v = stateFor("sgd", velocity, name, p.length);
          for (let i = 0; i < p.length; i++) {
            v[i] = momentum * v[i] + g[i] + weightDecay * p[i];
            const d = lr * v[i];
            p[i] -= d;
            sq += d * d;
          }
        }
        opt.updateNorms[name] = Math.sqrt(sq);
      }
    },
  };
  return opt;
}

/**
 * Adam (Kingma & Ba), PyTorch semantics with bias correction: at step t,
 * m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
 * p -= lr · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + eps).
 * The step count t is shared by all parameters (each `step` advances it once).
 */
export function adam(options: AdamOptions = {}): Optimizer {
  const { lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = options;
  checkLr("adam", lr);
  checkRange("adam: beta1", beta1, 0, 1);
  checkRange("adam: beta2", beta2, 0, 1);
  if (!(Number.isFinite(eps) && eps > 0)) throw new Error(`adam: eps must be a positive finite number, got ${eps}`);
  const first = new Map<string, Float64Array>();
  const second = new Map<string, Float64Array>();
  let t = 0;
  const opt: Optimizer = {
    lr,
    updateNorms: {},
    step(params, grads) {
      checkLr("adam", opt.lr);
      checkGrads("adam", params, grads);
      t++;
      const stepSize = opt.lr / (1 - beta1 ** t);
      const sqrtBias2 = Math.sqrt(1 - beta2 ** t);
      for (const name of Object.keys(params)) {
        const p = params[name];
        const g = grads[name];
        const m = stateFor("adam", first, name, p.length);
        const v = stateFor("adam", second, name, p.length);
        let sq = 0;
        for (let i = 0; i < p.length; i++) {
          m[i] = beta1 * m[i] + (1 - beta1) * g[i];
          v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
          const d = (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtBias2 + eps);
          p[i] -= d;
          sq += d * d;
        }
        opt.updateNorms[name] = Math.sqrt(sq);
      }
    },
  };
  return opt;
}
