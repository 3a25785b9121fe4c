// Evaluation of a quantized model on data: error (float, int8 dense, int8 gated) when the data has labels,
// top-1 agreement and output SNR against the float model when one is given, input values clamped by the
// input quantization, multiply-accumulates per sample under five schedules, and per-layer gating statistics.
// Every figure comes from the Wasm engine's own counters (trace mode); the TS reference
// re-runs every sample and must produce the same logits.
import { forwardFloat } from "./float.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { quantizeInput, roundHalfAway } from "../runtime/src/quant.ts";
import { run_s8 } from "../runtime/src/reference.ts";
import { InputError } from "../runtime/src/errors.ts";
import { addStats, argmax, emptyStats, Engine, type InferStats } from "../runtime/src/runtime.ts";
import type { TargetProfile } from "../firmware-sim/profile.ts";
import type { PerSchedule } from "../firmware-sim/cost.ts";
import { cycleVerdict, type CycleVerdict } from "./target-cost.ts";

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

/** How the int8 outputs match the float model's: same argmax, and 10·log10(Σ f² / Σ (f − q)²) over all logits. */
export interface Agreement {
  /** Fraction of samples whose argmax equals the float model's. */
  top1: number;
  /** Output SNR in dB (null when the dequantized logits equal the float ones exactly). */
  snr_db: number | null;
}

export interface InputReport {
  /** Input values seen (samples × n_in). */
  values: number;
  /** Values outside the input quantization's range (saturated to −128 or 127). */
  clamped: number;
  clamped_fraction: number;
  /** Range of the data. */
  seen: { min: number; max: number };
  /** Real range the int8 input covers: [(−128 − zp)·scale, (127 − zp)·scale]. */
  calibrated: { min: number; max: number };
}

export interface EvalReport {
  samples: number;
  /** Errors against the labels; every value null when the data has no labels (float also null without a float model). */
  error: { float: number | null; int8_dense: number | null; int8_gated: number | null };
  /** Whether the data had labels. */
  labelled: boolean;
  /** Agreement with the float model (null without one). */
  agreement: { int8_dense: Agreement; int8_gated: Agreement } | null;
  inputs: InputReport;
  /**
   * Gated MACs below dense MACs, or with `options.target` gated cycles below the dense model's on it
   * (gating_pays_cycles.pays); null when the model has no estimator or gate.
   */
  gating_pays: boolean | null;
  /** Cycles per inference on a target (options.target, else options.verdictTarget) against the dense model's; null without either. */
  gating_pays_cycles?: CycleVerdict | null;
  /** With options.target: predicted cycles per inference on it per schedule (firmware-sim, as `rankgate sim`). */
  cycles_per_sample?: PerSchedule | null;
  macs_per_sample: { dense: number; gated: number; gated_zero_skip: number; oracle: number; oracle_zero_skip: number };
  layers: LayerReport[];
  /** Fraction of samples whose gated logits from Wasm equal the TS reference's (null if not checked). */
  reference_agreement: number | null;
}

/** The report of labelled data: the int8 errors are numbers. */
export type LabelledEvalReport = EvalReport & { error: { float: number | null; int8_dense: number; int8_gated: number } };

export interface EvalOptions {
  float?: FloatModel;
  /** Re-run every sample through ts/reference.ts and compare logits (default true). */
  reference?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Progress of the float pass (with `float`), before the engine's. */
  onFloatProgress?: (done: number, total: number) => void;
  /** Decide gating_pays by predicted cycles on this target (ts/target-cost.ts) and report cycles per schedule. */
  target?: TargetProfile;
  /** Without `target`: report this target's cycle verdict beside gating_pays (which MACs decide). */
  verdictTarget?: TargetProfile;
  /** Samples (the first) the cycle verdict prices. Default all. */
  cycleSamples?: number;
}

/** Fraction of input values above which `rankgate eval` warns about clamping. */
export const CLAMP_WARN_FRACTION = 0.01;

/** Input values of `x` that quantize outside [−128, 127] with (scale, zeroPoint), and their range. */
export function inputClamps(x: Float32Array, scale: number, zeroPoint: number): InputReport {
  let clamped = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < min) min = v;
    if (v > max) max = v;
    const q = roundHalfAway(v / scale) + zeroPoint;
    if (q < -128 || q > 127) clamped++;
  }
  return {
    values: x.length, clamped, clamped_fraction: x.length ? clamped / x.length : 0,
    seen: x.length ? { min, max } : { min: 0, max: 0 },
    calibrated: { min: (-128 - zeroPoint) * scale, max: (127 - zeroPoint) * scale },
  };
}

