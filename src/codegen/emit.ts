// IR to a self-contained TypeScript module (spec section 6): metadata,
// types, a seeded `init`, and `forward` / `backward` that validate their
// arguments, bind symbolic dims from input lengths, and run the graph node by
// node over buffers that live in a workspace (allocated once per set of dim
// values). Each value is a view: a buffer, an offset and strides, so
// reshape, transpose, slicing, `xs[t]` and broadcasting copy nothing.
// Elementwise chains are fused into one loop; loops stay loops.
import { format } from "./prettier.js";
import { formatDeclaration, PRETTIER } from "./format.js";
import { lit, OPS } from "../ir/ops.js";
import { normAxis, showShape } from "../ir/shape.js";
import type { DType, Dim, Graph, Node, Phase, Shape } from "../ir/types.js";
import { commentText, key, Namer, prop, str, Temps } from "./names.js";
import {
  addTerms,
  constSize,
  isOne,
  nest,
  product,
  rowMajor,
  scaled,
  sizeAtom,
  sizeEq,
  sizeStr,
  symSize,
  ZERO,
  type Access,
  type Size,
} from "./nest.js";
import { isElementwise, plan, type Plan } from "./plan.js";
import { HELPER_DEPS, helperSource, type Helper } from "./runtime.js";
import { matmulKernelArgs, matmulKernelName, matmulKernelSource, type MatmulSpec } from "./matmul.js";

export interface EmitOptions {
  precision: "f32" | "f64";
  /** Float inputs whose gradients `backward` returns (`["all"]` for every float input). */
  inputGrads: string[];
  /**
   * Matmul kernels: "simd" (the default; f32 only) runs them in WebAssembly
   * SIMD where available, with the JS kernels as fallback; "js" emits the JS
   * kernels alone.
   */
  kernels?: "simd" | "js";
}

/** Compiles a lowered (and, for `backward`, differentiated) graph to a prettier-formatted TypeScript module. */
export async function emitModule(g: Graph, opts: EmitOptions): Promise<string> {
  return formatModule(moduleParts(g, opts));
}

/** A module before formatting: its top-level declarations in order, then the matmul kernels and runtime helpers it uses. */
export interface ModuleParts {
  declarations: string[];
  kernels: string[];
  helpers: Helper[];
  floatArray: string;
}

export function moduleParts(g: Graph, opts: EmitOptions): ModuleParts {
  const emitter = new ModuleEmitter(g, opts);
  const declarations = emitter.module(); // first: it collects the kernels and helpers
  return { declarations, kernels: [...emitter.kernels.values()], helpers: emitter.helperList(), floatArray: emitter.floatArray };
}

/**
 * The module's text, prettier-formatted declaration by declaration; a big
 * declaration is formatted one template of each of its repeated statements or
 * list elements at a time, with the same result (see format.ts).
 * `formatDecl` is for comparisons (tests, the compile-time bench).
 */
export async function formatModule(parts: ModuleParts, formatDecl: (d: string) => Promise<string> = formatDeclaration): Promise<string> {
  const body = (await Promise.all(parts.declarations.map((d) => formatDecl(d)))).map((d) => d.trimEnd()).join("\n\n");
  const kernels = await Promise.all(parts.kernels.map((k) => formattedKernel(k)));
  const helpers = await Promise.all(parts.helpers.map((h) => formattedHelper(h, parts.floatArray)));
  return [body.trimEnd(), ...kernels.map((k) => k.trimEnd()), ...helpers.map((h) => h.trimEnd())].join("\n\n") + "\n";
}

/** Helpers and kernels are the same text in every module that uses them: formatted once per process. */
const helperCache = new Map<string, Promise<string>>();
function formattedHelper(h: Helper, FA: string): Promise<string> {
  const k = `${h}:${FA}`;
  let text = helperCache.get(k);
  if (!text) helperCache.set(k, (text = format(helperSource(h, FA), PRETTIER)));
  return text;
}
const kernelCache = new Map<string, Promise<string>>();
function formattedKernel(source: string): Promise<string> {
  let text = kernelCache.get(source);
  if (!text) kernelCache.set(source, (text = format(source, PRETTIER)));
  return text;
}

/** Where a value lives: a strided view into a buffer, a number broadcast everywhere, or an int scalar expression. */
interface View {
  kind: "view";
  buf: string;
  off: string;
  shape: Size[];
  strides: Size[];
  dtype: DType;
}
type Value = View | { kind: "lit"; expr: string } | { kind: "int"; expr: string };

interface BufInfo {
  home: "fw" | "bw" | "params" | "inputs";
  /** The params/inputs key. */
  key?: string;
  size: Size;
  dtype: DType;
  /** The node this buffer was allocated for (in-place updates need sole ownership). */
  owner?: Node;
  /** A float64 scratch buffer, as long as the largest of `scratch` (f32 mode: accumulators). */
  scratch?: Size[];
  /** The workspace's arena (SIMD modules): not a buffer. */
  arena?: true;
  /** A copy of this param or input (its local name) in the arena, for the SIMD kernel. */
  stages?: string;
  /** A scalar input, which a caller may pass as a number: the module-level one-element array it is read through. */
  box?: string;
}

interface FnCtx {
  phase: Phase;
  refs: Set<string>;
  lastLine: number;
  /** The def line last commented under lastLine (0: none). */
  lastInner: number;
}

interface LoopInfo {
  carried: View[];
  tape: (View | null)[];
}

const IDENTITY_OPS = new Set(["stop_gradient", "clip_grad"]);
/** Ops whose value is a view of their first input (no copy). */
const VIEW_OPS = new Set(["stop_gradient", "clip_grad", "reshape", "transpose", "slice", "index"]);
/** Views that keep the whole buffer in its order (offset 0, every element). */
const WHOLE_VIEW_OPS = new Set(["stop_gradient", "clip_grad", "reshape"]);

/** A sum of sizes, like terms collected: `B * 138 + 100352`. */
function sumSizes(sizes: readonly Size[]): string {
  const terms = new Map<string, Size>();
  for (const s of sizes) {
    if (s.k === 0) continue;
    const k = s.syms.join("*");
    const t = terms.get(k);
    terms.set(k, t ? { k: t.k + s.k, syms: s.syms } : s);
  }
  const parts = [...terms.values()].sort((a, b) => b.syms.length - a.syms.length).map(sizeStr);
  return parts.length ? parts.join(" + ") : "0";
}

/** The largest of some sizes, as an expression. */
function maxSize(sizes: readonly Size[]): string {
  const consts = sizes.filter((x) => x.syms.length === 0).map((x) => x.k);
  const syms = sizes.filter((x) => x.syms.length > 0).map(sizeStr);
  const parts = [...(consts.length ? [String(Math.max(...consts))] : []), ...syms];
  return parts.length === 1 ? parts[0] : `Math.max(${parts.join(", ")})`;
}

/** An object literal field, shorthand when the key is the local's name. */
function field(name: string, local: string): string {
  return name === local ? name : `${key(name)}: ${local}`;
}

class ModuleEmitter {
  private readonly names = new Namer();
  private readonly FA: string;
  private readonly plan: Plan;
  private readonly dimLocal = new Map<string, string>();
  private readonly nodeLocal = new Map<Node, string>();
  private readonly values = new Map<Node, Value>();
  private readonly bufs = new Map<string, BufInfo>();
  private readonly helpers = new Set<Helper>();
  /** Params whose finiteness is checked through a smaller matmul they feed, by that matmul. */
  private readonly witnesses: Map<Node, Node[]>;
  /** Kernels emitted for this module (per-shape matmuls), by name. */
  readonly kernels = new Map<string, string>();
  private readonly loops = new Map<Node, LoopInfo>();
  /** Loop counters in scope and their ranges, for index bounds that need no runtime check. */
  private readonly counters = new Map<string, { start: number; count: Size }>();
  /** For each result of a loop being emitted, the carried buffer it becomes. */
  private readonly resultOf = new Map<Node, View>();
  private readonly lines: string[];
  private readonly gradNames: string[];
  private fn: FnCtx = { phase: "fwd", refs: new Set(), lastLine: -1, lastInner: 0 };
  /** Whether matmuls run in the SIMD kernel (float buffers then live in an arena); the arena's local name. */
  private readonly simd: boolean;
  private readonly arena: string = "";
  /** Whole params and inputs the SIMD kernel reads transposed, per pass: their transposed copy and the line that makes it. */
  private readonly transposed = new Map<string, { buf: string; line: string }>();
  /** The arena copy of each param or input a matmul reads (by local name). */
  private readonly stagedCopy = new Map<string, string>();

