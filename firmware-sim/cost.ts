// The cost model (docs/SIMULATOR.md, "Cost model"): cycles, flash and SRAM bytes of one layer
// under one schedule, from what a trace says was computed. Pure functions of a profile and counts.
import type { TargetProfile } from "./profile.ts";
import type { Bits } from "./trace.ts";
import { indices } from "./trace.ts";

export const SCHEDULES = ["dense", "gated", "gated_zero_skip", "oracle", "oracle_zero_skip"] as const;
export type Schedule = (typeof SCHEDULES)[number];
export type PerSchedule<T = number> = Record<Schedule, T>;

export const BUCKETS = ["input", "estimator", "rows_mac", "rows_overhead", "mask", "flash_stall"] as const;
export type Bucket = (typeof BUCKETS)[number];
export type Breakdown = Record<Bucket, number>;

/** Where a layer's sections sit in flash (byte offsets from the model's start). */
export interface LayerGeometry {
  nIn: number;
  nOut: number;
  rank: number;
  /** Block-gate blocks (0: none); a layer has an estimator or a gate. */
  blocks: number;
  relu: boolean;
  at: Record<string, number>;
}

/** What one layer does under one schedule on one sample. */
export interface LayerWork {
  /** Run the estimator or block gate (gated schedules on a layer with one). */
  estimator: boolean;
  /** Skip the rows' zero inputs: gather (index, value) pairs and run gathered MACs. */
  gather: boolean;
  /** The rows come from a mask (gated and oracle schedules on a gated or ReLU layer). */
  masked: boolean;
  /** Rows computed, ascending. */
  rows: Int32Array;
  /** Inputs that are not the zero point, ascending (used when gather). */
  nz: Int32Array;
}

export interface LayerCost {
  cycles: Breakdown;
  flashBytes: number;
  sramBytes: number;
  flashLines: number;
}

export const emptyBreakdown = (): Breakdown => ({ input: 0, estimator: 0, rows_mac: 0, rows_overhead: 0, mask: 0, flash_stall: 0 });
export const total = (b: Breakdown) => BUCKETS.reduce((t, k) => t + b[k], 0);

/** Cycles of a contiguous int16 × int8 dot product of length n: SIMD steps, then a scalar tail. */
export function dotCycles(p: TargetProfile, n: number): number {
  const c = p.cycles;
  if (c.mac_simd === null || c.simd_width === 0) return n * c.mac_scalar;
  const body = Math.floor(n / c.simd_width) * c.simd_width;
  return body * c.mac_simd + (n - body) * c.mac_scalar;
}

/** Distinct flash lines of `len`-byte records at base + j·stride for each j in rows (contiguous reads). */
export function recordLines(base: number, stride: number, len: number, rows: Int32Array, line: number): number {
  let lines = 0, prevLast = -1;
  for (let k = 0; k < rows.length; k++) {
    const s = base + rows[k] * stride;
    const first = Math.floor(s / line), last = Math.floor((s + len - 1) / line);
    lines += last - first + 1 - (first === prevLast ? 1 : 0);
    prevLast = last;
  }
  return lines;
}

/** Distinct flash lines of the bytes base + j·stride + i, i in nz, over the rows (gathered reads). */
export function gatherLines(base: number, stride: number, rows: Int32Array, nz: Int32Array, line: number): number {
  if (nz.length === 0 || rows.length === 0) return 0;
  // Per phase (row start mod line): lines touched, first and last line relative to the row's first line
  const phases = new Map<number, { count: number; first: number; last: number }>();
  const phase = (p: number) => {
    let ph = phases.get(p);
    if (!ph) {
      let count = 0, prev = -1;
      for (let k = 0; k < nz.length; k++) {
        const l = Math.floor((p + nz[k]) / line);
        if (l !== prev) count++;
        prev = l;
      }
      ph = { count, first: Math.floor((p + nz[0]) / line), last: prev };
      phases.set(p, ph);
    }
    return ph;
  };
  let lines = 0, prevLast = -1;
  for (let k = 0; k < rows.length; k++) {
    const s = base + rows[k] * stride;
    const ph = phase(s % line);
    const rowLine = Math.floor(s / line);
    lines += ph.count - (rowLine + ph.first === prevLast ? 1 : 0);
    prevLast = rowLine + ph.last;
  }
  return lines;
}

const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

