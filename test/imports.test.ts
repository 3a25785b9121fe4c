// The import rules of docs/ARCHITECTURE.md ("Layers"), written in .dependency-cruiser.cjs and checked by
// dependency-cruiser: the tree obeys them, and each rule fires on a small tree that breaks it.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const DEPCRUISE = join(ROOT, "node_modules", "dependency-cruiser", "bin", "dependency-cruise.mjs");
/** The folders `npm run lint:imports` checks (package.json). */
const FOLDERS = ["runtime", "toolchain", "sim", "cli", "scripts", "bench", "fuzz", "web", "kernels/wasm", "test"];

interface Violation { rule: { name: string }; from: string; to: string }
interface Result { summary: { violations: Violation[]; totalCruised: number; error: number } }

function cruise(cwd: string, folders: string[]): Result {
  const r = spawnSync(process.execPath, [DEPCRUISE, "--config", ".dependency-cruiser.cjs", "--output-type", "json", ...folders], { cwd, encoding: "utf8", maxBuffer: 256 << 20 });
  expect(r.stdout, r.stderr).not.toBe("");
  return JSON.parse(r.stdout) as Result;
}

describe("import rules (dependency-cruiser)", () => {
  it("the tree has no violation: no cycle, no upward import, the runtime self-contained and imported through its entry", () => {
    const { summary } = cruise(ROOT, FOLDERS);
    expect(summary.totalCruised).toBeGreaterThan(200);
    expect(summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });

  // A small tree with one file per layer, each breaking one rule, cruised with the project's own rules.
  const dir = mkdtempSync(join(tmpdir(), "rankgate-imports-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };

  it("each rule fires on a tree that breaks it", () => {
    copyFileSync(join(ROOT, ".dependency-cruiser.cjs"), join(dir, ".dependency-cruiser.cjs"));
    file("tsconfig.json", JSON.stringify({ compilerOptions: { module: "ESNext", moduleResolution: "Bundler", allowImportingTsExtensions: true, noEmit: true } }));
    file("runtime/src/index.ts", `export * from "./format.ts";\n`);
    file("runtime/src/format.ts", `import "../../toolchain/io/files.ts";\nexport const f = 1;\n`);
    file("toolchain/io/files.ts", `import { f } from "../../runtime/src/index.ts";\nexport const g = f;\n`);
    file("toolchain/data/index.ts", `import { g } from "../io/files.ts";\nimport { s } from "../../sim/cost.ts";\nexport const d = g + s;\n`);
    file("sim/cost.ts", `import { e } from "../toolchain/evaluate/evaluate.ts";\nexport const s = e;\n`);
    file("toolchain/evaluate/evaluate.ts", `import { f } from "../../runtime/src/format.ts";\nimport { run } from "../../cli/src/cli.ts";\nexport const e = f + run;\n`);
    file("cli/src/cli.ts", `import { b } from "../../bench/bench.ts";\nexport const run = b;\n`);
    file("bench/bench.ts", `import { run } from "../cli/src/cli.ts";\nexport const b = 2;\nexport const c = run;\n`);
    file("kernels/wasm/dot.ts", `import { f } from "../../runtime/src/index.ts";\nexport const k = f;\n`);
    const { summary } = cruise(dir, ["runtime", "toolchain", "sim", "cli", "bench", "kernels"]);
    const got = summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(got).toEqual(expect.arrayContaining([
      "runtime-is-self-contained: runtime/src/format.ts → toolchain/io/files.ts",
      "no-upward-from-runtime: runtime/src/format.ts → toolchain/io/files.ts",
      "no-upward-from-toolchain-core: toolchain/data/index.ts → sim/cost.ts",
      "no-upward-from-sim: sim/cost.ts → toolchain/evaluate/evaluate.ts",
      "no-upward-from-toolchain-search: toolchain/evaluate/evaluate.ts → cli/src/cli.ts",
      "runtime-through-its-entry: toolchain/evaluate/evaluate.ts → runtime/src/format.ts",
      "no-upward-from-cli: cli/src/cli.ts → bench/bench.ts",
      "wasm-kernels-self-contained: kernels/wasm/dot.ts → runtime/src/index.ts",
    ]));
    expect(got.some((v) => v.startsWith("no-circular: "))).toBe(true);
    // The files that break nothing are not named.
    expect(got.filter((v) => v.includes(": toolchain/io/files.ts →"))).toEqual([]);
  });
});
