// npm run pareto: test error against MACs per sample for every way rankgate can gate a network — SVD
// estimators at several ranks, learned estimators, block policies — and the dense baselines, each point
// made by real CLI commands (quantize, eval on mnist:test) from a committed float checkpoint. Writes
// docs/pareto.svg, the run as docs/data/pareto.json and the "pareto" section of docs/RESULTS.md rendered from it
// (scripts/render/pareto.ts; test/docs-generated.test.ts checks the committed section against the JSON).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { renderSvg } from "../toolchain/report/charts.ts";
import type { LabelledEvalReport as EvalReport } from "../toolchain/evaluate/evaluate.ts";
import { PARETO_SECTION, setSection } from "../toolchain/report/doc-sections.ts";
import { minutes, pool, runCli, type Step } from "./run-cli.ts";
import { runMeta, saveRun, saveStep, summarize } from "./render/common.ts";
import { errorOf, macsOf, PARETO_RUN, renderPareto, type ParetoRun } from "./render/pareto.ts";

const { values: args } = parseArgs({ options: { jobs: { type: "string", default: "2" }, samples: { type: "string" } } });
const OUT = "build/pareto";
const PAPER = "models/paper-float.safetensors";
const LEARNED = "models/paper-learned-float.safetensors";
const CONDNET = "models/condnet-mnist-float.safetensors";
const PAPER_POLICY = "models/paper-policy-float.safetensors";
/** The same network trained without an estimator (npm run reproduce's "full" row). */
const DENSE_TRAINED = "models/dense-float.safetensors";
const DENSE_RECIPE = ["--epochs", "20", "--l1", "0", "--seed", "1"];

type Family = "dense" | "SVD estimator" | "learned estimator" | "block policy";
interface Point {
  name: string;
  family: Family;
  network: "784-1000-600-400-10" | "784-1000-600-400-10, trained dense" | "784-256-10" | "784-32-10";
  /** Float checkpoint; made first by the CLI command `make` (writes it) when given. */
  float: string;
  make?: string[];
  /** How the committed checkpoint was made (shown with the commands). */
  madeBy?: string;
  quantize: string[];
  /** Also copy the .rgm here. */
  keep?: string;
  /** Plot the int8 dense point of this network instead of the gated one. */
  dense?: boolean;
}

const POINTS: Point[] = [
  { name: "paper net, dense", family: "dense", network: "784-1000-600-400-10", float: PAPER, quantize: [], dense: true },
  ...["10,10,5", "25,25,25", "50,35,25", "100,70,50"].map((r): Point => ({
    name: `SVD ${r.replaceAll(",", "-")}`, family: "SVD estimator", network: "784-1000-600-400-10", float: PAPER, quantize: ["--ranks", r, "--estimator", "svd"],
  })),
  { name: "learned 50-35-25", family: "learned estimator", network: "784-1000-600-400-10", float: LEARNED, quantize: ["--estimator", "learned"],
    madeBy: "npx rankgate learn-estimator --float models/paper-float.safetensors --ranks 50,35,25 -o models/paper-learned-float.safetensors" },
  { name: "dense-trained, SVD 50-35-25", family: "SVD estimator", network: "784-1000-600-400-10, trained dense", float: DENSE_TRAINED, quantize: ["--ranks", "50,35,25", "--estimator", "svd"],
    madeBy: "npx rankgate train --epochs 20 --l1 1e-4,2e-4,3e-4 --seed 1 -o models/dense-float.safetensors" },
  { name: "dense-trained, learned 50-35-25", family: "learned estimator", network: "784-1000-600-400-10, trained dense", float: `${OUT}/dense-learned.safetensors`,
    make: ["learn-estimator", "--float", DENSE_TRAINED, "--ranks", "50,35,25", "-o", `${OUT}/dense-learned.safetensors`, "-q"], quantize: ["--estimator", "learned"] },
  { name: "paper net, 16-unit blocks", family: "block policy", network: "784-1000-600-400-10", float: PAPER_POLICY, quantize: [],
    madeBy: "npx rankgate train-policy --init models/paper-float.safetensors --tau 0.2 --epochs 16 --lr-net 3e-4 --lr-policy 1e-2 --policy-init-scale 8 -o models/paper-policy-float.safetensors --report models/paper-policy-float.train.json" },
  { name: "condnet 16×16", family: "block policy", network: "784-256-10", float: CONDNET, quantize: [], keep: "models/condnet-mnist.rgm",
    madeBy: "npx rankgate train-policy --tau 0.25 --epochs 30 --lr-policy 1e-2 --policy-init-scale 8 -o models/condnet-mnist-float.safetensors --report models/condnet-mnist-float.train.json" },
  { name: "dense 256", family: "dense", network: "784-256-10", float: `${OUT}/dense-256.safetensors`, make: ["train", "--sizes", "784,256,10", ...DENSE_RECIPE, "-o", `${OUT}/dense-256.safetensors`, "-q"], quantize: [], dense: true },
  { name: "dense 32", family: "dense", network: "784-32-10", float: `${OUT}/dense-32.safetensors`, make: ["train", "--sizes", "784,32,10", ...DENSE_RECIPE, "-o", `${OUT}/dense-32.safetensors`, "-q"], quantize: [], dense: true },
];

