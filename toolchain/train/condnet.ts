// Block policy trainer (Bengio, Bacon, Pineau & Precup 2015, arXiv 1511.06297): per hidden layer a
// policy σ = sigmoid(Z·s + d) over blocks of units, s the layer's input. Training samples Bernoulli
// block masks from σ; the net learns by backprop through the sampled mask, the policy by REINFORCE
// (cost = the sample's NLL minus a running-mean baseline) plus the paper's regularisers L_b, L_e, L_v
// and L2. Inference thresholds the policy: a block is on ⇔ Z·s + d > 0. docs/TRAINING.md, "Block policy".
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs-core";
import { UserError, type FloatGate, type FloatModel } from "../../runtime/src/index.ts";
import { loadMnist } from "../data/mnist.ts";
import { openBlocks } from "../model/float.ts";
import { Rng } from "../model/random.ts";
import { checkShiftAugment, shiftBatch, type ShiftAugment } from "./augment.ts";
import { initTf, type TfBackend } from "./tfjs.ts";
import { fillInputs, initModel, mnistSamples, shuffle, type Samples } from "./trainer.ts";

/** Samples per forward pass when evaluating. */
const EVAL_CHUNK = 1000;

export interface PolicyOptions {
  /** Layer widths, input first; ignored with `initial`. Default [784, 256, 10] (the paper's MNIST net). */
  sizes?: readonly number[];
  /** Units per block. Default 16. */
  blockSize?: number;
  /** Target block density τ: one value or one per hidden layer. Default 1/16. */
  tau?: number | readonly number[];
  /** Start the regularisers' target at this density and anneal it geometrically to `tau` over `tauEpochs` epochs. Default: `tau`. */
  tauStart?: number;
  /** Epochs of the τ anneal (epoch e uses τ_start·(τ/τ_start)^min(1, (e − 1)/tauEpochs)). Default 0 (no anneal). */
  tauEpochs?: number;
  /** Default 20. */
  epochs?: number;
  /** Default 64. */
  batchSize?: number;
  /** Adam learning rate of the net. Default 1e-3. */
  lrNet?: number;
  /** Adam learning rate of the policy. Default 1e-2. */
  lrPolicy?: number;
  /** Per-epoch factor on both learning rates. Default 0.95. */
  lrDecay?: number;
  /** λ_s, weight of L_b + L_e. Default 200. */
  lambdaS?: number;
  /** λ_v, weight of L_v. Default 200. */
  lambdaV?: number;
  /** λ_L2 on the net's weights (Σ w², biases excluded). Default 1e-4. */
  l2Net?: number;
  /** λ_L2 on the policy's weights. Default 1e-4. */
  l2Policy?: number;
  /** Deviation measure of L_b and L_e. Default "abs". */
  regNorm?: RegNorm;
  /** Std of the initial policy weights, times 1/√nIn. Default 8. */
  policyInitScale?: number;
  /** Decay of the running-mean baseline b ← βb + (1 − β)·mean cost. Default 0.9. */
  baselineDecay?: number;
  /** Seeds the init, the shuffles and the mask samples. Default 1. */
  seed?: number;
  /** Default "wasm". */
  backend?: TfBackend;
  /** Default MNIST "train". */
  train?: Samples;
  /** Default MNIST "val". Never the test split. */
  val?: Samples;
  /** Start the net from these weights (and its gates, if it has them; else fresh policies). */
  initial?: FloatModel;
  /** Stop after this many epochs without a better thresholded val error. */
  patience?: number;
  /** Translate every training sample by a random offset each time it is used (validation: never). Default: none. */
  augment?: ShiftAugment;
  /**
   * Distillation teacher: a float model on the same inputs and classes (its gates and estimators are
   * ignored), run on each (shifted) batch. The net's per-sample loss, and the policy's cost, become
   * (1 − α)·NLL + α·T²·KL(teacher_T ‖ net_T). Not with `distill` (precomputed soft targets).
   */
  teacher?: FloatModel;
  /** α of the `teacher` distillation. Default 0.5 with a teacher. */
  teacherAlpha?: number;
  /** T of the `teacher` distillation. Default 3. */
  teacherTemperature?: number;
  /** The first this many epochs train the policy only (the net frozen). Default 0. */
  freezeNetEpochs?: number;
  /** REINFORCE: divide each batch's advantages (cost − baseline) by their standard deviation. Default false. */
  normalizeAdvantage?: boolean;
  /**
   * How the policy learns. "reinforce" (default): the paper's score function. "oracle" (one hidden layer
   * only): each sample's target is the one block whose units alone (the others zeroed) give the lowest
   * cost, and the policy fits it by logistic regression (plus the same regularisers). "route" (one hidden
   * layer, `topK`): the policy's softmax over the blocks fits soft targets softmax(−cost_k / T) by
   * cross-entropy (`routeTemperature`; the paper's regularisers do not apply, top-k fixes the density).
   */
  policyLoss?: PolicyLoss;
  /**
   * policyLoss "oracle": pick each sample's target block as argmax_k (policy logit_k − γ·cost_k) instead of
   * argmin_k cost_k. Finite γ keeps the policy's own routing where the costs barely differ, so the blocks'
   * regions stay linearly separable (each sample then has one block with logit > 0). Default: ∞ (cost only).
   */
  oracleCostWeight?: number;
  /**
   * policyLoss "oracle": balance the targets across blocks. Each block k has a routing bias r_k added to
   * its target score (never to the policy); after each batch r_k += η·sign(τ − share of the batch's
   * targets in k), so an over-used block loses targets and a starved one gains them (the routing never
   * collapses onto a few blocks, which L_b cannot prevent once σ saturates). This is η. Default 0 (off).
   */
  oracleBalance?: number;
  /**
   * Two complementary blocks per gated layer: block 1's policy row is minus block 0's (Z₁ = −Z₀,
   * d₁ = −d₀) and every other block is closed (Z = 0, d = −100), so each sample opens exactly one of
   * two blocks (a hyperplane routes it to one of two experts; none only when Z₀·s + d₀ = 0). The tie is
   * kept exactly: both rows get the gradient g₀ − g₁ with opposite signs. Needs an initial net without
   * gates. Default false.
   */
  complementaryPair?: boolean;
  /** policyLoss "oracle": weight of the target block's term in the logistic loss (above 1 opens more blocks). Default 1. */
  oraclePosWeight?: number;
  /** The mask the net trains through: "sampled" (Bernoulli(σ), default), "threshold" (inference's, Z·s + d > 0), "oracle" (the oracle target; policyLoss "oracle" only), "top" (inference's with `topK`: the k highest logits; the default with `topK`). */
  netMask?: NetMask;
  /**
   * Routing gates: every sample opens the k blocks with the highest policy logits, in training (net mask
   * "top") and at inference (`FloatGate.topK`, docs/FORMAT.md "Block gate"), so the block density is exactly
   * k / blocks. 0 (default): threshold gates.
   */
  topK?: number;
  /** policyLoss "route": temperature of the soft targets softmax(−cost / T) the policy's softmax fits. Default 0.5. */
  routeTemperature?: number;
  /**
   * Initial policy: "random" (default, N(0, scale²/nIn)) or "kmeans" (one hidden layer, `topK`): Lloyd's
   * k-means on the training inputs with one centroid c_b per block, Z_b = 2c_b, d_b = −|c_b|², so top-1
   * routing sends each sample to its nearest centroid (balanced regions, no collapse onto a few blocks).
   */
  gateInit?: GateInit;
  /** An epoch is eligible as best only if its thresholded val block density is at most this in every gated layer. Default: no limit. */
  maxBlockDensity?: number;
  /**
   * After each epoch, shift every gate bias by the offset that gives the lowest val error within
   * `maxBlockDensity` (default: the largest τ), `calibrateGateBias`; the epoch is judged, and returned,
   * calibrated. Default false.
   */
  calibrateBias?: boolean;
  /** With `calibrateBias`: training goes on from the calibrated gate biases (the net then trains through the routing inference runs). Default false: from the uncalibrated ones. */
  calibrateInLoop?: boolean;
  /**
   * Distillation on the net's loss: (1 − alpha)·NLL + alpha·T²·CE(soft, softmax(logits / T)), `soft` the
   * teacher's softmax(logits / T) per training sample (count × classes, in `train`'s order). The policy's
   * REINFORCE cost stays the NLL. Default: none.
   */
  distill?: { soft: Float32Array; alpha: number; temperature: number };
  onBatch?: (p: { epoch: number; batch: number; batches: number; loss: number; nll: number }) => void;
  onEpoch?: (s: PolicyEpochStats) => void;
}

