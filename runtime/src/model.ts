// In-memory forms of a model: float (training, import) and quantized (engine, .rgm).

/** One fully connected layer, torch nn.Linear layout: weight [nOut][nIn] row-major. */
export interface FloatLayer {
  nIn: number;
  nOut: number;
  weight: Float32Array;
  bias: Float32Array;
  /** Learned block policy of a hidden layer (Bengio et al. 2015), if trained with one. */
  gate?: FloatGate;
  /** Learned low-rank sign estimator of a hidden layer, if trained; else the quantizer uses the SVD. */
  estimator?: FloatEstimator;
}

/**
 * Block policy: unit j belongs to block floor(j / blockSize); the block is computed when
 * Σ_i s[i]·weight[b, i] + bias[b] > 0 (sigmoid > 1/2), s the layer's input; otherwise its
 * units are 0. Checkpoint tensors `layers.{i}.gate.weight` [nBlocks, nIn], `layers.{i}.gate.bias` [nBlocks].
 */
export interface FloatGate {
  /** ceil(nOut / nBlocks): checkpoints store only nBlocks, so block sizes are canonical. */
  blockSize: number;
  /** [nBlocks][nIn], nBlocks = ceil(nOut / blockSize). */
  weight: Float32Array;
  bias: Float32Array;
  /**
   * Routing gate (docs/FORMAT.md "Block gate"): k ∈ [1, nBlocks] opens exactly the k blocks with the largest
   * logit Σ_i s[i]·weight[b, i] + bias[b] (ties to the lower block), whatever their sign. Absent or 0: threshold gate.
   * Checkpoint tensor `layers.{i}.gate.top_k` [1] (I32; absent = 0).
   */
  topK?: number;
}

/**
 * Learned sign estimator: unit j is computed when Σ_r (Σ_i s[i]·at[r, i])·bt[j, r] + bias[j] + offset[j] > 0.
 * Same shapes as the quantizer's SVD factors. Checkpoint tensors `layers.{i}.est.a` [rank, nIn],
 * `layers.{i}.est.b` [nOut, rank], `layers.{i}.est.offset` [nOut].
 */
export interface FloatEstimator {
  rank: number;
  /** [rank][nIn]: the first factor, transposed. */
  at: Float32Array;
  /** [nOut][rank]: the second factor, transposed. */
  bt: Float32Array;
  /** [nOut]: learned shift of each unit's decision, added to the layer bias. */
  offset: Float32Array;
}

/** ReLU after every layer but the last. */
export interface FloatModel {
  layers: FloatLayer[];
}

export type Activation = "none" | "relu";
export const ACTIVATION_CODES: Record<Activation, number> = { none: 0, relu: 1 };

/** The int8 low-rank sign estimator of one hidden layer (docs/FORMAT.md, "Estimator"). */
export interface QuantEstimator {
  rank: number;
  /** int16 clamp of the projection t, [1, 32767] with rank·tMax·128 ≤ 2^31 − 1. */
  tMax: number;
  /** Real margin folded into threshold (informational). */
  margin: number;
  /** First factor, transposed: [rank][nIn]. */
  a: Int8Array;
  tMultiplier: Int32Array;
  tShift: Int32Array;
  /** Second factor, transposed: [nOut][rank]. */
  b: Int8Array;
  threshold: Int32Array;
}

/**
 * The int8 block gate of one hidden layer (docs/FORMAT.md, "Block gate"): block b (units
 * [b·blockSize, min((b+1)·blockSize, nOut))) is computed when
 * Σ_i (in[i] − inZp)·weights[b, i] > threshold[b] (or, with topK > 0, is among the topK largest
 * score − threshold); otherwise its units get the output zero point.
 */
export interface QuantGate {
  blockSize: number;
  /** ceil(nOut / blockSize). */
  blocks: number;
  /** [blocks][nIn] int8, per-block symmetric. */
  weights: Int8Array;
  /** int32[blocks], folds the policy bias. */
  threshold: Int32Array;
  /**
   * 0: threshold gate (block b open when score[b] > threshold[b]). k ∈ [1, blocks]: routing gate, exactly the k
   * blocks with the largest score[b] − threshold[b] (exact, ties to the lower block) are open (format v4).
   */
  topK: number;
}

export interface QuantLayer {
  nIn: number;
  nOut: number;
  activation: Activation;
  inScale: number;
  inZeroPoint: number;
  outScale: number;
  outZeroPoint: number;
  /** [nOut][nIn] int8, per-unit symmetric. */
  weights: Int8Array;
  bias: Int32Array;
  multiplier: Int32Array;
  shift: Int32Array;
  estimator: QuantEstimator | null;
  /** Block gate; a layer has an estimator or a gate, never both. Absent in v1 files (null). */
  gate?: QuantGate | null;
}

/**
 * Per-feature input quantization (format v3, docs/FORMAT.md "Input quantization"): feature i of a float
 * input is q_i = clamp(round_half_away((x_i − offset[i]) / scale[i]) + layers[0].inZeroPoint, −128, 127),
 * in f64. Without it (v1, v2) every feature uses layers[0].inScale and offset 0.
 */
export interface InputFeatures {
  /** [nIn] f32, finite, > 0. */
  scale: Float32Array;
  /** [nIn] f32, finite. */
  offset: Float32Array;
}

export interface QuantModel {
  layers: QuantLayer[];
  /** Per-feature input quantization (v3); absent or null: one scale, layers[0].inScale, offset 0. */
  inputFeatures?: InputFeatures | null;
}

/** Clamp range of a layer's int8 output: ReLU clamps at the zero point (real 0). */
export function activationRange(layer: QuantLayer): { actMin: number; actMax: number } {
  return { actMin: layer.activation === "relu" ? layer.outZeroPoint : -128, actMax: 127 };
}

/** MACs of a layer's gating decision per sample: rank·(n_in + n_out) for an estimator, blocks·n_in for a gate. */
export function gateMacs(layer: QuantLayer): number {
  if (layer.estimator) return layer.estimator.rank * (layer.nIn + layer.nOut);
  if (layer.gate) return layer.gate.blocks * layer.nIn;
  return 0;
}
