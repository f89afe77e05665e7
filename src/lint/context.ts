/**
 * What every rule reads: the graph and its source, and the shared analyses,
 * each computed once and only when a rule asks for it (gradient paths,
 * intervals, closed-form moments, the seeded Monte Carlo sample).
 */
import { BpcError, type Span } from "../diag.js";
import { symbolicSize } from "../ir/dims.js";
import { OPS } from "../ir/ops.js";
import { EvalError } from "../ir/tensor.js";
import type { Graph, Node } from "../ir/types.js";
import { analyzeFlow, type Flow } from "./flow.js";
import { Evaluator, draw, forwardCost, type Draw, type Tensor } from "./sample.js";
import { fmt, intervals, moments, type Interval, type Moments } from "./stats.js";

/** The seed of every sample the linter draws: findings are reproducible. */
export const SEED = 20161220;
/** Multiply-adds the sampler may spend on one forward pass. */
const SAMPLE_BUDGET = 3e6;
/**
 * A larger budget for a single example, so that big recurrences are still
 * measured rather than judged by their (loose) bound alone: a 100-step GRU of
 * width 128 needs 7.4e6, a 100-step 512-wide RNN about 4e7 (0.4 s).
 */
const SINGLE_EXAMPLE_BUDGET = 4.5e7;

/** Whether the sampler records the inputs of `n`: pre-activations of activations, and clipped values. */
const watchesInputs = (n: Node): boolean => {
  const def = OPS[n.op];
  return def.lint.activation !== undefined || (def.class === "elementwise" && def.zeroGrad === "outside");
};

export interface Samples {
  draw: Draw;
  /** The size every symbolic dim was bound to. */
  symbolic: number;
  evaluator: Evaluator;
  /** Recorded values of watched nodes (each loop step is one entry). */
  values(n: Node): Tensor[] | undefined;
}

export class LintContext {
  readonly lines: string[];
  private cache = new Map<string, unknown>();

  constructor(
    readonly graph: Graph,
    readonly source: string,
  ) {
    this.lines = source.split(/\r?\n/);
  }

  private once<T>(key: string, f: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, f());
    return this.cache.get(key) as T;
  }

  get flow(): Flow {
    return this.once("flow", () => analyzeFlow(this.graph));
  }

  /** Intervals that hold for any parameter values. */
  get always(): Map<Node, Interval> {
    return this.once("always", () => intervals(this.graph, "always"));
  }

  /** Intervals that hold at initialization. */
  get atInit(): Map<Node, Interval> {
    return this.once("init", () => intervals(this.graph, "init"));
  }

  get moments(): Map<Node, Moments | null> {
    return this.once("moments", () => moments(this.graph, this.samples?.symbolic ?? 32));
  }

  /** The seeded forward sample, or null when the model is too large to sample within budget or the sampler fails. */
  get samples(): Samples | null {
    return this.once("samples", () => this.sample());
  }

  /**
   * A second, smaller seeded draw (symbolic dims bound to at most 8) and its
   * evaluated forward, for the analyses that re-run parts of the model many
   * times (the recurrence measurement, the clip direction test).
   */
  get small(): { draw: Draw; evaluator: Evaluator } | null {
    return this.once("small", () => {
      // A model too large to sample still gets this draw on one example when that fits a
      // larger budget: enough to measure a recurrence (only these analyses read it).
      const base = this.samples ? Math.min(this.samples.symbolic, 8) : forwardCost(this.graph, 1) <= SINGLE_EXAMPLE_BUDGET ? 1 : 0;
      if (!base) return null;
      // Raised until every dim expression is positive (`T-5` needs T >= 6).
      const size = symbolicSize(this.graph, base);
      try {
        const d = draw(this.graph, size, SEED + 1);
        const ev = new Evaluator(this.graph, d.dims, d.params, d.inputs);
        ev.run();
        return { draw: d, evaluator: ev };
      } catch (e) {
        // Values the model cannot run on (an index out of range): no sample. Anything else is a bug to show.
        if (e instanceof EvalError || e instanceof BpcError) return null;
        throw e;
      }
    });
  }

  private sample(): Samples | null {
    const g = this.graph;
    let symbolic = 0;
    // At least two examples: with one, a batch statistic (batch norm's mean over B)
    // makes the sample degenerate (z - mean(z) is 0).
    for (const b of [64, 32, 16, 8, 4, 2]) {
      if (forwardCost(g, b) <= SAMPLE_BUDGET) {
        symbolic = b;
        break;
      }
    }
    if (!symbolic && forwardCost(g, 2) <= 2 * SAMPLE_BUDGET) symbolic = 2;
    if (!symbolic) return null;
    symbolic = symbolicSize(g, symbolic);
    const watch = new Set<Node>();
    for (const n of this.flow.nodes) {
      if (watchesInputs(n)) n.inputs.forEach((x) => watch.add(x));
      if (n.op === "matmul") watch.add(n.inputs[0]);
      if (n.op === "div") watch.add(n.inputs[1]); // numeric-instability reads denominators

    }
    try {
      const d = draw(g, symbolic, SEED);
      const ev = new Evaluator(g, d.dims, d.params, d.inputs, { watch });
      ev.run();
      return { draw: d, symbolic, evaluator: ev, values: (n) => ev.recorded.get(n) ?? (ev.values.has(n) && !this.flow.loopOf.has(n) ? [ev.values.get(n)!] : undefined) };
    } catch (e) {
      if (e instanceof EvalError || e instanceof BpcError) return null;
      throw e;
    }
  }

  // ---- text helpers ---------------------------------------------------------------

  /** The source text of a span (joined across lines). */
  text(s: Span): string {
    if (s.line <= 0) return "";
    if (s.line === s.endLine) return (this.lines[s.line - 1] ?? "").slice(s.col - 1, s.endCol - 1);
    const parts = [(this.lines[s.line - 1] ?? "").slice(s.col - 1)];
    for (let l = s.line + 1; l < s.endLine; l++) parts.push(this.lines[l - 1] ?? "");
    parts.push((this.lines[s.endLine - 1] ?? "").slice(0, s.endCol - 1));
    return parts.join("\n");
  }

  /** How a node reads in messages: its source text, or its name. */
  show(n: Node): string {
    if (n.op === "input" || n.op === "param" || n.op === "carry") return n.name ?? `%${n.id}`;
    const t = this.text(n.span).replace(/\s+/g, " ").trim();
    if (t && t.length <= 60) return t;
    return n.name ?? (t ? `${t.slice(0, 57)}...` : `%${n.id}`);
  }

  /** How a value is referred to: the name it was assigned to, else its source text. */
  ref(n: Node): string {
    return n.name ?? this.show(n);
  }

  /** Param names of a set of indices, in declaration order. */
  paramNames(set: Iterable<number>): string[] {
    return [...new Set(set)].sort((a, b) => a - b).map((i) => this.graph.params[i].name ?? `param${i}`);
  }

  /** `normal(0, 1)`, `he`, ... as written in the declaration. */
  initText(p: Node): string {
    const args = (p.attrs.initArgs as readonly number[]) ?? [];
    return args.length ? `${String(p.attrs.init)}(${args.join(", ")})` : String(p.attrs.init);
  }

  /** The span of the initializer in a param's declaration (`~ normal(0, 1)` without the `~`), if it is written there. */
  initSpan(p: Node): Span | null {
    const line = this.lines[p.span.line - 1];
    if (line === undefined) return null;
    const m = /~\s*([A-Za-z_]\w*\s*(\([^)]*\))?)/.exec(line);
    if (!m) return null;
    const col = m.index + m[0].indexOf(m[1]) + 1;
    return { file: p.span.file, line: p.span.line, col, endLine: p.span.line, endCol: col + m[1].length };
  }

  /** How an input's values are described: its hint, or the default. */
  inputHint(x: Node): string {
    const range = x.attrs.range as readonly number[] | undefined;
    const args = (x.attrs.distArgs as readonly number[]) ?? [];
    if (range) return `${x.name} in [${range[0]}, ${range[1]}${x.attrs.rangeClosed === false ? ")" : "]"}`;
    if (x.attrs.dist) return `${x.name} ~ ${String(x.attrs.dist)}(${args.join(", ")})`;
    return `${x.name} has no hint, so normal(0, 1) is assumed`;
  }

  std(m: Moments | null | undefined): string {
    return m ? fmt(Math.sqrt(m.var)) : "?";
  }
}

