// Learned low-rank sign estimator (as in Deja Vu / PowerInfer): for each hidden layer of a frozen float net,
// A and B start from the truncated SVD of the layer's weights (svdFactors, the quantizer's estimator) plus
// a per-unit offset (0), and are trained to predict sign(z_j) with a recall-weighted logistic loss.
// Layer l learns on the inputs the gated net gives it (learned estimators of layers < l in the loop).
// docs/TRAINING.md, "Learned estimator".
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs-core";
import { UserError, type FloatEstimator, type FloatModel } from "../../runtime/src/index.ts";
import { loadMnist } from "../data/mnist.ts";
import { svdFactors } from "../quantize/quantize.ts";
import { Rng } from "../model/random.ts";
import { evaluateConditional, transpose32, type GatedEval } from "./condnet.ts";
import { initTf, type TfBackend } from "./tfjs.ts";
import { fillInputs, mnistSamples, shuffle, type Samples } from "./trainer.ts";

export interface LearnEstimatorOptions {
  /** The frozen float net (its gates and estimators are ignored). */
  model: FloatModel;
  /** Rank per hidden layer (0: that layer stays dense). */
  ranks: number[];
  /** Epochs per layer. Default 3. */
  epochs?: number;
  /** Default 100. */
  batchSize?: number;
  /** Adam learning rate. Default 1e-3. */
  lr?: number;
  /** Weight of a positive unit (z > 0) in the logistic loss; negatives weigh 1. Default 4. */
  wPos?: number;
  /**
   * "svd": after training a layer, shift all its offsets by one constant so that the layer computes the
   * same fraction of units as the plain SVD estimator at equal rank (measured on `matchSamples` training
   * digits, each gated net with its own estimators); "none": keep the trained offsets. Default "svd".
   */
  match?: "svd" | "none";
  /** Training digits used to match the computed fraction. Default 10,000. */
  matchSamples?: number;
  seed?: number;
  backend?: TfBackend;
  /** Default MNIST "train". */
  train?: Samples;
  /**
   * Estimators to continue from (warm start), e.g. those of the previous epoch when the net is being
   * fine-tuned: a layer whose `init` estimator has the requested rank starts from its A, B and offsets
   * instead of the truncated SVD. The layers' weights and biases are still those of `model`.
   */
  init?: FloatModel;
  onBatch?: (p: { layer: number; epoch: number; batch: number; batches: number; loss: number }) => void;
  onLayer?: (p: { layer: number; seconds: number; shift: number; computedTarget: number | null; loss: number }) => void;
}

export interface LearnEstimatorResult {
  /** The net with a learned `estimator` on every hidden layer of rank > 0. */
  model: FloatModel;
  /** The same net with the plain SVD estimators (offset 0), for comparison (computed when first read). */
  readonly svdModel: FloatModel;
  /** Per hidden layer: the constant added to the trained offsets by `match` (0 with "none"). */
  shifts: number[];
}

/** The plain SVD estimator of every hidden layer with a rank > 0 (offset 0): what the quantizer builds by default. */
export function svdEstimators(model: FloatModel, ranks: readonly number[]): FloatModel {
  const last = model.layers.length - 1;
  return {
    layers: model.layers.map((l, i) => {
      const { gate: _g, estimator: _e, ...plain } = l;
      const k = i < last ? ranks[i] ?? 0 : 0;
      if (k <= 0) return plain;
      const f = svdFactors(l.weight, l.nIn, l.nOut, k);
      return { ...plain, estimator: { rank: k, at: Float32Array.from(f.at), bt: Float32Array.from(f.bt), offset: new Float32Array(l.nOut) } };
    }),
  };
}

/**
 * Gradient of the mean (over samples and units) weighted logistic loss
 *   w_pos·y·softplus(−logit) + (1 − y)·softplus(logit),   y = [z > 0],
 * with respect to the logits: (w_pos·y·(σ − 1) + (1 − y)·σ) / (n·nOut). Returns [grad, loss].
 */
