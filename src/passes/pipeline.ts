// The compiler's pipeline in one place: parse, lower, differentiate, then the
// simplification passes, repeated until the graph stops shrinking. Each stage
// is a value that `bpc inspect --stage` can print.
import { BpcError } from "../diag.js";
import { lower } from "../frontend/lower/index.js";
import type { Program } from "../frontend/parser/ast.js";
import { parse } from "../frontend/parser/parse.js";
import type { Graph } from "../ir/types.js";
import { verifyGraph } from "../ir/verify.js";
import { grad, type GradOptions } from "./autodiff.js";
import { algebraicIdentities, cse, dce, foldConstants, graphSize } from "./simplify.js";

/** The simplification passes, in order. */
export const SIMPLIFY_PASSES: readonly { name: string; run: (g: Graph) => Graph }[] = [
  { name: "fold-constants", run: foldConstants },
  { name: "algebraic-identities", run: algebraicIdentities },
  { name: "cse", run: cse },
  { name: "dce", run: dce },
];

export function simplify(g: Graph, opts: { verify?: boolean } = {}): Graph {
  let cur = g;
  for (let round = 0; round < 10; round++) {
    const before = graphSize(cur);
    for (const p of SIMPLIFY_PASSES) {
      cur = p.run(cur);
      if (opts.verify) verifyGraph(cur);
    }
    if (graphSize(cur) >= before && round > 0) break;
  }
  return cur;
}

export interface Stages {
  ast: Program;
  /** The forward IR. */
  ir: Graph;
  /** Forward plus the raw backward IR from autodiff. */
  grad: Graph;
  /** After simplification. */
  opt: Graph;
}

export function frontEnd(source: string, file: string): { ast: Program; ir: Graph } {
  return deep(file, () => {
    const ast = parse(source, file);
    return { ast, ir: lower(ast) };
  });
}

export function compileStages(source: string, file: string, opts: GradOptions & { verify?: boolean } = {}): Stages {
  return backEnd(frontEnd(source, file), opts);
}

import { resolveInputGrads } from "./input-grads.js";

export { resolveInputGrads };


/** Differentiates and simplifies a lowered program, with the input gradients `resolveInputGrads` accepts. */
export function backEnd(front: { ast: Program; ir: Graph }, opts: GradOptions & { verify?: boolean } = {}): Stages {
  const { ast, ir } = front;
  return deep(ir.file, () => {
    if (opts.verify) verifyGraph(ir);
    const g = grad(ir, { ...opts, inputGrads: resolveInputGrads(ir, opts.inputGrads) });
    if (opts.verify) verifyGraph(g);
    return { ast, ir, grad: g, opt: simplify(g, opts) };
  });
}

/** Runs a stage, reporting a stack overflow (an expression nested thousands deep) as the user's error. */
function deep<T>(file: string, run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      throw new BpcError("the program nests too deeply to compile (an expression or a chain of definitions thousands deep)", {
        file,
        line: 0,
        col: 0,
        endLine: 0,
        endCol: 0,
      });
    }
    throw e;
  }
}
