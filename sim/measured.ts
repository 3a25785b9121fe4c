// Measured instruction counts (sim/measured.json, written by `npm run bench:mcu -- --write`):
// the C runtime under QEMU on the models of bench/zoo/manifest.json, each on the first samples of its data,
// per target, schedule and layer, with the cycles derived from them (sim/timings.ts) and the hash of
// the C sources measured. `rankgate sim` shows them beside its prediction when the simulated model is one that
// was measured (same CRC-32 and size); test/sim-measured.test.ts keeps held-out models' predictions within
// ±10 % of them (sim/fit.ts).
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Schedule } from "./cost.ts";
import type { SimResult } from "./simulate.ts";

export const MEASURED_PATH = fileURLToPath(new URL("../sim/measured.json", import.meta.url));
/** The schedules the C runtime runs, by bench:mcu run name. */
export const MEASURED_SCHEDULES: Record<string, Schedule> = { dense: "dense", gated: "gated", "gated+zero-skip": "gated_zero_skip" };

export interface MeasuredRun {
  instructions: number;
  layers: number[];
  cycles: number;
  macs: number;
}

export interface MeasuredModel {
  model: string;
  /** The .rgm header's CRC-32, which `rankgate sim` matches a simulated model to its measurement by. */
  crc32: number;
  /** The .rgm's size in bytes. */
  bytes: number;
  /** mnist:test or a data file (repository-relative), and the samples measured (its first ones). */
  data: string;
  samples: number;
  /** fit: enters sim/fit.ts; held-out: never does (absent: fit). */
  role?: "fit" | "held-out";
  targets: Record<string, { board: string; runtimeCode: number; cmsisCode: number; arena: number; cmsisRam: number; runs: Record<string, MeasuredRun> }>;
}

export interface MeasuredFile {
  meta: { command: string; date: string; machine: string; c_sources_sha256?: string; seconds?: number };
  runs: MeasuredModel[];
}

export function loadMeasured(path = MEASURED_PATH): MeasuredFile | null {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as MeasuredFile) : null;
}

/** The .rgm header's CRC-32 field (offset 12), which identifies a model file. */
export const modelCrc = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(12, true);

/** The measurement of this model file on this target, if any. */
export function measuredFor(bytes: Uint8Array, target: string, file = loadMeasured()) {
  if (!file) return null;
  const m = file.runs.find((r) => r.crc32 === modelCrc(bytes) && r.bytes === bytes.length);
  const t = m?.targets[target];
  return m && t ? { meta: file.meta, model: m, target: t } : null;
}

/** Predicted compute cycles of a schedule: the simulated cycles without flash stalls (QEMU has none). */
export const predictedCompute = (r: SimResult, s: Schedule) => r.cycles_per_sample[s] - r.cycle_breakdown[s].flash_stall;
