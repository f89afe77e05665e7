// Reverse-mode autodiff: builds the backward IR from the forward IR.
// Nodes are visited in reverse topological order; each node's gradient rule
// (from the op table) maps its output cotangent to input cotangents; fan-in
// is summed; cotangents of broadcast inputs are summed back to the input's
// shape; a null cotangent is a symbolic zero and is never materialised.
// A loop is differentiated into a loop that walks the steps in reverse
// (backprop through time), reading the per-step forward values it needs from
// a tape the forward loop writes: the values its ops' gradient rules declare
// in `saves`. Loops nest: an inner loop's backward runs inside the outer
// loop's backward step, and the outer tape stacks the inner one's. The
// forward graph passed in is not modified: the result holds a copy of it
// (same ids) whose loops list their tapes (a nested loop's tape is read, in
// the enclosing body, by loop_tape nodes added after it).
import { resolveInputGrads } from "./input-grads.js";
import { Builder } from "../ir/builder.js";
import { OPS, type IRBuilder } from "../ir/ops.js";
import { broadcastShapes, sameShape, showShape } from "../ir/shape.js";
import type { Graph, LoopBody, Node } from "../ir/types.js";
import { maxGraphId, openLoopBody } from "./rewrite.js";
import { roleNamer } from "./roles.js";

export interface GradOptions {
  /** Float inputs whose gradients backward also returns. */
  inputGrads?: readonly string[];
}

/** Internal inconsistency in a gradient rule: names the op. */
export class GradRuleError extends Error {}

export function grad(g: Graph, opts: GradOptions = {}): Graph {
  const wanted = new Set(resolveInputGrads(g, opts.inputGrads));
  const targets = [...g.params, ...g.inputs.filter((n) => wanted.has(n.name as string))];
  const fwd = copyForward(g);
  const b = new Builder({ startId: maxGraphId(g) + 1, phase: "bwd" });
  const ad = new Reverse(b, new Set(targets.map((n) => n.id)), roleNamer(fwd));
  ad.markRequires(fwd.nodes);
  b.span = fwd.loss.span;
  const cts = ad.sweep(fwd.nodes, new Map([[fwd.loss.id, b.const(1)]]));
  const grads = targets.map((t) => {
    b.span = t.span;
    let node = cts.get(t.id) ?? b.op("full", [], { shape: t.shape, value: 0 });
    if (node.op === "const") node = b.op("broadcast_to", [node], { shape: t.shape });
    if (!node.name) node.name = `d${t.name}`;
    return { name: t.name as string, of: t, node };
  });
  return { ...fwd, nodes: [...fwd.nodes, ...b.nodes], grads };
}

/**
 * The forward graph with every computed node copied (same ids, fresh loop
 * tapes), so that autodiff can list the tapes without touching its input.
 */
function copyForward(g: Graph): Graph {
  const remap = new Map<Node, Node>();
  const get = (n: Node): Node => remap.get(n) ?? n;
  const copy = (nodes: readonly Node[]): Node[] =>
    nodes.map((n) => {
      const body = n.body && {
        index: n.body.index,
        carried: n.body.carried,
        nodes: copy(n.body.nodes),
        results: [] as Node[],
        tape: [] as Node[],
      };
      if (body && n.body) {
        body.results.push(...n.body.results.map(get));
        body.tape.push(...n.body.tape.map(get));
      }
      const c: Node = { ...n, inputs: n.inputs.map(get), ...(body ? { body } : {}) };
      remap.set(n, c);
      return c;
    });
  const nodes = copy(g.nodes);
  return { ...g, nodes, outputs: g.outputs.map((o) => ({ name: o.name, node: get(o.node) })), loss: get(g.loss) };
}

/** The backward step of the loop whose body holds a nested loop being differentiated. */
interface Enclosing {
  /** The forward body: the nested loop's tape readers are placed in it. */
  body: LoopBody;
  /** The forward body values its backward step reads (its tape). */
  saved: Set<Node>;
  /** Its running gradient sum per outer value it accumulates, which a nested loop's backward continues. */
  acc: Map<number, Node>;
}

class Reverse {
  /** Nodes whose value depends on a differentiated source. */
  readonly requires = new Set<number>();

  constructor(
    private readonly b: Builder,
    targets: Set<number>,
    /** Names forward values: a gradient is named `d` + its value's name. */
    private readonly role: (n: Node) => string,
  ) {
    for (const t of targets) this.requires.add(t);
  }

