// The built-in 2-D data sets, generated in the page from a seed: CS231n's
// three-class spiral, two concentric circles, two interleaved moons and XOR
// blobs. Points lie roughly in [-1, 1]², the range the playground models
// declare for x.
import { rng } from "../../src/train/data.js";

export interface Dataset {
  name: DatasetName;
  /** Row-major [n, 2]. */
  x: Float32Array;
  /** Labels in [0, classes). */
  y: Int32Array;
  n: number;
  classes: number;
}

export type DatasetName = "spiral" | "circles" | "moons" | "xor";

export const DATASETS: Record<DatasetName, { label: string; classes: number }> = {
  spiral: { label: "Spiral", classes: 3 },
  circles: { label: "Circles", classes: 2 },
  moons: { label: "Moons", classes: 2 },
  xor: { label: "XOR", classes: 2 },
};

/** Standard normal draws by Box-Muller over a uniform generator. */
function gaussian(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** Generates `name` with `perClass` points per class; the same seed gives the same points. */
export function makeDataset(name: DatasetName, seed: number, perClass = 100): Dataset {
  const classes = DATASETS[name].classes;
  const n = perClass * classes;
  const x = new Float32Array(2 * n);
  const y = new Int32Array(n);
  const next = rng(seed);
  const randn = gaussian(next);
  let i = 0;
  const put = (a: number, b: number, label: number): void => {
    x[2 * i] = a;
    x[2 * i + 1] = b;
    y[i++] = label;
  };
  for (let c = 0; c < classes; c++) {
    for (let k = 0; k < perClass; k++) {
      const s = perClass > 1 ? k / (perClass - 1) : 0;
      switch (name) {
        case "spiral": {
          // CS231n: r = linspace(0, 1), t = linspace(4c, 4(c+1)) + 0.2 noise; x = r (sin t, cos t)
          const t = 4 * (c + s) + 0.2 * randn();
          put(s * Math.sin(t), s * Math.cos(t), c);
          break;
        }
        case "circles": {
          const r = (c === 0 ? 0.35 : 0.85) + 0.08 * randn();
          const a = 2 * Math.PI * next();
          put(r * Math.cos(a), r * Math.sin(a), c);
          break;
        }
        case "moons": {
          // scikit-learn's make_moons, centred and scaled into [-1, 1]
          const a = Math.PI * s;
          const [mx, my] = c === 0 ? [Math.cos(a), Math.sin(a)] : [1 - Math.cos(a), 0.5 - Math.sin(a)];
          put(0.6 * (mx - 0.5) + 0.06 * randn(), 0.6 * (my - 0.25) + 0.06 * randn(), c);
          break;
        }
        case "xor": {
          // four blobs; the class is whether the quadrant's signs agree
          const q = k % 2;
          const sx = q === 0 ? 1 : -1;
          const sy = c === 0 ? sx : -sx;
          put(sx * 0.5 + 0.18 * randn(), sy * 0.5 + 0.18 * randn(), c);
          break;
        }
      }
    }
  }
  return { name, x, y, n, classes };
}
