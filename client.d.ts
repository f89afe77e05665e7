// `bpc/client`: TypeScript types for `.bp` modules imported through the Vite
// plugin (`bpc/vite`) or the Node hook (`bpc/register`). Add
// `/// <reference types="bpc/client" />` to a .d.ts of the project, or
// "types": ["bpc/client"] to its tsconfig. These types fit every model; the
// plugin's `dts: true` writes each model's exact ones beside it (NAME.bp.d.ts),
// and TypeScript prefers those.
declare module "*.bp" {
  /** What the model declares: dims (null when symbolic), parameters, inputs, outputs and gradients. */
  export interface ModelInfo {
    name: string;
    precision: "f32" | "f64";
    dims: Record<string, number | null>;
    params: Record<string, { shape: (number | string)[] }>;
    inputs: Record<string, { shape: (number | string)[]; dtype: "float32" | "float64" | "int32" }>;
    outputs: string[];
    grads: string[];
  }
  export type Params = Record<string, Float32Array | Float64Array>;
  /** Tensors by input name; a scalar input may also be a number. */
  export type Inputs = Record<string, Float32Array | Float64Array | Int32Array | number>;
  /** The loss and every output (a scalar output is a number). */
  export type Outputs = { loss: number } & Record<string, number | Float32Array | Float64Array | Int32Array>;
  export type Grads = Record<string, Float32Array | Float64Array>;
  export const model: ModelInfo;
  /** Fresh parameters, initialised as declared; deterministic per seed. */
  export function init(seed?: number): Params;
  export function forward(params: Params, inputs: Inputs): Outputs;
  export function backward(params: Params, inputs: Inputs): { loss: number; grads: Grads };
}
