// firmware-sim against the C runtime's measured instruction counts (firmware-sim/measured.json, from
// `npm run bench:mcu -- --write`): on every measured model and target, the fitted profiles predict compute
// within ±15 % of the measured counts × the cores' published timings (firmware-sim/timings.ts) for dense,
// gated and gated + zero skip; rankgate sim prints the measurement beside the prediction.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { predictions } from "../firmware-sim/fit.ts";
import { FIT_TOLERANCE, loadMeasured, measuredFor, MEASURED_SCHEDULES } from "../firmware-sim/measured.ts";
import { findTarget } from "../firmware-sim/profile.ts";
import { instructionCycles, mixCycles } from "../firmware-sim/timings.ts";
import { measuredComparison, formatMeasured } from "../tools/commands/sim.ts";
import { simulate } from "../firmware-sim/simulate.ts";
import { measuredTrace } from "../firmware-sim/fit.ts";

const ROOT = join(import.meta.dirname, "..");
const file = loadMeasured()!;
const TARGETS = ["cortex-m0plus", "cortex-m4f", "cortex-m7"];

describe("firmware-sim fitted to measured MCU counts", () => {
  it("measured.json holds paper.rgm and mcu.rgm on every fitted target, matching the committed model files", () => {
    expect(file.runs.map((r) => r.model).sort()).toEqual(["models/mcu.rgm", "models/paper.rgm"]);
    for (const r of file.runs) {
      const bytes = new Uint8Array(readFileSync(join(ROOT, r.model)));
      for (const t of TARGETS) expect(measuredFor(bytes, t)?.model.model).toBe(r.model);
      expect(Object.keys(r.targets).sort()).toEqual(TARGETS);
    }
  });

  for (const name of TARGETS) {
    it(`${name}: predicted compute within tolerance of measured × timings on both models`, async () => {
      const points = await predictions(ROOT, findTarget(name), file);
      expect(points).toHaveLength(6);
      for (const p of points) {
        const error = p.predicted / p.derived - 1;
        expect({ model: p.model, schedule: p.schedule, ok: Math.abs(error) <= FIT_TOLERANCE }).toEqual({ model: p.model, schedule: p.schedule, ok: true });
      }
    });
  }

  it("derived cycles follow the cited timings", () => {
    expect(instructionCycles("cortex-m4f", "smlad")).toBe(1);
    expect(instructionCycles("cortex-m4f", "ldr")).toBe(2);
    expect(instructionCycles("cortex-m4f", "ldr+")).toBe(1);
    expect(instructionCycles("cortex-m4f", "bne")).toBe(3);
    expect(instructionCycles("cortex-m4f", "push.w/9")).toBe(10);
    expect(instructionCycles("cortex-m0plus", "ldrb")).toBe(2);
    expect(instructionCycles("cortex-m0plus", "bl")).toBe(3);
    expect(instructionCycles("cortex-m0plus", "pop/3/pc")).toBe(6);
    expect(instructionCycles("cortex-m0plus", "muls")).toBe(1);
    expect(mixCycles("cortex-m0plus", { ldr: 10, adds: 5 })).toBe(25);
    // cycles per instruction of every stored run stay within the cores' possible range
    for (const r of file.runs) for (const [t, x] of Object.entries(r.targets)) for (const run of Object.values(x.runs)) {
      const cpi = run.cycles / run.instructions;
      expect(cpi, t).toBeGreaterThanOrEqual(1);
      expect(cpi).toBeLessThan(2.5);
    }
  });

  it("rankgate sim shows the measured count beside the prediction for a measured model, and nothing for another", async () => {
    const m = file.runs.find((r) => r.model === "models/mcu.rgm")!;
    const { bytes, trace } = await measuredTrace(ROOT, m.model, m.digits);
    const r = simulate(bytes, trace, findTarget("cortex-m4f"));
    const c = measuredComparison(bytes, r)!;
    expect(c.schedules.map((s) => s.schedule)).toEqual(Object.values(MEASURED_SCHEDULES));
    expect(c.schedules[1].instructions).toBe(m.targets["cortex-m4f"].runs.gated.instructions);
    expect(formatMeasured(c)).toMatch(/measured instructions/);
    const other = bytes.slice();
    other[12] ^= 1;
    expect(measuredComparison(other, r)).toBeNull();
  });
});
