// What an unknown function is answered with (spec section 9, "Errors name
// the way out"). A suggestion must mean the same thing as what was written,
// so there is no edit distance over names (gelu is one letter from relu, selu
// from elu): a name matches a builtin only when they are equal after dropping
// case and separators (maxpool2d, MaxPool2d -> max_pool2d), or through the
// table below of names other libraries (PyTorch, NumPy, JAX, TensorFlow)
// give the same operation. A table row whose builtin does not exist (yet) is
// skipped, so rows can name builtins that other changes add.

/** How a call of an unknown function reads, for messages: its argument texts. */
export interface CallText {
  args: readonly string[];
}

type Alias =
  /** The same operation under a builtin's name (used only if that builtin exists). */
  | { builtin: string; note?: string }
  /** No function: what to write instead, from the call's arguments. */
  | { write: (a: readonly string[]) => string; needs?: readonly string[] };

const arg = (a: readonly string[], i: number, fallback: string): string => {
  const t = a[i];
  if (t === undefined) return fallback;
  return /^[\w.]+$/.test(t) || /^\w+\(.*\)$/.test(t) ? t : `(${t})`;
};
const matmul = (a: readonly string[]): string => `${arg(a, 0, "a")} @ ${arg(a, 1, "b")}`;
const binary = (op: string) => (a: readonly string[]) => `${arg(a, 0, "a")} ${op} ${arg(a, 1, "b")}`;

// Lower-case, separator-free keys: `matMul`, `mat_mul` and `matmul` are one row.
const ALIAS_ROWS: Readonly<Record<string, Alias>> = {
  // products: the language's operator
  matmul: { write: matmul },
  mm: { write: matmul },
  bmm: { write: matmul },
  dot: { write: matmul },
  inner: { write: matmul },
  mv: { write: matmul },
  linear: { write: (a) => `${arg(a, 0, "x")} @ ${arg(a, 1, "W")}${a[2] ? ` + ${arg(a, 2, "b")}` : ""} (with W: [in, out])` },
  tensordot: { builtin: "einsum" },
  // arithmetic written as functions
  add: { write: binary("+") },
  subtract: { write: binary("-") },
  sub: { write: binary("-") },
  multiply: { write: binary("*") },
  mul: { write: binary("*") },
  divide: { write: binary("/") },
  div: { write: binary("/") },
  truedivide: { write: binary("/") },
  pow: { write: binary("^") },
  power: { write: binary("^") },
  negative: { write: (a) => `-${arg(a, 0, "x")}` },
  neg: { write: (a) => `-${arg(a, 0, "x")}` },
  reciprocal: { write: (a) => `1 / ${arg(a, 0, "x")}` },
  rsqrt: { write: (a) => `1 / sqrt(${a[0] ?? "x"})` },
  // elementwise and reductions under other names
  absolute: { builtin: "abs" },
  sqr: { builtin: "square" },
  clamp: { builtin: "clip" },
  clipbyvalue: { builtin: "clip" },
  swish: { builtin: "silu" },
  hardtanh: { write: (a) => `clip(${a[0] ?? "x"}, -1, 1)` },
  amax: { builtin: "max" },
  amin: { builtin: "min" },
  reducesum: { builtin: "sum" },
  reducemean: { builtin: "mean" },
  reducemax: { builtin: "max" },
  reducemin: { builtin: "min" },
  reducelogsumexp: { builtin: "logsumexp" },
  variance: { builtin: "var" },
  std: { write: (a) => `sqrt(var(${a.join(", ") || "x"}) + 1e-5)`, needs: ["var"] },
  norm: { write: (a) => `sqrt(sum(square(${a[0] ?? "x"})))` },
  // layout
  cat: { builtin: "concat" },
  concatenate: { builtin: "concat" },
  unsqueeze: { builtin: "expand_dims" },
  expanddims: { builtin: "expand_dims" },
  permute: { write: (a) => `transpose(${a[0] ?? "x"}, ${a.length === 2 && a[1].startsWith("[") ? a[1] : a.length > 1 ? `[${a.slice(1).join(", ")}]` : "[..]"})` },
  view: { builtin: "reshape" },
  flatten: { write: (a) => `reshape(${a[0] ?? "x"}, [B, -1]) (name the axes to keep)` },
  broadcastto: { write: () => "nothing: operands broadcast as in NumPy (add an axis with None or expand_dims)" },
  expand: { write: () => "nothing: operands broadcast as in NumPy (add an axis with None or expand_dims)" },
  gather: { write: (a) => `${arg(a, 0, "E")}[idx] for rows (an embedding lookup), or take(x, idx, axis=k)`, needs: ["take"] },
  indexselect: { builtin: "take" },
  embedding: { write: () => "E[idx] with E: [V, D] and idx an int tensor", needs: ["take"] },
  vstack: { builtin: "concat" },
  hstack: { builtin: "concat" },
  // neural-network
  layernorm: { builtin: "layer_norm" },
  crossentropyloss: { builtin: "cross_entropy" },
  softmaxcrossentropy: { builtin: "cross_entropy" },
  softmaxcrossentropywithlogits: { builtin: "cross_entropy" },
  sparsesoftmaxcrossentropywithlogits: { builtin: "cross_entropy" },
  sparsecategoricalcrossentropy: { builtin: "cross_entropy" },
  nllloss: { write: (a) => `-pick(${a[0] ?? "logp"}, ${a[1] ?? "y"}) on log-probabilities, or cross_entropy(logits, y) on logits` },
  binarycrossentropywithlogits: { builtin: "bce_with_logits" },
  sigmoidcrossentropywithlogits: { builtin: "bce_with_logits" },
  bcewithlogitsloss: { builtin: "bce_with_logits" },
  mseloss: { write: (a) => `mean(square(${arg(a, 0, "a")} - ${arg(a, 1, "b")}))` },
  huberloss: { builtin: "huber" },
  smoothl1loss: { builtin: "huber" },
  onehot: { builtin: "one_hot" },
  maxpool: { builtin: "max_pool2d" },
  avgpool: { builtin: "avg_pool2d" },
  conv: { builtin: "conv2d" },
  convtranspose: { builtin: "conv_transpose2d" },
  stopgradient: { builtin: "stop_gradient" },
  detach: { builtin: "stop_gradient" },
  // constructors and other habits
  zeroslike: { write: (a) => `zeros([..]) with ${a[0] ?? "x"}'s shape written as dims` },
  oneslike: { write: (a) => `ones([..]) with ${a[0] ?? "x"}'s shape written as dims` },
  range: { builtin: "arange" },
  len: { write: () => "the dim's name: shapes are known at compile time (dim B, dim T = 50)" },
  shape: { write: () => "the dim names: shapes are known at compile time (dim B, dim T = 50)" },
  print: { write: () => "output NAME to return the value from forward" },
};

