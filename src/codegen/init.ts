// The module's `init`: fresh parameters drawn as each param declares, from a
// seeded stream per parameter. What each initializer draws, and the code that
// draws it, is its entry in src/ir/init.ts; a conv kernel's fans are
// PyTorch's (fanShape).
import { fanShape, initializer } from "../ir/init.js";
import { lit } from "../ir/ops.js";
import type { Emitter } from "./context.js";
import { commentText, key } from "./names.js";

export function initFn(cx: Emitter): string {
  const FA = cx.FA;
  const fields = cx.g.params.map((p, k) => {
    const shape = p.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    const args = (p.attrs.initArgs as number[] | undefined) ?? [];
    const init = p.attrs.init as string;
    const next = `${cx.use("rng")}(seed, ${k})`;
    const { expr, note = "" } = initializer(init).emit({ arr: `new ${FA}(${n})`, next, shape: fanShape(init, shape, p.attrs), args, use: (h) => cx.use(h), lit });
    const text = `${p.span.line > 0 ? cx.sourceLine(p.span.line) : ""}${note && ` ${commentText(note)}`}`.trim();
    return `${text ? `// ${text}\n` : ""}${key(p.name as string)}: ${expr},`;
  });
  return [
    `/**`,
    ` * Fresh parameters, initialised as declared. Deterministic: the same seed`,
    ` * gives the same values; each parameter draws from its own stream.`,
    ` */`,
    `export function init(seed = 0): Params {`,
    `if (!Number.isFinite(seed)) throw new Error(\`init: seed must be a finite number, got \${seed}\`);`,
    `return {`,
    ...fields,
    `};`,
    `}`,
  ].join("\n");
}