const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "").toLowerCase();

async function point(p: Point) {
  const base = `${OUT}/${slug(p.name)}`;
  const steps: Step[] = [];
  if (p.make) steps.push(await runCli(p.make));
  const rgm = p.keep ?? `${base}.rgm`;
  steps.push(await runCli(["quantize", "--float", p.float, ...p.quantize, "-o", rgm, "-q"]));
  const samples = args.samples ? ["--samples", args.samples] : [];
  const evaluate = await runCli(["eval", "--model", rgm, "--float", p.float, "--data", "mnist:test", ...samples, "--json", "-q"]);
  steps.push(evaluate);
  return { ...p, steps, report: JSON.parse(evaluate.stdout) as EvalReport };
}

mkdirSync(OUT, { recursive: true });
const missing = POINTS.filter((p) => !p.make && !existsSync(p.float));
for (const p of missing) process.stderr.write(`skipping "${p.name}": ${p.float} does not exist\n`);
const t0 = performance.now();
const results = await pool(POINTS.filter((p) => !missing.includes(p)), Number(args.jobs), point);
const total = (performance.now() - t0) / 1000;

const saved: ParetoRun = {
  meta: runMeta(total), samples: args.samples ?? null,
  results: results.map((x) => ({ name: x.name, family: x.family, network: x.network, ...(x.dense ? { dense: true } : {}), ...(x.madeBy ? { madeBy: x.madeBy } : {}), steps: x.steps.map(saveStep), report: summarize(x.report) })),
};
saveRun(PARETO_RUN, saved);

const svg = await renderSvg({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  width: 560, height: 340, background: "white",
  title: "MNIST test error (int8, gated as shipped) against MACs per sample",
  data: { values: saved.results.map((x) => ({ name: x.name, family: x.family, macs: macsOf(x), error: errorOf(x)! * 100 })) },
  layer: [
    { mark: { type: "point", filled: true, size: 90 }, encoding: {
      x: { field: "macs", type: "quantitative", scale: { type: "log" }, title: "MACs per sample (log)" },
      y: { field: "error", type: "quantitative", title: "test error (%)", scale: { zero: false } },
      color: { field: "family", type: "nominal", title: null, legend: { orient: "top-right" } }, shape: { field: "family", type: "nominal", title: null } } },
    { mark: { type: "text", dx: 8, align: "left", fontSize: 10 }, encoding: {
      x: { field: "macs", type: "quantitative", scale: { type: "log" } }, y: { field: "error", type: "quantitative" }, text: { field: "name" } } },
  ],
});
writeFileSync("docs/pareto.svg", svg);

const path = "docs/RESULTS.md";
writeFileSync(path, setSection(existsSync(path) ? readFileSync(path, "utf8") : "# Results\n", PARETO_SECTION, renderPareto(saved)));
process.stderr.write(`wrote docs/pareto.svg, ${PARETO_RUN} and the pareto section of ${path} in ${minutes(total)}\n`);
