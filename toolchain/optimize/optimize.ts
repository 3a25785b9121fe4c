// One path from a user's float ReLU MLP and data to the cheapest gated int8 model within an accuracy
// budget: fine-tune with the estimator in the loop (SVD or learned), an L1 penalty on activations and
// distillation from the model's own logits; then search ranks and per-layer margins (in units of each
// layer's pre-activation standard deviation) on validation; quantize; keep every trial for the Pareto
// front. docs/TRAINING.md, "optimize".
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs-core";
import { UserError, showName, writeModel, type FloatModel, type QuantModel } from "../../runtime/src/index.ts";
import { linear } from "../model/float.ts";
import { Quantizer, quantizeGate, type EstimatorKind } from "../quantize/quantize.ts";
import { Rng } from "../model/random.ts";
import {
  chooseTrial, chooseWithinMacs, cyclesOf, DEFAULT_SAFETY, descendRanksMargins, gatedRun, isGated, macsOf, nearestTrial,
  rankLadder, scoreModel, searchRanks, type RankTrial, type SearchData,
} from "./rank-search.ts";
import { BLOCK_RECIPE, BLOCK_SIZES, BLOCK_TAUS, blockCandidates, blockKey, gateLogitSigmas, shiftGates, tuneBlockPolicy, type BlockCandidate } from "./block-search.ts";
import { featureRange } from "../data/index.ts";
import { renderSvg } from "../report/charts.ts";
import type { EstimatorFactors } from "../train/compute.ts";
import { hashBytes, isTrialOf, modelHash, WorkDir, type EpochRecord } from "./work-dir.ts";
import { GATE_CHOICES, type GateChoice, type GateKind, type Trial } from "./trial.ts";
import { transpose32 } from "../train/condnet.ts";
import { learnEstimators } from "../train/learned-estimator.ts";
import { initTf } from "../train/tfjs.ts";
import { checkShiftAugment, shiftBatch, type ShiftAugment } from "../train/augment.ts";
import { CycleMeter } from "../../sim/target-cost.ts";
import type { TargetProfile } from "../../sim/profile.ts";
import { createCompute, estimatorFactors, evaluateCounts, fillInputs, shuffle, summarize, type Samples } from "../train/trainer.ts";
import { inputStandard, moveEstimators, standardFactors, standardizeInputs, standardizeModel, standardizeSamples, unstandardizeModel } from "../train/standardize.ts";

/**
 * The defaults of `rankgate optimize`: the recipe measured on small nets (8×8 digits, breast_cancer) and on
 * MNIST (docs/TRAINING.md, "optimize"); the README's command adds only the data and the budget.
 */
export const OPTIMIZE_RECIPE = { estimator: "learned", epochs: 20, l1: 1e-3, lr: 0.01, lrDecay: 0.8, distill: { alpha: 0.5, temperature: 2 } } as const;

/** Training ranks by default: 5 % of each hidden layer's min(n_in, n_out), at least 8 (or that minimum, if smaller). */
export const defaultRanks = (m: FloatModel): number[] =>
  m.layers.slice(0, -1).map((l) => {
    const min = Math.min(l.nIn, l.nOut);
    return Math.max(Math.min(8, min), Math.ceil(0.05 * min));
  });

/** Margins tried per layer, in standard deviations of the layer's pre-activation (negative: compute more). */
export const MARGIN_CANDIDATES = [-1, -0.5, -0.25, -0.1, 0, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2];

export interface OptimizeOptions {
  /** The user's float model: the start of fine-tuning, the distillation teacher and the accuracy reference. */
  model: FloatModel;
  train: Samples;
  /** Validation samples: epoch selection, calibration (the first `calibration`) and the search. */
  val: Samples;
  /** Estimator rank per hidden layer in training; the search tries these and smaller ones. */
  ranks: number[];
  /** "svd": refreshed top-k SVD; "learned": sign-trained factors and offsets, relearned every epoch. Default "svd". The same as `gate` svd or learned. */
  estimator?: "svd" | "learned";
  /**
   * What gates the hidden rows: "svd" or "learned" estimators (as `estimator`), "block" policies
   * (toolchain/optimize/block-search.ts), or "auto": each of the three, the cheapest trial within the budget of all
   * (with `workDir`, each in its own subfolder). Default `estimator`.
   */
  gate?: GateChoice;
  /** With gate block or auto: block sizes tried (each fitted to every hidden layer). Default BLOCK_SIZES. */
  blockSizes?: number[];
  /** With gate block or auto: target block densities τ tried. Default BLOCK_TAUS. */
  blockTaus?: number[];
  /** Fine-tuning epochs (0: search the given model only). Default 3. */
  epochs?: number;
  /** Default 0.01. */
  lr?: number;
  /** Default 0.8. */
  lrDecay?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 100. */
  batchSize?: number;
  /** L1 on hidden activations, one per hidden layer (toolchain/train/trainer.ts convention). Default 0. */
  l1?: number[];
  /** Distillation weight and temperature; alpha 0 turns it off. Default alpha 0.5, T 2. */
  distill?: { alpha: number; temperature: number };
  /** Allowed int8 gated error over the input model's int8 dense error on `val`, in percentage points. */
  budgetPp: number;
  /**
   * A compute budget instead: choose the most accurate trial (lowest bound) whose MACs are at most this
   * fraction of dense, and search for it. `budgetPp` then only sets the reported target.
   */
  maxMacs?: number;
  /**
   * Standard errors charged on each trial's gating cost before it is compared with the target (see
   * Trial.bound). Default 1.645 (one-sided 95 %); 0 compares the validation error itself.
   */
  safety?: number;
  /** Margins to try, in σ of each layer's pre-activation. Default MARGIN_CANDIDATES. */
  margins?: number[];
  /** Calibration samples (the first of `val`). Default 1000. */
  calibration?: number;
  /** Epochs per layer of each learned-estimator refresh. Default 1. */
  estimatorEpochs?: number;
  /**
   * Weight of a positive unit in the learned estimator's loss (LearnEstimatorOptions.wPos): higher
   * computes more units with fewer misses, in training as in the search. Default 4.
   */
  wPos?: number;
  /**
   * Translate every training sample by a random offset each time it is used; the distillation targets
   * are then the input model's on the translated sample. Default: none.
   */
  augment?: ShiftAugment;
  /**
   * Fine-tune (and learn estimators) on per-feature standardized inputs, the first layer rewritten to
   * match and folded back into every model written (toolchain/train/standardize.ts), so the inputs' units do not
   * matter. Default true.
   */
  standardize?: boolean;
  /** Default 1. */
  seed?: number;
  /**
   * Price trials in predicted cycles per inference on this target (sim/target-cost.ts): the budget search
   * minimizes them instead of MACs, may set a layer's rank to 0, and never chooses a trial slower than dense.
   */
  target?: TargetProfile;
  /** A cycle budget (needs `target`): the most accurate trial within this fraction of dense cycles on it. */
  maxCycles?: number;
  /** Validation samples (the first) that price every trial on `target`. Default DEFAULT_CYCLE_SAMPLES. */
  cycleSamples?: number;
  /** Checkpoints after every epoch and the search's trials; a rerun with the same settings resumes. */
  workDir?: string;
  onEvent?: (e: OptimizeEvent) => void;
}

export type OptimizeEvent =
  | { stage: "reference"; denseError: number; target: number }
  | { stage: "batch"; epoch: number; epochs: number; batch: number; batches: number; loss: number }
  | { stage: "epoch"; epoch: number; epochs: number; loss: number; valError: number; macFraction: number; density: number[]; computed: number[]; seconds: number; resumed: boolean }
  | { stage: "estimator"; epoch: number; seconds: number }
  | { stage: "trial"; trial: Trial; cached: boolean }
  | { stage: "block"; block: string; epoch: number; epochs: number; valError: number; macFraction: number; blockDensity: number[]; seconds: number; resumed: boolean }
  | { stage: "gate"; gate: GateKind }
  | { stage: "warning"; message: string };

