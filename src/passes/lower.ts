// Lowering: checks a parsed program and turns it into the tensor IR.
// Names are resolved in order, `def`s are inlined at each call (so shapes are
// checked per call site), shapes are inferred through the op table, and a
// `for` loop becomes one `loop` node whose body runs once per step, with the
// values it reassigns carried from step to step.
import { BpcError, type Span } from "../diag.js";
import { Builder, opLabel } from "../ir/builder.js";
import type { OpKind } from "../ir/ops.js";
import { normAxis, showShape } from "../ir/shape.js";
import type { AttrValue, Attrs, Dim, DimDecl, Graph, Node } from "../ir/types.js";
import type { Expr, Ident, IndexItem, InitExpr, KwArg, Program, Stmt, TypeExpr } from "../parser/ast.js";
import { unparseExpr } from "../parser/print.js";

type Def = Extract<Stmt, { kind: "def" }>;

/** What a name can stand for while lowering. */
type Binding = { kind: "tensor"; node: Node } | { kind: "dim"; dim: Dim; span: Span };

class Env {
  private readonly vars = new Map<string, Binding>();
  /**
   * `scope` envs (the top level, a def's body) own their assignments; a loop
   * body's env is not a scope, so assigning a name defined outside the loop
   * updates it there (a carried value).
   */
  constructor(
    readonly parent: Env | null,
    readonly scope = true,
  ) {}
  get(name: string): Binding | undefined {
    return this.vars.get(name) ?? this.parent?.get(name);
  }
  has(name: string): boolean {
    return this.vars.has(name) || (this.parent?.has(name) ?? false);
  }
  set(name: string, b: Binding): void {
    this.vars.set(name, b);
  }
  /** Rebinds the name where it is bound, looking no further than the enclosing scope; else binds it here. */
  assign(name: string, b: Binding): void {
    for (let e: Env | null = this; e; e = e.parent) {
      if (e.vars.has(name)) {
        e.vars.set(name, b);
        return;
      }
      if (e.scope) break;
    }
    this.vars.set(name, b);
  }
  names(): string[] {
    return [...this.vars.keys(), ...(this.parent?.names() ?? [])];
  }
}

const UNARY: Record<string, OpKind> = {
  exp: "exp",
  log: "log",
  sqrt: "sqrt",
  abs: "abs",
  square: "square",
  sigmoid: "sigmoid",
  tanh: "tanh",
  relu: "relu",
  softplus: "softplus",
  sin: "sin",
  cos: "cos",
  sign: "sign",
  round: "round",
  floor: "floor",
  ceil: "ceil",
  stop_gradient: "stop_gradient",
  transpose: "transpose",
};

const BINARY: Record<string, OpKind> = {
  "+": "add",
  "-": "sub",
  "*": "mul",
  "/": "div",
  "^": "pow",
  "<": "lt",
  "<=": "le",
  ">": "gt",
  ">=": "ge",
  "==": "eq",
  "!=": "ne",
};

const COMPARISONS = new Set(["<", "<=", ">", ">=", "==", "!="]);

const REDUCE: Record<string, OpKind> = { sum: "sum", mean: "mean", max: "max", min: "min", logsumexp: "logsumexp" };

/** Positional parameters and keyword defaults of each built-in function. */
const SIGNATURES: Record<string, { params: string[]; defaults?: Record<string, AttrValue> }> = {
  ...Object.fromEntries(Object.keys(UNARY).map((k) => [k, { params: ["x"] }])),
  leaky_relu: { params: ["x", "a"], defaults: { a: 0.01 } },
  elu: { params: ["x", "a"], defaults: { a: 1 } },
  huber: { params: ["x", "delta"], defaults: { delta: 1 } },
  maximum: { params: ["a", "b"] },
  minimum: { params: ["a", "b"] },
  clip: { params: ["x", "lo", "hi"] },
  clip_grad: { params: ["x", "lo", "hi"] },
  where: { params: ["cond", "a", "b"] },
  ...Object.fromEntries(Object.keys(REDUCE).map((k) => [k, { params: ["x", "axis", "keepdims"], defaults: { axis: null, keepdims: false } }])),
  argmax: { params: ["x", "axis"] },
  reshape: { params: ["x", "shape"] },
  concat: { params: ["a", "b", "axis"], defaults: { axis: 0 } },
  softmax: { params: ["x", "axis"], defaults: { axis: -1 } },
  log_softmax: { params: ["x", "axis"], defaults: { axis: -1 } },
  cross_entropy: { params: ["logits", "labels"] },
  pick: { params: ["x", "idx"] },
  one_hot: { params: ["idx", "n"] },
  zeros: { params: ["shape"] },
  ones: { params: ["shape"] },
};

const INITIALIZERS: Record<string, number> = {
  zeros: 0,
  ones: 0,
  const: 1,
  normal: 2,
  uniform: 2,
  xavier: 0,
  he: 0,
  orthogonal: 0,
};
const INPUT_DISTRIBUTIONS: Record<string, number> = { normal: 2, uniform: 2, const: 1 };

