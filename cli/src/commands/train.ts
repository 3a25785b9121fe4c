// rankgate train: float MLP on any labelled data (default MNIST), optionally with the low-rank estimator in the loop.
import type { Command } from "commander";
import { UserError } from "../../../runtime/src/index.ts";
import { svdFactors } from "../../../toolchain/quantize/quantize.ts";
import { saveCheckpoint } from "../../../toolchain/train/training-checkpoint.ts";
import { COMPUTE_NAMES, type ComputeName } from "../../../toolchain/train/compute.ts";
import { evaluateFloat, trainMlp, type FloatEval } from "../../../toolchain/train/trainer.ts";
import { classCount } from "../../../toolchain/data/index.ts";
import { addDataOptions, addShiftOptions, loadTrainVal, numberList, positiveInt, shiftAugment, VAL_EVERY, type TrainDataFlags } from "../data-options.ts";
import { progress } from "../progress.ts";
import { checkOutputPath } from "../cli-io.ts";

interface TrainFlags extends TrainDataFlags {
  output: string;
  sizes?: number[];
  epochs: number;
  batch: number;
  lr: number;
  lrDecay: number;
  momentum: number;
  l1: number[];
  ranks?: number[];
  seed: number;
  patience?: number;
  compute: ComputeName;
  svdOversample?: number;
  svdIters?: number;
  shift?: number;
  image?: number[];
  quiet?: boolean;
}

const pct = (v: number[]) => v.map((x) => (100 * x).toFixed(1)).join("/");
const show = (e: FloatEval) =>
  `error ${(100 * e.error).toFixed(2)} %, density ${pct(e.density)} %, computed ${pct(e.computed)} %, recall ${pct(e.recall)} %, MACs ${e.macFraction.toFixed(3)}×`;

