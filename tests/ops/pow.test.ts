// pow's gradient at a zero base (found auditing LANGUAGE.md sections 2-5), and
// the simplification that keeps the usual constant-exponent case plain.
import { describe, expect, it } from "vitest";
import { compileStages } from "../../src/passes/pipeline.js";
import { compileSource } from "../helpers/compile.js";

// LANGUAGE.md section 5 lists `^` among the elementwise built-ins whose
// forward values and gradients are part of the contract, and the file's
// preamble says: "Where it is silent, build what a user of JAX, PyTorch or
// TensorFlow.js would expect." JAX (`_pow_jvp_rhs` uses log(_replace_zero(x)),
// `_pow_jvp_lhs` selects 0 where y == 0) and PyTorch (`pow_backward_exponent`
// / `pow_backward_self` mask those cases to 0) both give a finite gradient of
// x^y at x = 0:
//   d(x^y)/dy = x^y * log(x) = 0   at x = 0, y > 0
//   d(x^y)/dx = y * x^(y-1)  = 0   at y = 0
// bpc returned NaN in both cases: 0 * log(0) = 0 * -inf and 0 * 0^-1 = 0 * inf.
// A realistic trigger is a learned exponent on a ReLU output (`relu(h) ^ p`):
// every unit that is off makes the exponent's gradient NaN, and the NaN then
// spreads to every parameter upstream.
// The `pow` entry in src/ir/ops.ts now does as JAX does: log(where(x == 0, 1, x))
// in the exponent's rule and where(y == 0, 0, y * x^(y-1)) in the base's.
describe("pow: gradient at a zero base (LANGUAGE.md section 5, JAX/PyTorch convention)", () => {
  it("d(x^p)/dp is 0, not NaN, where x = 0 (p > 0)", async () => {
    const { mod } = await compileSource(
      "input x: [3]\nparam p: [] ~ const(2)\nloss = sum(relu(x) ^ p)\nminimize loss\n",
      { precision: "f64" },
    );
    const x = Float64Array.from([-1, 0.5, 2]);
    const { loss, grads } = mod.backward({ p: Float64Array.from([2]) }, { x });
    expect(loss).toBeCloseTo(0.25 + 4, 12);
    // relu(-1) = 0 contributes 0^2 * log(0) -> 0; the others x^2 * log(x).
    const want = 0.25 * Math.log(0.5) + 4 * Math.log(2);
    expect(grads.p[0]).toBeCloseTo(want, 10); // observed: NaN
  });

  it("d(x^y)/dx is 0, not NaN, where y = 0 and x = 0", async () => {
    const { mod } = await compileSource("param a: [3]\nparam b: [3]\nloss = sum(a ^ b)\nminimize loss\n", {
      precision: "f64",
    });
    const { grads } = mod.backward({ a: Float64Array.from([0, 1, 2]), b: Float64Array.from([0, 0, 3]) }, {});
    // d/da: b * a^(b-1) = [0 (JAX/PyTorch convention at b = 0), 0, 12]
    expect(grads.a[0]).toBeCloseTo(0, 12); // observed: NaN
    expect(grads.a[1]).toBeCloseTo(0, 12);
    expect(grads.a[2]).toBeCloseTo(12, 12);
    // d/db: a^b * log(a) = [0 (a = 0), 0, 8 log 2]
    expect(grads.b[0]).toBeCloseTo(0, 12); // observed: NaN
    expect(grads.b[2]).toBeCloseTo(8 * Math.log(2), 12);
  });
});

describe("pow's gradient stays plain for a constant exponent", () => {
  const opsOf = (source: string): string[] =>
    compileStages(source, "t.bp", { inputGrads: [] }).opt.nodes.filter((n) => n.phase === "bwd").map((n) => n.op);

  it("x ^ 3 differentiates to 3 * x^2 with no where or eq", () => {
    const ops = opsOf("input x: [4]\nparam w: [4]\nloss = sum((x * w) ^ 3)\nminimize loss\n");
    expect(ops).not.toContain("where");
    expect(ops).not.toContain("eq");
  });

  it("a where with a constant condition is folded to its branch", () => {
    const ops = opsOf("input x: [4]\nparam w: [4]\nloss = sum(where(1 > 0, x * w, 0))\nminimize loss\n");
    expect(ops).not.toContain("where");
  });
});
