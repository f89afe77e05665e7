// Names while lowering: what a name stands for, the nested environments it
// is looked up in, and the "unknown name" errors with their suggestions.
import { BpcError, type Span } from "../../diag.js";
import type { Dim, Node } from "../../ir/types.js";
import { BUILTINS } from "./builtins.js";
import type { Lowering } from "./context.js";
import { suggestName } from "./suggestions.js";

/** What a name can stand for while lowering. */
export type Binding = { kind: "tensor"; node: Node } | { kind: "dim"; dim: Dim; span: Span };

export class Env {
  private readonly vars = new Map<string, Binding>();
  /**
   * `scope` envs (the top level, a def's body) own their assignments; a loop
   * body's env is not a scope, so assigning a name defined outside the loop
   * updates it there (a carried value).
   */
  constructor(
    readonly parent: Env | null,
    readonly scope = true,
  ) {}
  get(name: string): Binding | undefined {
    return this.vars.get(name) ?? this.parent?.get(name);
  }
  has(name: string): boolean {
    return this.vars.has(name) || (this.parent?.has(name) ?? false);
  }
  set(name: string, b: Binding): void {
    this.vars.set(name, b);
  }
  /** Rebinds the name where it is bound, looking no further than the enclosing scope; else binds it here. */
  assign(name: string, b: Binding): void {
    for (let e: Env | null = this; e; e = e.parent) {
      if (e.vars.has(name)) {
        e.vars.set(name, b);
        return;
      }
      if (e.scope) break;
    }
    this.vars.set(name, b);
  }
  names(): string[] {
    return [...this.vars.keys(), ...(this.parent?.names() ?? [])];
  }
}

/** The binding of a name used as a value, or an error saying why there is none. */
export function lookup(cx: Lowering, name: string, span: Span, env: Env): Binding {
  const b = env.get(name);
  if (b) return b;
  const local = cx.loopLocals.get(name);
  if (local) {
    throw new BpcError(`'${name}' is only defined inside the loop at line ${local.line}`, span, [
      `assign ${name} before the loop to carry it out of the loop`,
    ]);
  }
  if (cx.defs.has(name) || BUILTINS.has(name)) throw new BpcError(`'${name}' is a function; call it with (...)`, span);
  throw new BpcError(`unknown name '${name}'${suggestName(name) || suggest(name, env.names())}`, span);
}

/** "; did you mean 'x'?" for the closest candidate, if it is close enough; else "". */
export function suggest(name: string, candidates: Iterable<string>): string {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of new Set(candidates)) {
    const d = editDistance(name, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== null && bestD <= Math.max(1, Math.floor(name.length / 3)) ? `; did you mean '${best}'?` : "";
}

/** Edit distance counting a swap of two neighbours as one edit (typos like rleu). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
