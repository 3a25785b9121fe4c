// Build bare-metal images for the QEMU Cortex-M boards in c/boards/ and run them with semihosting,
// optionally counting executed instructions with the qemu-insn plugin (c/boards/qemu-insn.c).
// Used by test/mcu.test.ts and tools/mcu-bench.ts; nothing here is in the library.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

export const ROOT = join(import.meta.dirname, "..");
export const BOARDS_DIR = join(ROOT, "c", "boards");

export interface Board {
  machine: string;
  core: string;
  flags: string[];
  flash: [number, number];
  ram: [number, number];
}

export type BoardName = "mps2-an386" | "mps2-an500" | "microbit" | "m0plus-on-an386" | "mps3-an547";

export const BOARDS: Record<BoardName, Board> = (() => {
  const { $comment: _, ...boards } = JSON.parse(readFileSync(join(BOARDS_DIR, "boards.json"), "utf8"));
  return boards;
})();

export const BOARD_SOURCES = [join(BOARDS_DIR, "startup.c"), join(BOARDS_DIR, "semihost.c")];

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

/** Compile and link one image (newlib-nano only for memcpy/memset; no startup files). Returns the ELF path. */
export function buildImage(o: ImageOptions): string {
  const b = BOARDS[o.board];
  mkdirSync(dirname(o.out), { recursive: true });
  run("arm-none-eabi-gcc", [
    ...b.flags,
    ...(o.cflags ?? ["-O2"]),
    "-std=c99", "-Wall", "-Wextra", "-ffreestanding", "-ffunction-sections", "-fdata-sections",
    "-nostartfiles", "--specs=nano.specs",
    `-I${BOARDS_DIR}`, ...(o.includes ?? []).map((i) => `-I${i}`), ...(o.defines ?? []).map((d) => `-D${d}`),
    "-T", join(BOARDS_DIR, "board.ld"),
    `-Wl,--gc-sections,--defsym=RG_FLASH_ORIGIN=${b.flash[0]},--defsym=RG_FLASH_LENGTH=${b.flash[1]},--defsym=RG_RAM_ORIGIN=${b.ram[0]},--defsym=RG_RAM_LENGTH=${b.ram[1]}`,
    ...BOARD_SOURCES, ...o.sources, "-o", o.out,
  ]);
  return o.out;
}

/** Build the instruction-count plugin with the host gcc (once per output path). */
export function buildPlugin(out = join(ROOT, "build", "mcu", "qemu-insn.so")): string {
  const src = join(BOARDS_DIR, "qemu-insn.c");
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(dirname(out), { recursive: true });
    run("gcc", ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-o", out, src]);
  }
  return out;
}

/** Address of a symbol in an ELF (arm-none-eabi-nm). */
export function symbolAddress(elf: string, name: string): number {
  const line = run("arm-none-eabi-nm", [elf]).split("\n").find((l) => l.endsWith(` ${name}`));
  if (!line) throw new Error(`${elf}: no symbol ${name}`);
  return parseInt(line.split(" ")[0], 16);
}

/** Section sizes (arm-none-eabi-size -A) of an ELF, by name. */
export function sectionSizes(elf: string): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const line of run("arm-none-eabi-size", ["-A", elf]).split("\n")) {
    const m = /^(\.\S+)\s+(\d+)\s+\d+$/.exec(line.trim());
    if (m) sizes[m[1]] = Number(m[2]);
  }
  return sizes;
}

export interface QemuRun {
  stdout: string;
  status: number;
  /** With `count`: at each execution of a marked address, in order, its index in `marks` and the count so far. */
  marks: { id: number; count: number }[];
  total: number;
}

/**
 * Run an image under qemu-system-arm with semihosting. With `count`, count instructions with qemu-insn, marking
 * each entry of the functions `marks` (default rg_board_mark; index k in the result is marks[k]).
 */
export function runImage(board: BoardName, elf: string, opts: { count?: boolean; marks?: string[]; timeout?: number } = {}): QemuRun {
  const args = ["-M", BOARDS[board].machine, "-display", "none", "-monitor", "none", "-serial", "none",
    "-chardev", "stdio,id=sh0", "-semihosting-config", "enable=on,target=native,chardev=sh0", "-kernel", elf];
  let log = "";
  if (opts.count) {
    log = `${elf}.insn`;
    const addrs = (opts.marks ?? ["rg_board_mark"]).map((m) => `0x${symbolAddress(elf, m).toString(16)}`);
    args.push("-plugin", `${buildPlugin()},mark=${addrs.join(":")},out=${log}`);
  }
  const r = spawnSync("qemu-system-arm", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: opts.timeout ?? 120_000, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`qemu-system-arm: ${r.error.message}`);
  const marks: QemuRun["marks"] = [];
  let total = 0;
  if (opts.count && existsSync(log)) {
    for (const line of readFileSync(log, "utf8").split("\n")) {
      const [k, a, b] = line.split(" ");
      if (k === "mark") marks.push({ id: Number(a), count: Number(b) });
      else if (k === "total") total = Number(a);
    }
  }
  return { stdout: r.stdout, status: r.status ?? -1, marks, total };
}
