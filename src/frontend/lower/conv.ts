// The builtin rows of section 10 read their options per spatial axis; these
// turn them into the conv and pool ops' attributes: "same" padding becomes
// explicit padding before and after (the odd one at the end), a pool's
// stride defaults to its window, and PyTorch's limits are checked.
import { fail } from "../../ir/ops/define.js";
import { showShape } from "../../ir/shape.js";
import type { Attrs, Node } from "../../ir/types.js";

const list = (a: Attrs, k: string): number[] => [...(a[k] as readonly number[])];

function checkRank(x: Node, rank: 1 | 2, op: string): void {
  if (x.shape.length !== rank + 2) fail(`${op} needs a ${rank === 1 ? "[B, C, L]" : "[B, C, H, W]"} input, got ${showShape(x.shape)}`);
}

export function convFinish(rank: 1 | 2) {
  return (a: Attrs, [x, k]: readonly Node[]): Attrs => {
    const op = `conv${rank}d`;
    checkRank(x, rank, op);
    const stride = list(a, "stride");
    const dilation = list(a, "dilation");
    let pad: number[];
    let padEnd: number[];
    if (a.padding === "same") {
      if (stride.some((s) => s !== 1)) fail(`${op}: padding="same" needs stride 1, got stride ${stride.join("x")}`);
      const ks = k.shape.slice(2);
      if (ks.length !== rank || ks.some((d) => typeof d !== "number")) fail(`${op}'s kernel must be [Cout, Cin/groups, ${rank === 1 ? "k" : "kh, kw"}] with constant sizes, got ${showShape(k.shape)}`);
      const total = ks.map((d, i) => dilation[i] * ((d as number) - 1));
      pad = total.map((t) => Math.floor(t / 2));
      padEnd = total.map((t, i) => t - pad[i]);
    } else {
      pad = list(a, "padding");
      padEnd = pad;
    }
    return { stride, dilation, pad, padEnd, groups: a.groups as number };
  };
}

export function convTransposeFinish(a: Attrs, [x]: readonly Node[]): Attrs {
  checkRank(x, 2, "conv_transpose2d");
  const stride = list(a, "stride");
  const extra = list(a, "output_padding");
  if (extra.some((e, i) => e >= stride[i])) fail(`conv_transpose2d's output_padding (${extra.join("x")}) must be below its stride (${stride.join("x")})`);
  const pad = list(a, "padding");
  return { stride, dilation: [1, 1], pad, padEnd: pad, groups: 1, outputPadding: extra };
}

export function poolFinish(op: string, rank: 1 | 2) {
  return (a: Attrs, [x]: readonly Node[]): Attrs => {
    checkRank(x, rank, op);
    const kernel = list(a, "k");
    return { kernel, stride: a.stride === null ? kernel : list(a, "stride"), pad: list(a, "padding") };
  };
}
