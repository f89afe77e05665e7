// Builds IR nodes: infers each node's shape through the op table, stamps it
// with the current source span and phase, and appends it to the current
// block. With `intern`, structurally equal nodes are built once (hash-consing),
// which is how CSE works: rebuilding a graph through an interning builder
// merges duplicates.
import { BpcError, noSpan, type Span } from "../diag.js";
import { OPS, OpError, type IRBuilder, type OpKind } from "./ops.js";
import type { Attrs, DType, Dim, LoopBody, Node, Phase } from "./types.js";

interface Scope {
  nodes: Node[];
  interned: Map<string, Node>;
}

/** Op kinds that denote distinct values even with equal attributes. */
const UNIQUE = new Set<OpKind>(["input", "param", "carry", "loop_index", "loop"]);

export class Builder implements IRBuilder {
  phase: Phase;
  span: Span;
  private nextId: number;
  private readonly intern: boolean;
  private readonly scopes: Scope[] = [{ nodes: [], interned: new Map() }];

  constructor(opts: { startId?: number; intern?: boolean; phase?: Phase; span?: Span } = {}) {
    this.nextId = opts.startId ?? 0;
    this.intern = opts.intern ?? false;
    this.phase = opts.phase ?? "fwd";
    this.span = opts.span ?? noSpan;
  }

  get idCounter(): number {
    return this.nextId;
  }

  /** Nodes built so far in the outermost block. */
  get nodes(): Node[] {
    return this.scopes[0].nodes;
  }

  op(kind: OpKind, inputs: readonly Node[], attrs: Attrs = {}): Node {
    const def = OPS[kind];
    if (def.arity >= 0 && inputs.length !== def.arity) {
      throw new BpcError(`${kind} takes ${def.arity} inputs, got ${inputs.length}`, this.span);
    }
    const key = this.intern && !UNIQUE.has(kind) ? `${kind}(${inputs.map((n) => n.id).join(",")})${JSON.stringify(attrs)}` : null;
    if (key !== null) {
      const hit = this.lookup(key);
      if (hit) return hit;
    }
    let t: { shape: Dim[]; dtype: DType };
    try {
      t = def.infer(inputs, attrs);
    } catch (e) {
      if (e instanceof OpError) throw new BpcError(`${opLabel(kind)}: ${e.message}`, this.span);
      throw e;
    }
    const node = this.make(kind, inputs, attrs, t.shape, t.dtype);
    if (key !== null) this.top.interned.set(key, node);
    return node;
  }

  const(value: number): Node {
    return this.op("const", [], { value });
  }

  /** A node whose shape is given rather than inferred (inputs, params, carried placeholders). */
  source(kind: "input" | "param" | "carry" | "loop_index", attrs: Attrs, shape: readonly Dim[], dtype: DType): Node {
    return this.make(kind, [], attrs, [...shape], dtype, false);
  }

  /** A loop node over a body built between pushScope() and popScope(). */
  loop(count: Dim, init: readonly Node[], body: LoopBody, attrs: Attrs = {}): Node {
    return this.make("loop", init, { ...attrs, count }, [], "float", true, body);
  }

  pushScope(): void {
    this.scopes.push({ nodes: [], interned: new Map() });
  }

  popScope(): Node[] {
    if (this.scopes.length === 1) throw new Error("popScope without pushScope");
    return (this.scopes.pop() as Scope).nodes;
  }

  /** Gives later nodes ids above `id` (when a pass mixes old and new nodes). */
  reserveIds(id: number): void {
    this.nextId = Math.max(this.nextId, id);
  }

  private get top(): Scope {
    return this.scopes[this.scopes.length - 1];
  }

  private lookup(key: string): Node | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const hit = this.scopes[i].interned.get(key);
      if (hit) return hit;
    }
    return undefined;
  }

  private make(
    op: OpKind,
    inputs: readonly Node[],
    attrs: Attrs,
    shape: Dim[],
    dtype: DType,
    append = true,
    body?: LoopBody,
  ): Node {
    const node: Node = { id: this.nextId++, op, inputs, attrs, shape, dtype, span: this.span, phase: this.phase, body };
    if (append) this.top.nodes.push(node);
    return node;
  }
}

/** How an op is named in messages: the surface syntax where there is one. */
export function opLabel(kind: OpKind): string {
  const infix: Partial<Record<OpKind, string>> = {
    add: "'+'",
    sub: "'-'",
    mul: "'*'",
    div: "'/'",
    pow: "'^'",
    matmul: "'@'",
    lt: "'<'",
    le: "'<='",
    gt: "'>'",
    ge: "'>='",
    eq: "'=='",
    ne: "'!='",
    // Ops written under another surface name.
    soft_cross_entropy: "cross_entropy",
    to_float: "float",
  };
  return infix[kind] ?? kind;
}
