// Format v3 (per-feature input quantization) through the tools: the wasm3/WAMR job path (bench/wasm-job.ts, run
// here by runJob in Node, the same host in JavaScript), the selftest's and the MCU tools' input quantization,
// and rankgate inspect. Each compares bytes with Engine and the TS reference (quantizeModelInput, run_s8).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { readModel, writeModel } from "../runtime/src/format.ts";
import type { QuantModel } from "../runtime/src/model.ts";
import { quantizeInput } from "../runtime/src/quant.ts";
import { quantizeModelInput, run_s8, RUN_ZERO_SKIP } from "../runtime/src/reference.ts";
import { argmax, Engine } from "../runtime/src/runtime.ts";
import { Rng } from "../toolchain/model/random.ts";
import { buildSynthetic } from "../toolchain/model/synthetic.ts";
import { selftestCases } from "../web/build-selftest.ts";
import { quantizeCommand } from "../cli/src/commands/quantize.ts";
import { loadDataset } from "../toolchain/data/index.ts";
import { importOnnx } from "../toolchain/import/onnx.ts";
import { checkpointBytes } from "../toolchain/train/training-checkpoint.ts";
import { decodeOutput, encodeJob, engineJob, runJob } from "../bench/wasm-job.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const N_IN = 30;

/** A v3 model whose features span orders of magnitude (as breast_cancer's raw features do), and float samples over those ranges. */
function v3Model(seed: number, sizes = [N_IN, 17, 9, 3], ranks = [5, 3]): { model: QuantModel; bytes: Uint8Array; x: (count: number) => Float32Array } {
  const { model } = buildSynthetic({ sizes, ranks, seed, calibration: 16 });
  const n = sizes[0];
  const scale = Float32Array.from({ length: n }, (_, i) => Math.fround(10 ** ((i % 7) - 3) / 255));
  const offset = Float32Array.from({ length: n }, (_, i) => Math.fround(i % 3 === 0 ? 0 : -(10 ** ((i % 5) - 2))));
  const v3: QuantModel = { ...model, inputFeatures: { scale, offset } };
  const bytes = writeModel(v3);
  const rng = new Rng(seed + 1);
  // Each feature over its range, a little beyond (clamps) now and then, and exact ties
  const x = (count: number) => Float32Array.from({ length: count * n }, (_, k) => {
    const i = k % n, u = rng.next() * 1.1 - 0.05;
    return rng.next() < 0.1 ? Math.fround(offset[i] + (rng.int(0, 254) + 0.5) * scale[i]) : Math.fround(offset[i] + u * 255 * scale[i]);
  });
  return { model: readModel(bytes).model, bytes, x };
}

/** The TS reference's logits for float samples x: quantized per feature, then run_s8. */
function referenceLogits(model: QuantModel, x: Float32Array, flags = 0): Int8Array {
  const n = model.layers[0].nIn, m = model.layers[model.layers.length - 1].nOut, count = x.length / n;
  const out = new Int8Array(count * m), q = new Int8Array(n);
  for (let s = 0; s < count; s++) {
    expect(quantizeModelInput(model, x.subarray(s * n, (s + 1) * n), q)).toBe(0);
    out.set(run_s8(model, q, flags).output, s * m);
  }
  return out;
}