/** A Map, so that `constructor` is not found on a prototype. */
const ALIASES: ReadonlyMap<string, Alias> = new Map(Object.entries(ALIAS_ROWS));

/** The key a name is compared by: lower case, no separators. */
export const normalize = (name: string): string => name.toLowerCase().replace(/[_\-\s]/g, "");

/**
 * "; write a @ b instead", "; did you mean 'max_pool2d'?", or "" when no
 * builtin or construct means what `name` means. `known` are the builtins and
 * defs in scope (a def counts as a function the user chose the name of).
 */
export function suggestFunction(name: string, known: Iterable<string>, call: CallText = { args: [] }): string {
  const names = [...new Set(known)];
  const key = normalize(name);
  const same = names.find((k) => normalize(k) === key && k !== name);
  if (same) return `; did you mean '${same}'?`;
  const alias = ALIASES.get(key);
  if (alias && "builtin" in alias) {
    if (names.includes(alias.builtin)) return `; did you mean '${alias.builtin}'? (${name} is called ${alias.builtin} here)`;
    return "";
  }
  if (alias && (alias.needs ?? []).every((b) => names.includes(b))) return `; write ${alias.write(call.args)} instead`;
  // A typo: two neighbouring letters swapped (rleu, sfotmax); in a name of six
  // letters or more, one letter missing, doubled or mistyped (sigmod, einsun).
  // Short names and digits are where one character turns a function into
  // another (gelu/relu, selu/elu, tan/tanh, conv1d/conv2d), so not there.
  const typo = names.find((k) => {
    const c = normalize(k);
    if (c.length >= 4 && swapped(key, c)) return true;
    return Math.min(key.length, c.length) >= 6 && (oneInserted(key, c) || oneLetterChanged(key, c));
  });
  return typo ? `; did you mean '${typo}'?` : "";
}

/** Whether a and b differ by one swap of neighbouring letters. */
function swapped(a: string, b: string): boolean {
  if (a.length !== b.length || a === b) return false;
  const diff: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff.push(i);
  return diff.length === 2 && diff[1] === diff[0] + 1 && a[diff[0]] === b[diff[1]] && a[diff[1]] === b[diff[0]];
}

/** Whether one of a, b is the other with one letter inserted. */
function oneInserted(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) !== 1) return false;
  const [s, l] = a.length < b.length ? [a, b] : [b, a];
  // A letter, not a digit: conv2d is not conv, logsigmoid2 is not log_sigmoid.
  for (let i = 0; i < l.length; i++) if (/[a-z]/.test(l[i]) && l.slice(0, i) + l.slice(i + 1) === s) return true;
  return false;
}

/** Whether a and b differ in exactly one position, a letter for a letter. */
function oneLetterChanged(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  const diff: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff.push(i);
  return diff.length === 1 && /[a-z]/.test(a[diff[0]]) && /[a-z]/.test(b[diff[0]]);
}

/** Python and NumPy spellings of values the language writes another way. */
const NAMES: ReadonlyMap<string, string> = new Map([
  ["True", "true"],
  ["False", "false"],
  ["pi", "3.141592653589793"],
  ["inf", "a large constant such as 1e30 (there is no infinity literal)"],
  ["nan", "nothing: there is no NaN literal"],
]);

/** "; write true" for a Python spelling of a value, or "". */
export function suggestName(name: string): string {
  const w = NAMES.get(name);
  return w ? `; write ${w}` : "";
}