  /** Forward dependence on the targets, through loops to a fixed point. */
  markRequires(nodes: readonly Node[]): void {
    for (const n of nodes) {
      if (n.op === "stop_gradient") continue;
      if (n.op === "loop" && n.body) {
        const body = n.body;
        body.carried.forEach((c, k) => {
          if (this.requires.has(n.inputs[k].id)) this.requires.add(c.id);
        });
        for (;;) {
          this.markRequires(body.nodes);
          let changed = false;
          body.results.forEach((r, k) => {
            if (this.requires.has(r.id) && !this.requires.has(body.carried[k].id)) {
              this.requires.add(body.carried[k].id);
              changed = true;
            }
          });
          if (!changed) break;
        }
        if (body.results.some((r) => this.requires.has(r.id))) this.requires.add(n.id);
        continue;
      }
      if (n.op === "loop_out") {
        const loop = n.inputs[0];
        if (this.requires.has((loop.body as LoopBody).results[n.attrs.k as number].id)) this.requires.add(n.id);
        continue;
      }
      if (n.dtype === "float" && n.inputs.some((i) => this.requires.has(i.id))) this.requires.add(n.id);
    }
  }

  /**
   * Accumulates cotangents over `nodes` in reverse; returns every cotangent
   * found. The forward values the rules that ran declare in `saves` are added
   * to `saved`.
   */
  sweep(nodes: readonly Node[], cts: Map<number, Node>, saved = new Set<Node>(), outer?: Enclosing): Map<number, Node> {
    const loopOuts = new Map<number, (Node | null)[]>();
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i];
      const ct = cts.get(n.id);
      if (n.op === "loop_out") {
        if (ct) {
          const loop = n.inputs[0];
          const list = loopOuts.get(loop.id) ?? loop.inputs.map(() => null);
          list[n.attrs.k as number] = ct;
          loopOuts.set(loop.id, list);
        }
        continue;
      }
      if (n.op === "loop") {
        const outs = loopOuts.get(n.id);
        if (outs && this.requires.has(n.id)) this.loop(n, outs, cts, outer);
        continue;
      }
      if (!ct || !this.requires.has(n.id)) continue;
      const rule = OPS[n.op].vjp;
      if (!rule) continue;
      this.b.span = n.span;
      const needs = n.inputs.map((x) => this.requires.has(x.id) && x.dtype === "float");
      if (!needs.some(Boolean)) continue;
      const inCts = this.runRule(n, ct, needs, saved);
      n.inputs.forEach((x, k) => {
        const c = inCts[k];
        if (!needs[k] || !c) return;
        this.accumulate(cts, x, this.unbroadcast(c, x, n));
      });
    }
    return cts;
  }

  /**
   * Runs n's gradient rule, holding it to its `saves`: the forward values it
   * reads must be the inputs and output it declares (the loop tape is built
   * from them). Adds them to `saved`.
   */
  private runRule(n: Node, ct: Node, needs: readonly boolean[], saved: Set<Node>): (Node | null)[] {
    const def = OPS[n.op];
    const built = new Set<Node>();
    const b: IRBuilder = {
      op: (kind, inputs, attrs) => {
        const x = this.b.op(kind, inputs, attrs);
        built.add(x);
        return x;
      },
      const: (value) => {
        const x = this.b.const(value);
        built.add(x);
        return x;
      },
    };
    const inCts = (def.vjp as NonNullable<typeof def.vjp>)(b, n, ct, needs);
    const saves = def.saves ?? { inputs: [], output: false };
    const declared = new Set<Node>([...saves.inputs.map((i) => n.inputs[i]), ...(saves.rest === undefined ? [] : n.inputs.slice(saves.rest))]);
    if (saves.output) declared.add(n);
    const reads = [...[...built].flatMap((x) => x.inputs), ...inCts.filter((c): c is Node => c !== null)];
    for (const r of reads) {
      if (r.phase === "fwd" && !built.has(r) && !declared.has(r)) {
        throw new GradRuleError(`the gradient rule of ${n.op} reads %${r.id} (${r.op}), which its saves do not declare`);
      }
    }
    for (const v of declared) saved.add(v);
    return inCts;
  }

  private unbroadcast(c: Node, x: Node, n: Node): Node {
    if (sameShape(c.shape, x.shape)) return c;
    const fits = broadcastShapes([x.shape, c.shape]);
    if (!fits || !sameShape(fits, c.shape)) {
      throw new GradRuleError(
        `gradient rule of ${n.op} gave a cotangent of shape ${showShape(c.shape)} for an input of shape ${showShape(x.shape)}`,
      );
    }
    return this.b.op("sum_to", [c], { shape: x.shape });
  }

  private accumulate(cts: Map<number, Node>, x: Node, c: Node): void {
    const prev = cts.get(x.id);
    const sum = prev ? this.b.op("add", [prev, c]) : c;
    // Constants are shared (CSE), so they keep no gradient's name.
    if (!sum.name && sum.phase === "bwd" && sum.inputs.length > 0) sum.name = `d${this.role(x)}`;
    cts.set(x.id, sum);
  }

  /**
   * Backprop through time. The backward loop carries the cotangent of each
   * carried value and one accumulator per outer value the body reads that
   * needs a gradient; each step runs the body's gradient rules in reverse
   * with the step's forward values read from the tape. A loop inside the body
   * of another (`outer`) is differentiated the same way inside the outer
   * backward step: its tape readers are forward values of the outer body
   * (one step's tape, [count, ...]), so the outer tape stacks them once per
   * outer step, and what its backward reads from the outer body is added to
   * the outer `saved`. Its accumulator for a value the outer loop also
   * accumulates starts from the outer one's running sum and becomes it.
   */
  private loop(n: Node, outCts: (Node | null)[], cts: Map<number, Node>, outer?: Enclosing): void {
    const body = n.body as LoopBody;
    const b = this.b;
    b.span = n.span;
    // Values defined in this body, nested bodies included.
    const bodyIds = new Set<number>();
    const define = (bd: LoopBody): void => {
      for (const x of [bd.index, ...bd.carried, ...bd.nodes]) bodyIds.add(x.id);
      for (const x of bd.nodes) if (x.body) define(x.body);
    };
    define(body);

    // Outer values read by the body (nested bodies included) that need gradients.
    const captured: Node[] = [];
    const seen = new Set<number>();
    const capture = (nodes: readonly Node[]): void => {
      for (const x of nodes) {
        for (const i of x.inputs) {
          if (!bodyIds.has(i.id) && this.requires.has(i.id) && i.dtype === "float" && !seen.has(i.id)) {
            seen.add(i.id);
            captured.push(i);
          }
        }
        if (x.body) capture(x.body.nodes);
      }
    };
    capture(body.nodes);

    const zerosLike = (x: Node): Node => b.op("full", [], { shape: x.shape, value: 0 });
    const init = [
      ...body.carried.map((c, k) => {
        const ct = outCts[k];
        if (!ct) return zerosLike(c);
        return ct.op === "const" ? b.op("broadcast_to", [ct], { shape: c.shape }) : ct;
      }),
      ...captured.map((x) => outer?.acc.get(x.id) ?? zerosLike(x)),
    ];
    const chained = captured.map((x) => outer?.acc.has(x.id) === true);

    b.pushScope();
    const index = b.source("loop_index", { start: n.attrs.start ?? 0 }, [], "int");
    index.name = body.index.name;
    const carried = init.map((x, k) => {
      const c = b.source("carry", { k }, x.shape, x.dtype);
      c.name = `d${this.role(k < body.carried.length ? body.carried[k] : captured[k - body.carried.length])}`;
      return c;
    });

    // Cotangents of the body's results start as the carried cotangents.
    // The rules run in a scratch scope, reading forward body values directly.
    const local = new Map<number, Node>();
    body.results.forEach((r, k) => {
      const prev = local.get(r.id);
      local.set(r.id, prev ? b.op("add", [prev, carried[k]]) : carried[k]);
    });
    const saved = new Set<Node>();
    const acc = new Map(captured.map((x, j) => [x.id, carried[body.carried.length + j]]));
    this.sweep(body.nodes, local, saved, { body, saved, acc });
    const nextCarried = body.carried.map((c) => local.get(c.id) ?? zerosLike(c));
    const nextAcc = captured.map((x) => {
      const sum = acc.get(x.id) as Node;
      const c = local.get(x.id);
      return c ? b.op("add", [sum, c]) : sum;
    });
    const scratch = b.popScope();
    const nextValues = [...nextCarried, ...nextAcc];

    // Forward body values the backward body reads, in body order: the values
    // the rules declare in `saves`. Constants are rebuilt, the index is the
    // backward loop's own, everything else is taped.
    const fwdReads = [body.index, ...body.carried, ...body.nodes].filter((v) => saved.has(v));
    // xs[t] of an outer xs is re-read rather than taped.
    const reread = (v: Node): boolean => v.op === "index" && !bodyIds.has(v.inputs[0].id) && v.inputs[1].id === body.index.id;
    // An int scalar of the step index and constants (`t + 1`, a start of xs[t+1:t+3]) is recomputed, not taped.
    const ofIndex = (v: Node): boolean =>
      v.dtype === "int" &&
      v.shape.length === 0 &&
      v.op !== "carry" &&
      v.inputs.every((i) => i.id === body.index.id || !bodyIds.has(i.id) || i.inputs.length === 0 || ofIndex(i));
    const taped = fwdReads.filter(
      (v) => v.id !== body.index.id && !reread(v) && !ofIndex(v) && v.inputs.length + (v.op === "carry" ? 1 : 0) > 0,
    );
    const tapeReaders = taped.map((v) => {
      body.tape.push(v);
      b.span = v.span;
      const t = outer ? this.outerTapeReader(n, body.tape.length - 1, outer.body) : b.op("loop_tape", [n], { k: body.tape.length - 1 });
      t.name = `${this.role(v)}_tape`;
      return t;
    });
    if (outer) {
      // The outer body's values this backward reads: its tape readers, and what the rules and re-reads read there.
      for (const t of tapeReaders) outer.saved.add(t);
      for (const v of saved) if (!bodyIds.has(v.id)) outer.saved.add(v);
      for (const v of fwdReads) if (reread(v)) outer.saved.add(v.inputs[0]);
    }

    b.pushScope();
    const remap = new Map<number, Node>([[body.index.id, index]]);
    taped.forEach((v, k) => {
      b.span = v.span;
      const row = b.op("index", [tapeReaders[k], index]);
      row.name = this.role(v);
      remap.set(v.id, row);
    });
    const recompute = (v: Node): Node => {
      const hit = remap.get(v.id);
      if (hit) return hit;
      if (!bodyIds.has(v.id)) return v;
      const inputs = v.inputs.map(recompute);
      b.span = v.span;
      const c = b.op(v.op, inputs, v.attrs);
      remap.set(v.id, c);
      return c;
    };
    for (const v of fwdReads) if (v.id !== body.index.id && ofIndex(v)) recompute(v);
    for (const v of fwdReads) {
      if (remap.has(v.id)) continue;
      b.span = v.span;
      remap.set(v.id, b.op(v.op, reread(v) ? [v.inputs[0], index] : [], v.attrs));
    }
    rebuildInto(b, scratch, remap);
    const results = nextValues.map((r) => remap.get(r.id) ?? r);
    const bodyNodes = b.popScope();

    b.span = n.span;
    const bwd = b.loop(n.attrs.count as number | string, init, { index, carried, nodes: bodyNodes, results, tape: [] }, {
      start: n.attrs.start ?? 0,
      reverse: true,
    });
    // The loop's outputs: cotangents of the initial carried values and of the captured values.
    n.inputs.forEach((x, k) => {
      if (!this.requires.has(x.id) || x.dtype !== "float") return;
      const out = b.op("loop_out", [bwd], { k });
      this.accumulate(cts, x, out);
    });
    captured.forEach((x, j) => {
      const out = b.op("loop_out", [bwd], { k: body.carried.length + j });
      if (chained[j]) {
        // The enclosing loop's running sum, this loop's gradient added.
        if (!out.name) out.name = `d${this.role(x)}`;
        (outer as Enclosing).acc.set(x.id, out);
      } else this.accumulate(cts, x, out);
    });
  }

  /**
   * A reader of tape entry k of a loop nested in `outer`'s body: a forward
   * value of that body, placed right after the loop, so the outer loop tapes
   * it (one row per outer step).
   */
  private outerTapeReader(n: Node, k: number, outer: LoopBody): Node {
    const b = this.b;
    b.phase = "fwd";
    b.pushScope();
    const t = b.op("loop_tape", [n], { k });
    b.popScope();
    b.phase = "bwd";
    const nodes = outer.nodes as Node[];
    let at = nodes.indexOf(n) + 1;
    while (at < nodes.length && nodes[at].op === "loop_tape" && nodes[at].inputs[0] === n) at++;
    nodes.splice(at, 0, t);
    return t;
  }
}

/**
 * Re-creates `nodes` in the builder's current scope with inputs substituted
 * through `remap`, which it extends with each rebuilt node.
 */
function rebuildInto(b: Builder, nodes: readonly Node[], remap: Map<number, Node>): void {
  const get = (i: Node): Node => remap.get(i.id) ?? i;
  for (const n of nodes) {
    b.span = n.span;
    let copy: Node;
    if (n.body) {
      // A nested backward loop: its body is rebuilt too (it reads the tape rows remapped here).
      const body = n.body;
      const { index, carried } = openLoopBody(b, body, remap);
      rebuildInto(b, body.nodes, remap);
      const inner = { index, carried, nodes: b.popScope(), results: body.results.map(get), tape: body.tape.map(get) };
      b.span = n.span;
      copy = b.loop(n.attrs.count as number | string, n.inputs.map(get), inner, n.attrs);
    } else copy = b.op(n.op, n.inputs.map(get), n.attrs);
    if (n.name) copy.name = n.name;
    remap.set(n.id, copy);
  }
}
