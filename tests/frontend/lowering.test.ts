// Checking and lowering as tables: bad sources with the message and position
// they give, sources with the IR they lower to, and a fuzz test that the
// whole front end ends in a result or a positioned BpcError, never a crash.
import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BpcError, formatDiagnostic } from "../../src/diag.js";
import { printGraph } from "../../src/ir/print.js";
import { verifyGraph } from "../../src/ir/verify.js";
import { BUILTINS, isOptional, type Param } from "../../src/frontend/lower/builtins.js";
import { tokenize } from "../../src/frontend/parser/lexer.js";
import { readSource } from "../../src/cli/read.js";
import { frontEnd } from "../../src/passes/pipeline.js";
import { errorOf } from "../helpers/compile.js";

const HEAD = `dim B
dim D = 4
dim H = 3
input x: [B, D]
input y: int[B] in [0, 3)
param W: [D, H] ~ normal(0, 0.1)
param b: [H] ~ zeros
`;


/** [name, source, message substring, line, column]. Lines count from 1 in the full source. */
const BAD: [string, string, string, number, number][] = [
  ["syntax: unexpected token", `${HEAD}h = x @ * W\nminimize sum(h)\n`, "unexpected '*'", 8, 9],
  ["unknown name", `${HEAD}h = x @ W2\nminimize sum(h)\n`, "unknown name 'W2'; did you mean 'W'?", 8, 9],
  ["shape mismatch in matmul shows both shapes", `dim B\ninput x: [B, 784]\nparam W: [100, 10]\nminimize sum(x @ W)\n`, "cannot multiply [B, 784] @ [100, 10]", 4, 14],
  ["broadcast mismatch", `${HEAD}h = x @ W + x\nminimize sum(h)\n`, "shapes [B, 3] and [B, 4] do not broadcast", 8, 5],
  ["too many arguments", `${HEAD}h = relu(x, x)\nminimize sum(h)\n`, "relu takes at most 1 argument (x), got 2", 8, 5],
  ["too few arguments", `${HEAD}h = clip(x, 0)\nminimize sum(h)\n`, "clip takes 3 arguments (x, lo, hi), got 2", 8, 5],
  ["unknown keyword", `${HEAD}h = softmax(x, axes=1)\nminimize sum(h)\n`, "softmax has no keyword argument 'axes'", 8, 16],
  ["def argument count", `${HEAD}def f(a, c) = a + c\nh = f(x)\nminimize sum(h)\n`, "f takes 2 arguments (a, c), got 1", 9, 5],
  ["non-scalar minimize", `${HEAD}minimize x @ W\n`, "minimize needs a scalar, got a tensor of shape [B, 3]", 8, 10],
  ["missing minimize", `${HEAD}h = x @ W\n`, "no 'minimize' statement", 8, 1],
  ["two minimize", `${HEAD}minimize sum(x)\nminimize mean(x)\n`, "exactly one 'minimize' (the first is at line 8)", 9, 1],
  ["int where float is needed", `${HEAD}h = x * y\nminimize sum(h)\n`, "an int tensor [B] is used where a float is needed", 8, 9],
  ["duplicate declaration", `${HEAD}param W: [D, H] ~ zeros\nminimize sum(x)\n`, "duplicate declaration of 'W' (first declared at line 6)", 8, 7],
  ["slice out of bounds", `${HEAD}h = x[:, 0:9]\nminimize sum(h)\n`, "index 9 is out of bounds for axis 1 of size 4", 8, 10],
  ["index out of bounds", `${HEAD}h = x[:, 4]\nminimize sum(h)\n`, "out of bounds for axis 1 of size 4", 8, 10],
  ["def calling itself", `${HEAD}def f(a) = f(a) + 1\nminimize sum(f(x))\n`, "def f calls itself; recursion is not supported", 8, 12],
  ["mutual recursion", `${HEAD}def f(a) = g(a)\ndef g(a) = f(a)\nminimize sum(f(x))\n`, "def f calls itself", 9, 12],
  ["loop not starting at 0", `${HEAD}h = x @ W\nfor t in 2..5 {\n  h = tanh(h)\n}\nminimize sum(h)\n`, "a loop runs from 0: write 'for t in 0..N'", 9, 10],
  ["loop bound not constant", `${HEAD}s = sum(x)\nfor t in 0..s {\n  s = s + 1\n}\nminimize s\n`, "a loop bound must be an integer constant or a dim", 9, 13],
  ["empty file", ``, "empty file", 1, 1],
  ["comments only", `# nothing here\n\n`, "empty file", 1, 1],
  ["unknown dim in a shape", `input x: [N, 3]\nminimize sum(x)\n`, "unknown dim 'N'", 1, 11],
  ["unknown initializer", `${HEAD}param V: [D] ~ gaussian(0, 1)\nminimize sum(x)\n`, "unknown initializer 'gaussian'", 8, 16],
  ["assigning to a param", `${HEAD}W = x\nminimize sum(x)\n`, "cannot assign to param 'W'", 8, 1],
  ["symbolic param dim", `dim B\ninput x: [B]\nparam W: [B, 2] ~ zeros\nminimize sum(x)\n`, "param W has symbolic dim B", 3, 10],
  ["dim not inferable", `dim B\ndim C\ninput x: [B, C]\nminimize sum(x)\n`, "dim B cannot be inferred from the inputs", 1, 1],
  ["carried value changes shape", `${HEAD}h = sum(x)\nfor t in 0..3 {\n  h = x @ W\n}\nminimize sum(h)\n`, "'h' is carried through the loop as [] but the loop body makes it [B, 3]", 9, 1],
  ["loop-local used after the loop", `${HEAD}for t in 0..3 {\n  z = x @ W\n}\nminimize sum(z)\n`, "'z' is only defined inside the loop at line 9", 11, 14],
  // Float targets are soft labels (section 9): of the logits' shape.
  ["cross_entropy with float labels", `${HEAD}minimize mean(cross_entropy(x @ W, x[:, 0]))\n`, "cross_entropy: cross_entropy's float targets must have the logits' shape [B, 3] (or use int labels [B]), got [B]", 8, 15],
  ["pick with mismatched batch", `${HEAD}input a: int[3]\nminimize sum(pick(x @ W, a))\n`, "pick's indices must be int[B]", 9, 14],
  ["axis out of range", `${HEAD}minimize sum(sum(x, axis=2))\n`, "axis 2 is out of range for a tensor of shape [B, 4]", 8, 26],
  ["reshape size mismatch", `${HEAD}minimize sum(reshape(x, [B, 5]))\n`, "cannot reshape [B, 4] to [B, 5]", 8, 14],
  ["a dim known only from zeros([...])", `dim B\ndim H = 2\ninput x: [3, H]\nh = zeros([B, H])\nminimize sum(h + x[0, :])\n`, "dim B is not known when the module is called", 4, 5],
  ["a loop over a dim no input gives", `dim T\ninput x: [3]\ns = 0\nfor t in 0..T {\n  s = s + sum(x)\n}\nminimize s\n`, "dim T is not known when the module is called", 4, 1],
  ["xs[t] past the end of xs", `dim B\ndim D = 3\ninput xs: [5, B, D]\nparam W: [D, D] ~ he\nh = zeros([B, D])\nfor t in 0..10 {\n  h = h + xs[t] @ W\n}\nminimize sum(h)\n`, "xs[t] reads past the end: its first axis has 5 entries but the loop runs 10 steps", 7, 14],
  ["a number too large for a float", `${HEAD}minimize sum(x @ W) * 1e999\n`, "this number is too large for a float", 8, 23],
  ["a dim too large", `dim B = 99999999999999999999\ninput x: [B]\nminimize sum(x)\n`, "dim B must be a positive integer up to 2147483647", 1, 9],
  ["a tensor too large", `param W: [100000, 100000] ~ zeros\nminimize sum(W)\n`, "has 10000000000 elements", 1, 10],
  ["two model lines", `model a\nmodel b\ninput x: [3]\nminimize sum(x)\n`, "a file names its model once (first at line 1)", 2, 1],
  ["a def naming a parameter twice", `${HEAD}def f(a, a) = a\nminimize sum(f(x, x))\n`, "def f names its parameter 'a' twice", 8, 10],
  ["uniform with its ends swapped", `${HEAD}param V: [3] ~ uniform(1, 0)\nminimize sum(V)\n`, "uniform's low end is above its high end", 8, 16],
  ["clip with lo above hi", `${HEAD}minimize sum(clip(x @ W, 1, -1))\n`, "clip's lo (1) is above its hi (-1)", 8, 14],
  ["an int range with fractional ends", `dim B\ninput y: int[B] in [0.5, 3)\ninput x: [B]\nminimize sum(x)\n`, "an int input's range has integer ends", 2, 17],
  ["function used as a value", `${HEAD}h = relu\nminimize sum(x)\n`, "'relu' is a function", 8, 5],
  ["unknown function", `${HEAD}minimize sum(rleu(x))\n`, "unknown function 'rleu'; did you mean 'relu'?", 8, 14],
  ["a function name every object has", `${HEAD}minimize sum(constructor(x))\n`, "unknown function 'constructor'", 8, 14],
  ["an initializer name every object has", `${HEAD}param V: [3] ~ toString\nminimize sum(V)\n`, "unknown initializer 'toString'", 8, 16],
  ["a negative number too large for a float", `${HEAD}minimize sum(x @ W) * -1e999\n`, "this number is too large for a float", 8, 23],
  ["a default axis out of range points at the call", `${HEAD}s = sum(x)\nminimize sum(softmax(s))\n`, "axis -1 is out of range for a tensor of shape []", 9, 14],
  ["a positive constant", `${HEAD}minimize sum(huber(x, delta=0))\n`, "huber's delta must be positive", 8, 29],
  ["constants out of order", `${HEAD}minimize sum(clip_grad(x, 2, 1))\n`, "clip_grad's lo (2) is above its hi (1)", 8, 14],
];

