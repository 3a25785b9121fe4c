// Float training of the ReLU MLP the engine runs, with the low-rank estimator in the loop (Davis & Arel
// 2013): SGD + momentum, an L1 penalty on hidden activations, per-epoch top-k SVD factors that mask each
// hidden layer, best-on-validation selection. docs/TRAINING.md has the recipe and the measurements.
import { performance } from "node:perf_hooks";
import { UserError, type FloatModel } from "../../runtime/src/index.ts";
import { loadMnist, type MnistSet } from "../data/mnist.ts";
import { Rng } from "../model/random.ts";
import { addCounts, emptyCounts, JsCompute, type ComputeName, type EstimatorFactors, type EvalCounts, type MlpCompute } from "./compute.ts";
import { topKSvd, type LowRankFactors, type TopKSvdOptions } from "./svd.ts";
import { initTf, TfCompute } from "./tfjs.ts";
import { checkShiftAugment, shiftBatch, type ShiftAugment } from "./augment.ts";

export const DEFAULT_SIZES: readonly number[] = [784, 1000, 600, 400, 10];
/** Samples per forward pass when evaluating. */
const EVAL_CHUNK = 1000;

/** Samples: raw pixels (Uint8Array, scaled by 1/255) or inputs already in [0, 1] (Float32Array). */
export interface Samples {
  images: Uint8Array | Float32Array;
  labels: Uint8Array;
  count: number;
}

export interface BatchProgress {
  epoch: number;
  /** 1-based. */
  batch: number;
  batches: number;
  /** This batch's objective (cross-entropy + L1 penalty). */
  loss: number;
}

export interface EpochStats {
  epoch: number;
  /** Mean training objective over the epoch's batches (cross-entropy + L1 penalty). */
  loss: number;
  /** Validation error in [0, 1], with the estimator (if any) factored from the epoch's final weights. */
  valError: number;
  valLoss: number;
  /** Wall time of the whole epoch: SVD, steps, validation. */
  seconds: number;
  /** Of which spent in the top-k SVDs. */
  svdSeconds: number;
  lr: number;
  /** Per hidden layer, on the validation set (see FloatEval). */
  density: number[];
  computed: number[];
  recall: number[];
}

export interface TrainOptions {
  /** Layer widths, input first. Default [784, 1000, 600, 400, 10]. */
  sizes?: number[];
  /** Default 20. */
  epochs?: number;
  /** Default 100. */
  batchSize?: number;
  /** Initial learning rate. Default 0.05. */
  lr?: number;
  /** Per-epoch learning-rate factor: epoch e (1-based) uses lr·lrDecay^(e−1). Default 0.9. */
  lrDecay?: number;
  /** Default 0.9 (torch-style: v ← μv + g, w ← w − lr·v). */
  momentum?: number;
  /** λ of the activation penalty λ·(1/batch)·Σ_samples Σ_hidden units |h|. Default 0. */
  l1?: number | readonly number[];
  /** Estimator rank per hidden layer (0 or absent: that layer is dense). Default: none. */
  ranks?: number[];
  /** Seeds the weight init, the shuffles and the SVD sketches. Default 1. */
  seed?: number;
  /** Float compute. Default "wasm" (docs/TRAINING.md, "Compute"). */
  compute?: ComputeName;
  /** Default: MNIST "train" (55,000 digits). */
  train?: Samples;
  /** Default: MNIST "val" (the last 5,000 training digits). Never the test split. */
  val?: Samples;
  /** Start from these weights instead of a fresh init (its sizes win over `sizes`). */
  initial?: FloatModel;
  /** Stop after this many epochs without a new best validation error. Default: never. */
  patience?: number;
  svd?: TopKSvdOptions;
  /** Translate every training sample by a random offset each time it is used (validation: never). */
  augment?: ShiftAugment;
  onEpoch?: (stats: EpochStats) => void;
  onBatch?: (progress: BatchProgress) => void;
}

export interface TrainResult {
  /** The weights of the epoch with the lowest validation error (earliest on ties). */
  model: FloatModel;
  bestEpoch: number;
  valError: number;
  history: EpochStats[];
  /** Estimator factors of the returned model's hidden layers (null where dense). */
  factors: (LowRankFactors | null)[];
}

