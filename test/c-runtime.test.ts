// The C99 runtime (kernels/c/) on the host: built by gcc with warnings as errors, once plain, once with the Arm
// DSP path emulated (RG_EMULATE_DSP: both kernel paths in one binary) and once with ASan + UBSan;
// bit-exact with runtime/src/reference.ts and Engine (logits and every counter), and its reader gives
// runtime/src/format.ts's verdict (same field, same offset) on the fuzz corpus of fuzz/core.ts.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { beforeAll, expect, it } from "vitest";
import { C_BUILDS, type CBuild } from "./helpers/c-builds.ts";
import { cModelFiles, rg_arena_bytes } from "../toolchain/model/c-header.ts";
import { FormatError } from "../runtime/src/errors.ts";
import { readModel, writeModel } from "../runtime/src/format.ts";
import type { QuantModel } from "../runtime/src/model.ts";
import { INT32_MAX, INT32_MIN, quantizeInput } from "../runtime/src/quant.ts";
import { Rng } from "../toolchain/model/random.ts";
import { quantize_f32, requantize_s32, run_s8, RUN_DENSE, RUN_ZERO_SKIP } from "../runtime/src/reference.ts";
import { crc32 } from "../runtime/src/crc32.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { buildSynthetic, syntheticFloat, syntheticInputs, toV1 } from "../toolchain/model/synthetic.ts";
import { linear, openBlocks } from "../toolchain/model/float.ts";
import { checkpointBytes } from "../toolchain/train/training-checkpoint.ts";
import { caseModel } from "../fuzz/core.ts";
import { loadData } from "../cli/src/data-options.ts";
import { rowsCase } from "./helpers/arbitraries.ts";
import { gatedNetCase } from "./helpers/models.ts";
import { describeWithTools } from "./helpers/system.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(ROOT, "build", "c-test");
const SOURCES = readdirSync(join(ROOT, "kernels", "c", "src")).filter((f) => f.endsWith(".c")).sort().map((f) => `kernels/c/src/${f}`);
/** The warning flags of every build (docs/C-API.md). */
const WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];
const BUILDS = C_BUILDS;
type Build = CBuild;
const bin = (b: Build) => join(OUT, `harness-${b}`);

// rg_model.flags
const PORTABLE = 1, DENSE = 2, ZERO_SKIP = 8;
/** Flag sets per build: the emulated-DSP builds run both kernel paths. */
const FLAGS: Record<Build, number[]> = {
  plain: [0, DENSE, ZERO_SKIP, DENSE | ZERO_SKIP],
  dsp: [0, DENSE, ZERO_SKIP, DENSE | ZERO_SKIP, PORTABLE, PORTABLE | DENSE, PORTABLE | ZERO_SKIP, PORTABLE | DENSE | ZERO_SKIP],
  asan: [0, DENSE, ZERO_SKIP, DENSE | ZERO_SKIP, PORTABLE, PORTABLE | ZERO_SKIP],
};

