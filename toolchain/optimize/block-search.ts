// optimize --gate block: block policies (toolchain/train/condnet.ts, trainPolicy: REINFORCE with L_b/L_e/L_v and
// L2) fine-tuned from the user's float model on the user's data, one per block size and density τ, with
// distillation from the input model; the search then sweeps each policy's threshold margin on validation
// (toolchain/optimize/optimize.ts). docs/TRAINING.md, "optimize", "Block gates".
import { join } from "node:path";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { UserError, showName, type FloatGate, type FloatModel } from "../../runtime/src/index.ts";
import { linear } from "../model/float.ts";
import { Rng } from "../model/random.ts";
import { checkpointBytes, parseCheckpoint } from "../train/training-checkpoint.ts";
import { initGates, trainPolicy, type PolicyEpochStats } from "../train/condnet.ts";
import type { Samples } from "../train/trainer.ts";
import { modelHash, writeAtomic, type WorkDir } from "./work-dir.ts";
import type { BlockCandidate } from "./trial.ts";
import { standardizeModel, standardizeSamples, unstandardizeModel, type InputStandard } from "../train/standardize.ts";

/** Block sizes tried by default (units per block; a layer narrower than one gets fitted blocks). */
export const BLOCK_SIZES = [8, 16];
/** Target block densities τ tried by default (the paper's MNIST net used 1/16; small nets need more). */
export const BLOCK_TAUS = [0.25, 0.5];
/**
 * The block fine-tune's settings (trainPolicy's Adam; its λ_s = λ_v = 200 and L2 1e-4 otherwise): a net learning
 * rate 10× trainPolicy's from-scratch default, so a trained net adapts to its policy within a few epochs, and fresh
 * policies of standard deviation 1/√nIn instead of 8/√nIn, not saturated, so REINFORCE moves them. Chosen on the
 * digits fixture's validation split (docs/TRAINING.md, "optimize", "Block gates").
 */
export const BLOCK_RECIPE = { lrNet: 1e-2, lrPolicy: 1e-2, lrDecay: 0.95, policyInitScale: 1 } as const;

/** The block size a layer of `nOut` units uses for a requested `size`: at most `size` and `nOut`, read back the same from its block count. */
export const fitBlockSize = (nOut: number, size: number): number => Math.ceil(nOut / Math.ceil(nOut / Math.min(size, nOut)));

/** One block policy to fine-tune: a block size per hidden layer and one density τ. */
export type { BlockCandidate } from "./trial.ts";

/** The candidates of `blockSizes` × `taus` on hidden layers of `widths` units, duplicates (after fitting) dropped. */
export function blockCandidates(widths: readonly number[], blockSizes: readonly number[], taus: readonly number[]): BlockCandidate[] {
  for (const b of blockSizes) if (!(Number.isInteger(b) && b >= 1)) throw new UserError(`block sizes must be integers ≥ 1, got ${b}`);
  for (const t of taus) if (!(t > 0 && t < 1)) throw new UserError(`block densities τ must be in (0, 1), got ${t}`);
  if (!blockSizes.length || !taus.length) throw new UserError("block gates need at least one block size and one density τ");
  const out: BlockCandidate[] = [], seen = new Set<string>();
  for (const b of blockSizes) for (const tau of taus) {
    const c = { sizes: widths.map((n) => fitBlockSize(n, b)), tau };
    const key = blockKey(c);
    if (!seen.has(key)) { seen.add(key); out.push(c); }
  }
  return out;
}

/** A candidate's name in trial keys, work files and progress lines, e.g. "8-8/0.25". */
export const blockKey = (c: BlockCandidate): string => `${c.sizes.join("-")}/${c.tau}`;

