// trainPolicy's additive options (issue 26): oracle block targets, the net through the thresholded mask,
// distillation, shifts, a frozen net, the density-bounded epoch choice and the gate-bias calibration.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import type { FloatModel } from "../runtime/src/model.ts";
import { UserError } from "../runtime/src/errors.ts";
import type { MnistSet } from "../toolchain/data/mnist.ts";
import { Rng } from "../toolchain/model/random.ts";
import { blockCosts, calibrateGateBias, evaluateConditional, forwardConditional, initGates, kmeans, oracleLogitGrad, routeByCentroids, trainPolicy } from "../toolchain/train/condnet.ts";
import { initTf } from "../toolchain/train/tfjs.ts";
import { smallMnistSplit } from "./helpers/mnist-split.ts";
import { initModel } from "../toolchain/train/trainer.ts";

let train: MnistSet, val: MnistSet;
beforeAll(async () => {
  await initTf("wasm");
  ({ train, val } = smallMnistSplit());
});

const rows = (t: tf.Tensor) => t.arraySync() as number[][];
const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe("oracle targets", () => {
  it("oracleLogitGrad is the gradient of the weighted logistic loss + regularisers (finite differences)", () => {
    const rng = new Rng(7);
    const n = 4, k = 5, tau = 0.2, ls = 2, lv = 3;
    const logits = Array.from({ length: n }, () => Array.from({ length: k }, () => rng.normal()));
    const target = logits.map(() => { const t = Array<number>(k).fill(0); t[rng.int(0, k - 1)] = 1; return t; });
    const objective = (z: number[][], w: number) => {
      const s = z.map((r) => r.map((v) => 1 / (1 + Math.exp(-v))));
      let bce = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) bce -= (target[i][j] ? w * Math.log(s[i][j]) : Math.log(1 - s[i][j])) / n;
      const col = Array.from({ length: k }, (_, j) => s.reduce((a, r) => a + r[j], 0) / n);
      const lb = col.reduce((a, m) => a + Math.abs(m - tau), 0);
      const le = s.reduce((a, r) => a + Math.abs(r.reduce((x, y) => x + y, 0) / k - tau), 0) / n;
      const lvar = -col.reduce((a, m, j) => a + s.reduce((x, r) => x + (r[j] - m) ** 2, 0) / n, 0);
      return bce + ls * (lb + le) + lv * lvar;
    };
    for (const w of [1, 6]) {
      const lt = tf.tensor2d(logits), sig = tf.sigmoid(lt) as tf.Tensor2D, tt = tf.tensor2d(target);
      const g = rows(oracleLogitGrad(sig, tt, tau, ls, lv, "abs", w));
      tf.dispose([lt, sig, tt]);
      const h = 1e-4;
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) {
        const up = logits.map((r) => [...r]), dn = logits.map((r) => [...r]);
        up[i][j] += h;
        dn[i][j] -= h;
        expect(g[i][j]).toBeCloseTo((objective(up, w) - objective(dn, w)) / (2 * h), 3);
      }
    }
  });

  it("blockCosts is each block's NLL with the other blocks zeroed", () => {
    const rng = new Rng(11);
    const n = 3, nOut = 12, bs = 4, nCls = 5;
    const h = Array.from({ length: n }, () => Array.from({ length: nOut }, () => Math.max(0, rng.normal())));
    const w = Array.from({ length: nOut }, () => Array.from({ length: nCls }, () => rng.normal()));
    const b = Array.from({ length: nCls }, () => rng.normal());
    const labels = [0, 3, 4];
    const y = labels.map((l) => Array.from({ length: nCls }, (_, c) => (c === l ? 1 : 0)));
    const [ht, wt, bt, yt] = [tf.tensor2d(h), tf.tensor2d(w), tf.tensor1d(b), tf.tensor2d(y)];
    const got = rows(blockCosts(ht, wt, bt, yt, bs));
    tf.dispose([ht, wt, bt, yt]);
    for (let i = 0; i < n; i++) for (let k = 0; k < nOut / bs; k++) {
      const logits = b.map((bc, c) => bc + h[i].reduce((a, v, j) => a + (Math.floor(j / bs) === k ? v * w[j][c] : 0), 0));
      const max = Math.max(...logits), lse = max + Math.log(logits.reduce((a, v) => a + Math.exp(v - max), 0));
      expect(got[i][k]).toBeCloseTo(lse - logits[labels[i]], 4);
    }
  });
});

