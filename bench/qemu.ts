// Build bare-metal images for the QEMU Cortex-M and RISC-V (rv32imc, rv32imac on virt) boards in kernels/c/boards/ and run them with semihosting,
// optionally counting executed instructions with the qemu-insn plugin (kernels/c/boards/qemu-insn.c).
// Used by test/mcu.test.ts and bench/mcu.ts; nothing here is in the library.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { readModel } from "../runtime/src/format.ts";
import { quantizeModelInput } from "../runtime/src/reference.ts";
import { loadMnist, MNIST_PIXELS, toFloatInputs } from "../toolchain/data/mnist.ts";
import { Engine, type InferStats } from "../runtime/src/runtime.ts";
import { createHash } from "node:crypto";
import { UserError } from "../runtime/src/errors.ts";
import { loadDataFor } from "../cli/src/data-options.ts";

export const ROOT = join(import.meta.dirname, "..");
export const BOARDS_DIR = join(ROOT, "kernels", "c", "boards");

export interface Board {
  machine: string;
  /** Absent: Arm (arm-none-eabi-gcc, qemu-system-arm); "riscv": riscv64-unknown-elf-gcc + picolibc, qemu-system-riscv32. */
  arch?: "riscv";
  core: string;
  flags: string[];
  flash: [number, number];
  ram: [number, number];
  /** A third region for the bench data (.rodata.rg_bench), linked with board-data.ld: mps3-an547's SRAM, beside its 512 KiB ITCM. */
  data?: [number, number];
}

export type BoardName = "mps2-an386" | "mps2-an500" | "microbit" | "m0plus-on-an386" | "mps3-an547" | "rv32imc-virt" | "rv32imac-virt";

export const BOARDS: Record<BoardName, Board> = (() => {
  const { $comment: _, ...boards } = JSON.parse(readFileSync(join(BOARDS_DIR, "boards.json"), "utf8"));
  return boards;
})();

export const BOARD_SOURCES = [join(BOARDS_DIR, "startup.c"), join(BOARDS_DIR, "semihost.c")];

/** The cross tools, linker script, startup and libc of an architecture (Debian package names in the install hints). */
export const TOOLCHAINS = {
  arm: {
    gcc: "arm-none-eabi-gcc", nm: "arm-none-eabi-nm", size: "arm-none-eabi-size", ar: "arm-none-eabi-ar", qemu: "qemu-system-arm", qemuArgs: [] as string[],
    ld: join(BOARDS_DIR, "board.ld"), sources: BOARD_SOURCES, libc: ["--specs=nano.specs"], compile: [] as string[],
  },
  riscv: {
    gcc: "riscv64-unknown-elf-gcc", nm: "riscv64-unknown-elf-nm", size: "riscv64-unknown-elf-size", ar: "riscv64-unknown-elf-ar", qemu: "qemu-system-riscv32", qemuArgs: ["-bios", "none"],
    ld: join(BOARDS_DIR, "board-riscv.ld"), sources: [join(BOARDS_DIR, "startup-riscv.c"), join(BOARDS_DIR, "semihost.c")], libc: ["--specs=picolibc.specs"], compile: ["--specs=picolibc.specs"],
  },
};

export function toolchain(board: BoardName) {
  return TOOLCHAINS[BOARDS[board].arch ?? "arm"];
}

/** The toolchain of an ELF file (image or object) by its e_machine: 243 is RISC-V, anything else Arm. */
function elfToolchain(file: string) {
  const h = readFileSync(file).subarray(0, 20);
  return h[18] === 243 ? TOOLCHAINS.riscv : TOOLCHAINS.arm;
}

function run(cmd: string, args: string[], timeout = 120_000): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}\nexit ${r.status}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export interface ImageOptions {
  board: BoardName;
  /** C sources beside the board's startup and semihosting. */
  sources: string[];
  includes?: string[];
  defines?: string[];
  /** Extra compiler flags (default -O2). */
  cflags?: string[];
  out: string;
}