function snrDb(signal: number, noise: number): number | null {
  if (noise === 0) return null;
  return signal === 0 ? -Infinity : 10 * Math.log10(signal / noise);
}

/**
 * `images`: count × n_in real-valued inputs; `labels`: count class indices, or null (then `options.float`
 * is needed: the report gives agreement with it instead of error).
 */
export async function evaluateModel(bytes: Uint8Array, images: Float32Array, labels: ArrayLike<number>, count: number, options?: EvalOptions): Promise<LabelledEvalReport>;
export async function evaluateModel(bytes: Uint8Array, images: Float32Array, labels: ArrayLike<number> | null, count: number, options?: EvalOptions): Promise<EvalReport>;
export async function evaluateModel(bytes: Uint8Array, images: Float32Array, labels: ArrayLike<number> | null, count: number, options: EvalOptions = {}): Promise<EvalReport> {
  if (!labels && !options.float) throw new InputError("evaluateModel: data without labels needs the float model (options.float) to compare with");
  const engine = await Engine.load(bytes, { trace: true });
  const model = engine.model;
  const layers = model.layers;
  const n = engine.inputSize;
  const checkReference = options.reference ?? true;
  let wrongGated = 0, wrongDense = 0, agree = 0;
  const gatedStats = newTotals(layers.length), denseStats = newTotals(layers.length);
  const q = new Int8Array(n);

  // Float reference: logits and labels
  const k = engine.outputSize;
  let floatLogits: Float32Array | null = null;
  if (options.float) {
    floatLogits = new Float32Array(count * k);
    for (let s = 0; s < count; s += 500) {
      const m = Math.min(500, count - s);
      const out = forwardFloat(options.float, images.subarray(s * n, (s + m) * n), m);
      floatLogits.set(out[out.length - 1], s * k);
      options.onFloatProgress?.(s + m, count);
    }
  }
  const outScale = engine.outputScale, outZp = engine.outputZeroPoint;
  const agreeCount = { dense: 0, gated: 0 }, signal = { v: 0 }, noise = { dense: 0, gated: 0 };
  const compare = (s: number, logits: Int8Array, label: number, which: "dense" | "gated") => {
    if (!floatLogits) return;
    const f = floatLogits.subarray(s * k, (s + 1) * k);
    if (argmax(f) === label) agreeCount[which]++;
    for (let j = 0; j < k; j++) {
      const e = f[j] - (logits[j] - outZp) * outScale;
      noise[which] += e * e;
      if (which === "dense") signal.v += f[j] * f[j];
    }
  };
  for (let s = 0; s < count; s++) {
    const x = images.subarray(s * n, (s + 1) * n);
    const gated = engine.infer(x);
    add(gatedStats, gated.stats);
    if (labels && gated.label !== labels[s]) wrongGated++;
    compare(s, gated.logits, gated.label, "gated");
    if (checkReference) {
      quantizeInput(x, engine.inputScale, engine.inputZeroPoint, q);
      const ref = run_s8(model, q).output;
      if (ref.every((v, j) => v === gated.logits[j])) agree++;
    }
    const dense = engine.infer(x, { gating: false });
    add(denseStats, dense.stats);
    if (labels && dense.label !== labels[s]) wrongDense++;
    compare(s, dense.logits, dense.label, "dense");
    if (options.onProgress && ((s + 1) % 100 === 0 || s + 1 === count)) options.onProgress(s + 1, count);
  }

  let floatError: number | null = null;
  if (floatLogits && labels) {
    let wrong = 0;
    for (let s = 0; s < count; s++) if (argmax(floatLogits.subarray(s * k, (s + 1) * k)) !== labels[s]) wrong++;
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
  const gatedModel = layers.some((l) => l.estimator || l.gate);
  const device = options.target ?? options.verdictTarget;
  const cycles = device ? await cycleVerdict(bytes, device, images, labels, Math.min(count, options.cycleSamples ?? count)) : null;
  return {
    samples: count,
    error: { float: floatError, int8_dense: labels ? wrongDense / count : null, int8_gated: labels ? wrongGated / count : null },
    labelled: !!labels,
    agreement: floatLogits
      ? {
          int8_dense: { top1: agreeCount.dense / count, snr_db: snrDb(signal.v, noise.dense) },
          int8_gated: { top1: agreeCount.gated / count, snr_db: snrDb(signal.v, noise.gated) },
        }
      : null,
    inputs: inputClamps(images.subarray(0, count * n), engine.inputScale, engine.inputZeroPoint),
    gating_pays: options.target ? cycles!.verdict.pays : gatedModel ? macs.gated < macs.dense : null,
    gating_pays_cycles: cycles?.verdict ?? null,
    cycles_per_sample: options.target ? cycles!.sim.cycles_per_sample : null,
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