export function signLossGrad(logits: tf.Tensor2D, y: tf.Tensor2D, wPos: number): [tf.Tensor2D, tf.Scalar] {
  return tf.tidy(() => {
    const size = logits.shape[0] * logits.shape[1];
    const sig = tf.sigmoid(logits);
    const notY = tf.sub(1, y);
    const grad = tf.div(tf.add(tf.mul(tf.mul(y, tf.sub(sig, 1)), wPos), tf.mul(notY, sig)), size) as tf.Tensor2D;
    const loss = tf.div(tf.sum(tf.add(tf.mul(tf.mul(y, tf.softplus(tf.neg(logits))), wPos), tf.mul(notY, tf.softplus(logits)))), size) as tf.Scalar;
    return [grad, loss];
  });
}

let variableCount = 0;

interface Frozen {
  wt: tf.Tensor2D;
  b: tf.Tensor1D;
  /** Estimator A [nIn, k], B [k, nOut], bias + offset, when set. */
  est: { a: tf.Tensor2D; b: tf.Tensor2D; c: tf.Tensor1D } | null;
}

const frozenLayer = (l: FloatModel["layers"][number]): Frozen => ({
  wt: tf.tensor2d(transpose32(l.weight, l.nOut, l.nIn), [l.nIn, l.nOut]),
  b: tf.tensor1d(l.bias.slice()),
  est: l.estimator ? estTensors(l.estimator, l.nIn, l.nOut, l.bias) : null,
});

const estTensors = (e: FloatEstimator, nIn: number, nOut: number, bias: Float32Array) => ({
  a: tf.tensor2d(transpose32(e.at, e.rank, nIn), [nIn, e.rank]),
  b: tf.tensor2d(transpose32(e.bt, nOut, e.rank), [e.rank, nOut]),
  c: tf.tensor1d(Float32Array.from(bias, (v, j) => v + e.offset[j])),
});

const disposeFrozen = (fs: Frozen[]) => {
  for (const f of fs) tf.dispose([f.wt, f.b, ...(f.est ? [f.est.a, f.est.b, f.est.c] : [])]);
};

/** The input of hidden layer `upto` for a batch: layers before it run gated by their estimators. */
function gatedInput(frozen: Frozen[], x: tf.Tensor2D, upto: number): tf.Tensor2D {
  let a = x;
  for (let li = 0; li < upto; li++) {
    const f = frozen[li];
    let h = tf.relu(tf.add(tf.matMul(a, f.wt), f.b));
    if (f.est) h = tf.mul(h, tf.step(tf.add(tf.matMul(tf.matMul(a, f.est.a), f.est.b), f.est.c), 0));
    a = h as tf.Tensor2D;
  }
  return a;
}

/**
 * Trains the estimators of a frozen net one hidden layer at a time (inputs from the net gated by the
 * estimators already learned), starting from the exact truncated SVD. Only A, B and the offsets learn.
 */
