// Initializers, one entry each, holding every fact about them: how many
// arguments they take and which shapes they accept, how they fill a param
// (in float64 here, and as the generated module's `init` code), and what the
// linter knows of the values: their interval, per-element moments and the
// large-n spectral radius of a square matrix so initialised. The generated
// `init` and the linter's sampler draw the same numbers for the same seed
// (./random.ts; one stream per param).
import { iv, point, REAL, type Interval, type Moments } from "./ranges.js";
import { gauss } from "./random.js";

export type InitName = "zeros" | "ones" | "const" | "normal" | "uniform" | "xavier" | "he" | "orthogonal";

/** Runtime helpers an initializer's generated code calls (their source is INIT_SOURCE). */
export type InitHelper = "fillNormal" | "fillUniform" | "orthogonal";

export interface EmitInit {
  /** A fresh zeroed array of the param's size, e.g. `new Float32Array(100352)`. */
  arr: string;
  /** An expression giving the param's uniform stream, e.g. `rng(seed, 0)`. */
  next: string;
  shape: readonly number[];
  args: readonly number[];
  /** Claims a runtime helper and returns its name. */
  use(h: InitHelper): string;
  lit(v: number): string;
}

export interface InitDef {
  /** How many numbers it takes: `normal(mean, std)` takes 2. */
  args: number;
  /** Why it cannot initialise param `name` of this shape with these arguments, or null. */
  check(shape: readonly number[], args: readonly number[], name: string): string | null;
  /** Fills `out` (row-major, of `shape`) in float64, drawing exactly what the generated `init` draws. */
  sample(out: Float64Array, shape: readonly number[], args: readonly number[], next: () => number): void;
  /** The generated `init`'s expression for the param, and a comment that explains it. */
  emit(e: EmitInit): { expr: string; note?: string };
  /** Every value it can produce. */
  interval(shape: readonly number[], args: readonly number[]): Interval;
  /** Mean and variance of one element. */
  moments(shape: readonly number[], args: readonly number[]): Moments;
  /** The spectral radius of an n×n matrix so initialised, for large n (null: not known in closed form). */
  radius(n: number, args: readonly number[]): number | null;
}

/**
 * Fan-in and fan-out of a param: its first two axes, each times the receptive
 * field (the product of the remaining axes), as Glorot and PyTorch count them.
 */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number; receptive: number } {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: (shape[0] ?? 1) * receptive, fanOut: (shape[1] ?? 1) * receptive, receptive };
}

/**
 * The shape an initializer reads, by how the param is used (spec section 9):
 *   - a conv kernel [Cout, Cin/groups, k...] (marked `fans: "conv"` where a
 *     conv reads it): he and xavier take PyTorch's fan-in Cin/groups * prod(k)
 *     and fan-out Cout * prod(k), given here as the matrix [fan_in, fan_out];
 *   - a stack of matrices [L, D, H] (marked `fans: "stack"` where it is read
 *     as W[l], or as a batch of matrices by `@`): he and xavier take the fans
 *     of one matrix, [D, H]; orthogonal makes each W[l] orthogonal, given
 *     here as [L, D, H] (a rank-3 shape is a stack to orthogonal);
 *   - orthogonal on 3+ axes otherwise: over the trailing axes flattened,
 *     [s0, s1 * s2 * ...] (PyTorch's orthogonal_);
 *   - anything else as declared.
 */
export function fanShape(init: string, shape: readonly number[], attrs: Readonly<Record<string, unknown>>): readonly number[] {
  if (shape.length < 3) return shape;
  const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
  if (init === "orthogonal") return attrs.fans === "stack" ? [shape[0], shape[1], prod(shape.slice(2))] : [shape[0], prod(shape.slice(1))];
  if (init !== "he" && init !== "xavier") return shape;
  if (attrs.fans === "conv") return [shape[1] * prod(shape.slice(2)), shape[0] * prod(shape.slice(2))];
  if (attrs.fans === "stack") return shape.slice(1);
  return shape;
}

const constant = (value: (args: readonly number[]) => number, emit: (e: EmitInit) => string): InitDef => ({
  args: 0,
  check: () => null,
  sample: (out, _s, args) => out.fill(value(args)),
  emit: (e) => ({ expr: emit(e) }),
  interval: (_s, args) => point(value(args)),
  moments: (_s, args) => ({ mean: value(args), var: 0 }),
  radius: (n, args) => Math.abs(value(args)) * n,
});

