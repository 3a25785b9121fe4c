// firmware-sim: MAC figures equal toolchain/evaluate/evaluate.ts exactly, the cost model's pieces against brute
// force and hand counts, profile validation, and the `rankgate sim` CLI.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { costParams, countCycles, emptyCounts, gatherLines, inputPlan, layerCost, layerCounts, recordLines, SCHEDULES } from "../sim/cost.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { indices } from "../sim/trace.ts";
import { BUILTIN_TARGETS_DIR, findTarget, loadTargets, ProfileError, readProfile, validateProfile, type TargetProfile } from "../sim/profile.ts";
import { targetTables } from "../scripts/render/simulator.ts";
import { geometry, simulate } from "../sim/simulate.ts";
import { collectTrace } from "../sim/trace.ts";
import { planArena } from "../runtime/src/arena.ts";
import { UserError } from "../runtime/src/errors.ts";
import { evaluateModel } from "../toolchain/evaluate/evaluate.ts";
import { writeModel } from "../runtime/src/format.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { Quantizer } from "../toolchain/quantize/quantize.ts";
import { Rng } from "../toolchain/model/random.ts";
import { syntheticFloat } from "../toolchain/model/synthetic.ts";
import { thrown } from "./helpers/errors.ts";

const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const float = syntheticFloat(new Rng(4), [784, 48, 24, 10]);
const test = loadMnist("test", { limit: 200 });
const images = toFloatInputs(test.images, test.count);
const calib = toFloatInputs(loadMnist("val", { limit: 200 }).images, 200);
const quantizer = new Quantizer(float, calib, 200, { min: 0, max: 1 });
const bytes = writeModel(quantizer.model({ ranks: [6, 3] }));
let dir = "";

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, errLines: r.stderr.split("\n").filter((l) => l.trim()) };
}

/** A user error: exit 1, one line naming the problem, no stack, nothing on stdout. */
function expectUserError(r: ReturnType<typeof cli>, ...parts: string[]) {
  expect(r.code, r.stderr).toBe(1);
  expect(r.errLines.length, r.stderr).toBe(1);
  expect(r.errLines[0]).toMatch(/^rankgate: /);
  for (const p of parts) expect(r.errLines[0]).toContain(p);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stdout).toBe("");
}

const clone = (t: TargetProfile): TargetProfile => JSON.parse(JSON.stringify(t));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rankgate-sim-"));
  writeFileSync(join(dir, "m.rgm"), bytes);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("simulated MACs", () => {
  it("equal rankgate eval's five schedules exactly on the same 200 samples, on every target", async () => {
    const report = await evaluateModel(bytes, images, test.labels, test.count, { reference: false });
    const trace = await collectTrace(bytes, images, test.labels, test.count);
    for (const target of loadTargets()) {
      const r = simulate(bytes, trace, target);
      expect([target.name, r.macs_per_sample]).toEqual([target.name, report.macs_per_sample]);
      r.layers.forEach((l, i) => {
        expect(l.macs.gated).toBe(report.layers[i].macs_gated);
        expect(l.computed).toBe(report.layers[i].computed);
        expect(l.density).toBe(report.layers[i].density);
      });
      expect(r.error).toEqual({ int8_dense: report.error.int8_dense, int8_gated: report.error.int8_gated });
    }
    // The engine's own counters, summed
    expect(trace.engine.gated.totalMacs / test.count).toBeCloseTo(report.macs_per_sample.gated, 9);
  });

  it("count from the trace's row and input sets, which match the engine counters sample by sample", async () => {
    const trace = await collectTrace(bytes, images, test.labels, 20);
    const layers = quantizer.model({ ranks: [6, 3] }).layers;
    let gated = 0;
    for (const s of trace.samples) {
      s.layers.forEach((t, l) => {
        const k = layers[l].estimator?.rank ?? 0;
        gated += k * (layers[l].nIn + layers[l].nOut) + t.rowCount * layers[l].nIn;
      });
    }
    expect(gated).toBe(trace.engine.gated.totalMacs);
  });
});

