// Bit-exact TypeScript twins of the Wasm kernels in assembly/, under the same names.
// Plain typed arrays instead of offsets; int32 arithmetic wraps exactly as in Wasm.
import { INT32_MIN, INT32_MAX } from "./quant.ts";
import { activationRange, type QuantModel } from "./model.ts";

const TWO15 = 32768;
const TWO31 = 2147483648;

/**
 * round(x · multiplier · 2^shift / 2^31): doubling high multiply (round half up, saturating
 * INT32_MIN·INT32_MIN), then rounding divide by 2^-shift (half away from zero). Twin of assembly/requantize.ts.
 * @param shift range [-31, 30]
 */
export function requantize_s32(x: number, multiplier: number, shift: number): number {
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  const xs = (x << left) | 0;
  let hi: number;
  if (xs === INT32_MIN && multiplier === INT32_MIN) {
    hi = INT32_MAX;
  } else {
    // floor((xs·m + 2^30) / 2^31) exactly, in doubles: m = mh·2^16 + ml
    const mh = multiplier >> 16;
    const ml = multiplier & 0xffff;
    const p = xs * mh; // |p| ≤ 2^46, exact
    const ph = Math.floor(p / TWO15);
    const pl = p - ph * TWO15; // [0, 2^15)
    hi = (ph + Math.floor((pl * 65536 + xs * ml + 1073741824) / TWO31)) | 0;
  }
  const mask = ((1 << right) - 1) | 0;
  const threshold = (mask >> 1) + (hi < 0 ? 1 : 0);
  return ((hi >> right) + ((hi & mask) > threshold ? 1 : 0)) | 0;
}

/** Σ x[i]·w[wo + i] for i < n, int32 wrap-around. */
function dot(x: Int16Array, w: Int8Array, wo: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s = (s + x[i] * w[wo + i]) | 0;
  return s;
}

function widen(input: Int8Array, n: number, zp: number): Int16Array {
  const x = new Int16Array(n);
  for (let i = 0; i < n; i++) x[i] = input[i] - zp;
  return x;
}

export interface RowsParams {
  nIn: number;
  nOut: number;
  inZp: number;
  outZp: number;
  actMin: number;
  actMax: number;
  weights: Int8Array; // [nOut][nIn]
  bias: Int32Array;
  multiplier: Int32Array;
  shift: Int32Array;
}

function row(p: RowsParams, x: Int16Array, j: number, out: Int8Array): void {
  const acc = (p.bias[j] + dot(x, p.weights, j * p.nIn, p.nIn)) | 0;
  const v = (requantize_s32(acc, p.multiplier[j], p.shift[j]) + p.outZp) | 0;
  out[j] = v < p.actMin ? p.actMin : v > p.actMax ? p.actMax : v;
}

/** Twin of assembly denseRows_s8: every unit. */
export function denseRows_s8(p: RowsParams, input: Int8Array, out: Int8Array): void {
  const x = widen(input, p.nIn, p.inZp);
  for (let j = 0; j < p.nOut; j++) row(p, x, j, out);
}

/** Twin of assembly gatedRows_s8: units whose mask bit is set; the rest get outZp. */
export function gatedRows_s8(p: RowsParams, input: Int8Array, mask: Uint32Array, out: Int8Array): void {
  const x = widen(input, p.nIn, p.inZp);
  for (let j = 0; j < p.nOut; j++) {
    if ((mask[j >>> 5] >>> (j & 31)) & 1) row(p, x, j, out);
    else out[j] = p.outZp;
  }
}

export interface EstimatorParams {
  nIn: number;
  nOut: number;
  inZp: number;
  rank: number;
  tMax: number;
  a: Int8Array; // [rank][nIn]
  tMultiplier: Int32Array;
  tShift: Int32Array;
  b: Int8Array; // [nOut][rank]
  threshold: Int32Array;
}

/** Twin of assembly estimateSign_s8: mask bit j = Σ_r t[r]·B[j,r] > threshold[j]. */
export function estimateSign_s8(p: EstimatorParams, input: Int8Array, mask: Uint32Array): void {
  const x = widen(input, p.nIn, p.inZp);
  const t = new Int16Array(p.rank);
  for (let r = 0; r < p.rank; r++) {
    const v = requantize_s32(dot(x, p.a, r * p.nIn, p.nIn), p.tMultiplier[r], p.tShift[r]);
    t[r] = v < -p.tMax ? -p.tMax : v > p.tMax ? p.tMax : v;
  }
  mask.fill(0, 0, (p.nOut + 31) >>> 5);
  for (let j = 0; j < p.nOut; j++) {
    if (dot(t, p.b, j * p.rank, p.rank) > p.threshold[j]) mask[j >>> 5] |= 1 << (j & 31);
  }
}

/** Twin of assembly maskCount: set bits among the first n. */
export function maskCount(mask: Uint32Array, n: number): number {
  let c = 0;
  for (let j = 0; j < n; j++) c += (mask[j >>> 5] >>> (j & 31)) & 1;
  return c;
}

export interface LayerCounters {
  estimatorMacs: number;
  rowMacs: number;
  rowsComputed: number;
  rowsSkipped: number;
}

/** run_s8 flags, as assembly/network.ts. */
export const RUN_SCALAR = 1;
export const RUN_DENSE = 2;

/**
 * Twin of assembly run_s8: every layer in order, gated where the layer has an estimator
 * (unless RUN_DENSE), with the same counters. RUN_SCALAR changes nothing here.
 */
export function run_s8(model: QuantModel, input: Int8Array, flags = 0): { output: Int8Array; masks: (Uint32Array | null)[]; counters: LayerCounters[] } {
  let a = input;
  const counters: LayerCounters[] = [];
  const masks: (Uint32Array | null)[] = [];
  for (const layer of model.layers) {
    const p: RowsParams = { ...layer, inZp: layer.inZeroPoint, outZp: layer.outZeroPoint, ...activationRange(layer) };
    const out = new Int8Array(layer.nOut);
    const e = layer.estimator;
    if (e && !(flags & RUN_DENSE)) {
      const mask = new Uint32Array((layer.nOut + 31) >>> 5);
      estimateSign_s8({ ...e, nIn: layer.nIn, nOut: layer.nOut, inZp: layer.inZeroPoint }, a, mask);
      gatedRows_s8(p, a, mask, out);
      const computed = maskCount(mask, layer.nOut);
      counters.push({ estimatorMacs: e.rank * (layer.nIn + layer.nOut), rowMacs: computed * layer.nIn, rowsComputed: computed, rowsSkipped: layer.nOut - computed });
      masks.push(mask);
    } else {
      denseRows_s8(p, a, out);
      counters.push({ estimatorMacs: 0, rowMacs: layer.nOut * layer.nIn, rowsComputed: layer.nOut, rowsSkipped: 0 });
      masks.push(null);
    }
    a = out;
  }
  return { output: a, masks, counters };
}
