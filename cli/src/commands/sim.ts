// rankgate sim: what the engine did on real inputs, costed on a microcontroller target (sim/).
import type { Command } from "commander";
import { UserError } from "../../../runtime/src/index.ts";
import { SCHEDULES } from "../../../sim/cost.ts";
import { measuredFor, MEASURED_SCHEDULES, predictedCompute } from "../../../sim/measured.ts";
import { findTarget, loadTargets, type TargetProfile } from "../../../sim/profile.ts";
import { renderReport } from "../../../sim/report.ts";
import { simulate, type SimResult } from "../../../sim/simulate.ts";
import { DEFAULT_SWEEP_RANKS, sweepRanks, type SweepPoint } from "../../../sim/sweep.ts";
import { collectTrace } from "../../../sim/trace.ts";
import { checkOutputPath, writeUserFile } from "../cli-io.ts";
import { floatTop1 } from "../../../toolchain/model/float.ts";
import { addDataOptions, loadData, loadDataFor, loadRgmModel, numberList, positiveInt, type DataFlags } from "../data-options.ts";
import { progress } from "../progress.ts";
import { table } from "../table.ts";

interface SimFlags extends DataFlags {
  model?: string;
  target?: string;
  calibrationData?: string;
  json?: boolean;
  report?: string;
  float?: string;
  sweepRanks?: number[];
  calibration: number;
  targetsDir?: string;
  listTargets?: boolean;
  quiet?: boolean;
}

const kib = (n: number) => `${(n / 1024).toLocaleString("en", { maximumFractionDigits: 1 })} KiB`;
const pct = (x: number | null) => (x === null ? "-" : `${(x * 100).toFixed(1)} %`);
const int = (x: number) => Math.round(x).toLocaleString("en");

function listTargets(targets: TargetProfile[], json: boolean): void {
  const rows = targets.map((t) => ({
    name: t.name, title: t.title, clock_hz: t.clock_hz, flash_bytes: t.memory.flash_bytes, sram_bytes: t.memory.sram_bytes,
    simd: t.cycles.mac_simd !== null, active_mw: t.power.active_mw,
  }));
  if (json) {
    console.log(JSON.stringify(rows));
    return;
  }
  const t = table(["target", "description", "clock", "flash", "SRAM", "SIMD", "power"], ["left", "left", "right", "right", "right", "left", "right"]);
  for (const r of rows) t.push([r.name, r.title, `${r.clock_hz / 1e6} MHz`, kib(r.flash_bytes), kib(r.sram_bytes), r.simd ? "yes" : "no", `${r.active_mw} mW`]);
  console.log(t.toString());
}

export function formatSim(r: SimResult, model: string, data: string): string {
  const head = `${model} on ${r.target} (${r.target_title}), ${data}, ${r.samples} samples`;
  const s = table(["schedule", "MACs", "× dense", "cycles", "× dense", "latency", "energy"], ["left", "right", "right", "right", "right", "right", "right"]);
  for (const k of SCHEDULES) {
    s.push([k, int(r.macs_per_sample[k]), (r.macs_per_sample[k] / r.macs_per_sample.dense).toFixed(3), int(r.cycles_per_sample[k]),
      (r.cycles_per_sample[k] / r.cycles_per_sample.dense).toFixed(3), `${r.latency_us[k].toFixed(1)} µs`, `${r.energy_uj[k].toFixed(2)} µJ`]);
  }
  const m = r.memory;
  const memory = `memory: ${m.verdict} (flash ${kib(m.flash_bytes)} of ${kib(m.flash_available)}, SRAM ${kib(m.sram_bytes)} of ${kib(m.sram_available)})`;
  const l = table(["layer", "n_in → n_out", "rank", "density", "computed", "cycles dense", "cycles gated", "gated + zero skip", "oracle", "break-even", "gating pays"],
    ["right", "left", "right", "right", "right", "right", "right", "right", "right", "right", "left"]);
  r.layers.forEach((x, i) => l.push([i, `${x.n_in} → ${x.n_out}`, x.rank || "-", pct(x.density), pct(x.computed), int(x.cycles.dense), int(x.cycles.gated),
    int(x.cycles.gated_zero_skip), int(x.cycles.oracle), x.rank ? (x.break_even_density === null ? "never" : pct(x.break_even_density)) : "-",
    x.gating_pays === null ? "-" : x.gating_pays ? "yes" : "no"]));
  return `${head}\n${s.toString()}\n${memory}\n${l.toString()}`;
}

/** The C runtime's measured counts on this model and target (sim/measured.json) beside the prediction. */
export function measuredComparison(bytes: Uint8Array, r: SimResult) {
  const m = measuredFor(bytes, r.target);
  if (!m) return null;
  return {
    command: m.meta.command, date: m.meta.date, digits: m.model.samples, data: m.model.data,
    schedules: Object.entries(MEASURED_SCHEDULES).filter(([run]) => m.target.runs[run]).map(([run, schedule]) => ({
      schedule, instructions: m.target.runs[run].instructions, derived_cycles: m.target.runs[run].cycles, predicted_compute: predictedCompute(r, schedule),
    })),
    cmsis_nn_instructions: m.target.runs.cmsis?.instructions ?? null,
    runtime_code_bytes: m.target.runtimeCode,
  };
}

