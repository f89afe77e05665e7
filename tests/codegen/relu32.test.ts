// relu in float32 modules is the branch-free helper relu32 (src/codegen/runtime.ts);
// it must store exactly what the op table's formula `x > 0 ? x : 0` stores
// into a Float32Array, for every double, including -0, ±Infinity and NaN.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { helperSource } from "../../src/codegen/runtime.js";
import { moduleToJs as transpile } from "../../src/codegen/to-js.js";
import { compileSource } from "../helpers/compile.js";

async function loadRelu32(): Promise<(x: number) => number> {
  const js = transpile(`${helperSource("relu32", "Float32Array")}\nexport { relu32 };\n`);
  const mod = (await import(/* @vite-ignore */ `data:text/javascript;base64,${Buffer.from(js).toString("base64")}`)) as {
    relu32: (x: number) => number;
  };
  return mod.relu32;
}

/** What the ternary stores into a Float32Array. */
const stored = (x: number): number => Math.fround(x > 0 ? x : 0);

describe("relu32", () => {
  it("agrees with the ternary on special values", async () => {
    const relu32 = await loadRelu32();
    const specials = [
      0, -0, 1, -1, 0.5, -0.5, Infinity, -Infinity, NaN, -NaN, Infinity - Infinity, 0 * Infinity,
      Number.MIN_VALUE, -Number.MIN_VALUE, 1e-45, 1.4e-45, 0.7e-45, -1e-45, 1.17549435e-38, -1.17549435e-38,
      3.4028234663852886e38, 3.5e38, -3.5e38, Number.MAX_VALUE, -Number.MAX_VALUE,
    ];
    for (const x of specials) expect(Object.is(relu32(x), stored(x)), `relu32(${x})`).toBe(true);
  });

  it("agrees with the ternary on every double and every float32 (property)", async () => {
    const relu32 = await loadRelu32();
    fc.assert(fc.property(fc.double(), (x) => Object.is(relu32(x), stored(x))), { numRuns: 20000 });
    fc.assert(fc.property(fc.float(), (x) => Object.is(relu32(x), stored(x))), { numRuns: 20000 });
  });

  it("agrees on NaNs of every bit pattern", async () => {
    const relu32 = await loadRelu32();
    const f = new Float32Array(1);
    const bits = new Uint32Array(f.buffer);
    for (const b of [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff]) {
      bits[0] = b;
      expect(Object.is(relu32(f[0]), 0), `bits ${b.toString(16)}`).toBe(true);
    }
  });

  it("is used by float32 modules, not float64 ones, and a source name relu32 cannot shadow it", async () => {
    const src = "model m\ndim B\ninput x: [B, 3]\nparam relu32: [3, 4]\nh = relu(x @ relu32)\nloss = mean(square(h))\nminimize loss\n";
    const f32 = await compileSource(src, { precision: "f32" });
    const f64 = await compileSource(src, { precision: "f64" });
    expect(f32.ts).toMatch(/= relu32\(/);
    expect(f64.ts).not.toMatch(/function relu32/);
    const params = f64.mod.init(3);
    const x = Float64Array.from({ length: 12 }, (_, i) => (i % 5) - 2.5);
    const want = f64.mod.backward(params, { x });
    const p32 = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float32Array.from(v)]));
    const got = f32.mod.backward(p32, { x: Float32Array.from(x) });
    expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want.loss)));
    for (const k of Object.keys(want.grads)) {
      Array.from(want.grads[k]).forEach((v, i) => expect(Math.abs(got.grads[k][i] - v)).toBeLessThan(1e-4));
    }
  });
});
