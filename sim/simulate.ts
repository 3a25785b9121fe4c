// Trace-driven simulation of one model on one target: MACs (defined exactly as toolchain/evaluate/evaluate.ts),
// cycles, latency, energy, flash and SRAM traffic per schedule, memory fit and break-even densities.
import { planArena, readModel, type QuantModel } from "../runtime/src/index.ts";
import {
  breakEvenDensity, BUCKETS, costParams, emptyBreakdown, layerCost, layerWork, SCHEDULES, total,
  type Breakdown, type LayerGeometry, type PerSchedule, type Schedule,
} from "./cost.ts";
import type { TargetProfile } from "./profile.ts";
import type { ModelTrace } from "./trace.ts";

export interface LayerResult {
  n_in: number;
  n_out: number;
  rank: number;
  /** Mean fraction of units positive in the dense run (null for a layer without ReLU). */
  density: number | null;
  /** Mean fraction of rows the gated run computed. */
  computed: number;
  /** Mean fraction of the gated run's inputs that are not zero. */
  input_nonzero: number;
  macs: PerSchedule;
  cycles: PerSchedule;
  /** Fraction of rows computed below which gating this layer costs fewer cycles than dense (null: never; gated layers only). */
  break_even_density: number | null;
  /** The gated run computes fewer rows than the break-even density (null for a dense layer). */
  gating_pays: boolean | null;
}

export interface MemoryFit {
  flash_bytes: number;
  sram_bytes: number;
  fits: boolean;
  verdict: string;
  flash_available: number;
  sram_available: number;
  breakdown: { model: number; code: number; arena: number; stack: number; zero_skip_scratch: number };
}

export interface SimResult {
  target: string;
  target_title: string;
  clock_hz: number;
  samples: number;
  macs_per_sample: PerSchedule;
  cycles_per_sample: PerSchedule;
  latency_us: PerSchedule;
  energy_uj: PerSchedule;
  flash_bytes_per_sample: PerSchedule;
  sram_bytes_per_sample: PerSchedule;
  cycle_breakdown: PerSchedule<Breakdown>;
  /** Flash reads stall: the model is larger than the data cache in front of the flash. */
  flash_stalls: boolean;
  memory: MemoryFit;
  error: { int8_dense: number; int8_gated: number };
  layers: LayerResult[];
}

export const perSchedule = <T>(f: (s: Schedule) => T): PerSchedule<T> => Object.fromEntries(SCHEDULES.map((s) => [s, f(s)])) as PerSchedule<T>;