export interface PolicyEpochStats {
  epoch: number;
  /** The regularisers' target density this epoch, per hidden layer. */
  tau: number[];
  /** Mean NLL of the sampled-mask net over the epoch's batches. */
  nll: number;
  /** Per hidden layer: mean σ over the epoch (the training density). */
  sigmaMean: number[];
  /** Thresholded-policy validation (after the calibration, with `calibrateBias`). */
  val: GatedEval;
  /** With `calibrateBias`: the offset added to the gate biases, and the uncalibrated validation. */
  calibration?: { offset: number; val: GatedEval };
  lrNet: number;
  seconds: number;
}

export interface PolicyResult {
  /** Net and gates of the epoch with the lowest thresholded val error (earliest on ties; after any τ anneal). */
  model: FloatModel;
  bestEpoch: number;
  val: GatedEval;
  history: PolicyEpochStats[];
  baseline: number;
}

export interface GatedEval {
  count: number;
  error: number;
  loss: number;
  /** Per hidden layer: fraction of units with non-zero output. */
  density: number[];
  /** Per hidden layer: fraction of units computed (gate: units of open blocks; estimator: predicted positive; else 1). */
  computed: number[];
  /** Per hidden layer with a gate: fraction of blocks open (else 1). */
  blockDensity: number[];
  /** Per hidden layer: computed positives / positives (z > 0 given the layer's actual input). */
  recall: number[];
  /** (Σ_hidden [gate or estimator MACs + computed·nIn·nOut] + last layer) / dense MACs. */
  macFraction: number;
}

export type PolicyLoss = "reinforce" | "oracle" | "route";
export type NetMask = "sampled" | "threshold" | "oracle" | "top";
export type GateInit = "random" | "kmeans";

/** How L_b and L_e measure a deviation d: "abs" = |d| (the paper's ‖d‖₂ of a scalar), "square" = d². */
export type RegNorm = "abs" | "square";

/** L_b = Σ_j |E_batch σ_j − τ|, L_e = E_batch |mean_j σ_ij − τ|, L_v = −Σ_j var_batch σ_ij (‖·‖₂ of a scalar is |·|). */
export function policyRegularisers(sigma: tf.Tensor2D, tau: number, norm: RegNorm = "abs"): { lb: tf.Scalar; le: tf.Scalar; lv: tf.Scalar } {
  return tf.tidy(() => {
    const colMean = tf.mean(sigma, 0);
    const f = norm === "abs" ? tf.abs : tf.square;
    const lb = tf.sum(f(tf.sub(colMean, tau))) as tf.Scalar;
    const le = tf.mean(f(tf.sub(tf.mean(sigma, 1), tau))) as tf.Scalar;
    const lv = tf.neg(tf.sum(tf.mean(tf.square(tf.sub(sigma, colMean)), 0))) as tf.Scalar;
    return { lb, le, lv };
  });
}

/**
 * Gradient, with respect to the policy logits, of the policy objective
 *   (1/n) Σ_i adv_i · log π(m_i)  +  λ_s (L_b + L_e)  +  λ_v L_v,
 * log π(m_i) = Σ_j [m_ij log σ_ij + (1 − m_ij) log(1 − σ_ij)] and adv_i = cost_i − baseline (a constant:
 * REINFORCE's score-function estimate of ∇E[cost]). ∂log π/∂logit = m − σ; ∂σ/∂logit = σ(1 − σ).
 */
export function policyLogitGrad(sigma: tf.Tensor2D, mask: tf.Tensor2D, adv: tf.Tensor1D, tau: number, lambdaS: number, lambdaV: number, norm: RegNorm = "abs"): tf.Tensor2D {
  return tf.tidy(() => {
    const n = sigma.shape[0];
    const dSigma = regulariserSigmaGrad(sigma, tau, lambdaS, lambdaV, norm);
    const reinforce = tf.mul(tf.reshape(tf.div(adv, n), [n, 1]), tf.sub(mask, sigma));
    return tf.add(reinforce, tf.mul(dSigma, tf.mul(sigma, tf.sub(1, sigma)))) as tf.Tensor2D;
  });
}

/** ∂(λ_s (L_b + L_e) + λ_v L_v)/∂σ, the paper's regularisers (inside a tf.tidy). */
function regulariserSigmaGrad(sigma: tf.Tensor2D, tau: number, lambdaS: number, lambdaV: number, norm: RegNorm): tf.Tensor {
  const [n, k] = sigma.shape;
  const colMean = tf.mean(sigma, 0);
  const dNorm = (d: tf.Tensor) => (norm === "abs" ? tf.sign(d) : tf.mul(d, 2));
  const dLb = tf.div(dNorm(tf.sub(colMean, tau)), n);
  const dLe = tf.reshape(tf.div(dNorm(tf.sub(tf.mean(sigma, 1), tau)), n * k), [n, 1]);
  const dLv = tf.mul(tf.sub(sigma, colMean), -2 / n);
  return tf.add(tf.mul(tf.add(dLb, dLe), lambdaS), tf.mul(dLv, lambdaV));
}

/**
 * Gradient, with respect to the policy logits, of (1/n) Σ_i BCE(σ_i, t_i) + λ_s (L_b + L_e) + λ_v L_v
 * (policyLoss "oracle"): the logistic term's gradient is (σ − t)/n, the regularisers' as in policyLogitGrad.
 */
export function oracleLogitGrad(sigma: tf.Tensor2D, target: tf.Tensor2D, tau: number, lambdaS: number, lambdaV: number, norm: RegNorm = "abs", posWeight = 1): tf.Tensor2D {
  return tf.tidy(() => {
    const n = sigma.shape[0];
    const dSigma = regulariserSigmaGrad(sigma, tau, lambdaS, lambdaV, norm);
    // w·t·(σ − 1) + (1 − t)·σ: the logistic gradient with the target's term weighted by w
    const bce = posWeight === 1 ? tf.sub(sigma, target) : tf.add(tf.mul(tf.mul(target, tf.sub(sigma, 1)), posWeight), tf.mul(tf.sub(1, target), sigma));
    return tf.add(tf.div(bce, n), tf.mul(dSigma, tf.mul(sigma, tf.sub(1, sigma)))) as tf.Tensor2D;
  });
}

/**
 * Per-sample cost of each block alone in the last hidden layer: the logits from block k's units only
 * (the others zeroed), their NLL, mixed with the distillation term when `soft` is given. [n, nBlocks].
 */
