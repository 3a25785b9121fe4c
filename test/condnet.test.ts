import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../runtime/src/errors.ts";
import { toFloatInputs, type MnistSet } from "../toolchain/data/mnist.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { Rng } from "../toolchain/model/random.ts";
import { loadCheckpoint, saveCheckpoint } from "../toolchain/train/training-checkpoint.ts";
import { evaluateConditional, forwardConditional, gateBlocks, initGates, policyLogitGrad, policyRegularisers, trainPolicy, type RegNorm } from "../toolchain/train/condnet.ts";
import { initTf } from "../toolchain/train/tfjs.ts";
import { smallMnistSplit } from "./helpers/mnist-split.ts";
import { initModel } from "../toolchain/train/trainer.ts";

const tmp = mkdtempSync(join(tmpdir(), "rankgate-condnet-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let train: MnistSet, val: MnistSet;
beforeAll(async () => {
  await initTf("wasm");
  ({ train, val } = smallMnistSplit());
});

const rows = (t: tf.Tensor) => t.arraySync() as number[][];

/** The policy objective of policyLogitGrad in plain JS, for finite differences. */
function objective(logits: number[][], mask: number[][], adv: number[], tau: number, ls: number, lv: number, norm: RegNorm): number {
  const n = logits.length, k = logits[0].length, f = norm === "abs" ? Math.abs : (d: number) => d * d;
  const s = logits.map((r) => r.map((z) => 1 / (1 + Math.exp(-z))));
  let reinforce = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) reinforce += (adv[i] / n) * (mask[i][j] ? Math.log(s[i][j]) : Math.log(1 - s[i][j]));
  const col = Array.from({ length: k }, (_, j) => s.reduce((a, r) => a + r[j], 0) / n);
  const lb = col.reduce((a, m) => a + f(m - tau), 0);
  const le = s.reduce((a, r) => a + f(r.reduce((x, y) => x + y, 0) / k - tau), 0) / n;
  const lvar = -col.reduce((a, m, j) => a + s.reduce((x, r) => x + (r[j] - m) ** 2, 0) / n, 0);
  return reinforce + ls * (lb + le) + lv * lvar;
}

describe("policy regularisers", () => {
  it("match a hand-computed example", () => {
    // σ = [[0.2, 0.6], [0.4, 0.0]], τ = 0.25: column means 0.3, 0.3; row means 0.4, 0.2; variances 0.01, 0.09
    const sigma = tf.tensor2d([[0.2, 0.6], [0.4, 0.0]]);
    const abs = policyRegularisers(sigma, 0.25, "abs");
    expect(abs.lb.dataSync()[0]).toBeCloseTo(0.1, 6);
    expect(abs.le.dataSync()[0]).toBeCloseTo(0.1, 6);
    expect(abs.lv.dataSync()[0]).toBeCloseTo(-0.1, 6);
    const sq = policyRegularisers(sigma, 0.25, "square");
    expect(sq.lb.dataSync()[0]).toBeCloseTo(0.005, 6);
    expect(sq.le.dataSync()[0]).toBeCloseTo(0.0125, 6);
    tf.dispose([sigma, abs.lb, abs.le, abs.lv, sq.lb, sq.le, sq.lv]);
  });

  it("policyLogitGrad is the gradient of REINFORCE + λ_s(L_b + L_e) + λ_v L_v (finite differences)", () => {
    const rng = new Rng(3);
    const n = 5, k = 4, tau = 0.3;
    const logits = Array.from({ length: n }, () => Array.from({ length: k }, () => rng.normal()));
    const mask = logits.map((r) => r.map(() => (rng.next() < 0.4 ? 1 : 0)));
    const adv = Array.from({ length: n }, () => rng.normal());
    for (const norm of ["abs", "square"] as const) {
      const lt = tf.tensor2d(logits), sig = tf.sigmoid(lt) as tf.Tensor2D, mt = tf.tensor2d(mask), at = tf.tensor1d(adv);
      const g = rows(policyLogitGrad(sig, mt, at, tau, 2, 3, norm));
      tf.dispose([lt, sig, mt, at]);
      const h = 1e-4;
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) {
        const up = logits.map((r) => [...r]), dn = logits.map((r) => [...r]);
        up[i][j] += h;
        dn[i][j] -= h;
        const fd = (objective(up, mask, adv, tau, 2, 3, norm) - objective(dn, mask, adv, tau, 2, 3, norm)) / (2 * h);
        expect(g[i][j]).toBeCloseTo(fd, 3);
      }
    }
  });

  it("REINFORCE pushes a costly sampled action down and a cheap one up", () => {
    // One sample, one block, no regularisers: gradient descent on the logit
    const grad = (m: number, adv: number) => {
      const sig = tf.tensor2d([[0.5]]), mt = tf.tensor2d([[m]]), at = tf.tensor1d([adv]);
      const g = policyLogitGrad(sig, mt, at, 0.5, 0, 0).dataSync()[0];
      tf.dispose([sig, mt, at]);
      return g;
    };
    expect(grad(1, 1)).toBeGreaterThan(0); // opened, cost above baseline: open less often
    expect(grad(0, 1)).toBeLessThan(0); // closed, cost above baseline: open more often
    expect(grad(1, -1)).toBeLessThan(0); // opened, cost below baseline: open more often
    expect(grad(1, 0)).toBe(0);
  });
});

