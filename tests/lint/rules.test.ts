// The linter, rule by rule: "this source gives these messages at these
// locations" (graphql-js style). Each buggy model marks the line its finding
// must point at with `# @expect RULE` and lists the params it must report;
// each clean-but-tricky model must give no diagnostic at all (a false
// positive is a failing test).
import { describe, expect, it } from "vitest";
import { frontEnd } from "../../src/passes/pipeline.js";
import { RULE_META, type LintDiagnostic } from "../../src/lint/index.js";
import { lint } from "../helpers/lint.js"; // a rule that throws fails the test
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

interface Buggy {
  name: string;
  source: string;
  rule: string;
  params: string[];
}

function lintSource(source: string, file = "test.bp"): LintDiagnostic[] {
  const { ir } = frontEnd(source, file);
  return lint(ir, source);
}

/** 1-based lines carrying `# @expect RULE`. */
function expectedLines(source: string, rule: string): number[] {
  return source
    .split("\n")
    .map((l, i) => (l.includes(`# @expect ${rule}`) ? i + 1 : 0))
    .filter((n) => n > 0);
}

const MLP_HEAD = `
dim B
dim D = 64
dim H = 32
dim C = 10
input x: [B, D] ~ normal(0, 1)
input y: int[B] in [0, C)
`;