export async function learnEstimators(opts: LearnEstimatorOptions): Promise<LearnEstimatorResult> {
  const net = opts.model, last = net.layers.length - 1, nIn = net.layers[0].nIn;
  const ranks = opts.ranks;
  if (ranks.length !== last) throw new UserError(`ranks needs one value per hidden layer (${last}), got ${ranks.length}`);
  ranks.forEach((k, i) => {
    const max = Math.min(net.layers[i].nIn, net.layers[i].nOut);
    if (!(Number.isInteger(k) && k >= 0 && k <= max)) throw new UserError(`ranks[${i}] must be an integer in [0, ${max}], got ${k}`);
  });
  const epochs = opts.epochs ?? 3, batchSize = opts.batchSize ?? 100, lr = opts.lr ?? 1e-3, wPos = opts.wPos ?? 4;
  const match = opts.match ?? "svd", matchSamples = opts.matchSamples ?? 10_000;
  if (!(Number.isInteger(epochs) && epochs > 0)) throw new UserError(`epochs must be a positive integer, got ${epochs}`);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new UserError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!(lr > 0 && Number.isFinite(lr))) throw new UserError(`lr must be a positive number, got ${lr}`);
  if (!(wPos > 0 && Number.isFinite(wPos))) throw new UserError(`wPos must be a positive number, got ${wPos}`);
  const train = opts.train ?? mnistSamples(loadMnist("train"));
  await initTf(opts.backend ?? "wasm");

  // The full SVDs cost seconds per layer, so they are made only for what needs them: a layer without a
  // warm start, the "svd" match, or a caller reading svdModel
  let svdCache: FloatModel | null = null;
  const svdModel = () => (svdCache ??= svdEstimators(net, ranks));
  const warmOf = (li: number) => {
    const w = opts.init?.layers[li]?.estimator, l = net.layers[li];
    return w && w.rank === ranks[li] && w.at.length === ranks[li] * l.nIn && w.bt.length === l.nOut * ranks[li] && w.offset.length === l.nOut ? w : null;
  };
  const matchSet: Samples = { images: train.images.subarray(0, Math.min(matchSamples, train.count) * nIn), labels: train.labels.subarray(0, Math.min(matchSamples, train.count)), count: Math.min(matchSamples, train.count) };
  const target = match === "svd" ? (await evaluateConditional(svdModel(), matchSet, { backend: opts.backend })).computed : null;
  const current: FloatModel = { layers: net.layers.map(({ gate: _g, estimator: _e, ...l }) => ({ ...l })) };
  const shifts = Array<number>(last).fill(0);
  const rng = new Rng(opts.seed ?? 1);
  const order = Int32Array.from({ length: train.count }, (_, i) => i);
  const x = new Float32Array(batchSize * nIn), labels = new Uint8Array(batchSize);
  const batches = Math.ceil(train.count / batchSize);

  for (let li = 0; li < last; li++) {
    if (!(ranks[li] > 0)) continue;
    const init = warmOf(li) ?? svdModel().layers[li].estimator!;
    const t0 = performance.now();
    const layer = net.layers[li], k = init.rank;
    const frozen = current.layers.slice(0, li + 1).map(frozenLayer);
    // Tidy disposes each initial tensor; the variable keeps its data
    const id = `est${variableCount++}_${li}`;
    const a = tf.tidy(() => tf.variable(tf.tensor2d(transpose32(init.at, k, layer.nIn), [layer.nIn, k]), true, `${id}_a`));
    const b = tf.tidy(() => tf.variable(tf.tensor2d(transpose32(init.bt, layer.nOut, k), [k, layer.nOut]), true, `${id}_b`));
    const c = tf.tidy(() => tf.variable(tf.tensor1d(init.offset.slice()), true, `${id}_c`));
    const bias = tf.tensor1d(layer.bias.slice());
    const opt = tf.train.adam(lr);
    let lossSum = 0, lossCount = 0;
    try {
      for (let epoch = 1; epoch <= epochs; epoch++) {
        shuffle(order, rng);
        lossSum = lossCount = 0;
        for (let bi = 0; bi < batches; bi++) {
          const from = bi * batchSize, n = Math.min(batchSize, train.count - from);
          fillInputs(train, nIn, x, labels, from, n, order);
          const lossT = tf.tidy(() => {
            const s = gatedInput(frozen, tf.tensor2d(x.subarray(0, n * nIn), [n, nIn]), li);
            const y = tf.step(tf.add(tf.matMul(s, frozen[li].wt), frozen[li].b), 0) as tf.Tensor2D;
            const p = tf.matMul(s, a);
            const logits = tf.add(tf.add(tf.matMul(p, b), bias), c) as tf.Tensor2D;
            const [g, loss] = signLossGrad(logits, y, wPos);
            // Gradients: dB = Pᵀ·g, dA = sᵀ·(g·Bᵀ), dc = Σ g
            const grads: Record<string, tf.Tensor> = {
              [b.name]: tf.matMul(tf.transpose(p), g),
              [a.name]: tf.matMul(tf.transpose(s), tf.matMul(g, tf.transpose(b))),
              [c.name]: tf.sum(g, 0),
            };
            opt.applyGradients(grads as Record<string, tf.Variable>);
            return loss;
          });
          const loss = lossT.dataSync()[0];
          lossT.dispose();
          if (!Number.isFinite(loss)) throw new UserError(`estimator training diverged at layer ${li}, epoch ${epoch} (loss ${loss}); lower the learning rate`);
          lossSum += loss * n;
          lossCount += n;
          opts.onBatch?.({ layer: li, epoch, batch: bi + 1, batches, loss });
        }
      }
      const est: FloatEstimator = {
        rank: k,
        at: transpose32(a.dataSync(), layer.nIn, k),
        bt: transpose32(b.dataSync(), k, layer.nOut),
        offset: Float32Array.from(c.dataSync()),
      };
      // Match the computed fraction: one shift for the whole layer, from the sorted estimator logits
      if (target) {
        const logits = estimatorLogits(frozen, est, layer, matchSet, li);
        logits.sort();
        const keep = Math.round(target[li] * logits.length);
        const cut = keep >= logits.length ? logits[0] - 1 : keep <= 0 ? logits[logits.length - 1] : (logits[logits.length - keep - 1] + logits[logits.length - keep]) / 2;
        shifts[li] = -cut;
        for (let j = 0; j < est.offset.length; j++) est.offset[j] += shifts[li];
      }
      current.layers[li] = { ...current.layers[li], estimator: est };
      opts.onLayer?.({ layer: li, seconds: (performance.now() - t0) / 1000, shift: shifts[li], computedTarget: target?.[li] ?? null, loss: lossSum / lossCount });
    } finally {
      disposeFrozen(frozen);
      tf.dispose([a, b, c, bias]);
      opt.dispose();
    }
  }
  return { model: current, get svdModel() { return svdModel(); }, shifts };
}

