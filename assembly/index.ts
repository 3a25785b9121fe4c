// rankgate engine: every export takes offsets into this module's one linear memory,
// never allocates, and returns an i32 status (see status.ts).
export { STATUS_OK, STATUS_BAD_ARG, STATUS_OUT_OF_BOUNDS, MAX_DIM } from "./status";
export { requantize_s32 } from "./requantize";
export { denseRows_s8, denseRows_s8_scratchBytes, gatedRows_s8, gatedRows_s8_scratchBytes, maskCount } from "./fully-connected";
export { estimateSign_s8, estimateSign_s8_scratchBytes } from "./estimate";
export { run_s8, heapBase, PLAN_RECORD_BYTES, RUN_SCALAR, RUN_DENSE, RUN_TRACE } from "./network";
