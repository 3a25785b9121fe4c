import { STATUS_OK, STATUS_BAD_SIZE, STATUS_BAD_ARG, MAX_DIM, inMemory, scratchVec16, scratchVec32, pad8 } from "./status";
import { maskCount, checkRows, requantizeRows, requantizeListed } from "./fully-connected";
import { signFromProjection, checkEstimate } from "./estimate";
import { blockMask, checkGate } from "./gate";
import { listInput, sparseInput_s8_scratchBytes, chunkRows, pairRows, S_CHUNK_ELEMS } from "./sparse";
import { quantizeImpl, featuresStatus } from "./quantize";

// One plan record per layer, int32 fields, written by runtime/src/runtime.ts after the
// model has been validated. Field indices are mirrored in runtime/src/runtime.ts (F).
const F_N_IN = 0, F_N_OUT = 1, F_RANK = 2, F_IN_ZP = 3, F_OUT_ZP = 4, F_ACT_MIN = 5, F_ACT_MAX = 6, F_T_MAX = 7;
const F_IN = 8, F_OUT = 9, F_W = 10, F_BIAS = 11, F_MULT = 12, F_SHIFT = 13;
const F_A = 14, F_T_MULT = 15, F_T_SHIFT = 16, F_B = 17, F_THR = 18, F_MASK = 19, F_SCRATCH = 20, F_SHADOW = 21;
const F_GATE_BLOCKS = 22, F_GATE_SIZE = 23;
// Counters, rewritten by every run
const F_EST_MACS = 24, F_ROW_MACS = 25, F_ROWS_COMPUTED = 26, F_ROWS_SKIPPED = 27;
// Trace counters, rewritten by runs with RUN_TRACE
const F_NONZERO_IN = 28, F_POSITIVE = 29, F_POSITIVE_COMPUTED = 30;
// Block gate
const F_GATE_W = 31, F_GATE_THR = 32;
// Layer 0 of a v3 model: the per-feature input scales and offsets (0: per tensor)
const F_IN_SCALES = 33, F_IN_OFFSETS = 34;
// Block gate: 0 threshold, k > 0 the k top-scoring blocks (format v4)
const F_GATE_TOP_K = 35;
// The estimator's second factor in the pair layout (estimate.ts expandSignPairs), written by the engine; 0: none
const F_B_PAIRS = 60;
// The first factor in the pair layout (sparse.ts pairRows) and its pair list (int32 [pad8(nIn) / 2]), written by the engine; 0: none
const F_A_PAIRS = 61, F_PAIR_LIST = 62;
// The layer's requantization parameters packed per unit (fully-connected.ts requantizePacked), written by the engine; 0: none
const F_REQUANT = 63;
// The estimator's t requantization parameters packed per rank (requantLayout_s32, bias 0; pad8(rank) entries), written by the engine; 0: none
const F_T_REQUANT = 59;
// run_batch_s8: the seven counters above summed over the batch, int64 each (fields 40..53)
const F_SUMS = 40;
export const PLAN_RECORD_BYTES: i32 = 256;

/** run_s8 flags: scalar kernels instead of v128. */
export const RUN_SCALAR: i32 = 1;
/** run_s8 flags: ignore estimators and gates, compute every row (dense baseline). */
export const RUN_DENSE: i32 = 2;
/**
 * run_s8 flags: also count, per layer, inputs that are not the zero point, units whose exact
 * output is positive (above the output zero point) and those of them the mask computed. For
 * a gated layer this runs the dense rows once more into the record's shadow buffer.
 */
export const RUN_TRACE: i32 = 4;
/** run_s8 flags: skip zero inputs: every stage's dot products run over the 8-input chunks holding a non-zero input. */
export const RUN_ZERO_SKIP: i32 = 8;
/** run_s8 flags: stop each layer after its mask (estimator / gate only; profiling). */
export const RUN_MASK_ONLY: i32 = 16;
/** run_batch_s8 flags: the samples are float32 (quantized in Wasm), not int8. */
export const RUN_F32_INPUT: i32 = 32;

