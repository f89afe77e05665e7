// The one check of which float inputs a module returns gradients for
// (`--input-grads`, the library's `inputGrads`): autodiff, codegen and the
// CLI all resolve the request here.
import { BpcError, noSpan } from "../diag.js";
import type { Graph } from "../ir/types.js";

/**
 * The float inputs whose gradients backward returns, from `--input-grads`:
 * `all`, a comma-separated list, or a list of names. The one place they are
 * checked against the model: an unknown name or an int input is a BpcError.
 */
export function resolveInputGrads(g: Graph, spec: string | readonly string[] | undefined): string[] {
  if (spec === undefined) return [];
  const floats = g.inputs.filter((n) => n.dtype === "float").map((n) => n.name as string);
  if (spec === "all") return floats;
  const names = typeof spec === "string" ? spec.split(",").map((s) => s.trim()).filter(Boolean) : [...spec];
  for (const n of names) {
    const inp = g.inputs.find((x) => x.name === n);
    if (!inp) {
      throw new BpcError(`--input-grads: '${n}' is not an input of this model (its inputs: ${g.inputs.map((x) => x.name).join(", ")})`, { ...noSpan, file: g.file });
    }
    if (inp.dtype !== "float") throw new BpcError(`--input-grads: '${n}' is an int input; only float inputs have gradients`, inp.span);
  }
  return names;
}
