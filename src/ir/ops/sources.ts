// Sources (no inputs) and loops. Inputs, params, loop-carried placeholders
// and loop indices get their values, intervals and moments from whoever runs
// the graph (the call's arrays, the initializers and hints, the loop driver);
// loops are run and differentiated by their drivers, not by an entry.
import { iv, point, REAL } from "../ranges.js";
import { tensor } from "../tensor.js";
import type { DType, Dim, Node } from "../types.js";
import { dims, fail, filled, num, zeroFlops, unsupported, type LintRules, type OpDef } from "./define.js";
import type { OpKind } from "./kinds.js";

/** Facts of a value the driver seeds (an input from its hints, a param from its initializer). */
const SEEDED: LintRules = {
  interval: () => REAL,
  moments: () => null,
  gain: { kind: "same" },
};

const fromDriver = (x: unknown, n: Node, ctx: { value(n: Node): import("../tensor.js").Tensor }) => ctx.value(n);

function source(dtypeOf: (a: Node["attrs"]) => DType, cls: OpDef["class"] = "source"): OpDef {
  return {
    class: cls,
    arity: 0,
    infer: (_i, a) => ({ shape: [...dims(a, "shape")], dtype: dtypeOf(a) }),
    eval: (x, n, ctx) => fromDriver(x, n, ctx),
    flops: zeroFlops,
    lint: SEEDED,
    example: { inputs: [], attrs: { shape: [3, 4], dtype: "float" } },
  };
}

function loopBody(n: Node) {
  if (n.op !== "loop" || !n.body) fail("expected a loop node");
  return n.body;
}

const LOOP_FACTS: LintRules = {
  interval: unsupported("a loop's values are analysed by the loop driver"),
  moments: unsupported("a loop's values are analysed by the loop driver"),
  gain: unsupported("a loop's values are analysed by the loop driver"),
};

export const SOURCES = {
  input: source((a) => a.dtype as DType),
  param: source(() => "float"),
  carry: source((a) => a.dtype as DType),
  const: {
    class: "source",
    arity: 0,
    infer: () => ({ shape: [], dtype: "float" }),
    eval: (_x, n) => tensor([], Float64Array.of(num(n.attrs, "value"))),
    flops: zeroFlops,
    lint: { interval: (_x, n) => point(num(n.attrs, "value")), moments: (_m, n) => ({ mean: num(n.attrs, "value"), var: 0 }), gain: { kind: "zero" } },
    example: { inputs: [], attrs: { value: 2 } },
  },
  /** A filled tensor: zeros([...]), ones([...]). */
  full: {
    class: "source",
    arity: 0,
    infer: (_i, a) => ({ shape: [...dims(a, "shape")], dtype: "float" }),
    eval: (_x, n, ctx) => filled(ctx.shape(dims(n.attrs, "shape")), num(n.attrs, "value")),
    flops: zeroFlops,
    lint: { interval: (_x, n) => point(num(n.attrs, "value")), moments: (_m, n) => ({ mean: num(n.attrs, "value"), var: 0 }), gain: { kind: "zero" } },
    example: { inputs: [], attrs: { shape: [3, 4], value: 1 } },
  },
  /** The product of some dims as a float scalar (symbolic sizes for `mean`). */
  numel: {
    class: "source",
    arity: 0,
    infer: () => ({ shape: [], dtype: "float" }),
    eval: (_x, n, ctx) => tensor([], Float64Array.of(dims(n.attrs, "dims").reduce<number>((p, d) => p * ctx.dim(d), 1))),
    flops: zeroFlops,
    lint: {
      interval: (_x, n, range) => {
        const ds = dims(n.attrs, "dims").map(range);
        return iv(
          ds.reduce((p, d) => p * d[0], 1),
          ds.reduce((p, d) => p * d[1], 1),
        );
      },
      moments: (_m, n, dim) => ({ mean: dims(n.attrs, "dims").reduce<number>((s, d) => s * dim(d), 1), var: 0 }),
      gain: { kind: "zero" },
    },
    example: { inputs: [], attrs: { dims: [3, 4] } },
  },
  loop_index: { ...source(() => "int", "loop"), infer: () => ({ shape: [], dtype: "int" }), lint: LOOP_FACTS, example: { inputs: [] } },
  loop: {
    class: "loop",
    arity: -1,
    infer: () => ({ shape: [], dtype: "float" }),
    eval: (_x, n, ctx) => ctx.loop(n),
    flops: zeroFlops,
    lint: LOOP_FACTS,
    example: { inputs: [] },
  },
  /** The final value of carried value `k` of a loop. */
  loop_out: {
    class: "loop",
    arity: 1,
    infer: (inputs, a) => {
      const r = loopBody(inputs[0]).results[num(a, "k")];
      return { shape: [...r.shape], dtype: r.dtype };
    },
    eval: (_x, n, ctx) => ctx.value(loopBody(n.inputs[0]).carried[num(n.attrs, "k")]),
    flops: zeroFlops,
    lint: LOOP_FACTS,
    example: { inputs: [] },
  },
  /** Tape entry `k` of a loop: the per-step values stacked over steps. */
  loop_tape: {
    class: "loop",
    arity: 1,
    infer: (inputs, a) => {
      const v = loopBody(inputs[0]).tape[num(a, "k")];
      return { shape: [inputs[0].attrs.count as Dim, ...v.shape], dtype: v.dtype };
    },
    eval: (_x, n, ctx) => ctx.tape(n.inputs[0], num(n.attrs, "k")),
    flops: zeroFlops,
    lint: LOOP_FACTS,
    example: { inputs: [] },
  },
} satisfies Partial<Record<OpKind, OpDef>>;
