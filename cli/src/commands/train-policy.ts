// rankgate train-policy: an MLP with a learned block policy per hidden layer (Bengio et al. 2015).
import { writeFileForUser } from "../../../toolchain/io/files.ts";
import type { Command } from "commander";
import { UserError } from "../../../runtime/src/index.ts";
import { loadMnist } from "../../../toolchain/data/mnist.ts";
import { loadCheckpoint, saveCheckpoint } from "../../../toolchain/train/training-checkpoint.ts";
import { checkBlockSize, evaluateConditional, trainPolicy, type GateInit, type NetMask, type PolicyLoss, type RegNorm } from "../../../toolchain/train/condnet.ts";
import { classCount } from "../../../toolchain/data/index.ts";
import { addDataOptions, addShiftOptions, loadTrainVal, numberList, positiveInt, shiftAugment, VAL_EVERY, type TrainDataFlags } from "../data-options.ts";
import { progress } from "../progress.ts";
import { checkOutputPath } from "../cli-io.ts";
import { num, registerLearnEstimator, showGated } from "./learn-estimator.ts";

interface PolicyFlags extends TrainDataFlags {
  output: string;
  sizes?: number[];
  init?: string;
  blockSize: number;
  tau: number[];
  tauStart?: number;
  tauEpochs: number;
  epochs: number;
  batch: number;
  lrNet: number;
  lrPolicy: number;
  lrDecay: number;
  lambdaS: number;
  lambdaV: number;
  l2Net: number;
  l2Policy: number;
  regNorm: RegNorm;
  policyInitScale: number;
  baselineDecay: number;
  seed: number;
  patience?: number;
  shift?: number;
  image?: number[];
  teacher?: string;
  distill?: number;
  temperature: number;
  freezeNetEpochs: number;
  normalizeAdvantage?: boolean;
  policyLoss: PolicyLoss;
  netMask?: NetMask;
  maxBlockDensity?: number;
  oraclePosWeight: number;
  oracleCostWeight?: number;
  oracleBalance: number;
  complementaryPair?: boolean;
  topK: number;
  routeTemperature: number;
  gateInit: GateInit;
  calibrateBias?: boolean;
  calibrateInLoop?: boolean;
  test?: boolean;
  report?: string;
  quiet?: boolean;
}

const pct = (v: number[]) => v.map((x) => (100 * x).toFixed(1)).join("/");

