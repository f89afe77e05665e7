// Assembles the WebAssembly SIMD matmul kernel that f32 modules embed, and
// writes it to src/codegen/generated/matmul-wasm.ts as base64 (generated
// modules import nothing, so the bytes travel inside them).
//
// The kernel computes c[M, N] = a'[M, K] @ b[K, N] in f32, where b and c are
// row-major and a' is read through two byte strides (sai per row, sak per
// step of k): a row-major a has sai = 4K, sak = 4; a column-major one (a
// transposed operand) has sai = 4, sak = 4M. A transposed b is transposed by
// the caller while it copies b into the kernel's memory. With acc set, the
// product is added to what c holds (c += a' @ b).
//
// Blocks of R rows x Q columns keep R*Q/4 f32x4 accumulators in registers
// over the whole of k: each step loads Q/4 vectors of b and splats one value
// of a per row (v128.load32_splat), then multiplies and adds. Columns go in
// panels 8 wide, then one panel 4 wide, then single columns (scalar f32);
// within a panel rows go R at a time, then one at a time. The panel of b
// (K x 8 floats) stays in the L1 cache while all the rows pass over it.
//
// The text is written by the functions below rather than by hand because the
// block variants differ only in R and Q; wabt assembles it.
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "src", "codegen", "generated", "matmul-wasm.ts");

/** Rows per block in the main loop (R x 8 blocks hold 2R accumulators; x64 has 16 vector registers). */
export const ROWS = Number(process.env.BPC_WASM_ROWS ?? 4);

const range = (n) => [...Array(n).keys()];

/**
 * A panel function: `n` blocks of R rows by Q columns (Q = 8 or 4: vectors;
 * Q = 1: one scalar column), one under the other from pc (c), pa (a'), pb
 * (b); k runs K times per block (K > 0). Looping over the blocks in here
 * rather than calling once per block matters when K is small (an outer
 * product: K = 1 in a batch-of-one backward).
 */
function blockFunc(R, Q) {
  const V = Q >= 4 ? Q / 4 : 0; // vectors per row
  const nv = Math.max(V, 1);
  const T = V ? "v128" : "f32";
  const L = [];
  L.push(`  (func $b${R}x${Q} (param $pc i32) (param $pa i32) (param $pb i32) (param $n i32) (param $K i32) (param $sai i32) (param $sak i32) (param $ldb i32) (param $ldc i32) (param $acc i32)`);
  L.push(`    (local $k i32) (local $p i32) (local $o i32)`);
  for (const r of range(R)) L.push(`    (local $a${r} i32)`);
  for (const r of range(R)) for (const q of range(nv)) L.push(`    (local $c${r}_${q} ${T})`);
  for (const q of range(nv)) L.push(`    (local $v${q} ${T})`);
  L.push(`    (local $s ${T})`);
  L.push(`    (loop $blocks`);
  // Row pointers into a', the start of b's panel, accumulators zeroed (or loaded from c with acc).
  L.push(`      (local.set $a0 (local.get $pa))`);
  for (const r of range(R).slice(1)) L.push(`      (local.set $a${r} (i32.add (local.get $a${r - 1}) (local.get $sai)))`);
  L.push(`      (local.set $p (local.get $pb))`);
  L.push(`      (local.set $k (local.get $K))`);
  L.push(`      (if (local.get $acc)`);
  L.push(`        (then`);
  L.push(`          (local.set $o (local.get $pc))`);
  for (const r of range(R)) {
    for (const q of range(nv)) {
      L.push(V ? `          (local.set $c${r}_${q} (v128.load offset=${16 * q} (local.get $o)))` : `          (local.set $c${r}_${q} (f32.load (local.get $o)))`);
    }
    L.push(`          (local.set $o (i32.add (local.get $o) (local.get $ldc)))`);
  }
  L.push(`        )`);
  L.push(`        (else`);
  for (const r of range(R)) for (const q of range(nv)) L.push(`          (local.set $c${r}_${q} (${T}.const ${V ? "f32x4 0 0 0 0" : "0"}))`);
  L.push(`        ))`);
  L.push(`      (loop $k`);
  for (const q of range(nv)) {
    L.push(V ? `        (local.set $v${q} (v128.load offset=${16 * q} (local.get $p)))` : `        (local.set $v0 (f32.load (local.get $p)))`);
  }
  for (const r of range(R)) {
    L.push(V ? `        (local.set $s (v128.load32_splat (local.get $a${r})))` : `        (local.set $s (f32.load (local.get $a${r})))`);
    for (const q of range(nv)) {
      const c = `$c${r}_${q}`;
      L.push(
        V
          ? `        (local.set ${c} (f32x4.add (local.get ${c}) (f32x4.mul (local.get $s) (local.get $v${q}))))`
          : `        (local.set ${c} (f32.add (local.get ${c}) (f32.mul (local.get $s) (local.get $v0))))`,
      );
    }
    L.push(`        (local.set $a${r} (i32.add (local.get $a${r}) (local.get $sak)))`);
  }
  L.push(`        (local.set $p (i32.add (local.get $p) (local.get $ldb)))`);
  L.push(`        (br_if $k (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))`);
  L.push(`      (local.set $o (local.get $pc))`);
  for (const r of range(R)) {
    for (const q of range(nv)) {
      const c = `$c${r}_${q}`;
      L.push(V ? `      (v128.store offset=${16 * q} (local.get $o) (local.get ${c}))` : `      (f32.store (local.get $o) (local.get ${c}))`);
    }
    L.push(`      (local.set $o (i32.add (local.get $o) (local.get $ldc)))`);
  }
  // The next block R rows down.
  L.push(`      (local.set $pc (local.get $o))`);
  L.push(`      (local.set $pa (i32.add (local.get $pa) (i32.mul (local.get $sai) (i32.const ${R}))))`);
  L.push(`      (br_if $blocks (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))`);
  return L.join("\n");
}

