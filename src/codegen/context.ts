// The state of one module being emitted, and what every kernel uses: local
// names for nodes and dims, the value (a strided view of a buffer, a number
// or an int expression) of each node emitted so far, the buffers of the two
// workspaces, the runtime helpers used, and the source-line comments. The
// kernels (kernels/*.ts), loops, the SIMD backend and the module skeleton are
// functions over an Emitter.
import type { DType, Dim, Graph, Node, Phase, Shape } from "../ir/types.js";
import type { EmitOptions } from "./emit.js";
import { commentText, Namer, Temps } from "./names.js";
import { addTerms, constSize, isOne, nest, product, rowMajor, sizeEq, sizeStr, symSize, ZERO, type Access, type Size } from "./nest.js";
import { dimAtLeast, dimAtoms, dimJs, isAtomDim, monomialOf } from "../ir/dimexpr.js";
import { dimOrder } from "../ir/dims.js";
import { resolveInputGrads } from "../passes/input-grads.js";
import { roleNamer } from "../passes/roles.js";
import { plan, type Plan } from "./plan.js";
import { HELPER_DEPS, type Helper } from "./runtime.js";
import { planSimd } from "./simd.js";
import { finitenessWitnesses } from "./validate.js";

/** Where a value lives: a strided view into a buffer, a number broadcast everywhere, or an int scalar expression. */
export interface View {
  kind: "view";
  buf: string;
  off: string;
  shape: Size[];
  strides: Size[];
  dtype: DType;
}
export type Value = View | { kind: "lit"; expr: string } | { kind: "int"; expr: string };

export interface BufInfo {
  home: "fw" | "bw" | "params" | "inputs";
  /** The params/inputs key. */
  key?: string;
  size: Size;
  /** More elements after `size` (the last row of a carried value's tape, whose rows number the steps plus one). */
  plus?: Size;
  dtype: DType;
  /** The node this buffer was allocated for (in-place updates need sole ownership). */
  owner?: Node;
  /** A float64 scratch buffer, as long as the largest of `scratch` (f32 mode: accumulators). */
  scratch?: Size[];
  /** A Float64Array in either precision, outside the arena (the log-sum-exps cross_entropy keeps, layer_norm's statistics). */
  wide?: true;
  /** The workspace's arena (SIMD modules): not a buffer. */
  arena?: true;
  /** A copy of this param or input (its local name) in the arena, for the SIMD kernel. */
  stages?: string;
  /** A scalar input, which a caller may pass as a number: the module-level one-element array it is read through. */
  box?: string;
}

export interface FnCtx {
  phase: Phase;
  refs: Set<string>;
  lastLine: number;
  /** The def line last commented under lastLine (0: none). */
  lastInner: number;
}

export interface LoopInfo {
  /** Each carried value after the loop. */
  final: View[];
  /** Each tape entry's values, stacked over the steps (null: unused). */
  tape: (View | null)[];
}

export class Emitter {
  readonly names = new Namer();
  readonly FA: string;
  readonly plan: Plan;
  /** The name of each node: its source name, or one derived from its role (never an IR id). */
  readonly role: (n: Node) => string;
  readonly dimLocal = new Map<string, string>();
  /** The dim expressions other than bare dims that live nodes use (`T-1`, `B*T`): checked positive at each call. */
  readonly composites = new Set<string>();
  readonly nodeLocal = new Map<Node, string>();
  readonly values = new Map<Node, Value>();
  readonly bufs = new Map<string, BufInfo>();
  readonly helpers = new Set<Helper>();
  /** Params whose finiteness is checked through a smaller matmul they feed, by that matmul. */
  readonly witnesses: Map<Node, Node[]>;
  /** Kernels emitted for this module (per-shape matmuls), by name. */
  readonly kernels = new Map<string, string>();
  readonly loops = new Map<Node, LoopInfo>();
  /** Loop counters in scope and their ranges, for index bounds that need no runtime check. */
  readonly counters = new Map<string, { start: number; count: Size }>();
  /** Adds computed by the sum they add (kernels/reduce.ts): no loop of their own. */
  readonly absorbed = new Set<Node>();
  /** The log-sum-exps each forward cross_entropy keeps for its gradient. */
  readonly keptLse = new Map<Node, View>();
  /** The per-group mean and 1/std (interleaved) each forward layer_norm keeps for its gradient. */
  readonly keptStats = new Map<Node, View>();
  /** For each result of a loop being emitted, the carried buffer it becomes. */
  readonly resultOf = new Map<Node, View>();
  /**
   * Where an elementwise node of a loop being emitted writes its value: its
   * row of a tape (a result: the next row of its carried value's tape).
   */
  readonly homes = new Map<Node, View>();
  /** For a loop nested in a loop being emitted: its tape slabs that the enclosing tape stacks, at the current step. */
  readonly tapeHomes = new Map<Node, Map<number, View>>();
  readonly lines: string[];
  readonly gradNames: string[];
  fn: FnCtx = { phase: "fwd", refs: new Set(), lastLine: -1, lastInner: 0 };
  /** Whether matmuls run in the SIMD kernel (float buffers then live in an arena); the arena's local name. */
  readonly simd: boolean;
  readonly arena: string = "";
  /** Whole params and inputs the SIMD kernel reads transposed, per pass: their transposed copy and the line that makes it. */
  readonly transposed = new Map<string, { buf: string; line: string }>();
  /** The arena copy of each param or input a matmul reads (by local name). */
  readonly stagedCopy = new Map<string, string>();

