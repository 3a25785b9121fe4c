// Random float MLPs, quantized and written as .rgm: core tests need no data set.
import { writeModel } from "./format.ts";
import type { FloatModel } from "./model.ts";
import { quantizeModel, type EstimatorKind } from "./quantize.ts";
import { Rng } from "./random.ts";

export interface SyntheticOptions {
  /** Layer widths, input first: [nIn, hidden..., nOut]. */
  sizes: number[];
  /** Estimator rank per layer (0: none); the last layer is never gated. */
  ranks?: number[];
  margins?: number[];
  estimator?: EstimatorKind;
  seed?: number;
  /** Calibration samples (default 64). */
  calibration?: number;
  /** Fraction of input values that are exactly zero, as in MNIST (default 0.5). */
  inputZeros?: number;
}

/** Inputs in [0, 1) with a share of exact zeros. */
export function syntheticInputs(rng: Rng, count: number, n: number, zeros = 0.5): Float32Array {
  const x = new Float32Array(count * n);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() < zeros ? 0 : rng.next();
  return x;
}

/** He-initialised weights with small random biases. */
export function syntheticFloat(rng: Rng, sizes: number[]): FloatModel {
  return {
    layers: sizes.slice(1).map((nOut, l) => {
      const nIn = sizes[l];
      const sd = Math.sqrt(2 / nIn);
      return {
        nIn, nOut,
        weight: Float32Array.from({ length: nOut * nIn }, () => rng.normal() * sd),
        bias: Float32Array.from({ length: nOut }, () => rng.normal() * 0.1),
      };
    }),
  };
}

export function buildSynthetic(options: SyntheticOptions) {
  const rng = new Rng(options.seed ?? 1);
  const float = syntheticFloat(rng, options.sizes);
  const count = options.calibration ?? 64;
  const calibration = syntheticInputs(rng, count, options.sizes[0], options.inputZeros);
  const model = quantizeModel(float, calibration, count, {
    ranks: options.ranks, margins: options.margins, estimator: options.estimator, inputRange: { min: 0, max: 1 },
  });
  return { float, model, bytes: writeModel(model), calibration, rng };
}