/** Compile and link one image (newlib-nano or picolibc only for memcpy/memset; no startup files). Returns the ELF path. */
export function buildImage(o: ImageOptions): string {
  const b = BOARDS[o.board], tc = toolchain(o.board);
  mkdirSync(dirname(o.out), { recursive: true });
  run(tc.gcc, [
    ...b.flags,
    ...(o.cflags ?? ["-O2"]),
    "-std=c99", "-Wall", "-Wextra", "-ffunction-sections", "-fdata-sections",
    "-nostartfiles", ...tc.libc,
    `-I${BOARDS_DIR}`, ...(o.includes ?? []).map((i) => `-I${i}`), ...(o.defines ?? []).map((d) => `-D${d}`),
    "-T", b.data ? join(BOARDS_DIR, "board-data.ld") : tc.ld,
    `-Wl,--gc-sections,--defsym=RG_FLASH_ORIGIN=${b.flash[0]},--defsym=RG_FLASH_LENGTH=${b.flash[1]},--defsym=RG_RAM_ORIGIN=${b.ram[0]},--defsym=RG_RAM_LENGTH=${b.ram[1]}` +
      (b.data ? `,--defsym=RG_DATA_ORIGIN=${b.data[0]},--defsym=RG_DATA_LENGTH=${b.data[1]}` : ""),
    ...tc.sources, ...o.sources, "-o", o.out,
  ]);
  return o.out;
}

/** Build the instruction-count plugin with the host gcc (once per output path). */
export function buildPlugin(out = join(ROOT, "build", "mcu", "qemu-insn.so")): string {
  const src = join(BOARDS_DIR, "qemu-insn.c");
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(dirname(out), { recursive: true });
    // Built aside and renamed: test files running in parallel may build it at once
    const tmp = `${out}.${process.pid}.tmp`;
    run("gcc", ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-o", tmp, src]);
    renameSync(tmp, out);
  }
  return out;
}

/** Address of a symbol in an ELF (arm-none-eabi-nm or riscv64-unknown-elf-nm). */
export function symbolAddress(elf: string, name: string): number {
  const line = run(elfToolchain(elf).nm, [elf]).split("\n").find((l) => l.endsWith(` ${name}`));
  if (!line) throw new Error(`${elf}: no symbol ${name}`);
  return parseInt(line.split(" ")[0], 16);
}

/** text, data, bss (arm-none-eabi-size, Berkeley format) summed over object files or an ELF. */
export function berkeleySize(files: string[]): { text: number; data: number; bss: number } {
  const t = { text: 0, data: 0, bss: 0 };
  for (const line of run(elfToolchain(files[0]).size, files).split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 3 && /^\d+$/.test(f[0])) { t.text += Number(f[0]); t.data += Number(f[1]); t.bss += Number(f[2]); }
  }
  return t;
}

/** Compile sources to objects for a board (-O2 by default) and return their arm-none-eabi-size sums. */
export function codeSize(board: BoardName, sources: string[], includes: string[], outDir: string, cflags: string[] = ["-O2"]) {
  mkdirSync(outDir, { recursive: true });
  const objs = sources.map((src) => {
    const obj = join(outDir, `${src.split("/").pop()!.replace(/\.c$/, "")}.o`);
    run(toolchain(board).gcc, [...BOARDS[board].flags, ...toolchain(board).compile, ...cflags, "-std=c99", "-ffunction-sections", "-fdata-sections", "-w", ...includes.map((i) => `-I${i}`), "-c", src, "-o", obj]);
    return obj;
  });
  return berkeleySize(objs);
}

/** Section sizes (arm-none-eabi-size -A) of an ELF, by name. */
export function sectionSizes(elf: string): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const line of run(elfToolchain(elf).size, ["-A", elf]).split("\n")) {
    const m = /^(\.\S+)\s+(\d+)\s+\d+$/.exec(line.trim());
    if (m) sizes[m[1]] = Number(m[2]);
  }
  return sizes;
}

export interface QemuRun {
  stdout: string;
  status: number;
  /** With `ops`: executed count per mnemonic key (kernels/c/boards/qemu-insn.c). */
  ops: Record<string, number>;
  /** With `count`: at each execution of a marked address, in order, its index in `marks` and the count so far. */
  marks: { id: number; count: number }[];
  total: number;
}

