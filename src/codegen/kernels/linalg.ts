// Matmul on any rank: out = op(a) @ op(b), where op transposes the last two
// axes, batch axes broadcast, and matmul_add, which adds the product into
// its accumulator (in place when nothing else reads it). An operand stored
// column-major (a transposed view) is read in place rather than copied.
// Every product runs in the 2-D kernel: a batch whose right operand is
// shared (x @ W with x [B, T, D]) is one product over the flattened rows; a
// sum over the batch (a shared weight's gradient) is one product over the
// flattened contraction; any other batch is a loop over the batch calling
// the kernel at offsets. SIMD modules call the WebAssembly kernel when it is
// there and the module's one shared JS kernel (matmulJs) otherwise; JS-only
// modules get a JS kernel per shape, with the constant sizes written in.
import { batchOf, matmulDims } from "../../ir/ops/linalg.js";
import type { Node } from "../../ir/types.js";
import type { Emitter, Value, View } from "../context.js";
import { matmulKernelArgs, matmulKernelName, matmulKernelSource, type MatmulSpec } from "../matmul.js";
import { prop, str, Temps } from "../names.js";
import { isOne, isZero, mul, nest, product, rowMajor, sizeEq, sizeStr, ZERO, type Size } from "../nest.js";
import { simdMatmul, type Operand } from "../simd.js";
import { accumulator } from "./layout.js";

/** A matmul operand: its buffer and offset, whether its matrices are stored column-major, and its stride per batch axis of the output (0: broadcast). */
interface BatchOperand extends Operand {
  batch: Size[];
}

function operand(cx: Emitter, v: Value, shape: Size[], batch: Size[], out: string[]): BatchOperand {
  let view: View = v.kind === "view" ? v : cx.contiguous(v, shape, "float", "operand", out);
  const r = view.shape.length;
  const [rows, cols] = view.shape.slice(r - 2);
  const [s0, s1] = view.strides.slice(r - 2);
  let colMajor = false;
  if ((isOne(cols) || isOne(s1)) && (isOne(rows) || sizeEq(s0, cols))) colMajor = false;
  else if ((isOne(rows) || isOne(s0)) && (isOne(cols) || sizeEq(s1, rows))) colMajor = true;
  else view = cx.contiguous(view, shape, "float", "operand", out);
  const lead: View = { ...view, shape: view.shape.slice(0, r - 2), strides: view.strides.slice(0, r - 2) };
  return { buf: view.buf, off: view.off, colMajor, batch: cx.broadcastStrides(lead, batch) };
}

export function matmul(cx: Emitter, n: Node, out: string[]): void {
  cx.comment([n], out);
  const acc = n.op === "matmul_add";
  const [x, y] = acc ? n.inputs.slice(1) : n.inputs;
  const d = matmulDims(x.shape, y.shape, n.attrs);
  const batch = cx.sizes(batchOf(n));
  const sum = n.attrs.sumBatch === true;
  const a = operand(cx, cx.value(x), cx.sizes(x.shape), batch, out);
  const b = operand(cx, cx.value(y), cx.sizes(y.shape), batch, out);
  const tA = (n.attrs.transA === true) !== a.colMajor;
  const tB = (n.attrs.transB === true) !== b.colMajor;
  const dst = acc ? accumulator(cx, n, out) : cx.out(n);
  const [M, K, N] = [cx.dimSize(d.M), cx.dimSize(d.K), cx.dimSize(d.N)];
  const o = cx.ref(dst.buf);

  /** One 2-D product at these offsets and sizes. */
  const call = (oo: string, ao: string, bo: string, s: { M: Size; K: Size; N: Size }, add: boolean): string[] => {
    if (!cx.simd) {
      const spec: MatmulSpec = { tA, tB, ...s, FA: cx.FA, acc: add, offset: oo !== "0" };
      const name = matmulKernelName(spec);
      if (!cx.kernels.has(name)) cx.kernels.set(name, matmulKernelSource(spec));
      const args = matmulKernelArgs(spec).map((p) => `, ${sizeStr(s[p])}`).join("");
      return [`${name}(${o}, ${cx.ref(a.buf)}, ${ao}, ${cx.ref(b.buf)}, ${bo}${oo === "0" ? "" : `, ${oo}`}${args});`];
    }
    // a'[i, k] = a[ao + i * sai + k * sak], b'[k, j] = b[bo + k * sbk + j * sbj].
    const [sai, sak] = tA ? ["1", sizeStr(s.M)] : [sizeStr(s.K), "1"];
    const [sbk, sbj] = tB ? ["1", sizeStr(s.K)] : [sizeStr(s.N), "1"];
    const dims = [s.M, s.K, s.N].map(sizeStr).join(", ");
    const js = `${cx.use("matmulJs")}(${o}, ${cx.ref(a.buf)}, ${ao}, ${sai}, ${sak}, ${cx.ref(b.buf)}, ${bo}, ${sbk}, ${sbj}, ${dims}, ${add}${oo === "0" ? "" : `, ${oo}`});`;
    const simd = simdMatmul(cx, n, dst.buf, { ...a, off: ao }, { ...b, off: bo }, tA, tB, s, add, oo);
    return [`if (${cx.arena}.mm !== null) {`, ...simd, `} else {`, js, `}`];
  };

  const real = batch.filter((s) => !isOne(s));
  const rm = rowMajor(batch);
  /** An operand's matrices (`matrix` elements each) lie one after another along the batch, with no gaps. */
  const packedAs = (p: BatchOperand, matrix: Size): boolean => batch.every((s, i) => isOne(s) || sizeEq(p.batch[i], mul(rm[i], matrix)));
  const shared = (p: BatchOperand): boolean => batch.every((s, i) => isOne(s) || isZero(p.batch[i]));
  const B = product(real);

  if (real.length === 0) {
    out.push(...call(dst.off, a.off, b.off, { M, K, N }, acc));
  } else if (!sum && !tA && shared(b) && packedAs(a, mul(M, K))) {
    // b is shared by the batch (x @ W): one product over the flattened rows of a.
    out.push(...call(dst.off, a.off, b.off, { M: mul(B, M), K, N }, acc));
  } else if (sum && tA && !tB && packedAs(a, mul(M, K)) && packedAs(b, mul(K, N))) {
    // Summed over the batch (a shared weight's gradient, xᵀ @ dy): one product over the flattened contraction.
    out.push(...call(dst.off, a.off, b.off, { M, K: mul(B, K), N }, acc));
  } else {
    // A loop over the batch, the kernel at offsets; a sum over the batch adds into zeros.
    if (sum && !acc) cx.copy(dst, { kind: "lit", expr: "0" }, out);
    const outStrides = sum ? batch.map(() => ZERO) : rm.map((s) => mul(s, mul(M, N)));
    const accesses = [
      { base: dst.off, strides: outStrides },
      { base: a.off, strides: a.batch },
      { base: b.off, strides: b.batch },
    ];
    out.push(...nest(new Temps(cx.names), batch, accesses, ([oo, ao, bo]) => call(oo, ao, bo, { M, K, N }, acc || sum)));
  }
  for (const p of cx.witnesses.get(n) ?? []) {
    const what = `params.${p.name}`;
    out.push(`${cx.use("checkFiniteVia")}(${o}, ${str(what)}, ${cx.value(p).kind === "view" ? cx.ref((cx.value(p) as View).buf) : prop("params", p.name as string)});`);
  }
}
