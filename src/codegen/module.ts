// The module skeleton (spec section 6): the model's metadata and types,
// `init`, `forward` and `backward` with their argument checks, the two
// workspaces and the functions that run each pass over them. The passes'
// bodies come from the kernels (nodes.ts), the checks from validate.ts and
// `init` from init.ts.
import type { DType, Node, Shape } from "../ir/types.js";
import type { BufInfo, Emitter, Value, View } from "./context.js";
import { initFn } from "./init.js";
import { commentText, key, prop, str } from "./names.js";
import { sizeStr, type Size } from "./nest.js";
import { block } from "./nodes.js";
import type { Helper } from "./runtime.js";
import { inArena, stagedCopies, transposedCopies } from "./simd.js";
import { bindDims } from "./validate.js";

/** A sum of sizes, like terms collected: `B * 138 + 100352`. */
function sumSizes(sizes: readonly Size[]): string {
  const terms = new Map<string, Size>();
  for (const s of sizes) {
    if (s.k === 0) continue;
    const k = s.syms.join("*");
    const t = terms.get(k);
    terms.set(k, t ? { k: t.k + s.k, syms: s.syms } : s);
  }
  const parts = [...terms.values()].sort((a, b) => b.syms.length - a.syms.length).map(sizeStr);
  return parts.length ? parts.join(" + ") : "0";
}

/** The largest of some sizes, as an expression. */
function maxSize(sizes: readonly Size[]): string {
  const consts = sizes.filter((x) => x.syms.length === 0).map((x) => x.k);
  const syms = sizes.filter((x) => x.syms.length > 0).map(sizeStr);
  const parts = [...(consts.length ? [String(Math.max(...consts))] : []), ...syms];
  return parts.length === 1 ? parts[0] : `Math.max(${parts.join(", ")})`;
}

/** A buffer's length, as an expression. */
function length(b: BufInfo): string {
  return b.plus ? sumSizes([b.size, b.plus]) : sizeStr(b.size);
}

/** An object literal field, shorthand when the key is the local's name. */
function field(name: string, local: string): string {
  return name === local ? name : `${key(name)}: ${local}`;
}

/** The prologue declaring every dim, buffer and argument a function body refers to. */
function prologue(cx: Emitter, dimsFrom: string, refs: Set<string>): string[] {
  const lines: string[] = [];
  const dims = cx.dimOrder().map((d) => cx.dimLocal.get(d.dim) as string);
  const byHome = (h: BufInfo["home"]): string[] => [...refs].filter((r) => cx.bufs.get(r)?.home === h).sort();
  const fw = byHome("fw");
  const bw = byHome("bw");
  if (dimsFrom === "fw") {
    if (dims.length || fw.length) lines.push(`const { ${[...dims, ...fw].join(", ")} } = fw;`);
    if (bw.length) lines.push(`const { ${bw.join(", ")} } = bw;`);
  }
  for (const home of ["params", "inputs"] as const) {
    const names = byHome(home).filter((l) => !cx.bufs.get(l)?.box);
    if (names.length) lines.push(`const { ${names.map((l) => field(cx.bufs.get(l)?.key as string, l)).join(", ")} } = ${home};`);
  }
  for (const l of byHome("inputs")) {
    const info = cx.bufs.get(l) as BufInfo;
    if (info.box) lines.push(`const ${l} = ${cx.use("scalarIn")}(${prop("inputs", info.key as string)}, ${info.box});`);
  }
  return lines;
}

/** An owned, whole buffer holding `v`, for handing out: copies when v is a view, an argument or a number. */
function handOut(cx: Emitter, v: Value, shape: Size[], dtype: DType, name: string, out: string[]): View {
  if (cx.isWhole(v)) return v;
  const dst = cx.alloc(cx.names.claim(name), shape, dtype);
  cx.copy(dst, v, out);
  return dst;
}

function scalarOf(cx: Emitter, v: Value): string {
  return v.kind === "view" ? cx.read(v, v.off) : v.expr;
}

