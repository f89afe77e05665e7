// Dim expressions (spec section 9): integer expressions of dims, literals,
// `+ - *`, `//` (floor division) and parentheses, as in `[B*T, D]`, `H:2*H`,
// `0..T-1`. A Dim is a number when constant, else a canonical string: a
// polynomial over atoms with integer coefficients, written so that equal
// polynomials are equal strings (`B*T` and `T*B` are both "B*T"), and shape
// equality stays `===`. An atom is any identifier (a symbolic dim, or a loop
// variable for whoever builds index expressions) or a floor division whose
// numerator or denominator is not constant, kept opaque (`(B+1)//2`).
//
// API (other modules use only these; never take a Dim string apart by hand):
//   dimOf(expr, resolve)           a source expression -> Dim (BpcError with the span)
//   parseDim(text)                 a canonical or hand-written string -> Dim
//   addDims, subDims, mulDims, negDim, floorDivDims, divExactDims, productDim   arithmetic
//   isConstDim(d), isAtomDim(d), dimAtLeast(d, k), dimAtoms(d)    questions
//   evalDim(d, env)                value with atoms bound (f64 references, linter, check)
//   substDim(d, f)                 replaces atoms by Dims
//   dimJs(d, local)                a JS expression for codegen
//   monomialOf(d), linearCoefficient(d, atom)   for sizes and solving input lengths
//   dimText(expr)                  an expression's source-like text, for messages
// Errors that are not about a source span (division by zero, overflow) are a DimError.
import { BpcError, type Span } from "../diag.js";
import type { Expr } from "../frontend/parser/ast.js";
import type { Dim } from "./types.js";

export class DimError extends Error {}

/** One monomial: an integer coefficient times sorted atoms (repeated for powers). */
interface Term {
  readonly coef: number;
  readonly atoms: readonly string[];
}
/** A polynomial, by monomial key (atoms joined with `*`; "" is the constant). */
type Poly = ReadonlyMap<string, Term>;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

// ---- polynomials -----------------------------------------------------------------

function safe(v: number): number {
  if (!Number.isSafeInteger(v)) throw new DimError("a dim expression overflows the integers");
  return v === 0 ? 0 : v; // no -0
}

function constPoly(k: number): Poly {
  return k === 0 ? new Map() : new Map([["", { coef: safe(k), atoms: [] }]]);
}

function atomPoly(name: string): Poly {
  return new Map([[name, { coef: 1, atoms: [name] }]]);
}

function addInto(out: Map<string, Term>, t: Term): void {
  const key = t.atoms.join("*");
  const coef = safe((out.get(key)?.coef ?? 0) + t.coef);
  if (coef === 0) out.delete(key);
  else out.set(key, { coef, atoms: t.atoms });
}

function add(a: Poly, b: Poly): Poly {
  const out = new Map(a);
  for (const t of b.values()) addInto(out, t);
  return out;
}

function scale(a: Poly, k: number): Poly {
  const out = new Map<string, Term>();
  for (const t of a.values()) addInto(out, { coef: safe(t.coef * k), atoms: t.atoms });
  return out;
}

function mul(a: Poly, b: Poly): Poly {
  const out = new Map<string, Term>();
  for (const x of a.values()) {
    for (const y of b.values()) addInto(out, { coef: safe(x.coef * y.coef), atoms: [...x.atoms, ...y.atoms].sort() });
  }
  return out;
}

function constOf(p: Poly): number | null {
  if (p.size === 0) return 0;
  const t = p.get("");
  return p.size === 1 && t ? t.coef : null;
}

/** Floor division, as Python's `//`. */
function floorInt(a: number, b: number): number {
  if (b === 0) throw new DimError("division by zero");
  return safe(Math.floor(a / b));
}

function floorDiv(n: Poly, d: Poly): Poly {
  const dk = constOf(d);
  const nk = constOf(n);
  if (dk === 0) throw new DimError("division by zero");
  if (nk === 0) return n;
  if (dk !== null && nk !== null) return constPoly(floorInt(nk, dk));
  if (dk !== null) {
    // Atoms are integers, so n = c*q + r with r's coefficients in [0, c) gives n//c = q + r//c.
    const c = Math.abs(dk);
    const num = dk < 0 ? scale(n, -1) : n;
    const q = new Map<string, Term>();
    const r = new Map<string, Term>();
    for (const t of num.values()) {
      const m = ((t.coef % c) + c) % c;
      addInto(q, { coef: (t.coef - m) / c, atoms: t.atoms });
      if (m) addInto(r, { coef: m, atoms: t.atoms });
    }
    const rk = constOf(r);
    return add(q, rk !== null ? constPoly(Math.floor(rk / c)) : atomPoly(divAtom(r, constPoly(c))));
  }
  return atomPoly(divAtom(n, d));
}

