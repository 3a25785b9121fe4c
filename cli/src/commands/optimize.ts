// rankgate optimize: a float MLP and data → the gated int8 .rgm with the fewest MACs within an accuracy
// budget, its float checkpoint, and the Pareto front it explored (JSON and SVG). toolchain/optimize/optimize.ts.
import { extname } from "node:path";
import { Option, type Command } from "commander";
import { UserError, type FloatModel, readModel, writeModel, crc32 } from "../../../runtime/src/index.ts";
import { importOnnx } from "../../../toolchain/import/onnx.ts";
import { importSafetensors } from "../../../toolchain/import/state-dict.ts";
import { checkpointFile } from "../../../toolchain/train/training-checkpoint.ts";
import { defaultRanks, frontsByGate, frontSvg, GATE_CHOICES, OPTIMIZE_RECIPE, optimizeModel, toFloat, type GateChoice, type Trial } from "../../../toolchain/optimize/optimize.ts";
import { BLOCK_SIZES, BLOCK_TAUS } from "../../../toolchain/optimize/block-search.ts";
import { DEFAULT_SAFETY } from "../../../toolchain/optimize/rank-search.ts";
import type { Samples } from "../../../toolchain/train/trainer.ts";
import { writeSafetensors } from "../../../toolchain/io/safetensors-file.ts";
import { cModelFiles, cModelName, cModelPaths } from "../../../toolchain/model/c-header.ts";
import { orderForZeroSkip, PERMUTE_HELD_OUT } from "../../../toolchain/quantize/permute.ts";
import { addDataOptions, addShiftOptions, loadDataFor, numberList, positiveInt, shiftAugment, type DataFlags } from "../data-options.ts";
import { checkOutputPath, readUserFile, writeUserFile } from "../cli-io.ts";
import { progress, type Progress } from "../progress.ts";
import { num } from "./learn-estimator.ts";
import { findTarget } from "../../../sim/profile.ts";
import { DEFAULT_CYCLE_SAMPLES, DEPLOYED_SCHEDULE } from "../../../sim/target-cost.ts";

interface OptimizeFlags {
  /** --permute / --no-permute; left out: on, except with --target. */
  permute?: boolean;
  float: string;
  output: string;
  data: string;
  labels?: string;
  labelColumn?: string;
  csvHeader?: boolean;
  valData: string;
  valLabels?: string;
  valLabelColumn?: string;
  valCsvHeader?: boolean;
  trainLimit?: number;
  budget: number;
  maxMacs?: number;
  maxCycles?: number;
  target?: string;
  targetsDir?: string;
  cycleSamples?: number;
  ranks?: number[];
  /** The old name of --gate svd|learned (kept as an alias). */
  estimator?: "svd" | "learned";
  gate?: GateChoice;
  blockSizes?: number[];
  blockTau?: number[];
  epochs: number;
  lr: number;
  lrDecay: number;
  l1: number[];
  distill: number;
  temperature: number;
  margins?: number[];
  safety: number;
  calibration: number;
  estimatorEpochs: number;
  wPos: number;
  seed: number;
  work?: string;
  shift?: number;
  image?: number[];
  standardize: boolean;
  json?: boolean;
  quiet?: boolean;
}

/** The one place the command reads data: data flags → labelled samples of the model's width. */
export function loadSamples(flags: DataFlags, inputs: number, model: string, what: string, outputs?: number): Samples {
  const d = loadDataFor(flags, inputs, model, undefined, outputs);
  if (!d.labels) throw new UserError(`${flags.data}: ${what} needs labels (see --help for how to name them)`);
  const bad = d.labels.findIndex((y) => y > 255);
  if (bad >= 0) throw new UserError(`${flags.data}: label ${d.labels[bad]} at sample ${bad}: optimize trains on at most 256 classes`);
  return { images: d.features, labels: Uint8Array.from(d.labels), count: d.count };
}

async function loadModel(path: string): Promise<FloatModel> {
  const bytes = await readUserFile(path);
  return extname(path).toLowerCase() === ".onnx" ? importOnnx(bytes, path) : importSafetensors(bytes, path);
}

const minutes = (s: number) => (s < 90 ? `${Math.ceil(s)} s` : `${Math.round(s / 60)} min`);

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
const what = (t: Trial) => (t.block ? `block ${t.block.sizes.join("-")} τ ${t.block.tau}` : `${t.estimator} ranks ${t.ranks.join("-")}`);
const show = (t: Trial) => `${t.source} ${what(t)} margins ${t.marginSigmas.join("/")} σ: ${pct(t.error)} (bound ${pct(t.bound)}, ${t.flips} flips) at ${t.macsRatio.toFixed(3)}×${t.cyclesRatio !== undefined ? `, ${t.cyclesRatio.toFixed(3)}× cycles` : ""}`;

