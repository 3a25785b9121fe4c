// firmware-sim: trace-driven MACs, cycles, memory and energy of an .rgm on microcontroller targets.
export { BUILTIN_TARGETS_DIR, findTarget, loadTargets, ProfileError, readProfile, validateProfile, type TargetProfile } from "./profile.ts";
export { collectTrace, type ModelTrace } from "./trace.ts";
export { SCHEDULES, type Schedule } from "./cost.ts";
export { memoryFit, simulate, type SimResult } from "./simulate.ts";
export { DEFAULT_SWEEP_RANKS, sweepRanks, type SweepPoint } from "./sweep.ts";
export { renderReport } from "./report.ts";
