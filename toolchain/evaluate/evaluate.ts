// Evaluation of a quantized model on data: error (float, int8 dense, int8 gated) when the data has labels,
// top-1 agreement and output SNR against the float model when one is given, input values clamped by the
// input quantization, multiply-accumulates per sample under five schedules, and per-layer gating statistics.
// Every figure comes from the Wasm engine's own counters (trace mode); the TS reference
// re-runs every sample and must produce the same logits.
import { forwardFloat } from "../model/float.ts";
import { type FloatModel, type QuantModel, featureY, quantizeModelInput, run_s8, InputError, addStats, argmax, emptyStats, Engine, type InferStats } from "../../runtime/src/index.ts";
import type { TargetProfile } from "../../sim/profile.ts";
import type { PerSchedule } from "../../sim/cost.ts";
import { cycleVerdict, type CycleVerdict } from "../../sim/target-cost.ts";

export interface LayerReport {
  n_in: number;
  n_out: number;
  rank: number;
  /** Block gate: units per block and blocks (0 without one). */
  block_size: number;
  blocks: number;
  /** Top-k (routing) gate: k blocks open per sample; absent for a threshold gate or none (so older reports are unchanged). */
  top_k?: number;
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
  /**
   * Real range the int8 input covers: [(−128 − zp)·scale, (127 − zp)·scale]; per feature, the envelope of the
   * features' ranges [o_i + (−128 − zp)·s_i, o_i + (127 − zp)·s_i].
   */
  calibrated: { min: number; max: number };
  /** "per-feature" for a v3 model (a scale and offset per feature), else "per-tensor". */
  quantization: "per-tensor" | "per-feature";
  /** Features with at least one clamped value. */
  features_clamped: number;
  /** Features whose values vary in the data but all quantize to one int8 level (the input carries nothing). */
  features_one_level: number;
}

/** One cause the int8 guard found for int8 dense losing to float. */
export type GuardCause =
  | { kind: "inputs_one_level"; features: number; of: number; examples: number[] }
  | { kind: "inputs_clamped"; fraction: number; features: number; of: number }
  | { kind: "layer_collapsed"; layer: number; units: number; of: number };

/**
 * The int8 guard: int8 dense against float on the data at hand. Triggered when int8 dense loses more than
 * GUARD_LOSS_PP percentage points of error against float (labelled data) or agrees with float's top-1 on less than
 * GUARD_MIN_AGREEMENT of the samples (no labels); `warning` then names the causes found.
 */
export interface GuardReport {
  triggered: boolean;
  /** int8 dense error − float error, in percentage points (null without labels). */
  loss_pp: number | null;
  /** Fraction of samples where int8 dense's top-1 equals float's. */
  agreement: number;
  causes: GuardCause[];
  /** The one-line warning (null when not triggered). */
  warning: string | null;
}

/** More than this many percentage points of int8 dense error over float triggers the guard. */
export const GUARD_LOSS_PP = 1;
/** Without labels: top-1 agreement below this triggers the guard. */
export const GUARD_MIN_AGREEMENT = 0.99;
/** A layer collapses when at least this share of its units that vary in float give one int8 value on every sample. */
const COLLAPSE_SHARE = 0.25;
/** Samples the guard's diagnosis looks at (the first ones). */
const GUARD_SAMPLES = 1000;

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
  /** The int8 guard (null without a float model): int8 dense against float, and the causes when it loses. */
  guard: GuardReport | null;
}

/** The report of labelled data: the int8 errors are numbers. */
export type LabelledEvalReport = EvalReport & { error: { float: number | null; int8_dense: number; int8_gated: number } };

export interface EvalOptions {
  float?: FloatModel;
  /** Re-run every sample through runtime/src/reference.ts and compare logits (default true). */
  reference?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Progress of the float pass (with `float`), before the engine's. */
  onFloatProgress?: (done: number, total: number) => void;
  /** Decide gating_pays by predicted cycles on this target (sim/target-cost.ts) and report cycles per schedule. */
  target?: TargetProfile;
  /** Without `target`: report this target's cycle verdict beside gating_pays (which MACs decide). */
  verdictTarget?: TargetProfile;
  /** Samples (the first) the cycle verdict prices. Default all. */
  cycleSamples?: number;
}

