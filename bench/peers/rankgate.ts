// rankgate's schedules as contenders: one Engine, the run options per schedule.
import { Engine, type RunOptions } from "../../runtime/src/runtime.ts";
import type { Contender } from "../harness.ts";

export interface Schedule {
  id: string;
  label: string;
  /** null: the engine has no kernel for it yet (the row shows `pending`). */
  options: RunOptions | null;
  pending?: string;
}

/** Adding a schedule is one line here. */
export const SCHEDULES: Schedule[] = [
  { id: "rankgate_gated", label: "rankgate gated (int8 SIMD)", options: { gating: true, simd: true, zeroSkip: false } },
  { id: "rankgate_gated_zero_skip", label: "rankgate gated + zero-input skipping (SIMD)", options: { gating: true, simd: true, zeroSkip: true } },
  { id: "rankgate_gated_scalar", label: "rankgate gated (int8 scalar)", options: { gating: true, simd: false, zeroSkip: false } },
  { id: "rankgate_dense_simd", label: "rankgate dense int8 SIMD", options: { gating: false, simd: true, zeroSkip: false } },
  { id: "rankgate_dense_zero_skip", label: "rankgate dense + zero-input skipping (SIMD)", options: { gating: false, simd: true, zeroSkip: true } },
  { id: "rankgate_dense_scalar", label: "rankgate dense int8 scalar", options: { gating: false, simd: false, zeroSkip: false } },
];

/** The gated schedules the speed goals take the best of ("gated, best schedule"). */
export const GATED_SCHEDULES = ["rankgate_gated", "rankgate_gated_zero_skip"];

/** Float32 inputs, as the peers get them: the engine quantizes each sample in Wasm (part of the timed work). */
export function rankgateContenders(engine: Engine, schedules = SCHEDULES): Contender[] {
  const n = engine.inputSize;
  return schedules.map((s): Contender => {
    const opt = s.options;
    const c: Contender = {
      id: s.id,
      label: s.label,
      ...(opt ? {} : { skip: s.pending ?? "n/a" }),
      async run(x, count, batch, labels) {
        if (!opt) return;
        let macs = 0;
        if (batch === 1) {
          for (let i = 0; i < count; i++) {
            const r = engine.infer(x.subarray(i * n, (i + 1) * n), opt);
            labels[i] = r.label;
            macs += r.stats.totalMacs;
          }
        } else {
          for (let i = 0; i < count; i += batch) {
            const b = Math.min(batch, count - i);
            const r = engine.inferBatch(x.subarray(i * n, (i + b) * n), opt);
            labels.set(r.labels, i);
            macs += r.stats.totalMacs;
          }
        }
        c.macsPerSample = macs / count;
      },
    };
    return c;
  });
}
