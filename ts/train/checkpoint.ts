// Float checkpoints as safetensors: `layers.{i}.weight` [nOut, nIn] F32 and `layers.{i}.bias` [nOut] F32,
// torch nn.Linear layout. A torch nn.Sequential(Linear, ReLU, …, Linear) state_dict reads as is: its keys
// `{n}.weight` / `{n}.bias` (n = 0, 2, 4, …) map to layers in increasing n. Metadata values are JSON text.
import { readFileSync, writeFileSync } from "node:fs";
import { FormatError, UserError } from "../errors.ts";
import type { FloatModel } from "../model.ts";
import { readSafetensors, writeSafetensors, type Tensor } from "../safetensors.ts";

export const CHECKPOINT_FORMAT = "rankgate-float-mlp/1";

export interface CheckpointMetadata {
  sizes?: number[];
  /** Estimator rank per hidden layer used in training (0: dense). */
  ranks?: number[];
  seed?: number;
  epochs?: number;
  l1?: number | readonly number[];
  valError?: number;
  /** Anything else worth keeping (lr, momentum, compute, date…); values are JSON-encoded. */
  [key: string]: unknown;
}

/** Tensors and string metadata for `model`: sizes are derived from the model and override `metadata.sizes`. */
export function checkpointTensors(model: FloatModel, metadata: CheckpointMetadata = {}): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const tensors: Record<string, Tensor> = {};
  model.layers.forEach((l, i) => {
    tensors[`layers.${i}.weight`] = { dtype: "F32", shape: [l.nOut, l.nIn], data: l.weight };
    tensors[`layers.${i}.bias`] = { dtype: "F32", shape: [l.nOut], data: l.bias };
  });
  const sizes = [model.layers[0].nIn, ...model.layers.map((l) => l.nOut)];
  const meta: Record<string, string> = { format: JSON.stringify(CHECKPOINT_FORMAT) };
  for (const [k, v] of Object.entries({ ...metadata, sizes })) if (v !== undefined) meta[k] = JSON.stringify(v);
  return { tensors, metadata: meta };
}

export function saveCheckpoint(model: FloatModel, path: string, metadata: CheckpointMetadata = {}): void {
  const { tensors, metadata: meta } = checkpointTensors(model, metadata);
  try {
    writeFileSync(path, writeSafetensors(tensors, meta));
  } catch (e) {
    throw new UserError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Parses checkpoint bytes (see the file header for the accepted names); F16/BF16/F64 data reads as F32. */
export function parseCheckpoint(bytes: Uint8Array, source: string): { model: FloatModel; metadata: CheckpointMetadata } {
  const { tensors, metadata } = readSafetensors(bytes, source);
  const fail = (field: string, expected: string, actual: string): never => {
    throw new FormatError(field, 8, expected, actual, source);
  };

  // Layer names: layers.{i} or a torch Sequential's {n}
  const prefixes = new Map<number, string>();
  for (const name of tensors.keys()) {
    const m = /^(?:layers\.)?(\d+)\.(?:weight|bias)$/.exec(name);
    if (!m) fail(`tensors["${name}"]`, 'names "layers.{i}.weight"/"layers.{i}.bias" (or torch "{n}.weight")', name);
    const prefix = name.slice(0, name.lastIndexOf("."));
    const n = Number(m![1]);
    if (prefixes.has(n) && prefixes.get(n) !== prefix) fail(`tensors["${name}"]`, "one naming scheme", `both ${prefixes.get(n)} and ${prefix}`);
    prefixes.set(n, prefix);
  }
  const order = [...prefixes.keys()].sort((a, b) => a - b);
  if (!order.length) fail("tensors", "at least one layer", "none");
  if ([...prefixes.values()].some((p) => p.startsWith("layers.")) && order.some((n, i) => n !== i)) {
    fail("tensors", "layers.0 … layers.{L-1} without gaps", order.map((n) => `layers.${n}`).join(", "));
  }

  const layers = order.map((n, i) => {
    const p = prefixes.get(n)!;
    const w = tensors.get(`${p}.weight`), b = tensors.get(`${p}.bias`);
    if (!w) return fail(`tensors["${p}.weight"]`, "present", "missing");
    if (!b) return fail(`tensors["${p}.bias"]`, "present", "missing");
    if (w.dtype !== "F32" || b.dtype !== "F32") fail(`tensors["${p}"]`, "float weights (F32, F16, BF16 or F64)", `${w.stored}/${b.stored}`);
    if (w.shape.length !== 2) fail(`tensors["${p}.weight"].shape`, "[nOut, nIn]", `[${w.shape}]`);
    const [nOut, nIn] = w.shape;
    if (b.shape.length !== 1 || b.shape[0] !== nOut) fail(`tensors["${p}.bias"].shape`, `[${nOut}]`, `[${b.shape}]`);
    return { nIn, nOut, weight: w.data as Float32Array, bias: b.data as Float32Array, index: i };
  });
  layers.forEach((l, i) => {
    if (i > 0 && l.nIn !== layers[i - 1].nOut) fail(`tensors["${prefixes.get(order[i])}.weight"].shape`, `nIn = ${layers[i - 1].nOut} (previous nOut)`, `[${l.nOut}, ${l.nIn}]`);
  });

  // Metadata: JSON values, plain strings kept as they are
  const meta: CheckpointMetadata = {};
  for (const [k, v] of Object.entries(metadata)) {
    try {
      meta[k] = JSON.parse(v);
    } catch {
      meta[k] = v;
    }
  }
  return { model: { layers: layers.map(({ nIn, nOut, weight, bias }) => ({ nIn, nOut, weight, bias })) }, metadata: meta };
}

export function loadCheckpoint(path: string): { model: FloatModel; metadata: CheckpointMetadata } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseCheckpoint(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
