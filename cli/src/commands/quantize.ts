// rankgate quantize: float checkpoint → calibrated int8 .rgm, C model files (.h + .c) and JSON report.
import type { Command } from "commander";
import { cModelFiles, cModelName, cModelPaths } from "../../../toolchain/model/c-header.ts";
import { crc32, UserError, writeModel } from "../../../runtime/src/index.ts";
import { Quantizer, svdFactors, type EstimatorKind, type ModelOptions } from "../../../toolchain/quantize/quantize.ts";
import { DEFAULT_SAFETY, gatedError, searchRanks } from "../../../toolchain/optimize/rank-search.ts";
import { num } from "./learn-estimator.ts";
import { floatTop1 } from "../../../toolchain/model/float.ts";
import { featureRange } from "../../../toolchain/data/index.ts";
import { int8Guard } from "../../../toolchain/evaluate/evaluate.ts";
import { addDataOptions, loadDataFor, loadFloat, numberList, positiveInt, type DataFlags } from "../data-options.ts";
import { progress } from "../progress.ts";
import { checkOutputPath, writeUserFile } from "../cli-io.ts";
import { findTarget } from "../../../sim/profile.ts";
import { CycleMeter, DEFAULT_CYCLE_SAMPLES, DEPLOYED_SCHEDULE } from "../../../sim/target-cost.ts";
import { orderForZeroSkip, PERMUTE_HELD_OUT } from "../../../toolchain/quantize/permute.ts";

interface QuantizeFlags extends DataFlags {
  float: string;
  output: string;
  ranks?: number[];
  budget?: number;
  safety?: number;
  margins?: number[];
  estimator?: "svd" | "learned";
  gates: boolean;
  calibration: number;
  header?: string;
  cName?: string;
  report?: string;
  target?: string;
  targetsDir?: string;
  cycleSamples?: number;
  quiet?: boolean;
  inputQuant?: "auto" | "per-tensor" | "per-feature";
  /** --permute / --no-permute; left out: on, except with --target (see below). */
  permute?: boolean;
}

// Words the generated .h/.c cannot use as the array's name: C (C89–C23) and C++ keywords, and what stddef.h/stdint.h define
const C_RESERVED = new Set(("auto break case char const continue default do double else enum extern float for goto if inline int long register restrict " +
  "return short signed sizeof static struct switch typedef union unsigned void volatile while alignas alignof bool constexpr false nullptr " +
  "static_assert thread_local true typeof typeof_unqual asm and and_eq bitand bitor catch char8_t char16_t char32_t class compl concept " +
  "const_cast consteval constinit co_await co_return co_yield decltype delete dynamic_cast explicit export friend mutable namespace new noexcept " +
  "not not_eq operator or or_eq private protected public reinterpret_cast requires static_cast template this throw try typeid typename using " +
  "virtual wchar_t xor xor_eq size_t ptrdiff_t max_align_t intmax_t uintmax_t intptr_t uintptr_t NULL offsetof").split(" "));

/** A UserError unless `name` can name the model array in the generated C: an identifier, not a keyword, not reserved. */
function checkCName(name: string): void {
  const show = JSON.stringify(name.slice(0, 60)).replace(/[^\x20-\x7e]/g, "?");
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UserError(`--c-name must be a C identifier (letters, digits, _; not starting with a digit), got ${show}`);
  if (C_RESERVED.has(name) || /^u?int(_least|_fast)?\d+_t$/.test(name)) throw new UserError(`--c-name ${show} is a C or C++ keyword or a name stddef.h/stdint.h define; choose another identifier`);
  if (/^_[A-Z_]/.test(name)) throw new UserError(`--c-name ${show} is reserved for the C implementation (it starts with _ and an uppercase letter or a second _)`);
  if (/^U?INT\w*_(MAX|MIN|C)$|^(SIZE|PTRDIFF|WCHAR|WINT|SIG_ATOMIC)_(MAX|MIN)$/.test(name)) throw new UserError(`--c-name ${show} is a macro stdint.h defines; choose another identifier`);
}