const BUGGY: Buggy[] = [
  // ---- clip-before-loss -------------------------------------------------------------
  {
    name: "the article's DQN: square of the clipped residual",
    rule: "clip-before-loss",
    params: ["W1", "b1", "W2", "b2"],
    source: `
dim B
input s: [B, 8] ~ normal(0, 1)
input a: int[B] in [0, 4)
input target_q: [B] ~ normal(0, 3)
param W1: [8, 32] ~ he
param b1: [32] ~ zeros
param W2: [32, 4] ~ xavier
param b2: [4] ~ zeros
q = relu(s @ W1 + b1) @ W2 + b2
delta = target_q - pick(q, a)
clipped = clip(delta, -1, 1)          # @expect clip-before-loss
minimize mean(square(clipped))
`,
  },
  {
    name: "a clipped prediction in a regression loss",
    rule: "clip-before-loss",
    params: ["W", "b"],
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: [B, 1] in [0, 1]
param W: [16, 1] ~ normal(0, 1)
param b: [1] ~ zeros
pred = clip(x @ W + b, 0, 1)          # @expect clip-before-loss
minimize mean(square(pred - y))
`,
  },
  {
    name: "minimum against a constant before the loss",
    rule: "clip-before-loss",
    params: ["W"],
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: [B, 1] ~ normal(0, 1)
param W: [16, 1] ~ xavier
capped = minimum(x @ W, 0.5)          # @expect clip-before-loss
minimize mean(square(capped - y))
`,
  },
  {
    name: "maximum against a data floor, inline in the loss",
    rule: "clip-before-loss",
    params: ["w", "c"],
    source: `
dim B
input x: [B, 4] ~ normal(0, 1)
input floor_: [B] ~ normal(0, 1)
input y: [B] ~ normal(0, 2)
param w: [4] ~ normal(0, 1)
param c: [] ~ zeros
loss = mean(square(maximum(x @ w + c, floor_) - y))   # @expect clip-before-loss
minimize loss
`,
  },

  // ---- zero-gradient-op ---------------------------------------------------------------
  {
    name: "round on the prediction; W still learns from weight decay",
    rule: "zero-gradient-op",
    params: ["W"],
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: [B, 4] ~ normal(0, 1)
param W: [16, 4] ~ xavier
pred = round(x @ W)                   # @expect zero-gradient-op
minimize mean(square(pred - y)) + 0.01 * sum(square(W))
`,
  },
  {
    name: "a hard gate from a comparison; Wg learns only from its penalty",
    rule: "zero-gradient-op",
    params: ["Wg"],
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: [B, 8] ~ normal(0, 1)
param Wg: [16, 8] ~ xavier
param W: [16, 8] ~ xavier
gate = x @ Wg > 0                     # @expect zero-gradient-op
minimize mean(square(gate * (x @ W) - y)) + 0.001 * sum(square(Wg))
`,
  },
  {
    name: "argmax picks a column; Wa learns only from its penalty",
    rule: "zero-gradient-op",
    params: ["Wa"],
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
param Wa: [16, 4] ~ xavier
param Wq: [16, 4] ~ xavier
sel = one_hot(argmax(x @ Wa, axis=1), 4)   # @expect zero-gradient-op
minimize mean(sum(sel * square(x @ Wq), axis=1)) + 0.01 * sum(square(Wa))
`,
  },
  {
    name: "sign of a learned score",
    rule: "zero-gradient-op",
    params: ["w"],
    source: `
dim B
input x: [B, 8] ~ normal(0, 1)
input y: [B] in [-1, 1]
param w: [8] ~ normal(0, 1)
minimize mean(square(sign(x @ w) - y)) + mean(square(w))   # @expect zero-gradient-op
`,
  },

  // ---- no-gradient ------------------------------------------------------------------------
  {
    name: "a declared param that the loss never uses",
    rule: "no-gradient",
    params: ["W3"],
    source: `${MLP_HEAD}
param W1: [D, H] ~ he
param W2: [H, C] ~ xavier
param W3: [H, C] ~ xavier             # @expect no-gradient
logits = relu(x @ W1) @ W2
minimize mean(cross_entropy(logits, y))
`,
  },
  {
    name: "a param used only by an output",
    rule: "no-gradient",
    params: ["Wv"],
    source: `${MLP_HEAD}
param W1: [D, C] ~ xavier
param Wv: [D, 1] ~ xavier             # @expect no-gradient
value = x @ Wv
output value
minimize mean(cross_entropy(x @ W1, y))
`,
  },
  {
    name: "every path cut by floor (a quantised layer)",
    rule: "no-gradient",
    params: ["W1", "b1"],
    source: `${MLP_HEAD}
param W1: [D, H] ~ he
param b1: [H] ~ zeros
param W2: [H, C] ~ xavier
h = floor(x @ W1 + b1)                # @expect no-gradient
minimize mean(cross_entropy(h @ W2, y))
`,
  },
  {
    name: "a hard gate with no other path",
    rule: "no-gradient",
    params: ["Wg"],
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: [B, 8] ~ normal(0, 1)
param Wg: [16, 8] ~ xavier
param W: [16, 8] ~ xavier
mask = where(x @ Wg > 0, 1, 0)        # @expect no-gradient
minimize mean(square(mask * (x @ W) - y))
`,
  },

  // ---- saturation ----------------------------------------------------------------------------
  {
    name: "the article: sigmoid on raw 0-255 pixels with normal(0, 1) weights",
    rule: "saturation",
    params: ["W1", "b1"],
    source: `
dim B
dim D = 784
input x: [B, D] in [0, 255]
input y: int[B] in [0, 10)
param W1: [D, 100] ~ normal(0, 1)
param b1: [100] ~ zeros
param W2: [100, 10] ~ xavier
h = sigmoid(x @ W1 + b1)              # @expect saturation
minimize mean(cross_entropy(h @ W2, y))
`,
  },
  {
    name: "tanh with a unit-variance init over fan-in 256",
    rule: "saturation",
    params: ["W", "b"],
    source: `
dim B
input x: [B, 256] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [256, 64] ~ normal(0, 1)
param b: [64] ~ zeros
param V: [64, 10] ~ xavier
h = tanh(x @ W + b)                   # @expect saturation
minimize mean(cross_entropy(h @ V, y))
`,
  },
  {
    name: "a second-layer sigmoid after a relu layer, large init",
    rule: "saturation",
    params: ["W1", "b1", "W2"],
    source: `
dim B
input x: [B, 64] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W1: [64, 256] ~ he
param b1: [256] ~ zeros
param W2: [256, 64] ~ normal(0, 1)
param V: [64, 10] ~ xavier
h1 = relu(x @ W1 + b1)
h2 = sigmoid(h1 @ W2)                 # @expect saturation
minimize mean(cross_entropy(h2 @ V, y))
`,
  },
  {
    name: "softplus pushed far negative by its bias",
    rule: "saturation",
    params: ["W", "b"],
    source: `
dim B
input x: [B, 32] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [32, 64] ~ xavier
param b: [64] ~ const(-8)
param V: [64, 10] ~ xavier
h = softplus(x @ W + b)               # @expect saturation
minimize mean(cross_entropy(h @ V, y))
`,
  },

  // ---- dead-relu ---------------------------------------------------------------------------------
  {
    name: "the article: a negative bias with small weights kills every unit",
    rule: "dead-relu",
    params: ["W1", "b1"],
    source: `
dim B
input x: [B, 784] in [0, 1]
input y: int[B] in [0, 10)
param W1: [784, 128] ~ normal(0, 0.01)
param b1: [128] ~ const(-1)
param W2: [128, 10] ~ xavier
h = relu(x @ W1 + b1)                 # @expect dead-relu
minimize mean(cross_entropy(h @ W2, y))
`,
  },
  {
    name: "zero-initialised weights: z = 0 exactly and relu'(0) = 0",
    rule: "dead-relu",
    params: ["W1", "b1"],
    source: `${MLP_HEAD}
param W1: [D, H] ~ zeros
param b1: [H] ~ zeros
param W2: [H, C] ~ xavier
h = relu(x @ W1 + b1)                 # @expect dead-relu
minimize mean(cross_entropy(h @ W2, y))
`,
  },
  {
    name: "never positive by construction",
    rule: "dead-relu",
    params: ["W1"],
    source: `${MLP_HEAD}
param W1: [D, H] ~ he
param W2: [H, C] ~ xavier
h = relu(-square(x @ W1))             # @expect dead-relu
minimize mean(cross_entropy(h @ W2, y))
`,
  },
  {
    name: "non-negative pixels times non-positive weights",
    rule: "dead-relu",
    params: ["W1"],
    source: `
dim B
input x: [B, 64] in [0, 1]
input y: int[B] in [0, 10)
param W1: [64, 32] ~ uniform(-0.1, 0)
param W2: [32, 10] ~ xavier
h = maximum(x @ W1, 0)                # @expect dead-relu
minimize mean(cross_entropy(h @ W2, y))
`,
  },

  // ---- exploding-gradient -------------------------------------------------------------------------
  {
    name: "the CS231n slide: relu RNN with Whh = randn(H, H)",
    rule: "exploding-gradient",
    params: ["Wx", "Wh", "bh"],
    source: `
dim B
dim T = 50
input xs: [T, B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param Wx: [16, 64] ~ xavier
param Wh: [64, 64] ~ normal(0, 1)
param bh: [64] ~ zeros
param Wy: [64, 10] ~ xavier
h = zeros([B, 64])
for t in 0..T {
  h = relu(xs[t] @ Wx + h @ Wh + bh)  # @expect exploding-gradient
}
minimize mean(cross_entropy(h @ Wy, y))
`,
  },
  {
    name: "tanh RNN with a unit-variance recurrent init",
    rule: "exploding-gradient",
    params: ["Wx", "Wh"],
    source: `
dim B
dim T = 40
input xs: [T, B, 8] ~ normal(0, 1)
input y: int[B] in [0, 10)
param Wx: [8, 64] ~ xavier
param Wh: [64, 64] ~ normal(0, 1)
param Wy: [64, 10] ~ xavier
h = zeros([B, 64])
for t in 0..T {
  h = tanh(xs[t] @ Wx + h @ Wh)       # @expect exploding-gradient # @expect saturation
}
minimize mean(cross_entropy(h @ Wy, y))
`,
  },
  {
    name: "a linear recurrence with radius ≈ 2.8",
    rule: "exploding-gradient",
    params: ["Wx", "Wh"],
    source: `
dim B
dim T = 20
input xs: [T, B, 8] ~ normal(0, 1)
input y: [B, 32] ~ normal(0, 1)
param Wx: [8, 32] ~ xavier
param Wh: [32, 32] ~ normal(0, 0.5)
h = zeros([B, 32])
for t in 0..T {
  h = h @ Wh + xs[t] @ Wx             # @expect exploding-gradient
}
minimize mean(square(h - y))
`,
  },

  // ---- vanishing-gradient -------------------------------------------------------------------------
  {
    name: "a sigmoid RNN over 50 steps (slope at most 0.25)",
    rule: "vanishing-gradient",
    params: ["Wx", "Wh", "bh"],
    source: `
dim B
dim T = 50
input xs: [T, B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param Wx: [16, 64] ~ xavier
param Wh: [64, 64] ~ orthogonal
param bh: [64] ~ zeros
param Wy: [64, 10] ~ xavier
h = zeros([B, 64])
for t in 0..T {
  h = sigmoid(xs[t] @ Wx + h @ Wh + bh)   # @expect vanishing-gradient
}
minimize mean(cross_entropy(h @ Wy, y))
`,
  },
  {
    name: "tanh RNN with a tiny recurrent init",
    rule: "vanishing-gradient",
    params: ["Wx", "Wh"],
    source: `
dim B
dim T = 30
input xs: [T, B, 8] ~ normal(0, 1)
input y: int[B] in [0, 10)
param Wx: [8, 64] ~ xavier
param Wh: [64, 64] ~ normal(0, 0.01)
param Wy: [64, 10] ~ xavier
h = zeros([B, 64])
for t in 0..T {
  h = tanh(xs[t] @ Wx + h @ Wh)       # @expect vanishing-gradient
}
minimize mean(cross_entropy(h @ Wy, y))
`,
  },
  {
    name: "a leaky state that decays by half each step",
    rule: "vanishing-gradient",
    params: ["Wx", "Wh"],
    source: `
dim B
dim T = 50
input xs: [T, B, 8] ~ normal(0, 1)
input y: int[B] in [0, 10)
param Wx: [8, 32] ~ xavier
param Wh: [32, 32] ~ orthogonal
param Wy: [32, 10] ~ xavier
h = zeros([B, 32])
for t in 0..T {
  h = 0.5 * h + 0.1 * tanh(h @ Wh + xs[t] @ Wx)   # @expect vanishing-gradient
}
minimize mean(cross_entropy(h @ Wy, y))
`,
  },

  // ---- numeric-instability -------------------------------------------------------------------------
  {
    name: "log of softmax",
    rule: "numeric-instability",
    params: ["W"],
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [16, 10] ~ xavier
logp = log(softmax(x @ W))            # @expect numeric-instability
minimize -mean(sum(one_hot(y, 10) * logp, axis=1))
`,
  },
  {
    name: "log of the picked softmax probability",
    rule: "numeric-instability",
    params: ["W"],
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [16, 10] ~ xavier
minimize -mean(log(pick(softmax(x @ W), y)))   # @expect numeric-instability
`,
  },
  {
    name: "layer norm without an epsilon",
    rule: "numeric-instability",
    params: ["W"],
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [16, 10] ~ xavier
h = x @ W
mu = mean(h, axis=1, keepdims=true)
var = mean(square(h - mu), axis=1, keepdims=true)
n = (h - mu) / sqrt(var)              # @expect numeric-instability
minimize mean(cross_entropy(n, y))
`,
  },
  {
    name: "log of sigmoid",
    rule: "numeric-instability",
    params: ["w"],
    source: `
dim B
input x: [B, 8] ~ normal(0, 1)
param w: [8] ~ normal(0, 0.3)
minimize -mean(log(sigmoid(x @ w)))   # @expect numeric-instability
`,
  },
  {
    name: "a weight norm of a zero-initialised param",
    rule: "numeric-instability",
    params: ["V"],
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [16, 10] ~ he
param V: [10, 10] ~ zeros
minimize mean(cross_entropy(x @ W + x @ W @ V, y)) + 0.01 * sqrt(sum(square(V)))   # @expect numeric-instability
`,
  },
  {
    name: "log of a relu",
    rule: "numeric-instability",
    params: ["W"],
    source: `
dim B
input x: [B, 8] ~ normal(0, 1)
param W: [8, 4] ~ he
minimize -mean(log(relu(x @ W)))      # @expect numeric-instability
`,
  },
];

