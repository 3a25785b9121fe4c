// rankgate quantize: float checkpoint → calibrated int8 .rgm, C header and JSON report.
import type { Command } from "commander";
import { cHeader } from "../../ts/c-header.ts";
import { crc32 } from "../../ts/crc32.ts";
import { UserError } from "../../ts/errors.ts";
import { writeModel } from "../../ts/format.ts";
import { Quantizer, svdFactors, type EstimatorKind, type ModelOptions } from "../../ts/quantize.ts";
import { gatedError, searchRanks } from "../../ts/rank-search.ts";
import { loadData, loadFloat, numberList, positiveInt } from "../data.ts";
import { progress } from "../progress.ts";
import { checkOutputPath, writeUserFile } from "../cli-io.ts";

interface QuantizeFlags {
  float: string;
  output: string;
  ranks?: number[];
  budget?: number;
  margins?: number[];
  estimator?: "svd" | "learned";
  gates: boolean;
  calibration: number;
  data: string;
  header?: string;
  report?: string;
  quiet?: boolean;
}

export async function quantizeCommand(flags: QuantizeFlags): Promise<void> {
  const log = (s: string) => { if (!flags.quiet) process.stderr.write(s + "\n"); };
  if (flags.ranks && flags.budget !== undefined) throw new UserError("--ranks and --budget exclude each other");
  const stem = flags.output.replace(/\.rgm$/, "");
  const headerPath = flags.header ?? `${stem}.h`;
  const reportPath = flags.report ?? `${stem}.report.json`;
  for (const p of [flags.output, headerPath, reportPath]) checkOutputPath(p);
  const float = await loadFloat(flags.float);
  const hidden = float.layers.length - 1;
  for (const [flag, list] of [["--ranks", flags.ranks], ["--margins", flags.margins]] as const) {
    if (list && list.length !== hidden) throw new UserError(`${flag} needs ${hidden} values (one per hidden layer), got ${list.length}`);
  }
  const val = loadData(flags.data);
  if (float.layers[0].nIn !== 784) throw new UserError(`${flags.float}: the model takes ${float.layers[0].nIn} inputs, MNIST has 784`);
  const calibCount = Math.min(flags.calibration, val.count);
  const t0 = Date.now();
  log(`calibrating on ${calibCount} digits of ${flags.data} …`);
  const q = new Quantizer(float, val.images.subarray(0, calibCount * 784), calibCount, { min: 0, max: 1 });
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
  if (flags.budget !== undefined) {
    log(`searching ranks on ${val.count} digits of ${flags.data}: error within ${flags.budget} pp of int8 dense …`);
    const bar = progress("rank search", 40, flags.quiet);
    let n = 0;
    const result = await searchRanks(q, val.images, val.labels, val.count, {
      budgetPp: flags.budget, margins: flags.margins,
      onTrial: (t) => bar.update(Math.min(++n, 40), `ranks ${t.ranks.join("-")}: error ${(t.error * 100).toFixed(2)} %, MACs ${t.macsRatio.toFixed(3)}×`),
    });
    bar.stop();
    ranks = result.ranks;
    search = { budget_pp: flags.budget, dense_error: result.denseError, target: result.target, trials: result.trials };
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
  const model = q.model(options);
  const bytes = writeModel(model);
  log(`validating int8 dense on ${val.count} digits of ${flags.data} …`);
  const dense = await gatedError(q, { gates: false }, val.images, val.labels, val.count);
  log(`validating int8 gated on ${val.count} digits of ${flags.data} …`);
  const gatedRun = await gatedError(q, options, val.images, val.labels, val.count);
  const report = {
    float: flags.float, output: flags.output, bytes: bytes.length, crc32: crc32(bytes, 16),
    sizes: [float.layers[0].nIn, ...float.layers.map((l) => l.nOut)], ranks, margins: flags.margins ?? ranks.map(() => 0),
    estimator, gates: model.layers.slice(0, -1).map((l) => (l.gate ? { block_size: l.gate.blockSize, blocks: l.gate.blocks } : null)),
    calibration: { data: flags.data, samples: calibCount },
    validation: { data: flags.data, samples: val.count, int8_dense_error: dense.error, int8_gated_error: gatedRun.error, macs_ratio: gatedRun.macsRatio },
    search: search ?? null,
    layers: model.layers.map((l) => ({
      n_in: l.nIn, n_out: l.nOut, activation: l.activation, rank: l.estimator?.rank ?? 0, t_max: l.estimator?.tMax ?? 0, block_size: l.gate?.blockSize ?? 0,
      in_scale: l.inScale, in_zero_point: l.inZeroPoint, out_scale: l.outScale, out_zero_point: l.outZeroPoint,
    })),
    seconds: (Date.now() - t0) / 1000,
  };
  await writeUserFile(flags.output, bytes);
  const what = `${estimator === "learned" ? "learned " : ""}ranks ${ranks.join("-")}${model.layers.some((l) => l.gate) ? `, block gates ${model.layers.slice(0, -1).map((l) => (l.gate ? `${l.gate.blocks}×${l.gate.blockSize}` : "-")).join("/")}` : ""}`;
  await writeUserFile(headerPath, cHeader(bytes, "rankgate_model", `rankgate model ${flags.output}: ${report.sizes.join("-")}, ${what}; generated by rankgate quantize from ${flags.float}`));
  await writeUserFile(reportPath, JSON.stringify(report, null, 2) + "\n");
  console.log(`${flags.output}: ${report.sizes.join("-")}, ${what}, ${bytes.length.toLocaleString("en")} bytes; validation error int8 dense ${(dense.error * 100).toFixed(2)} %, gated ${(gatedRun.error * 100).toFixed(2)} % at ${gatedRun.macsRatio.toFixed(3)}× dense MACs (${headerPath}, ${reportPath})`);
}

export function registerQuantize(program: Command): void {
  program
    .command("quantize")
    .description("quantize a float checkpoint to an int8 .rgm with low-rank estimators, calibrated on data")
    .requiredOption("--float <file>", "float checkpoint (.safetensors, see rankgate import)")
    .requiredOption("-o, --output <file>", "the .rgm to write (a .h and .report.json are written beside it)")
    .option("--ranks <list>", "estimator rank per hidden layer, e.g. 50,35,25 (0: none)", numberList("--ranks", true))
    .option("--budget <pp>", "choose the smallest ranks whose validation error stays within this many percentage points of int8 dense", (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new UserError(`--budget must be a number ≥ 0, got '${v}'`);
      return n;
    })
    .option("--margins <list>", "real margin per hidden layer: a unit is computed when its estimate exceeds it (default 0)", numberList("--margins", false))
    .option("--estimator <kind>", "svd (truncated SVD of the weights) or learned (the checkpoint's layers.{i}.est.*); default learned when the checkpoint has them", (v) => {
      if (v !== "svd" && v !== "learned") throw new UserError(`--estimator must be svd or learned, got '${v}'`);
      return v;
    })
    .option("--no-gates", "ignore the checkpoint's block policies (layers.{i}.gate.*)")
    .option("--calibration <n>", "calibration digits, the first of --data", positiveInt("--calibration"), 1000)
    .option("--data <spec>", "calibration and rank-search data", "mnist:val")
    .option("--header <file>", "C header path (default: <output>.h)")
    .option("--report <file>", "JSON report path (default: <output>.report.json)")
    .option("-q, --quiet", "no progress output")
    .action((flags: QuantizeFlags) => quantizeCommand(flags));
}
