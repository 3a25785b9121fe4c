// npx tsx bench/train-compute.ts [--batches 64,100,128] [--computes wasm,js,cpu] [--rounds 5] [--ranks 25,25,25]
//   [--svd-checkpoint models/paper-float.safetensors] [--only step|svd]
// Training-step throughput of each float compute on the real workload: one SGD+momentum step (forward,
// backward, update) of the 784-1000-600-400-10 MLP on MNIST batches. Rounds are interleaved across
// computes (cpu, the TF.js reference, runs in its own pass); each number is the median of the rounds.
// Also times one 100×784 · 784×1000 product per compute, the shape that dominates the step, and the
// randomized top-50 SVD of a 784×1000 Wᵀ against ml-matrix's full SVD (He init and, if present, the
// first layer of a trained checkpoint: the spectrum decides the accuracy).
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Matrix, SingularValueDecomposition } from "ml-matrix";
import * as tf from "@tensorflow/tfjs-core";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { Rng } from "../toolchain/model/random.ts";
import { COMPUTE_NAMES, JsCompute, type ComputeName, type MlpCompute } from "../toolchain/train/compute.ts";
import { gemmNT_f32 } from "../toolchain/train/gemm.ts";
import { loadCheckpoint } from "../toolchain/train/training-checkpoint.ts";
import { topKSvd, type TopKSvdOptions } from "../toolchain/train/svd.ts";
import { initTf, TfCompute } from "../toolchain/train/tfjs.ts";
import { initModel } from "../toolchain/train/trainer.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const batches = arg("batches", "64,100,128").split(",").map(Number);
const computes = arg("computes", "wasm,js,cpu").split(",") as ComputeName[];
const rounds = Number(arg("rounds", "5"));
const ranks = arg("ranks", "25,25,25").split(",").map(Number);
const svdCheckpoint = arg("svd-checkpoint", "models/paper-float.safetensors");
const only = arg("only", "");
for (const c of computes) if (!COMPUTE_NAMES.includes(c)) throw new Error(`unknown compute ${c}`);

const SIZES = [784, 1000, 600, 400, 10];
const macsPerSample = SIZES.slice(1).reduce((s, n, i) => s + n * SIZES[i], 0);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(`# train-compute  ${new Date().toISOString()}  node ${process.version}  rounds ${rounds}  ranks ${ranks}`);
const maxBatch = Math.max(...batches);
const train = loadMnist("train", { limit: 8 * maxBatch });
const x = toFloatInputs(train.images, train.count);
const model = initModel(SIZES, new Rng(1));
const valSet = loadMnist("val", { limit: 1000 });
const valX = toFloatInputs(valSet.images, valSet.count);
const params = { lr: 0.01, momentum: 0.9, l1: [1e-4, 1e-4, 1e-4] };

/** Steps per second of `compute` over `steps` steps (cycling through 8 real batches). */
function timeSteps(compute: MlpCompute, batch: number, steps: number): number {
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) {
    const o = (s % 8) * batch;
    compute.step(x.subarray(o * 784, (o + batch) * 784), train.labels.subarray(o, o + batch), batch, params);
  }
  return (steps * 1000) / (performance.now() - t0);
}

async function make(name: ComputeName): Promise<MlpCompute> {
  if (name === "js") return new JsCompute();
  await initTf(name);
  return new TfCompute(name);
}


/** Sign of x·A·B + b per (sample, unit) for `n` samples of `xs` (n × nIn) and factors at/bt of rank k. */
function estimateSigns(xs: Float32Array, n: number, nIn: number, nOut: number, at: ArrayLike<number>, bt: ArrayLike<number>, k: number, bias: Float32Array): Uint8Array {
  const out = new Uint8Array(n * nOut), t = new Float64Array(k);
  for (let s = 0; s < n; s++) {
    for (let r = 0; r < k; r++) {
      let acc = 0;
      for (let i = 0; i < nIn; i++) acc += xs[s * nIn + i] * at[r * nIn + i];
      t[r] = acc;
    }
    for (let j = 0; j < nOut; j++) {
      let e = bias[j];
      for (let r = 0; r < k; r++) e += t[r] * bt[j * k + r];
      out[s * nOut + j] = e > 0 ? 1 : 0;
    }
  }
  return out;
}

/**
 * Top-k SVD of Wᵀ for one 784×1000 layer: ml-matrix full SVD once, topKSvd settings `rounds` times each.
 * Accuracy: worst relative error of σ1..σk; excess residual ‖Wᵀ − AB‖F / ‖Wᵀ − W_k‖F − 1 (0 = optimal);
 * distance to the exact product ‖AB − W_k‖F / ‖W_k‖F; and the estimator's mask on 1000 validation digits:
 * fraction of (digit, unit) signs of x·A·B + b that differ from the exact factors'.
 */
