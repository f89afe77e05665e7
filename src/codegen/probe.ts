// `bpc compile --probes` (spec section 12): the module gains `probe`, which
// runs a probe variant of the model, compiled from the same graph extended
// with the probes' reductions (passes/probes.ts) and kept in a scope of its
// own, and turns its sums into the figures. `forward` and `backward` are the
// unprobed module's, untouched, so probing costs them nothing.
import { BpcError, noSpan } from "../diag.js";
import type { Graph } from "../ir/types.js";
import { addProbes, type ProbePlan } from "../passes/probes.js";
import { formatModule, moduleParts, type EmitOptions, type ModuleParts } from "./emit.js";
import { formatDeclaration, PRETTIER } from "./format.js";
import { format } from "./prettier.js";

/** The probed module: the plain module's text, then the probe section. Extends `g` in place (give it a graph of its own). */
export async function emitProbedModule(g: Graph, opts: EmitOptions): Promise<string> {
  const main = await formatModule(moduleParts(g, opts));
  if (!g.params.length) throw new BpcError("--probes: the model has no parameters, so there is no training step to probe", { ...noSpan, file: g.file });
  // The variant hands out only the probes' figures (scalars, read by index: the loss is 0).
  g.outputs = [];
  const plan = addProbes(g);
  const variant = moduleParts(g, { ...opts, probeBackward: plan.backward });
  const section = await probeSection(g, plan, variant);
  return `${main.trimEnd()}\n\n${section.trimEnd()}\n`;
}

async function probeSection(g: Graph, plan: ProbePlan, v: ModuleParts): Promise<string> {
  const FA = v.floatArray;
  // The variant's declarations, exports dropped: they live in the closure, shadowing the module's.
  const inner = (await Promise.all(v.declarations.map((d) => formatDeclaration(d.replace(/^export /gm, ""))))).map((d) => d.trimEnd());
  const body = await formatModule({ declarations: [], kernels: v.kernels, helpers: v.helpers, floatArray: FA });
  const closure = [
    `/** The probe variant: the forward and backward with the probes' reductions, in a scope of their own. */`,
    `const probeVariant = (() => {`,
    ...inner,
    body,
    `return runProbed;`,
    `})();`,
  ].join("\n\n");
  const index = new Map(g.outputs.map((o, i) => [o.name, i + 1]));
  // Output names to their index in the variant's scalars.
  const lit = (x: unknown): string => JSON.stringify(x, (k, v: unknown) => (typeof v === "string" && index.has(v) ? index.get(v) : v));
  const paramLines = Object.fromEntries(g.params.map((p) => [p.name as string, p.span.line]));
  const rest = `
/** What \`probe\` reports for one batch (spec section 12). */
export type Probes = {
  loss: number;
  sites: { name: string; line: number; op: string; dead?: number; saturated?: number; mean: number; std: number }[];
  params: Record<string, { norm: number; gradNorm: number }>;
  loops: { name: string; line: number; gradNorms: Float64Array }[];
  nonFinite: null | { name: string; line: number };
};

/** Where each site's, loop's and named value's figures land in the probe variant's outputs. */
const probeSites: { name: string; line: number; op: string; kind: string; sum: number; sumSq: number; count: number; alive?: number; units?: number; saturated?: number }[] = ${lit(plan.sites)};
const probeLoops: { name: string; line: number; max: string; sumSq: string }[] = ${lit(plan.loops)};
const probeChecks: { name: string; line: number; output: number }[] = ${lit(plan.checks)};
const probeParamLines: Record<string, number> = ${lit(paramLines)};
const probeParamNames: string[] = ${lit(Object.keys(paramLines))};
/** Each loop's per-step gradient norms, reused while the step count stays the same. */
const probeNorms: Float64Array[] = probeLoops.map(() => new Float64Array(0));

function probeNorm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

function probeFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/**
 * One training step's forward and backward on this batch, measured: per
 * activation site the dead (relu-like) or saturated fraction and the mean and
 * standard deviation of its input; per param its norm and its gradient's; per
 * loop-carried value |d loss / d value| after each step; the loss; the first
 * value holding a NaN or an infinity. \`backward\` is not slowed by any of it.
 * The \`gradNorms\` arrays belong to the module and are overwritten by the next call.
 */
export function probe(params: Params, inputs: Inputs): Probes {
  const run = probeVariant(params, inputs);
  const o = run.scalars;
  const grads = run.grads as unknown as Record<string, ${FA}>;
  const ps = params as unknown as Record<string, ${FA}>;
  const sites: Probes["sites"] = probeSites.map((s) => {
    const n = o[s.count];
    const mean = o[s.sum] / n;
    const std = Math.sqrt(Math.max(0, o[s.sumSq] / n - mean * mean));
    return s.alive !== undefined
      ? { name: s.name, line: s.line, op: s.op, dead: 1 - o[s.alive] / o[s.units as number], mean, std }
      : { name: s.name, line: s.line, op: s.op, saturated: o[s.saturated as number] / n, mean, std };
  });
  const norms: Probes["params"] = {};
  for (const k of probeParamNames) norms[k] = { norm: probeNorm(ps[k]), gradNorm: probeNorm(grads[k]) };
  const loops: Probes["loops"] = probeLoops.map((l, i) => {
    const sq = run.extra[l.sumSq];
    const mx = run.extra[l.max];
    if (probeNorms[i].length !== sq.length) probeNorms[i] = new Float64Array(sq.length);
    const out = probeNorms[i];
    for (let t = 0; t < sq.length; t++) out[t] = mx[t] === 0 ? 0 : (mx[t] + 1e-30) * Math.sqrt(sq[t]);
    return { name: l.name, line: l.line, gradNorms: out };
  });
  let nonFinite: Probes["nonFinite"] = null;
  for (const c of probeChecks) {
    if (!Number.isFinite(o[c.output])) {
      nonFinite = { name: c.name, line: c.line };
      break;
    }
  }
  if (nonFinite === null) {
    for (const k of probeParamNames) {
      if (!probeFinite(grads[k])) {
        nonFinite = { name: "d" + k, line: probeParamLines[k] };
        break;
      }
    }
  }
  return { loss: run.loss, sites, params: norms, loops, nonFinite };
}
`;
  const text = `${closure}\n\n${rest}`;
  return format(text, PRETTIER);
}
