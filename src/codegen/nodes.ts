// Emits the nodes of a block in order, each by the kernel of its op (kernels/),
// skipping dead nodes and nodes fused into their reader's loop.
import { lit, OPS } from "../ir/ops.js";
import type { Dim, Node } from "../ir/types.js";
import type { Emitter } from "./context.js";
import { columnPass } from "./kernels/columns.js";
import { conv, pool } from "./kernels/conv.js";
import { elementwise } from "./kernels/elementwise.js";
import { dslice, gatherOp, regionWrite } from "./kernels/indexing.js";
import { concat, indexOp, layoutView, sliceAdd, unslice } from "./kernels/layout.js";
import { matmul } from "./kernels/linalg.js";
import { construct, crossEntropyGrad, layerNorm, oneHot, rowPick, softCrossEntropy, softmax, triangle } from "./kernels/nn.js";
import { reduce, scan, sumToAxes } from "./kernels/reduce.js";
import { loop } from "./loops.js";
import { product, sizeAtom } from "./nest.js";
import { isElementwise } from "./plan.js";

/** Emits the nodes of a block in order. */
export function block(cx: Emitter, nodes: readonly Node[], out: string[]): void {
  nodes.forEach((n, i) => {
    if (!cx.plan.live.has(n) || cx.plan.fused.has(n) || cx.absorbed.has(n)) return;
    // Column sums that share a walk of the rows (kernels/columns.ts); those run early are absorbed.
    if (columnPass(cx, n, nodes.slice(i + 1), out)) return;
    node(cx, n, out);
  });
}

function node(cx: Emitter, n: Node, out: string[]): void {
  const a = n.attrs;
  const fact = OPS[n.op].codegen;
  if (fact && "fold" in fact) return reduce(cx, n, fact.fold, n.op === "sum_to" ? sumToAxes(n) : (a.axes as number[]), out);
  switch (n.op) {
    case "input":
    case "param":
      return;
    case "const":
    case "full":
      cx.values.set(n, { kind: "lit", expr: lit(a.value as number) });
      return;
    case "numel":
      cx.values.set(n, { kind: "lit", expr: sizeAtom(product(cx.sizes(a.dims as Dim[]))) });
      return;
    case "loop_index":
    case "carry":
      throw new Error(`internal error: ${n.op} outside a loop header`);
    case "logsumexp":
    case "argmax":
    case "first_extreme_mask":
    case "var":
      return scan(cx, n, out);
    case "matmul":
    case "matmul_add":
      return matmul(cx, n, out);
    case "transpose":
    case "reshape":
    case "broadcast_to":
    case "slice":
      return layoutView(cx, n, out);
    case "concat":
      return concat(cx, n, out);
    case "unslice":
      return unslice(cx, n, out);
    case "index":
    case "unindex":
    case "index_add":
      return indexOp(cx, n, out);
    case "slice_add":
      return sliceAdd(cx, n, out);
    case "softmax":
    case "log_softmax":
      return softmax(cx, n, out);
    case "cross_entropy":
    case "pick":
      return rowPick(cx, n, out);
    case "cross_entropy_grad":
      return crossEntropyGrad(cx, n, out);
    case "one_hot":
      return oneHot(cx, n, out);
    case "layer_norm":
    case "layer_norm_grad":
      return layerNorm(cx, n, out);
    case "soft_cross_entropy":
      return softCrossEntropy(cx, n, out);
    case "arange":
    case "eye":
      return construct(cx, n, out);
    case "tril":
    case "triu":
      return triangle(cx, n, out);
    case "conv":
    case "conv_transpose":
    case "conv_kernel_grad":
      return conv(cx, n, out);
    case "max_pool":
    case "max_pool_grad":
    case "avg_pool":
    case "avg_pool_grad":
      return pool(cx, n, out);
    case "dslice":
      return dslice(cx, n, out);
    case "dunslice":
    case "dslice_add":
    case "update":
      return regionWrite(cx, n, out);
    case "gather":
    case "scatter_add":
    case "gather_add":
      return gatherOp(cx, n, out);
    case "loop":
      return loop(cx, n, out, (nodes, o) => block(cx, nodes, o));
    case "loop_out": {
      const info = cx.loops.get(n.inputs[0]);
      if (!info) throw new Error("internal error: loop_out before its loop");
      cx.values.set(n, info.final[a.k as number]);
      return;
    }
    case "loop_tape": {
      const info = cx.loops.get(n.inputs[0]);
      const t = info?.tape[a.k as number];
      if (!t) throw new Error("internal error: loop_tape without its tape");
      cx.values.set(n, t);
      return;
    }
    default:
      if (isElementwise(n)) return elementwise(cx, n, out);
      throw new Error(`internal error: codegen has no kernel for op ${n.op}`);
  }
}
