// Evaluation of a quantized model on labelled data: error (float, int8 dense, int8 gated),
// multiply-accumulates per sample under five schedules, and per-layer gating statistics.
// Every figure comes from the Wasm engine's own counters (trace mode); the TS reference
// re-runs every sample and must produce the same logits.
import { forwardFloat } from "./float.ts";
import type { FloatModel } from "./model.ts";
import { quantizeInput } from "./quant.ts";
import { run_s8 } from "./reference.ts";
import { addStats, argmax, emptyStats, Engine, type InferStats } from "./runtime.ts";

export interface LayerReport {
  n_in: number;
  n_out: number;
  rank: number;
  /** Block gate: units per block and blocks (0 without one). */
  block_size: number;
  blocks: number;
  /** Mean fraction of units positive in the dense network (null for the output layer). */
  density: number | null;
  /** Fraction of the units positive on the gated network's input that the estimator computed. */
  recall: number | null;
  /** Mean fraction of units computed by the gated network. */
  computed: number;
  /** Mean fraction of the gated network's inputs to this layer that are non-zero. */
  input_nonzero: number;
  macs_dense: number;
  macs_gated: number;
}

export interface EvalReport {
  samples: number;
  error: { float: number | null; int8_dense: number; int8_gated: number };
  macs_per_sample: { dense: number; gated: number; gated_zero_skip: number; oracle: number; oracle_zero_skip: number };
  layers: LayerReport[];
  /** Fraction of samples whose gated logits from Wasm equal the TS reference's (null if not checked). */
  reference_agreement: number | null;
}

export interface EvalOptions {
  float?: FloatModel;
  /** Re-run every sample through ts/reference.ts and compare logits (default true). */
  reference?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Progress of the float pass (with `float`), after the engine's. */
  onFloatProgress?: (done: number, total: number) => void;
}

/** `images`: count × n_in real-valued inputs; `labels`: count class indices. */
export async function evaluateModel(bytes: Uint8Array, images: Float32Array, labels: ArrayLike<number>, count: number, options: EvalOptions = {}): Promise<EvalReport> {
  const engine = await Engine.load(bytes, { trace: true });
  const model = engine.model;
  const layers = model.layers;
  const n = engine.inputSize;
  const checkReference = options.reference ?? true;
  let wrongGated = 0, wrongDense = 0, agree = 0;
  const gatedStats = newTotals(layers.length), denseStats = newTotals(layers.length);
  const q = new Int8Array(n);
  for (let s = 0; s < count; s++) {
    const x = images.subarray(s * n, (s + 1) * n);
    const gated = engine.infer(x);
    add(gatedStats, gated.stats);
    if (gated.label !== labels[s]) wrongGated++;
    if (checkReference) {
      quantizeInput(x, engine.inputScale, engine.inputZeroPoint, q);
      const ref = run_s8(model, q).output;
      if (ref.every((v, j) => v === gated.logits[j])) agree++;
    }
    const dense = engine.infer(x, { gating: false });
    add(denseStats, dense.stats);
    if (dense.label !== labels[s]) wrongDense++;
    if (options.onProgress && ((s + 1) % 100 === 0 || s + 1 === count)) options.onProgress(s + 1, count);
  }

  let floatError: number | null = null;
  if (options.float) {
    let wrong = 0;
    for (let s = 0; s < count; s += 500) {
      const m = Math.min(500, count - s);
      const out = forwardFloat(options.float, images.subarray(s * n, (s + m) * n), m);
      const logits = out[out.length - 1];
      const k = options.float.layers[options.float.layers.length - 1].nOut;
      for (let i = 0; i < m; i++) if (argmax(logits.subarray(i * k, (i + 1) * k)) !== labels[s + i]) wrong++;
      options.onFloatProgress?.(s + m, count);
    }
    floatError = wrong / count;
  }

  const macs = { dense: 0, gated: 0, gated_zero_skip: 0, oracle: 0, oracle_zero_skip: 0 };
  const report: LayerReport[] = layers.map((layer, l) => {
    const g = gatedStats.stats.layers[l], d = denseStats.stats.layers[l];
    const relu = layer.activation === "relu";
    const rank = layer.estimator?.rank ?? 0;
    const blocks = layer.gate?.blocks ?? 0;
    const macsGated = (g.estimatorMacs + g.rowMacs) / count;
    macs.dense += layer.nIn * layer.nOut;
    macs.gated += macsGated;
    // Zero-input skipping: every dot product over the layer input touches only non-zero inputs
    macs.gated_zero_skip += ((rank > 0 ? g.nonzeroInputs * rank + count * rank * layer.nOut : 0) + g.nonzeroInputs * blocks + gatedStats.computedTimesNonzero[l]) / count;
    macs.oracle += relu ? (d.positive * layer.nIn) / count : layer.nIn * layer.nOut;
    macs.oracle_zero_skip += relu ? denseStats.positiveTimesNonzero[l] / count : (d.nonzeroInputs * layer.nOut) / count;
    return {
      n_in: layer.nIn, n_out: layer.nOut, rank, block_size: layer.gate?.blockSize ?? 0, blocks,
      density: relu ? d.positive / (count * layer.nOut) : null,
      recall: relu ? (g.positive > 0 ? g.positiveComputed / g.positive : 1) : null,
      computed: g.rowsComputed / (count * layer.nOut),
      input_nonzero: g.nonzeroInputs / (count * layer.nIn),
      macs_dense: layer.nIn * layer.nOut,
      macs_gated: macsGated,
    };
  });
  return {
    samples: count,
    error: { float: floatError, int8_dense: wrongDense / count, int8_gated: wrongGated / count },
    macs_per_sample: macs,
    layers: report,
    reference_agreement: checkReference ? agree / count : null,
  };
}

/** Engine counters summed over samples, plus the per-sample products the zero-skip schedules need. */
interface Totals {
  stats: InferStats;
  /** Per layer, Σ over samples of rowsComputed · nonzeroInputs (zero-skip row MACs). */
  computedTimesNonzero: number[];
  /** Per layer, Σ over samples of positive · nonzeroInputs (zero-skip MACs of the oracle). */
  positiveTimesNonzero: number[];
}

function newTotals(n: number): Totals {
  return { stats: emptyStats(n), computedTimesNonzero: new Array(n).fill(0), positiveTimesNonzero: new Array(n).fill(0) };
}

function add(t: Totals, s: InferStats): void {
  addStats(t.stats, s);
  s.layers.forEach((x, l) => {
    t.computedTimesNonzero[l] += x.rowsComputed * x.nonzeroInputs;
    t.positiveTimesNonzero[l] += x.positive * x.nonzeroInputs;
  });
}
