// Post-training quantization of a float MLP into the engine's int8 model (docs/FORMAT.md,
// "Quantization"): per-unit symmetric int8 weights, asymmetric int8 activations from calibrated
// ranges, int32 bias, Q31 requantization, and the int8/int16 low-rank sign estimator.
import { Matrix, SingularValueDecomposition } from "ml-matrix";
import { forwardFloat, range } from "./float.ts";
import type { FloatGate, FloatModel, QuantEstimator, QuantGate, QuantLayer, QuantModel } from "../runtime/src/model.ts";
import {
  activationParams, clamp, estimatorTMax, INT32_MAX, INT32_MIN, quantizeBias, quantizeMultiplier, quantizeRows,
} from "../runtime/src/quant.ts";

export type EstimatorKind = "svd" | "identity" | "learned";

/** What {@link Quantizer.model} adds to the dense int8 layers. */
export interface ModelOptions {
  /** Estimator rank per hidden layer (0: none; the last layer is never gated). Default: none. */
  ranks?: number[];
  /** Real margin per layer: a unit is computed when its estimate exceeds it. Default 0. */
  margins?: number[];
  /**
   * "svd" (default): truncated SVD factors (the method). "learned": the float model's trained factors and
   * offsets (ts/train/learned-estimator.ts); ranks must match theirs. "identity": A = I, B = W, rank = n_in —
   * exact, computes precisely the units whose integer pre-activation is positive (a test oracle).
   */
  estimator?: EstimatorKind;
  /** Quantize the float model's block policies into block gates (default true). */
  gates?: boolean;
}

export interface QuantizeOptions extends ModelOptions {
  /** Real input range; default: the calibration data's range. */
  inputRange?: { min: number; max: number };
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
 * Block gate from a float policy: Z per block (symmetric int8), threshold_b = floor(−d_b / (s_in·s_Z[b]))
 * so that Σ (a − z)·Z[b] > threshold_b ⇔ s_in·s_Z[b]·Σ (a − z)·Z[b] + d_b > 0.
 */
export function quantizeGate(gate: FloatGate, nIn: number, nOut: number, inScale: number): QuantGate {
  const blocks = gate.bias.length;
  if (gate.blockSize < 1 || Math.ceil(nOut / gate.blockSize) !== blocks || gate.weight.length !== blocks * nIn) {
    throw new RangeError(`gate: ${blocks} blocks of ${gate.blockSize} with ${gate.weight.length} weights do not fit ${nIn} → ${nOut}`);
  }
  const { q: weights, scale } = quantizeRows(gate.weight, blocks, nIn);
  const threshold = Int32Array.from(gate.bias, (d, b) => clamp(Math.floor(-d / (inScale * scale[b])), INT32_MIN, INT32_MAX));
  return { blockSize: gate.blockSize, blocks, weights, threshold };
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

  constructor(readonly float: FloatModel, readonly calibration: Float32Array, readonly count: number, inputRange?: { min: number; max: number }) {
    this.outs = forwardFloat(float, calibration, count);
    const last = float.layers.length - 1;
    const r0 = inputRange ?? range(calibration);
    let input = activationParams(r0.min, r0.max);
    input.scale = Math.fround(input.scale);
    this.dense = [];
    this.wScales = [];
    float.layers.forEach((fl, l) => {
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

  /** Supplies SVD factors for layer l (of any rank ≥ those asked later), e.g. from a faster SVD. */
  setFactors(l: number, factors: Factors): void {
    this.factorCache.set(l, factors);
  }

  private factors(l: number, rank: number): Factors {
    const fl = this.float.layers[l];
    let f = this.factorCache.get(l);
    if (!f || f.at.length / fl.nIn < rank) {
      f = svdFactors(fl.weight, fl.nIn, fl.nOut, rank);
      this.factorCache.set(l, f);
    }
    return truncateFactors(f, fl.nIn, fl.nOut, rank);
  }

  /** Ranks of the float model's learned estimators (0 where a hidden layer has none). */
  get learnedRanks(): number[] {
    return this.float.layers.slice(0, -1).map((l) => l.estimator?.rank ?? 0);
  }

  /** Whether any hidden layer of the float model has a block policy. */
  get hasGates(): boolean {
    return this.float.layers.some((l) => l.gate);
  }

  /**
   * The quantized model: on each hidden layer an estimator of ranks[l] (0: none) and margins[l], or the
   * float model's block gate (options.gates, default true; a layer cannot have both).
   */
  model(options: ModelOptions = {}): QuantModel {
    const last = this.dense.length - 1;
    return {
      layers: this.dense.map((layer, l) => {
        const rank = l < last ? options.ranks?.[l] ?? 0 : 0;
        const fl = this.float.layers[l];
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
        const layerInput = l === 0 ? this.calibration : this.outs[l - 1];
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
  const q = new Quantizer(float, calibration, count, options.inputRange);
  options.factors?.forEach((f, l) => f && q.setFactors(l, f));
  return q.model(options);
}