/** Fraction of input values above which `rankgate eval` warns about clamping. */
export const CLAMP_WARN_FRACTION = 0.01;

/**
 * Input values of `x` (samples of the model's n_in features) that quantize outside [−128, 127] with the model's
 * input quantization (per tensor or per feature), their range, and the features whose varying values all land on
 * one int8 level.
 */
export function inputClamps(x: Float32Array, model: QuantModel): InputReport {
  const l0 = model.layers[0], n = l0.nIn, zp = l0.inZeroPoint, f = model.inputFeatures ?? null;
  const s = (i: number) => (f ? f.scale[i] : l0.inScale), o = (i: number) => (f ? f.offset[i] : 0);
  let clamped = 0, min = Infinity, max = -Infinity;
  const fmin = new Float64Array(n).fill(Infinity), fmax = new Float64Array(n).fill(-Infinity);
  const qmin = new Int32Array(n).fill(1 << 30), qmax = new Int32Array(n).fill(-(1 << 30)), hit = new Uint8Array(n);
  for (let k = 0; k < x.length; k++) {
    const v = x[k], i = k % n;
    if (v < min) min = v;
    if (v > max) max = v;
    if (v < fmin[i]) fmin[i] = v;
    if (v > fmax[i]) fmax[i] = v;
    // The engine's arithmetic (reference twin), without the clamp
    const y = f ? featureY(v, f.offset[i], f.scale[i]) : v / l0.inScale, t = Math.trunc(y);
    const q = t + (Math.abs(y - t) >= 0.5 ? (y < 0 ? -1 : 1) : 0) + zp;
    if (q < -128 || q > 127) {
      clamped++;
      hit[i] = 1;
    }
    const c = q < -128 ? -128 : q > 127 ? 127 : q;
    if (c < qmin[i]) qmin[i] = c;
    if (c > qmax[i]) qmax[i] = c;
  }
  let lo = Infinity, hi = -Infinity, oneLevel = 0;
  for (let i = 0; i < n; i++) {
    lo = Math.min(lo, o(i) + (-128 - zp) * s(i));
    hi = Math.max(hi, o(i) + (127 - zp) * s(i));
    if (fmax[i] > fmin[i] && qmin[i] === qmax[i]) oneLevel++;
  }
  return {
    values: x.length, clamped, clamped_fraction: x.length ? clamped / x.length : 0,
    seen: x.length ? { min, max } : { min: 0, max: 0 },
    calibrated: { min: lo, max: hi },
    quantization: f ? "per-feature" : "per-tensor",
    features_clamped: hit.reduce((t, v) => t + v, 0),
    features_one_level: oneLevel,
  };
}

/** Features (indices) whose values vary in x but quantize to one level, at most `max` of them. */
function oneLevelFeatures(x: Float32Array, model: QuantModel, max: number): number[] {
  const n = model.layers[0].nIn, count = x.length / n, q = new Int8Array(x.length);
  for (let s = 0; s < count; s++) quantizeModelInput(model, x.subarray(s * n, (s + 1) * n), q.subarray(s * n, (s + 1) * n));
  const out: number[] = [];
  for (let i = 0; i < n && out.length < max; i++) {
    let varies = false, same = true;
    for (let s = 1; s < count; s++) {
      if (x[s * n + i] !== x[i]) varies = true;
      if (q[s * n + i] !== q[i]) same = false;
    }
    if (varies && same) out.push(i);
  }
  return out;
}