/** Under this many validation samples optimize warns that its choice may not hold on unseen data. */
export const SMALL_VALIDATION = 1000;
/** optimize warns when the input's int8 dense validation error exceeds its float error by more than this. */
export const INT8_LOSS_WARNING = 0.02;

export { GATE_CHOICES, type GateChoice, type GateKind, type Trial } from "./trial.ts";

/** One fine-tuning epoch's record (kept in its checkpoint; defined beside the work folder that checks it). */
export type { EpochRecord };

export interface OptimizeResult {
  /** The chosen trial: the fewest MACs within the budget (the input's dense int8 model if nothing else is). */
  best: Trial;
  /**
   * With a budget, when no gated trial met the target (best is the input's dense model): the gated trial
   * with the lowest bound (fewest MACs on ties); else null.
   */
  unmet: Trial | null;
  /** Lines the caller should show, e.g. that validation is small (also sent as "warning" events). */
  warnings: string[];
  /** Its .rgm bytes. */
  rgm: Uint8Array;
  /** Its float model (with learned estimators when it uses them). */
  float: FloatModel;
  denseError: number;
  target: number;
  trials: Trial[];
  /** Trials no other trial beats in both error and MACs, by MACs. */
  front: Trial[];
  history: EpochRecord[];
  bestEpoch: number;
  /** The block policies fine-tuned (gate block or auto): each one's best epoch and thresholded float validation. */
  blockRuns?: { block: string; bestEpoch: number; valError: number | null; macFraction: number | null; resumed: boolean }[];
  /** With a target and no cycle or MAC cap: no trial within the budget takes fewer cycles than dense, so `best` is dense. */
  gatingDoesNotPay?: boolean;
}

const strip = (m: FloatModel): FloatModel => ({ layers: m.layers.map(({ gate: _g, estimator: _e, ...l }) => ({ ...l })) });

const slice = (d: Samples, n: number, nIn: number): Samples => {
  const count = Math.min(n, d.count);
  return { images: d.images.subarray(0, count * nIn), labels: d.labels.subarray(0, count), count };
};

/** Samples as float inputs (bytes as /255, as the MNIST loaders give them). */
export const toFloat = (d: Samples, nIn: number): Float32Array => {
  if (d.images instanceof Float32Array) return d.images.subarray(0, d.count * nIn);
  const x = new Float32Array(d.count * nIn);
  for (let i = 0; i < x.length; i++) x[i] = d.images[i] / 255;
  return x;
};

/** A float model held as TF.js wasm tensors that gives softmax(logits / T) for batches of inputs. */
export class Teacher {
  private readonly w: { wt: tf.Tensor2D; b: tf.Tensor1D }[];
  readonly nIn: number;
  readonly classes: number;
  private constructor(model: FloatModel) {
    this.nIn = model.layers[0].nIn;
    this.classes = model.layers[model.layers.length - 1].nOut;
    this.w = model.layers.map((l) => ({ wt: tf.tensor2d(transpose32(l.weight, l.nOut, l.nIn), [l.nIn, l.nOut]), b: tf.tensor1d(l.bias) }));
  }
  static async create(model: FloatModel): Promise<Teacher> {
    await initTf("wasm");
    return new Teacher(model);
  }
  /** softmax(logits / T) of the first `n` inputs of `x` (n × nIn floats), n × classes. */
  soften(x: Float32Array, n: number, temperature: number): Float32Array {
    const w = this.w, nIn = this.nIn;
    const p = tf.tidy(() => {
      let a: tf.Tensor2D = tf.tensor2d(x.subarray(0, n * nIn), [n, nIn]);
      w.forEach((l, i) => {
        a = i < w.length - 1 ? (tf.fused.matMul({ a, b: l.wt, bias: l.b, activation: "relu" }) as tf.Tensor2D) : tf.add(tf.matMul(a, l.wt), l.b);
      });
      return tf.softmax(tf.div(a, temperature));
    });
    const out = p.dataSync() as Float32Array;
    p.dispose();
    return out;
  }
  dispose(): void {
    for (const l of this.w) tf.dispose([l.wt, l.b]);
  }
}

/** softmax(logits / T) of `model` on every sample of `data` (TF.js wasm). */
export async function softTargets(model: FloatModel, data: Samples, temperature: number): Promise<Float32Array> {
  const teacher = await Teacher.create(model);
  const nIn = teacher.nIn, nCls = teacher.classes;
  const out = new Float32Array(data.count * nCls);
  const chunk = 1000, x = new Float32Array(chunk * nIn), labels = new Uint8Array(chunk);
  try {
    for (let from = 0; from < data.count; from += chunk) {
      const n = Math.min(chunk, data.count - from);
      fillInputs(data, nIn, x, labels, from, n);
      out.set(teacher.soften(x, n, temperature), from * nCls);
    }
  } finally {
    teacher.dispose();
  }
  return out;
}

/**
 * Per hidden layer, the standard deviation over `count` samples of the dense float pre-activations, or
 * with `learned` of the learned estimator's decision value (its logits are on their own scale).
 */
export function preActivationSigmas(model: FloatModel, x: Float32Array, count: number, learned = false): number[] {
  const sigmas: number[] = [];
  let a = x;
  model.layers.slice(0, -1).forEach((l) => {
    const z = linear(a, count, l.nIn, l.weight, l.bias, l.nOut);
    const e = learned && l.estimator ? l.estimator : null;
    const d = e ? linear(linear(a, count, l.nIn, e.at, new Float32Array(e.rank), e.rank), count, e.rank, e.bt, Float32Array.from(l.bias, (b, j) => b + e.offset[j]), l.nOut) : z;
    let s = 0, s2 = 0;
    for (const v of d) { s += v; s2 += v * v; }
    const mean = s / d.length;
    sigmas.push(Math.sqrt(Math.max(s2 / d.length - mean * mean, 0)) || 1);
    a = z.map((v) => (v > 0 ? v : 0));
  });
  return sigmas;
}

/** Non-dominated trials (no other has both lower-or-equal error and MACs, one strictly), by MACs. */
export function paretoFront(trials: Trial[]): Trial[] {
  const sorted = [...trials].sort((a, b) => a.macsRatio - b.macsRatio || a.error - b.error);
  const front: Trial[] = [];
  for (const t of sorted) if (!front.length || t.error < front[front.length - 1].error) front.push(t);
  return front;
}

/** Per gate kind present among `trials` (svd, learned, block), the Pareto front of that kind's trials alone. */
export function frontsByGate(trials: Trial[]): Partial<Record<GateKind, Trial[]>> {
  const out: Partial<Record<GateKind, Trial[]>> = {};
  for (const g of ["svd", "learned", "block"] as const) {
    const mine = trials.filter((t) => t.gate === g);
    if (mine.length) out[g] = paretoFront(mine);
  }
  return out;
}

/** Learned estimators of `model` at `ranks` as compute factors (offset included), plus the model carrying them. */
async function learnedFactors(model: FloatModel, ranks: number[], train: Samples, epochs: number, seed: number, wPos: number, init?: FloatModel) {
  const { model: withEst } = await learnEstimators({ model, ranks, epochs, match: "none", seed, train, init, wPos });
  const factors: (EstimatorFactors | null)[] = withEst.layers.slice(0, -1).map((l) => (l.estimator ? { at: l.estimator.at, bt: l.estimator.bt, offset: l.estimator.offset } : null));
  return { factors, model: withEst };
}

/**
 * The epoch the search starts from, by the same rule as the final choice applied to each epoch's float
 * gated validation point (margin 0): with a target, the fewest MACs among epochs whose error is within
 * it (none: the lowest error); with a MAC cap, the lowest error among epochs within the cap (none: the
 * fewest MACs, the least margin to add). Ties go to the earlier epoch. 1-based. Each epoch is ranked on
 * its own record, so the choice among epochs 1..e+1 is the choice among 1..e or epoch e+1: a caller can
 * drop every other epoch's weights as it goes.
 */