export function blockCosts(h: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, y: tf.Tensor2D, blockSize: number, soft?: { p: tf.Tensor2D; alpha: number; t: number }): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, nOut] = h.shape, nCls = w.shape[1], k = nOut / blockSize;
    const hk = tf.transpose(tf.reshape(h, [n, k, blockSize]), [1, 0, 2]) as tf.Tensor3D;
    const logits = tf.add(tf.matMul(hk, tf.reshape(w, [k, blockSize, nCls]) as tf.Tensor3D), b);
    let cost: tf.Tensor = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), y), 2));
    if (soft) {
      const kl = tf.neg(tf.sum(tf.mul(tf.logSoftmax(tf.div(logits, soft.t)), soft.p), 2));
      cost = tf.add(tf.mul(cost, 1 - soft.alpha), tf.mul(kl, soft.alpha * soft.t * soft.t));
    }
    return tf.transpose(cost) as tf.Tensor2D;
  });
}

/**
 * Blocks of a gate: b is open ⇔ Σ_i s[i]·weight[b, i] + bias[b] > 0, or, for a routing gate (topK = k > 0),
 * ⇔ its logit is among the k highest (ties: the lower b; `openBlocks`, the float forward's rule).
 */
export function gateBlocks(gate: FloatGate, nIn: number, s: ArrayLike<number>): Uint8Array {
  const nBlocks = gate.bias.length, logit = new Float64Array(nBlocks);
  for (let b = 0; b < nBlocks; b++) {
    let acc = 0;
    for (let i = 0; i < nIn; i++) acc += s[i] * gate.weight[b * nIn + i];
    logit[b] = acc + gate.bias[b];
  }
  return openBlocks(logit, 0, nBlocks, gate.topK ?? 0, new Uint8Array(nBlocks));
}

/** [n, blocks] 0/1: the k highest logits of each row (TF.js; ties: the lower index). */
function topMask(logit: tf.Tensor2D, k: number): tf.Tensor2D {
  const blocks = logit.shape[1];
  if (k === 1) return tf.cast(tf.oneHot(tf.argMax(logit, 1), blocks), "float32") as tf.Tensor2D;
  return tf.cast(tf.sum(tf.oneHot(tf.topk(logit, k).indices, blocks), 1), "float32") as tf.Tensor2D;
}

/**
 * Plain-JS float inference of one sample with every gate (thresholded) and estimator applied: a unit of a
 * closed block, or one its estimator predicts ≤ 0, outputs 0. Returns logits and each hidden layer's open blocks.
 */
export function forwardConditional(model: FloatModel, x: ArrayLike<number>): { logits: Float64Array; blocks: (Uint8Array | null)[] } {
  let a: ArrayLike<number> = x;
  const blocks: (Uint8Array | null)[] = [];
  const last = model.layers.length - 1;
  let logits = new Float64Array(0);
  model.layers.forEach((l, li) => {
    const open = li < last && l.gate ? gateBlocks(l.gate, l.nIn, a) : null;
    const est = li < last && l.estimator ? l.estimator : null;
    const proj = est ? Float64Array.from({ length: est.rank }, (_, r) => {
      let t = 0;
      for (let i = 0; i < l.nIn; i++) t += a[i] * est.at[r * l.nIn + i];
      return t;
    }) : null;
    const out = new Float64Array(l.nOut);
    for (let j = 0; j < l.nOut; j++) {
      if (open && !open[Math.floor(j / l.gate!.blockSize)]) continue;
      if (est) {
        let e = l.bias[j] + est.offset[j];
        for (let r = 0; r < est.rank; r++) e += proj![r] * est.bt[j * est.rank + r];
        if (!(e > 0)) continue;
      }
      let z = l.bias[j];
      for (let i = 0; i < l.nIn; i++) z += a[i] * l.weight[j * l.nIn + i];
      out[j] = li < last ? Math.max(0, z) : z;
    }
    if (li < last) blocks.push(open);
    if (li === last) logits = out;
    a = out;
  });
  return { logits, blocks };
}

/** [rows][cols] → [cols][rows], as float32. */
export const transpose32 = (w: ArrayLike<number>, rows: number, cols: number) => {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
};

/** [nBlocks, nOut] 0/1: row b selects the units of block b. */
function expansion(nOut: number, blockSize: number): tf.Tensor2D {
  const nBlocks = Math.ceil(nOut / blockSize), e = new Float32Array(nBlocks * nOut);
  for (let j = 0; j < nOut; j++) e[Math.floor(j / blockSize) * nOut + j] = 1;
  return tf.tensor2d(e, [nBlocks, nOut]);
}

interface Layer {
  nIn: number;
  nOut: number;
  wt: tf.Variable<tf.Rank.R2>;
  b: tf.Variable<tf.Rank.R1>;
  /** Policy Zᵀ [nIn, nBlocks] and d, hidden layers with a gate only. */
  zt: tf.Variable<tf.Rank.R2> | null;
  d: tf.Variable<tf.Rank.R1> | null;
  expand: tf.Tensor2D | null;
  blockSize: number;
  /** Routing gate: the k highest logits open (0: threshold). */
  topK: number;
}

let variableCount = 0;

function toLayers(model: FloatModel, train: boolean, prefix: string): Layer[] {
  prefix = `${prefix}${variableCount++}_`;
  // A variable shares its initial tensor's data: tidy disposes that tensor, the variable keeps the data
  const variable = <R extends tf.Rank>(init: () => tf.Tensor<R>, name: string) => tf.tidy(() => tf.variable(init(), train, `${prefix}${name}`));
  const last = model.layers.length - 1;
  return model.layers.map((l, i) => {
    const g = i < last ? l.gate : undefined;
    const nBlocks = g ? g.bias.length : 0;
    return {
      nIn: l.nIn, nOut: l.nOut,
      wt: variable(() => tf.tensor2d(transpose32(l.weight, l.nOut, l.nIn), [l.nIn, l.nOut]), `w${i}`),
      b: variable(() => tf.tensor1d(l.bias.slice()), `b${i}`),
      zt: g ? variable(() => tf.tensor2d(transpose32(g.weight, nBlocks, l.nIn), [l.nIn, nBlocks]), `z${i}`) : null,
      d: g ? variable(() => tf.tensor1d(g.bias.slice()), `d${i}`) : null,
      expand: g ? expansion(l.nOut, g.blockSize) : null,
      blockSize: g?.blockSize ?? 0,
      topK: g?.topK ?? 0,
    };
  });
}

function fromLayers(layers: Layer[]): FloatModel {
  return {
    layers: layers.map((l) => {
      const out = {
        nIn: l.nIn, nOut: l.nOut,
        weight: transpose32(l.wt.dataSync(), l.nIn, l.nOut),
        bias: Float32Array.from(l.b.dataSync()),
      };
      if (!l.zt || !l.d) return out;
      const nBlocks = l.d.shape[0];
      return { ...out, gate: { blockSize: l.blockSize, weight: transpose32(l.zt.dataSync(), l.nIn, nBlocks), bias: Float32Array.from(l.d.dataSync()), ...(l.topK > 0 && { topK: l.topK }) } };
    }),
  };
}

const disposeLayers = (layers: Layer[]) => {
  for (const l of layers) tf.dispose([l.wt, l.b, ...(l.zt ? [l.zt, l.d!, l.expand!] : [])]);
};

const nBlocksOf = (m: FloatModel) => m.layers.filter((l) => l.gate).map((l) => l.gate!.bias.length);

