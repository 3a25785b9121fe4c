import { STATUS_OK, STATUS_BAD_ARG, STATUS_BAD_SIZE, MAX_DIM, inMemory, scratchVec32, pad8 } from "./status";
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
  if (!inMemory(biasPtr, perUnit) || !inMemory(multPtr, perUnit) || !inMemory(shiftPtr, perUnit) || !inMemory(outPtr, nOut)) return STATUS_BAD_SIZE;
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
  if (!inMemory(inPtr, nIn) || !inMemory(wPtr, <u64>nIn * nOut + 8) || !inMemory(scratchPtr, scratchBytes)) return STATUS_BAD_SIZE;
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
 * requantizeRows, or with SIMD the same bytes over the rows chunkRows listed: by {@link requantizePacked} from the
 * engine's packed parameters when rqPtr is nonzero, else by {@link requantizeList}.
 */
export function requantizeListed(
  accPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize, nOut: i32, outZp: i32, actMin: i32, actMax: i32,
  maskPtr: usize, outPtr: usize, rowsPtr: usize, count: i32, simd: bool, rqPtr: usize,
): void {
  if (ASC_FEATURE_SIMD && simd) {
    if (maskPtr != 0) memory.fill(outPtr, <u8>outZp, nOut);
    if (rqPtr != 0) requantizePacked(accPtr, rqPtr, rowsPtr, count, outZp, actMin, actMax, outPtr);
    else requantizeList(accPtr, biasPtr, multPtr, shiftPtr, rowsPtr, count, outZp, actMin, actMax, outPtr);
  } else {
    requantizeRows(accPtr, biasPtr, multPtr, shiftPtr, nOut, outZp, actMin, actMax, maskPtr, outPtr);
  }
}

/**
 * As {@link requantizeRows} for the count rows listed at rowsPtr (int32, ascending, count ≥ 1), whose sums are
 * in list order at accPtr (SIMD chunkRows: the k-th listed row's at acc[k]; pad4(count) readable), four at a
 * time in v128 lanes, bit for bit the scalar requantize: 2^left by the f32 exponent trick (x << left as a
 * wrapping multiply), the doubling high multiply as i64x2 products shifted left once (bits 31..62), the
 * saturating case selected, the rounding right shift as an exact f64 floor(hi · 2^−right) plus the same
 * remainder test. A short last group names its last row in the lanes past count, which are stored before
 * that row's own lane. Units not listed are not written.
 */
