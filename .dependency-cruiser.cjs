// The import rules of docs/ARCHITECTURE.md ("Layers"), checked by `npm run lint:imports` (dependency-cruiser)
// and by test/imports.test.ts, so `npm test` and CI fail when one is broken.
//
// Layers, lowest first; a file may import its own layer and the layers below it, never one above:
//   1 runtime/src                the runtime package `rankgate` (imports nothing outside itself)
//   2 toolchain/{io,report}      user-file access, JSON within limits, the safetensors codec, doc sections, charts
//   3 toolchain/{model,data,import,quantize,train}   the float model, user data, importers, quantizer, trainers
//   4 sim                        the firmware simulator (target profiles, trace, cost model, fit)
//   5 toolchain/{evaluate,optimize}                  evaluation and the searches that price on a target
//   6 cli                        the `rankgate` command (package @rankgate/cli)
//   7 scripts, bench, fuzz, web  what is not product: nothing in layers 1-6 imports them
// The Wasm kernels (kernels/wasm, AssemblyScript) import only themselves; test/ may import anything.
const LAYERS = [
  ["runtime", "^runtime/src/"],
  ["toolchain base", "^toolchain/(io|report)/"],
  ["toolchain core", "^toolchain/(model|data|import|quantize|train)/"],
  ["sim", "^sim/"],
  ["toolchain search", "^toolchain/(evaluate|optimize)/"],
  ["cli", "^cli/"],
];
const NOT_PRODUCT = "^(scripts|bench|fuzz|web|test)/";

/** One rule per layer: it may not import any layer above it (nor scripts, bench, fuzz, web, test). */
const upward = LAYERS.map(([name, path], i) => ({
  name: `no-upward-from-${name.replace(/ /g, "-")}`,
  comment: `${name} (${path}) imports only its own layer and the ones below it (docs/ARCHITECTURE.md, "Layers")`,
  severity: "error",
  from: { path },
  to: { path: [...LAYERS.slice(i + 1).map(([, p]) => p), NOT_PRODUCT, "^kernels/"] },
}));

module.exports = {
  forbidden: [
    ...upward,
    {
      name: "runtime-is-self-contained",
      comment: "the runtime package imports nothing outside runtime/src: no npm package, no other folder",
      severity: "error",
      from: { path: "^runtime/src/" },
      to: { pathNot: ["^runtime/src/"], dependencyTypesNot: ["core"] },
    },
    {
      name: "runtime-through-its-entry",
      comment: "outside runtime/ and test/, the runtime is imported through its public entry (runtime/src/index.ts), as a package user would",
      severity: "error",
      from: { pathNot: ["^runtime/", "^test/", "^bench/", "^fuzz/", "^web/", "^scripts/"] },
      to: { path: "^runtime/src/", pathNot: "^runtime/src/index\\.ts$" },
    },
    {
      name: "wasm-kernels-self-contained",
      comment: "the AssemblyScript kernels import only each other",
      severity: "error",
      from: { path: "^kernels/wasm/" },
      // selftest.ts embeds the three-runtime check's cases, generated into build/ by web/build-selftest.ts
      to: { pathNot: ["^kernels/wasm/", "build/selftest-data(\\.ts)?$"] },
    },
    {
      name: "no-circular",
      comment: "no import cycle, between files or (through the layer rules) between folders",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      comment: "every import resolves (but the generated cases of the three-runtime check, which exist after web/build-selftest.ts)",
      severity: "error",
      from: {},
      to: { couldNotResolve: true, pathNot: "build/selftest-data(\\.ts)?$" },
    },
    {
      name: "not-to-dev-dep",
      comment: "product code (runtime, toolchain, sim, cli) imports only runtime dependencies, not devDependencies",
      severity: "error",
      from: { path: "^(runtime/src|toolchain|sim|cli)/" },
      to: { dependencyTypes: ["npm-dev"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: ["node_modules", "(^|/)dist/", "^build/", "^test/fixtures/"] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"], extensions: [".ts", ".js", ".mjs", ".cjs", ".json"] },
  },
};
