// The canonical form of dim expressions (src/ir/dimexpr.ts): equal
// polynomials are equal strings, the canonical form evaluates as the
// expression does, parses back to itself, and renders to JS that computes
// the same value.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addDims,
  dimAtLeast,
  dimAtoms,
  dimJs,
  evalDim,
  floorDivDims,
  isAtomDim,
  linearCoefficient,
  monomialOf,
  mulDims,
  parseDim,
  productDim,
  subDims,
  substDim,
} from "../../src/ir/dimexpr.js";

/** A random expression over A, B, C as text, with its value computed by the test itself (Python's `//`). */
type Gen = { text: string; value: (env: Record<string, number>) => number; hasZeroDiv?: boolean };
const pyFloor = (a: number, b: number): number => Math.floor(a / b);

const exprArb: fc.Arbitrary<Gen> = fc.letrec<{ e: Gen }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.integer({ min: 0, max: 9 }).map((k) => ({ text: String(k), value: () => k })),
    fc.constantFrom("A", "B", "C").map((n) => ({ text: n, value: (env: Record<string, number>) => env[n] })),
    fc.tuple(tie("e"), fc.constantFrom("+", "-", "*", "//"), tie("e")).map(([l, op, r]) => ({
      text: `(${l.text}${op}${r.text})`,
      value: (env: Record<string, number>) => {
        const a = l.value(env);
        const b = r.value(env);
        if (op === "+") return a + b;
        if (op === "-") return a - b;
        if (op === "*") return a * b;
        if (b === 0) throw new Error("zero");
        return pyFloor(a, b);
      },
    })),
    tie("e").map((x) => ({ text: `-${x.text}`, value: (env: Record<string, number>) => -x.value(env) })),
  ),
})).e;

const envArb = fc.record({ A: fc.integer({ min: -6, max: 9 }), B: fc.integer({ min: -6, max: 9 }), C: fc.integer({ min: 1, max: 9 }) });

/** Evaluates `f`, or "zero" when a division by zero happens on the way. */
function attempt(f: () => number): number | "zero" {
  try {
    return f();
  } catch (e) {
    if (e instanceof Error && /zero/.test(e.message)) return "zero";
    throw e;
  }
}

describe("dim expressions: canonical form", () => {
  it("the canonical form evaluates as the expression, parses back to itself, and its JS agrees", () => {
    fc.assert(
      fc.property(exprArb, envArb, (g, env) => {
        let d;
        try {
          d = parseDim(g.text);
        } catch (e) {
          // Only a constant division by zero is refused at parse time.
          expect(String(e)).toMatch(/division by zero/);
          return;
        }
        // `+ 0` turns -0 into 0: dims are integers.
        const want = attempt(() => g.value(env) + 0);
        const got = attempt(() => evalDim(d, (a) => env[a as keyof typeof env]) + 0);
        // Folding can remove a division the expression performs (x//y - x//y = 0), never add one.
        if (want !== "zero") expect(got).toBe(want);
        expect(parseDim(String(d))).toBe(d);
        if (want !== "zero") {
          const js = dimJs(d, (a) => `env.${a}`);
          expect((new Function("env", `return ${js};`) as (e: object) => number)(env) + 0).toBe(want);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("equal polynomials are one string", () => {
    expect(parseDim("B*T")).toBe(parseDim("T*B"));
    expect(mulDims("B", "T")).toBe("B*T");
    expect(parseDim("(B+1)*(B-1)")).toBe(parseDim("B*B-1"));
    expect(addDims("H", "H")).toBe("2*H");
    expect(subDims(parseDim("T+K"), "T")).toBe("K");
    expect(subDims("t", "t")).toBe(0);
    expect(parseDim("2*(T-1)+2")).toBe("2*T");
    expect(parseDim("T - 5")).toBe("T-5");
    expect(parseDim("5 - T")).toBe("5-T");
    expect(parseDim("(2*B+4)//2")).toBe("B+2");
    expect(parseDim("(B+3)//2")).toBe("(B+1)//2+1");
    expect(parseDim("T*((B+1)//2)")).toBe(parseDim("((B+1)//2)*T"));
    expect(parseDim("-(B//2)")).toBe("-(B//2)");
    expect(productDim([parseDim("B*T"), 64])).toBe(productDim(["B", 64, "T"]));
    expect(parseDim("7//2")).toBe(3);
    expect(parseDim("-7//2")).toBe(-4);
    expect(floorDivDims(12, 4)).toBe(3);
  });

  it("constant division by zero and malformed text are DimErrors", () => {
    expect(() => floorDivDims("B", 0)).toThrow(/division by zero/);
    expect(() => parseDim("B +")).toThrow(/malformed/);
    expect(() => parseDim("B / 2")).toThrow(/malformed/);
  });

  it("answers the questions codegen and dim inference ask", () => {
    expect(dimAtLeast(parseDim("T-1"), 0)).toBe(true);
    expect(dimAtLeast(parseDim("T-1"), 1)).toBe(false);
    expect(dimAtLeast(parseDim("3*H-1"), 1)).toBe(true);
    expect(dimAtLeast(parseDim("B*T"), 1)).toBe(true);
    expect(dimAtLeast(parseDim("H-T"), 0)).toBe(false);
    expect(dimAtLeast(parseDim("B//2"), 0)).toBe(false);
    expect(isAtomDim("B")).toBe(true);
    expect(isAtomDim("B*T")).toBe(false);
    expect(dimAtoms(parseDim("(B+T)//S*2+K"))).toEqual(["B", "K", "S", "T"]);
    expect(monomialOf(parseDim("2*B*T"))).toEqual({ k: 2, atoms: ["B", "T"] });
    expect(monomialOf(parseDim("T-1"))).toBeNull();
    expect(linearCoefficient(productDim([parseDim("B*T"), 64]), "B")).toBe("64*T");
    expect(linearCoefficient(parseDim("B*B"), "B")).toBeNull();
    expect(linearCoefficient(parseDim("B+1"), "B")).toBeNull();
    expect(linearCoefficient(parseDim("B*(B//2)"), "B")).toBeNull();
    expect(linearCoefficient(parseDim("T*4"), "B")).toBeNull();
    expect(substDim(parseDim("t*S+K"), (a) => (a === "t" ? 2 : undefined))).toBe("K+2*S");
    expect(evalDim(parseDim("(B+1)//2*T"), new Map([["B", 4], ["T", 3]]))).toBe(6);
    expect(() => evalDim("B//T", new Map([["B", 4], ["T", 0]]))).toThrow(/division by zero/);
    expect(() => evalDim("B", new Map())).toThrow(/unbound dim B/);
  });
});