/** The most elements a tensor may have (a typed array's limit, comfortably). */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** Checks a parsed program and lowers it to the tensor IR. Throws BpcError. */
export function lower(program: Program): Graph {
  return new Lowering(program).run();
}

class Lowering {
  private readonly b = new Builder();
  /** Dims, inputs and params: what every def sees. */
  private readonly globals = new Env(null);
  /** Top-level assignments. */
  private readonly top = new Env(this.globals);
  private readonly defs = new Map<string, Def>();
  private readonly dims: DimDecl[] = [];
  private readonly inputs: Node[] = [];
  private readonly params: Node[] = [];
  private readonly outputs: { name: string; node: Node }[] = [];
  private readonly declared = new Map<string, Span>();
  private readonly callStack: { def: string; span: Span }[] = [];
  /** Names first assigned inside a loop body, for a better "unknown name" message. */
  private readonly loopLocals = new Map<string, Span>();
  private loss: { node: Node; span: Span } | null = null;
  private modelName: string;
  private modelSpan: Span | null = null;
  /** The number of steps of each loop, by its index node (to check xs[t] against xs's length). */
  private readonly loopCounts = new Map<Node, Dim>();

  constructor(private readonly program: Program) {
    this.modelName = baseName(program.file);
  }

  run(): Graph {
    const { stmts } = this.program;
    if (stmts.length === 0) {
      throw new BpcError("empty file: expected declarations and a 'minimize' statement", this.fileStart());
    }
    // Declarations first, so statements may use a param declared further down.
    for (const s of stmts) this.declare(s);
    const known = this.checkDimsInferable();
    for (const s of stmts) this.statement(s, this.top);
    this.checkSymbolicUses(this.b.nodes, known);
    // A symbolic dim that nothing uses: no call could give its size (uses were reported above).
    for (const d of this.dims) {
      if (d.value === null && !known.has(d.name)) {
        throw new BpcError(`dim ${d.name} is symbolic but no input uses it, so no call can give its size`, d.span, [
          `give it a value (dim ${d.name} = 16), use it in an input's shape, or remove it`,
        ]);
      }
    }
    if (!this.loss) {
      const last = stmts[stmts.length - 1].span;
      throw new BpcError("no 'minimize' statement: a model needs exactly one scalar to minimize", last, [
        "add a line such as: minimize loss",
      ]);
    }
    return {
      name: this.modelName,
      file: this.program.file,
      source: this.program.source,
      dims: this.dims,
      inputs: this.inputs,
      params: this.params,
      nodes: this.b.nodes,
      outputs: this.outputs,
      loss: this.loss.node,
      grads: [],
    };
  }

  private fileStart(): Span {
    return { file: this.program.file, line: 1, col: 1, endLine: 1, endCol: 1 };
  }

  // ---- declarations ---------------------------------------------------------

  private claim(id: Ident, what: string): void {
    const prev = this.declared.get(id.name);
    if (prev) throw new BpcError(`duplicate declaration of '${id.name}' (first declared at line ${prev.line})`, id.span);
    if (SIGNATURES[id.name] && what === "def") {
      throw new BpcError(`'${id.name}' is a built-in function; choose another name for this def`, id.span);
    }
    this.declared.set(id.name, id.span);
  }

