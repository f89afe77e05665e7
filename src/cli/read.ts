// Reading .bp files, for the CLI and the demo. The compiler's library takes
// source text; only this layer touches the file system.
import { readFileSync } from "node:fs";
import { BpcError } from "../diag.js";

/** Reads a .bp file as UTF-8 text, with positioned errors for unreadable or non-text files. */
export function readSource(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (e as Error).message;
    throw new BpcError(`cannot read ${path}: ${why}`, { file: path, line: 0, col: 0, endLine: 0, endCol: 0 });
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    throw new BpcError("file is not UTF-8 text", { file: path, line: at.line, col: at.col, endLine: at.line, endCol: at.col + 1 });
  }
}

function firstInvalidUtf8(bytes: Buffer): { line: number; col: number } {
  const text = new TextDecoder("utf-8").decode(bytes);
  const bad = text.indexOf("\uFFFD");
  const lines = text.slice(0, Math.max(0, bad)).split("\n");
  return { line: lines.length, col: lines[lines.length - 1].length + 1 };
}
