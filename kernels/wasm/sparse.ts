// The input list every kernel starts from, and the row kernel that consumes it:
//   listInput   widens the input once (x = in − zp, int16, zero-padded to a multiple of 8) and lists
//               its 8-input chunks: all of them, or with zero skipping only those holding a non-zero x
//   chunkRows   row layout [rows][nIn] (the file's): dot products over the listed chunks, eight rows
//               at a time (then four), so one x load serves eight rows
//   pairRows    the estimator's first stage over the non-zero input pairs, on the engine's pair layout of A
// A per-input (column) layout was measured too and lost at every layer (docs/ARCHITECTURE.md).
import { STATUS_BAD_ARG, STATUS_BAD_SIZE, MAX_DIM, inMemory, scratchVec16, scratchVec32, pad8 } from "./status";
import { sum4, dot_s16s8 } from "./dot";

// List header, int32 fields
export const S_NNZ = 0, S_CHUNKS = 1, S_CHUNK_ELEMS = 2;
const HEADER = 16;

// @ts-ignore: decorator
@inline
function listX(s: usize): usize {
  return s + HEADER;
}
// @ts-ignore: decorator
@inline
function listChunks(s: usize, nIn: i32): usize {
  return s + HEADER + scratchVec16(pad8(nIn));
}

/**
 * Bytes of the list {@link sparseInput_s8} writes: a 16-byte header (nnz, chunks, chunkElems),
 * x (int16 [pad8(nIn)]) and the chunk starts (int32 [ceil(nIn/8)]).
 */
export function sparseInput_s8_scratchBytes(nIn: i32): i32 {
  return HEADER + scratchVec16(pad8(nIn)) + scratchVec32((nIn + 7) >>> 3);
}

/** Unchecked {@link sparseInput_s8}; with skip false every chunk is listed (chunkElems = nIn). Returns nnz. */
export function listInput(inPtr: usize, nIn: i32, zp: i32, s: usize, skip: bool, simd: bool): i32 {
  const x = listX(s), chunks = listChunks(s, nIn);
  let nnz = 0, nChunks = 0, chunkElems = 0;
  for (let i = nIn; i < pad8(nIn); i++) store<i16>(x + (<usize>i << 1), 0);
  let c = 0;
  if (ASC_FEATURE_SIMD && simd) {
    // Two chunks per step: one 16-byte load, one compare with the zero point
    const zp8 = i8x16.splat(<i8>zp), zp16 = i16x8.splat(<i16>zp);
    for (; c + 16 <= nIn; c += 16) {
      const a = v128.load(inPtr + c), xp = x + (<usize>c << 1);
      v128.store(xp, i16x8.sub(i16x8.extend_low_i8x16_s(a), zp16));
      v128.store(xp, i16x8.sub(i16x8.extend_high_i8x16_s(a), zp16), 16);
      const bits = i8x16.bitmask(i8x16.ne(a, zp8));
      const lo = (bits & 0xff) != 0 || !skip, hi = (bits >>> 8) != 0 || !skip;
      store<i32>(chunks + (<usize>nChunks << 2), c);
      nChunks += <i32>lo;
      store<i32>(chunks + (<usize>nChunks << 2), c + 8);
      nChunks += <i32>hi;
      chunkElems += select<i32>(8, 0, lo) + select<i32>(8, 0, hi);
      nnz += <i32>popcnt(bits);
    }
  }
  for (; c < nIn; c += 8) {
    const end = min(c + 8, nIn);
    let bits = 0;
    // The last 15 inputs at most with SIMD
    for (let i = c; i < end; i++) {
      const v = <i32>load<i8>(inPtr + i) - zp;
      store<i16>(x + (<usize>i << 1), <i16>v);
      bits |= <i32>(v != 0) << (i - c);
    }
    // Branch-free: which chunks are listed depends on the data
    const listed = bits != 0 || !skip;
    store<i32>(chunks + (<usize>nChunks << 2), c);
    nChunks += <i32>listed;
    chunkElems += select<i32>(end - c, 0, listed);
    nnz += <i32>popcnt(bits);
  }
  // Crossover: with 4 chunks in 5 kept, the contiguous dense rows are faster than chunked ones
  if (skip && nChunks * 5 >= ((nIn + 7) >>> 3) * 4) {
    nChunks = (nIn + 7) >>> 3;
    for (let k = 0; k < nChunks; k++) store<i32>(chunks + (<usize>k << 2), k << 3);
    chunkElems = nIn;
  }
  store<i32>(s + (S_NNZ << 2), nnz);
  store<i32>(s + (S_CHUNKS << 2), nChunks);
  store<i32>(s + (S_CHUNK_ELEMS << 2), chunkElems);
  return nnz;
}

