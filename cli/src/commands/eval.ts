// rankgate eval: error (or agreement with the float model) and MACs of an .rgm on data, through the Wasm engine.
import type { Command } from "commander";
import { UserError } from "../../../runtime/src/index.ts";
import { CLAMP_WARN_FRACTION, evaluateModel, type EvalReport } from "../../../toolchain/evaluate/evaluate.ts";
import { addDataOptions, loadDataFor, loadRgmModel, positiveInt, type DataFlags } from "../data-options.ts";
import { progress } from "../progress.ts";
import { table } from "../table.ts";
import { findTarget } from "../../../sim/profile.ts";
import { DEFAULT_VERDICT_TARGET } from "../../../sim/target-cost.ts";

interface EvalFlags extends DataFlags {
  model: string;
  float?: string;
  json?: boolean;
  reference: boolean;
  target?: string;
  targetsDir?: string;
  cycleSamples?: number;
  quiet?: boolean;
}

/** Samples the cycle verdict prices by default (the first of --data). */
export const EVAL_CYCLE_SAMPLES = 1000;
const int = (x: number) => Math.round(x).toLocaleString("en");

const pct = (x: number | null) => (x === null ? "-" : `${(x * 100).toFixed(2)} %`);
const g = (x: number) => Number(x.toPrecision(4)).toString();
const db = (x: number | null) => (x === null ? "exact" : `${x.toFixed(1)} dB`);

/** The one line `eval` prints when the gated model costs at least as many MACs (with --target: cycles on it) as the dense one. */
export const gatingDoesNotPay = (r: EvalReport) => {
  const c = r.gating_pays_cycles;
  if (r.cycles_per_sample && c) return `gating does not pay on ${c.target}: gated ${int(c.gated)} cycles per inference ≥ the dense model's ${int(c.dense)}; ship the dense model (quantize --ranks 0,…) or quantize with --target ${c.target}`;
  return `gating does not pay: gated ${int(r.macs_per_sample.gated)} MACs per sample ≥ dense ${int(r.macs_per_sample.dense)}; ship the dense model (quantize --ranks 0,…) or lower the ranks`;
};

/** The cycle verdict line: the deployed schedule's cycles on the target against the dense model's (null without one). */
export function cycleLine(r: EvalReport): string | null {
  const c = r.gating_pays_cycles;
  if (!c) return null;
  const verdict = c.pays === null ? "no estimator or gate" : c.pays ? "gating pays" : "gating does not pay";
  return `cycles on ${c.target} (${c.schedule}, ${c.samples < r.samples ? `first ${c.samples} of ${r.samples}` : c.samples} samples): ${int(c.gated)} per inference, dense model ${int(c.dense)} (${(c.gated / c.dense).toFixed(3)}×): ${verdict}`;
}

/** The warning `eval` prints when more than 1 % of input values clamp; null below that. */
export function clampWarning(r: EvalReport): string | null {
  const i = r.inputs;
  if (i.clamped_fraction <= CLAMP_WARN_FRACTION) return null;
  if (i.quantization === "per-feature") {
    return `warning: ${(i.clamped_fraction * 100).toFixed(1)} % of input values (${i.clamped.toLocaleString("en")} of ${i.values.toLocaleString("en")}) clamp, in ${i.features_clamped} of the model's per-feature input ranges (calibrated on other data); quantize with --data like this data`;
  }
  return `warning: ${(i.clamped_fraction * 100).toFixed(1)} % of input values (${i.clamped.toLocaleString("en")} of ${i.values.toLocaleString("en")}) clamp: the data spans [${g(i.seen.min)}, ${g(i.seen.max)}], the model was calibrated for [${g(i.calibrated.min)}, ${g(i.calibrated.max)}]; quantize with --data like this data`;
}