describe("front-end errors", () => {
  it.each(BAD)("%s", (_name, src, message, line, col) => {
    const e = errorOf(src);
    expect(e.message).toContain(message);
    expect([e.span.line, e.span.col]).toEqual([line, col]);
    // Every message renders with a frame and a caret, without throwing.
    const text = formatDiagnostic(e.diagnostics[0], src);
    expect(text.startsWith(`t.bp:${line}:${col}: error: `)).toBe(true);
    if (src.trim()) expect(text).toContain("^");
  });

  it("points into a def body and names the call site", () => {
    const e = errorOf(`${HEAD}def dense(a, M) = a @ M\nh = dense(x, b)\nminimize sum(h)\n`);
    expect(e.message).toContain("cannot multiply");
    expect(e.span.line).toBe(8);
    expect(e.diagnostics[0].notes?.join("\n")).toContain("in the call dense(...) at t.bp:9:5");
  });

  it("rejects a file that is not UTF-8 text, with its position", () => {
    const dir = mkdtempSync(join(tmpdir(), "bpc-"));
    const f = join(dir, "bad.bp");
    writeFileSync(f, Buffer.concat([Buffer.from("dim B\ninput x: [B]\n# caf"), Buffer.from([0xe9, 0x0a])]));
    let err: unknown;
    try {
      readSource(f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpcError);
    expect((err as BpcError).message).toBe("file is not UTF-8 text");
    expect((err as BpcError).span.line).toBe(3);
  });

  it("reports a missing file without a stack", () => {
    expect(() => readSource("/nonexistent/x.bp")).toThrow(/cannot read \/nonexistent\/x.bp: no such file/);
  });
});

/** Sources and the IR lines they must lower to (substring match per line, in order). */
const LOWERED: [string, string, string[]][] = [
  ["dense layer with broadcasting bias", `${HEAD}h = relu(x @ W + b)\nminimize mean(h)\n`, [
    "%4: f[B, 3] = matmul %0:x, %2:W {transA=false, transB=false}      # line 8",
    "%5: f[B, 3] = add %4, %3:b",
    "%6:h: f[B, 3] = relu %5",
    "f[] = mean %6:h {axes=[0,1], keepdims=false}",
  ]],
  ["vector-matrix and matrix-vector forms", `${HEAD}input v: [D]\nparam u: [H]\nminimize sum(v @ W) + sum(W @ u)\n`, [
    "f[1, 4] = reshape %4:v {shape=[1,4]}",
    "f[1, 3] = matmul",
    "f[3] = reshape",
    "f[3, 1] = reshape %5:u {shape=[3,1]}",
    "f[4, 1] = matmul %2:W, %10",
    "f[4] = reshape",
  ]],
  ["reductions with axis and keepdims", `${HEAD}m = mean(x, axis=0, keepdims=true)\ns = sum(x, axis=-1)\nminimize sum(m) + max(s)\n`, [
    "m: f[1, 4] = mean %0:x {axes=[0], keepdims=true}",
    "s: f[B] = sum %0:x {axes=[1], keepdims=false}",
    "f[] = sum %4:m {axes=[0,1], keepdims=false}",
    "f[] = max %5:s {axes=[0], keepdims=false}",
  ]],
  ["slices, indices and transpose", `${HEAD}a = x[:, 1:3]\nc = W[0, :]\nd = W.T\nminimize sum(a) + sum(c) + sum(d)\n`, [
    'a: f[B, 2] = slice %0:x {starts=[0,1], ends=["B",3], drop=[]}',
    "c: f[3] = slice %2:W {starts=[0,0], ends=[1,3], drop=[0]}",
    "d: f[3, 4] = transpose %2:W",
  ]],
  ["keyword arguments and activations", `${HEAD}z = x @ W\na = leaky_relu(z, a=0.2) + elu(z) + huber(z, delta=2)\nminimize mean(softmax(a, axis=-1)) + mean(log_softmax(a))\n`, [
    "leaky_relu %4:z {a=0.2}",
    "elu %4:z {a=1}",
    "huber %4:z {delta=2}",
    "softmax %9:a {axis=1}",
    "log_softmax %9:a {axis=1}",
  ]],
  ["int ops: cross_entropy, pick, one_hot, argmax", `${HEAD}z = x @ W\nk = argmax(z, axis=1)\nminimize mean(cross_entropy(z, y)) + mean(pick(z, k)) + sum(one_hot(y, H))\n`, [
    "k: int[B] = argmax %4:z {axes=[1]}",
    "f[B] = cross_entropy %4:z, %1:y",
    "f[B] = pick %4:z, %5:k",
    "f[B, 3] = one_hot %1:y {n=3}",
  ]],
  ["where, comparisons, clip, stop_gradient, clip_grad", `${HEAD}z = x @ W\nw = where(z > 0, z, 0.1 * z)\nc = clip(z, -1, 1) + stop_gradient(z) + clip_grad(z, -2, 2)\nminimize sum(w) + sum(c)\n`, [
    "gt %4:z, %5",
    "where %6, %4:z, %8",
    "const {value=-1}",
    "clip %4:z, %10, %11",
    "stop_gradient %4:z",
    "clip_grad %4:z {lo=-2, hi=2}",
  ]],
  ["power, unary minus, dims as numbers", `${HEAD}z = -x ^ 2 / D + 1 / B\nminimize sum(z)\n`, [
    "pow %0:x",
    "neg",
    "const {value=4}",
    "numel {dims=[\"B\"]}",
  ]],
  ["concat, reshape, zeros, ones", `${HEAD}z = concat(x, x, axis=1)\nr = reshape(z, [B, 2, 4])\nminimize sum(r) + sum(zeros([H])) + sum(ones([2, H]))\n`, [
    "z: f[B, 8] = concat %0:x, %0:x {axis=1}",
    "r: f[B, 2, 4] = reshape %4:z",
    "full {shape=[3], value=0}",
    "full {shape=[2,3], value=1}",
  ]],
  ["a loop with carried values and xs[t]", `dim B\ndim T = 5\ninput xs: [T, B, 2]\nparam U: [2, 2] ~ he\nh = zeros([B, 2])\nl = 0\nfor t in 0..T {\n  h = tanh(xs[t] @ U + h)\n  l = l + sum(h)\n}\nminimize l\n`, [
    "h: f[B, 2] = full",
    "l: f[] = const {value=0}",
    "%13 = loop %4:t in 0..5 carry(%5:h <- %2:h, %6:l <- %3:l) {",
    "  %7: f[B, 2] = index %0:xs, %4:t",
    "  %10:h: f[B, 2] = tanh %9",
    "  next(%10:h, %12:l)",
    "h: f[B, 2] = loop_out %13 {k=0}",
    "l: f[] = loop_out %13 {k=1}",
  ]],
  ["def in block form with locals", `${HEAD}def layer(a, M, c) {\n  z = a @ M\n  return tanh(z + c)\n}\nminimize mean(layer(x, W, b))\n`, [
    "z: f[B, 3] = matmul %0:x, %2:W",
    "tanh",
  ]],
];

describe("lowering", () => {
  it.each(LOWERED)("%s", (_name, src, lines) => {
    const { ir } = frontEnd(src, "t.bp");
    verifyGraph(ir);
    const text = printGraph(ir);
    let from = 0;
    for (const l of lines) {
      const at = text.indexOf(l, from);
      if (at < 0) throw new Error(`missing or out of order: ${l}\n--- IR ---\n${text}`);
      from = at + l.length;
    }
  });

  it("keeps source spans on every node", () => {
    const src = `${HEAD}h = relu(x @ W + b)\nminimize mean(h)\n`;
    const { ir } = frontEnd(src, "t.bp");
    const relu = ir.nodes.find((n) => n.op === "relu")!;
    expect(relu.span).toEqual({ file: "t.bp", line: 8, col: 5, endLine: 8, endCol: 20 });
    const mm = ir.nodes.find((n) => n.op === "matmul")!;
    expect(mm.span).toMatchObject({ line: 8, col: 10, endCol: 15 });
    for (const n of ir.nodes) expect(n.span.line).toBeGreaterThan(0);
  });

  it("lowers every example and verifies it", () => {
    for (const f of readdirSync("examples").filter((x) => x.endsWith(".bp"))) {
      const src = readFileSync(join("examples", f), "utf8");
      const { ir } = frontEnd(src, f);
      verifyGraph(ir);
      expect(ir.loss.shape).toEqual([]);
    }
  });
});

describe("front-end fuzz", () => {
  const examples = readdirSync("examples")
    .filter((x) => x.endsWith(".bp"))
    .map((f) => readFileSync(join("examples", f), "utf8"));
  const tokensOf = examples.map((s) => tokenize(s, "ex.bp").map((t) => t.text));

  const run = (src: string): void => {
    try {
      const { ir } = frontEnd(src, "fuzz.bp");
      verifyGraph(ir);
    } catch (e) {
      if (!(e instanceof BpcError)) throw e;
      expect(e.span.file).toBe("fuzz.bp");
      expect(e.message.length).toBeGreaterThan(0);
    }
  };

  it("random token-level mutations of the examples end in a result or a positioned error", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: tokensOf.length - 1 }),
        fc.array(fc.tuple(fc.constantFrom("delete", "swap", "dup", "insert"), fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 }),
        (which, edits) => {
          const toks = [...tokensOf[which]];
          for (const [kind, i, j] of edits) {
            if (toks.length === 0) break;
            const a = i % toks.length;
            const c = j % toks.length;
            if (kind === "delete") toks.splice(a, 1);
            else if (kind === "swap") [toks[a], toks[c]] = [toks[c], toks[a]];
            else if (kind === "dup") toks.splice(a, 0, toks[a]);
            else toks.splice(a, 0, toks[c]);
          }
          run(toks.join(" ").replace(/ \n /g, "\n"));
        },
      ),
      { numRuns: 400, seed: 7 },
    );
  });

  it("random strings end in a result or a positioned error", () => {
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => run(s)), { numRuns: 300, seed: 11 });
  });
});

