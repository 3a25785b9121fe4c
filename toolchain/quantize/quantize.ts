// Post-training quantization of a float MLP into the engine's int8 model (docs/FORMAT.md,
// "Quantization"): per-unit symmetric int8 weights, asymmetric int8 activations from calibrated
// ranges, int32 bias, Q31 requantization, and the int8/int16 low-rank sign estimator.
import { Matrix, SingularValueDecomposition } from "ml-matrix";
import { forwardFloat, range } from "../model/float.ts";
import { type FloatGate, type FloatLayer, type FloatModel, type InputFeatures, type QuantEstimator, type QuantGate, type QuantLayer, type QuantModel, activationParams, clamp, estimatorTMax, INT32_MAX, INT32_MIN, quantizeBias, quantizeMultiplier, quantizeRows, roundHalfAway, featureY } from "../../runtime/src/index.ts";

export type EstimatorKind = "svd" | "identity" | "learned";

/** What {@link Quantizer.model} adds to the dense int8 layers. */
export interface ModelOptions {
  /** Estimator rank per hidden layer (0: none; the last layer is never gated). Default: none. */
  ranks?: number[];
  /** Real margin per layer: a unit is computed when its estimate exceeds it. Default 0. */
  margins?: number[];
  /**
   * "svd" (default): truncated SVD factors (the method). "learned": the float model's trained factors and
   * offsets (toolchain/train/learned-estimator.ts); ranks must match theirs. "identity": A = I, B = W, rank = n_in —
   * exact, computes precisely the units whose integer pre-activation is positive (a test oracle).
   */
  estimator?: EstimatorKind;
  /** Quantize the float model's block policies into block gates (default true). */
  gates?: boolean;
}

export interface QuantizeOptions extends ModelOptions {
  /** Real input range; default: the calibration data's range. */
  inputRange?: { min: number; max: number };
  /** Input quantization (default "per-tensor", as before format v3): see {@link InputQuant}. */
  inputQuant?: InputQuant;
  /** Precomputed SVD factors per layer, of rank ≥ the requested one (truncated here); default: computed. */
  factors?: (Factors | null)[];
}

export interface Factors {
  /** [rank][nIn], the first factor transposed. */
  at: Float64Array;
  /** [nOut][rank], the second factor transposed. */
  bt: Float64Array;
}

/** Rank-k truncated SVD of Wᵀ (nIn × nOut) = (U√S)(√S Vᵀ). */
export function svdFactors(weight: Float32Array, nIn: number, nOut: number, rank: number): Factors {
  const wt = new Matrix(nIn, nOut);
  for (let j = 0; j < nOut; j++) for (let i = 0; i < nIn; i++) wt.set(i, j, weight[j * nIn + i]);
  const svd = new SingularValueDecomposition(wt, { autoTranspose: true });
  const u = svd.leftSingularVectors, v = svd.rightSingularVectors, s = svd.diagonal;
  const at = new Float64Array(rank * nIn), bt = new Float64Array(nOut * rank);
  for (let r = 0; r < rank; r++) {
    const root = Math.sqrt(s[r]);
    for (let i = 0; i < nIn; i++) at[r * nIn + i] = u.get(i, r) * root;
    for (let j = 0; j < nOut; j++) bt[j * rank + r] = v.get(j, r) * root;
  }
  return { at, bt };
}

/** The first `rank` components of larger factors. */
export function truncateFactors(f: Factors, nIn: number, nOut: number, rank: number): Factors {
  const have = f.at.length / nIn;
  if (rank > have) throw new RangeError(`factors have rank ${have}, asked for ${rank}`);
  if (rank === have) return f;
  const bt = new Float64Array(nOut * rank);
  for (let j = 0; j < nOut; j++) for (let r = 0; r < rank; r++) bt[j * rank + r] = f.bt[j * have + r];
  return { at: f.at.subarray(0, rank * nIn), bt };
}

