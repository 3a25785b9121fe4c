// npm run bench [-- --quick] [-- --json]: per-inference time of the engine's schedules on one
// model, interleaved rounds, median of rounds. Peers (onnxruntime-web, TF.js) arrive with the
// speed work; this measures the kernels against themselves.
import { readFileSync, existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import os from "node:os";
import { Command } from "commander";
import { Engine, type RunOptions } from "../ts/runtime.ts";
import { buildSynthetic, syntheticInputs } from "../ts/synthetic.ts";
import { Rng } from "../ts/random.ts";
import { table } from "../tools/table.ts";

const program = new Command("bench")
  .option("--quick", "fewer rounds and samples (≤ 60 s)")
  .option("--json", "print one JSON object")
  .option("--model <file>", "an .rgm to time (default: models/paper.rgm if present, else a synthetic 784-1000-600-400-10 at ranks 50,35,25)")
  .parse();
const opts = program.opts<{ quick?: boolean; json?: boolean; model?: string }>();

const log = (s: string) => { if (!opts.json) console.error(s); };
const modelPath = opts.model ?? (existsSync("models/paper.rgm") ? "models/paper.rgm" : undefined);
let bytes: Uint8Array;
let inputs: Float32Array;
const samples = opts.quick ? 200 : 1000;
if (modelPath) {
  bytes = readFileSync(modelPath);
  const { loadMnist, toFloatInputs } = await import("../ts/mnist.ts");
  const test = loadMnist("test", { limit: samples });
  inputs = toFloatInputs(test.images, test.count);
  log(`model ${modelPath}, ${samples} MNIST test digits`);
} else {
  log("building a synthetic 784-1000-600-400-10 model at ranks 50,35,25 …");
  const synth = buildSynthetic({ sizes: [784, 1000, 600, 400, 10], ranks: [50, 35, 25], seed: 1, calibration: 64, inputZeros: 0.8 });
  bytes = synth.bytes;
  inputs = syntheticInputs(new Rng(2), samples, 784, 0.8);
}
const engine = await Engine.load(bytes);
const n = engine.inputSize;

const schedules: [string, RunOptions][] = [
  ["gated simd", { gating: true, simd: true }],
  ["gated scalar", { gating: true, simd: false }],
  ["dense simd", { gating: false, simd: true }],
  ["dense scalar", { gating: false, simd: false }],
];
const rounds = opts.quick ? 5 : 9;
const times = new Map<string, number[]>(schedules.map(([name]) => [name, []]));
const macs = new Map<string, number>();
for (const [, o] of schedules) engine.inferBatch(inputs.subarray(0, 50 * n), o); // warm up
for (let r = 0; r < rounds; r++) {
  for (const [name, o] of schedules) {
    const t0 = performance.now();
    const { stats } = engine.inferBatch(inputs, o);
    times.get(name)!.push(((performance.now() - t0) * 1000) / samples);
    macs.set(name, stats.totalMacs / samples);
  }
  log(`round ${r + 1}/${rounds}`);
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const result = Object.fromEntries(schedules.map(([name]) => [name, { us_per_sample: median(times.get(name)!), macs_per_sample: macs.get(name)! }]));
const denseSimd = result["dense simd"].us_per_sample;
if (opts.json) {
  console.log(JSON.stringify({ model: modelPath ?? "synthetic", samples, rounds, node: process.version, cpu: os.cpus()[0]?.model, batch1_us: Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v.us_per_sample])), macs_per_sample: Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v.macs_per_sample])) }));
} else {
  const t = table(["schedule", "µs / sample (median)", "× dense simd", "MACs / sample", "GMAC/s"], ["left", "right", "right", "right", "right"]);
  for (const [name, r] of Object.entries(result)) {
    t.push([name, r.us_per_sample.toFixed(1), (denseSimd / r.us_per_sample).toFixed(2), Math.round(r.macs_per_sample).toLocaleString("en"), (r.macs_per_sample / r.us_per_sample / 1000).toFixed(2)]);
  }
  console.log(t.toString());
  console.log(`${samples} samples × ${rounds} interleaved rounds, batch 1 (one run_s8 call per sample), ${os.cpus()[0]?.model}, Node ${process.version}`);
}
