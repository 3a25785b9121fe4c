// safetensors → FloatModel: our checkpoint names or a torch nn.Sequential state_dict.
import { UserError } from "../errors.ts";
import type { FloatLayer, FloatModel } from "../model.ts";
import { readSafetensors, type ReadTensor } from "../safetensors.ts";
import { checkLayer, listNames } from "./checkpoint.ts";

/** `[prefix.]{k}.weight` / `[prefix.]{k}.bias`: ours is prefix `layers`, torch's is `{k}` alone or under `model.`, `net.`… */
const NAME = /^(?:(.+)\.)?(\d+)\.(weight|bias)$/;
const FORMS = '"layers.{i}.weight"/"layers.{i}.bias" or nn.Sequential "{k}.weight"/"{k}.bias" (under at most one prefix such as "model.")';

/**
 * Reads a float MLP from safetensors. Tensor names are `P{k}.weight` [nOut, nIn] and `P{k}.bias` [nOut] with one
 * shared prefix P (`layers.` for rankgate checkpoints, "" or e.g. `model.` for a torch nn.Sequential state_dict);
 * layers are ordered by the integer k, which need not be consecutive. Float dtypes only (F16, BF16, F64 are
 * converted to F32 by readSafetensors).
 * @param source file name used in error messages
 */
export function importSafetensors(bytes: Uint8Array, source: string): FloatModel {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: ${msg}`);
  };
  const { tensors } = readSafetensors(bytes, source);
  if (!tensors.size) fail(`no tensors; expected ${FORMS}`);

  // Names
  const unknown: string[] = [];
  const prefixes = new Set<string>();
  const byIndex = new Map<number, { weight?: string; bias?: string }>();
  for (const name of tensors.keys()) {
    const m = NAME.exec(name);
    if (!m) {
      unknown.push(name);
      continue;
    }
    const [, prefix = "", k, part] = m;
    prefixes.add(prefix);
    const entry = byIndex.get(Number(k)) ?? {};
    const other = entry[part as "weight" | "bias"];
    if (other !== undefined && prefixes.size === 1) fail(`tensors "${other}" and "${name}" both name layer ${Number(k)}'s ${part}`);
    entry[part as "weight" | "bias"] = name;
    byIndex.set(Number(k), entry);
  }
  if (unknown.length) fail(`unknown tensor${unknown.length > 1 ? "s" : ""} ${listNames(unknown)}; expected only ${FORMS}`);
  if (prefixes.size > 1) {
    fail(`tensor names use ${prefixes.size} different prefixes (${listNames([...prefixes].map((p) => (p ? `${p}.` : "(none)")))}); expected one model`);
  }

  // Layers in index order
  const layers: FloatLayer[] = [];
  let prev: { name: string; t: ReadTensor } | null = null;
  for (const k of [...byIndex.keys()].sort((a, b) => a - b)) {
    const { weight: wName, bias: bName } = byIndex.get(k)!;
    if (!wName) return fail(`tensor "${bName}" has no weight "${bName!.replace(/bias$/, "weight")}"`);
    const w = tensors.get(wName)!;
    if (!bName) return fail(`missing bias "${wName.replace(/weight$/, "bias")}" for weight "${wName}" [${w.shape}]`);
    const b = tensors.get(bName)!;
    for (const [name, t] of [[wName, w], [bName, b]] as const) {
      if (t.dtype !== "F32") fail(`tensor "${name}" has dtype ${t.stored}; expected a float dtype (F32, F16, BF16 or F64)`);
    }
    if (w.shape.length !== 2) fail(`tensor "${wName}" has shape [${w.shape}] (rank ${w.shape.length}); expected rank 2 [nOut, nIn]`);
    const [nOut, nIn] = w.shape;
    if (b.shape.length !== 1 || b.shape[0] !== nOut) fail(`tensor "${bName}" has shape [${b.shape}]; expected [${nOut}] to match "${wName}" [${w.shape}]`);
    if (prev && prev.t.shape[0] !== nIn) {
      fail(`shape mismatch: "${wName}" [${w.shape}] takes ${nIn} inputs, but "${prev.name}" [${prev.t.shape}] gives ${prev.t.shape[0]}`);
    }
    layers.push(checkLayer({ nIn, nOut, weight: w.data as Float32Array, bias: b.data as Float32Array }, wName, bName, source));
    prev = { name: wName, t: w };
  }
  return { layers };
}