/** The forward pass, and the function that hands out its outputs (forward calls both; backward only the first). */
function computeForward(cx: Emitter): { compute: string; outputs: string } {
  cx.fn = { phase: "fwd", refs: new Set(), lastLine: -1, lastInner: 0 };
  const body: string[] = [];
  body.push(...stagedCopies(cx));
  const at = body.length;
  block(cx, cx.g.nodes.filter((n) => n.phase === "fwd"), body);
  body.splice(at, 0, ...transposedCopies(cx, "fwd"));
  const compute = [
    `/** Runs the forward pass in \`fw\`. */`,
    `function computeForward(fw: ForwardWorkspace, params: Params, inputs: Inputs): void {`,
    ...prologue(cx, "fw", cx.fn.refs),
    ...body,
    `}`,
  ].join("\n");
  cx.fn = { phase: "fwd", refs: new Set(), lastLine: -1, lastInner: 0 };
  const fields: string[] = [`loss: ${scalarOf(cx, cx.value(cx.g.loss))}`];
  const outs: string[] = [];
  for (const o of cx.g.outputs) {
    const v = cx.value(o.node);
    if (o.node.shape.length === 0) {
      fields.push(`${key(o.name)}: ${scalarOf(cx, v)}`);
      continue;
    }
    const h = handOut(cx, v, cx.sizes(o.node.shape), o.node.dtype, `${o.name}_out`, outs);
    fields.push(field(o.name, cx.ref(h.buf)));
  }
  const scalars = cx.opts.probeBackward ? forwardScalars(cx) : undefined;
  const outputs = [
    `/** The loss and outputs of the forward pass just run in \`fw\`; the arrays are \`fw\`'s buffers. */`,
    `function forwardOutputs(fw: ForwardWorkspace, params: Params, inputs: Inputs): Outputs {`,
    ...prologue(cx, "fw", cx.fn.refs),
    ...(outs.length ? [`// outputs that are views of other buffers, copied`, ...outs] : []),
    `return { ${fields.join(", ")} };`,
    `}`,
  ].join("\n");
  return { compute, outputs: scalars ? `${outputs}\n\n${scalars}` : outputs };
}

/** The probe variant's forward figures (all scalars: the loss, then each output) written into `probeOut.scalars`. */
function forwardScalars(cx: Emitter): string {
  cx.fn = { phase: "fwd", refs: new Set(), lastLine: -1, lastInner: 0 };
  const lines = [cx.g.loss, ...cx.g.outputs.map((o) => o.node)].map((n, i) => {
    if (n.shape.length) throw new Error("internal error: a probe variant's outputs are scalars");
    return `probeOut.scalars[${i}] = ${scalarOf(cx, cx.value(n))};`;
  });
  return [
    `/** The probe figures of the forward pass just run in \`fw\`, into \`probeOut.scalars\`. */`,
    `function forwardScalars(fw: ForwardWorkspace, params: Params, inputs: Inputs): void {`,
    ...prologue(cx, "fw", cx.fn.refs),
    ...lines,
    `}`,
  ].join("\n");
}

function computeBackward(cx: Emitter): string {
  cx.fn = { phase: "bwd", refs: new Set(), lastLine: -1, lastInner: 0 };
  const body: string[] = [];
  block(cx, cx.g.nodes.filter((n) => n.phase === "bwd"), body);
  body.unshift(...transposedCopies(cx, "bwd"));
  const fields: string[] = [];
  const pairs: [string, string][] = [];
  const outs: string[] = [];
  for (const name of cx.gradNames) {
    const gr = cx.g.grads.find((x) => x.name === name);
    const of = [...cx.g.params, ...cx.g.inputs].find((p) => p.name === name) as Node;
    const shape = cx.sizes(of.shape);
    if (!gr) {
      throw new Error(
        `emitModule: the graph has no gradient for '${name}'; differentiate it with the same --input-grads (${cx.opts.inputGrads.join(", ") || "none"})`,
      );
    }
    const h = handOut(cx, cx.value(gr.node), shape, "float", `d${name}`, outs);
    fields.push(field(name, cx.ref(h.buf)));
    pairs.push([name, cx.ref(h.buf)]);
  }
  if (outs.length) body.push(`// gradients handed to the caller`, ...outs);
  const loss = scalarOf(cx, cx.value(cx.g.loss));
  // The probe variant (probe.ts) fills one object it keeps, the backward figures beside the gradients.
  const probe = cx.opts.probeBackward;
  const ret = probe
    ? [
        `probeOut.loss = ${loss};`,
        ...pairs.map(([k, l]) => `${prop("probeOut.grads", k)} = ${l};`),
        ...probe.map((p) => {
          const h = handOut(cx, cx.value(p.node), cx.sizes(p.node.shape), "float", p.name, body);
          return `${prop("probeOut.extra", p.name)} = ${cx.ref(h.buf)};`;
        }),
        `return probeOut;`,
      ]
    : [`return { loss: ${loss}, grads: { ${fields.join(", ")} } };`];
  return [
    `/** Runs the backward pass in \`bw\`, reading the forward values in \`fw\`. */`,
    `function computeBackward(fw: ForwardWorkspace, bw: BackwardWorkspace, params: Params, inputs: Inputs): { loss: number; grads: Grads } {`,
    ...prologue(cx, "fw", cx.fn.refs),
    ...body,
    ...ret,
    `}`,
  ].join("\n");
}