/** Scratch bytes run_s8 needs for a layer: the input list, int32 acc[pad8(nOut)], int16 t[pad8(rank)], int32 rows[nOut]. */
export function run_s8_scratchBytes(nIn: i32, nOut: i32, rank: i32): i32 {
  return sparseInput_s8_scratchBytes(nIn) + scratchVec32(pad8(nOut)) + scratchVec16(pad8(rank)) + scratchVec32(nOut);
}

/** Units j < n with buf[j] > v, optionally only those whose mask bit is set. */
function countAbove(buf: usize, n: i32, v: i32, maskPtr: usize): i32 {
  let c = 0;
  for (let j = 0; j < n; j++) {
    const inMask = maskPtr == 0 || ((load<u32>(maskPtr + (<usize>(j >>> 5) << 2)) >>> (j & 31)) & 1) != 0;
    c += <i32>(inMask && <i32>load<i8>(buf + j) > v);
  }
  return c;
}

// @ts-ignore: decorator
@inline
function field(rec: usize, f: i32): i32 {
  return load<i32>(rec + (<usize>f << 2));
}

// @ts-ignore: decorator
@inline
function setField(rec: usize, f: i32, v: i32): void {
  store<i32>(rec + (<usize>f << 2), v);
}

/** Every argument check of the kernels, once per layer, before the unchecked ones run. */
function layerStatus(rec: usize, flags: i32, nIn: i32, nOut: i32, rank: i32, blocks: i32): i32 {
  const scratch = field(rec, F_SCRATCH), bytes = run_s8_scratchBytes(nIn, nOut, rank);
  let status = checkRows(field(rec, F_IN), nIn, field(rec, F_IN_ZP), field(rec, F_W), field(rec, F_BIAS), field(rec, F_MULT),
    field(rec, F_SHIFT), nOut, field(rec, F_OUT_ZP), field(rec, F_ACT_MIN), field(rec, F_ACT_MAX), field(rec, F_OUT), scratch, bytes);
  if (status == STATUS_OK && (rank < 0 || blocks < 0 || (rank != 0 && blocks != 0))) status = STATUS_BAD_ARG;
  if (status == STATUS_OK && rank != 0) {
    status = checkEstimate(field(rec, F_IN), nIn, field(rec, F_IN_ZP), field(rec, F_A), field(rec, F_T_MULT), field(rec, F_T_SHIFT), rank,
      field(rec, F_T_MAX), field(rec, F_B), field(rec, F_THR), nOut, field(rec, F_MASK), scratch, bytes);
    if (ASC_FEATURE_SIMD && status == STATUS_OK && field(rec, F_B_PAIRS) != 0 && (!inMemory(field(rec, F_B_PAIRS), <u64>((nOut + 31) >>> 5) * ((rank + 1) >>> 1) << 6) || !inMemory(field(rec, F_THR), <u64>((nOut + 31) & ~31) << 2))) {
      status = STATUS_BAD_SIZE;
    }
    if (ASC_FEATURE_SIMD && status == STATUS_OK && field(rec, F_A_PAIRS) != 0 && (!inMemory(field(rec, F_A_PAIRS), <u64>pad8(rank) * pad8(nIn))
      || !inMemory(field(rec, F_PAIR_LIST), <u64>pad8(nIn) << 1))) {
      status = STATUS_BAD_SIZE;
    }
  }
  if (ASC_FEATURE_SIMD && status == STATUS_OK && field(rec, F_REQUANT) != 0 && !inMemory(field(rec, F_REQUANT), <u64>nOut << 4)) status = STATUS_BAD_SIZE;
  if (ASC_FEATURE_SIMD && status == STATUS_OK && rank != 0 && field(rec, F_T_REQUANT) != 0 && !inMemory(field(rec, F_T_REQUANT), <u64>pad8(rank) << 4)) status = STATUS_BAD_SIZE;
  if (status == STATUS_OK && blocks != 0) {
    status = checkGate(field(rec, F_IN), nIn, field(rec, F_IN_ZP), field(rec, F_GATE_W), field(rec, F_GATE_THR), blocks,
      field(rec, F_GATE_SIZE), nOut, field(rec, F_GATE_TOP_K), field(rec, F_MASK), scratch, bytes);
  }
  if (status != STATUS_OK) return status;
  return (flags & RUN_TRACE) == 0 || inMemory(field(rec, F_SHADOW), nOut) ? STATUS_OK : STATUS_BAD_SIZE;
}