/** Every layer's section offsets and shape, from the .rgm bytes. */
export function geometry(bytes: Uint8Array): { model: QuantModel; layers: LayerGeometry[]; fileBytes: number } {
  const { model, sections } = readModel(bytes);
  const layers = model.layers.map((l, i): LayerGeometry => ({
    nIn: l.nIn, nOut: l.nOut, rank: l.estimator?.rank ?? 0, blocks: l.gate?.blocks ?? 0, topK: l.gate?.topK ?? 0, relu: l.activation === "relu",
    at: Object.fromEntries(sections.filter((s) => s.layer === i).map((s) => [s.name, s.offset])),
  }));
  return { model, layers, fileBytes: bytes.length };
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

/** Flash: the model image and the code; SRAM: the arena without the model (read in place from flash) and the stack. */
export function memoryFit(model: QuantModel, fileBytes: number, p: TargetProfile): MemoryFit {
  const arena = planArena(model, 0, 0);
  const arenaBytes = arena.totalBytes - arena.base;
  const zeroSkip = Math.ceil((2 * Math.max(...model.layers.map((l) => l.nIn))) / 16) * 16;
  const flash = fileBytes + p.memory.code_bytes;
  const sram = arenaBytes + zeroSkip + p.memory.stack_bytes;
  const problems: string[] = [];
  if (flash > p.memory.flash_bytes) problems.push(`needs ${kib(flash)} flash, has ${kib(p.memory.flash_bytes)}`);
  if (sram > p.memory.sram_bytes) problems.push(`needs ${kib(sram)} SRAM, has ${kib(p.memory.sram_bytes)}`);
  return {
    flash_bytes: flash, sram_bytes: sram, fits: problems.length === 0,
    verdict: problems.length === 0 ? "fits" : `does not fit: ${problems.join("; ")}`,
    flash_available: p.memory.flash_bytes, sram_available: p.memory.sram_bytes,
    breakdown: { model: fileBytes, code: p.memory.code_bytes, arena: arenaBytes, stack: p.memory.stack_bytes, zero_skip_scratch: zeroSkip },
  };
}

/** Simulates every traced sample on target `p`. `bytes` is the .rgm the trace ran. */
export function simulate(bytes: Uint8Array, trace: ModelTrace, p: TargetProfile): SimResult {
  const { model, layers: geo, fileBytes } = geometry(bytes);
  const count = trace.samples.length;
  if (count === 0) throw new RangeError("simulate needs at least one traced sample");
  const stall = fileBytes > p.flash.cache_bytes;
  // Integer sums over samples, per layer (the same quantities toolchain/evaluate/evaluate.ts sums)
  const sums = geo.map(() => ({ nz: 0, rows: 0, rowsTimesNz: 0, positive: 0, positiveTimesNz: 0, denseNz: 0 }));
  const cycles = geo.map(() => perSchedule(() => 0));
  const breakdown = perSchedule(() => emptyBreakdown());
  const flashBytes = perSchedule(() => 0), sramBytes = perSchedule(() => 0);
  let wrongGated = 0, wrongDense = 0;
  // Per inference: rg_infer_s8's checks and arena plan (on layer 0, in rows_overhead)
  const perInference = costParams(p).inference;
  for (const sched of SCHEDULES) {
    cycles[0][sched] += perInference * count;
    breakdown[sched].rows_overhead += perInference * count;
  }
  for (const sample of trace.samples) {
    if (sample.labelGated !== sample.label) wrongGated++;
    if (sample.labelDense !== sample.label) wrongDense++;
    sample.layers.forEach((t, l) => {
      const s = sums[l], g = geo[l];
      s.nz += t.nzCount;
      s.rows += t.rowCount;
      s.rowsTimesNz += t.rowCount * t.nzCount;
      s.denseNz += t.denseNzCount;
      if (g.relu) {
        s.positive += t.positiveCount;
        s.positiveTimesNz += t.positiveCount * t.denseNzCount;
      }
      for (const sched of SCHEDULES) {
        const cost = layerCost(p, g, layerWork(g, t, sched), stall);
        cycles[l][sched] += total(cost.cycles);
        for (const b of BUCKETS) breakdown[sched][b] += cost.cycles[b];
        flashBytes[sched] += cost.flashBytes;
        sramBytes[sched] += cost.sramBytes;
      }
    });
  }

  // MACs: the expressions of toolchain/evaluate/evaluate.ts, in its order, so the figures are identical
  const macs = perSchedule(() => 0);
  const layerMacs = model.layers.map((layer, l) => {
    const s = sums[l];
    const relu = layer.activation === "relu";
    const rank = layer.estimator?.rank ?? 0;
    const blocks = layer.gate?.blocks ?? 0;
    const gatedTotal = (rank * (layer.nIn + layer.nOut) + blocks * layer.nIn) * count + s.rows * layer.nIn;
    const m: PerSchedule = {
      dense: layer.nIn * layer.nOut,
      gated: gatedTotal / count,
      gated_zero_skip: ((rank > 0 ? s.nz * rank + count * rank * layer.nOut : 0) + s.nz * blocks + s.rowsTimesNz) / count,
      oracle: relu ? (s.positive * layer.nIn) / count : layer.nIn * layer.nOut,
      oracle_zero_skip: relu ? s.positiveTimesNz / count : (s.denseNz * layer.nOut) / count,
    };
    for (const k of SCHEDULES) macs[k] += m[k];
    return m;
  });

  const cyclesPerSample = perSchedule((s) => cycles.reduce((t, c) => t + c[s], 0) / count);
  const layers = model.layers.map((layer, l): LayerResult => {
    const s = sums[l], g = geo[l];
    const be = g.rank > 0 || g.blocks > 0 ? breakEvenDensity(p, g, stall) : null;
    const computed = s.rows / (count * layer.nOut);
    return {
      n_in: layer.nIn, n_out: layer.nOut, rank: g.rank,
      density: g.relu ? s.positive / (count * layer.nOut) : null,
      computed,
      input_nonzero: s.nz / (count * layer.nIn),
      macs: layerMacs[l],
      cycles: perSchedule((k) => cycles[l][k] / count),
      break_even_density: be ? be.density : null,
      gating_pays: be ? be.density !== null && computed < be.density : null,
    };
  });
  return {
    target: p.name, target_title: p.title, clock_hz: p.clock_hz, samples: count,
    macs_per_sample: macs,
    cycles_per_sample: cyclesPerSample,
    latency_us: perSchedule((s) => (cyclesPerSample[s] / p.clock_hz) * 1e6),
    energy_uj: perSchedule((s) => (cyclesPerSample[s] / p.clock_hz) * p.power.active_mw * 1e3),
    flash_bytes_per_sample: perSchedule((s) => flashBytes[s] / count),
    sram_bytes_per_sample: perSchedule((s) => sramBytes[s] / count),
    cycle_breakdown: perSchedule((s) => Object.fromEntries(BUCKETS.map((b) => [b, breakdown[s][b] / count])) as Breakdown),
    flash_stalls: stall,
    memory: memoryFit(model, fileBytes, p),
    error: { int8_dense: wrongDense / count, int8_gated: wrongGated / count },
    layers,
  };
}
