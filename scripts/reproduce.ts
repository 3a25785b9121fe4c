// npm run reproduce: Davis & Arel's MNIST table with our pipeline. For each rank configuration it runs
// the real CLI — train (estimator in the loop), quantize, eval on mnist:test — two trainings at a time
// on the two cores, then writes docs/RESULTS.md and docs/results.svg and copies the paper-net model
// (.rgm, float checkpoint, quantize report) to models/. Every choice inside (best epoch, calibration) uses mnist:train / mnist:val only.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { renderSvg } from "../toolchain/report/charts.ts";
import type { LabelledEvalReport as EvalReport } from "../toolchain/evaluate/evaluate.ts";
import { FRONTIER_SECTION, getSection, PARETO_SECTION } from "../toolchain/report/doc-sections.ts";
import { minutes, pool, runCli } from "./run-cli.ts";

const { values: args } = parseArgs({ options: { quick: { type: "boolean" }, jobs: { type: "string", default: "2" } } });
const EPOCHS = args.quick ? "1" : "20";
const LIMIT = args.quick ? ["--train-limit", "2000"] : [];
/** The recipe every row shares (docs/RESULTS.md, "Recipe"). */
const RECIPE = ["--epochs", EPOCHS, "--l1", "1e-4,2e-4,3e-4", "--seed", "1", ...LIMIT];
const ROWS = [
  { name: "full", ranks: null, paper: 1.40 },
  { name: "50-35-25", ranks: "50,35,25", paper: 1.43 },
  { name: "25-25-25", ranks: "25,25,25", paper: 1.60 },
  { name: "10-10-5", ranks: "10,10,5", paper: 2.28 },
] as const;
/** The row committed as models/paper.rgm. */
const PAPER_ROW = "50-35-25";
const OUT = "build/reproduce";

async function row(r: (typeof ROWS)[number]) {
  const base = `${OUT}/${r.name}`;
  const ranks = r.ranks ? ["--ranks", r.ranks] : [];
  const train = await runCli(["train", ...RECIPE, ...ranks, "-o", `${base}.safetensors`, "-q"]);
  const quantize = await runCli(["quantize", "--float", `${base}.safetensors`, ...ranks, "-o", `${base}.rgm`, "-q"]);
  const evaluate = await runCli(["eval", "--model", `${base}.rgm`, "--float", `${base}.safetensors`, "--data", "mnist:test", "--json", "-q"]);
  return { ...r, steps: [train, quantize, evaluate], report: JSON.parse(evaluate.stdout) as EvalReport, quantizeReport: JSON.parse(readFileSync(`${base}.report.json`, "utf8")) };
}

mkdirSync(OUT, { recursive: true });
const t0 = performance.now();
const results = await pool(ROWS, Number(args.jobs), row);
const total = (performance.now() - t0) / 1000;

