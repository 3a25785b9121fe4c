import { STATUS_OK, STATUS_BAD_ARG, STATUS_OUT_OF_BOUNDS, MAX_DIM, inMemory, scratchVec32, pad8 } from "./status";
import { requantize } from "./requantize";
import { listInput, chunkRows, sparseInput_s8_scratchBytes } from "./sparse";

/** Scratch bytes {@link denseRows_s8} and {@link gatedRows_s8} need: the input list, int32 acc[pad8(nOut)], int32 rows[nOut]. */
export function denseRows_s8_scratchBytes(nIn: i32, nOut: i32): i32 {
  return sparseInput_s8_scratchBytes(nIn) + scratchVec32(pad8(nOut)) + scratchVec32(nOut);
}


/** Checks of a rows kernel's output side: nOut, zero point, clamp, bias / multiplier / shift and out buffers. */
function checkOut(nOut: i32, outZp: i32, actMin: i32, actMax: i32, biasPtr: usize, multPtr: usize, shiftPtr: usize, outPtr: usize): i32 {
  if (nOut < 1 || nOut > MAX_DIM || outZp < -128 || outZp > 127 || actMin < -128 || actMax > 127 || actMin > actMax) return STATUS_BAD_ARG;
  const perUnit = <u64>nOut << 2;
  if (!inMemory(biasPtr, perUnit) || !inMemory(multPtr, perUnit) || !inMemory(shiftPtr, perUnit) || !inMemory(outPtr, nOut)) return STATUS_OUT_OF_BOUNDS;
  return STATUS_OK;
}

/** The rows kernels' argument checks, with the scratch size the caller needs. */
export function checkRows(
  inPtr: usize, nIn: i32, inZp: i32, wPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize,
  nOut: i32, outZp: i32, actMin: i32, actMax: i32, outPtr: usize, scratchPtr: usize, scratchBytes: i32,
): i32 {
  const status = checkOut(nOut, outZp, actMin, actMax, biasPtr, multPtr, shiftPtr, outPtr);
  if (status != STATUS_OK) return status;
  if (nIn < 1 || nIn > MAX_DIM || inZp < -128 || inZp > 127) return STATUS_BAD_ARG;
  if (!inMemory(inPtr, nIn) || !inMemory(wPtr, <u64>nIn * nOut + 8) || !inMemory(scratchPtr, scratchBytes)) return STATUS_OUT_OF_BOUNDS;
  return STATUS_OK;
}

/**
 * out[j] = clamp(outZp + requantize(bias[j] + acc[j], mult[j], shift[j]), actMin, actMax) for every
 * unit whose mask bit is set (every unit when maskPtr is 0); the others get outZp.
 */
export function requantizeRows(
  accPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize, nOut: i32, outZp: i32, actMin: i32, actMax: i32,
  maskPtr: usize, outPtr: usize,
): void {
  if (maskPtr != 0) memory.fill(outPtr, <u8>outZp, nOut);
  for (let w = 0; w < ((nOut + 31) >>> 5); w++) {
    const base = w << 5;
    let bits: u32 = maskPtr != 0 ? load<u32>(maskPtr + (<usize>w << 2)) : <u32>0xffffffff;
    // Drop bits past nOut
    if (nOut - base < 32) bits &= (<u32>1 << (nOut - base)) - 1;
    while (bits != 0) {
      const j = base + <i32>ctz(bits);
      bits &= bits - 1;
      const o = <usize>j << 2;
      const v = requantize(load<i32>(biasPtr + o) + load<i32>(accPtr + o), load<i32>(multPtr + o), load<i32>(shiftPtr + o)) + outZp;
      store<i8>(outPtr + j, <i8>min(max(v, actMin), actMax));
    }
  }
}

/**
 * out[j] = clamp(outZp + requantize(bias[j] + acc[j], mult[j], shift[j]), actMin, actMax) from int32 sums
 * acc[j], for the units whose mask bit is set (every unit when maskPtr is 0); the others get outZp.
 * The requantization step of the rows kernels, alone (profiling, column schedules).
 * @param accPtr int32[nOut], nonzero
 * @param maskPtr uint32[ceil(nOut/32)] or 0
 */
export function requantizeRows_s32(
  accPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize, nOut: i32, outZp: i32, actMin: i32, actMax: i32,
  maskPtr: usize, outPtr: usize,
): i32 {
  const status = checkOut(nOut, outZp, actMin, actMax, biasPtr, multPtr, shiftPtr, outPtr);
  if (status != STATUS_OK) return status;
  if (accPtr == 0 || !inMemory(accPtr, <u64>nOut << 2) || !inMemory(maskPtr, <u64>((nOut + 31) >>> 5) << 2)) return STATUS_OUT_OF_BOUNDS;
  requantizeRows(accPtr, biasPtr, multPtr, shiftPtr, nOut, outZp, actMin, actMax, maskPtr, outPtr);
  return STATUS_OK;
}

