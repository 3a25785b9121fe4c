// Post-training quantization of a float MLP into the engine's int8 model (docs/FORMAT.md,
// "Quantization"): per-unit symmetric int8 weights, asymmetric int8 activations from calibrated
// ranges, int32 bias, Q31 requantization, and the int8/int16 low-rank sign estimator.
import { Matrix, SingularValueDecomposition } from "ml-matrix";
import { forwardFloat, range } from "./float.ts";
import type { FloatModel, QuantEstimator, QuantLayer, QuantModel } from "./model.ts";
import {
  activationParams, clamp, estimatorTMax, INT32_MAX, INT32_MIN, quantizeBias, quantizeMultiplier, quantizeRows,
} from "./quant.ts";

export type EstimatorKind = "svd" | "identity";

export interface QuantizeOptions {
  /** Estimator rank per layer (0: none; the last layer is never gated). Default: none. */
  ranks?: number[];
  /** Real margin per layer: a unit is computed when its estimate exceeds it. Default 0. */
  margins?: number[];
  /**
   * "svd": truncated SVD factors (the method). "identity": A = I, B = W, rank = n_in — exact,
   * computes precisely the units whose integer pre-activation is positive (a test oracle).
   */
  estimator?: EstimatorKind;
  /** Real input range; default: the calibration data's range. */
  inputRange?: { min: number; max: number };
}

interface Factors {
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

function quantizeEstimator(
  factors: Factors, rank: number, nIn: number, nOut: number, layerInput: Float32Array, count: number,
  inScale: number, realBias: (j: number) => number, margin: number,
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
  for (let j = 0; j < nOut; j++) threshold[j] = clamp(Math.floor((margin - realBias(j)) / sB[j]), INT32_MIN, INT32_MAX);
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

/** Quantizes a float MLP, calibrating activation ranges on `count` real input samples. */
export function quantizeModel(float: FloatModel, calibration: Float32Array, count: number, options: QuantizeOptions = {}): QuantModel {
  const outs = forwardFloat(float, calibration, count);
  const last = float.layers.length - 1;
  const inRange = options.inputRange ?? range(calibration);
  let input = activationParams(inRange.min, inRange.max);
  input.scale = Math.fround(input.scale);
  const layers: QuantLayer[] = [];
  float.layers.forEach((fl, l) => {
    const { nIn, nOut } = fl;
    const r = range(outs[l]);
    const out = l === last ? activationParams(r.min, r.max) : activationParams(0, r.max);
    const outScale = Math.fround(out.scale);
    const { q: weights, scale: wScale } = quantizeRows(fl.weight, nOut, nIn);
    const bias = new Int32Array(nOut), multiplier = new Int32Array(nOut), shift = new Int32Array(nOut);
    for (let j = 0; j < nOut; j++) {
      bias[j] = quantizeBias(fl.bias[j], input.scale * wScale[j]);
      const m = quantizeMultiplier((input.scale * wScale[j]) / outScale);
      multiplier[j] = m.multiplier;
      shift[j] = m.shift;
    }
    const layer: QuantLayer = {
      nIn, nOut, activation: l === last ? "none" : "relu",
      inScale: input.scale, inZeroPoint: input.zeroPoint, outScale, outZeroPoint: out.zeroPoint,
      weights, bias, multiplier, shift, estimator: null,
    };
    const rank = options.ranks?.[l] ?? 0;
    const margin = Math.fround(options.margins?.[l] ?? 0);
    if (rank > 0 && l < last) {
      if (options.estimator === "identity") {
        if (rank !== nIn) throw new RangeError(`layer ${l}: the identity estimator has rank n_in = ${nIn}, asked for ${rank}`);
        layer.estimator = identityEstimator(layer, wScale, margin);
      } else {
        const layerInput = l === 0 ? calibration : outs[l - 1];
        const realBias = (j: number) => bias[j] * input.scale * wScale[j];
        layer.estimator = quantizeEstimator(svdFactors(fl.weight, nIn, nOut, rank), rank, nIn, nOut, layerInput, count, input.scale, realBias, margin);
      }
    }
    layers.push(layer);
    input = { scale: outScale, zeroPoint: out.zeroPoint };
  });
  return { layers };
}
