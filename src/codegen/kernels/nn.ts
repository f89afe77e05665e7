// Neural-network ops with runtime helpers of their own: softmax and
// log_softmax over an axis, cross_entropy and pick (one element per row,
// chosen by an int index, checked against its range), one_hot.
import { normAxis } from "../../ir/shape.js";
import type { Dim, Node } from "../../ir/types.js";
import type { Emitter } from "../context.js";
import { str } from "../names.js";
import { product, sizeStr } from "../nest.js";

export function softmax(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const x = n.inputs[0];
  const shape = cx.sizes(x.shape);
  const src = cx.contiguous(cx.value(x), shape, "float", "logits", out);
  const axis = normAxis(n.attrs.axis as number, shape.length) as number;
  const dst = cx.out(n);
  const outer = product(shape.slice(0, axis));
  const inner = product(shape.slice(axis + 1));
  const f = cx.use(n.op === "softmax" ? "softmax" : "logSoftmax");
  out.push(`${f}(${cx.ref(dst.buf)}, ${cx.ref(src.buf)}, ${src.off}, ${sizeStr(outer)}, ${sizeStr(shape[axis])}, ${sizeStr(inner)});`);
}

/** cross_entropy(z, labels) and pick(x, idx): one element per row, chosen by an int index. */
export function rowPick(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const [x, idx] = n.inputs;
  const shape = cx.sizes(x.shape);
  const src = cx.contiguous(cx.value(x), shape, "float", "rows", out);
  const iv = cx.contiguous(cx.value(idx), cx.sizes(idx.shape), "int", "indices", out);
  const dst = cx.out(n);
  const f = cx.use(n.op === "pick" ? "pick" : "crossEntropy");
  const role = n.op === "pick" ? "indices" : "labels";
  const what = `${n.op} (line ${n.span.line}): ${role} ${cx.display(idx)}`;
  out.push(
    `${f}(${cx.ref(dst.buf)}, ${cx.ref(src.buf)}, ${src.off}, ${cx.ref(iv.buf)}, ${iv.off}, ${sizeStr(shape[0])}, ${sizeStr(shape[1])}, ${str(what)});`,
  );
}

/** One-hot rows of int indices, checked against the number of classes. */
export function oneHot(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const idx = cx.contiguous(cx.value(n.inputs[0]), cx.sizes(n.inputs[0].shape), "int", "indices", out);
  const dst = cx.out(n);
  const count = product(idx.shape);
  out.push(
    `${cx.use("oneHot")}(${cx.ref(dst.buf)}, ${cx.ref(idx.buf)}, ${idx.off}, ${sizeStr(count)}, ${sizeStr(cx.dimSize(n.attrs.n as Dim))}, ${str(`one_hot (line ${n.span.line}): ${cx.display(n.inputs[0])}`)});`,
  );
}
