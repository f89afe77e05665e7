// Errors name the way out (LANGUAGE.md section 9): an unknown function is
// answered only with a builtin of the same meaning, or with what to write
// instead; a construct the language lacks says what to write instead.
import { describe, expect, it } from "vitest";
import { BpcError } from "../../src/diag.js";
import { BUILTINS } from "../../src/frontend/lower/builtins.js";
import { suggestFunction } from "../../src/frontend/lower/suggestions.js";
import { frontEnd } from "../../src/passes/pipeline.js";

const HEAD = `dim B
dim D = 4
input x: [B, D]
param W: [D, D] ~ he
`;

function messageOf(body: string): string {
  try {
    frontEnd(`${HEAD}${body}\nminimize sum(x)\n`, "t.bp");
  } catch (e) {
    if (e instanceof BpcError) return e.message;
    throw e;
  }
  throw new Error(`expected a BpcError for: ${body}`);
}

/** The builtins of this build plus the section-9 ones other changes add (the rule works from the table). */
const SECTION9 = [...BUILTINS.keys(), "gelu", "gelu_tanh", "silu", "erf", "einsum", "layer_norm", "stack", "take", "expand_dims", "squeeze", "var", "arange", "bce_with_logits"];

describe("an unknown function: a builtin of the same meaning, found after dropping case and separators", () => {
  it.each([
    ["maxpool2d", "max_pool2d"],
    ["MaxPool2d", "max_pool2d"],
    ["conv_2d", "conv2d"],
    ["logsoftmax", "log_softmax"],
    ["LogSoftmax", "log_softmax"],
    ["Sigmoid", "sigmoid"],
    ["logSumExp", "logsumexp"],
    ["onehot", "one_hot"],
  ])("%s -> %s, end to end", (name, builtin) => {
    expect(messageOf(`y = ${name}(x)`)).toBe(`unknown function '${name}'; did you mean '${builtin}'?`);
  });

  it.each([
    ["layernorm", "layer_norm"],
    ["LayerNorm", "layer_norm"],
    ["GELU", "gelu"],
    ["SiLU", "silu"],
  ])("%s -> %s once the table has it, and nothing before", (name, builtin) => {
    expect(suggestFunction(name, SECTION9)).toBe(`; did you mean '${builtin}'?`);
    expect(suggestFunction(name, [...BUILTINS.keys()].filter((k) => k !== builtin))).toBe("");
  });
});

describe("an unknown function: the alias table of other libraries' names", () => {
  it.each([
    ["y = matmul(x, W)", "unknown function 'matmul'; write x @ W instead"],
    ["y = mm(x + 1, W)", "unknown function 'mm'; write (x + 1) @ W instead"],
    ["y = dot(x, W)", "unknown function 'dot'; write x @ W instead"],
    ["y = bmm(x, W)", "unknown function 'bmm'; write x @ W instead"],
    ["y = cat(x, x)", "unknown function 'cat'; did you mean 'concat'? (cat is called concat here)"],
    ["y = clamp(x, 0, 1)", "unknown function 'clamp'; did you mean 'clip'? (clamp is called clip here)"],
    ["y = pow(x, 2)", "unknown function 'pow'; write x ^ 2 instead"],
    ["y = permute(x, 1, 0)", "unknown function 'permute'; write transpose(x, [1, 0]) instead"],
    ["y = mse_loss(x, W)", "unknown function 'mse_loss'; write mean(square(x - W)) instead"],
  ])("%s", (body, message) => {
    expect(messageOf(body)).toBe(message);
  });

  it("rows naming builtins this build lacks work from the table", () => {
    expect(suggestFunction("unsqueeze", SECTION9)).toBe("; did you mean 'expand_dims'? (unsqueeze is called expand_dims here)");
    expect(suggestFunction("concatenate", SECTION9)).toContain("'concat'");
    expect(suggestFunction("swish", SECTION9)).toContain("'silu'");
    expect(suggestFunction("binary_cross_entropy_with_logits", SECTION9)).toContain("'bce_with_logits'");
    // Without the builtin, no row answers.
    expect(suggestFunction("unsqueeze", ["relu", "concat"])).toBe("");
    expect(suggestFunction("std", ["sqrt"])).toBe("");
    expect(suggestFunction("std", SECTION9, { args: ["x", "axis=1"] })).toBe("; write sqrt(var(x, axis=1) + 1e-5) instead");
    expect(suggestFunction("logsigmoid", SECTION9.concat("log_sigmoid"))).toBe("; did you mean 'log_sigmoid'?");
  });
});