export function formatReport(r: EvalReport, model: string, data: string): string {
  const m = r.macs_per_sample;
  const ratio = (x: number) => `${Math.round(x).toLocaleString("en")} (${(x / m.dense).toFixed(3)}×)`;
  const summary = table(["", "value"], ["left", "right"]);
  if (r.labelled) summary.push(["error float", pct(r.error.float)], ["error int8 dense", pct(r.error.int8_dense)], ["error int8 gated", pct(r.error.int8_gated)]);
  if (r.agreement) {
    const a = r.agreement;
    summary.push(["top-1 = float, int8 dense", pct(a.int8_dense.top1)], ["top-1 = float, int8 gated", pct(a.int8_gated.top1)],
      ["output SNR int8 dense", db(a.int8_dense.snr_db)], ["output SNR int8 gated", db(a.int8_gated.snr_db)]);
  }
  summary.push(
    ["input quantization", r.inputs.quantization],
    ["inputs clamped", `${pct(r.inputs.clamped_fraction)} (${r.inputs.clamped.toLocaleString("en")})`],
    ["MACs dense", Math.round(m.dense).toLocaleString("en")], ["MACs gated", ratio(m.gated)], ["MACs gated + zero skip", ratio(m.gated_zero_skip)],
    ["MACs oracle", ratio(m.oracle)], ["MACs oracle + zero skip", ratio(m.oracle_zero_skip)],
    ["Wasm = TS reference", r.reference_agreement === null ? "not checked" : pct(r.reference_agreement)],
  );
  const cyc = r.cycles_per_sample;
  if (cyc) {
    const c = (x: number) => `${int(x)} (${(x / cyc.dense).toFixed(3)}×)`;
    summary.push([`cycles dense (${r.gating_pays_cycles!.target})`, int(cyc.dense)], ["cycles gated", c(cyc.gated)], ["cycles gated + zero skip", c(cyc.gated_zero_skip)], ["cycles oracle", c(cyc.oracle)], ["cycles oracle + zero skip", c(cyc.oracle_zero_skip)]);
  }
  const layers = table(["layer", "n_in → n_out", "gating", "density", "recall", "computed", "inputs ≠ 0", "MACs dense", "MACs gated"], ["right", "left", "right", "right", "right", "right", "right", "right", "right"]);
  r.layers.forEach((l, i) => layers.push([i, `${l.n_in} → ${l.n_out}`, l.rank ? `rank ${l.rank}` : l.blocks ? `${l.blocks}×${l.block_size} blocks${l.top_k ? ` top-${l.top_k}` : ""}` : "-", pct(l.density), pct(l.recall), pct(l.computed), pct(l.input_nonzero), l.macs_dense.toLocaleString("en"), Math.round(l.macs_gated).toLocaleString("en")]));
  const line = cycleLine(r);
  const tail = `${line ? `\n${line}` : ""}${r.gating_pays === false ? `\n${gatingDoesNotPay(r)}` : ""}`;
  return `${model} on ${data}, ${r.samples} samples${r.labelled ? "" : " (no labels: agreement with the float model)"}\n${summary.toString()}\n${layers.toString()}${tail}`;
}

export async function evalCommand(flags: EvalFlags): Promise<void> {
  const { bytes, float, inputs, outputs } = await loadRgmModel(flags.model, flags.float);
  const data = loadDataFor(flags, inputs, flags.model, undefined, outputs);
  if (!data.labels && !float) throw new UserError(`${data.source} has no labels: pass --float <checkpoint> to measure agreement with the float model (or give labels: npz y, --labels, --label-column)`);
  if (flags.targetsDir !== undefined && flags.target === undefined) throw new UserError("--targets-dir needs --target <name>");
  // With --target cycles on it decide gating_pays; without, MACs do and the cortex-m4f verdict is printed beside
  const device = flags.target !== undefined ? findTarget(flags.target, flags.targetsDir) : undefined;
  const verdict = device ? undefined : findTarget(DEFAULT_VERDICT_TARGET);
  // The float pass (with --float) runs first, then the engine's: one bar each, in that order
  let bar: ReturnType<typeof progress> | undefined, floatBar: ReturnType<typeof progress> | undefined;
  const report = await evaluateModel(bytes, data.features, data.labels, data.count, {
    float, reference: flags.reference, target: device, verdictTarget: verdict, cycleSamples: flags.cycleSamples,
    onProgress: (d) => {
      if (!bar) { floatBar?.stop(); bar = progress("eval", data.count, flags.quiet); }
      bar.update(d);
    },
    onFloatProgress: (d) => {
      floatBar ??= progress("float", data.count, flags.quiet);
      floatBar.update(d);
    },
  });
  bar?.stop();
  const warning = clampWarning(report);
  if (warning) process.stderr.write(`rankgate: ${warning}
`);
  if (report.guard?.warning) process.stderr.write(`rankgate: ${report.guard.warning}\n`);
  if (flags.json && report.gating_pays === false) process.stderr.write(`rankgate: ${gatingDoesNotPay(report)}
`);
  if (flags.json) console.log(JSON.stringify(report));
  else console.log(formatReport(report, flags.model, flags.data));
  if (report.reference_agreement !== null && report.reference_agreement < 1) {
    process.stderr.write(`rankgate: the Wasm engine and the TS reference disagree on ${Math.round((1 - report.reference_agreement) * report.samples)} samples: a bug, please report it\n`);
    process.exitCode = 2;
  }
}

export function registerEval(program: Command): void {
  const cmd = program
    .command("eval")
    .description("error (or, without labels, agreement with the float model) and multiply-accumulates of an .rgm on data, through the Wasm engine; counts clamped inputs")
    .requiredOption("--model <file>", "the .rgm to evaluate");
  addDataOptions(cmd, "mnist:test", "evaluation data")
    .option("--float <file>", "the float checkpoint it came from: float error, top-1 agreement and output SNR (required for data without labels)")
    .option("--samples <n>", "only the first n samples", positiveInt("--samples"))
    .option("--json", "print exactly one JSON object")
    .option("--no-reference", "skip re-running every sample through the TS reference")
    .option("--target <name>", "decide gating_pays by predicted cycles per inference on this target (rankgate sim --list-targets; gated rows without zero skip, as the C runtime and Engine run by default) against the dense model, and print cycles per schedule; without it MACs decide and the cortex-m4f verdict is printed beside")
    .option("--targets-dir <dir>", "with --target: read target profiles from this folder instead of sim/targets")
    .option("--cycle-samples <n>", "the first n samples price the cycle verdict", positiveInt("--cycle-samples"), EVAL_CYCLE_SAMPLES)
    .option("-q, --quiet", "no progress output")
    .action((flags: EvalFlags) => evalCommand(flags));
}
