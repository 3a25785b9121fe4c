// Per-feature input standardization for fine-tuning: the trainer sees x' = (x − mean) / scale, the first
// layer (and its estimator) is rewritten to match, and folded back when the model is written, so the
// optimizer is equally conditioned whatever units the user's inputs are in. Scales are powers of two, so
// the weights fold both ways exactly; biases and offsets carry one float32 rounding. docs/TRAINING.md,
// "optimize", "Inputs in any units".
import type { FloatModel } from "../../runtime/src/index.ts";
import type { EstimatorFactors } from "./compute.ts";
import type { Samples } from "./trainer.ts";

/** x' = (x − mean) / scale per feature; `scale` holds powers of two. */
export interface InputStandard {
  mean: Float32Array;
  scale: Float32Array;
}

/** A feature's standard deviation is raised to at least the median positive one divided by this before rounding. */
export const STANDARD_FLOOR_DIVISOR = 4;

const pow2 = (v: number) => 2 ** Math.round(Math.log2(v));

/**
 * Mean and power-of-two scale of each feature of `d` (as the trainer reads it: bytes / 255 or floats). The
 * scale is the standard deviation rounded to a power of two, after raising it to the median positive
 * deviation / STANDARD_FLOOR_DIVISOR (a feature that is almost always the same, such as an image's border
 * pixel, would otherwise be blown up, and its weights with it); all-constant data keeps scale 1.
 */
export function inputStandard(d: Samples, nIn: number): InputStandard {
  const n = d.count, u8 = d.images instanceof Uint8Array;
  const sum = new Float64Array(nIn), sum2 = new Float64Array(nIn);
  for (let s = 0; s < n; s++) {
    const o = s * nIn;
    for (let i = 0; i < nIn; i++) {
      const v = u8 ? Math.fround(d.images[o + i] / 255) : d.images[o + i];
      sum[i] += v;
      sum2[i] += v * v;
    }
  }
  const mean = Float32Array.from(sum, (v) => v / n);
  const sigma = Array.from(sum2, (v, i) => Math.sqrt(Math.max(v / n - (sum[i] / n) ** 2, 0)));
  const positive = sigma.filter((v) => v > 0).sort((a, b) => a - b);
  const floor = positive.length ? positive[positive.length >> 1] / STANDARD_FLOOR_DIVISOR : 0;
  const scale = Float32Array.from(sigma, (v) => (floor > 0 ? pow2(Math.max(v, floor)) : 1));
  return { mean, scale };
}

/** The identity standard (mean 0, scale 1) of `nIn` features. */
export const identityStandard = (nIn: number): InputStandard => ({ mean: new Float32Array(nIn), scale: new Float32Array(nIn).fill(1) });

/** Standardizes the first `n` samples of `x` (n × nIn) in place. */
export function standardizeInputs(x: Float32Array, n: number, st: InputStandard): void {
  const nIn = st.mean.length;
  for (let s = 0; s < n; s++) {
    const o = s * nIn;
    for (let i = 0; i < nIn; i++) x[o + i] = (x[o + i] - st.mean[i]) / st.scale[i];
  }
}

/** Standardized float copies of samples (for code that reads a whole Samples, e.g. validation). */
export function standardizeSamples(d: Samples, st: InputStandard): Samples {
  const nIn = st.mean.length, u8 = d.images instanceof Uint8Array;
  const x = new Float32Array(d.count * nIn);
  for (let k = 0; k < x.length; k++) x[k] = u8 ? Math.fround(d.images[k] / 255) : d.images[k];
  standardizeInputs(x, d.count, st);
  return { images: x, labels: d.labels, count: d.count };
}

/** Σ_i row[i]·mean[i] of each of `rows` rows of `m` (rows × nIn), in f64. */
const rowDots = (m: ArrayLike<number>, rows: number, mean: Float32Array) => {
  const nIn = mean.length, out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < nIn; i++) s += m[r * nIn + i] * mean[i];
    out[r] = s;
  }
  return out;
};

