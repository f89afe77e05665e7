// format.ts formats a big declaration a template at a time; its output must be
// byte for byte what prettier prints for the whole declaration. Checked on
// every declaration of every example, the compile-time bench's MLPs and RNN,
// hand-written declarations with the constructs where prettier's layout of an
// element could depend on its neighbours, and random function bodies; both
// with the default thresholds and with reduction forced on every sequence.
// FMT_DEBUG=1 prints the path (whole, reduced, fallback) each one took.
import { readdirSync, readFileSync } from "node:fs";
import { format } from "prettier";
import { describe, expect, it } from "vitest";
import { mlpSource, rnnSource } from "../../bench/compile-time.js";
import { formatModule, moduleParts, type EmitOptions } from "../../src/codegen/emit.js";
import { DEFAULT_REDUCE, formatTraced, PRETTIER, type FormatPath, type ReduceOptions } from "../../src/codegen/format.js";
import { grad } from "../../src/passes/autodiff.js";
import { compileStages, frontEnd, simplify } from "../../src/passes/pipeline.js";

/** Every sequence of two elements or more reduced, whatever its size. */
const FORCED: ReduceOptions = { minText: 0, minItems: 2, minChars: 0, maxRatio: Infinity };

/** Formats `text` both ways with each option set; returns the paths taken. */
async function same(text: string, options: ReduceOptions[] = [DEFAULT_REDUCE, FORCED]): Promise<FormatPath[]> {
  const whole = await format(text, PRETTIER);
  const paths: FormatPath[] = [];
  for (const o of options) {
    const got = await formatTraced(text, o);
    expect(got.formatted).toBe(whole);
    paths.push(got.path);
    if (process.env.FMT_DEBUG) console.log(got.path, JSON.stringify(text.slice(0, 90)));
  }
  return paths;
}

const plainFormat = (d: string): Promise<string> => format(d, PRETTIER);

function partsOf(src: string, file: string, opts: EmitOptions) {
  const { ir } = frontEnd(src, file);
  return moduleParts(simplify(grad(ir, { inputGrads: [] })), opts);
}

describe("generated declarations", () => {
  const examples = readdirSync("examples").filter((f) => f.endsWith(".bp")).sort();
  it.each(examples)("%s: every declaration, f32 and f64", async (f) => {
    const src = readFileSync(`examples/${f}`, "utf8");
    const floatInputs = frontEnd(src, f).ir.inputs.filter((n) => n.dtype === "float").map((n) => n.name as string);
    for (const opts of [
      { precision: "f32", inputGrads: [] },
      { precision: "f64", inputGrads: floatInputs },
      { precision: "f32", inputGrads: [], kernels: "js" },
    ] as EmitOptions[]) {
      const st = compileStages(src, f, { inputGrads: opts.inputGrads });
      for (const d of moduleParts(st.opt, opts).declarations) await same(d);
    }
  });

  it("the bench's RNN", async () => {
    for (const d of partsOf(rnnSource(10), "rnn.bp", { precision: "f32", inputGrads: [] }).declarations) await same(d);
  });

  it("the bench's 10-layer MLP", async () => {
    for (const d of partsOf(mlpSource(10), "deep10.bp", { precision: "f32", inputGrads: [] }).declarations) await same(d);
  });

  it("the bench's 100-layer MLP: the whole module, and its big declarations are reduced", async () => {
    const parts = partsOf(mlpSource(100), "deep100.bp", { precision: "f32", inputGrads: [] });
    expect(await formatModule(parts)).toBe(await formatModule(parts, plainFormat));
    const paths = await Promise.all(parts.declarations.map(async (d) => [d.length, (await formatTraced(d)).path] as const));
    for (const [length, path] of paths) expect(path).toBe(length >= 10_000 ? "reduced" : path === "fallback" ? "not a fallback" : path);
  });
});

/** A function whose body is `n` statements made by `stmt(i)`. */
const fn = (n: number, stmt: (i: number) => string, head = "function f(a: Float32Array, B: number): void {"): string =>
  [head, ...Array.from({ length: n }, (_, i) => stmt(i)), "}"].join("\n");

