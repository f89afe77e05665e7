// Test helper: counts typed arrays and ArrayBuffers constructed while `run` runs.
const KINDS = ["Float32Array", "Float64Array", "Int32Array", "ArrayBuffer"] as const;

export function countAllocations(run: () => void): number {
  const g = globalThis as unknown as Record<string, unknown>;
  const real = Object.fromEntries(KINDS.map((k) => [k, g[k]]));
  let made = 0;
  for (const k of KINDS) {
    g[k] = new Proxy(real[k] as new (...a: unknown[]) => object, {
      construct(target, args, newTarget) {
        made++;
        return Reflect.construct(target, args, newTarget) as object;
      },
    });
  }
  try {
    run();
  } finally {
    Object.assign(g, real);
  }
  return made;
}

/**
 * Source text for a child process run with --expose-gc (it must import
 * node:v8 as `v8`): `perCall(f)`, the bytes of young-generation heap one call
 * of `f` allocates, the least of several runs (an allocation per call shows
 * in every run, a compiler's now and then in one).
 */
/**
 * Node flags for that child process. TurboFan compiles synchronously
 * (--no-concurrent-recompilation): on a loaded machine a background compile
 * can miss the whole measurement, and unoptimised code boxes the doubles it
 * stores (1.5 KB per call seen in CI), which is not what a user's hot loop runs.
 */
export const HEAP_FLAGS = ["--expose-gc", "--max-semi-space-size=64", "--no-concurrent-recompilation"];

export const HEAP_PER_CALL = `const used = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_used_size;
const perCall = (f) => {
  let least = Infinity;
  for (let run = 0; run < 6; run++) {
    for (let i = 0; i < 200; i++) f();
    gc();
    const before = used();
    for (let i = 0; i < 300; i++) f();
    least = Math.min(least, (used() - before) / 300);
  }
  return least;
};`;
