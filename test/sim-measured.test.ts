// firmware-sim against the C runtime's measured instruction counts (sim/measured.json, from
// `npm run bench:mcu -- --write`): the stored counts are of the current C sources; the fitted profiles are the fit
// of the stored counts (on the fit models only); on HELD-OUT models, which never enter the fit, the current cost
// model predicts compute within ±10 % of measured × the cores' published timings for dense, gated and gated + zero
// skip on every fitted target (predictions recomputed here, so a worse cost model fails).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { errorTable, FIT_SECTION, FIT_TARGETS, fitTarget, HELD_OUT_TOLERANCE, measuredTrace, predictions } from "../sim/fit.ts";
import { loadMeasured, measuredFor, MEASURED_SCHEDULES, type MeasuredFile } from "../sim/measured.ts";
import { findTarget } from "../sim/profile.ts";
import { simulate } from "../sim/simulate.ts";
import { instructionCycles, mixCycles } from "../sim/timings.ts";
import { getSection } from "../toolchain/report/doc-sections.ts";
import { C_SOURCE_DIRS, cSourcesHash } from "../bench/qemu.ts";
import { measuredComparison, formatMeasured } from "../cli/src/commands/sim.ts";

const ROOT = join(import.meta.dirname, "..");
const file = loadMeasured()!;
const REMEASURE = "npm run bench:mcu -- --write";

