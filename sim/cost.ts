// The cost model (docs/SIMULATOR.md, "Cost model"): cycles, flash and SRAM bytes of one layer under one
// schedule, from what a trace says was computed. Cycles are the C kernels' loop trip counts (per MAC in the
// SIMD body and scalar tail, per kept 8-input chunk, per row, per rank, per unit, per input, per layer) times a
// target's structural parameters (fitted, or derived from cited timings). Pure functions of a profile and a trace.
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
  /** Top-k (routing) gate: k blocks open (0 or absent: threshold gate). */
  topK?: number;
  relu: boolean;
  at: Record<string, number>;
}

/** What one layer does under one schedule on one sample. */
export interface LayerWork {
  /** Run the estimator or block gate (gated schedules on a layer with one). */
  estimator: boolean;
  /** Zero skip: the rows visit only the 8-input chunks holding a non-zero input (rg_sparseInput_s8). */
  gather: boolean;
  /** The rows come from a mask (gated and oracle schedules on a gated or ReLU layer). */
  masked: boolean;
  /** Rows computed, ascending. */
  rows: Int32Array;
  /** Inputs that are not the zero point, ascending (used when gather). */
  nz: Int32Array;
}

export interface LayerCost {
  /** Cycles per bucket (the per-inference overhead is added by simulate). */
  cycles: Breakdown;
  flashBytes: number;
  sramBytes: number;
  flashLines: number;
}

export const emptyBreakdown = (): Breakdown => ({ input: 0, estimator: 0, rows_mac: 0, rows_overhead: 0, mask: 0, flash_stall: 0 });
export const total = (b: Breakdown) => BUCKETS.reduce((t, k) => t + b[k], 0);

/**
 * The structural cost parameters (docs/SIMULATOR.md, "Cost model"): cycles per unit of work of the C kernels'
 * loops (kernels/c/src/rg_dot.c, rg_fully_connected.c, rg_estimate.c, rg_gate.c, rg_infer.c). mac_simd: per MAC in the SIMD body (the input's multiple of
 * simd_width); mac_scalar: per MAC in the scalar tail, or every MAC without SIMD; chunk: per kept 8-input chunk
 * per row on the zero-skip chunk path; row: per output row computed (dot call, bias, requantize, clamp, store);
 * rank: per estimator rank component (projection row, requantize, clamp); block: per gate block (policy row,
 * compare); unit: per output of an estimator layer (expansion call, threshold compare, mask bit set, the gated
 * rows' mask test); mask: per output of a masked layer without estimator (block gate or oracle: the gated rows'
 * mask test, skipped outputs' zero-point store), and per block of each selection pass of a top-k gate after the
 * first (rg_gate.c: k passes over the blocks, each an open-bit test and a 64-bit compare; the first pass is
 * counted in `block`, which already holds a compare per block); input: per padded
 * input (widen, chunk loop); scan: per input tested against the zero point under zero skip; layer: per layer
 * (decode, calls); inference: per inference (checks, arena plan). A profile with `cycles.vector_kernels: "mve"`
 * counts the Helium kernels' loops instead (layerCounts): mac_simd per MAC of the 16-lane steps over every input,
 * step per predicated tail (and per 8-component step of the estimator's second stage beyond rank 16, plus its call),
 * chunk per listed chunk and row, no scalar MACs.
 */
export const COST_PARAMS = ["mac_simd", "mac_scalar", "step", "chunk", "row", "rank", "block", "unit", "mask", "input", "test", "scan", "layer", "inference"] as const;
export type CostParam = (typeof COST_PARAMS)[number];
/** Units of work per parameter (what the parameters multiply). */
export type Counts = Record<CostParam, number>;
/** Cycles per unit; mac_simd null: the target has no SIMD body (every MAC is mac_scalar). */
export type CostParams = Omit<Counts, "mac_simd"> & { mac_simd: number | null };

export const emptyCounts = (): Counts => ({ mac_simd: 0, mac_scalar: 0, step: 0, chunk: 0, row: 0, rank: 0, block: 0, unit: 0, mask: 0, input: 0, test: 0, scan: 0, layer: 0, inference: 0 });

/**
 * The target's structural parameters: the fitted ones (`fitted.cycles`, sim/fit.ts) when the profile
 * has them, else derived from its cited per-operation cycles (docs/SIMULATOR.md gives the formulas).
 */
