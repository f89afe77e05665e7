// Generated from the op table: every op that computes a value is applied
// alone, as its entry's `example` says, compiled to a module (f64 and f32),
// and run on random operands away from its kinks. The module's forward must
// equal the entry's float64 `eval`, and its backward (each float operand's
// gradient of sum(w * out) for random weights w) must equal central finite
// differences of `eval`. Adding an op adds its rows here.
import { describe, expect, it } from "vitest";
import { emitModule } from "../../src/codegen/emit.js";
import { loadModule } from "../../src/codegen/runtime-load.js";
import { Builder } from "../../src/ir/builder.js";
import { OP_KINDS, OPS, type OpKind } from "../../src/ir/ops.js";
import { mulberry32 } from "../../src/ir/random.js";
import { tensor, type Tensor } from "../../src/ir/tensor.js";
import type { Dim, Graph, Node } from "../../src/ir/types.js";
import { backEnd } from "../../src/passes/pipeline.js";

const B = 3;
const dim = (d: Dim): number => (typeof d === "number" ? d : B);

/** Sources and loops have no value of their own to test alone: drivers give it (inputs, params, loop bodies). */
const TESTED = OP_KINDS.filter((k) => OPS[k].class !== "loop" && !["input", "param", "carry"].includes(k));
/** Gradient control: their backward is defined to differ from the derivative (tests/autodiff/grad.test.ts checks them). */
const NOT_THE_DERIVATIVE = new Set<OpKind>(["stop_gradient", "clip_grad"]);

interface Case {
  graph: Graph;
  node: Node;
  operands: Node[];
  weights: Node | null;
}

function build(op: OpKind): Case {
  const def = OPS[op];
  const b = new Builder();
  const operands = def.example.inputs.map(([shape, dtype], i) => {
    const n = b.source("input", { name: `in${i}` }, shape, dtype);
    n.name = `in${i}`;
    return n;
  });
  const node = b.op(op, operands, def.example.attrs ?? {});
  node.name = "out";
  let weights: Node | null = null;
  let loss: Node;
  if (node.dtype === "float") {
    weights = b.source("input", { name: "w" }, node.shape, "float");
    weights.name = "w";
    loss = b.op("sum", [b.op("mul", [node, weights])], { axes: node.shape.map((_, i) => i), keepdims: false });
  } else {
    // An int result with no float operand (arange): the loss reads it as float.
    const f = operands.find((x) => x.dtype === "float") ?? b.op("to_float", [node]);
    loss = b.op("sum", [f], { axes: f.shape.map((_, i) => i), keepdims: false });
  }
  const symbolic = [...new Set([...operands, node].flatMap((n) => n.shape).filter((d): d is string => typeof d === "string"))];
  const graph: Graph = {
    name: op,
    file: `${op}.bp`,
    source: "",
    dims: symbolic.map((name) => ({ name, value: null, span: node.span })),
    inputs: [...operands, ...(weights ? [weights] : [])],
    params: [],
    nodes: b.nodes,
    outputs: [{ name: "out", node }],
    loss,
    grads: [],
  };
  return { graph, node, operands, weights };
}

function draw(c: Case, op: OpKind, seed: number): Tensor[] {
  const def = OPS[op];
  const next = mulberry32(seed);
  return [...c.operands, ...(c.weights ? [c.weights] : [])].map((x, i) => {
    const t = tensor(x.shape.map(dim));
    if (x.dtype === "int") {
      const readers = c.node.inputs.indexOf(x);
      const axis = readers >= 0 ? def.indexes?.(c.node, readers) ?? null : null;
      const top = axis === null ? 3 : dim(axis);
      for (let k = 0; k < t.data.length; k++) t.data[k] = Math.floor(next() * top);
      return t;
    }
    const [lo, hi] = def.example.domain?.[i] ?? [-2, 2];
    for (let k = 0; k < t.data.length; k++) {
      let v = lo + (hi - lo) * next();
      while (i === 0 && def.nearKink?.(v, c.node.attrs)) v = lo + (hi - lo) * next();
      t.data[k] = v;
    }
    return t;
  });
}

