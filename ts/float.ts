// Float forward pass of an MLP (ReLU between layers), used for calibration and as the float reference.
import type { FloatModel } from "./model.ts";

/** y[s][j] = b[j] + Σ_i x[s][i]·W[j][i], for `count` samples. */
export function linear(x: Float32Array, count: number, nIn: number, weight: Float32Array, bias: Float32Array, nOut: number): Float32Array {
  const y = new Float32Array(count * nOut);
  for (let s = 0; s < count; s++) {
    const xo = s * nIn;
    for (let j = 0; j < nOut; j++) {
      const wo = j * nIn;
      let acc = bias[j];
      for (let i = 0; i < nIn; i++) acc += x[xo + i] * weight[wo + i];
      y[s * nOut + j] = acc;
    }
  }
  return y;
}

/**
 * Runs `count` samples through the model. Returns each layer's output (after ReLU for hidden
 * layers, pre-activation for the last) so calibration can read every tensor's range.
 */
export function forwardFloat(model: FloatModel, x: Float32Array, count: number): Float32Array[] {
  const outs: Float32Array[] = [];
  let a = x;
  model.layers.forEach((layer, l) => {
    const y = linear(a, count, layer.nIn, layer.weight, layer.bias, layer.nOut);
    if (l < model.layers.length - 1) for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = 0;
    outs.push(y);
    a = y;
  });
  return outs;
}

export function range(v: Float32Array): { min: number; max: number } {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (v[i] < min) min = v[i];
    if (v[i] > max) max = v[i];
  }
  return { min, max };
}