interface Clean {
  name: string;
  source: string;
}

const CLEAN: Clean[] = [
  {
    name: "reward clipping: a clip on a value that depends on no parameter",
    source: `
dim B
input s: [B, 8] ~ normal(0, 1)
input a: int[B] in [0, 4)
input r: [B] ~ normal(0, 5)
param W1: [8, 32] ~ he
param b1: [32] ~ zeros
param W2: [32, 4] ~ xavier
r_c = clip(r, -1, 1)
q = pick(relu(s @ W1 + b1) @ W2, a)
minimize mean(huber(r_c - q, 1))
`,
  },
  {
    name: "huber loss on the residual",
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: [B] ~ normal(0, 10)
param w: [16] ~ normal(0, 0.25)
minimize mean(huber(x @ w - y, 1))
`,
  },
  {
    name: "DQN with a separate target network under stop_gradient",
    source: `
dim B
input s: [B, 8] ~ normal(0, 1)
input s2: [B, 8] ~ normal(0, 1)
input a: int[B] in [0, 4)
input r: [B] in [-1, 1]
param W: [8, 4] ~ xavier
param Wt: [8, 4] ~ xavier
target = stop_gradient(r + 0.99 * max(s2 @ Wt, axis=1))
minimize mean(huber(target - pick(s @ W, a), 1))
`,
  },
  {
    name: "he-initialised relu MLP on normalised inputs",
    source: `
dim B
input x: [B, 784] in [0, 1]
input y: int[B] in [0, 10)
param W1: [784, 256] ~ he
param b1: [256] ~ zeros
param W2: [256, 128] ~ he
param b2: [128] ~ zeros
param W3: [128, 10] ~ xavier
h1 = relu(x @ W1 + b1)
h2 = relu(h1 @ W2 + b2)
minimize mean(cross_entropy(h2 @ W3, y))
`,
  },
  {
    name: "xavier tanh MLP",
    source: `
dim B
input x: [B, 128] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W1: [128, 128] ~ xavier
param W2: [128, 128] ~ xavier
param W3: [128, 10] ~ xavier
h = tanh(tanh(x @ W1) @ W2)
minimize mean(cross_entropy(h @ W3, y))
`,
  },
  {
    name: "LSTM with a forget gate",
    source: `
dim B
dim T = 60
input xs: [T, B, 8] ~ normal(0, 1)
input y: int[B] in [0, 10)
param Wi: [8, 32] ~ xavier
param Ui: [32, 32] ~ orthogonal
param Wf: [8, 32] ~ xavier
param Uf: [32, 32] ~ orthogonal
param bf: [32] ~ ones
param Wo: [8, 32] ~ xavier
param Uo: [32, 32] ~ orthogonal
param Wg: [8, 32] ~ xavier
param Ug: [32, 32] ~ orthogonal
param Wy: [32, 10] ~ xavier
h = zeros([B, 32])
c = zeros([B, 32])
for t in 0..T {
  x = xs[t]
  i = sigmoid(x @ Wi + h @ Ui)
  f = sigmoid(x @ Wf + h @ Uf + bf)
  o = sigmoid(x @ Wo + h @ Uo)
  g = tanh(x @ Wg + h @ Ug)
  c = f * c + i * g
  h = o * tanh(c)
}
minimize mean(cross_entropy(h @ Wy, y))
`,
  },
  {
    name: "layer norm with sqrt(var + 1e-5)",
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [16, 10] ~ xavier
param g: [10] ~ ones
h = x @ W
mu = mean(h, axis=1, keepdims=true)
var = mean(square(h - mu), axis=1, keepdims=true)
n = g * (h - mu) / sqrt(var + 1e-5)
minimize mean(cross_entropy(n, y))
`,
  },
  {
    name: "clip_grad inside a tanh RNN",
    source: `
dim B
dim T = 50
input xs: [T, B, 8] ~ normal(0, 1)
input y: int[B] in [0, 10)
param Wx: [8, 64] ~ xavier
param Wh: [64, 64] ~ orthogonal
param Wy: [64, 10] ~ xavier
h = zeros([B, 64])
for t in 0..T {
  h = clip_grad(tanh(xs[t] @ Wx + h @ Wh), -1, 1)
}
minimize mean(cross_entropy(h @ Wy, y))
`,
  },
  {
    name: "log_softmax loss",
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [16, 10] ~ xavier
minimize -mean(sum(one_hot(y, 10) * log_softmax(x @ W), axis=1))
`,
  },
  {
    name: "a sigmoid output layer with small logits",
    source: `
dim B
input x: [B, 32] in [0, 1]
input y: [B, 1] in [0, 1]
param W1: [32, 64] ~ he
param W2: [64, 1] ~ xavier
p = sigmoid(relu(x @ W1) @ W2)
output p
minimize mean(square(p - y))
`,
  },
  {
    name: "a hand-written leaky relu: maximum(z, 0.01 * z)",
    source: `
dim B
input x: [B, 32] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W1: [32, 64] ~ he
param W2: [64, 10] ~ xavier
z = x @ W1
h = maximum(z, 0.01 * z)
minimize mean(cross_entropy(h @ W2, y))
`,
  },
  {
    name: "a relu with a positive bias",
    source: `
dim B
input x: [B, 32] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W1: [32, 64] ~ he
param b1: [64] ~ const(0.1)
param W2: [64, 10] ~ xavier
minimize mean(cross_entropy(relu(x @ W1 + b1) @ W2, y))
`,
  },
  {
    name: "hinge loss: maximum(0, 1 - margin) is flat only where the loss is already 0",
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: [B] in [-1, 1]
param w: [16] ~ normal(0, 0.25)
minimize mean(maximum(0, 1 - y * (x @ w)))
`,
  },
  {
    name: "a hand-written leaky relu with where(z > 0, ...)",
    source: `
dim B
input x: [B, 32] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W1: [32, 64] ~ he
param W2: [64, 10] ~ xavier
z = x @ W1
minimize mean(cross_entropy(where(z > 0, z, 0.01 * z) @ W2, y))
`,
  },
  {
    name: "straight-through rounding",
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: [B, 4] ~ normal(0, 1)
param W: [16, 4] ~ xavier
z = x @ W
q = z + stop_gradient(round(z) - z)
minimize mean(square(q - y))
`,
  },
  {
    name: "PPO's clipped surrogate",
    source: `
dim B
input x: [B, 8] ~ normal(0, 1)
input act: int[B] in [0, 4)
input old_logp: [B] ~ normal(-1.4, 0.1)
input adv: [B] ~ normal(0, 1)
param W: [8, 4] ~ xavier
logp = pick(log_softmax(x @ W), act)
ratio = exp(logp - old_logp)
minimize -mean(minimum(ratio * adv, clip(ratio, 0.8, 1.2) * adv))
`,
  },
  {
    name: "double DQN: argmax under stop_gradient",
    source: `
dim B
input s: [B, 8] ~ normal(0, 1)
input s2: [B, 8] ~ normal(0, 1)
input a: int[B] in [0, 4)
input r: [B] in [-1, 1]
param W: [8, 4] ~ xavier
param Wt: [8, 4] ~ xavier
best = argmax(s2 @ W, axis=1)
target = stop_gradient(r + 0.99 * pick(s2 @ Wt, best))
minimize mean(huber(target - pick(s @ W, a), 1))
`,
  },
  {
    name: "a manual softmax: division by a sum of exponentials",
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [16, 10] ~ xavier
z = x @ W
e = exp(z - max(z, axis=1, keepdims=true))
p = e / sum(e, axis=1, keepdims=true)
minimize mean(sum(square(p - one_hot(y, 10)), axis=1))
`,
  },
  {
    name: "a vanilla tanh RNN with an orthogonal recurrent matrix",
    source: `
dim B
dim T = 50
input xs: [T, B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param Wx: [16, 64] ~ xavier
param Wh: [64, 64] ~ orthogonal
param Wy: [64, 10] ~ xavier
h = zeros([B, 64])
loss = 0
for t in 0..T {
  h = tanh(xs[t] @ Wx + h @ Wh)
  loss = loss + mean(cross_entropy(h @ Wy, y))
}
minimize loss / 50
`,
  },
  {
    name: "a weight-norm penalty sqrt(sum(square(W))) on a he-initialised W",
    source: `
dim B
input x: [B, 16] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W: [16, 10] ~ he
minimize mean(cross_entropy(x @ W, y)) + 0.01 * sqrt(sum(square(W)))
`,
  },
  {
    name: "a residual block with a tanh branch",
    source: `
dim B
input x: [B, 64] ~ normal(0, 1)
input y: int[B] in [0, 10)
param W1: [64, 64] ~ xavier
param W2: [64, 64] ~ xavier
param Wy: [64, 10] ~ xavier
h = x + tanh(x @ W1) @ W2
minimize mean(cross_entropy(h @ Wy, y))
`,
  },
];