/** `model` with fresh policies: layer l in blocks of sizes[l], Z ~ N(0, (scale/√nIn)²), d = logit(τ) (condnet.ts initGates, per layer). */
function freshGates(model: FloatModel, c: BlockCandidate, rng: Rng): FloatModel {
  const hidden = model.layers.length - 1;
  return {
    layers: model.layers.map((l, i) => {
      if (i === hidden) return { ...l, gate: undefined };
      const one: FloatModel = { layers: [{ ...l, gate: undefined }, { nIn: l.nOut, nOut: 1, weight: new Float32Array(l.nOut), bias: new Float32Array(1) }] };
      return { ...l, gate: initGates(one, c.sizes[i], [c.tau], rng, BLOCK_RECIPE.policyInitScale).layers[0].gate };
    }),
  };
}

/** The gated model on raw inputs from one on standardized inputs: layer 0's policy Z' = Z / scale, d' = d − Z'·mean (and the layer itself). */
export function unstandardizeGated(m: FloatModel, st: InputStandard): FloatModel {
  const out = unstandardizeModel(m, st), g = m.layers[0].gate;
  if (!g) return out;
  const nIn = st.mean.length;
  const weight = Float32Array.from(g.weight, (v, k) => v / st.scale[k % nIn]);
  const bias = Float32Array.from(g.bias, (d, b) => {
    let s = 0;
    for (let i = 0; i < nIn; i++) s += weight[b * nIn + i] * st.mean[i];
    return d - s;
  });
  out.layers[0] = { ...out.layers[0], gate: { blockSize: g.blockSize, weight, bias } };
  return out;
}

/**
 * Per hidden layer, the standard deviation over `count` samples of its policy logits Z·s + d (s the dense
 * float activations): the unit of a block trial's margin, as σ of the pre-activation is an estimator's.
 */
export function gateLogitSigmas(model: FloatModel, x: Float32Array, count: number): number[] {
  const sigmas: number[] = [];
  let a = x;
  model.layers.slice(0, -1).forEach((l) => {
    const g = l.gate;
    if (g) {
      const d = linear(a, count, l.nIn, g.weight, g.bias, g.bias.length);
      let s = 0, s2 = 0;
      for (const v of d) { s += v; s2 += v * v; }
      const mean = s / d.length;
      sigmas.push(Math.sqrt(Math.max(s2 / d.length - mean * mean, 0)) || 1);
    } else sigmas.push(1);
    a = linear(a, count, l.nIn, l.weight, l.bias, l.nOut).map((v) => (v > 0 ? v : 0));
  });
  return sigmas;
}

/** `model` with each hidden layer's policy bias lowered by margins[l] (a block opens ⇔ Z·s + d > margin: positive margins compute less). */
export function shiftGates(model: FloatModel, margins: readonly number[]): FloatModel {
  return {
    layers: model.layers.map((l, i) => {
      if (!l.gate || !margins[i]) return l;
      const g: FloatGate = { ...l.gate, bias: Float32Array.from(l.gate.bias, (d) => d - margins[i]) };
      return { ...l, gate: g };
    }),
  };
}

export interface BlockTuneOptions {
  /** The input model on raw inputs (no estimators, no gates). */
  input: FloatModel;
  candidate: BlockCandidate;
  train: Samples;
  val: Samples;
  /** Standardization of the inputs (null: none): the policy trains on standardized inputs. */
  st: InputStandard | null;
  epochs: number;
  seed: number;
  /** Soft targets of the input model on `train` (count × classes), or null. */
  distill: { soft: Float32Array; alpha: number; temperature: number } | null;
  work: WorkDir | null;
  onBatch?: (p: { epoch: number; batch: number; batches: number; loss: number; nll: number }) => void;
  onEpoch?: (s: PolicyEpochStats) => void;
  onWarning?: (message: string) => void;
}

export interface BlockTuned {
  /** Net and policies on raw inputs, margins 0. */
  model: FloatModel;
  bestEpoch: number;
  /** Per-epoch records; empty when read from the work folder. */
  history: PolicyEpochStats[];
  resumed: boolean;
}