function fillNormal(out: Float64Array, next: () => number, mean: number, std: number): void {
  for (let i = 0; i < out.length; i++) out[i] = mean + std * gauss(next);
}

function fillUniform(out: Float64Array, next: () => number, lo: number, hi: number): void {
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * next();
}

const xavierBound = (shape: readonly number[]): number => {
  const { fanIn, fanOut } = fans(shape);
  return Math.sqrt(6 / (fanIn + fanOut));
};

export const INITIALIZERS: Record<InitName, InitDef> = {
  zeros: constant(() => 0, (e) => e.arr),
  ones: constant(() => 1, (e) => `${e.arr}.fill(1)`),
  const: { ...constant((a) => a[0], (e) => `${e.arr}.fill(${e.lit(e.args[0])})`), args: 1 },
  normal: {
    args: 2,
    check: (_s, [, std]) => (std < 0 ? "normal's std must be >= 0" : null),
    sample: (out, _s, [mean, std], next) => fillNormal(out, next, mean, std),
    emit: (e) => ({ expr: `${e.use("fillNormal")}(${e.arr}, ${e.next}, ${e.lit(e.args[0])}, ${e.lit(e.args[1])})` }),
    interval: (_s, [mean, std]) => (std === 0 ? point(mean) : REAL),
    moments: (_s, [mean, std]) => ({ mean, var: std * std }),
    radius: (n, [mean, std]) => Math.max(Math.abs(std) * Math.sqrt(n), Math.abs(mean) * n),
  },
  uniform: {
    args: 2,
    check: (_s, [lo, hi]) => (lo > hi ? "uniform's low end is above its high end" : null),
    sample: (out, _s, [lo, hi], next) => fillUniform(out, next, lo, hi),
    emit: (e) => ({ expr: `${e.use("fillUniform")}(${e.arr}, ${e.next}, ${e.lit(e.args[0])}, ${e.lit(e.args[1])})` }),
    interval: (_s, [lo, hi]) => iv(lo, hi),
    moments: (_s, [lo, hi]) => ({ mean: (lo + hi) / 2, var: (hi - lo) ** 2 / 12 }),
    radius: (n, [lo, hi]) => Math.max(((hi - lo) / Math.sqrt(12)) * Math.sqrt(n), Math.abs((lo + hi) / 2) * n),
  },
  xavier: {
    args: 0,
    check: (s, _a, name) => (s.length < 2 ? `xavier needs at least 2 axes (fan-in and fan-out); ${name} is [${s.join(", ")}]` : null),
    sample: (out, s, _a, next) => fillUniform(out, next, -xavierBound(s), xavierBound(s)),
    emit: (e) => {
      const { fanIn, fanOut } = fans(e.shape);
      return {
        expr: `${e.use("fillUniform")}(${e.arr}, ${e.next}, -Math.sqrt(6 / ${fanIn + fanOut}), Math.sqrt(6 / ${fanIn + fanOut}))`,
        note: `(Glorot uniform: fan_in ${fanIn}, fan_out ${fanOut})`,
      };
    },
    interval: (s) => iv(-xavierBound(s), xavierBound(s)),
    moments: (s) => ({ mean: 0, var: xavierBound(s) ** 2 / 3 }),
    radius: (n) => Math.sqrt(2 / (2 * n)) * Math.sqrt(n),
  },
  he: {
    args: 0,
    check: (s) => (s.length < 1 ? "he needs at least 1 axis (fan-in)" : null),
    sample: (out, s, _a, next) => fillNormal(out, next, 0, Math.sqrt(2 / s[0])),
    emit: (e) => ({
      expr: `${e.use("fillNormal")}(${e.arr}, ${e.next}, 0, Math.sqrt(2 / ${e.shape[0]}))`,
      note: `(Kaiming normal: fan_in ${e.shape[0]})`,
    }),
    interval: () => REAL,
    moments: (s) => ({ mean: 0, var: 2 / s[0] }),
    radius: (n) => Math.sqrt(2 / n) * Math.sqrt(n),
  },
  // Given [rows, cols], or [L, rows, cols] for a stack of L matrices (fanShape).
  orthogonal: {
    args: 0,
    check: (s, _a, name) => (s.length < 2 ? `orthogonal needs a param of at least 2 axes; ${name} is [${s.join(", ")}]` : null),
    sample: (out, s, _a, next) => {
      const [rows, cols] = s.slice(-2);
      const n = rows * cols;
      for (let l = 0; l < out.length / n; l++) orthogonal(out.subarray(l * n, (l + 1) * n), next, rows, cols);
    },
    emit: (e) => {
      const [rows, cols] = e.shape.slice(-2);
      if (e.shape.length === 2) return { expr: `${e.use("orthogonal")}(${e.arr}, ${e.next}, ${rows}, ${cols})` };
      const n = rows * cols;
      return {
        expr: `((a, next) => {\nfor (let l = 0; l < ${e.shape[0]}; l++) ${e.use("orthogonal")}(a.subarray(l * ${n}, (l + 1) * ${n}), next, ${rows}, ${cols});\nreturn a;\n})(${e.arr}, ${e.next})`,
        note: `(each of the ${e.shape[0]} matrices [${rows}, ${cols}] orthogonal)`,
      };
    },
    interval: () => iv(-1, 1),
    moments: (s) => ({ mean: 0, var: 1 / Math.max(...s.slice(-2)) }),
    radius: () => 1,
  },
};

