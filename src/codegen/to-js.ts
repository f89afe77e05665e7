// A generated module's TypeScript as plain JavaScript. Sucrase strips the
// types without a type check or a TypeScript compiler, and needs no Node
// built-in, so this runs wherever the compiler runs (an installed package,
// a browser).
import { transform } from "sucrase";

/** Turns a generated TypeScript ES module into an ES2022 JavaScript module (types stripped, nothing else changed). */
export function moduleToJs(tsSource: string): string {
  return transform(tsSource, { transforms: ["typescript"], disableESTransforms: true }).code;
}