describe("scoping", () => {
  it("a def sees declarations, not top-level assignments", () => {
    const e = errorOf(`${HEAD}k = x @ W\ndef f(a) = a + k\nminimize sum(f(x @ W))\n`);
    expect(e.message).toContain("unknown name 'k'");
  });
  it("rebinding an input at top level does not change what a def sees", () => {
    const { ir } = frontEnd(`${HEAD}def f(a) = a + x\nx = x * 2\nminimize sum(f(x))\n`, "t.bp");
    const add = ir.nodes.find((n) => n.op === "add")!;
    expect(add.inputs[0].op).toBe("mul");
    expect(add.inputs[1].op).toBe("input");
  });
  it("a loop-local name stays in the loop body", () => {
    const { ir } = frontEnd(`${HEAD}h = x @ W\nfor t in 0..2 {\n  z = tanh(h)\n  h = z * 2\n}\nminimize sum(h)\n`, "t.bp");
    verifyGraph(ir);
    const loop = ir.nodes.find((n) => n.op === "loop")!;
    expect(loop.body!.carried.map((c) => c.name)).toEqual(["h"]);
  });
});

describe("edge cases: learned initial states, rebinding a def parameter, deep nesting, long lines", () => {
  it("a param as a loop's initial value is carried (a learned initial state)", () => {
    const src = "dim B = 2\ndim T = 3\ndim H = 4\ninput xs: [T, B, H]\nparam h0: [B, H]\nparam W: [H, H]\nh = h0\nfor t in 0..T {\n  h = tanh(xs[t] + h @ W)\n}\nminimize sum(h)\n";
    const { ir } = frontEnd(src, "t.bp");
    verifyGraph(ir);
    const loop = ir.nodes.find((n) => n.op === "loop")!;
    expect(loop.body!.carried.map((c) => c.name)).toEqual(["h"]);
    expect(loop.inputs[0].op).toBe("param");
  });

  it("a def may rebind its parameter even when called with a param", () => {
    const { ir } = frontEnd(`${HEAD}def f(M) {\n  M = M * 2\n  return M\n}\nminimize sum(x @ f(W))\n`, "t.bp");
    verifyGraph(ir);
  });

  it("an expression nested thousands deep is a positioned error, not a crash", () => {
    const src = `input x: [3]\nminimize sum(${"exp(".repeat(4000)}x${")".repeat(4000)})\n`;
    let err: unknown;
    try {
      frontEnd(src, "deep.bp");
    } catch (e) {
      err = e;
    }
    // Either it compiles or it says why; it never escapes as a RangeError.
    if (err) {
      expect(err).toBeInstanceOf(BpcError);
      expect((err as BpcError).message).toMatch(/nests too deeply/);
    }
  });

  it("a very long line is shown as a window around the error", () => {
    const src = `input x: [3]\nminimize sum(x) + ${"1 + ".repeat(20000)}@\n`;
    const e = errorOf(src);
    const text = formatDiagnostic(e.diagnostics[0], src);
    expect(text.length).toBeLessThan(2000);
    expect(text).toContain("^");
  });
});