/** Splits a call's source text `f(a, b, k=v)` into its callee and top-level arguments. */
export function callParts(text: string): { callee: string; args: string[] } | null {
  const m = /^\s*([A-Za-z_]\w*)\s*\(/.exec(text);
  if (!m || !text.trimEnd().endsWith(")")) return null;
  const inner = text.slice(m[0].length, text.trimEnd().length - 1);
  const args: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of inner) {
    if (ch === "(" || ch === "[") depth++;
    if (ch === ")" || ch === "]") depth--;
    if (ch === "," && depth === 0) {
      args.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) args.push(cur.trim());
  return { callee: m[1], args };
}

/** Summary statistics of recorded samples. */
export function summarize(ts: readonly Tensor[]): { n: number; mean: number; std: number; min: number; max: number } {
  let n = 0;
  let s = 0;
  let s2 = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const t of ts)
    for (const v of t.data) {
      if (Number.isNaN(v)) continue;
      n++;
      s += v;
      s2 += v * v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  const mean = n ? s / n : 0;
  return { n, mean, std: n ? Math.sqrt(Math.max(0, s2 / n - mean * mean)) : 0, min, max };
}

/** Fraction of recorded sample values satisfying `pred`. */
export function fraction(ts: readonly Tensor[], pred: (v: number) => boolean): number {
  let n = 0;
  let k = 0;
  for (const t of ts)
    for (const v of t.data) {
      if (Number.isNaN(v)) continue;
      n++;
      if (pred(v)) k++;
    }
  return n ? k / n : 0;
}

/** A percentage for a message: "99.6%", "100%", "<0.1%". */
export function pct(f: number): string {
  if (f === 0) return "0%";
  if (f >= 0.9995) return f === 1 ? "100%" : "99.9%";
  if (f > 0 && f < 0.001) return "<0.1%";
  const p = f * 100;
  return `${p >= 10 ? p.toFixed(0) : p.toFixed(1)}%`;
}

/** "W1", "W1 and b1", "W1, b1 and W2". */
export function listText(xs: readonly string[]): string {
  if (xs.length <= 1) return xs.join("");
  return `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;
}