export function chooseEpoch(history: readonly EpochRecord[], goal: { target: number } | { maxMacs: number }): number {
  if (!history.length) throw new RangeError("chooseEpoch: no epochs");
  const byError = (a: EpochRecord, b: EpochRecord) => a.valError - b.valError || a.macFraction - b.macFraction || a.epoch - b.epoch;
  const byMacs = (a: EpochRecord, b: EpochRecord) => a.macFraction - b.macFraction || a.valError - b.valError || a.epoch - b.epoch;
  const pick = (rs: readonly EpochRecord[], order: (a: EpochRecord, b: EpochRecord) => number) => [...rs].sort(order)[0].epoch;
  if ("target" in goal) {
    const within = history.filter((r) => r.valError <= goal.target);
    return within.length ? pick(within, byMacs) : pick(history, byError);
  }
  const within = history.filter((r) => r.macFraction <= goal.maxMacs);
  return within.length ? pick(within, byError) : pick(history, byMacs);
}

/** A fingerprint of everything that determines the fine-tuned weights (epochs excluded: more epochs extend a run). */
function fingerprint(o: OptimizeOptions, model: FloatModel, train: Samples, val: Samples, gate: GateKind): string {
  const h = hashBytes;
  return JSON.stringify({
    sizes: [model.layers[0].nIn, ...model.layers.map((l) => l.nOut)], weights: model.layers.map((l) => [h(l.weight), h(l.bias)]),
    train: [train.count, h(train.images), h(train.labels)], val: [val.count, h(val.images), h(val.labels)],
    ranks: o.ranks, estimator: o.estimator ?? "svd", lr: o.lr ?? 0.01, lrDecay: o.lrDecay ?? 0.8, momentum: o.momentum ?? 0.9,
    batchSize: o.batchSize ?? 100, l1: o.l1 ?? null, distill: o.distill ?? null, estimatorEpochs: o.estimatorEpochs ?? 1, seed: o.seed ?? 1,
    ...(o.augment ? { augment: o.augment } : {}),
    // Inputs standardized per feature (or not); flips counted against the input's dense int8 model
    standardize: o.standardize ?? true, flips: "input",
    // Learned estimators continue from the previous epoch's (runs before this trained each from the SVD)
    // Block policies: their candidates (svd and learned runs keep the fingerprint they had)
    ...(gate === "block" ? { gate, blockSizes: o.blockSizes ?? BLOCK_SIZES, blockTaus: o.blockTaus ?? BLOCK_TAUS, blockTrainer: BLOCK_RECIPE } : {}),
    ...((o.estimator ?? "svd") === "learned" ? { estimatorStart: "previous", ...(o.wPos !== undefined && o.wPos !== 4 ? { wPos: o.wPos } : {}) } : {}),
  });
}

function validate(o: OptimizeOptions, hidden: number, sizes: number[]): void {
  if (o.ranks.length !== hidden) throw new UserError(`ranks: ${o.ranks.length} values for ${hidden} hidden layers`);
  o.ranks.forEach((k, i) => {
    const max = Math.min(sizes[i], sizes[i + 1]);
    if (!(Number.isInteger(k) && k >= 1 && k <= max)) throw new UserError(`ranks[${i}] must be an integer in [1, ${max}], got ${k}`);
  });
  if (o.l1 && (o.l1.length !== hidden || !o.l1.every((v) => v >= 0 && Number.isFinite(v)))) throw new UserError(`l1 needs ${hidden} values ≥ 0 (one per hidden layer), got ${o.l1.join(",")}`);
  if (!(o.budgetPp >= 0 && Number.isFinite(o.budgetPp))) throw new UserError(`budget must be a number ≥ 0, got ${o.budgetPp}`);
  const d = o.distill;
  if (d && !(d.alpha >= 0 && d.alpha <= 1 && d.temperature > 0 && Number.isFinite(d.temperature))) throw new UserError(`distillation needs alpha in [0, 1] and a temperature > 0, got ${d.alpha} and ${d.temperature}`);
  const epochs = o.epochs ?? 3;
  if (!(Number.isInteger(epochs) && epochs >= 0)) throw new UserError(`epochs must be an integer ≥ 0, got ${epochs}`);
  if (o.wPos !== undefined && !(o.wPos > 0 && Number.isFinite(o.wPos))) throw new UserError(`wPos must be a number > 0, got ${o.wPos}`);
  if (o.maxMacs !== undefined && !(o.maxMacs > 0 && o.maxMacs <= 1)) throw new UserError(`maxMacs must be a fraction of dense MACs in (0, 1], got ${o.maxMacs}`);
  if (o.maxCycles !== undefined && !o.target) throw new UserError("maxCycles is a fraction of dense cycles on a target: give the target (--target <name>)");
  if (o.maxCycles !== undefined && !(o.maxCycles > 0 && o.maxCycles <= 1)) throw new UserError(`maxCycles must be a fraction of dense cycles in (0, 1], got ${o.maxCycles}`);
  if (o.maxCycles !== undefined && o.maxMacs !== undefined) throw new UserError("maxMacs and maxCycles exclude each other");
  if (o.safety !== undefined && !(o.safety >= 0 && Number.isFinite(o.safety))) throw new UserError(`safety must be a number ≥ 0, got ${o.safety}`);
  if (o.augment) checkShiftAugment(o.augment, sizes[0]);
  if (o.margins && (!o.margins.length || !o.margins.every(Number.isFinite))) throw new UserError(`margins must be a non-empty list of numbers`);
  for (const [what, d2] of [["train", o.train], ["val", o.val]] as const) {
    if (!(d2.count > 0) || d2.images.length < d2.count * sizes[0] || d2.labels.length < d2.count) throw new UserError(`${what}: ${d2.count} samples need ${d2.count * sizes[0]} inputs and ${d2.count} labels`);
    const classes = sizes[sizes.length - 1];
    const bad = d2.labels.subarray(0, d2.count).findIndex((y) => y >= classes);
    if (bad >= 0) throw new UserError(`${what}: label ${d2.labels[bad]} at sample ${bad} exceeds the model's ${classes} outputs`);
  }
}

/** Options of a rerun after a cached trial did not reproduce: its search ignores trials.json. */
const IGNORE_TRIAL_CACHE = new WeakSet<OptimizeOptions>();

/** What the steps of one run (gate svd, learned or block) share: the options read once, the data, the input's int8 dense reference. */
interface Run {
  o: OptimizeOptions;
  /** The user's model without gates or estimators. */
  input: FloatModel;
  sizes: number[];
  hidden: number;
  nIn: number;
  gate: GateKind;
  estimator: "svd" | "learned";
  epochs: number;
  seed: number;
  distill: { alpha: number; temperature: number };
  /** Margins tried, ascending, in σ. */
  marginSet: number[];
  safety: number;
  emit: (e: OptimizeEvent) => void;
  /** Warnings so far (each also sent as a "warning" event by `warn`). */
  warnings: string[];
  warn: (message: string) => void;
  work: WorkDir | null;
  calib: Samples;
  calibX: Float32Array;
  valX: Float32Array;
  quantizerOf: (m: FloatModel) => Quantizer;
  qInput: Quantizer;
  /** The input's int8 dense model on val (its per-sample `wrong` flags count every trial's flips). */
  dense: RankTrial & { wrong: Uint8Array };
  denseError: number;
  target: number;
  /** Per-feature input standardization of fine-tuning (null: off). */
  st: InputStandard | null;
  /** `m` with learned estimators (warm start: `previous`'s), learned on standardized inputs. */
  learnRaw: (m: FloatModel, learnSeed: number, previous?: FloatModel) => Promise<FloatModel>;
}

type InputStandard = ReturnType<typeof inputStandard>;

/** Fine-tuning's hand-off to the search. */
interface FineTuned {
  history: EpochRecord[];
  /** The epoch chosen (chooseEpoch), 1-based; 0 without fine-tuning. */
  bestEpoch: number;
  /** Its weights (null: no fine-tuning, or gate block). */
  tuned: FloatModel | null;
  /** With learned estimators: its weights with the estimators that validated it, when at hand. */
  tunedWithEstimators: FloatModel | null;
  /**
   * gate block: each block candidate's policy, fine-tuned from the input as the search asks for the next (so
   * each is searched before the next is trained); its record is added to `blockRuns`. Null otherwise.
   */
  blocks: AsyncIterable<TunedBlock> | null;
  blockRuns: NonNullable<OptimizeResult["blockRuns"]>;
}

