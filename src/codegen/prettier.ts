// Prettier's standalone build with the parsers the compiler uses (babel-ts
// for the generated TypeScript, babel for the JavaScript emit). The same
// build runs in Node and in a browser: the main "prettier" entry reads
// config files and loads plugins from disk, which a page cannot do.
import type { Options } from "prettier";
import * as babel from "prettier/plugins/babel";
import * as estree from "prettier/plugins/estree";
import { format as standaloneFormat } from "prettier/standalone";

const plugins = [babel, estree];

/** `prettier.format` with the plugins every bpc format needs. */
export function format(text: string, options: Options): Promise<string> {
  return standaloneFormat(text, { ...options, plugins });
}
