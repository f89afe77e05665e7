// The state of one lowering run, shared by its parts: the IR builder, the
// environments names live in, what the program declares, and its results.
import type { Span } from "../../diag.js";
import { Builder } from "../../ir/builder.js";
import type { OpKind } from "../../ir/ops.js";
import type { Attrs, Dim, DimDecl, Node } from "../../ir/types.js";
import type { Program, Stmt } from "../parser/ast.js";
import { Env } from "./scope.js";

export type Def = Extract<Stmt, { kind: "def" }>;

export class Lowering {
  readonly b = new Builder();
  /** Dims, inputs and params: what every def sees. */
  readonly globals = new Env(null);
  /** Top-level assignments. */
  readonly top = new Env(this.globals);
  readonly defs = new Map<string, Def>();
  readonly dims: DimDecl[] = [];
  readonly inputs: Node[] = [];
  readonly params: Node[] = [];
  readonly outputs: { name: string; node: Node }[] = [];
  /** Where each declared name (dim, input, param, def) was declared. */
  readonly declared = new Map<string, Span>();
  /** The defs being inlined, outermost first, with their call sites. */
  readonly callStack: { def: string; span: Span }[] = [];
  /** Names first assigned inside a loop body, for a better "unknown name" message. */
  readonly loopLocals = new Map<string, Span>();
  /** The number of steps of each loop, by its index node (to check xs[t] against xs's length). */
  readonly loopCounts = new Map<Node, Dim>();
  loss: { node: Node; span: Span } | null = null;
  modelName: string;
  modelSpan: Span | null = null;

  constructor(readonly program: Program) {
    this.modelName = baseName(program.file);
  }

  /** Builds an op at `span`; inside an inlined def the span also records the outermost call. */
  op(kind: OpKind, inputs: Node[], span: Span, attrs: Attrs = {}): Node {
    this.b.span = this.callStack.length ? { ...span, via: this.callStack[0].span } : span;
    return this.b.op(kind, inputs, attrs);
  }

  fileStart(): Span {
    return { file: this.program.file, line: 1, col: 1, endLine: 1, endCol: 1 };
  }
}

/** The file's base name without extension (the spec's default model name). */
function baseName(file: string): string {
  return file.replace(/^.*[\\/]/, "").replace(/\.[^.]*$/, "") || "model";
}
