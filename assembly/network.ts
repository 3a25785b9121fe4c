import { STATUS_OK, STATUS_OUT_OF_BOUNDS, STATUS_BAD_ARG, inMemory } from "./status";
import { denseRows_s8, gatedRows_s8, maskCount } from "./fully-connected";
import { estimateSign_s8 } from "./estimate";

// One plan record per layer, int32 fields, written by ts/runtime.ts after the
// model has been validated. Field indices are mirrored in ts/plan.ts.
const F_N_IN = 0, F_N_OUT = 1, F_RANK = 2, F_IN_ZP = 3, F_OUT_ZP = 4, F_ACT_MIN = 5, F_ACT_MAX = 6, F_T_MAX = 7;
const F_IN = 8, F_OUT = 9, F_W = 10, F_BIAS = 11, F_MULT = 12, F_SHIFT = 13;
const F_A = 14, F_T_MULT = 15, F_T_SHIFT = 16, F_B = 17, F_THR = 18, F_MASK = 19, F_SCRATCH = 20, F_SHADOW = 21;
// Counters, rewritten by every run
const F_EST_MACS = 24, F_ROW_MACS = 25, F_ROWS_COMPUTED = 26, F_ROWS_SKIPPED = 27;
// Trace counters, rewritten by runs with RUN_TRACE
const F_NONZERO_IN = 28, F_POSITIVE = 29, F_POSITIVE_COMPUTED = 30;
export const PLAN_RECORD_BYTES: i32 = 128;

/** run_s8 flags: scalar kernels instead of v128. */
export const RUN_SCALAR: i32 = 1;
/** run_s8 flags: ignore estimators, compute every row (dense baseline). */
export const RUN_DENSE: i32 = 2;
/**
 * run_s8 flags: also count, per layer, inputs that are not the zero point, units whose exact
 * output is positive (above the output zero point) and those of them the mask computed. For
 * a gated layer this runs the dense rows once more into the record's shadow buffer.
 */
export const RUN_TRACE: i32 = 4;

/** Bytes of buf[0, n) that differ from v. */
function countNot(buf: usize, n: i32, v: i32): i32 {
  let c = 0;
  for (let i = 0; i < n; i++) c += <i32>(<i32>load<i8>(buf + i) != v);
  return c;
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

/**
 * Runs every layer of a plan in order and writes each layer's counters into its record.
 * @param planPtr `layers` records of PLAN_RECORD_BYTES, 4-byte aligned
 * @param layers range [1, 65535]
 * @param flags RUN_SCALAR | RUN_DENSE
 * @returns STATUS_OK or the first failing kernel's status
 */
export function run_s8(planPtr: usize, layers: i32, flags: i32): i32 {
  if (layers < 1 || layers > 65535) return STATUS_BAD_ARG;
  if (!inMemory(planPtr, <u64>layers * PLAN_RECORD_BYTES)) return STATUS_OUT_OF_BOUNDS;
  const simd = (flags & RUN_SCALAR) == 0 ? 1 : 0;
  for (let l = 0; l < layers; l++) {
    const rec = planPtr + <usize>l * PLAN_RECORD_BYTES;
    const nIn = field(rec, F_N_IN), nOut = field(rec, F_N_OUT), rank = field(rec, F_RANK);
    const gated = rank > 0 && (flags & RUN_DENSE) == 0;
    let status: i32;
    let computed = nOut;
    if (gated) {
      status = estimateSign_s8(
        field(rec, F_IN), nIn, field(rec, F_IN_ZP), field(rec, F_A), field(rec, F_T_MULT), field(rec, F_T_SHIFT),
        rank, field(rec, F_T_MAX), field(rec, F_B), field(rec, F_THR), nOut, field(rec, F_MASK), field(rec, F_SCRATCH), simd);
      if (status != STATUS_OK) return status;
      status = gatedRows_s8(
        field(rec, F_IN), nIn, field(rec, F_IN_ZP), field(rec, F_W), field(rec, F_BIAS), field(rec, F_MULT), field(rec, F_SHIFT),
        nOut, field(rec, F_OUT_ZP), field(rec, F_ACT_MIN), field(rec, F_ACT_MAX), field(rec, F_OUT), field(rec, F_SCRATCH),
        field(rec, F_MASK), simd);
      computed = maskCount(field(rec, F_MASK), nOut);
    } else {
      status = denseRows_s8(
        field(rec, F_IN), nIn, field(rec, F_IN_ZP), field(rec, F_W), field(rec, F_BIAS), field(rec, F_MULT), field(rec, F_SHIFT),
        nOut, field(rec, F_OUT_ZP), field(rec, F_ACT_MIN), field(rec, F_ACT_MAX), field(rec, F_OUT), field(rec, F_SCRATCH), simd);
    }
    if (status != STATUS_OK) return status;
    if ((flags & RUN_TRACE) != 0) {
      const outZp = field(rec, F_OUT_ZP);
      let exact = field(rec, F_OUT);
      if (gated) {
        exact = field(rec, F_SHADOW);
        status = denseRows_s8(
          field(rec, F_IN), nIn, field(rec, F_IN_ZP), field(rec, F_W), field(rec, F_BIAS), field(rec, F_MULT), field(rec, F_SHIFT),
          nOut, outZp, field(rec, F_ACT_MIN), field(rec, F_ACT_MAX), exact, field(rec, F_SCRATCH), simd);
        if (status != STATUS_OK) return status;
      }
      store<i32>(rec + (F_NONZERO_IN << 2), countNot(field(rec, F_IN), nIn, field(rec, F_IN_ZP)));
      store<i32>(rec + (F_POSITIVE << 2), countAbove(exact, nOut, outZp, 0));
      store<i32>(rec + (F_POSITIVE_COMPUTED << 2), gated ? countAbove(exact, nOut, outZp, field(rec, F_MASK)) : countAbove(exact, nOut, outZp, 0));
    }
    // Counters
    store<i32>(rec + (F_EST_MACS << 2), gated ? rank * (nIn + nOut) : 0);
    store<i32>(rec + (F_ROW_MACS << 2), computed * nIn);
    store<i32>(rec + (F_ROWS_COMPUTED << 2), computed);
    store<i32>(rec + (F_ROWS_SKIPPED << 2), nOut - computed);
  }
  return STATUS_OK;
}

/** First free byte after the module's static data: where a caller's arena may start. */
export function heapBase(): usize {
  return __heap_base;
}
