// In-memory forms of a model: float (training, import) and quantized (engine, .rgm).

/** One fully connected layer, torch nn.Linear layout: weight [nOut][nIn] row-major. */
export interface FloatLayer {
  nIn: number;
  nOut: number;
  weight: Float32Array;
  bias: Float32Array;
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
}

export interface QuantModel {
  layers: QuantLayer[];
}

/** Clamp range of a layer's int8 output: ReLU clamps at the zero point (real 0). */
export function activationRange(layer: QuantLayer): { actMin: number; actMax: number } {
  return { actMin: layer.activation === "relu" ? layer.outZeroPoint : -128, actMax: 127 };
}
