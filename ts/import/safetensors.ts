// safetensors → FloatModel: our checkpoint names or a torch nn.Sequential state_dict.
import { UserError } from "../errors.ts";
import type { FloatLayer, FloatModel } from "../model.ts";
import { readSafetensors, type ReadTensor } from "../safetensors.ts";
import { checkLayer, listNames } from "./checkpoint.ts";

/** `[prefix.]{k}.weight` / `[prefix.]{k}.bias`: ours is prefix `layers`, torch's is `{k}` alone or under `model.`, `net.`… */
const NAME = /^(?:(.+)\.)?(\d+)\.(weight|bias|gate\.weight|gate\.bias|est\.a|est\.b|est\.offset)$/;
const FORMS = '"layers.{i}.weight"/"layers.{i}.bias" (+ optional ".gate.weight"/".gate.bias" or ".est.a"/".est.b"/".est.offset") or nn.Sequential "{k}.weight"/"{k}.bias" (under at most one prefix such as "model.")';
type Part = "weight" | "bias" | "gate.weight" | "gate.bias" | "est.a" | "est.b" | "est.offset";

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
  const byIndex = new Map<number, Partial<Record<Part, string>>>();
  for (const name of tensors.keys()) {
    const m = NAME.exec(name);
    if (!m) {
      unknown.push(name);
      continue;
    }
    const [, prefix = "", k, part] = m;
    prefixes.add(prefix);
    const entry = byIndex.get(Number(k)) ?? {};
    const other = entry[part as Part];
    if (other !== undefined && prefixes.size === 1) fail(`tensors "${other}" and "${name}" both name layer ${Number(k)}'s ${part}`);
    entry[part as Part] = name;
    byIndex.set(Number(k), entry);
  }
  if (unknown.length) fail(`unknown tensor${unknown.length > 1 ? "s" : ""} ${listNames(unknown)}; expected only ${FORMS}`);
  if (prefixes.size > 1) {
    fail(`tensor names use ${prefixes.size} different prefixes (${listNames([...prefixes].map((p) => (p ? `${p}.` : "(none)")))}); expected one model`);
  }

  // Layers in index order
  const layers: FloatLayer[] = [];
  let prev: { name: string; t: ReadTensor } | null = null;
  const order = [...byIndex.keys()].sort((a, b) => a - b);
  for (const k of order) {
    const names = byIndex.get(k)!;
    const { weight: wName, bias: bName } = names;
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
    const layer = checkLayer({ nIn, nOut, weight: w.data as Float32Array, bias: b.data as Float32Array }, wName, bName, source);
    const extra = (part: Part, shape: number[]): Float32Array | undefined => {
      const name = names[part];
      if (name === undefined) return undefined;
      const t = tensors.get(name)!;
      if (t.dtype !== "F32") fail(`tensor "${name}" has dtype ${t.stored}; expected a float dtype (F32, F16, BF16 or F64)`);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => shape[i] >= 0 && d !== shape[i])) {
        fail(`tensor "${name}" has shape [${t.shape}]; expected [${shape.map((d) => (d < 0 ? "?" : d))}] to match "${wName}" [${w.shape}]`);
      }
      const data = t.data as Float32Array;
      const bad = data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) fail(`"${name}" holds a non-finite value (${data[bad]}) at element ${bad}`);
      return data;
    };
    const hasGate = names["gate.weight"] !== undefined || names["gate.bias"] !== undefined;
    const hasEst = names["est.a"] !== undefined || names["est.b"] !== undefined || names["est.offset"] !== undefined;
    const stem = wName.replace(/weight$/, "");
    if ((hasGate || hasEst) && k === order[order.length - 1]) fail(`tensor "${names[hasGate ? "gate.weight" : "est.a"] ?? names[hasGate ? "gate.bias" : "est.b"] ?? names["est.offset"]}": the output layer cannot be gated`);
    if (hasGate && hasEst) fail(`layer ${k} has both a block policy ("${stem}gate.*") and an estimator ("${stem}est.*"); expected at most one`);
    if (hasGate) {
      for (const p of ["gate.weight", "gate.bias"] as const) if (names[p] === undefined) fail(`missing "${stem}${p}" for the block policy of "${wName}"`);
      const gw = tensors.get(names["gate.weight"]!)!;
      const blocks = gw.shape.length === 2 ? gw.shape[0] : -1;
      if (!(blocks >= 1 && blocks <= nOut)) fail(`tensor "${names["gate.weight"]}" has shape [${gw.shape}]; expected [nBlocks, ${nIn}] with 1 ≤ nBlocks ≤ ${nOut}`);
      const blockSize = Math.ceil(nOut / blocks);
      if (Math.ceil(nOut / blockSize) !== blocks) fail(`tensor "${names["gate.weight"]}": ${blocks} blocks cannot split ${nOut} units into equal blocks (last one smaller); try ${Math.ceil(nOut / blockSize)}`);
      layer.gate = { blockSize, weight: extra("gate.weight", [blocks, nIn])!, bias: extra("gate.bias", [blocks])! };
    }
    if (hasEst) {
      for (const p of ["est.a", "est.b", "est.offset"] as const) if (names[p] === undefined) fail(`missing "${stem}${p}" for the learned estimator of "${wName}"`);
      const ea = tensors.get(names["est.a"]!)!;
      const rank = ea.shape.length === 2 ? ea.shape[0] : -1;
      if (!(rank >= 1 && rank <= Math.min(nIn, nOut))) fail(`tensor "${names["est.a"]}" has shape [${ea.shape}]; expected [rank, ${nIn}] with 1 ≤ rank ≤ ${Math.min(nIn, nOut)}`);
      layer.estimator = { rank, at: extra("est.a", [rank, nIn])!, bt: extra("est.b", [nOut, rank])!, offset: extra("est.offset", [nOut])! };
    }
    layers.push(layer);
    prev = { name: wName, t: w };
  }
  return { layers };
}
