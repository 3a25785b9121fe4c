import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../runtime/src/errors.ts";
import { loadMnist, type MnistSet } from "../toolchain/data/mnist.ts";
import { svdFactors } from "../toolchain/quantize/quantize.ts";
import { Rng } from "../toolchain/model/random.ts";
import { loadCheckpoint, saveCheckpoint } from "../toolchain/train/training-checkpoint.ts";
import { evaluateConditional, forwardConditional } from "../toolchain/train/condnet.ts";
import { learnEstimators, signLossGrad, svdEstimators } from "../toolchain/train/learned-estimator.ts";
import { initTf } from "../toolchain/train/tfjs.ts";
import { initModel } from "../toolchain/train/trainer.ts";

const tmp = mkdtempSync(join(tmpdir(), "rankgate-est-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let train: MnistSet;
beforeAll(async () => {
  await initTf("wasm");
  train = loadMnist("train", { limit: 1000 });
});

/** A frozen random ReLU net: the estimator's task (sign of each pre-activation) does not need a trained one. */
const net = () => initModel([784, 64, 48, 10], new Rng(7));

describe("signLossGrad", () => {
  it("is the gradient of the weighted logistic loss (finite differences)", () => {
    const rng = new Rng(2);
    const logits = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => 2 * rng.normal()));
    const y = logits.map((r) => r.map(() => (rng.next() < 0.5 ? 1 : 0)));
    const sp = (v: number) => Math.log1p(Math.exp(v));
    const loss = (l: number[][]) => l.reduce((a, r, i) => a + r.reduce((b, v, j) => b + (y[i][j] ? 3 * sp(-v) : sp(v)), 0), 0) / 12;
    const lt = tf.tensor2d(logits), yt = tf.tensor2d(y);
    const [g, l] = signLossGrad(lt, yt, 3);
    expect(l.dataSync()[0]).toBeCloseTo(loss(logits), 5);
    const grad = g.arraySync();
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) {
      const up = logits.map((r) => [...r]), dn = logits.map((r) => [...r]);
      up[i][j] += 1e-4;
      dn[i][j] -= 1e-4;
      expect(grad[i][j]).toBeCloseTo((loss(up) - loss(dn)) / 2e-4, 4);
    }
    tf.dispose([lt, yt, g, l]);
  });
});

describe("learnEstimators", () => {
  it("starts from the exact truncated SVD with zero offsets", () => {
    const m = net();
    const s = svdEstimators(m, [4, 0]);
    const f = svdFactors(m.layers[0].weight, 784, 64, 4);
    expect([...s.layers[0].estimator!.at]).toEqual([...Float32Array.from(f.at)]);
    expect([...s.layers[0].estimator!.bt]).toEqual([...Float32Array.from(f.bt)]);
    expect(s.layers[0].estimator!.offset.every((v) => v === 0)).toBe(true);
    expect(s.layers[1].estimator).toBeUndefined();
    expect(s.layers[2].estimator).toBeUndefined();
  });

  it("raises recall over the SVD init at the SVD's computed fraction", async () => {
    const m = net();
    const r = await learnEstimators({ model: m, ranks: [4, 4], epochs: 4, batchSize: 50, lr: 3e-3, wPos: 4, match: "svd", train, seed: 1 });
    const learned = await evaluateConditional(r.model, train);
    const svd = await evaluateConditional(r.svdModel, train);
    for (let l = 0; l < 2; l++) {
      expect(Math.abs(learned.computed[l] - svd.computed[l])).toBeLessThan(0.01);
      expect(learned.recall[l]).toBeGreaterThan(svd.recall[l] + 0.03);
    }
    // The shifted offsets are what the checkpoint keeps
    expect(r.shifts.every((s) => Number.isFinite(s))).toBe(true);
    expect(r.model.layers[0].estimator!.rank).toBe(4);
  }, 30_000);

  it("w_pos trades computed units for recall", async () => {
    const m = net();
    const run = async (wPos: number) => {
      const r = await learnEstimators({ model: m, ranks: [4, 0], epochs: 3, batchSize: 50, lr: 3e-3, wPos, match: "none", train, seed: 1 });
      return evaluateConditional(r.model, train);
    };
    const lo = await run(1), hi = await run(8);
    expect(hi.computed[0]).toBeGreaterThan(lo.computed[0]);
    expect(hi.recall[0]).toBeGreaterThan(lo.recall[0]);
    expect(hi.computed[1]).toBe(1);
  }, 30_000);

  it("continues from init estimators of the same rank (warm start); others start from the SVD", async () => {
    const m = net();
    const first = await learnEstimators({ model: m, ranks: [4, 3], epochs: 1, batchSize: 50, lr: 3e-3, match: "none", train, seed: 1 });
    // With a learning rate too small to move anything, the result is the start: init's layer 0, SVD for layer 1 (rank differs)
    const init = { layers: first.model.layers.map((l, i) => (i === 1 ? { ...l, estimator: svdEstimators(m, [0, 2]).layers[1].estimator } : l)) };
    const still = await learnEstimators({ model: m, ranks: [4, 3], epochs: 1, batchSize: 500, lr: 1e-30, match: "none", train, seed: 2, init });
    const e0 = still.model.layers[0].estimator!, f0 = first.model.layers[0].estimator!;
    expect([...e0.at]).toEqual([...f0.at]);
    expect([...e0.bt]).toEqual([...f0.bt]);
    expect([...e0.offset]).toEqual([...f0.offset]);
    expect(f0.offset.some((v) => v !== 0)).toBe(true);
    expect([...still.model.layers[1].estimator!.at]).toEqual([...first.svdModel.layers[1].estimator!.at]);
  }, 30_000);

  it("rejects bad options", async () => {
    await expect(learnEstimators({ model: net(), ranks: [4], train })).rejects.toThrow(UserError);
    await expect(learnEstimators({ model: net(), ranks: [4, 100], train })).rejects.toThrow(/ranks\[1\]/);
    await expect(learnEstimators({ model: net(), ranks: [4, 4], wPos: 0, train })).rejects.toThrow(/wPos/);
  });

  it("estimators survive a checkpoint round trip and gate as Σ(s·a)·b + bias + offset > 0", async () => {
    const m = svdEstimators(net(), [4, 3]);
    const rng = new Rng(5);
    m.layers[0].estimator!.offset.forEach((_, j, o) => (o[j] = rng.normal()));
    const path = join(tmp, "est.safetensors");
    saveCheckpoint(m, path, { estimator: { wPos: 4 } });
    const back = loadCheckpoint(path);
    for (const l of [0, 1]) {
      const a = m.layers[l].estimator!, b = back.model.layers[l].estimator!;
      expect(b.rank).toBe(a.rank);
      expect([...b.at]).toEqual([...a.at]);
      expect([...b.bt]).toEqual([...a.bt]);
      expect([...b.offset]).toEqual([...a.offset]);
    }
    expect(back.metadata.estimator).toEqual({ wPos: 4 });
    // Batched evaluation and the per-sample reference agree on predictions
    const data = { images: train.images.subarray(0, 100 * 784), labels: train.labels.subarray(0, 100), count: 100 };
    const e = await evaluateConditional(back.model, data);
    let errors = 0;
    for (let s = 0; s < 100; s++) {
      const x = Array.from(train.images.subarray(s * 784, s * 784 + 784), (v) => v / 255);
      const { logits } = forwardConditional(back.model, x);
      if (logits.indexOf(Math.max(...logits)) !== train.labels[s]) errors++;
    }
    expect(e.error).toBe(errors / 100);
    expect(e.computed[0]).toBeLessThan(1);
  });
});