export const INIT_NAMES = Object.keys(INITIALIZERS) as InitName[];

/** The entry of an initializer name (lowering has checked the name). */
export function initializer(name: string): InitDef {
  const def = (INITIALIZERS as Record<string, InitDef | undefined>)[name];
  if (!def) throw new Error(`internal error: unknown initializer ${name}`);
  return def;
}

/**
 * A random [rows, cols] matrix with orthonormal columns (rows >= cols) or rows
 * (rows < cols): Gram-Schmidt, twice for accuracy, of a normal matrix. The
 * generated module runs the same steps (INIT_SOURCE.orthogonal).
 */
function orthogonal(a: Float64Array, next: () => number, rows: number, cols: number): void {
  const n = Math.max(rows, cols);
  const m = Math.min(rows, cols);
  const q = new Float64Array(n * m); // column j is q[j * n .. j * n + n)
  for (let i = 0; i < q.length; i++) q[i] = gauss(next);
  for (let j = 0; j < m; j++) {
    const qj = j * n;
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        const qp = p * n;
        let dot = 0;
        for (let i = 0; i < n; i++) dot += q[qp + i] * q[qj + i];
        for (let i = 0; i < n; i++) q[qj + i] -= dot * q[qp + i];
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += q[qj + i] * q[qj + i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) q[qj + i] /= norm;
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) a[r * cols + c] = rows >= cols ? q[c * n + r] : q[r * n + c];
  }
}

/**
 * The runtime helpers of the generated `init`, as source over the module's
 * float array type `FA`: the functions above, step for step (tests compare
 * the numbers both give).
 */
export function initSource(h: InitHelper, FA: string): string {
  switch (h) {
    case "fillNormal":
      return `
function fillNormal(a: ${FA}, next: () => number, mean: number, std: number): ${FA} {
  for (let i = 0; i < a.length; i++) a[i] = mean + std * gauss(next);
  return a;
}`;
    case "fillUniform":
      return `
function fillUniform(a: ${FA}, next: () => number, lo: number, hi: number): ${FA} {
  for (let i = 0; i < a.length; i++) a[i] = lo + (hi - lo) * next();
  return a;
}`;
    case "orthogonal":
      return `
/**
 * A random [rows, cols] matrix with orthonormal columns (rows >= cols) or rows
 * (rows < cols): Gram-Schmidt, twice for accuracy, of a normal matrix.
 */
function orthogonal(a: ${FA}, next: () => number, rows: number, cols: number): ${FA} {
  const n = Math.max(rows, cols);
  const m = Math.min(rows, cols);
  const q = new Float64Array(n * m); // column j is q[j * n .. j * n + n)
  for (let i = 0; i < q.length; i++) q[i] = gauss(next);
  for (let j = 0; j < m; j++) {
    const qj = j * n;
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        const qp = p * n;
        let dot = 0;
        for (let i = 0; i < n; i++) dot += q[qp + i] * q[qj + i];
        for (let i = 0; i < n; i++) q[qj + i] -= dot * q[qp + i];
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += q[qj + i] * q[qj + i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) q[qj + i] /= norm;
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) a[r * cols + c] = rows >= cols ? q[c * n + r] : q[r * n + c];
  }
  return a;
}`;
  }
}