export async function trainCommand(f: TrainFlags): Promise<void> {
  const log = (s: string) => { if (!f.quiet) process.stderr.write(s + "\n"); };
  checkOutputPath(f.output);
  if (f.sizes && (f.sizes.length < 2 || f.sizes.some((s) => !Number.isInteger(s) || s < 1))) throw new UserError(`--sizes needs at least two positive integers, got ${f.sizes.join(",")}`);
  const data = loadTrainVal(f, "train");
  const width = data.train.width, classes = Math.max(classCount(data.train), classCount(data.val));
  const sizes = f.sizes ?? [width, ...DEFAULT_HIDDEN, classes];
  if (sizes[0] !== width) throw new UserError(`--sizes must start with ${width} (the features per sample of ${f.data}), got ${sizes[0]}`);
  if (sizes[sizes.length - 1] < classes) throw new UserError(`--sizes must end with at least ${classes} outputs (the labels of ${f.data} go up to ${classes - 1}), got ${sizes[sizes.length - 1]}`);
  const hidden = sizes.length - 2;
  const l1 = f.l1.length === 1 ? Array<number>(hidden).fill(f.l1[0]) : f.l1;
  if (l1.length !== hidden) throw new UserError(`--l1 takes one value or one per hidden layer (${hidden}), got ${f.l1.length}`);
  if (f.ranks && f.ranks.length !== hidden) throw new UserError(`--ranks needs ${hidden} values (one per hidden layer), got ${f.ranks.length}`);
  const augment = shiftAugment(f, width);
  const t0 = Date.now();
  const train = data.trainSamples;
  log(`training ${sizes.join("-")} on ${train.count} samples of ${data.train.description} (validation: ${data.val.count} samples)${f.ranks ? `, estimator ranks ${f.ranks.join("-")} in the loop` : ""}${augment ? `, shifted by up to ${augment.shift} px as ${augment.height}×${augment.width}×${augment.channels} images` : ""}, L1 ${l1.join(",")}, seed ${f.seed}`);
  let bar = progress(`epoch 1/${f.epochs}`, 1, true);
  const result = await trainMlp({
    sizes, epochs: f.epochs, batchSize: f.batch, lr: f.lr, lrDecay: f.lrDecay, momentum: f.momentum, l1, ranks: f.ranks,
    seed: f.seed, compute: f.compute, patience: f.patience, train, val: data.valSamples, augment,
    svd: { oversample: f.svdOversample, powerIters: f.svdIters },
    onBatch: (b) => {
      if (b.batch === 1) bar = progress(`epoch ${b.epoch}/${f.epochs}`, b.batches, f.quiet);
      bar.update(b.batch, `loss ${b.loss.toFixed(4)}`);
    },
    onEpoch: (e) => {
      bar.stop();
      log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, val error ${(100 * e.valError).toFixed(2)} %, density ${pct(e.density)} %, computed ${pct(e.computed)} %, recall ${pct(e.recall)} %, ${e.seconds.toFixed(1)} s`);
    },
  });
  // Validation with the factors the quantizer will build (exact SVD), so the number describes what ships
  const val = data.valSamples;
  const exact = f.ranks?.some((k) => k > 0)
    ? result.model.layers.slice(0, -1).map((l, i) => (f.ranks![i] > 0 ? svdFactors(l.weight, l.nIn, l.nOut, f.ranks![i]) : null))
    : undefined;
  const dense = await evaluateFloat(result.model, val.images, val.labels);
  const gated = exact ? await evaluateFloat(result.model, val.images, val.labels, { factors: exact }) : undefined;
  saveCheckpoint(result.model, f.output, {
    ranks: f.ranks ?? [], seed: f.seed, epochs: f.epochs, bestEpoch: result.bestEpoch, l1, lr: f.lr, lrDecay: f.lrDecay,
    momentum: f.momentum, batchSize: f.batch, compute: f.compute, trainSamples: train.count, data: f.data, valData: f.valData ?? (f.data === "mnist:train" ? "mnist:val" : `every ${VAL_EVERY}th sample of ${f.data}`),
    svd: { oversample: f.svdOversample, powerIters: f.svdIters }, ...(augment && { augment }),
    valError: dense.error, ...(gated && { valErrorGated: gated.error, valMacFraction: gated.macFraction }),
  });
  console.log(`${f.output}: best epoch ${result.bestEpoch} of ${f.epochs}, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log(`  val dense: ${show(dense)}`);
  if (gated) console.log(`  val gated (exact SVD): ${show(gated)}`);
}

/** Hidden widths when --sizes is not given: input and output come from the data. */
export const DEFAULT_HIDDEN = [1000, 600, 400];

const num = (flag: string, min: number, max = Infinity) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new UserError(`${flag} must be a number in [${min}, ${max}], got '${v}'`);
  return n;
};

export function registerTrain(program: Command): void {
  const cmd = program
    .command("train")
    .description("train a float MLP on labelled data (default mnist:train; the validation data picks the best epoch), optionally with the low-rank estimator in the loop")
    .requiredOption("-o, --output <file>", "checkpoint to write (.safetensors)");
  addDataOptions(cmd, "mnist:train", "training data (labelled)");
  addDataOptions(cmd, undefined, `validation data (default: mnist:val for mnist:train, else every ${VAL_EVERY}th sample of --data)`, "val")
    .option("--sizes <list>", `layer widths, input first: the input must be the data's features per sample, the output at least its classes (default <features>,${DEFAULT_HIDDEN.join(",")},<classes>)`, numberList("--sizes", true))
    .option("--epochs <n>", "epochs", positiveInt("--epochs"), 20)
    .option("--batch <n>", "minibatch size", positiveInt("--batch"), 100)
    .option("--lr <x>", "initial learning rate", num("--lr", 1e-9, 10), 0.05)
    .option("--lr-decay <x>", "learning-rate factor per epoch", num("--lr-decay", 1e-9, 1), 0.9)
    .option("--momentum <x>", "SGD momentum", num("--momentum", 0, 0.999), 0.9)
    .option("--l1 <list>", "L1 penalty on hidden activations: one value or one per hidden layer", numberList("--l1", false), [0])
    .option("--ranks <list>", "estimator rank per hidden layer, in the loop (SVD refreshed every epoch)", numberList("--ranks", true))
    .option("--seed <n>", "seed of init, shuffles and SVD sketches", positiveInt("--seed"), 1)
    .option("--patience <n>", "stop after n epochs without a better validation error", positiveInt("--patience"))
    .option("--compute <name>", `float compute: ${COMPUTE_NAMES.join(", ")}`, (v) => {
      if (!(COMPUTE_NAMES as readonly string[]).includes(v)) throw new UserError(`--compute must be one of ${COMPUTE_NAMES.join(", ")}, got '${v}'`);
      return v;
    }, "wasm")
    .option("--svd-oversample <n>", "extra columns of the per-epoch randomized SVD (default max(10, rank))", positiveInt("--svd-oversample"))
    .option("--svd-iters <n>", "power iterations of the per-epoch randomized SVD (default 4)", positiveInt("--svd-iters"))
    .option("--train-limit <n>", "train on the first n training samples only (quick runs)", positiveInt("--train-limit"));
  addShiftOptions(cmd)
    .option("-q, --quiet", "no progress output")
    .action((flags: TrainFlags) => trainCommand(flags));
}
