// The float compute a trainer runs on: one SGD step and a counting forward pass of a ReLU MLP, with the
// low-rank estimator's mask on each hidden layer. Two implementations share this contract: "js" (below,
// typed arrays and toolchain/train/gemm.ts) and TF.js on its wasm or cpu backend (toolchain/train/tfjs.ts).
import type { FloatModel } from "../../runtime/src/index.ts";
import { gemmNT_f32, transpose_f32 } from "./gemm.ts";

/** Estimator factors of one layer: A transposed [k][nIn] and B transposed [nOut][k] (k = at.length / nIn). */
export interface EstimatorFactors {
  at: Float64Array | Float32Array;
  bt: Float64Array | Float32Array;
  /** [nOut]: per-unit shift of the decision (a learned estimator's offset); default 0. */
  offset?: Float64Array | Float32Array;
}

export type ComputeName = "wasm" | "cpu" | "js";
export const COMPUTE_NAMES: readonly ComputeName[] = ["wasm", "cpu", "js"];

export interface StepParams {
  lr: number;
  momentum: number;
  /** λ per hidden layer of the activation penalty Σ_layers λ_l · (1/batch) Σ_samples Σ_units |h|. */
  l1: readonly number[];
  /**
   * Distillation: the teacher's probabilities at `temperature` (count × classes). The objective becomes
   * (1 − alpha)·CE(labels, p) + alpha·T²·CE(soft, p_T), p_T = softmax(logits / T); its gradient at the
   * logits is (1 − alpha)·(p − y) + alpha·T·(p_T − soft).
   */
  distill?: { soft: Float32Array; alpha: number; temperature: number };
}

/** Counts over a set of samples for one hidden layer; every count is over (sample, unit) pairs. */
export interface LayerCounts {
  /** Units whose output is non-zero (positive and computed). */
  active: number;
  /** Units the estimator lets through (all units without an estimator). */
  computed: number;
  /** Units whose pre-activation, given this layer's actual input, is positive. */
  positive: number;
  /** Positive units that were computed (recall = positiveComputed / positive). */
  positiveComputed: number;
}

export interface EvalCounts {
  count: number;
  errors: number;
  /** Sum over samples of the cross-entropy. */
  lossSum: number;
  layers: LayerCounts[];
}

/**
 * A model's weights, momentum and estimator factors, living wherever the compute keeps them.
 * Hidden layer l's output is relu(z)·m with z = x·Wᵀ + b and m = (x·A·B + b > 0) while factors are set
 * for it (m = 1 otherwise); gradients flow only through units with non-zero output.
 */
export interface MlpCompute {
  readonly name: ComputeName;
  /** Copies the model's weights in and zeroes the momentum. */
  load(model: FloatModel): void;
  /** Copies the current weights out. */
  save(): FloatModel;
  /** Estimator factors per hidden layer (null: no estimator); held constant until the next call. */
  setFactors(factors: (EstimatorFactors | null | undefined)[]): void;
  /**
   * One SGD-with-momentum step (v ← μv + g; w ← w − lr·v) on `count` samples.
   * @param x count × nIn inputs, row-major
   * @returns the batch's mean objective: cross-entropy plus the L1 penalty
   */
  step(x: Float32Array, labels: Uint8Array, count: number, p: StepParams): number;
  /** Forward pass with the current factors; counts errors and per-layer unit statistics. */
  evaluate(x: Float32Array, labels: Uint8Array, count: number): EvalCounts;
  dispose(): void;
}

export const emptyCounts = (hidden: number): EvalCounts => ({
  count: 0, errors: 0, lossSum: 0,
  layers: Array.from({ length: hidden }, () => ({ active: 0, computed: 0, positive: 0, positiveComputed: 0 })),
});

export function addCounts(into: EvalCounts, c: EvalCounts): void {
  into.count += c.count;
  into.errors += c.errors;
  into.lossSum += c.lossSum;
  c.layers.forEach((l, i) => {
    const t = into.layers[i];
    t.active += l.active;
    t.computed += l.computed;
    t.positive += l.positive;
    t.positiveComputed += l.positiveComputed;
  });
}

/** The rank of `f` for an nIn → nOut layer; throws when the two factors disagree with the layer. */
export function factorRank(f: EstimatorFactors, nIn: number, nOut: number, layer: number): number {
  const k = f.at.length / nIn;
  if (!(Number.isInteger(k) && k >= 1 && f.bt.length === nOut * k)) {
    throw new RangeError(`layer ${layer}: factors of ${f.at.length} and ${f.bt.length} values do not fit ${nIn}→${nOut}`);
  }
  return k;
}

