// rankgate eval: error and MACs of an .rgm on labelled data, through the Wasm engine.
import type { Command } from "commander";
import { evaluateModel, type EvalReport } from "../../ts/evaluate.ts";
import { loadData, loadMnistModel, positiveInt } from "../data.ts";
import { progress } from "../progress.ts";
import { table } from "../table.ts";

interface EvalFlags {
  model: string;
  data: string;
  float?: string;
  samples?: number;
  json?: boolean;
  reference: boolean;
  quiet?: boolean;
}

const pct = (x: number | null) => (x === null ? "-" : `${(x * 100).toFixed(2)} %`);

export function formatReport(r: EvalReport, model: string, data: string): string {
  const m = r.macs_per_sample;
  const ratio = (x: number) => `${Math.round(x).toLocaleString("en")} (${(x / m.dense).toFixed(3)}×)`;
  const summary = table(["", "value"], ["left", "right"]);
  summary.push(
    ["error float", pct(r.error.float)], ["error int8 dense", pct(r.error.int8_dense)], ["error int8 gated", pct(r.error.int8_gated)],
    ["MACs dense", Math.round(m.dense).toLocaleString("en")], ["MACs gated", ratio(m.gated)], ["MACs gated + zero skip", ratio(m.gated_zero_skip)],
    ["MACs oracle", ratio(m.oracle)], ["MACs oracle + zero skip", ratio(m.oracle_zero_skip)],
    ["Wasm = TS reference", r.reference_agreement === null ? "not checked" : pct(r.reference_agreement)],
  );
  const layers = table(["layer", "n_in → n_out", "gating", "density", "recall", "computed", "inputs ≠ 0", "MACs dense", "MACs gated"], ["right", "left", "right", "right", "right", "right", "right", "right", "right"]);
  r.layers.forEach((l, i) => layers.push([i, `${l.n_in} → ${l.n_out}`, l.rank ? `rank ${l.rank}` : l.blocks ? `${l.blocks}×${l.block_size} blocks` : "-", pct(l.density), pct(l.recall), pct(l.computed), pct(l.input_nonzero), l.macs_dense.toLocaleString("en"), Math.round(l.macs_gated).toLocaleString("en")]));
  return `${model} on ${data}, ${r.samples} samples\n${summary.toString()}\n${layers.toString()}`;
}

export async function evalCommand(flags: EvalFlags): Promise<void> {
  const { bytes, float } = await loadMnistModel(flags.model, flags.float);
  const data = loadData(flags.data, flags.samples);
  const bar = progress("eval", data.count, flags.quiet);
  let floatBar: ReturnType<typeof progress> | undefined;
  const report = await evaluateModel(bytes, data.images, data.labels, data.count, {
    float, reference: flags.reference, onProgress: (d) => bar.update(d),
    onFloatProgress: (d) => {
      if (!floatBar) { bar.stop(); floatBar = progress("float", data.count, flags.quiet); }
      floatBar.update(d);
    },
  });
  bar.stop();
  floatBar?.stop();
  if (flags.json) console.log(JSON.stringify(report));
  else console.log(formatReport(report, flags.model, flags.data));
  if (report.reference_agreement !== null && report.reference_agreement < 1) {
    process.stderr.write(`rankgate: the Wasm engine and the TS reference disagree on ${Math.round((1 - report.reference_agreement) * report.samples)} samples: a bug, please report it\n`);
    process.exitCode = 2;
  }
}

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("error and multiply-accumulates of an .rgm on labelled data, through the Wasm engine")
    .requiredOption("--model <file>", "the .rgm to evaluate")
    .option("--data <spec>", "mnist:train, mnist:val or mnist:test", "mnist:test")
    .option("--float <file>", "the float checkpoint it came from, for the float error")
    .option("--samples <n>", "only the first n samples", positiveInt("--samples"))
    .option("--json", "print exactly one JSON object")
    .option("--no-reference", "skip re-running every sample through the TS reference")
    .option("-q, --quiet", "no progress output")
    .action((flags: EvalFlags) => evalCommand(flags));
}