/** A checkpoint stores nBlocks = ceil(nOut / blockSize) and reads blockSize back as ceil(nOut / nBlocks): they must agree. */
export function checkBlockSize(sizes: readonly number[], blockSize: number): void {
  sizes.slice(1, -1).forEach((nOut, i) => {
    const nb = Math.ceil(nOut / blockSize);
    if (Math.ceil(nOut / nb) !== blockSize) {
      throw new UserError(`block size ${blockSize} does not fit hidden layer ${i} (${nOut} units): ${nb} blocks read back as blocks of ${Math.ceil(nOut / nb)}; pick a size with ceil(${nOut} / ceil(${nOut} / size)) = size`);
    }
  });
}

/** Fresh policies: Z ~ N(0, 1/nIn), d = logit(τ), so every block starts open with probability ≈ τ. */
export function initGates(model: FloatModel, blockSize: number, tau: readonly number[], rng: Rng, scale = 1): FloatModel {
  const last = model.layers.length - 1;
  return {
    layers: model.layers.map((l, i) => {
      if (i === last) return { ...l, gate: undefined };
      const nBlocks = Math.ceil(l.nOut / blockSize), std = scale / Math.sqrt(l.nIn);
      const weight = Float32Array.from({ length: nBlocks * l.nIn }, () => rng.normal() * std);
      return { ...l, gate: { blockSize, weight, bias: new Float32Array(nBlocks).fill(Math.log(tau[i] / (1 - tau[i]))) } };
    }),
  };
}

interface EstTensors {
  at: tf.Tensor2D;
  bt: tf.Tensor2D;
  bias: tf.Tensor1D;
}

/**
 * Float evaluation with thresholded gates and estimators (as `forwardConditional`, batched on TF.js).
 * `gating: false` ignores gates and estimators (the dense net).
 * @param images raw pixels (scaled by 1/255) or float inputs
 */
export async function evaluateConditional(model: FloatModel, data: Samples, opts: { gating?: boolean; backend?: TfBackend } = {}): Promise<GatedEval> {
  await initTf(opts.backend ?? "wasm");
  const gating = opts.gating ?? true;
  const nIn = model.layers[0].nIn, last = model.layers.length - 1;
  const layers = toLayers(gating ? model : { layers: model.layers.map((l) => ({ ...l, gate: undefined })) }, false, "eval");
  const est: (EstTensors | null)[] = model.layers.map((l, i) => {
    const e = gating && i < last && !l.gate ? l.estimator : undefined;
    if (!e) return null;
    return {
      at: tf.tensor2d(transpose32(e.at, e.rank, l.nIn), [l.nIn, e.rank]),
      bt: tf.tensor2d(transpose32(e.bt, l.nOut, e.rank), [e.rank, l.nOut]),
      bias: tf.tensor1d(Float32Array.from(l.bias, (b, j) => b + e.offset[j])),
    };
  });
  const sums = new Float64Array(2 + 5 * last);
  const chunk = Math.min(EVAL_CHUNK, data.count);
  const x = new Float32Array(chunk * nIn), labels = new Uint8Array(chunk);
  try {
    for (let from = 0; from < data.count; from += chunk) {
      const n = Math.min(chunk, data.count - from);
      fillInputs(data, nIn, x, labels, from, n);
      const v = tf.tidy(() => {
        let a: tf.Tensor2D = tf.tensor2d(x.subarray(0, n * nIn), [n, nIn]);
        const lab = tf.tensor1d(labels.subarray(0, n), "int32");
        const parts: tf.Tensor[] = [];
        for (let li = 0; li < last; li++) {
          const l = layers[li], e = est[li];
          const z = tf.add(tf.matMul(a, l.wt), l.b);
          const pos = tf.step(z, 0);
          let mask: tf.Tensor2D | null = null, blocks: tf.Tensor | null = null;
          if (l.zt) {
            const logit = tf.add(tf.matMul(a, l.zt), l.d!) as tf.Tensor2D;
            const open = l.topK > 0 ? topMask(logit, l.topK) : (tf.step(logit, 0) as tf.Tensor2D);
            blocks = tf.sum(open);
            mask = tf.matMul(open, l.expand!) as tf.Tensor2D;
          } else if (e) mask = tf.step(tf.add(tf.matMul(tf.matMul(a, e.at), e.bt), e.bias), 0) as tf.Tensor2D;
          const h = mask ? tf.mul(tf.relu(z), mask) : tf.relu(z);
          parts.push(
            tf.sum(tf.step(h, 0)),
            mask ? tf.sum(mask) : tf.scalar(n * l.nOut),
            blocks ?? tf.scalar(0),
            tf.sum(pos),
            mask ? tf.sum(tf.mul(pos, mask)) : tf.sum(pos),
          );
          a = h as tf.Tensor2D;
        }
        const logits = tf.add(tf.matMul(a, layers[last].wt), layers[last].b);
        const lossSum = tf.neg(tf.sum(tf.mul(tf.cast(tf.oneHot(lab, layers[last].nOut), "float32"), tf.logSoftmax(logits))));
        const errors = tf.sum(tf.cast(tf.notEqual(tf.argMax(logits, 1), lab), "float32"));
        return tf.stack([errors, lossSum, ...parts]);
      });
      const s = v.dataSync();
      v.dispose();
      for (let k = 0; k < sums.length; k++) sums[k] += s[k];
    }
  } finally {
    disposeLayers(layers);
    for (const e of est) if (e) tf.dispose([e.at, e.bt, e.bias]);
  }
  const count = data.count;
  const hidden = model.layers.slice(0, last);
  const at = (li: number, k: number) => sums[2 + 5 * li + k];
  const computed = hidden.map((l, li) => at(li, 1) / (count * l.nOut));
  let macs = 0, dense = 0;
  model.layers.forEach((l, li) => {
    dense += l.nIn * l.nOut;
    if (li === last) return void (macs += l.nIn * l.nOut);
    const g = gating ? l.gate : undefined, e = gating && !g ? l.estimator : undefined;
    const front = g ? g.bias.length * l.nIn : e ? e.rank * (l.nIn + l.nOut) : 0;
    macs += front + computed[li] * l.nIn * l.nOut;
  });
  return {
    count,
    error: Math.round(sums[0]) / count,
    loss: sums[1] / count,
    density: hidden.map((l, li) => at(li, 0) / (count * l.nOut)),
    computed,
    blockDensity: hidden.map((l, li) => (gating && l.gate ? at(li, 2) / (count * l.gate.bias.length) : 1)),
    recall: hidden.map((_, li) => (at(li, 3) ? at(li, 4) / at(li, 3) : 1)),
    macFraction: macs / dense,
  };
}


export interface BiasCalibration {
  /** The offset added to every gate bias. */
  offset: number;
  model: FloatModel;
  val: GatedEval;
  /** Every offset tried, in order. */
  tried: { offset: number; error: number; blockDensity: number[] }[];
}

/**
 * Adds one offset c to every gate bias (all layers) and picks, on `val`, the lowest thresholded error
 * whose block density is at most `maxDensity` in every gated layer (ties: the lower density, then the
 * smaller |c|). The density falls as c falls, so c* (the largest feasible offset) is found by bisection
 * (bracketed by doubling, as the logits' scale is the policy's); every offset evaluated on the way is a
 * candidate, and so is c = 0, so an eligible model is never made worse on `val`.
 */