function divAtom(n: Poly, d: Poly): string {
  const wrap = (p: Poly): string => {
    const s = show(p);
    return IDENT.test(s) || /^\d+$/.test(s) ? s : `(${s})`;
  };
  return `${wrap(n)}//${wrap(d)}`;
}

// ---- canonical text ------------------------------------------------------------------

function show(p: Poly): string {
  const terms = [...p.values()].sort(
    (a, b) => Number(a.coef < 0) - Number(b.coef < 0) || b.atoms.length - a.atoms.length || cmp(a.atoms.join("*"), b.atoms.join("*")),
  );
  if (terms.length === 0) return "0";
  return terms
    .map((t, i) => {
      const abs = Math.abs(t.coef);
      const lead = i === 0 && t.coef < 0;
      // A division atom is bare only when it is the whole term, so `a*b//c` never reads as `(a*b)//c`.
      const bare = abs === 1 && t.atoms.length === 1 && !lead;
      const factors = t.atoms.map((a) => (IDENT.test(a) || bare ? a : `(${a})`));
      const body = t.atoms.length === 0 ? String(abs) : [...(abs === 1 ? [] : [String(abs)]), ...factors].join("*");
      return (t.coef < 0 ? "-" : i === 0 ? "" : "+") + body;
    })
    .join("");
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toDim(p: Poly): Dim {
  const k = constOf(p);
  if (k !== null) return k;
  const s = show(p);
  cache.set(s, p);
  return s;
}

// ---- parsing a Dim string ------------------------------------------------------------------

const cache = new Map<string, Poly>();

function polyOf(d: Dim): Poly {
  if (typeof d === "number") {
    if (!Number.isInteger(d)) throw new DimError(`a dim must be an integer, got ${d}`);
    return constPoly(d);
  }
  let p = cache.get(d);
  if (!p) {
    p = IDENT.test(d) ? atomPoly(d) : parsePoly(d);
    cache.set(d, p);
  }
  return p;
}

/** Parses `B*T`, `(B+1)//2`, `T - 5` (spaces allowed) into its canonical Dim; a DimError when malformed. */
export function parseDim(text: string): Dim {
  return toDim(parsePoly(text));
}

function parsePoly(text: string): Poly {
  const tokens = text.match(/\d+|[A-Za-z_][A-Za-z0-9_]*|\/\/|[-+*()]|\S/g) ?? [];
  let i = 0;
  const bad = (): never => {
    throw new DimError(`malformed dim expression '${text}'`);
  };
  const sum = (): Poly => {
    let p = prod();
    while (tokens[i] === "+" || tokens[i] === "-") {
      const op = tokens[i++];
      const q = prod();
      p = add(p, op === "+" ? q : scale(q, -1));
    }
    return p;
  };
  const prod = (): Poly => {
    let p = unary();
    while (tokens[i] === "*" || tokens[i] === "//") {
      const op = tokens[i++];
      const q = unary();
      p = op === "*" ? mul(p, q) : floorDiv(p, q);
    }
    return p;
  };
  const unary = (): Poly => (tokens[i] === "-" ? (i++, scale(unary(), -1)) : atom());
  const atom = (): Poly => {
    const t = tokens[i++];
    if (t === undefined) return bad();
    if (/^\d+$/.test(t)) return constPoly(Number(t));
    if (IDENT.test(t)) return atomPoly(t);
    if (t !== "(") return bad();
    const p = sum();
    if (tokens[i++] !== ")") bad();
    return p;
  };
  const p = sum();
  if (i !== tokens.length) bad();
  return p;
}

// ---- arithmetic on Dims ------------------------------------------------------------------

export const addDims = (a: Dim, b: Dim): Dim => toDim(add(polyOf(a), polyOf(b)));
export const subDims = (a: Dim, b: Dim): Dim => toDim(add(polyOf(a), scale(polyOf(b), -1)));
export const mulDims = (a: Dim, b: Dim): Dim => toDim(mul(polyOf(a), polyOf(b)));
export const negDim = (a: Dim): Dim => toDim(scale(polyOf(a), -1));
/** `a // b`, floor division; a DimError when b is the constant 0. */
export const floorDivDims = (a: Dim, b: Dim): Dim => toDim(floorDiv(polyOf(a), polyOf(b)));
/**
 * `a / b` when it divides exactly as polynomials by a monomial b
 * (`64*B*T / 64` is `B*T`); else null (`6*B / 4`, or b a sum).
 */
export function divExactDims(a: Dim, b: Dim): Dim | null {
  const m = monomialOf(b);
  if (m === null || m.k === 0) return null;
  const out = new Map<string, Term>();
  for (const t of polyOf(a).values()) {
    if (t.coef % m.k !== 0) return null;
    const atoms = [...t.atoms];
    for (const x of m.atoms) {
      const k = atoms.indexOf(x);
      if (k < 0) return null;
      atoms.splice(k, 1);
    }
    addInto(out, { coef: t.coef / m.k, atoms });
  }
  return toDim(out);
}
/** The product of a shape's dims (its number of elements). */
export const productDim = (dims: readonly Dim[]): Dim => dims.reduce<Dim>((p, d) => mulDims(p, d), 1);

export const isConstDim = (d: Dim): d is number => typeof d === "number";
/** A bare identifier: a symbolic dim (or a loop variable) by itself. */
export const isAtomDim = (d: Dim): d is string => typeof d === "string" && IDENT.test(d);

/**
 * Whether `d` is at least `k` whenever every identifier in it is at least 1
 * (as dims are): true when its non-constant terms have positive coefficients
 * and no division, so its least value is at all identifiers 1 (`T-1` >= 0,
 * `3*H-1` >= 1, `B*T` >= 1). False means "not provable", not "false".
 */
export function dimAtLeast(d: Dim, k: number): boolean {
  if (typeof d === "number") return d >= k;
  let least = 0;
  for (const t of polyOf(d).values()) {
    if (t.atoms.length && (t.coef < 0 || !t.atoms.every((a) => IDENT.test(a)))) return false;
    least += t.coef;
  }
  return least >= k;
}

/** The identifiers a Dim reads, inside divisions too, sorted. */
export function dimAtoms(d: Dim): string[] {
  const out = new Set<string>();
  const visit = (p: Poly): void => {
    for (const t of p.values()) {
      for (const a of t.atoms) {
        if (IDENT.test(a)) out.add(a);
        else divParts(a).forEach(visit);
      }
    }
  };
  visit(polyOf(d));
  return [...out].sort();
}

/** A division atom's numerator and denominator. */
function divParts(atom: string): [Poly, Poly] {
  // Top-level `//` of an atom's text: the one outside parentheses.
  let depth = 0;
  for (let i = 0; i < atom.length - 1; i++) {
    const c = atom[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (depth === 0 && c === "/" && atom[i + 1] === "/") return [parsePoly(atom.slice(0, i)), parsePoly(atom.slice(i + 2))];
  }
  throw new DimError(`internal error: '${atom}' is not a division`);
}

/** The value of `d` with its identifiers bound by `env`; a DimError when one is unbound or a division is by zero. */
export function evalDim(d: Dim, env: ReadonlyMap<string, number> | ((atom: string) => number | undefined)): number {
  if (typeof d === "number") return d;
  const get = typeof env === "function" ? env : (a: string) => env.get(a);
  const value = (p: Poly): number => {
    let s = 0;
    for (const t of p.values()) {
      let v = t.coef;
      for (const a of t.atoms) v *= atom(a);
      s += v;
    }
    return s;
  };
  const atom = (a: string): number => {
    if (!IDENT.test(a)) {
      const [n, q] = divParts(a);
      return floorInt(value(n), value(q));
    }
    const v = get(a);
    if (v === undefined) throw new DimError(`unbound dim ${a}`);
    return v;
  };
  return value(polyOf(d));
}

/** `d` with each identifier the function maps replaced by that Dim (others kept). */
export function substDim(d: Dim, f: (atom: string) => Dim | undefined): Dim {
  if (typeof d === "number") return d;
  const value = (p: Poly): Poly => {
    let s: Poly = new Map();
    for (const t of p.values()) {
      let v = constPoly(t.coef);
      for (const a of t.atoms) v = mul(v, atom(a));
      s = add(s, v);
    }
    return s;
  };
  const atom = (a: string): Poly => {
    if (!IDENT.test(a)) {
      const [n, q] = divParts(a);
      return floorDiv(value(n), value(q));
    }
    const r = f(a);
    return r === undefined ? atomPoly(a) : polyOf(r);
  };
  return toDim(value(polyOf(d)));
}

/**
 * `d` as a JS expression, each identifier written as `local(name)`, a
 * division as `Math.floor(n / d)`; parenthesised unless it is one name, one
 * number or one call, so it can be an operand anywhere.
 */
export function dimJs(d: Dim, local: (atom: string) => string): string {
  if (typeof d === "number") return d < 0 ? `(${d})` : String(d);
  const js = (p: Poly): string => {
    const terms = [...p.values()].sort((a, b) => Number(a.coef < 0) - Number(b.coef < 0));
    if (!terms.length) return "0";
    const text = terms
      .map((t, i) => {
        const abs = Math.abs(t.coef);
        const factors = [...(abs === 1 && t.atoms.length ? [] : [String(abs)]), ...t.atoms.map(atom)].join(" * ");
        return (t.coef < 0 ? (i === 0 ? "-" : " - ") : i === 0 ? "" : " + ") + factors;
      })
      .join("");
    const t = terms[0];
    return terms.length === 1 && t.coef > 0 && (t.atoms.length === 0 || (t.coef === 1 && t.atoms.length === 1)) ? text : `(${text})`;
  };
  const atom = (a: string): string => {
    if (IDENT.test(a)) return local(a);
    const [n, q] = divParts(a);
    return `Math.floor(${js(n)} / ${js(q)})`;
  };
  return js(polyOf(d));
}

/** `d` as a coefficient times atoms (identifiers or opaque divisions), or null when it is a sum. */
export function monomialOf(d: Dim): { k: number; atoms: string[] } | null {
  const p = polyOf(d);
  if (p.size === 0) return { k: 0, atoms: [] };
  if (p.size !== 1) return null;
  const t = [...p.values()][0];
  return { k: t.coef, atoms: [...t.atoms] };
}

/**
 * When `d` is `atom * q` with `q` free of `atom` (`B*T*D` in B: `T*D`), q;
 * else null. An input of length d then gives atom as length / q.
 */
export function linearCoefficient(d: Dim, atom: string): Dim | null {
  const p = polyOf(d);
  const out = new Map<string, Term>();
  for (const t of p.values()) {
    const k = t.atoms.indexOf(atom);
    if (k < 0) return null;
    const rest = [...t.atoms.slice(0, k), ...t.atoms.slice(k + 1)];
    if (rest.some((a) => a === atom || (!IDENT.test(a) && dimAtoms(a).includes(atom)))) return null;
    addInto(out, { coef: t.coef, atoms: rest });
  }
  return out.size ? toDim(out) : null;
}

// ---- source expressions ------------------------------------------------------------------

/**
 * A source expression as a Dim: integer literals, names (`resolve` gives the
 * Dim of each, throwing its own error for a name that is not one), `+ - * //`,
 * unary minus and parentheses. Constant parts fold; anything else is a
 * BpcError at its span.
 */
export function dimOf(e: Expr, resolve: (name: string, span: Span) => Dim): Dim {
  const go = (x: Expr): Dim => {
    switch (x.kind) {
      case "num":
        if (!Number.isInteger(x.value) || !Number.isSafeInteger(x.value)) {
          throw new BpcError(`a dim expression takes integers, got ${x.text}`, x.span);
        }
        return x.value;
      case "name":
        return resolve(x.name, x.span);
      case "unary":
        return negDim(go(x.arg));
      case "binary": {
        const a = go(x.left);
        const b = go(x.right);
        try {
          switch (x.op) {
            case "+":
              return addDims(a, b);
            case "-":
              return subDims(a, b);
            case "*":
              return mulDims(a, b);
            case "//":
              return floorDivDims(a, b);
            case "/":
              throw new BpcError(`'/' is not allowed in a dim expression: write '//' for floor division (${dimText(x)})`, x.span);
            default:
              break;
          }
        } catch (err) {
          if (err instanceof DimError) throw new BpcError(`${err.message} in the dim expression ${dimText(x)}`, x.span);
          throw err;
        }
        throw new BpcError(`'${x.op}' is not allowed in a dim expression: it takes integers, dims, + - * // and parentheses`, x.span);
      }
      default:
        throw new BpcError("a dim expression takes integers, dims, + - * // and parentheses", x.span);
    }
  };
  return go(e);
}

/** The text of a dim expression as written (names kept, spacing normalised), for messages. */
export function dimText(e: Expr): string {
  const prec = (x: Expr): number => (x.kind === "binary" ? (x.op === "+" || x.op === "-" ? 1 : 2) : x.kind === "unary" ? 3 : 4);
  const wrap = (x: Expr, min: number): string => (prec(x) < min ? `(${dimText(x)})` : dimText(x));
  switch (e.kind) {
    case "num":
      return e.text;
    case "name":
      return e.name;
    case "unary":
      return `-${wrap(e.arg, 3)}`;
    case "binary": {
      const p = prec(e);
      return `${wrap(e.left, p)}${e.op}${wrap(e.right, p + 1)}`;
    }
    default:
      return "?";
  }
}
