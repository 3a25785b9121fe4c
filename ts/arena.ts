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
  model: ArenaRegion;
  plan: ArenaRegion;
  input: ArenaRegion;
  /** Ping-pong activation buffers: layer l writes activations[l % 2]. */
  activations: [ArenaRegion, ArenaRegion];
  mask: ArenaRegion;
  scratch: ArenaRegion;
  /** End of the arena: bytes of linear memory the engine needs. */
  totalBytes: number;
  pages: number;
}

export function planArena(model: QuantModel, imageBytes: number, heapBase: number): ArenaPlan {
  let cursor = align16(heapBase);
  const take = (bytes: number): ArenaRegion => {
    const r = { offset: cursor, bytes: align16(bytes) };
    cursor += r.bytes;
    return r;
  };
  const base = cursor;
  const layers = model.layers;
  const widest = Math.max(...layers.map((l) => l.nOut));
  const region = {
    model: take(imageBytes),
    plan: take(layers.length * PLAN_RECORD_BYTES),
    input: take(layers[0].nIn),
    activations: [take(widest), take(widest)] as [ArenaRegion, ArenaRegion],
    mask: take(Math.max(...layers.map((l) => maskBytes(l.nOut)))),
    scratch: take(Math.max(...layers.map((l) => Math.max(
      denseRows_s8_scratchBytes(l.nIn),
      l.estimator ? estimateSign_s8_scratchBytes(l.nIn, l.estimator.rank) : 0,
    )))),
  };
  return { base, ...region, totalBytes: cursor, pages: Math.ceil(cursor / PAGE_BYTES) };
}