export interface FloatEval {
  count: number;
  /** Misclassified fraction. */
  error: number;
  /** Mean cross-entropy. */
  loss: number;
  /** Per hidden layer: fraction of units with non-zero output. */
  density: number[];
  /** Per hidden layer: fraction of units the estimator lets through (1 without one). */
  computed: number[];
  /** Per hidden layer: fraction of positive pre-activations that were computed (1 without an estimator). */
  recall: number[];
  /** (Σ_hidden [k·(nIn + nOut) + computed·nIn·nOut] + last layer's nIn·nOut) / Σ nIn·nOut. */
  macFraction: number;
}

/** He-normal weights (std √(2/nIn)) from `rng`, zero biases. */
export function initModel(sizes: readonly number[], rng: Rng): FloatModel {
  return {
    layers: sizes.slice(1).map((nOut, i) => {
      const nIn = sizes[i], std = Math.sqrt(2 / nIn);
      const weight = new Float32Array(nIn * nOut);
      for (let k = 0; k < weight.length; k++) weight[k] = rng.normal() * std;
      return { nIn, nOut, weight, bias: new Float32Array(nOut) };
    }),
  };
}

/** A compute of the given kind, initialised and ready to `load`. */
export async function createCompute(name: ComputeName): Promise<MlpCompute> {
  if (name === "js") return new JsCompute();
  await initTf(name);
  return new TfCompute(name);
}

/** Copies samples [from, from + n) in `order` (or in sequence) into `x` as floats in [0, 1]. */
export function fillInputs(data: Samples, nIn: number, x: Float32Array, labels: Uint8Array, from: number, n: number, order?: Int32Array): void {
  const u8 = data.images instanceof Uint8Array;
  for (let s = 0; s < n; s++) {
    const src = order ? order[from + s] : from + s;
    const o = src * nIn, d = s * nIn;
    if (u8) for (let i = 0; i < nIn; i++) x[d + i] = data.images[o + i] / 255;
    else x.set(data.images.subarray(o, o + nIn) as Float32Array, d);
    labels[s] = data.labels[src];
  }
}

function checkSamples(data: Samples, nIn: number, what: string): void {
  if (!(Number.isSafeInteger(data.count) && data.count > 0) || data.images.length < data.count * nIn || data.labels.length < data.count) {
    throw new UserError(`${what}: ${data.count} samples need ${data.count * nIn} inputs and ${data.count} labels, got ${data.images.length} and ${data.labels.length}`);
  }
}

/** Counts over all of `data` on `compute` (weights and factors already set). */
export function evaluateCounts(compute: MlpCompute, data: Samples, nIn: number, hidden: number): EvalCounts {
  const total = emptyCounts(hidden);
  const chunk = Math.min(EVAL_CHUNK, data.count);
  const x = new Float32Array(chunk * nIn), labels = new Uint8Array(chunk);
  for (let from = 0; from < data.count; from += chunk) {
    const n = Math.min(chunk, data.count - from);
    fillInputs(data, nIn, x, labels, from, n);
    addCounts(total, compute.evaluate(x, labels, n));
  }
  return total;
}

/** Turns counts into rates; `ranks[l]` = 0 for a dense layer. */
export function summarize(counts: EvalCounts, model: FloatModel, ranks: readonly number[]): FloatEval {
  const hidden = model.layers.slice(0, -1);
  const units = (l: number) => counts.count * model.layers[l].nOut;
  const computed = counts.layers.map((c, l) => c.computed / units(l));
  let macs = 0, dense = 0;
  model.layers.forEach((l, i) => {
    dense += l.nIn * l.nOut;
    const k = ranks[i] ?? 0;
    macs += i < hidden.length ? k * (l.nIn + l.nOut) + computed[i] * l.nIn * l.nOut : l.nIn * l.nOut;
  });
  return {
    count: counts.count,
    error: counts.errors / counts.count,
    loss: counts.lossSum / counts.count,
    density: counts.layers.map((c, l) => c.active / units(l)),
    computed,
    recall: counts.layers.map((c) => (c.positive ? c.positiveComputed / c.positive : 1)),
    macFraction: macs / dense,
  };
}