export function requantizeList(
  accPtr: usize, biasPtr: usize, multPtr: usize, shiftPtr: usize, rowsPtr: usize, count: i32, outZp: i32, actMin: i32, actMax: i32,
  outPtr: usize,
): void {
  const last = rowsPtr + (<usize>(count - 1) << 2);
  const zero = i32x4.splat(0), one = i32x4.splat(1), minV = i32x4.splat(i32.MIN_VALUE);
  for (let k = 0; k < count; k += 4) {
    const q = rowsPtr + (<usize>k << 2);
    const o0 = <usize>load<i32>(q) << 2, o1 = <usize>load<i32>(min(q + 4, last)) << 2;
    const o2 = <usize>load<i32>(min(q + 8, last)) << 2, o3 = <usize>load<i32>(min(q + 12, last)) << 2;
    const acc = v128.load(accPtr + (<usize>k << 2));
    const bias = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(load<i32>(biasPtr + o0)), 1, load<i32>(biasPtr + o1)), 2, load<i32>(biasPtr + o2)), 3, load<i32>(biasPtr + o3));
    const m = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(load<i32>(multPtr + o0)), 1, load<i32>(multPtr + o1)), 2, load<i32>(multPtr + o2)), 3, load<i32>(multPtr + o3));
    const sh = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(load<i32>(shiftPtr + o0)), 1, load<i32>(shiftPtr + o1)), 2, load<i32>(shiftPtr + o2)), 3, load<i32>(shiftPtr + o3));
    const left = i32x4.max_s(sh, zero), right = i32x4.max_s(i32x4.neg(sh), zero);
    // x << left: times 2^left (left ≤ 30, exact in f32)
    const xs = i32x4.mul(i32x4.add(acc, bias), i32x4.trunc_sat_f32x4_s(i32x4.shl(i32x4.add(left, i32x4.splat(127)), 23)));
    // Doubling high multiply: bits 31..62 of xs·m + 2^30
    const half = i64x2.splat(<i64>1 << 30);
    const pLo = i64x2.shl(i64x2.add(i64x2.extmul_low_i32x4_s(xs, m), half), 1);
    const pHi = i64x2.shl(i64x2.add(i64x2.extmul_high_i32x4_s(xs, m), half), 1);
    const hi = v128.bitselect(i32x4.splat(i32.MAX_VALUE), i32x4.shuffle(pLo, pHi, 1, 3, 5, 7), v128.and(i32x4.eq(xs, minV), i32x4.eq(m, minV)));
    // Rounding divide by 2^right: floor(hi / 2^right) exactly in f64, then the remainder test
    const lo2 = i64x2.shl(i64x2.extend_low_i32x4_s(i32x4.sub(i32x4.splat(1023), right)), 52);
    const hi2 = i64x2.shl(i64x2.extend_high_i32x4_s(i32x4.sub(i32x4.splat(1023), right)), 52);
    const fl = i32x4.trunc_sat_f64x2_s_zero(f64x2.floor(f64x2.mul(f64x2.convert_low_i32x4_s(hi), lo2)));
    const fh = i32x4.trunc_sat_f64x2_s_zero(f64x2.floor(f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(hi, hi, 2, 3, 2, 3)), hi2)));
    const mask = i32x4.sub(i32x4.trunc_sat_f32x4_u(i32x4.shl(i32x4.add(right, i32x4.splat(127)), 23)), one);
    const threshold = i32x4.sub(i32x4.shr_s(mask, 1), i32x4.lt_s(hi, zero));
    const r = i32x4.sub(i32x4.shuffle(fl, fh, 0, 1, 4, 5), i32x4.gt_s(v128.and(hi, mask), threshold));
    const v = i32x4.min_s(i32x4.max_s(i32x4.add(r, i32x4.splat(outZp)), i32x4.splat(actMin)), i32x4.splat(actMax));
    // Last lane first: in a short last group the lanes past count name the last row, whose own lane is stored last
    store<i8>(outPtr + (o3 >>> 2), <i8>i32x4.extract_lane(v, 3));
    store<i8>(outPtr + (o2 >>> 2), <i8>i32x4.extract_lane(v, 2));
    store<i8>(outPtr + (o1 >>> 2), <i8>i32x4.extract_lane(v, 1));
    store<i8>(outPtr + (o0 >>> 2), <i8>i32x4.extract_lane(v, 0));
  }
}

/**
 * {@link requantizeList} over the engine's packed parameters (runtime/src/reference.ts requantLayout_s32: per unit
 * [bias, multiplier, m, mask]): one 16-byte load per unit and a 4×4 transpose instead of three gathers. x·2^left is
 * x·m (mask 0); the rounding divide by 2^right (mask ≠ 0) takes floor(hi / 2^right) as bits 31..62 of hi·m (m =
 * 2^(31 − right) ≤ 2^30, so the int64 product is exact), then the same remainder test; mask 0 keeps hi. Bit for bit
 * the scalar requantize. A short last group as requantizeList. Units not listed are not written.
 */
