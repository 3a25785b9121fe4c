// npx tsx bench/ort-layouts.ts [--samples 1000] [--rounds 3]: onnxruntime-web int8 QDQ models of models/paper-float.safetensors
// in each weight layout (MatMul Wᵀ + Add, Gemm Wᵀ, Gemm W transB=1) and weight granularity (per row, per layer), plus the f32
// model, interleaved like npm run bench. Shows why the bench's QDQ peer uses the MatMul layout (docs/BENCHMARKS.md).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { importSafetensors } from "../toolchain/import/state-dict.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { table } from "../cli/src/table.ts";
import { agreement, measure, median } from "./harness.ts";
import { buildOnnxF32, buildOnnxQdq, QDQ_LAYOUTS } from "./peers/onnx-models.ts";
import { configureOrt, ortContender } from "./peers/ort.ts";

const { values: args } = parseArgs({ options: { samples: { type: "string", default: "1000" }, rounds: { type: "string", default: "3" }, float: { type: "string", default: "models/paper-float.safetensors" } } });
const samples = Number(args.samples);
const float = importSafetensors(readFileSync(args.float), args.float);
const test = loadMnist("test", { limit: samples });
const x = toFloatInputs(test.images, test.count);
const val = loadMnist("val", { limit: 1000 });
const calibration = toFloatInputs(val.images, val.count);
configureOrt();
const nIn = float.layers[0].nIn, nOut = float.layers[float.layers.length - 1].nOut;
const contenders = [await ortContender("f32", "f32 Gemm transB=1", buildOnnxF32(float), nIn, nOut)];
for (const op of QDQ_LAYOUTS) {
  for (const perChannel of [true, false]) {
    const { bytes } = buildOnnxQdq(float, calibration, val.count, { op, perChannel });
    contenders.push(await ortContender(`${op}/${perChannel ? "row" : "layer"}`, `QDQ ${op}, weight scale per ${perChannel ? "row" : "layer"}`, bytes, nIn, nOut));
  }
}
const m = await measure(contenders, x, samples, { rounds: Number(args.rounds), big: 64, warmupSeconds: 2, log: (s) => console.error(s) });
const t = table(["model", "batch 1 µs/sample", "batch 64 samples/s", "accuracy"], ["left", "right", "right", "right"]);
for (const c of contenders) {
  t.push([c.label, median(m.batch1Us.get(c.id)!).toFixed(1), Math.round(median(m.batch64Sps.get(c.id)!)).toLocaleString("en"), (100 * agreement(m.labels.get(c.id)!, Int32Array.from(test.labels))).toFixed(2) + "%"]);
}
console.log(t.toString());
console.log(`${samples} mnist:test digits × ${args.rounds} interleaved rounds, median; onnxruntime-web wasm, 1 thread`);
