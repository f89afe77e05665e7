// The flop counter: hand-checked counts of small graphs (forward, backward,
// loops, symbolic dims), and issue 3's acceptance: the simplified backward of
// examples/mlp.bp needs no more flops than a hand-written CS231n-style one.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { countFlops, nodeFlops } from "../../src/ir/flops.js";
import { OP_KINDS, OPS } from "../../src/ir/ops.js";
import type { Dim, Node } from "../../src/ir/types.js";
import { compileStages } from "../../src/passes/pipeline.js";

const stages = (src: string) => compileStages(src, "t.bp", { verify: true });

const DENSE = `model t
dim B
input x: [B, 3]
param W: [3, 4]
param b: [4]
loss = sum(relu(x @ W + b))
minimize loss
`;

const LOOP = `model r
dim B
dim T = 3
input xs: [T, B, 2]
param Wx: [2, 4]
param Wh: [4, 4]
h = zeros([B, 4])
for t in 0..T {
  h = tanh(xs[t] @ Wx + h @ Wh)
}
loss = sum(h)
minimize loss
`;

const NN = `model s
dim B
dim C = 3
input z0: [B, C]
input y: int[B] in [0, C)
param w: [C]
z = z0 * w
loss = mean(cross_entropy(z, y)) + sum(softmax(z, axis=1) * z0) + mean(sigmoid(z))
minimize loss
`;

describe("countFlops: hand-checked small graphs", () => {
  it("a dense layer, forward: matmul 2MNK, then one flop per element for add, relu and sum", () => {
    // B = 2: x @ W is 2 * 2*4 * 3 = 48; + b, relu and sum over [2, 4] are 8 each.
    const st = stages(DENSE);
    expect(countFlops(st.ir, { B: 2 })).toEqual({ forward: 48 + 8 + 8 + 8, backward: 0 });
  });

  it("a dense layer, backward: relu's mask, db's sum and the transposed matmul for dW", () => {
    // The cotangent of sum is a broadcast of 1, so relu's rule ct * (x > 0)
    // simplifies to the mask gt (8); db = sum_to over [2, 4] (8); dW = x^T g
    // is 2 * 3*4 * 2 = 48 (K is B, read off the transposed operand). No dx:
    // x is an input nobody asked a gradient of.
    const st = stages(DENSE);
    expect(countFlops(st.opt, { B: 2 })).toEqual({ forward: 72, backward: 8 + 8 + 48 });
  });

  it("symbolic dims scale the count; each call binds its own value", () => {
    const st = stages(DENSE);
    // Every forward term is linear in B: 36 per row.
    expect(countFlops(st.ir, { B: 1 }).forward).toBe(36);
    expect(countFlops(st.ir, { B: 10 }).forward).toBe(360);
  });

  it("a loop counts its body once per step, forward and backward (BPTT)", () => {
    // B = 5, T = 3. A forward step: xs[t] @ Wx is 2*5*4*2 = 80, h @ Wh is
    // 2*5*4*4 = 160, add 20, tanh 20 (index is data movement): 280; three
    // steps, then sum over [5, 4]: 3 * 280 + 20 = 860.
    // A backward step: tanh's rule square, sub, mul (20 each); dh = g Wh^T
    // 160; dWh = h^T g 2*4*4*5 = 160; dWx = x^T g 2*2*4*5 = 80; the two
    // accumulations 8 + 16: 484, three steps: 1452.
    const st = stages(LOOP);
    expect(countFlops(st.opt, { B: 5 })).toEqual({ forward: 860, backward: 1452 });
  });

  it("softmax, cross_entropy, sigmoid and the reductions use their table counts", () => {
    // B = 4, C = 3: 12 elements. Forward: z0 * w 12; cross_entropy 4 per
    // element + 3 per row = 60; mean 4; softmax 5 per element = 60; * z0 12;
    // sum 12; add 1; sigmoid 4 per element = 48; mean 12; add 1.
    const st = stages(NN);
    expect(countFlops(st.ir, { B: 4 }).forward).toBe(12 + 60 + 4 + 60 + 12 + 12 + 1 + 48 + 12 + 1);
  });

  it("a symbolic dim without a value throws; a value contradicting a declared dim throws", () => {
    const st = stages(LOOP);
    expect(() => countFlops(st.opt, {})).toThrow(/symbolic dim B has no value/);
    expect(() => countFlops(st.opt, { B: 5, T: 4 })).toThrow(/dim T is declared 3, got 4/);
    expect(countFlops(st.opt, { B: 5, T: 3 }).forward).toBe(860);
  });

  it("every op with a flops entry gives a finite, non-negative count; arithmetic ops count at least one per element", () => {
    const st = stages(NN);
    const dv = (d: Dim): number => (typeof d === "number" ? d : 4);
    const seen = new Set<string>();
    const visit = (nodes: readonly Node[]): void => {
      for (const n of nodes) {
        const f = nodeFlops(n, dv);
        expect(Number.isFinite(f) && f >= 0).toBe(true);
        seen.add(n.op);
        if (n.body) visit(n.body.nodes);
      }
    };
    visit(st.opt.nodes);
    expect(seen.has("softmax") && seen.has("cross_entropy") && seen.has("sum_to")).toBe(true);
    for (const op of OP_KINDS) {
      const def = OPS[op];
      if (def.class === "elementwise" && op !== "stop_gradient" && op !== "clip_grad") {
        expect(def.flops, `${op} has a flops entry`).toBeDefined();
      }
      if (def.class === "reduce" || def.class === "linalg") expect(def.flops, `${op} has a flops entry`).toBeDefined();
    }
  });
});

describe("issue 3 acceptance: examples/mlp.bp at batch 64", () => {
  const B = 64;
  const D = 784;
  const H = 128;
  const C = 10;

  /** A hand-written CS231n-style backward, counted line by line. */
  const handWritten = {
    "softmax of the logits (max, subtract, exp, sum, divide)": 5 * B * C,
    "dlogits = (softmax - onehot) / B: subtract": B * C,
    "dlogits = (softmax - onehot) / B: divide": B * C,
    "db2 = sum of dlogits over rows": B * C,
    "dW2 = h^T dlogits": 2 * H * B * C,
    "dh = dlogits W2^T": 2 * B * C * H,
    "relu mask: compare and zero (2 per element, as gt + mul or where)": 2 * B * H,
    "db1 = sum of dh over rows": B * H,
    "dW1 = x^T dh": 2 * D * B * H,
  };
  const hand = Object.values(handWritten).reduce((a, b) => a + b, 0);
  const st = compileStages(readFileSync(new URL("../../examples/mlp.bp", import.meta.url), "utf8"), "examples/mlp.bp", {});
  const ours = countFlops(st.opt, { B });

  it("counts both and prints them", () => {
    console.log(
      `mlp.bp backward at B = ${B}: ours ${ours.backward} flops, hand-written ${hand} (difference ${ours.backward - hand}); forward ${ours.forward}, (forward + backward) / forward = ${((ours.forward + ours.backward) / ours.forward).toFixed(3)}`,
    );
    // The big terms match exactly: no transpose, no extra matmul, no dx.
    expect(ours.backward).toBeGreaterThan(2 * D * B * H);
    expect(Math.abs(ours.backward - hand) / hand).toBeLessThan(1e-4);
  });

  it("the simplified backward needs no more flops than the hand-written one (strict)", () => {
    expect(ours.backward).toBeLessThanOrEqual(hand);
  });
});
