// Matmul: out = op(a) @ op(b), where op transposes. An operand stored
// column-major (a transposed view) is read in place by a kernel variant
// rather than copied. SIMD modules call the WebAssembly kernel when it is
// there and this module's JS kernel otherwise.
import type { Node } from "../../ir/types.js";
import type { Emitter, Value, View } from "../context.js";
import { matmulKernelArgs, matmulKernelName, matmulKernelSource, type MatmulSpec } from "../matmul.js";
import { prop, str } from "../names.js";
import { isOne, sizeEq, sizeStr, type Size } from "../nest.js";
import { simdMatmul, type Operand } from "../simd.js";

/** A matmul operand: its buffer and offset, and whether it is stored transposed (column-major). */
function operand(cx: Emitter, v: Value, shape: Size[], out: string[]): Operand {
  if (v.kind === "view") {
    const [r, c] = v.shape;
    const [s0, s1] = v.strides;
    if ((isOne(c) || isOne(s1)) && (isOne(r) || sizeEq(s0, c))) return { buf: v.buf, off: v.off, colMajor: false };
    if ((isOne(r) || isOne(s0)) && (isOne(c) || sizeEq(s1, r))) return { buf: v.buf, off: v.off, colMajor: true };
  }
  const m = cx.contiguous(v, shape, "float", "operand", out);
  return { buf: m.buf, off: m.off, colMajor: false };
}

export function matmul(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const [x, y] = n.inputs;
  const a = operand(cx, cx.value(x), cx.sizes(x.shape), out);
  const b = operand(cx, cx.value(y), cx.sizes(y.shape), out);
  const tA = (n.attrs.transA === true) !== a.colMajor;
  const tB = (n.attrs.transB === true) !== b.colMajor;
  const dst = cx.out(n);
  const [M, N] = dst.shape;
  const K = cx.dimSize(n.attrs.transA === true ? x.shape[0] : x.shape[1]);
  const spec: MatmulSpec = { tA, tB, M, K, N, FA: cx.FA };
  const name = matmulKernelName(spec);
  if (!cx.kernels.has(name)) cx.kernels.set(name, matmulKernelSource(spec));
  const sizes = { M, K, N };
  const args = matmulKernelArgs(spec).map((p) => `, ${sizeStr(sizes[p])}`).join("");
  const js = `${name}(${cx.ref(dst.buf)}, ${cx.ref(a.buf)}, ${a.off}, ${cx.ref(b.buf)}, ${b.off}${args});`;
  if (!cx.simd) out.push(js);
  else out.push(`if (${cx.arena}.mm !== null) {`, ...simdMatmul(cx, n, dst.buf, a, b, tA, tB, sizes), `} else {`, js, `}`);
  for (const p of cx.witnesses.get(n) ?? []) {
    const what = `params.${p.name}`;
    out.push(`${cx.use("checkFiniteVia")}(${cx.ref(dst.buf)}, ${str(what)}, ${cx.value(p).kind === "view" ? cx.ref((cx.value(p) as View).buf) : prop("params", p.name as string)});`);
  }
}