export async function quantizeCommand(flags: QuantizeFlags): Promise<void> {
  const log = (s: string) => { if (!flags.quiet) process.stderr.write(s + "\n"); };
  if (flags.ranks && flags.budget !== undefined) throw new UserError("--ranks and --budget exclude each other");
  const stem = flags.output.replace(/\.rgm$/, "");
  const { header: headerPath, source: sourcePath } = cModelPaths(flags.output, flags.header);
  const reportPath = flags.report ?? `${stem}.report.json`;
  if (flags.cName !== undefined) checkCName(flags.cName);
  for (const p of [flags.output, headerPath, sourcePath, reportPath]) checkOutputPath(p);
  if (flags.targetsDir !== undefined && flags.target === undefined) throw new UserError("--targets-dir needs --target <name>");
  const device = flags.target !== undefined ? findTarget(flags.target, flags.targetsDir) : null;
  const float = await loadFloat(flags.float);
  const hidden = float.layers.length - 1;
  for (const [flag, list] of [["--ranks", flags.ranks], ["--margins", flags.margins]] as const) {
    if (list && list.length !== hidden) throw new UserError(`${flag} needs ${hidden} values (one per hidden layer), got ${list.length}`);
  }
  const nIn = float.layers[0].nIn;
  const val = loadDataFor(flags, nIn, flags.float, undefined, float.layers[hidden].nOut);
  const calibCount = Math.min(flags.calibration, val.count);
  const t0 = Date.now();
  // Input range: min/max of the calibration samples (every later activation's range is calibrated the same way)
  const calibration = val.features.subarray(0, calibCount * nIn);
  const inputRange = featureRange(calibration);
  log(`calibrating on ${calibCount} samples of ${flags.data} (inputs in [${inputRange.min}, ${inputRange.max}]) …`);
  const q = new Quantizer(float, calibration, calibCount, inputRange, flags.inputQuant ?? "auto");
  const inputQuant = inputQuantReport(q, flags.inputQuant ?? "auto");
  log(`input quantization: ${inputQuant.mode}${inputQuant.noise ? ` (auto: predicted layer-0 noise per tensor ${db(inputQuant.noise.per_tensor)}, per feature ${db(inputQuant.noise.per_feature)})` : ""}`);
  // Without labels, the float model's top-1 stands in for them (errors become disagreement with it)
  const labels = val.labels ?? floatTop1(float, val.features, val.count);
  const labelSource = val.labels ? "data" : "float model top-1";
  if (!val.labels) log(`${flags.data} has no labels: validation and --budget measure disagreement with the float model's top-1`);
  flags.ranks?.forEach((r, l) => {
    if (r > q.maxRanks[l]) throw new UserError(`--ranks: layer ${l} allows at most rank ${q.maxRanks[l]} (min of ${float.layers[l].nIn} and ${float.layers[l].nOut}), got ${r}`);
  });
  const learned = q.learnedRanks;
  const estimator: EstimatorKind = flags.estimator ?? (learned.some((k) => k > 0) ? "learned" : "svd");
  if (estimator === "learned") {
    if (!learned.some((k) => k > 0)) throw new UserError(`--estimator learned: ${flags.float} has no learned estimators (layers.{i}.est.*); train them with rankgate learn-estimator`);
    if (flags.budget !== undefined) throw new UserError("--budget searches SVD ranks; a learned estimator's ranks are fixed by its checkpoint (use --estimator svd)");
    flags.ranks?.forEach((r, l) => {
      if (r !== learned[l]) throw new UserError(`--ranks: layer ${l}'s learned estimator has rank ${learned[l]}, got ${r}`);
    });
  }
  const gated = float.layers.slice(0, -1).map((l) => !!l.gate && flags.gates);
  let ranks = flags.ranks ?? (estimator === "learned" ? learned : q.maxRanks.map(() => 0));
  ranks.forEach((r, l) => {
    if (r > 0 && gated[l]) throw new UserError(`--ranks: layer ${l} has a block policy; give it rank 0 or pass --no-gates`);
  });
  let search: unknown = undefined;
  // With --target: candidates and the dense model priced in cycles on the same first samples of --data
  const meter = device ? await CycleMeter.create(device, q.model({ gates: false }), val.features, labels, val.count, flags.cycleSamples) : undefined;
  if (flags.budget !== undefined) {
    log(`searching ranks on ${val.count} samples of ${flags.data}: error within ${flags.budget} pp of int8 dense${device ? `, fewest ${device.name} cycles (${meter!.samples} samples)` : ""} …`);
    const bar = progress("rank search", 40, flags.quiet);
    let n = 0;
    const result = await searchRanks(q, val.features, labels, val.count, {
      budgetPp: flags.budget, margins: flags.margins, safety: flags.safety,
      meter,
      onTrial: (t) => bar.update(Math.min(++n, 40), `ranks ${t.ranks.join("-")}: error ${(t.error * 100).toFixed(2)} % (bound ${(t.bound * 100).toFixed(2)} %), MACs ${t.macsRatio.toFixed(3)}×${t.cyclesRatio !== undefined ? `, cycles ${t.cyclesRatio.toFixed(3)}×` : ""}`),
    });
    bar.stop();
    ranks = result.ranks;
    // One line, also with --quiet: the model written is the dense one
    if (result.gatingDoesNotPay && device) process.stderr.write(`rankgate: gating does not pay on ${device.name}: no ranks within the budget take fewer cycles than dense (${Math.round(meter!.denseCycles).toLocaleString("en")} per inference); writing the dense model\n`);
    else if (result.gatingDoesNotPay) log(`gating does not pay: the smallest ranks within the budget cost at least dense MACs; keeping the dense model (ranks ${ranks.join("-")})`);
    search = { budget_pp: flags.budget, safety: flags.safety ?? DEFAULT_SAFETY, dense_error: result.denseError, target: result.target, trials: result.trials, gating_does_not_pay: result.gatingDoesNotPay, cycles: result.cycles ?? null };
  }
  const options: ModelOptions = { ranks, margins: flags.margins, estimator, gates: flags.gates };
  if (estimator === "svd" && flags.budget === undefined) {
    ranks.forEach((r, l) => {
      const fl = float.layers[l];
      if (r === 0) return;
      log(`SVD of layer ${l} (${fl.nIn}×${fl.nOut}) at rank ${r} …`);
      q.setFactors(l, svdFactors(fl.weight, fl.nIn, fl.nOut, r));
    });
  }
  let model = q.model(options);
  // Hidden-unit order for zero-input skipping (toolchain/quantize/permute.ts): fitted on the calibration samples, judged on the next ones
  let permute: unknown = null;
  // Default off with --target: the order is a Wasm zero-skip gain, and the cycles the rank search chose stay those priced
  if ((flags.permute ?? !device) && model.layers.length > 1) {
    log(`ordering hidden units by co-activation on ${calibCount} calibration samples …`);
    const p = await orderForZeroSkip(model, val.features, nIn, calibCount, Math.min(PERMUTE_HELD_OUT, val.count - calibCount));
    permute = p.report;
    model = p.model;
  }
  const bytes = writeModel(model);
  log(`validating int8 dense on ${val.count} samples of ${flags.data} …`);
  const dense = await gatedError(q, { gates: false }, val.features, labels, val.count);
  log(`validating int8 gated on ${val.count} samples of ${flags.data} …`);
  const gatedRun = await gatedError(q, options, val.features, labels, val.count);
  // The int8 guard: int8 dense against float on the validation data
  const guard = await int8Guard(writeModel(q.model({ gates: false })), float, val.features, val.labels ?? null, val.count);
  const priced = meter ? await meter.price(bytes) : null;
  const cycles = priced && device ? { target: device.name, schedule: DEPLOYED_SCHEDULE, samples: meter!.samples, gated: priced.cycles, dense: meter!.denseCycles, ratio: priced.ratio } : null;
  const cName = flags.cName ?? cModelName(flags.output);
  const report = {
    float: flags.float, output: flags.output, bytes: bytes.length, crc32: crc32(bytes, 16),
    sizes: [float.layers[0].nIn, ...float.layers.map((l) => l.nOut)], ranks, margins: flags.margins ?? ranks.map(() => 0),
    estimator, gates: model.layers.slice(0, -1).map((l) => (l.gate ? { block_size: l.gate.blockSize, blocks: l.gate.blocks, ...(l.gate.topK ? { top_k: l.gate.topK } : {}) } : null)),
    calibration: { data: flags.data, samples: calibCount, input_range: inputRange, input_quant: inputQuant },
    validation: { data: flags.data, samples: val.count, labels: labelSource, int8_dense_error: dense.error, int8_gated_error: gatedRun.error, macs_ratio: gatedRun.macsRatio, cycles, guard },
    search: search ?? null,
    permute,
    layers: model.layers.map((l) => ({
      n_in: l.nIn, n_out: l.nOut, activation: l.activation, rank: l.estimator?.rank ?? 0, t_max: l.estimator?.tMax ?? 0, block_size: l.gate?.blockSize ?? 0,
      in_scale: l.inScale, in_zero_point: l.inZeroPoint, out_scale: l.outScale, out_zero_point: l.outZeroPoint,
    })),
    seconds: (Date.now() - t0) / 1000,
  };
  await writeUserFile(flags.output, bytes);
  const what = `${model.inputFeatures ? "per-feature input, " : ""}${estimator === "learned" ? "learned " : ""}ranks ${ranks.join("-")}${model.layers.some((l) => l.gate) ? `, block gates ${model.layers.slice(0, -1).map((l) => (l.gate ? `${l.gate.blocks}×${l.gate.blockSize}${l.gate.topK ? ` top-${l.gate.topK}` : ""}` : "-")).join("/")}` : ""}`;
  const c = cModelFiles(bytes, cName, `${report.sizes.join("-")}, ${what}, crc32 0x${report.crc32.toString(16).padStart(8, "0")}`, headerPath.split(/[\\/]/).pop());
  await writeUserFile(headerPath, c.header);
  await writeUserFile(sourcePath, c.source);
  await writeUserFile(reportPath, JSON.stringify(report, null, 2) + "\n");
  if (guard.warning) process.stderr.write(`rankgate: ${guard.warning}\n`);
  console.log(`${flags.output}: ${report.sizes.join("-")}, ${what}, ${bytes.length.toLocaleString("en")} bytes; validation error int8 dense ${(dense.error * 100).toFixed(2)} %, gated ${(gatedRun.error * 100).toFixed(2)} % at ${gatedRun.macsRatio.toFixed(3)}× dense MACs${cycles ? `, ${cycles.ratio.toFixed(3)}× dense cycles on ${cycles.target}` : ""} (${headerPath}, ${sourcePath}, ${reportPath})`);
}

