// as-pect: invariants checked inside Wasm. Compiled with as-pect.asconfig.json (standalone,
// SIMD on, default runtime so failure messages reach the reporter).
export default {
  entries: ["test/as/**/*.spec.ts"],
  include: ["test/as/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