export async function optimizeCommand(flags: OptimizeFlags): Promise<void> {
  const log = (s: string) => { if (!flags.quiet) process.stderr.write(s + "\n"); };
  if (!flags.output.endsWith(".rgm")) throw new UserError(`--output must name an .rgm file, got '${flags.output}'`);
  if (flags.maxCycles !== undefined && flags.target === undefined) throw new UserError("--max-cycles is a fraction of dense cycles on a target: give --target <name> (rankgate sim --list-targets)");
  if (flags.maxCycles !== undefined && flags.maxMacs !== undefined) throw new UserError("--max-cycles and --max-macs exclude each other");
  if (flags.targetsDir !== undefined && flags.target === undefined) throw new UserError("--targets-dir needs --target <name>");
  if (flags.gate !== undefined && flags.estimator !== undefined && flags.gate !== flags.estimator) throw new UserError(`--estimator ${flags.estimator} and --gate ${flags.gate} disagree: give --gate only (--estimator is its old name)`);
  const gate: GateChoice = flags.gate ?? flags.estimator ?? OPTIMIZE_RECIPE.estimator;
  if ((flags.blockSizes || flags.blockTau) && gate !== "block" && gate !== "auto") throw new UserError(`--block-sizes and --block-tau need --gate block or auto, got --gate ${gate}`);
  const device = flags.target !== undefined ? findTarget(flags.target, flags.targetsDir) : undefined;
  const model = await loadModel(flags.float);
  const hidden = model.layers.length - 1;
  for (const [flag, list] of [["--ranks", flags.ranks], ["--l1", flags.l1]] as const) {
    if (list && list.length !== hidden && !(flag === "--l1" && list.length === 1)) throw new UserError(`${flag} needs ${hidden} values (one per hidden layer), got ${list.length}`);
  }
  const nIn = model.layers[0].nIn;
  const nOut = model.layers[hidden].nOut, stem = flags.output.replace(/\.rgm$/, "");
  const cPaths = cModelPaths(flags.output);
  for (const p of [flags.output, cPaths.header, cPaths.source, `${stem}-float.safetensors`, `${stem}.front.json`, `${stem}.front.svg`]) checkOutputPath(p);
  const train = loadSamples({ data: flags.data, labels: flags.labels, labelColumn: flags.labelColumn, csvHeader: flags.csvHeader, samples: flags.trainLimit }, nIn, flags.float, "training", nOut);
  const val = loadSamples({ data: flags.valData, labels: flags.valLabels, labelColumn: flags.valLabelColumn, csvHeader: flags.valCsvHeader }, nIn, flags.float, "validation", nOut);
  const augment = shiftAugment(flags, nIn);
  const ranks = flags.ranks ?? defaultRanks(model);
  const l1 = flags.l1.length === 1 ? Array<number>(hidden).fill(flags.l1[0]) : flags.l1;
  log(`optimize ${flags.float} (${[model.layers[0].nIn, ...model.layers.map((l) => l.nOut)].join("-")}): train ${train.count} of ${flags.data}, validate on ${val.count} of ${flags.valData}, ${gate === "block" ? "" : `ranks ${ranks.join("-")}, `}${gate === "auto" ? "gates svd, learned and block" : gate === "block" ? "block gates" : `${gate} estimator`}, ${flags.epochs} epochs${augment ? `, inputs shifted by up to ${augment.shift} px` : ""}`);
  let bar: Progress | null = null;
  let trialCount = 0, timed = false;
  // Warnings are shown even with --quiet or --json (on stderr)
  const warn = (s: string) => process.stderr.write(s + "\n");
  const t0 = Date.now();
  const result = await optimizeModel({
    model, train, val, ranks, gate, blockSizes: flags.blockSizes, blockTaus: flags.blockTau, epochs: flags.epochs, lr: flags.lr, lrDecay: flags.lrDecay, l1,
    distill: { alpha: flags.distill, temperature: flags.temperature }, budgetPp: flags.budget, maxMacs: flags.maxMacs, margins: flags.margins, safety: flags.safety,
    calibration: flags.calibration, estimatorEpochs: flags.estimatorEpochs, wPos: flags.wPos, seed: flags.seed, workDir: flags.work, augment, standardize: flags.standardize,
    target: device, maxCycles: flags.maxCycles, cycleSamples: flags.cycleSamples,
    onEvent: (e) => {
      if (e.stage === "reference") log(`int8 dense validation error ${pct(e.denseError)}; ${flags.maxMacs !== undefined ? `the most accurate model within ${flags.maxMacs}× dense MACs` : flags.maxCycles !== undefined ? `the most accurate model within ${flags.maxCycles}× dense cycles on ${device!.name}` : `budget ${flags.budget} pp → target ${pct(e.target)}`}`);
      else if (e.stage === "batch") {
        if (e.batch === 1) bar = progress(`epoch ${e.epoch}/${e.epochs}`, e.batches, flags.quiet);
        bar?.update(e.batch, `loss ${e.loss.toFixed(4)}`);
      } else if (e.stage === "epoch") {
        bar?.stop();
        bar = null;
        log(`epoch ${e.epoch}/${e.epochs}${e.resumed ? " (resumed)" : ""}: loss ${e.loss.toFixed(4)}, val error (float, gated) ${pct(e.valError)} at ${e.macFraction.toFixed(3)}× MACs, computed ${e.computed.map((c) => (c * 100).toFixed(1)).join("/")} %, ${e.seconds.toFixed(0)} s`);
        // The first epoch run here times the rest
        if (!e.resumed && !timed && e.epoch < e.epochs) {
          timed = true;
          log(`time estimate: about ${minutes(e.seconds * (e.epochs - e.epoch))} for the ${e.epochs - e.epoch} remaining epochs (${e.seconds.toFixed(1)} s each), then the search`);
        }
      } else if (e.stage === "estimator") log(`  learned estimators: ${e.seconds.toFixed(0)} s`);
      else if (e.stage === "warning") warn(`warning: ${e.message}`);
      else if (e.stage === "gate") log(`— gate ${e.gate} —`);
      else if (e.stage === "block") {
        bar?.stop();
        bar = null;
        log(e.resumed ? `block ${e.block}: resumed (best epoch ${e.epoch})` : `block ${e.block} epoch ${e.epoch}/${e.epochs}: val error (float, thresholded) ${pct(e.valError)} at ${e.macFraction.toFixed(3)}× MACs, blocks open ${e.blockDensity.map((c) => (c * 100).toFixed(1)).join("/")} %, ${e.seconds.toFixed(0)} s`);
      }
      else log(`trial ${++trialCount}${e.cached ? " (resumed)" : ""}: ${show(e.trial)}`);
    },
  });
  const { tensors, metadata } = checkpointFile(result.float, { optimize: { float: flags.float, data: flags.data, valData: flags.valData, ranks, gate, ...(gate !== "svd" && gate !== "learned" && { blockSizes: flags.blockSizes ?? BLOCK_SIZES, blockTau: flags.blockTau ?? BLOCK_TAUS }), epochs: flags.epochs, lr: flags.lr, lrDecay: flags.lrDecay, l1, distill: flags.distill, temperature: flags.temperature, wPos: flags.wPos, seed: flags.seed, safety: flags.safety, standardize: flags.standardize, ...(augment && { augment }), bestEpoch: result.bestEpoch }, chosen: result.best });
  const report = {
    float: flags.float, output: flags.output, data: flags.data, val_data: flags.valData, budget_pp: flags.budget, max_macs: flags.maxMacs ?? null, safety: flags.safety,
    cycles: device ? { target: device.name, schedule: DEPLOYED_SCHEDULE, samples: result.best.cyclesSamples, max_cycles: flags.maxCycles ?? null, dense: result.best.cycles! / result.best.cyclesRatio!, chosen: result.best.cycles, ratio: result.best.cyclesRatio } : null,
    gating_does_not_pay: result.gatingDoesNotPay ?? null,
    gate, block_runs: result.blockRuns ?? null,
    dense_error: result.denseError, target: result.target, chosen: result.best, no_trial_met: result.unmet, warnings: result.warnings, best_epoch: result.bestEpoch, history: result.history,
    front: result.front, front_by_gate: frontsByGate(result.trials), trials: result.trials, seconds: (Date.now() - t0) / 1000,
  };
  // Hidden-unit order for zero-input skipping (toolchain/quantize/permute.ts), as in quantize: the same logits, fewer kept 8-input chunks;
  // off by default with --target, where the cycles chosen above are those of the search's order
  let rgm = result.rgm;
  if ((flags.permute ?? !device) && hidden > 0) {
    const calibCount = Math.min(flags.calibration, val.count);
    log(`ordering hidden units by co-activation on ${calibCount} validation samples …`);
    const p = await orderForZeroSkip(readModel(rgm).model, toFloat(val, nIn), nIn, calibCount, Math.min(PERMUTE_HELD_OUT, val.count - calibCount));
    rgm = writeModel(p.model);
    (report as Record<string, unknown>).permute = p.report;
  }
  await writeUserFile(flags.output, rgm);
  const c = cModelFiles(rgm, cModelName(flags.output), cDescription(rgm), cPaths.header.split(/[\\/]/).pop(), "rankgate optimize");
  await writeUserFile(cPaths.header, c.header);
  await writeUserFile(cPaths.source, c.source);
  await writeUserFile(`${stem}-float.safetensors`, writeSafetensors(tensors, metadata));
  await writeUserFile(`${stem}.front.json`, JSON.stringify(report, null, 2) + "\n");
  await writeUserFile(`${stem}.front.svg`, await frontSvg(result.trials, result.front, result.best, result.target, `${flags.float}: validation error against MACs (${result.trials.length} trials)`, flags.maxMacs));
  if (result.gatingDoesNotPay) process.stderr.write(`rankgate: gating does not pay on ${device!.name}: no trial within the budget takes fewer cycles than dense; writing the input's dense int8 model\n`);
  const goal = flags.maxMacs !== undefined ? `within ${flags.maxMacs}× dense MACs` : flags.maxCycles !== undefined ? `within ${flags.maxCycles}× dense cycles on ${device!.name}` : `target ${pct(result.target)}${device ? `, fewest cycles on ${device.name}` : ""}`;
  const u = result.unmet;
  const unmetLine = u && `no trial met the target (budget ${flags.budget} pp → ${pct(result.target)}): best trial ${pct(u.error)} at ${u.macsRatio.toFixed(3)}× (bound ${pct(u.bound)}; ${u.source} ${what(u)}); wrote the input's dense int8 model`;
  if (flags.json) {
    if (unmetLine) warn(unmetLine);
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  if (unmetLine) console.log(unmetLine);
  console.log(`${flags.output}: ${show(result.best)} on ${flags.valData} (int8 dense ${pct(result.denseError)}, ${goal}); ${cPaths.header}, ${cPaths.source}, ${stem}-float.safetensors, ${stem}.front.json, ${stem}.front.svg`);
}

/** The C model files' one-line description, as quantize's: sizes, per-feature input, ranks, block gates, CRC-32. */
function cDescription(bytes: Uint8Array): string {
  const { model } = readModel(bytes);
  const L = model.layers, hidden = L.slice(0, -1);
  return `${[L[0].nIn, ...L.map((l) => l.nOut)].join("-")}, ${model.inputFeatures ? "per-feature input, " : ""}ranks ${hidden.map((l) => l.estimator?.rank ?? 0).join("-")}` +
    `${hidden.some((l) => l.gate) ? `, block gates ${hidden.map((l) => (l.gate ? `${l.gate.blocks}×${l.gate.blockSize}` : "-")).join("/")}` : ""}, crc32 0x${crc32(bytes, 16).toString(16).padStart(8, "0")}`;
}

export function registerOptimize(program: Command): void {
  const cmd = program
    .command("optimize")
    .description("fine-tune a float MLP with the estimator in the loop, search ranks and margins on validation, and write the gated .rgm with the fewest MACs within --budget")
    .requiredOption("--float <file>", "float model (.safetensors checkpoint or .onnx)")
    .requiredOption("-o, --output <file>", "the .rgm to write; the C model files <stem>.h and <stem>.c (as quantize writes them), <stem>-float.safetensors, <stem>.front.json and <stem>.front.svg go beside it")
    .option("--train-limit <n>", "train on the first n samples only", positiveInt("--train-limit"))
    .option("--budget <pp>", "allowed int8 gated error over the input model's int8 dense error on --val-data, in percentage points", num("--budget", 0, 100), 0.1)
    .option("--max-macs <fraction>", "a compute budget instead: the most accurate model within this fraction of dense MACs (e.g. 0.2)", num("--max-macs", 1e-6, 1))
    .option("--target <name>", "price trials in predicted cycles per inference on this target (rankgate sim --list-targets): gated rows without zero skip, as the C runtime and Engine run by default, against the dense model; the budget search then minimizes cycles (a layer may go to rank 0) and never returns a model slower than dense")
    .option("--max-cycles <fraction>", "with --target, a cycle budget instead: the most accurate model within this fraction of dense cycles on it", num("--max-cycles", 1e-6, 1))
    .option("--targets-dir <dir>", "with --target: read target profiles from this folder instead of sim/targets")
    .option("--cycle-samples <n>", "with --target: the first n samples of --val-data price every trial", positiveInt("--cycle-samples"), DEFAULT_CYCLE_SAMPLES)
    .option("--ranks <list>", "estimator rank per hidden layer in training; the search tries these and smaller, and on the input model also the ranks quantize --budget would choose (default 5 % of min(n_in, n_out), at least 8)", numberList("--ranks", true))
    .option("--gate <kind>", `what gates the hidden rows: svd (top-k SVD estimators refreshed every epoch), learned (sign-trained estimators, relearned every epoch), block (block policies fine-tuned with REINFORCE, one per --block-sizes × --block-tau, margins searched), or auto (all three, the cheapest within the budget; about the time of the three runs) (default: ${OPTIMIZE_RECIPE.estimator})`, (v) => {
      if (!(GATE_CHOICES as readonly string[]).includes(v)) throw new UserError(`--gate must be ${GATE_CHOICES.slice(0, -1).join(", ")} or ${GATE_CHOICES[GATE_CHOICES.length - 1]}, got '${v}'`);
      return v;
    })
    .option("--estimator <kind>", "the old name of --gate svd|learned", (v) => {
      if (v !== "svd" && v !== "learned") throw new UserError(`--estimator must be svd or learned (block policies: --gate block or auto), got '${v}'`);
      return v;
    })
    .option("--block-sizes <list>", `with --gate block or auto: units per block to try (fitted to each hidden layer, never more than it) (default: ${BLOCK_SIZES.join(",")})`, numberList("--block-sizes", true))
    .option("--block-tau <list>", `with --gate block or auto: target block densities τ to fine-tune a policy for, each in (0, 1) (default: ${BLOCK_TAUS.join(",")})`, numberList("--block-tau", false))
    .option("--epochs <n>", "fine-tuning epochs (0: search the given model as it is)", num("--epochs", 0, 1000), OPTIMIZE_RECIPE.epochs)
    .option("--lr <x>", "initial SGD learning rate", num("--lr", 1e-9, 10), OPTIMIZE_RECIPE.lr)
    .option("--lr-decay <x>", "learning-rate factor per epoch", num("--lr-decay", 1e-9, 1), OPTIMIZE_RECIPE.lrDecay)
    .addOption(new Option("--l1 <list>", "L1 penalty on hidden activations: one value or one per hidden layer").argParser(numberList("--l1", false)).default([OPTIMIZE_RECIPE.l1], String(OPTIMIZE_RECIPE.l1)))
    .option("--distill <alpha>", "weight of the distillation loss on the input model's logits (0: off)", num("--distill", 0, 1), OPTIMIZE_RECIPE.distill.alpha)
    .option("--temperature <T>", "distillation temperature", num("--temperature", 1e-3, 100), OPTIMIZE_RECIPE.distill.temperature)
    .option("--margins <list>", "margins to try per layer, in standard deviations of the layer's pre-activation", numberList("--margins", false))
    .option("--safety <z>", "standard errors of a trial's flips (validation samples it gets right where the input's int8 dense model errs, or the reverse: what fine-tuning and the gate changed together) added to its error before it is compared with the target; 0: the error itself", num("--safety", 0, 10), DEFAULT_SAFETY)
    .option("--calibration <n>", "calibration samples, the first of --val-data (also what orders the hidden units, --permute)", positiveInt("--calibration"), 1000)
    .option("--permute", "order each hidden layer's units so that units active together share the 8-input chunks zero-input skipping keeps (the same logits); the default, except with --target")
    .option("--no-permute", "keep the hidden units in the search's order")
    .option("--estimator-epochs <n>", "epochs per layer of each learned-estimator refresh", positiveInt("--estimator-epochs"), 1)
    .option("--w-pos <w>", "learned estimators: weight of a positive unit in their loss (higher computes more units and misses fewer)", num("--w-pos", 1e-3, 1000), 4)
    .option("--seed <n>", "seed of shuffles and SVD sketches", positiveInt("--seed"), 1)
    .option("--work <dir>", "checkpoint every epoch and every trial here; rerunning with the same settings resumes");
  cmd.option("--no-standardize", "fine-tune on the inputs as given instead of standardized per feature (folded back into the first layer)");
  addShiftOptions(cmd).option("--json", "print the report (<stem>.front.json) instead of the summary line").option("-q, --quiet", "no progress output");
  addDataOptions(cmd, "mnist:train", "training data");
  addDataOptions(cmd, "mnist:val", "validation data: epoch choice, calibration (its min/max set the input range), search and the budget's reference", "val");
  cmd.action((flags: OptimizeFlags) => {
      if (!Number.isInteger(flags.epochs)) throw new UserError(`--epochs must be an integer, got ${flags.epochs}`);
      return optimizeCommand(flags);
    });
}
