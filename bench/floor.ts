// The MAC floor of gated + zero-skip inference: the MACs `rankgate eval` counts for it (toolchain/evaluate/evaluate.ts
// macs_per_sample.gated_zero_skip: every dot product over the layer's non-zero inputs only, the estimator's
// second stage whole), per sample on the bench's digits, timed at the same run's dense SIMD rate.
import { Engine } from "../runtime/src/runtime.ts";

/** eval's gated + zero-skip MACs per sample over x's samples, from a trace engine (exact counts, not 8-input chunks). */
export async function gatedZeroSkipMacs(modelBytes: Uint8Array, x: Float32Array): Promise<number> {
  const engine = await Engine.load(modelBytes, { trace: true });
  const layers = engine.model.layers, n = engine.inputSize, count = x.length / n;
  let macs = 0;
  for (let s = 0; s < count; s++) {
    const st = engine.infer(x.subarray(s * n, (s + 1) * n), { gating: true }).stats;
    layers.forEach((layer, l) => {
      const g = st.layers[l], rank = layer.estimator?.rank ?? 0, blocks = layer.gate?.blocks ?? 0;
      macs += (rank > 0 ? g.nonzeroInputs * rank + rank * layer.nOut : 0) + g.nonzeroInputs * blocks + g.rowsComputed * g.nonzeroInputs;
    });
  }
  return macs / count;
}

export interface Floor {
  /** eval's gated + zero-skip MACs per sample. */
  macs: number;
  /** Dense SIMD rate of this run: dense MACs per sample / dense SIMD µs per sample, in GMAC/s. */
  denseGmacs: number;
  /** µs per sample: macs at denseGmacs. */
  us: number;
}

export function macFloor(macs: number, denseMacs: number, denseUs: number): Floor {
  const denseGmacs = denseMacs / denseUs / 1000;
  return { macs, denseGmacs, us: macs / denseGmacs / 1000 };
}