function quantizeEstimator(
  factors: Factors, rank: number, nIn: number, nOut: number, layerInput: Float32Array, count: number,
  inScale: number, realBias: (j: number) => number, margin: number, unitMargin?: (j: number) => number,
): QuantEstimator {
  const tMax = estimatorTMax(rank);
  const { q: a, scale: sA } = quantizeRows(factors.at, rank, nIn);
  // Calibrate the projection t = x·A per rank component
  const tAbs = new Float64Array(rank);
  for (let s = 0; s < count; s++) {
    for (let r = 0; r < rank; r++) {
      let t = 0;
      for (let i = 0; i < nIn; i++) t += layerInput[s * nIn + i] * factors.at[r * nIn + i];
      tAbs[r] = Math.max(tAbs[r], Math.abs(t));
    }
  }
  const sT = Array.from(tAbs, (m) => (m > 0 ? m / tMax : 1));
  const tq = sT.map((st, r) => quantizeMultiplier((inScale * sA[r]) / st));
  // B absorbs each component's t scale, then is quantized per unit
  const bScaled = new Float64Array(nOut * rank);
  for (let j = 0; j < nOut; j++) for (let r = 0; r < rank; r++) bScaled[j * rank + r] = factors.bt[j * rank + r] * sT[r];
  const { q: b, scale: sB } = quantizeRows(bScaled, nOut, rank);
  const threshold = new Int32Array(nOut);
  for (let j = 0; j < nOut; j++) {
    const m = margin + (unitMargin ? unitMargin(j) : 0);
    threshold[j] = clamp(Math.floor((m - realBias(j)) / sB[j]), INT32_MIN, INT32_MAX);
  }
  return {
    rank, tMax, margin, a, b, threshold,
    tMultiplier: Int32Array.from(tq, (x) => x.multiplier),
    tShift: Int32Array.from(tq, (x) => x.shift),
  };
}

/** The exact estimator: t = a − z, u = Σ (a − z)·W, threshold = −bias (+ margin in integer units). */
function identityEstimator(layer: QuantLayer, wScale: Float64Array, margin: number): QuantEstimator {
  const { nIn, nOut } = layer;
  const a = new Int8Array(nIn * nIn);
  for (let i = 0; i < nIn; i++) a[i * nIn + i] = 1;
  const one = quantizeMultiplier(1);
  const threshold = new Int32Array(nOut);
  for (let j = 0; j < nOut; j++) {
    threshold[j] = clamp(-layer.bias[j] + Math.floor(margin / (layer.inScale * wScale[j])), INT32_MIN, INT32_MAX);
  }
  return {
    rank: nIn, tMax: estimatorTMax(nIn), margin, a, b: layer.weights.slice(), threshold,
    tMultiplier: new Int32Array(nIn).fill(one.multiplier), tShift: new Int32Array(nIn).fill(one.shift),
  };
}

/**
 * Block gate from a float policy. Threshold gate (topK 0): Z per block (symmetric int8), threshold_b =
 * floor(−d_b / (s_in·s_Z[b])) so that Σ (a − z)·Z[b] > threshold_b ⇔ s_in·s_Z[b]·Σ (a − z)·Z[b] + d_b > 0.
 * Routing gate (topK k > 0): the k largest score_b − threshold_b must be the k largest logits, so the scores
 * must share a scale: Z has ONE symmetric scale s_Z for the whole gate and threshold_b = round_half_away(−d_b /
 * (s_in·s_Z)), so s_in·s_Z·(score_b − threshold_b) ≈ x·Z_b + d_b.
 */
export function quantizeGate(gate: FloatGate, nIn: number, nOut: number, inScale: number): QuantGate {
  const blocks = gate.bias.length;
  if (gate.blockSize < 1 || Math.ceil(nOut / gate.blockSize) !== blocks || gate.weight.length !== blocks * nIn) {
    throw new RangeError(`gate: ${blocks} blocks of ${gate.blockSize} with ${gate.weight.length} weights do not fit ${nIn} → ${nOut}`);
  }
  const topK = gate.topK ?? 0;
  if (!(Number.isInteger(topK) && topK >= 0 && topK <= blocks)) throw new RangeError(`gate: topK ${topK}, expected an integer in [0, ${blocks}]`);
  if (topK > 0) {
    const { q: weights, scale } = quantizeRows(gate.weight, 1, blocks * nIn);
    const threshold = Int32Array.from(gate.bias, (d) => clamp(roundHalfAway(-d / (inScale * scale[0])), INT32_MIN, INT32_MAX));
    return { blockSize: gate.blockSize, blocks, weights, threshold, topK };
  }
  const { q: weights, scale } = quantizeRows(gate.weight, blocks, nIn);
  const threshold = Int32Array.from(gate.bias, (d, b) => clamp(Math.floor(-d / (inScale * scale[b])), INT32_MIN, INT32_MAX));
  return { blockSize: gate.blockSize, blocks, weights, threshold, topK: 0 };
}

