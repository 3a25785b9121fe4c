// npm run build:runtime: the runtime package (runtime/, npm name "rankgate") into runtime/dist: JS and
// .d.ts from tsc, and every engine module the build made (build/rankgate*.wasm, not the debug
// build) copied beside them, where `new URL("../tools/rankgate.wasm", import.meta.url)` finds it.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "runtime", "dist");

export function buildRuntime(): string[] {
  const modules = readdirSync(join(ROOT, "build")).filter((f) => /^rankgate.*\.wasm$/.test(f) && !f.includes(".debug."));
  if (!modules.includes("rankgate.wasm")) throw new Error("build/rankgate.wasm not found: run `npm run build:wasm` first");
  rmSync(DIST, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", join(ROOT, "runtime", "tsconfig.json")], { stdio: "inherit" });
  mkdirSync(DIST, { recursive: true });
  for (const m of modules) copyFileSync(join(ROOT, "build", m), join(DIST, m));
  return modules;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`runtime/dist: ${buildRuntime().join(", ")}\n`);
}
