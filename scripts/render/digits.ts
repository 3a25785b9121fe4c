// docs/RESULTS.md's "digits" section from its run (docs/data/digits.json, written by npm run digits).
import type { EvalSummary, RunMeta, SavedStep } from "./common.ts";

export const DIGITS_SECTION = "digits";
export const DIGITS_RUN = "docs/data/digits.json";

export interface DigitsRun {
  meta: RunMeta;
  /** examples/digits/digits.json: the versions that wrote the data. */
  versions: { sklearn: string; numpy: string };
  test: string;
  /** The gated model's ranks (its quantize report). */
  ranks: number[];
  steps: SavedStep[];
  dense: EvalSummary;
  gated: EvalSummary;
}

export function renderDigits(run: DigitsRun): string {
  const pct = (x: number | null) => (x === null ? "-" : `${((1 - x) * 100).toFixed(2)} %`);
  const int = (x: number) => Math.round(x).toLocaleString("en");
  const d = run.dense, g = run.gated, versions = run.versions;
  return `## A second data set: scikit-learn's 8×8 digits

Any MLP on any data goes through the same commands. The data: \`sklearn.datasets.load_digits\` (1,797 samples,
64 features with values 0..16, 10 classes; scikit-learn ${versions.sklearn}, numpy ${versions.numpy}), written by
\`examples/digits/make_digits.py\` as \`digits-train.npz\` (the first 1,500 samples; \`train\` validates on every
10th of them) and \`digits-test.csv\` (the last 297, held out: used only by \`eval\`). Features go in as stored:
the input quantization comes from the calibration data's range ([0, 16]). Net 64-64-32-10, seed 1.

| model (${run.test.split("/").pop()}, ${d.samples} samples) | accuracy | MACs per sample | × dense |
|---|---:|---:|---:|
| float | ${pct(d.error.float)} | ${int(d.macs_per_sample.dense)} | 1.000 |
| int8 dense | ${pct(d.error.int8_dense)} | ${int(d.macs_per_sample.dense)} | 1.000 |
| int8 gated, ranks ${run.ranks.join("-")} (\`--budget 1\`) | ${pct(g.error.int8_gated)} | ${int(g.macs_per_sample.gated)} | ${(g.macs_per_sample.gated / g.macs_per_sample.dense).toFixed(3)} |
| int8 gated + zero-input skipping | ${pct(g.error.int8_gated)} | ${int(g.macs_per_sample.gated_zero_skip)} | ${(g.macs_per_sample.gated_zero_skip / g.macs_per_sample.dense).toFixed(3)} |

Top-1 agreement with the float model: int8 dense ${(d.agreement!.int8_dense.top1 * 100).toFixed(2)} %, gated
${(g.agreement!.int8_gated.top1 * 100).toFixed(2)} %; inputs clamped: ${g.inputs!.clamped}. The rank search ran on the training file
(\`--budget\` never picks gated ranks that cost dense MACs or more). Reproduce with \`npm run build && npm run digits\`
(${run.meta.cpu}, ${run.meta.date}), which ran:

\`\`\`sh
${run.steps.map((s) => s.command).join("\n")}
\`\`\``;
}