export async function calibrateGateBias(model: FloatModel, val: Samples, maxDensity: number, opts: { backend?: TfBackend } = {}): Promise<BiasCalibration> {
  const shifted = (c: number): FloatModel => ({
    layers: model.layers.map((l) => (l.gate ? { ...l, gate: { ...l.gate, bias: Float32Array.from(l.gate.bias, (b) => b + c) } } : l)),
  });
  const tried: BiasCalibration["tried"] = [];
  let best: { offset: number; val: GatedEval } | null = null;
  const sum = (e: GatedEval) => e.blockDensity.reduce((a, b) => a + b, 0);
  const tryOffset = async (c: number): Promise<boolean> => {
    const v = await evaluateConditional(shifted(c), val, opts);
    tried.push({ offset: c, error: v.error, blockDensity: v.blockDensity });
    const ok = v.blockDensity.every((b) => b <= maxDensity);
    if (ok && (!best || v.error < best.val.error || (v.error === best.val.error && (sum(v) < sum(best.val) || (sum(v) === sum(best.val) && Math.abs(c) < Math.abs(best.offset)))))) best = { offset: c, val: v };
    return ok;
  };
  let lo: number, hi: number;
  if (await tryOffset(0)) {
    lo = 0;
    for (hi = 1; await tryOffset(hi); hi *= 2) if (hi >= 1 << 16) break;
  } else {
    hi = 0;
    for (lo = -1; !(await tryOffset(lo)); lo *= 2) if (lo <= -(1 << 16)) throw new UserError(`no gate-bias offset down to −${1 << 16} keeps the validation block density at most ${maxDensity}`);
  }
  for (let it = 0; it < 16 && hi - lo > 1e-3 * Math.max(1, Math.abs(lo)); it++) {
    const mid = (lo + hi) / 2;
    if (await tryOffset(mid)) lo = mid;
    else hi = mid;
  }
  const b = best as unknown as { offset: number; val: GatedEval };
  return { offset: b.offset, model: shifted(b.offset), val: b.val, tried };
}

/**
 * Lloyd's k-means of the samples' inputs with `k` centroids (seeded by k distinct random samples, `rng`), until
 * no assignment changes or `iterations` steps. A centroid that loses all its samples keeps its place.
 * Returns the centroids, [k][nIn].
 */
export function kmeans(data: Samples, nIn: number, k: number, rng: Rng, iterations = 50): Float32Array {
  if (data.count < k) throw new UserError(`k-means needs at least ${k} training samples (one per block), got ${data.count}`);
  const x = new Float32Array(data.count * nIn), labels = new Uint8Array(data.count);
  fillInputs(data, nIn, x, labels, 0, data.count);
  const picks = new Set<number>();
  while (picks.size < k) picks.add(Math.floor(rng.next() * data.count));
  const centroids = new Float32Array(k * nIn);
  [...picks].forEach((s, b) => centroids.set(x.subarray(s * nIn, (s + 1) * nIn), b * nIn));
  const xs = tf.tensor2d(x, [data.count, nIn]);
  let c = tf.tensor2d(centroids, [k, nIn]), assign = new Int32Array(0);
  try {
    for (let it = 0; it < iterations; it++) {
      const [next, a] = tf.tidy(() => {
        const score = tf.sub(tf.mul(tf.matMul(xs, c, false, true), 2), tf.sum(tf.square(c), 1));
        const a = tf.argMax(score, 1);
        const oh = tf.cast(tf.oneHot(a, k), "float32");
        const count = tf.reshape(tf.sum(oh, 0), [k, 1]);
        const mean = tf.div(tf.matMul(oh, xs, true, false), tf.maximum(count, 1));
        return [tf.where(tf.greater(tf.tile(count, [1, nIn]), 0), mean, c) as tf.Tensor2D, a];
      });
      const a2 = Int32Array.from(a.dataSync() as Int32Array);
      a.dispose();
      c.dispose();
      c = next;
      const same = a2.length === assign.length && a2.every((v, i) => v === assign[i]);
      assign = a2;
      if (same) break;
    }
    return Float32Array.from(c.dataSync());
  } finally {
    xs.dispose();
    c.dispose();
  }
}

/** A routing policy from centroids: logit_b = 2c_b·s − |c_b|², so the top-1 block is the nearest centroid's. */
export function routeByCentroids(c: Float32Array, nIn: number, k: number): { weight: Float32Array; bias: Float32Array } {
  const weight = Float32Array.from(c, (v) => 2 * v), bias = new Float32Array(k);
  for (let b = 0; b < k; b++) for (let i = 0; i < nIn; i++) bias[b] -= c[b * nIn + i] * c[b * nIn + i];
  return { weight, bias };
}

/**
 * Trains a ReLU MLP with a block policy in front of every hidden layer and returns the best epoch on
 * thresholded-policy validation. Both networks use Adam; the policy reads its layer's input with the
 * gradient stopped, so the net learns only from the NLL (+ L2) and the policy only from REINFORCE and
 * its regularisers. Same seed and backend, same weights.
 */
