// checkFinite (src/codegen/runtime.ts) sums x * 0 in four independent sums:
// a NaN or an infinity anywhere, the tail after the last multiple of four
// included, still throws at its element; finite values (-0 too) pass.
import { describe, expect, it } from "vitest";
import { helperSource } from "../../src/codegen/runtime.js";
import { moduleToJs } from "../../src/codegen/to-js.js";

async function load(): Promise<(what: string, a: Float32Array) => void> {
  const js = moduleToJs(`${helperSource("checkFinite", "Float32Array")}\nexport { checkFinite };\n`);
  const mod = (await import(/* @vite-ignore */ `data:text/javascript;base64,${Buffer.from(js).toString("base64")}`)) as {
    checkFinite: (what: string, a: Float32Array) => void;
  };
  return mod.checkFinite;
}

describe("checkFinite", () => {
  it("throws at the first non-finite element at every position of lengths 1 to 13", async () => {
    const checkFinite = await load();
    for (let n = 1; n <= 13; n++) {
      const a = Float32Array.from({ length: n }, (_, i) => (i % 2 ? -0 : -i - 0.5));
      expect(() => checkFinite("a", a)).not.toThrow();
      for (let at = 0; at < n; at++) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const b = Float32Array.from(a);
          b[at] = bad;
          expect(() => checkFinite("params.b", b)).toThrow(`params.b: element ${at} is ${bad}; expected finite numbers`);
        }
      }
    }
  });
});