function evalNode(c: Case, op: OpKind, values: Tensor[]): Tensor {
  return OPS[op].eval(values.slice(0, c.operands.length), c.node, {
    dim,
    shape: (s) => s.map(dim),
    loop: () => {
      throw new Error("no loops here");
    },
    tape: () => {
      throw new Error("no loops here");
    },
    value: () => {
      throw new Error("sources are not evaluated here");
    },
  });
}

async function compiled(c: Case, precision: "f32" | "f64") {
  const floats = c.graph.inputs.filter((x) => x.dtype === "float").map((x) => x.name!);
  const st = backEnd({ ast: undefined as never, ir: c.graph }, { inputGrads: floats, verify: true });
  const mod = await loadModule(await emitModule(st.opt, { precision, inputGrads: floats }));
  return mod as unknown as {
    forward(p: object, i: Record<string, Float32Array | Float64Array | Int32Array>): Record<string, unknown>;
    backward(p: object, i: Record<string, Float32Array | Float64Array | Int32Array>): { loss: number; grads: Record<string, Float64Array> };
  };
}

function asInputs(c: Case, values: Tensor[], precision: "f32" | "f64") {
  const F = precision === "f32" ? Float32Array : Float64Array;
  return Object.fromEntries(c.graph.inputs.map((x, i) => [x.name!, x.dtype === "int" ? Int32Array.from(values[i].data) : F.from(values[i].data)]));
}

const worst = (got: ArrayLike<number>, want: ArrayLike<number>): number => {
  let w = 0;
  for (let i = 0; i < want.length; i++) w = Math.max(w, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  return w;
};

describe("every op's eval against its compiled kernel", () => {
  it.each(TESTED)("%s: forward, f64 and f32", async (op) => {
    const c = build(op);
    const values = draw(c, op, 7);
    const want = evalNode(c, op, values);
    for (const precision of ["f64", "f32"] as const) {
      const mod = await compiled(c, precision);
      // f32 operands are rounded: evaluate the reference on the rounded values too.
      const rounded = precision === "f32" ? values.map((t) => ({ shape: t.shape, data: Float64Array.from(Float32Array.from(t.data)) })) : values;
      const ref = precision === "f32" ? evalNode(c, op, rounded) : want;
      const got = mod.forward({}, asInputs(c, values, precision)).out;
      const data = typeof got === "number" ? [got] : (got as ArrayLike<number>);
      expect(data.length, `${op} output size`).toBe(ref.data.length);
      expect(worst(data, ref.data), `${op} ${precision}`).toBeLessThan(precision === "f64" ? 1e-12 : 2e-6);
    }
  });
});

describe("every op's gradient against central finite differences of its eval (f64)", () => {
  const differentiable = TESTED.filter((k) => OPS[k].vjp && !NOT_THE_DERIVATIVE.has(k) && build(k).node.dtype === "float");
  it.each(differentiable)("%s", async (op) => {
    const c = build(op);
    const mod = await compiled(c, "f64");
    for (const seed of [1, 2]) {
      const values = draw(c, op, seed);
      const w = values[values.length - 1];
      const loss = (vs: Tensor[]): number => {
        const out = evalNode(c, op, vs);
        let s = 0;
        for (let i = 0; i < out.data.length; i++) s += out.data[i] * w.data[i % w.data.length];
        return s;
      };
      const { grads } = mod.backward({}, asInputs(c, values, "f64"));
      c.operands.forEach((x, i) => {
        if (x.dtype !== "float") return;
        const h = 1e-6;
        const fd = values[i].data.map((v, k) => {
          const plus = values.map((t) => ({ shape: t.shape, data: Float64Array.from(t.data) }));
          const minus = values.map((t) => ({ shape: t.shape, data: Float64Array.from(t.data) }));
          plus[i].data[k] = v + h;
          minus[i].data[k] = v - h;
          return (loss(plus) - loss(minus)) / (2 * h);
        });
        expect(worst(grads[x.name!], fd), `${op}: d/d${x.name} (seed ${seed})`).toBeLessThan(1e-6);
      });
    }
  });
});
