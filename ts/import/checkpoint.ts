// The rankgate float checkpoint: `layers.{i}.weight` [nOut, nIn] and `layers.{i}.bias` [nOut], F32 safetensors;
// hidden layers may add a block policy (`layers.{i}.gate.weight` [nBlocks, nIn], `layers.{i}.gate.bias` [nBlocks])
// or a learned estimator (`layers.{i}.est.a` [rank, nIn], `layers.{i}.est.b` [nOut, rank], `layers.{i}.est.offset` [nOut]).
import { UserError } from "../errors.ts";
import type { FloatLayer, FloatModel } from "../model.ts";
import type { Tensor } from "../safetensors.ts";

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
  if (layer.nIn < 1 || layer.nOut < 1) fail(`"${weightName}" is empty ([${layer.nOut}, ${layer.nIn}])`);
  if (layer.weight.length !== layer.nIn * layer.nOut) fail(`"${weightName}" holds ${layer.weight.length} values, expected ${layer.nOut}·${layer.nIn}`);
  if (layer.bias.length !== layer.nOut) fail(`"${biasName}" holds ${layer.bias.length} values, expected ${layer.nOut}`);
  for (const [name, data] of [[weightName, layer.weight], [biasName, layer.bias]] as const) {
    const i = data.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) fail(`"${name}" holds a non-finite value (${data[i]}) at element ${i}`);
  }
  return layer;
}

/** Up to `max` names, quoted, then how many more. */
export function listNames(names: string[], max = 8): string {
  const shown = names.slice(0, max).map((n) => JSON.stringify(n)).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}
