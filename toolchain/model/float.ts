// Float forward pass of an MLP (ReLU between layers), used for calibration and as the float reference.
import type { FloatModel } from "../../runtime/src/index.ts";

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
 * Which blocks a float gate opens for one sample, from its policy logits (logits[at + b] = x·Z_b + d_b):
 * topK 0 (threshold gate) every block whose logit is > 0; topK k > 0 (routing gate) the k largest logits,
 * ties to the lower block (the int8 gate's rule, docs/FORMAT.md "Block gate"). open[b] = 1 for an open block.
 */
export function openBlocks(logits: ArrayLike<number>, at: number, blocks: number, topK: number, open: Uint8Array): Uint8Array {
  open.fill(0, 0, blocks);
  if (!topK) {
    for (let b = 0; b < blocks; b++) if (logits[at + b] > 0) open[b] = 1;
    return open;
  }
  for (let pass = 0; pass < topK; pass++) {
    let best = -1;
    for (let b = 0; b < blocks; b++) if (!open[b] && (best < 0 || logits[at + b] > logits[at + best])) best = b;
    open[best] = 1;
  }
  return open;
}

/**
 * Runs `count` samples through the model. Returns each layer's output (after ReLU for hidden
 * layers, pre-activation for the last) so calibration can read every tensor's range. A layer's
 * block policy is part of the model: blocks whose policy is ≤ 0 (or, with topK > 0, that are not among the
 * topK largest) output 0, as deployed.
 */
export function forwardFloat(model: FloatModel, x: Float32Array, count: number): Float32Array[] {
  const outs: Float32Array[] = [];
  let a = x;
  model.layers.forEach((layer, l) => {
    const y = linear(a, count, layer.nIn, layer.weight, layer.bias, layer.nOut);
    if (l < model.layers.length - 1) for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = 0;
    const g = layer.gate;
    if (g && l < model.layers.length - 1) {
      const blocks = g.bias.length;
      const policy = linear(a, count, layer.nIn, g.weight, g.bias, blocks);
      const open = new Uint8Array(blocks);
      for (let s = 0; s < count; s++) {
        openBlocks(policy, s * blocks, blocks, g.topK ?? 0, open);
        for (let b = 0; b < blocks; b++) if (!open[b]) y.fill(0, s * layer.nOut + b * g.blockSize, s * layer.nOut + Math.min((b + 1) * g.blockSize, layer.nOut));
      }
    }
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

/** The float model's argmax per sample (first maximum), in chunks of 500 samples. */
export function floatTop1(model: FloatModel, x: Float32Array, count: number): Int32Array {
  const n = model.layers[0].nIn, k = model.layers[model.layers.length - 1].nOut;
  const out = new Int32Array(count);
  for (let s = 0; s < count; s += 500) {
    const m = Math.min(500, count - s);
    const o = forwardFloat(model, x.subarray(s * n, (s + m) * n), m);
    const logits = o[o.length - 1];
    for (let i = 0; i < m; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
      out[s + i] = best;
    }
  }
  return out;
}
