// npm run bench [-- --quick] [-- --json]: rankgate's schedules against onnxruntime-web and TF.js on one model, in
// one process: the same MNIST test digits at batch 1 and batch 64, interleaved rounds, median of rounds.
// See docs/BENCHMARKS.md for what each contender is and the recorded figures.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { Command, InvalidArgumentError } from "commander";
import { UserError } from "../runtime/src/errors.ts";
import { importSafetensors } from "../toolchain/import/state-dict.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { colors } from "../cli/src/table.ts";
import { writeSection } from "../toolchain/report/doc-sections.ts";
import { saveRun } from "../scripts/render/common.ts";
import { benchRunPath, renderBenchRun, renderBenchText, type BenchSummary } from "./bench-render.ts";
import { agreement, cpuMs, measure, median, type Contender } from "./harness.ts";
import { ortContenders, ORT_VERSION } from "./peers/ort.ts";
import { GATED_SCHEDULES, rankgateContenders } from "./peers/rankgate.ts";
import { tfjsContender } from "./peers/tfjs.ts";
import { profileEngine } from "../toolchain/evaluate/profile-stages.ts";
import { gatedZeroSkipMacs, macFloor } from "./floor.ts";
import { formatProfile } from "../cli/src/commands/profile.ts";
import { permuteForZeroSkip } from "../toolchain/quantize/permute.ts";
import { readModel, writeModel } from "../runtime/src/format.ts";

const BIG = 64;
const REFERENCE = "rankgate_gated";

interface Flags {
  quick?: boolean;
  json?: boolean;
  model: string;
  float: string;
  samples?: number;
  rounds?: number;
  calibration: number;
  only?: string;
  save?: string;
  warmup?: number;
  profile?: boolean;
  cpuTime?: boolean;
  permute?: boolean;
  write?: string;
}

/** mnist:train digits the --permute order is fitted on (none of them is a bench digit). */
const PERMUTE_FIT = 1000;

const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

const nonNegative = (name: string) => (v: string) => {
  const n = Number(v);
  if (!(n >= 0 && Number.isFinite(n))) throw new InvalidArgumentError(`${name} must be a number ≥ 0`);
  return n;
};

function readFile(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new UserError(`${path}: no such file (${what}; pass another with --${what === "model" ? "model" : "float"})`);
  return readFileSync(path);
}

/** The float model must have the engine's layer shapes, or the peers would run a different network. */
function checkSameShape(engine: Engine, float: FloatModel, modelPath: string, floatPath: string): void {
  const a = engine.model.layers.map((l) => `${l.nIn}-${l.nOut}`).join(",");
  const b = float.layers.map((l) => `${l.nIn}-${l.nOut}`).join(",");
  if (a !== b) throw new UserError(`${floatPath} has layers ${b} but ${modelPath} has ${a}; pass the float weights of the same model`);
}