  constructor(
    private readonly g: Graph,
    private readonly opts: EmitOptions,
  ) {
    this.FA = opts.precision === "f64" ? "Float64Array" : "Float32Array";
    this.lines = g.source.split(/\r?\n/);
    this.plan = plan(g);
    this.witnesses = finitenessWitnesses(g, this.plan.live);
    const floatInputs = g.inputs.filter((n) => n.dtype === "float").map((n) => n.name as string);
    const wanted = opts.inputGrads.includes("all") ? floatInputs : opts.inputGrads;
    for (const w of wanted) {
      const inp = g.inputs.find((n) => n.name === w);
      if (!inp) throw new Error(`--input-grads: '${w}' is not an input of model ${g.name}`);
      if (inp.dtype !== "float") throw new Error(`--input-grads: '${w}' is an int input; only float inputs have gradients`);
    }
    this.gradNames = [...g.params.map((n) => n.name as string), ...floatInputs.filter((n) => wanted.includes(n))];

    // Every name a value may be given later is off limits to kernel temporaries.
    const blockNames = (nodes: readonly Node[]): void => {
      for (const n of nodes) {
        if (n.name) this.names.block(n.name);
        if (n.body) {
          blockNames([n.body.index, ...n.body.carried, ...n.body.nodes]);
          for (const t of n.body.tape) if (t.name) this.names.block(`${t.name}_tape`);
        }
      }
    };
    blockNames(g.nodes);
    for (const h of ["scratch", "operand", "logits", "rows", "indices", "filled"]) this.names.block(h);
    // Claim source names first so they keep their spelling: params, inputs, dims.
    for (const n of [...g.params, ...g.inputs]) this.nodeLocal.set(n, this.names.claim(n.name as string));
    for (const d of g.dims) this.dimLocal.set(d.name, this.names.claim(d.name));
    for (const n of [...g.params, ...g.inputs]) {
      const home = n.op === "param" ? "params" : "inputs";
      this.bufs.set(this.local(n), { home, key: n.name, size: product(this.sizes(n.shape)), dtype: n.dtype });
    }
    // Scalar inputs may be passed as numbers (spec section 6: scalars are numbers).
    for (const n of g.inputs) {
      if (n.shape.length === 0) (this.bufs.get(this.local(n)) as BufInfo).box = this.names.claim(`${n.name}_box`);
    }
    for (const n of [...g.params, ...g.inputs]) {
      const shape = this.sizes(n.shape);
      this.values.set(n, { kind: "view", buf: this.nodeLocal.get(n) as string, off: "0", shape, strides: rowMajor(shape), dtype: n.dtype });
    }
    this.checkDims();

    const matmuls: Node[] = [];
    const findMatmuls = (nodes: readonly Node[]): void => {
      for (const n of nodes) {
        if (!this.plan.live.has(n)) continue;
        if (n.op === "matmul") matmuls.push(n);
        if (n.body) findMatmuls(n.body.nodes);
      }
    };
    findMatmuls(g.nodes);
    this.simd = opts.precision === "f32" && (opts.kernels ?? "simd") === "simd" && matmuls.length > 0;
    if (this.simd) {
      this.arena = this.names.claim("arena");
      this.bufs.set(this.arena, { home: "fw", size: ZERO, dtype: "float", arena: true });
      // Params and inputs a matmul reads (through views) are copied into the arena once per
      // call, except those read only whole and transposed (b of x @ W.T): matmul() transposes
      // those into the arena once per pass instead.
      for (const m of matmuls) {
        for (const [k, operand] of m.inputs.entries()) {
          let x = operand;
          let whole = true;
          while (VIEW_OPS.has(x.op)) {
            if (!WHOLE_VIEW_OPS.has(x.op)) whole = false;
            x = x.inputs[0];
          }
          if ((x.op !== "param" && x.op !== "input") || x.dtype !== "float") continue;
          if (k === 1 && m.attrs.transB === true && whole && operand.shape.length === 2) continue;
          const l = this.local(x);
          if (this.stagedCopy.has(l)) continue;
          const info = this.bufs.get(l) as BufInfo;
          const copy = this.names.claim(`${x.name}_simd`);
          this.bufs.set(copy, { home: "fw", size: info.size, dtype: "float", stages: l });
          this.stagedCopy.set(l, copy);
        }
      }
    }
  }

  // ---- names, sizes, comments ------------------------------------------------

  private local(n: Node): string {
    let l = this.nodeLocal.get(n);
    if (!l) {
      l = this.names.claim(n.name ?? `${n.op}${n.id}`);
      this.nodeLocal.set(n, l);
    }
    return l;
  }

  private dimSize(d: Dim): Size {
    if (typeof d === "number") return constSize(d);
    const l = this.dimLocal.get(d);
    if (!l) throw new Error(`internal error: unknown dim ${d}`);
    return symSize(l);
  }

  private sizes(s: Shape): Size[] {
    return s.map((d) => this.dimSize(d));
  }

  /** Symbolic dims that the module cannot bind from input lengths are a compile error. */
  private checkDims(): void {
    const bound = new Set(this.dimOrder().map((d) => d.dim));
    const check = (s: Shape, what: string): void => {
      for (const d of s) {
        if (typeof d === "string" && !bound.has(d)) {
          throw new Error(`dim ${d} (used by ${what}) cannot be inferred from the inputs' lengths`);
        }
      }
    };
    const visit = (nodes: readonly Node[]): void => {
      for (const n of nodes) {
        if (!this.plan.live.has(n)) continue;
        check(n.shape, `${n.op} at line ${n.span.line}`);
        if (n.op === "loop") check([n.attrs.count as Dim], `the loop at line ${n.span.line}`);
        if (n.body) visit(n.body.nodes);
      }
    };
    visit(this.g.nodes);
  }

  /** The order in which symbolic dims are read off input lengths: an input whose other dims are known. */
  private dimOrder(): { dim: string; input: Node }[] {
    const known = new Set<string>();
    const order: { dim: string; input: Node }[] = [];
    for (let progress = true; progress; ) {
      progress = false;
      for (const n of this.g.inputs) {
        const unknown = n.shape.filter((d): d is string => typeof d === "string" && !known.has(d));
        if (unknown.length === 1) {
          known.add(unknown[0]);
          order.push({ dim: unknown[0], input: n });
          progress = true;
        }
      }
    }
    return order;
  }