/**
 * One layer: list the input once (every chunk, or with RUN_ZERO_SKIP only those holding a non-zero
 * input), then the estimator's first stage (or the gate) and the rows as chunked rows over that list,
 * the mask, requantization, counters and trace counts.
 */
function runLayer(rec: usize, flags: i32): i32 {
  const nIn = field(rec, F_N_IN), nOut = field(rec, F_N_OUT), rank = field(rec, F_RANK), blocks = field(rec, F_GATE_BLOCKS);
  const status = layerStatus(rec, flags, nIn, nOut, rank, blocks);
  if (status != STATUS_OK) return status;
  const simd = (flags & RUN_SCALAR) == 0;
  const gated = (rank > 0 || blocks > 0) && (flags & RUN_DENSE) == 0;
  const s = <usize>field(rec, F_SCRATCH);
  const acc = s + sparseInput_s8_scratchBytes(nIn);
  const tPtr = acc + scratchVec32(pad8(nOut));
  const rowsPtr = tPtr + scratchVec16(pad8(rank));
  const maskPtr = <usize>field(rec, F_MASK);
  const nnz = listInput(field(rec, F_IN), nIn, field(rec, F_IN_ZP), s, (flags & RUN_ZERO_SKIP) != 0, simd);
  const chunkElems = load<i32>(s + (S_CHUNK_ELEMS << 2));
  let est = 0;
  let computed = nOut;
  if (gated) {
    const width = rank > 0 ? rank : blocks;
    if (!(ASC_FEATURE_SIMD && simd && rank > 0 && (flags & RUN_ZERO_SKIP) != 0 && field(rec, F_A_PAIRS) != 0
      && pairRows(s, nIn, field(rec, F_A_PAIRS), rank, acc, field(rec, F_PAIR_LIST)))) {
      chunkRows(s, nIn, field(rec, rank > 0 ? F_A : F_GATE_W), width, 0, acc, rowsPtr, simd);
    }
    est = chunkElems * width;
    if (rank > 0) {
      signFromProjection(acc, field(rec, F_T_MULT), field(rec, F_T_SHIFT), rank, field(rec, F_T_MAX), tPtr, field(rec, F_B), field(rec, F_THR),
        nOut, maskPtr, simd, ASC_FEATURE_SIMD ? field(rec, F_B_PAIRS) : 0, ASC_FEATURE_SIMD ? field(rec, F_T_REQUANT) : 0);
      est += rank * nOut;
    } else {
      blockMask(acc, field(rec, F_GATE_THR), blocks, field(rec, F_GATE_SIZE), nOut, field(rec, F_GATE_TOP_K), maskPtr);
    }
    computed = maskCount(maskPtr, nOut);
  }
  setField(rec, F_EST_MACS, est);
  setField(rec, F_ROWS_COMPUTED, computed);
  setField(rec, F_ROWS_SKIPPED, nOut - computed);
  setField(rec, F_ROW_MACS, 0);
  if ((flags & RUN_MASK_ONLY) != 0) return STATUS_OK;
  const w = field(rec, F_W), bias = field(rec, F_BIAS), mult = field(rec, F_MULT), shift = field(rec, F_SHIFT);
  const outZp = field(rec, F_OUT_ZP), actMin = field(rec, F_ACT_MIN), actMax = field(rec, F_ACT_MAX);
  const mask = gated ? maskPtr : 0;
  const count = chunkRows(s, nIn, w, nOut, mask, acc, rowsPtr, simd);
  setField(rec, F_ROW_MACS, computed * chunkElems);
  requantizeListed(acc, bias, mult, shift, nOut, outZp, actMin, actMax, mask, field(rec, F_OUT), rowsPtr, count, simd,
    ASC_FEATURE_SIMD ? field(rec, F_REQUANT) : 0);
  if ((flags & RUN_TRACE) != 0) {
    let exact = field(rec, F_OUT);
    if (gated) {
      // Every row, into the shadow buffer
      exact = field(rec, F_SHADOW);
      chunkRows(s, nIn, w, nOut, 0, acc, rowsPtr, simd);
      requantizeRows(acc, bias, mult, shift, nOut, outZp, actMin, actMax, 0, exact);
    }
    setField(rec, F_NONZERO_IN, nnz);
    setField(rec, F_POSITIVE, countAbove(exact, nOut, outZp, 0));
    setField(rec, F_POSITIVE_COMPUTED, countAbove(exact, nOut, outZp, mask));
  }
  return STATUS_OK;
}

