import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Matrix, QrDecomposition, SingularValueDecomposition } from "ml-matrix";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FormatError, UserError } from "../runtime/src/errors.ts";
import { loadMnist, toFloatInputs, type MnistSet } from "../toolchain/data/mnist.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { svdFactors } from "../toolchain/quantize/quantize.ts";
import { Rng } from "../toolchain/model/random.ts";
import { writeSafetensors } from "../toolchain/io/safetensors-file.ts";
import { loadCheckpoint, parseCheckpoint, saveCheckpoint } from "../toolchain/train/training-checkpoint.ts";
import { JsCompute } from "../toolchain/train/compute.ts";
import { gemmNT_f32, gemmNT_f32_ref, transpose_f32 } from "../toolchain/train/gemm.ts";
import { topKSvd } from "../toolchain/train/svd.ts";
import { initTf, TfCompute } from "../toolchain/train/tfjs.ts";
import { evaluateFloat, initModel, trainMlp, type TrainOptions } from "../toolchain/train/trainer.ts";

const tmp = mkdtempSync(join(tmpdir(), "rankgate-train-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let train: MnistSet, val: MnistSet;
beforeAll(() => {
  const all = loadMnist("train", { limit: 700 });
  train = { ...all, images: all.images.slice(0, 500 * 784), labels: all.labels.slice(0, 500), count: 500 };
  val = { ...all, images: all.images.slice(500 * 784), labels: all.labels.slice(500), count: 200 };
});

const randomArray = (n: number, rng: Rng, scale = 1) => Float32Array.from({ length: n }, () => rng.normal() * scale);
const bytesOf = (m: FloatModel) => m.layers.flatMap((l) => [Buffer.from(l.weight.buffer, l.weight.byteOffset, l.weight.byteLength), Buffer.from(l.bias.buffer)]);

/** weight [nOut][nIn] of Wᵀ = U diag(σ) Vᵀ with σ_i = decay^i and random orthonormal U, V. */
function spectrumWeight(nIn: number, nOut: number, decay: number, rng: Rng): { weight: Float32Array; sigma: number[] } {
  const r = Math.min(nIn, nOut);
  const orth = (rows: number) => new QrDecomposition(new Matrix(Array.from({ length: rows }, () => Array.from({ length: r }, () => rng.normal())))).orthogonalMatrix;
  const u = orth(nIn), v = orth(nOut);
  const sigma = Array.from({ length: r }, (_, i) => decay ** i);
  const weight = new Float32Array(nIn * nOut);
  for (let j = 0; j < nOut; j++) {
    for (let i = 0; i < nIn; i++) {
      let s = 0;
      for (let c = 0; c < r; c++) s += u.get(i, c) * sigma[c] * v.get(j, c);
      weight[j * nIn + i] = s;
    }
  }
  return { weight, sigma };
}

/** A·B as nIn × nOut (row-major) from at [k][nIn], bt [nOut][k]. */
function product(at: ArrayLike<number>, bt: ArrayLike<number>, nIn: number, nOut: number): Float64Array {
  const k = at.length / nIn, out = new Float64Array(nIn * nOut);
  for (let i = 0; i < nIn; i++) for (let j = 0; j < nOut; j++) {
    let s = 0;
    for (let r = 0; r < k; r++) s += at[r * nIn + i] * bt[j * k + r];
    out[i * nOut + j] = s;
  }
  return out;
}

const frobenius = (a: ArrayLike<number>, b?: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - (b ? b[i] : 0)) ** 2;
  return Math.sqrt(s);
};

describe("topKSvd", () => {
  it("matches ml-matrix's full SVD: singular values and the rank-k product", () => {
    const nIn = 70, nOut = 90, k = 8;
    const { weight } = spectrumWeight(nIn, nOut, 0.8, new Rng(11));
    const f = topKSvd(weight, nIn, nOut, k, new Rng(12));
    const wt = new Matrix(nIn, nOut);
    for (let j = 0; j < nOut; j++) for (let i = 0; i < nIn; i++) wt.set(i, j, weight[j * nIn + i]);
    const exact = new SingularValueDecomposition(wt, { autoTranspose: true }).diagonal;
    for (let r = 0; r < k; r++) expect(Math.abs(f.singular[r] - exact[r]) / exact[r]).toBeLessThan(1e-6);
    const ref = svdFactors(weight, nIn, nOut, k);
    const approx = product(f.at, f.bt, nIn, nOut), truth = product(ref.at, ref.bt, nIn, nOut);
    expect(frobenius(approx, truth) / frobenius(truth)).toBeLessThan(1e-5);
  });

  it("is exact at full rank and deterministic for one rng seed", () => {
    const nIn = 24, nOut = 17, rng = new Rng(3);
    const weight = randomArray(nIn * nOut, rng);
    const f = topKSvd(weight, nIn, nOut, nOut, new Rng(4));
    const wt = new Float64Array(nIn * nOut);
    for (let j = 0; j < nOut; j++) for (let i = 0; i < nIn; i++) wt[i * nOut + j] = weight[j * nIn + i];
    expect(frobenius(product(f.at, f.bt, nIn, nOut), wt) / frobenius(wt)).toBeLessThan(1e-6);
    expect(topKSvd(weight, nIn, nOut, nOut, new Rng(4)).at).toEqual(f.at);
    expect(() => topKSvd(weight, nIn, nOut, nOut + 1, rng)).toThrow(RangeError);
  });
});

describe("gemmNT_f32", () => {
  it("equals the plain loop on odd sizes", () => {
    const rng = new Rng(5);
    for (const [m, n, k] of [[1, 1, 1], [2, 3, 5], [7, 8, 15], [16, 17, 31], [33, 5, 2], [4, 4, 4]]) {
      const a = randomArray(m * k, rng), b = randomArray(n * k, rng);
      const c = new Float32Array(m * n), ref = new Float32Array(m * n);
      gemmNT_f32(a, b, c, m, n, k);
      gemmNT_f32_ref(a, b, ref, m, n, k);
      for (let i = 0; i < c.length; i++) expect(c[i], `[${m},${n},${k}] at ${i}`).toBeCloseTo(ref[i], 4);
    }
  });

  it("transposes", () => {
    const x = Float32Array.from({ length: 9 * 13 }, (_, i) => i), out = new Float32Array(x.length);
    transpose_f32(x, 9, 13, out);
    for (let r = 0; r < 9; r++) for (let c = 0; c < 13; c++) expect(out[c * 9 + r]).toBe(x[r * 13 + c]);
  });
});

describe("computes", () => {
  it("js and TF.js wasm take the same steps, with and without the estimator", async () => {
    await initTf("wasm");
    const model = initModel([784, 40, 24, 10], new Rng(8));
    const x = toFloatInputs(train.images, 300);
    const factors = [topKSvd(model.layers[0].weight, 784, 40, 6, new Rng(9)), null];
    for (const f of [[], factors]) {
      const cs = [new JsCompute(), new TfCompute("wasm")];
      for (const c of cs) {
        c.load(model);
        c.setFactors(f);
      }
      let live = 0;
      for (let s = 0; s < 3; s++) {
        if (s === 1) live = tf.memory().numTensors;
        const [a, b] = cs.map((c) => c.step(x.subarray(s * 100 * 784), train.labels.subarray(s * 100), 100, { lr: 0.05, momentum: 0.9, l1: [1e-3, 3e-3] }));
        expect(Math.abs(a - b)).toBeLessThan(1e-5);
      }
      expect(tf.memory().numTensors, "tensors leaked by a step").toBe(live);
      const [ma, mb] = cs.map((c) => c.save());
      ma.layers.forEach((l, i) => {
        for (let j = 0; j < l.weight.length; j++) expect(Math.abs(l.weight[j] - mb.layers[i].weight[j])).toBeLessThan(1e-5);
      });
      const [ea, eb] = cs.map((c) => c.evaluate(x, train.labels, 300));
      expect(ea.errors).toBe(eb.errors);
      expect(ea.layers).toEqual(eb.layers);
      for (const c of cs) c.dispose();
    }
  });
});

describe("trainMlp", () => {
  const tiny = (extra: TrainOptions = {}): TrainOptions => ({ sizes: [784, 32, 10], epochs: 2, batchSize: 50, lr: 0.05, train, val, ...extra });

  it("is deterministic: same seed, byte-identical weights; another seed differs", async () => {
    for (const compute of ["wasm", "js"] as const) {
      const a = await trainMlp(tiny({ seed: 7, compute, l1: 1e-4, ranks: [8] }));
      const b = await trainMlp(tiny({ seed: 7, compute, l1: 1e-4, ranks: [8] }));
      const c = await trainMlp(tiny({ seed: 8, compute, l1: 1e-4, ranks: [8] }));
      expect(Buffer.concat(bytesOf(a.model)).equals(Buffer.concat(bytesOf(b.model))), compute).toBe(true);
      expect(Buffer.concat(bytesOf(a.model)).equals(Buffer.concat(bytesOf(c.model))), compute).toBe(false);
      expect(a.history).toHaveLength(2);
    }
  });

  it("lowers the loss and reports progress", async () => {
    const batches: number[] = [], epochs: number[] = [];
    const r = await trainMlp(tiny({ epochs: 3, onBatch: (p) => batches.push(p.batch), onEpoch: (e) => epochs.push(e.epoch) }));
    expect(r.history[2].loss).toBeLessThan(r.history[0].loss);
    expect(r.valError).toBeLessThan(0.3);
    expect(batches).toHaveLength(30);
    expect(epochs).toEqual([1, 2, 3]);
    expect(r.history[r.bestEpoch - 1].valError).toBe(r.valError);
    expect(Math.min(...r.history.map((h) => h.valError))).toBe(r.valError);
  });

  it("gives no gradient to units the estimator masks, though their pre-activation is positive", async () => {
    // Unit 0 = ε·(top-half ink) ⟂ units 1, 2 = bottom-half ink: rank 1 keeps only the latter, so unit 0's
    // estimate is its bias (−1e-3 < 0) while its pre-activation is mostly positive.
    const initial = initModel([784, 3, 10], new Rng(2));
    const w0 = initial.layers[0].weight;
    for (let i = 0; i < 784; i++) {
      const top = i < 392;
      w0[i] = top ? 0.05 : 0;
      w0[784 + i] = w0[2 * 784 + i] = top ? 0 : 0.1;
    }
    initial.layers[0].bias.set([-1e-3, 0, 0]);
    for (const ranks of [[1], undefined]) {
      const r = await trainMlp(tiny({ initial, epochs: 1, ranks, lr: 0.01 }));
      const w = r.model.layers[0].weight;
      const row = (j: number) => w.subarray(j * 784, (j + 1) * 784);
      if (ranks) {
        expect(Buffer.from(row(0).buffer, row(0).byteOffset, 784 * 4).equals(Buffer.from(w0.buffer, 0, 784 * 4))).toBe(true);
        expect(r.model.layers[0].bias[0]).toBe(Math.fround(-1e-3));
        expect(r.history[0].computed[0]).toBeLessThan(0.7);
      } else expect(row(0)).not.toEqual(w0.subarray(0, 784));
      expect(row(1)).not.toEqual(w0.subarray(784, 2 * 784));
    }
  });

  it("at full rank the mask is (pre-activation > 0) up to rounding", async () => {
    const model = initModel([784, 32, 10], new Rng(4));
    const l = model.layers[0];
    l.bias.set(randomArray(32, new Rng(5), 0.3));
    const f = topKSvd(l.weight, 784, 32, 32, new Rng(6));
    const x = toFloatInputs(train.images, 200);
    let mismatches = 0, scale = 0;
    for (let s = 0; s < 200; s++) {
      for (let j = 0; j < 32; j++) {
        let z = l.bias[j], e = l.bias[j];
        for (let i = 0; i < 784; i++) z += x[s * 784 + i] * l.weight[j * 784 + i];
        for (let r = 0; r < 32; r++) {
          let t = 0;
          for (let i = 0; i < 784; i++) t += x[s * 784 + i] * f.at[r * 784 + i];
          e += t * f.bt[j * 32 + r];
        }
        scale = Math.max(scale, Math.abs(z));
        expect(Math.abs(e - z)).toBeLessThan(1e-4 * Math.max(1, Math.abs(z)));
        if (e > 0 !== z > 0) mismatches++;
      }
    }
    expect(mismatches).toBeLessThanOrEqual(1);
    // Through the float32 compute
    const ev = await evaluateFloat(model, train.images.subarray(0, 200 * 784), train.labels.subarray(0, 200), { factors: [f] });
    expect(ev.recall[0]).toBeGreaterThan(0.999);
    expect(Math.abs(ev.computed[0] - ev.density[0])).toBeLessThan(1e-3);
    expect(ev.macFraction).toBeGreaterThan(1);
  });

  it("rejects bad options with a plain message", async () => {
    await expect(trainMlp(tiny({ ranks: [33] }))).rejects.toThrow(/ranks\[0\] must be an integer in \[0, 32\]/);
    await expect(trainMlp(tiny({ lr: -1 }))).rejects.toThrow(/lr must be a positive number/);
  });
});

describe("evaluateFloat", () => {
  it("dense: everything computed, error in [0, 1]", async () => {
    const model = initModel([784, 16, 10], new Rng(1));
    const e = await evaluateFloat(model, val.images, val.labels, { compute: "js" });
    expect(e.count).toBe(200);
    expect(e.computed).toEqual([1]);
    expect(e.recall).toEqual([1]);
    expect(e.macFraction).toBe(1);
    expect(e.error).toBeGreaterThan(0.5);
  });
});

describe("checkpoints", () => {
  const model = initModel([784, 20, 10], new Rng(3));
  model.layers[0].bias.set(randomArray(20, new Rng(4)));

  it("round-trips weights and metadata", () => {
    const path = join(tmp, "m.safetensors");
    saveCheckpoint(model, path, { ranks: [5], seed: 3, epochs: 2, l1: 1e-4, valError: 0.0123 });
    const { model: back, metadata } = loadCheckpoint(path);
    expect(Buffer.concat(bytesOf(back)).equals(Buffer.concat(bytesOf(model)))).toBe(true);
    expect(metadata).toMatchObject({ sizes: [784, 20, 10], ranks: [5], seed: 3, epochs: 2, l1: 1e-4, valError: 0.0123, format: "rankgate-float-mlp/1" });
  });

  it("reads a torch nn.Sequential state_dict ({2i}.weight) and names a missing tensor", () => {
    const t = (l: number) => model.layers[l];
    const torch = writeSafetensors({
      "0.weight": { dtype: "F32", shape: [20, 784], data: t(0).weight }, "0.bias": { dtype: "F32", shape: [20], data: t(0).bias },
      "2.weight": { dtype: "F32", shape: [10, 20], data: t(1).weight }, "2.bias": { dtype: "F32", shape: [10], data: t(1).bias },
    });
    expect(Buffer.concat(bytesOf(parseCheckpoint(torch, "torch.safetensors", { activation: "relu" }).model)).equals(Buffer.concat(bytesOf(model)))).toBe(true);
    const broken = writeSafetensors({ "layers.0.weight": { dtype: "F32", shape: [20, 784], data: t(0).weight } });
    expect(() => parseCheckpoint(broken, "b.safetensors")).toThrow(UserError);
    expect(() => parseCheckpoint(broken, "b.safetensors")).toThrow(/layers\.0\.bias/);
  });
});
