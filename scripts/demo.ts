// npm run demo: the main job end to end on MNIST. Evaluates the committed paper-net model
// (models/paper.rgm, from `npm run reproduce`) on the 10,000 test digits through the Wasm engine,
// checks every prediction against the TS reference, and prints what gating costs and saves.
// Without a committed model it first trains and quantizes a small one (about a minute).
import { existsSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { evaluateModel } from "../toolchain/evaluate/evaluate.ts";
import { writeModel } from "../runtime/src/format.ts";
import { importSafetensors } from "../toolchain/import/state-dict.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { Quantizer } from "../toolchain/quantize/quantize.ts";
import { trainMlp } from "../toolchain/train/trainer.ts";
import { formatReport } from "../cli/src/commands/eval.ts";
import { progress } from "../cli/src/progress.ts";

const MODEL = "models/paper.rgm", FLOAT = "models/paper-float.safetensors";
const t0 = performance.now();
let bytes: Uint8Array, float: FloatModel | undefined, name: string;
if (existsSync(MODEL)) {
  bytes = readFileSync(MODEL);
  float = existsSync(FLOAT) ? importSafetensors(readFileSync(FLOAT), FLOAT) : undefined;
  name = MODEL;
} else {
  console.error(`${MODEL} not found: training a small 784-256-128-10 model with ranks 32-16 in the loop (3 epochs) …`);
  const bar = progress("train", 3 * 550);
  const result = await trainMlp({ sizes: [784, 256, 128, 10], ranks: [32, 16], l1: [1e-4, 2e-4], epochs: 3, onBatch: (b) => bar.update((b.epoch - 1) * b.batches + b.batch) });
  bar.stop();
  float = result.model;
  const val = loadMnist("val", { limit: 1000 });
  bytes = writeModel(new Quantizer(float, toFloatInputs(val.images, val.count), val.count, { min: 0, max: 1 }).model({ ranks: [32, 16] }));
  name = "a freshly trained 784-256-128-10 model";
}
const test = loadMnist("test");
const bar = progress("eval", test.count);
let floatBar: ReturnType<typeof progress> | undefined;
const report = await evaluateModel(bytes, toFloatInputs(test.images, test.count), test.labels, test.count, {
  float,
  onProgress: (d) => bar.update(d),
  onFloatProgress: (d) => {
    if (!floatBar) { bar.stop(); floatBar = progress("float", test.count); }
    floatBar.update(d);
  },
});
bar.stop();
floatBar?.stop();
console.log(formatReport(report, name, "mnist:test"));
const m = report.macs_per_sample;
const e = report.error;
console.log(
  `\n${name}: test error float ${e.float === null ? "–" : (e.float * 100).toFixed(2) + " %"}, int8 dense ${(e.int8_dense * 100).toFixed(2)} %, ` +
  `int8 gated ${(e.int8_gated * 100).toFixed(2)} %; gating computes ${((m.gated / m.dense) * 100).toFixed(1)} % of the dense MACs ` +
  `(${((m.gated_zero_skip / m.dense) * 100).toFixed(1)} % with zero-input skipping); Wasm = TS reference on ${((report.reference_agreement ?? 0) * 100).toFixed(2)} % of digits; ` +
  `${((performance.now() - t0) / 1000).toFixed(0)} s`,
);
if (report.reference_agreement !== 1) process.exitCode = 2;