export async function trainPolicyCommand(f: PolicyFlags): Promise<void> {
  const log = (s: string) => { if (!f.quiet) process.stderr.write(s + "\n"); };
  for (const p of [f.output, f.report]) if (p) checkOutputPath(p);
  const initial = f.init ? loadCheckpoint(f.init).model : undefined;
  const teacher = f.teacher ? loadCheckpoint(f.teacher).model : undefined;
  if (f.distill !== undefined && !teacher) throw new UserError("--distill needs --teacher (the model whose soft labels the net learns)");
  if (f.test && !f.data.startsWith("mnist:")) throw new UserError(`--test reports mnist:test; for ${f.data}, evaluate the checkpoint with rankgate quantize and eval`);
  if (!initial && f.sizes && (f.sizes.length < 3 || f.sizes.some((s) => !Number.isInteger(s) || s < 1))) throw new UserError(`--sizes needs at least three positive integers (a hidden layer), got ${f.sizes.join(",")}`);
  const data = loadTrainVal(f, "train-policy");
  const width = data.train.width, classes = Math.max(classCount(data.train), classCount(data.val));
  const sizes = initial ? [initial.layers[0].nIn, ...initial.layers.map((l) => l.nOut)] : f.sizes ?? [width, 256, classes];
  const hidden = sizes.length - 2;
  if (sizes.length < 3) throw new UserError(`--sizes needs at least three positive integers (a hidden layer), got ${sizes.join(",")}`);
  if (sizes[0] !== width) throw new UserError(`${initial ? `${f.init} takes` : "--sizes must start with"} ${sizes[0]} inputs; ${f.data} has ${width} features per sample`);
  if (sizes[sizes.length - 1] < classes) throw new UserError(`${initial ? f.init : "--sizes"}: ${sizes[sizes.length - 1]} outputs, but the labels of ${f.data} go up to ${classes - 1}`);
  const tau = f.tau.length === 1 ? Array<number>(hidden).fill(f.tau[0]) : f.tau;
  if (tau.length !== hidden) throw new UserError(`--tau takes one value or one per hidden layer (${hidden}), got ${f.tau.length}`);
  if (tau.some((t) => !(t > 0 && t < 1))) throw new UserError(`--tau values must be in (0, 1), got ${f.tau.join(",")}`);
  if (f.batch < 2) throw new UserError(`--batch must be at least 2 (the regularisers use batch statistics), got ${f.batch}`);
  if (f.tauStart !== undefined && f.tauEpochs === 0) throw new UserError("--tau-start needs --tau-epochs (the length of the anneal)");
  checkBlockSize(sizes, f.blockSize);
  const augment = shiftAugment(f, width);
  const t0 = Date.now();
  const train = data.trainSamples;
  const gating = f.topK > 0 ? `routed (top-${f.topK})` : "thresholded";
  log(`training ${sizes.join("-")} with block policies (blocks of ${f.blockSize}, τ ${tau.map((t) => +t.toFixed(4)).join(",")}) on ${train.count} samples of ${f.data} (validation: ${data.val.count})${f.init ? `, net from ${f.init}` : ""}, seed ${f.seed}`);
  let bar = progress(`epoch 1/${f.epochs}`, 1, true);
  const result = await trainPolicy({
    sizes, initial, blockSize: f.blockSize, tau, tauStart: f.tauStart, tauEpochs: f.tauEpochs, epochs: f.epochs, batchSize: f.batch, lrNet: f.lrNet, lrPolicy: f.lrPolicy, lrDecay: f.lrDecay,
    lambdaS: f.lambdaS, lambdaV: f.lambdaV, l2Net: f.l2Net, l2Policy: f.l2Policy, regNorm: f.regNorm, policyInitScale: f.policyInitScale,
    baselineDecay: f.baselineDecay, seed: f.seed, patience: f.patience, train, val: data.valSamples,
    augment, teacher, teacherAlpha: f.distill, teacherTemperature: f.temperature, freezeNetEpochs: f.freezeNetEpochs, normalizeAdvantage: f.normalizeAdvantage,
    policyLoss: f.policyLoss, netMask: f.netMask, maxBlockDensity: f.maxBlockDensity, calibrateBias: f.calibrateBias, calibrateInLoop: f.calibrateInLoop, oraclePosWeight: f.oraclePosWeight, oracleCostWeight: f.oracleCostWeight, oracleBalance: f.oracleBalance, complementaryPair: f.complementaryPair,
    topK: f.topK, routeTemperature: f.routeTemperature, gateInit: f.gateInit,
    onBatch: (b) => {
      if (b.batch === 1) bar = progress(`epoch ${b.epoch}/${f.epochs}`, b.batches, f.quiet);
      bar.update(b.batch, `nll ${b.nll.toFixed(4)}`);
    },
    onEpoch: (e) => {
      bar.stop();
      if (e.calibration) log(`epoch ${e.epoch}: uncalibrated val thresholded ${showGated(e.calibration.val)}; gate-bias offset ${e.calibration.offset}`);
      log(`epoch ${e.epoch}: τ ${e.tau.map((t) => t.toFixed(3)).join("/")}, nll ${e.nll.toFixed(4)} (${f.topK > 0 ? "top-k" : "sampled"} masks, mean σ ${pct(e.sigmaMean)} %), val ${gating} ${showGated(e.val)}, ${e.seconds.toFixed(1)} s`);
    },
  });
  const val = data.valSamples;
  const calibration = result.history.find((h) => h.epoch === result.bestEpoch)?.calibration;
  const seconds = (Date.now() - t0) / 1000;
  const valDense = await evaluateConditional(result.model, val, { gating: false });
  const test = f.test ? loadMnist("test") : undefined;
  const testGated = test ? await evaluateConditional(result.model, test) : undefined;
  const testDense = test ? await evaluateConditional(result.model, test, { gating: false }) : undefined;
  const policy = {
    blockSize: f.blockSize, tau, ...(f.tauStart !== undefined && { tauStart: f.tauStart, tauEpochs: f.tauEpochs }), lrNet: f.lrNet, lrPolicy: f.lrPolicy, lrDecay: f.lrDecay, lambdaS: f.lambdaS, lambdaV: f.lambdaV,
    l2Net: f.l2Net, l2Policy: f.l2Policy, regNorm: f.regNorm, policyInitScale: f.policyInitScale, baselineDecay: f.baselineDecay, optimizer: "adam",
    // Recorded only when set, so the metadata of runs without them is unchanged
    ...(augment && { shift: augment.shift }),
    ...(teacher && { teacher: f.teacher, distill: f.distill ?? 0.5, temperature: f.temperature }),
    ...(f.freezeNetEpochs > 0 && { freezeNetEpochs: f.freezeNetEpochs }),
    ...(f.normalizeAdvantage && { normalizeAdvantage: true }),
    ...(f.policyLoss !== "reinforce" && { policyLoss: f.policyLoss }),
    ...(f.netMask !== undefined && f.netMask !== "sampled" && { netMask: f.netMask }),
    ...(f.topK > 0 && { topK: f.topK, gateInit: f.gateInit, ...(f.policyLoss === "route" && { routeTemperature: f.routeTemperature }) }),
    ...(f.maxBlockDensity !== undefined && { maxBlockDensity: f.maxBlockDensity }),
    ...(f.oraclePosWeight !== 1 && { oraclePosWeight: f.oraclePosWeight }),
    ...(f.oracleCostWeight !== undefined && { oracleCostWeight: f.oracleCostWeight }),
    ...(f.oracleBalance !== 0 && { oracleBalance: f.oracleBalance }),
    ...(f.complementaryPair && { complementaryPair: true }),
    ...(calibration && { gateBiasOffset: calibration.offset }),
    ...(f.calibrateBias && !calibration && { gateBiasOffset: 0 }),
    ...(f.calibrateInLoop && { calibrateInLoop: true }),
  };
  saveCheckpoint(result.model, f.output, {
    seed: f.seed, epochs: f.epochs, bestEpoch: result.bestEpoch, batchSize: f.batch, trainSamples: train.count, init: f.init ?? null,
    data: f.data, valData: f.valData ?? (f.data === "mnist:train" ? "mnist:val" : `every ${VAL_EVERY}th sample of ${f.data}`),
    policy, valError: valDense.error, valErrorGated: result.val.error, valBlockDensity: result.val.blockDensity, valMacFraction: result.val.macFraction,
  });
  console.log(`${f.output}: best epoch ${result.bestEpoch} of ${f.epochs}, ${seconds.toFixed(0)} s`);
  console.log(`  val ${gating}: ${showGated(result.val)}`);
  console.log(`  val dense (no policy): error ${(100 * valDense.error).toFixed(2)} %`);
  if (testGated && testDense) {
    console.log(`  test ${gating}: ${showGated(testGated)}`);
    console.log(`  test dense (no policy): error ${(100 * testDense.error).toFixed(2)} %`);
  }
  if (f.report) {
    writeFileForUser(f.report, JSON.stringify({
      checkpoint: f.output, sizes, seed: f.seed, epochs: f.epochs, bestEpoch: result.bestEpoch, seconds, batchSize: f.batch, init: f.init ?? null, policy,
      val: { gated: result.val, dense: valDense, ...(calibration && { beforeCalibration: calibration.val }) }, ...(testGated && { test: { gated: testGated, dense: testDense } }),
      history: result.history.map((h) => ({
        epoch: h.epoch, nll: h.nll, sigmaMean: h.sigmaMean, valError: h.val.error, valBlockDensity: h.val.blockDensity,
        ...(h.calibration && { gateBiasOffset: h.calibration.offset, valErrorUncalibrated: h.calibration.val.error, valBlockDensityUncalibrated: h.calibration.val.blockDensity }),
        seconds: h.seconds,
      })),
    }, null, 1) + "\n");
  }
}