/** One block candidate's fine-tuned policy. */
interface TunedBlock {
  candidate: BlockCandidate;
  model: FloatModel;
  bestEpoch: number;
}

/** The search's hand-off to the choice: every trial (the dense one first) and what rebuilds a trial's models. */
interface Searched {
  trials: Trial[];
  denseTrial: Trial;
  /** Trials read from trials.json (measured again before they are written or reported). */
  fromCache: Set<Trial>;
  meter: CycleMeter | null;
  priced: { cyclesTarget: string; cyclesSamples: number } | null;
  /** The objective (cycles on the target, else MACs) and the cap on cycles or MACs. */
  cost: (t: Trial) => number;
  capCost: (t: Trial) => number;
  cap: number | undefined;
  /** The float model of each modelKeyOf. */
  floats: Map<string, FloatModel>;
  sigmasOf: (float: FloatModel, t: Pick<Trial, "estimator" | "block">) => number[];
  trialQuant: (t: Pick<Trial, "source" | "block" | "ranks" | "margins" | "estimator">) => QuantModel;
  trialSettings: string;
  /** What every trial is priced on (scoreModel). */
  data: SearchData;
}

/** The float model (and its quantizer) a trial runs: the input, the fine-tuned estimator model, or one block policy's. */
const modelKeyOf = (t: Pick<Trial, "source" | "block">) => (t.block ? `block ${blockKey(t.block)}` : t.source);
/** A trial's identity in this run (fine-tuned trials name their epoch). */
const keyOf = (t: Pick<Trial, "source" | "epoch" | "estimator" | "ranks" | "marginSigmas" | "block">) => `${t.source}@${t.epoch ?? 0}/${t.block ? `block ${blockKey(t.block)}` : t.estimator}/${t.ranks}/${t.marginSigmas}`;

/** Runs the whole pipeline (fine-tune, search, choose); see OptimizeOptions. Same options, seed and machine: the same bytes. */
export async function optimizeModel(o: OptimizeOptions): Promise<OptimizeResult> {
  const input = strip(o.model);
  const sizes = [input.layers[0].nIn, ...input.layers.map((l) => l.nOut)];
  const hidden = sizes.length - 2;
  if (hidden < 1) throw new UserError("the model needs at least one hidden layer to gate");
  validate(o, hidden, sizes);
  if (o.gate !== undefined && !GATE_CHOICES.includes(o.gate)) throw new UserError(`gate must be ${GATE_CHOICES.join(", ")}, got '${o.gate}'`);
  if (o.gate !== undefined && o.estimator !== undefined && o.gate !== o.estimator) throw new UserError(`estimator ${o.estimator} and gate ${o.gate} disagree: give one (gate is the one option; estimator is its old name)`);
  const gate: GateChoice = o.gate ?? o.estimator ?? "svd";
  if (gate !== "svd" && gate !== "learned") blockCandidates(sizes.slice(1, -1), o.blockSizes ?? BLOCK_SIZES, o.blockTaus ?? BLOCK_TAUS);
  if (gate === "auto") return optimizeAuto(o);
  const run = await prepareRun(o, input, gate);
  const tuned = await fineTune(run);
  const found = await searchTrials(run, tuned);
  return chooseBest(run, tuned, found);
}

/** The run's settings, its work folder, the input's int8 dense reference on val and the warnings about the data. */
async function prepareRun(o: OptimizeOptions, input: FloatModel, gate: GateKind): Promise<Run> {
  const sizes = [input.layers[0].nIn, ...input.layers.map((l) => l.nOut)];
  const hidden = sizes.length - 2, nIn = sizes[0];
  const estimator = gate === "learned" ? "learned" : "svd", epochs = o.epochs ?? 3, seed = o.seed ?? 1;
  const distill = o.distill ?? { alpha: 0.5, temperature: 2 };
  const marginSet = [...new Set(o.margins ?? MARGIN_CANDIDATES)].sort((a, b) => a - b);
  const emit = o.onEvent ?? (() => {});
  // The work folder: config.json checked and written, every step file checked against the run (toolchain/optimize/work-dir.ts)
  const work = o.workDir !== undefined ? WorkDir.open(o.workDir, fingerprint({ ...o, estimator }, input, o.train, o.val, gate)) : null;

  // Reference: the input model, int8 dense, on val
  const calib = slice(o.val, o.calibration ?? 1000, nIn);
  const calibX = toFloat(calib, nIn);
  const valX = toFloat(o.val, nIn);
  const inputRange = featureRange(calibX);
  const quantizerOf = (m: FloatModel) => new Quantizer(m, calibX, calib.count, inputRange);
  const qInput = quantizerOf(input);
  const dense = await gatedRun(qInput, { gates: false }, valX, o.val.labels, o.val.count);
  const safety = o.safety ?? DEFAULT_SAFETY;
  const denseError = dense.error, target = denseError + o.budgetPp / 100;
  emit({ stage: "reference", denseError, target });
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    emit({ stage: "warning", message });
  };
  if (o.val.count < SMALL_VALIDATION) warn(`only ${o.val.count} validation samples (under ${SMALL_VALIDATION}): the choice may not hold on unseen data; a larger validation split, or a larger budget, makes it safer`);
  // The budget is relative to the int8 dense error: say so when quantizing the input already costs much
  const probs = await softTargets(input, o.val, 1), classes = sizes[sizes.length - 1];
  let floatWrong = 0;
  for (let i = 0; i < o.val.count; i++) {
    let top = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + top]) top = c;
    if (top !== o.val.labels[i]) floatWrong++;
  }
  const floatError = floatWrong / o.val.count;
  if (denseError - floatError > INT8_LOSS_WARNING) {
    warn(`the input's int8 dense validation error (${(denseError * 100).toFixed(2)} %) is far above its float error (${(floatError * 100).toFixed(2)} %): int8 quantization loses it before any gating (inputs in very different units share one input scale?); the budget is relative to the int8 error`);
  }

  // Fine-tuning and estimator learning see standardized inputs; every model kept is on raw inputs
  const st = (o.standardize ?? true) ? inputStandard(o.train, nIn) : null;
  let trainStd: Samples | null = null;
  const learnRaw = async (m: FloatModel, learnSeed: number, previous?: FloatModel): Promise<FloatModel> => {
    if (!st) return (await learnedFactors(m, o.ranks, o.train, o.estimatorEpochs ?? 1, learnSeed, o.wPos ?? 4, previous)).model;
    trainStd ??= standardizeSamples(o.train, st);
    const r = await learnedFactors(standardizeModel(m, st), o.ranks, trainStd, o.estimatorEpochs ?? 1, learnSeed, o.wPos ?? 4, previous && standardizeModel(previous, st));
    return moveEstimators(m, r.model, st);
  };
  return {
    o, input, sizes, hidden, nIn, gate, estimator, epochs, seed, distill, marginSet, safety, emit, warnings, warn, work,
    calib, calibX, valX, quantizerOf, qInput, dense, denseError, target, st, learnRaw,
  };
}

const estimatorsOf = (m: FloatModel): (EstimatorFactors | null)[] => m.layers.slice(0, -1).map((l) => (l.estimator ? { at: l.estimator.at, bt: l.estimator.bt, offset: l.estimator.offset } : null));

/**
 * Fine-tune (gate svd or learned): `epochs` epochs of SGD with the estimator in the loop (refreshed, or
 * relearned with a warm start, every epoch), L1 on activations and distillation from the input; each epoch
 * validated with the estimator of its weights and checkpointed in the work folder (resumed from it); the epoch
 * the search starts from chosen by chooseEpoch. gate block: the block candidates, tuned one by one as the search
 * takes them (tuneBlockPolicy).
 */
