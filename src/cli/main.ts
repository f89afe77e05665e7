#!/usr/bin/env node
// The `bpc` command line. Every user-facing error is printed as
// `file:line:column: message` with a code frame and exits 2; no stack traces
// unless BPC_DEBUG is set.
import { readFileSync, writeFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import pc from "picocolors";
import { BpcError, formatDiagnostic } from "../diag.js";
import { commands, sources } from "./commands.js";
import type { DemoModel } from "./demo.js";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

// Exit codes are set rather than exited with, so stderr is flushed in full when piped.
function fail(e: unknown): void {
  if (e instanceof BpcError) {
    const color = pc.isColorSupported && process.stderr.isTTY === true;
    for (const d of e.diagnostics) process.stderr.write(formatDiagnostic(d, sources.get(d.span.file), color) + "\n");
    process.exitCode = 2;
    return;
  }
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
    return;
  }
  const err = e as Error;
  process.stderr.write(`bpc: internal error: ${err?.message ?? String(e)}\n`);
  if (process.env.BPC_DEBUG) process.stderr.write(`${err?.stack ?? ""}\n`);
  else process.stderr.write("(set BPC_DEBUG=1 for details; this is a bug in bpc, please report it)\n");
  process.exitCode = 2;
}

// A reader that stops early (`bpc inspect big.bp | head`, a closed pager) is not an
// error: stop quietly, as Unix tools do. Any other write error is an I/O error (exit 2).
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    if (stream === process.stdout) process.stderr.write(`bpc: cannot write the output: ${e.message}\n`);
    process.exit(2);
  });
}

/** Option parsers: a bad value is a usage error (exit 2) naming the option. */
function number(what: string, ok: (v: number) => boolean, expected: string) {
  return (text: string): number => {
    const v = Number(text);
    if (text.trim() === "" || !Number.isFinite(v) || !ok(v)) throw new InvalidArgumentError(`${what} must be ${expected}, got '${text}'.`);
    return v;
  };
}
const positiveInt = (what: string) => number(what, (v) => Number.isInteger(v) && v >= 1, "a positive integer");

function output(text: string, out: string | undefined): void {
  if (!out) {
    process.stdout.write(text.endsWith("\n") ? text : text + "\n");
    return;
  }
  try {
    writeFileSync(out, text);
  } catch (e) {
    throw new BpcError(`cannot write ${out}: ${(e as Error).message}`, { file: out, line: 0, col: 0, endLine: 0, endCol: 0 });
  }
  process.stderr.write(`wrote ${out}\n`);
}

/** Where `--emit js -o OUT` puts the declarations: model.js -> model.d.ts, model.mjs -> model.d.mts. */
function declarationPath(out: string): string {
  const m = /\.(m?)js$/.exec(out);
  if (!m) throw new BpcError(`--emit js writes a .js module and its .d.ts beside it: name the output .js or .mjs, not '${out}'`, { file: out, line: 0, col: 0, endLine: 0, endCol: 0 });
  return `${out.slice(0, m.index)}.d.${m[1]}ts`;
}

const program = new Command()
  .name("bpc")
  .description("Compiles .bp models to TypeScript forward/backward code and lints their gradients.")
  .version(pkg.version, "-v, --version")
  .showHelpAfterError("(run bpc --help for usage)")
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command("compile")
  .description("compile FILE.bp to a self-contained TypeScript (or JavaScript) module")
  .argument("<file>", "the .bp model")
  .option("-o, --output <out.ts>", "write the module here (default: stdout); with --emit js, OUT.js and OUT.d.ts")
  .addOption(new Option("--emit <lang>", "the module's language: ts, or js (an ES module, with a .d.ts beside it)").choices(["ts", "js"]).default("ts"))
  .addOption(new Option("--precision <p>", "float precision of the module").choices(["f32", "f64"]).default("f32"))
  .option("--input-grads <names>", "also return gradients of these float inputs: all, or NAME,NAME")
  .addOption(
    new Option("--kernels <k>", "matmul kernels: simd (WebAssembly SIMD, JS as fallback; f32 only) or js")
      .choices(["simd", "js"])
      .default("simd"),
  )
  .option("--probes", "add probe(params, inputs): dead and saturated units, gradient norms per param and per loop step (spec section 12)")
  .action(async (file: string, o: { output?: string; emit: "ts" | "js"; precision: "f32" | "f64"; inputGrads?: string; kernels: "simd" | "js"; probes?: boolean }) => {
    if (o.emit === "ts") {
      output(await commands.compile(file, o.precision, o.inputGrads, o.kernels, o.probes === true), o.output);
      return;
    }
    const dts = o.output === undefined ? undefined : declarationPath(o.output);
    const js = await commands.compileJs(file, o.precision, o.inputGrads, o.kernels, o.probes === true);
    output(js.code, o.output);
    if (dts !== undefined) output(js.dts, dts);
  });

