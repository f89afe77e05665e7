// monitor (spec section 12): each rule fires at the step its condition begins, with its numbers; the
// optimizers report their update norms; the report is one self-contained page.
import { describe, expect, it } from "vitest";
import { adam, monitor, sgd, type Probes } from "../../src/train/index.js";

function probes(over: Partial<Probes> = {}): Probes {
  return {
    loss: 1,
    sites: [{ name: "h", line: 12, op: "relu", dead: 0.1, mean: 0.2, std: 1 }],
    params: { W: { norm: 10, gradNorm: 1 } },
    loops: [],
    nonFinite: null,
    ...over,
  };
}

describe("monitor", () => {
  it("dead-relu begins at the step the dead fraction reaches the threshold (70 % by default)", () => {
    const m = monitor({ file: "mlp.bp" });
    expect(m.record(0, probes())).toEqual([]);
    expect(m.record(1, probes({ sites: [{ name: "h", line: 12, op: "relu", dead: 0.69, mean: 0, std: 1 }] }))).toEqual([]);
    const [f] = m.record(2, probes({ sites: [{ name: "h", line: 12, op: "relu", dead: 0.74, mean: -3, std: 1 }] }));
    expect(f).toMatchObject({ rule: "dead-relu", severity: "warning", file: "mlp.bp", line: 12, step: 2 });
    expect(f.message).toContain("74 %");
    expect(f.fix).toMatch(/learning rate/);
    // Reported once, not every step.
    expect(m.record(3, probes({ sites: [{ name: "h", line: 12, op: "relu", dead: 0.9, mean: -3, std: 1 }] }))).toEqual([]);
    expect(m.findings).toHaveLength(1);
    // A threshold is an option.
    const strict = monitor({ dead: 0.5 });
    expect(strict.record(0, probes({ sites: [{ name: "h", line: 12, op: "relu", dead: 0.6, mean: 0, std: 1 }] }))).toHaveLength(1);
  });

  it("saturation at 50 % by default", () => {
    const m = monitor();
    const site = (s: number) => ({ sites: [{ name: "s", line: 4, op: "sigmoid", saturated: s, mean: 0, std: 9 }] });
    expect(m.record(0, probes(site(0.49)))).toEqual([]);
    expect(m.record(1, probes(site(0.5)))[0]).toMatchObject({ rule: "saturation", line: 4, step: 1 });
  });

  it("exploding and vanishing gradients over a loop's steps", () => {
    const m = monitor();
    const loop = (g: number[]) => ({ loops: [{ name: "h", line: 9, gradNorms: Float64Array.from(g) }] });
    expect(m.record(0, probes(loop([10, 1, 0.1])))).toEqual([]);
    const [e] = m.record(1, probes(loop([1e4, 1e2, 1])));
    expect(e).toMatchObject({ rule: "exploding-gradient", line: 9, step: 1 });
    expect(e.message).toContain("1.0e+4 times");
    const v = monitor().record(5, probes(loop([1e-4, 1e-2, 1])));
    expect(v[0]).toMatchObject({ rule: "vanishing-gradient", step: 5 });
    // No gradient at the end, or NaN: no growth to speak of.
    expect(monitor().record(0, probes(loop([0, 0, 0])))).toEqual([]);
    expect(monitor().record(0, probes(loop([NaN, 1, 1])))).toEqual([]);
  });

  it("update-ratio outside [1e-4, 1e-2] for `patience` steps, from the step it began", () => {
    const m = monitor({ patience: 3 });
    expect(m.record(0, probes(), { W: 0.01 })).toEqual([]); // 1e-3: fine
    expect(m.record(1, probes(), { W: 1 })).toEqual([]); // 0.1: out, 1 step
    expect(m.record(2, probes(), { W: 1 })).toEqual([]);
    const [f] = m.record(3, probes(), { W: 1 });
    expect(f).toMatchObject({ rule: "update-ratio", params: ["W"], step: 1 });
    expect(f.fix).toMatch(/lower the learning rate/);
    const low = monitor({ patience: 1 }).record(0, probes(), { W: 1e-6 });
    expect(low[0].fix).toMatch(/raise the learning rate/);
  });

  it("non-finite is an error naming the value and line", () => {
    const [f] = monitor().record(7, probes({ nonFinite: { name: "logits", line: 20 }, loss: NaN }));
    expect(f).toMatchObject({ rule: "non-finite", severity: "error", line: 20, step: 7 });
  });

  it("refuses thresholds that make no sense", () => {
    expect(() => monitor({ dead: 70 })).toThrow(/dead must be a fraction/);
    expect(() => monitor({ updateRatio: [1e-2, 1e-4] })).toThrow(/updateRatio/);
  });

  it("writes one page: findings, line charts and a heat map, nothing fetched", () => {
    const m = monitor();
    for (let s = 0; s < 4; s++) m.record(s, probes({ loops: [{ name: "h", line: 9, gradNorms: Float64Array.of(10 ** s, 1, 0.5) }] }));
    const html = m.html("test <run>");
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain("test &lt;run&gt;");
    expect(html.match(/<svg/g)?.length).toBe(4); // loss, dead/saturated, gradient norms, one loop's heat map
    expect(html).toContain("per time step");
    expect(html).not.toMatch(/<script|src=|href=|@import|url\(/);
  });
});

describe("optimizers report their update norms", () => {
  it("sgd: |lr * g|", () => {
    const opt = sgd({ lr: 0.5 });
    const p = { W: Float64Array.of(1, 2) };
    opt.step(p, { W: Float64Array.of(3, 4) });
    expect(opt.updateNorms.W).toBeCloseTo(2.5, 12);
    expect(Array.from(p.W)).toEqual([-0.5, 0]);
  });
  it("adam: the first step moves each element by about lr", () => {
    const opt = adam({ lr: 0.1 });
    const p = { W: Float64Array.of(1, 2, 3, 4) };
    const before = Float64Array.from(p.W);
    opt.step(p, { W: Float64Array.of(3, -4, 1, 2) });
    const moved = Math.sqrt(p.W.reduce((s, v, i) => s + (v - before[i]) ** 2, 0));
    expect(opt.updateNorms.W).toBeCloseTo(moved, 9);
    expect(opt.updateNorms.W).toBeCloseTo(0.2, 6);
  });
});
