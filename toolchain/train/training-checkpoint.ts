// Float checkpoints with training metadata: the tensors of toolchain/import/float-checkpoint.ts (`layers.{i}.weight`
// [nOut, nIn], `layers.{i}.bias` [nOut], F32; torch state_dicts read too) plus JSON-encoded metadata.
import { readFileForUser, writeFileForUser } from "../io/files.ts";
import { CHECKPOINT_FORMAT, checkpointTensors, modelSizes } from "../import/float-checkpoint.ts";
import { importSafetensors, type SafetensorsImportOptions } from "../import/state-dict.ts";
import type { FloatModel } from "../../runtime/src/index.ts";
import { readSafetensors, writeSafetensors, type Tensor } from "../io/safetensors-file.ts";

export { CHECKPOINT_FORMAT };

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

/**
 * Tensors (toolchain/import/float-checkpoint.ts naming) and JSON-encoded metadata; sizes come from the model, `format` marks
 * rankgate's checkpoint and `activation` records "relu" (the activation after every hidden layer).
 */
export function checkpointFile(model: FloatModel, metadata: CheckpointMetadata = {}): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const meta: Record<string, string> = { format: JSON.stringify(CHECKPOINT_FORMAT), activation: JSON.stringify("relu") };
  for (const [k, v] of Object.entries({ ...metadata, sizes: modelSizes(model) })) if (v !== undefined) meta[k] = JSON.stringify(v);
  return { tensors: checkpointTensors(model), metadata: meta };
}

export function saveCheckpoint(model: FloatModel, path: string, metadata: CheckpointMetadata = {}): void {
  const { tensors, metadata: meta } = checkpointFile(model, metadata);
  writeFileForUser(path, writeSafetensors(tensors, meta));
}

/** A checkpoint's bytes: the model's tensors with rankgate's metadata (format, activation, sizes). */
export function checkpointBytes(model: FloatModel, metadata: CheckpointMetadata = {}): Uint8Array {
  const { tensors, metadata: meta } = checkpointFile(model, metadata);
  return writeSafetensors(tensors, meta);
}

/** The model (names as importSafetensors accepts them) and its metadata, JSON values decoded. */
export function parseCheckpoint(bytes: Uint8Array, source: string, opts: SafetensorsImportOptions = {}): { model: FloatModel; metadata: CheckpointMetadata } {
  const { layers } = importSafetensors(bytes, source, opts);
  const model: FloatModel = { layers };
  const meta: CheckpointMetadata = {};
  for (const [k, v] of Object.entries(readSafetensors(bytes, source).metadata)) {
    try {
      meta[k] = JSON.parse(v);
    } catch {
      meta[k] = v;
    }
  }
  return { model, metadata: meta };
}

export function loadCheckpoint(path: string): { model: FloatModel; metadata: CheckpointMetadata } {
  return parseCheckpoint(readFileForUser(path), path);
}
