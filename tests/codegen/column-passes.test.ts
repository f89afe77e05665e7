// Column passes (src/codegen/kernels/columns.ts) and the unrolled
// elementwise loops (src/codegen/nest.ts): batch norm's column sums share
// walks of the batch, the elementwise values they read are computed in those
// walks, and the gradients are still exact: checked against central
// differences of an independent float64 forward written here, with a column
// count that is not a multiple of 4 (the tail loop) and a symbolic batch.
import { describe, expect, it } from "vitest";
import { compileSource } from "../helpers/compile.js";

const SRC = `model bn
dim B
dim D = 3
dim H = 6
input  x: [B, D]
param  W: [D, H] ~ normal(0, 1)
param  gamma: [H] ~ normal(1, 0.2)
param  beta: [H] ~ normal(0, 0.2)
mu   = mean(x @ W, axis=0, keepdims=true)
zc   = x @ W - mu
var  = mean(square(zc), axis=0, keepdims=true)
zhat = zc / sqrt(var + 1e-5)
out  = tanh(gamma * zhat + beta)
loss = sum(square(out - 0.25)) / 2
minimize loss
`;

/** The loss of SRC in float64, written out by hand. */
function lossOf(
  x: Float64Array,
  W: Float64Array,
  gamma: Float64Array,
  beta: Float64Array,
  B: number,
  D = 3,
  H = 6,
): number {
  let loss = 0;
  for (let j = 0; j < H; j++) {
    const z = new Float64Array(B);
    for (let i = 0; i < B; i++) for (let d = 0; d < D; d++) z[i] += x[i * D + d] * W[d * H + j];
    const mu = z.reduce((a, b) => a + b, 0) / B;
    const v = z.reduce((a, b) => a + (b - mu) ** 2, 0) / B;
    for (let i = 0; i < B; i++) {
      const o = Math.tanh(gamma[j] * ((z[i] - mu) / Math.sqrt(v + 1e-5)) + beta[j]);
      loss += (o - 0.25) ** 2 / 2;
    }
  }
  return loss;
}

describe("column passes", () => {
  it("sum dy and dy * xhat in one walk, and compute z - mu while summing its squares", async () => {
    const { ts } = await compileSource(SRC, { precision: "f32" });
    const backward = ts.slice(ts.indexOf("function computeBackward"));
    // dbeta and dgamma are stored after one loop over the rows.
    expect(backward).toMatch(
      /for \(let j = 0; j < 4; j \+= 4\) \{[^}]*for \(let i = 0; i < B; i\+\+\) \{[\s\S]*?\}\s*dbeta\[j\] = [^;]*;[\s\S]*?dgamma\[j\] = /,
    );
    // The six columns: four in the unrolled loop, two in the tail loop.
    expect(backward).toMatch(/for \(let j = 4; j < 6; j\+\+\)/);
    const forward = ts.slice(ts.indexOf("function computeForward"), ts.indexOf("function forwardOutputs"));
    expect(forward).toMatch(/zc\[o\] = [^;]*;\s*acc0 \+= zc\[o\] \* zc\[o\];/);
  });

  for (const precision of ["f64", "f32"] as const) {
    it(`gives the gradients of central differences of an independent float64 forward (${precision})`, async () => {
      const { mod } = await compileSource(SRC, { precision });
      const B = 7;
      const p = mod.init(3);
      const x = Float64Array.from({ length: B * 3 }, (_, i) => Math.sin(i * 1.7) * 2 + (i % 3));
      const FA = precision === "f32" ? Float32Array : Float64Array;
      const r = mod.backward(p, { x: FA.from(x) });
      const P = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Float64Array.from(v)]));
      const f = () => lossOf(x, P.W, P.gamma, P.beta, B);
      const tol = precision === "f32" ? 2e-4 : 1e-7;
      expect(Math.abs(r.loss - f())).toBeLessThan(tol * Math.max(1, Math.abs(f())));
      for (const name of ["W", "gamma", "beta"]) {
        const a = P[name];
        const g = r.grads[name];
        let scale = 0;
        let err = 0;
        for (let k = 0; k < a.length; k++) {
          const h = 1e-6;
          const keep = a[k];
          a[k] = keep + h;
          const up = f();
          a[k] = keep - h;
          const down = f();
          a[k] = keep;
          const fd = (up - down) / (2 * h);
          scale = Math.max(scale, Math.abs(fd));
          err = Math.max(err, Math.abs(fd - g[k]));
        }
        expect(err / scale, name).toBeLessThan(tol);
      }
    });
  }

  it("unrolls elementwise loops by 4 over a running counter only where the trip count allows", async () => {
    const layer = (H: number): string =>
      `model m\ndim B\ndim H = ${H}\ninput x: [B, 3]\nparam W: [3, H]\nparam b: [H]\nparam V: [H, 2]\nh = relu(x @ W + b)\nloss = mean(h @ V)\noutput h\nminimize loss\n`;
    const wide = await compileSource(layer(8), { precision: "f32" });
    expect(wide.ts).toMatch(
      /for \(let j = 0; j < 8; j \+= 4, k \+= 4\) \{\s*h\[k\] = relu32\(x_W\[k\] \+ b\[j\]\);\s*h\[k \+ 1\] = /,
    );
    // [B, 6]: 6 is not a multiple of 4, so the inner loop steps by 1 (with its counter).
    const narrow = await compileSource(layer(6), { precision: "f32" });
    expect(narrow.ts).toMatch(
      /for \(let j = 0; j < 6; j\+\+, k\+\+\) \{\s*h\[k\] = relu32\(x_W\[k\] \+ b\[j\]\);\s*\}/,
    );
    for (const c of [wide, narrow]) {
      const p = c.mod.init(1);
      const x = Float32Array.from({ length: 15 }, (_, i) => Math.cos(i) * 3);
      const r = c.mod.forward(p, { x }) as unknown as { h: Float32Array };
      const H = p.b.length;
      for (let i = 0; i < 5; i++)
        for (let j = 0; j < H; j++) {
          let acc = 0;
          for (let d = 0; d < 3; d++) acc += x[i * 3 + d] * p.W[d * H + j];
          const want = Math.max(0, Math.fround(acc) + p.b[j]);
          expect(Math.abs(r.h[i * H + j] - want)).toBeLessThan(1e-5);
        }
    }
  });
});