describe("cost model", () => {
  const m4 = findTarget("cortex-m4f");

  it("line counts equal a brute-force count of distinct flash lines", () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 70 }), fc.constantFrom(1, 8, 16, 32, 64),
      fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 12 }), fc.uniqueArray(fc.integer({ min: 0, max: 69 }), { maxLength: 20 }),
      (base, stride, line, rowList, nzList) => {
        const rows = Int32Array.from(rowList.sort((a, b) => a - b));
        const nz = Int32Array.from(nzList.filter((i) => i < stride).sort((a, b) => a - b));
        const contiguous = new Set<number>(), gathered = new Set<number>();
        for (const j of rows) {
          for (let i = 0; i < stride; i++) contiguous.add(Math.floor((base + j * stride + i) / line));
          for (const i of nz) gathered.add(Math.floor((base + j * stride + i) / line));
        }
        expect(recordLines(base, stride, stride, rows, line)).toBe(contiguous.size);
        expect(gatherLines(base, stride, rows, nz, line)).toBe(gathered.size);
      },
    ), { numRuns: 300 });
  });

  it("dense cycles of a layer are the documented sum, by hand", () => {
    const g = geometry(bytes).layers[0];
    const rows = Int32Array.from({ length: g.nOut }, (_, i) => i);
    const q = costParams(m4);
    const noStall = layerCost(m4, g, { estimator: false, gather: false, masked: false, rows, nz: new Int32Array(0) }, false);
    // 784 inputs: all in the SIMD body (49 steps of 16), no tail; one row call per output; one layer
    expect(noStall.cycles).toEqual({ input: 784 * q.input, estimator: 0, rows_mac: 48 * 784 * q.mac_simd! + 48 * 49 * q.step, rows_overhead: 48 * q.row + q.layer, mask: 0, flash_stall: 0 });
    const stalled = layerCost(m4, g, { estimator: false, gather: false, masked: false, rows, nz: new Int32Array(0) }, true);
    // 48 rows of 784 bytes (16-byte aligned) and three 4-byte arrays of 48 units (16-byte aligned)
    expect(stalled.flashLines).toBe((48 * 784) / 16 + 3 * ((48 * 4) / 16));
    expect(stalled.cycles.flash_stall).toBe(stalled.flashLines * m4.flash.miss_cycles);
    // Without SIMD (M0+) every MAC is scalar
    const m0 = findTarget("cortex-m0plus");
    const n0 = layerCounts(m0, g, { estimator: false, gather: false, masked: false, rows, nz: new Int32Array(0) });
    expect(n0.rows_mac).toEqual({ ...emptyCounts(), mac_scalar: 48 * 784 });
    expect(n0.rows_overhead).toEqual({ ...emptyCounts(), row: 48, layer: 1 });
  });

  it("an estimator costs its projection rows, each unit's dot over the rank and a compare, by hand (odd rank: a scalar tail)", () => {
    const g = { ...geometry(bytes).layers[0], rank: 7 };
    const rows = Int32Array.of(0, 1, 2, 3, 40, 41);
    const n = layerCounts(m4, g, { estimator: true, gather: false, masked: true, rows, nz: new Int32Array(0) });
    // Projection: 7 rows of 784 (49 steps each); expansion: 48 units over 7 (a 4-piece and a 3-tail: 2 steps)
    expect(n.estimator).toEqual({ ...emptyCounts(), mac_simd: 7 * 784 + 48 * 4, mac_scalar: 48 * 3, step: 7 * 49 + 48 * 2, rank: 7, unit: 48 });
    expect(n.rows_mac).toEqual({ ...emptyCounts(), mac_simd: 6 * 784, step: 6 * 49 });
    expect(n.mask).toEqual(emptyCounts());
    const cost = layerCost(m4, g, { estimator: true, gather: false, masked: true, rows, nz: new Int32Array(0) }, false);
    expect(cost.cycles.estimator).toBe(countCycles(costParams(m4), n.estimator));
  });

  it("a block gate costs one policy row per block and the mask test per output, by hand", () => {
    const g = { ...geometry(bytes).layers[0], rank: 0, blocks: 3, at: { ...geometry(bytes).layers[0].at, gate_weights: 0, gate_threshold: 4096 } };
    const rows = Int32Array.of(0, 1, 2, 3, 40, 41);
    const q = costParams(m4);
    const cost = layerCost(m4, g, { estimator: true, gather: false, masked: true, rows, nz: new Int32Array(0) }, false);
    expect(cost.cycles.estimator).toBe(3 * 784 * q.mac_simd! + 3 * 49 * q.step + 3 * q.block);
    expect(cost.cycles.mask).toBe(g.nOut * q.mask);
    const none = layerCost(m4, g, { estimator: false, gather: false, masked: true, rows, nz: new Int32Array(0) }, false);
    expect(none.cycles.estimator).toBe(0);
    expect(none.cycles.mask).toBe(g.nOut * q.mask);
    expect(cost.flashBytes - none.flashBytes).toBe(3 * 784 + 4 * 3);
    // Each policy row reads the widened input (int16), then the mask words are written
    expect(cost.sramBytes - none.sramBytes).toBe(3 * 2 * 784 + 4 * Math.ceil(g.nOut / 32));
  });

  it("zero skip keeps 8-input chunks with a non-zero input, by hand: the scan stops at a chunk's first non-zero; 4 chunks in 5 take every input", () => {
    // 30 inputs, chunks 0–7, 8–15, 16–23, 24–29; non-zero 0, 17, 29: 3 of 4 chunks kept (3·5 < 4·4)
    expect(inputPlan(30, Int32Array.of(0, 17, 29), 4)).toEqual({
      all: false, chunks: 3, elems: 22, body: 20, tail: 2, steps: 2, scanned: 1 + 8 + 2 + 6,
      kept: Int32Array.from([...Array(8).keys()].concat([...Array(8).keys()].map((i) => 16 + i), [24, 25, 26, 27, 28, 29])),
    });
    // Every chunk kept: the all path, no per-chunk cost
    expect(inputPlan(30, Int32Array.of(7, 8, 16, 24), 4)).toMatchObject({ all: true, chunks: 0, elems: 30, body: 28, tail: 2, steps: 4, scanned: 8 + 1 + 1 + 1 });
    // Without SIMD all MACs are the tail's
    expect(inputPlan(13, null, 0)).toMatchObject({ all: true, elems: 13, body: 0, tail: 13, steps: 0, scanned: 0 });
    expect(inputPlan(16, Int32Array.of(), 4)).toMatchObject({ all: false, chunks: 0, elems: 0, scanned: 16 });
  });

  it("the chunks zero skip keeps are the engine's: kept inputs × rows equal its zero-skip row MACs on every sample and layer", async () => {
    const trace = await collectTrace(bytes, images, test.labels, 20);
    const engine = await Engine.load(bytes);
    const geo = geometry(bytes).layers;
    let checked = 0;
    trace.samples.forEach((s, i) => {
      const r = engine.infer(images.subarray(i * 784, (i + 1) * 784), { zeroSkip: true });
      s.layers.forEach((t, l) => {
        const plan = inputPlan(geo[l].nIn, indices(t.nz), 4);
        expect({ i, l, macs: plan.elems * t.rowCount }).toEqual({ i, l, macs: r.stats.layers[l].rowMacs });
        checked++;
      });
    });
    expect(checked).toBe(20 * 3);
  });

  it("a huge cache hides flash; latency and energy follow the cycles", async () => {
    const trace = await collectTrace(bytes, images, test.labels, 50);
    const r = simulate(bytes, trace, m4);
    expect(r.flash_stalls).toBe(true);
    const cached = clone(m4);
    cached.flash.cache_bytes = 1 << 30;
    const rc = simulate(bytes, trace, cached);
    expect(rc.flash_stalls).toBe(false);
    for (const s of SCHEDULES) expect(rc.cycle_breakdown[s].flash_stall).toBe(0);
    expect(rc.cycles_per_sample.dense).toBeLessThan(r.cycles_per_sample.dense);
    for (const s of SCHEDULES) expect(r.latency_us[s]).toBeCloseTo((r.cycles_per_sample[s] / m4.clock_hz) * 1e6, 9);
    for (const s of SCHEDULES) expect(r.energy_uj[s]).toBeCloseTo((r.cycles_per_sample[s] / m4.clock_hz) * m4.power.active_mw * 1e3, 9);
    // Per inference: once, in layer 0
    const q = costParams(m4);
    for (const s of SCHEDULES) expect(r.cycles_per_sample[s]).toBeCloseTo(r.layers.reduce((t, l) => t + l.cycles[s], 0), 6);
    expect(q.inference).toBeGreaterThanOrEqual(0);
  });

  it("break-even density: gating at that density costs what dense costs", async () => {
    const trace = await collectTrace(bytes, images, test.labels, 20);
    const r = simulate(bytes, trace, m4);
    const l0 = r.layers[0];
    expect(l0.break_even_density).not.toBeNull();
    expect(l0.break_even_density!).toBeGreaterThan(0);
    expect(l0.break_even_density!).toBeLessThanOrEqual(1);
    expect(l0.gating_pays).toBe(l0.computed < l0.break_even_density!);
    expect(r.layers[2].break_even_density).toBeNull();
  });
});

