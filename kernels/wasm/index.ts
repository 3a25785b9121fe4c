// rankgate engine: every export takes offsets into this module's one linear memory,
// never allocates, and returns an i32 status (see status.ts). Flag and schedule constants
// beyond these are mirrored in runtime/src/runtime.ts (exports cost bytes of the 11.75 KiB budget; the MVP build: 8 KiB).
export { STATUS_OK, STATUS_BAD_ARG, STATUS_BAD_SIZE, MAX_DIM } from "./status";
export { requantize_s32 } from "./requantize";
export { quantize_f32 } from "./quantize";
export {
  denseRows_s8, denseRows_s8_scratchBytes, denseRows_s8_scratchBytes as gatedRows_s8_scratchBytes, gatedRows_s8, requantizeRows_s32, maskCount,
} from "./fully-connected";
export { estimateSign_s8, estimateSign_s8_scratchBytes } from "./estimate";
export { blockGate_s8, blockGate_s8_scratchBytes } from "./gate";
export { sparseInput_s8, sparseInput_s8_scratchBytes } from "./sparse";
export { run_s8, run_batch_s8, run_s8_scratchBytes, heapBase, PLAN_RECORD_BYTES, RUN_SCALAR, RUN_DENSE, RUN_TRACE } from "./network";
/** 1 in build/rankgate.wasm (v128 kernels), 0 in build/rankgate-mvp.wasm (no post-MVP feature; the SIMD branches compiled out). */
export const FEATURE_SIMD: i32 = ASC_FEATURE_SIMD ? 1 : 0;
