// npm run build:cli: the CLI bundle cli/dist/rankgate.js (Node 20, ESM) and the data it reads at run time, copied
// into the package folder cli/. npm packages stay external; so does the runtime: product code imports it only through
// runtime/src/index.ts (a dependency-cruiser rule), which becomes `rankgate`, so the installed CLI runs on the
// installed runtime package and its rankgate.wasm.
//
// Data: sources find their files by `new URL("../<path>", import.meta.url)` from a folder one level below the
// repository root (sim/profile.ts: "../sim/targets/"). The bundle sits one level below the package folder, so each
// ASSETS path is copied to the same path under cli/ and the same URL resolves in source and bundle. The build fails
// if the bundle names a "../" URL that the package folder does not hold.
import { build, type Plugin } from "esbuild";
import { cpSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PACKAGE = join(ROOT, "cli");
export const BUNDLE = join(PACKAGE, "dist", "rankgate.js");

/** Repository paths the bundle reads (sim/) or the README names (models/), copied to cli/<path>. */
export const ASSETS = ["sim/targets", "sim/target.schema.json", "sim/measured.json", "models/paper.rgm", "models/condnet-mnist.rgm"];
/** Folders of cli/ that hold only copies, emptied before each build. */
const COPIES = ["sim", "models"];

const runtimeExternal: Plugin = {
  name: "rankgate-runtime-external",
  setup(b) {
    b.onResolve({ filter: /runtime\/src\/[\w-]+\.ts$/ }, (args) => {
      const name = /runtime\/src\/([\w-]+)\.ts$/.exec(args.path)![1];
      if (name !== "index") return { errors: [{ text: `${args.importer} imports runtime/src/${name}.ts: import the runtime through runtime/src/index.ts (the package's public entry)` }] };
      return { path: "rankgate", external: true };
    });
  },
};

export async function buildCli(): Promise<void> {
  await build({
    entryPoints: [join(PACKAGE, "src", "cli.ts")],
    outfile: BUNDLE,
    bundle: true, platform: "node", target: "node20", format: "esm", packages: "external",
    plugins: [runtimeExternal], logLevel: "warning",
  });
  for (const dir of COPIES) rmSync(join(PACKAGE, dir), { recursive: true, force: true });
  for (const path of ASSETS) cpSync(join(ROOT, path), join(PACKAGE, path), { recursive: true });
  const missing = [...readFileSync(BUNDLE, "utf8").matchAll(/new URL\("(\.\.\/[^"]*)", import\.meta\.url\)/g)]
    .map((m) => m[1]).filter((url) => !existsSync(fileURLToPath(new URL(url, pathToFileURL(BUNDLE)))));
  if (missing.length > 0) throw new Error(`cli/dist/rankgate.js reads ${missing.join(", ")}, absent from cli/: add it to ASSETS in cli/build.ts`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildCli();
