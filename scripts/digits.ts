// npm run digits: the second data set of docs/RESULTS.md — scikit-learn's 8×8 digits (examples/digits/,
// written by examples/digits/make_digits.py) through the real CLI: train on digits-train.npz (every 10th
// sample validates), quantize dense and with --budget on the same file, eval on the held-out digits-test.csv.
// Writes the "digits" section of docs/RESULTS.md with the exact commands.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import type { LabelledEvalReport } from "../toolchain/evaluate/evaluate.ts";
import { setSection } from "../toolchain/report/doc-sections.ts";
import { runCli, type Step } from "./run-cli.ts";

const OUT = "build/digits";
const TRAIN = "examples/digits/digits-train.npz";
const TEST = "examples/digits/digits-test.csv";
const DOC = "docs/RESULTS.md";
mkdirSync(OUT, { recursive: true });

const steps: Step[] = [];
const run = async (argv: string[]) => {
  const s = await runCli(argv);
  steps.push(s);
  return s;
};
await run(["train", "--data", TRAIN, "--sizes", "64,64,32,10", "--epochs", "60", "--lr", "0.005", "--lr-decay", "0.98", "--batch", "16", "--seed", "1", "-o", `${OUT}/float.safetensors`, "-q"]);
await run(["quantize", "--float", `${OUT}/float.safetensors`, "--data", TRAIN, "-o", `${OUT}/dense.rgm`, "-q"]);
await run(["quantize", "--float", `${OUT}/float.safetensors`, "--data", TRAIN, "--budget", "1", "-o", `${OUT}/gated.rgm`, "-q"]);
const evals: Record<string, LabelledEvalReport> = {};
for (const m of ["dense", "gated"]) {
  const s = await run(["eval", "--model", `${OUT}/${m}.rgm`, "--float", `${OUT}/float.safetensors`, "--data", TEST, "--json", "-q"]);
  evals[m] = JSON.parse(s.stdout);
}
const q = JSON.parse(readFileSync(`${OUT}/gated.report.json`, "utf8"));
const versions = JSON.parse(readFileSync("examples/digits/digits.json", "utf8"));

const pct = (x: number | null) => (x === null ? "-" : `${((1 - x) * 100).toFixed(2)} %`);
const int = (x: number) => Math.round(x).toLocaleString("en");
const d = evals.dense, g = evals.gated;
const body = `## A second data set: scikit-learn's 8×8 digits

Any MLP on any data goes through the same commands. The data: \`sklearn.datasets.load_digits\` (1,797 samples,
64 features with values 0..16, 10 classes; scikit-learn ${versions.sklearn}, numpy ${versions.numpy}), written by
\`examples/digits/make_digits.py\` as \`digits-train.npz\` (the first 1,500 samples; \`train\` validates on every
10th of them) and \`digits-test.csv\` (the last 297, held out: used only by \`eval\`). Features go in as stored:
the input quantization comes from the calibration data's range ([0, 16]). Net 64-64-32-10, seed 1.

| model (${TEST.split("/").pop()}, ${d.samples} samples) | accuracy | MACs per sample | × dense |
|---|---:|---:|---:|
| float | ${pct(d.error.float)} | ${int(d.macs_per_sample.dense)} | 1.000 |
| int8 dense | ${pct(d.error.int8_dense)} | ${int(d.macs_per_sample.dense)} | 1.000 |
| int8 gated, ranks ${q.ranks.join("-")} (\`--budget 1\`) | ${pct(g.error.int8_gated)} | ${int(g.macs_per_sample.gated)} | ${(g.macs_per_sample.gated / g.macs_per_sample.dense).toFixed(3)} |
| int8 gated + zero-input skipping | ${pct(g.error.int8_gated)} | ${int(g.macs_per_sample.gated_zero_skip)} | ${(g.macs_per_sample.gated_zero_skip / g.macs_per_sample.dense).toFixed(3)} |

Top-1 agreement with the float model: int8 dense ${(d.agreement!.int8_dense.top1 * 100).toFixed(2)} %, gated
${(g.agreement!.int8_gated.top1 * 100).toFixed(2)} %; inputs clamped: ${g.inputs.clamped}. The rank search ran on the training file
(\`--budget\` never picks gated ranks that cost dense MACs or more). Reproduce with \`npm run build && npm run digits\`
(${cpus()[0]?.model ?? "unknown CPU"}, ${new Date().toISOString().slice(0, 10)}), which ran:

\`\`\`sh
${steps.map((s) => s.command).join("\n")}
\`\`\``;
writeFileSync(DOC, setSection(readFileSync(DOC, "utf8"), "digits", body));
process.stderr.write(`${DOC}: digits section written\n`);