  constructor(
    readonly g: Graph,
    readonly opts: EmitOptions,
  ) {
    this.FA = opts.precision === "f64" ? "Float64Array" : "Float32Array";
    this.lines = g.source.split(/\r?\n/);
    this.plan = plan(g, opts.probeBackward?.map((p) => p.node));
    this.role = roleNamer(g);
    this.witnesses = finitenessWitnesses(g, this.plan.live);
    const floatInputs = g.inputs.filter((n) => n.dtype === "float").map((n) => n.name as string);
    const wanted = resolveInputGrads(g, opts.inputGrads.includes("all") ? "all" : opts.inputGrads);
    this.gradNames = [...g.params.map((n) => n.name as string), ...floatInputs.filter((n) => wanted.includes(n))];

    // Every name a value may be given later is off limits to kernel temporaries.
    const blockNames = (nodes: readonly Node[]): void => {
      for (const n of nodes) {
        this.names.block(this.role(n));
        if (n.body) {
          blockNames([n.body.index, ...n.body.carried, ...n.body.nodes]);
          for (const t of n.body.tape) this.names.block(`${this.role(t)}_tape`);
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

    const simd = planSimd(this);
    this.simd = simd !== null;
    if (simd) this.arena = simd.arena;
  }

  local(n: Node): string {
    let l = this.nodeLocal.get(n);
    if (!l) {
      l = this.names.claim(this.role(n));
      this.nodeLocal.set(n, l);
    }
    return l;
  }

  /** A dim's size: a product of dim locals (`B*T`), or one factor computing a sum (`(T - 1)`). */
  dimSize(d: Dim): Size {
    if (typeof d === "number") return constSize(d);
    const m = monomialOf(d);
    if (m) return { k: m.k, syms: m.atoms.map((a) => (isAtomDim(a) ? this.dimLocalOf(a) : this.dimJs(a))).sort() };
    return symSize(this.dimJs(d));
  }

  /** A dim expression as JS over the dims' locals. */
  dimJs(d: Dim): string {
    return dimJs(d, (a) => this.dimLocalOf(a));
  }

  private dimLocalOf(atom: string): string {
    const l = this.dimLocal.get(atom);
    if (!l) throw new Error(`internal error: unknown dim ${atom}`);
    return l;
  }

  sizes(s: Shape): Size[] {
    return s.map((d) => this.dimSize(d));
  }

  /** Symbolic dims that the module cannot bind from input lengths are a compile error. */
  checkDims(): void {
    const bound = new Set(this.dimOrder().map((d) => d.dim));
    const check = (s: Shape, what: string): void => {
      for (const d of s) {
        if (typeof d === "string" && !dimAtLeast(d, 1)) this.composites.add(d);
        for (const a of dimAtoms(d)) {
          if (!bound.has(a)) throw new Error(`dim ${a} (used by ${what}) cannot be inferred from the inputs' lengths`);
        }
      }
    };
    check(this.g.inputs.flatMap((n) => n.shape), "the inputs");
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
  dimOrder(): { dim: string; input: Node; rest: Dim }[] {
    return dimOrder(this.g.inputs);
  }


  sourceLine(line: number): string {
    return commentText((this.lines[line - 1] ?? "").replace(/#.*$/, "").replace(/\s+/g, " "));
  }

  /** `// line 16: h = relu(x @ W1 + b1)` before a kernel, once per run of nodes from the same line. */
  comment(nodes: readonly Node[], out: string[]): void {
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
  display(n: Node): string {
    if (n.op === "input") return `inputs.${n.name}`;
    if (n.op === "param") return `params.${n.name}`;
    if (n.name) return n.name;
    if (n.op === "index") return `${this.display(n.inputs[0])}[${n.inputs[1].name ?? "i"}]`;
    if (n.op === "reshape" || n.op === "slice" || n.op === "transpose") return this.display(n.inputs[0]);
    return `the ${n.op} at line ${n.span.line}`;
  }

  use(h: Helper): string {
    this.helpers.add(h);
    for (const d of HELPER_DEPS[h] ?? []) this.use(d);
    return h;
  }

  /** A buffer name as used in the current function (pulled from its workspace or argument in the prologue). */
  ref(buf: string): string {
    this.fn.refs.add(buf);
    return buf;
  }

  value(n: Node): Value {
    const v = this.values.get(n);
    if (!v) throw new Error(`internal error: %${n.id} (${n.op}) has no value yet`);
    return v;
  }

  view(n: Node): View {
    const v = this.value(n);
    if (v.kind !== "view") throw new Error(`internal error: %${n.id} (${n.op}) is not a buffer`);
    return v;
  }

  /**
   * The current workspace's float64 scratch, at least `size` long: f32
   * kernels accumulate sums in it and round once, as TF.js and NumPy do.
   */
  scratch(size: Size): string {
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
  alloc(name: string, shape: Size[], dtype: DType, owner?: Node): View {
    const home = this.fn.phase === "fwd" ? "fw" : "bw";
    this.bufs.set(name, { home, size: product(shape), dtype, owner });
    return { kind: "view", buf: name, off: "0", shape, strides: rowMajor(shape), dtype };
  }

  /** The node's own output buffer. */
  out(n: Node): View {
    const home = this.homes.get(n);
    if (home) {
      this.values.set(n, home);
      return home;
    }
    const v = this.alloc(this.local(n), this.sizes(n.shape), n.dtype, n);
    this.values.set(n, v);
    return v;
  }

  isContiguous(v: View): boolean {
    const rm = rowMajor(v.shape);
    return v.shape.every((d, a) => isOne(d) || sizeEq(v.strides[a], rm[a]));
  }

  /** Whether v is a whole buffer of the current workspace that a result may hand out. */
  isWhole(v: Value): v is View {
    if (v.kind !== "view" || v.off !== "0" || !this.isContiguous(v)) return false;
    const info = this.bufs.get(v.buf);
    return info !== undefined && !info.plus && info.home === (this.fn.phase === "fwd" ? "fw" : "bw") && sizeEq(info.size, product(v.shape));
  }

  /** v as a contiguous view (any offset), copying into a new buffer when it is strided or a literal. */
  contiguous(v: Value, shape: Size[], dtype: DType, hint: string, out: string[]): View {
    if (v.kind === "view" && this.isContiguous(v)) return v;
    const dst = this.alloc(this.names.claim(hint), shape, dtype);
    this.copy(dst, v, out);
    return dst;
  }

  read(v: View, index: string): string {
    return `${this.ref(v.buf)}[${index}]`;
  }

  /** The strides with which a view is read while walking `iter` (NumPy broadcasting: 0 on stretched axes). */
  broadcastStrides(v: View, iter: Size[]): Size[] {
    const lead = iter.length - v.shape.length;
    return iter.map((d, a) => {
      const b = a - lead;
      if (b < 0) return ZERO;
      if (isOne(v.shape[b]) && !isOne(d)) return ZERO;
      return v.strides[b];
    });
  }

  /** dst[...] = src[...] (or `op=` with `assign`), walking dst's shape. */
  copy(dst: View, src: Value, out: string[], assign = "="): void {
    const t = new Temps(this.names);
    const acc: Access[] = [{ base: dst.off, strides: dst.strides }];
    if (src.kind === "view") acc.push({ base: src.off, strides: this.broadcastStrides(src, dst.shape) });
    if (assign === "=" && src.kind !== "view" && this.isWhole(dst)) {
      out.push(`${this.ref(dst.buf)}.fill(${src.expr});`);
      return;
    }
    // A number into a contiguous region (the first row of a tape): one fill.
    if (assign === "=" && src.kind !== "view" && this.isContiguous(dst)) {
      const end = addTerms(dst.off, sizeStr(product(dst.shape)));
      out.push(`${this.ref(dst.buf)}.fill(${src.expr}, ${dst.off}, ${end});`);
      return;
    }
    // A whole buffer into a contiguous region (a carried value, a tape row): one typed-array copy.
    if (assign === "=" && src.kind === "view" && this.isContiguous(dst) && src.off === "0" && this.isContiguous(src)) {
      const info = this.bufs.get(src.buf);
      const n = product(dst.shape);
      if (info && !info.scratch && !info.wide && !info.plus && sizeEq(info.size, n) && sizeEq(product(src.shape), n)) {
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
}