/** Relative noise power in dB (10·log10), for the log line. */
const db = (x: number) => (x > 0 ? `${(10 * Math.log10(x)).toFixed(1)} dB` : "0");

/** What the report says about the input quantization: the mode used and, with auto, the predicted noise of both. */
function inputQuantReport(q: Quantizer, asked: string): { asked: string; mode: "per-tensor" | "per-feature"; noise: { per_tensor: number; per_feature: number } | null } {
  return { asked, mode: q.inputFeatures ? "per-feature" : "per-tensor", noise: q.inputChoice?.noise ?? null };
}

export function registerQuantize(program: Command): void {
  const cmd = program
    .command("quantize")
    .description("quantize a float checkpoint to an int8 .rgm with low-rank estimators, calibrated on data")
    .requiredOption("--float <file>", "float checkpoint (.safetensors, see rankgate import)")
    .requiredOption("-o, --output <file>", "the .rgm to write (C model files .h and .c and a .report.json are written beside it)")
    .option("--ranks <list>", "estimator rank per hidden layer, e.g. 50,35,25 (0: none)", numberList("--ranks", true))
    .option("--budget <pp>", "choose the smallest ranks whose validation error, plus --safety standard errors of its flips, stays within this many percentage points of int8 dense (dense when no gated ranks cost fewer MACs; with --target: the ranks with the fewest cycles on it, per layer down to 0, dense when none is faster)", (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new UserError(`--budget must be a number ≥ 0, got '${v}'`);
      return n;
    })
    .option("--safety <z>", "with --budget: standard errors of a trial's flips (validation samples it changes from right to wrong or back) added to its error before it is compared with the target; 0: the error itself", num("--safety", 0, 10), DEFAULT_SAFETY)
    .option("--margins <list>", "real margin per hidden layer: a unit is computed when its estimate exceeds it (default 0)", numberList("--margins", false))
    .option("--estimator <kind>", "svd (truncated SVD of the weights) or learned (the checkpoint's layers.{i}.est.*); default learned when the checkpoint has them", (v) => {
      if (v !== "svd" && v !== "learned") throw new UserError(`--estimator must be svd or learned, got '${v}'`);
      return v;
    })
    .option("--no-gates", "ignore the checkpoint's block policies (layers.{i}.gate.*)")
    .option("--permute", "order each hidden layer's units so that units active together share the 8-input chunks Wasm zero-input skipping keeps (fewer MACs in Wasm with zeroSkip; the logits are the same bytes); the default, except with --target")
    .option("--no-permute", "keep the hidden units in the checkpoint's order")
    .option("--calibration <n>", "calibration samples, the first of --data (their min/max set the input range)", positiveInt("--calibration"), 1000)
    .option("--input-quant <how>", "input quantization: per-tensor (one scale), per-feature (a scale and offset per feature from the calibration min/max, folded into layer 0; format v3), or auto (per-feature when it predicts at most half the layer-0 input noise)", (v) => {
      if (v !== "auto" && v !== "per-tensor" && v !== "per-feature") throw new UserError(`--input-quant must be auto, per-tensor or per-feature, got '${v}'`);
      return v;
    }, "auto")
    .option("--target <name>", "price models in predicted cycles per inference on this target (rankgate sim --list-targets), gated rows without zero skipping as the C runtime and Engine run by default, against the dense model; --budget then minimizes cycles")
    .option("--targets-dir <dir>", "with --target: read target profiles from this folder instead of sim/targets")
    .option("--cycle-samples <n>", "with --target: the first n samples of --data price every candidate", positiveInt("--cycle-samples"), DEFAULT_CYCLE_SAMPLES);
  addDataOptions(cmd, "mnist:val", "calibration and validation/rank-search data (without labels: agreement with the float model)")
    .option("--samples <n>", "use only the first n samples of --data", positiveInt("--samples"))
    .option("--header <file>", "C header path (default: <output>.h); the .c is written beside it")
    .option("--c-name <ident>", "C identifier of the model array (default: rgm_<output file name>)", (v) => { checkCName(v); return v; })
    .option("--report <file>", "JSON report path (default: <output>.report.json)")
    .option("-q, --quiet", "no progress output")
    .action((flags: QuantizeFlags) => quantizeCommand(flags));
}
