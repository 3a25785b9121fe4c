import { STATUS_OK, STATUS_BAD_ARG, STATUS_BAD_SIZE, inMemory, scratchVec32, pad8 } from "./status";
import { listInput, chunkRows, sparseInput_s8_scratchBytes } from "./sparse";
import { checkMaskArgs } from "./estimate";

/** Scratch bytes {@link blockGate_s8} needs: the input list, int32 block scores [pad8(blocks)], int32 rows [blocks]. */
export function blockGate_s8_scratchBytes(nIn: i32, blocks: i32): i32 {
  return sparseInput_s8_scratchBytes(nIn) + scratchVec32(pad8(blocks)) + scratchVec32(blocks);
}

/** Sets the bits of block b's units, [b·blockSize, min((b+1)·blockSize, nOut)), in a little-endian u32 mask. */
function setBlock(maskPtr: usize, b: i32, blockSize: i32, nOut: i32): void {
  for (let j = b * blockSize, end = min(j + blockSize, nOut); j < end; j++) {
    const p = maskPtr + (<usize>(j >>> 5) << 2);
    store<u32>(p, load<u32>(p) | (<u32>1 << (j & 31)));
  }
}

/**
 * Unit mask from block scores: block b (units [b·blockSize, min((b+1)·blockSize, nOut))) is set
 * when score[b] − threshold[b] > 0 (topK 0), or (topK k > 0) when it is among the k largest
 * score[b] − threshold[b] (int64), ties to the lower block: k passes, each setting the first largest
 * block not yet set. Clears the mask first, so bits past nOut are zero.
 */
export function blockMask(scorePtr: usize, thrPtr: usize, blocks: i32, blockSize: i32, nOut: i32, topK: i32, maskPtr: usize): void {
  memory.fill(maskPtr, 0, <usize>((nOut + 31) >>> 5) << 2);
  let pass = 0;
  do {
    let best = -1, bestS = I64.MIN_VALUE;
    for (let b = 0; b < blocks; b++) {
      const j = b * blockSize, o = <usize>b << 2;
      // Set blocks are out of the race
      if ((load<u32>(maskPtr + (<usize>(j >>> 5) << 2)) >>> (j & 31)) & 1) continue;
      const sb = <i64>load<i32>(scorePtr + o) - <i64>load<i32>(thrPtr + o);
      if (topK == 0) {
        if (sb > 0) setBlock(maskPtr, b, blockSize, nOut);
      } else if (sb > bestS) {
        best = b;
        bestS = sb;
      }
    }
    if (best >= 0) setBlock(maskPtr, best, blockSize, nOut);
  } while (++pass < topK);
}

/**
 * Block gate of one layer, as a unit mask (bit j%32 of word j/32, bits past nOut zero):
 *   s[b] = Σ_i (in[i] − inZp)·G[b,i]      (int32, wraps)
 *   bits of block b's units = s[b] > thr[b]                 (topK 0: threshold gate)
 *   or b among the topK largest s[b] − thr[b], ties to the lower b   (topK ∈ [1, blocks]: routing gate)
 * G is int8 [blocks][nIn] (with 8 readable bytes after it); block b holds units
 * [b·blockSize, min((b+1)·blockSize, nOut)).
 * @param blockSize range [1, nOut]; blocks = ceil(nOut / blockSize)
 * @param topK range [0, blocks]
 * @param scratchPtr blockGate_s8_scratchBytes(nIn, blocks) bytes, 16-byte aligned
 * @param simd nonzero: v128 path; zero: scalar path (bit-identical)
 */
export function blockGate_s8(
  inPtr: usize, nIn: i32, inZp: i32, gPtr: usize, thrPtr: usize, blocks: i32, blockSize: i32, nOut: i32, topK: i32,
  maskPtr: usize, scratchPtr: usize, simd: i32,
): i32 {
  const status = checkGate(inPtr, nIn, inZp, gPtr, thrPtr, blocks, blockSize, nOut, topK, maskPtr, scratchPtr, blockGate_s8_scratchBytes(nIn, blocks));
  if (status != STATUS_OK) return status;
  const scores = scratchPtr + sparseInput_s8_scratchBytes(nIn);
  listInput(inPtr, nIn, inZp, scratchPtr, false, simd != 0);
  chunkRows(scratchPtr, nIn, gPtr, blocks, 0, scores, scores + scratchVec32(pad8(blocks)), simd != 0);
  blockMask(scores, thrPtr, blocks, blockSize, nOut, topK, maskPtr);
  return STATUS_OK;
}

/** blockGate_s8's argument checks, with the scratch size the caller needs. */
export function checkGate(
  inPtr: usize, nIn: i32, inZp: i32, gPtr: usize, thrPtr: usize, blocks: i32, blockSize: i32, nOut: i32, topK: i32,
  maskPtr: usize, scratchPtr: usize, scratchBytes: i32,
): i32 {
  const status = checkMaskArgs(inPtr, nIn, inZp, nOut, maskPtr, scratchPtr, scratchBytes);
  if (status != STATUS_OK) return status;
  if (blockSize < 1 || blockSize > nOut || blocks != (nOut + blockSize - 1) / blockSize || <u32>topK > <u32>blocks) return STATUS_BAD_ARG;
  if (!inMemory(gPtr, <u64>blocks * nIn + 8) || !inMemory(thrPtr, <u64>blocks << 2)) return STATUS_BAD_SIZE;
  return STATUS_OK;
}
