#!/usr/bin/env node
// One-off, re-runnable layout change (issue 14): the lean runtime moves into its own npm workspace,
// runtime/ (package "rankgate"), and bench/profile.ts into tools/. Run from the repository root on a
// clean tree: `node tools/relayout.mjs`, then `npm install --prefer-offline` (lockfile) and commit.
// Idempotent: files already moved are skipped; every relative import in every tracked or new
// .ts/.js/.mjs file is recomputed from where its target now lives; docs' paths are rewritten.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";

const ROOT = process.cwd();
const RUNTIME_FILES = ["index", "runtime", "format", "arena", "reference", "quant", "errors", "wasm", "crc32", "show", "model", "args"];
/** old path → new path (repository-relative, posix) */
const MOVES = new Map([
  ...RUNTIME_FILES.map((f) => [`ts/${f}.ts`, `runtime/src/${f}.ts`]),
  ["bench/profile.ts", "tools/profile-stages.ts"],
]);
const git = (...args) => execFileSync("git", args, { encoding: "utf8" });

// 1. Moves
mkdirSync("runtime/src", { recursive: true });
for (const [from, to] of MOVES) if (existsSync(from) && !existsSync(to)) git("mv", from, to);
const back = new Map([...MOVES].map(([a, b]) => [b, a]));

// 2. Relative imports, recomputed
const files = git("ls-files", "--cached", "--others", "--exclude-standard").split("\n")
  .filter((f) => /\.(ts|mts|js|mjs)$/.test(f) && !f.startsWith("node_modules/") && existsSync(f) && f !== "tools/relayout.mjs");
const SPEC = /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|\bvi\.mock\(\s*)(["'])(\.{1,2}\/[^"']+)\2/g;
let changed = 0;
for (const file of files) {
  const oldFile = back.get(file) ?? file;
  const src = readFileSync(file, "utf8");
  const out = src.replace(SPEC, (m, pre, q, spec) => {
    const target = posix.normalize(posix.join(posix.dirname(oldFile), spec));
    const now = MOVES.get(target) ?? target;
    if (now === target && oldFile === file) return m;
    let rel = posix.relative(posix.dirname(file), now);
    if (!rel.startsWith(".")) rel = `./${rel}`;
    return `${pre}${q}${rel}${q}`;
  });
  if (out !== src) { writeFileSync(file, out); changed++; }
}
// The runtime's fallback to the build folder of a source checkout is one level deeper now
const wasmTs = "runtime/src/wasm.ts";
if (existsSync(wasmTs)) writeFileSync(wasmTs, readFileSync(wasmTs, "utf8").replace('const SOURCE_BUILD_DIR = "../build/";', 'const SOURCE_BUILD_DIR = "../../build/";'));

// 3. Paths in docs
const docs = git("ls-files", "*.md").split("\n").filter(Boolean);
const docPath = new RegExp(`(?<![\\w/.-])(${[...MOVES.keys()].map((k) => k.replace(/[./]/g, "\\$&")).join("|")})(?![\\w-])`, "g");
for (const d of docs) {
  const src = readFileSync(d, "utf8");
  const out = src.replace(docPath, (p) => MOVES.get(p));
  if (out !== src) writeFileSync(d, out);
}

// 4. Packages: runtime/ is the "rankgate" workspace, the root is the toolchain "@rankgate/cli"
const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const version = pkg.version;
const runtimePkg = {
  name: "rankgate",
  version,
  description: "Fixed-point conditional-computation inference: the .rgm reader/writer and the Engine over one import-free Wasm module (≈ 8 KiB), no dependencies",
  type: "module",
  license: "MIT",
  engines: { node: ">=20" },
  sideEffects: false,
  main: "./dist/index.js",
  types: "./dist/index.d.ts",
  exports: {
    ".": { types: "./dist/index.d.ts", default: "./dist/index.js" },
    "./rankgate.wasm": "./dist/rankgate.wasm",
    "./package.json": "./package.json",
    "./*": { types: "./dist/*.d.ts", default: "./dist/*.js" },
  },
  files: ["dist/*.js", "dist/*.d.ts", "dist/rankgate*.wasm"],
  keywords: ["webassembly", "int8", "inference", "mlp", "quantization", "conditional-computation"],
};
writeFileSync("runtime/package.json", JSON.stringify(runtimePkg, null, 2) + "\n");
writeFileSync("runtime/tsconfig.json", JSON.stringify({
  compilerOptions: {
    target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "DOM"], types: [],
    strict: true, noImplicitOverride: true, isolatedModules: true, skipLibCheck: true,
    allowImportingTsExtensions: true, rewriteRelativeImportExtensions: true,
    declaration: true, rootDir: "src", outDir: "dist", removeComments: false,
  },
  include: ["src"],
}, null, 2) + "\n");
if (existsSync("LICENSE")) writeFileSync("runtime/LICENSE", readFileSync("LICENSE"));

pkg.name = "@rankgate/cli";
pkg.description = "The rankgate toolchain and CLI: import, train, quantize, eval, sim, profile (depends on the rankgate runtime)";
pkg.workspaces = ["runtime"];
pkg.files = ["bin", "dist", "firmware-sim/targets", "firmware-sim/target.schema.json", "models/paper.rgm", "models/condnet-mnist.rgm"];
pkg.dependencies = Object.fromEntries(Object.entries({ ...pkg.dependencies, rankgate: version }).sort(([a], [b]) => a.localeCompare(b)));
pkg.scripts.build = "npm run build:wasm && npm run build:runtime && npm run build:cli";
pkg.scripts["build:runtime"] = "tsx tools/build-runtime.ts";
pkg.scripts["build:cli"] = "tsx tools/build-cli.ts";
writeFileSync("package.json", JSON.stringify(pkg, null, 2) + "\n");

const tsconfig = JSON.parse(readFileSync("tsconfig.json", "utf8"));
if (!tsconfig.include.includes("runtime/src")) tsconfig.include.unshift("runtime/src");
writeFileSync("tsconfig.json", JSON.stringify(tsconfig, null, 2) + "\n");

const ignore = readFileSync(".gitignore", "utf8");
if (!ignore.includes("runtime/dist/")) writeFileSync(".gitignore", ignore + "runtime/dist/\n");
console.log(`moved ${MOVES.size} files, rewrote imports in ${changed} files; now: npm install --prefer-offline --no-audit --no-fund`);
