// The compiler as a library: source text in, stages and TypeScript out.
export { BpcError, formatDiagnostic, type Diagnostic, type Span } from "./diag.js";
export { parse } from "./frontend/parser/parse.js";
export { lower } from "./frontend/lower/index.js";
export { grad } from "./passes/autodiff.js";
export { backEnd, compileStages, frontEnd, resolveInputGrads, simplify, SIMPLIFY_PASSES, type Stages } from "./passes/pipeline.js";
export { printGraph } from "./ir/print.js";
export { verifyGraph } from "./ir/verify.js";
export { OPS, OP_KINDS, type OpKind, type OpDef } from "./ir/ops.js";
export type { Graph, Node, Shape, Dim } from "./ir/types.js";
export { emitModule } from "./codegen/emit.js";
export { moduleToJs } from "./codegen/to-js.js";
export { loadModule, type CompiledModule } from "./codegen/runtime-load.js";
export { lint, lintSource, formatJson, formatSarif, formatText, RULE_META, type LintDiagnostic } from "./lint/index.js";
export { checkFile, checkGradients, formatCheck, type CheckReport, type CheckRow } from "./check/index.js";
export { countFlops } from "./ir/flops.js";