export function checkModel(model: FloatModel): void {
  model.layers.forEach((l, i) => {
    if (l.weight.length !== l.nIn * l.nOut || l.bias.length !== l.nOut) throw new RangeError(`layer ${i}: weight/bias sizes do not match ${l.nIn}→${l.nOut}`);
    if (i > 0 && l.nIn !== model.layers[i - 1].nOut) throw new RangeError(`layer ${i}: nIn ${l.nIn} != previous nOut ${model.layers[i - 1].nOut}`);
  });
}

/** Row-wise log-softmax cross-entropy of `logits` (count × n); writes softmax − onehot into `grad`. */
export function softmaxCrossEntropy(logits: Float32Array, labels: Uint8Array, count: number, n: number, grad: Float32Array | null): { lossSum: number; errors: number } {
  let lossSum = 0, errors = 0;
  for (let s = 0; s < count; s++) {
    const o = s * n;
    let max = -Infinity, arg = 0;
    for (let j = 0; j < n; j++) if (logits[o + j] > max) { max = logits[o + j]; arg = j; }
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(logits[o + j] - max);
    const logZ = max + Math.log(sum);
    lossSum += logZ - logits[o + labels[s]];
    if (arg !== labels[s]) errors++;
    if (grad) for (let j = 0; j < n; j++) grad[o + j] = Math.exp(logits[o + j] - logZ) - (j === labels[s] ? 1 : 0);
  }
  return { lossSum, errors };
}

/**
 * Mixes the hard-label gradient `grad` (p − y, per row) with the distillation term in place and returns
 * the mixed loss sum (see StepParams.distill).
 */
export function distillGrad(logits: Float32Array, d: NonNullable<StepParams["distill"]>, count: number, n: number, grad: Float32Array, lossSum: number): number {
  const { soft, alpha, temperature: t } = d;
  let softSum = 0;
  for (let s = 0; s < count; s++) {
    const o = s * n;
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, logits[o + j] / t);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(logits[o + j] / t - max);
    const logZ = max + Math.log(sum);
    for (let j = 0; j < n; j++) {
      const lp = logits[o + j] / t - logZ;
      softSum -= soft[o + j] * lp;
      grad[o + j] = (1 - alpha) * grad[o + j] + alpha * t * (Math.exp(lp) - soft[o + j]);
    }
  }
  return (1 - alpha) * lossSum + alpha * t * t * softSum;
}

interface JsLayer {
  nIn: number;
  nOut: number;
  w: Float32Array;
  b: Float32Array;
  vw: Float32Array;
  vb: Float32Array;
  /** Estimator: A as [k][nIn] (= at), B as [nOut][k] (= bt), float32. */
  at: Float32Array | null;
  bt: Float32Array | null;
  offset: Float32Array | null;
  rank: number;
}

/** Typed-array compute: every product is `gemmNT_f32` after transposing one or both operands. */
export class JsCompute implements MlpCompute {
  readonly name = "js";
  private layers: JsLayer[] = [];
  private scratch = new Map<string, Float32Array>();

  private buf(key: string, n: number): Float32Array {
    let b = this.scratch.get(key);
    if (!b || b.length < n) this.scratch.set(key, (b = new Float32Array(n)));
    return b.subarray(0, n);
  }

  load(model: FloatModel): void {
    checkModel(model);
    this.layers = model.layers.map((l) => ({
      nIn: l.nIn, nOut: l.nOut, w: l.weight.slice(), b: l.bias.slice(),
      vw: new Float32Array(l.weight.length), vb: new Float32Array(l.nOut), at: null, bt: null, offset: null, rank: 0,
    }));
  }

  save(): FloatModel {
    return { layers: this.layers.map((l) => ({ nIn: l.nIn, nOut: l.nOut, weight: l.w.slice(), bias: l.b.slice() })) };
  }

  setFactors(factors: (EstimatorFactors | null | undefined)[]): void {
    this.layers.forEach((l, i) => {
      const f = i < this.layers.length - 1 ? factors[i] : null;
      l.rank = f ? factorRank(f, l.nIn, l.nOut, i) : 0;
      l.at = f ? Float32Array.from(f.at) : null;
      l.bt = f ? Float32Array.from(f.bt) : null;
      l.offset = f?.offset ? Float32Array.from(f.offset) : null;
    });
  }