describe("thresholded inference", () => {
  /** Odd sizes: 6 inputs, hidden 10 and 7 units in blocks of 4 (last block short), 3 classes. */
  function tinyGated(seed: number): FloatModel {
    const rng = new Rng(seed);
    return initGates(initModel([6, 10, 7, 3], rng), 4, [0.5, 0.5], rng, 4);
  }

  it("gateBlocks opens a block exactly when Z·s + d > 0", () => {
    const gate = { blockSize: 2, weight: Float32Array.from([1, -1, 0.5, 0.5, 0, 0]), bias: Float32Array.from([0, -1, 0]) };
    expect([...gateBlocks(gate, 2, [2, 1])]).toEqual([1, 1, 0]); // 1 > 0; 1.5 − 1 > 0; 0 is not > 0
    expect([...gateBlocks(gate, 2, [1, 1])]).toEqual([0, 0, 0]);
  });

  it("batched evaluation (TF.js) equals the per-sample JS reference: predictions, open blocks, units", async () => {
    const model = tinyGated(5);
    const rng = new Rng(9), count = 300;
    const images = Float32Array.from({ length: count * 6 }, () => rng.next());
    const labels = Uint8Array.from({ length: count }, () => rng.int(0, 2));
    let errors = 0;
    const open = [0, 0];
    for (let s = 0; s < count; s++) {
      const x = images.subarray(s * 6, s * 6 + 6);
      const { logits, blocks } = forwardConditional(model, x);
      let arg = 0;
      for (let c = 1; c < 3; c++) if (logits[c] > logits[arg]) arg = c;
      if (arg !== labels[s]) errors++;
      blocks.forEach((b, l) => (open[l] += b!.reduce((a, v) => a + v, 0)));
    }
    const e = await evaluateConditional(model, { images, labels, count });
    expect(e.error).toBe(errors / count);
    expect(e.blockDensity[0]).toBeCloseTo(open[0] / (count * 3), 10);
    expect(e.blockDensity[1]).toBeCloseTo(open[1] / (count * 2), 10);
    expect(e.blockDensity.every((d) => d > 0.05 && d < 0.95)).toBe(true);
    const dense = await evaluateConditional(model, { images, labels, count }, { gating: false });
    expect(dense.blockDensity).toEqual([1, 1]);
    expect(dense.computed).toEqual([1, 1]);
  });

  it("a layer whose gate never opens outputs zeros", () => {
    const model = tinyGated(6);
    model.layers[0].gate!.bias.fill(-1e6);
    const { logits, blocks } = forwardConditional(model, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    expect([...blocks[0]!]).toEqual([0, 0, 0]);
    // Layer 1 sees only zeros, so its output is relu(bias) = 0 and the logits equal the last bias
    expect([...logits]).toEqual([...model.layers[2].bias]);
  });
});

describe("trainPolicy", () => {
  const small = { sizes: [784, 32, 10], blockSize: 8, tau: 0.5, epochs: 6, batchSize: 50, lrNet: 3e-3, policyInitScale: 8 } as const;

  it("trains a gated net deterministically and keeps the thresholded density near τ", async () => {
    const a = await trainPolicy({ ...small, train, val, seed: 4 });
    const b = await trainPolicy({ ...small, train, val, seed: 4 });
    const gate = a.model.layers[0].gate!;
    expect(gate.weight.length).toBe(4 * 784);
    expect(a.model.layers[1].gate).toBeUndefined();
    expect(Buffer.from(gate.weight.buffer).equals(Buffer.from(b.model.layers[0].gate!.weight.buffer))).toBe(true);
    expect(Buffer.from(a.model.layers[0].weight.buffer).equals(Buffer.from(b.model.layers[0].weight.buffer))).toBe(true);
    expect(a.history).toHaveLength(6);
    expect(a.history[5].nll).toBeLessThan(a.history[0].nll);
    expect(a.val.error).toBeLessThan(0.5);
    expect(Math.abs(a.val.blockDensity[0] - 0.5)).toBeLessThan(0.3);
    expect(a.val).toEqual(await evaluateConditional(a.model, val));
  }, 30_000);

  it("anneals τ geometrically and picks the best epoch only after the anneal", async () => {
    const r = await trainPolicy({ ...small, epochs: 3, tau: 0.125, tauStart: 0.5, tauEpochs: 2, train, val, seed: 2 });
    expect(r.history.map((h) => h.tau[0])).toEqual([0.5, 0.25, 0.125]);
    expect(r.bestEpoch).toBe(3);
  }, 30_000);

  it("rejects bad options with one-line UserErrors", async () => {
    await expect(trainPolicy({ ...small, train, val, tau: 1 })).rejects.toThrow(UserError);
    await expect(trainPolicy({ ...small, train, val, batchSize: 1 })).rejects.toThrow(/batchSize/);
    await expect(trainPolicy({ ...small, sizes: [784, 10], train, val })).rejects.toThrow(/hidden layer/);
    // 20 units in blocks of 8 give 3 blocks, which a checkpoint reads back as blocks of ceil(20 / 3) = 7
    await expect(trainPolicy({ ...small, sizes: [784, 20, 10], train, val })).rejects.toThrow(/block size/);
  });

  it("gates survive a checkpoint round trip", async () => {
    const model = initGates(initModel([784, 20, 10], new Rng(1)), 7, [0.25], new Rng(2));
    const path = join(tmp, "gated.safetensors");
    saveCheckpoint(model, path, { policy: { tau: [0.25] } });
    const back = loadCheckpoint(path);
    const g = back.model.layers[0].gate!;
    expect(g.blockSize).toBe(7);
    expect([...g.weight]).toEqual([...model.layers[0].gate!.weight]);
    expect([...g.bias]).toEqual([...model.layers[0].gate!.bias]);
    expect(back.metadata.policy).toEqual({ tau: [0.25] });
    const x = toFloatInputs(val.images, 50);
    const e1 = await evaluateConditional(model, { images: x, labels: val.labels, count: 50 });
    const e2 = await evaluateConditional(back.model, { images: x, labels: val.labels, count: 50 });
    expect(e2).toEqual(e1);
  });
});

describe("CLI flags", () => {
  const CLI = fileURLToPath(new URL("../cli/src/cli.ts", import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

  it.each([
    [["train-policy", "-o", "x.safetensors", "--tau", "1.5"], "--tau values must be in (0, 1)"],
    [["train-policy", "-o", "x.safetensors", "--sizes", "784,20,10", "--block-size", "8"], "block size 8 does not fit hidden layer 0"],
    [["train-policy", "-o", "x.safetensors", "--reg-norm", "l1"], "--reg-norm must be abs or square"],
    [["train-policy", "-o", "x.safetensors", "--distill", "0.5"], "--distill needs --teacher"],
    [["train-policy", "-o", "x.safetensors", "--policy-loss", "ppo"], "--policy-loss must be reinforce, oracle or route"],
    [["train-policy", "-o", "x.safetensors", "--gate-init", "pca"], "--gate-init must be random or kmeans"],
    [["train-policy", "-o", "x.safetensors", "--top-k", "-1"], "--top-k"],
    [["train-policy", "-o", "x.safetensors", "--net-mask", "all"], "--net-mask must be sampled, threshold, oracle or top"],
    [["learn-estimator", "--float", "models/paper-float.safetensors", "-o", "x.safetensors", "--ranks", "50,35"], "--ranks needs 3 values"],
    [["learn-estimator", "--float", "models/paper-float.safetensors", "-o", "x.safetensors", "--ranks", "50,35,25", "--match", "all"], "--match must be svd or none"],
  ])("%j: one line, exit 1", (args, message) => {
    const r = run(...args);
    expect(r.status, r.stderr).toBe(1);
    const lines = r.stderr.split("\n").filter((l) => l.trim() && !l.startsWith("npm warn"));
    expect(lines).toEqual([`rankgate: ${lines[0].slice(10)}`]);
    expect(lines[0]).toContain(message);
    expect(r.stdout).toBe("");
  }, 20_000);
});
