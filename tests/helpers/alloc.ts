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