/**
 * Runs every layer of a plan in order and writes each layer's counters into its record.
 * @param planPtr `layers` records of PLAN_RECORD_BYTES, 4-byte aligned
 * @param layers range [1, 65535]
 * @param flags RUN_SCALAR | RUN_DENSE | RUN_TRACE | RUN_ZERO_SKIP | RUN_MASK_ONLY (trace buffers need RUN_TRACE plans)
 * @returns STATUS_OK or the first failing kernel's status
 */
export function run_s8(planPtr: usize, layers: i32, flags: i32): i32 {
  if (layers < 1 || layers > 65535) return STATUS_BAD_ARG;
  if (!inMemory(planPtr, <u64>layers * PLAN_RECORD_BYTES)) return STATUS_BAD_SIZE;
  for (let l = 0; l < layers; l++) {
    const status = runLayer(planPtr + <usize>l * PLAN_RECORD_BYTES, flags);
    if (status != STATUS_OK) return status;
  }
  return STATUS_OK;
}

/**
 * `count` samples in one call, layer by layer (each layer's weights stay in cache across the batch):
 * sample s is read from src + s·srcStride (float32 quantized with the first layer's zero point and
 * `scale`, or per feature with the first record's IN_SCALES / IN_OFFSETS when set, when flags has RUN_F32_INPUT, else int8), its logits are written to out + s·nOut and the
 * index of its largest logit (first on ties) to labels[s]; each layer's seven counters are summed,
 * int64, into record fields 40..53. The batch's int8 activations live in act: [count][nIn] inputs,
 * then two [count][widest nOut] buffers; while a layer runs, its record's IN and OUT point into them.
 * With act = 0 (count must be 1) the plan's own buffers are used, so trace buffers stay valid.
 * @param count range [1, 65535]
 * @param scale the first layer's input scale (RUN_F32_INPUT), finite and > 0
 * @returns STATUS_OK, STATUS_NOT_FINITE (a float input; nothing was run), or the first failing status
 */