export function costParams(p: TargetProfile, cited = false): CostParams {
  if (p.fitted && !cited) return { ...p.fitted.cycles, mac_simd: p.fitted.cycles.mac_simd ?? null };
  const c = p.cycles;
  return {
    mac_simd: c.mac_simd, mac_scalar: c.mac_scalar, step: 0, chunk: c.mac_gather, row: c.row_overhead + c.requantize, rank: c.row_overhead + c.requantize,
    block: c.row_overhead + c.compare_unit, unit: c.row_overhead + c.compare_unit + c.fill_per_byte + c.mask_bit, mask: c.fill_per_byte + c.mask_bit,
    input: c.widen_per_input, test: 0, scan: c.gather_per_input, layer: 0, inference: 0,
  };
}

/** Σ parameter × count. */
export function countCycles(q: CostParams, n: Counts): number {
  let t = 0;
  for (const k of COST_PARAMS) t += (k === "mac_simd" ? q.mac_simd ?? q.mac_scalar : q[k]) * n[k];
  return t;
}

export const CHUNK = 8;
const pad8 = (n: number) => Math.ceil(n / CHUNK) * CHUNK;

/** How rg_sparseInput_s8 lays out one layer's input: every input (all) or the kept 8-input chunks. */
export interface InputPlan {
  all: boolean;
  /** Chunks a row's loop visits on the chunk path (0 on the all path). */
  chunks: number;
  /** Inputs each row multiplies, and of them the SIMD body (per simd width) and the scalar tail. */
  elems: number;
  body: number;
  tail: number;
  /** Inner-loop steps per row with SIMD: 16-input iterations and the 8-, 4- and tail pieces of each span (0 without SIMD). */
  steps: number;
  /** Inputs tested against the zero point (zero skip; each chunk stops at its first non-zero). */
  scanned: number;
  /** The inputs each row reads, ascending (for flash lines). */
  kept: Int32Array;
}

/** Steps of one contiguous span of len inputs on a SIMD target (kernels/c/src/rg_dot.c span2: 16 per iteration, then 8, 4, tail). */
export const spanSteps = (len: number, width: number) => (width > 0 ? (len >> 4) + ((len & 8) ? 1 : 0) + ((len & 4) ? 1 : 0) + ((len & 3) ? 1 : 0) : 0);

const split = (len: number, width: number) => {
  const body = width > 0 ? len - (len % width) : 0;
  return { body, tail: len - body };
};

/**
 * rg_sparseInput_s8's chunk list for n inputs whose non-zero ones are `nz` (null: no zero skip, every chunk):
 * a chunk is kept when any input in it is non-zero; with 4 kept chunks in 5 or more, every chunk (the all path).
 */
export function inputPlan(n: number, nz: Int32Array | null, simdWidth: number, mve = false): InputPlan {
  const all = Math.ceil(n / CHUNK);
  const range = Int32Array.from({ length: n }, (_, i) => i);
  const whole = (scanned: number): InputPlan => ({ all: true, chunks: 0, elems: n, ...split(n, simdWidth), steps: spanSteps(n, simdWidth), scanned, kept: range });
  if (nz === null) return whole(0);
  const starts: number[] = [];
  let scanned = 0, k = 0;
  for (let c = 0; c < n; c += CHUNK) {
    const end = Math.min(c + CHUNK, n);
    while (k < nz.length && nz[k] < c) k++;
    if (k < nz.length && nz[k] < end) {
      scanned += nz[k] - c + 1;
      starts.push(c);
    } else scanned += end - c;
  }
  // The MVE kernels compute every chunk from 9 listed in 17 (kernels/c/src/rg_sparse.c; the counters keep 4 in 5)
  if (mve ? starts.length * 17 >= all * 9 : starts.length * 5 >= all * 4) return whole(scanned);
  let elems = 0, body = 0, tail = 0, steps = 0;
  const kept: number[] = [];
  for (const c of starts) {
    const len = Math.min(CHUNK, n - c);
    const b = split(len, simdWidth);
    if (len < CHUNK) steps += spanSteps(len, simdWidth);
    elems += len;
    body += b.body;
    tail += b.tail;
    for (let i = c; i < c + len; i++) kept.push(i);
  }
  return { all: false, chunks: starts.length, elems, body, tail, steps, scanned, kept: Int32Array.from(kept) };
}