describe("the builtins table", () => {
  it("every row is well-formed", () => {
    for (const [name, row] of BUILTINS) {
      const names = row.params.map((p) => p.name);
      expect(new Set(names).size, name).toBe(names.length);
      // Positional binding assumes the required parameters come first.
      const firstOptional = row.params.findIndex(isOptional);
      if (firstOptional >= 0) expect(row.params.slice(firstOptional).every(isOptional), name).toBe(true);
      // An axis counts in the first tensor argument, so one must come before it.
      const firstTensor = row.params.findIndex((p) => p.kind === "float" || p.kind === "tensor");
      row.params.forEach((p, i) => {
        if (p.kind === "axis" || p.kind === "axes") expect(firstTensor >= 0 && firstTensor < i, `${name}.${p.name}`).toBe(true);
      });
      for (const o of row.ordered ?? []) expect(names, name).toContain(o);
    }
  });

  /** An argument of each kind that fits the HEAD declarations, for a call with only the required ones. */
  const argument = (p: Param): string => {
    switch (p.kind) {
      case "float":
        return "z";
      case "tensor":
        return p.name === "labels" || p.name === "idx" ? "y" : "z";
      case "number":
        return "0.5";
      case "axis":
      case "axes":
        return "1";
      case "bool":
        return "true";
      case "dim":
        return "H";
      case "shape":
        return "[B, H]";
      case "spatial":
        return "1";
      case "rest":
        return "z, z";
      case "perm":
        return "[1, 0]";
    }
  };
  /** Calls whose generic arguments do not fit (a new axis at 0.5, squeezing an axis of size 3). */
  const CALLS: Record<string, string> = { expand_dims: "expand_dims(z, 1)", squeeze: "squeeze(expand_dims(z, 1), 1)" };

  it.each([...BUILTINS.keys()])("%s lowers to its row's op, and reports wrong argument counts from its row", (name) => {
    const row = BUILTINS.get(name)!;
    const required = row.params.filter((p) => !isOptional(p));
    // Conv and pool rows take channels-first tensors with `rank` spatial axes (v), and a kernel (Kc).
    const rank = row.params.find((p) => p.kind === "spatial")?.rank;
    const arg = (p: Param): string => (rank && p.kind === "float" ? (p.name === "K" ? "Kc" : "v") : argument(p));
    const call = CALLS[name] ?? `${name}(${required.map(arg).join(", ")})`;
    // A constant batch, since concat cannot join along a symbolic dim.
    const spatial = rank ? `input v: [B, 2${", 4".repeat(rank)}]\nparam Kc: [2, 2${", 1".repeat(rank)}]\n` : "";
    const head = "dim B = 2\ndim D = 4\ndim H = 3\ninput x: [B, D]\ninput y: int[B] in [0, 3)\nparam W: [D, H]\n" + spatial;
    const { ir } = frontEnd(`${head}z = x @ W\nr = ${call}\nminimize sum(z)\n`, "t.bp");
    verifyGraph(ir);
    const built = ir.nodes.find((n) => n.name === "r")!;
    expect(built.op).toBe(row.op);
    for (const [k, v] of Object.entries(row.attrs ?? {})) expect(built.attrs[k]).toEqual(v);

    const s = (n: number) => (n === 1 ? "" : "s");
    const rest = row.params.find((p) => p.kind === "rest");
    if (rest) {
      // Any number of tensors, at least `min`; the parameters after them are keywords.
      expect(errorOf(`${HEAD}minimize sum(${name}())\n`).message).toMatch(new RegExp(`^${name} takes at least \\d+ tensor argument`));
      return;
    }
    const tooMany = errorOf(`${HEAD}minimize sum(${name}(${Array(row.params.length + 1).fill("x").join(", ")}))\n`);
    expect(tooMany.message).toBe(
      `${name} takes at most ${row.params.length} argument${s(row.params.length)} (${row.params.map((p) => p.name).join(", ")}), got ${row.params.length + 1}`,
    );
    const none = errorOf(`${HEAD}minimize sum(${name}())\n`);
    expect(none.message).toBe(`${name} takes ${required.length} argument${s(required.length)} (${required.map((p) => p.name).join(", ")}), got 0`);
  });
});
