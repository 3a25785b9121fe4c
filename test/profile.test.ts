// Profile mode: the report's structure and its exact (non-timing) figures; no wall time is checked.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { profileEngine, quantizeArgs } from "../toolchain/evaluate/profile-stages.ts";
import { writeModel } from "../runtime/src/format.ts";
import { quantizeModelInput } from "../runtime/src/reference.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { buildSynthetic, syntheticInputs } from "../toolchain/model/synthetic.ts";

const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

describe("profileEngine", () => {
  it("reports every layer and stage; densities and computed fractions are those of the real inputs and masks", async () => {
    const { model, rng } = buildSynthetic({ sizes: [40, 33, 17, 5], ranks: [6, 0], gates: [0, 4], seed: 12, calibration: 16, inputZeros: 0.7 });
    const traced = await Engine.fromModel(model, { trace: true });
    const plain = await Engine.fromModel(model);
    const x = syntheticInputs(rng, 1, 40, 0.7);
    const p = profileEngine(traced, plain, x, 1, 2);
    expect(p.layers.map((l) => l.kind)).toEqual(["estimator r6", "gate b4", "dense"]);
    traced.infer(x);
    const trace = traced.lastTrace();
    p.layers.forEach((l, i) => {
      const layer = model.layers[i];
      expect(l.inputDensity).toBe(trace.inputs[i].filter((v) => v !== layer.inZeroPoint).length / layer.nIn);
      const mask = trace.masks[i];
      const computed = mask ? Array.from({ length: layer.nOut }, (_, j) => (mask[j >>> 5] >>> (j & 31)) & 1).reduce((a, b) => a + b, 0) : layer.nOut;
      expect(l.computed).toBe(computed / layer.nOut);
      for (const v of [l.dense, l.gated.mask, l.gated.rows, l.gated.total, l.zeroSkip.total, l.list, l.requantize]) expect(Number.isFinite(v)).toBe(true);
      if (l.kind === "dense") expect([l.gated.mask, l.zeroSkip.mask]).toEqual([0, 0]);
    });
    // The trace engine still holds the profiled sample's buffers and gives the same logits
    expect(Array.from(traced.infer(x).logits)).toEqual(Array.from(plain.infer(x).logits));
  });
});

describe("profileEngine on a v3 model (per-feature input quantization)", () => {
  it("times the quantize_f32 call the engine makes: its bytes are layer 0's input, per feature", async () => {
    const { model } = buildSynthetic({ sizes: [12, 9, 4], ranks: [3], seed: 4, calibration: 16 });
    const scale = Float32Array.from({ length: 12 }, (_, i) => Math.fround(10 ** ((i % 4) - 2) / 255));
    const offset = Float32Array.from({ length: 12 }, (_, i) => Math.fround(i % 2 ? -(10 ** ((i % 3) - 1)) : 0));
    const v3 = { ...model, inputFeatures: { scale, offset } };
    const traced = await Engine.load(writeModel(v3), { trace: true });
    const x = Float32Array.from({ length: 12 }, (_, i) => offset[i] + (37 + 13 * i) * scale[i] + 0.3 * scale[i]);
    const want = new Int8Array(12);
    quantizeModelInput(v3, x, want);
    traced.infer(x);
    expect(Array.from(traced.lastTrace().inputs[0])).toEqual(Array.from(want));
    const { kernels: k, arena } = traced.internals;
    new Float32Array(k.memory.buffer, arena.staging!.input.offset, 12).set(x);
    new Int8Array(k.memory.buffer, arena.input.offset, 12).fill(0);
    const args = quantizeArgs(traced);
    expect(args[6]).toBeGreaterThan(0);
    expect(k.quantize_f32(...args)).toBeGreaterThanOrEqual(0);
    expect(Array.from(new Int8Array(k.memory.buffer, arena.input.offset, 12))).toEqual(Array.from(want));
  });
});

describe("rankgate profile", () => {
  it("--json prints one object: four layers of models/paper.rgm and the whole-inference figures", () => {
    const r = cli("profile", "--model", "models/paper.rgm", "--samples", "3", "--reps", "2", "--json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.samples).toBe(3);
    expect(p.layers.map((l: { nIn: number; nOut: number; kind: string }) => `${l.nIn}-${l.nOut} ${l.kind}`))
      .toEqual(["784-1000 estimator r50", "1000-600 estimator r35", "600-400 estimator r25", "400-10 dense"]);
    expect(Object.keys(p.inference).sort()).toEqual(["dense", "gated", "quantize", "zeroSkip"]);
  });
  it("prints a table with a row per layer and a sum", () => {
    const r = cli("profile", "--model", "models/paper.rgm", "--samples", "2", "--reps", "1");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/784-1000/);
    expect(r.stdout).toMatch(/sum/);
    expect(r.stdout).toMatch(/whole inference/);
  });
  it("a missing model is one line and exit 1", () => {
    const r = cli("profile", "--model", "no/such.rgm");
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