/** Every estimator logit (Σ_r (s·at_r)·bt[j, r] + bias_j + offset_j) of layer `li` over `data`, gated inputs. */
function estimatorLogits(frozen: Frozen[], est: FloatEstimator, layer: FloatModel["layers"][number], data: Samples, li: number): Float32Array {
  const nIn = frozen[0].wt.shape[0];
  const out = new Float32Array(data.count * layer.nOut);
  const e = estTensors(est, layer.nIn, layer.nOut, layer.bias);
  const chunk = 1000, x = new Float32Array(chunk * nIn), labels = new Uint8Array(chunk);
  try {
    for (let from = 0; from < data.count; from += chunk) {
      const n = Math.min(chunk, data.count - from);
      fillInputs(data, nIn, x, labels, from, n);
      const t = tf.tidy(() => {
        const s = gatedInput(frozen, tf.tensor2d(x.subarray(0, n * nIn), [n, nIn]), li);
        return tf.add(tf.matMul(tf.matMul(s, e.a), e.b), e.c);
      });
      out.set(t.dataSync() as Float32Array, from * layer.nOut);
      t.dispose();
    }
  } finally {
    tf.dispose([e.a, e.b, e.c]);
  }
  return out;
}

/** Per hidden layer, the learned and SVD estimators' float figures on `data` (each net gated by its own estimators). */
export async function compareEstimators(learned: FloatModel, svd: FloatModel, data: Samples, backend?: TfBackend): Promise<{ learned: GatedEval; svd: GatedEval; dense: GatedEval }> {
  return {
    learned: await evaluateConditional(learned, data, { backend }),
    svd: await evaluateConditional(svd, data, { backend }),
    dense: await evaluateConditional(learned, data, { backend, gating: false }),
  };
}