// ---- Input quantization: one scale for every feature, or a scale and offset per feature (format v3) ----

/**
 * "per-tensor": one scale over the calibration range, offset 0 (format v2, byte-identical to before v3).
 * "per-feature": feature i at scale s_i = (max_i − min_i) / 255, offset o_i = min_i (its calibrated minimum maps
 * to the zero point −128, so zero-input skipping still sees a sparse input as sparse); folded into layer 0.
 * "auto": per-feature when it predicts at most half of per-tensor's layer-0 quantization noise (input and weight
 * rounding; {@link chooseInputQuant}). Given InputFeatures: exactly those.
 */
export type InputQuant = "auto" | "per-tensor" | "per-feature" | InputFeatures;

/** Smallest positive normal f32: the floor of a per-feature scale (a constant feature of magnitude ~0). */
const F32_MIN_NORMAL = 2 ** -126;

/**
 * Per-feature scales and offsets from `count` samples of n features: o_i = min_i, s_i = (max_i − min_i) / 255 as f32.
 * A feature constant in calibration gets s_i = max(|min_i|, 1) / 255: its calibrated value maps exactly to the zero
 * point (the bias absorbs it), other values still quantize at a sane step. Never 0, NaN or Inf.
 */
export function featureParams(x: Float32Array, count: number, n: number): InputFeatures {
  const lo = new Float64Array(n).fill(Infinity), hi = new Float64Array(n).fill(-Infinity);
  for (let s = 0; s < count; s++) {
    for (let i = 0; i < n; i++) {
      const v = x[s * n + i];
      if (v < lo[i]) lo[i] = v;
      if (v > hi[i]) hi[i] = v;
    }
  }
  const scale = new Float32Array(n), offset = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const min = Number.isFinite(lo[i]) ? lo[i] : 0, max = Number.isFinite(hi[i]) ? hi[i] : min;
    offset[i] = min;
    const width = max - offset[i];
    const s = Math.fround(width > 0 ? width / 255 : Math.max(Math.abs(min), 1) / 255);
    scale[i] = Number.isFinite(s) ? Math.max(s, F32_MIN_NORMAL) : 3.4028234663852886e38;
  }
  return { scale, offset };
}

/**
 * The float model whose layer 0 takes u_i = (x_i − o_i) / s_i instead of x: W'_ji = W_ji·s_i, b'_j = b_j + Σ_i W_ji·o_i;
 * a layer-0 block policy and learned estimator are folded the same way. Other layers are shared, not copied.
 */
export function foldInputFeatures(float: FloatModel, f: InputFeatures): FloatModel {
  const l0 = float.layers[0];
  const { nIn, nOut } = l0;
  const scaleCols = (w: Float32Array) => Float32Array.from(w, (v, k) => v * f.scale[k % nIn]);
  const shiftOf = (w: Float32Array, r: number) => {
    let t = 0;
    for (let i = 0; i < nIn; i++) t += w[r * nIn + i] * f.offset[i];
    return t;
  };
  const layer: FloatLayer = {
    nIn, nOut, weight: scaleCols(l0.weight), bias: Float32Array.from(l0.bias, (b, j) => b + shiftOf(l0.weight, j)),
  };
  if (l0.gate) {
    const g = l0.gate;
    layer.gate = {
      blockSize: g.blockSize, weight: scaleCols(g.weight), bias: Float32Array.from(g.bias, (b, k) => b + shiftOf(g.weight, k)),
      ...(g.topK ? { topK: g.topK } : {}),
    };
  }
  if (l0.estimator) {
    const e = l0.estimator;
    // t_r = Σ_i x_i·at_ri = Σ_i u_i·s_i·at_ri + c_r: the constants c_r reach unit j as Σ_r c_r·bt_jr; the decision
    // also adds the layer's bias, which grew by Σ_i W_ji·o_i: the offset takes the one and gives back the other
    const c = Array.from({ length: e.rank }, (_, r) => shiftOf(e.at, r));
    const offset = Float32Array.from(e.offset, (o, j) => {
      let t = o - shiftOf(l0.weight, j);
      for (let r = 0; r < e.rank; r++) t += c[r] * e.bt[j * e.rank + r];
      return t;
    });
    layer.estimator = { rank: e.rank, at: scaleCols(e.at), bt: e.bt, offset };
  }
  return { layers: [layer, ...float.layers.slice(1)] };
}

