// quantize → eval on real MNIST digits with a small random float model: the pipeline's
// bookkeeping (MAC schedules, reports, files, errors), not accuracy.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { evaluateModel } from "../toolchain/evaluate/evaluate.ts";
import { readModel, writeModel } from "../runtime/src/format.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { activationRange } from "../runtime/src/model.ts";
import { quantizeInput } from "../runtime/src/quant.ts";
import { Quantizer } from "../toolchain/quantize/quantize.ts";
import { denseRows_s8, RUN_DENSE, run_s8 } from "../runtime/src/reference.ts";
import { syntheticFloat } from "../toolchain/model/synthetic.ts";
import { Rng } from "../toolchain/model/random.ts";
import { checkpointBytes } from "../toolchain/train/training-checkpoint.ts";

const dir = mkdtempSync(join(tmpdir(), "rankgate-pipeline-"));
const float = syntheticFloat(new Rng(4), [784, 48, 24, 10]);
const floatPath = join(dir, "float.safetensors");
const cli = (...args: string[]) => spawnSync(process.execPath, [join(import.meta.dirname, "../cli/bin/rankgate.js"), ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

beforeAll(() => {
  writeFileSync(floatPath, checkpointBytes(float));
});

describe("evaluateModel", () => {
  it("MAC schedules equal an independent count from the reference's per-layer tensors", async () => {
    const test = loadMnist("test", { limit: 60 });
    const images = toFloatInputs(test.images, test.count);
    const calib = toFloatInputs(loadMnist("val", { limit: 200 }).images, 200);
    const model = new Quantizer(float, calib, 200, { min: 0, max: 1 }).model({ ranks: [6, 3] });
    const report = await evaluateModel(writeModel(model), images, test.labels, test.count, { float });
    const want = { dense: 0, gated: 0, gated_zero_skip: 0, oracle: 0, oracle_zero_skip: 0 };
    let positives0 = 0;
    const q = new Int8Array(784);
    for (let s = 0; s < test.count; s++) {
      quantizeInput(images.subarray(s * 784, (s + 1) * 784), model.layers[0].inScale, model.layers[0].inZeroPoint, q);
      for (const gating of [true, false]) {
        let a: Int8Array = q;
        model.layers.forEach((layer, l) => {
          const nz = a.filter((v) => v !== layer.inZeroPoint).length;
          const exact = new Int8Array(layer.nOut);
          denseRows_s8({ ...layer, inZp: layer.inZeroPoint, outZp: layer.outZeroPoint, ...activationRange(layer) }, a, exact);
          const pos = exact.filter((v) => v > layer.outZeroPoint).length;
          const e = layer.estimator;
          const step = run_s8({ layers: model.layers.slice(0, l + 1) }, q, gating ? 0 : RUN_DENSE);
          if (gating) {
            const computed = step.counters[l].rowsComputed;
            want.gated += step.counters[l].estimatorMacs + step.counters[l].rowMacs;
            want.gated_zero_skip += e ? nz * e.rank + e.rank * layer.nOut + computed * nz : layer.nOut * nz;
          } else {
            const relu = layer.activation === "relu";
            want.dense += layer.nIn * layer.nOut;
            want.oracle += relu ? pos * layer.nIn : layer.nIn * layer.nOut;
            want.oracle_zero_skip += relu ? pos * nz : layer.nOut * nz;
            if (l === 0) positives0 += pos;
          }
          a = step.output;
        });
      }
    }
    for (const k of Object.keys(want) as (keyof typeof want)[]) expect([k, report.macs_per_sample[k]]).toEqual([k, expect.closeTo(want[k] / test.count, 6)]);
    expect(report.layers[0].density).toBeCloseTo(positives0 / (test.count * 48), 10);
    expect(report.reference_agreement).toBe(1);
    expect(report.error.float).not.toBeNull();
    expect(report.macs_per_sample.gated_zero_skip).toBeLessThan(report.macs_per_sample.gated);
  });
});

describe("rankgate quantize / eval", () => {
  it("quantize writes the .rgm, C model files (.h, .c) and a report; eval --json prints one object", () => {
    const r = cli("quantize", "--float", floatPath, "-o", "m.rgm", "--ranks", "5,3", "--calibration", "300", "-q");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const bytes = readFileSync(join(dir, "m.rgm"));
    const parsed = readModel(bytes);
    expect(parsed.model.layers.map((l) => l.estimator?.rank ?? 0)).toEqual([5, 3, 0]);
    // C model files: the header declares (extern, a per-model guard), the .c defines once, 16-byte aligned; no paths
    const header = readFileSync(join(dir, "m.h"), "utf8"), source = readFileSync(join(dir, "m.c"), "utf8");
    expect(header).toContain("#ifndef RGM_M_H");
    expect(header).toContain(`#define RGM_M_BYTES ${bytes.length}u`);
    expect(header).toContain("extern const uint8_t rgm_m[RGM_M_BYTES];");
    expect(header).toContain("extern const size_t rgm_m_len;");
    expect(header).not.toMatch(/0x[0-9a-f]{2},/);
    expect(source).toContain('#include "m.h"');
    expect(source).toContain("__attribute__((aligned(16)))");
    expect(source).toContain("RG_MODEL_ALIGN16 const uint8_t rgm_m[RGM_M_BYTES] = {");
    for (const text of [header, source]) expect(text).not.toMatch(/m\.rgm|float\.safetensors|\/tmp|[A-Za-z]:\\/);
    const arr = source.slice(source.indexOf("= {") + 3, source.lastIndexOf("}")).match(/0x[0-9a-f]{2}/g)!.map((h) => parseInt(h, 16));
    expect(Buffer.from(arr).equals(bytes)).toBe(true);
    const report = JSON.parse(readFileSync(join(dir, "m.report.json"), "utf8"));
    expect(report.ranks).toEqual([5, 3]);
    expect(report.calibration).toMatchObject({ data: "mnist:val", samples: 300, input_range: { min: 0, max: 1 }, input_quant: { asked: "auto", mode: "per-tensor" } });
    expect(Object.keys(report.calibration).sort()).toEqual(["data", "input_quant", "input_range", "samples"]);
    expect(bytes[4]).toBe(2); // MNIST pixels share [0, 1]: auto keeps per-tensor, format v2
    expect(report.validation.samples).toBe(5000);

    const e = cli("eval", "--model", "m.rgm", "--data", "mnist:test", "--samples", "200", "--json", "-q");
    expect(e.status).toBe(0);
    const lines = e.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]);
    expect(Object.keys(out)).toEqual(expect.arrayContaining(["samples", "error", "macs_per_sample", "layers"]));
    expect(out.samples).toBe(200);
    expect(out.error.float).toBeNull();
    expect(Object.keys(out.macs_per_sample).sort()).toEqual(["dense", "gated", "gated_zero_skip", "oracle", "oracle_zero_skip"]);
    expect(out.macs_per_sample.dense).toBe(784 * 48 + 48 * 24 + 24 * 10);
    for (const k of ["n_in", "n_out", "rank", "density", "recall", "computed", "macs_dense", "macs_gated"]) expect(out.layers[0]).toHaveProperty(k);
  });

  it("--budget picks ranks whose validation error meets the target", () => {
    const r = cli("quantize", "--float", floatPath, "-o", "b.rgm", "--budget", "1", "--calibration", "200", "-q");
    expect(r.status).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, "b.report.json"), "utf8"));
    expect(report.search.target).toBeCloseTo(report.search.dense_error + 0.01, 10);
    expect(report.validation.int8_gated_error).toBeLessThanOrEqual(report.search.target + 1e-12);
    expect(report.ranks.every((k: number, l: number) => k >= 1 && k <= [48, 24][l])).toBe(true);
    expect(report.search.trials.length).toBeGreaterThan(2);
  });

  it("bad flags and files are one line and exit 1", () => {
    const cases: [string[], RegExp][] = [
      [["quantize", "--float", floatPath, "-o", "x.rgm", "--ranks", "5"], /--ranks needs 2 values/],
      [["quantize", "--float", floatPath, "-o", "x.rgm", "--ranks", "5,a"], /--ranks takes comma-separated/],
      [["quantize", "--float", floatPath, "-o", "x.rgm", "--ranks", "49,3"], /at most rank 48/],
      [["quantize", "--float", floatPath, "-o", "x.rgm", "--ranks", "5,3", "--budget", "0.1"], /exclude each other/],
      [["quantize", "--float", "nope.safetensors", "-o", "x.rgm"], /nope\.safetensors: no such file/],
      [["eval", "--model", "nope.rgm"], /nope\.rgm: no such file/],
      [["eval", "--model", floatPath], /is a float checkpoint \(safetensors\); --model takes a rankgate model/],
      [["eval", "--model", "m.rgm", "--data", "mnist:nope"], /mnist:train/],
      [["eval", "--model", "m.rgm", "--samples", "0"], /--samples must be a positive integer/],
    ];
    for (const [args, message] of cases) {
      const r = cli(...args);
      expect([args.join(" "), r.status]).toEqual([args.join(" "), 1]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
  });
});
