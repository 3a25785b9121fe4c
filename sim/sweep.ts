// Rank sweep: quantize one float checkpoint at several uniform estimator ranks (calibrated as
// `rankgate quantize` does) and simulate each variant on the same samples and target.
import { writeModel, type FloatModel } from "../runtime/src/index.ts";
import { Quantizer, svdFactors } from "../toolchain/quantize/quantize.ts";
import type { PerSchedule } from "./cost.ts";
import type { TargetProfile } from "./profile.ts";
import { simulate } from "./simulate.ts";
import { collectTrace } from "./trace.ts";

export const DEFAULT_SWEEP_RANKS = [5, 10, 25, 50, 100];

export interface SweepPoint {
  /** The uniform rank asked for (0: no estimator, the dense model). */
  rank: number;
  /** The rank of each hidden layer (capped at min(n_in, n_out)). */
  ranks: number[];
  error_gated: number;
  error_dense: number;
  macs_per_sample: PerSchedule;
  cycles_per_sample: PerSchedule;
}

export interface SweepOptions {
  ranks?: number[];
  /** Calibration inputs (their min/max set the input range). */
  calibration: Float32Array;
  calibrationCount: number;
  onPoint?: (p: SweepPoint) => void;
  /** Called before each step that precedes the first point (calibration, one SVD per layer). */
  onStage?: (stage: string) => void;
}

export async function sweepRanks(float: FloatModel, images: Float32Array, labels: ArrayLike<number>, count: number, target: TargetProfile, options: SweepOptions): Promise<SweepPoint[]> {
  options.onStage?.(`calibrating on ${options.calibrationCount} samples`);
  const q = new Quantizer(float, options.calibration.subarray(0, options.calibrationCount * float.layers[0].nIn), options.calibrationCount);
  const asked = [0, ...(options.ranks ?? DEFAULT_SWEEP_RANKS)];
  // One SVD per layer at the largest rank asked; smaller ranks truncate it
  const top = Math.max(...asked);
  q.maxRanks.forEach((max, l) => {
    const fl = float.layers[l];
    if (top > 0) options.onStage?.(`SVD of layer ${l} (${fl.nIn}×${fl.nOut}) at rank ${Math.min(top, max)}`);
    if (top > 0) q.setFactors(l, svdFactors(fl.weight, fl.nIn, fl.nOut, Math.min(top, max)));
  });
  options.onStage?.(`tracing ${count} samples per rank`);
  const points: SweepPoint[] = [];
  const seen = new Set<string>();
  for (const rank of asked) {
    const ranks = q.maxRanks.map((max) => Math.min(rank, max));
    const key = ranks.join(",");
    if (seen.has(key)) continue;
    seen.add(key);
    const bytes = writeModel(q.model({ ranks }));
    const trace = await collectTrace(bytes, images, labels, count);
    const r = simulate(bytes, trace, target);
    const point = {
      rank, ranks, error_gated: r.error.int8_gated, error_dense: r.error.int8_dense,
      macs_per_sample: r.macs_per_sample, cycles_per_sample: r.cycles_per_sample,
    };
    points.push(point);
    options.onPoint?.(point);
  }
  return points;
}
