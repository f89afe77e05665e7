// Lowering: checks a parsed program and turns it into the forward IR.
// Declarations are taken in first (declarations.ts), then statements run in
// order (statements.ts): names resolve through nested environments
// (scope.ts), a builtin call is lowered from its row in builtins.ts
// (calls.ts), a `def` is inlined at each call so shapes are checked per call
// site (defs.ts), indexing and slicing have indexing.ts, and a `for` loop
// becomes one `loop` node carrying the values it reassigns (loops.ts).
// Shapes are inferred through the op table as the builder makes each node.
import { BpcError } from "../../diag.js";
import type { Graph } from "../../ir/types.js";
import type { Program } from "../parser/ast.js";
import { Lowering } from "./context.js";
import { markStacks } from "./fans.js";
import { checkDimsInferable, checkSymbolicUses, declare } from "./declarations.js";
import { lowerStatement } from "./statements.js";

/** Checks a parsed program and lowers it to the tensor IR. Throws BpcError. */
export function lower(program: Program): Graph {
  const cx = new Lowering(program);
  const { stmts } = program;
  if (stmts.length === 0) {
    throw new BpcError("empty file: expected declarations and a 'minimize' statement", cx.fileStart());
  }
  // Declarations first, so statements may use a param declared further down.
  for (const s of stmts) declare(cx, s);
  const known = checkDimsInferable(cx);
  for (const s of stmts) lowerStatement(cx, s, cx.top);
  checkSymbolicUses(cx.b.nodes, known);
  markStacks(cx.b.nodes);
  // A symbolic dim that nothing uses: no call could give its size (uses were reported above).
  for (const d of cx.dims) {
    if (d.value === null && !known.has(d.name)) {
      throw new BpcError(`dim ${d.name} is symbolic but no input uses it, so no call can give its size`, d.span, [
        `give it a value (dim ${d.name} = 16), use it in an input's shape, or remove it`,
      ]);
    }
  }
  if (!cx.loss) {
    const last = stmts[stmts.length - 1].span;
    throw new BpcError("no 'minimize' statement: a model needs exactly one scalar to minimize", last, [
      "add a line such as: minimize loss",
    ]);
  }
  return {
    name: cx.modelName,
    file: program.file,
    source: program.source,
    dims: cx.dims,
    inputs: cx.inputs,
    params: cx.params,
    nodes: cx.b.nodes,
    outputs: cx.outputs,
    loss: cx.loss.node,
    grads: [],
  };
}