describe("hand-written declarations", () => {
  it("a long body of repeated statements with comments and loops is reduced", async () => {
    const text = fn(300, (i) =>
      [
        `// grad of line ${i + 7}: h${i} = layer(h${i + 1}, W${i}, b${i})`,
        `for (let i = 0; i < B * ${32 + (i % 3)}; i++) {`,
        `const square${5000 + i} = h${i}[i] * h${i}[i];`,
        `mul${5000 + i}[i] = dh${i}[i] * (1 - square${5000 + i});`,
        `}`,
        `matmulNT_mx32x32(dh${i}, mul${5000 + i}, 0, W${i}, 0, B, "line ${i}: a string with ${i} in it", params.W${i});`,
      ].join("\n"),
    );
    expect(await same(text)).toEqual(["reduced", "reduced"]);
  });

  it("big lists of every kind", async () => {
    const n = 200;
    const names = Array.from({ length: n }, (_, i) => `h${i}`);
    await same(`function f(fw: W) {\nconst { ${names.join(", ")} } = fw;\nreturn ${names.join(" + ")};\n}`);
    await same(`const a = [${names.map((x) => `"${x}"`).join(",")}];`);
    await same(`const a = { ${names.map((x, i) => `${x}: new Float32Array(B * ${i % 7 ? 32 : 320})`).join(", ")} };`);
    await same(`export type P = { ${names.map((x) => `${x}: Float32Array`).join("; ")} };`);
    await same(`export type P = { ${names.map((x) => `${x}: Float32Array`).join(", ")} };`);
    await same(`interface P {\n${names.map((x) => `${x}: Float32Array;`).join("\n")}\n}`);
    await same(`checkKeys("params", params, [${names.map((x) => `"${x}"`).join(",")}]);`);
    await same(`const o = {\n${names.map((x, i) => `// param ${x}: [D, D] ~ xavier\n${x}: fillUniform(new Float32Array(1024), rng(seed, ${i}), -Math.sqrt(6 / 64), Math.sqrt(6 / 64)),`).join("\n")}\n};`);
    await same(`const { ${names.join(", ")}, ...rest } = fw;`);
    await same(`function g({ ${names.join(", ")} }: P) {}`);
    await same(`const m = { params: { ${names.map((x) => `${x}: { shape: [32, 32] }`).join(", ")} }, grads: ${JSON.stringify(names)} };`);
  });

  it("lists where an element's layout depends on the others", async () => {
    const n = 120;
    const seq = Array.from({ length: n }, (_, i) => i);
    await same(`const a = [${seq.map((i) => i * 37).join(", ")}];`); // numbers: fill
    await same(`const a = [${seq.map((i) => `-${i}.5`).join(", ")}];`);
    await same(`const a = [${seq.map((i) => `{ a${i}: 1, b: ${i} }`).join(", ")}];`); // objects: forced break
    await same(`const a = [${seq.map((i) => `[${i}, ${i + 1}]`).join(", ")}];`);
    await same(`const a = [${seq.map((i) => `[${i}]`).join(", ")}];`);
    await same(`const o = { ${seq.map((i) => `"k${i}": ${i}`).join(", ")} };`); // quotes that can go
    await same(`const o = { ${seq.map((i) => (i === 7 ? `"k-${i}": ${i}` : `k${i}: ${i}`)).join(", ")} };`); // and one that cannot
    await same(`const o = { ${seq.map((i) => `"0${i}": ${i}, ${i + 1}: 2`).join(", ")} };`);
    await same(`const o = {\n${seq.map((i) => `k${i}: ${i}, // c${i}`).join("\n")}\n};`); // trailing comments
    await same(`const o = {\n${seq.map((i) => `k${i}: ${i},${i % 10 ? "" : "\n"}`).join("\n")}\n};`); // blank lines
    await same(`const o = { // first\n${seq.map((i) => `k${i}: ${i}`).join(",\n")}\n// last\n};`);
    await same(`const o = {\n${seq.map((i) => `/* c${i} */ k${i}: ${i}`).join(",\n")}\n};`);
  });

  it("statements whose layout depends on their neighbours", async () => {
    const n = 60;
    await same(fn(n, (i) => (i % 7 ? `a${i}();` : `a${i}();\n`))); // blank lines
    await same(fn(n, (i) => `a${i}(); // c${i}`)); // trailing comments
    await same(fn(n, (i) => `a${i}();`) .replace(/}$/, "// the end\n}")); // a comment closing the block
    await same(fn(n, (i) => `"use strict${i}";`)); // directives
    await same(fn(n, (i) => (i === 0 ? `"use strict";` : `a${i}();`)));
    await same(fn(n, (i) => `if (a${i}) {\nb${i}();\n}\nelse {\nc${i}();\n}`));
    await same(fn(n, (i) => `if (a${i}) b${i}();\nelse c${i}();`));
    await same(fn(n, (i) => `do {\nb${i}();\n}\nwhile (a${i});`));
    await same(fn(n, (i) => `try {\nb${i}();\n}\ncatch (e) {\nc${i}();\n}\nfinally {\nd${i}();\n}`));
    await same(fn(n, (i) => `switch (a${i}) {\ncase ${i}:\nb${i}();\nbreak;\ndefault:\nc${i}();\n}`));
    await same(`function f() {\nswitch (a) {\n${Array.from({ length: n }, (_, i) => `case ${i}:\nb${i}();\nbreak;`).join("\n")}\n}\n}`);
    await same(fn(n, (i) => `a${i}()\n(b${i})\n[c${i}].d()`)); // no semicolons
    await same(fn(n, (i) => `let a${i} = 1, b${i} = 2;\nx${i} = a${i}\n+ b${i};`));
    await same(fn(n, (i) => `outer${i}: for (const x of xs${i}) {\ncontinue outer${i};\n}`));
    await same(fn(n, (i) => `const f${i} = () => {\nreturn ${i};\n}\nconst g${i} = (x: number) => ({ x, y${i}: ${i} })`));
    await same(fn(n, (i) => `/**\n * Doc ${i}\n */\nconst d${i} = \`t\${a${i}}\n\${{ a: ${i} }.a} \${\`\${b${i}}\`}\`;`));
    await same(fn(n, (i) => `const s${i} = "\\x4${i % 10} \\u00${i % 90 + 10} ${"\\"}${i % 8}";`));
    await same(fn(n, (i) => `const e${i} = [1e+${i % 2 ? 0 : 5}, 1e-${i % 3}, 0x${i}f, ${i}n, 1_00${i}, .${i}, ${i}.0, 0.${i}50, 0${i % 8}];`));
    await same(fn(n, (i) => `x${i} = é${i} + ℓ${i % 3}_${i};`));
    await same(fn(n, (i) => `const r${i} = a${i} / b / 2;`));
    await same(fn(n, (i) => `const r${i} = /a{${i}}[(]/.test(s);`)); // a regex literal: formatted whole
    await same(fn(n, (i) => `class C${i} {\nx${i} = ${i};\nm${i}() {\nreturn this.x${i};\n}\n}`));
    await same(`class C {\n${Array.from({ length: n }, (_, i) => `x${i} = ${i};\nget g${i}() {\nreturn ${i};\n}`).join("\n")}\n}`);
    await same(fn(n, (i) => `const __bpcS${i}__ = ${i};`));
    await same(fn(n, (i) => `a${i}(${"x".repeat(1 + (i % 120))}, "${"y".repeat(i % 90)}");`));
  });

  it("nested big sequences", async () => {
    const names = Array.from({ length: 150 }, (_, i) => `h${i}`);
    const text = fn(200, (i) =>
      i % 50 === 0
        ? `const { ${names.join(", ")} } = fw${i};`
        : i % 50 === 1
          ? `if (a${i}) {\n${names.map((x) => `${x}[${i}] = ${x}[${i + 1}] * 2;`).join("\n")}\n}`
          : `a${i}(h${i}, ${i});`,
    );
    expect(await same(text)).toEqual(["reduced", "reduced"]);
  });

  it("random function bodies", async () => {
    let seed = 12345;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const pool = [
      (k: number) => `const t${k} = x${rnd(2000)}[i] * ${rnd(100)};`,
      (k: number) => `for (let i = 0; i < B * ${rnd(64) + 1}; i++) {\nacc${k}[i] += a${rnd(50)}[i] - b${rnd(5000)}[i];\n}`,
      (k: number) => `// line ${rnd(3000)}: h${k} = tanh(h${k - 1} @ W${k})`,
      (k: number) => `matmulNN_mx${rnd(99)}x${rnd(999)}(out${k}, a${rnd(9)}, ${rnd(3) * 32}, W${k}, 0, B${" + B".repeat(rnd(30))});`,
      (k: number) => `if (x${k} > ${rnd(10)}) {\nthrow new Error(\`bad \${x${k}} at ${k}\`);\n}`,
      (k: number) => `scratch.fill(0, 0, ${rnd(1000)});`,
      (k: number) => `const { a${k}, b${rnd(100)} } = { a${k}: ${rnd(9)}, b${rnd(100)}: "${"s".repeat(rnd(120))}" };`,
    ];
    for (let r = 0; r < 6; r++) {
      const lines: string[] = [];
      for (let k = 0; k < 400; k++) lines.push(pool[rnd(pool.length)](k));
      if (lines[lines.length - 1].startsWith("//")) lines.push("done();");
      await same(fn(lines.length, (i) => lines[i]));
    }
  });
});
