// npx tsx ts/train/run.ts [--epochs 20] [--l1 1e-4] [--ranks 25,25,25] [--out models/paper-float.safetensors]
//   [--lr 0.05] [--lr-decay 0.9] [--momentum 0.9] [--seed 1] [--compute wasm|js|cpu] [--svd-oversample p] [--svd-iters q] …
// A plain runner for trainMlp until `rankgate train` wraps it: one line per epoch, then the chosen
// model's validation numbers (with the exact SVD factors the quantizer uses when --ranks is given).
// --report-test also prints the test-split error of the final model; nothing is chosen by it.
import { parseArgs } from "node:util";
import { loadMnist } from "../mnist.ts";
import { svdFactors } from "../quantize.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import type { ComputeName } from "./compute.ts";
import { evaluateFloat, trainMlp, type FloatEval } from "./trainer.ts";

const { values: a } = parseArgs({
  options: {
    sizes: { type: "string", default: "784,1000,600,400,10" },
    epochs: { type: "string", default: "20" },
    batch: { type: "string", default: "100" },
    lr: { type: "string", default: "0.05" },
    "lr-decay": { type: "string", default: "0.9" },
    momentum: { type: "string", default: "0.9" },
    l1: { type: "string", default: "0" },
    ranks: { type: "string" },
    seed: { type: "string", default: "1" },
    compute: { type: "string", default: "wasm" },
    "train-limit": { type: "string" },
    patience: { type: "string" },
    "svd-oversample": { type: "string" },
    "svd-iters": { type: "string" },
    out: { type: "string" },
    "report-test": { type: "boolean", default: false },
  },
});
const list = (s: string | undefined) => (s ? s.split(",").map(Number) : undefined);
const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
const pct = (v: number[]) => v.map((x) => (100 * x).toFixed(1)).join("/");
const show = (e: FloatEval) =>
  `error ${(100 * e.error).toFixed(2)}%  density ${pct(e.density)}%  computed ${pct(e.computed)}%  recall ${pct(e.recall)}%  MACs ${e.macFraction.toFixed(3)}×`;

const opts = {
  sizes: list(a.sizes), epochs: num(a.epochs), batchSize: num(a.batch), lr: num(a.lr), lrDecay: num(a["lr-decay"]),
  momentum: num(a.momentum), l1: list(a.l1), ranks: list(a.ranks), seed: num(a.seed), compute: a.compute as ComputeName,
  patience: num(a.patience), svd: { oversample: num(a["svd-oversample"]), powerIters: num(a["svd-iters"]) },
};
console.log(`# ${process.argv.slice(2).join(" ")}  (${new Date().toISOString()}, node ${process.version})`);
const t0 = performance.now();
const train = a["train-limit"] ? loadMnist("train", { limit: Number(a["train-limit"]) }) : undefined;
const result = await trainMlp({
  ...opts, train,
  onEpoch: (e) => console.log(
    `epoch ${String(e.epoch).padStart(2)}  lr ${e.lr.toFixed(4)}  loss ${e.loss.toFixed(4)}  val ${(100 * e.valError).toFixed(2)}%  ` +
    `density ${pct(e.density)}%  computed ${pct(e.computed)}%  recall ${pct(e.recall)}%  ${e.seconds.toFixed(1)} s (svd ${e.svdSeconds.toFixed(1)})`,
  ),
});
console.log(`best epoch ${result.bestEpoch}, val ${(100 * result.valError).toFixed(2)}%, ${((performance.now() - t0) / 1000).toFixed(0)} s in all`);

const val = loadMnist("val");
const exact = opts.ranks
  ? result.model.layers.slice(0, -1).map((l, i) => ((opts.ranks![i] ?? 0) > 0 ? svdFactors(l.weight, l.nIn, l.nOut, opts.ranks![i]) : null))
  : undefined;
console.log(`val  dense:          ${show(await evaluateFloat(result.model, val.images, val.labels))}`);
const gatedVal = exact ? await evaluateFloat(result.model, val.images, val.labels, { factors: exact }) : undefined;
if (gatedVal) console.log(`val  exact-SVD gate: ${show(gatedVal)}`);
if (a["report-test"]) {
  const test = loadMnist("test");
  console.log(`test dense:          ${show(await evaluateFloat(result.model, test.images, test.labels))}`);
  if (exact) console.log(`test exact-SVD gate: ${show(await evaluateFloat(result.model, test.images, test.labels, { factors: exact }))}`);
}
if (a.out) {
  saveCheckpoint(result.model, a.out, {
    ranks: opts.ranks ?? [], seed: opts.seed, epochs: opts.epochs, bestEpoch: result.bestEpoch, l1: opts.l1, valError: result.valError,
    lr: opts.lr, lrDecay: opts.lrDecay, momentum: opts.momentum, batchSize: opts.batchSize, compute: opts.compute, svd: opts.svd,
    ...(gatedVal && { valErrorExactSvd: gatedVal.error, valMacFraction: gatedVal.macFraction, valComputed: gatedVal.computed, valDensity: gatedVal.density }),
  });
  console.log(`saved ${a.out}`);
}