export function run_batch_s8(
  planPtr: usize, layers: i32, flags: i32, srcPtr: usize, srcStride: i32, count: i32, scale: f64, outPtr: usize, labelsPtr: usize,
  actPtr: usize,
): i32 {
  if (layers < 1 || layers > 65535 || count < 1 || count > 65535 || srcStride < 0 || (actPtr == 0 && count != 1)) return STATUS_BAD_ARG;
  if (!inMemory(planPtr, <u64>layers * PLAN_RECORD_BYTES)) return STATUS_BAD_SIZE;
  const first = planPtr, last = planPtr + <usize>(layers - 1) * PLAN_RECORD_BYTES;
  const nIn = field(first, F_N_IN), zp = field(first, F_IN_ZP), nOut = field(last, F_N_OUT);
  let widest = 0;
  for (let l = 0; l < layers; l++) widest = max(widest, field(planPtr + <usize>l * PLAN_RECORD_BYTES, F_N_OUT));
  const f32 = (flags & RUN_F32_INPUT) != 0;
  if (nIn < 1 || nIn > MAX_DIM || widest > MAX_DIM || nOut < 1 || zp < -128 || zp > 127) return STATUS_BAD_ARG;
  if (f32 && !(scale > 0 && isFinite<f64>(scale))) return STATUS_BAD_ARG;
  const scales = <usize>field(first, F_IN_SCALES), offsets = <usize>field(first, F_IN_OFFSETS);
  if (f32) {
    const status = featuresStatus(nIn, scales, offsets);
    if (status != STATUS_OK) return status;
  }
  const inBytes = f32 ? nIn << 2 : nIn;
  const q = actPtr != 0 ? actPtr : <usize>field(first, F_IN);
  const act = actPtr + <usize>count * nIn;
  if (!inMemory(srcPtr, <u64>(count - 1) * srcStride + inBytes) || !inMemory(outPtr, <u64>count * nOut) || !inMemory(labelsPtr, <u64>count << 2)
    || !inMemory(q, <u64>count * nIn) || !inMemory(act, actPtr != 0 ? <u64>count * widest * 2 : 0) || !inMemory(field(last, F_OUT), nOut)) {
    return STATUS_BAD_SIZE;
  }
  // Inputs
  for (let s = 0; s < count; s++) {
    const src = srcPtr + <usize>s * srcStride, dst = q + <usize>s * nIn;
    if (f32) {
      const status = quantizeImpl(src, nIn, scale, zp, dst, (flags & RUN_SCALAR) == 0, scales, offsets);
      if (status != STATUS_OK) return status;
    } else {
      memory.copy(dst, src, nIn);
    }
  }
  // Layers, each over the batch
  for (let l = 0; l < layers; l++) {
    const rec = planPtr + <usize>l * PLAN_RECORD_BYTES;
    const inField = field(rec, F_IN), outField = field(rec, F_OUT);
    memory.fill(rec + (F_SUMS << 2), 0, 56);
    for (let s = 0; s < count; s++) {
      if (actPtr != 0) {
        setField(rec, F_IN, <i32>(l == 0 ? q + <usize>s * nIn : act + <usize>((l - 1) & 1) * count * widest + <usize>s * widest));
        setField(rec, F_OUT, <i32>(l == layers - 1 ? outPtr + <usize>s * nOut : act + <usize>(l & 1) * count * widest + <usize>s * widest));
      }
      const status = runLayer(rec, flags & ~RUN_F32_INPUT);
      if (status != STATUS_OK) {
        setField(rec, F_IN, inField);
        setField(rec, F_OUT, outField);
        return status;
      }
      // Counter sums
      for (let c = 0; c < 7; c++) {
        const p = rec + (<usize>(F_SUMS + 2 * c) << 2);
        store<i64>(p, load<i64>(p) + <i64>field(rec, F_EST_MACS + c));
      }
    }
    setField(rec, F_IN, inField);
    setField(rec, F_OUT, outField);
  }
  if (actPtr == 0) memory.copy(outPtr, field(last, F_OUT), nOut);
  // Labels
  for (let s = 0; s < count; s++) {
    const logits = outPtr + <usize>s * nOut;
    let best = 0;
    for (let j = 1; j < nOut; j++) if (load<i8>(logits + j) > load<i8>(logits + best)) best = j;
    store<i32>(labelsPtr + (<usize>s << 2), best);
  }
  return STATUS_OK;
}

/** First free byte after the module's static data: where a caller's arena may start. */
export function heapBase(): usize {
  return __heap_base;
}