function gcc(args: string[]): void {
  const r = spawnSync("gcc", args, { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gcc ${args.join(" ")} failed:\n${r.stderr}`);
  expect(r.stderr, `gcc ${args.join(" ")}`).toBe("");
}

function gccAsync(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("gcc", args, { cwd: ROOT });
    let stderr = "";
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 && stderr === "" ? resolve() : reject(new Error(`gcc ${args.join(" ")} failed:\n${stderr}`))));
  });
}

/** A job file for kernels/c/test/harness.c, and how to read its answers. */
class Job {
  private parts: Buffer[] = [];
  readonly records: ({ kind: "M" } | { kind: "R"; count: number } | { kind: "Q" })[] = [];
  private u32(...v: number[]) {
    const b = Buffer.alloc(4 * v.length);
    v.forEach((x, i) => b.writeUInt32LE(x >>> 0, 4 * i));
    this.parts.push(b);
  }
  model(bytes: Uint8Array): this {
    this.u32(0x4d, bytes.length);
    this.parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.records.push({ kind: "M" });
    return this;
  }
  run(flags: number, samples: Int8Array | Float32Array, nIn: number): this {
    const count = samples.length / nIn;
    this.u32(0x52, flags, count, samples instanceof Float32Array ? 1 : 0);
    this.parts.push(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
    this.records.push({ kind: "R", count });
    return this;
  }
  requantize(x: number, m: number, s: number): this {
    this.u32(0x51, x, m, s);
    this.records.push({ kind: "Q" });
    return this;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

interface ModelAnswer { status: number; offset: number; actual: number; field: string; arena: number; layers: number; nIn: number; nOut: number }
interface SampleAnswer { status: number; logits: Int8Array; counters: number[][]; totals: number[] }
type Answer = ModelAnswer | SampleAnswer[] | number;

let jobs = 0;
/** Runs a job through a harness build; its answers in record order. */
function execute(b: Build, job: Job): Answer[] {
  const n = jobs++;
  const jobPath = join(OUT, `job-${process.pid}-${n}.bin`), outPath = join(OUT, `out-${process.pid}-${n}.bin`);
  writeFileSync(jobPath, job.bytes());
  const r = spawnSync(bin(b), [jobPath, outPath], { encoding: "utf8", env: { ...process.env, ASAN_OPTIONS: "detect_leaks=1:abort_on_error=0" } });
  expect(r.status, `${b} harness: ${r.stderr}`).toBe(0);
  expect(r.stderr).toBe("");
  const o = readFileSync(outPath);
  let at = 0, model: ModelAnswer | null = null;
  const u32 = () => { const v = o.readUInt32LE(at); at += 4; return v; };
  const i32 = () => { const v = o.readInt32LE(at); at += 4; return v; };
  const answers = job.records.map((rec): Answer => {
    if (rec.kind === "Q") return i32();
    if (rec.kind === "M") {
      const status = i32(), offset = u32(), actual = u32();
      const field = o.subarray(at, at + 48).toString("latin1").replace(/\0.*$/s, "");
      at += 48;
      model = { status, offset, actual, field, arena: u32(), layers: u32(), nIn: u32(), nOut: u32() };
      return model;
    }
    const m = model!;
    return Array.from({ length: rec.count }, () => {
      const status = i32();
      const logits = new Int8Array(o.subarray(at, at + m.nOut));
      at += m.nOut;
      const counters = Array.from({ length: m.layers }, () => [u32(), u32(), u32(), u32()]);
      return { status, logits, counters, totals: [u32(), u32(), u32()] };
    });
  });
  expect(at).toBe(o.length);
  return answers;
}

/** Differences between C answers and runtime/src/reference.ts run_s8 on the same int8 inputs. */
function compare(model: QuantModel, q: Int8Array[], flags: number, got: SampleAnswer[], what: string): string[] {
  const bad: string[] = [];
  q.forEach((x, s) => {
    const ref = run_s8(model, x, flags & (DENSE | ZERO_SKIP));
    const g = got[s];
    const tag = `${what} flags ${flags} sample ${s}`;
    if (g.status !== 0) return void bad.push(`${tag}: status ${g.status}`);
    if (!ref.output.every((v, j) => v === g.logits[j])) bad.push(`${tag}: logits ${Array.from(g.logits)}, reference ${Array.from(ref.output)}`);
    const want = ref.counters.map((c) => [c.estimatorMacs, c.rowMacs, c.rowsComputed, c.rowsSkipped]);
    if (JSON.stringify(want) !== JSON.stringify(g.counters)) bad.push(`${tag}: counters ${JSON.stringify(g.counters)}, reference ${JSON.stringify(want)}`);
    const est = want.reduce((t, c) => t + c[0], 0), rows = want.reduce((t, c) => t + c[1], 0);
    if (JSON.stringify([est, rows, est + rows]) !== JSON.stringify(g.totals)) bad.push(`${tag}: totals ${g.totals}`);
  });
  return bad;
}


/**
 * Random networks: odd sizes, estimators of any rank, block gates (threshold, or top-k with k = 1, k = blocks, k from
 * the seed, or k = blocks / 2 over equal scores and thresholds: ties), zero points calibrated, at either end or
 * random; v1 files when ungated, v4 with a top-k gate.
 */
function randomCases(count: number, seed: number) {
  const arb = fc.record({
    net: gatedNetCase(40, [0, 0.5, 0.9]),
    zps: fc.constantFrom("calibrated", "ends", "random"),
    v1: fc.boolean(),
    topK: fc.constantFrom("none", "one", "all", "seed", "ties"),
  });
  return fc.sample(arb, { numRuns: count, seed }).map((c, i) => {
    const { model, rng } = buildSynthetic({
      sizes: c.net.sizes, ranks: c.net.kinds.map((k) => k.rank), gates: c.net.kinds.map((k) => k.gate), seed: c.net.seed, calibration: 16, inputZeros: c.net.zeros,
    });
    if (c.zps !== "calibrated") {
      const zps = c.net.sizes.map(() => (c.zps === "ends" ? (rng.next() < 0.5 ? -128 : 127) : rng.int(-128, 127)));
      model.layers.forEach((l, k) => {
        l.inZeroPoint = zps[k];
        l.outZeroPoint = zps[k + 1];
      });
    }
    for (const l of model.layers) {
      const g = l.gate;
      if (!g || c.topK === "none") continue;
      g.topK = c.topK === "one" ? 1 : c.topK === "all" ? g.blocks : c.topK === "seed" ? 1 + (c.net.seed % g.blocks) : Math.max(1, g.blocks >> 1);
      if (c.topK === "ties") {
        for (let b = 1; b < g.blocks; b++) g.weights.copyWithin(b * l.nIn, 0, l.nIn);
        g.threshold.fill(g.threshold[0]);
      }
    }
    const v2 = writeModel(model);
    const v1 = c.v1 && !model.layers.some((l) => l.gate);
    const bytes = v1 ? toV1(v2) : v2;
    const nIn = c.net.sizes[0], zp = model.layers[0].inZeroPoint;
    const floats = syntheticInputs(rng, 2, nIn, c.net.zeros);
    // int8: random, mostly the zero point (zero skipping), all the zero point
    const ints = new Int8Array(3 * nIn);
    for (let i = 0; i < nIn; i++) {
      ints[i] = rng.int(-128, 127);
      ints[nIn + i] = rng.next() < 0.85 ? zp : rng.int(-128, 127);
      ints[2 * nIn + i] = zp;
    }
    const q = [0, 1].map((s) => quantizeInput(floats.subarray(s * nIn, (s + 1) * nIn), model.layers[0].inScale, zp, new Int8Array(nIn)))
      .concat([0, 1, 2].map((s) => ints.slice(s * nIn, (s + 1) * nIn)));
    return { what: `case ${i} (sizes ${c.net.sizes.join("-")}, kinds ${JSON.stringify(c.net.kinds)}, zps ${c.zps}, top-k ${c.topK}, v${v1 ? 1 : new DataView(v2.buffer).getUint16(4, true)})`, model, bytes, nIn, floats, ints, q };
  });
}


/** `good` with each edit applied to its own copy, the checksum fixed so that the edit is what a reader sees. */
function damaged(good: Uint8Array, edits: ((d: DataView) => void)[]): Uint8Array[] {
  return edits.map((f) => {
    const b = good.slice();
    const d = new DataView(b.buffer);
    f(d);
    d.setUint32(12, crc32(b, 16), true);
    return b;
  });
}

/** Adds each file to the job; returns runtime/src/format.ts's verdict on it (null: loads; else the field and offset it names). */
function tsVerdicts(job: Job, files: Uint8Array[]): ({ field: string; offset: number } | null)[] {
  return files.map((b) => {
    job.model(b);
    try {
      readModel(b);
      return null;
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      return { field: e.field, offset: e.offset };
    }
  });
}

/** The files where the C reader's answer differs from format.ts's verdict, one line each. */
function disagreements(answers: ModelAnswer[], want: ({ field: string; offset: number } | null)[]): string[] {
  return answers.flatMap((m, i) => {
    const w = want[i];
    if (w === null) return m.status === 0 ? [] : [`file ${i}: C rejects ${m.field} at ${m.offset}`];
    return m.status === -2 && m.field === w.field && m.offset === w.offset ? [] : [`file ${i}: C ${m.status} ${m.field} at ${m.offset}, ts ${w.field} at ${w.offset}`];
  });
}

describeWithTools(["gcc"], "C runtime on the host", () => {
  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    // The three builds side by side
    await Promise.all([
      ...Object.entries(BUILDS).map(([b, flags]) => gccAsync([...WARN, ...flags, "-Ikernels/c/include", ...SOURCES, "kernels/c/test/harness.c", "-o", bin(b as Build)])),
      ...(["plain", "asan"] as const).map((b) => gccAsync([...WARN, ...BUILDS[b], "-Ikernels/c/include", ...SOURCES, "kernels/c/test/api.c", "-o", join(OUT, `api-${b}`)])),
    ]);
  }, 120_000);

  it("every kernel-path configuration compiles as C99 without a warning", () => {
    for (const extra of [[], ["-DRG_EMULATE_DSP"], ["-DRG_NO_DSP", "-DRG_EMULATE_DSP"]]) {
      gcc([...WARN, "-O2", ...extra, "-Ikernels/c/include", "-fsyntax-only", ...SOURCES]);
    }
  });

  it("every misuse of the API is a status (kernels/c/test/api.c, plain and sanitized, both kernel paths)", () => {
    const { bytes } = buildSynthetic({ sizes: [20, 12, 6], ranks: [3], seed: 4, calibration: 16 });
    const model = join(OUT, "api.rgm");
    writeFileSync(model, bytes);
    for (const b of ["plain", "asan"]) {
      const r = spawnSync(join(OUT, `api-${b}`), [model], { encoding: "utf8" });
      expect(r.stdout + r.stderr).toBe("ok\n");
      expect(r.status).toBe(0);
    }
  });

  it("rg_requantize_s32 equals requantize_s32 at the edges and on random triples", () => {
    const rng = new Rng(5);
    const xs = [0, 1, -1, INT32_MIN, INT32_MAX, INT32_MIN + 1, 1 << 30, -(1 << 30), 12345, -12345];
    const ms = [0, 1 << 30, INT32_MAX, INT32_MIN, (1 << 30) + 12345];
    const triples: [number, number, number][] = [];
    for (const x of xs) for (const m of ms) for (const s of [-31, -30, -1, 0, 1, 29, 30]) triples.push([x, m, s]);
    for (let i = 0; i < 5000; i++) triples.push([rng.int(INT32_MIN, INT32_MAX), rng.int(1 << 30, INT32_MAX), rng.int(-31, 30)]);
    const job = new Job();
    for (const [x, m, s] of triples) job.requantize(x, m, s);
    for (const b of ["plain", "asan"] as const) {
      const got = execute(b, job) as number[];
      const bad = triples.filter(([x, m, s], i) => got[i] !== requantize_s32(x, m, s)).slice(0, 5);
      expect(bad).toEqual([]);
    }
  });

  it("random networks: logits and every counter equal runtime/src/reference.ts run_s8 (gated, dense, zero-skip; portable and DSP kernels; v1, v2 and v4 top-k gates)", () => {
    const cases = randomCases(70, 12);
    expect(cases.filter((c) => c.what.endsWith("v4)")).length).toBeGreaterThan(15);
    for (const b of Object.keys(BUILDS) as Build[]) {
      const job = new Job();
      for (const c of cases) {
        job.model(c.bytes);
        for (const flags of FLAGS[b]) job.run(flags, c.floats, c.nIn).run(flags, c.ints, c.nIn);
      }
      const answers = execute(b, job);
      const bad: string[] = [];
      let k = 0;
      for (const c of cases) {
        const m = answers[k++] as ModelAnswer;
        if (m.status !== 0) {
          bad.push(`${b} ${c.what}: rg_model_init ${m.status} ${m.field}`);
          continue;
        }
        expect([m.nIn, m.layers]).toEqual([c.nIn, c.model.layers.length]);
        for (const flags of FLAGS[b]) {
          const got = [...(answers[k++] as SampleAnswer[]), ...(answers[k++] as SampleAnswer[])];
          bad.push(...compare(c.model, c.q, flags, got, `${b} ${c.what}`));
        }
      }
      expect(bad.slice(0, 5)).toEqual([]);
    }
  }, 60_000);

  it("single layers from rowsCase (test/helpers/arbitraries.ts): extreme biases, multipliers, shifts and zero points; any mask through a block gate of size 1", () => {
    const cases = fc.sample(rowsCase(), { numRuns: 150, seed: 31 }).map((c) => {
      // Gate weights 0: block j's score is 0, so threshold −1 sets unit j and 0 clears it
      const gated = c.relu;
      const threshold = Int32Array.from({ length: c.nOut }, (_, j) => ((c.mask[j >>> 5] >>> (j & 31)) & 1 ? -1 : 0));
      const model: QuantModel = {
        layers: [{
          nIn: c.nIn, nOut: c.nOut, activation: c.relu ? "relu" : "none", inScale: 0.5, inZeroPoint: c.inZp, outScale: 0.25, outZeroPoint: c.outZp,
          weights: c.weights, bias: c.bias, multiplier: c.multiplier, shift: c.shift, estimator: null,
          gate: gated ? { blockSize: 1, blocks: c.nOut, weights: new Int8Array(c.nOut * c.nIn), threshold, topK: 0 } : null,
        }],
      };
      return { model, bytes: writeModel(model), input: c.input, nIn: c.nIn };
    });
    for (const b of ["dsp", "asan"] as const) {
      const job = new Job();
      for (const c of cases) {
        job.model(c.bytes);
        for (const flags of FLAGS[b]) job.run(flags, c.input, c.nIn);
      }
      const answers = execute(b, job);
      const bad: string[] = [];
      let k = 0;
      cases.forEach((c, i) => {
        const m = answers[k++] as ModelAnswer;
        if (m.status !== 0) return void bad.push(`case ${i}: rg_model_init ${m.status} ${m.field}`);
        for (const flags of FLAGS[b]) bad.push(...compare(c.model, [c.input], flags, answers[k++] as SampleAnswer[], `${b} rows case ${i}`));
      });
      expect(bad.slice(0, 5)).toEqual([]);
    }
  });

  it("v3 per-feature input quantization: rg_quantize_input_f32 equals quantize_f32 in Wasm (SIMD, MVP) and the TS twin on random scales, offsets and edge inputs", async () => {
    // A one-layer identity model (W = I, bias 0, requantize by 1.0, same zero points) outputs its int8 input: the logits are q
    const rng = new Rng(21);
    const edgeScales = [2 ** -149, 2 ** -126, 1e-30, 1 / 255, 0.5, 1, 3, 1e30, 3.4028234663852886e38];
    const cases = Array.from({ length: 40 }, (_, c) => {
      const n = [1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33][c % 11] + (c >= 11 ? rng.int(0, 40) : 0);
      const zp = [-128, 127, 0][c % 3] ?? 0;
      const scale = Float32Array.from({ length: n }, () => (rng.next() < 0.3 ? edgeScales[rng.int(0, edgeScales.length - 1)] : Math.exp(rng.next() * 20 - 10)));
      const offset = Float32Array.from({ length: n }, () => (rng.next() < 0.3 ? [0, -0, 1e30, -2.5][rng.int(0, 3)] : (rng.next() - 0.5) * 1000));
      const model: QuantModel = {
        inputFeatures: { scale, offset },
        layers: [{
          nIn: n, nOut: n, activation: "none", inScale: 1, inZeroPoint: zp, outScale: 1, outZeroPoint: zp,
          weights: Int8Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? 1 : 0)), bias: new Int32Array(n),
          multiplier: new Int32Array(n).fill(2 ** 30), shift: new Int32Array(n).fill(1), estimator: null, gate: null,
        }],
      };
      // Ties (x = o + s·k/2), both ends of the clamp, −0, and any float
      const x = new Float32Array(4 * n);
      for (let i = 0; i < x.length; i++) {
        const f = i % n, r = rng.next();
        x[i] = r < 0.4 ? offset[f] + scale[f] * (rng.int(-600, 600) / 2) : r < 0.5 ? -0 : r < 0.6 ? (rng.next() - 0.5) * 1e38 : (rng.next() - 0.5) * 2000;
        if (!Number.isFinite(x[i])) x[i] = offset[f];
      }
      return { model, bytes: writeModel(model), n, x };
    });
    const job = new Job();
    for (const c of cases) job.model(c.bytes).run(PORTABLE, c.x, c.n);
    for (const b of ["plain", "asan"] as const) {
      const answers = execute(b, job);
      const bad: string[] = [];
      for (const [i, c] of cases.entries()) {
        const m = answers[2 * i] as ModelAnswer;
        expect(m.status, `${b} case ${i}: ${m.field}`).toBe(0);
        const got = answers[2 * i + 1] as SampleAnswer[];
        const engines = await Promise.all((["simd", "mvp"] as const).map((module) => Engine.fromModel(c.model, { module })));
        const wasm = engines.map((e) => e.inferBatch(c.x, { simd: true }).logits);
        const scalar = engines[0].inferBatch(c.x, { simd: false }).logits;
        for (let s = 0; s < 4; s++) {
          const want = new Int8Array(c.n);
          expect(quantize_f32(c.x.subarray(s * c.n, (s + 1) * c.n), 1, c.model.layers[0].inZeroPoint, want, c.model.inputFeatures)).toBe(0);
          const have = { c: got[s].logits, simd: wasm[0].subarray(s * c.n, (s + 1) * c.n), mvp: wasm[1].subarray(s * c.n, (s + 1) * c.n), scalar: scalar.subarray(s * c.n, (s + 1) * c.n) };
          for (const [who, v] of Object.entries(have)) if (!v.every((q, j) => q === want[j])) bad.push(`${b} case ${i} sample ${s} ${who}: ${Array.from(v)} ≠ ${Array.from(want)}`);
        }
      }
      expect(bad.slice(0, 5)).toEqual([]);
    }
  }, 60_000);

  it("v4: the C reader names the same field and offset as runtime/src/format.ts on damaged top-k entries and input offsets; the arena holds the scores", () => {
    const { model } = buildSynthetic({ sizes: [9, 7, 5, 4], gates: [3, 2], seed: 8, calibration: 16 });
    model.layers[0].gate!.topK = 2;
    const n = 9;
    const plain = writeModel(model);
    const withInput = writeModel({ ...model, inputFeatures: { scale: Float32Array.from({ length: n }, (_, i) => 0.25 * (i + 1)), offset: Float32Array.from({ length: n }, (_, i) => i - 4) } });
    const e0 = 64, e1 = 64 + 112, e2 = 64 + 224;
    const rng = new Rng(4);
    const edits: ((d: DataView) => void)[] = [
      (d) => d.setUint32(e0 + 96, 4, true), (d) => d.setUint32(e0 + 96, 3, true), (d) => d.setUint32(e0 + 96, 0, true), (d) => d.setUint32(e1 + 96, 5, true),
      (d) => d.setUint32(e1 + 96, 1, true), (d) => d.setUint32(e2 + 96, 1, true), (d) => d.setUint32(e0 + 100, 1, true), (d) => d.setUint32(e1 + 108, 1, true),
      (d) => d.setUint32(e0 + 88, 0, true), (d) => d.setUint32(e0 + 92, 0, true), (d) => d.setUint32(e1 + 88, 16, true), (d) => d.setUint16(4, 3, true),
      (d) => d.setUint32(20, 96, true),
      ...Array.from({ length: 150 }, () => {
        const at = rng.int(e0 + 76, e2 + 111);
        const bit = rng.int(0, 7);
        return (d: DataView) => d.setUint8(at, d.getUint8(at) ^ (1 << bit));
      }),
    ];
    const files = [plain, withInput, ...damaged(plain, edits), ...damaged(withInput, edits)];
    const job = new Job();
    const want = tsVerdicts(job, files);
    expect(want.slice(0, 2)).toEqual([null, null]);
    expect(want.filter((w) => w !== null).length).toBeGreaterThan(200);
    for (const b of ["plain", "asan"] as const) {
      const answers = execute(b, job) as ModelAnswer[];
      // Scores: 4 bytes per block of the widest top-k gate (3 blocks, padded to 8) on top of the v2 file's arena; the TS twin agrees
      expect(answers[0].arena).toBe((execute(b, new Job().model(writeModel({ layers: model.layers.map((l) => (l.gate ? { ...l, gate: { ...l.gate, topK: 0 } } : l)) }))) as ModelAnswer[])[0].arena + 16);
      expect(answers[0].arena).toBe(rg_arena_bytes(model));
      expect(disagreements(answers, want).slice(0, 8)).toEqual([]);
    }
  }, 60_000);

  it("v3: the C reader names the same field and offset as runtime/src/format.ts on damaged input sections and entries", () => {
    const { model } = buildSynthetic({ sizes: [9, 7, 4], ranks: [2], seed: 8, calibration: 16 });
    const n = 9;
    const good = writeModel({ ...model, inputFeatures: { scale: Float32Array.from({ length: n }, (_, i) => 0.25 * (i + 1)), offset: Float32Array.from({ length: n }, (_, i) => i - 4) } });
    const dv = new DataView(good.buffer);
    const e0 = 64, e1 = 64 + 96, sAt = dv.getUint32(e0 + 88, true), oAt = dv.getUint32(e0 + 92, true);
    const rng = new Rng(3);
    const edits: ((d: DataView) => void)[] = [
      (d) => d.setFloat32(sAt, 0, true), (d) => d.setFloat32(sAt + 4, -1, true), (d) => d.setFloat32(sAt + 8, Number.NaN, true),
      (d) => d.setFloat32(sAt + 32, Infinity, true), (d) => d.setUint32(sAt, 0x80000000, true), (d) => d.setFloat32(oAt + 4, Number.NaN, true),
      (d) => d.setFloat32(oAt + 32, -Infinity, true), (d) => d.setUint32(e0 + 88, 0, true), (d) => d.setUint32(e0 + 92, 8, true),
      (d) => d.setUint32(e0 + 88, good.length - 16, true), (d) => d.setUint32(e0 + 92, d.getUint32(e0 + 40, true), true),
      (d) => d.setUint32(e1 + 88, sAt, true), (d) => d.setUint32(e1 + 92, 16, true), (d) => d.setUint16(4, 2, true), (d) => d.setUint16(4, 4, true),
      ...Array.from({ length: 200 }, () => {
        const at = rng.next() < 0.5 ? rng.int(sAt, oAt + 4 * n - 1) : rng.int(e0 + 80, e1 + 95);
        const bit = rng.int(0, 7);
        return (d: DataView) => d.setUint8(at, d.getUint8(at) ^ (1 << bit));
      }),
    ];
    const files = [good, ...damaged(good, edits)];
    const job = new Job();
    const want = tsVerdicts(job, files);
    expect(want[0]).toBeNull();
    expect(want.filter((w) => w !== null).length).toBeGreaterThan(100);
    for (const b of ["plain", "asan"] as const) {
      const answers = execute(b, job) as ModelAnswer[];
      expect(disagreements(answers, want).slice(0, 8)).toEqual([]);
    }
  }, 60_000);

  it("the C reader rejects exactly what runtime/src/format.ts rejects, naming the same field and offset (fuzz corpus, seed 7); loaded files run as the reference", () => {
    const CASES = 2500;
    const job = new Job();
    const want: ({ field: string; offset: number } | null)[] = [];
    const valid: { model: QuantModel; q: Int8Array[] }[] = [];
    const rng = new Rng(99);
    for (let i = 0; i < CASES; i++) {
      const { bytes } = caseModel(7, i);
      job.model(bytes);
      try {
        const { model } = readModel(bytes);
        want.push(null);
        const nIn = model.layers[0].nIn;
        const x = Int8Array.from({ length: nIn }, () => (rng.next() < 0.6 ? model.layers[0].inZeroPoint : rng.int(-128, 127)));
        valid.push({ model, q: [x] });
        for (const flags of [0, DENSE, ZERO_SKIP, PORTABLE]) job.run(flags, x, nIn);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        want.push({ field: e.field, offset: e.offset });
      }
    }
    for (const b of ["dsp", "asan"] as const) {
      const answers = execute(b, job);
      const bad: string[] = [];
      let k = 0, v = 0, rejected = 0;
      for (let i = 0; i < CASES; i++) {
        const m = answers[k++] as ModelAnswer;
        const w = want[i];
        if (w === null) {
          if (m.status !== 0) bad.push(`case ${i}: C rejects (${m.field} at ${m.offset}), runtime/src/format.ts accepts`);
          const { model, q } = valid[v++];
          for (const flags of [0, DENSE, ZERO_SKIP, PORTABLE]) {
            const got = answers[k++] as SampleAnswer[];
            if (m.status === 0) bad.push(...compare(model, q, flags, got, `${b} case ${i}`));
          }
        } else {
          rejected++;
          if (m.status !== -2 || m.field !== w.field || m.offset !== w.offset) {
            bad.push(`case ${i}: C status ${m.status} ${m.field} at ${m.offset}, runtime/src/format.ts ${w.field} at ${w.offset}`);
          }
        }
      }
      expect(bad.slice(0, 8)).toEqual([]);
      expect(rejected).toBeGreaterThan(1200);
      expect(v).toBeGreaterThan(250);
    }
  }, 60_000);

  it("models/paper.rgm on the 10,000 MNIST test digits: logits and counter sums equal Engine's; per-sample counters on 200", async () => {
    const bytes = readFileSync(join(ROOT, "models", "paper.rgm"));
    const test = loadData("mnist:test");
    const engine = await Engine.load(bytes);
    const job = new Job().model(bytes).run(0, test.features, 784).run(ZERO_SKIP, test.features.subarray(0, 200 * 784), 784);
    const [m, gated, skip] = execute("plain", job) as [ModelAnswer, SampleAnswer[], SampleAnswer[]];
    expect(m.status).toBe(0);
    const want = engine.inferBatch(test.features);
    const logits = new Int8Array(gated.length * 10);
    gated.forEach((s, i) => logits.set(s.logits, i * 10));
    expect(gated.every((s) => s.status === 0)).toBe(true);
    expect(Buffer.from(logits.buffer).equals(Buffer.from(want.logits.buffer))).toBe(true);
    want.stats.layers.forEach((l, k) => {
      const sum = (c: number) => gated.reduce((t, s) => t + s.counters[k][c], 0);
      expect([sum(0), sum(1), sum(2), sum(3)]).toEqual([l.estimatorMacs, l.rowMacs, l.rowsComputed, l.rowsSkipped]);
    });
    for (const [answers, zeroSkip] of [[gated, false], [skip, true]] as const) {
      for (let i = 0; i < 200; i++) {
        const r = engine.infer(test.features.subarray(i * 784, (i + 1) * 784), { zeroSkip });
        expect(Array.from(answers[i].logits)).toEqual(Array.from(r.logits));
        expect(answers[i].counters).toEqual(r.stats.layers.map((l) => [l.estimatorMacs, l.rowMacs, l.rowsComputed, l.rowsSkipped]));
      }
    }
  }, 60_000);

  it("models/condnet-mnist.rgm (block gates) on 2,000 test digits, DSP and portable kernels, gated and zero-skip: Engine's logits and counters", async () => {
    const bytes = readFileSync(join(ROOT, "models", "condnet-mnist.rgm"));
    const test = loadData("mnist:test", 2000);
    const engine = await Engine.load(bytes);
    const flags = [0, ZERO_SKIP, PORTABLE, PORTABLE | ZERO_SKIP, DENSE];
    const job = new Job().model(bytes);
    for (const f of flags) job.run(f, test.features, 784);
    const [m, ...runs] = execute("dsp", job) as [ModelAnswer, ...SampleAnswer[][]];
    expect(m.status).toBe(0);
    flags.forEach((f, k) => {
      const want = engine.inferBatch(test.features, { zeroSkip: (f & ZERO_SKIP) !== 0, gating: (f & DENSE) === 0 });
      const got = runs[k];
      const logits = new Int8Array(got.length * 10);
      got.forEach((s, i) => logits.set(s.logits, i * 10));
      expect(Buffer.from(logits.buffer).equals(Buffer.from(want.logits.buffer)), `flags ${f}`).toBe(true);
      want.stats.layers.forEach((l, c) => {
        const sum = (i: number) => got.reduce((t, s) => t + s.counters[c][i], 0);
        expect([sum(0), sum(1), sum(2), sum(3)], `flags ${f} layer ${c}`).toEqual([l.estimatorMacs, l.rowMacs, l.rowsComputed, l.rowsSkipped]);
      });
    });
  }, 60_000);

  it("models/mnist-best.rgm (learned estimators, 784-…-10) on 300 test digits, DSP and portable kernels, gated, zero-skip and dense: Engine's logits byte for byte and every counter per sample", async () => {
    const bytes = readFileSync(join(ROOT, "models", "mnist-best.rgm"));
    const n = 300, test = loadData("mnist:test", n);
    const engine = await Engine.load(bytes);
    const nOut = engine.outputSize;
    const flags = [0, ZERO_SKIP, PORTABLE, PORTABLE | ZERO_SKIP, DENSE];
    const job = new Job().model(bytes);
    for (const f of flags) job.run(f, test.features, 784);
    const [m, ...runs] = execute("dsp", job) as [ModelAnswer, ...SampleAnswer[][]];
    expect(m).toMatchObject({ status: 0, nIn: 784, nOut });
    flags.forEach((f, k) => {
      const opts = { zeroSkip: (f & ZERO_SKIP) !== 0, gating: (f & DENSE) === 0 };
      const want = engine.inferBatch(test.features, opts);
      const got = runs[k];
      expect(got.length).toBe(n);
      expect(got.filter((s) => s.status !== 0).length, `flags ${f}`).toBe(0);
      const logits = new Int8Array(n * nOut);
      got.forEach((s, i) => logits.set(s.logits, i * nOut));
      const first = logits.findIndex((v, i) => v !== want.logits[i]);
      expect(first, `flags ${f}: first differing logit at sample ${Math.floor(first / nOut)} unit ${first % nOut}`).toBe(-1);
      for (let i = 0; i < n; i++) {
        const r = engine.infer(test.features.subarray(i * 784, (i + 1) * 784), opts);
        expect(got[i].counters, `flags ${f} sample ${i}`).toEqual(r.stats.layers.map((l) => [l.estimatorMacs, l.rowMacs, l.rowsComputed, l.rowsSkipped]));
      }
    });
    // it gates: fewer rows than dense on every layer but the last
    const rows = (k: number, l: number) => runs[k].reduce((t, s) => t + s.counters[l][2], 0);
    for (let l = 0; l < m.layers - 1; l++) expect(rows(0, l), `layer ${l}`).toBeLessThan(rows(4, l));
  }, 60_000);

  it("the exported model files and kernels/c/examples/main.c build with the runtime and print Engine's label and logits", async () => {
    const { bytes } = buildSynthetic({ sizes: [30, 17, 9, 5], ranks: [4, 3], seed: 8, calibration: 16 });
    const dir = join(OUT, "example");
    mkdirSync(dir, { recursive: true });
    const files = cModelFiles(bytes, "rgm_model", "30-17-9-5 test model", "model.h");
    writeFileSync(join(dir, "model.h"), files.header);
    writeFileSync(join(dir, "model.c"), files.source);
    // Two files that include the header link (extern, one definition)
    writeFileSync(join(dir, "other.c"), '#include "model.h"\nsize_t other_len(void) { return rgm_model_len; }\n');
    const exe = join(dir, "example");
    gcc([...WARN, "-O2", "-Ikernels/c/include", `-I${dir}`, ...SOURCES, "kernels/c/examples/main.c", join(dir, "model.c"), join(dir, "other.c"), "-o", exe]);
    const r = spawnSync(exe, [], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const engine = await Engine.load(bytes);
    const x = Float32Array.from({ length: 30 }, (_, i) => (i % 7) / 7);
    const want = engine.infer(x);
    expect(r.stdout).toBe(`label ${want.label} logits ${Array.from(want.logits).join(" ")}\n`);
  });

  it("top-k end to end: a float checkpoint with a top-1 gate → rankgate quantize → a v4 .rgm; Engine (SIMD, MVP), reference and C runtime agree byte for byte; one block per sample; the float gate opens the same block on most digits", async () => {
    // A random 784-32-10 float net whose first layer has a 4-block top-1 policy (blocks of 8)
    const rng = new Rng(26);
    const float = syntheticFloat(rng, [784, 32, 10]);
    float.layers[0].gate = {
      blockSize: 8, topK: 1,
      weight: Float32Array.from({ length: 4 * 784 }, () => rng.normal() * 0.1), bias: Float32Array.from({ length: 4 }, () => rng.normal() * 0.2),
    };
    const dir = mkdtempSync(join(tmpdir(), "rankgate-topk-"));
    writeFileSync(join(dir, "float.safetensors"), checkpointBytes(float));
    const r = spawnSync(process.execPath, [join(ROOT, "cli/bin/rankgate.js"), "quantize", "--float", "float.safetensors", "-o", "topk.rgm", "--samples", "400", "--calibration", "200", "-q"],
      { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    // (a random net: quantize may warn that int8 loses accuracy against it)
    expect(r.status, r.stderr).toBe(0);
    const bytes = new Uint8Array(readFileSync(join(dir, "topk.rgm")));
    expect(new DataView(bytes.buffer).getUint16(4, true)).toBe(4);
    const { model } = readModel(bytes);
    expect(model.layers.map((l) => [l.gate?.blocks ?? 0, l.gate?.topK ?? 0])).toEqual([[4, 1], [0, 0]]);

    // 300 test digits, quantized as the engine does
    const test = loadData("mnist:test", 300);
    const n = 300, x = test.features;
    const q = Array.from({ length: n }, (_, i) => {
      const v = new Int8Array(784);
      quantize_f32(x.subarray(i * 784, (i + 1) * 784), model.layers[0].inScale, model.layers[0].inZeroPoint, v, model.inputFeatures ?? null);
      return v;
    });
    const ref = q.map((v) => run_s8(model, v));
    // Exactly one block of 8 rows on every sample
    expect(ref.every((o) => o.counters[0].rowsComputed === 8 && o.counters[0].estimatorMacs === 4 * 784)).toBe(true);
    const opened = ref.map((o) => [0, 1, 2, 3].find((b) => (o.masks[0]![0] >>> (8 * b)) & 1)!);
    expect(new Set(opened).size).toBeGreaterThan(1);
    for (const module of ["simd", "mvp"] as const) {
      const engine = await Engine.load(bytes, { module });
      expect(engine.module).toBe(module);
      for (const simd of [true, false]) {
        for (let i = 0; i < n; i++) {
          const got = engine.infer(q[i], { simd });
          expect(Array.from(got.logits), `${module} simd ${simd} sample ${i}`).toEqual(Array.from(ref[i].output));
          expect(got.stats.layers.map((l) => [l.estimatorMacs, l.rowMacs, l.rowsComputed, l.rowsSkipped])).toEqual(ref[i].counters.map((c) => [c.estimatorMacs, c.rowMacs, c.rowsComputed, c.rowsSkipped]));
        }
      }
    }
    for (const b of ["dsp", "asan"] as const) {
      const job = new Job().model(bytes);
      for (const f of FLAGS[b]) job.run(f, x.subarray(0, n * 784), 784);
      const answers = execute(b, job);
      expect((answers[0] as ModelAnswer).status).toBe(0);
      expect(FLAGS[b].flatMap((f, k) => compare(model, q, f, answers[1 + k] as SampleAnswer[], `top-k ${b}`)).slice(0, 5)).toEqual([]);
    }
    // The float gate (openBlocks on x·Z + d) opens the int8 gate's block on most digits
    const policy = linear(x.subarray(0, n * 784), n, 784, float.layers[0].gate.weight, float.layers[0].gate.bias, 4);
    const open = new Uint8Array(4);
    const agree = opened.filter((b, i) => openBlocks(policy, 4 * i, 4, 1, open)[b] === 1).length;
    expect(agree / n).toBeGreaterThan(0.9);
    // The CLI names the gate kind: inspect's gate column, eval's table and --json (top_k only on top-k layers)
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "cli/bin/rankgate.js"), ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(cli("inspect", "topk.rgm").stdout).toContain("4×8 top-1");
    expect(cli("eval", "--model", "topk.rgm", "--samples", "50").stdout).toContain("4×8 blocks top-1");
    const report = JSON.parse(cli("eval", "--model", "topk.rgm", "--samples", "50", "--json").stdout) as { layers: { top_k?: number }[] };
    expect(report.layers.map((l) => l.top_k ?? null)).toEqual([1, null]);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

});
