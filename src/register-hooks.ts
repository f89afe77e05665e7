// Node module customisation hooks (module.register) for `.bp` files:
// resolve marks a `.bp` URL as an ES module, load reads the file and compiles
// it with `bpc compile --emit js`'s defaults. A compile error fails the import
// with the CLI's message: file:line:column and the code frame.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { BpcError, compile } from "./api.js";
import { BpcError as SourceError, formatDiagnostic } from "./diag.js";

type Next<C, R> = (specifier: string, context: C) => Promise<R>;
interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
interface LoadResult {
  format: string;
  source?: string | ArrayBuffer | Uint8Array;
  shortCircuit?: boolean;
}

const isBp = (url: string): boolean => url.startsWith("file:") && /\.bp$/.test(url.split(/[?#]/)[0]);

export async function resolve(specifier: string, context: object, next: Next<object, ResolveResult>): Promise<ResolveResult> {
  const resolved = await next(specifier, context);
  return isBp(resolved.url) ? { ...resolved, format: "module" } : resolved;
}

export async function load(url: string, context: { format?: string | null }, next: Next<object, LoadResult>): Promise<LoadResult> {
  if (!isBp(url)) return next(url, context);
  const path = fileURLToPath(url.split(/[?#]/)[0]);
  const file = relative(process.cwd(), path).startsWith("..") ? path : relative(process.cwd(), path);
  const source = readFileSync(path, "utf8");
  try {
    return { format: "module", source: (await compile(source, { file, emit: "js" })).code, shortCircuit: true };
  } catch (e) {
    if (!(e instanceof BpcError)) throw e;
    // The CLI's rendering (message, frame, notes); the stack would only show bpc's internals.
    const cause = e.cause instanceof SourceError ? e.cause.diagnostics : undefined;
    const message = cause ? cause.map((d) => formatDiagnostic(d, source)).join("\n") : e.message;
    const err = new Error(`cannot import ${file}:\n${message}`);
    err.stack = err.message;
    throw err;
  }
}
