// Quantization parameters are data: computed here once, never inside a kernel.
import { InputError } from "./errors.ts";

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;
/** Smallest non-zero Q31 multiplier a model may store (normalised: [2^30, 2^31 − 1]). */
export const Q31_MIN_NORMAL = 1073741824;
export const SHIFT_MIN = -31;
export const SHIFT_MAX = 30;

/** Round half away from zero (C's round, TFLite's TfLiteRound). */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

export interface Q31 {
  multiplier: number;
  shift: number;
}

/**
 * real ≈ multiplier · 2^(shift − 31), multiplier in [2^30, 2^31 − 1] (TFLite QuantizeMultiplier).
 * Reals too small for shift ≥ −31 become {0, 0}; reals ≥ 2^30 cannot be represented.
 */
export function quantizeMultiplier(real: number): Q31 {
  if (!Number.isFinite(real) || real < 0) throw new RangeError(`multiplier must be finite and ≥ 0, got ${real}`);
  if (real === 0) return { multiplier: 0, shift: 0 };
  // frexp: real = q · 2^shift, q in [0.5, 1)
  let shift = Math.floor(Math.log2(real)) + 1;
  let q = real / 2 ** shift;
  if (q >= 1) { q /= 2; shift += 1; }
  if (q < 0.5) { q *= 2; shift -= 1; }
  let multiplier = Math.round(q * 2 ** 31);
  if (multiplier === 2 ** 31) { multiplier /= 2; shift += 1; }
  if (shift < SHIFT_MIN) return { multiplier: 0, shift: 0 };
  if (shift > SHIFT_MAX) throw new RangeError(`multiplier ${real} is too large for Q31 with shift ≤ ${SHIFT_MAX}`);
  return { multiplier, shift };
}

/** Largest estimator clamp tMax for a rank so that Σ_r t·B never leaves int32. */
export function estimatorTMax(rank: number): number {
  return Math.min(32767, Math.floor(INT32_MAX / (128 * rank)));
}

/** Asymmetric int8 parameters for a real range, widened to contain 0 (TFLite convention). */
export function activationParams(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (!(hi > lo)) return { scale: 1 / 255, zeroPoint: -128 };
  const scale = (hi - lo) / 255;
  return { scale, zeroPoint: clamp(roundHalfAway(-128 - lo / scale), -128, 127) };
}

/** q = clamp(round(x / scale) + zeroPoint, −128, 127); non-finite values are an InputError. */
export function quantizeInput(x: ArrayLike<number>, scale: number, zeroPoint: number, out: Int8Array, name = "input"): Int8Array {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (!Number.isFinite(v)) throw new InputError(`${name}[${i}] is ${v}; inputs must be finite numbers`);
    out[i] = clamp(roundHalfAway(v / scale) + zeroPoint, -128, 127);
  }
  return out;
}

/** Per-row symmetric int8: scale[r] = max|row| / 127 (1 for an all-zero row). */
export function quantizeRows(w: ArrayLike<number>, rows: number, cols: number): { q: Int8Array; scale: Float64Array } {
  const q = new Int8Array(rows * cols);
  const scale = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
    const s = m > 0 ? m / 127 : 1;
    scale[r] = s;
    for (let c = 0; c < cols; c++) q[r * cols + c] = clamp(roundHalfAway(w[r * cols + c] / s), -127, 127);
  }
  return { q, scale };
}

/**
 * Largest |bias| for which a row accumulator bias + Σ_i (a_i − z_in)·W[j][i] over `nIn` inputs cannot
 * wrap: |a − z_in| ≤ 255 and |W| ≤ 127 (quantizeRows), so 2^31 − 1 − 255·127·nIn (≥ 25,132,672 for nIn ≤ 65535).
 */
export const biasNoWrapLimit = (nIn: number): number => INT32_MAX - 255 * 127 * nIn;

/** int32 bias = round(b / scale), saturated (at ±biasNoWrapLimit(nIn) when nIn is given: the accumulator never wraps). */
export function quantizeBias(b: number, scale: number, nIn?: number): number {
  const limit = nIn === undefined ? INT32_MAX : biasNoWrapLimit(nIn);
  return clamp(roundHalfAway(b / scale), nIn === undefined ? INT32_MIN : -limit, limit);
}
