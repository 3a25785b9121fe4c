// Bit-exact TypeScript twins of the Wasm kernels in kernels/wasm/, under the same names.
// Plain typed arrays instead of offsets; int32 arithmetic wraps exactly as in Wasm.
import { INT32_MIN, INT32_MAX } from "./quant.ts";
import { activationRange, type InputFeatures, type QuantModel } from "./model.ts";

const TWO15 = 32768;
const TWO31 = 2147483648;

/**
 * round(x · multiplier · 2^shift / 2^31): doubling high multiply (round half up, saturating
 * INT32_MIN·INT32_MIN), then rounding divide by 2^-shift (half away from zero). Twin of kernels/wasm/requantize.ts.
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

/** Units per group of the pair layout (kernels/wasm/estimate.ts PAIR_UNITS). */
export const PAIR_UNITS = 32;

/** Bytes of {@link pairLayout_s8}'s output: ceil(nOut / PAIR_UNITS) groups × ceil(rank / 2) pairs × 2 · PAIR_UNITS. */
export const pairLayoutBytes = (rank: number, nOut: number) => Math.ceil(nOut / PAIR_UNITS) * Math.ceil(rank / 2) * 2 * PAIR_UNITS;

/**
 * The estimator's second factor B [nOut][rank] in the layout kernels/wasm/estimate.ts expandSignPairs reads (the
 * engine writes it into its arena at load; the file keeps [nOut][rank]): group g of PAIR_UNITS (32) units, pair p
 * of ranks, 64 bytes [u][2] = B[32g+u][2p], B[32g+u][2p+1]; zero past rank and past nOut.
 */
export function pairLayout_s8(b: Int8Array, rank: number, nOut: number): Int8Array {
  const pairs = Math.ceil(rank / 2);
  const out = new Int8Array(pairLayoutBytes(rank, nOut));
  for (let j = 0; j < nOut; j++) {
    const g = Math.floor(j / PAIR_UNITS), u = j % PAIR_UNITS;
    for (let r = 0; r < rank; r++) out[(g * pairs + (r >> 1)) * 2 * PAIR_UNITS + 2 * u + (r & 1)] = b[j * rank + r];
  }
  return out;
}

/**
 * A layer's requantization parameters in the layout kernels/wasm/fully-connected.ts requantizePacked reads (the engine
 * writes it into its arena at load; the file keeps bias, multiplier and shift apart): per unit j four int32,
 * [bias[j], multiplier[j], m, mask] with, for shift s = shift[j], mask = 2^−s − 1 (0 when s ≥ 0) and m = 2^s when
 * s ≥ 0 (the left shift as a factor), else 2^(31 + s) (the right shift as a factor: floor(hi / 2^−s) is bits 31..62 of
 * hi · m). One 16-byte load per unit instead of three gathers and the shift's powers of two worked out per call.
 */
export function requantLayout_s32(bias: Int32Array, multiplier: Int32Array, shift: Int32Array): Int32Array {
  const out = new Int32Array(4 * bias.length);
  for (let j = 0; j < bias.length; j++) {
    const s = shift[j];
    out.set([bias[j], multiplier[j], s >= 0 ? 2 ** s : 2 ** (31 + s), s >= 0 ? 0 : (2 ** -s - 1) | 0], 4 * j);
  }
  return out;
}

/** Bytes of {@link pairLayoutA_s8}'s output: pad8(rank) · pad8(nIn). */
export const pairLayoutABytes = (rank: number, nIn: number) => (Math.ceil(rank / 8) * 8) * (Math.ceil(nIn / 8) * 8);

/**
 * The estimator's first factor A [rank][nIn] in the layout kernels/wasm/sparse.ts pairRows reads (the engine writes
 * it into its arena at load): blocks of 16 rows, the last one 8 rows when at most 8 remain; per block, per input
 * pair k < pad8(nIn) / 2, [row][2] = A[r][2k], A[r][2k+1]; zero past rank and past nIn.
 */
export function pairLayoutA_s8(a: Int8Array, rank: number, nIn: number): Int8Array {
  const pairs = Math.ceil(nIn / 8) * 4;
  const out = new Int8Array(pairLayoutABytes(rank, nIn));
  for (let r0 = 0, at = 0; r0 < rank; r0 += 16) {
    const width = rank - r0 > 8 ? 16 : 8;
    for (let r = r0; r < Math.min(rank, r0 + width); r++) {
      for (let i = 0; i < nIn; i++) out[at + (i >> 1) * 2 * width + 2 * (r - r0) + (i & 1)] = a[r * nIn + i];
    }
    at += pairs * 2 * width;
  }
  return out;
}

/** Twin of assembly maskCount: set bits among the first n. */
export function maskCount(mask: Uint32Array, n: number): number {
  let c = 0;
  for (let j = 0; j < n; j++) c += (mask[j >>> 5] >>> (j & 31)) & 1;
  return c;
}