program
  .command("inspect")
  .description("print a compiler stage: ast, ir (forward), grad (raw backward), opt (simplified), ts (generated code)")
  .argument("<file>", "the .bp model")
  .addOption(new Option("--stage <stage>", "the stage to print").choices(["ast", "ir", "grad", "opt", "ts"]).default("opt"))
  .option("--input-grads <names>", "as for compile")
  .action(async (file: string, o: { stage: "ast" | "ir" | "grad" | "opt" | "ts"; inputGrads?: string }) => {
    output(await commands.inspect(file, o.stage, o.inputGrads), undefined);
  });

program
  .command("lint")
  .description("find where gradients will be zero, vanish or explode, before training")
  .argument("<files...>", "the .bp models")
  .addOption(new Option("--format <f>", "output format").choices(["text", "json", "sarif"]).default("text"))
  .action(async (files: string[], o: { format: "text" | "json" | "sarif" }) => {
    const r = await commands.lint(files, o.format);
    if (r.errors) process.stderr.write(r.errors);
    if (r.output) process.stdout.write(r.output.endsWith("\n") ? r.output : r.output + "\n");
    process.exitCode = r.exitCode;
  });

program
  .command("graph")
  .description("draw the computational graph: forward in black, backward in red")
  .argument("<file>", "the .bp model")
  .option("-o, --output <out>", "write OUT.svg or OUT.dot (default: DOT on stdout)")
  .action(async (file: string, o: { output?: string }) => {
    const r = await commands.graph(file, o.output);
    if (r.output) process.stdout.write(r.output);
    if (r.wrote) process.stderr.write(`wrote ${r.wrote}\n`);
  });

program
  .command("check")
  .description("check backward against central finite differences in f64")
  .argument("<file>", "the .bp model")
  .option("--tolerance <t>", "maximum relative error", number("--tolerance", (v) => v > 0, "a positive number"), 1e-5)
  .option("--seed <n>", "seed of the random point", number("--seed", Number.isInteger, "an integer"), 1)
  .action(async (file: string, o: { tolerance: number; seed: number }) => {
    const r = await commands.check(file, o.tolerance, o.seed);
    process.stdout.write(r.output);
    process.exitCode = r.ok ? 0 : 1;
  });

program
  .command("demo")
  .description("the tour on bundled data: compile examples/mnist_mlp.bp (or lenet.bp) and train it on MNIST digits, or char_lm.bp on Moby-Dick; plot the loss")
  .addOption(
    new Option("--model <name>", "the model: mlp (examples/mnist_mlp.bp), lenet (examples/lenet.bp) or char_lm (examples/char_lm.bp, on data/moby-dick.txt)")
      .choices(["mlp", "lenet", "char_lm"])
      .default("mlp"),
  )
  .option("--epochs <n>", "training epochs (default: 3 for mlp, 10 for lenet)", positiveInt("--epochs"))
  .option("--steps <n>", "training steps of char_lm (default 300)", positiveInt("--steps"))
  .option("--out <dir>", "where to write the loss curves", "out")
  .option("--saturation", "also run the article's first lesson: raw pixels and a large init next to normalised ones")
  .option("--probes", "instead, train three networks under probe() and monitor() (dead ReLUs, saturation, an exploding RNN) and write OUT/probes.html")
  .action(async (o: { model: DemoModel; epochs?: number; steps?: number; out: string; saturation?: boolean; probes?: boolean }) => {
    if (o.model === "char_lm" && o.epochs !== undefined) program.error("--epochs is for the MNIST models; char_lm trains for --steps", { exitCode: 2 });
    if (o.model !== "char_lm" && o.steps !== undefined) program.error("--steps is for --model char_lm; the MNIST models train for --epochs", { exitCode: 2 });
    await commands.demo({ model: o.model, epochs: o.epochs, steps: o.steps, out: o.out, saturation: o.saturation === true, probes: o.probes === true });
  });

program.parseAsync(process.argv).catch(fail);
