// npm run frontier: Davis & Arel's rank rows again, made the way `rankgate optimize` makes a user's model —
// fine-tuned from a dense float net with learned estimators in the loop at each row's ranks, L1 and
// distillation, searched and chosen on mnist:val — then measured on mnist:test by `rankgate eval`.
// Also measures the committed models/mnist-best.rgm. Saves the run as docs/data/frontier.json, writes the "frontier"
// section of docs/RESULTS.md rendered from it (scripts/render/frontier.ts) and docs/frontier.svg; the other sections are kept.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { renderSvg } from "../toolchain/report/charts.ts";
import type { LabelledEvalReport as EvalReport } from "../toolchain/evaluate/evaluate.ts";
import { FRONTIER_SECTION, writeSection } from "../toolchain/report/doc-sections.ts";
import { minutes, pool, runCli, type Step } from "./run-cli.ts";
import { runMeta, saveRun, saveStep, summarize } from "./render/common.ts";
import { FRONTIER_RUN, renderFrontier, type FrontierRun } from "./render/frontier.ts";

const { values: args } = parseArgs({ options: { quick: { type: "boolean" }, jobs: { type: "string", default: "2" } } });
const OUT = args.quick ? "build/frontier-quick" : "build/frontier";
/** The dense start: the paper's network trained with shifted digits (its command is TEACHER_COMMAND). */
const TEACHER = "models/mnist-shift-float.safetensors";
const TEACHER_COMMAND = "npx rankgate train --epochs 40 --lr-decay 0.93 --shift 2 --seed 1 -o models/mnist-shift-float.safetensors";
const BEST = "models/mnist-best.rgm";
/** What every row shares; the ranks are the row's. */
const RECIPE = [
  "--estimator", "learned", "--epochs", args.quick ? "1" : "20", "--l1", "1e-3,1.5e-3,1.5e-3", "--distill", "0.7", "--temperature", "3",
  "--lr", "0.01", "--lr-decay", "0.9", "--w-pos", "2", "--shift", "2", "--budget", "0.3", "--seed", "1", ...(args.quick ? ["--train-limit", "2000"] : []),
];
const ROWS = [
  { ranks: "50,35,25", paper: 1.43 },
  { ranks: "25,25,25", paper: 1.60 },
  { ranks: "10,10,5", paper: 2.28 },
] as const;

interface Result { name: string; paper: number | null; steps: Step[]; report: EvalReport; chosen?: { source: "input" | "finetuned"; estimator: string; error: number; bound: number; macsRatio: number; marginSigmas: number[] } }

async function row(r: (typeof ROWS)[number]): Promise<Result> {
  const name = r.ranks.replaceAll(",", "-"), base = `${OUT}/${name}`;
  const optimize = await runCli(["optimize", "--float", TEACHER, "--ranks", r.ranks, ...RECIPE, "--work", `${base}-work`, "-o", `${base}.rgm`, "-q"]);
  const evaluate = await runCli(["eval", "--model", `${base}.rgm`, "--data", "mnist:test", "--json", "-q"]);
  const front = JSON.parse(readFileSync(`${base}.front.json`, "utf8"));
  return { name, paper: r.paper, steps: [optimize, evaluate], report: JSON.parse(evaluate.stdout), chosen: front.chosen };
}

async function measure(name: string, paper: number | null, rgm: string, make: string[] | null): Promise<Result> {
  const steps = make ? [await runCli(make)] : [];
  const evaluate = await runCli(["eval", "--model", rgm, "--data", "mnist:test", "--json", "-q"]);
  return { name, paper, steps: [...steps, evaluate], report: JSON.parse(evaluate.stdout) };
}

for (const f of [TEACHER, BEST]) if (!existsSync(f)) throw new Error(`${f} is missing (see docs/TRAINING.md for the command that makes it)`);
mkdirSync(OUT, { recursive: true });
const t0 = performance.now();
const jobs: (() => Promise<Result>)[] = [
  ...ROWS.map((r) => () => row(r)),
  () => measure("full", 1.40, `${OUT}/dense.rgm`, ["quantize", "--float", TEACHER, "-o", `${OUT}/dense.rgm`, "-q"]),
  () => measure("mnist-best (25-25-12, ≤ 0.2× MACs)", null, BEST, null),
];
const results = await pool(jobs, Number(args.jobs), (f) => f());
const total = (performance.now() - t0) / 1000;

const ordered = [results[ROWS.length], ...results.slice(0, ROWS.length), results[ROWS.length + 1]];
const saved: FrontierRun = {
  meta: runMeta(total), quick: !!args.quick, teacher: TEACHER, teacherCommand: TEACHER_COMMAND, best: BEST,
  rows: ordered.map((x) => ({ name: x.name, paper: x.paper, steps: x.steps.map(saveStep), report: summarize(x.report), ...(x.chosen ? { chosen: x.chosen } : {}) })),
};

const svg = await renderSvg({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  width: 520, height: 320, background: "white",
  title: "MNIST test error (int8) against MACs per sample: optimize from a dense net",
  data: { values: ordered.map((x) => ({ name: x.name.replace(/ \(.*/, ""), kind: x.name === "full" ? "int8 dense" : "int8 gated", macs: x.report.macs_per_sample.gated, error: x.report.error.int8_gated * 100 })) },
  layer: [
    { mark: { type: "point", filled: true, size: 80 }, encoding: {
      x: { field: "macs", type: "quantitative", scale: { type: "log" }, title: "MACs per sample (log)" },
      y: { field: "error", type: "quantitative", title: "test error (%)", scale: { zero: false } },
      color: { field: "kind", type: "nominal", title: null }, shape: { field: "kind", type: "nominal", title: null } } },
    { mark: { type: "text", dx: 8, align: "left", fontSize: 10 }, encoding: {
      x: { field: "macs", type: "quantitative", scale: { type: "log" } }, y: { field: "error", type: "quantitative" }, text: { field: "name" } } },
  ],
});
if (!args.quick) writeFileSync("docs/frontier.svg", svg);

const section = renderFrontier(saved);
const path = "docs/RESULTS.md";
if (args.quick) process.stdout.write(section);
else {
  saveRun(FRONTIER_RUN, saved);
  writeSection(path, FRONTIER_SECTION, section);
}
process.stderr.write(`${args.quick ? "printed" : `wrote docs/frontier.svg, ${FRONTIER_RUN} and the frontier section of ${path}`} in ${minutes(total)}\n`);
