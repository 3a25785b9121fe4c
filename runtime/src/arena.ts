// One arena per engine, planned once at load (TFLite Micro style): persistent model image,
// plan records and (the engine on the SIMD build) the estimators' pair layouts first, then activations,
// mask and scratch, then the batch staging buffers.
// Nothing is allocated later.
import type { QuantModel } from "./model.ts";
import { pairLayoutABytes, pairLayoutBytes } from "./reference.ts";

export const PAGE_BYTES = 65536;
/** Bytes of one layer's plan record (mirrors PLAN_RECORD_BYTES in kernels/wasm/network.ts). */
export const PLAN_RECORD_BYTES = 256;
/** Samples per run_batch_s8 call the staging buffers hold (inferBatch splits larger batches). */
export const BATCH_SAMPLES = 64;

const align16 = (n: number) => Math.ceil(n / 16) * 16;
/** n rounded up to a multiple of 8, as kernels/wasm/status.ts pad8 (one v128 of int16). */
export const pad8 = (n: number) => Math.ceil(n / 8) * 8;

/** i16 scratch of n elements, as kernels/wasm/status.ts scratchVec16. */
export const scratchVec16 = (n: number) => align16(2 * n);
/** i32 scratch of n elements, as kernels/wasm/status.ts scratchVec32. */
export const scratchVec32 = (n: number) => align16(4 * n);
/** The input list every kernel starts from (kernels/wasm/sparse.ts). */
export const sparseInput_s8_scratchBytes = (nIn: number) => 16 + scratchVec16(pad8(nIn)) + scratchVec32(Math.ceil(nIn / 8));
export const denseRows_s8_scratchBytes = (nIn: number, nOut: number) => sparseInput_s8_scratchBytes(nIn) + scratchVec32(pad8(nOut)) + scratchVec32(nOut);
export const gatedRows_s8_scratchBytes = denseRows_s8_scratchBytes;
export const estimateSign_s8_scratchBytes = (nIn: number, rank: number) => sparseInput_s8_scratchBytes(nIn) + 2 * scratchVec32(pad8(rank)) + scratchVec16(pad8(rank));
export const blockGate_s8_scratchBytes = (nIn: number, blocks: number) => sparseInput_s8_scratchBytes(nIn) + scratchVec32(pad8(blocks)) + scratchVec32(blocks);
/** What run_s8 needs for one layer, any flags (kernels/wasm/network.ts). */
export const run_s8_scratchBytes = (nIn: number, nOut: number, rank: number) =>
  sparseInput_s8_scratchBytes(nIn) + scratchVec32(pad8(nOut)) + scratchVec16(pad8(rank)) + scratchVec32(nOut);
export const maskBytes = (nOut: number) => 4 * Math.ceil(nOut / 32);

export interface ArenaRegion {
  offset: number;
  bytes: number;
}

/**
 * run_batch_s8's buffers: BATCH_SAMPLES float32 (or int8) inputs, their int8 logits and int32 labels,
 * and the batch's int8 activations (quantized inputs, then two [samples][widest] buffers).
 */
export interface StagingRegions {
  samples: number;
  input: ArenaRegion;
  logits: ArenaRegion;
  labels: ArenaRegion;
  activations: ArenaRegion;
}

export interface ArenaPlan {
  /** First byte of the arena: the module's heap base, rounded up to 16. */
  base: number;
  /** Every region in address order, named, for reports. */
  regions: (ArenaRegion & { name: string })[];
  model: ArenaRegion;
  plan: ArenaRegion;
  input: ArenaRegion;
  /** Each layer's output buffer: two ping-pong buffers, or one per layer when tracing. */
  outputs: ArenaRegion[];
  /** Each layer's mask buffer: one shared, or one per layer when tracing. */
  masks: ArenaRegion[];
  scratch: ArenaRegion;
  /**
   * With the pairs option (the engine on the SIMD build), each estimator layer's pair layouts (null: no estimator): its
   * second factor (reference.ts pairLayout_s8) at offset, then its first factor (pairLayoutA_s8) at aOffset and the
   * pair list (int32 [pad8(nIn) / 2]) at listOffset, then its t requantization parameters (reference.ts requantLayout_s32
   * with bias 0, 16 bytes per rank, zero up to pad8(rank)) at tOffset. Absent without the option.
   */
  pairs?: (ArenaRegion & { aOffset: number; listOffset: number; tOffset: number } | null)[];
  /** With the pairs option, each layer's requantization parameters (reference.ts requantLayout_s32: 16 bytes per unit). */
  requant?: ArenaRegion[];
  /** Dense output of a gated layer, for trace counters (tracing only). */
  shadow: ArenaRegion | null;
  staging: StagingRegions | null;
  /** End of the arena: bytes of linear memory the engine needs. */
  totalBytes: number;
  pages: number;
}

