// System tools some suites drive (Chromium, wabt, gcc, the Arm and RISC-V toolchains, QEMU, cmake). A suite that
// needs one runs when it is present; otherwise it is skipped and the summary reporter prints one
// line naming what to install. With RANKGATE_REQUIRE_SYSTEM=1 (set by .ci/run) a missing tool is
// a failure instead, so CI never skips.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync } from "node:fs";
import { describe } from "vitest";

export const REQUIRE_SYSTEM = process.env.RANKGATE_REQUIRE_SYSTEM === "1";

export interface SystemTool {
  /** The command or absolute path run. */
  command: string;
  /** How to get it on Debian. */
  install: string;
}

export const TOOLS = {
  chromium: { command: process.env.RANKGATE_CHROMIUM ?? "/usr/bin/chromium", install: "apt-get install -y chromium" },
  "wasm-interp": { command: process.env.RANKGATE_WASM_INTERP ?? "wasm-interp", install: "apt-get install -y wabt" },
  "wasm-validate": { command: "wasm-validate", install: "apt-get install -y wabt" },
  gcc: { command: "gcc", install: "apt-get install -y gcc" },
  cmake: { command: "cmake", install: "apt-get install -y cmake" },
  "arm-none-eabi-gcc": { command: "arm-none-eabi-gcc", install: "apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi" },
  "qemu-system-arm": { command: "qemu-system-arm", install: "apt-get install -y qemu-system-arm" },
  "riscv64-unknown-elf-gcc": { command: "riscv64-unknown-elf-gcc", install: "apt-get install -y gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf" },
  "qemu-system-riscv32": { command: "qemu-system-riscv32", install: "apt-get install -y qemu-system-misc" },
} satisfies Record<string, SystemTool>;

export type ToolName = keyof typeof TOOLS;

const seen = new Map<ToolName, boolean>();

/** Whether the tool runs here (an absolute path must exist; a command must start). */
export function hasTool(name: ToolName): boolean {
  let ok = seen.get(name);
  if (ok === undefined) {
    const { command } = TOOLS[name];
    ok = command.startsWith("/") ? existsSync(command) : !spawnSync(command, ["--version"], { stdio: "ignore", timeout: 20_000 }).error;
    seen.set(name, ok);
  }
  return ok;
}

/** The tools of `names` that are missing, as `name (install line)`. */
export function missingTools(names: readonly ToolName[]): string[] {
  return names.filter((n) => !hasTool(n)).map((n) => `${n} (${TOOLS[n].install})`);
}

/**
 * `describe` for a suite that needs system tools: runs when all are present, is skipped otherwise
 * (the summary reporter names what to install), and fails under RANKGATE_REQUIRE_SYSTEM=1.
 */
export function describeWithTools(tools: readonly ToolName[], title: string, fn: () => void): void {
  const missing = missingTools(tools);
  if (missing.length && REQUIRE_SYSTEM) throw new Error(`${title}: RANKGATE_REQUIRE_SYSTEM=1 but missing ${missing.join(", ")}`);
  (missing.length ? describe.skip : describe)(`${title} [needs ${tools.join(", ")}]`, fn);
}

/**
 * Runs a system tool and returns its result; a tool that does not start or exits non-zero throws one
 * line naming the command, the exit status and the first lines of its stderr (or how to install it).
 */
export function runTool(name: ToolName, args: readonly string[], timeout = 120_000): SpawnSyncReturns<string> {
  return runCommand(name, TOOLS[name], args, timeout);
}

export function runCommand(name: string, tool: SystemTool, args: readonly string[], timeout = 120_000): SpawnSyncReturns<string> {
  const r = spawnSync(tool.command, args, { encoding: "utf8", timeout });
  const shown = `${name} ${args.join(" ")}`;
  if (r.error) throw new Error(`${shown}: ${tool.command} did not start (${r.error.message}); ${tool.install}`);
  if (r.status !== 0) throw new Error(`${shown}: exited ${r.status ?? r.signal}: ${r.stderr.trim().split("\n").slice(0, 3).join(" | ") || "(no stderr)"}`);
  return r;
}