describe("never a builtin of another meaning", () => {
  it.each(["gelu", "selu", "tanhshrink", "softmin", "relu6", "hardswish", "logsigmoid2", "sinh", "mish"])("%s gets no suggestion", (name) => {
    const known = SECTION9.filter((k) => k !== name);
    expect(suggestFunction(name, known)).toBe("");
  });

  it("gelu end to end, in a build without it, names no other function", () => {
    if (BUILTINS.has("gelu")) return; // once gelu exists the call compiles; the table test above still holds
    expect(messageOf("y = gelu(x)")).toBe("unknown function 'gelu'");
  });

  it("one letter changed is another function; swapped or missing letters are typos", () => {
    expect(suggestFunction("elu", ["selu", "relu"])).toBe("");
    expect(suggestFunction("tan", ["tanh"])).toBe("");
    expect(suggestFunction("rleu", [...BUILTINS.keys()])).toBe("; did you mean 'relu'?");
    expect(suggestFunction("sigmod", [...BUILTINS.keys()])).toBe("; did you mean 'sigmoid'?");
    expect(suggestFunction("sofmax", [...BUILTINS.keys()])).toBe("; did you mean 'softmax'?");
    expect(suggestFunction("einsun", SECTION9)).toBe("; did you mean 'einsum'?");
    expect(suggestFunction("sigmoud", [...BUILTINS.keys()])).toBe("; did you mean 'sigmoid'?");
    // A changed digit or a short name is another function.
    expect(suggestFunction("conv3d", ["conv1d", "conv2d"])).toBe("");
    expect(suggestFunction("max_pool3d", [...BUILTINS.keys()])).toBe("");
    expect(suggestFunction("silu", ["selu", "relu", "gelu"])).toBe("");
  });

  it("a def is suggested for its own name's variants", () => {
    expect(messageOf("def my_block(a) = relu(a @ W)\ny = myBlock(x)")).toBe("unknown function 'myBlock'; did you mean 'my_block'?");
  });
});

describe("a construct the language lacks says what to write instead", () => {
  it.each([
    ["y = x.shape", "there is no .shape: shapes are known at compile time, so write the dims by name"],
    ["y = x.sum(axis=0)", "there are no methods: call the function on the value, sum(x, ...)"],
    ["if x > 0 { y = x }", "there is no if statement: choose elementwise with where(cond, a, b)"],
    ["y = x if x > 0 else 0", "there is no conditional expression: write where(cond, a, b)"],
    ["while 1 { y = x }", "there is no while loop: a loop runs a fixed number of steps, for t in 0..T { ... }"],
    ["for t in range(3) { y = x }", "write the range as 0..N: for t in 0..3 { ... }"],
    ["f = lambda a: a", "there is no lambda: write a def, def f(a) = EXPR"],
    ["y = x\ny += 1", "there is no += : write y = y + ..."],
    ["y = x\ny *= 2", "there is no *= : write y = y * ..."],
    ["y = x ** 2", "there is no **: the power operator is ^ (x ^ 2)"],
    ["y = x % 2", "there is no % operator"],
    ["y = x and x", "there are no boolean operators"],
    ["def f(a):\n  return a", "a def's body is '= EXPR' or '{ ...; return EXPR }'"],
    ["import torch", "a .bp file imports nothing"],
    ["y = np.sum(x)", "there are no modules: the builtins are called directly, as sum(...)"],
    ["y = F.relu(x)", "there are no modules: the builtins are called directly, as relu(...)"],
    ["y = x * True", "unknown name 'True'; write true"],
    ["y = x * pi", "unknown name 'pi'; write 3.141592653589793"],
  ])("%s", (body, message) => {
    expect(messageOf(body)).toContain(message);
  });

  it("a comment's words do not trigger a hint", () => {
    expect(messageOf("y = x @ * W  # not if while")).toBe("unexpected '*'; expected an expression or string");
  });
});