  private declare(s: Stmt): void {
    switch (s.kind) {
      case "model":
        if (this.modelSpan) throw new BpcError(`a file names its model once (first at line ${this.modelSpan.line})`, s.span);
        this.modelSpan = s.span;
        this.modelName = s.name.name;
        return;
      case "dim": {
        this.claim(s.name, "dim");
        const value = s.value ? s.value.value : null;
        if (value !== null && (!Number.isInteger(value) || value < 1 || value > MAX_ELEMENTS)) {
          throw new BpcError(`dim ${s.name.name} must be a positive integer up to ${MAX_ELEMENTS}, got ${value}`, s.value!.span);
        }
        this.dims.push({ name: s.name.name, value, span: s.span });
        this.globals.set(s.name.name, { kind: "dim", dim: value ?? s.name.name, span: s.name.span });
        return;
      }
      case "input": {
        this.claim(s.name, "input");
        const shape = this.typeShape(s.type);
        const attrs: Record<string, AttrValue> = { name: s.name.name };
        if (s.range) {
          attrs.range = [this.constNumber(s.range.lo), this.constNumber(s.range.hi)];
          attrs.rangeClosed = s.range.closedHi;
          if ((attrs.range as number[])[0] > (attrs.range as number[])[1]) {
            throw new BpcError("the range's low end is above its high end", s.range.span);
          }
          if (s.type.int && !(attrs.range as number[]).every(Number.isInteger)) {
            throw new BpcError("an int input's range has integer ends", s.range.span);
          }
        }
        if (s.dist) {
          if (s.type.int) throw new BpcError("a distribution hint is for float inputs; use 'in [lo, hi)' for ints", s.dist.span);
          const d = this.initializer(s.dist, INPUT_DISTRIBUTIONS, "distribution");
          attrs.dist = d.name;
          attrs.distArgs = d.args;
        }
        this.b.span = s.span;
        const node = this.b.source("input", attrs, shape, s.type.int ? "int" : "float");
        node.name = s.name.name;
        this.inputs.push(node);
        this.globals.set(s.name.name, { kind: "tensor", node });
        return;
      }
      case "param": {
        this.claim(s.name, "param");
        if (s.type.int) throw new BpcError("params are float tensors; 'int' is for inputs", s.type.span);
        const shape = this.typeShape(s.type);
        const sym = shape.find((d) => typeof d === "string");
        if (sym !== undefined) {
          throw new BpcError(`param ${s.name.name} has symbolic dim ${sym}: param shapes must be constant`, s.type.span);
        }
        const init = s.init ? this.initializer(s.init, INITIALIZERS, "initializer") : { name: shape.length >= 2 ? "xavier" : "zeros", args: [] };
        if (init.name === "xavier" && shape.length < 2) {
          throw new BpcError(`xavier needs at least 2 axes (fan-in and fan-out); ${s.name.name} is ${showShape(shape)}`, s.init!.span);
        }
        if (init.name === "he" && shape.length < 1) throw new BpcError("he needs at least 1 axis (fan-in)", s.init!.span);
        if (init.name === "orthogonal" && shape.length !== 2) {
          throw new BpcError(`orthogonal needs a 2-D param; ${s.name.name} is ${showShape(shape)}`, s.init!.span);
        }
        if (init.name === "normal" && init.args[1] < 0) throw new BpcError("normal's std must be >= 0", s.init!.span);
        if (init.name === "uniform" && init.args[0] > init.args[1]) throw new BpcError("uniform's low end is above its high end", s.init!.span);
        this.b.span = s.span;
        const node = this.b.source("param", { name: s.name.name, init: init.name, initArgs: init.args }, shape, "float");
        node.name = s.name.name;
        this.params.push(node);
        this.globals.set(s.name.name, { kind: "tensor", node });
        return;
      }
      case "def": {
        this.claim(s.name, "def");
        const seen = new Set<string>();
        for (const p of s.params) {
          if (seen.has(p.name)) throw new BpcError(`def ${s.name.name} names its parameter '${p.name}' twice`, p.span);
          seen.add(p.name);
        }
        this.defs.set(s.name.name, s);
        return;
      }
      default:
        return;
    }
  }

  private typeShape(t: TypeExpr): Dim[] {
    const shape = this.typeDims(t);
    const size = shape.reduce<number>((p, d) => p * (typeof d === "number" ? d : 1), 1);
    if (size > MAX_ELEMENTS) {
      throw new BpcError(`${showShape(shape)} has ${size} elements; a typed array holds at most ${MAX_ELEMENTS}`, t.span);
    }
    return shape;
  }

  private typeDims(t: TypeExpr): Dim[] {
    return t.dims.map((d) => {
      if ("value" in d) {
        if (!Number.isInteger(d.value) || d.value < 1) throw new BpcError(`a dim must be a positive integer, got ${d.value}`, d.span);
        return d.value;
      }
      const b = this.globals.get(d.name);
      if (!b || b.kind !== "dim") {
        throw new BpcError(`unknown dim '${d.name}'${this.suggest(d.name, this.dims.map((x) => x.name))}`, d.span, [
          `declare it with: dim ${d.name} = <size>   or   dim ${d.name}`,
        ]);
      }
      return b.dim;
    });
  }

  private initializer(e: InitExpr, table: Record<string, number>, what: string): { name: string; args: number[] } {
    const arity = table[e.name];
    if (arity === undefined) {
      throw new BpcError(`unknown ${what} '${e.name}'${this.suggest(e.name, Object.keys(table))}`, e.span, [
        `expected one of: ${Object.keys(table).join(", ")}`,
      ]);
    }
    if (e.args.length !== arity) {
      throw new BpcError(`${e.name} takes ${arity} argument${arity === 1 ? "" : "s"}, got ${e.args.length}`, e.span);
    }
    return { name: e.name, args: e.args.map((a) => this.constNumber(a)) };
  }

  /** A symbolic dim in a computed shape or a loop bound must be one the inputs' lengths give. */
  private checkSymbolicUses(nodes: readonly Node[], known: Set<string>): void {
    for (const n of nodes) {
      const dims = n.op === "loop" ? [n.attrs.count as Dim] : n.shape;
      for (const d of dims) {
        if (typeof d === "string" && !known.has(d)) {
          throw new BpcError(`dim ${d} is not known when the module is called: no input's shape gives it`, n.span, [
            `use ${d} in an input's shape, or give it a size: dim ${d} = ...`,
          ]);
        }
      }
      if (n.body) this.checkSymbolicUses(n.body.nodes, known);
    }
  }

  /** Every symbolic dim must be recoverable from input lengths (spec section 6); returns those that are. */
  private checkDimsInferable(): Set<string> {
    const used = new Set<string>();
    for (const n of this.inputs) for (const d of n.shape) if (typeof d === "string") used.add(d);
    const known = new Set<string>();
    let progress = true;
    while (progress) {
      progress = false;
      for (const n of this.inputs) {
        const unknown = new Set(n.shape.filter((d): d is string => typeof d === "string" && !known.has(d)));
        const count = n.shape.filter((d) => typeof d === "string" && !known.has(d)).length;
        if (unknown.size === 1 && count === 1) {
          known.add([...unknown][0]);
          progress = true;
        }
      }
    }
    for (const d of this.dims) {
      if (d.value === null && used.has(d.name) && !known.has(d.name)) {
        throw new BpcError(
          `dim ${d.name} cannot be inferred from the inputs: it must appear in an input whose other dims are known`,
          d.span,
        );
      }
    }
    return known;
  }