describe("the wasm3/WAMR job path on a v3 model (engineJob, runJob)", () => {
  for (const build of ["mvp", "simd"] as const) {
    it(`${build}: the job's logits, labels and counter sums equal the TS reference and Engine, per feature, over more than one call`, async () => {
      const { model, bytes, x } = v3Model(41);
      const samples = x(70);
      const engine = await Engine.load(bytes, { module: build });
      expect(engine.inputFeatures).not.toBeNull();
      const file = join(ROOT, "build", build === "mvp" ? "rankgate-mvp.wasm" : "rankgate.wasm");
      const module = new WebAssembly.Module(new Uint8Array(readFileSync(file)));
      for (const zeroSkip of [false, true]) {
        const job = engineJob(engine, samples, { zeroSkip });
        expect(job.calls.length).toBe(2);
        // Through the hosts' file format and back, as wasm3 and WAMR read it
        const calls = decodeOutput(job, await runJob(module, job));
        expect(calls.map((c) => c.status)).toEqual([0, 0]);
        const want = referenceLogits(model, samples, zeroSkip ? RUN_ZERO_SKIP : 0);
        expect(new Int8Array(calls.flatMap((c) => Array.from(c.logits)))).toEqual(want);
        const node = engine.inferBatch(samples, { zeroSkip });
        expect(node.logits).toEqual(want);
        expect(new Int32Array(calls.flatMap((c) => Array.from(c.labels)))).toEqual(node.labels);
        // Per tensor would be wrong here: the oracle can tell
        const l0 = model.layers[0], q = quantizeInput(samples.subarray(0, N_IN), l0.inScale, l0.inZeroPoint, new Int8Array(N_IN));
        expect(Array.from(run_s8(model, q).output)).not.toEqual(Array.from(want.subarray(0, model.layers[2].nOut)));
      }
    });
  }

  it("the encoded job of a v3 model carries layer 0's per-feature sections in its arena image", async () => {
    const { bytes, x } = v3Model(43);
    const engine = await Engine.load(bytes, { module: "mvp" });
    const job = engineJob(engine, x(3));
    const parsed = readModel(bytes);
    const scales = parsed.sections.find((s) => s.name === "in_scales")!;
    const image = job.image.subarray(0, parsed.image.length);
    expect(Buffer.compare(Buffer.from(image), Buffer.from(parsed.image))).toBe(0);
    expect(new Float32Array(image.slice(scales.offset, scales.offset + scales.bytes).buffer)).toEqual(parsed.model.inputFeatures!.scale);
    expect(encodeJob(job).length).toBeGreaterThan(job.image.length);
  });
});

describe("selftest cases: inputs quantized as Engine quantizes them", () => {
  it("one case is a v3 file; every case's random samples are Engine's quantization of its floats (per feature on v3), then all −128, all 127", async () => {
    const cases = selftestCases();
    expect(cases.map((c) => [c.name, c.model[4]]).filter(([, v]) => v === 3)).toEqual([["per-feature", 3]]);
    for (const c of cases) {
      const { model } = readModel(c.model);
      const n = model.layers[0].nIn, engine = await Engine.load(c.model, { trace: true }), q = new Int8Array(n);
      for (let s = 0; s < 4; s++) {
        const x = c.floats!.subarray(s * n, (s + 1) * n);
        expect(quantizeModelInput(model, x, q)).toBe(0);
        expect(Array.from(c.inputs.subarray(s * n, (s + 1) * n)), `${c.name} sample ${s}`).toEqual(Array.from(q));
        engine.infer(x);
        expect(Array.from(engine.lastTrace().inputs[0]), `${c.name} sample ${s}, Engine`).toEqual(Array.from(q));
      }
      expect(Array.from(c.inputs.subarray(4 * n, 5 * n)).every((v) => v === -128), c.name).toBe(true);
      expect(Array.from(c.inputs.subarray(5 * n)).every((v) => v === 127), c.name).toBe(true);
      if (model.inputFeatures) {
        const l0 = model.layers[0], perTensor = quantizeInput(c.floats!.subarray(0, 4 * n), l0.inScale, l0.inZeroPoint, new Int8Array(4 * n));
        expect(Array.from(perTensor)).not.toEqual(Array.from(c.inputs.subarray(0, 4 * n)));
      }
    }
  });
});