/**
 * Widens a layer's int8 input and lists the 8-input chunks that are not all zero point, into s:
 *   x[i] = in[i] − zp (int16, x[nIn..pad8(nIn)) = 0)
 *   chunks[c]: ascending starts of the chunks [8m, min(8m + 8, nIn)) holding a non-zero x, or of
 *     every chunk when at least 4 in 5 hold one (the measured crossover: dense rows are faster there)
 *   header: nnz (inputs with x ≠ 0), chunks, chunkElems (Σ of the listed chunks' lengths)
 * @param s sparseInput_s8_scratchBytes(nIn) bytes, 16-byte aligned
 * @returns nnz (≥ 0) or a negative status
 */
export function sparseInput_s8(inPtr: usize, nIn: i32, zp: i32, s: usize, simd: i32): i32 {
  if (nIn < 1 || nIn > MAX_DIM || zp < -128 || zp > 127) return STATUS_BAD_ARG;
  if (!inMemory(inPtr, nIn) || !inMemory(s, sparseInput_s8_scratchBytes(nIn))) return STATUS_BAD_SIZE;
  return listInput(inPtr, nIn, zp, s, true, simd != 0);
}

/**
 * Σ over the listed chunks of x·w[r] for row r of w [rows][nIn], for the rows whose mask bit is set (every row when
 * maskPtr is 0); their indices are gathered into rowsPtr (int32 [rows]). The sums land in acc (int32, room for
 * pad8(rows)): scalar at acc[r], SIMD in list order, the k-th listed row's at acc[k] (the four-row groups store whole
 * v128s, up to pad4(count)) — the same place when maskPtr is 0; requantizeListed reads each path's order.
 * SIMD with skipped chunks: eight rows at a time while eight remain, then four, one x load per chunk for them; with every chunk
 * listed: one row at a time in contiguous 16-input steps (measured faster there: no chunk offsets).
 * x is zero-padded, so a partial last step reads up to 7 bytes of w past a row (times 0).
 * Scalar: the chunks' real inputs only. Returns the number of rows computed (listed at rowsPtr).
 */
