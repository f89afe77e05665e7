// The compiler as a library. The entry points of spec section 11 (compile,
// lint, inspect, graph) take source text, run in browsers as well as Node,
// and report errors as section 8's diagnostic objects in a BpcError. Below
// them, the stages themselves; those throw a SourceError, whose diagnostics
// carry spans (the CLI prints them with a code frame).
export { BpcError, compile, graph, inspect, lint, type CompileOptions, type Diagnostic, type GraphOptions, type Stage } from "./api.js";
export { BpcError as SourceError, formatDiagnostic, type Diagnostic as SourceDiagnostic, type Span } from "./diag.js";
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
export { declarations, toJsModule } from "./js-module.js";
export { loadModule, type CompiledModule } from "./codegen/runtime-load.js";
export { lint as lintGraph, lintSource, formatJson, formatSarif, formatText, RULE_META, type LintDiagnostic } from "./lint/index.js";
export { checkFile, checkGradients, formatCheck, type CheckReport, type CheckRow } from "./check/index.js";
export { countFlops } from "./ir/flops.js";
