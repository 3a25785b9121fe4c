import { STATUS_OK, STATUS_BAD_ARG, STATUS_OUT_OF_BOUNDS, MAX_DIM, inMemory, scratchVec16 } from "./status";
import { requantize } from "./requantize";
import { widen_s8, dot_s16s8 } from "./dot";

/** Scratch bytes {@link estimateSign_s8} needs: the widened input, then the int16 projection t. */
export function estimateSign_s8_scratchBytes(nIn: i32, rank: i32): i32 {
  return scratchVec16(nIn) + scratchVec16(rank);
}

/**
 * Low-rank sign estimate of one layer, as a bit mask (bit j%32 of word j/32, bits past nOut zero):
 *   t[r] = clamp(requantize(Σ_i (in[i] − inZp)·A[r,i], tMult[r], tShift[r]), −tMax, tMax)
 *   u[j] = Σ_r t[r]·B[j,r]
 *   bit j = u[j] > thr[j]
 * A is the int8 first factor stored transposed, [rank][nIn]; B the int8 second factor stored
 * transposed, [nOut][rank]; thr folds the bias and the margin (docs/FORMAT.md).
 * @param rank range [1, min(nIn, nOut)]
 * @param tMax range [1, 32767], with rank·tMax·128 ≤ 2^31 − 1 so u never wraps
 * @param tShiftPtr int32[rank], each in [-31, 30]
 * @param scratchPtr estimateSign_s8_scratchBytes(nIn, rank) bytes, 16-byte aligned
 * @param simd nonzero: v128 path; zero: scalar path (bit-identical)
 */
export function estimateSign_s8(
  inPtr: usize, nIn: i32, inZp: i32, aPtr: usize, tMultPtr: usize, tShiftPtr: usize, rank: i32, tMax: i32,
  bPtr: usize, thrPtr: usize, nOut: i32, maskPtr: usize, scratchPtr: usize, simd: i32,
): i32 {
  if (nIn < 1 || nIn > MAX_DIM || nOut < 1 || nOut > MAX_DIM || inZp < -128 || inZp > 127) return STATUS_BAD_ARG;
  if (rank < 1 || rank > min(nIn, nOut) || tMax < 1 || tMax > 32767) return STATUS_BAD_ARG;
  if (<u64>rank * tMax * 128 > <u64>i32.MAX_VALUE) return STATUS_BAD_ARG;
  const words = (nOut + 31) >>> 5;
  if (!inMemory(inPtr, nIn) || !inMemory(aPtr, <u64>rank * nIn) || !inMemory(tMultPtr, <u64>rank << 2)
    || !inMemory(tShiftPtr, <u64>rank << 2) || !inMemory(bPtr, <u64>rank * nOut) || !inMemory(thrPtr, <u64>nOut << 2)
    || !inMemory(maskPtr, <u64>words << 2) || !inMemory(scratchPtr, estimateSign_s8_scratchBytes(nIn, rank))) {
    return STATUS_OUT_OF_BOUNDS;
  }
  const useSimd = simd != 0;
  const xPtr = scratchPtr;
  const tPtr = scratchPtr + scratchVec16(nIn);
  widen_s8(inPtr, nIn, inZp, xPtr, useSimd);
  // Project to rank k
  for (let r = 0; r < rank; r++) {
    const o = <usize>r << 2;
    const acc = dot_s16s8(xPtr, aPtr + <usize>r * nIn, nIn, useSimd);
    const t = requantize(acc, load<i32>(tMultPtr + o), load<i32>(tShiftPtr + o));
    store<i16>(tPtr + (<usize>r << 1), <i16>min(max(t, -tMax), tMax));
  }
  // Expand and compare
  let word: u32 = 0;
  for (let j = 0; j < nOut; j++) {
    const u = dot_s16s8(tPtr, bPtr + <usize>j * rank, rank, useSimd);
    if (u > load<i32>(thrPtr + (<usize>j << 2))) word |= <u32>1 << (j & 31);
    if ((j & 31) == 31) {
      store<u32>(maskPtr + (<usize>(j >>> 5) << 2), word);
      word = 0;
    }
  }
  if ((nOut & 31) != 0) store<u32>(maskPtr + (<usize>(nOut >>> 5) << 2), word);
  return STATUS_OK;
}