/** Registers `train-policy` and `learn-estimator`. */
export function registerTrainPolicy(program: Command): void {
  const cmd = program
    .command("train-policy")
    .description("train an MLP with a learned block policy per hidden layer (Bengio et al. 2015; REINFORCE) on labelled data (default mnist:train); the validation data picks the epoch, thresholded")
    .requiredOption("-o, --output <file>", "checkpoint to write (.safetensors, with layers.{i}.gate.*)");
  addDataOptions(cmd, "mnist:train", "training data (labelled)");
  addDataOptions(cmd, undefined, `validation data (default: mnist:val for mnist:train, else every ${VAL_EVERY}th sample of --data)`, "val")
    .option("--sizes <list>", "layer widths, input first: the data's features per sample, ..., at least its classes (default <features>,256,<classes>; ignored with --init)", numberList("--sizes", true))
    .option("--init <file>", "start the net from this float checkpoint")
    .option("--block-size <n>", "units per block", positiveInt("--block-size"), 16)
    .option("--tau <list>", "target block density τ: one value or one per hidden layer", numberList("--tau", false), [1 / 16])
    .option("--tau-start <x>", "anneal the target density from this value down to --tau", num("--tau-start", 1e-6, 0.999999))
    .option("--tau-epochs <n>", "epochs of the --tau-start anneal (geometric)", (v) => (v === "0" ? 0 : positiveInt("--tau-epochs")(v)), 0)
    .option("--epochs <n>", "epochs", positiveInt("--epochs"), 20)
    .option("--batch <n>", "minibatch size", positiveInt("--batch"), 64)
    .option("--lr-net <x>", "Adam learning rate of the net", num("--lr-net", 1e-9, 1), 1e-3)
    .option("--lr-policy <x>", "Adam learning rate of the policy (0: it stays as it starts, e.g. --gate-init kmeans)", (v) => (v === "0" ? 0 : num("--lr-policy", 1e-9, 1)(v)), 1e-2)
    .option("--lr-decay <x>", "learning-rate factor per epoch", num("--lr-decay", 1e-9, 1), 0.95)
    .option("--lambda-s <x>", "λ_s, weight of L_b + L_e", num("--lambda-s", 0), 200)
    .option("--lambda-v <x>", "λ_v, weight of L_v", num("--lambda-v", 0), 200)
    .option("--l2-net <x>", "L2 on the net's weights", num("--l2-net", 0), 1e-4)
    .option("--l2-policy <x>", "L2 on the policy's weights", num("--l2-policy", 0), 1e-4)
    .option("--reg-norm <name>", "deviation measure of L_b and L_e: abs (paper) or square", (v) => {
      if (v !== "abs" && v !== "square") throw new UserError(`--reg-norm must be abs or square, got '${v}'`);
      return v;
    }, "abs")
    .option("--policy-init-scale <x>", "std of the initial policy weights, times 1/√nIn", num("--policy-init-scale", 0), 8)
    .option("--baseline-decay <x>", "decay of the running-mean REINFORCE baseline", num("--baseline-decay", 0, 0.999), 0.9)
    .option("--seed <n>", "seed of init, shuffles and mask samples", positiveInt("--seed"), 1)
    .option("--patience <n>", "stop after n epochs without a better validation error", positiveInt("--patience"))
    .option("--teacher <file>", "distil from this float checkpoint's soft labels (any MLP on the same inputs and classes)")
    .option("--distill <x>", "weight α of the distillation term: (1 − α)·NLL + α·T²·KL (default 0.5 with --teacher)", num("--distill", 0, 1))
    .option("--temperature <x>", "distillation temperature T", num("--temperature", 1e-3, 100), 3)
    .option("--freeze-net-epochs <n>", "the first n epochs train the policy only (the net frozen)", (v) => (v === "0" ? 0 : positiveInt("--freeze-net-epochs")(v)), 0)
    .option("--normalize-advantage", "REINFORCE: divide each batch's advantages (cost − baseline) by their standard deviation")
    .option("--policy-loss <name>", "reinforce (the paper), oracle (one hidden layer: fit each sample's best single block by logistic regression) or route (one hidden layer, --top-k: the policy's softmax fits softmax(−cost / --route-temperature) over the blocks)", (v) => {
      if (v !== "reinforce" && v !== "oracle" && v !== "route") throw new UserError(`--policy-loss must be reinforce, oracle or route, got '${v}'`);
      return v;
    }, "reinforce")
    .option("--net-mask <name>", "the mask the net trains through: sampled (Bernoulli(σ); default), threshold (inference's), oracle (the oracle target; --policy-loss oracle) or top (inference's with --top-k; its default)", (v) => {
      if (v !== "sampled" && v !== "threshold" && v !== "oracle" && v !== "top") throw new UserError(`--net-mask must be sampled, threshold, oracle or top, got '${v}'`);
      return v;
    })
    .option("--top-k <k>", "routing gates: every sample opens the k blocks with the highest policy scores, in training and in the model (0: threshold gates)", (v) => (v === "0" ? 0 : positiveInt("--top-k")(v)), 0)
    .option("--route-temperature <x>", "--policy-loss route: temperature T of the soft targets softmax(−cost / T)", num("--route-temperature", 1e-6, 1e6), 0.5)
    .option("--gate-init <name>", "initial policy: random, or kmeans (--top-k, one hidden layer: one k-means centroid of the training inputs per block, each sample routed to its nearest)", (v) => {
      if (v !== "random" && v !== "kmeans") throw new UserError(`--gate-init must be random or kmeans, got '${v}'`);
      return v;
    }, "random")
    .option("--oracle-pos-weight <x>", "--policy-loss oracle: weight of the target block in the logistic loss", num("--oracle-pos-weight", 1e-6, 1e6), 1)
    .option("--oracle-cost-weight <x>", "--policy-loss oracle: target = argmax(policy logit − x·cost) instead of the cheapest block (keeps the policy's regions separable)", num("--oracle-cost-weight", 0))
    .option("--oracle-balance <x>", "--policy-loss oracle: step η of the per-block routing bias that keeps the targets spread over the blocks (0: off)", num("--oracle-balance", 0), 0)
    .option("--complementary-pair", "two complementary blocks per layer (Z₁ = −Z₀, d₁ = −d₀), the others closed: every sample opens exactly one of two experts")
    .option("--calibrate-bias", "after every epoch, add the one offset to every gate bias that gives the lowest validation error with the block density at most --max-block-density (default: τ); epochs are judged and saved calibrated")
    .option("--calibrate-in-loop", "with --calibrate-bias: training goes on from the calibrated gate biases")
    .option("--max-block-density <x>", "only epochs whose thresholded val block density is at most x (every gated layer) can be chosen", num("--max-block-density", 1e-6, 1))
    .option("--train-limit <n>", "train on the first n training samples only (quick runs)", positiveInt("--train-limit"))
    .option("--test", "also report mnist:test (never used for a choice; MNIST data only)")
    .option("--report <file>", "write the run's numbers as JSON")
    .option("-q, --quiet", "no progress output");
  addShiftOptions(cmd).action((flags: PolicyFlags) => trainPolicyCommand(flags));
  registerLearnEstimator(program);
}