function svdSection(label: string, weight: Float32Array, bias: Float32Array, k = 50): void {
  const nIn = 784, nOut = 1000;
  let t0 = performance.now();
  const wt = new Matrix(nIn, nOut);
  for (let j = 0; j < nOut; j++) for (let i = 0; i < nIn; i++) wt.set(i, j, weight[j * nIn + i]);
  const full = new SingularValueDecomposition(wt, { autoTranspose: true });
  const fullMs = performance.now() - t0;
  const u = full.leftSingularVectors, v = full.rightSingularVectors, sv = full.diagonal;
  // Exact rank-k product U_k S_k V_kᵀ and exact factors
  const exact = new Float64Array(nIn * nOut);
  for (let i = 0; i < nIn; i++) for (let j = 0; j < nOut; j++) {
    let acc = 0;
    for (let r = 0; r < k; r++) acc += u.get(i, r) * sv[r] * v.get(j, r);
    exact[i * nOut + j] = acc;
  }
  const exAt = new Float64Array(k * nIn), exBt = new Float64Array(nOut * k);
  for (let r = 0; r < k; r++) {
    for (let i = 0; i < nIn; i++) exAt[r * nIn + i] = u.get(i, r) * Math.sqrt(sv[r]);
    for (let j = 0; j < nOut; j++) exBt[j * k + r] = v.get(j, r) * Math.sqrt(sv[r]);
  }
  const exactSigns = estimateSigns(valX, 1000, nIn, nOut, exAt, exBt, k, bias);
  let exactNorm = 0, optResidual = 0;
  for (let i = 0; i < nIn; i++) for (let j = 0; j < nOut; j++) {
    exactNorm += exact[i * nOut + j] ** 2;
    optResidual += (weight[j * nIn + i] - exact[i * nOut + j]) ** 2;
  }
  console.log(`\n${label}, k=${k}: ml-matrix full SVD ${fullMs.toFixed(0)} ms (1 run); σ1 ${sv[0].toFixed(3)}, σ${k} ${sv[k - 1].toFixed(3)}, σ${2 * k} ${sv[2 * k - 1].toFixed(3)}`);
  console.log("topKSvd     p   q  ms (median)  speedup  worst |Δσ|/σ  excess residual  ‖AB − W_k‖/‖W_k‖  mask flips");
  const settings: TopKSvdOptions[] = [{ oversample: 10, powerIters: 2 }, { oversample: Math.ceil(k / 2), powerIters: 3 }, {}, { oversample: 2 * k, powerIters: 6 }];
  for (const o of settings) {
    const ms: number[] = [];
    let f = topKSvd(weight, nIn, nOut, k, new Rng(5), o);
    for (let r = 0; r < rounds; r++) {
      t0 = performance.now();
      f = topKSvd(weight, nIn, nOut, k, new Rng(5), o);
      ms.push(performance.now() - t0);
    }
    let worst = 0, diff = 0, residual = 0;
    for (let r = 0; r < k; r++) worst = Math.max(worst, Math.abs(f.singular[r] - sv[r]) / sv[r]);
    for (let i = 0; i < nIn; i++) for (let j = 0; j < nOut; j++) {
      let acc = 0;
      for (let r = 0; r < k; r++) acc += f.at[r * nIn + i] * f.bt[j * k + r];
      diff += (acc - exact[i * nOut + j]) ** 2;
      residual += (weight[j * nIn + i] - acc) ** 2;
    }
    const signs = estimateSigns(valX, 1000, nIn, nOut, f.at, f.bt, k, bias);
    let flips = 0;
    for (let i = 0; i < signs.length; i++) if (signs[i] !== exactSigns[i]) flips++;
    const p = o.oversample ?? Math.max(10, k), q = o.powerIters ?? 4;
    console.log(
      `${"".padEnd(9)}  ${String(p).padStart(3)}  ${String(q).padStart(2)}  ${median(ms).toFixed(0).padStart(11)}  ${(fullMs / median(ms)).toFixed(1).padStart(6)}×  ` +
      `${worst.toExponential(2).padStart(12)}  ${(Math.sqrt(residual / optResidual) - 1).toExponential(2).padStart(15)}  ${Math.sqrt(diff / exactNorm).toExponential(2).padStart(17)}  ${(flips / signs.length).toExponential(2).padStart(10)}`,
    );
  }
}

