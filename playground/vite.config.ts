// The playground: a static Vite app. It imports the compiler from the repo's
// src (alias "bpc"), not from dist, so it always shows the current compiler.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here("."),
  base: "./",
  resolve: { alias: { bpc: here("../src/api.ts") } },
  server: { host: "127.0.0.1", fs: { allow: [here("..")] } },
  worker: { format: "es" },
  build: {
    outDir: here("dist"),
    emptyOutDir: true,
    target: "es2022",
    // The compiler (prettier, Graphviz's WebAssembly) is large by nature; it loads in workers.
    chunkSizeWarningLimit: 2500,
  },
});