/** u_i = (x_i − o_i) / s_i for every sample: the folded layer 0's input. */
export function applyInputFeatures(x: Float32Array, count: number, f: InputFeatures): Float32Array {
  const n = f.scale.length, u = new Float32Array(count * n);
  for (let k = 0; k < count * n; k++) u[k] = (x[k] - f.offset[k % n]) / f.scale[k % n];
  return u;
}

export interface InputQuantChoice {
  mode: "per-tensor" | "per-feature";
  /** The per-feature parameters (also when per-tensor was chosen: what it was compared with). */
  features: InputFeatures;
  /**
   * Predicted layer-0 quantization noise of each way: mean over calibration samples of Σ_j (z_j − ẑ_j)², z the float
   * pre-activation and ẑ the one from the int8 input and the int8 weights (input rounding, clamping and per-row weight
   * rounding of W or of the folded W' = W·diag(s)), relative to the mean Σ_j z_j².
   */
  noise: { per_tensor: number; per_feature: number };
}

/** Calibration samples the noise prediction uses (the first ones). */
const NOISE_SAMPLES = 512;

/** Per-row symmetric int8 weights, dequantized (what the rows really multiply by). */
function dequantRows(w: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const { q, scale } = quantizeRows(w, rows, cols);
  return Float64Array.from(q, (v, k) => v * scale[Math.floor(k / cols)]);
}

/**
 * Predicts layer 0's quantization noise per tensor (range → activationParams, weights W) and per feature (inputs
 * (x − o)/s, weights W·diag(s)) on the calibration data, and picks per-feature only when it at least halves it (3 dB).
 * Both input rounding and weight rounding count: a feature with a small range and a large folded weight (a
 * normalization folded into layer 0) spoils the whole row's int8 scale per tensor, not per feature. When every
 * feature spans the same range (MNIST pixels in [0, 1]) both ways are about equal and the file stays per-tensor (v2).
 */
export function chooseInputQuant(float: FloatModel, x: Float32Array, count: number, range: { min: number; max: number }): InputQuantChoice {
  const { nIn, nOut, weight, bias } = float.layers[0];
  const features = featureParams(x, count, nIn);
  const pt = activationParams(range.min, range.max);
  const ptScale = Math.fround(pt.scale);
  const wT = dequantRows(weight, nOut, nIn);
  const wF = dequantRows(Float32Array.from(weight, (v, k) => v * features.scale[k % nIn]), nOut, nIn);
  const bF = Float64Array.from(bias, (b, j) => {
    let t = b;
    for (let i = 0; i < nIn; i++) t += weight[j * nIn + i] * features.offset[i];
    return t;
  });
  const m = Math.min(count, NOISE_SAMPLES);
  let signal = 0, nT = 0, nF = 0;
  const xT = new Float64Array(nIn), uF = new Float64Array(nIn);
  for (let s = 0; s < m; s++) {
    for (let i = 0; i < nIn; i++) {
      const v = x[s * nIn + i];
      xT[i] = (clamp(roundHalfAway(v / ptScale) + pt.zeroPoint, -128, 127) - pt.zeroPoint) * ptScale;
      uF[i] = clamp(roundHalfAway(featureY(v, features.offset[i], features.scale[i])) - 128, -128, 127) + 128;
    }
    for (let j = 0; j < nOut; j++) {
      let z = bias[j], zt = bias[j], zf = bF[j];
      for (let i = 0; i < nIn; i++) {
        z += weight[j * nIn + i] * x[s * nIn + i];
        zt += wT[j * nIn + i] * xT[i];
        zf += wF[j * nIn + i] * uF[i];
      }
      signal += z * z;
      nT += (z - zt) ** 2;
      nF += (z - zf) ** 2;
    }
  }
  const rel = (v: number) => (signal > 0 ? v / signal : v);
  const noise = { per_tensor: rel(nT), per_feature: rel(nF) };
  return { mode: nF * 2 <= nT && nT > 0 ? "per-feature" : "per-tensor", features, noise };
}

