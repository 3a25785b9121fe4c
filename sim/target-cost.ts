// Cost on the user's target: firmware-sim's predicted cycles per inference of the schedule the deployed
// runtime runs, for a candidate model and for the dense model (no estimators, no gates) on the same
// samples. quantize --budget, optimize and eval call it with --target (docs/SIMULATOR.md, "Cost on the target").
import { readModel, writeModel, type QuantModel } from "../runtime/src/index.ts";
import type { TargetProfile } from "./profile.ts";
import { simulate, type SimResult } from "./simulate.ts";
import { collectTrace } from "./trace.ts";

/**
 * The schedule priced: what `rg_model_init` (C) and `Engine.load` run by default, gated rows without
 * zero-input skipping. For the dense model it is the dense rows.
 */
export const DEPLOYED_SCHEDULE = "gated" as const;

/** Validation samples whose traces price a candidate (the first of the search's data). */
export const DEFAULT_CYCLE_SAMPLES = 300;

/** The target whose verdict `eval` prints beside `gating_pays` when no --target is given. */
export const DEFAULT_VERDICT_TARGET = "cortex-m4f";

/** The same layers without estimators and block gates: what the runtime runs when nothing is gated. */
export function denseModelOf(model: QuantModel): QuantModel {
  return { layers: model.layers.map((l) => ({ ...l, estimator: null, gate: null })) };
}

/** Predicted cycles per inference on `target` of the .rgm `bytes` over the first `count` samples, and the whole simulation. */
export async function deployedCycles(bytes: Uint8Array, target: TargetProfile, images: Float32Array, labels: ArrayLike<number>, count: number): Promise<{ cycles: number; sim: SimResult }> {
  const sim = simulate(bytes, await collectTrace(bytes, images, labels, count), target);
  return { cycles: sim.cycles_per_sample[DEPLOYED_SCHEDULE], sim };
}

/** Prices candidates against the dense model on one target and one fixed set of samples. */
export class CycleMeter {
  private constructor(
    readonly target: TargetProfile,
    private readonly images: Float32Array,
    private readonly labels: ArrayLike<number>,
    readonly samples: number,
    /** Cycles per inference of the dense model. */
    readonly denseCycles: number,
  ) {}

  /**
   * `model`: any model of the architecture (its estimators and gates are dropped for the dense reference);
   * the first min(`samples`, `count`) of (images, labels) price every candidate.
   */
  static async create(target: TargetProfile, model: QuantModel, images: Float32Array, labels: ArrayLike<number>, count: number, samples = DEFAULT_CYCLE_SAMPLES): Promise<CycleMeter> {
    if (!(Number.isInteger(samples) && samples >= 1)) throw new RangeError(`cycle samples must be an integer ≥ 1, got ${samples}`);
    const n = Math.min(samples, count);
    const dense = await deployedCycles(writeModel(denseModelOf(model)), target, images, labels, n);
    return new CycleMeter(target, images, labels, n, dense.cycles);
  }

  /** Cycles per inference of `bytes` and their ratio to the dense model's. */
  async price(bytes: Uint8Array): Promise<{ cycles: number; ratio: number }> {
    const { cycles } = await deployedCycles(bytes, this.target, this.images, this.labels, this.samples);
    return { cycles, ratio: cycles / this.denseCycles };
  }
}

/** eval's cycle verdict: the deployed schedule's cycles against the dense model's, on one target. */
export interface CycleVerdict {
  target: string;
  /** The schedule priced (DEPLOYED_SCHEDULE). */
  schedule: typeof DEPLOYED_SCHEDULE;
  samples: number;
  /** Cycles per inference of the model as given. */
  gated: number;
  /** Cycles per inference of the same layers without estimators and gates. */
  dense: number;
  /** gated < dense; null when the model has no estimator or gate (as gating_pays). */
  pays: boolean | null;
}

/** The verdict of `bytes` on `target` over the first `count` samples, with the model's simulation. */
export async function cycleVerdict(bytes: Uint8Array, target: TargetProfile, images: Float32Array, labels: ArrayLike<number> | null, count: number): Promise<{ verdict: CycleVerdict; sim: SimResult }> {
  // Labels only name the simulation's error figures, which the verdict does not use
  const y = labels ?? new Uint8Array(count);
  const model = readModel(bytes).model;
  const gatedModel = model.layers.some((l) => l.estimator || l.gate);
  const { cycles, sim } = await deployedCycles(bytes, target, images, y, count);
  const dense = gatedModel ? (await deployedCycles(writeModel(denseModelOf(model)), target, images, y, count)).cycles : cycles;
  return { verdict: { target: target.name, schedule: DEPLOYED_SCHEDULE, samples: count, gated: cycles, dense, pays: gatedModel ? cycles < dense : null }, sim };
}
