// The module's `init`: fresh parameters drawn as each param declares, from a
// seeded stream per parameter.
import { fanShape } from "../ir/init.js";
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
    let expr: string;
    let note = "";
    switch (init) {
      case "zeros":
        expr = `new ${FA}(${n})`;
        break;
      case "ones":
        expr = `new ${FA}(${n}).fill(1)`;
        break;
      case "const":
        expr = `new ${FA}(${n}).fill(${lit(args[0])})`;
        break;
      case "normal":
        expr = `${cx.use("fillNormal")}(new ${FA}(${n}), ${next}, ${lit(args[0])}, ${lit(args[1])})`;
        break;
      case "uniform":
        expr = `${cx.use("fillUniform")}(new ${FA}(${n}), ${next}, ${lit(args[0])}, ${lit(args[1])})`;
        break;
      case "xavier": {
        const shape = fanShape(init, p.shape as number[], p.attrs);
        const rf = shape.slice(2).reduce((a, b) => a * b, 1);
        const fanIn = shape[0] * rf;
        const fanOut = shape[1] * rf;
        note = `(Glorot uniform: fan_in ${fanIn}, fan_out ${fanOut})`;
        expr = `${cx.use("fillUniform")}(new ${FA}(${n}), ${next}, -Math.sqrt(6 / ${fanIn + fanOut}), Math.sqrt(6 / ${fanIn + fanOut}))`;
        break;
      }
      case "he": {
        const fanIn = fanShape(init, shape, p.attrs)[0];
        note = `(Kaiming normal: fan_in ${fanIn})`;
        expr = `${cx.use("fillNormal")}(new ${FA}(${n}), ${next}, 0, Math.sqrt(2 / ${fanIn}))`;
        break;
      }
      case "orthogonal":
        expr = `${cx.use("orthogonal")}(new ${FA}(${n}), ${next}, ${shape[0]}, ${shape[1]})`;
        break;
      default:
        throw new Error(`internal error: unknown initializer ${init}`);
    }
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