export function formatMeasured(c: NonNullable<ReturnType<typeof measuredComparison>>): string {
  const t = table(["schedule", "measured instructions", "derived cycles", "predicted compute", "predicted ÷ derived"], ["left", "right", "right", "right", "right"]);
  for (const x of c.schedules) t.push([x.schedule, int(x.instructions), int(x.derived_cycles), int(x.predicted_compute), (x.predicted_compute / x.derived_cycles).toFixed(3)]);
  return `measured: the C runtime under QEMU on the first ${c.digits} samples of ${c.data} (\`${c.command}\`, ${c.date}); ` +
    `cycles derived from the instruction mix and the core's published timings; predicted compute excludes flash stalls` +
    `${c.cmsis_nn_instructions ? `; CMSIS-NN dense: ${int(c.cmsis_nn_instructions)} instructions` : ""}\n${t.toString()}`;
}

export async function simCommand(flags: SimFlags): Promise<void> {
  if (flags.listTargets) {
    listTargets(loadTargets(flags.targetsDir), !!flags.json);
    return;
  }
  if (!flags.model || !flags.target) throw new UserError("--model and --target are required (or --list-targets)");
  const target = findTarget(flags.target, flags.targetsDir);
  if (flags.report) checkOutputPath(flags.report);
  const { bytes, parsed, float, inputs, outputs } = await loadRgmModel(flags.model, flags.float);
  const ranks = parsed.model.layers.slice(0, -1).map((l) => l.estimator?.rank ?? 0);
  const data = loadDataFor(flags, inputs, flags.model, undefined, outputs);
  if (!data.labels && !float) throw new UserError(`${data.source} has no labels: pass --float <checkpoint> (its top-1 stands in for labels) or give labels (npz y, --labels, --label-column)`);
  // Without labels the float model's top-1 stands in: errors are disagreement with it
  const labels = data.labels ?? floatTop1(float!, data.features, data.count);
  const bar = progress("trace", data.count, flags.quiet);
  const trace = await collectTrace(bytes, data.features, labels, data.count, (d) => { if (d % 100 === 0 || d === data.count) bar.update(d); });
  bar.stop();
  const result = simulate(bytes, trace, target);
  let sweep: SweepPoint[] | null = null;
  if (float) {
    const calibSpec = flags.calibrationData ?? (flags.data.startsWith("mnist:") ? "mnist:val" : flags.data);
    const calib = calibSpec === flags.data ? { features: data.features, count: Math.min(data.count, flags.calibration), width: data.width } : loadData(calibSpec, flags.calibration, { features: inputs, consumer: flags.model });
    if (calib.width !== inputs) throw new UserError(`${calibSpec} has ${calib.width} features per sample, ${flags.model} takes ${inputs} inputs`);
    const ranks = flags.sweepRanks ?? DEFAULT_SWEEP_RANKS;
    const log = (s: string) => { if (!flags.quiet) process.stderr.write(`rank sweep: ${s} …\n`); };
    let sb: ReturnType<typeof progress> | undefined;
    let n = 0;
    sweep = await sweepRanks(float, data.features, labels, data.count, target, {
      ranks, calibration: calib.features, calibrationCount: calib.count, onStage: log,
      onPoint: (p) => {
        sb ??= progress("rank sweep", ranks.length + 1, flags.quiet);
        sb.update(++n, `rank ${p.rank}: ${int(p.macs_per_sample.gated)} MACs, error ${(p.error_gated * 100).toFixed(2)} %`);
      },
    });
    sb?.stop();
  }
  if (flags.report) {
    await writeUserFile(flags.report, await renderReport({ result, target, model: flags.model, data: flags.data, sweep, ranks }));
  }
  const measured = measuredComparison(bytes, result);
  if (flags.json) console.log(JSON.stringify({ ...result, model: flags.model, data: flags.data, labels: data.labels ? "data" : "float model top-1", sweep, measured }));
  else {
    console.log(formatSim(result, flags.model, flags.data));
    if (measured) console.log(formatMeasured(measured));
    if (flags.report) console.log(`report: ${flags.report}`);
  }
}

export function registerSim(program: Command): void {
  const cmd = program
    .command("sim")
    .description("cycles, memory and energy of an .rgm on a microcontroller target, from the engine's traces on real inputs")
    .option("--model <file>", "the .rgm to simulate")
    .option("--target <name>", "target profile (see --list-targets)");
  addDataOptions(cmd, "mnist:test", "inputs to trace (without labels, --float's top-1 stands in)")
    .option("--samples <n>", "only the first n samples", positiveInt("--samples"))
    .option("--json", "print exactly one JSON object")
    .option("--report <file>", "write a self-contained HTML report with plots")
    .option("--float <file>", "the float checkpoint the model came from: sweep estimator ranks for the report")
    .option("--sweep-ranks <list>", `uniform ranks of the sweep (default ${DEFAULT_SWEEP_RANKS.join(",")})`, numberList("--sweep-ranks", true))
    .option("--calibration <n>", "calibration samples for the sweep, the first of --calibration-data", positiveInt("--calibration"), 1000)
    .option("--calibration-data <spec>", "calibration data of the sweep (default: mnist:val for mnist:* data, else --data itself)")
    .option("--targets-dir <dir>", "read target profiles from this folder instead of sim/targets")
    .option("--list-targets", "list the target profiles and exit")
    .option("-q, --quiet", "no progress output")
    .action((flags: SimFlags) => simCommand(flags));
}
