// rankgate profile: where one inference's time goes, per layer and stage (bench/profile.ts).
import type { Command } from "commander";
import { profileEngine, profileRows, PROFILE_HEADER, type Profile } from "../../../toolchain/evaluate/profile-stages.ts";
import { Engine } from "../../../runtime/src/index.ts";
import { addDataOptions, loadDataFor, loadRgmModel, positiveInt, type DataFlags } from "../data-options.ts";
import { table } from "../table.ts";

interface ProfileFlags extends DataFlags {
  model: string;
  samples: number;
  reps: number;
  json?: boolean;
}

/** The profile as text: the per-layer table and the whole-inference figures. */
export function formatProfile(p: Profile, model: string, data: string): string {
  const t = table(PROFILE_HEADER, ["right", "left", "left", ...PROFILE_HEADER.slice(3).map(() => "right" as const)]);
  for (const row of profileRows(p)) t.push(row);
  const sum = (f: (l: Profile["layers"][number]) => number) => p.layers.reduce((a, l) => a + f(l), 0).toFixed(2);
  t.push(["", "sum", "", "", "", "", sum((l) => l.dense), sum((l) => l.gated.mask), sum((l) => l.gated.rows), sum((l) => l.gated.total),
    sum((l) => l.zeroSkip.mask), sum((l) => l.zeroSkip.rows), sum((l) => l.zeroSkip.total), sum((l) => l.list), sum((l) => l.requantize)]);
  const i = p.inference;
  return [
    `${model} on ${data}: ${p.samples} samples × ${p.reps} repetitions per stage, medians over samples (µs)`,
    t.toString(),
    `whole inference (engine.infer, float input): gated ${i.gated.toFixed(2)} µs, gated + zero-input skipping ${i.zeroSkip.toFixed(2)} µs, ` +
      `dense ${i.dense.toFixed(2)} µs; input quantization (quantize_f32) ${i.quantize.toFixed(2)} µs`,
    "mask = listing the input + estimator (or gate) + mask; rows = layer − mask, requantization included (requant: the scalar",
    "requantizeRows_s32 alone, an upper bound: a SIMD run requantizes four units per step); layer sums leave out the",
    "quantization and the per-call JS. Times repeat one sample's stage back to back, so caches and branch predictors are warm.",
  ].join("\n");
}

export async function profileCommand(flags: ProfileFlags): Promise<void> {
  const { bytes, inputs, outputs } = await loadRgmModel(flags.model);
  const data = loadDataFor(flags, inputs, flags.model, undefined, outputs);
  const traced = await Engine.load(bytes, { trace: true });
  const plain = await Engine.load(bytes);
  // Warm-up: V8 tiers the module up before anything is timed
  profileEngine(traced, plain, data.features, Math.min(data.count, 20), 5);
  const p = profileEngine(traced, plain, data.features, data.count, flags.reps);
  if (flags.json) console.log(JSON.stringify(p));
  else console.log(formatProfile(p, flags.model, flags.data));
}

export function registerProfile(program: Command): void {
  const cmd = program
    .command("profile")
    .description("time per layer: estimator / gate, rows, requantization, with and without zero-input skipping")
    .requiredOption("--model <file>", "the .rgm");
  addDataOptions(cmd, "mnist:test", "inputs to time (labels unused)")
    .option("--samples <n>", "samples to profile, the first ones", positiveInt("--samples"), 200)
    .option("--reps <n>", "back-to-back calls per stage and sample", positiveInt("--reps"), 20)
    .option("--json", "print exactly one JSON object")
    .action((flags: ProfileFlags) => profileCommand(flags));
}
