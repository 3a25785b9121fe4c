// One arena per engine, planned once at load (TFLite Micro style): persistent model image
// and plan records first, then activations, mask and scratch. Nothing is allocated later.
import type { QuantModel } from "./model.ts";

export const PAGE_BYTES = 65536;
/** Bytes of one layer's plan record (mirrors PLAN_RECORD_BYTES in assembly/network.ts). */
export const PLAN_RECORD_BYTES = 128;

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** i16 scratch of n elements, as assembly/status.ts scratchVec16. */
export const scratchVec16 = (n: number) => align16(2 * n);
export const denseRows_s8_scratchBytes = (nIn: number) => scratchVec16(nIn);
export const gatedRows_s8_scratchBytes = (nIn: number) => scratchVec16(nIn);
export const estimateSign_s8_scratchBytes = (nIn: number, rank: number) => scratchVec16(nIn) + scratchVec16(rank);
export const maskBytes = (nOut: number) => 4 * Math.ceil(nOut / 32);

export interface ArenaRegion {
  offset: number;
  bytes: number;
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
  /** Dense output of a gated layer, for trace counters (tracing only). */
  shadow: ArenaRegion | null;
  /** End of the arena: bytes of linear memory the engine needs. */
  totalBytes: number;
  pages: number;
}

export interface ArenaOptions {
  /** Keep every layer's output and mask after a run (per-layer buffers and a shadow buffer). */
  trace?: boolean;
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
  const scratch = take("scratch", Math.max(...layers.map((l) => Math.max(
    denseRows_s8_scratchBytes(l.nIn),
    l.estimator ? estimateSign_s8_scratchBytes(l.nIn, l.estimator.rank) : 0,
  ))));
  return { base, regions, model: model_, plan, input, outputs, masks, scratch, shadow, totalBytes: cursor, pages: Math.ceil(cursor / PAGE_BYTES) };
}
