// `bpc/vite`: a Vite plugin (also for Vitest) that compiles `.bp` files on
// import, so `import { forward, backward, init, model } from "./mlp.bp"`
// works in an app or a test suite (spec section 11).
// - transform: a `.bp` module becomes the JavaScript of `bpc compile --emit js`;
// - a compile error is thrown with `loc` and `frame`, which Vite's error
//   overlay and its terminal output show as file:line:column and a code frame;
// - handleHotUpdate: editing a `.bp` reloads the modules that import it (the
//   compiled module cannot accept itself: its exports change with the model);
// - `dts: true` writes `NAME.bp.d.ts` beside each model it compiles, so
//   TypeScript sees the model's exact types.
// Vite is an optional peer dependency: this file imports only its types.
import { codeFrameColumns } from "@babel/code-frame";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { isAbsolute, relative } from "node:path";
import type { ModuleNode, Plugin } from "vite";
import { BpcError, compile, type Diagnostic } from "./api.js";

export interface BpcPluginOptions {
  /** Write `NAME.bp.d.ts` beside each compiled model (default false). */
  dts?: boolean;
  /** As `bpc compile --precision` (default "f32"). */
  precision?: "f32" | "f64";
  /** As `bpc compile --kernels` (default "simd"). */
  kernels?: "simd" | "js";
  /** As `bpc compile --input-grads`: "all" or the names of float inputs. */
  inputGrads?: "all" | string[];
}

const BP = /\.bp$/;

/** The module id without Vite's query (`?import`, `?v=...`); `.bp?raw` and `?url` are left to Vite. */
function bpFile(id: string): string | undefined {
  const [file, query] = id.split("?", 2);
  if (!BP.test(file)) return undefined;
  if (query !== undefined && query.split("&").some((q) => q === "raw" || q === "url" || q === "inline")) return undefined;
  return file;
}

export function bpc(options: BpcPluginOptions = {}): Plugin {
  let root = process.cwd();
  return {
    name: "bpc",
    configResolved(config) {
      root = config.root;
    },
    async transform(source, id) {
      const file = bpFile(id);
      if (file === undefined) return null;
      // Messages and the module's header name the file as the project knows it.
      const shown = isAbsolute(file) && !relative(root, file).startsWith("..") ? relative(root, file) : file;
      let out: { code: string; dts?: string };
      try {
        out = await compile(source, { file: shown, emit: "js", precision: options.precision, kernels: options.kernels, inputGrads: options.inputGrads });
      } catch (e) {
        if (e instanceof BpcError) throw overlayError(e, file, source);
        throw e;
      }
      if (options.dts && existsSync(file)) writeIfChanged(`${file}.d.ts`, out.dts!);
      return { code: out.code, map: { mappings: "" } };
    },
    handleHotUpdate({ file, modules }) {
      if (bpFile(file) === undefined) return;
      // Hand Vite the importers: each is updated if it accepts updates, else the page reloads.
      const affected = new Set<ModuleNode>(modules);
      for (const m of modules) for (const importer of m.importers) affected.add(importer);
      return [...affected];
    },
  };
}

export default bpc;

/** A compile error as Vite and Rollup report one: message, `id`, `loc` (1-based line and column) and the code `frame`. */
function overlayError(e: BpcError, file: string, source: string): Error & { id: string; plugin: string; loc?: object; frame?: string } {
  const d: Diagnostic = e.diagnostics[0];
  const message = [d.message, ...e.diagnostics.slice(1).map((x) => `${x.file}:${x.line}:${x.column}: ${x.message}`), d.fix].filter(Boolean).join("\n");
  const err = Object.assign(new Error(message), { id: file, plugin: "bpc" }) as Error & { id: string; plugin: string; loc?: object; frame?: string };
  if (d.line > 0) {
    err.loc = { file, line: d.line, column: d.column };
    const end = d.endLine === d.line ? Math.max(d.endColumn, d.column + 1) : d.column + 1;
    err.frame = codeFrameColumns(source, { start: { line: d.line, column: d.column }, end: { line: d.line, column: end } }, { linesAbove: 2, linesBelow: 1 });
  }
  return err;
}

function writeIfChanged(path: string, text: string): void {
  // Rewriting an unchanged file would wake file watchers (and Vite's) for nothing.
  if (existsSync(path) && readFileSync(path, "utf8") === text) return;
  writeFileSync(path, text);
}
