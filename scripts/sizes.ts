// npx tsx scripts/sizes.ts [--write] (after npm run build): the sizes the docs state, measured — the runtime package as
// `npm pack -w rankgate --dry-run --json` makes it, and the engine modules in build/. --write saves them as
// docs/data/sizes.json and writes README.md's "sizes" section from it (scripts/render/sizes.ts); test/docs-generated.test.ts
// checks the section against the JSON and the JSON against a new measurement.
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeSection } from "../toolchain/report/doc-sections.ts";
import { saveRun } from "./render/common.ts";
import { renderSizes, SIZES_RUN, SIZES_SECTION, type SizesRun } from "./render/sizes.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const WASM_MODULES = [
  { file: "rankgate.wasm", what: "Wasm SIMD" },
  { file: "rankgate-mvp.wasm", what: "Wasm MVP, for runtimes without SIMD" },
];

/** Measures the package and the modules as they are built now. */
export function measureSizes(root = ROOT): SizesRun {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const out = execFileSync(npm, ["pack", "-w", "rankgate", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const [p] = JSON.parse(out) as { name: string; version: string; size: number; unpackedSize: number; entryCount: number }[];
  return {
    date: new Date().toISOString().slice(0, 10),
    package: { name: p.name, version: p.version, size: p.size, unpackedSize: p.unpackedSize, entryCount: p.entryCount },
    wasm: WASM_MODULES.map((m) => ({ ...m, bytes: statSync(join(root, "build", m.file)).size })),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const run = measureSizes();
  process.stdout.write(`${renderSizes(run)}\n`);
  if (process.argv.includes("--write")) {
    saveRun(join(ROOT, SIZES_RUN), run);
    const readme = join(ROOT, "README.md");
    writeSection(readme, SIZES_SECTION, renderSizes(run));
    process.stderr.write(`wrote ${SIZES_RUN} and README.md's ${SIZES_SECTION} section\n`);
  }
}