describe("firmware-sim fitted to measured MCU counts", () => {
  it("measured.json is of the current C sources (kernels/c/src, kernels/c/include)", () => {
    const now = cSourcesHash();
    if (file.meta.c_sources_sha256 !== now) {
      expect.fail(`the C runtime's sources changed since sim/measured.json was measured (stored ${file.meta.c_sources_sha256}, now ${now}): re-measure with \`${REMEASURE}\` (about ${Math.ceil((file.meta.seconds ?? 600) / 60)} minutes)`);
    }
    for (const t of FIT_TARGETS) expect(findTarget(t).fitted?.fit.c_sources_sha256, `${t}: fitted on other counts; ${REMEASURE}`).toBe(now);
  });

  it("the C sources' hash changes with any byte of kernels/c/src or kernels/c/include, and with a file added", () => {
    const dir = mkdtempSync(join(tmpdir(), "rankgate-csrc-"));
    try {
      for (const d of C_SOURCE_DIRS) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
      const base = cSourcesHash(dir);
      expect(base).toBe(cSourcesHash());
      const f = join(dir, "kernels", "c", "src", "rg_dot.c");
      const text = readFileSync(f);
      text[text.length - 2] ^= 1;
      writeFileSync(f, text);
      expect(cSourcesHash(dir)).not.toBe(base);
      text[text.length - 2] ^= 1;
      writeFileSync(f, text);
      expect(cSourcesHash(dir)).toBe(base);
      writeFileSync(join(dir, "kernels", "c", "include", "extra.h"), "");
      expect(cSourcesHash(dir)).not.toBe(base);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("holds ≥ 8 zoo models plus paper.rgm and mcu.rgm on every fitted target, fit and held-out, matching the committed files", () => {
    const models = file.runs.map((r) => r.model);
    expect(models.filter((m) => m.startsWith("bench/zoo/")).length).toBeGreaterThanOrEqual(8);
    expect(models).toEqual(expect.arrayContaining(["models/paper.rgm", "models/mcu.rgm", "bench/zoo/bc-30-64-32-2.rgm", "bench/zoo/digits-64-128-64-10.rgm"]));
    const held = file.runs.filter((r) => r.role === "held-out").map((r) => r.model);
    expect(held).toEqual(expect.arrayContaining(["bench/zoo/bc-30-64-32-2.rgm", "bench/zoo/digits-64-128-64-10.rgm", "models/mcu.rgm"]));
    expect(held.length).toBeGreaterThanOrEqual(5);
    expect(file.runs.filter((r) => r.role === "fit").length).toBeGreaterThanOrEqual(5);
    for (const r of file.runs) {
      const bytes = new Uint8Array(readFileSync(join(ROOT, r.model)));
      for (const t of FIT_TARGETS) expect(measuredFor(bytes, t)?.model.model).toBe(r.model);
      expect(Object.keys(r.targets).sort()).toEqual([...FIT_TARGETS]);
    }
  });

  for (const name of FIT_TARGETS) {
    it(`${name}: held-out models within ±${HELD_OUT_TOLERANCE[name] * 100} % for every schedule, with the current cost model and profile`, async () => {
      const points = await predictions(ROOT, findTarget(name), file);
      const held = points.filter((p) => p.role === "held-out");
      expect(held.length).toBe(file.runs.filter((r) => r.role === "held-out").length * 3);
      for (const p of held) {
        expect({ model: p.model, schedule: p.schedule, error: Math.round(p.error * 1000) / 10, ok: Math.abs(p.error) <= HELD_OUT_TOLERANCE[name] })
          .toEqual({ model: p.model, schedule: p.schedule, error: Math.round(p.error * 1000) / 10, ok: true });
      }
    });
  }

  it("the profiles hold the fit of the stored counts (rerunning the fit changes nothing), and held-out counts never move it", async () => {
    const m4 = findTarget("cortex-m4f");
    for (const name of FIT_TARGETS) {
      const p = findTarget(name);
      expect(await fitTarget(ROOT, p, file)).toEqual(p.fitted!.cycles);
      expect(p.fitted!.fit.fit_models).toEqual(file.runs.filter((r) => r.role === "fit").map((r) => r.model));
      expect(p.fitted!.fit.fit_models.some((m) => p.fitted!.fit.held_out_models.includes(m))).toBe(false);
    }
    // Double every held-out measurement: the fit is the same
    const doubled: MeasuredFile = JSON.parse(JSON.stringify(file));
    for (const r of doubled.runs.filter((x) => x.role === "held-out")) {
      for (const t of Object.values(r.targets)) for (const run of Object.values(t.runs)) { run.cycles *= 2; run.layers = run.layers.map((v) => v * 2); run.instructions *= 2; }
    }
    expect(await fitTarget(ROOT, m4, doubled)).toEqual(m4.fitted!.cycles);
    // … while doubling a fit model's moves it
    const moved: MeasuredFile = JSON.parse(JSON.stringify(file));
    const fit0 = moved.runs.find((x) => x.role === "fit")!;
    for (const run of Object.values(fit0.targets["cortex-m4f"].runs)) { run.cycles *= 2; run.layers = run.layers.map((v) => v * 2); run.instructions *= 2; }
    expect(await fitTarget(ROOT, m4, moved)).not.toEqual(m4.fitted!.cycles);
  });

  it("the cited cycles stay cited: no source of a fitted target says fitted or measurement for a cycles field", () => {
    for (const name of FIT_TARGETS) {
      const p = findTarget(name);
      for (const [field, s] of Object.entries(p.sources)) {
        if (field.startsWith("cycles.")) expect([name, field, s.kind, /fitted/.test(s.cite)]).toEqual([name, field, expect.not.stringMatching(/^measurement$/), false]);
      }
      expect(p.fitted!.fit.kind).toBe("fitted");
    }
  });

  it("docs/SIMULATOR.md's error table is the one the stored counts and profiles give", async () => {
    const fits = await Promise.all(FIT_TARGETS.map(async (t) => ({ target: t, profile: findTarget(t), fitted: findTarget(t), points: await predictions(ROOT, findTarget(t), file) })));
    const doc = readFileSync(join(ROOT, "docs", "SIMULATOR.md"), "utf8");
    expect(getSection(doc, FIT_SECTION)).toContain(errorTable(fits, file));
  });

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
    // Cortex-M55: Helium/FP 2 (dual-beat), in QEMU's names too (ldc, cdp …), scalar 1, LE/DLS (.byte) 1
    expect(mixCycles("cortex-m55", { "vmladava.s16": 1, ldc: 1, cdp: 1, "ldr.w": 1, ".byte": 1 })).toBe(8);
    // cycles per instruction of every stored run stay within the cores' possible range
    for (const r of file.runs) for (const [t, x] of Object.entries(r.targets)) for (const run of Object.values(x.runs)) {
      const cpi = run.cycles / run.instructions;
      expect(cpi, t).toBeGreaterThanOrEqual(1);
      expect(cpi).toBeLessThan(2.5);
    }
  });

  it("rankgate sim shows the measured count beside the prediction for a measured model, and nothing for another", async () => {
    const m = file.runs.find((r) => r.model === "models/mcu.rgm")!;
    const { bytes, trace } = await measuredTrace(ROOT, m);
    const r = simulate(bytes, trace, findTarget("cortex-m4f"));
    const c = measuredComparison(bytes, r)!;
    expect(c.schedules.map((s) => s.schedule)).toEqual(Object.values(MEASURED_SCHEDULES));
    expect(c.schedules[1].instructions).toBe(m.targets["cortex-m4f"].runs.gated.instructions);
    expect(formatMeasured(c)).toMatch(/measured instructions/);
    expect(formatMeasured(c)).toContain(`first ${m.samples} samples of ${m.data}`);
    const other = bytes.slice();
    other[12] ^= 1;
    expect(measuredComparison(other, r)).toBeNull();
  });
});
