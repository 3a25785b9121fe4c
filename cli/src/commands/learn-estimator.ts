// rankgate learn-estimator: train the low-rank sign estimators of a frozen float net, from the SVD.
import { writeFileForUser } from "../../../toolchain/io/files.ts";
import type { Command } from "commander";
import { UserError } from "../../../runtime/src/index.ts";
import { loadMnist } from "../../../toolchain/data/mnist.ts";
import { loadCheckpoint, saveCheckpoint } from "../../../toolchain/train/training-checkpoint.ts";
import { compareEstimators, learnEstimators } from "../../../toolchain/train/learned-estimator.ts";
import type { GatedEval } from "../../../toolchain/train/condnet.ts";
import { checkWidth } from "../../../toolchain/data/index.ts";
import { addDataOptions, loadTrainVal, numberList, positiveInt, VAL_EVERY, type TrainDataFlags } from "../data-options.ts";
import { progress } from "../progress.ts";
import { checkOutputPath } from "../cli-io.ts";

const pct = (v: number[]) => v.map((x) => (100 * x).toFixed(1)).join("/");
export const showGated = (e: GatedEval) =>
  `error ${(100 * e.error).toFixed(2)} %, blocks open ${pct(e.blockDensity)} %, computed ${pct(e.computed)} %, density ${pct(e.density)} %, recall ${pct(e.recall)} %, MACs ${e.macFraction.toFixed(3)}×`;

export const num = (flag: string, min: number, max = Infinity) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max) throw new UserError(`${flag} must be a number in [${min}, ${max}], got '${v}'`);
  return n;
};

interface EstimatorFlags extends TrainDataFlags {
  float: string;
  output: string;
  ranks: number[];
  epochs: number;
  batch: number;
  lr: number;
  wPos: number;
  match: "svd" | "none";
  matchSamples: number;
  seed: number;
  test?: boolean;
  report?: string;
  quiet?: boolean;
}