export function chunkRows(s: usize, nIn: i32, wPtr: usize, rows: i32, maskPtr: usize, accPtr: usize, rowsPtr: usize, simd: bool): i32 {
  // The rows to compute: 0..rows-1, or the mask's set bits below rows, word by word
  let count = rows;
  if (maskPtr != 0) {
    count = 0;
    for (let base = 0; base < rows; base += 32) {
      let bits = load<u32>(maskPtr + (<usize>(base >>> 5) << 2));
      if (rows - base < 32) bits &= (<u32>1 << (rows - base)) - 1;
      while (bits != 0) {
        store<i32>(rowsPtr + (<usize>count << 2), base + <i32>ctz(bits));
        count++;
        bits &= bits - 1;
      }
    }
  } else {
    for (let r = 0; r < rows; r++) store<i32>(rowsPtr + (<usize>r << 2), r);
  }
  const n = load<i32>(s + (S_CHUNKS << 2));
  const x = listX(s), chunks = listChunks(s, nIn);
  let k = 0;
  if (ASC_FEATURE_SIMD && simd && n == (nIn + 7) >>> 3) {
    // Every chunk listed (no skipping): one row at a time, contiguous 16-input steps
    for (; k < count; k++) {
      const r = load<i32>(rowsPtr + (<usize>k << 2));
      store<i32>(accPtr + (<usize>k << 2), dotContiguous(x, wPtr + <usize>r * nIn, pad8(nIn)));
    }
  }
  if (ASC_FEATURE_SIMD && simd) {
    // Eight rows at a time while eight remain: one x load per chunk for the eight
    for (; k + 8 <= count; k += 8) {
      const q = rowsPtr + (<usize>k << 2);
      const r0 = load<i32>(q), r1 = load<i32>(q, 4), r2 = load<i32>(q, 8), r3 = load<i32>(q, 12);
      const r4 = load<i32>(q, 16), r5 = load<i32>(q, 20), r6 = load<i32>(q, 24), r7 = load<i32>(q, 28);
      const p0 = wPtr + <usize>r0 * nIn, p1 = wPtr + <usize>r1 * nIn, p2 = wPtr + <usize>r2 * nIn, p3 = wPtr + <usize>r3 * nIn;
      const p4 = wPtr + <usize>r4 * nIn, p5 = wPtr + <usize>r5 * nIn, p6 = wPtr + <usize>r6 * nIn, p7 = wPtr + <usize>r7 * nIn;
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (let c = 0; c < n; c++) {
        const i = <usize>load<i32>(chunks + (<usize>c << 2));
        const v = v128.load(x + (i << 1));
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v, v128.load8x8_s(p0 + i)));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v, v128.load8x8_s(p1 + i)));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v, v128.load8x8_s(p2 + i)));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v, v128.load8x8_s(p3 + i)));
        a4 = i32x4.add(a4, i32x4.dot_i16x8_s(v, v128.load8x8_s(p4 + i)));
        a5 = i32x4.add(a5, i32x4.dot_i16x8_s(v, v128.load8x8_s(p5 + i)));
        a6 = i32x4.add(a6, i32x4.dot_i16x8_s(v, v128.load8x8_s(p6 + i)));
        a7 = i32x4.add(a7, i32x4.dot_i16x8_s(v, v128.load8x8_s(p7 + i)));
      }
      const o = accPtr + (<usize>k << 2);
      v128.store(o, sum4(a0, a1, a2, a3));
      v128.store(o, sum4(a4, a5, a6, a7), 16);
    }
    // Then four at a time; a short last group repeats its last row (its sum lands past count, below pad4(count))
    const last = rowsPtr + (<usize>(count - 1) << 2);
    for (; k < count; k += 4) {
      const q = rowsPtr + (<usize>k << 2);
      const r0 = load<i32>(q), r1 = load<i32>(min(q + 4, last)), r2 = load<i32>(min(q + 8, last)), r3 = load<i32>(min(q + 12, last));
      const p0 = wPtr + <usize>r0 * nIn, p1 = wPtr + <usize>r1 * nIn, p2 = wPtr + <usize>r2 * nIn, p3 = wPtr + <usize>r3 * nIn;
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let c = 0; c < n; c++) {
        const i = <usize>load<i32>(chunks + (<usize>c << 2));
        const v = v128.load(x + (i << 1));
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v, v128.load8x8_s(p0 + i)));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v, v128.load8x8_s(p1 + i)));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v, v128.load8x8_s(p2 + i)));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v, v128.load8x8_s(p3 + i)));
      }
      v128.store(accPtr + (<usize>k << 2), sum4(a0, a1, a2, a3));
    }
  }
  // Scalar: one row at a time, the chunks' real inputs
  for (; k < count; k++) {
    const r = load<i32>(rowsPtr + (<usize>k << 2));
    const p = wPtr + <usize>r * nIn;
    let sum = 0;
    for (let c = 0; c < n; c++) {
      const i = load<i32>(chunks + (<usize>c << 2));
      sum += dot_s16s8(x + (<usize>i << 1), p + i, min(8, nIn - i));
    }
    store<i32>(accPtr + (<usize>r << 2), sum);
  }
  return count;
}