/** Rows of the units whose mask bit is set (all with maskPtr 0) without zero skipping, after checks. */
function rowsKernel(
  inPtr: usize, nIn: i32, inZp: i32, wPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize,
  nOut: i32, outZp: i32, actMin: i32, actMax: i32, outPtr: usize, scratchPtr: usize, maskPtr: usize, simd: i32,
): void {
  const acc = scratchPtr + sparseInput_s8_scratchBytes(nIn);
  listInput(inPtr, nIn, inZp, scratchPtr, false, simd != 0);
  chunkRows(scratchPtr, nIn, wPtr, nOut, maskPtr, acc, acc + scratchVec32(pad8(nOut)), simd != 0);
  requantizeRows(acc, biasPtr, multPtr, shiftPtr, nOut, outZp, actMin, actMax, maskPtr, outPtr);
}

/**
 * out[j] = clamp(outZp + requantize(bias[j] + Σ_i (in[i] − inZp)·W[j,i], mult[j], shift[j]), actMin, actMax)
 * for every unit j. W is int8 row-major [nOut][nIn] (one row per unit), with 8 readable bytes after
 * it (a last partial 8-input step reads them, times 0).
 * @param nIn range [1, 65535]; nOut range [1, 65535]
 * @param inZp range [-128, 127]; outZp range [-128, 127]
 * @param actMin range [-128, actMax]; actMax range [actMin, 127] (ReLU: [outZp, 127])
 * @param multPtr int32[nOut] Q31 multipliers; shiftPtr int32[nOut], each in [-31, 30]
 * @param scratchPtr denseRows_s8_scratchBytes(nIn, nOut) bytes, 16-byte aligned
 * @param simd nonzero: v128 path; zero: scalar path (bit-identical)
 */
export function denseRows_s8(
  inPtr: usize, nIn: i32, inZp: i32, wPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize,
  nOut: i32, outZp: i32, actMin: i32, actMax: i32, outPtr: usize, scratchPtr: usize, simd: i32,
): i32 {
  const status = checkRows(inPtr, nIn, inZp, wPtr, biasPtr, multPtr, shiftPtr, nOut, outZp, actMin, actMax, outPtr, scratchPtr,
    denseRows_s8_scratchBytes(nIn, nOut));
  if (status != STATUS_OK) return status;
  rowsKernel(inPtr, nIn, inZp, wPtr, biasPtr, multPtr, shiftPtr, nOut, outZp, actMin, actMax, outPtr, scratchPtr, 0, simd);
  return STATUS_OK;
}

/**
 * As {@link denseRows_s8} for the units whose bit is set in the mask (bit j%32 of
 * little-endian word j/32); every other unit gets outZp (real zero). Bits at or
 * past nOut are ignored.
 * @param maskPtr uint32[ceil(nOut/32)], nonzero
 * @param scratchPtr gatedRows_s8_scratchBytes(nIn, nOut) (= denseRows_s8_scratchBytes) bytes, 16-byte aligned
 */
export function gatedRows_s8(
  inPtr: usize, nIn: i32, inZp: i32, wPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize,
  nOut: i32, outZp: i32, actMin: i32, actMax: i32, outPtr: usize, scratchPtr: usize, maskPtr: usize, simd: i32,
): i32 {
  const status = checkRows(inPtr, nIn, inZp, wPtr, biasPtr, multPtr, shiftPtr, nOut, outZp, actMin, actMax, outPtr, scratchPtr,
    denseRows_s8_scratchBytes(nIn, nOut));
  if (status != STATUS_OK) return status;
  if (maskPtr == 0 || !inMemory(maskPtr, <u64>((nOut + 31) >>> 5) << 2)) return STATUS_OUT_OF_BOUNDS;
  rowsKernel(inPtr, nIn, inZp, wPtr, biasPtr, multPtr, shiftPtr, nOut, outZp, actMin, actMax, outPtr, scratchPtr, maskPtr, simd);
  return STATUS_OK;
}

/** Set bits of the first n bits of the mask. */
export function maskCount(maskPtr: usize, n: i32): i32 {
  let count = 0;
  const words = (n + 31) >>> 5;
  for (let w = 0; w < words; w++) {
    let bits = load<u32>(maskPtr + (<usize>w << 2));
    const rest = n - (w << 5);
    if (rest < 32) bits &= (<u32>1 << rest) - 1;
    count += <i32>popcnt(bits);
  }
  return count;
}