async function fineTune(run: Run): Promise<FineTuned> {
  const { o, input, sizes, hidden, nIn, gate, estimator, epochs, seed, distill, emit, warn, work, st, target, learnRaw } = run;
  const lr0 = o.lr ?? 0.01, lrDecay = o.lrDecay ?? 0.8, momentum = o.momentum ?? 0.9, batchSize = o.batchSize ?? 100;
  const l1 = o.l1 ?? Array<number>(hidden).fill(0);
  const toStd = (m: FloatModel) => (st ? standardizeModel(m, st) : m);
  /** Estimator factors of the raw model `m` as the (standardized) compute takes them. */
  const factorsFor = (m: FloatModel, f: (EstimatorFactors | null)[]) => (st ? standardFactors(m, f, st) : f);

  const history: EpochRecord[] = [];
  const blockRuns: FineTuned["blockRuns"] = [];
  if (gate === "block") return { history, bestEpoch: 0, tuned: null, tunedWithEstimators: null, blocks: tuneBlocks(run, blockRuns), blockRuns };
  if (epochs === 0) return { history, bestEpoch: 0, tuned: null, tunedWithEstimators: null, blocks: null, blockRuns };
  // Without augmentation the targets are computed once; with it, per batch on the translated inputs
  const teacher = distill.alpha > 0 && o.augment ? await Teacher.create(input) : null;
  const soft = distill.alpha > 0 && !o.augment ? await softTargets(input, o.train, distill.temperature) : null;
  const nCls = sizes[sizes.length - 1];
  const compute = await createCompute("wasm");
  let model = input;
  // The weights (and learned estimators) of the epoch chosen so far: only it can still be chosen
  const goal = o.maxMacs !== undefined ? { maxMacs: o.maxMacs } : { target };
  type Chosen = { epoch: number; model: FloatModel; withEstimators?: FloatModel };
  let chosen = null as Chosen | null;
  const keep = (epoch: number, model: FloatModel, withEstimators?: FloatModel) => {
    if (chooseEpoch(history, goal) === epoch) chosen = { epoch, model, withEstimators };
  };
  try {
    const order = new Int32Array(o.train.count);
    const x = new Float32Array(batchSize * nIn), labels = new Uint8Array(batchSize), scratch = new Float32Array(nIn);
    let batchSoft: Float32Array = new Float32Array(batchSize * nCls);
    const batches = Math.ceil(o.train.count / batchSize);
    // Epoch e trains with the factors of the weights it starts from, seeded by e; the same factors
    // validate epoch e − 1, so they are computed once (and again, identically, on resume)
    type Carried = { epoch: number; factors: (EstimatorFactors | null)[]; model: FloatModel };
    let carried = null as Carried | null;
    // Learned estimators continue from the previous epoch's (warm start), so they train across epochs
    const factorsOf = async (m: FloatModel, epoch: number, previous?: FloatModel) => {
      if (estimator === "svd") return { factors: factorsFor(m, estimatorFactors(m, o.ranks, new Rng((seed ^ 0x27d4eb2f) + epoch))), model: m };
      const t0 = performance.now();
      const withEst = await learnRaw(m, seed + epoch, previous);
      emit({ stage: "estimator", epoch, seconds: (performance.now() - t0) / 1000 });
      return { factors: factorsFor(withEst, estimatorsOf(withEst)), model: withEst };
    };
    const valSeen = st ? standardizeSamples(o.val, st) : o.val;
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const saved = work ? work.readEpoch(epoch, { sizes, ranks: o.ranks, estimator }) : { kind: "missing" as const };
      if (saved.kind === "damaged") warn(`${showName(work!.epochPath(epoch))}: damaged (${saved.reason}); epoch ${epoch} is trained again and the file rewritten`);
      if (saved.kind === "ok") {
        const m = saved.model;
        // A learned run's checkpoint carries the estimators that validated it (and train the next epoch)
        model = strip(m);
        const withEstimators = m.layers.some((l) => l.estimator) ? m : undefined;
        if (withEstimators) carried = { epoch: epoch + 1, model: withEstimators, factors: factorsFor(withEstimators, estimatorsOf(withEstimators)) };
        const rec: EpochRecord = saved.record;
        history.push(rec);
        keep(epoch, model, withEstimators);
        emit({ stage: "epoch", epochs, ...rec, resumed: true });
        continue;
      }
      const t0 = performance.now();
      // Each epoch starts from saved weights with zero momentum and its own rngs, so a resumed run is identical
      compute.load(toStd(model));
      const start: Carried = carried && carried.epoch === epoch ? carried : { epoch, ...(await factorsOf(model, epoch, carried?.model)) };
      carried = start;
      compute.setFactors(start.factors);
      for (let i = 0; i < order.length; i++) order[i] = i;
      shuffle(order, new Rng((seed ^ 0x5bd1e995) + epoch));
      const augRng = new Rng((seed ^ 0x165667b1) + epoch);
      const lr = lr0 * lrDecay ** (epoch - 1);
      let lossSum = 0;
      for (let b = 0; b < batches; b++) {
        const from = b * batchSize, n = Math.min(batchSize, o.train.count - from);
        fillInputs(o.train, nIn, x, labels, from, n, order);
        if (o.augment) shiftBatch(x, n, o.augment, augRng, scratch);
        if (soft) for (let s = 0; s < n; s++) batchSoft.set(soft.subarray(order[from + s] * nCls, (order[from + s] + 1) * nCls), s * nCls);
        if (teacher) batchSoft = teacher.soften(x, n, distill.temperature);
        if (st) standardizeInputs(x, n, st);
        const loss = compute.step(x, labels, n, { lr, momentum, l1, distill: soft || teacher ? { soft: batchSoft, alpha: distill.alpha, temperature: distill.temperature } : undefined });
        if (!Number.isFinite(loss)) throw new UserError(`fine-tuning diverged at epoch ${epoch}, batch ${b + 1} (loss ${loss}); lower the learning rate`);
        lossSum += loss * n;
        emit({ stage: "batch", epoch, epochs, batch: b + 1, batches, loss });
      }
      model = st ? unstandardizeModel(compute.save(), st) : compute.save();
      // Validate with the estimator of the new weights, as deployed
      const next = await factorsOf(model, epoch + 1, carried?.model);
      carried = { epoch: epoch + 1, ...next };
      compute.setFactors(next.factors);
      const v = summarize(evaluateCounts(compute, valSeen, nIn, hidden), model, o.ranks);
      const rec: EpochRecord = { epoch, loss: lossSum / o.train.count, valError: v.error, macFraction: v.macFraction, density: v.density, computed: v.computed, seconds: (performance.now() - t0) / 1000 };
      history.push(rec);
      work?.writeEpoch(epoch, estimator === "learned" ? next.model : model, rec);
      keep(epoch, model, estimator === "learned" ? next.model : undefined);
      emit({ stage: "epoch", epochs, ...rec, resumed: false });
    }
  } finally {
    compute.dispose();
    teacher?.dispose();
  }
  if (!chosen) throw new Error("optimize: no epoch kept");
  return { history, bestEpoch: chosen.epoch, tuned: chosen.model, tunedWithEstimators: chosen.withEstimators ?? null, blocks: null, blockRuns };
}

/** gate block: each candidate's policy fine-tuned from the input with the policy in the loop (tuneBlockPolicy), one at a time. */
async function* tuneBlocks(run: Run, blockRuns: FineTuned["blockRuns"]): AsyncGenerator<TunedBlock> {
  const { o, input, sizes, nIn, epochs, seed, distill, emit, warn, work } = run;
  const st = (o.standardize ?? true) ? inputStandard(o.train, nIn) : null;
  const soft = distill.alpha > 0 ? { soft: await softTargets(input, o.train, distill.temperature), ...distill } : null;
  for (const c of blockCandidates(sizes.slice(1, -1), o.blockSizes ?? BLOCK_SIZES, o.blockTaus ?? BLOCK_TAUS)) {
    const name = blockKey(c);
    let last: { valError: number; macFraction: number } | null = null;
    const r = await tuneBlockPolicy({
      input, candidate: c, train: o.train, val: o.val, st, epochs: Math.max(1, epochs), seed, distill: soft, work,
      onBatch: (p) => emit({ stage: "batch", epoch: p.epoch, epochs: Math.max(1, epochs), batch: p.batch, batches: p.batches, loss: p.nll }),
      onEpoch: (e) => emit({ stage: "block", block: name, epoch: e.epoch, epochs: Math.max(1, epochs), valError: e.val.error, macFraction: e.val.macFraction, blockDensity: e.val.blockDensity, seconds: e.seconds, resumed: false }),
      onWarning: warn,
    });
    const best = r.history.find((h) => h.epoch === r.bestEpoch);
    if (best) last = { valError: best.val.error, macFraction: best.val.macFraction };
    if (r.resumed) emit({ stage: "block", block: name, epoch: r.bestEpoch, epochs: Math.max(1, epochs), valError: NaN, macFraction: NaN, blockDensity: [], seconds: 0, resumed: true });
    blockRuns.push({ block: name, bestEpoch: r.bestEpoch, valError: last?.valError ?? null, macFraction: last?.macFraction ?? null, resumed: r.resumed });
    yield { candidate: c, model: r.model, bestEpoch: r.bestEpoch };
  }
}

