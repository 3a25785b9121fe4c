// The rankgate float checkpoint: `layers.{i}.weight` [nOut, nIn] and `layers.{i}.bias` [nOut], F32 safetensors;
// hidden layers may add a block policy (`layers.{i}.gate.weight` [nBlocks, nIn], `layers.{i}.gate.bias` [nBlocks], and for a
// routing gate `layers.{i}.gate.top_k` [1] I32, k ∈ [1, nBlocks]; absent = 0, the threshold gate)
// or a learned estimator (`layers.{i}.est.a` [rank, nIn], `layers.{i}.est.b` [nOut, rank], `layers.{i}.est.offset` [nOut]).
import { UserError, type FloatLayer, type FloatModel, showName } from "../../runtime/src/index.ts";
import type { Tensor } from "../io/safetensors-file.ts";

/** rankgate's checkpoint format, JSON-encoded in the safetensors metadata key `format`. */
export const CHECKPOINT_FORMAT = "rankgate-float-mlp/1";

/** What an importer did beyond reading weights (ops dropped or folded), one line each, for the user. */
export interface ImportNotes {
  notes: string[];
}

/** Layer widths: input size, then each layer's output size. */
export function modelSizes(model: FloatModel): number[] {
  return model.layers.length ? [model.layers[0].nIn, ...model.layers.map((l) => l.nOut)] : [];
}

/** The tensors of a model in checkpoint form, for writeSafetensors. */
export function checkpointTensors(model: FloatModel): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  model.layers.forEach((l, i) => {
    out[`layers.${i}.weight`] = { dtype: "F32", shape: [l.nOut, l.nIn], data: l.weight };
    out[`layers.${i}.bias`] = { dtype: "F32", shape: [l.nOut], data: l.bias };
    if (l.gate) {
      const blocks = l.gate.bias.length;
      if (l.gate.blockSize !== Math.ceil(l.nOut / blocks)) throw new RangeError(`layers[${i}].gate: block size ${l.gate.blockSize} with ${blocks} blocks of ${l.nOut} units; checkpoints need ceil(nOut / nBlocks) = ${Math.ceil(l.nOut / blocks)}`);
      out[`layers.${i}.gate.weight`] = { dtype: "F32", shape: [blocks, l.nIn], data: l.gate.weight };
      out[`layers.${i}.gate.bias`] = { dtype: "F32", shape: [blocks], data: l.gate.bias };
      const k = l.gate.topK ?? 0;
      if (!(Number.isInteger(k) && k >= 0 && k <= blocks)) throw new RangeError(`layers[${i}].gate.topK is ${k}, expected an integer in [0, ${blocks}]`);
      // Threshold gates write no tensor: their checkpoints stay byte for byte as before
      if (k > 0) out[`layers.${i}.gate.top_k`] = { dtype: "I32", shape: [1], data: Int32Array.of(k) };
    }
    if (l.estimator) {
      const e = l.estimator;
      out[`layers.${i}.est.a`] = { dtype: "F32", shape: [e.rank, l.nIn], data: e.at };
      out[`layers.${i}.est.b`] = { dtype: "F32", shape: [l.nOut, e.rank], data: e.bt };
      out[`layers.${i}.est.offset`] = { dtype: "F32", shape: [l.nOut], data: e.offset };
    }
  });
  return out;
}

/**
 * Checks one imported layer: non-empty, data lengths match nIn·nOut and nOut, every value finite.
 * @param weightName tensor (or node) named in the error
 */