export function workspace(cx: Emitter, phase: "fw" | "bw", fnName: string, typeName: string): string {
  const dims = cx.dimOrder().map((d) => cx.dimLocal.get(d.dim) as string);
  // In a SIMD module float buffers are taken from the arena, which forwardWorkspace sizes for both workspaces.
  const fields = [...cx.bufs.entries()]
    .filter(([, b]) => b.home === phase)
    .map(([name, b]) =>
      b.arena
        ? name
        : b.scratch
          ? `${name}: new Float64Array(${maxSize(b.scratch)})`
          : b.wide
            ? `${name}: new Float64Array(${length(b)})`
          : inArena(cx, b)
            ? `${name}: ${cx.use("take")}(${cx.arena}, ${length(b)})`
            : `${name}: new ${b.dtype === "int" ? "Int32Array" : cx.FA}(${length(b)})`,
    );
  const params = dims.map((d) => `${d}: number`);
  const pre: string[] = [];
  if (cx.simd && phase === "fw") {
    const taken = [...cx.bufs.values()].filter((b) => inArena(cx, b));
    const bytes = `4 * (${sumSizes(taken.flatMap((b) => (b.plus ? [b.size, b.plus] : [b.size])))}) + ${16 * taken.length}`;
    pre.push(`// Every float buffer of both workspaces, 16-byte aligned, in one arena the SIMD kernel can read.`);
    pre.push(`const ${cx.arena} = ${cx.use("newArena")}(${bytes});`);
  }
  if (cx.simd && phase === "bw") params.push(`${cx.arena}: Arena`);
  return [
    `function ${fnName}(${params.join(", ")}) {`,
    ...pre,
    `return { ${[...dims, ...fields].join(", ")} };`,
    `}`,
    `type ${typeName} = ReturnType<typeof ${fnName}>;`,
    `let ${phase}: ${typeName} | undefined;`,
    ...(phase === "fw" ? boxes(cx) : []),
  ].join("\n");
}

/** The one-element arrays that scalar inputs passed as numbers are read through. */
function boxes(cx: Emitter): string[] {
  const lines: string[] = [];
  for (const b of cx.bufs.values()) {
    if (!b.box) continue;
    lines.push(`/** inputs.${commentText(b.key as string)} when it is passed as a number. */`);
    lines.push(`const ${b.box} = new ${b.dtype === "int" ? "Int32Array" : cx.FA}(1);`);
  }
  return lines;
}

function typeDecl(name: string, fields: [string, string][]): string {
  if (!fields.length) return `export type ${name} = Record<string, never>;`;
  return `export type ${name} = { ${fields.map(([k, t]) => `${/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : str(k)}: ${t}`).join("; ")} };`;
}

/** The helpers the module uses (known after `module()`), in a fixed order. */
export function helperList(cx: Emitter): Helper[] {
  const order: Helper[] = [
    "describe", "checkKeys", "checkArray", "inferDim", "badDim", "badSize", "checkFinite", "checkFiniteVia", "checkIndex",
    "rng", "gauss", "fillNormal", "fillUniform", "orthogonal",
    "checkScalar", "scalarIn",
    "softmax", "logSoftmax", "crossEntropy", "pick", "oneHot", "relu32",
    "simdKernel", "newArena", "take", "matmulSimd", "matmulJs", "transposeInto",
  ];
  return order.filter((h) => cx.helpers.has(h));
}

