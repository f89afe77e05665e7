// he and xavier of a conv kernel [Cout, Cin/groups, k...] use PyTorch's fans
// (torch.nn.init._calculate_fan_in_and_fan_out): fan_in = Cin/groups *
// prod(k), fan_out = Cout * prod(k). The sampled std of the compiled init
// against PyTorch's formula, and a matrix keeps its rows as fan-in.
import { describe, expect, it } from "vitest";
import { compileSource } from "../helpers/compile.js";

function std(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m += a[i];
  m /= a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - m) ** 2;
  return Math.sqrt(v / a.length);
}

describe("conv kernels take PyTorch's fans", () => {
  const src = `dim B
input x: [B, 8, 9, 9] in [0, 1]
param K: [64, 4, 5, 3] ~ he
param Kx: [48, 8, 3, 3] ~ xavier
param Kt: [48, 16, 4, 4] ~ he
param W: [300, 50] ~ he
r = conv2d(x, K, groups=2)
s = conv2d(x, Kx)
t = conv_transpose2d(s, Kt)
minimize sum(r) + sum(t) + sum(W)
`;
  it("he: std = sqrt(2 / (Cin/groups * kh * kw)); xavier: sqrt(2 / (fan_in + fan_out)); a matrix: sqrt(2 / rows)", async () => {
    const { mod } = await compileSource(src, { precision: "f64" });
    const p = mod.init(3);
    // K: Cin/groups = 4, receptive 15: fan_in 60.
    expect(std(p.K)).toBeCloseTo(Math.sqrt(2 / 60), 2);
    // Kx: fan_in 8 * 9 = 72, fan_out 48 * 9 = 432; uniform bound sqrt(6 / 504), std bound / sqrt(3).
    expect(std(p.Kx)).toBeCloseTo(Math.sqrt(6 / 504) / Math.sqrt(3), 2);
    // conv_transpose2d's kernel [Cin, Cout, k, k]: PyTorch's fan_in is size(1) * prod(k) = 16 * 16.
    expect(std(p.Kt)).toBeCloseTo(Math.sqrt(2 / 256), 2);
    expect(std(p.W)).toBeCloseTo(Math.sqrt(2 / 300), 2);
  });
});