describe("target profiles", () => {
  it("every built-in profile validates and cites a source for every number", () => {
    const targets = loadTargets();
    expect(targets.map((t) => t.name)).toEqual(expect.arrayContaining(["cortex-m0plus", "cortex-m4f", "cortex-m7", "cortex-m55", "esp32-s3", "rv32imc"]));
    for (const t of targets) {
      const numbers = [["clock_hz", t.clock_hz], ...Object.entries(t.memory).map(([k, v]) => [`memory.${k}`, v]), ...Object.entries(t.cycles).map(([k, v]) => [`cycles.${k}`, v]),
        ...Object.entries(t.flash).map(([k, v]) => [`flash.${k}`, v]), ["power.active_mw", t.power.active_mw]];
      // checked here, not only by the schema: a cite of at least 8 characters, not blank at either end
      for (const [field] of numbers) expect(t.sources[field as string]?.cite, `${t.name}: sources["${field}"].cite`).toMatch(/^\S.{6,}\S$/s);
      expect(Object.keys(t.sources).sort()).toEqual(numbers.map(([f]) => f).sort());
    }
  });

  const good = readProfile(join(BUILTIN_TARGETS_DIR, "cortex-m4f.json"));
  const bad = (mutate: (t: Record<string, any>) => void) => {
    const t = clone(good) as unknown as Record<string, any>;
    mutate(t);
    return thrown(() => validateProfile(t, "dir/cortex-m4f.json")) as ProfileError;
  };
  it.each([
    ["missing field", (t: Record<string, any>) => delete t.cycles.mac_scalar, "cycles.mac_scalar", "missing|nothing"],
    ["wrong type", (t: Record<string, any>) => (t.clock_hz = "fast"), "clock_hz", "type number"],
    ["negative clock", (t: Record<string, any>) => (t.clock_hz = -168e6), "clock_hz", "> 0"],
    ["zero line size", (t: Record<string, any>) => (t.flash.line_bytes = 0), "flash.line_bytes", "≥ 1"],
    ["unknown field", (t: Record<string, any>) => (t.cycles.turbo = 1), "cycles.turbo", "no such field"],
    ["missing source", (t: Record<string, any>) => delete t.sources["power.active_mw"], "sources.power.active_mw", "source entry"],
    ["bad source kind", (t: Record<string, any>) => (t.sources.clock_hz.kind = "rumour"), "sources.clock_hz.kind", "one of"],
    ["name is not the file's", (t: Record<string, any>) => (t.name = "other"), "name", "cortex-m4f"],
    ["SIMD width without SIMD", (t: Record<string, any>) => (t.cycles.mac_simd = null), "cycles.simd_width", "0"],
  ])("%s is a ProfileError naming file and field", (_, mutate, field, expected) => {
    const err = bad(mutate);
    expect(err).toBeInstanceOf(ProfileError);
    expect(err).toBeInstanceOf(UserError);
    expect(err.file).toBe("dir/cortex-m4f.json");
    expect(err.field).toBe(field);
    expect(err.message).toMatch(new RegExp(`^dir/cortex-m4f\\.json: ${field.replace(/\./g, "\\.")}: expected `));
    expect(err.message).toMatch(new RegExp(expected));
    expect(err.message.split("\n")).toHaveLength(1);
  });

  it("a file that is not JSON names the file", () => {
    const d = mkdtempSync(join(tmpdir(), "rankgate-targets-"));
    writeFileSync(join(d, "x.json"), "{ nope");
    const err = thrown(() => loadTargets(d)) as ProfileError;
    expect(err).toBeInstanceOf(ProfileError);
    expect(err.message).toContain(join(d, "x.json"));
    expect(err.message).toContain("valid JSON");
    rmSync(d, { recursive: true, force: true });
  });
});