const blockFile = (work: WorkDir, c: BlockCandidate) => join(work.dir, `block-${c.sizes.join("-")}-tau${c.tau}.safetensors`);
const blockSum = (run: string, c: BlockCandidate, bestEpoch: number, model: FloatModel) =>
  createHash("sha256").update(`${run}\nblock ${blockKey(c)}\n${bestEpoch}\n${modelHash(model)}`).digest("hex");

/**
 * Fine-tunes `input` with a fresh block policy in the loop (trainPolicy on the user's data and sizes, never
 * MNIST's defaults), or reads the result from the work folder; the epoch with the lowest thresholded float
 * validation error is kept (trainPolicy's rule).
 */
export async function tuneBlockPolicy(o: BlockTuneOptions): Promise<BlockTuned> {
  const c = o.candidate;
  const path = o.work ? blockFile(o.work, c) : null;
  if (o.work && path && existsSync(path)) {
    const name = showName(path);
    // A checkpoint of this run's model and policies, and a header of a few KB
    let floats = 0;
    o.input.layers.forEach((l, i) => { floats += (l.nIn + 1) * l.nOut + (i < o.input.layers.length - 1 ? (l.nIn + 1) * Math.ceil(l.nOut / c.sizes[i]) : 0); });
    let why: string | null = null, bytes = new Uint8Array(0);
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new Error("not a regular file");
      if (st.size > 4 * floats + (1 << 20)) why = `${st.size} bytes, more than a checkpoint of this run's model`;
      else bytes = new Uint8Array(readFileSync(path));
    } catch (err) {
      throw new UserError(`${name}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); optimize's work folder keeps its own files there: remove it or pass another --work folder`);
    }
    if (!why) try {
      const { model, metadata } = parseCheckpoint(bytes, path);
      if (metadata.run !== o.work.run) throw new UserError(`${name}: not a checkpoint of this run (${typeof metadata.run === "string" ? "it names another run's fingerprint" : "it carries no run fingerprint"}); optimize never uses or overwrites it: remove it or pass another --work folder`);
      const bestEpoch = metadata.bestEpoch as number;
      if (Number.isInteger(bestEpoch) && bestEpoch >= 1 && metadata.sum === blockSum(o.work.run, c, bestEpoch, model) && model.layers.slice(0, -1).every((l, i) => l.gate?.blockSize === c.sizes[i])) return { model, bestEpoch, history: [], resumed: true };
      why = "its checksum does not match its weights";
    } catch (err) {
      if (!(err instanceof UserError) || err.message.includes("not a checkpoint of this run")) throw err;
      why = err.message.startsWith(`${path}: `) ? err.message.slice(path.length + 2) : err.message;
    }
    o.onWarning?.(`${name}: damaged (${why}); block policy ${blockKey(c)} is trained again and the file rewritten`);
  }
  const std = (m: FloatModel) => (o.st ? standardizeModel(m, o.st) : m);
  const seed = o.seed;
  const initial = freshGates(std(o.input), c, new Rng((seed ^ 0x1b873593) + Math.round(c.tau * 1e6) + c.sizes[0]));
  const r = await trainPolicy({
    initial, train: o.st ? standardizeSamples(o.train, o.st) : o.train, val: o.st ? standardizeSamples(o.val, o.st) : o.val,
    // Block sizes come with `initial` (one per layer); trainPolicy checks `blockSize` against every layer, which 1 always fits
    blockSize: 1, tau: c.tau, epochs: o.epochs, seed, ...BLOCK_RECIPE, ...(o.distill && { distill: o.distill }),
    onBatch: o.onBatch, onEpoch: o.onEpoch,
  });
  const model = o.st ? unstandardizeGated(r.model, o.st) : r.model;
  if (o.work && path) writeAtomic(path, checkpointBytes(model, { run: o.work.run, bestEpoch: r.bestEpoch, sum: blockSum(o.work.run, c, r.bestEpoch, model) }));
  return { model, bestEpoch: r.bestEpoch, history: r.history, resumed: false };
}