export function requantizePacked(accPtr: usize, rqPtr: usize, rowsPtr: usize, count: i32, outZp: i32, actMin: i32, actMax: i32, outPtr: usize): void {
  const last = rowsPtr + (<usize>(count - 1) << 2);
  const zp = i32x4.splat(outZp), lo = i32x4.splat(actMin), hi = i32x4.splat(actMax);
  for (let k = 0; k < count; k += 4) {
    const q = rowsPtr + (<usize>k << 2);
    const j0 = <usize>load<i32>(q), j1 = <usize>load<i32>(min(q + 4, last)), j2 = <usize>load<i32>(min(q + 8, last)), j3 = <usize>load<i32>(min(q + 12, last));
    const r = requantizePacked4(v128.load(accPtr + (<usize>k << 2)),
      v128.load(rqPtr + (j0 << 4)), v128.load(rqPtr + (j1 << 4)), v128.load(rqPtr + (j2 << 4)), v128.load(rqPtr + (j3 << 4)));
    const v = i32x4.min_s(i32x4.max_s(i32x4.add(r, zp), lo), hi);
    // Last lane first, as requantizeList
    store<i8>(outPtr + j3, <i8>i32x4.extract_lane(v, 3));
    store<i8>(outPtr + j2, <i8>i32x4.extract_lane(v, 2));
    store<i8>(outPtr + j1, <i8>i32x4.extract_lane(v, 1));
    store<i8>(outPtr + j0, <i8>i32x4.extract_lane(v, 0));
  }
}

/**
 * requantize(acc + bias, multiplier, shift) in four lanes from four units' packed parameters p0..p3 ([bias,
 * multiplier, m, mask], runtime/src/reference.ts requantLayout_s32), transposed in eight shuffles.
 */
// @ts-ignore: decorator
@inline
export function requantizePacked4(acc: v128, p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  const zero = i32x4.splat(0), minV = i32x4.splat(i32.MIN_VALUE);
  const t0 = i32x4.shuffle(p0, p1, 0, 4, 1, 5), t1 = i32x4.shuffle(p2, p3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(p0, p1, 2, 6, 3, 7), t3 = i32x4.shuffle(p2, p3, 2, 6, 3, 7);
  const bias = i32x4.shuffle(t0, t1, 0, 1, 4, 5), m = i32x4.shuffle(t0, t1, 2, 3, 6, 7);
  const f = i32x4.shuffle(t2, t3, 0, 1, 4, 5), mask = i32x4.shuffle(t2, t3, 2, 3, 6, 7);
  const keep = i32x4.eq(mask, zero);
  const xs = i32x4.mul(i32x4.add(acc, bias), v128.bitselect(f, i32x4.splat(1), keep));
  // Doubling high multiply: bits 31..62 of xs·m + 2^30
  const half = i64x2.splat(<i64>1 << 30);
  const pLo = i64x2.shl(i64x2.add(i64x2.extmul_low_i32x4_s(xs, m), half), 1);
  const pHi = i64x2.shl(i64x2.add(i64x2.extmul_high_i32x4_s(xs, m), half), 1);
  const hi = v128.bitselect(i32x4.splat(i32.MAX_VALUE), i32x4.shuffle(pLo, pHi, 1, 3, 5, 7), v128.and(i32x4.eq(xs, minV), i32x4.eq(m, minV)));
  // floor(hi / 2^right): bits 31..62 of hi·2^(31 − right)
  const fl = i32x4.shuffle(i64x2.shl(i64x2.extmul_low_i32x4_s(hi, f), 1), i64x2.shl(i64x2.extmul_high_i32x4_s(hi, f), 1), 1, 3, 5, 7);
  const threshold = i32x4.sub(i32x4.shr_s(mask, 1), i32x4.lt_s(hi, zero));
  return v128.bitselect(hi, i32x4.sub(fl, i32x4.gt_s(v128.and(hi, mask), threshold)), keep);
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
  if (accPtr == 0 || !inMemory(accPtr, <u64>nOut << 2) || !inMemory(maskPtr, <u64>((nOut + 31) >>> 5) << 2)) return STATUS_BAD_SIZE;
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
  const rows = acc + scratchVec32(pad8(nOut));
  const count = chunkRows(scratchPtr, nIn, wPtr, nOut, maskPtr, acc, rows, simd != 0);
  requantizeListed(acc, biasPtr, multPtr, shiftPtr, nOut, outZp, actMin, actMax, maskPtr, outPtr, rows, count, simd != 0, 0);
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
  if (maskPtr == 0 || !inMemory(maskPtr, <u64>((nOut + 31) >>> 5) << 2)) return STATUS_BAD_SIZE;
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
