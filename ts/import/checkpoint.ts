// The rankgate float checkpoint: `layers.{i}.weight` [nOut, nIn] and `layers.{i}.bias` [nOut], F32 safetensors.
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