/**
 * Post-training quantization split in two: the float calibration pass and the dense int8
 * layers are computed once; estimators for any ranks and margins are added cheaply after.
 */
export class Quantizer {
  private readonly outs: Float32Array[];
  private readonly dense: QuantLayer[];
  private readonly wScales: Float64Array[];
  private readonly factorCache = new Map<number, Factors>();
  /** The float model the int8 layers come from: `float`, with the per-feature input folded into layer 0. */
  private readonly work: FloatModel;
  /** Layer 0's calibration input in the work model's terms (u = (x − o) / s per feature, else the calibration). */
  private readonly input0: Float32Array;
  /** Per-feature input quantization of every model this quantizer makes (null: per tensor). */
  readonly inputFeatures: InputFeatures | null;
  /** How the input quantization was chosen (null unless inputQuant was "auto"). */
  readonly inputChoice: InputQuantChoice | null = null;

  /**
   * @param inputRange per tensor: the real input range (default the calibration data's)
   * @param inputQuant default "per-tensor" (every model byte-identical to before format v3); see {@link InputQuant}
   */
  constructor(readonly float: FloatModel, readonly calibration: Float32Array, readonly count: number, inputRange?: { min: number; max: number }, inputQuant: InputQuant = "per-tensor") {
    const r0 = inputRange ?? range(calibration);
    let features: InputFeatures | null = null;
    if (typeof inputQuant === "object") features = inputQuant;
    else if (inputQuant === "per-feature") features = featureParams(calibration, count, float.layers[0].nIn);
    else if (inputQuant === "auto") {
      this.inputChoice = chooseInputQuant(float, calibration, count, r0);
      if (this.inputChoice.mode === "per-feature") features = this.inputChoice.features;
    }
    this.inputFeatures = features;
    this.work = features ? foldInputFeatures(float, features) : float;
    this.input0 = features ? applyInputFeatures(calibration, count, features) : calibration;
    this.outs = forwardFloat(this.work, this.input0, count);
    const last = float.layers.length - 1;
    // Per feature: layer 0's input is u with unit steps, the zero point −128 at u = 0 (each feature's calibrated minimum)
    let input = features ? { scale: 1, zeroPoint: -128 } : activationParams(r0.min, r0.max);
    input.scale = Math.fround(input.scale);
    this.dense = [];
    this.wScales = [];
    this.work.layers.forEach((fl, l) => {
      const { nIn, nOut } = fl;
      const r = range(this.outs[l]);
      const out = l === last ? activationParams(r.min, r.max) : activationParams(0, r.max);
      const outScale = Math.fround(out.scale);
      const { q: weights, scale: wScale } = quantizeRows(fl.weight, nOut, nIn);
      const bias = new Int32Array(nOut), multiplier = new Int32Array(nOut), shift = new Int32Array(nOut);
      for (let j = 0; j < nOut; j++) {
        const m = quantizeMultiplier((input.scale * wScale[j]) / outScale);
        // A dead unit (multiplier 0: its output is z_out whatever it sums) gets bias 0; others a bias that cannot wrap
        bias[j] = m.multiplier === 0 ? 0 : quantizeBias(fl.bias[j], input.scale * wScale[j], nIn);
        multiplier[j] = m.multiplier;
        shift[j] = m.shift;
      }
      this.dense.push({
        nIn, nOut, activation: l === last ? "none" : "relu",
        inScale: input.scale, inZeroPoint: input.zeroPoint, outScale, outZeroPoint: out.zeroPoint,
        weights, bias, multiplier, shift, estimator: null,
      });
      this.wScales.push(wScale);
      input = { scale: outScale, zeroPoint: out.zeroPoint };
    });
  }