/**
 * The first layer's estimator moved between input spaces: a·Aᵀ·Bᵀ + b + offset in one space equals
 * a'·A'ᵀ·Bᵀ + b' + offset' in the other, so offset' = offset + (mean·Aᵀ)·Bᵀ + b − b' with A' = A·scale
 * (`toStandard`) or its inverse.
 */
function moveFactors(f: EstimatorFactors, nOut: number, bias: Float32Array, biasTo: Float32Array, st: InputStandard, toStandard: boolean): { at: Float32Array; bt: Float32Array; offset: Float32Array } {
  const nIn = st.mean.length, rank = f.at.length / nIn;
  const at = Float32Array.from(f.at, (v, k) => (toStandard ? v * st.scale[k % nIn] : v / st.scale[k % nIn]));
  // mean·Aᵀ with A in the raw space
  const c = rowDots(toStandard ? f.at : at, rank, st.mean);
  const sign = toStandard ? 1 : -1;
  const offset = new Float32Array(nOut);
  for (let j = 0; j < nOut; j++) {
    let s = 0;
    for (let k = 0; k < rank; k++) s += c[k] * f.bt[j * rank + k];
    offset[j] = (f.offset ? f.offset[j] : 0) + sign * s + bias[j] - biasTo[j];
  }
  return { at, bt: Float32Array.from(f.bt), offset };
}

function moveModel(m: FloatModel, st: InputStandard, toStandard: boolean): FloatModel {
  const [l0, ...rest] = m.layers;
  const nIn = l0.nIn;
  if (st.mean.length !== nIn) throw new RangeError(`standardize: ${st.mean.length} features for a model of ${nIn} inputs`);
  const weight = Float32Array.from(l0.weight, (v, k) => (toStandard ? v * st.scale[k % nIn] : v / st.scale[k % nIn]));
  // b' = b + W·mean (W raw); b = b' − W·mean
  const wm = rowDots(toStandard ? l0.weight : weight, l0.nOut, st.mean);
  const bias = Float32Array.from(l0.bias, (b, j) => (toStandard ? b + wm[j] : b - wm[j]));
  const layer = { ...l0, weight, bias };
  if (l0.estimator) {
    const e = l0.estimator;
    layer.estimator = { rank: e.rank, ...moveFactors(e, l0.nOut, l0.bias, bias, st, toStandard) };
  }
  return { layers: [layer, ...rest] };
}

/** The model on standardized inputs that computes what `m` computes on raw ones (first layer and its estimator rewritten). */
export const standardizeModel = (m: FloatModel, st: InputStandard): FloatModel => moveModel(m, st, true);

/** The inverse of standardizeModel: the model on raw inputs. */
export const unstandardizeModel = (m: FloatModel, st: InputStandard): FloatModel => moveModel(m, st, false);

/**
 * Estimator factors of the raw-input model `raw` (per hidden layer) as the compute of the standardized
 * model needs them: the first layer's moved (its offset absorbs the mean), the others as they are.
 */
export function standardFactors(raw: FloatModel, factors: (EstimatorFactors | null)[], st: InputStandard): (EstimatorFactors | null)[] {
  const l0 = raw.layers[0];
  if (!factors[0]) return factors;
  const wm = rowDots(l0.weight, l0.nOut, st.mean);
  const biasStd = Float32Array.from(l0.bias, (b, j) => b + wm[j]);
  return [moveFactors(factors[0], l0.nOut, l0.bias, biasStd, st, true), ...factors.slice(1)];
}

/**
 * `raw` (weights on raw inputs) carrying the estimators `std` (the same net standardized) learned, moved to
 * raw inputs; raw's own weights and biases are kept bit for bit.
 */
export function moveEstimators(raw: FloatModel, std: FloatModel, st: InputStandard): FloatModel {
  return {
    layers: raw.layers.map((l, i) => {
      const e = std.layers[i].estimator;
      if (!e) return { ...l };
      return { ...l, estimator: i === 0 ? { rank: e.rank, ...moveFactors(e, l.nOut, std.layers[0].bias, l.bias, st, false) } : e };
    }),
  };
}