describe("routing gates (topK)", () => {
  it("kmeans finds two separated clusters' means; routeByCentroids sends each point to its nearest centroid", () => {
    const images = new Float32Array([0, 0, 0.1, 0, 0, 0.1, 1, 1, 0.9, 1, 1, 0.9]);
    const data = { images, labels: new Uint8Array(6), count: 6 };
    const c = kmeans(data, 2, 2, new Rng(1));
    const means = [[0.1 / 3, 0.1 / 3], [2.9 / 3, 2.9 / 3]];
    const low = c[0] < 0.5 ? 0 : 1;
    [low, 1 - low].forEach((b, m) => { expect(c[2 * b]).toBeCloseTo(means[m][0], 6); expect(c[2 * b + 1]).toBeCloseTo(means[m][1], 6); });
    const gate = { blockSize: 1, ...routeByCentroids(c, 2, 2), topK: 1 };
    const model: FloatModel = { layers: [{ nIn: 2, nOut: 2, weight: new Float32Array([1, 0, 0, 1]), bias: new Float32Array(2), gate }, { nIn: 2, nOut: 1, weight: new Float32Array([1, 1]), bias: new Float32Array(1) }] };
    for (let s = 0; s < 6; s++) {
      const nearest = s < 3 ? low : 1 - low;
      expect([...forwardConditional(model, images.subarray(2 * s, 2 * s + 2)).blocks[0]!]).toEqual([0, 1].map((b) => (b === nearest ? 1 : 0)));
    }
  });

  it("trains with route targets through the top-1 mask: exactly one block per sample, topK kept, a frozen k-means policy", async () => {
    const opts = { sizes: [784, 32, 10], blockSize: 8, epochs: 2, batchSize: 50, lrNet: 3e-3, train, val, seed: 3, topK: 1, policyLoss: "route", gateInit: "kmeans", lrPolicy: 0 } as const;
    const r = await trainPolicy(opts);
    const g = r.model.layers[0].gate!;
    expect(g.topK).toBe(1);
    expect(r.history.every((h) => h.val.blockDensity[0] === 0.25)).toBe(true);
    const c = routeByCentroids(kmeans(train, 784, 4, new Rng(3 ^ 0x1b873593)), 784, 4);
    expect(same(g.weight, c.weight) && same(g.bias, c.bias)).toBe(true);
    expect(r.val.error).toBeLessThan(0.75); // chance is 0.9
    const tested = await evaluateConditional(r.model, val);
    expect(tested.error).toBe(r.val.error);
    // The same routing one sample at a time (forwardConditional): exactly one block each
    for (let s = 0; s < 20; s++) {
      const x = Float32Array.from(val.images.subarray(s * 784, (s + 1) * 784), (v) => v / 255);
      expect(forwardConditional(r.model, x).blocks[0]!.reduce((a, b) => a + b, 0)).toBe(1);
    }
    // The policy learns when its rate is not 0
    const moved = await trainPolicy({ ...opts, epochs: 1, lrPolicy: 1e-3 });
    expect(same(moved.model.layers[0].gate!.weight, c.weight)).toBe(false);
  });

  it("refuses combinations that do not route", async () => {
    const base = { sizes: [784, 32, 10], blockSize: 8, epochs: 1, train, val } as const;
    await expect(trainPolicy({ ...base, topK: 1 })).rejects.toThrow(/policyLoss route or oracle/);
    await expect(trainPolicy({ ...base, topK: 5, policyLoss: "route" })).rejects.toThrow(/more than the 4 blocks/);
    await expect(trainPolicy({ ...base, netMask: "top", policyLoss: "oracle" })).rejects.toThrow(/netMask top needs topK/);
    await expect(trainPolicy({ ...base, policyLoss: "route" })).rejects.toThrow(/route needs topK/);
    await expect(trainPolicy({ ...base, topK: 1, policyLoss: "route", calibrateBias: true })).rejects.toThrow(/does not change a routing gate/);
    await expect(trainPolicy({ ...base, gateInit: "kmeans" })).rejects.toThrow(/kmeans needs topK/);
    await expect(trainPolicy({ ...base, topK: 1, policyLoss: "route", lrPolicy: -1 })).rejects.toThrow(UserError);
  });
});