  /** Forward pass; returns each layer's output (ReLU·mask for hidden layers, logits for the last). */
  private forward(x: Float32Array, count: number, counts: EvalCounts | null): Float32Array[] {
    const outs: Float32Array[] = [];
    let a = x;
    const last = this.layers.length - 1;
    this.layers.forEach((l, li) => {
      const z = this.buf(`z${li}`, count * l.nOut);
      gemmNT_f32(a, l.w, z, count, l.nOut, l.nIn);
      // Bias
      for (let s = 0; s < count; s++) for (let j = 0; j < l.nOut; j++) z[s * l.nOut + j] += l.b[j];
      if (li < last) {
        let est: Float32Array | null = null;
        if (l.at && l.bt) {
          const t = this.buf(`t${li}`, count * l.rank);
          gemmNT_f32(a, l.at, t, count, l.rank, l.nIn);
          est = this.buf(`e${li}`, count * l.nOut);
          gemmNT_f32(t, l.bt, est, count, l.nOut, l.rank);
        }
        const c = counts?.layers[li];
        // ReLU and mask
        for (let s = 0; s < count; s++) {
          for (let j = 0; j < l.nOut; j++) {
            const o = s * l.nOut + j;
            const on = est === null || est[o] + l.b[j] + (l.offset ? l.offset[j] : 0) > 0;
            const pos = z[o] > 0;
            if (c) {
              if (on) c.computed++;
              if (pos) c.positive++;
              if (pos && on) { c.positiveComputed++; c.active++; }
            }
            if (!(pos && on)) z[o] = 0;
          }
        }
      }
      outs.push(z);
      a = z;
    });
    return outs;
  }

  step(x: Float32Array, labels: Uint8Array, count: number, p: StepParams): number {
    const outs = this.forward(x, count, null);
    const last = this.layers.length - 1;
    const nCls = this.layers[last].nOut;
    let g = this.buf("g", count * nCls);
    let { lossSum } = softmaxCrossEntropy(outs[last], labels, count, nCls, g);
    if (p.distill) lossSum = distillGrad(outs[last], p.distill, count, nCls, g, lossSum);
    for (let i = 0; i < g.length; i++) g[i] /= count;
    let penalty = 0;
    for (let li = 0; li < last; li++) {
      let sum = 0;
      for (const v of outs[li]) sum += v;
      penalty += p.l1[li] * sum;
    }
    for (let li = last; li >= 0; li--) {
      const l = this.layers[li];
      const xin = li === 0 ? x.subarray(0, count * l.nIn) : outs[li - 1];
      // Gradients: dW = gᵀ·x, db = Σ g, dx = g·W
      const gT = this.buf("gT", l.nOut * count), xT = this.buf("xT", l.nIn * count), dw = this.buf("dw", l.nOut * l.nIn);
      transpose_f32(g, count, l.nOut, gT);
      transpose_f32(xin, count, l.nIn, xT);
      gemmNT_f32(gT, xT, dw, l.nOut, l.nIn, count);
      let gx: Float32Array | null = null;
      if (li > 0) {
        const wT = this.buf("wT", l.nIn * l.nOut);
        transpose_f32(l.w, l.nOut, l.nIn, wT);
        gx = this.buf(`gx${li & 1}`, count * l.nIn);
        gemmNT_f32(g, wT, gx, count, l.nIn, l.nOut);
        // Through ReLU·mask, plus the L1 term
        const l1 = p.l1[li - 1] / count;
        for (let i = 0; i < gx.length; i++) gx[i] = xin[i] > 0 ? gx[i] + l1 : 0;
      }
      // Momentum update
      for (let i = 0; i < dw.length; i++) {
        const v = (l.vw[i] = p.momentum * l.vw[i] + dw[i]);
        l.w[i] -= p.lr * v;
      }
      for (let j = 0; j < l.nOut; j++) {
        let db = 0;
        for (let s = 0; s < count; s++) db += g[s * l.nOut + j];
        const v = (l.vb[j] = p.momentum * l.vb[j] + db);
        l.b[j] -= p.lr * v;
      }
      if (gx) g = gx;
    }
    return (lossSum + penalty) / count;
  }

  evaluate(x: Float32Array, labels: Uint8Array, count: number): EvalCounts {
    const counts = emptyCounts(this.layers.length - 1);
    const outs = this.forward(x, count, counts);
    const last = this.layers.length - 1;
    const { lossSum, errors } = softmaxCrossEntropy(outs[last], labels, count, this.layers[last].nOut, null);
    counts.count = count;
    counts.errors = errors;
    counts.lossSum = lossSum;
    return counts;
  }

  dispose(): void {
    this.layers = [];
    this.scratch.clear();
  }
}
