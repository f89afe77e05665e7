// Constructs of Python, NumPy and PyTorch that the language lacks, recognised
// at a syntax error so the message says what to write instead (spec section
// 9, "Errors name the way out"). Each test reads the offending line around
// the token the parser stopped at; the first that matches wins.
import type { Span } from "../../diag.js";

interface At {
  /** The whole line the error is on. */
  line: string;
  /** 0-based column of the offending token in the line. */
  col: number;
  /** The offending token's text ("" at the end of the file). */
  token: string;
}

const SHAPE_ATTRS = new Set(["shape", "size", "ndim", "dtype", "numel", "dim", "len"]);
/** Module names from Python code (np.sum, F.relu, torch.matmul). */
const MODULES = new Set(["np", "numpy", "torch", "F", "nn", "jnp", "jax", "tf", "math", "lax"]);

const HINTS: { test: (a: At) => boolean | RegExpExecArray | null; say: (a: At) => string }[] = [
  {
    test: (a) => a.line.slice(0, a.col).endsWith(".") && SHAPE_ATTRS.has(a.token),
    say: (a) => `there is no .${a.token}: shapes are known at compile time, so write the dims by name (declared with 'dim B' or 'dim T = 50')`,
  },
  {
    test: (a) => a.line.slice(0, a.col).endsWith(".") && MODULES.has(receiver(a)),
    say: (a) => `there are no modules: the builtins are called directly, as ${a.token}(...)`,
  },
  {
    test: (a) => a.line.slice(0, a.col).endsWith(".") && /^[A-Za-z_]\w*$/.test(a.token) && a.line.slice(a.col + a.token.length).trimStart().startsWith("("),
    say: (a) => `there are no methods: call the function on the value, ${a.token}(${receiver(a)}, ...)`,
  },
  {
    test: (a) => /^\s*(if|elif|else)\b/.test(a.line),
    say: () => "there is no if statement: choose elementwise with where(cond, a, b) (a comparison gives 0 or 1)",
  },
  {
    test: (a) => /\S\s+if\b.*\belse\b/.test(a.line),
    say: () => "there is no conditional expression: write where(cond, a, b)",
  },
  {
    test: (a) => /^\s*while\b/.test(a.line),
    say: () => "there is no while loop: a loop runs a fixed number of steps, for t in 0..T { ... }",
  },
  {
    test: (a) => /^\s*for\s+\w+\s+in\s+range\s*\(/.test(a.line),
    say: (a) => {
      const m = /range\s*\(([^,)]*)\)/.exec(a.line);
      return `write the range as 0..N: for ${/for\s+(\w+)/.exec(a.line)![1]} in 0..${m ? m[1].trim() : "N"} { ... }`;
    },
  },
  {
    test: (a) => /\blambda\b/.test(a.line),
    say: () => "there is no lambda: write a def, def f(a) = EXPR",
  },
  {
    test: (a) => /^\s*def\b[^=]*\)\s*:/.test(a.line),
    say: () => "a def's body is '= EXPR' or '{ ...; return EXPR }': def f(a) = relu(a)",
  },
  {
    test: (a) => /^\s*(import|from)\b/.test(a.line),
    say: () => "a .bp file imports nothing: every builtin is always available",
  },
  {
    test: (a) => /^(\s*[A-Za-z_]\w*(\[[^\]]*\])?)\s*([-+*/^@])=/.exec(a.line),
    say: (a) => {
      const m = /^(\s*[A-Za-z_]\w*(\[[^\]]*\])?)\s*([-+*/^@])=/.exec(a.line)!;
      const name = m[1].trim();
      return `there is no ${m[3]}= : write ${name} = ${name} ${m[3]} ...`;
    },
  },
  {
    test: (a) => a.token === "*" && (a.line[a.col + 1] === "*" || a.line[a.col - 1] === "*"),
    say: () => "there is no **: the power operator is ^ (x ^ 2)",
  },
  {
    test: (a) => a.token.startsWith("%"),
    say: () => "there is no % operator: for a remainder write x - N * floor(x / N)",
  },
  {
    test: (a) => /^(and|or|not)$/.test(a.token) || /\b(and|or|not)\b/.test(a.line.slice(0, a.col + a.token.length)),
    say: () => "there are no boolean operators: comparisons give 0 or 1, so write a * b for and, maximum(a, b) for or, 1 - a for not",
  },
];

/** The value before `.name(`, for the method message. */
function receiver(a: At): string {
  const m = /([A-Za-z_]\w*(\[[^\]]*\])?)\.$/.exec(a.line.slice(0, a.col));
  return m ? m[1] : "x";
}

/** What to write instead of a construct the language lacks, if the error is at one; else null. */
export function missingConstruct(source: string, span: Span, token: string): string | null {
  const full = source.split(/\r?\n/)[span.line - 1];
  if (full === undefined) return null;
  const line = full.replace(/#.*/, ""); // a comment's words are not code
  const at: At = { line, col: span.col - 1, token };
  for (const h of HINTS) if (h.test(at)) return h.say(at);
  return null;
}