/**
 * The int8 guard on `count` samples: compares int8 dense (the engine, gating off) with the float model (int8 gated with
 * the gated float model when both carry block policies), and when it
 * loses more than GUARD_LOSS_PP (or, labels null, agrees on top-1 below GUARD_MIN_AGREEMENT) names what it finds:
 * input features rounded to one level, clamped inputs, layers whose int8 outputs stop varying where float's vary.
 * `known`: the float and int8 dense top-1 of the `count` samples when the caller has them (eval), so they are not run again.
 */
export async function int8Guard(bytes: Uint8Array, floatModel: FloatModel, x: Float32Array, labels: ArrayLike<number> | null, count: number, known?: { float: ArrayLike<number>; dense: ArrayLike<number> }): Promise<GuardReport> {
  // Like with like. A block policy is part of a float model: when the int8 file carries the gates too, int8 gated is
  // compared with the gated float model (what is deployed; a routed model's dense path is not a model); when it does
  // not (quantize checks the ungated file), the float model is compared without its gates.
  const engine = await Engine.load(bytes, { trace: true });
  const policy = floatModel.layers.some((l) => l.gate), gatedBoth = policy && engine.model.layers.some((l) => l.gate);
  const stripped = policy && !gatedBoth;
  const float: FloatModel = stripped ? { layers: floatModel.layers.map((l) => ({ ...l, gate: undefined })) } : floatModel;
  const model = engine.model, n = engine.inputSize, k = engine.outputSize;
  const m = Math.min(count, GUARD_SAMPLES);
  const outs = forwardFloat(float, x.subarray(0, m * n), m);
  const int8Labels = (!gatedBoth && known?.dense) || engine.inferBatch(x.subarray(0, count * n), { gating: gatedBoth }).labels;
  const floatLabels = (!stripped && known?.float) || floatTop1s();
  function floatTop1s(): Int32Array {
    const top = new Int32Array(count);
    for (let s = 0; s < count; s += 500) {
      const c = Math.min(500, count - s);
      const o = s === 0 && c <= m ? outs : forwardFloat(float, x.subarray(s * n, (s + c) * n), c);
      const logits = o[o.length - 1];
      for (let t = 0; t < c; t++) top[s + t] = argmax(logits.subarray(t * k, (t + 1) * k));
    }
    return top;
  }
  let agree = 0, wrongF = 0, wrongQ = 0;
  for (let s = 0; s < count; s++) {
    if (floatLabels[s] === int8Labels[s]) agree++;
    if (labels && floatLabels[s] !== labels[s]) wrongF++;
    if (labels && int8Labels[s] !== labels[s]) wrongQ++;
  }
  const lossPp = labels ? ((wrongQ - wrongF) / count) * 100 : null;
  const agreement = agree / count;
  const triggered = lossPp !== null ? lossPp > GUARD_LOSS_PP : agreement < GUARD_MIN_AGREEMENT;
  const causes: GuardCause[] = [];
  if (triggered) {
    const xs = x.subarray(0, m * n);
    const inputs = inputClamps(xs, model);
    if (inputs.features_one_level > 0) causes.push({ kind: "inputs_one_level", features: inputs.features_one_level, of: n, examples: oneLevelFeatures(xs, model, 5) });
    if (inputs.clamped_fraction > CLAMP_WARN_FRACTION) causes.push({ kind: "inputs_clamped", fraction: inputs.clamped_fraction, features: inputs.features_clamped, of: n });
    // Per layer: units whose int8 output is one value on every sample while the float unit spans more than two steps
    const layers = model.layers;
    const lo = layers.map((l) => new Int8Array(l.nOut).fill(127)), hi = layers.map((l) => new Int8Array(l.nOut).fill(-128));
    for (let s = 0; s < m; s++) {
      engine.infer(x.subarray(s * n, (s + 1) * n), { gating: gatedBoth });
      const t = engine.lastTrace();
      layers.forEach((_, l) => {
        const v = l + 1 < layers.length ? t.inputs[l + 1] : t.output;
        for (let j = 0; j < v.length; j++) {
          if (v[j] < lo[l][j]) lo[l][j] = v[j];
          if (v[j] > hi[l][j]) hi[l][j] = v[j];
        }
      });
    }
    layers.forEach((layer, l) => {
      let varying = 0, flat = 0;
      for (let j = 0; j < layer.nOut; j++) {
        let fmin = Infinity, fmax = -Infinity;
        for (let s = 0; s < m; s++) {
          const v = outs[l][s * layer.nOut + j];
          if (v < fmin) fmin = v;
          if (v > fmax) fmax = v;
        }
        if (fmax - fmin <= 2 * layer.outScale) continue;
        varying++;
        if (lo[l][j] === hi[l][j]) flat++;
      }
      if (flat > 0 && flat >= COLLAPSE_SHARE * varying) causes.push({ kind: "layer_collapsed", layer: l, units: flat, of: varying });
    });
  }
  const pct = (v: number) => `${(v * 100).toFixed(2)} %`;
  const what = lossPp !== null
    ? `int8 ${gatedBoth ? "gated" : "dense"} loses ${lossPp.toFixed(2)} pp against float (error ${pct(wrongQ / count)} vs ${pct(wrongF / count)} on ${count} samples)`
    : `int8 ${gatedBoth ? "gated" : "dense"} agrees with float's top-1 on only ${pct(agreement)} of ${count} samples`;
  const per = model.inputFeatures ? "per-feature" : "per-tensor";
  const say = (c: GuardCause): string => {
    if (c.kind === "inputs_one_level") {
      return `${c.features} of ${c.of} input features round to one int8 level (e.g. feature${c.examples.length > 1 ? "s" : ""} ${c.examples.join(", ")}): the ${per} input scale is too coarse for them${per === "per-tensor" ? "; quantize with --input-quant per-feature" : ""}`;
    }
    if (c.kind === "inputs_clamped") return `${pct(c.fraction)} of input values clamp (in ${c.features} of ${c.of} features): the data leaves the calibrated range; calibrate on data like this`;
    return `layer ${c.layer}'s output range collapses: ${c.units} of its ${c.of} units that vary in float give one int8 value on every sample`;
  };
  const warning = triggered
    ? `warning: ${what}: ${causes.length ? causes.map(say).join("; ") : "no input or layer cause found (look at the weights' and activations' ranges with rankgate inspect)"}`
    : null;
  return { triggered, loss_pp: lossPp, agreement, causes, warning };
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
  const denseTop1 = new Int32Array(count);
  for (let s = 0; s < count; s++) {
    const x = images.subarray(s * n, (s + 1) * n);
    const gated = engine.infer(x);
    add(gatedStats, gated.stats);
    if (labels && gated.label !== labels[s]) wrongGated++;
    compare(s, gated.logits, gated.label, "gated");
    if (checkReference) {
      quantizeModelInput(model, x, q);
      const ref = run_s8(model, q).output;
      if (ref.every((v, j) => v === gated.logits[j])) agree++;
    }
    const dense = engine.infer(x, { gating: false });
    denseTop1[s] = dense.label;
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
      n_in: layer.nIn, n_out: layer.nOut, rank, block_size: layer.gate?.blockSize ?? 0, blocks, ...(layer.gate?.topK ? { top_k: layer.gate.topK } : {}),
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
    inputs: inputClamps(images.subarray(0, count * n), model),
    gating_pays: options.target ? cycles!.verdict.pays : gatedModel ? macs.gated < macs.dense : null,
    gating_pays_cycles: cycles?.verdict ?? null,
    cycles_per_sample: options.target ? cycles!.sim.cycles_per_sample : null,
    macs_per_sample: macs,
    layers: report,
    reference_agreement: checkReference ? agree / count : null,
    guard: options.float ? await int8Guard(bytes, options.float, images, labels, count, { float: Int32Array.from({ length: count }, (_, s) => argmax(floatLogits!.subarray(s * k, (s + 1) * k))), dense: denseTop1 }) : null,
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