  // ---- statements -----------------------------------------------------------

  private statement(s: Stmt, env: Env): void {
    switch (s.kind) {
      case "assign": {
        const prev = this.declared.get(s.name.name);
        const bound = env.get(s.name.name);
        const declaration = bound !== undefined && bound === this.globals.get(s.name.name);
        if (prev && bound && declaration && (bound.kind === "dim" || bound.node.op === "param")) {
          throw new BpcError(
            `cannot assign to ${bound.kind === "dim" ? "dim" : "param"} '${s.name.name}' (declared at line ${prev.line}); use a new name`,
            s.name.span,
          );
        }
        if (this.defs.has(s.name.name)) throw new BpcError(`'${s.name.name}' is a def; use a new name`, s.name.span);
        const node = this.expr(s.value, env);
        if (!node.name) node.name = s.name.name;
        env.assign(s.name.name, { kind: "tensor", node });
        return;
      }
      case "for":
        this.loop(s, env);
        return;
      case "output":
        for (const id of s.names) {
          const b = this.lookup(id.name, id.span, env);
          if (b.kind !== "tensor") throw new BpcError(`'${id.name}' is a dim, not a value to output`, id.span);
          if (this.outputs.some((o) => o.name === id.name)) throw new BpcError(`'${id.name}' is already an output`, id.span);
          if (id.name === "loss") throw new BpcError("'loss' is always returned by forward; it cannot also be an output", id.span);
          this.outputs.push({ name: id.name, node: b.node });
        }
        return;
      case "minimize": {
        if (this.loss) {
          throw new BpcError(`a model has exactly one 'minimize' (the first is at line ${this.loss.span.line})`, s.span);
        }
        const node = this.expr(s.value, env);
        if (node.dtype !== "float") throw new BpcError("minimize needs a float scalar, got an int tensor", s.value.span);
        if (node.shape.length !== 0) {
          throw new BpcError(`minimize needs a scalar, got a tensor of shape ${showShape(node.shape)}`, s.value.span, [
            "reduce it first, for example: minimize mean(...)",
          ]);
        }
        this.loss = { node, span: s.span };
        return;
      }
      default:
        return;
    }
  }

  private loop(s: Extract<Stmt, { kind: "for" }>, env: Env): void {
    const start = this.staticInt(s.start, "a loop bound");
    const end = this.staticDim(s.end, "a loop bound");
    // The language's loops run t = 0, 1, ..., T-1 (spec section 4).
    if (start !== 0) throw new BpcError(`a loop runs from 0: write 'for ${s.var.name} in 0..N'`, s.start.span);
    if (typeof end === "number" && end < 1) throw new BpcError(`empty loop: 0..${end}`, s.end.span);
    const count: Dim = end;

    const assigned = assignedNames(s.body);
    const carriedNames = [...assigned].filter((n) => {
      const b = env.get(n);
      return b !== undefined && b.kind === "tensor";
    });
    const init = carriedNames.map((n) => (env.get(n) as { node: Node }).node);

    this.b.span = s.span;
    this.b.pushScope();
    const index = this.b.source("loop_index", { start }, [], "int");
    index.name = s.var.name;
    this.loopCounts.set(index, count);
    const carried = init.map((n, i) => {
      const c = this.b.source("carry", { k: i }, n.shape, n.dtype);
      c.name = carriedNames[i];
      return c;
    });
    const inner = new Env(env, false);
    inner.set(s.var.name, { kind: "tensor", node: index });
    carriedNames.forEach((n, i) => inner.set(n, { kind: "tensor", node: carried[i] }));
    for (const st of s.body) {
      if (st.kind === "assign" && !env.has(st.name.name) && !this.loopLocals.has(st.name.name)) {
        this.loopLocals.set(st.name.name, st.name.span);
      }
      this.statement(st, inner);
    }
    const results = carriedNames.map((n, i) => {
      const r = (inner.get(n) as { node: Node }).node;
      if (r.dtype !== init[i].dtype || r.shape.length !== init[i].shape.length || r.shape.some((d, k) => d !== init[i].shape[k])) {
        throw new BpcError(
          `'${n}' is carried through the loop as ${showShape(init[i].shape)} but the loop body makes it ${showShape(r.shape)}`,
          s.span,
          ["a loop-carried value must keep its shape from step to step"],
        );
      }
      return r;
    });
    const nodes = this.b.popScope();
    this.b.span = s.span;
    const loop = this.b.loop(count, init, { index, carried, nodes, results, tape: [] }, { start });
    carriedNames.forEach((n, k) => {
      const out = this.b.op("loop_out", [loop], { k });
      out.name = n;
      env.assign(n, { kind: "tensor", node: out });
    });
  }

  // ---- expressions ----------------------------------------------------------