/**
 * Search: every trial on val, each priced once (MACs, and cycles with a target) and kept in trials.json. The
 * fine-tuned model (learned estimators: those of its epoch) by descendRanksMargins from the training ranks;
 * with a budget, the ranks quantize --budget chooses on the input (searchRanks) as trials, then the input from
 * the higher of those and the training ranks; gate block: each tuned policy's margins.
 */
async function searchTrials(run: Run, ft: FineTuned): Promise<Searched> {
  const { o, input, hidden, gate, estimator, seed, marginSet, safety, emit, warn, work, calib, calibX, valX, quantizerOf, qInput, dense, denseError, target, learnRaw } = run;
  const { history, bestEpoch } = ft;
  const cached = new Map<string, Trial>();
  // Trials cached before they carried flips are run again
  // (and fine-tuned trials of another epoch than this run's choice, or cached before they named it, are not used)
  // With a target every trial is priced on it: the same first validation samples for all, against the dense model
  const meter = o.target ? await CycleMeter.create(o.target, qInput.model({ gates: false }), valX, o.val.labels, o.val.count, o.cycleSamples) : null;
  const priced = meter ? { cyclesTarget: meter.target.name, cyclesSamples: meter.samples } : null;
  // Trials cached without cycles on this target and samples are run again
  // (and a block trial's policy must be one this run trains: its sizes and τ well formed)
  const blockOk = (b: unknown) => {
    const c = b as BlockCandidate | null;
    return typeof c === "object" && c !== null && Array.isArray(c.sizes) && c.sizes.length === hidden && c.sizes.every((k) => Number.isInteger(k) && k >= 1) && typeof c.tau === "number" && c.tau > 0 && c.tau < 1;
  };
  const usable = (t: Trial) => typeof t.flips === "number" && (!priced || (t.cyclesTarget === priced.cyclesTarget && t.cyclesSamples === priced.cyclesSamples))
    && (t.block === undefined ? gate !== "block" || !isGated(t) : gate === "block" && blockOk(t.block));
  // trials.json: this run's trials (and calibration and safety), each with the hash of the float model it ran
  const trialSettings = JSON.stringify({ calibration: calib.count, safety });
  const fromCache = new Set<Trial>();
  if (work && !IGNORE_TRIAL_CACHE.has(o)) {
    const saved = work.readTrials(isTrialOf(hidden), trialSettings);
    for (const message of saved.problems) warn(message);
    for (const { model, ...t } of saved.trials) if (usable(t)) { cached.set(`${keyOf(t)}#${model}`, t); fromCache.add(t); }
  }
  const hashes = new WeakMap<FloatModel, string>();
  const hashOf = (m: FloatModel) => hashes.get(m) ?? (hashes.set(m, modelHash(m)), hashes.get(m)!);
  const saveTrials = () => work?.writeTrials(trials.slice(1).map((t) => ({ ...t, model: hashOf(floats.get(modelKeyOf(t))!) })), trialSettings);
  const trials: Trial[] = [];
  const denseTrial: Trial = {
    source: "input", gate: "none", estimator: "svd", ranks: Array(hidden).fill(0), marginSigmas: Array(hidden).fill(0), margins: Array(hidden).fill(0), error: denseError, macsRatio: dense.macsRatio, flips: 0, bound: denseError,
    ...(meter && priced && { cycles: meter.denseCycles, cyclesRatio: 1, ...priced }),
  };
  // The search's objective: cycles on the target, else MACs; a cap on cycles or on MACs
  const cost = meter ? cyclesOf : macsOf;
  const capCost = o.maxCycles !== undefined ? cyclesOf : macsOf;
  const cap = o.maxCycles ?? o.maxMacs;
  trials.push(denseTrial);
  const floats = new Map<string, FloatModel>([["input", input]]);
  const quantizers = new Map<string, Quantizer>([["input", qInput]]);
  /** Margin units per hidden layer: σ of the pre-activation (svd), of the learned estimator's value, or of the block policy's logit. */
  const sigmasOf = (float: FloatModel, t: Pick<Trial, "estimator" | "block">) =>
    t.block ? gateLogitSigmas(float, calibX, calib.count) : preActivationSigmas(float, calibX, calib.count, t.estimator === "learned");
  /** The int8 model a trial runs (margins real): estimators from its quantizer, or its block policies with the margins taken off their biases. */
  const trialQuant = (t: Pick<Trial, "source" | "block" | "ranks" | "margins" | "estimator">): QuantModel => {
    const q = quantizers.get(modelKeyOf(t))!;
    if (!t.block) return q.model({ ranks: t.ranks, margins: t.margins, estimator: t.estimator, gates: false });
    const f = shiftGates(floats.get(modelKeyOf(t))!, t.margins), qm = q.model({ gates: true });
    return { ...qm, layers: qm.layers.map((l, i) => (l.gate ? { ...l, gate: quantizeGate(f.layers[i].gate!, l.nIn, l.nOut, l.inScale) } : l)) };
  };
  // Flips are counted against the input's dense int8 model: a fine-tuned trial is charged for what
  // fine-tuning changed as well as for what its gate changed
  const data: SearchData = { images: valX, labels: o.val.labels, count: o.val.count, denseWrong: dense.wrong, safety, meter: meter ?? undefined };

  /** One float model's trials: descendRanksMargins from the top of `rankSets`, each point run once (or read from the cache). */
  const search = async (source: Trial["source"], kind: EstimatorKind, float: FloatModel, rankSets: number[][], block?: { c: BlockCandidate; epoch: number }) => {
    const mk = modelKeyOf({ source, block: block?.c });
    floats.set(mk, float);
    const q = source === "input" ? qInput : quantizerOf(float);
    quantizers.set(mk, q);
    const sigmas = sigmasOf(float, { estimator: kind, block: block?.c });
    const trial = async (ranks: number[], marginSigmas: number[]) => {
      const epoch = block ? block.epoch : source === "finetuned" ? bestEpoch : undefined;
      const key = keyOf({ source, epoch, estimator: kind, ranks, marginSigmas, block: block?.c });
      let t = trials.find((u) => keyOf(u) === key);
      if (t) return t;
      t = cached.get(`${key}#${hashOf(float)}`);
      const hit = !!t;
      if (!t) {
        const margins = marginSigmas.map((m, l) => Math.fround(m * sigmas[l]));
        const r = await scoreModel(trialQuant({ source, block: block?.c, ranks, margins, estimator: kind }), ranks, data);
        t = { source, gate: block ? "block" : ranks.some((k) => k > 0) ? (kind === "learned" ? "learned" : "svd") : "none", ...(block && { block: block.c }), ...(epoch !== undefined && { epoch }), estimator: kind, ranks, marginSigmas, margins, error: r.error, macsRatio: r.macsRatio, flips: r.flips, bound: r.bound,
          ...(priced && { cycles: r.cycles, cyclesRatio: r.cyclesRatio, ...priced }) };
      }
      trials.push(t);
      saveTrials();
      emit({ stage: "trial", trial: t, cached: hit });
      return t;
    };
    await descendRanksMargins({ rankSets, margins: marginSet, priced: !!meter, block: !!block }, { target, cost, cap, capCost }, trial);
  };
  // With a target a layer may also go to rank 0 (no estimator) when its gating costs more cycles than it saves
  const rankSets = (top: number[]) => top.map((k) => rankLadder(k, !!meter));
  // Without fine-tuning, learned estimators are still learned on the input model
  const tuned = !ft.tuned && estimator === "learned" ? input : ft.tuned;
  if (tuned) {
    if (estimator === "learned") {
      let tunedFloat = ft.tunedWithEstimators;
      if (!tunedFloat) {
        // The estimators epoch bestEpoch + 1 would train with; kept in its checkpoint for the next rerun
        tunedFloat = await learnRaw(tuned, seed + bestEpoch + 1);
        if (work && bestEpoch > 0) work.writeEpoch(bestEpoch, tunedFloat, history[bestEpoch - 1]);
      }
      await search("finetuned", "learned", tunedFloat, o.ranks.map((k) => [...(meter ? [0] : []), k]));
    } else {
      await search("finetuned", "svd", tuned, rankSets(o.ranks));
    }
  }
  // With a budget, the ranks quantize --budget tries on the input (no fine-tuning) are candidates, and the
  // input's search starts from the higher of its choice and the training ranks: optimize never returns
  // more MACs than quantize (which has no MAC cap to compare with)
  const posthoc = gate === "block" ? { trials: [], ranks: o.ranks } : o.maxMacs === undefined ? await searchRanks(qInput, valX, o.val.labels, o.val.count, { budgetPp: o.budgetPp, safety }) : { trials: [], ranks: o.ranks };
  for (const r of posthoc.trials) {
    if (!r.ranks.some((k) => k > 0)) continue;
    const t: Trial = { source: "input", gate: "svd", estimator: "svd", ranks: r.ranks, marginSigmas: Array(hidden).fill(0), margins: Array(hidden).fill(0), error: r.error, macsRatio: r.macsRatio, flips: r.flips, bound: r.bound };
    if (trials.some((u) => keyOf(u) === keyOf(t))) continue;
    if (meter) {
      const c = await meter.price(writeModel(qInput.model({ ranks: t.ranks, margins: t.margins, estimator: "svd", gates: false })));
      Object.assign(t, { cycles: c.cycles, cyclesRatio: c.ratio, ...priced });
    }
    trials.push(t);
    emit({ stage: "trial", trial: t, cached: false });
  }
  if (gate !== "block") await search("input", "svd", input, rankSets(o.ranks.map((k, l) => Math.max(k, posthoc.ranks[l]))));
  // Block policies: each candidate's margins searched as soon as it is tuned
  if (ft.blocks) for await (const b of ft.blocks) await search("finetuned", "svd", b.model, run.sizes.slice(1, -1).map(() => [0]), { c: b.candidate, epoch: b.bestEpoch });
  return { trials, denseTrial, fromCache, meter, priced, cost, capCost, cap, floats, sigmasOf, trialQuant, trialSettings, data };
}

