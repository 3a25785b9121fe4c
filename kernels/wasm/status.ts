// Status codes returned by every exported kernel. Never throw inside Wasm.
export const STATUS_OK: i32 = 0;
/** A dimension, rank or clamp bound is out of its documented range. */
export const STATUS_BAD_ARG: i32 = -1;
/** A buffer named by offset and length does not lie inside linear memory. */
export const STATUS_OUT_OF_BOUNDS: i32 = -2;
/** A float input is NaN or infinite (quantize_f32, run_batch_s8). */
export const STATUS_NOT_FINITE: i32 = -3;

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