/** Σ x[i]·w[i] for i < n (a multiple of 8), SIMD: 16 inputs per step on two accumulators, then 8. */
function dotContiguous(xPtr: usize, wPtr: usize, n: i32): i32 {
  let acc0 = i32x4.splat(0), acc1 = acc0;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const w = v128.load(wPtr + i);
    const x = xPtr + (<usize>i << 1);
    acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(v128.load(x), i16x8.extend_low_i8x16_s(w)));
    acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(v128.load(x, 16), i16x8.extend_high_i8x16_s(w)));
  }
  if (i < n) acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(v128.load(xPtr + (<usize>i << 1)), v128.load8x8_s(wPtr + i)));
  acc0 = i32x4.add(acc0, acc1);
  return i32x4.extract_lane(acc0, 0) + i32x4.extract_lane(acc0, 1) + i32x4.extract_lane(acc0, 2) + i32x4.extract_lane(acc0, 3);
}

/**
 * acc[r] = Σ over the non-zero input pairs (x[2k], x[2k+1]) of the listed chunks of x·A[r] for every row r < rows,
 * over A in the engine's pair layout (runtime/src/reference.ts pairLayoutA_s8): blocks of 16 rows (the last 8 rows
 * when 8 are enough), per block [pair k of pad8(nIn) / 2][row][2] = A[r][2k], A[r][2k+1]. The pairs are listed
 * first at listPtr (int32 [pad8(nIn) / 2]); then per block one broadcast of each pair serves 16 rows, no
 * horizontal sum. Writes acc up to pad8(rows). SIMD only; bit for bit chunkRows's sums. Returns false, computing
 * nothing, when that costs more MACs than chunkRows over the listed chunks (2·pairs·pad8(rows) against
 * chunkElems·pad4(rows), the padding of each).
 */
export function pairRows(s: usize, nIn: i32, aPairs: usize, rows: i32, accPtr: usize, listPtr: usize): bool {
  const n = load<i32>(s + (S_CHUNKS << 2));
  const x = listX(s), chunks = listChunks(s, nIn);
  // The non-zero pairs, branch-free
  let np = 0;
  for (let c = 0; c < n; c++) {
    const i = load<i32>(chunks + (<usize>c << 2));
    const bits = i32x4.bitmask(i32x4.ne(v128.load(x + (<usize>i << 1)), i32x4.splat(0)));
    const k = i >>> 1;
    store<i32>(listPtr + (<usize>np << 2), k);
    np += bits & 1;
    store<i32>(listPtr + (<usize>np << 2), k + 1);
    np += (bits >>> 1) & 1;
    store<i32>(listPtr + (<usize>np << 2), k + 2);
    np += (bits >>> 2) & 1;
    store<i32>(listPtr + (<usize>np << 2), k + 3);
    np += bits >>> 3;
  }
  if (np * 2 * pad8(rows) > load<i32>(s + (S_CHUNK_ELEMS << 2)) * ((rows + 3) & ~3)) return false;
  const blockPairs = <usize>(pad8(nIn) >>> 1);
  let blk = aPairs;
  for (let r = 0; r < rows; r += 16) {
    if (rows - r > 8) {
      // 16 rows
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let q = 0; q < np; q++) {
        const k = <usize>load<i32>(listPtr + (<usize>q << 2));
        const t = i32x4.splat(load<i32>(x + (k << 2)));
        const p = blk + (k << 5);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load8x8_s(p), t));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load8x8_s(p, 8), t));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load8x8_s(p, 16), t));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load8x8_s(p, 24), t));
      }
      const o = accPtr + (<usize>r << 2);
      v128.store(o, a0);
      v128.store(o, a1, 16);
      v128.store(o, a2, 32);
      v128.store(o, a3, 48);
      blk += blockPairs << 5;
    } else {
      // The last 8 rows
      let a0 = i32x4.splat(0), a1 = a0;
      for (let q = 0; q < np; q++) {
        const k = <usize>load<i32>(listPtr + (<usize>q << 2));
        const t = i32x4.splat(load<i32>(x + (k << 2)));
        const p = blk + (k << 4);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load8x8_s(p), t));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load8x8_s(p, 8), t));
      }
      const o = accPtr + (<usize>r << 2);
      v128.store(o, a0);
      v128.store(o, a1, 16);
    }
  }
  return true;
}