/** Top-k factors of every hidden layer with a rank > 0. */
export function estimatorFactors(model: FloatModel, ranks: readonly number[] | undefined, rng: Rng, svd?: TopKSvdOptions): (LowRankFactors | null)[] {
  return model.layers.slice(0, -1).map((l, i) => {
    const k = ranks?.[i] ?? 0;
    return k > 0 ? topKSvd(l.weight, l.nIn, l.nOut, k, rng, svd) : null;
  });
}

/**
 * Float evaluation of `model` on samples, optionally with the estimator in front of each hidden layer:
 * `factors` as given (e.g. `svdFactors` of toolchain/quantize/quantize.ts), else top-k factors for `ranks`.
 * @param images raw pixels (count × nIn bytes, scaled by 1/255) or float inputs
 */
export async function evaluateFloat(
  model: FloatModel, images: Uint8Array | Float32Array, labels: Uint8Array,
  opts: { ranks?: number[]; factors?: (EstimatorFactors | null)[]; compute?: ComputeName; seed?: number; svd?: TopKSvdOptions } = {},
): Promise<FloatEval> {
  const nIn = model.layers[0].nIn, hidden = model.layers.length - 1;
  const data = { images, labels, count: labels.length };
  checkSamples(data, nIn, "evaluateFloat");
  const factors = opts.factors ?? estimatorFactors(model, opts.ranks, new Rng(opts.seed ?? 1), opts.svd);
  const ranks = model.layers.slice(0, -1).map((l, i) => (factors[i] ? factors[i]!.at.length / l.nIn : 0));
  const compute = await createCompute(opts.compute ?? "wasm");
  try {
    compute.load(model);
    compute.setFactors(factors);
    return summarize(evaluateCounts(compute, data, nIn, hidden), model, ranks);
  } finally {
    compute.dispose();
  }
}

/** Fisher–Yates shuffle in place. */
export function shuffle(order: Int32Array, rng: Rng): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

export const mnistSamples = (m: MnistSet): Samples => ({ images: m.images, labels: m.labels, count: m.count });

/**
 * Trains a ReLU MLP on MNIST (or the given samples) and returns the best-on-validation weights.
 * With `ranks`, each hidden layer's output is multiplied by the mask (x·A·B + b > 0), A·B the top-k SVD
 * of the layer's current Wᵀ, refactored at the start of every epoch; the mask is a constant, so only
 * computed units get gradients. Same seed and compute, same weights (bit for bit on one machine).
 */