describe("rankgate sim", () => {
  it("--json prints one object whose MACs equal rankgate eval's on the same samples", () => {
    const s = cli("sim", "--model", "m.rgm", "--target", "cortex-m4f", "--data", "mnist:test", "--samples", "200", "--json", "-q");
    expect(s.code, s.stderr).toBe(0);
    const lines = s.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]);
    const keys = ["dense", "gated", "gated_zero_skip", "oracle"];
    expect(out.target).toBe("cortex-m4f");
    for (const k of ["macs_per_sample", "cycles_per_sample", "latency_us", "energy_uj"]) expect(Object.keys(out[k])).toEqual(expect.arrayContaining(keys));
    expect(out.memory).toMatchObject({ flash_bytes: bytes.length + findTarget("cortex-m4f").memory.code_bytes, fits: true });
    expect(typeof out.memory.sram_bytes).toBe("number");
    const e = cli("eval", "--model", "m.rgm", "--data", "mnist:test", "--samples", "200", "--json", "-q", "--no-reference");
    expect(e.code, e.stderr).toBe(0);
    expect(out.macs_per_sample).toEqual(JSON.parse(e.stdout).macs_per_sample);
    expect(out.cycles_per_sample.gated).toBeLessThan(out.cycles_per_sample.dense);
  });

  it("prints the tables on a terminal run", () => {
    const s = cli("sim", "--model", "m.rgm", "--target", "rv32imc", "--samples", "30", "-q");
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/gated_zero_skip/);
    expect(s.stdout).toMatch(/memory: fits/);
    expect(s.stdout).toMatch(/break-even/);
  });

  it("--list-targets lists every profile, as a table or JSON", () => {
    const t = cli("sim", "--list-targets");
    expect(t.code, t.stderr).toBe(0);
    for (const name of ["cortex-m0plus", "cortex-m4f", "cortex-m7", "cortex-m55", "esp32-s3", "rv32imc"]) expect(t.stdout).toContain(name);
    const j = cli("sim", "--list-targets", "--json");
    expect(JSON.parse(j.stdout).map((x: { name: string }) => x.name)).toEqual(loadTargets().map((x) => x.name));
  });

  it("an unknown target is one line listing the known ones, exit 1", () => {
    const r = cli("sim", "--model", "m.rgm", "--target", "cortex-m99", "--samples", "5");
    expectUserError(r, 'unknown target "cortex-m99"', "known targets: cortex-m0plus, cortex-m4f");
  });

  it("a tiny target: the memory verdict says what is needed and what there is", () => {
    const d = join(dir, "tiny");
    mkdirSync(d);
    const tiny = clone(findTarget("cortex-m0plus"));
    tiny.name = "tiny";
    tiny.memory.flash_bytes = 32 * 1024;
    tiny.memory.sram_bytes = 2048;
    writeFileSync(join(d, "tiny.json"), JSON.stringify(tiny));
    const r = cli("sim", "--model", "m.rgm", "--target", "tiny", "--targets-dir", d, "--samples", "10", "--json", "-q");
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout).memory;
    const { model } = geometry(bytes);
    const arena = planArena(model, 0, 0);
    expect(m.flash_bytes).toBe(bytes.length + tiny.memory.code_bytes);
    expect(m.sram_bytes).toBe(arena.totalBytes - arena.base + Math.ceil((2 * 784) / 16) * 16 + tiny.memory.stack_bytes);
    expect(m.fits).toBe(false);
    const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
    expect(m.verdict).toBe(`does not fit: needs ${kib(m.flash_bytes)} flash, has 32.0 KiB; needs ${kib(m.sram_bytes)} SRAM, has 2.0 KiB`);
    const t = cli("sim", "--model", "m.rgm", "--target", "tiny", "--targets-dir", d, "--samples", "10", "-q");
    expect(t.stdout).toContain("does not fit: needs");
  });

  it("a bad profile in --targets-dir is one line naming file and field", () => {
    const d = join(dir, "bad");
    mkdirSync(d);
    copyFileSync(join(BUILTIN_TARGETS_DIR, "cortex-m4f.json"), join(d, "cortex-m4f.json"));
    const t = JSON.parse(readFileSync(join(d, "cortex-m4f.json"), "utf8"));
    t.clock_hz = -1;
    writeFileSync(join(d, "cortex-m4f.json"), JSON.stringify(t));
    expectUserError(cli("sim", "--model", "m.rgm", "--target", "cortex-m4f", "--targets-dir", d), `${join(d, "cortex-m4f.json")}: clock_hz: expected a number > 0, got -1`);
    expectUserError(cli("sim", "--target", "cortex-m4f"), "--model and --target are required");
  });
});

describe("docs/SIMULATOR.md", () => {
  it("holds every profile's values and sources as generated by scripts/sim-docs.ts", () => {
    const doc = readFileSync(fileURLToPath(new URL("../docs/SIMULATOR.md", import.meta.url)), "utf8");
    expect(doc).toContain(targetTables());
  });
});