describe("rankgate inspect on a v3 file", () => {
  const BIN = join(ROOT, "cli", "bin", "rankgate.js");
  let dir = "";
  beforeAll(() => {
    if (!existsSync(join(ROOT, "cli", "dist", "rankgate.js"))) throw new Error("cli/dist/rankgate.js is missing: run `npm run build` before the CLI tests");
    dir = mkdtempSync(join(tmpdir(), "rankgate-v3-inspect-"));
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));
  const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "" } });

  it("--json: version 3, per-feature mode, every feature's scale and offset exactly as the file holds them", () => {
    const { model, bytes } = v3Model(45, [7, 5, 2], [2]);
    writeFileSync(join(dir, "v3.rgm"), bytes);
    const r = cli("inspect", "v3.rgm", "--json");
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.version).toBe(3);
    const f = model.inputFeatures!, z = model.layers[0].inZeroPoint;
    expect(info.input).toEqual({
      mode: "per-feature", zeroPoint: z, scale: model.layers[0].inScale,
      features: Array.from(f.scale, (scale, index) => ({ index, scale, offset: f.offset[index], min: f.offset[index] + (-128 - z) * scale, max: f.offset[index] + (127 - z) * scale })),
    });
    // The input sections count as layer 0's own bytes, not as estimator bytes
    const sections = readModel(bytes).sections;
    expect(info.layers[0].estimatorBytes).toBe(sections.filter((s) => s.layer === 0 && s.name.startsWith("est_")).reduce((t, s) => t + s.bytes, 0));
    expect(info.layers[0].weightBytes).toBe(sections.filter((s) => s.layer === 0 && !s.name.startsWith("est_")).reduce((t, s) => t + s.bytes, 0));
  });

  it("text: says per feature, with one row per feature; a v2 file says per tensor", () => {
    const { model, bytes } = v3Model(45, [7, 5, 2], [2]);
    writeFileSync(join(dir, "v3.rgm"), bytes);
    const r = cli("inspect", "v3.rgm");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("input quantization per feature (format v3, 7 features)");
    const g = (v: number) => Number(v.toPrecision(4)).toString();
    for (let i = 0; i < 7; i++) expect(r.stdout).toMatch(new RegExp(`│\\s*${i}\\s*│\\s*${g(model.inputFeatures!.scale[i]).replace(/[.+]/g, "\\$&")}\\s*│`));
    expect(r.stdout).toMatch(/│\s*0\s*│\s*7\s*│\s*5\s*│[^\n]*per feature \//);
    writeFileSync(join(dir, "v2.rgm"), buildSynthetic({ sizes: [7, 5, 2], ranks: [2], seed: 45 }).bytes);
    const v2 = cli("inspect", "v2.rgm");
    expect(v2.status, v2.stderr).toBe(0);
    expect(v2.stdout).toMatch(/input quantization per tensor \(format v2\): q = clamp\(round\(x \/ [0-9.e-]+\) [+−] \d+, −128, 127\)/);
    expect(JSON.parse(cli("inspect", "v2.rgm", "--json").stdout).input.features).toEqual([]);
  });
});

describe("argmax of the v3 reference agrees with Engine's labels", () => {
  it("infer, one sample at a time", async () => {
    const { model, bytes, x } = v3Model(47);
    const engine = await Engine.load(bytes);
    const samples = x(5), m = model.layers[2].nOut;
    const want = referenceLogits(model, samples);
    for (let s = 0; s < 5; s++) {
      const r = engine.infer(samples.subarray(s * N_IN, (s + 1) * N_IN));
      expect(r.logits).toEqual(want.subarray(s * m, (s + 1) * m));
      expect(r.label).toBe(argmax(want.subarray(s * m, (s + 1) * m)));
    }
  });
});

describe("a real v3 file: breast_cancer's raw features (test/fixtures/inquant), rankgate quantize --input-quant auto", () => {
  let dir = "";
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it("the job of its 114 held-out samples equals the TS reference byte for byte; inspect lists its 30 features", async () => {
    dir = mkdtempSync(join(tmpdir(), "rankgate-v3-bc-"));
    const FIX = join(ROOT, "test", "fixtures", "inquant");
    const float = join(dir, "bc.safetensors"), rgm = join(dir, "bc.rgm");
    writeFileSync(float, checkpointBytes(importOnnx(new Uint8Array(readFileSync(join(FIX, "bc-norm.onnx"))), join(FIX, "bc-norm.onnx"))));
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      await quantizeCommand({ float, output: rgm, data: join(FIX, "bc-val.npz"), gates: true, calibration: 1000, quiet: true });
    } finally {
      err.mockRestore();
      log.mockRestore();
    }
    const bytes = new Uint8Array(readFileSync(rgm));
    expect(bytes[4]).toBe(3);
    const { model } = readModel(bytes);
    const test = loadDataset({ data: join(FIX, "bc-test.npz") });
    expect(test.count).toBe(114);
    const x = test.features.subarray(0, 114 * 30);
    const engine = await Engine.load(bytes, { module: "mvp" });
    const job = engineJob(engine, x);
    const calls = decodeOutput(job, await runJob(new WebAssembly.Module(new Uint8Array(readFileSync(join(ROOT, "build", "rankgate-mvp.wasm")))), job));
    expect(new Int8Array(calls.flatMap((c) => Array.from(c.logits)))).toEqual(referenceLogits(model, x));
    const r = spawnSync(process.execPath, [join(ROOT, "cli", "bin", "rankgate.js"), "inspect", rgm, "--json"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect([info.version, info.input.mode, info.input.features.length]).toEqual([3, "per-feature", 30]);
    expect(info.input.features.map((f: { scale: number }) => f.scale)).toEqual(Array.from(model.inputFeatures!.scale));
  }, 60_000);
});