/** Cycles, flash bytes and SRAM bytes of one layer doing `w` on target `p`; `stall` when flash reads miss. */
export function layerCost(p: TargetProfile, g: LayerGeometry, w: LayerWork, stall: boolean): LayerCost {
  const c = p.cycles, L = p.flash.line_bytes;
  const { nIn, nOut } = g;
  const k = w.estimator ? g.rank : 0;
  const blocks = w.estimator ? g.blocks : 0;
  const r = w.rows.length, m = w.nz.length;
  const cyc = emptyBreakdown();
  const words = Math.ceil(nOut / 32);
  // Input: widen a − z to int16, or compact the non-zero inputs
  cyc.input = w.gather ? nIn * c.gather_per_input + m * c.gather_per_nonzero : nIn * c.widen_per_input;
  const rowMacs = w.gather ? m * c.mac_gather : dotCycles(p, nIn);
  let flashBytes = 0, sramBytes = nIn, lines = 0;
  // Estimator: project to rank k, expand, compare
  if (k > 0) {
    cyc.estimator = k * (c.row_overhead + c.requantize + rowMacs) + nOut * (c.row_overhead + dotCycles(p, k) + c.compare_unit);
    flashBytes += k * (w.gather ? m : nIn) + 8 * k + nOut * k + 4 * nOut;
    sramBytes += k * (w.gather ? 4 * m : 2 * nIn) + nOut * 2 * k;
    lines += w.gather ? gatherLines(g.at.est_a, nIn, range(k), w.nz, L) : recordLines(g.at.est_a, 0, k * nIn, range(1), L);
    lines += recordLines(g.at.est_t_multiplier, 0, 4 * k, range(1), L) + recordLines(g.at.est_t_shift, 0, 4 * k, range(1), L);
    lines += recordLines(g.at.est_b, 0, nOut * k, range(1), L) + recordLines(g.at.est_threshold, 0, 4 * nOut, range(1), L);
  }
  // Block gate: one policy row per block, compare, set the block's mask bits
  if (blocks > 0) {
    cyc.estimator = blocks * (c.row_overhead + rowMacs + c.compare_unit) + nOut * c.mask_bit;
    flashBytes += blocks * (w.gather ? m : nIn) + 4 * blocks;
    sramBytes += blocks * (w.gather ? 4 * m : 2 * nIn) + 4 * words;
    lines += w.gather ? gatherLines(g.at.gate_weights, nIn, range(blocks), w.nz, L) : recordLines(g.at.gate_weights, 0, blocks * nIn, range(1), L);
    lines += recordLines(g.at.gate_threshold, 0, 4 * blocks, range(1), L);
  }
  // Rows
  cyc.rows_mac = r * rowMacs;
  cyc.rows_overhead = r * (c.row_overhead + c.requantize);
  flashBytes += r * (w.gather ? m : nIn) + 12 * r;
  sramBytes += r * (w.gather ? 4 * m : 2 * nIn);
  lines += w.gather ? gatherLines(g.at.weights, nIn, w.rows, w.nz, L) : recordLines(g.at.weights, nIn, nIn, w.rows, L);
  for (const s of ["bias", "multiplier", "shift"]) lines += recordLines(g.at[s], 4, 4, w.rows, L);
  // Mask: preset skipped outputs, scan for set bits
  if (w.masked) {
    cyc.mask = nOut * c.fill_per_byte + words * c.mask_word + (c.has_clz ? r : nOut) * c.mask_bit;
    sramBytes += 4 * words;
  }
  cyc.flash_stall = stall ? lines * p.flash.miss_cycles : 0;
  return { cycles: cyc, flashBytes, sramBytes, flashLines: lines };
}

/** The rows and inputs of one layer under each schedule, from one sample's layer trace. */
export function layerWork(g: LayerGeometry, t: { nz: Bits; rows: Bits; denseNz: Bits; positive: Bits }, schedule: Schedule): LayerWork {
  const gatedLayer = g.rank > 0 || g.blocks > 0;
  const all = range(g.nOut);
  switch (schedule) {
    case "dense":
      return { estimator: false, gather: false, masked: false, rows: all, nz: new Int32Array(0) };
    case "gated":
      return { estimator: gatedLayer, gather: false, masked: gatedLayer, rows: gatedLayer ? indices(t.rows) : all, nz: new Int32Array(0) };
    case "gated_zero_skip":
      return { estimator: gatedLayer, gather: true, masked: gatedLayer, rows: gatedLayer ? indices(t.rows) : all, nz: indices(t.nz) };
    case "oracle":
      return { estimator: false, gather: false, masked: g.relu, rows: g.relu ? indices(t.positive) : all, nz: new Int32Array(0) };
    case "oracle_zero_skip":
      return { estimator: false, gather: true, masked: g.relu, rows: g.relu ? indices(t.positive) : all, nz: indices(t.denseNz) };
  }
}

/**
 * Break-even unit density of a gated layer: the fraction of rows computed below which the gated
 * schedule costs fewer cycles than the dense one. The gated cost is affine in the rows computed,
 * so it is solved from the cost with no rows and with every row. null: gating never pays.
 */
export function breakEvenDensity(p: TargetProfile, g: LayerGeometry, stall: boolean): { density: number | null; dense: number; fixed: number; perRow: number } {
  const none = { nz: new Uint32Array(0), rows: new Uint32Array(Math.ceil(g.nOut / 32)), denseNz: new Uint32Array(0), positive: new Uint32Array(0) };
  const dense = total(layerCost(p, g, layerWork(g, none, "dense"), stall).cycles);
  const w0 = layerWork(g, none, "gated");
  const fixed = total(layerCost(p, g, w0, stall).cycles);
  const full = total(layerCost(p, g, { ...w0, rows: range(g.nOut) }, stall).cycles);
  const perRow = (full - fixed) / g.nOut;
  const d = (dense - fixed) / (full - fixed);
  return { density: d > 0 ? Math.min(d, 1) : null, dense, fixed, perRow };
}