/**
 * y_i for one feature per feature (format v3): (x − o) then / s, each an f32 operation (IEEE binary32, round to
 * nearest even; a binary32 result computed in f64 and rounded once is exactly the binary32 operation). Finite
 * x, o and s > 0 give a finite or ±Inf y, never NaN.
 */
export function featureY(x: number, o: number, s: number): number {
  return Math.fround(Math.fround(x - o) / s);
}

/**
 * Twin of assembly quantize_f32: q = clamp(t + (|y − t| ≥ 0.5 ? sign(y) : 0) + zp, −128, 127) with t = trunc(y),
 * i.e. round half away from zero. Per tensor (features null): y = x / scale in f64 (runtime/src/quant.ts quantizeInput).
 * Per feature (format v3): y = featureY(x, features.offset[i], features.scale[i]), in f32.
 * @returns 0, or −3 (STATUS_NOT_FINITE) at the first NaN / ±Inf input (out is then partial)
 */
export function quantize_f32(x: ArrayLike<number>, scale: number, zp: number, out: Int8Array, features: InputFeatures | null = null): number {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) return -3;
    const y = features ? featureY(x[i], features.offset[i], features.scale[i]) : x[i] / scale;
    const t = Math.trunc(y);
    let r = t + zp;
    if (Math.abs(y - t) >= 0.5) r += y < 0 ? -1 : 1;
    out[i] = r < -128 ? -128 : r > 127 ? 127 : r;
  }
  return 0;
}

/** A float sample quantized as the engine quantizes it for `model` (per feature when it has inputFeatures). Returns 0 or −3. */
export function quantizeModelInput(model: QuantModel, x: ArrayLike<number>, out: Int8Array): number {
  const l0 = model.layers[0];
  return quantize_f32(x, l0.inScale, l0.inZeroPoint, out, model.inputFeatures ?? null);
}

export interface GateParams {
  nIn: number;
  nOut: number;
  inZp: number;
  blockSize: number;
  blocks: number;
  weights: Int8Array; // [blocks][nIn]
  threshold: Int32Array;
  /** 0: threshold gate; k ∈ [1, blocks]: the k blocks with the largest score − threshold (ties to the lower block). */
  topK: number;
}

/** Sets bits [lo, hi) of a mask. */
function setBits(mask: Uint32Array, lo: number, hi: number): void {
  for (let j = lo; j < hi; j++) mask[j >>> 5] |= 1 << (j & 31);
}

/**
 * Mask from block scores (twin of assembly blockMask): topK 0, block b's units when score[b] > threshold[b];
 * topK k > 0, the k blocks with the largest score[b] − threshold[b] (exact), ties to the lower block: k passes,
 * each opening the first largest block not yet open.
 */
function blockMask(score: Int32Array, p: GateParams, mask: Uint32Array): void {
  mask.fill(0, 0, (p.nOut + 31) >>> 5);
  const open = (b: number) => setBits(mask, b * p.blockSize, Math.min((b + 1) * p.blockSize, p.nOut));
  const isOpen = (b: number) => ((mask[(b * p.blockSize) >>> 5] >>> ((b * p.blockSize) & 31)) & 1) !== 0;
  if (p.topK === 0) {
    for (let b = 0; b < p.blocks; b++) if (score[b] > p.threshold[b]) open(b);
    return;
  }
  for (let pass = 0; pass < p.topK; pass++) {
    let best = -1;
    for (let b = 0; b < p.blocks; b++) {
      if (!isOpen(b) && (best < 0 || score[b] - p.threshold[b] > score[best] - p.threshold[best])) best = b;
    }
    open(best);
  }
}

/**
 * Twin of assembly blockGate_s8: score[b] = Σ_i (in[i] − inZp)·G[b,i] (int32); block b's units are set when
 * score[b] > threshold[b], or with topK k > 0 when b is among the k largest score[b] − threshold[b].
 */
export function blockGate_s8(p: GateParams, input: Int8Array, mask: Uint32Array): void {
  const x = widen(input, p.nIn, p.inZp);
  const score = new Int32Array(p.blocks);
  for (let b = 0; b < p.blocks; b++) score[b] = dot(x, p.weights, b * p.nIn, p.nIn);
  blockMask(score, p, mask);
}

const pad8 = (n: number) => Math.ceil(n / 8) * 8;

/**
 * What assembly sparseInput_s8 writes: the widened input and its 8-input chunks holding a non-zero
 * value, or every chunk when at least 4 in 5 hold one.
 */
export interface SparseInput {
  nIn: number;
  /** in − zp, int16, zero-padded to pad8(nIn). */
  x: Int16Array;
  /** Inputs with x ≠ 0. */
  nnz: number;
  /** Starts of the 8-input chunks holding a non-zero x, ascending. */
  chunks: Int32Array;
  /** Σ of those chunks' lengths (the last chunk may be short). */
  chunkElems: number;
}