if (only !== "svd") {
  const factors = model.layers.slice(0, -1).map((l, i) => topKSvd(l.weight, l.nIn, l.nOut, ranks[i], new Rng(7)));
  const rows: { compute: string; batch: number; gated: boolean; stepsPerSec: number[] }[] = [];

  // Interleaved pass over wasm and js, then cpu alone (switching TF.js backends moves tensors)
  const passes = [computes.filter((c) => c !== "cpu"), computes.filter((c) => c === "cpu")].filter((p) => p.length);
  for (const pass of passes) {
    for (const batch of batches) {
      for (const gated of [false, true]) {
        const live = new Map<ComputeName, MlpCompute>();
        for (const name of pass) {
          const c = await make(name);
          c.load(model);
          c.setFactors(gated ? factors : []);
          timeSteps(c, batch, 2); // warm up
          live.set(name, c);
          rows.push({ compute: name, batch, gated, stepsPerSec: [] });
        }
        for (let r = 0; r < rounds; r++) {
          for (const name of pass) {
            const c = live.get(name)!;
            if (name !== "js") await initTf(name);
            const steps = name === "wasm" ? 10 : 1;
            rows.find((x) => x.compute === name && x.batch === batch && x.gated === gated)!.stepsPerSec.push(timeSteps(c, batch, steps));
          }
        }
        for (const c of live.values()) c.dispose();
      }
    }
  }

  // One product per compute
  const gemm: Record<string, number> = {};
  {
    const a = new Float32Array(100 * 784).map((_, i) => x[i]);
    const w = model.layers[0].weight;
    const c = new Float32Array(100 * 1000);
    const jsMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      gemmNT_f32(a, w, c, 100, 1000, 784);
      jsMs.push(performance.now() - t0);
    }
    if (computes.includes("js")) gemm.js = median(jsMs);
    for (const name of computes.filter((c) => c !== "js") as ("wasm" | "cpu")[]) {
      await initTf(name);
      const ta = tf.tensor2d(a, [100, 784]), tw = tf.tensor2d(w, [1000, 784]), twt = tf.transpose(tw);
      for (const [label, run] of [
        [name, () => tf.matMul(ta, twt)],
        [`${name} (transposeB)`, () => tf.matMul(ta, tw, false, true)],
      ] as const) {
        const ms: number[] = [];
        for (let r = 0; r < rounds + 1; r++) {
          const t0 = performance.now();
          const out = run();
          out.dataSync();
          out.dispose();
          if (r > 0) ms.push(performance.now() - t0);
        }
        gemm[label] = median(ms);
      }
      tf.dispose([ta, tw, twt]);
    }
  }

  console.log(`# ${SIZES.join("-")}: ${(macsPerSample / 1e6).toFixed(3)} M MAC/sample forward, step ≈ 3× that`);
  console.log("compute  batch  estimator  steps/s (median)  ms/step  GFLOP/s  samples/s  s/epoch(55k)  rounds");
  for (const r of rows) {
    const sps = median(r.stepsPerSec);
    const gflops = (sps * r.batch * 3 * macsPerSample * 2) / 1e9;
    console.log(
      `${r.compute.padEnd(7)}  ${String(r.batch).padStart(5)}  ${(r.gated ? ranks.join("-") : "none").padEnd(9)}  ${sps.toFixed(2).padStart(16)}  ${(1000 / sps).toFixed(1).padStart(7)}  ${gflops.toFixed(2).padStart(7)}  ${(sps * r.batch).toFixed(0).padStart(9)}  ${(55000 / (sps * r.batch)).toFixed(1).padStart(12)}  ${r.stepsPerSec.map((v) => v.toFixed(2)).join(" ")}`,
    );
  }
  console.log("\nproduct 100×784 · 784×1000    ms (median)  GFLOP/s");
  for (const [k, ms] of Object.entries(gemm)) console.log(`${k.padEnd(28)}  ${ms.toFixed(2).padStart(11)}  ${((2 * 100 * 784 * 1000) / ms / 1e6).toFixed(2).padStart(7)}`);
}
if (only !== "step") {
  svdSection("784×1000, He init (seed 1)", model.layers[0].weight, model.layers[0].bias);
  if (existsSync(svdCheckpoint)) {
    const trained = loadCheckpoint(svdCheckpoint).model.layers[0];
    svdSection(`784×1000, layer 0 of ${svdCheckpoint}`, trained.weight, trained.bias);
    svdSection(`784×1000, layer 0 of ${svdCheckpoint}`, trained.weight, trained.bias, 25);
  }
}
