// npm run build:cli: the CLI bundle dist/rankgate.js (Node 20, ESM). npm packages stay external; so does
// the runtime: product code imports it only through runtime/src/index.ts (a dependency-cruiser rule), which becomes `rankgate`, so
// the installed CLI runs on the installed runtime package and its rankgate.wasm.
import { build, type Plugin } from "esbuild";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

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
    entryPoints: [join(ROOT, "cli", "src", "cli.ts")],
    outfile: join(ROOT, "dist", "rankgate.js"),
    bundle: true, platform: "node", target: "node20", format: "esm", packages: "external",
    plugins: [runtimeExternal], logLevel: "warning",
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildCli();