  private lookup(name: string, span: Span, env: Env): Binding {
    const b = env.get(name);
    if (b) return b;
    const local = this.loopLocals.get(name);
    if (local) {
      throw new BpcError(`'${name}' is only defined inside the loop at line ${local.line}`, span, [
        `assign ${name} before the loop to carry it out of the loop`,
      ]);
    }
    if (this.defs.has(name) || SIGNATURES[name]) throw new BpcError(`'${name}' is a function; call it with (...)`, span);
    throw new BpcError(`unknown name '${name}'${this.suggest(name, env.names())}`, span);
  }

  private suggest(name: string, candidates: string[]): string {
    let best: string | null = null;
    let bestD = Infinity;
    for (const c of new Set(candidates)) {
      const d = editDistance(name, c);
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    return best !== null && bestD <= Math.max(1, Math.floor(name.length / 3)) ? `; did you mean '${best}'?` : "";
  }

  private op(kind: OpKind, inputs: Node[], span: Span, attrs: Attrs = {}): Node {
    this.b.span = this.callStack.length ? { ...span, via: this.callStack[0].span } : span;
    return this.b.op(kind, inputs, attrs);
  }

  private expr(e: Expr, env: Env): Node {
    switch (e.kind) {
      case "num":
        return this.op("const", [], e.span, { value: this.finite(e.value, e.span) });
      case "bool":
        return this.op("const", [], e.span, { value: e.value ? 1 : 0 });
      case "name": {
        const b = this.lookup(e.name, e.span, env);
        if (b.kind === "tensor") return b.node;
        return typeof b.dim === "number"
          ? this.op("const", [], e.span, { value: b.dim })
          : this.op("numel", [], e.span, { dims: [b.dim] });
      }
      case "unary": {
        if (e.arg.kind === "num") return this.op("const", [], e.span, { value: -e.arg.value });
        return this.op("neg", [this.float(e.arg, env)], e.span);
      }
      case "binary": {
        if (e.op === "@") return this.matmul(e.left, e.right, e.span, env);
        // Comparisons take ints as well (`argmax(logits, axis=1) == y`) and give a float 0 or 1.
        const operand = COMPARISONS.has(e.op) ? (x: Expr) => this.expr(x, env) : (x: Expr) => this.float(x, env);
        return this.op(BINARY[e.op], [operand(e.left), operand(e.right)], e.span);
      }
      case "transpose":
        return this.op("transpose", [this.expr(e.arg, env)], e.span);
      case "index":
        return this.index(e.target, e.items, e.span, env);
      case "call":
        return this.call(e, env);
      case "list":
        throw new BpcError("a list [...] is only allowed as a shape argument, as in zeros([B, H])", e.span);
    }
  }

  /** Lowers an expression that must be a float tensor, with a message naming it otherwise. */
  private float(e: Expr, env: Env): Node {
    const n = this.expr(e, env);
    if (n.dtype !== "float") {
      throw new BpcError(`an int tensor ${showShape(n.shape)} is used where a float is needed`, e.span, [
        "int tensors (labels, actions, indices) can only be used by pick, cross_entropy, one_hot, indexing and comparisons",
      ]);
    }
    return n;
  }

  private matmul(left: Expr, right: Expr, span: Span, env: Env): Node {
    const a = this.float(left, env);
    const c = this.float(right, env);
    const ra = a.shape.length;
    const rc = c.shape.length;
    const mismatch = (): never => {
      throw new BpcError(`cannot multiply ${showShape(a.shape)} @ ${showShape(c.shape)}`, span, [
        `the last dim of the left side (${a.shape[ra - 1] ?? "none"}) must equal the first dim of the right side (${c.shape[0] ?? "none"})`,
      ]);
    };
    if (ra < 1 || ra > 2 || rc < 1 || rc > 2 || (ra === 1 && rc === 1)) {
      throw new BpcError(`'@' takes [M,K]@[K,N], [K]@[K,N] or [M,K]@[K]; got ${showShape(a.shape)} @ ${showShape(c.shape)}`, span);
    }
    if (a.shape[ra - 1] !== c.shape[0]) mismatch();
    const a2 = ra === 1 ? this.op("reshape", [a], span, { shape: [1, a.shape[0]] }) : a;
    const c2 = rc === 1 ? this.op("reshape", [c], span, { shape: [c.shape[0], 1] }) : c;
    const out = this.op("matmul", [a2, c2], span, { transA: false, transB: false });
    if (ra === 1) return this.op("reshape", [out], span, { shape: [c.shape[1]] });
    if (rc === 1) return this.op("reshape", [out], span, { shape: [a.shape[0]] });
    return out;
  }

  private index(targetExpr: Expr, items: IndexItem[], span: Span, env: Env): Node {
    let target = this.expr(targetExpr, env);
    let rest = items;
    // A runtime int scalar index on the first axis (xs[t]).
    const first = items[0];
    if (first && first.kind === "at" && !this.isStatic(first.expr, env)) {
      const i = this.expr(first.expr, env);
      if (i.dtype !== "int" || i.shape.length !== 0) {
        throw new BpcError(`an index must be an int scalar or an integer constant, got ${i.dtype}${showShape(i.shape)}`, first.span);
      }
      if (target.shape.length === 0) throw new BpcError("cannot index a scalar", span);
      const steps = this.loopCounts.get(i);
      const rows = target.shape[0];
      if (typeof steps === "number" && typeof rows === "number" && steps > rows) {
        throw new BpcError(
          `${unparseExpr(targetExpr)}[${first.expr.kind === "name" ? first.expr.name : "t"}] reads past the end: its first axis has ${rows} entries but the loop runs ${steps} steps`,
          first.span,
        );
      }
      target = this.op("index", [target, i], span);
      rest = items.slice(1);
      if (rest.length === 0) return target;
    }
    // A runtime index on the second axis of a 2-D value (x[:, t], batch-first): the first
    // axis of its transpose, which is a view; the gradient goes back through both.
    const [all, second] = rest;
    if (
      rest.length === 2 &&
      target.shape.length === 2 &&
      all.kind === "slice" &&
      !all.start &&
      !all.end &&
      second.kind === "at" &&
      !this.isStatic(second.expr, env)
    ) {
      const i = this.expr(second.expr, env);
      if (i.dtype !== "int" || i.shape.length !== 0) {
        throw new BpcError(`an index must be an int scalar or an integer constant, got ${i.dtype}${showShape(i.shape)}`, second.span);
      }
      const steps = this.loopCounts.get(i);
      const cols = target.shape[1];
      if (typeof steps === "number" && typeof cols === "number" && steps > cols) {
        throw new BpcError(
          `${unparseExpr(targetExpr)}[:, ${second.expr.kind === "name" ? second.expr.name : "t"}] reads past the end: its second axis has ${cols} entries but the loop runs ${steps} steps`,
          second.span,
        );
      }
      return this.op("index", [this.op("transpose", [target], span), i], span);
    }
    const runtime = rest.find((it) => it.kind === "at" && !this.isStatic(it.expr, env));
    if (runtime) {
      throw new BpcError("a runtime index (a loop variable) can only index the first axis, or the second of a 2-D value (x[:, t])", runtime.span, [
        "store sequences time-major, as [T, B, D], and write xs[t]",
      ]);
    }
    const shape = target.shape;
    if (rest.length > shape.length) {
      throw new BpcError(`too many indices: ${showShape(shape)} has ${shape.length} axes, got ${items.length} indices`, span);
    }
    const starts: number[] = [];
    const ends: Dim[] = [];
    const drop: number[] = [];
    shape.forEach((d, axis) => {
      const it = rest[axis];
      if (!it || (it.kind === "slice" && !it.start && !it.end)) {
        starts.push(0);
        ends.push(d);
        return;
      }
      const bound = (v: Dim, what: string, s: Span, allowEnd: boolean): number => {
        if (typeof d !== "number") {
          throw new BpcError(`cannot ${what} into axis ${axis} of symbolic size ${d} with a constant; use ':'`, s);
        }
        const n = typeof v === "number" && v < 0 ? v + d : v;
        if (typeof n !== "number" || n < 0 || n > d || (!allowEnd && n === d)) {
          throw new BpcError(`index ${v} is out of bounds for axis ${axis} of size ${d} in ${showShape(shape)}`, s);
        }
        return n;
      };
      if (it.kind === "at") {
        const v = this.staticDim(it.expr, "an index");
        if (v === d) throw new BpcError(`index ${v} is out of bounds for axis ${axis} of size ${d}`, it.span);
        const k = bound(v, "index", it.span, false);
        starts.push(k);
        ends.push(k + 1);
        drop.push(axis);
      } else {
        const s0 = it.start ? this.staticDim(it.start, "a slice bound") : 0;
        const e0 = it.end ? this.staticDim(it.end, "a slice bound") : d;
        if (s0 === 0 && e0 === d) {
          starts.push(0);
          ends.push(d);
          return;
        }
        const s1 = bound(s0, "slice", it.span, true);
        const e1 = bound(e0, "slice", it.span, true);
        if (e1 <= s1) throw new BpcError(`empty slice ${s0}:${e0} on axis ${axis} of size ${d}`, it.span);
        starts.push(s1);
        ends.push(e1);
      }
    });
    const whole = drop.length === 0 && starts.every((s, i) => s === 0 && ends[i] === shape[i]);
    return whole ? target : this.op("slice", [target], span, { starts, ends, drop });
  }

  private isStatic(e: Expr, env: Env): boolean {
    if (e.kind === "num") return true;
    if (e.kind === "unary") return this.isStatic(e.arg, env);
    if (e.kind === "name") return env.get(e.name)?.kind === "dim";
    return false;
  }

  // ---- calls ------------------------------------------------------------------

  private call(e: Extract<Expr, { kind: "call" }>, env: Env): Node {
    const def = this.defs.get(e.callee);
    if (def) return this.inline(def, e, env);
    const sig = SIGNATURES[e.callee];
    if (!sig) {
      const known = [...Object.keys(SIGNATURES), ...this.defs.keys()];
      throw new BpcError(`unknown function '${e.callee}'${this.suggest(e.callee, known)}`, e.calleeSpan);
    }
    const args = bindArgs(e, sig.params, sig.defaults ?? {});
    const f = (k: string): Node => this.float(args[k] as Expr, env);
    const name = e.callee;
    if (UNARY[name]) return this.op(UNARY[name], [name === "transpose" ? this.expr(args.x as Expr, env) : f("x")], e.span);
    if (REDUCE[name]) return this.reduce(REDUCE[name], f("x"), args, e.span);
    switch (name) {
      case "leaky_relu":
      case "elu":
        return this.op(name, [f("x")], e.span, { a: this.argNumber(args.a) });
      case "huber": {
        const delta = this.argNumber(args.delta);
        if (delta <= 0) throw new BpcError("huber's delta must be positive", (args.delta as Expr).span);
        return this.op("huber", [f("x")], e.span, { delta });
      }
      case "maximum":
      case "minimum":
        return this.op(name, [f("a"), f("b")], e.span);
      case "clip": {
        const [x, lo, hi] = [f("x"), f("lo"), f("hi")];
        if (lo.op === "const" && hi.op === "const" && (lo.attrs.value as number) > (hi.attrs.value as number)) {
          throw new BpcError(`clip's lo (${lo.attrs.value}) is above its hi (${hi.attrs.value})`, e.span);
        }
        return this.op("clip", [x, lo, hi], e.span);
      }
      case "clip_grad": {
        const lo = this.argNumber(args.lo);
        const hi = this.argNumber(args.hi);
        if (lo > hi) throw new BpcError(`clip_grad's lo (${lo}) is above its hi (${hi})`, e.span);
        return this.op("clip_grad", [f("x")], e.span, { lo, hi });
      }
      case "where":
        return this.op("where", [f("cond"), f("a"), f("b")], e.span);
      case "argmax": {
        const x = f("x");
        return this.op("argmax", [x], e.span, { axes: [this.axis(args.axis as Expr, x)] });
      }
      case "reshape": {
        const x = this.expr(args.x as Expr, env);
        return this.op("reshape", [x], e.span, { shape: this.shapeArg(args.shape as Expr) });
      }
      case "concat": {
        const a = this.expr(args.a as Expr, env);
        const c = this.expr(args.b as Expr, env);
        return this.op("concat", [a, c], e.span, { axis: this.axisValue(args.axis, a) });
      }
      case "softmax":
      case "log_softmax": {
        const x = f("x");
        return this.op(name, [x], e.span, { axis: this.axisValue(args.axis, x) });
      }
      case "cross_entropy":
        return this.op("cross_entropy", [f("logits"), this.expr(args.labels as Expr, env)], e.span);
      case "pick":
        return this.op("pick", [f("x"), this.expr(args.idx as Expr, env)], e.span);
      case "one_hot": {
        const n = this.staticDim(args.n as Expr, "one_hot's size");
        return this.op("one_hot", [this.expr(args.idx as Expr, env)], e.span, { n });
      }
      case "zeros":
      case "ones":
        return this.op("full", [], e.span, { shape: this.shapeArg(args.shape as Expr), value: name === "ones" ? 1 : 0 });
    }
    throw new BpcError(`'${name}' is not implemented`, e.span);
  }

  private reduce(kind: OpKind, x: Node, args: Record<string, Expr | AttrValue>, span: Span): Node {
    const axisArg = args.axis;
    const axes = axisArg === null ? x.shape.map((_, i) => i) : [this.axis(axisArg as Expr, x)];
    const keepdims = args.keepdims;
    const keep = typeof keepdims === "boolean" ? keepdims : this.argBool(keepdims as Expr);
    return this.op(kind, [x], span, { axes, keepdims: keep });
  }

  private axisValue(v: Expr | AttrValue, x: Node): number {
    return typeof v === "number" ? this.checkAxis(v, x, null) : this.axis(v as Expr, x);
  }

  private axis(e: Expr, x: Node): number {
    const v = this.staticInt(e, "an axis");
    return this.checkAxis(v, x, e.span);
  }

  private checkAxis(v: number, x: Node, span: Span | null): number {
    const a = normAxis(v, x.shape.length);
    if (a === null) {
      throw new BpcError(`axis ${v} is out of range for a tensor of shape ${showShape(x.shape)}`, span ?? this.b.span);
    }
    return a;
  }

  private shapeArg(e: Expr): Dim[] {
    if (e.kind !== "list") throw new BpcError("expected a shape such as [B, 10]", e.span);
    return e.items.map((it) => {
      const d = this.staticDim(it, "a dim");
      if (typeof d === "number" && d < 1) throw new BpcError(`a dim must be a positive integer, got ${d}`, it.span);
      return d;
    });
  }

  private argNumber(v: Expr | AttrValue): number {
    return typeof v === "number" ? v : this.constNumber(v as Expr);
  }

  private argBool(e: Expr): boolean {
    if (e.kind === "bool") return e.value;
    throw new BpcError("expected true or false", e.span);
  }

  private inline(def: Def, e: Extract<Expr, { kind: "call" }>, env: Env): Node {
    if (e.kwargs.length) throw new BpcError(`def ${def.name.name} takes no keyword arguments`, e.kwargs[0].span);
    if (e.args.length !== def.params.length) {
      throw new BpcError(
        `${def.name.name} takes ${def.params.length} argument${def.params.length === 1 ? "" : "s"} (${def.params.map((p) => p.name).join(", ")}), got ${e.args.length}`,
        e.span,
      );
    }
    if (this.callStack.some((c) => c.def === def.name.name)) {
      throw new BpcError(`def ${def.name.name} calls itself; recursion is not supported`, e.calleeSpan, [
        `call chain: ${[...this.callStack.map((c) => c.def), def.name.name].join(" -> ")}`,
      ]);
    }
    const local = new Env(this.globals);
    def.params.forEach((p, i) => {
      const a = e.args[i];
      if (a.kind === "name" && env.get(a.name)?.kind === "dim") local.set(p.name, env.get(a.name) as Binding);
      else local.set(p.name, { kind: "tensor", node: this.expr(a, env) });
    });
    this.callStack.push({ def: def.name.name, span: e.span });
    try {
      for (const st of def.body) this.statement(st, local);
      return this.expr(def.result, local);
    } catch (err) {
      if (err instanceof BpcError && !err.diagnostics[0].notes?.some((n) => n.startsWith("in the call"))) {
        const d = err.diagnostics[0];
        const note = `in the call ${def.name.name}(...) at ${e.span.file}:${e.span.line}:${e.span.col}`;
        d.notes = [...(d.notes ?? []), note];
      }
      throw err;
    } finally {
      this.callStack.pop();
    }
  }

  // ---- static values ----------------------------------------------------------

  private finite(v: number, span: Span): number {
    if (!Number.isFinite(v)) throw new BpcError("this number is too large for a float", span);
    return v;
  }

  /** A compile-time number: a literal, a negated literal, or a constant dim. */
  private constNumber(e: Expr): number {
    if (e.kind === "num") return this.finite(e.value, e.span);
    if (e.kind === "unary" && e.arg.kind === "num") return -this.finite(e.arg.value, e.span);
    if (e.kind === "name") {
      const b = this.globals.get(e.name);
      if (b?.kind === "dim" && typeof b.dim === "number") return b.dim;
    }
    throw new BpcError("expected a constant number here", e.span);
  }

  private staticDim(e: Expr, what: string): Dim {
    if (e.kind === "name") {
      const b = this.globals.get(e.name);
      if (b?.kind === "dim") return b.dim;
    }
    return this.staticInt(e, what);
  }

  private staticInt(e: Expr, what: string): number {
    let v: number | null = null;
    if (e.kind === "num") v = e.value;
    else if (e.kind === "unary" && e.arg.kind === "num") v = -e.arg.value;
    else if (e.kind === "name") {
      const b = this.globals.get(e.name);
      if (b?.kind === "dim" && typeof b.dim === "number") v = b.dim;
    }
    if (v === null || !Number.isInteger(v)) {
      throw new BpcError(`${what} must be an integer constant or a dim`, e.span);
    }
    return v;
  }
}

/** Matches call arguments to a built-in's parameters, positional then keyword. */
function bindArgs(
  e: Extract<Expr, { kind: "call" }>,
  params: string[],
  defaults: Record<string, AttrValue>,
): Record<string, Expr | AttrValue> {
  const out: Record<string, Expr | AttrValue> = {};
  const required = params.filter((p) => !(p in defaults));
  if (e.args.length > params.length) {
    throw new BpcError(
      `${e.callee} takes at most ${params.length} argument${params.length === 1 ? "" : "s"} (${params.join(", ")}), got ${e.args.length}`,
      e.span,
    );
  }
  e.args.forEach((a, i) => (out[params[i]] = a));
  for (const kw of e.kwargs as KwArg[]) {
    if (!params.includes(kw.name)) {
      const kws = params.filter((p) => p in defaults || !required.slice(0, e.args.length).includes(p));
      throw new BpcError(`${e.callee} has no keyword argument '${kw.name}'`, kw.span, [
        kws.length ? `its keyword arguments are: ${kws.join(", ")}` : `${e.callee} takes no keyword arguments`,
      ]);
    }
    if (kw.name in out) throw new BpcError(`${e.callee} got '${kw.name}' twice`, kw.span);
    out[kw.name] = kw.value;
  }
  for (const p of params) {
    if (p in out) continue;
    if (p in defaults) out[p] = defaults[p];
    else {
      throw new BpcError(
        `${e.callee} takes ${required.length} argument${required.length === 1 ? "" : "s"} (${required.join(", ")}), got ${e.args.length}`,
        e.span,
      );
    }
  }
  return out;
}

/** Names assigned in a loop body, nested loops included. */
function assignedNames(body: Stmt[]): Set<string> {
  const out = new Set<string>();
  for (const s of body) {
    if (s.kind === "assign") out.add(s.name.name);
    else if (s.kind === "for") for (const n of assignedNames(s.body)) out.add(n);
  }
  return out;
}

/** The file's base name without extension (the spec's default model name). */
function baseName(file: string): string {
  return file.replace(/^.*[\\/]/, "").replace(/\.[^.]*$/, "") || "model";
}

/** Edit distance counting a swap of two neighbours as one edit (typos like rleu). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

export { opLabel };