  private sourceLine(line: number): string {
    return commentText((this.lines[line - 1] ?? "").replace(/#.*$/, "").replace(/\s+/g, " "));
  }

  /** `// line 16: h = relu(x @ W1 + b1)` before a kernel, once per run of nodes from the same line. */
  private comment(nodes: readonly Node[], out: string[]): void {
    // A statement's line, and under it the def line for code inlined from a def.
    const keys = new Map<string, { outer: number; inner: number }>();
    for (const n of nodes) {
      if (n.span.line <= 0) continue;
      const k = { outer: (n.span.via ?? n.span).line, inner: n.span.via ? n.span.line : 0 };
      keys.set(`${k.outer}:${k.inner}`, k);
    }
    const sorted = [...keys.values()].sort((a, b) => a.outer - b.outer || a.inner - b.inner);
    const prefix = nodes[nodes.length - 1].phase === "bwd" ? "grad of line" : "line";
    for (const k of sorted) {
      if (k.outer !== this.fn.lastLine) {
        out.push(`// ${prefix} ${k.outer}: ${this.sourceLine(k.outer)}`);
        this.fn.lastLine = k.outer;
        this.fn.lastInner = 0;
      }
      if (k.inner && k.inner !== this.fn.lastInner) {
        out.push(`//   line ${k.inner}: ${this.sourceLine(k.inner)}`);
        this.fn.lastInner = k.inner;
      }
    }
  }

  /** How a tensor is named in a runtime error message. */
  private display(n: Node): string {
    if (n.op === "input") return `inputs.${n.name}`;
    if (n.op === "param") return `params.${n.name}`;
    if (n.name) return n.name;
    if (n.op === "index") return `${this.display(n.inputs[0])}[${n.inputs[1].name ?? "i"}]`;
    if (n.op === "reshape" || n.op === "slice" || n.op === "transpose") return this.display(n.inputs[0]);
    return `the ${n.op} at line ${n.span.line}`;
  }

  private use(h: Helper): string {
    this.helpers.add(h);
    for (const d of HELPER_DEPS[h] ?? []) this.use(d);
    return h;
  }

  // ---- values and buffers ----------------------------------------------------

  /** A buffer name as used in the current function (pulled from its workspace or argument in the prologue). */
  private ref(buf: string): string {
    this.fn.refs.add(buf);
    return buf;
  }

  private value(n: Node): Value {
    const v = this.values.get(n);
    if (!v) throw new Error(`internal error: %${n.id} (${n.op}) has no value yet`);
    return v;
  }

  private view(n: Node): View {
    const v = this.value(n);
    if (v.kind !== "view") throw new Error(`internal error: %${n.id} (${n.op}) is not a buffer`);
    return v;
  }

  /**
   * The current workspace's float64 scratch, at least `size` long: f32
   * kernels accumulate sums in it and round once, as TF.js and NumPy do.
   */
  private scratch(size: Size): string {
    const home = this.fn.phase === "fwd" ? "fw" : "bw";
    let entry = [...this.bufs.entries()].find(([, b]) => b.home === home && b.scratch);
    if (!entry) {
      entry = [this.names.claim("scratch"), { home, size: ZERO, dtype: "float", scratch: [] }];
      this.bufs.set(entry[0], entry[1]);
    }
    const sizes = entry[1].scratch as Size[];
    if (!sizes.some((x) => sizeEq(x, size))) sizes.push(size);
    return this.ref(entry[0]);
  }

  /** A fresh contiguous buffer in the current phase's workspace. */
  private alloc(name: string, shape: Size[], dtype: DType, owner?: Node): View {
    const home = this.fn.phase === "fwd" ? "fw" : "bw";
    this.bufs.set(name, { home, size: product(shape), dtype, owner });
    return { kind: "view", buf: name, off: "0", shape, strides: rowMajor(shape), dtype };
  }

  /** The node's own output buffer. */
  private out(n: Node): View {
    const v = this.alloc(this.local(n), this.sizes(n.shape), n.dtype, n);
    this.values.set(n, v);
    return v;
  }

  private isContiguous(v: View): boolean {
    const rm = rowMajor(v.shape);
    return v.shape.every((d, a) => isOne(d) || sizeEq(v.strides[a], rm[a]));
  }

  /** Whether v is a whole buffer of the current workspace that a result may hand out. */
  private isWhole(v: Value): v is View {
    if (v.kind !== "view" || v.off !== "0" || !this.isContiguous(v)) return false;
    const info = this.bufs.get(v.buf);
    return info !== undefined && info.home === (this.fn.phase === "fwd" ? "fw" : "bw") && sizeEq(info.size, product(v.shape));
  }

  /** v as a contiguous view (any offset), copying into a new buffer when it is strided or a literal. */
  private contiguous(v: Value, shape: Size[], dtype: DType, hint: string, out: string[]): View {
    if (v.kind === "view" && this.isContiguous(v)) return v;
    const dst = this.alloc(this.names.claim(hint), shape, dtype);
    this.copy(dst, v, out);
    return dst;
  }

  private read(v: View, index: string): string {
    return `${this.ref(v.buf)}[${index}]`;
  }

  /** The strides with which a view is read while walking `iter` (NumPy broadcasting: 0 on stretched axes). */
  private broadcastStrides(v: View, iter: Size[]): Size[] {
    const lead = iter.length - v.shape.length;
    return iter.map((d, a) => {
      const b = a - lead;
      if (b < 0) return ZERO;
      if (isOne(v.shape[b]) && !isOne(d)) return ZERO;
      return v.strides[b];
    });
  }

  /** dst[...] = src[...] (or `op=` with `assign`), walking dst's shape. */
  private copy(dst: View, src: Value, out: string[], assign = "="): void {
    const t = new Temps(this.names);
    const acc: Access[] = [{ base: dst.off, strides: dst.strides }];
    if (src.kind === "view") acc.push({ base: src.off, strides: this.broadcastStrides(src, dst.shape) });
    if (assign === "=" && src.kind !== "view" && this.isWhole(dst)) {
      out.push(`${this.ref(dst.buf)}.fill(${src.expr});`);
      return;
    }
    // A whole buffer into a contiguous region (a carried value, a tape row): one typed-array copy.
    if (assign === "=" && src.kind === "view" && this.isContiguous(dst) && src.off === "0" && this.isContiguous(src)) {
      const info = this.bufs.get(src.buf);
      const n = product(dst.shape);
      if (info && !info.scratch && sizeEq(info.size, n) && sizeEq(product(src.shape), n)) {
        out.push(`${this.ref(dst.buf)}.set(${this.ref(src.buf)}${dst.off === "0" ? "" : `, ${dst.off}`});`);
        return;
      }
    }
    out.push(
      ...nest(t, dst.shape, acc, (ix) => [
        `${this.read(dst, ix[0])} ${assign} ${src.kind === "view" ? this.read(src, ix[1]) : src.expr};`,
      ]),
    );
  }

  // ---- functions -------------------------------------------------------------

  /** Emits the nodes of a block in order. */
  private block(nodes: readonly Node[], out: string[]): void {
    for (const n of nodes) {
      if (!this.plan.live.has(n) || this.plan.fused.has(n)) continue;
      this.node(n, out);
    }
  }

  private node(n: Node, out: string[]): void {
    const a = n.attrs;
    switch (n.op) {
      case "input":
      case "param":
        return;
      case "const":
        this.values.set(n, { kind: "lit", expr: lit(a.value as number) });
        return;
      case "full":
        this.values.set(n, { kind: "lit", expr: lit(a.value as number) });
        return;
      case "numel":
        this.values.set(n, { kind: "lit", expr: sizeAtom(product(this.sizes(a.dims as Dim[]))) });
        return;
      case "loop_index":
      case "carry":
        throw new Error(`internal error: ${n.op} outside a loop header`);
      case "sum":
      case "mean":
      case "max":
      case "min":
        return this.reduce(n, n.op, a.axes as number[], out);
      case "sum_to":
        return this.reduce(n, "sum", this.sumToAxes(n), out);
      case "logsumexp":
      case "argmax":
      case "first_extreme_mask":
        return this.scan(n, out);
      case "matmul":
        return this.matmul(n, out);
      case "transpose":
      case "reshape":
      case "broadcast_to":
      case "slice":
        return this.layoutView(n, out);
      case "concat":
        return this.concat(n, out);
      case "unslice": {
        this.comment([n], out);
        const dst = this.out(n);
        out.push(`${this.ref(dst.buf)}.fill(0);`);
        this.copy(this.sliceView(dst, n), this.value(n.inputs[0]), out);
        return;
      }
      case "index":
      case "unindex":
      case "index_add":
        return this.indexOp(n, out);
      case "slice_add": {
        this.comment([n], out);
        const dst = this.accumulator(n, out);
        this.copy(this.sliceView(dst, n), this.value(n.inputs[1]), out, "+=");
        return;
      }
      case "softmax":
      case "log_softmax":
        return this.softmax(n, out);
      case "cross_entropy":
      case "pick":
        return this.rowPick(n, out);
      case "one_hot": {
        this.comment([n], out);
        const idx = this.contiguous(this.value(n.inputs[0]), this.sizes(n.inputs[0].shape), "int", "indices", out);
        const dst = this.out(n);
        const count = product(idx.shape);
        out.push(
          `${this.use("oneHot")}(${this.ref(dst.buf)}, ${this.ref(idx.buf)}, ${idx.off}, ${sizeStr(count)}, ${sizeStr(this.dimSize(a.n as Dim))}, ${str(`one_hot (line ${n.span.line}): ${this.display(n.inputs[0])}`)});`,
        );
        return;
      }
      case "loop":
        return this.loop(n, out);
      case "loop_out": {
        const info = this.loops.get(n.inputs[0]);
        if (!info) throw new Error("internal error: loop_out before its loop");
        this.values.set(n, info.carried[a.k as number]);
        return;
      }
      case "loop_tape": {
        const info = this.loops.get(n.inputs[0]);
        const t = info?.tape[a.k as number];
        if (!t) throw new Error("internal error: loop_tape without its tape");
        this.values.set(n, t);
        return;
      }
      default:
        if (isElementwise(n)) return this.elementwise(n, out);
        throw new Error(`internal error: codegen has no kernel for op ${n.op}`);
    }
  }

  // ---- elementwise -----------------------------------------------------------

  /** The fused tree under `root`: its internal nodes (topological, root last) and its leaves. */
  private tree(root: Node): { nodes: Node[]; leaves: Node[] } {
    const nodes: Node[] = [];
    const leaves: Node[] = [];
    const seen = new Set<Node>();
    const visit = (n: Node, isRoot: boolean): void => {
      if (seen.has(n)) return;
      seen.add(n);
      // A fused node belongs to the tree of its reader in its own phase; the backward reads it as stored.
      if (isRoot || (this.plan.fused.has(n) && n.phase === root.phase)) {
        for (const i of n.inputs) visit(i, false);
        nodes.push(n);
      } else leaves.push(n);
    };
    visit(root, true);
    return { nodes, leaves };
  }

  /**
   * Statements computing a fused tree for one element, given the index of
   * each leaf view in `leafIndex`. Internal nodes become `const` locals named
   * after their source names; returns the root's expression.
   */
  private scalarCode(
    nodes: readonly Node[],
    leafExpr: (n: Node) => string,
    keptIndex: (n: Node) => string = () => {
      throw new Error("internal error: a kept node outside a kernel");
    },
  ): { stmts: string[]; expr: string } {
    const exprs = new Map<Node, string>();
    const stmts: string[] = [];
    const arg = (n: Node): string => exprs.get(n) ?? leafExpr(n);
    // Nodes computed from numbers alone (`1 / B`) stay inline expressions rather than locals.
    const numeric = new Set<Node>();
    const isNumeric = (n: Node): boolean => numeric.has(n) || (!nodes.includes(n) && this.values.get(n)?.kind === "lit");
    nodes.forEach((n, i) => {
      const def = OPS[n.op];
      const e = IDENTITY_OPS.has(n.op)
        ? arg(n.inputs[0])
        : def.scalarF32 && this.opts.precision === "f32"
          ? (this.use(def.scalarF32.helper), def.scalarF32.code(n.inputs.map(arg)))
          : (def.scalar as NonNullable<typeof def.scalar>)(n.inputs.map(arg), n.attrs);
      if (i < nodes.length - 1 && !this.plan.kept.has(n) && n.inputs.every(isNumeric)) {
        numeric.add(n);
        exprs.set(n, /^[A-Za-z0-9_.]+$/.test(e) ? e : `(${e})`);
      } else if (i === nodes.length - 1 && !this.plan.kept.has(n)) exprs.set(n, e);
      else if (this.plan.kept.has(n)) {
        // Stored for the backward pass; later uses re-read it, as an unfused reader would.
        const at = this.read(this.view(n), keptIndex(n));
        stmts.push(`${at} = ${e};`);
        exprs.set(n, at);
      } else {
        const l = this.local(n);
        stmts.push(`const ${l} = ${e};`);
        exprs.set(n, l);
      }
    });
    return { stmts, expr: exprs.get(nodes[nodes.length - 1]) as string };
  }

  /** Leaf accesses of a tree walked over `iter`, and a function giving each leaf's element expression. */
  private leafAccesses(
    leaves: readonly Node[],
    iter: Size[],
    kept: readonly Node[] = [],
  ): { accesses: Access[]; expr: (n: Node, ix: string[]) => string; index: (n: Node, ix: string[]) => string } {
    const accesses: Access[] = [];
    const slot = new Map<Node, number>();
    for (const k of kept) {
      const v = this.out(k);
      slot.set(k, accesses.length);
      accesses.push({ base: "0", strides: v.strides });
    }
    for (const l of leaves) {
      const v = this.value(l);
      if (v.kind === "view") {
        slot.set(l, accesses.length);
        accesses.push({ base: v.off, strides: this.broadcastStrides(v, iter) });
      }
    }
    return {
      accesses,
      index: (n, ix) => ix[slot.get(n) as number],
      expr: (n, ix) => {
        const v = this.value(n);
        if (v.kind === "view") return this.read(v, ix[slot.get(n) as number]);
        return v.expr;
      },
    };
  }

  private elementwise(n: Node, out: string[]): void {
    const { nodes, leaves } = this.tree(n);
    // Identity ops (stop_gradient, clip_grad) on a value that already exists: the same value.
    if (nodes.length === 1 && IDENTITY_OPS.has(n.op)) {
      this.values.set(n, this.value(n.inputs[0]));
      return;
    }
    // All leaves are numbers: a number.
    if (leaves.every((l) => this.value(l).kind === "lit")) {
      const { stmts, expr } = this.scalarCode(nodes, (l) => (this.value(l) as { expr: string }).expr);
      if (stmts.length === 0) {
        this.values.set(n, { kind: "lit", expr: `(${expr})` });
        return;
      }
    }
    this.comment(nodes, out);
    const dst = this.inPlaceCarry(n, leaves) ?? this.out(n);
    const t = new Temps(this.names);
    const la = this.leafAccesses(leaves, dst.shape, nodes.filter((k) => this.plan.kept.has(k)));
    out.push(
      ...nest(t, dst.shape, [{ base: "0", strides: dst.strides }, ...la.accesses], (ix) => {
        const leafIx = ix.slice(1);
        const { stmts, expr } = this.scalarCode(nodes, (l) => la.expr(l, leafIx), (k) => la.index(k, leafIx));
        return [...stmts, `${this.read(dst, ix[0])} = ${expr};`];
      }),
    );
  }

  /**
   * A loop result computed elementwise from its own carried value (a running
   * sum, a gradient accumulator: `acc = acc + v`) is written straight into the
   * carried buffer, when nothing else reads the old value and every element
   * is read at the position it is written.
   */
  private inPlaceCarry(n: Node, leaves: readonly Node[]): View | null {
    const target = this.resultOf.get(n);
    if (!target) return null;
    const c = leaves.find((l) => {
      const v = this.values.get(l);
      return l.op === "carry" && v?.kind === "view" && v.buf === target.buf;
    });
    if (!c || this.plan.pinned.has(c) || (this.plan.readers.get(c)?.size ?? 0) !== 1) return null;
    const v = this.value(c) as View;
    if (v.off !== "0" || !this.isContiguous(v) || !sizeEq(product(v.shape), product(this.sizes(n.shape))) || v.shape.length !== n.shape.length)
      return null;
    if (!v.shape.every((d, a) => sizeEq(d, this.dimSize(n.shape[a])))) return null;
    this.values.set(n, v);
    return v;
  }

  // ---- reductions ------------------------------------------------------------

  private sumToAxes(n: Node): number[] {
    const s = n.inputs[0].shape;
    const target = n.shape;
    const lead = s.length - target.length;
    const axes: number[] = [];
    s.forEach((d, a) => {
      if (a < lead || (target[a - lead] === 1 && d !== 1)) axes.push(a);
    });
    return axes;
  }

  /** sum, mean, max, min over `axes` of the input, which may be a fused elementwise tree. */
  private reduce(n: Node, kind: "sum" | "mean" | "max" | "min", axes: number[], out: string[]): void {
    const x = n.inputs[0];
    const fusedInput = this.plan.fused.has(x);
    const { nodes, leaves } = fusedInput ? this.tree(x) : { nodes: [] as Node[], leaves: [x] };
    this.comment([...nodes, n], out);
    const iter = this.sizes(x.shape);
    const dst = this.out(n);
    const keptAxes = iter.map((_, a) => a).filter((a) => !axes.includes(a));
    const keptStrides = rowMajor(keptAxes.map((a) => iter[a]));
    const outStrides = iter.map((_, a) => (axes.includes(a) ? ZERO : keptStrides[keptAxes.indexOf(a)]));
    const count = product(axes.map((a) => iter[a]));
    const la = this.leafAccesses(leaves, iter, nodes.filter((k) => this.plan.kept.has(k)));
    const t = new Temps(this.names);
    const element = (ix: string[]): { stmts: string[]; expr: string } =>
      nodes.length ? this.scalarCode(nodes, (l) => la.expr(l, ix), (k) => la.index(k, ix)) : { stmts: [], expr: la.expr(x, ix) };
    const o = this.ref(dst.buf);

    const leading = axes.length > 0 && keptAxes.length > 0 && Math.max(...axes) < Math.min(...keptAxes);
    if ((kind === "sum" || kind === "mean") && leading && iter.length === 2) {
      // Column sums of a matrix (a bias gradient, batch statistics): four columns at a time,
      // each summed down the rows in a local float64 accumulator. The sums run in the same order
      // as row by row into a scratch row, so the results are the same to the bit, but nothing
      // goes through memory between rows (twice as fast in V8).
      const [R, C] = iter;
      const i = t.fresh("i");
      const j = t.fresh("j");
      const scale = kind === "mean" ? ` / ${sizeAtom(count)}` : "";
      // Accesses with the same base and strides share one row offset.
      const sig = la.accesses.map((a) => `${a.base}|${sizeStr(a.strides[0])}|${sizeStr(a.strides[1])}`);
      const groups = [...new Set(sig)];
      const rowOff = groups.map(() => t.fresh("o"));
      const first = groups.map((g) => la.accesses[sig.indexOf(g)]);
      const columns = (width: number, from: string, to: string, step: boolean): string[] => {
        const accs = [...Array(width).keys()].map((q) => t.fresh(width === 1 ? "acc" : `acc${q}`));
        const rowLines = groups.map((_, g) => `const ${rowOff[g]} = ${addTerms(first[g].base, scaled(i, first[g].strides[0]), scaled(j, first[g].strides[1]))};`);
        const col = (q: number): string[] => {
          const e = element(sig.map((sg) => addTerms(rowOff[groups.indexOf(sg)], scaled(String(q), la.accesses[sig.indexOf(sg)].strides[1]))));
          const add = `${accs[q]} += ${e.expr};`;
          return e.stmts.length ? [`{`, ...e.stmts, add, `}`] : [add];
        };
        return [
          `for (let ${j} = ${from}; ${j} < ${to}; ${j}${step ? ` += ${width}` : "++"}) {`,
          `let ${accs.map((a) => `${a} = 0`).join(", ")};`,
          `for (let ${i} = 0; ${i} < ${sizeStr(R)}; ${i}++) {`,
          ...(groups.length ? rowLines : []),
          ...accs.flatMap((_, q) => col(q)),
          `}`,
          ...accs.map((a, q) => `${o}[${addTerms(scaled(j, outStrides[1]), scaled(String(q), outStrides[1]))}] = ${a}${scale};`),
          `}`,
        ];
      };
      const Cs = sizeStr(C);
      const wide = C.syms.length ? `${Cs} - (${Cs} % 4)` : String(C.k - (C.k % 4));
      if (C.syms.length || C.k >= 4) out.push(...columns(4, "0", wide, true));
      if (C.syms.length || C.k % 4) out.push(...columns(1, wide, Cs, false));
      return;
    }
    if ((kind === "sum" || kind === "mean") && leading) {
      // Reduced axes lead (a bias gradient): walk the input in memory order, accumulating
      // rows (in float64 scratch for an f32 output, rounded once at the end).
      const n = product(dst.shape);
      const accBuf = this.opts.precision === "f32" ? this.scratch(n) : o;
      out.push(accBuf === o ? `${o}.fill(0);` : `${accBuf}.fill(0, 0, ${sizeStr(n)});`);
      out.push(
        ...nest(t, iter, [{ base: "0", strides: outStrides }, ...la.accesses], (ix) => {
          const e = element(ix.slice(1));
          return [...e.stmts, `${accBuf}[${ix[0]}] += ${e.expr};`];
        }),
      );
      if (kind === "mean" || accBuf !== o) {
        const v = t.fresh("i");
        const scale = kind === "mean" ? ` / ${sizeAtom(count)}` : "";
        out.push(`for (let ${v} = 0; ${v} < ${sizeStr(n)}; ${v}++) ${o}[${v}] = ${accBuf}[${v}]${scale};`);
      }
      return;
    }
    const keep = (s: readonly Size[]): Size[] => keptAxes.map((a) => s[a]);
    const red = (s: readonly Size[]): Size[] => axes.map((a) => s[a]);
    const accName = t.fresh("acc");
    const init = kind === "max" ? "-Infinity" : kind === "min" ? "Infinity" : "0";
    out.push(
      ...nest(t, keep(iter), [{ base: "0", strides: keep(outStrides) }, ...la.accesses.map((a) => ({ base: a.base, strides: keep(a.strides) }))], (ox) => [
        `let ${accName} = ${init};`,
        ...nest(t, red(iter), la.accesses.map((a, i) => ({ base: ox[i + 1], strides: red(a.strides) })), (ix) => {
          const e = element(ix);
          const step =
            kind === "max"
              ? `${accName} = Math.max(${accName}, ${e.expr});`
              : kind === "min"
                ? `${accName} = Math.min(${accName}, ${e.expr});`
                : `${accName} += ${e.expr};`;
          return [...e.stmts, step];
        }),
        `${o}[${ox[0]}] = ${kind === "mean" ? `${accName} / ${sizeAtom(count)}` : accName};`,
      ]),
    );
  }

  /** logsumexp, argmax and first_extreme_mask: a kept-axes loop around one or two passes over the reduced axes. */
  private scan(n: Node, out: string[]): void {
    this.comment([n], out);
    const x = n.inputs[0];
    const axes = n.attrs.axes as number[];
    const iter = this.sizes(x.shape);
    const xv = this.value(x);
    const src: View = xv.kind === "view" ? xv : this.contiguous(xv, iter, "float", "filled", out);
    const dst = this.out(n);
    const keptAxes = iter.map((_, a) => a).filter((a) => !axes.includes(a));
    const keep = (s: readonly Size[]): Size[] => keptAxes.map((a) => s[a]);
    const red = (s: readonly Size[]): Size[] => axes.map((a) => s[a]);
    const keptStrides = rowMajor(keep(iter));
    // The mask has the input's shape; the others the kept axes'.
    const outStrides =
      n.op === "first_extreme_mask" ? rowMajor(iter) : iter.map((_, a) => (axes.includes(a) ? ZERO : keptStrides[keptAxes.indexOf(a)]));
    const xs = this.broadcastStrides(src, iter);
    const t = new Temps(this.names);
    const o = this.ref(dst.buf);
    const inner = (ox: string[], f: (xi: string, oi: string) => string[]): string[] =>
      nest(t, red(iter), [{ base: ox[0], strides: red(outStrides) }, { base: ox[1], strides: red(xs) }], (ix) => f(this.read(src, ix[1]), ix[0]));
    const outer = (f: (ox: string[]) => string[]): string[] =>
      nest(t, keep(iter), [{ base: "0", strides: keep(outStrides) }, { base: src.off, strides: keep(xs) }], f);

    if (n.op === "logsumexp") {
      const m = t.fresh("max");
      const s = t.fresh("sum");
      out.push(
        ...outer((ox) => [
          `let ${m} = -Infinity;`,
          ...inner(ox, (v) => [`${m} = Math.max(${m}, ${v});`]),
          `let ${s} = 0;`,
          ...inner(ox, (v) => [`${s} += Math.exp(${v} - ${m});`]),
          `${o}[${ox[0]}] = ${m} === -Infinity ? ${m} : ${m} + Math.log(${s});`,
        ]),
      );
    } else if (n.op === "argmax") {
      const best = t.fresh("best");
      const arg = t.fresh("arg");
      const r = t.fresh("r");
      out.push(
        ...outer((ox) => [
          `let ${best} = 0;`,
          `let ${arg} = 0;`,
          `let ${r} = 0;`,
          ...inner(ox, (v) => [`if (${r} === 0 || ${v} > ${best}) {`, `${best} = ${v};`, `${arg} = ${r};`, `}`, `${r}++;`]),
          `${o}[${ox[0]}] = ${arg};`,
        ]),
      );
    } else {
      // first_extreme_mask: 1 at the first maximal (minimal) element of each group, 0 elsewhere.
      const cmp = n.attrs.mode === "min" ? "<" : ">";
      const best = t.fresh("best");
      const at = t.fresh("at");
      out.push(
        ...outer((ox) => [
          `let ${best} = 0;`,
          `let ${at} = -1;`,
          ...inner(ox, (v, oi) => [`${o}[${oi}] = 0;`, `if (${at} < 0 || ${v} ${cmp} ${best}) {`, `${best} = ${v};`, `${at} = ${oi};`, `}`]),
          `${o}[${at}] = 1;`,
        ]),
      );
    }
  }

  // ---- linear algebra and layout ---------------------------------------------

  /** A matmul operand: its buffer and offset, and whether it is stored transposed (column-major). */
  private operand(v: Value, shape: Size[], out: string[]): { buf: string; off: string; colMajor: boolean } {
    if (v.kind === "view") {
      const [r, c] = v.shape;
      const [s0, s1] = v.strides;
      if ((isOne(c) || isOne(s1)) && (isOne(r) || sizeEq(s0, c))) return { buf: v.buf, off: v.off, colMajor: false };
      if ((isOne(r) || isOne(s0)) && (isOne(c) || sizeEq(s1, r))) return { buf: v.buf, off: v.off, colMajor: true };
    }
    const m = this.contiguous(v, shape, "float", "operand", out);
    return { buf: m.buf, off: m.off, colMajor: false };
  }

  private matmul(n: Node, out: string[]): void {
    this.comment([n], out);
    const [x, y] = n.inputs;
    const a = this.operand(this.value(x), this.sizes(x.shape), out);
    const b = this.operand(this.value(y), this.sizes(y.shape), out);
    const tA = (n.attrs.transA === true) !== a.colMajor;
    const tB = (n.attrs.transB === true) !== b.colMajor;
    const dst = this.out(n);
    const [M, N] = dst.shape;
    const K = this.dimSize(n.attrs.transA === true ? x.shape[0] : x.shape[1]);
    const spec: MatmulSpec = { tA, tB, M, K, N, FA: this.FA };
    const name = matmulKernelName(spec);
    if (!this.kernels.has(name)) this.kernels.set(name, matmulKernelSource(spec));
    const sizes = { M, K, N };
    const args = matmulKernelArgs(spec).map((p) => `, ${sizeStr(sizes[p])}`).join("");
    const js = `${name}(${this.ref(dst.buf)}, ${this.ref(a.buf)}, ${a.off}, ${this.ref(b.buf)}, ${b.off}${args});`;
    if (!this.simd) {
      out.push(js);
    } else {
      // The SIMD kernel reads the arena: params and inputs through their staged copies; a transposed b is transposed into it.
      const inArena = (o: { buf: string; off: string }): { buf: string; off: string } => {
        const staged = this.stagedCopy.get(o.buf);
        return staged ? { buf: staged, off: o.off } : o;
      };
      const sa = inArena(a);
      let sb = inArena(b);
      const simd: string[] = [];
      const whole = this.bufs.get(b.buf);
      if (tB && b.off === "0" && (whole?.home === "params" || whole?.home === "inputs") && sizeEq(whole.size, product([K, N]))) {
        // A whole param or input read transposed (Wᵀ in a backward pass, Whᵀ in every step of BPTT):
        // transposed once per call, at the start of the pass.
        const k = `${b.buf}|${sizeStr(K)}|${sizeStr(N)}|${this.fn.phase}`;
        let bt = this.transposed.get(k);
        if (!bt) {
          bt = { buf: this.alloc(this.names.claim(`${whole.key}_T`), [K, N], "float").buf, line: "" };
          bt.line = `${this.use("transposeInto")}(${this.ref(bt.buf)}, ${this.ref(b.buf)}, 0, ${sizeStr(N)}, ${sizeStr(K)});`;
          this.transposed.set(k, bt);
        }
        sb = { buf: this.ref(bt.buf), off: "0" };
      } else if (tB) {
        const bt = this.alloc(this.names.claim(`${this.local(n)}_bT`), [K, N], "float");
        simd.push(`${this.use("transposeInto")}(${this.ref(bt.buf)}, ${this.ref(b.buf)}, ${b.off}, ${sizeStr(N)}, ${sizeStr(K)});`);
        sb = { buf: bt.buf, off: "0" };
      }
      for (const o of [sa, sb, { buf: dst.buf, off: "0" }]) {
        const home = this.bufs.get(o.buf)?.home;
        if (home !== "fw" && home !== "bw") throw new Error(`internal error: matmul operand ${o.buf} is not in the arena`);
      }
      const dims = [M, K, N].map(sizeStr).join(", ");
      simd.push(`${this.use("matmulSimd")}(${this.ref(this.arena)}, ${this.ref(dst.buf)}, ${this.ref(sa.buf)}, ${sa.off}, ${this.ref(sb.buf)}, ${sb.off}, ${dims}, ${tA});`);
      out.push(`if (${this.arena}.mm !== null) {`, ...simd, `} else {`, js, `}`);
    }
    for (const p of this.witnesses.get(n) ?? []) {
      const what = `params.${p.name}`;
      out.push(`${this.use("checkFiniteVia")}(${this.ref(dst.buf)}, ${str(what)}, ${this.value(p).kind === "view" ? this.ref((this.value(p) as View).buf) : prop("params", p.name as string)});`);
    }
  }

  /** A static slice of a view (also the region unslice writes). */
  private sliceView(v: View, n: Node): View {
    const starts = n.attrs.starts as number[];
    const ends = n.attrs.ends as Dim[];
    const drop = n.attrs.drop as number[];
    const off = addTerms(v.off, ...starts.map((s, a) => scaled(String(s), v.strides[a])).filter((s) => !/^0/.test(s)));
    const shape: Size[] = [];
    const strides: Size[] = [];
    v.shape.forEach((d, a) => {
      if (drop.includes(a)) return;
      const e = ends[a];
      shape.push(typeof e === "number" ? constSize(e - starts[a]) : d);
      strides.push(v.strides[a]);
    });
    return { ...v, off, shape, strides };
  }

  private layoutView(n: Node, out: string[]): void {
    const x = n.inputs[0];
    const v = this.value(x);
    if (v.kind !== "view") {
      this.values.set(n, v);
      return;
    }
    const shape = this.sizes(n.shape);
    switch (n.op) {
      case "transpose":
        this.values.set(n, { ...v, shape, strides: [v.strides[1], v.strides[0]] });
        return;
      case "broadcast_to":
        this.values.set(n, { ...v, shape, strides: this.broadcastStrides(v, shape) });
        return;
      case "slice":
        this.values.set(n, this.sliceView(v, n));
        return;
      case "reshape": {
        if (!this.isContiguous(v)) this.comment([n], out); // the copy below is code of n's line
        const c = this.isContiguous(v) ? v : this.contiguous(v, v.shape, v.dtype, `${this.local(n)}_data`, out);
        this.values.set(n, { ...c, shape, strides: rowMajor(shape) });
        return;
      }
    }
  }

  private concat(n: Node, out: string[]): void {
    this.comment([n], out);
    const [x, y] = n.inputs;
    const axis = n.attrs.axis as number;
    const dst = this.out(n);
    const split = this.dimSize(x.shape[axis]);
    this.copy({ ...dst, shape: this.sizes(x.shape) }, this.value(x), out);
    const off = scaled(sizeAtom(split), dst.strides[axis]);
    this.copy({ ...dst, off, shape: this.sizes(y.shape) }, this.value(y), out);
  }

  /**
   * Runs `f` with the JS expression of an int scalar index into an axis of
   * size `size`, after a bounds check unless a loop counter's range proves it.
   */
  private withIndex(i: Node, size: Size, what: string, out: string[], f: (k: string) => string[]): void {
    const iv = this.value(i);
    if (iv.kind === "int") {
      const range = this.counters.get(iv.expr);
      const safe =
        range !== undefined &&
        ((range.start === 0 && sizeEq(range.count, size)) ||
          (range.count.syms.length === 0 && size.syms.length === 0 && range.start >= 0 && range.start + range.count.k <= size.k));
      if (!safe) out.push(`${this.use("checkIndex")}(${str(what)}, ${iv.expr}, ${sizeStr(size)});`);
      out.push(...f(iv.expr));
      return;
    }
    if (iv.kind === "lit") throw new Error("internal error: a float used as an index");
    const t = new Temps(this.names);
    const k = t.fresh("index");
    out.push(`{`, `const ${k} = ${this.read(iv, iv.off)};`, `${this.use("checkIndex")}(${str(what)}, ${k}, ${sizeStr(size)});`, ...f(k), `}`);
  }

  /**
   * Where index_add and slice_add write: their first input's own buffer, in
   * place, when they are its only reader; else a copy of it.
   */
  private accumulator(n: Node, out: string[]): View {
    const acc = n.inputs[0];
    const av = this.value(acc);
    const readers = this.plan.readers.get(acc)?.size ?? 0;
    const inPlace =
      av.kind === "view" && readers === 1 && !this.plan.pinned.has(acc) && this.isWhole(av) && this.bufs.get(av.buf)?.owner === acc;
    if (inPlace) {
      this.values.set(n, av);
      return av;
    }
    const dst = this.out(n);
    this.copy(dst, av, out);
    return dst;
  }

  /** index (xs[t]: a view when t is a loop counter), unindex and index_add. */
  private indexOp(n: Node, out: string[]): void {
    const what = `${this.display(n.op === "index" ? n.inputs[0] : n)} (line ${n.span.line})`;
    if (n.op === "index") {
      const [x, i] = n.inputs;
      const v = this.value(x);
      if (v.kind !== "view") {
        this.values.set(n, v);
        return;
      }
      const row = (k: string): View => ({ ...v, off: addTerms(v.off, scaled(k, v.strides[0])), shape: v.shape.slice(1), strides: v.strides.slice(1) });
      const iv = this.value(i);
      if (iv.kind === "int") {
        this.withIndex(i, v.shape[0], what, out, () => []);
        this.values.set(n, row(iv.expr));
        return;
      }
      this.comment([n], out);
      const dst = this.out(n);
      this.withIndex(i, v.shape[0], what, out, (k) => {
        const body: string[] = [];
        this.copy(dst, row(k), body);
        return body;
      });
      return;
    }
    this.comment([n], out);
    const rowOf = (dst: View, k: string): View => ({ ...dst, off: scaled(k, dst.strides[0]), shape: dst.shape.slice(1), strides: dst.strides.slice(1) });
    if (n.op === "unindex") {
      const [v, i] = n.inputs;
      const dst = this.out(n);
      out.push(`${this.ref(dst.buf)}.fill(0);`);
      this.withIndex(i, dst.shape[0], what, out, (k) => {
        const body: string[] = [];
        this.copy(rowOf(dst, k), this.value(v), body);
        return body;
      });
      return;
    }
    // index_add: acc with row i increased by v.
    const [, v, i] = n.inputs;
    const dst = this.accumulator(n, out);
    this.withIndex(i, dst.shape[0], what, out, (k) => {
      const body: string[] = [];
      this.copy(rowOf(dst, k), this.value(v), body, "+=");
      return body;
    });
  }

  // ---- neural-network ops ----------------------------------------------------

  private softmax(n: Node, out: string[]): void {
    this.comment([n], out);
    const x = n.inputs[0];
    const shape = this.sizes(x.shape);
    const src = this.contiguous(this.value(x), shape, "float", "logits", out);
    const axis = normAxis(n.attrs.axis as number, shape.length) as number;
    const dst = this.out(n);
    const outer = product(shape.slice(0, axis));
    const inner = product(shape.slice(axis + 1));
    const f = this.use(n.op === "softmax" ? "softmax" : "logSoftmax");
    out.push(`${f}(${this.ref(dst.buf)}, ${this.ref(src.buf)}, ${src.off}, ${sizeStr(outer)}, ${sizeStr(shape[axis])}, ${sizeStr(inner)});`);
  }

  /** cross_entropy(z, labels) and pick(x, idx): one element per row, chosen by an int index. */
  private rowPick(n: Node, out: string[]): void {
    this.comment([n], out);
    const [x, idx] = n.inputs;
    const shape = this.sizes(x.shape);
    const src = this.contiguous(this.value(x), shape, "float", "rows", out);
    const iv = this.contiguous(this.value(idx), this.sizes(idx.shape), "int", "indices", out);
    const dst = this.out(n);
    const f = this.use(n.op === "pick" ? "pick" : "crossEntropy");
    const role = n.op === "pick" ? "indices" : "labels";
    const what = `${n.op} (line ${n.span.line}): ${role} ${this.display(idx)}`;
    out.push(
      `${f}(${this.ref(dst.buf)}, ${this.ref(src.buf)}, ${src.off}, ${this.ref(iv.buf)}, ${iv.off}, ${sizeStr(shape[0])}, ${sizeStr(shape[1])}, ${str(what)});`,
    );
  }

  // ---- loops -----------------------------------------------------------------

  /**
   * A `for` loop over the body. Carried values live in buffers that the body
   * reads; the results are copied in after the whole step (through a staging
   * buffer when a result still reads a carried buffer), and tape entries are
   * stored as row t of a [count, ...] buffer.
   */
  private loop(n: Node, out: string[]): void {
    const b = n.body;
    if (!b) throw new Error("internal error: loop without a body");
    const start = (n.attrs.start as number | undefined) ?? 0;
    const count = this.dimSize(n.attrs.count as Dim);
    const reverse = n.attrs.reverse === true;
    const header: string[] = [];
    this.fn.lastLine = -1;
    this.fn.lastInner = 0;
    this.comment([n], header);
    out.push(...header);

    const carried = b.carried.map((c, k) => {
      const v = this.alloc(this.local(c), this.sizes(c.shape), c.dtype, c);
      this.values.set(c, v);
      this.copy(v, this.value(n.inputs[k]), out);
      return v;
    });
    const usedTape = new Set<number>();
    const markTape = (nodes: readonly Node[]): void => {
      for (const m of nodes) {
        if (m.op === "loop_tape" && m.inputs[0] === n && this.plan.live.has(m)) usedTape.add(m.attrs.k as number);
        if (m.body) markTape(m.body.nodes);
      }
    };
    markTape(this.g.nodes);
    const tape = b.tape.map((tv, k) =>
      usedTape.has(k) ? this.alloc(this.names.claim(`${tv.name ?? `${tv.op}${tv.id}`}_tape`), [count, ...this.sizes(tv.shape)], tv.dtype) : null,
    );
    this.loops.set(n, { carried, tape });

    b.results.forEach((r, k) => {
      if (r.op !== "carry") this.resultOf.set(r, carried[k]);
    });
    const t = this.local(b.index);
    this.values.set(b.index, { kind: "int", expr: t });
    this.counters.set(t, { start, count });
    const end =
      count.syms.length === 0 ? String(start + count.k) : start === 0 ? sizeStr(count) : `${start} + ${sizeAtom(count)}`;
    const last = count.syms.length === 0 ? String(start + count.k - 1) : `${end} - 1`;
    out.push(
      reverse
        ? `for (let ${t} = ${last}; ${t} >= ${start}; ${t}--) {`
        : `for (let ${t} = ${start}; ${t} < ${end}; ${t}++) {`,
    );
    const body: string[] = [];
    this.block(b.nodes, body);
    const step = start === 0 ? t : `(${t} - ${start})`;
    b.tape.forEach((tv, k) => {
      const dst = tape[k];
      if (!dst) return;
      const row: View = { ...dst, off: scaled(step, dst.strides[0]), shape: dst.shape.slice(1), strides: dst.strides.slice(1) };
      this.copy(row, this.value(tv), body);
    });
    // Results: skip a result that is its own carried buffer; stage any that read a carried buffer.
    const carriedBufs = new Set(carried.map((c) => c.buf));
    const pending: { dst: View; src: Value }[] = [];
    b.results.forEach((r, k) => {
      const rv = this.value(r);
      const dst = carried[k];
      if (rv.kind === "view" && rv.buf === dst.buf && rv.off === "0" && this.isContiguous(rv)) return;
      if (rv.kind === "view" && carriedBufs.has(rv.buf)) {
        const stage = this.alloc(this.names.claim(`${dst.buf}_next`), dst.shape, dst.dtype);
        this.copy(stage, rv, body);
        pending.push({ dst, src: stage });
      } else pending.push({ dst, src: rv });
    });
    if (pending.length) body.push(`// carry to the next step`);
    for (const p of pending) this.copy(p.dst, p.src, body);
    out.push(...body, `}`);
    this.counters.delete(t);
    for (const r of b.results) this.resultOf.delete(r);
    this.fn.lastLine = -1;
    this.fn.lastInner = 0;
  }

  // ---- functions and the module ----------------------------------------------

  /** The prologue declaring every dim, buffer and argument a function body refers to. */
  private prologue(dimsFrom: string, refs: Set<string>): string[] {
    const lines: string[] = [];
    const dims = this.dimOrder().map((d) => this.dimLocal.get(d.dim) as string);
    const byHome = (h: BufInfo["home"]): string[] => [...refs].filter((r) => this.bufs.get(r)?.home === h).sort();
    const fw = byHome("fw");
    const bw = byHome("bw");
    if (dimsFrom === "fw") {
      if (dims.length || fw.length) lines.push(`const { ${[...dims, ...fw].join(", ")} } = fw;`);
      if (bw.length) lines.push(`const { ${bw.join(", ")} } = bw;`);
    }
    for (const home of ["params", "inputs"] as const) {
      const names = byHome(home).filter((l) => !this.bufs.get(l)?.box);
      if (names.length) lines.push(`const { ${names.map((l) => field(this.bufs.get(l)?.key as string, l)).join(", ")} } = ${home};`);
    }
    for (const l of byHome("inputs")) {
      const info = this.bufs.get(l) as BufInfo;
      if (info.box) lines.push(`const ${l} = ${this.use("scalarIn")}(${prop("inputs", info.key as string)}, ${info.box});`);
    }
    return lines;
  }

  /** An owned, whole buffer holding `v`, for handing out: copies when v is a view, an argument or a number. */
  private handOut(v: Value, shape: Size[], dtype: DType, name: string, out: string[]): View {
    if (this.isWhole(v)) return v;
    const dst = this.alloc(this.names.claim(name), shape, dtype);
    this.copy(dst, v, out);
    return dst;
  }

  private scalarOf(v: Value): string {
    return v.kind === "view" ? this.read(v, v.off) : v.expr;
  }

  private computeForward(): string {
    this.fn = { phase: "fwd", refs: new Set(), lastLine: -1, lastInner: 0 };
    const body: string[] = [];
    const staged = [...this.bufs.entries()].filter(([, b]) => b.stages);
    if (staged.length) {
      body.push(
        `// the params and inputs the SIMD kernel reads, copied into the arena (backward reads them too)`,
        `if (${this.ref(this.arena)}.mm !== null) {`,
        ...staged.map(([name, b]) => `${this.ref(name)}.set(${this.ref(b.stages as string)});`),
        `}`,
      );
    }
    const at = body.length;
    this.block(
      this.g.nodes.filter((n) => n.phase === "fwd"),
      body,
    );
    body.splice(at, 0, ...this.transposedCopies("fwd"));
    const fields: string[] = [`loss: ${this.scalarOf(this.value(this.g.loss))}`];
    const outs: string[] = [];
    for (const o of this.g.outputs) {
      const v = this.value(o.node);
      if (o.node.shape.length === 0) {
        fields.push(`${key(o.name)}: ${this.scalarOf(v)}`);
        continue;
      }
      const h = this.handOut(v, this.sizes(o.node.shape), o.node.dtype, `${o.name}_out`, outs);
      fields.push(field(o.name, this.ref(h.buf)));
    }
    if (outs.length) body.push(`// outputs handed to the caller`, ...outs);
    return [
      `/** Runs the forward pass in \`fw\`; the arrays returned are \`fw\`'s buffers. */`,
      `function computeForward(fw: ForwardWorkspace, params: Params, inputs: Inputs): Outputs {`,
      ...this.prologue("fw", this.fn.refs),
      ...body,
      `return { ${fields.join(", ")} };`,
      `}`,
    ].join("\n");
  }

  /** The lines that make this pass's transposed copies of params and inputs for the SIMD kernel. */
  private transposedCopies(phase: Phase): string[] {
    const lines = [...this.transposed.entries()].filter(([k]) => k.endsWith(`|${phase}`)).map(([, t]) => t.line);
    if (!lines.length) return [];
    return [`// params and inputs the SIMD kernel reads transposed, transposed once per call`, `if (${this.ref(this.arena)}.mm !== null) {`, ...lines, `}`];
  }

  private computeBackward(): string {
    this.fn = { phase: "bwd", refs: new Set(), lastLine: -1, lastInner: 0 };
    const body: string[] = [];
    this.block(
      this.g.nodes.filter((n) => n.phase === "bwd"),
      body,
    );
    body.unshift(...this.transposedCopies("bwd"));
    const fields: string[] = [];
    const outs: string[] = [];
    for (const name of this.gradNames) {
      const gr = this.g.grads.find((x) => x.name === name);
      const of = [...this.g.params, ...this.g.inputs].find((p) => p.name === name) as Node;
      const shape = this.sizes(of.shape);
      if (!gr) {
        throw new Error(
          `emitModule: the graph has no gradient for '${name}'; differentiate it with the same --input-grads (${this.opts.inputGrads.join(", ") || "none"})`,
        );
      }
      const h = this.handOut(this.value(gr.node), shape, "float", `d${name}`, outs);
      fields.push(field(name, this.ref(h.buf)));
    }
    if (outs.length) body.push(`// gradients handed to the caller`, ...outs);
    const loss = this.scalarOf(this.value(this.g.loss));
    return [
      `/** Runs the backward pass in \`bw\`, reading the forward values in \`fw\`. */`,
      `function computeBackward(fw: ForwardWorkspace, bw: BackwardWorkspace, params: Params, inputs: Inputs): { loss: number; grads: Grads } {`,
      ...this.prologue("fw", this.fn.refs),
      ...body,
      `return { loss: ${loss}, grads: { ${fields.join(", ")} } };`,
      `}`,
    ].join("\n");
  }

  private workspace(phase: "fw" | "bw", fnName: string, typeName: string): string {
    const dims = this.dimOrder().map((d) => this.dimLocal.get(d.dim) as string);
    // In a SIMD module float buffers are taken from the arena, which forwardWorkspace sizes for both workspaces.
    const inArena = (b: BufInfo): boolean =>
      this.simd && (b.home === "fw" || b.home === "bw") && !b.scratch && !b.arena && b.dtype === "float";
    const fields = [...this.bufs.entries()]
      .filter(([, b]) => b.home === phase)
      .map(([name, b]) =>
        b.arena
          ? name
          : b.scratch
            ? `${name}: new Float64Array(${maxSize(b.scratch)})`
            : inArena(b)
              ? `${name}: ${this.use("take")}(${this.arena}, ${sizeStr(b.size)})`
              : `${name}: new ${b.dtype === "int" ? "Int32Array" : this.FA}(${sizeStr(b.size)})`,
      );
    const params = dims.map((d) => `${d}: number`);
    const pre: string[] = [];
    if (this.simd && phase === "fw") {
      const taken = [...this.bufs.values()].filter(inArena);
      const bytes = `4 * (${sumSizes(taken.map((b) => b.size))}) + ${16 * taken.length}`;
      pre.push(`// Every float buffer of both workspaces, 16-byte aligned, in one arena the SIMD kernel can read.`);
      pre.push(`const ${this.arena} = ${this.use("newArena")}(${bytes});`);
    }
    if (this.simd && phase === "bw") params.push(`${this.arena}: Arena`);
    return [
      `function ${fnName}(${params.join(", ")}) {`,
      ...pre,
      `return { ${[...dims, ...fields].join(", ")} };`,
      `}`,
      `type ${typeName} = ReturnType<typeof ${fnName}>;`,
      `let ${phase}: ${typeName} | undefined;`,
      ...(phase === "fw" ? this.boxes() : []),
    ].join("\n");
  }

  /** The one-element arrays that scalar inputs passed as numbers are read through. */
  private boxes(): string[] {
    const lines: string[] = [];
    for (const b of this.bufs.values()) {
      if (!b.box) continue;
      lines.push(`/** inputs.${commentText(b.key as string)} when it is passed as a number. */`);
      lines.push(`const ${b.box} = new ${b.dtype === "int" ? "Int32Array" : this.FA}(1);`);
    }
    return lines;
  }

  /** Argument checks and dim binding, shared by forward and backward. */
  private bindDims(): string {
    const g = this.g;
    const out: string[] = [];
    const dims = this.dimOrder();
    const dimLocals = dims.map((d) => this.dimLocal.get(d.dim) as string);
    const retType = dims.length ? `{ ${dimLocals.map((d) => `${d}: number`).join("; ")} }` : "void";
    out.push(`/** Checks the arguments against the model and reads the symbolic dims off the inputs' lengths. */`);
    out.push(`function bindDims(params: Params, inputs: Inputs): ${retType} {`);
    out.push(`${this.use("checkKeys")}("params", params, ${JSON.stringify(g.params.map((p) => p.name))});`);
    out.push(`checkKeys("inputs", inputs, ${JSON.stringify(g.inputs.map((p) => p.name))});`);
    const known = new Map<string, string>(); // dim -> where it came from
    const shapeText = (s: Shape, dtype: DType): string => {
      const base = str(`${dtype === "int" ? "int" : ""}${showShape(s)}`);
      const syms = [...new Set(s.filter((d): d is string => typeof d === "string" && known.has(d)))];
      if (!syms.length) return base;
      const parts = syms.map((d, i) => `${str(`${i ? ", " : " with "}${d} = `)} + ${this.dimLocal.get(d)}${known.get(d) === "" ? "" : ` + ${str(` (from ${known.get(d)})`)}`}`);
      return `${base} + ${parts.join(" + ")}`;
    };
    const typeOf = (n: Node): string => (n.dtype === "int" ? "Int32Array" : this.FA);
    for (const p of g.params) {
      const what = `params.${p.name}`;
      const acc = prop("params", p.name as string);
      out.push(`${this.use("checkArray")}(${str(what)}, ${acc}, ${typeOf(p)}, ${shapeText(p.shape, "float")}, ${sizeStr(product(this.sizes(p.shape)))});`);
      if (![...this.witnesses.values()].some((ps) => ps.includes(p))) out.push(`${this.use("checkFinite")}(${str(what)}, ${acc});`);
    }
    const inferredBy = new Map(dims.map((d) => [d.input, d]));
    // Inputs that bind a dim come first, in the order the dims are inferred.
    const ordered = [...dims.map((d) => d.input), ...g.inputs.filter((n) => !inferredBy.has(n))];
    for (const n of ordered) {
      const what = `inputs.${n.name}`;
      const acc = prop("inputs", n.name as string);
      const d = inferredBy.get(n);
      if (d) {
        const rest = product(n.shape.filter((x) => x !== d.dim).map((x) => this.dimSize(x)));
        out.push(
          `const ${this.dimLocal.get(d.dim)} = ${this.use("inferDim")}(${str(what)}, ${acc}, ${typeOf(n)}, ${shapeText(n.shape, n.dtype)}, ${str(d.dim)}, ${sizeStr(rest)});`,
        );
        known.set(d.dim, what);
      } else if (n.shape.length === 0) {
        // A number, or a one-element array; checkScalar checks finiteness (float) or integrality (int).
        out.push(`${this.use("checkScalar")}(${str(what)}, ${acc}, ${typeOf(n)});`);
        continue;
      } else {
        out.push(`checkArray(${str(what)}, ${acc}, ${typeOf(n)}, ${shapeText(n.shape, n.dtype)}, ${sizeStr(product(this.sizes(n.shape)))});`);
        this.use("checkArray");
      }
      if (n.dtype === "float") out.push(`${this.use("checkFinite")}(${str(what)}, ${acc});`);
    }
    if (dims.length) out.push(`return { ${dimLocals.join(", ")} };`);
    out.push(`}`);
    return out.join("\n");
  }

  private initFn(): string {
    const FA = this.FA;
    const fields = this.g.params.map((p, k) => {
      const shape = p.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      const args = (p.attrs.initArgs as number[] | undefined) ?? [];
      const init = p.attrs.init as string;
      const next = `${this.use("rng")}(seed, ${k})`;
      let expr: string;
      let note = "";
      switch (init) {
        case "zeros":
          expr = `new ${FA}(${n})`;
          break;
        case "ones":
          expr = `new ${FA}(${n}).fill(1)`;
          break;
        case "const":
          expr = `new ${FA}(${n}).fill(${lit(args[0])})`;
          break;
        case "normal":
          expr = `${this.use("fillNormal")}(new ${FA}(${n}), ${next}, ${lit(args[0])}, ${lit(args[1])})`;
          break;
        case "uniform":
          expr = `${this.use("fillUniform")}(new ${FA}(${n}), ${next}, ${lit(args[0])}, ${lit(args[1])})`;
          break;
        case "xavier": {
          const rf = shape.slice(2).reduce((a, b) => a * b, 1);
          const fanIn = shape[0] * rf;
          const fanOut = shape[1] * rf;
          note = `(Glorot uniform: fan_in ${fanIn}, fan_out ${fanOut})`;
          expr = `${this.use("fillUniform")}(new ${FA}(${n}), ${next}, -Math.sqrt(6 / ${fanIn + fanOut}), Math.sqrt(6 / ${fanIn + fanOut}))`;
          break;
        }
        case "he":
          note = `(Kaiming normal: fan_in ${shape[0]})`;
          expr = `${this.use("fillNormal")}(new ${FA}(${n}), ${next}, 0, Math.sqrt(2 / ${shape[0]}))`;
          break;
        case "orthogonal":
          expr = `${this.use("orthogonal")}(new ${FA}(${n}), ${next}, ${shape[0]}, ${shape[1]})`;
          break;
        default:
          throw new Error(`internal error: unknown initializer ${init}`);
      }
      const text = `${p.span.line > 0 ? this.sourceLine(p.span.line) : ""}${note && ` ${commentText(note)}`}`.trim();
      return `${text ? `// ${text}\n` : ""}${key(p.name as string)}: ${expr},`;
    });
    return [
      `/**`,
      ` * Fresh parameters, initialised as declared. Deterministic: the same seed`,
      ` * gives the same values; each parameter draws from its own stream.`,
      ` */`,
      `export function init(seed = 0): Params {`,
      `if (!Number.isFinite(seed)) throw new Error(\`init: seed must be a finite number, got \${seed}\`);`,
      `return {`,
      ...fields,
      `};`,
      `}`,
    ].join("\n");
  }

  private typeDecl(name: string, fields: [string, string][]): string {
    if (!fields.length) return `export type ${name} = Record<string, never>;`;
    return `export type ${name} = { ${fields.map(([k, t]) => `${/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : str(k)}: ${t}`).join("; ")} };`;
  }

  get floatArray(): string {
    return this.FA;
  }

  /** The helpers the module uses (known after `module()`), in a fixed order. */
  helperList(): Helper[] {
    const order: Helper[] = [
      "describe", "checkKeys", "checkArray", "inferDim", "checkFinite", "checkFiniteVia", "checkIndex",
      "rng", "gauss", "fillNormal", "fillUniform", "orthogonal",
      "checkScalar", "scalarIn",
      "softmax", "logSoftmax", "crossEntropy", "pick", "oneHot", "relu32",
      "simdKernel", "newArena", "take", "matmulSimd", "transposeInto",
    ];
    return order.filter((h) => this.helpers.has(h));
  }

  /** The module's top-level declarations, unformatted, in order. */
  module(): string[] {
    const g = this.g;
    const FA = this.FA;
    const floatType = this.opts.precision === "f64" ? "float64" : "float32";
    const hasBackward = g.grads.length > 0 || g.nodes.some((n) => n.phase === "bwd") || this.gradNames.length === 0;

    const forwardBody = this.computeForward();
    const backwardBody = hasBackward ? this.computeBackward() : null;

    const arr = (dtype: DType): string => (dtype === "int" ? "Int32Array" : FA);
    const shapeLit = (s: Shape): string => `[${s.map((d) => (typeof d === "number" ? String(d) : str(d))).join(", ")}]`;
    const meta = [
      `export const model: ModelInfo = {`,
      `name: ${str(g.name)},`,
      `precision: ${str(this.opts.precision)},`,
      `dims: { ${g.dims.map((d) => `${key(d.name)}: ${d.value === null ? "null" : d.value}`).join(", ")} },`,
      `params: { ${g.params.map((p) => `${key(p.name as string)}: { shape: ${shapeLit(p.shape)} }`).join(", ")} },`,
      `inputs: { ${g.inputs.map((n) => `${key(n.name as string)}: { shape: ${shapeLit(n.shape)}, dtype: ${str(n.dtype === "int" ? "int32" : floatType)} as const }`).join(", ")} },`,
      `outputs: ${JSON.stringify(g.outputs.map((o) => o.name))},`,
      `grads: ${JSON.stringify(this.gradNames)},`,
      `};`,
    ].join("\n");

    const dims = this.dimOrder().map((d) => this.dimLocal.get(d.dim) as string);
    const bind = dims.length ? `const { ${dims.join(", ")} } = bindDims(params, inputs);` : `bindDims(params, inputs);`;
    const wsArgs = dims.join(", ");
    // The current dims' workspaces and the previous dims' (kept for a switch back). A SIMD
    // module's backward workspace lives in the forward one's arena, so the two move together.
    const dimParams = dims.map((d) => `${d}: number`).join(", ");
    const same = (ws: string): string => dims.map((d) => ` && ${ws}.${d} === ${d}`).join("");
    const next = this.names.claim("nextFw");
    const nextBw = this.names.claim("nextBw");
    const useWorkspaces = [
      `/**`,
      ` * Makes the workspaces for these dims current and returns the forward one. The`,
      ` * previous dims' workspaces are kept, so alternating two batch sizes (training and`,
      ` * evaluation) allocates nothing after the first call with each; a third size makes`,
      ` * new ones in place of the older pair.`,
      ` */`,
      `function useWorkspaces(${dimParams}): ForwardWorkspace {`,
      `if (fw !== undefined${same("fw")}) return fw;`,
      `const ${next} = fwSpare !== undefined${same("fwSpare")} ? fwSpare : forwardWorkspace(${wsArgs});`,
      ...(backwardBody
        ? [
            `const ${nextBw} = ${next} === fwSpare ? bwSpare : undefined;`,
            `fwSpare = fw;`,
            `bwSpare = bw;`,
            `fw = ${next};`,
            `bw = ${nextBw};`,
          ]
        : [`fwSpare = fw;`, `fw = ${next};`]),
      `return ${next};`,
      `}`,
      `let fwSpare: ForwardWorkspace | undefined;`,
      ...(backwardBody ? [`let bwSpare: BackwardWorkspace | undefined;`] : []),
    ].join("\n");
    const ownership = [
      ` * The arrays returned belong to the module: they are overwritten by the next`,
      ` * call of forward or backward (no array is allocated per call). Copy one with`,
      ` * \`.slice()\` to keep it. Neither \`params\` nor \`inputs\` is modified.`,
    ];
    const forward = [
      `/**`,
      ` * The forward pass: the loss and every output.`,
      ...ownership,
      ` * Throws an Error naming the tensor on a missing or extra key, a wrong array`,
      ` * type or length, inconsistent dims, a non-finite value or an index out of range.`,
      ` */`,
      `export function forward(params: Params, inputs: Inputs): Outputs {`,
      bind,
      `return computeForward(useWorkspaces(${wsArgs}), params, inputs);`,
      `}`,
    ].join("\n");
    const backward = backwardBody
      ? [
          `/**`,
          ` * The loss and its gradient with respect to ${this.gradNames.length ? this.gradNames.map(commentText).join(", ") : "nothing (the model has no parameters)"}.`,
          ...ownership,
          ` */`,
          `export function backward(params: Params, inputs: Inputs): { loss: number; grads: Grads } {`,
          bind,
          `const ws = useWorkspaces(${wsArgs});`,
          `if (bw === undefined) bw = backwardWorkspace(${[...dims, ...(this.simd ? [`ws.${this.arena}`] : [])].join(", ")});`,
          `computeForward(ws, params, inputs);`,
          `return computeBackward(ws, bw, params, inputs);`,
          `}`,
        ].join("\n")
      : [
          `/** Not available: this module was compiled without the backward pass. */`,
          `export function backward(params: Params, inputs: Inputs): { loss: number; grads: Grads } {`,
          `bindDims(params, inputs);`,
          `throw new Error("backward: this module was compiled without gradients");`,
          `}`,
        ].join("\n");


    const initText = this.initFn();
    const bindText = this.bindDims();

    const parts = [
      `// Generated by bpc from ${commentText(g.file)}. Do not edit.`,
      `// Model ${commentText(g.name)}, ${this.opts.precision === "f64" ? "float64 (--precision f64)" : "float32"}.`,
      ``,
      `export interface ModelInfo {`,
      `name: string;`,
      `precision: "f32" | "f64";`,
      `dims: Record<string, number | null>;`,
      `params: Record<string, { shape: (number | string)[] }>;`,
      `inputs: Record<string, { shape: (number | string)[]; dtype: "${floatType}" | "int32" }>;`,
      `outputs: string[];`,
      `grads: string[];`,
      `}`,
      ``,
      `/** What the model declares: dims (null when symbolic), parameters, inputs, outputs and gradients. */`,
      meta,
      ``,
      this.typeDecl("Params", g.params.map((p) => [p.name as string, FA])),
      this.typeDecl("Inputs", g.inputs.map((n) => [n.name as string, n.shape.length === 0 ? `number | ${arr(n.dtype)}` : arr(n.dtype)])),
      this.typeDecl("Outputs", [["loss", "number"], ...g.outputs.map((o): [string, string] => [o.name, o.node.shape.length === 0 ? "number" : arr(o.node.dtype)])]),
      this.typeDecl("Grads", this.gradNames.map((n) => [n, FA])),
      ``,
      initText,
      ``,
      forward,
      ``,
      backward,
      ``,
      `// ---- internals ----`,
      ``,
      bindText,
      ``,
      this.workspace("fw", "forwardWorkspace", "ForwardWorkspace"),
      ``,
      ...(backwardBody ? [this.workspace("bw", "backwardWorkspace", "BackwardWorkspace"), ``] : []),
      useWorkspaces,
      ``,
      forwardBody,
      ``,
      ...(backwardBody ? [backwardBody, ``] : []),
    ];
    // Top-level declarations, split at the blank lines between them.
    const chunks: string[][] = [[]];
    for (const line of parts) {
      if (line === "") chunks.push([]);
      else chunks[chunks.length - 1].push(line);
    }
    return chunks.filter((c) => c.length).map((c) => c.join("\n"));
  }
}

/**
 * For each param, a top-level forward matmul it feeds whose output is smaller
 * than the param (x @ W1 at a small batch): checking that output for NaN or
 * infinity checks the param, for a fraction of the reads.
 */
function finitenessWitnesses(g: Graph, live: ReadonlySet<Node>): Map<Node, Node[]> {
  const out = new Map<Node, Node[]>();
  const constPart = (s: Shape): number => s.reduce<number>((p, d) => p * (typeof d === "number" ? d : 1), 1);
  // The first such matmul of each param, in one pass over the nodes.
  const params = new Set(g.params);
  const seen = new Set<Node>();
  for (const n of g.nodes) {
    if (n.phase !== "fwd" || n.op !== "matmul" || !live.has(n)) continue;
    for (const p of new Set(n.inputs)) {
      if (!params.has(p) || seen.has(p) || !(constPart(n.shape) < constPart(p.shape))) continue;
      seen.add(p);
      out.set(n, [...(out.get(n) ?? []), p]);
    }
  }
  // Witnesses in the params' declaration order, as before.
  for (const [n, ps] of out) out.set(n, g.params.filter((p) => ps.includes(p)));
  return out;
}
