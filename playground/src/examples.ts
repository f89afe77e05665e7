// The examples menu: the playground's trainable 2-D models first, then the
// project's examples/*.bp, all bundled as text.
const models = import.meta.glob<string>("../models/*.bp", { query: "?raw", import: "default", eager: true });
const examples = import.meta.glob<string>("../../examples/*.bp", { query: "?raw", import: "default", eager: true });

export interface Example {
  /** Base name without `.bp`. */
  name: string;
  source: string;
  group: "Train in the page (x: [B, 2], y: int[B])" | "Examples";
}

const byName = (group: Example["group"], files: Record<string, string>): Example[] =>
  Object.entries(files)
    .map(([path, source]) => ({ name: path.replace(/^.*\//, "").replace(/\.bp$/, ""), source, group }))
    .sort((a, b) => a.name.localeCompare(b.name));

// The spiral model leads: it is what the page opens with.
export const EXAMPLES: Example[] = [
  ...byName("Train in the page (x: [B, 2], y: int[B])", models).sort((a, b) => +(b.name === "spiral") - +(a.name === "spiral")),
  ...byName("Examples", examples),
];

export const DEFAULT_EXAMPLE = EXAMPLES[0];