describe("every buggy model gives its rule at the marked line with the affected params", () => {
  const byRule = new Map<string, Buggy[]>();
  for (const b of BUGGY) byRule.set(b.rule, [...(byRule.get(b.rule) ?? []), b]);

  it("has at least 3 buggy models per rule", () => {
    for (const rule of RULE_META.map((r) => r.id)) expect(byRule.get(rule)?.length ?? 0, rule).toBeGreaterThanOrEqual(3);
  });

  for (const [rule, models] of byRule) {
    describe(rule, () => {
      it.each(models.map((m) => [m.name, m] as const))("%s", (_name, m) => {
        const diags = lintSource(m.source);
        const mine = diags.filter((d) => d.rule === m.rule);
        const lines = expectedLines(m.source, m.rule);
        expect(mine.map((d) => d.span.line), JSON.stringify(diags.map((d) => [d.rule, d.span.line, d.message]), null, 1)).toEqual(lines);
        expect(mine[0].params).toEqual(m.params);
        expect(mine[0].severity).toBe(RULE_META.find((r) => r.id === m.rule)!.severity);
        expect(mine[0].fix.description.length).toBeGreaterThan(10);
        // The span covers the responsible expression on that line.
        const text = m.source.split("\n")[mine[0].span.line - 1].slice(mine[0].span.col - 1, mine[0].span.endCol - 1);
        expect(text.trim().length).toBeGreaterThan(0);
        // No finding of another rule on a clean part of the model.
        for (const d of diags.filter((d) => d.rule !== m.rule)) {
          expect(expectedLines(m.source, d.rule), `unexpected ${d.rule} at line ${d.span.line}: ${d.message}`).toContain(d.span.line);
        }
      });
    });
  }
});