const pct = (x: number | null) => (x === null ? "–" : (x * 100).toFixed(2));
const ratio = (r: EvalReport, k: keyof EvalReport["macs_per_sample"]) => (r.macs_per_sample[k] / r.macs_per_sample.dense).toFixed(3);
const table = results.map((x) => {
  const r = x.report;
  return `| ${x.name} | ${x.paper.toFixed(2)} | ${pct(r.error.float)} | ${pct(r.error.int8_dense)} | ${pct(r.error.int8_gated)} | ${ratio(r, "gated")} | ${ratio(r, "gated_zero_skip")} | ${ratio(r, "oracle")} | ${minutes(x.steps.reduce((t, s) => t + s.seconds, 0))} |`;
});
const layers = results.filter((x) => x.ranks).map((x) => `| ${x.name} | ${x.report.layers.slice(0, -1).map((l) => `${pct(l.density)} / ${pct(l.computed)} / ${pct(l.recall)}`).join(" | ")} |`);
const commands = results.map((x) => `# ${x.name}\n${x.steps.map((s) => `${s.command}   # ${minutes(s.seconds)}`).join("\n")}`);

const svg = await renderSvg({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  width: 520, height: 320, background: "white",
  title: "MNIST test error against multiply-accumulates per sample",
  data: { values: results.flatMap((x) => [
    { config: x.name, schedule: "int8 gated", macs: x.report.macs_per_sample.gated, error: x.report.error.int8_gated * 100 },
    { config: x.name, schedule: "int8 gated + zero skip", macs: x.report.macs_per_sample.gated_zero_skip, error: x.report.error.int8_gated * 100 },
    { config: x.name, schedule: "int8 dense", macs: x.report.macs_per_sample.dense, error: x.report.error.int8_dense * 100 },
  ]) },
  layer: [
    { mark: { type: "point", filled: true, size: 80 }, encoding: {
      x: { field: "macs", type: "quantitative", scale: { type: "log" }, title: "MACs per sample (log)" },
      y: { field: "error", type: "quantitative", title: "test error (%)", scale: { zero: false } },
      color: { field: "schedule", type: "nominal", legend: { labelLimit: 240 } }, shape: { field: "schedule", type: "nominal" } } },
    { transform: [{ filter: "datum.schedule === 'int8 gated'" }], mark: { type: "text", dx: 8, align: "left", fontSize: 10 }, encoding: {
      x: { field: "macs", type: "quantitative", scale: { type: "log" } }, y: { field: "error", type: "quantitative" }, text: { field: "config" } } },
  ],
});
writeFileSync("docs/results.svg", svg);

const paper = results.find((x) => x.name === PAPER_ROW)!;
for (const ext of [".rgm", ".safetensors", ".report.json"]) copyFileSync(`${OUT}/${PAPER_ROW}${ext}`, `models/paper${ext === ".safetensors" ? "-float.safetensors" : ext}`);

// npm run pareto's and npm run frontier's sections are kept as they are
const old = existsSync("docs/RESULTS.md") ? readFileSync("docs/RESULTS.md", "utf8") : "";
const pareto = getSection(old, PARETO_SECTION), frontier = getSection(old, FRONTIER_SECTION);
writeFileSync("docs/RESULTS.md", `# Results: Davis & Arel's MNIST table, reproduced in int8

Generated by \`npm run reproduce${args.quick ? " -- --quick" : ""}\` on ${new Date().toISOString().slice(0, 10)}
(${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}); ${minutes(total)} in all, two trainings at a time.
${args.quick ? "\n**This is a --quick run (1 epoch on 2,000 digits): the numbers only check the pipeline.**\n" : ""}
The paper (Davis & Arel, "Low-Rank Approximations for Conditional Feedforward Computation in Deep
Neural Networks", arXiv 1312.4461) trains a 784-1000-600-400-10 ReLU MLP on MNIST with the low-rank
estimator in the loop and reports test error per estimator rank. We train the same network the same
way (SVD of each hidden layer refreshed every epoch, units whose estimate is ≤ 0 not computed and
given no gradient), add an L1 penalty on hidden activations so that most units are zero, quantize it
to int8 and run it through the Wasm engine.

| ranks | paper error % | our float error % | int8 dense % | int8 gated % | MACs gated | gated + zero skip | oracle | wall time |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${table.join("\n")}

- Errors are on the 10,000 MNIST test digits, which no step looked at before this table:
  the best epoch is chosen on mnist:val (the last 5,000 training digits), calibration uses its
  first 1,000. "Float" is the float network without the estimator; "int8 gated" is what ships.
- MAC columns are multiply-accumulates per sample as a fraction of the dense network's 1,628,000:
  "gated" counts the estimator (rank · (n_in + n_out) per layer) plus the rows computed; "zero
  skip" counts only non-zero inputs in every dot product (what a kernel that skips zero inputs
  does); "oracle" computes exactly the positive units with a free estimator. All are exact counts
  from the engine (\`rankgate eval\`), averaged over the test set.
- The "full" row has no estimator: its int8 gated error is its int8 dense error and its gated
  MACs are dense.

![test error against MACs](results.svg)

Per hidden layer, on the test set: density (units positive in the dense network) / computed
(units the estimator computes) / recall (positive units computed), in %:

| ranks | layer 1 (1000) | layer 2 (600) | layer 3 (400) |
|---|---|---|---|
${layers.join("\n")}

## Recipe

Every row: \`${RECIPE.join(" ")}\` (SGD with momentum 0.9, batch 100, learning rate 0.05 decayed by
0.9 per epoch, He initialisation; L1 penalty λ·Σ|h| per hidden layer, stronger on deeper layers
because they are denser), and \`--ranks\` as in the row. The quantizer calibrates activation ranges
on 1,000 validation digits and builds the estimator from the exact SVD of the trained weights.

\`models/paper.rgm\` is the ${PAPER_ROW} row (with \`models/paper-float.safetensors\` and
\`models/paper.report.json\`), made by its three commands below; its quantize command also writes
the C model files \`paper.h\` / \`paper.c\` (11 MB of text, not committed).

## Commands

\`\`\`sh
${commands.join("\n\n")}
\`\`\`
${pareto ? `\n${pareto}\n` : ""}${frontier ? `\n${frontier}\n` : ""}`);
process.stderr.write(`wrote docs/RESULTS.md, docs/results.svg and models/paper.* in ${minutes(total)}\n`);