/**
 * Choose: with a cap the lowest bound within it (chooseWithinMacs), else the cheapest within the target
 * (chooseTrial; the input's dense model when none is, naming the nearest trial, or when none is cheaper than
 * dense on the target). A trial read from trials.json that is written or reported is measured again first; if
 * one does not reproduce, the cache is emptied and the run starts again without it.
 */
async function chooseBest(run: Run, ft: FineTuned, found: Searched): Promise<OptimizeResult> {
  const { o, emit, warnings, work, denseError, target } = run;
  const { trials, denseTrial, fromCache, meter, priced, cost, capCost, cap, floats, sigmasOf, trialQuant, trialSettings, data } = found;
  const { history, bestEpoch, blockRuns } = ft;
  let best: Trial;
  let gatingDoesNotPay: boolean | undefined;
  let unmet: Trial | null = null;
  if (cap !== undefined) {
    // With a target, never a trial slower than dense on it (a MAC cap alone does not exclude one)
    const within = chooseWithinMacs(meter ? trials.filter((t) => cyclesOf(t) <= 1) : trials, cap, capCost);
    if (!within) {
      const what = o.maxCycles !== undefined ? `dense cycles on ${meter!.target.name}` : "dense MACs";
      const cheapest = trials.reduce((a, t) => (capCost(t) < capCost(a) ? t : a));
      throw new UserError(`no trial within ${cap}× ${what}${meter && o.maxCycles === undefined ? ` and at most dense cycles on ${meter.target.name}` : ""}: the cheapest of ${trials.length} is ${capCost(cheapest).toFixed(3)}× (${cheapest.source} ${cheapest.estimator} ranks ${cheapest.ranks.join("-")}); allow more ${o.maxCycles !== undefined ? "cycles" : "MACs"} or lower --ranks`);
    }
    best = within;
  } else {
    best = chooseTrial(trials, target, cost) ?? denseTrial;
    // No gated trial within the target: the nearest one is named; within it but none cheaper on the target: gating does not pay there
    const met = trials.some((t) => isGated(t) && t.bound <= target && t.macsRatio < 1);
    if (!met) unmet = best === denseTrial ? nearestTrial(trials) : null;
    else if (meter) gatingDoesNotPay = !(cyclesOf(best) < 1);
    // Dense at exactly dense cycles: the input's dense trial itself
    if (gatingDoesNotPay) best = denseTrial;
  }
  // A trial read from trials.json that is written or reported (chosen, nearest, on the front) is measured again
  // first: a cached trial whose numbers do not reproduce empties the cache and the search runs again without it
  const front = paretoFront(trials);
  for (const t of new Set([best, ...(unmet ? [unmet] : []), ...front])) {
    if (!fromCache.has(t)) continue;
    const sigmas = sigmasOf(floats.get(modelKeyOf(t))!, t);
    const margins = t.marginSigmas.map((m, l) => Math.fround(m * sigmas[l]));
    const r = await scoreModel(trialQuant({ ...t, margins }), t.ranks, data);
    const again: Partial<Trial> = { margins, error: r.error, macsRatio: r.macsRatio, flips: r.flips, bound: r.bound, ...(priced && { cycles: r.cycles, cyclesRatio: r.cyclesRatio }) };
    const keys = Object.keys(again) as (keyof Trial)[];
    if (JSON.stringify(keys.map((k) => t[k])) === JSON.stringify(keys.map((k) => again[k]))) continue;
    const message = `${showName(work!.trialsPath)}: the cached trial ${t.source} ${t.block ? `block ${blockKey(t.block)}` : `${t.estimator} ranks ${t.ranks.join("-")}`} margins ${t.marginSigmas.join("/")} σ does not reproduce (cached ${(t.error * 100).toFixed(2)} % at ${t.macsRatio.toFixed(3)}×, measured ${(r.error * 100).toFixed(2)} % at ${r.macsRatio.toFixed(3)}×); the file is not trusted and the search runs again`;
    emit({ stage: "warning", message });
    work!.writeTrials([], trialSettings);
    // The rerun resumes every epoch; its caller hears only the search again (and warnings not heard yet)
    const heard = new Set(warnings);
    const rerun: OptimizeOptions = { ...o, onEvent: (e) => { if (e.stage === "trial" || (e.stage === "warning" && !heard.has(e.message))) emit(e); } };
    IGNORE_TRIAL_CACHE.add(rerun);
    const result = await optimizeModel(rerun);
    return { ...result, warnings: [...warnings, message, ...result.warnings.filter((m) => !heard.has(m))] };
  }
  const rgm = writeModel(trialQuant(best));
  const bestFloat = best.block ? shiftGates(floats.get(modelKeyOf(best))!, best.margins) : floats.get(best.source)!;
  return { best, unmet, warnings, rgm, float: bestFloat, denseError, target, trials, front, history, bestEpoch, ...(blockRuns.length && { blockRuns }), ...(gatingDoesNotPay !== undefined && { gatingDoesNotPay }) };
}

/**
 * gate auto: optimizeModel with gate svd, learned and block in turn (with a work folder, in its subfolders
 * svd/, learned/ and block/, so each resumes), their trials on one front, and the chosen trial of all: with a
 * budget the cheapest (MACs, or cycles on the target) within it, with a cap the lowest bound within it. Each
 * run's choice is the best of its own trials by that rule, so the best of the three choices is the best of
 * all trials.
 */
