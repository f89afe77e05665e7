// The initializers' entries (src/ir/init.ts) against the module they compile
// to: the linter's float64 sample of a param is exactly what the compiled
// `init(seed)` gives it, every sample lies in the entry's interval, and the
// sample's mean and variance match the entry's moments.
import { describe, expect, it } from "vitest";
import { INIT_NAMES, initializer } from "../../src/ir/init.js";
import { gauss, mulberry32, rng, RANDOM_SOURCE } from "../../src/ir/random.js";
import { sampleParam } from "../../src/lint/sample.js";
import { loadModule } from "../../src/codegen/runtime-load.js";
import { compileSource } from "../helpers/compile.js";

const DECL: Record<string, string> = {
  zeros: "zeros",
  ones: "ones",
  const: "const(0.3)",
  normal: "normal(0.1, 0.5)",
  uniform: "uniform(-0.2, 0.6)",
  xavier: "xavier",
  he: "he",
  orthogonal: "orthogonal",
};

describe("initializers: the compiled init and the linter's sample agree", () => {
  it("has a declaration for every initializer", () => expect(Object.keys(DECL).sort()).toEqual([...INIT_NAMES].sort()));

  it.each(INIT_NAMES)("%s", async (name) => {
    const shape = name === "orthogonal" ? [48, 32] : [64, 40];
    const src = `param W: [${shape.join(", ")}] ~ ${DECL[name]}\nparam V: [3, 5, 2] ~ ${name === "orthogonal" ? "zeros" : DECL[name]}\nminimize sum(W) + sum(V)\n`;
    const { mod, graph } = await compileSource(src, { precision: "f64" });
    for (const seed of [0, 5]) {
      const params = mod.init(seed);
      graph.params.forEach((p, k) => {
        const s = p.shape as number[];
        const mine = sampleParam(p, s, seed, k).data;
        expect(Array.from(params[p.name!]), `${p.name} seed ${seed}`).toEqual(Array.from(mine));
        const def = initializer(p.attrs.init as string);
        const iv = def.interval(s, (p.attrs.initArgs as number[]) ?? []);
        for (const v of mine) expect(v >= iv.lo && v <= iv.hi).toBe(true);
      });
    }
    const W = graph.params[0];
    const sample = sampleParam(W, shape, 1, 0).data;
    const mean = sample.reduce((a, b) => a + b, 0) / sample.length;
    const variance = sample.reduce((a, b) => a + (b - mean) ** 2, 0) / sample.length;
    const m = initializer(name).moments(shape, (W.attrs.initArgs as number[]) ?? []);
    const sd = Math.sqrt(m.var);
    expect(Math.abs(mean - m.mean)).toBeLessThanOrEqual(4 * sd / Math.sqrt(sample.length) + 1e-12);
    expect(Math.abs(Math.sqrt(variance) - sd)).toBeLessThanOrEqual(0.1 * sd + 1e-12);
  });

  it("xavier counts the receptive field in its fans, as the generated init does", async () => {
    const { mod } = await compileSource("param K: [8, 4, 3, 3] ~ xavier\nminimize sum(K)\n", { precision: "f64" });
    const bound = Math.sqrt(6 / (4 * 9 + 8 * 9));
    const k = mod.init(3).K;
    expect(Math.max(...Array.from(k, Math.abs))).toBeLessThanOrEqual(bound);
    expect(initializer("xavier").interval([8, 4, 3, 3], []).hi).toBeCloseTo(bound, 15);
  });
});

describe("one random source", () => {
  it("the generated module's rng and gauss give the shared functions' numbers", async () => {
    const js = `${RANDOM_SOURCE.rng}\n${RANDOM_SOURCE.gauss}\nexport { rng, gauss };\n`;
    const mod = (await loadModule(js)) as unknown as { rng(seed: number, stream: number): () => number; gauss(next: () => number): number };
    for (const [seed, stream] of [[0, 0], [7, 3], [-5, 1], [2 ** 31 + 9, 12]]) {
      const a = mod.rng(seed, stream);
      const b = rng(seed, stream);
      for (let i = 0; i < 50; i++) expect(a()).toBe(b());
      const c = mod.rng(seed, stream);
      const d = rng(seed, stream);
      for (let i = 0; i < 20; i++) expect(mod.gauss(c)).toBe(gauss(d));
    }
  });

  it("mulberry32 gives the sequence bpc/train's rng(seed) gave before it was shared (its shuffles depend on it)", () => {
    // bpc/train's generator as it was written, on an unsigned state.
    const before = (seed: number): (() => number) => {
      let state = seed >>> 0;
      return () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
    };
    for (const seed of [0, 1, 2026, 2 ** 32 - 1]) {
      const a = mulberry32(seed >>> 0);
      const b = before(seed);
      for (let i = 0; i < 100; i++) expect(a()).toBe(b());
    }
  });
});