export async function learnEstimatorCommand(f: EstimatorFlags): Promise<void> {
  const log = (s: string) => { if (!f.quiet) process.stderr.write(s + "\n"); };
  for (const p of [f.output, f.report]) if (p) checkOutputPath(p);
  const { model, metadata } = loadCheckpoint(f.float);
  const hidden = model.layers.length - 1;
  if (f.ranks.length !== hidden) throw new UserError(`--ranks needs ${hidden} values (one per hidden layer of ${f.float}), got ${f.ranks.length}`);
  f.ranks.forEach((k, i) => {
    const max = Math.min(model.layers[i].nIn, model.layers[i].nOut);
    if (k > max) throw new UserError(`--ranks: layer ${i} takes a rank of at most ${max}, got ${k}`);
  });
  if (f.test && !f.data.startsWith("mnist:")) throw new UserError(`--test reports mnist:test; for ${f.data}, evaluate the checkpoint with rankgate quantize and eval`);
  const t0 = Date.now();
  const data = loadTrainVal(f, "learn-estimator", { features: model.layers[0].nIn, classes: model.layers[model.layers.length - 1].nOut, consumer: f.float });
  checkWidth(data.train, model.layers[0].nIn, f.float);
  const train = data.trainSamples;
  log(`learning estimators of ranks ${f.ranks.join("-")} for ${f.float} on ${train.count} samples of ${f.data} (w_pos ${f.wPos}, match ${f.match}), seed ${f.seed}`);
  let bar = progress("layer 0 epoch 1", 1, true);
  const result = await learnEstimators({
    model, ranks: f.ranks, epochs: f.epochs, batchSize: f.batch, lr: f.lr, wPos: f.wPos, match: f.match, matchSamples: f.matchSamples, seed: f.seed, train,
    onBatch: (b) => {
      if (b.batch === 1) bar = progress(`layer ${b.layer} epoch ${b.epoch}/${f.epochs}`, b.batches, f.quiet);
      bar.update(b.batch, `loss ${b.loss.toFixed(4)}`);
    },
    onLayer: (l) => {
      bar.stop();
      log(`layer ${l.layer}: loss ${l.loss.toFixed(4)}, offset shift ${l.shift.toFixed(3)}${l.computedTarget === null ? "" : ` (computed matched to SVD's ${(100 * l.computedTarget).toFixed(1)} %)`}, ${l.seconds.toFixed(1)} s`);
    },
  });
  const seconds = (Date.now() - t0) / 1000;
  const val = await compareEstimators(result.model, result.svdModel, data.valSamples);
  const test = f.test ? await compareEstimators(result.model, result.svdModel, loadMnist("test")) : undefined;
  saveCheckpoint(result.model, f.output, {
    ...metadata, ranks: f.ranks,
    data: f.data, estimator: { kind: "learned", init: "svdFactors", epochs: f.epochs, batchSize: f.batch, lr: f.lr, optimizer: "adam", wPos: f.wPos, match: f.match, matchSamples: f.matchSamples, shifts: result.shifts, seed: f.seed, inputs: "gated (learned estimators of earlier layers in the loop)", from: f.float },
    valErrorGated: val.learned.error, valErrorSvd: val.svd.error, valMacFraction: val.learned.macFraction,
  });
  const show = (name: string, c: { learned: GatedEval; svd: GatedEval; dense: GatedEval }) => {
    console.log(`  ${name} learned: ${showGated(c.learned)}`);
    console.log(`  ${name} SVD:     ${showGated(c.svd)}`);
    console.log(`  ${name} dense:   error ${(100 * c.dense.error).toFixed(2)} %`);
  };
  console.log(`${f.output}: ${seconds.toFixed(0)} s`);
  show("val", val);
  if (test) show("test", test);
  if (f.report) writeFileForUser(f.report, JSON.stringify({ checkpoint: f.output, from: f.float, ranks: f.ranks, epochs: f.epochs, wPos: f.wPos, match: f.match, lr: f.lr, batchSize: f.batch, seed: f.seed, seconds, shifts: result.shifts, val, ...(test && { test }) }, null, 1) + "\n");
}

export function registerLearnEstimator(program: Command): void {
  const cmd = program
    .command("learn-estimator")
    .description("train the low-rank sign estimators of a frozen float net from their SVD init (recall-weighted logistic loss) on labelled data (default mnist:train); compares with plain SVD")
    .requiredOption("--float <file>", "the trained float checkpoint (frozen)")
    .requiredOption("-o, --output <file>", "checkpoint to write (.safetensors, with layers.{i}.est.*)");
  addDataOptions(cmd, "mnist:train", "training data (labelled)");
  addDataOptions(cmd, undefined, `validation data for the comparison (default: mnist:val for mnist:train, else every ${VAL_EVERY}th sample of --data)`, "val")
    .requiredOption("--ranks <list>", "estimator rank per hidden layer (0: dense)", numberList("--ranks", true))
    .option("--epochs <n>", "epochs per layer", positiveInt("--epochs"), 3)
    .option("--batch <n>", "minibatch size", positiveInt("--batch"), 100)
    .option("--lr <x>", "Adam learning rate", num("--lr", 1e-9, 1), 1e-3)
    .option("--w-pos <x>", "loss weight of a positive unit (negatives weigh 1)", num("--w-pos", 1e-6, 1e6), 4)
    .option("--match <how>", "svd: shift each layer's offsets so it computes as many units as plain SVD; none: keep them", (v) => {
      if (v !== "svd" && v !== "none") throw new UserError(`--match must be svd or none, got '${v}'`);
      return v;
    }, "svd")
    .option("--match-samples <n>", "training samples used to match the computed fraction", positiveInt("--match-samples"), 10_000)
    .option("--seed <n>", "seed of the shuffles", positiveInt("--seed"), 1)
    .option("--train-limit <n>", "train on the first n training samples only (quick runs)", positiveInt("--train-limit"))
    .option("--test", "also report mnist:test (never used for a choice; MNIST data only)")
    .option("--report <file>", "write the run's numbers as JSON")
    .option("-q, --quiet", "no progress output")
    .action((flags: EstimatorFlags) => learnEstimatorCommand(flags));
}
