// npm run pareto: test error against MACs per sample for every way rankgate can gate a network — SVD
// estimators at several ranks, learned estimators, block policies — and the dense baselines, each point
// made by real CLI commands (quantize, eval on mnist:test) from a committed float checkpoint. Writes
// docs/pareto.svg and the "pareto" section of docs/RESULTS.md (npm run reproduce keeps it).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { renderSvg } from "../toolchain/report/charts.ts";
import type { LabelledEvalReport as EvalReport } from "../toolchain/evaluate/evaluate.ts";
import { PARETO_SECTION, setSection } from "../toolchain/report/doc-sections.ts";
import { minutes, pool, runCli, type Step } from "./run-cli.ts";

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

const pct = (x: number | null, d = 2) => (x === null ? "–" : (x * 100).toFixed(d));
const macsOf = (x: (typeof results)[number]) => (x.dense ? x.report.macs_per_sample.dense : x.report.macs_per_sample.gated);
const errorOf = (x: (typeof results)[number]) => (x.dense ? x.report.error.int8_dense : x.report.error.int8_gated);
const n = (v: number) => Math.round(v).toLocaleString("en");

const svg = await renderSvg({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  width: 560, height: 340, background: "white",
  title: "MNIST test error (int8, gated as shipped) against MACs per sample",
  data: { values: results.map((x) => ({ name: x.name, family: x.family, macs: macsOf(x), error: errorOf(x) * 100 })) },
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

const denseMacs = (x: (typeof results)[number]) => x.report.macs_per_sample.dense;
const rows = results.map((x) => {
  const r = x.report;
  const gating = r.layers.slice(0, -1).map((l) => `${pct(l.recall, 1)} / ${pct(l.computed, 1)}`).join(", ");
  return `| ${x.name} | ${x.family} | ${x.network} | ${pct(r.error.float)} | ${pct(errorOf(x))} | ${n(macsOf(x))} | ${(macsOf(x) / denseMacs(x)).toFixed(3)} | ${(r.macs_per_sample.gated_zero_skip / denseMacs(x)).toFixed(3)} | ${x.dense ? "–" : gating} |`;
});
const commands = results.map((x) => `# ${x.name}\n${x.madeBy ? `${x.madeBy}   # committed checkpoint\n` : ""}${x.steps.map((s) => `${s.command}   # ${minutes(s.seconds)}`).join("\n")}`);
const find = (name: string) => results.find((x) => x.name === name);
const condnet = find("condnet 16×16"), d256 = find("dense 256"), d32 = find("dense 32");
const published = [
  ["condnet, 16 blocks × 16 units (paper τ = 1/16; ours τ = 1/4)", "2.3", condnet ? pct(condnet.report.error.int8_gated) : "–", condnet ? n(macsOf(condnet)) : "–"],
  ["dense 256 units", "1.9", d256 ? pct(d256.report.error.int8_dense) : "–", d256 ? n(macsOf(d256)) : "–"],
  ["dense 32 units", "2.8", d32 ? pct(d32.report.error.int8_dense) : "–", d32 ? n(macsOf(d32)) : "–"],
].map((r) => `| ${r.join(" | ")} |`);
const equalRank = ["SVD 50-35-25", "learned 50-35-25", "dense-trained, SVD 50-35-25", "dense-trained, learned 50-35-25"].map(find).filter((x) => x !== undefined).map((x) => {
  const r = x.report;
  return `| ${x.name} | ${x.network} | ${r.layers.slice(0, -1).map((l) => `${pct(l.recall, 1)} / ${pct(l.computed, 1)}`).join(" | ")} | ${pct(r.error.int8_gated)} | ${(r.macs_per_sample.gated / r.macs_per_sample.dense).toFixed(3)} |`;
});

const section = `## Beyond SVD: learned estimators and block policies

Generated by \`npm run pareto\` on ${new Date().toISOString().slice(0, 10)} (${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}),
${minutes(total)}; every point is the int8 model run through the Wasm engine on ${args.samples ? `**only the first ${args.samples}**` : "the 10,000"} MNIST test digits
(\`rankgate eval\`, reference check included), quantized from the committed float checkpoint named in its commands.

![test error against MACs per sample](pareto.svg)

| point | family | network | float error % | int8 error % | MACs / sample | × dense | × dense, zero skip | recall / computed % per hidden layer |
|---|---|---|---:|---:|---:|---:|---:|---|
${rows.join("\n")}

"int8 error" is the gated model's (the dense model's for dense points); "float error" is the float network
as trained: with its block policy (thresholded), without any estimator. MACs count the gating decision (estimator rank·(n_in + n_out), or blocks·n_in for a block
policy) plus the rows computed; "zero skip" counts only non-zero inputs in every dot product.

- The SVD points all use one network, \`models/paper-float.safetensors\`, trained with the 50-35-25
  estimator in the loop; at 10-10-5 it breaks (14 % error). A network trained at 10-10-5 does far
  better (the 10-10-5 row of the table above: 2.42 % int8 gated): the estimator belongs in training.
- The block-policy points are trained with the policy in the loop (REINFORCE); without it the same
  weights give 21–23 % (every block on), so the policy is part of the model.

### Block policy: Bengio et al. (2015) on MNIST, reproduced

| model | published test error % | ours, int8 % | ours, MACs / sample |
|---|---:|---:|---:|
${published.join("\n")}

This row's condnet uses **τ = 1/4, not the paper's 1/16**: the published 2.3 % at 1/16 is not reproduced
(our closest τ = 1/16 model, \`models/condnet-16.rgm\`, is 4.79 % int8: "Block policy: Bengio et al. (2015) at
both τ" below, docs/TRAINING.md "τ = 1/16"). At τ = 1/4, 27.5 % of blocks are open on the test digits and the int8 model
meets the 2.6 % bar at 0.35× the dense 256-unit net's MACs (0.065× with zero-input skipping), below the dense 32-unit net's error at
2.8× its MACs.

### Learned against SVD estimator at equal rank (ranks 50-35-25)

| estimator | network | layer 1 recall / computed % | layer 2 | layer 3 | int8 gated error % | MACs × dense |
|---|---|---|---|---|---:|---:|
${equalRank.join("\n")}

\`learn-estimator\` starts from the SVD factors and trains them, the network frozen, on the sign of each
unit's pre-activation (positives weigh 4 in the logistic loss), then shifts each layer's offsets so it
computes as many units as the SVD estimator: equal rank, equal compute. It always finds many more of the
positive units (recall +10 to +26 points per layer). On the network trained *dense* (no estimator in the
loop), that turns into a lower error. On the paper net it does not: that network was trained with the
SVD estimator in the loop, so it has learned to do without exactly the units the SVD skips (they got
no gradient), and computing other units instead buys nothing; its error stays within noise of the SVD's
(+10 digits of 10,000). Training with the learned estimator in the loop is the next step; not done here.

### Commands

\`\`\`sh
${commands.join("\n\n")}
\`\`\`
`;
const path = "docs/RESULTS.md";
writeFileSync(path, setSection(existsSync(path) ? readFileSync(path, "utf8") : "# Results\n", PARETO_SECTION, section));
process.stderr.write(`wrote docs/pareto.svg and the pareto section of ${path} in ${minutes(total)}\n`);
