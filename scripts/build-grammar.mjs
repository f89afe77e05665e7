// Compiles grammar/bp.ne to src/frontend/parser/generated/grammar.ts with nearley's
// compiler, called in-process (the same steps as nearleyc) so that an
// undefined rule name fails the build instead of printing a warning.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const nearley = require("nearley");
const compile = require("nearley/lib/compile.js");
const generate = require("nearley/lib/generate.js");
const lint = require("nearley/lib/lint.js");
const bootstrapped = require("nearley/lib/nearley-language-bootstrapped.js");
const { version } = require("nearley/package.json");

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const input = join(root, "grammar", "bp.ne");
const output = join(root, "src", "frontend", "parser", "generated", "grammar.ts");

const parser = new nearley.Parser(nearley.Grammar.fromCompiled(bootstrapped));
parser.feed(readFileSync(input, "utf8"));
parser.feed("\n");
if (parser.results.length === 0) throw new Error(`${input}: incomplete grammar`);

const compiled = compile(parser.results[0], { args: [input], version });
const warnings = [];
lint(compiled, { out: { write: (s) => warnings.push(s.trim()) } });
if (warnings.length > 0) {
  console.error(`${relative(root, input)}:\n${warnings.join("\n")}`);
  process.exit(1);
}

const header = `// Generated from ${relative(root, input)} by scripts/build-grammar.mjs. Do not edit.\n`;
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, header + generate(compiled, "grammar"));