export async function trainMlp(opts: TrainOptions = {}): Promise<TrainResult> {
  const seed = opts.seed ?? 1;
  const initRng = new Rng(seed), shuffleRng = new Rng(seed ^ 0x5bd1e995), svdRng = new Rng(seed ^ 0x27d4eb2f), augRng = new Rng(seed ^ 0x165667b1);
  const start = opts.initial ?? initModel(opts.sizes ?? DEFAULT_SIZES, initRng);
  const sizes = [start.layers[0].nIn, ...start.layers.map((l) => l.nOut)];
  const hidden = sizes.length - 2, nIn = sizes[0];
  const epochs = opts.epochs ?? 20, batchSize = opts.batchSize ?? 100;
  const lr0 = opts.lr ?? 0.05, lrDecay = opts.lrDecay ?? 0.9, momentum = opts.momentum ?? 0.9;
  const ranks = Array.from({ length: hidden }, (_, i) => opts.ranks?.[i] ?? 0);
  const gated = ranks.some((k) => k > 0);
  const positive = (v: number, what: string, int = false) => {
    if (!(Number.isFinite(v) && v > 0 && (!int || Number.isInteger(v)))) throw new UserError(`${what} must be a positive ${int ? "integer" : "number"}, got ${v}`);
  };
  positive(epochs, "epochs", true);
  positive(batchSize, "batchSize", true);
  positive(lr0, "lr");
  positive(lrDecay, "lrDecay");
  if (!(momentum >= 0 && momentum < 1)) throw new UserError(`momentum must be in [0, 1), got ${momentum}`);
  const l1 = typeof opts.l1 === "object" ? [...opts.l1] : Array<number>(hidden).fill(opts.l1 ?? 0);
  if (l1.length !== hidden || !l1.every((v) => v >= 0)) throw new UserError(`l1 must be one number ≥ 0 or one per hidden layer (${hidden}), got ${l1.join(",")}`);
  if (opts.ranks && opts.ranks.length > hidden) throw new UserError(`ranks: ${opts.ranks.length} values for ${hidden} hidden layers`);
  ranks.forEach((k, i) => {
    const max = Math.min(sizes[i], sizes[i + 1]);
    if (!(Number.isInteger(k) && k >= 0 && k <= max)) throw new UserError(`ranks[${i}] must be an integer in [0, ${max}], got ${k}`);
  });
  const train = opts.train ?? mnistSamples(loadMnist("train"));
  const val = opts.val ?? mnistSamples(loadMnist("val"));
  checkSamples(train, nIn, "train");
  checkSamples(val, nIn, "val");
  if (opts.augment) checkShiftAugment(opts.augment, nIn);
  const classes = sizes[sizes.length - 1];
  for (const d of [train, val]) {
    const bad = d.labels.subarray(0, d.count).findIndex((y) => y >= classes);
    if (bad >= 0) throw new UserError(`label ${d.labels[bad]} at ${bad} exceeds the ${classes} output classes`);
  }

  const compute = await createCompute(opts.compute ?? "wasm");
  try {
    compute.load(start);
    const svdTimed = (model: FloatModel) => {
      const t0 = performance.now();
      const f = gated ? estimatorFactors(model, ranks, svdRng, opts.svd) : ranks.map(() => null);
      return { factors: f, seconds: (performance.now() - t0) / 1000 };
    };
    let { factors, seconds: pendingSvd } = svdTimed(start);
    const order = Int32Array.from({ length: train.count }, (_, i) => i);
    const x = new Float32Array(batchSize * nIn), labels = new Uint8Array(batchSize), scratch = new Float32Array(nIn);
    const batches = Math.ceil(train.count / batchSize);
    const history: EpochStats[] = [];
    let best = { epoch: 0, error: Infinity, model: start, factors };

    for (let epoch = 1; epoch <= epochs; epoch++) {
      const t0 = performance.now();
      const lr = lr0 * lrDecay ** (epoch - 1);
      compute.setFactors(factors);
      shuffle(order, shuffleRng);
      let lossSum = 0;
      for (let b = 0; b < batches; b++) {
        const from = b * batchSize, n = Math.min(batchSize, train.count - from);
        fillInputs(train, nIn, x, labels, from, n, order);
        if (opts.augment) shiftBatch(x, n, opts.augment, augRng, scratch);
        const loss = compute.step(x, labels, n, { lr, momentum, l1 });
        if (!Number.isFinite(loss)) throw new UserError(`training diverged at epoch ${epoch}, batch ${b + 1} (loss ${loss}); lower the learning rate`);
        lossSum += loss * n;
        opts.onBatch?.({ epoch, batch: b + 1, batches, loss });
      }

      // Refactor for validation (and the next epoch), then validate
      const model = compute.save();
      const svd = svdTimed(model);
      factors = svd.factors;
      compute.setFactors(factors);
      const v = summarize(evaluateCounts(compute, val, nIn, hidden), model, ranks);
      const stats: EpochStats = {
        epoch, loss: lossSum / train.count, valError: v.error, valLoss: v.loss,
        seconds: (performance.now() - t0) / 1000 + pendingSvd, svdSeconds: svd.seconds + pendingSvd, lr,
        density: v.density, computed: v.computed, recall: v.recall,
      };
      pendingSvd = 0;
      history.push(stats);
      if (v.error < best.error) best = { epoch, error: v.error, model, factors };
      opts.onEpoch?.(stats);
      if (opts.patience !== undefined && epoch - best.epoch >= opts.patience) break;
    }
    return { model: best.model, bestEpoch: best.epoch, valError: best.error, history, factors: best.factors };
  } finally {
    compute.dispose();
  }
}
