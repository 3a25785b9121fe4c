// Determinism: the same seed gives byte-identical .rgm files, in process and through the CLI.
// (The train half, train → quantize with one seed, is added when toolchain/train/trainer.ts lands.)
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeModel } from "../runtime/src/format.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { Quantizer } from "../toolchain/quantize/quantize.ts";
import { Rng } from "../toolchain/model/random.ts";
import { buildSynthetic, syntheticFloat } from "../toolchain/model/synthetic.ts";
import { checkpointBytes } from "../toolchain/train/training-checkpoint.ts";

const BIN = join(import.meta.dirname, "../cli/bin/rankgate.js");
const tmp = mkdtempSync(join(tmpdir(), "rankgate-determinism-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const calib = toFloatInputs(loadMnist("val", { limit: 200 }).images, 200);
function quantized(seed: number): Uint8Array {
  const float = syntheticFloat(new Rng(seed), [784, 32, 16, 10]);
  return writeModel(new Quantizer(float, calib, 200, { min: 0, max: 1 }).model({ ranks: [6, 3], margins: [0.1, 0] }));
}

describe("same seed, same bytes", () => {
  it("synthetic float → quantize → .rgm is byte-identical for one seed and differs for another", () => {
    const a = quantized(9), b = quantized(9), c = quantized(10);
    expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(c).equals(Buffer.from(a))).toBe(false);
    const s1 = buildSynthetic({ sizes: [30, 20, 5], ranks: [4], seed: 3 }).bytes, s2 = buildSynthetic({ sizes: [30, 20, 5], ranks: [4], seed: 3 }).bytes;
    expect(Buffer.from(s2).equals(Buffer.from(s1))).toBe(true);
  });

  it("rankgate quantize twice on one checkpoint writes identical .rgm, .h, .c and report (but its timing)", () => {
    const float = syntheticFloat(new Rng(21), [784, 24, 12, 10]);
    writeFileSync(join(tmp, "float.safetensors"), checkpointBytes(float));
    const outputs = ["a", "b"].map((run) => {
      const dir = join(tmp, run);
      mkdirSync(dir);
      const r = spawnSync(process.execPath, [BIN, "quantize", "--float", "../float.safetensors", "-o", "m.rgm", "--ranks", "5,3", "--calibration", "300", "-q"], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(readFileSync(join(dir, "m.report.json"), "utf8"));
      delete report.seconds;
      return { rgm: readFileSync(join(dir, "m.rgm")), header: readFileSync(join(dir, "m.h"), "utf8"), source: readFileSync(join(dir, "m.c"), "utf8"), report };
    });
    expect(outputs[1].rgm.equals(outputs[0].rgm)).toBe(true);
    expect(outputs[1].header).toBe(outputs[0].header);
    expect(outputs[1].source).toBe(outputs[0].source);
    expect(outputs[1].report).toEqual(outputs[0].report);
  });
});