export function checkLayer(layer: FloatLayer, weightName: string, biasName: string, source: string): FloatLayer {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: ${msg}`);
  };
  if (layer.nIn < 1 || layer.nOut < 1) fail(`${showName(weightName)} is empty ([${layer.nOut}, ${layer.nIn}])`);
  if (layer.weight.length !== layer.nIn * layer.nOut) fail(`${showName(weightName)} holds ${layer.weight.length} values, expected ${layer.nOut}·${layer.nIn}`);
  if (layer.bias.length !== layer.nOut) fail(`${showName(biasName)} holds ${layer.bias.length} values, expected ${layer.nOut}`);
  for (const [name, data] of [[weightName, layer.weight], [biasName, layer.bias]] as const) {
    const i = data.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) fail(`${showName(name)} holds a non-finite value (${data[i]}) at element ${i}`);
  }
  return layer;
}

/** Up to `max` names, quoted and escaped (showName), then how many more. */
export function listNames(names: string[], max = 8): string {
  const shown = names.slice(0, max).map((n) => showName(n, 40)).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/** An affine map per output unit after a linear layer: y' = scale·y + shift (BatchNorm, Mul/Add constants). */
export interface UnitAffine {
  scale?: ArrayLike<number>;
  shift?: ArrayLike<number>;
}

/** A layer followed by y' = scale·y + shift per unit, as one layer, computed in float64. */
export function foldAffineAfter(layer: FloatLayer, { scale, shift }: UnitAffine, what: string, source: string): FloatLayer {
  const { nIn, nOut } = layer;
  const weight = new Float32Array(nIn * nOut), bias = new Float32Array(nOut);
  for (let j = 0; j < nOut; j++) {
    const s = scale ? scale[scale.length === 1 ? 0 : j] : 1, t = shift ? shift[shift.length === 1 ? 0 : j] : 0;
    for (let i = 0; i < nIn; i++) weight[j * nIn + i] = layer.weight[j * nIn + i] * s;
    bias[j] = layer.bias[j] * s + t;
  }
  return checkLayer({ nIn, nOut, weight, bias }, `${what} (folded)`, `${what} (folded bias)`, source);
}

/**
 * A BatchNorm after a linear layer folded into it in float64: scale = γ / √(var + eps), shift = β − mean·scale.
 * γ defaults to 1 and β to 0 (affine=False).
 */
export function foldBatchNorm(
  layer: FloatLayer,
  bn: { gamma?: ArrayLike<number>; beta?: ArrayLike<number>; mean: ArrayLike<number>; variance: ArrayLike<number>; eps: number },
  name: string,
  source: string,
): FloatLayer {
  const n = layer.nOut;
  const scale = new Float64Array(n), shift = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const v = bn.variance[j] + bn.eps;
    if (!(v > 0) || !Number.isFinite(v)) throw new UserError(`${source}: BatchNorm ${showName(name)}: variance + eps at channel ${j} is ${v}; expected a positive finite value`);
    scale[j] = (bn.gamma ? bn.gamma[j] : 1) / Math.sqrt(v);
    shift[j] = (bn.beta ? bn.beta[j] : 0) - bn.mean[j] * scale[j];
  }
  return foldAffineAfter(layer, { scale, shift }, name, source);
}

/**
 * The first layer taking raw features x where it took (x − mean) / std, in float64:
 * W'[j][i] = W[j][i] / std[i], b'[j] = b[j] − Σᵢ W[j][i]·mean[i] / std[i]. `mean` and `std` hold 1 or nIn values.
 */
export function foldInputNormalization(layer: FloatLayer, mean: ArrayLike<number>, std: ArrayLike<number>, what: string, source: string): FloatLayer {
  const { nIn, nOut } = layer;
  const fail = (msg: string): never => {
    throw new UserError(`${source}: ${what}: ${msg}`);
  };
  for (const [name, v] of [["mean", mean], ["std", std]] as const) {
    if (v.length !== 1 && v.length !== nIn) fail(`${name} has ${v.length} values; expected 1 or ${nIn} (the model's inputs)`);
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i]) || (name === "std" && v[i] === 0)) fail(`${name}[${i}] is ${v[i]}; expected a finite${name === "std" ? ", non-zero" : ""} number`);
    }
  }
  const at = (a: ArrayLike<number>, i: number) => a[a.length === 1 ? 0 : i];
  const n = Math.max(mean.length, std.length);
  const scale = Float64Array.from({ length: n }, (_, i) => 1 / at(std, i));
  const shift = Float64Array.from({ length: n }, (_, i) => -at(mean, i) / at(std, i));
  return foldInputAffine(layer, scale, shift, what, source);
}

/**
 * The first layer taking x where it took x·scale + shift (per feature; 1 or nIn values each), in float64:
 * W'[j][i] = W[j][i]·scale[i], b'[j] = b[j] + Σᵢ W[j][i]·shift[i].
 */
export function foldInputAffine(layer: FloatLayer, scale: ArrayLike<number>, shift: ArrayLike<number>, what: string, source: string): FloatLayer {
  const { nIn, nOut } = layer;
  const at = (a: ArrayLike<number>, i: number) => a[a.length === 1 ? 0 : i];
  const weight = new Float32Array(nIn * nOut), bias = new Float32Array(nOut);
  for (let j = 0; j < nOut; j++) {
    let b = layer.bias[j];
    for (let i = 0; i < nIn; i++) {
      const w = layer.weight[j * nIn + i];
      weight[j * nIn + i] = w * at(scale, i);
      b += w * at(shift, i);
    }
    bias[j] = b;
  }
  return checkLayer({ nIn, nOut, weight, bias }, `${what} (folded weight)`, `${what} (folded bias)`, source);
}

/**
 * The model taking raw features x where it took (x − mean) / std (--input-mean/--input-std): folded into the
 * first layer in float64. `mean` and `std` hold 1 or nIn values.
 */
export function applyInputNormalization(model: FloatModel, mean: ArrayLike<number>, std: ArrayLike<number>, source: string): FloatModel {
  const [first, ...rest] = model.layers;
  if (!first) return model;
  if (first.gate || first.estimator) throw new UserError(`${source}: --input-mean/--input-std cannot be folded into a layer with a block policy or estimator`);
  return { layers: [foldInputNormalization(first, mean, std, "--input-mean/--input-std", source), ...rest] };
}