describe("clean-but-tricky models give no diagnostic", () => {
  it("has at least 12 of them", () => expect(CLEAN.length).toBeGreaterThanOrEqual(12));
  it.each(CLEAN.map((m) => [m.name, m] as const))("%s", (_name, m) => {
    const diags = lintSource(m.source);
    expect(diags.map((d) => `${d.rule} line ${d.span.line}: ${d.message}`)).toEqual([]);
  });
});

describe("the examples", () => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "../../examples");
  const cases: [string, string[]][] = [
    ["sigmoid_mlp_raw.bp", ["saturation"]],
    ["sigmoid_mlp.bp", []],
    ["dead_relu.bp", ["dead-relu"]],
    ["relu_he.bp", []],
    ["rnn_exploding.bp", ["exploding-gradient"]],
    ["rnn_vanishing.bp", ["vanishing-gradient"]],
    ["lstm.bp", []],
    ["dqn_clipped.bp", ["clip-before-loss"]],
    ["dqn.bp", []],
    ["mlp.bp", []],
    ["rnn.bp", []],
  ];
  it.each(cases)("%s gives %j", (file, rules) => {
    const src = readFileSync(join(dir, file), "utf8");
    expect(lintSource(src, `examples/${file}`).map((d) => d.rule)).toEqual(rules);
  });
});

