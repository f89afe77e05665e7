// Every example at every stage, snapshot-tested: the forward IR (`ir`), the
// raw backward from autodiff (`grad`), the simplified graph (`opt`) and the
// generated module (`ts`, and the JavaScript and declarations that
// `--emit js` writes: `js`, `d.ts`), in tests/snapshots/examples/NAME.STAGE.snap. A
// change to any pass or to codegen shows up as a readable diff. IR ids are
// renumbered in order of appearance, and the module names values by role, so
// a pass that shifts ids changes no snapshot.
// After an intended change, update with `npx vitest run tests/codegen/snapshots.test.ts -u`
// and read the diff.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { emitModule } from "../../src/codegen/emit.js";
import { printGraph } from "../../src/ir/print.js";
import type { Graph, Node } from "../../src/ir/types.js";
import { toJsModule } from "../../src/js-module.js";
import { compileStages } from "../../src/passes/pipeline.js";

const examples = readdirSync("examples")
  .filter((f) => f.endsWith(".bp"))
  .map((f) => f.replace(/\.bp$/, ""))
  .sort();

/** The IR printer's text with ids renumbered in order of first appearance. */
function printStable(g: Graph): string {
  const ids = new Map<string, number>();
  return printGraph(g).replace(/%(\d+)/g, (_, id: string) => {
    if (!ids.has(id)) ids.set(id, ids.size);
    return `%${ids.get(id)}`;
  });
}

/** A copy of a graph with every id moved by `by` (as if a pass had made more nodes before). */
function shiftIds(g: Graph, by: number): Graph {
  const copies = new Map<Node, Node>();
  const copy = (n: Node): Node => {
    let c = copies.get(n);
    if (c) return c;
    c = { ...n, id: n.id + by, inputs: [] };
    copies.set(n, c);
    const inputs = n.inputs.map(copy);
    const body = n.body && {
      index: copy(n.body.index),
      carried: n.body.carried.map(copy),
      nodes: n.body.nodes.map(copy),
      results: n.body.results.map(copy),
      tape: n.body.tape.map(copy),
    };
    Object.assign(c, { inputs, ...(body ? { body } : {}) });
    return c;
  };
  return {
    ...g,
    inputs: g.inputs.map(copy),
    params: g.params.map(copy),
    nodes: g.nodes.map(copy),
    outputs: g.outputs.map((o) => ({ name: o.name, node: copy(o.node) })),
    loss: copy(g.loss),
    grads: g.grads.map((x) => ({ ...x, of: copy(x.of), node: copy(x.node) })),
  };
}

describe("every example at every stage", () => {
  it.each(examples)("%s", async (name) => {
    const file = `examples/${name}.bp`;
    const st = compileStages(readFileSync(join("examples", `${name}.bp`), "utf8"), file);
    const at = (stage: string): string => `../snapshots/examples/${name}.${stage}.snap`;
    await expect(printStable(st.ir)).toMatchFileSnapshot(at("ir"));
    await expect(printStable(st.grad)).toMatchFileSnapshot(at("grad"));
    await expect(printStable(st.opt)).toMatchFileSnapshot(at("opt"));
    const ts = await emitModule(st.opt, { precision: "f32", inputGrads: [] });
    await expect(ts).toMatchFileSnapshot(at("ts"));
    const js = await toJsModule(ts);
    await expect(js.code).toMatchFileSnapshot(at("js"));
    await expect(js.dts).toMatchFileSnapshot(at("d.ts"));
  });
});

describe("the generated module does not depend on IR ids", () => {
  it.each(["mlp", "rnn", "lstm", "batchnorm", "dqn"])("%s", async (name) => {
    const st = compileStages(readFileSync(join("examples", `${name}.bp`), "utf8"), `examples/${name}.bp`);
    const text = await emitModule(st.opt, { precision: "f32", inputGrads: [] });
    expect(await emitModule(shiftIds(st.opt, 1000), { precision: "f32", inputGrads: [] })).toBe(text);
    // No name made of an op and an id (mul25, matmul6); relu32 is a runtime helper.
    const idNames = text.match(/\b(?:add|sub|mul|div|matmul|exp|log|tanh|sigmoid|relu|gt|softmax|one_hot|cross_entropy|sum|mean|square|neg)\d+\b/g) ?? [];
    expect(idNames.filter((x) => x !== "relu32")).toEqual([]);
  });
});
