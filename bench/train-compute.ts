// npx tsx bench/train-compute.ts [--batches 64,100,128] [--computes wasm,js,cpu] [--rounds 5] [--ranks 25,25,25]
// Training-step throughput of each float compute on the real workload: one SGD+momentum step (forward,
// backward, update) of the 784-1000-600-400-10 MLP on MNIST batches. Rounds are interleaved across
// computes (cpu, the TF.js reference, runs in its own pass); each number is the median of the rounds.
// Also times one 100×784 · 784×1000 product per compute, the shape that dominates the step.
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs-core";
import { loadMnist, toFloatInputs } from "../ts/mnist.ts";
import { Rng } from "../ts/random.ts";
import { COMPUTE_NAMES, JsCompute, type ComputeName, type MlpCompute } from "../ts/train/compute.ts";
import { gemmNT_f32 } from "../ts/train/gemm.ts";
import { topKSvd } from "../ts/train/svd.ts";
import { initTf, TfCompute } from "../ts/train/tfjs.ts";
import { initModel } from "../ts/train/trainer.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const batches = arg("batches", "64,100,128").split(",").map(Number);
const computes = arg("computes", "wasm,js,cpu").split(",") as ComputeName[];
const rounds = Number(arg("rounds", "5"));
const ranks = arg("ranks", "25,25,25").split(",").map(Number);
for (const c of computes) if (!COMPUTE_NAMES.includes(c)) throw new Error(`unknown compute ${c}`);

const SIZES = [784, 1000, 600, 400, 10];
const macsPerSample = SIZES.slice(1).reduce((s, n, i) => s + n * SIZES[i], 0);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const maxBatch = Math.max(...batches);
const train = loadMnist("train", { limit: 8 * maxBatch });
const x = toFloatInputs(train.images, train.count);
const model = initModel(SIZES, new Rng(1));
const params = { lr: 0.01, momentum: 0.9, l1: 1e-4 };

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

console.log(`# train-compute  ${new Date().toISOString()}  node ${process.version}  rounds ${rounds}  ranks ${ranks}`);
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
