// The op table: one entry per IR op, assembled from the op families in
// ./ops/ (./ops/define.ts says what an entry holds; ./ops/kinds.ts names
// them). Typed `Record<OpKind, OpDef>`, so an op without an entry, or an
// entry without one of the facts every op must have, does not compile.
import { BINARY } from "./ops/binary.js";
import { CONSTRUCT } from "./ops/construct.js";
import { CONV } from "./ops/conv.js";
import type { OpDef } from "./ops/define.js";
import { INDEXING } from "./ops/indexing.js";
import { LAYOUT } from "./ops/layout.js";
import { LINALG } from "./ops/linalg.js";
import { NN } from "./ops/nn.js";
import { REDUCE } from "./ops/reduce.js";
import { SOURCES } from "./ops/sources.js";
import { UNARY } from "./ops/unary.js";

import type { OpKind } from "./ops/kinds.js";

export const OPS: Record<OpKind, OpDef> = { ...SOURCES, ...BINARY, ...UNARY, ...REDUCE, ...LAYOUT, ...LINALG, ...NN, ...CONV, ...CONSTRUCT, ...INDEXING };

export { OP_KINDS, type OpKind } from "./ops/kinds.js";

export function isElementwise(op: OpKind): boolean {
  return OPS[op].class === "elementwise";
}

export { OpError, lit, unsupported, isUnsupported } from "./ops/define.js";
export type { IRBuilder, Vjp, OpDef, OpClass, Saves, LintRules, Gain, Role, EvalContext, Unsupported } from "./ops/define.js";