export interface ArenaOptions {
  /** Keep every layer's output and mask after a run (per-layer buffers and a shadow buffer). */
  trace?: boolean;
  /** Staging buffers for run_batch_s8. */
  batch?: boolean;
  /** Each estimator's factors in the pair layouts the SIMD kernels read, its pair list, and each layer's packed requantization parameters (the engine on the SIMD build). */
  pairs?: boolean;
}

export function planArena(model: QuantModel, imageBytes: number, heapBase: number, options: ArenaOptions = {}): ArenaPlan {
  const regions: (ArenaRegion & { name: string })[] = [];
  let cursor = align16(heapBase);
  const take = (name: string, bytes: number): ArenaRegion => {
    const r = { name, offset: cursor, bytes: align16(bytes) };
    regions.push(r);
    cursor += r.bytes;
    return { offset: r.offset, bytes: r.bytes };
  };
  const base = cursor;
  const layers = model.layers;
  const widest = Math.max(...layers.map((l) => l.nOut));
  const model_ = take("model", imageBytes);
  const plan = take("plan", layers.length * PLAN_RECORD_BYTES);
  const pairs = options.pairs && layers.map((l, i) => {
    if (!l.estimator) return null;
    const b = align16(pairLayoutBytes(l.estimator.rank, l.nOut)), a = align16(pairLayoutABytes(l.estimator.rank, l.nIn));
    const list = align16(2 * pad8(l.nIn));
    const r = take(`pairs[${i}]`, b + a + list + 16 * pad8(l.estimator.rank));
    return { ...r, aOffset: r.offset + b, listOffset: r.offset + b + a, tOffset: r.offset + b + a + list };
  });
  const requant = options.pairs && layers.map((l, i) => take(`requant[${i}]`, 16 * l.nOut));
  const input = take("input", layers[0].nIn);
  let outputs: ArenaRegion[], masks: ArenaRegion[], shadow: ArenaRegion | null = null;
  if (options.trace) {
    outputs = layers.map((l, i) => take(`outputs[${i}]`, l.nOut));
    masks = layers.map((l, i) => take(`masks[${i}]`, maskBytes(l.nOut)));
    shadow = take("shadow", widest);
  } else {
    const pingPong = [take("activations[0]", widest), take("activations[1]", widest)];
    outputs = layers.map((_, i) => pingPong[i % 2]);
    const mask = take("mask", Math.max(...layers.map((l) => maskBytes(l.nOut))));
    masks = layers.map(() => mask);
  }
  const scratch = take("scratch", Math.max(...layers.map((l) => run_s8_scratchBytes(l.nIn, l.nOut, l.estimator?.rank ?? 0))));
  const staging = options.batch
    ? {
      samples: BATCH_SAMPLES,
      input: take("staging.input", BATCH_SAMPLES * 4 * layers[0].nIn),
      logits: take("staging.logits", BATCH_SAMPLES * layers[layers.length - 1].nOut),
      labels: take("staging.labels", BATCH_SAMPLES * 4),
      activations: take("staging.activations", BATCH_SAMPLES * (layers[0].nIn + 2 * widest)),
    }
    : null;
  return {
    base, regions, model: model_, plan, input, outputs, masks, scratch, ...(pairs ? { pairs } : {}), ...(requant ? { requant } : {}), shadow, staging,
    totalBytes: cursor, pages: Math.ceil(cursor / PAGE_BYTES),
  };
}
