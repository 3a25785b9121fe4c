// The rankgate runtime library: `import { Engine } from "rankgate"`. The .rgm reader and writer, the
// Engine over the Wasm module, the bit-exact TS reference kernels and the typed errors. No
// dependencies, nothing of the toolchain (import, quantize, train, eval, sim).
export * from "./runtime.ts";
export * from "./format.ts";
export * from "./errors.ts";
export * from "./model.ts";
export * from "./reference.ts";
export * from "./quant.ts";
export { PAGE_BYTES, PLAN_RECORD_BYTES, BATCH_SAMPLES, planArena, type ArenaPlan, type ArenaRegion, type ArenaOptions } from "./arena.ts";
export { WASM_FILES, defaultWasmModule, instantiateKernels, type KernelExports, type WasmBuild, type WasmChoice } from "./wasm.ts";
export { crc32 } from "./crc32.ts";
export { showName, showValue } from "./show.ts";