  /** Hidden layers' maximum estimator rank: min(n_in, n_out). */
  get maxRanks(): number[] {
    return this.dense.slice(0, -1).map((l) => Math.min(l.nIn, l.nOut));
  }

  /**
   * Supplies SVD factors of `float`'s layer l (of any rank ≥ those asked later), e.g. from a faster SVD. Ignored for
   * layer 0 under per-feature input quantization: its factors are the folded weights' own SVD.
   */
  setFactors(l: number, factors: Factors): void {
    if (l === 0 && this.inputFeatures) return;
    this.factorCache.set(l, factors);
  }

  private factors(l: number, rank: number): Factors {
    const fl = this.work.layers[l];
    let f = this.factorCache.get(l);
    if (!f || f.at.length / fl.nIn < rank) {
      f = svdFactors(fl.weight, fl.nIn, fl.nOut, rank);
      this.factorCache.set(l, f);
    }
    return truncateFactors(f, fl.nIn, fl.nOut, rank);
  }

  /** Ranks of the float model's learned estimators (0 where a hidden layer has none). */
  get learnedRanks(): number[] {
    return this.work.layers.slice(0, -1).map((l) => l.estimator?.rank ?? 0);
  }

  /** Whether any hidden layer of the float model has a block policy. */
  get hasGates(): boolean {
    return this.work.layers.some((l) => l.gate);
  }

  /**
   * The quantized model: on each hidden layer an estimator of ranks[l] (0: none) and margins[l], or the
   * float model's block gate (options.gates, default true; a layer cannot have both).
   */
  model(options: ModelOptions = {}): QuantModel {
    const last = this.dense.length - 1;
    const features = this.inputFeatures ? { inputFeatures: this.inputFeatures } : {};
    return {
      ...features,
      layers: this.dense.map((layer, l) => {
        const rank = l < last ? options.ranks?.[l] ?? 0 : 0;
        const fl = this.work.layers[l];
        if (fl.gate && options.gates !== false && l < last) {
          if (rank > 0) throw new RangeError(`layer ${l} has a block gate; it cannot also have an estimator (rank ${rank})`);
          return { ...layer, estimator: null, gate: quantizeGate(fl.gate, layer.nIn, layer.nOut, layer.inScale) };
        }
        if (rank <= 0) return { ...layer, estimator: null, gate: null };
        const margin = Math.fround(options.margins?.[l] ?? 0);
        if (options.estimator === "identity") {
          if (rank !== layer.nIn) throw new RangeError(`layer ${l}: the identity estimator has rank n_in = ${layer.nIn}, asked for ${rank}`);
          return { ...layer, estimator: identityEstimator(layer, this.wScales[l], margin), gate: null };
        }
        const wScale = this.wScales[l];
        const realBias = (j: number) => layer.bias[j] * layer.inScale * wScale[j];
        const layerInput = l === 0 ? this.input0 : this.outs[l - 1];
        if (options.estimator === "learned") {
          const fe = fl.estimator;
          if (!fe) throw new RangeError(`layer ${l} has no learned estimator`);
          if (fe.rank !== rank) throw new RangeError(`layer ${l}: the learned estimator has rank ${fe.rank}, asked for ${rank}`);
          const factors = { at: Float64Array.from(fe.at), bt: Float64Array.from(fe.bt) };
          const estimator = quantizeEstimator(factors, rank, layer.nIn, layer.nOut, layerInput, this.count, layer.inScale, realBias, margin, (j) => -fe.offset[j]);
          return { ...layer, estimator, gate: null };
        }
        const estimator = quantizeEstimator(this.factors(l, rank), rank, layer.nIn, layer.nOut, layerInput, this.count, layer.inScale, realBias, margin);
        return { ...layer, estimator, gate: null };
      }),
    };
  }
}

/** Quantizes a float MLP, calibrating activation ranges on `count` real input samples. */
export function quantizeModel(float: FloatModel, calibration: Float32Array, count: number, options: QuantizeOptions = {}): QuantModel {
  const q = new Quantizer(float, calibration, count, options.inputRange, options.inputQuant);
  options.factors?.forEach((f, l) => f && q.setFactors(l, f));
  return q.model(options);
}
