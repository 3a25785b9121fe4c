// toolchain/quantize/permute.ts: a hidden-unit permutation changes no logit byte (every schedule, batch 1 and batched), moves each
// hidden activation to its new position, and the co-activation order packs co-active units into the same chunk.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { readModel } from "../runtime/src/format.ts";
import { quantizeCommand } from "../cli/src/commands/quantize.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { checkpointBytes } from "../toolchain/train/training-checkpoint.ts";
import type { QuantModel } from "../runtime/src/model.ts";
import { Engine, type RunOptions } from "../runtime/src/runtime.ts";
import { chunksKept, coactiveOrder, permuteForZeroSkip, permuteHidden, unitActivity } from "../toolchain/quantize/permute.ts";
import { Rng } from "../toolchain/model/random.ts";
import { buildSynthetic, syntheticFloat, syntheticInputs } from "../toolchain/model/synthetic.ts";

const SCHEDULES: RunOptions[] = [
  { gating: true, zeroSkip: true }, { gating: true, zeroSkip: false }, { gating: false, zeroSkip: true },
  { gating: true, zeroSkip: true, simd: false }, { gating: false, simd: false },
];

function shuffle(rng: Rng, n: number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Every schedule's logits and labels of both models, batch 1 and one batch, byte for byte. */
async function expectSameLogits(a: QuantModel, b: QuantModel, x: Float32Array, count: number): Promise<void> {
  const ea = await Engine.fromModel(a), eb = await Engine.fromModel(b);
  const n = ea.inputSize;
  for (const opt of SCHEDULES) {
    const ba = ea.inferBatch(x, opt), bb = eb.inferBatch(x, opt);
    expect(Buffer.from(bb.logits.buffer).equals(Buffer.from(ba.logits.buffer)), JSON.stringify(opt)).toBe(true);
    expect(bb.labels).toEqual(ba.labels);
    for (let s = 0; s < count; s++) {
      const one = x.subarray(s * n, (s + 1) * n);
      expect(eb.infer(one, opt).logits, `sample ${s} ${JSON.stringify(opt)}`).toEqual(ea.infer(one, opt).logits);
    }
    // Computed rows do not depend on the order (only the chunks do)
    if (opt.gating !== false) expect(bb.stats.layers.map((l) => l.rowsComputed)).toEqual(ba.stats.layers.map((l) => l.rowsComputed));
  }
}

describe("permuteHidden", () => {
  const shapes: [number[], number[]][] = [
    [[13, 17, 9, 5], [4, 3, 0]], [[31, 40, 33, 10], [6, 5, 0]], [[8, 1, 3], [0, 0]], [[20, 64, 7], [9, 0]], [[5, 9, 11, 13, 4], [2, 3, 4, 0]],
  ];
  it.each(shapes)("random permutations of %j (ranks %j) give the same logits byte for byte, and move each activation with its unit", async (sizes, ranks) => {
    const { model, rng } = buildSynthetic({ sizes, ranks, seed: sizes.length * 100 + sizes[1] });
    const count = 24;
    const x = syntheticInputs(rng, count, sizes[0], 0.6);
    const perms = model.layers.slice(0, -1).map((l) => shuffle(rng, l.nOut));
    const permuted = permuteHidden(model, perms);
    await expectSameLogits(model, permuted, x, count);
    // Trace: hidden activation k of the permuted model is activation perms[l][k] of the original
    const ta = await Engine.fromModel(model, { trace: true }), tb = await Engine.fromModel(permuted, { trace: true });
    for (let s = 0; s < 4; s++) {
      const one = x.subarray(s * sizes[0], (s + 1) * sizes[0]);
      ta.infer(one);
      tb.infer(one);
      const ia = ta.lastTrace().inputs, ib = tb.lastTrace().inputs;
      for (let l = 0; l + 1 < model.layers.length; l++) expect(ib[l + 1]).toEqual(Int8Array.from(perms[l], (u) => ia[l + 1][u]));
    }
    // The original is not modified
    expect(permuted.layers[0].weights).not.toBe(model.layers[0].weights);
  });

  it("leaves block-gated layers in place and refuses to move their units", async () => {
    const { model, rng } = buildSynthetic({ sizes: [24, 32, 16, 6], ranks: [0, 4, 0], gates: [8, 0, 0], seed: 7 });
    expect(model.layers[0].gate).toBeTruthy();
    const x = syntheticInputs(rng, 40, 24, 0.5);
    const { model: permuted, perms } = await permuteForZeroSkip(model, x, 40);
    expect(perms[0]).toBeNull();
    expect(perms[1]).not.toBeNull();
    await expectSameLogits(model, permuted, x, 8);
    expect(() => permuteHidden(model, [shuffle(rng, 32), null])).toThrow("layer 0 has a block gate");
  });

  it("names the layer of a permutation that is not one", () => {
    const { model } = buildSynthetic({ sizes: [6, 5, 3], ranks: [2, 0] });
    expect(() => permuteHidden(model, [Int32Array.of(0, 1, 2, 3)])).toThrow("layer 0: permutation of length 4, expected 5");
    expect(() => permuteHidden(model, [Int32Array.of(0, 1, 2, 3, 3)])).toThrow("layer 0: 3 is not a unit or appears twice");
    expect(() => permuteHidden(model, [Int32Array.of(0, 1, 2, 3, 5)])).toThrow("layer 0: 5 is not a unit");
  });
});

describe("coactiveOrder", () => {
  it("packs units that fire together into one chunk: 16 alternating units on two halves of 64 samples keep 1/2 the chunks, not all", () => {
    const units = 16, samples = 64, words = 2;
    const bits = new Uint32Array(units * words);
    // Even units fire on samples 0..31 (word 0), odd units on 32..63 (word 1)
    for (let u = 0; u < units; u++) bits[u * words + (u & 1)] = 0xffffffff;
    const perm = coactiveOrder(bits, units, words);
    expect([...perm].sort((a, b) => a - b)).toEqual([...Array(units).keys()]);
    expect(chunksKept(bits, units, words, samples, null)).toBe(1);
    expect(chunksKept(bits, units, words, samples, perm)).toBe(0.5);
    expect(new Set([...perm.subarray(0, 8)].map((u) => u & 1)).size).toBe(1);
  });

  it("puts never-active units last, in their order", () => {
    const units = 12, words = 1;
    const bits = new Uint32Array(units);
    bits[3] = 0b1;
    bits[7] = 0b11;
    bits[10] = 0b110;
    const perm = coactiveOrder(bits, units, words);
    expect([...perm.subarray(3)]).toEqual([0, 1, 2, 4, 5, 6, 8, 9, 11]);
    expect(perm[0]).toBe(7);
  });

  it("keeps no more chunks than the file's order on the samples it was fitted to (a synthetic net)", async () => {
    const { model, rng } = buildSynthetic({ sizes: [40, 96, 64, 10], ranks: [8, 6, 0], seed: 3 });
    const x = syntheticInputs(rng, 128, 40, 0.7);
    const { model: permuted, report } = await permuteForZeroSkip(model, x, 128);
    for (const r of report.layers) expect(r!.after).toBeLessThanOrEqual(r!.before);
    // The report's "after" is what the permuted model's activity gives in file order
    const act = await unitActivity(permuted, x, 128);
    report.layers.forEach((r, l) => expect(chunksKept(act.layers[l], model.layers[l].nOut, act.words, 128, null)).toBeCloseTo(r!.after, 12));
  });
});

describe("rankgate quantize: the unit order", () => {
  const dir = mkdtempSync(join(tmpdir(), "rg-permute-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is on by default: the same logits as --no-permute on held-out digits, fewer chunks kept, both figures in the report", async () => {
    const float = join(dir, "f.safetensors");
    writeFileSync(float, checkpointBytes(syntheticFloat(new Rng(5), [784, 64, 32, 10])));
    const quiet = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      for (const [name, permute] of [["p", undefined], ["n", false]] as const) {
        await quantizeCommand({ float, output: join(dir, `${name}.rgm`), data: "mnist:val", samples: 500, ranks: [8, 4], gates: true, calibration: 300, quiet: true, permute });
      }
    } finally {
      quiet.mockRestore();
    }
    const report = JSON.parse(readFileSync(join(dir, "p.report.json"), "utf8"));
    expect(JSON.parse(readFileSync(join(dir, "n.report.json"), "utf8")).permute).toBeNull();
    expect(report.permute).toMatchObject({ fit_samples: 300, held_out_samples: 200 });
    expect(report.permute.chunks_kept).toHaveLength(2);
    for (const c of report.permute.chunks_kept) {
      expect(c.fit.after).toBeLessThan(c.fit.before);
      expect(c.held_out.after).toBeGreaterThan(0);
    }
    const a = readModel(readFileSync(join(dir, "p.rgm"))).model, b = readModel(readFileSync(join(dir, "n.rgm"))).model;
    expect(Buffer.from(a.layers[0].weights.buffer).equals(Buffer.from(b.layers[0].weights.buffer))).toBe(false);
    const test = loadMnist("test", { limit: 64 });
    await expectSameLogits(b, a, toFloatInputs(test.images, test.count), 4);
  });
});