/** Twin of assembly sparseInput_s8. */
export function sparseInput_s8(input: Int8Array, nIn: number, zp: number): SparseInput {
  const x = new Int16Array(pad8(nIn));
  const chunks: number[] = [];
  let chunkElems = 0, nnz = 0;
  for (let i = 0; i < nIn; i++) x[i] = input[i] - zp;
  for (let c = 0; c < nIn; c += 8) {
    const end = Math.min(c + 8, nIn);
    let any = false;
    for (let i = c; i < end; i++) if (x[i] !== 0) { nnz++; any = true; }
    if (any) { chunks.push(c); chunkElems += end - c; }
  }
  // At least 4 chunks in 5 kept: every chunk (the dense rows are faster; kernels/wasm/sparse.ts)
  const all = Math.ceil(nIn / 8);
  if (chunks.length * 5 >= all * 4) return { nIn, x, nnz, chunks: Int32Array.from({ length: all }, (_, k) => 8 * k), chunkElems: nIn };
  return { nIn, x, nnz, chunks: Int32Array.from(chunks), chunkElems };
}

/** Twin of assembly requantizeRows_s32: rows from int32 dot products acc[j]; unmasked units (mask given) get outZp. */
export function requantizeRows_s32(p: RowsParams, acc: Int32Array, mask: Uint32Array | null, out: Int8Array): void {
  for (let j = 0; j < p.nOut; j++) {
    if (mask && !((mask[j >>> 5] >>> (j & 31)) & 1)) {
      out[j] = p.outZp;
      continue;
    }
    const v = (requantize_s32((p.bias[j] + acc[j]) | 0, p.multiplier[j], p.shift[j]) + p.outZp) | 0;
    out[j] = v < p.actMin ? p.actMin : v > p.actMax ? p.actMax : v;
  }
}

export interface LayerCounters {
  estimatorMacs: number;
  rowMacs: number;
  rowsComputed: number;
  rowsSkipped: number;
}

/** run_s8 flags, as kernels/wasm/network.ts. */
export const RUN_SCALAR = 1;
export const RUN_DENSE = 2;
export const RUN_ZERO_SKIP = 8;
/**
 * Twin of assembly run_s8: every layer in order, gated where the layer has an estimator or a block
 * gate (unless RUN_DENSE), with the same counters. Under RUN_ZERO_SKIP the first stage and the rows
 * count only the inputs of the 8-input chunks holding a non-zero value (chunkElems per row).
 * RUN_SCALAR changes nothing here.
 */
export function run_s8(model: QuantModel, input: Int8Array, flags = 0): { output: Int8Array; masks: (Uint32Array | null)[]; counters: LayerCounters[] } {
  let a = input;
  const counters: LayerCounters[] = [];
  const masks: (Uint32Array | null)[] = [];
  model.layers.forEach((layer) => {
    const p: RowsParams = { ...layer, inZp: layer.inZeroPoint, outZp: layer.outZeroPoint, ...activationRange(layer) };
    const out = new Int8Array(layer.nOut);
    const e = layer.estimator, g = layer.gate ?? null;
    const gated = (e !== null || g !== null) && !(flags & RUN_DENSE);
    const mask = gated ? new Uint32Array((layer.nOut + 31) >>> 5) : null;
    const gp: GateParams | null = g && { ...g, nIn: layer.nIn, nOut: layer.nOut, inZp: layer.inZeroPoint };
    const ep: EstimatorParams | null = e && { ...e, nIn: layer.nIn, nOut: layer.nOut, inZp: layer.inZeroPoint };
    let estimatorMacs = 0, rowMacs: number;
    if (flags & RUN_ZERO_SKIP) {
      const { chunkElems } = sparseInput_s8(a, layer.nIn, layer.inZeroPoint);
      if (mask) {
        if (ep) {
          estimateSign_s8(ep, a, mask);
          estimatorMacs = ep.rank * (chunkElems + layer.nOut);
        } else {
          blockGate_s8(gp!, a, mask);
          estimatorMacs = gp!.blocks * chunkElems;
        }
      }
      rowMacs = (mask ? maskCount(mask, layer.nOut) : layer.nOut) * chunkElems;
    } else {
      if (ep && mask) {
        estimateSign_s8(ep, a, mask);
        estimatorMacs = ep.rank * (layer.nIn + layer.nOut);
      } else if (gp && mask) {
        blockGate_s8(gp, a, mask);
        estimatorMacs = gp.blocks * layer.nIn;
      }
      rowMacs = (mask ? maskCount(mask, layer.nOut) : layer.nOut) * layer.nIn;
    }
    if (mask) gatedRows_s8(p, a, mask, out);
    else denseRows_s8(p, a, out);
    const computed = mask ? maskCount(mask, layer.nOut) : layer.nOut;
    counters.push({ estimatorMacs, rowMacs, rowsComputed: computed, rowsSkipped: layer.nOut - computed });
    masks.push(mask);
    a = out;
  });
  return { output: a, masks, counters };
}