/**
 * Run an image under qemu-system-arm (qemu-system-riscv32 for a RISC-V board) with semihosting. With `count`, count instructions with qemu-insn, marking
 * each entry of the functions `marks` (default rg_board_mark; index k in the result is marks[k]).
 */
export function runImage(board: BoardName, elf: string, opts: { count?: boolean; ops?: boolean; marks?: string[]; timeout?: number } = {}): QemuRun {
  const tc = toolchain(board);
  const args = ["-M", BOARDS[board].machine, ...tc.qemuArgs, "-display", "none", "-monitor", "none", "-serial", "none",
    "-chardev", "stdio,id=sh0", "-semihosting-config", "enable=on,target=native,chardev=sh0", "-kernel", elf];
  let log = "";
  if (opts.count) {
    log = `${elf}.insn`;
    const addrs = (opts.marks ?? ["rg_board_mark"]).map((m) => `0x${symbolAddress(elf, m).toString(16)}`);
    args.push("-plugin", `${buildPlugin()},mark=${addrs.join(":")},out=${log}${opts.ops ? ",ops=1" : ""}`);
  }
  const r = spawnSync(tc.qemu, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: opts.timeout ?? 120_000, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${tc.qemu}: ${r.error.message}`);
  const marks: QemuRun["marks"] = [];
  const ops: Record<string, number> = {};
  let total = 0;
  if (opts.count && existsSync(log)) {
    for (const line of readFileSync(log, "utf8").split("\n")) {
      const [k, a, b] = line.split(" ");
      if (k === "mark") marks.push({ id: Number(a), count: Number(b) });
      else if (k === "op") ops[a] = Number(b);
      else if (k === "total") total = Number(a);
    }
  }
  return { stdout: r.stdout, status: r.status ?? -1, ops, marks, total };
}

// ---- bench and test images: the C runtime and CMSIS-NN on an .rgm and int8 inputs ----

export const THIRD_PARTY = "/work/shared/third-party";

/** Unpack an upstream tarball (cmsis-nn, wasm3) under build/third-party once; returns its folder. */
export function thirdParty(name: "cmsis-nn" | "wasm3"): string {
  const dir = join(ROOT, "build", "third-party", name);
  if (!existsSync(dir)) {
    const tarball = readdirSync(THIRD_PARTY).find((f) => f.startsWith(`${name}-`) && f.endsWith(".tar.gz"));
    if (!tarball) throw new Error(`${THIRD_PARTY}: no ${name}-*.tar.gz`);
    // Unpacked aside and renamed: test files running in parallel may unpack it at once
    const tmp = `${dir}.${process.pid}.tmp`;
    mkdirSync(tmp, { recursive: true });
    run("tar", ["xzf", join(THIRD_PARTY, tarball), "-C", tmp]);
    if (!existsSync(dir)) renameSync(join(tmp, name), dir);
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** The C runtime's sources (kernels/c/src/*.c) and include folder. */
export function runtimeSources(): { sources: string[]; include: string } {
  const src = join(ROOT, "kernels", "c", "src");
  return { sources: readdirSync(src).filter((f) => f.endsWith(".c")).sort().map((f) => join(src, f)), include: join(ROOT, "kernels", "c", "include") };
}

/**
 * CMSIS-NN sources for arm_fully_connected_per_channel_s8 (all it calls is inline in its headers) and, as TFLite Micro
 * links them for its Prepare step, arm_fully_connected_s8_get_buffer_size and arm_vector_sum_s8 (the kernel sums
 * its MVE build needs).
 */
export function cmsisSources(): { sources: string[]; include: string } {
  const dir = thirdParty("cmsis-nn");
  return {
    sources: [
      join(dir, "Source", "FullyConnectedFunctions", "arm_fully_connected_per_channel_s8.c"),
      join(dir, "Source", "NNSupportFunctions", "arm_nn_vec_mat_mult_t_per_ch_s8.c"),
      join(dir, "Source", "FullyConnectedFunctions", "arm_fully_connected_get_buffer_sizes_s8.c"),
      join(dir, "Source", "FullyConnectedFunctions", "arm_vector_sum_s8.c"),
    ],
    include: join(dir, "Include"),
  };
}

export interface BenchCase {
  /** A valid .rgm (bytes, or the path of one). */
  model: Uint8Array | string;
  /** Quantized inputs laid end to end. */
  inputs: Int8Array;
}

/**
 * Write the cases' files beside `out` and the assembler file that links them in flash as rg_bench_cases
 * (model, model end, inputs, inputs end per case, each 16-byte aligned) and rg_bench_case_count.
 */
export function writeBenchData(cases: readonly BenchCase[], out: string): string {
  mkdirSync(dirname(out), { recursive: true });
  const lines = ['  .section .rodata.rg_bench, "a"'];
  const table: string[] = [];
  cases.forEach((c, k) => {
    let model = c.model;
    if (typeof model !== "string") {
      model = `${out}.model${k}.rgm`;
      writeFileSync(model, c.model as Uint8Array);
    }
    const inputs = `${out}.inputs${k}.bin`;
    writeFileSync(inputs, c.inputs);
    lines.push("  .balign 16", `m${k}:`, `  .incbin "${model}"`, `m${k}_end:`, "  .balign 16", `i${k}:`, `  .incbin "${inputs}"`, `i${k}_end:`);
    table.push(`  .word m${k}, m${k}_end, i${k}, i${k}_end`);
  });
  lines.push("  .balign 4", "  .global rg_bench_cases", "rg_bench_cases:", ...table, "  .global rg_bench_case_count", "rg_bench_case_count:", `  .word ${cases.length}`, "");
  writeFileSync(out, lines.join("\n"));
  return out;
}

export interface BenchImage {
  board: BoardName;
  cases: readonly BenchCase[];
  /** The ELF to write; the data files go beside it. */
  out: string;
  cflags?: string[];
}

/** The C runtime bench image (kernels/c/boards/bench-rankgate.c): one checksum line per case and mode. */
export function buildRankgateImage(o: BenchImage & { modes: readonly number[]; arena: number; defines?: string[] }): string {
  const rt = runtimeSources();
  return buildImage({
    board: o.board,
    sources: [join(BOARDS_DIR, "bench-rankgate.c"), writeBenchData(o.cases, `${o.out}.data.S`), ...rt.sources],
    includes: [rt.include],
    defines: [`RG_BENCH_MODES=${o.modes.join(",")}`, `RG_BENCH_ARENA=${o.arena}`, ...(o.defines ?? [])],
    cflags: o.cflags,
    out: o.out,
  });
}

/** The CMSIS-NN bench image (kernels/c/boards/bench-cmsis.c), dense on case 0: one checksum line over its logits. */
export function buildCmsisImage(o: BenchImage): string {
  const cm = cmsisSources();
  return buildImage({
    board: o.board,
    sources: [join(BOARDS_DIR, "bench-cmsis.c"), writeBenchData(o.cases.slice(0, 1), `${o.out}.data.S`), ...cm.sources],
    includes: [cm.include],
    cflags: [...(o.cflags ?? ["-O2"]), "-Wno-unused-parameter", "-Wno-sign-compare"],
    out: o.out,
  });
}

/** The checksum lines of a bench image's output: "case mode" → checksum (mode "cmsis" for CMSIS-NN). */
export function parseChecksums(stdout: string): Map<string, { samples: number; checksum: number }> {
  const out = new Map<string, { samples: number; checksum: number }>();
  for (const m of stdout.matchAll(/^case (\d+) mode (\S+) samples (\d+) checksum (\d+)$/gm)) out.set(`${m[1]} ${m[2]}`, { samples: Number(m[3]), checksum: Number(m[4]) });
  return out;
}

/** FNV-1a as the bench images fold: logits bytes, then (withCounters) each layer's four counters as u32 LE. */
export function benchChecksum(results: { logits: Int8Array; stats: InferStats }[], withCounters: boolean): number {
  let h = 2166136261;
  const byte = (b: number) => { h = Math.imul(h ^ (b & 0xff), 16777619) >>> 0; };
  const u32 = (v: number) => { byte(v); byte(v >>> 8); byte(v >>> 16); byte(v >>> 24); };
  for (const r of results) {
    for (const v of r.logits) byte(v);
    if (withCounters) for (const l of r.stats.layers) { u32(l.estimatorMacs); u32(l.rowMacs); u32(l.rowsComputed); u32(l.rowsSkipped); }
  }
  return h >>> 0;
}

/** rg_model.flags of a run mode (kernels/c/include/rankgate.h RG_RUN_*: PORTABLE 1, DENSE 2, ZERO_SKIP 8). */
export const MODE_FLAGS = {
  dense: 2, gated: 0, "gated+zero-skip": 8,
  "portable dense": 3, "portable gated": 1, "portable gated+zero-skip": 9,
} as const;
export type ModeName = keyof typeof MODE_FLAGS;

/** Engine in Node on the same inputs: the checksum each mode's image must print, and the per-sample results. */
export async function engineChecksums(modelBytes: Uint8Array, inputs: Int8Array, modes: ModeName[]) {
  const engine = await Engine.load(modelBytes);
  const n = engine.inputSize;
  const out = new Map<ModeName, { checksum: number; results: { logits: Int8Array; stats: InferStats }[] }>();
  for (const mode of modes) {
    const flags = MODE_FLAGS[mode];
    const results: { logits: Int8Array; stats: InferStats }[] = [];
    for (let s = 0; s * n < inputs.length; s++) {
      results.push(engine.infer(inputs.subarray(s * n, (s + 1) * n), { gating: !(flags & 2), zeroSkip: !!(flags & 8), simd: !(flags & 1) }));
    }
    out.set(mode, { checksum: benchChecksum(results, true), results });
  }
  return out;
}

/**
 * The first `count` samples of a data spec (mnist:test, or a file cli/src/data-options.ts reads) quantized to the model's
 * int8 input by the Engine itself (its trace's layer-0 input: whatever input quantization the model file
 * defines): one Int8Array of count · n_in. A UserError when the data has another width or fewer samples.
 */
export async function dataInputs(modelBytes: Uint8Array, data: string, count: number, name = "model"): Promise<Int8Array> {
  const engine = await Engine.load(modelBytes, { trace: true });
  const n = engine.inputSize;
  const d = loadDataFor(data, n, name, count);
  if (d.count < count) throw new UserError(`${data}: ${d.count} samples, ${name} is measured on ${count}`);
  const out = new Int8Array(count * n);
  for (let s = 0; s < count; s++) {
    engine.infer(d.features.subarray(s * n, (s + 1) * n));
    out.set(engine.lastTrace().inputs[0], s * n);
  }
  return out;
}

/** The folders whose sources decide the C runtime's instruction counts (sim/measured.json stores their hash). */
export const C_SOURCE_DIRS = ["kernels/c/src", "kernels/c/include"];

/** SHA-256 over the C runtime's sources (C_SOURCE_DIRS): each file's path below kernels/ (`c/src/rg_model.c`), a NUL, its bytes, a NUL, in path order. */
export function cSourcesHash(root = ROOT): string {
  const h = createHash("sha256");
  for (const dir of C_SOURCE_DIRS) {
    for (const f of readdirSync(join(root, dir)).filter((x) => /\.[ch]$/.test(x)).sort()) {
      h.update(`${dir.replace(/^kernels\//, "")}/${f}\0`);
      h.update(readFileSync(join(root, dir, f)));
      h.update("\0");
    }
  }
  return h.digest("hex");
}

/** The first `count` MNIST test digits quantized to the model's input: one Int8Array of count · 784. */
export function mnistInputs(modelBytes: Uint8Array, count: number, first = 0): Int8Array {
  const { model } = readModel(modelBytes);
  const set = loadMnist("test", { limit: first + count });
  const x = toFloatInputs(set.images, first + count).subarray(first * MNIST_PIXELS);
  // As Engine quantizes: per tensor, or per feature for a format v3 model
  const q = new Int8Array(count * MNIST_PIXELS);
  for (let s = 0; s < count; s++) quantizeModelInput(model, x.subarray(s * MNIST_PIXELS, (s + 1) * MNIST_PIXELS), q.subarray(s * MNIST_PIXELS, (s + 1) * MNIST_PIXELS));
  return q;
}

// ---- wasm3 on the MCU: the MVP module and an Engine job (bench/wasm-job.ts) ----

/** wasm3's interpreter sources (the upstream tarball under build/third-party/wasm3), without its WASI/libc bindings. */
export function wasm3Sources(): { sources: string[]; include: string } {
  const dir = join(thirdParty("wasm3"), "source");
  const skip = /^m3_api_/;
  return { sources: readdirSync(dir).filter((f) => f.endsWith(".c") && !skip.test(f)).sort().map((f) => join(dir, f)), include: dir };
}

/** wasm3 flags for a bare-metal image: no WASI, no logging, default (malloc) heap. */
export const WASM3_CFLAGS = ["-O2", "-std=gnu11", "-Wno-unused-parameter", "-Wno-sign-compare", "-Wno-unused-function", "-Wno-unused-variable",
  "-Wno-missing-field-initializers", "-Wno-implicit-fallthrough", "-Dd_m3HasWASI=0", "-Dd_m3HasMetaWASI=0", "-Dd_m3HasUVWASI=0", "-Dd_m3LogOutput=0"];

/** The wasm3 image (kernels/c/boards/wasm3-mcu.c) running `job` on `wasm`: one checksum line, marks around each call. */
export function buildWasm3Image(o: { board: BoardName; wasm: Uint8Array; job: Uint8Array; out: string }): string {
  const w3 = wasm3Sources();
  const b = BOARDS[o.board];
  mkdirSync(dirname(o.out), { recursive: true });
  const lib = wasm3Library(o.board);
  const data = writeBenchData([{ model: o.wasm, inputs: new Int8Array(o.job.buffer, o.job.byteOffset, o.job.byteLength) }], `${o.out}.data.S`);
  run("arm-none-eabi-gcc", [
    ...b.flags, ...WASM3_CFLAGS, "-Wall", "-Wextra", "-ffunction-sections", "-fdata-sections", "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
    `-I${BOARDS_DIR}`, `-I${w3.include}`, "-T", join(BOARDS_DIR, "board.ld"),
    `-Wl,--gc-sections,--defsym=RG_FLASH_ORIGIN=${b.flash[0]},--defsym=RG_FLASH_LENGTH=${b.flash[1]},--defsym=RG_RAM_ORIGIN=${b.ram[0]},--defsym=RG_RAM_LENGTH=${b.ram[1]}`,
    ...BOARD_SOURCES, join(BOARDS_DIR, "wasm3-mcu.c"), data, lib, "-lm", "-o", o.out,
  ], 300_000);
  return o.out;
}

/** wasm3 compiled once per board into build/third-party/wasm3-<board>/libwasm3.a (its objects give the code size). */
export function wasm3Library(board: BoardName): string {
  const dir = join(ROOT, "build", "third-party", `wasm3-${board}`), lib = join(dir, "libwasm3.a");
  if (!existsSync(lib)) {
    const w3 = wasm3Sources();
    mkdirSync(dir, { recursive: true });
    const objs = w3.sources.map((src) => {
      const obj = join(dir, `${src.split("/").pop()!.replace(/\.c$/, "")}.o`);
      run("arm-none-eabi-gcc", [...BOARDS[board].flags, ...WASM3_CFLAGS, "-ffunction-sections", "-fdata-sections", "-w", `-I${w3.include}`, "-c", src, "-o", obj], 300_000);
      return obj;
    });
    run("arm-none-eabi-ar", ["rcs", `${lib}.tmp`, ...objs]);
    run("mv", [`${lib}.tmp`, lib]);
  }
  return lib;
}

/** FNV-1a over a host's output bytes (bench/wasm-job.ts runJob), as wasm3-mcu.c folds it. */
export function fnvBytes(bytes: Uint8Array): number {
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h >>> 0;
}
