// npm run demo: the main job end to end on the embedded default.
// Until the MNIST pipeline lands this builds a synthetic 784-256-128-10 model, runs it gated
// and dense through the Wasm engine and the TS reference, and prints what gating saved.
import { performance } from "node:perf_hooks";
import { Engine } from "../ts/runtime.ts";
import { run_s8 } from "../ts/reference.ts";
import { buildSynthetic, syntheticInputs } from "../ts/synthetic.ts";
import { quantizeInput } from "../ts/quant.ts";

const t0 = performance.now();
const { bytes, model, rng } = buildSynthetic({ sizes: [784, 256, 128, 10], ranks: [32, 16], seed: 1, inputZeros: 0.8 });
const engine = await Engine.load(bytes);
const count = 1000;
const x = syntheticInputs(rng, count, 784, 0.8);
const gated = engine.inferBatch(x);
const dense = engine.inferBatch(x, { gating: false });
let agree = 0, refSame = 0;
const q = new Int8Array(784);
for (let i = 0; i < count; i++) {
  if (gated.labels[i] === dense.labels[i]) agree++;
  quantizeInput(x.subarray(i * 784, (i + 1) * 784), engine.inputScale, engine.inputZeroPoint, q);
  const ref = run_s8(model, q);
  if (ref.output.every((v, j) => v === gated.logits[i * 10 + j])) refSame++;
}
console.log(`synthetic 784-256-128-10, ranks 32-16, ${bytes.length.toLocaleString("en")} bytes, ${count} random inputs`);
console.log(`MACs/sample: dense ${(dense.stats.totalMacs / count).toFixed(0)}, gated ${(gated.stats.totalMacs / count).toFixed(0)} (${(gated.stats.totalMacs / dense.stats.totalMacs).toFixed(2)}× dense)`);
console.log(`labels gated = dense: ${agree}/${count}; Wasm logits = TS reference: ${refSame}/${count}`);
console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
