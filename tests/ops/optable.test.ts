// The op table keeps its promises: every gradient rule reads only the
// forward values its entry declares in `saves` (codegen and the loop tape
// rely on that, so the declaration must be exact), and returns one cotangent
// per input with a shape that sums back to the input.
import { describe, expect, it } from "vitest";
import { Builder } from "../../src/ir/builder.js";
import { OP_KINDS, OPS, type OpKind } from "../../src/ir/ops.js";
import { broadcastShapes, sameShape } from "../../src/ir/shape.js";
import type { Attrs, Dim, Node } from "../../src/ir/types.js";

/** A representative node per op: input shapes, dtypes and attrs that its shape rule accepts. */
const SAMPLES: Partial<Record<OpKind, { inputs: [Dim[], "float" | "int"][]; attrs?: Attrs }>> = {
  matmul: { inputs: [[[3, 4], "float"], [[4, 2], "float"]], attrs: { transA: false, transB: false } },
  transpose: { inputs: [[[3, 4], "float"]] },
  reshape: { inputs: [[[3, 4], "float"]], attrs: { shape: [2, 6] } },
  broadcast_to: { inputs: [[[4], "float"]], attrs: { shape: [3, 4] } },
  sum_to: { inputs: [[[3, 4], "float"]], attrs: { shape: [4] } },
  concat: { inputs: [[[3, 4], "float"], [[3, 2], "float"]], attrs: { axis: 1 } },
  slice: { inputs: [[[3, 4], "float"]], attrs: { starts: [0, 1], ends: [3, 3], drop: [] } },
  unslice: { inputs: [[[3, 2], "float"]], attrs: { starts: [0, 1], ends: [3, 3], drop: [], shape: [3, 4] } },
  index: { inputs: [[[5, 3], "float"], [[], "int"]] },
  unindex: { inputs: [[[3], "float"], [[], "int"]], attrs: { n: 5 } },
  softmax: { inputs: [[[3, 4], "float"]], attrs: { axis: 1 } },
  log_softmax: { inputs: [[[3, 4], "float"]], attrs: { axis: 1 } },
  cross_entropy: { inputs: [[[3, 4], "float"], [[3], "int"]] },
  pick: { inputs: [[[3, 4], "float"], [[3], "int"]] },
  one_hot: { inputs: [[[3], "int"]], attrs: { n: 4 } },
  argmax: { inputs: [[[3, 4], "float"]], attrs: { axes: [1] } },
  first_extreme_mask: { inputs: [[[3, 4], "float"]], attrs: { axes: [1], mode: "max" } },
  leaky_relu: { inputs: [[[3, 4], "float"]], attrs: { a: 0.1 } },
  elu: { inputs: [[[3, 4], "float"]], attrs: { a: 1 } },
  huber: { inputs: [[[3, 4], "float"]], attrs: { delta: 1 } },
  clip_grad: { inputs: [[[3, 4], "float"]], attrs: { lo: -1, hi: 1 } },
};

const REDUCTIONS: OpKind[] = ["sum", "mean", "max", "min", "logsumexp"];

function sampleFor(op: OpKind): { inputs: [Dim[], "float" | "int"][]; attrs?: Attrs } | null {
  const s = SAMPLES[op];
  if (s) return s;
  if (REDUCTIONS.includes(op)) return { inputs: [[["B", 4], "float"]], attrs: { axes: [1], keepdims: false } };
  const def = OPS[op];
  // Section 9's int and region ops: their entries' own examples.
  if (["floordiv", "dslice", "dunslice", "update", "gather", "scatter_add"].includes(op)) {
    return { inputs: def.example.inputs.map(([sh, dt]) => [[...sh], dt] as [Dim[], "float" | "int"]), attrs: def.example.attrs };
  }
  if (def.class === "elementwise") {
    const shapes: Dim[][] = [["B", 4], [4], [1, 4]];
    return { inputs: shapes.slice(0, def.arity).map((sh) => [sh, "float"]) };
  }
  // The conv and pool ops, and section 9's: their entries' own examples.
  if (["conv", "conv_transpose", "conv_kernel_grad", "max_pool", "avg_pool", "avg_pool_grad", "var", "layer_norm", "soft_cross_entropy", "tril", "triu"].includes(op)) {
    return { inputs: def.example.inputs.map(([sh, dt]) => [[...sh], dt] as [Dim[], "float" | "int"]), attrs: def.example.attrs };
  }
  return null;
}

const withRules = OP_KINDS.filter((k) => OPS[k].vjp);

describe("gradient rules read only what they declare", () => {
  it.each(withRules)("%s", (op) => {
    const sample = sampleFor(op);
    expect(sample, `add a sample for ${op}`).not.toBeNull();
    const b = new Builder();
    const inputs = sample!.inputs.map(([shape, dtype], i) => {
      const n = b.source("input", { name: `in${i}` }, shape, dtype);
      n.name = `in${i}`;
      return n;
    });
    const node = b.op(op, inputs, sample!.attrs ?? {});
    const ct = b.source("input", { name: "ct" }, node.shape, "float");
    const before = new Set<Node>(b.nodes);
    const needs = inputs.map((x) => x.dtype === "float");
    const out = OPS[op].vjp!(b, node, ct, needs);

    expect(out.length).toBe(inputs.length);
    out.forEach((c, i) => {
      if (!c) return;
      const fits = broadcastShapes([inputs[i].shape, c.shape]);
      expect(fits && sameShape(fits, c.shape), `cotangent ${i} of ${op}`).toBe(true);
    });

    // Walk what the rule built and collect the forward values it reads.
    const built = b.nodes.filter((n) => !before.has(n));
    const builtSet = new Set(built);
    const read = new Set<string>();
    for (const n of built) {
      for (const i of n.inputs) {
        if (builtSet.has(i) || i === ct) continue;
        if (i === node) read.add("output");
        else {
          const k = inputs.indexOf(i);
          if (k >= 0) read.add(`input ${k}`);
        }
      }
    }
    for (const c of out) {
      if (c === node) read.add("output");
      else if (c && inputs.includes(c)) read.add(`input ${inputs.indexOf(c)}`);
    }
    const saves = OPS[op].saves ?? { inputs: [], output: false };
    const rest = saves.rest === undefined ? [] : inputs.slice(saves.rest).map((_, i) => `input ${saves.rest! + i}`);
    const declared = new Set([...saves.inputs.map((i) => `input ${i}`), ...rest, ...(saves.output ? ["output"] : [])]);
    expect([...read].sort(), `${op}: what the rule reads vs its saves`).toEqual([...declared].sort());
  });
});