async function main(): Promise<void> {
  const flags = new Command("bench")
    .description("rankgate against onnxruntime-web and TF.js: batch 1 and batch 64 on MNIST test digits")
    .option("--quick", "a short run (1,000 digits, 5 rounds; about 40 s)")
    .option("--json", 'print one JSON object {"batch1_us", "batch64_samples_per_s", "predictions_agree"} and nothing else')
    .option("--model <file>", "the .rgm", "models/paper.rgm")
    .option("--float <file>", "its float weights (safetensors) for the peers", "models/paper-float.safetensors")
    .option("--samples <n>", "MNIST test digits, the first ones (default 10000, --quick 1000)", positiveInt("--samples"))
    .option("--rounds <n>", "interleaved rounds (default 7, --quick 5)", positiveInt("--rounds"))
    .option("--calibration <n>", "mnist:val digits calibrating the QDQ model's activations", positiveInt("--calibration"), 1000)
    .option("--warmup <seconds>", "warm-up time per contender at batch 1 (half that at batch 64; default 3, --quick 1)", nonNegative("--warmup"))
    .option("--only <ids>", "comma-separated contender ids to run (default all)")
    .option("--save <file>", "also write every round's figures and the run's setup as JSON")
    .option("--cpu-time", "time the CPU this process used (user + system) instead of wall time: for a machine shared with other jobs")
    .option("--permute", `first order the model's hidden units by co-activation on ${PERMUTE_FIT} mnist:train digits (toolchain/quantize/permute.ts, as quantize does by default; same logits, fewer zero-skip chunks); the file is not changed`)
    .option("--write <section>", "also save the printed summary as docs/data/<section>.json and write it as that section of docs/BENCHMARKS.md (name it bench-…)", (v) => {
      if (!/^bench-[a-z0-9-]+$/.test(v)) throw new InvalidArgumentError("--write takes a section name bench-<letters, digits, dashes>");
      return v;
    })
    .option("--profile", "instead: rankgate's time per layer and stage (estimator, rows, requantization), as `rankgate profile`")
    .parse()
    .opts<Flags>();
  const log = (s: string) => { if (!flags.json) console.error(s); };
  const samples = Math.min(flags.samples ?? (flags.quick ? 1000 : 10_000), 10_000);
  const rounds = flags.rounds ?? (flags.quick ? 5 : 7);

  // Model, float weights, data
  let modelBytes = readFile(flags.model, "model");
  if (flags.permute) {
    const fit = loadMnist("train", { limit: PERMUTE_FIT });
    const p = await permuteForZeroSkip(readModel(modelBytes).model, toFloatInputs(fit.images, fit.count), fit.count);
    log(`--permute: chunks kept on the ${fit.count} fit digits, per hidden layer's output: ${p.report.layers.map((r) => (r ? `${(100 * r.before).toFixed(1)} → ${(100 * r.after).toFixed(1)} %` : "kept (block gate)")).join(", ")}`);
    modelBytes = writeModel(p.model);
  }
  const engine = await Engine.load(modelBytes);
  if (flags.profile) {
    const n = Math.min(flags.samples ?? (flags.quick ? 100 : 200), 10_000);
    const test = loadMnist("test", { limit: n });
    const x = toFloatInputs(test.images, test.count);
    const traced = await Engine.load(modelBytes, { trace: true });
    profileEngine(traced, engine, x, Math.min(n, 20), 5);
    const p = profileEngine(traced, engine, x, n, flags.quick ? 10 : 20);
    console.log(flags.json ? JSON.stringify(p) : formatProfile(p, flags.model, "mnist:test"));
    return;
  }
  const float = importSafetensors(readFile(flags.float, "float"), flags.float);
  checkSameShape(engine, float, flags.model, flags.float);
  const test = loadMnist("test", { limit: samples });
  const x = toFloatInputs(test.images, test.count);
  const val = loadMnist("val", { limit: flags.calibration });
  const calibration = toFloatInputs(val.images, val.count);
  log(`model ${flags.model}${flags.permute ? " (hidden units permuted)" : ""} (${float.layers.map((l) => l.nIn).concat(engine.outputSize).join("-")}), float ${flags.float}, ${samples} mnist:test digits, ${rounds} rounds`);

  // Contenders
  const only = flags.only ? new Set(flags.only.split(",").map((s) => s.trim())) : null;
  const ortSet = await ortContenders(float, calibration, val.count);
  const all: Contender[] = [...rankgateContenders(engine), ...ortSet.contenders, await tfjsContender(float)];
  const unknown = only ? [...only].filter((id) => !all.some((c) => c.id === id)) : [];
  if (unknown.length) throw new UserError(`unknown contender ${unknown.join(", ")}; expected some of ${all.map((c) => c.id).join(", ")}`);
  const contenders = all.filter((c) => !only || only.has(c.id) || c.id === REFERENCE);

  // Rounds
  const m = await measure(contenders, x, samples, { rounds, big: BIG, warmupSeconds: flags.warmup ?? (flags.quick ? 1 : 3), log, clock: flags.cpuTime ? cpuMs : undefined });
  const ran = contenders.filter((c) => !c.skip);
  const ref = m.labels.get(REFERENCE)!;
  const b1 = Object.fromEntries(ran.map((c) => [c.id, median(m.batch1Us.get(c.id)!)]));
  const b64 = Object.fromEntries(ran.map((c) => [c.id, median(m.batch64Sps.get(c.id)!)]));
  const agree = Object.fromEntries(ran.map((c) => [c.id, agreement(m.labels.get(c.id)!, ref)]));
  const accuracy = Object.fromEntries(ran.map((c) => [c.id, agreement(m.labels.get(c.id)!, Int32Array.from(test.labels))]));
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? a / b : null);
  // "gated, best schedule": the fastest gated schedule that ran, per batch size
  const gatedIds = GATED_SCHEDULES.filter((id) => b1[id] !== undefined);
  const best1 = gatedIds.reduce((a, id) => (b1[id] < b1[a] ? id : a), gatedIds[0]);
  const best64 = gatedIds.reduce((a, id) => (b64[id] > b64[a] ? id : a), gatedIds[0]);
  // The MAC floor (eval's gated + zero-skip MACs at this run's dense SIMD rate), when dense SIMD ran
  const denseMacs = engine.model.layers.reduce((a, l) => a + l.nIn * l.nOut, 0);
  const floor = b1.rankgate_dense_simd !== undefined ? macFloor(await gatedZeroSkipMacs(modelBytes, x), denseMacs, b1.rankgate_dense_simd) : null;
  const ratios = {
    best_gated_batch1: best1,
    gated_zero_skip_over_floor_batch1: floor && b1.rankgate_gated_zero_skip !== undefined ? b1.rankgate_gated_zero_skip / floor.us : null,
    best_gated_batch64: best64,
    ort_f32_over_gated_batch1: ratio(b1.ort_f32, b1[best1]),
    dense_simd_over_gated_batch1: ratio(b1.rankgate_dense_simd, b1[best1]),
    gated_over_ort_int8_qdq_batch64: ratio(b64[best64], b64.ort_int8_qdq),
  };
  const setup = {
    date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model ?? "?", cores: os.cpus().length, loadavg: os.loadavg(),
    model: flags.model, permuted: !!flags.permute, float: flags.float, samples, rounds, batch: [1, BIG], onnxruntime_web: ORT_VERSION,
    qdq: ortSet.qdq, clock: flags.cpuTime ? "cpu" : "wall", command: ["tsx bench/bench.ts", ...process.argv.slice(2)].join(" "),
  };
  // Summary: printed, and with --write saved (docs/data/<section>.json) and written into docs/BENCHMARKS.md
  const spread = (v: number[]) => (Math.max(...v) - Math.min(...v)) / median(v);
  const summary: BenchSummary = {
    source: "run", command: `npm run bench -- ${process.argv.slice(2).filter((a, i, all) => a !== "--write" && all[i - 1] !== "--write").concat(flags.write ? ["--write", flags.write] : []).join(" ")}`, section: flags.write ?? "",
    samples, rounds, big: BIG, reference: REFERENCE, cpuTime: !!flags.cpuTime, cpu: setup.cpu, cores: setup.cores, loadavg: setup.loadavg, node: process.version, date: setup.date,
    contenders: contenders.map((c) => (c.skip ? { label: c.label, id: c.id, skip: c.skip } : {
      label: c.label, id: c.id, batch1_us: b1[c.id], batch1_range: spread(m.batch1Us.get(c.id)!), batch64_samples_per_s: b64[c.id], batch64_range: spread(m.batch64Sps.get(c.id)!),
      agree: agree[c.id], accuracy: accuracy[c.id], ...(c.macsPerSample === undefined ? {} : { macs_per_sample: c.macsPerSample }),
    })),
    best_gated_batch1: best1, best_gated_batch64: best64, ratios, floor, batch64_label_mismatches: [...m.batchMismatch],
  };
  if (flags.save) {
    const perRound = (mm: Map<string, number[]>) => Object.fromEntries([...mm].map(([k, v]) => [k, v]));
    writeFileSync(flags.save, JSON.stringify({ setup, floor, batch1_us: b1, batch64_samples_per_s: b64, predictions_agree: agree, accuracy, ratios, rounds_batch1_us: perRound(m.batch1Us), rounds_batch64_samples_per_s: perRound(m.batch64Sps), batch64_label_mismatches: Object.fromEntries(m.batchMismatch), macs_per_sample: Object.fromEntries(ran.filter((c) => c.macsPerSample !== undefined).map((c) => [c.id, c.macsPerSample])), summary }, null, 2) + "\n");
  }
  for (const c of contenders) c.dispose?.();
  if (flags.json) {
    console.log(JSON.stringify({ batch1_us: b1, batch64_samples_per_s: b64, predictions_agree: agree }));
    return;
  }

  console.log(renderBenchText(summary, { bold: colors.bold, dim: colors.dim }));
  if (flags.write) {
    const doc = "docs/BENCHMARKS.md";
    saveRun(benchRunPath(flags.write), summary);
    writeSection(doc, flags.write, renderBenchRun(summary));
    log(`wrote ${benchRunPath(flags.write)} and the ${flags.write} section of ${doc}`);
  }
}

main().catch((err: unknown) => {
  if (err instanceof UserError) {
    console.error(`bench: ${err.message}`);
    process.exitCode = 1;
  } else {
    console.error(err);
    process.exitCode = 2;
  }
});
