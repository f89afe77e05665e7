// Initializers take their fans from how a param is used (LANGUAGE.md section
// 9, "Initializers"): a matrix read by `x @ W` has fan-in = rows and fan-out
// = columns; a stack W: [L, D, H] read as W[l] uses its last two axes;
// orthogonal on 3+ axes is orthogonal over the trailing axes flattened, and
// on a stack read as W[l] each W[l] is orthogonal. Checked on the compiled
// module's init (what a user gets) and on the linter's sampler, which must
// draw the same numbers.
import { describe, expect, it } from "vitest";
import { fanShape } from "../../src/ir/init.js";
import { sampleParam } from "../../src/lint/sample.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { compileSource } from "../helpers/compile.js";

const std = (a: ArrayLike<number>): number => {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < a.length; i++) {
    s += a[i];
    s2 += a[i] * a[i];
  }
  const m = s / a.length;
  return Math.sqrt(s2 / a.length - m * m);
};

/** max |Q Qᵀ - I| (rows orthonormal) or |Qᵀ Q - I| (columns), whichever the shape allows. */
function orthoError(a: ArrayLike<number>, offset: number, rows: number, cols: number): number {
  const at = (r: number, c: number): number => a[offset + r * cols + c];
  let worst = 0;
  const [n, byRow] = rows <= cols ? [rows, true] : [cols, false];
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let dot = 0;
      const len = byRow ? cols : rows;
      for (let k = 0; k < len; k++) dot += byRow ? at(i, k) * at(j, k) : at(k, i) * at(k, j);
      worst = Math.max(worst, Math.abs(dot - (i === j ? 1 : 0)));
    }
  return worst;
}

const STACKED = `
dim B
dim L = 6
dim D = 40
dim H = 160
input x: [B, D]
param Wh: [L, D, H] ~ he
param Wx: [L, D, H] ~ xavier
param Wo: [L, H, H] ~ orthogonal
param Wf: [4, 8, 5] ~ orthogonal
param W2: [D, H] ~ he
param P: [3, D, H] ~ he
s = 0
for l in 0..L {
  s = s + sum(relu(x @ Wh[l] + x @ Wx[l]) @ Wo[l])
}
minimize s + sum(x @ W2) + sum(Wf) + sum(P)
`;

describe("he and xavier on a stack of matrices read as W[l]: the fans of one matrix", () => {
  it("the IR marks the params read as W[l], and only those", () => {
    const g = frontEnd(STACKED, "t.bp").ir;
    const fans = Object.fromEntries(g.params.map((p) => [p.name, p.attrs.fans]));
    expect(fans).toEqual({ Wh: "stack", Wx: "stack", Wo: "stack", Wf: undefined, W2: undefined, P: undefined });
  });

  it("the compiled init draws he with std sqrt(2 / D) and xavier within sqrt(6 / (D + H))", async () => {
    const { mod } = await compileSource(STACKED);
    const p = mod.init(3);
    const D = 40;
    const H = 160;
    // 6·40·160 = 38400 draws: the sample std is within 2% of the true one.
    expect(std(p.Wh) / Math.sqrt(2 / D)).toBeGreaterThan(0.98);
    expect(std(p.Wh) / Math.sqrt(2 / D)).toBeLessThan(1.02);
    const bound = Math.sqrt(6 / (D + H));
    expect(Math.max(...Array.from(p.Wx, Math.abs))).toBeLessThanOrEqual(bound * (1 + 1e-6));
    expect(Math.max(...Array.from(p.Wx, Math.abs))).toBeGreaterThan(bound * 0.99);
    // Not read as a stack: section 3's rule, fan-in = the first axis (3), as before.
    expect(std(p.P) / Math.sqrt(2 / 3)).toBeGreaterThan(0.97);
    // A matrix read by x @ W: fan-in = its rows.
    expect(std(p.W2) / Math.sqrt(2 / D)).toBeGreaterThan(0.95);
    expect(std(p.W2) / Math.sqrt(2 / D)).toBeLessThan(1.05);
  });

  it("the linter's sampler draws the same numbers as init", async () => {
    const { mod } = await compileSource(STACKED);
    const g = frontEnd(STACKED, "t.bp").ir;
    const p = mod.init(11);
    g.params.forEach((param, k) => {
      const t = sampleParam(param, param.shape as number[], 11, k);
      const got = p[param.name!];
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - t.data[i]));
      expect(worst, param.name!).toBeLessThan(1e-12);
    });
  });
});

describe("orthogonal on three or more axes", () => {
  it("a stack [L, H, H] read as W[l]: each W[l] is orthogonal", async () => {
    const { mod } = await compileSource(STACKED);
    const w = mod.init(5).Wo;
    for (let l = 0; l < 6; l++) expect(orthoError(w, l * 160 * 160, 160, 160)).toBeLessThan(1e-9);
    // Not one orthogonal [6, 160·160] matrix: its rows would have norm 1, each W[l]'s rows have norm 1.
    let row = 0;
    for (let c = 0; c < 160; c++) row += w[c] ** 2;
    expect(row).toBeCloseTo(1, 9);
  });

  it("not read as a stack: orthogonal over the trailing axes flattened, [4, 8·5] with orthonormal rows (PyTorch)", async () => {
    const { mod } = await compileSource(STACKED);
    const w = mod.init(5).Wf;
    expect(orthoError(w, 0, 4, 40)).toBeLessThan(1e-9);
    // Each [8, 5] slice alone is not orthogonal.
    expect(orthoError(w, 0, 8, 5)).toBeGreaterThan(0.1);
  });

  it("fanShape says which rule applies", () => {
    expect(fanShape("he", [6, 40, 160], { fans: "stack" })).toEqual([40, 160]);
    expect(fanShape("he", [6, 40, 160], {})).toEqual([6, 40, 160]);
    expect(fanShape("he", [8, 4, 3, 3], { fans: "conv" })).toEqual([36, 72]);
    expect(fanShape("orthogonal", [6, 16, 16], { fans: "stack" })).toEqual([6, 16, 16]);
    expect(fanShape("orthogonal", [4, 8, 5], {})).toEqual([4, 40]);
    expect(fanShape("orthogonal", [16, 16], {})).toEqual([16, 16]);
  });

  it("orthogonal still needs two axes", () => {
    expect(() => frontEnd("param v: [8] ~ orthogonal\nminimize sum(v)\n", "t.bp")).toThrow(/orthogonal needs a param of at least 2 axes; v is \[8\]/);
  });
});