async function optimizeAuto(o: OptimizeOptions): Promise<OptimizeResult> {
  const emit = o.onEvent ?? (() => {});
  const heard = new Set<string>();
  let referenced = false;
  const runs: { gate: GateKind; result: OptimizeResult }[] = [];
  let refusal: UserError | null = null;
  for (const gate of ["svd", "learned", "block"] as const) {
    emit({ stage: "gate", gate });
    const sub: OptimizeOptions = {
      ...o, gate, estimator: undefined, workDir: o.workDir !== undefined ? join(o.workDir, gate) : undefined,
      onEvent: (e) => {
        // The reference and each warning once
        if (e.stage === "reference") { if (referenced) return; referenced = true; }
        if (e.stage === "warning") { if (heard.has(e.message)) return; heard.add(e.message); }
        emit(e);
      },
    };
    try {
      runs.push({ gate, result: await optimizeModel(sub) });
    } catch (err) {
      // With a cap, a kind with no trial within it is left out (the others may have one)
      if (!(err instanceof UserError && err.message.startsWith("no trial within"))) throw err;
      refusal ??= err;
    }
  }
  if (!runs.length) throw refusal!;
  const seen = new Set<string>();
  const trials: Trial[] = [];
  for (const { result } of runs) for (const t of result.trials) {
    const key = JSON.stringify([t.source, t.epoch ?? 0, t.gate, t.block ?? null, t.estimator, t.ranks, t.marginSigmas]);
    if (!seen.has(key)) { seen.add(key); trials.push(t); }
  }
  const priced = o.target !== undefined;
  const cost = (t: Trial) => (priced ? cyclesOf(t) : macsOf(t));
  const capCost = (t: Trial) => (o.maxCycles !== undefined ? cyclesOf(t) : macsOf(t));
  const capped = o.maxCycles !== undefined || o.maxMacs !== undefined;
  // Earlier kinds win ties (svd, learned, block)
  let pick = runs[0];
  for (const r of runs.slice(1)) {
    const a = pick.result, b = r.result;
    const better = capped
      ? b.best.bound < a.best.bound || (b.best.bound === a.best.bound && capCost(b.best) < capCost(a.best))
      : isGated(b.best) && !b.gatingDoesNotPay && (!isGated(a.best) || a.gatingDoesNotPay || cost(b.best) < cost(a.best) || (cost(b.best) === cost(a.best) && b.best.error < a.best.error));
    if (better) pick = r;
  }
  const chosen = pick.result;
  let unmet: Trial | null = null, gatingDoesNotPay: boolean | undefined = chosen.gatingDoesNotPay;
  if (!capped && !isGated(chosen.best)) {
    // No kind met the target (or none pays on the target): the nearest gated trial of all
    if (runs.every((r) => r.result.unmet !== null || !isGated(r.result.best))) unmet = runs.some((r) => r.result.unmet) ? nearestTrial(trials) : null;
    if (runs.some((r) => r.result.gatingDoesNotPay)) { gatingDoesNotPay = true; unmet = null; }
  }
  const warnings = [...new Set(runs.flatMap((r) => r.result.warnings))];
  const blockRuns = runs.find((r) => r.gate === "block")?.result.blockRuns;
  return {
    ...chosen, unmet, warnings, trials, front: paretoFront(trials), ...(blockRuns && { blockRuns }),
    ...(gatingDoesNotPay !== undefined && { gatingDoesNotPay }),
  };
}

/** The front chart's trial colours by kind (input, fine-tuned estimators, block policies) and each gate kind's front colour. */
const TRIAL_COLOURS = { input: "#999", "fine-tuned": "#38c", "block policy": "#e80" };
const GATE_COLOURS: Record<GateKind, string> = { svd: "#999", learned: "#38c", block: "#e80" };

/**
 * The front chart, a Vega-Lite spec rendered by `renderSvg` (toolchain/report/charts.ts): every trial (grey:
 * input, blue: fine-tuned estimators, orange: block policies; legend "trial"), a whisker up to each bound above
 * its error, with more than one gate kind each kind's own front dashed in its colour (svd grey, learned blue,
 * block orange; legend "front of"), the front (line), the chosen point (ring) and the goal (dashed): the error
 * target, or with `maxMacs` the MAC cap (within the x range). Errors above the shown range (at most 10 pp over the
 * lowest) sit at its top.
 */
export async function frontSvg(trials: Trial[], front: Trial[], best: Trial, target: number, title: string, maxMacs?: number): Promise<string> {
  const xs = trials.map((t) => t.macsRatio), ys = trials.map((t) => t.error * 100);
  const x1 = Math.max(1, ...xs, maxMacs ?? 0) * 1.02;
  const y0 = Math.max(0, Math.min(...ys) - 0.2), y1 = Math.min(Math.max(...ys, maxMacs === undefined ? target * 100 : 0) + 0.2, Math.min(...ys) + 10);
  const q = "quantitative" as const, ordered = { order: { field: "i", type: q } };
  const x = { field: "macs", type: q, title: "MACs per sample, × dense", scale: { domain: [0, x1], nice: false } };
  const y = { field: "error", type: q, title: "validation error, %", scale: { domain: [y0, y1], nice: false, zero: false, clamp: true } };
  const kindOf = (t: Trial): keyof typeof TRIAL_COLOURS => (t.block ? "block policy" : t.source === "finetuned" ? "fine-tuned" : "input");
  const row = (t: Trial) => ({ macs: t.macsRatio, error: t.error * 100, bound: t.bound * 100, kind: kindOf(t) });
  const kinds = Object.entries(frontsByGate(trials));
  const shown = Object.entries(TRIAL_COLOURS).filter(([k]) => trials.some((t) => kindOf(t) === k));
  const colour = { field: "kind", type: "nominal" as const, title: "trial", scale: { domain: shown.map(([k]) => k), range: shown.map(([, c]) => c) } };
  const svg = await renderSvg({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: 540, height: 300, background: "white", title: { text: title, anchor: "start", fontSize: 12, fontWeight: "normal" },
    layer: [
      maxMacs === undefined
        ? { name: "goal", data: { values: [{ error: target * 100 }] }, mark: { type: "rule", color: "#c33", strokeDash: [4, 3] }, encoding: { y } }
        : { name: "goal", data: { values: [{ macs: maxMacs }] }, mark: { type: "rule", color: "#c33", strokeDash: [4, 3] }, encoding: { x } },
      // The whisker reaches the bound the choice compares with the target
      { name: "whiskers", data: { values: trials.filter((t) => t.bound > t.error).map(row) }, mark: { type: "rule", strokeWidth: 1 },
        encoding: { x, y, y2: { field: "bound" }, color: { ...colour, legend: null } } },
      { name: "trials", data: { values: trials.map(row) }, mark: { type: "circle", size: 20, opacity: 1 }, encoding: { x, y, color: colour } },
      // With more than one gate kind, each kind's own front (thin, dashed, in its colour)
      ...(kinds.length > 1 ? [{
        name: "gate_fronts", data: { values: kinds.flatMap(([gate, f]) => f!.map((t, i) => ({ gate, i, macs: t.macsRatio, error: t.error * 100 }))) },
        mark: { type: "line" as const, strokeWidth: 1, strokeDash: [2, 2] },
        encoding: { x, y, ...ordered, color: { field: "gate", type: "nominal" as const, title: "front of", scale: { domain: kinds.map(([g]) => g), range: kinds.map(([g]) => GATE_COLOURS[g as GateKind]) } } },
      }] : []),
      { name: "front", data: { values: front.map((t, i) => ({ i, macs: t.macsRatio, error: t.error * 100 })) }, mark: { type: "line", color: "#138", strokeWidth: 1 },
        encoding: { x, y, ...ordered } },
      { name: "chosen", data: { values: [row(best)] }, mark: { type: "point", shape: "circle", size: 160, filled: false, stroke: "#c33", strokeWidth: 2, opacity: 1 }, encoding: { x, y } },
    ],
    resolve: { scale: { color: "independent" } },
  });
  return `${svg}\n`;
}
