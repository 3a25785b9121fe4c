// npm run reproduce: Davis & Arel's MNIST table with our pipeline. For each rank configuration it runs
// the real CLI — train (estimator in the loop), quantize, eval on mnist:test — two trainings at a time
// on the two cores, then saves the run as docs/data/reproduce.json, writes the "reproduce" section of docs/RESULTS.md
// rendered from it (scripts/render/reproduce.ts; the other sections are kept) and docs/results.svg, and copies the paper-net model
// (.rgm, float checkpoint, quantize report) to models/. Every choice inside (best epoch, calibration) uses mnist:train / mnist:val only.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { renderSvg } from "../toolchain/report/charts.ts";
import type { LabelledEvalReport as EvalReport } from "../toolchain/evaluate/evaluate.ts";
import { setLeadingSection } from "../toolchain/report/doc-sections.ts";
import { minutes, pool, runCli } from "./run-cli.ts";
import { runMeta, saveRun, saveStep, summarize } from "./render/common.ts";
import { renderReproduce, REPRODUCE_RUN, REPRODUCE_SECTION, type ReproduceRun } from "./render/reproduce.ts";

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

const saved: ReproduceRun = {
  meta: runMeta(total), quick: !!args.quick, recipe: RECIPE.join(" "), paperRow: PAPER_ROW,
  rows: results.map((x) => ({ name: x.name, ranks: x.ranks, paper: x.paper, steps: x.steps.map(saveStep), report: summarize(x.report) })),
};

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

// Only this section is written: the other generators' sections (pareto, blocks, digits, frontier) and any
// hand-kept text stay as they are. A file without the section gets it at the top.
saveRun(REPRODUCE_RUN, saved);
const old = existsSync("docs/RESULTS.md") ? readFileSync("docs/RESULTS.md", "utf8") : "";
const section = renderReproduce(saved);
writeFileSync("docs/RESULTS.md", setLeadingSection(old, REPRODUCE_SECTION, section));
process.stderr.write(`wrote ${REPRODUCE_RUN}, the ${REPRODUCE_SECTION} section of docs/RESULTS.md, docs/results.svg and models/paper.* in ${minutes(total)}\n`);
