import { STATUS_OK, STATUS_BAD_ARG, STATUS_OUT_OF_BOUNDS, MAX_DIM, inMemory, scratchVec16 } from "./status";
import { requantize } from "./requantize";
import { widen_s8, dot_s16s8 } from "./dot";

/** Scratch bytes {@link denseRows_s8} needs: the widened input. */
export function denseRows_s8_scratchBytes(nIn: i32): i32 {
  return scratchVec16(nIn);
}

/** Scratch bytes {@link gatedRows_s8} needs: the widened input. */
export function gatedRows_s8_scratchBytes(nIn: i32): i32 {
  return scratchVec16(nIn);
}

function checkRows(
  inPtr: usize, nIn: i32, inZp: i32, wPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize,
  nOut: i32, outZp: i32, actMin: i32, actMax: i32, outPtr: usize, scratchPtr: usize,
): i32 {
  if (nIn < 1 || nIn > MAX_DIM || nOut < 1 || nOut > MAX_DIM) return STATUS_BAD_ARG;
  if (inZp < -128 || inZp > 127 || outZp < -128 || outZp > 127) return STATUS_BAD_ARG;
  if (actMin < -128 || actMax > 127 || actMin > actMax) return STATUS_BAD_ARG;
  const perUnit = <u64>nOut << 2;
  if (!inMemory(inPtr, nIn) || !inMemory(wPtr, <u64>nIn * nOut) || !inMemory(biasPtr, perUnit)
    || !inMemory(multPtr, perUnit) || !inMemory(shiftPtr, perUnit) || !inMemory(outPtr, nOut)
    || !inMemory(scratchPtr, scratchVec16(nIn))) return STATUS_OUT_OF_BOUNDS;
  return STATUS_OK;
}

// @ts-ignore: decorator
@inline
function row(
  j: i32, xPtr: usize, nIn: i32, wPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize,
  outZp: i32, actMin: i32, actMax: i32, outPtr: usize, simd: bool,
): void {
  const o = <usize>j << 2;
  const acc = load<i32>(biasPtr + o) + dot_s16s8(xPtr, wPtr + <usize>j * nIn, nIn, simd);
  const v = requantize(acc, load<i32>(multPtr + o), load<i32>(shiftPtr + o)) + outZp;
  store<i8>(outPtr + j, <i8>min(max(v, actMin), actMax));
}

/**
 * out[j] = clamp(outZp + requantize(bias[j] + Σ_i (in[i] − inZp)·W[j,i], mult[j], shift[j]), actMin, actMax)
 * for every unit j. W is int8 row-major [nOut][nIn] (one row per unit).
 * @param nIn range [1, 65535]; nOut range [1, 65535]
 * @param inZp range [-128, 127]; outZp range [-128, 127]
 * @param actMin range [-128, actMax]; actMax range [actMin, 127] (ReLU: [outZp, 127])
 * @param multPtr int32[nOut] Q31 multipliers; shiftPtr int32[nOut], each in [-31, 30]
 * @param scratchPtr denseRows_s8_scratchBytes(nIn) bytes, 2-byte aligned
 * @param simd nonzero: v128 path; zero: scalar path (bit-identical)
 */
export function denseRows_s8(
  inPtr: usize, nIn: i32, inZp: i32, wPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize,
  nOut: i32, outZp: i32, actMin: i32, actMax: i32, outPtr: usize, scratchPtr: usize, simd: i32,
): i32 {
  const status = checkRows(inPtr, nIn, inZp, wPtr, biasPtr, multPtr, shiftPtr, nOut, outZp, actMin, actMax, outPtr, scratchPtr);
  if (status != STATUS_OK) return status;
  const useSimd = simd != 0;
  widen_s8(inPtr, nIn, inZp, scratchPtr, useSimd);
  for (let j = 0; j < nOut; j++) {
    row(j, scratchPtr, nIn, wPtr, biasPtr, multPtr, shiftPtr, outZp, actMin, actMax, outPtr, useSimd);
  }
  return STATUS_OK;
}

/**
 * As {@link denseRows_s8} for the units whose bit is set in the mask (bit j%32 of
 * little-endian word j/32); every other unit gets outZp (real zero). Bits at or
 * past nOut are ignored.
 * @param maskPtr uint32[ceil(nOut/32)]
 */
export function gatedRows_s8(
  inPtr: usize, nIn: i32, inZp: i32, wPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize,
  nOut: i32, outZp: i32, actMin: i32, actMax: i32, outPtr: usize, scratchPtr: usize, maskPtr: usize, simd: i32,
): i32 {
  const status = checkRows(inPtr, nIn, inZp, wPtr, biasPtr, multPtr, shiftPtr, nOut, outZp, actMin, actMax, outPtr, scratchPtr);
  if (status != STATUS_OK) return status;
  const words = (nOut + 31) >>> 5;
  if (!inMemory(maskPtr, <u64>words << 2)) return STATUS_OUT_OF_BOUNDS;
  const useSimd = simd != 0;
  widen_s8(inPtr, nIn, inZp, scratchPtr, useSimd);
  memory.fill(outPtr, <u8>outZp, nOut);
  for (let w = 0; w < words; w++) {
    let bits = load<u32>(maskPtr + (<usize>w << 2));
    const base = w << 5;
    // Drop bits past nOut
    if (nOut - base < 32) bits &= (<u32>1 << (nOut - base)) - 1;
    while (bits != 0) {
      const j = base + <i32>ctz(bits);
      bits &= bits - 1;
      row(j, scratchPtr, nIn, wPtr, biasPtr, multPtr, shiftPtr, outZp, actMin, actMax, outPtr, useSimd);
    }
  }
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
