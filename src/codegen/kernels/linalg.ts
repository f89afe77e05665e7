// Matmul: out = op(a) @ op(b), where op transposes, and matmul_add, which
// adds the product into its accumulator (in place when nothing else reads
// it). An operand stored column-major (a transposed view) is read in place
// rather than copied. SIMD modules call the WebAssembly kernel when it is
// there and the module's one shared JS kernel (matmulJs) otherwise; JS-only
// modules get a JS kernel per shape, with the constant sizes written in.
import type { Node } from "../../ir/types.js";
import type { Emitter, Value, View } from "../context.js";
import { matmulKernelArgs, matmulKernelName, matmulKernelSource, type MatmulSpec } from "../matmul.js";
import { prop, str } from "../names.js";
import { isOne, sizeEq, sizeStr, type Size } from "../nest.js";
import { simdMatmul, type Operand } from "../simd.js";
import { accumulator } from "./layout.js";

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
  const acc = n.op === "matmul_add";
  const [x, y] = acc ? n.inputs.slice(1) : n.inputs;
  const a = operand(cx, cx.value(x), cx.sizes(x.shape), out);
  const b = operand(cx, cx.value(y), cx.sizes(y.shape), out);
  const tA = (n.attrs.transA === true) !== a.colMajor;
  const tB = (n.attrs.transB === true) !== b.colMajor;
  const dst = acc ? accumulator(cx, n, out) : cx.out(n);
  const [M, N] = dst.shape;
  const K = cx.dimSize(n.attrs.transA === true ? x.shape[0] : x.shape[1]);
  const sizes = { M, K, N };
  const o = cx.ref(dst.buf);
  if (!cx.simd) {
    const spec: MatmulSpec = { tA, tB, M, K, N, FA: cx.FA, acc };
    const name = matmulKernelName(spec);
    if (!cx.kernels.has(name)) cx.kernels.set(name, matmulKernelSource(spec));
    const args = matmulKernelArgs(spec).map((p) => `, ${sizeStr(sizes[p])}`).join("");
    out.push(`${name}(${o}, ${cx.ref(a.buf)}, ${a.off}, ${cx.ref(b.buf)}, ${b.off}${args});`);
  } else {
    // a'[i, k] = a[ao + i * sai + k * sak], b'[k, j] = b[bo + k * sbk + j * sbj].
    const [sai, sak] = tA ? ["1", sizeStr(M)] : [sizeStr(K), "1"];
    const [sbk, sbj] = tB ? ["1", sizeStr(K)] : [sizeStr(N), "1"];
    const js = `${cx.use("matmulJs")}(${o}, ${cx.ref(a.buf)}, ${a.off}, ${sai}, ${sak}, ${cx.ref(b.buf)}, ${b.off}, ${sbk}, ${sbj}, ${[M, K, N].map(sizeStr).join(", ")}, ${acc});`;
    out.push(`if (${cx.arena}.mm !== null) {`, ...simdMatmul(cx, n, dst.buf, a, b, tA, tB, sizes, acc), `} else {`, js, `}`);
  }
  for (const p of cx.witnesses.get(n) ?? []) {
    const what = `params.${p.name}`;
    out.push(`${cx.use("checkFiniteVia")}(${o}, ${str(what)}, ${cx.value(p).kind === "view" ? cx.ref((cx.value(p) as View).buf) : prop("params", p.name as string)});`);
  }
}
