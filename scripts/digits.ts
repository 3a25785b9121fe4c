// npm run digits: the second data set of docs/RESULTS.md — scikit-learn's 8×8 digits (examples/digits/,
// written by examples/digits/make_digits.py) through the real CLI: train on digits-train.npz (every 10th
// sample validates), quantize dense and with --budget on the same file, eval on the held-out digits-test.csv.
// Saves the run as docs/data/digits.json and writes the "digits" section of docs/RESULTS.md from it
// (scripts/render/digits.ts; test/docs-generated.test.ts checks the committed section against the JSON).
import { mkdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import type { LabelledEvalReport } from "../toolchain/evaluate/evaluate.ts";
import { writeSection } from "../toolchain/report/doc-sections.ts";
import { runCli, type Step } from "./run-cli.ts";
import { runMeta, saveRun, saveStep, summarize } from "./render/common.ts";
import { DIGITS_RUN, DIGITS_SECTION, renderDigits, type DigitsRun } from "./render/digits.ts";

const OUT = "build/digits";
const TRAIN = "examples/digits/digits-train.npz";
const TEST = "examples/digits/digits-test.csv";
const DOC = "docs/RESULTS.md";
mkdirSync(OUT, { recursive: true });
const t0 = performance.now();

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

const saved: DigitsRun = {
  meta: runMeta((performance.now() - t0) / 1000),
  versions: { sklearn: versions.sklearn, numpy: versions.numpy },
  test: TEST, ranks: q.ranks, steps: steps.map(saveStep), dense: summarize(evals.dense), gated: summarize(evals.gated),
};
saveRun(DIGITS_RUN, saved);
writeSection(DOC, DIGITS_SECTION, renderDigits(saved));
process.stderr.write(`${DIGITS_RUN} and the ${DIGITS_SECTION} section of ${DOC} written\n`);