/** The units of work of one layer doing `w`, per bucket (the kernels' loop trip counts). */
export function layerCounts(p: TargetProfile, g: LayerGeometry, w: LayerWork): { input: Counts; estimator: Counts; rows_mac: Counts; rows_overhead: Counts; mask: Counts; plan: InputPlan } {
  const width = p.cycles.simd_width;
  const simd = costParams(p).mac_simd !== null && width > 0;
  const mve = p.cycles.vector_kernels === "mve";
  const plan = inputPlan(g.nIn, w.gather ? w.nz : null, simd ? width : 0, mve);
  const input = emptyCounts(), estimator = emptyCounts(), rowsMac = emptyCounts(), rowsOverhead = emptyCounts(), mask = emptyCounts();
  input.input = pad8(g.nIn);
  input.scan = plan.scanned;
  if (w.gather) input.test = Math.ceil(g.nIn / CHUNK);
  // m rows over the planned input
  const dots = (n: Counts, m: number) => {
    if (mve) {
      // Every input: width-lane steps and one predicated tail step; listed chunks: a cost per chunk and row
      if (plan.all) {
        n.mac_simd += m * plan.body;
        n.step += m * (plan.tail > 0 ? 1 : 0);
      } else n.chunk += m * plan.chunks;
      return;
    }
    if (simd) n.mac_simd += m * plan.body;
    n.mac_scalar += m * (simd ? plan.tail : plan.elems);
    n.step += m * plan.steps;
    n.chunk += m * plan.chunks;
  };
  const k = w.estimator ? g.rank : 0, blocks = w.estimator ? g.blocks : 0;
  if (k > 0) {
    // Projection rows, then each unit's dot product over the rank and its compare
    dots(estimator, k);
    estimator.rank += k;
    if (mve) {
      // u per unit: t in registers up to rank 16 (two units per step, in the unit cost); beyond, a call per unit
      // looping over 8-component steps
      if (k > 2 * CHUNK) estimator.step += g.nOut * (Math.ceil(k / CHUNK) + 1);
    } else {
      const e = split(k, simd ? width : 0);
      if (simd) estimator.mac_simd += g.nOut * e.body;
      estimator.mac_scalar += g.nOut * (simd ? e.tail : k);
      estimator.step += g.nOut * spanSteps(k, simd ? width : 0);
    }
    estimator.unit += g.nOut;
  } else if (blocks > 0) {
    dots(estimator, blocks);
    estimator.block += blocks;
    // Top-k: k selection passes over the blocks; the first is the per-block compare above
    if ((g.topK ?? 0) > 1) estimator.mask += (g.topK! - 1) * blocks;
    mask.mask += g.nOut;
  } else if (w.masked) mask.mask += g.nOut;
  dots(rowsMac, w.rows.length);
  rowsOverhead.row += w.rows.length;
  rowsOverhead.layer += 1;
  return { input, estimator, rows_mac: rowsMac, rows_overhead: rowsOverhead, mask, plan };
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
  const q = costParams(p), L = p.flash.line_bytes;
  const { nIn, nOut } = g;
  const k = w.estimator ? g.rank : 0;
  const blocks = w.estimator ? g.blocks : 0;
  const r = w.rows.length;
  const n = layerCounts(p, g, w);
  const plan = n.plan, m = plan.elems, gathered = !plan.all;
  const cyc = emptyBreakdown();
  for (const b of ["input", "estimator", "rows_mac", "rows_overhead", "mask"] as const) cyc[b] = countCycles(q, n[b]);
  const words = Math.ceil(nOut / 32);
  let flashBytes = 0, sramBytes = nIn, lines = 0;
  // Estimator: project to rank k, expand, compare
  if (k > 0) {
    flashBytes += k * m + 8 * k + nOut * k + 4 * nOut;
    sramBytes += k * 2 * m + nOut * 2 * k;
    lines += gathered ? gatherLines(g.at.est_a, nIn, range(k), plan.kept, L) : recordLines(g.at.est_a, 0, k * nIn, range(1), L);
    lines += recordLines(g.at.est_t_multiplier, 0, 4 * k, range(1), L) + recordLines(g.at.est_t_shift, 0, 4 * k, range(1), L);
    lines += recordLines(g.at.est_b, 0, nOut * k, range(1), L) + recordLines(g.at.est_threshold, 0, 4 * nOut, range(1), L);
  }
  // Block gate: one policy row per block, compare, set the block's mask bits
  if (blocks > 0) {
    flashBytes += blocks * m + 4 * blocks;
    // Top-k: the blocks' int32 scores in the arena
    sramBytes += blocks * 2 * m + 4 * words + ((g.topK ?? 0) > 0 ? 4 * blocks : 0);
    lines += gathered ? gatherLines(g.at.gate_weights, nIn, range(blocks), plan.kept, L) : recordLines(g.at.gate_weights, 0, blocks * nIn, range(1), L);
    lines += recordLines(g.at.gate_threshold, 0, 4 * blocks, range(1), L);
  }
  // Rows
  flashBytes += r * m + 12 * r;
  sramBytes += r * 2 * m;
  lines += gathered ? gatherLines(g.at.weights, nIn, w.rows, plan.kept, L) : recordLines(g.at.weights, nIn, nIn, w.rows, L);
  for (const s of ["bias", "multiplier", "shift"]) lines += recordLines(g.at[s], 4, 4, w.rows, L);
  if (w.masked) sramBytes += 4 * words;
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