/** Calls panel $b{R}x{Q} for as many blocks of R rows as fit from $i, in the panel at column $j. */
function rowLoop(R, Q) {
  return `      (local.set $n (i32.div_u (i32.sub (local.get $M) (local.get $i)) (i32.const ${R})))
      (if (local.get $n)
        (then
          (call $b${R}x${Q}
            (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $ldc)) (i32.shl (local.get $j) (i32.const 2))))
            (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $sai)))
            (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
            (local.get $n) (local.get $K) (local.get $sai) (local.get $sak) (local.get $ldb) (local.get $ldc) (local.get $acc))
          (local.set $i (i32.add (local.get $i) (i32.mul (local.get $n) (i32.const ${R}))))))`;
}

/** Every panel Q wide that fits from $j on (once: at most one). */
function panelLoop(Q, once) {
  // Leftover single columns (N = 10: two) also take blocks of ROWS rows: four scalar accumulators share each load of b.
  const rows = [`      (local.set $i (i32.const 0))`, rowLoop(ROWS, Q), rowLoop(1, Q)].join("\n");
  return `    (block $panels${Q}
      (loop $panel${Q}
        (br_if $panels${Q} (i32.gt_u (i32.add (local.get $j) (i32.const ${Q})) (local.get $N)))
${rows}
        (local.set $j (i32.add (local.get $j) (i32.const ${Q})))
        ${once ? "" : `(br $panel${Q})`}))`;
}

export function kernelText() {
  return `;; Generated by scripts/build-wasm.mjs.
(module
  (import "env" "memory" (memory 1))
${[blockFunc(ROWS, 8), blockFunc(1, 8), blockFunc(ROWS, 4), blockFunc(1, 4), blockFunc(ROWS, 1), blockFunc(1, 1)].join("\n")}
  ;; c[M, N] = a'[M, K] @ b[K, N] (c += ... when acc is not 0); pointers in bytes, a' strides sai (row) and sak (k) in bytes.
  (func (export "mm") (param $c i32) (param $a i32) (param $b i32) (param $M i32) (param $K i32) (param $N i32) (param $sai i32) (param $sak i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $n i32) (local $ldb i32) (local $ldc i32)
    (if (i32.eqz (local.get $K))
      (then
        (if (i32.eqz (local.get $acc))
          (then (memory.fill (local.get $c) (i32.const 0) (i32.shl (i32.mul (local.get $M) (local.get $N)) (i32.const 2)))))
        (return)))
    (local.set $ldb (i32.shl (local.get $N) (i32.const 2)))
    (local.set $ldc (local.get $ldb))
${panelLoop(8, false)}
${panelLoop(4, true)}
${panelLoop(1, false)}
  )
)
`;
}

export async function assemble(text = kernelText()) {
  const wabt = await require("wabt")();
  const mod = wabt.parseWat("matmul.wat", text, { simd: true, bulk_memory: true });
  try {
    mod.resolveNames();
    mod.validate();
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = kernelText();
  const bytes = await assemble(text);
  const b64 = Buffer.from(bytes).toString("base64");
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(
    output,
    `// Generated by scripts/build-wasm.mjs. Do not edit.\n` +
      `/** The f32 SIMD matmul kernel (${bytes.length} bytes), base64. */\n` +
      `export const MATMUL_WASM_BASE64 = ${JSON.stringify(b64)};\n` +
      `/** Its text, for readers. */\n` +
      `export const MATMUL_WAT = ${JSON.stringify(text)};\n`,
  );
}