export async function trainPolicy(opts: PolicyOptions = {}): Promise<PolicyResult> {
  const seed = opts.seed ?? 1;
  const initRng = new Rng(seed), shuffleRng = new Rng(seed ^ 0x5bd1e995), maskRng = new Rng(seed ^ 0x68e31da4), gateRng = new Rng(seed ^ 0x1b873593);
  const net = opts.initial ?? initModel(opts.sizes ?? [784, 256, 10], initRng);
  const sizes = [net.layers[0].nIn, ...net.layers.map((l) => l.nOut)];
  const hidden = sizes.length - 2, nIn = sizes[0];
  if (hidden < 1) throw new UserError(`a block policy needs at least one hidden layer, got sizes ${sizes.join("-")}`);
  const blockSize = opts.blockSize ?? 16, epochs = opts.epochs ?? 20, batchSize = opts.batchSize ?? 64;
  const lrNet0 = opts.lrNet ?? 1e-3, lrPolicy0 = opts.lrPolicy ?? 1e-2, lrDecay = opts.lrDecay ?? 0.95;
  const lambdaS = opts.lambdaS ?? 200, lambdaV = opts.lambdaV ?? 200, l2Net = opts.l2Net ?? 1e-4, l2Policy = opts.l2Policy ?? 1e-4;
  const beta = opts.baselineDecay ?? 0.9, regNorm = opts.regNorm ?? "abs";
  const tau = typeof opts.tau === "object" ? [...opts.tau] : Array<number>(hidden).fill(opts.tau ?? 1 / 16);
  const check = (ok: boolean, msg: string) => {
    if (!ok) throw new UserError(msg);
  };
  const pos = (v: number) => Number.isFinite(v) && v > 0;
  check(Number.isInteger(epochs) && epochs > 0, `epochs must be a positive integer, got ${epochs}`);
  check(Number.isInteger(batchSize) && batchSize > 1, `batchSize must be an integer ≥ 2 (batch statistics), got ${batchSize}`);
  check(Number.isInteger(blockSize) && blockSize > 0, `blockSize must be a positive integer, got ${blockSize}`);
  check(pos(lrNet0) && (pos(lrPolicy0) || lrPolicy0 === 0) && pos(lrDecay), `lrNet and lrDecay must be positive and lrPolicy ≥ 0 (0: the policy stays as it starts), got ${lrNet0}, ${lrPolicy0}, ${lrDecay}`);
  check([lambdaS, lambdaV, l2Net, l2Policy].every((v) => Number.isFinite(v) && v >= 0), `λ values must be ≥ 0`);
  check(beta >= 0 && beta < 1, `baselineDecay must be in [0, 1), got ${beta}`);
  check(tau.length === hidden && tau.every((t) => t > 0 && t < 1), `tau must be one value or one per hidden layer (${hidden}), each in (0, 1), got ${tau.join(",")}`);
  checkBlockSize(sizes, blockSize);
  const tauEpochs = opts.tauEpochs ?? 0, tauStart = opts.tauStart;
  check(tauStart === undefined || (tauStart > 0 && tauStart < 1), `tauStart must be in (0, 1), got ${tauStart}`);
  check(Number.isInteger(tauEpochs) && tauEpochs >= 0, `tauEpochs must be an integer ≥ 0, got ${tauEpochs}`);
  const tauAt = (epoch: number) => tau.map((t) => (tauStart === undefined || tauEpochs === 0 ? t : tauStart * (t / tauStart) ** Math.min(1, (epoch - 1) / tauEpochs)));
  const topK = opts.topK ?? 0, routeTemperature = opts.routeTemperature ?? 0.5, gateInit = opts.gateInit ?? "random";
  const policyLoss = opts.policyLoss ?? "reinforce", netMask = opts.netMask ?? (topK > 0 ? "top" : "sampled");
  const freezeNetEpochs = opts.freezeNetEpochs ?? 0, maxBlockDensity = opts.maxBlockDensity, oraclePosWeight = opts.oraclePosWeight ?? 1;
  check(pos(oraclePosWeight), `oraclePosWeight must be positive, got ${oraclePosWeight}`);
  const oracleCostWeight = opts.oracleCostWeight, oracleBalance = opts.oracleBalance ?? 0;
  check(Number.isFinite(oracleBalance) && oracleBalance >= 0, `oracleBalance must be ≥ 0, got ${oracleBalance}`);
  check(oracleCostWeight === undefined || (Number.isFinite(oracleCostWeight) && oracleCostWeight >= 0), `oracleCostWeight must be ≥ 0, got ${oracleCostWeight}`);
  const teacher = opts.teacher, alpha = teacher ? opts.teacherAlpha ?? 0.5 : 0, temperature = opts.teacherTemperature ?? 3;
  check(policyLoss === "reinforce" || policyLoss === "oracle" || policyLoss === "route", `policyLoss must be reinforce, oracle or route, got ${policyLoss}`);
  check(netMask === "sampled" || netMask === "threshold" || netMask === "oracle" || netMask === "top", `netMask must be sampled, threshold, oracle or top, got ${netMask}`);
  check(Number.isInteger(topK) && topK >= 0, `topK must be an integer ≥ 0, got ${topK}`);
  sizes.slice(1, -1).forEach((nOut, i) => check(topK <= Math.ceil(nOut / blockSize), `topK ${topK} is more than the ${Math.ceil(nOut / blockSize)} blocks of hidden layer ${i}`));
  check(topK === 0 || policyLoss !== "reinforce", "topK (routing gates) needs policyLoss route or oracle: REINFORCE scores sampled masks, a routing gate samples none");
  check(netMask !== "top" || topK > 0, "netMask top needs topK (routing gates)");
  check(topK === 0 || netMask === "top" || netMask === "oracle", `routing gates (topK) train through netMask top or oracle, got ${netMask}`);
  check(policyLoss !== "route" || topK > 0, "policyLoss route needs topK (routing gates)");
  check(Number.isFinite(routeTemperature) && routeTemperature > 0, `routeTemperature must be positive, got ${routeTemperature}`);
  check(gateInit === "random" || gateInit === "kmeans", `gateInit must be random or kmeans, got ${gateInit}`);
  check(gateInit !== "kmeans" || (topK > 0 && hidden === 1), "gateInit kmeans needs topK (routing gates) and one hidden layer (its centroids are of the training inputs)");
  check(topK === 0 || !opts.calibrateBias, "calibrateBias moves every gate bias by one offset, which does not change a routing gate's (topK) choice");
  check(topK === 0 || !opts.complementaryPair, "complementaryPair is a threshold gate's routing; with topK every sample opens exactly k blocks already");
  check(netMask !== "oracle" || policyLoss === "oracle", "netMask oracle needs policyLoss oracle");
  check(netMask !== "threshold" || policyLoss === "oracle", "netMask threshold needs policyLoss oracle (REINFORCE scores the sampled masks the net ran)");
  check(policyLoss === "reinforce" || hidden === 1, `policyLoss ${policyLoss} scores blocks of the last hidden layer alone: it needs one hidden layer, got ${hidden}`);
  check(policyLoss === "reinforce" || sizes[1] % blockSize === 0, `policyLoss ${policyLoss} needs whole blocks: ${sizes[1]} units are not a multiple of ${blockSize}`);
  check(Number.isInteger(freezeNetEpochs) && freezeNetEpochs >= 0, `freezeNetEpochs must be an integer ≥ 0, got ${freezeNetEpochs}`);
  check(maxBlockDensity === undefined || (maxBlockDensity > 0 && maxBlockDensity <= 1), `maxBlockDensity must be in (0, 1], got ${maxBlockDensity}`);
  check(opts.teacherAlpha === undefined || teacher !== undefined, "teacherAlpha needs a teacher model");
  check(!(teacher && opts.distill), "teacher and distill are two ways to distil: give one");
  check(!opts.calibrateInLoop || opts.calibrateBias === true, "calibrateInLoop needs calibrateBias");
  check(alpha >= 0 && alpha <= 1, `teacherAlpha must be in [0, 1], got ${alpha}`);
  check(pos(temperature), `teacherTemperature must be positive, got ${temperature}`);
  if (teacher) {
    const tIn = teacher.layers[0].nIn, tOut = teacher.layers[teacher.layers.length - 1].nOut;
    check(tIn === nIn && tOut === sizes[sizes.length - 1], `the teacher maps ${tIn} inputs to ${tOut} classes; the net maps ${nIn} to ${sizes[sizes.length - 1]}`);
  }
  if (opts.augment) checkShiftAugment(opts.augment, nIn);
  const train = opts.train ?? mnistSamples(loadMnist("train"));
  const val = opts.val ?? mnistSamples(loadMnist("val"));
  const distill = opts.distill && opts.distill.alpha > 0 ? opts.distill : null;
  const nCls = sizes[sizes.length - 1];
  if (distill) check(distill.soft.length >= train.count * nCls && distill.alpha <= 1 && distill.temperature > 0, `distill needs ${train.count * nCls} soft targets, alpha in [0, 1] and a temperature > 0`);
  const batchSoft = new Float32Array(batchSize * nCls);

  await initTf(opts.backend ?? "wasm");
  const gated = net.layers.slice(0, -1).every((l) => l.gate);
  check(gateInit !== "kmeans" || !gated, "gateInit kmeans starts fresh policies: give an initial net without gates");
  const routeInit = (): FloatModel => {
    const nb = Math.ceil(sizes[1] / blockSize), c = kmeans(train, nIn, nb, gateRng);
    return { layers: net.layers.map((l, i) => (i === 0 ? { ...l, gate: { blockSize, ...routeByCentroids(c, nIn, nb) } } : { ...l, gate: undefined })) };
  };
  let start = gated ? net : gateInit === "kmeans" ? routeInit() : initGates(net, blockSize, tauAt(1), gateRng, opts.policyInitScale ?? 8);
  if (topK > 0) start = { layers: start.layers.map((l) => (l.gate ? { ...l, gate: { ...l.gate, topK } } : l)) };
  const paired = opts.complementaryPair ?? false;
  if (paired) {
    check(start !== net, "complementaryPair starts fresh policies: give an initial net without gates");
    check(start.layers.slice(0, -1).every((l) => l.gate!.bias.length >= 2), "complementaryPair needs at least 2 blocks per gated layer");
    start = {
      layers: start.layers.map((l) => {
        if (!l.gate) return l;
        const w = l.gate.weight.slice(), b = new Float32Array(l.gate.bias.length).fill(-100);
        w.fill(0, 2 * l.nIn);
        for (let i = 0; i < l.nIn; i++) w[l.nIn + i] = -w[i];
        b[0] = 0;
        b[1] = 0;
        return { ...l, gate: { ...l.gate, weight: w, bias: b } };
      }),
    };
  }
  // Complementary pair: columns 0 and 1 of the logit gradient become ±(g₀ − g₁), the rest 0
  const pairMask = paired ? nBlocksOf(start).map((nb) => tf.tensor2d(Float32Array.from({ length: 2 * nb }, (_, i) => (i === 0 || i === nb ? 1 : i === 1 || i === nb + 1 ? -1 : 0)), [2, nb])) : [];
  const layers = toLayers(start, true, "train");
  const netVars = layers.flatMap((l) => [l.wt, l.b]);
  const policyVars = layers.flatMap((l) => (l.zt ? [l.zt, l.d!] : []));
  const optNet = tf.train.adam(lrNet0), optPolicy = tf.train.adam(lrPolicy0);
  const last = hidden;
  const nBlocks = layers.slice(0, last).map((l) => l.d!.shape[0]);
  const teacherLayers = teacher ? toLayers({ layers: teacher.layers.map((l) => ({ ...l, gate: undefined, estimator: undefined })) }, false, "teacher") : null;
  const augRng = new Rng(seed ^ 0x2545f491), scratch = new Float32Array(nIn);
  const routeBias = nBlocks.map((nb) => new Float32Array(nb));
  try {
    const order = Int32Array.from({ length: train.count }, (_, i) => i);
    const x = new Float32Array(batchSize * nIn), labels = new Uint8Array(batchSize);
    const batches = Math.ceil(train.count / batchSize);
    const history: PolicyEpochStats[] = [];
    let baseline = NaN;
    let best: { epoch: number; val: GatedEval | null; model: FloatModel } = { epoch: 0, val: null, model: start };
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const t0 = performance.now();
      const lrNet = lrNet0 * lrDecay ** (epoch - 1);
      (optNet as unknown as { learningRate: number }).learningRate = lrNet;
      (optPolicy as unknown as { learningRate: number }).learningRate = lrPolicy0 * lrDecay ** (epoch - 1);
      shuffle(order, shuffleRng);
      const tauE = tauAt(epoch);
      let nllSum = 0, counted = 0;
      const sigmaSum = new Float64Array(hidden);
      for (let bi = 0; bi < batches; bi++) {
        const from = bi * batchSize, n = Math.min(batchSize, train.count - from);
        if (n < 2) continue;
        fillInputs(train, nIn, x, labels, from, n, order);
        if (opts.augment) shiftBatch(x, n, opts.augment, augRng, scratch);
        if (distill) for (let s = 0; s < n; s++) batchSoft.set(distill.soft.subarray(order[from + s] * nCls, (order[from + s] + 1) * nCls), s * nCls);
        const uniforms = nBlocks.map((nb) => Float32Array.from({ length: n * nb }, () => maskRng.next()));
        const b0 = Number.isNaN(baseline) ? 0 : baseline;
        const out = tf.tidy(() => {
          const x0 = tf.tensor2d(x.subarray(0, n * nIn), [n, nIn]);
          const y = tf.cast(tf.oneHot(tf.tensor1d(labels.subarray(0, n), "int32"), sizes[sizes.length - 1]), "float32") as tf.Tensor2D;
          // Forward: policy on each layer's input, sampled mask, net through the mask
          const ins: tf.Tensor2D[] = [x0], zs: tf.Tensor2D[] = [], masks: tf.Tensor2D[] = [], unitMasks: tf.Tensor2D[] = [], sigmas: tf.Tensor2D[] = [];
          let reg: tf.Tensor = tf.scalar(0);
          // Distillation: the teacher's probabilities at T
          let soft: tf.Tensor2D | null = null;
          if (teacherLayers) {
            let t: tf.Tensor2D = x0;
            teacherLayers.forEach((tl, i) => {
              const zt = tf.add(tf.matMul(t, tl.wt), tl.b) as tf.Tensor2D;
              t = i < teacherLayers.length - 1 ? tf.relu(zt) : zt;
            });
            soft = tf.softmax(tf.div(t, temperature)) as tf.Tensor2D;
          }
          const targets: tf.Tensor2D[] = [];
          for (let li = 0; li < last; li++) {
            const l = layers[li], a = ins[li];
            const logit = tf.add(tf.matMul(a, l.zt!), l.d!) as tf.Tensor2D;
            const sigma = tf.sigmoid(logit) as tf.Tensor2D;
            const z = tf.add(tf.matMul(a, l.wt), l.b) as tf.Tensor2D;
            let mask: tf.Tensor2D;
            if (policyLoss === "route") {
              const costs = blockCosts(tf.relu(z) as tf.Tensor2D, layers[last].wt, layers[last].b, y, l.blockSize, soft ? { p: soft, alpha, t: temperature } : undefined);
              targets.push(tf.softmax(tf.div(tf.neg(costs), routeTemperature)) as tf.Tensor2D);
            } else if (policyLoss === "oracle") {
              let costs = blockCosts(tf.relu(z) as tf.Tensor2D, layers[last].wt, layers[last].b, y, l.blockSize, soft ? { p: soft, alpha, t: temperature } : undefined);
              if (paired) costs = tf.add(costs, tf.mul(tf.sub(1, tf.abs(tf.slice(pairMask[li], [0, 0], [1, -1]))), 1e9)) as tf.Tensor2D;
              let pick: tf.Tensor;
              if (oracleBalance === 0) pick = oracleCostWeight === undefined ? tf.argMin(costs, 1) : tf.argMax(tf.sub(logit, tf.mul(costs, oracleCostWeight)), 1);
              else {
                const score = oracleCostWeight === undefined ? tf.neg(costs) : tf.sub(logit, tf.mul(costs, oracleCostWeight));
                pick = tf.argMax(tf.add(score, tf.tensor1d(routeBias[li])), 1);
              }
              targets.push(tf.cast(tf.oneHot(pick, nBlocks[li]), "float32") as tf.Tensor2D);
            }
            if (netMask === "top") mask = topMask(logit, topK);
            else if (netMask === "threshold") mask = tf.step(logit, 0) as tf.Tensor2D;
            else if (netMask === "oracle") mask = targets[li];
            else mask = tf.cast(tf.less(tf.tensor2d(uniforms[li], [n, nBlocks[li]]), sigma), "float32") as tf.Tensor2D;
            const unitMask = tf.matMul(mask, l.expand!) as tf.Tensor2D;
            if (policyLoss !== "route") {
              const r = policyRegularisers(sigma, tauE[li], regNorm);
              reg = tf.add(reg, tf.add(tf.mul(lambdaS, tf.add(r.lb, r.le)), tf.mul(lambdaV, r.lv)));
            }
            sigmas.push(sigma);
            masks.push(mask);
            unitMasks.push(unitMask);
            zs.push(z);
            ins.push(tf.mul(tf.relu(z), unitMask) as tf.Tensor2D);
          }
          const lsm = tf.logSoftmax(tf.add(tf.matMul(ins[last], layers[last].wt), layers[last].b));
          let nll = tf.neg(tf.sum(tf.mul(y, lsm), 1)) as tf.Tensor1D;
          let gOut: tf.Tensor2D | null = null;
          if (soft) {
            // (1 − α)·NLL + α·T²·KL(p ‖ q_T); at the logits: (1 − α)(q − y) + α·T·(q_T − p)
            const logits = tf.add(tf.matMul(ins[last], layers[last].wt), layers[last].b);
            const lsmT = tf.logSoftmax(tf.div(logits, temperature));
            const kl = tf.sum(tf.mul(soft, tf.sub(tf.log(tf.maximum(soft, 1e-30)), lsmT)), 1);
            nll = tf.add(tf.mul(nll, 1 - alpha), tf.mul(kl, alpha * temperature * temperature)) as tf.Tensor1D;
            gOut = tf.div(tf.add(tf.mul(tf.sub(tf.exp(lsm), y), 1 - alpha), tf.mul(tf.sub(tf.exp(lsmT), soft), alpha * temperature)), n) as tf.Tensor2D;
          }
          const meanNll = tf.mean(nll);
          let adv = tf.sub(nll, Number.isNaN(baseline) ? meanNll : baseline) as tf.Tensor1D;
          if (opts.normalizeAdvantage) adv = tf.div(adv, tf.add(tf.sqrt(tf.mean(tf.square(tf.sub(nll, meanNll)))), 1e-6)) as tf.Tensor1D;

          // Backward, net: softmax cross-entropy, then through each mask and ReLU
          const netGrads: tf.NamedTensorMap = {}, policyGrads: tf.NamedTensorMap = {};
          const decay = (v: tf.Variable, g: tf.Tensor, lambda: number) => (lambda > 0 ? tf.add(g, tf.mul(v, 2 * lambda)) : g);
          let g = gOut ?? (tf.div(tf.sub(tf.exp(lsm), y), n) as tf.Tensor2D);
          if (distill) {
            // (1 − α)(p − y) + α·T·(softmax(z / T) − soft), per sample
            const t = distill.temperature, soft = tf.tensor2d(batchSoft.subarray(0, n * nCls), [n, nCls]);
            const pt = tf.softmax(tf.div(tf.add(tf.matMul(ins[last], layers[last].wt), layers[last].b), t));
            g = tf.add(tf.mul(g, 1 - distill.alpha), tf.mul(tf.sub(pt, soft), (distill.alpha * t) / n)) as tf.Tensor2D;
          }
          for (let li = last; li >= 0; li--) {
            const l = layers[li], a = ins[li];
            netGrads[l.wt.name] = decay(l.wt, tf.matMul(tf.transpose(a), g), l2Net);
            netGrads[l.b.name] = tf.sum(g, 0);
            if (li > 0) g = tf.mul(tf.matMul(g, tf.transpose(l.wt)), tf.mul(unitMasks[li - 1], tf.step(zs[li - 1], 0))) as tf.Tensor2D;
          }
          // Backward, policy: REINFORCE + regularisers at the logits, input constant
          for (let li = 0; li < last; li++) {
            const l = layers[li];
            let gl = policyLoss === "route"
              ? (tf.div(tf.sub(tf.softmax(tf.add(tf.matMul(ins[li], l.zt!), l.d!)), targets[li]), ins[li].shape[0]) as tf.Tensor2D)
              : policyLoss === "oracle"
              ? oracleLogitGrad(sigmas[li], targets[li], tauE[li], lambdaS, lambdaV, regNorm, oraclePosWeight)
              : policyLogitGrad(sigmas[li], masks[li], adv, tauE[li], lambdaS, lambdaV, regNorm);
            if (paired) gl = tf.matMul(tf.sub(tf.slice(gl, [0, 0], [-1, 1]), tf.slice(gl, [0, 1], [-1, 1])), tf.slice(pairMask[li], [0, 0], [1, -1])) as tf.Tensor2D;
            policyGrads[l.zt!.name] = decay(l.zt!, tf.matMul(tf.transpose(ins[li]), gl), l2Policy);
            policyGrads[l.d!.name] = tf.sum(gl, 0);
          }
          if (epoch > freezeNetEpochs) optNet.applyGradients(netGrads as Record<string, tf.Variable>);
          optPolicy.applyGradients(policyGrads as Record<string, tf.Variable>);
          const scalars = tf.stack([tf.add(meanNll, reg), ...sigmas.map((sg) => tf.mean(sg)), meanNll]);
          return oracleBalance === 0 ? scalars : tf.concat([scalars, ...targets.map((t) => tf.mean(t, 0))]);
        });
        const s = out.dataSync();
        out.dispose();
        const loss = s[0], nll = s[1 + hidden];
        if (oracleBalance !== 0) {
          let o = 2 + hidden;
          routeBias.forEach((r, li) => {
            for (let k = 0; k < r.length; k++) r[k] += oracleBalance * Math.sign(tauE[li] - s[o + k]);
            o += r.length;
          });
        }
        if (!Number.isFinite(loss)) throw new UserError(`training diverged at epoch ${epoch}, batch ${bi + 1} (loss ${loss}); lower the learning rates`);
        baseline = Number.isNaN(baseline) ? nll : beta * baseline + (1 - beta) * nll;
        nllSum += nll * n;
        counted += n;
        for (let li = 0; li < hidden; li++) sigmaSum[li] += s[1 + li] * n;
        opts.onBatch?.({ epoch, batch: bi + 1, batches, loss, nll });
      }
      let model = fromLayers(layers);
      let v = await evaluateConditional(model, val, { backend: opts.backend });
      let calibration: PolicyEpochStats["calibration"];
      if (opts.calibrateBias) {
        const c = await calibrateGateBias(model, val, maxBlockDensity ?? Math.max(...tau), { backend: opts.backend }).catch((e) => {
          if (e instanceof UserError) return null;
          throw e;
        });
        if (c) {
          calibration = { offset: c.offset, val: v };
          model = c.model;
          if (opts.calibrateInLoop) for (const l of layers) if (l.d) tf.tidy(() => l.d!.assign(tf.add(l.d!, c.offset)));
          v = c.val;
        }
      }
      const stats: PolicyEpochStats = {
        epoch, tau: tauE, nll: nllSum / counted, sigmaMean: Array.from(sigmaSum, (s) => s / counted), val: v, ...(calibration && { calibration }), lrNet, seconds: (performance.now() - t0) / 1000,
      };
      history.push(stats);
      // Epochs of a τ anneal run at a higher density: eligible only once it ends (or as the last epoch)
      const limit = maxBlockDensity ?? (opts.calibrateBias ? Math.max(...tau) : undefined);
      const dense = limit === undefined || v.blockDensity.every((b) => b <= limit);
      const eligible = (tauStart === undefined || epoch > tauEpochs || epoch === epochs) && dense;
      if (eligible && (!best.val || v.error < best.val.error)) best = { epoch, val: v, model };
      opts.onEpoch?.(stats);
      if (opts.patience !== undefined && epoch - best.epoch >= opts.patience) break;
    }
    if (!best.val) throw new UserError(`no epoch kept the validation block density at most ${maxBlockDensity ?? Math.max(...tau)} (last: ${history[history.length - 1].val.blockDensity.map((b) => (100 * b).toFixed(1)).join("/")} %); train longer or raise λ_s`);
    return { model: best.model, bestEpoch: best.epoch, val: best.val, history, baseline };
  } finally {
    disposeLayers(layers);
    if (teacherLayers) disposeLayers(teacherLayers);
    tf.dispose(pairMask);
    optNet.dispose();
    optPolicy.dispose();
  }
}
