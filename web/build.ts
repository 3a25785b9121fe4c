// npm run build:web: the browser demo as a static folder (default build/web): index.html,
// main.js (esbuild bundle of web/main.ts with the engine runtime), rankgate.wasm, rankgate-mvp.wasm, and
// paper.rgm when models/paper.rgm exists; selftest.html/js (+ selftest.wasm, selftest-mvp.wasm and cases when
// built) for the three-runtime check. Serve it with any static server (npm run serve:web).
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface WebBuildOptions {
  outDir?: string;
  /** Extra files to write into the folder, by name (tests add their model here). */
  files?: Record<string, Uint8Array | string>;
  minify?: boolean;
}

export async function buildWeb(options: WebBuildOptions = {}): Promise<string> {
  const outDir = options.outDir ?? join(ROOT, "build", "web");
  const wasm = join(ROOT, "build", "rankgate.wasm");
  if (!existsSync(wasm)) throw new Error(`${wasm} not found: run \`npm run build\` first`);
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: { main: join(ROOT, "web", "main.ts"), selftest: join(ROOT, "web", "selftest.ts") },
    outdir: outDir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    // runtime/src/wasm.ts reads build/rankgate.wasm from disk only when no module is passed (Node)
    external: ["node:*"],
    minify: options.minify ?? true,
    sourcemap: false,
    logLevel: "warning",
  });
  for (const f of ["index.html", "selftest.html"]) copyFileSync(join(ROOT, "web", f), join(outDir, f));
  copyFileSync(wasm, join(outDir, "rankgate.wasm"));
  copyFileSync(join(ROOT, "build", "rankgate-mvp.wasm"), join(outDir, "rankgate-mvp.wasm"));
  const optional: [string, string][] = [
    [join(ROOT, "models", "paper.rgm"), "paper.rgm"],
    [join(ROOT, "build", "selftest.wasm"), "selftest.wasm"],
    [join(ROOT, "build", "selftest-mvp.wasm"), "selftest-mvp.wasm"],
    [join(ROOT, "build", "selftest-cases.json"), "selftest-cases.json"],
  ];
  for (const [from, to] of optional) if (existsSync(from)) copyFileSync(from, join(outDir, to));
  for (const [name, data] of Object.entries(options.files ?? {})) writeFileSync(join(outDir, name), data);
  return outDir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${await buildWeb()}\n`);
}
