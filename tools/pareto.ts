// npm run pareto: test error against MACs per sample for every way rankgate can gate a network — SVD
// estimators at several ranks, learned estimators, block policies — and the dense baselines, each point
// made by real CLI commands (quantize, eval on mnist:test) from a committed float checkpoint. Writes
// docs/pareto.svg and the "pareto" section of docs/RESULTS.md (npm run reproduce keeps it).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { renderSvg } from "../firmware-sim/report.ts";
import type { EvalReport } from "../ts/evaluate.ts";
import { PARETO_SECTION, setSection } from "./doc-sections.ts";
import { minutes, pool, runCli, type Step } from "./run-cli.ts";

const { values: args } = parseArgs({ options: { jobs: { type: "string", default: "2" }, samples: { type: "string" } } });
const OUT = "build/pareto";
const PAPER = "models/paper-float.safetensors";
const LEARNED = "models/paper-learned-float.safetensors";
const CONDNET = "models/condnet-mnist-float.safetensors";
const PAPER_POLICY = "models/paper-policy-float.safetensors";
const DENSE_RECIPE = ["--epochs", "20", "--l1", "0", "--seed", "1"];

type Family = "dense" | "SVD estimator" | "learned estimator" | "block policy";
interface Point {
  name: string;
  family: Family;
  network: "784-1000-600-400-10" | "784-256-10" | "784-32-10";
  /** Float checkpoint; trained first when `train` is given. */
  float: string;
  train?: string[];
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
  { name: "paper net, 16-unit blocks", family: "block policy", network: "784-1000-600-400-10", float: PAPER_POLICY, quantize: [] },
  { name: "condnet 16×16", family: "block policy", network: "784-256-10", float: CONDNET, quantize: [], keep: "models/condnet-mnist.rgm" },
  { name: "dense 256", family: "dense", network: "784-256-10", float: `${OUT}/dense-256.safetensors`, train: ["--sizes", "784,256,10", ...DENSE_RECIPE], quantize: [], dense: true },
  { name: "dense 32", family: "dense", network: "784-32-10", float: `${OUT}/dense-32.safetensors`, train: ["--sizes", "784,32,10", ...DENSE_RECIPE], quantize: [], dense: true },
];

const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "").toLowerCase();

async function point(p: Point) {
  const base = `${OUT}/${slug(p.name)}`;
  const steps: Step[] = [];
  if (p.train) steps.push(await runCli(["train", ...p.train, "-o", p.float, "-q"]));
  const rgm = p.keep ?? `${base}.rgm`;
  steps.push(await runCli(["quantize", "--float", p.float, ...p.quantize, "-o", rgm, "-q"]));
  const samples = args.samples ? ["--samples", args.samples] : [];
  const evaluate = await runCli(["eval", "--model", rgm, "--float", p.float, "--data", "mnist:test", ...samples, "--json", "-q"]);
  steps.push(evaluate);
  return { ...p, steps, report: JSON.parse(evaluate.stdout) as EvalReport };
}

mkdirSync(OUT, { recursive: true });
const missing = POINTS.filter((p) => !p.train && !existsSync(p.float));
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
  ["condnet, 16 blocks × 16 units, τ = 1/16", "2.3", condnet ? pct(condnet.report.error.int8_gated) : "–", condnet ? n(macsOf(condnet)) : "–"],
  ["dense 256 units", "1.9", d256 ? pct(d256.report.error.int8_dense) : "–", d256 ? n(macsOf(d256)) : "–"],
  ["dense 32 units", "2.8", d32 ? pct(d32.report.error.int8_dense) : "–", d32 ? n(macsOf(d32)) : "–"],
].map((r) => `| ${r.join(" | ")} |`);
const svd = find("SVD 50-35-25"), learned = find("learned 50-35-25");
const equalRank = [svd, learned].filter((x) => x !== undefined).map((x) => {
  const r = x.report;
  return `| ${x.name} | ${r.layers.slice(0, -1).map((l) => `${pct(l.recall, 1)} / ${pct(l.computed, 1)}`).join(" | ")} | ${pct(r.error.int8_gated)} | ${(r.macs_per_sample.gated / r.macs_per_sample.dense).toFixed(3)} |`;
});

const section = `## Beyond SVD: learned estimators and block policies

Generated by \`npm run pareto\` on ${new Date().toISOString().slice(0, 10)} (${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}),
${minutes(total)}; every point is the int8 model run through the Wasm engine on ${args.samples ?? "the 10,000"} MNIST test digits
${args.samples ? `**first ${args.samples} digits only (--samples)**` : ""}
(\`rankgate eval\`, reference check included), quantized from the committed float checkpoint named in its commands.

![test error against MACs per sample](pareto.svg)

| point | family | network | float error % | int8 error % | MACs / sample | × dense | × dense, zero skip | recall / computed % per hidden layer |
|---|---|---|---:|---:|---:|---:|---:|---|
${rows.join("\n")}

"int8 error" is the gated model's (the dense model's for dense points); "float error" is the float network
without gating. MACs count the gating decision (estimator rank·(n_in + n_out), or blocks·n_in for a block
policy) plus the rows computed; "zero skip" counts only non-zero inputs in every dot product.

### Block policy: Bengio et al. (2015) on MNIST, reproduced

| model | published test error % | ours, int8 % | ours, MACs / sample |
|---|---:|---:|---:|
${published.join("\n")}

### Learned against SVD estimator at equal rank (paper net, ranks 50-35-25)

| estimator | layer 1 recall / computed % | layer 2 | layer 3 | int8 gated error % | MACs × dense |
|---|---|---|---|---:|---:|
${equalRank.join("\n")}

### Commands

\`\`\`sh
${commands.join("\n\n")}
\`\`\`
`;
const path = "docs/RESULTS.md";
writeFileSync(path, setSection(existsSync(path) ? readFileSync(path, "utf8") : "# Results\n", PARETO_SECTION, section));
process.stderr.write(`wrote docs/pareto.svg and the pareto section of ${path} in ${minutes(total)}\n`);