describe("messages carry the numbers", () => {
  const one = (source: string, rule: string) => {
    const d = lintSource(source).filter((x) => x.rule === rule);
    expect(d).toHaveLength(1);
    return d[0];
  };
  const num = (msg: string, re: RegExp): number => {
    const m = re.exec(msg);
    expect(m, `${re} in: ${msg}`).not.toBeNull();
    return Number(m![1]);
  };

  it("saturation: the pre-activation's std against the closed form sqrt(K · E[x²] · var(W))", () => {
    // x ~ U[0, 255]: E[x²] = 255²/3 = 21675; K = 784; var(W1) = 1 -> std = sqrt(784 · 21675) ≈ 4122.
    const d = one(BUGGY.find((b) => b.name.startsWith("the article: sigmoid"))!.source, "saturation");
    const std = num(d.message, /has std ≈ ([\d.e]+)/);
    expect(Math.abs(std - Math.sqrt(784 * 21675)) / Math.sqrt(784 * 21675)).toBeLessThan(0.1);
    expect(d.message).toContain("x in [0, 255]");
    expect(d.message).toContain("fan-in 784");
    expect(d.message).toContain("W1 ~ normal(0, 1)");
    expect(d.message).toMatch(/\|z\| > 4\.6, where sigmoid' < 0\.01/);
    // P(|N(0, 4122)| > 4.6) = 99.9%
    expect(num(d.message, /about ([\d.]+)%/)).toBeGreaterThan(99);
  });

  it("saturation: tanh over fan-in 256 with unit weights has std 16 and ~87% beyond 2.65", () => {
    const d = one(BUGGY.find((b) => b.name.startsWith("tanh with a unit"))!.source, "saturation");
    expect(num(d.message, /has std ≈ ([\d.e]+)/)).toBeGreaterThan(16 * 0.85);
    expect(num(d.message, /has std ≈ ([\d.e]+)/)).toBeLessThan(16 * 1.15);
    // Independent estimate: P(|N(0, 16)| > 2.65) = 2 · Φ(-2.65/16) = 0.868.
    expect(Math.abs(num(d.message, /about ([\d.]+)%/) - 86.8)).toBeLessThan(4);
  });

  it("dead-relu: the off fraction against Φ((0 - mean) / std) of the closed form", () => {
    // z = x @ W1 + b1, x ~ U[0, 1], W1 ~ N(0, 0.01), b1 = -1: mean -1, std sqrt(784 · (1/3) · 1e-4) = 0.162.
    const d = one(BUGGY.find((b) => b.name.startsWith("the article: a negative bias"))!.source, "dead-relu");
    expect(num(d.message, /mean ≈ (-?[\d.]+)/)).toBeCloseTo(-1, 1);
    expect(Math.abs(num(d.message, /std ≈ ([\d.]+)/) - 0.162)).toBeLessThan(0.02);
    expect(num(d.message, /about ([\d.]+)%/)).toBeGreaterThan(99.9);
  });

  it("exploding-gradient: the spectral radius against the asymptotic s·√n and the T-th power", () => {
    const d = one(BUGGY.find((b) => b.name.startsWith("the CS231n slide"))!.source, "exploding-gradient");
    const radius = num(d.message, /spectral radius at init is ≈ ([\d.]+)/);
    // normal(0, 1) on 64×64: radius ≈ √64 = 8 (circular law), within sampling noise.
    expect(Math.abs(radius - 8) / 8).toBeLessThan(0.15);
    const exp = num(d.message, /scales by up to [\d.]+\^50 ≈ 1e(\d+)/);
    expect(Math.abs(exp - 50 * Math.log10(radius))).toBeLessThanOrEqual(1);
    expect(d.message).toContain("relu's largest slope 1");
  });

  it("vanishing-gradient: orthogonal radius 1 times sigmoid's 0.25, to the 50th", () => {
    const d = one(BUGGY.find((b) => b.name.startsWith("a sigmoid RNN"))!.source, "vanishing-gradient");
    expect(num(d.message, /spectral radius at init is ≈ ([\d.]+)/)).toBeCloseTo(1, 1);
    expect(d.message).toContain("sigmoid's largest slope 0.25");
    // 0.25^50 = 7.9e-31
    expect(num(d.message, /scales by up to [\d.]+\^50 ≈ 1e(-\d+)/)).toBe(-30);
  });

  it("clip-before-loss: the sampled fraction of delta outside [-1, 1]", () => {
    const d = one(BUGGY[0].source, "clip-before-loss");
    expect(d.message).toContain("outside [-1, 1]");
    // delta = target_q - q with target_q ~ N(0, 3) dominating: P(|N(0, ~3)| > 1) ≈ 0.74.
    const f = num(d.message, /at init ([\d.]+)%/);
    expect(f).toBeGreaterThan(60);
    expect(f).toBeLessThan(85);
  });
});

describe("fixes", () => {
  const apply = (source: string, edits: { span: { line: number; col: number; endLine: number; endCol: number }; text: string }[]): string => {
    const lines = source.split("\n");
    for (const e of [...edits].sort((a, b) => b.span.line - a.span.line || b.span.col - a.span.col)) {
      expect(e.span.line).toBe(e.span.endLine);
      const l = lines[e.span.line - 1];
      lines[e.span.line - 1] = l.slice(0, e.span.col - 1) + e.text + l.slice(e.span.endCol - 1);
    }
    return lines.join("\n");
  };

  it.each([
    ["the article's DQN", "clip-before-loss", "huber(delta, 1)"],
    ["log of softmax", "numeric-instability", "log_softmax(x @ W)"],
    ["log of the picked softmax probability", "numeric-instability", "-cross_entropy(x @ W, y)"],
    ["layer norm without an epsilon", "numeric-instability", "sqrt(var + 1e-5)"],
    ["log of sigmoid", "numeric-instability", "-softplus(-(x @ w))"],
    ["the article: a negative bias", "dead-relu", "zeros"],
    ["round on the prediction", "zero-gradient-op", "stop_gradient(round(x @ W)"],
  ])("%s: the mechanical rewrite (%s) gives %s and a clean model", (name, rule, text) => {
    const m = BUGGY.find((b) => b.name.startsWith(name))!;
    const d = lintSource(m.source).find((x) => x.rule === rule)!;
    expect(d.fix.edits?.map((e) => e.text).join(" ")).toContain(text);
    const fixed = apply(m.source, d.fix.edits!);
    expect(lintSource(fixed).filter((x) => x.rule === rule)).toEqual([]);
  });
});