describe("trainPolicy options", () => {
  const small = { sizes: [784, 32, 10], blockSize: 8, tau: 0.25, epochs: 2, batchSize: 50, lrNet: 3e-3, policyInitScale: 8 } as const;

  it("oracle targets, thresholded net mask, distillation and shifts: deterministic, and a frozen net stays put", async () => {
    const teacher = initModel([784, 16, 10], new Rng(5));
    const opts = { ...small, train, val, seed: 3, policyLoss: "oracle", netMask: "threshold", teacher, teacherAlpha: 0.5, teacherTemperature: 2, oracleCostWeight: 0.1, oraclePosWeight: 4, augment: { height: 28, width: 28, channels: 1, shift: 2 } } as const;
    const a = await trainPolicy(opts), b = await trainPolicy(opts);
    expect(same(a.model.layers[0].gate!.weight, b.model.layers[0].gate!.weight)).toBe(true);
    expect(same(a.model.layers[0].weight, b.model.layers[0].weight)).toBe(true);
    expect(a.history).toHaveLength(2);
    expect(a.val).toEqual(await evaluateConditional(a.model, val));
    // Frozen for both epochs: the net's weights are the initial ones, only the policy moved
    const initial = initModel([784, 32, 10], new Rng(8));
    const f = await trainPolicy({ ...small, train, val, seed: 3, initial, freezeNetEpochs: 2 });
    expect(same(f.model.layers[0].weight, initial.layers[0].weight)).toBe(true);
    expect(same(f.model.layers[1].bias, initial.layers[1].bias)).toBe(true);
    expect(f.model.layers[0].gate).toBeDefined();
  }, 60_000);

  it("complementaryPair: block 1 stays exactly block 0 negated, the others closed, one block open per sample", async () => {
    const initial = initModel([784, 32, 10], new Rng(8));
    const r = await trainPolicy({ ...small, epochs: 2, lambdaS: 0, lambdaV: 0, train, val, seed: 5, initial, complementaryPair: true, policyLoss: "oracle", oracleCostWeight: 0.1, netMask: "threshold" });
    const g = r.model.layers[0].gate!, n = 784;
    for (let i = 0; i < n; i++) expect(g.weight[n + i]).toBe(-g.weight[i]);
    expect(g.bias[1]).toBe(-g.bias[0]);
    expect(g.weight.subarray(2 * n).every((v) => v === 0)).toBe(true);
    expect([...g.bias.subarray(2)]).toEqual([-100, -100]);
    expect(g.weight.subarray(0, n).some((v) => v !== 0)).toBe(true);
    expect(r.val.blockDensity[0]).toBe(0.25); // one of 4 blocks for each of the 200 samples
    await expect(trainPolicy({ ...small, train, val, complementaryPair: true, initial: r.model })).rejects.toThrow(/without gates/);
  }, 60_000);

  it("maxBlockDensity: only epochs within the bound are chosen, else a UserError", async () => {
    const r = await trainPolicy({ ...small, epochs: 3, train, val, seed: 2, maxBlockDensity: 0.9 });
    const ok = r.history.filter((h) => h.val.blockDensity[0] <= 0.9);
    expect(ok.length).toBeGreaterThan(0);
    expect(r.val.blockDensity[0]).toBeLessThanOrEqual(0.9);
    expect(r.val.error).toBe(Math.min(...ok.map((h) => h.val.error)));
    await expect(trainPolicy({ ...small, epochs: 1, train, val, seed: 2, maxBlockDensity: 1e-6 })).rejects.toThrow(/no epoch kept the validation block density/);
  }, 60_000);

  it("calibrateBias: every epoch is judged after the gate-bias offset, within the density bound", async () => {
    const r = await trainPolicy({ ...small, epochs: 2, tau: 0.1, train, val, seed: 2, calibrateBias: true });
    for (const h of r.history) {
      expect(h.calibration).toBeDefined();
      expect(h.val.blockDensity[0]).toBeLessThanOrEqual(0.1);
    }
    const best = r.history.find((h) => h.epoch === r.bestEpoch)!;
    const g = r.model.layers[0].gate!;
    // The returned gate is the trained one shifted by the chosen offset: it reproduces the calibrated val
    expect(r.val).toEqual(best.val);
    expect(await evaluateConditional(r.model, val)).toEqual(best.val);
    expect(g.bias.length).toBe(4);
  }, 60_000);

  it("rejects option combinations that cannot work, with one-line UserErrors", async () => {
    const bad = (o: object) => expect(trainPolicy({ ...small, train, val, ...o })).rejects.toThrow(UserError);
    await bad({ policyLoss: "oracle", sizes: [784, 32, 16, 10] });
    await bad({ netMask: "threshold" });
    await bad({ netMask: "oracle" });
    await bad({ teacherAlpha: 0.5 });
    await bad({ teacher: initModel([784, 16, 10], new Rng(1)), distill: { soft: new Float32Array(5000), alpha: 0.5, temperature: 2 } });
    await bad({ teacher: initModel([784, 16, 7], new Rng(1)) });
    await bad({ maxBlockDensity: 0 });
    await bad({ calibrateInLoop: true });
    await bad({ augment: { height: 27, width: 28, channels: 1, shift: 1 } });
  });
});

describe("calibrateGateBias", () => {
  it("picks the lowest val error within the density bound; offset 0 is a candidate", async () => {
    const rng = new Rng(4);
    const model: FloatModel = initGates(initModel([784, 32, 10], rng), 8, [0.25], rng, 8);
    const c = await calibrateGateBias(model, val, 0.3);
    expect(c.tried.some((t) => t.offset === 0)).toBe(true);
    const ok = c.tried.filter((t) => t.blockDensity[0] <= 0.3);
    expect(c.val.error).toBe(Math.min(...ok.map((t) => t.error)));
    expect(c.val.blockDensity[0]).toBeLessThanOrEqual(0.3);
    expect([...c.model.layers[0].gate!.bias]).toEqual([...model.layers[0].gate!.bias].map((b) => Math.fround(b + c.offset)));
    expect(c.val).toEqual(await evaluateConditional(c.model, val));
    await expect(calibrateGateBias({ layers: model.layers.map((l, i) => (i ? l : { ...l, gate: { ...l.gate!, bias: l.gate!.bias.map(() => 1e6) } })) }, val, 0.5)).rejects.toThrow(/no gate-bias offset/);
  }, 60_000);
});
