// Status codes returned by every exported kernel. Never throw inside Wasm.
// One table with the C runtime (kernels/c/include/rankgate.h rg_status, docs/FORMAT.md "Status codes"): a number
// means the same in both, under the same name (STATUS_X here, RG_X there); test/status-codes.test.ts checks it.
// −2 (RG_BAD_FORMAT) is the C reader's alone: the Wasm kernels never read a file (runtime/src/format.ts throws FormatError).
export const STATUS_OK: i32 = 0;
/** A dimension, rank or clamp bound is out of its documented range. */
export const STATUS_BAD_ARG: i32 = -1;
/** A float input is NaN or infinite (quantize_f32, run_batch_s8). */
export const STATUS_NOT_FINITE: i32 = -3;
/** A buffer is shorter than the call needs: [offset, offset + length) does not lie inside linear memory. */
export const STATUS_BAD_SIZE: i32 = -4;

/** Largest n_in / n_out a kernel accepts: keeps Σ (a−z)·w inside int32 for any row. */
export const MAX_DIM: i32 = 65535;

/** True when [ptr, ptr + bytes) lies inside linear memory. A function, not inlined: ~40 call sites. */
export function inMemory(ptr: usize, bytes: u64): bool {
  return <u64>ptr + bytes <= (<u64>memory.size() << 16);
}

/** Bytes of an i16 scratch vector of n elements, rounded up to 16. */
// @ts-ignore: decorator
@inline
export function scratchVec16(n: i32): i32 {
  return ((n << 1) + 15) & ~15;
}

/** Bytes of an i32 scratch vector of n elements, rounded up to 16. */
// @ts-ignore: decorator
@inline
export function scratchVec32(n: i32): i32 {
  return ((n << 2) + 15) & ~15;
}

/** n rounded up to a multiple of 8 (one v128 of int16, the column layouts' unit padding). */
// @ts-ignore: decorator
@inline
export function pad8(n: i32): i32 {
  return (n + 7) & ~7;
}