/** The module's top-level declarations, unformatted, in order. */
export function module(cx: Emitter): string[] {
  const g = cx.g;
  const FA = cx.FA;
  const floatType = cx.opts.precision === "f64" ? "float64" : "float32";
  const hasBackward = g.grads.length > 0 || g.nodes.some((n) => n.phase === "bwd") || cx.gradNames.length === 0;

  const forwardBody = computeForward(cx);
  const backwardBody = hasBackward ? computeBackward(cx) : null;

  const arr = (dtype: DType): string => (dtype === "int" ? "Int32Array" : FA);
  const shapeLit = (s: Shape): string => `[${s.map((d) => (typeof d === "number" ? String(d) : str(d))).join(", ")}]`;
  const meta = [
    `export const model: ModelInfo = {`,
    `name: ${str(g.name)},`,
    `precision: ${str(cx.opts.precision)},`,
    `dims: { ${g.dims.map((d) => `${key(d.name)}: ${d.value === null ? "null" : d.value}`).join(", ")} },`,
    `params: { ${g.params.map((p) => `${key(p.name as string)}: { shape: ${shapeLit(p.shape)} }`).join(", ")} },`,
    `inputs: { ${g.inputs.map((n) => `${key(n.name as string)}: { shape: ${shapeLit(n.shape)}, dtype: ${str(n.dtype === "int" ? "int32" : floatType)} as const }`).join(", ")} },`,
    `outputs: ${JSON.stringify(g.outputs.map((o) => o.name))},`,
    `grads: ${JSON.stringify(cx.gradNames)},`,
    `};`,
  ].join("\n");

  const dims = cx.dimOrder().map((d) => cx.dimLocal.get(d.dim) as string);
  const wsArgs = dims.join(", ");
  // The current dims' workspaces and the previous dims' (kept for a switch back). A SIMD
  // module's backward workspace lives in the forward one's arena, so the two move together.
  const dimParams = dims.map((d) => `${d}: number`).join(", ");
  const same = (ws: string): string => dims.map((d) => ` && ${ws}.${d} === ${d}`).join("");
  const next = cx.names.claim("nextFw");
  const nextBw = cx.names.claim("nextBw");
  const useWorkspaces = [
    `/**`,
    ` * Makes the workspaces for these dims current and returns the forward one. The`,
    ` * previous dims' workspaces are kept, so alternating two batch sizes (training and`,
    ` * evaluation) allocates nothing after the first call with each; a third size makes`,
    ` * new ones in place of the older pair.`,
    ` */`,
    `function useWorkspaces(${dimParams}): ForwardWorkspace {`,
    `if (fw !== undefined${same("fw")}) return fw;`,
    `const ${next} = fwSpare !== undefined${same("fwSpare")} ? fwSpare : forwardWorkspace(${wsArgs});`,
    ...(backwardBody
      ? [
          `const ${nextBw} = ${next} === fwSpare ? bwSpare : undefined;`,
          `fwSpare = fw;`,
          `bwSpare = bw;`,
          `fw = ${next};`,
          `bw = ${nextBw};`,
        ]
      : [`fwSpare = fw;`, `fw = ${next};`]),
    `return ${next};`,
    `}`,
    `let fwSpare: ForwardWorkspace | undefined;`,
    ...(backwardBody ? [`let bwSpare: BackwardWorkspace | undefined;`] : []),
  ].join("\n");
  const ownership = [
    ` * The arrays returned belong to the module: they are overwritten by the next`,
    ` * call of forward or backward (no array is allocated per call). Copy one with`,
    ` * \`.slice()\` to keep it. Neither \`params\` nor \`inputs\` is modified.`,
  ];
  const forward = [
    `/**`,
    ` * The forward pass: the loss and every output.`,
    ...ownership,
    ` * Throws an Error naming the tensor on a missing or extra key, a wrong array`,
    ` * type or length, inconsistent dims, a non-finite value or an index out of range.`,
    ` */`,
    `export function forward(params: Params, inputs: Inputs): Outputs {`,
    `const ws = bindDims(params, inputs);`,
    `computeForward(ws, params, inputs);`,
    `return forwardOutputs(ws, params, inputs);`,
    `}`,
  ].join("\n");
  const backward = backwardBody
    ? [
        `/**`,
        ` * The loss and its gradient with respect to ${cx.gradNames.length ? cx.gradNames.map(commentText).join(", ") : "nothing (the model has no parameters)"}.`,
        ...ownership,
        ` */`,
        `export function backward(params: Params, inputs: Inputs): { loss: number; grads: Grads } {`,
        `const ws = bindDims(params, inputs);`,
        `if (bw === undefined) bw = backwardWorkspace(${[...dims, ...(cx.simd ? [cx.arena] : [])].map((d) => `ws.${d}`).join(", ")});`,
        `computeForward(ws, params, inputs);`,
        `return computeBackward(ws, bw, params, inputs);`,
        `}`,
      ].join("\n")
    : [
        `/** Not available: this module was compiled without the backward pass. */`,
        `export function backward(params: Params, inputs: Inputs): { loss: number; grads: Grads } {`,
        `bindDims(params, inputs);`,
        `throw new Error("backward: this module was compiled without gradients");`,
        `}`,
      ].join("\n");
  // The probe variant's entry point: the forward's figures, then the backward's.
  const probeRun = cx.opts.probeBackward && backwardBody
    ? [
        `/** The probe variant's figures, kept in one object: the loss and forward figures, the gradients, the backward figures. */`,
        `const probeOut = { loss: 0, scalars: new Float64Array(${cx.g.outputs.length + 1}), grads: {} as Grads, extra: {} as Record<string, ${FA}> };`,
        `function runProbed(params: Params, inputs: Inputs): typeof probeOut {`,
        `const ws = bindDims(params, inputs);`,
        `if (bw === undefined) bw = backwardWorkspace(${[...dims, ...(cx.simd ? [cx.arena] : [])].map((d) => `ws.${d}`).join(", ")});`,
        `computeForward(ws, params, inputs);`,
        `forwardScalars(ws, params, inputs);`,
        `computeBackward(ws, bw, params, inputs);`,
        `return probeOut;`,
        `}`,
      ].join("\n")
    : null;

  const initText = initFn(cx);
  const bindText = bindDims(cx);

  const parts = [
    `// Generated by bpc from ${commentText(g.file)}. Do not edit.`,
    `// Model ${commentText(g.name)}, ${cx.opts.precision === "f64" ? "float64 (--precision f64)" : "float32"}.`,
    ``,
    `export interface ModelInfo {`,
    `name: string;`,
    `precision: "f32" | "f64";`,
    `dims: Record<string, number | null>;`,
    `params: Record<string, { shape: (number | string)[] }>;`,
    `inputs: Record<string, { shape: (number | string)[]; dtype: "${floatType}" | "int32" }>;`,
    `outputs: string[];`,
    `grads: string[];`,
    `}`,
    ``,
    `/** What the model declares: dims (null when symbolic), parameters, inputs, outputs and gradients. */`,
    meta,
    ``,
    typeDecl("Params", g.params.map((p) => [p.name as string, FA])),
    typeDecl("Inputs", g.inputs.map((n) => [n.name as string, n.shape.length === 0 ? `number | ${arr(n.dtype)}` : arr(n.dtype)])),
    typeDecl("Outputs", [["loss", "number"], ...g.outputs.map((o): [string, string] => [o.name, o.node.shape.length === 0 ? "number" : arr(o.node.dtype)])]),
    typeDecl("Grads", cx.gradNames.map((n) => [n, FA])),
    ``,
    initText,
    ``,
    forward,
    ``,
    backward,
    ``,
    ...(probeRun ? [probeRun, ``] : []),
    `// ---- internals ----`,
    ``,
    bindText,
    ``,
    workspace(cx, "fw", "forwardWorkspace", "ForwardWorkspace"),
    ``,
    ...(backwardBody ? [workspace(cx, "bw", "backwardWorkspace", "BackwardWorkspace"), ``] : []),
    useWorkspaces,
    ``,
    forwardBody.compute,
    ``,
    forwardBody.outputs,
    ``,
    ...(backwardBody ? [backwardBody, ``] : []),
  ];
  // Top-level declarations, split at the blank lines between them.
  const chunks: string[][] = [[]];
  for (const line of parts) {
    if (line === "") chunks.push([]);
    else chunks[chunks.length - 1].push(line);
  }
  return chunks.filter((c) => c.length).map((c) => c.join("\n"));
}
