// The compiler's pipeline in one place: parse, lower, differentiate, then the
// simplification passes, repeated until the graph stops shrinking. Each stage
// is a value that `bpc inspect --stage` can print.
import { readFileSync } from "node:fs";
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

/** Differentiates and simplifies a lowered program. */
export function backEnd(front: { ast: Program; ir: Graph }, opts: GradOptions & { verify?: boolean } = {}): Stages {
  const { ast, ir } = front;
  return deep(ir.file, () => {
    if (opts.verify) verifyGraph(ir);
    const g = grad(ir, opts);
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

/** Reads a .bp file as UTF-8 text, with positioned errors for unreadable or non-text files. */
export function readSource(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (e as Error).message;
    throw new BpcError(`cannot read ${path}: ${why}`, { file: path, line: 0, col: 0, endLine: 0, endCol: 0 });
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    throw new BpcError("file is not UTF-8 text", { file: path, line: at.line, col: at.col, endLine: at.line, endCol: at.col + 1 });
  }
}

function firstInvalidUtf8(bytes: Buffer): { line: number; col: number } {
  const text = new TextDecoder("utf-8").decode(bytes);
  const bad = text.indexOf("\uFFFD");
  const lines = text.slice(0, Math.max(0, bad)).split("\n");
  return { line: lines.length, col: lines[lines.length - 1].length + 1 };
}
