// Identifiers, string literals and comments derived from .bp source text.
// A .bp name reaches the generated TypeScript in exactly three ways: as an
// identifier after `Namer.claim` (reserved words and the module's own names
// get a `_` suffix, duplicates a `_2`, `_3`, ...), inside a string literal via
// `str` (JSON.stringify), and inside a comment via `commentText` (line
// terminators and `*/` removed). Nothing else from the source is spliced in.

/** JS keywords, strict-mode and module reserved words, and names that cannot be bound in strict code. */
const JS_RESERVED = `break case catch class const continue debugger default delete do else enum export extends
false finally for function if import in instanceof new null return super switch this throw true try typeof var
void while with yield let static implements interface package private protected public await arguments eval
undefined NaN Infinity globalThis async of get set as type declare namespace module require exports`.split(/\s+/);

/** Globals the generated module reads. */
const GLOBALS = `Math Float32Array Float64Array Int32Array Uint32Array Array ArrayBuffer Error RangeError TypeError
Object Number String Boolean Symbol JSON BigInt Date console Function Promise Reflect Proxy __proto__ prototype
constructor hasOwnProperty toString valueOf`.split(/\s+/);

/** Names the generated module defines at top level or in its functions' signatures. */
export const MODULE_NAMES = `model init forward backward Params Inputs Outputs Grads ModelInfo params inputs fw bw
seed dims forwardWorkspace backwardWorkspace ForwardWorkspace BackwardWorkspace computeForward forwardOutputs computeBackward
bindDims checkKeys checkArray checkFinite inferDim badDim describe rng gauss fillNormal fillUniform orthogonal
matmulNN matmulNT matmulTN matmulTT softmax logSoftmax crossEntropy pick oneHot checkIndex copy
checkFiniteVia simdKernel simdModule SIMD_KERNEL WasmModule WasmApi Arena newArena take matmulSimd matmulJs transposeInto
useWorkspaces fwSpare bwSpare ws relu32 checkScalar scalarIn
convForward convTranspose convKernelGrad convForwardMm convTransposeMm convKernelGradMm maxPool maxPoolGrad avgPool avgPoolGrad`.split(/\s+/);

const RESERVED = new Set([...JS_RESERVED, ...GLOBALS, ...MODULE_NAMES]);

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Hands out unique, safe identifiers. Every source-derived name goes through
 * `claim`; kernel temporaries (`i`, `o`, `acc`) go through `temp`, which
 * avoids every claimed name, so a temporary never shadows a value a kernel
 * reads.
 */
export class Namer {
  private readonly taken = new Set<string>(RESERVED);

  /** A unique identifier close to `base` (a .bp name or a derived one such as `dW1`). */
  claim(base: string): string {
    let name = IDENT.test(base) ? base : base.replace(/[^A-Za-z0-9_]/g, "_").replace(/^(?=[0-9]|$)/, "_");
    // Reserved words, the module's own names, and the names of matmul kernels (matmulNT_mx10x128).
    if (RESERVED.has(name) || /^matmul[NT]{2}_/.test(name)) name += "_";
    if (!this.taken.has(name)) {
      this.taken.add(name);
      return name;
    }
    const stem = name;
    for (let k = 2; ; k++) {
      const cand = `${stem}_${k}`;
      if (!this.taken.has(cand)) {
        this.taken.add(cand);
        return cand;
      }
    }
  }

  private readonly blocked = new Set<string>();

  /**
   * Keeps temporaries away from a name that may be claimed later (names are
   * claimed as kernels are written, but a kernel's loop counters are chosen
   * before the names of the values computed inside it).
   */
  block(base: string): void {
    this.blocked.add(base);
  }

  /** Whether kernel temporaries must avoid `name`. */
  has(name: string): boolean {
    return this.taken.has(name) || this.blocked.has(name);
  }
}

/**
 * Names for the temporaries of one kernel: loop counters `i, j, k, ...`,
 * offsets `o, o2, ...`. They avoid every claimed name; a clash falls back to a
 * `$` suffix, which no .bp identifier can contain.
 */
export class Temps {
  private readonly used = new Set<string>();
  constructor(private readonly names: Namer) {}

  fresh(base: string): string {
    const counters = ["i", "j", "k", "l", "m", "n", "p", "q", "r"];
    const candidates = base === "i" ? counters : [base, ...[2, 3, 4, 5, 6, 7, 8, 9].map((k) => `${base}${k}`)];
    for (const cand of [...candidates, ...candidates.map((c) => `${c}$`)]) {
      if (!this.used.has(cand) && !this.names.has(cand)) {
        this.used.add(cand);
        return cand;
      }
    }
    for (let k = 10; ; k++) {
      const cand = `${base}${k}$`;
      if (!this.used.has(cand)) {
        this.used.add(cand);
        return cand;
      }
    }
  }
}

/** A string literal. */
export function str(s: string): string {
  return JSON.stringify(s);
}

/** An object key: an IdentifierName as is, `__proto__` computed so it is an own property, never the prototype. */
export function key(name: string): string {
  if (name === "__proto__") return `["__proto__"]`;
  return IDENT.test(name) ? name : str(name);
}

/** A property read: `obj.name`, or `obj["__proto__"]`. */
export function prop(obj: string, name: string): string {
  return IDENT.test(name) && name !== "__proto__" ? `${obj}.${name}` : `${obj}[${str(name)}]`;
}

/** Text safe inside a `//` or `/* *\/` comment: one line, no comment terminator. */
export function commentText(s: string): string {
  return s
    .replace(/[\r\n\u2028\u2029]+/g, " ")
    .replace(/\*\//g, "* /")
    .trim();
}
