import { STATUS_OK, STATUS_BAD_ARG, STATUS_BAD_SIZE, MAX_DIM, inMemory, scratchVec16, scratchVec32, pad8 } from "./status";
import { requantize } from "./requantize";
import { requantizePacked4 } from "./fully-connected";
import { sum4, dot_s16s8 } from "./dot";
import { listInput, chunkRows, sparseInput_s8_scratchBytes } from "./sparse";

/** Scratch bytes {@link estimateSign_s8} needs: the input list, int32 projection, int16 t, int32 rows, each [pad8(rank)]. */
export function estimateSign_s8_scratchBytes(nIn: i32, rank: i32): i32 {
  return sparseInput_s8_scratchBytes(nIn) + 2 * scratchVec32(pad8(rank)) + scratchVec16(pad8(rank));
}

/**
 * Low-rank sign estimate of one layer, as a bit mask (bit j%32 of word j/32, bits past nOut zero):
 *   t[r] = clamp(requantize(Σ_i (in[i] − inZp)·A[r,i], tMult[r], tShift[r]), −tMax, tMax)
 *   u[j] = Σ_r t[r]·B[j,r]
 *   bit j = u[j] > thr[j]
 * A is the int8 first factor stored transposed, [rank][nIn]; B the int8 second factor stored
 * transposed, [nOut][rank]; thr folds the bias and the margin (docs/FORMAT.md). A and B each need
 * 8 readable bytes after them (a last partial 8-wide step reads them, times 0).
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
  const status = checkEstimate(inPtr, nIn, inZp, aPtr, tMultPtr, tShiftPtr, rank, tMax, bPtr, thrPtr, nOut, maskPtr, scratchPtr,
    estimateSign_s8_scratchBytes(nIn, rank));
  if (status != STATUS_OK) return status;
  const useSimd = simd != 0;
  const acc = scratchPtr + sparseInput_s8_scratchBytes(nIn);
  const tPtr = acc + scratchVec32(pad8(rank));
  listInput(inPtr, nIn, inZp, scratchPtr, false, useSimd);
  chunkRows(scratchPtr, nIn, aPtr, rank, 0, acc, tPtr + scratchVec16(pad8(rank)), useSimd);
  signFromProjection(acc, tMultPtr, tShiftPtr, rank, tMax, tPtr, bPtr, thrPtr, nOut, maskPtr, useSimd, 0, 0);
  return STATUS_OK;
}

/**
 * From the int32 projection acc[rank]: t[r] = clamp(requantize(acc[r]), ±tMax) into tPtr (zero-padded to pad8(rank)) —
 * with SIMD and tRqPtr (the engine's packed t parameters, requantLayout_s32 with bias 0, zero past rank up to pad8(rank))
 * four ranks per step by requantizePacked4 — then the mask, by {@link expandSignPairs} over pairsPtr when it is nonzero (SIMD only), else by {@link expandSign} over B.
 */
export function signFromProjection(
  accPtr: usize, tMultPtr: usize, tShiftPtr: usize, rank: i32, tMax: i32, tPtr: usize, bPtr: usize, thrPtr: usize, nOut: i32,
  maskPtr: usize, simd: bool, pairsPtr: usize, tRqPtr: usize,
): void {
  if (ASC_FEATURE_SIMD && simd && tRqPtr != 0) {
    // Four ranks per step from the packed parameters (zero past rank: t = 0 there), clamped, narrowed to int16
    const hi = i32x4.splat(tMax), lo = i32x4.neg(hi);
    for (let r = 0; r < pad8(rank); r += 4) {
      const p = tRqPtr + (<usize>r << 4);
      const v = requantizePacked4(v128.load(accPtr + (<usize>r << 2)), v128.load(p), v128.load(p, 16), v128.load(p, 32), v128.load(p, 48));
      const c = i32x4.min_s(i32x4.max_s(v, lo), hi);
      v128.store64_lane(tPtr + (<usize>r << 1), i16x8.narrow_i32x4_s(c, c), 0);
    }
  } else {
    for (let r = 0; r < pad8(rank); r++) {
      const o = <usize>r << 2;
      const t = r < rank ? min(max(requantize(load<i32>(accPtr + o), load<i32>(tMultPtr + o), load<i32>(tShiftPtr + o)), -tMax), tMax) : 0;
      store<i16>(tPtr + (<usize>r << 1), <i16>t);
    }
  }
  if (ASC_FEATURE_SIMD && simd && pairsPtr != 0) expandSignPairs(tPtr, rank, pairsPtr, thrPtr, nOut, maskPtr);
  else expandSign(tPtr, rank, bPtr, thrPtr, nOut, maskPtr, simd);
}

/** Units per group of the pair-interleaved second factor (runtime/src/reference.ts PAIR_UNITS). */
export const PAIR_UNITS = 32;

/**
 * {@link expandSign} over the second factor in the engine's pair layout (reference.ts pairLayout_s8): per group of 32
 * units, per pair of ranks p, 64 bytes [unit u][2] = B[32g+u][2p], B[32g+u][2p+1] (zero past rank and nOut). One
 * broadcast (t[2p], t[2p+1]) and one dot per 4 units give 4 units' partial sums, no horizontal sum; ranks pad to
 * even instead of to 8; each group writes one mask word. Reads thr up to a multiple of 32 units (bits past nOut
 * are dropped). SIMD only.
 */
export function expandSignPairs(tPtr: usize, rank: i32, pairsPtr: usize, thrPtr: usize, nOut: i32, maskPtr: usize): void {
  const pairs = <usize>((rank + 1) >>> 1);
  let p = pairsPtr;
  for (let j = 0; j < nOut; j += PAIR_UNITS) {
    let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (let k: usize = 0; k < pairs; k++) {
      const t = i32x4.splat(load<i32>(tPtr + (k << 2)));
      const q = p + (k << 6);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load8x8_s(q), t));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load8x8_s(q, 8), t));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load8x8_s(q, 16), t));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load8x8_s(q, 24), t));
      a4 = i32x4.add(a4, i32x4.dot_i16x8_s(v128.load8x8_s(q, 32), t));
      a5 = i32x4.add(a5, i32x4.dot_i16x8_s(v128.load8x8_s(q, 40), t));
      a6 = i32x4.add(a6, i32x4.dot_i16x8_s(v128.load8x8_s(q, 48), t));
      a7 = i32x4.add(a7, i32x4.dot_i16x8_s(v128.load8x8_s(q, 56), t));
    }
    p += pairs << 6;
    const th = thrPtr + (<usize>j << 2);
    let bits = <u32>(i32x4.bitmask(i32x4.gt_s(a0, v128.load(th))) | (i32x4.bitmask(i32x4.gt_s(a1, v128.load(th, 16))) << 4)
      | (i32x4.bitmask(i32x4.gt_s(a2, v128.load(th, 32))) << 8) | (i32x4.bitmask(i32x4.gt_s(a3, v128.load(th, 48))) << 12)
      | (i32x4.bitmask(i32x4.gt_s(a4, v128.load(th, 64))) << 16) | (i32x4.bitmask(i32x4.gt_s(a5, v128.load(th, 80))) << 20)
      | (i32x4.bitmask(i32x4.gt_s(a6, v128.load(th, 96))) << 24) | (i32x4.bitmask(i32x4.gt_s(a7, v128.load(th, 112))) << 28));
    // Drop units past nOut
    if (nOut - j < PAIR_UNITS) bits &= (<u32>1 << (nOut - j)) - 1;
    store<u32>(maskPtr + (<usize>(j >>> 5) << 2), bits);
  }
}

/**
 * Second stage of the estimate: bit j = Σ_r t[r]·B[j,r] > thr[j] (bits past nOut zero). SIMD: four
 * units at a time over 8-component steps, t zero-padded to pad8(rank), so a row's last step may
 * read up to 7 bytes of B past it (times 0).
 */
export function expandSign(tPtr: usize, rank: i32, bPtr: usize, thrPtr: usize, nOut: i32, maskPtr: usize, simd: bool): void {
  memory.fill(maskPtr, 0, <usize>((nOut + 31) >>> 5) << 2);
  let j = 0;
  if (ASC_FEATURE_SIMD && simd) {
    // Four units at a time while four remain; the rest below
    for (; j + 4 <= nOut; j += 4) {
      const p = bPtr + <usize>j * rank;
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let r = 0; r < rank; r += 8) {
        const t = v128.load(tPtr + (<usize>r << 1));
        const q = p + r;
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(t, v128.load8x8_s(q)));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(t, v128.load8x8_s(q + rank)));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(t, v128.load8x8_s(q + 2 * rank)));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(t, v128.load8x8_s(q + 3 * rank)));
      }
      const bits = i32x4.bitmask(i32x4.gt_s(sum4(a0, a1, a2, a3), v128.load(thrPtr + (<usize>j << 2))));
      const w = maskPtr + (<usize>(j >>> 5) << 2);
      store<u32>(w, load<u32>(w) | (<u32>bits << (j & 31)));
    }
  }
  for (; j < nOut; j++) {
    if (dot_s16s8(tPtr, bPtr + <usize>j * rank, rank) > load<i32>(thrPtr + (<usize>j << 2))) {
      const w = maskPtr + (<usize>(j >>> 5) << 2);
      store<u32>(w, load<u32>(w) | (<u32>1 << (j & 31)));
    }
  }
}

/** Checks shared by the mask kernels: dimensions, zero point, input, mask and scratch. */
export function checkMaskArgs(inPtr: usize, nIn: i32, inZp: i32, nOut: i32, maskPtr: usize, scratchPtr: usize, scratchBytes: i32): i32 {
  if (nIn < 1 || nIn > MAX_DIM || nOut < 1 || nOut > MAX_DIM || inZp < -128 || inZp > 127) return STATUS_BAD_ARG;
  if (!inMemory(inPtr, nIn) || !inMemory(maskPtr, <u64>((nOut + 31) >>> 5) << 2) || !inMemory(scratchPtr, scratchBytes)) return STATUS_BAD_SIZE;
  return STATUS_OK;
}

/** estimateSign_s8's argument checks, with the scratch size the caller needs. */
export function checkEstimate(
  inPtr: usize, nIn: i32, inZp: i32, aPtr: usize, tMultPtr: usize, tShiftPtr: usize, rank: i32, tMax: i32,
  bPtr: usize, thrPtr: usize, nOut: i32, maskPtr: usize, scratchPtr: usize, scratchBytes: i32,
): i32 {
  const status = checkMaskArgs(inPtr, nIn, inZp, nOut, maskPtr, scratchPtr, scratchBytes);
  if (status != STATUS_OK) return status;
  if (rank < 1 || rank > min(nIn, nOut) || tMax < 1 || tMax > 32767 || <u64>rank * tMax * 128 > <u64>i32.MAX_VALUE) return STATUS_BAD_ARG;
  if (!inMemory(aPtr, <u64>rank * nIn + 8) || !inMemory(tMultPtr, <u64>rank << 2) || !inMemory(tShiftPtr, <u64>rank << 2)
    || !inMemory(bPtr, <u64>rank * nOut + 8) || !inMemory(thrPtr, <u64>nOut << 2)) {
    return STATUS_BAD_SIZE;
  }
  return STATUS_OK;
}
