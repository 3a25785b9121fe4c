// npx tsx scripts/block-table.ts (after npm run build): Bengio et al. (2015)'s MNIST block-policy rows beside
// ours, at τ = 1/4 (models/condnet-mnist.rgm) and τ = 1/16 (models/condnet-16.rgm, models/condnet-16-top1.rgm), with the dense 256-unit
// net both start from. Each int8 model is evaluated on the 10,000 MNIST test digits (`rankgate eval`) and its
// C runtime measured on Cortex-M4F under QEMU (bench/mcu.ts, 16 digits). Saves the run as docs/data/blocks.json and
// writes the "blocks" section of docs/RESULTS.md rendered from it (scripts/render/blocks.ts); the other sections are kept. `--quick` prints the section and skips QEMU.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import type { LabelledEvalReport as EvalReport } from "../toolchain/evaluate/evaluate.ts";
import { writeSection } from "../toolchain/report/doc-sections.ts";
import type { ModelResult } from "../bench/mcu.ts";
import { minutes, runCli, type Step } from "./run-cli.ts";
import { runMeta, saveRun, saveStep, summarize } from "./render/common.ts";
import { BLOCKS_RUN, BLOCKS_SECTION, renderBlocks, type BlocksRun } from "./render/blocks.ts";

const { values: args } = parseArgs({ options: { quick: { type: "boolean" } } });
const OUT = "build/blocks";
const SAMPLES = 16;
/** The dense start of models/condnet-16 (its warm start and distillation teacher); made here if missing. */
const DENSE = `${OUT}/dense-256-shift.safetensors`;
const DENSE_MAKE = ["train", "--sizes", "784,256,10", "--epochs", "30", "--lr-decay", "0.93", "--shift", "2", "--seed", "1", "-o", DENSE, "-q"];

interface Row { name: string; tau: string; paper: number | null; rgm: string; float: string; make: string[][] }
const ROWS: Row[] = [
  { name: "dense 256 units (our shift-trained dense start)", tau: "–", paper: 1.9, rgm: `${OUT}/dense-256-shift.rgm`, float: DENSE, make: [["quantize", "--float", DENSE, "-o", `${OUT}/dense-256-shift.rgm`, "-q"]] },
  { name: "condnet 16 blocks × 16 units", tau: "1/4", paper: null, rgm: "models/condnet-mnist.rgm", float: "models/condnet-mnist-float.safetensors", make: [] },
  { name: "condnet 16 blocks × 16 units, complementary pair (threshold gate)", tau: "1/16", paper: 2.3, rgm: "models/condnet-16.rgm", float: "models/condnet-16-float.safetensors", make: [] },
  { name: "condnet 16 blocks × 16 units, top-1 routing gate", tau: "1/16", paper: 2.3, rgm: "models/condnet-16-top1.rgm", float: "models/condnet-16-top1-float.safetensors", make: [] },
];

mkdirSync(OUT, { recursive: true });
const t0 = performance.now();
const denseSteps: Step[] = existsSync(DENSE) ? [] : [await runCli(DENSE_MAKE)];
const evals: { steps: Step[]; report: EvalReport }[] = [];
for (const r of ROWS) {
  if (!r.make.length && !existsSync(r.rgm)) throw new Error(`${r.rgm} is missing (docs/TRAINING.md, "Block policy", has its command)`);
  const steps = [];
  for (const m of r.make) steps.push(await runCli(m));
  const e = await runCli(["eval", "--model", r.rgm, "--float", r.float, "--data", "mnist:test", "--json", "-q"]);
  evals.push({ steps: [...steps, e], report: JSON.parse(e.stdout) });
}

// Cortex-M4F: the C runtime on QEMU (mps2-an386), instructions counted, cycles from the instruction mix
const benchArgs = ["bench/mcu.ts", "--model", ROWS.map((r) => r.rgm).join(","), "--data", "mnist:test", "--samples", String(SAMPLES), "--no-cmsis", "--targets", "cortex-m4f", "--json"];
const benchCommand = `npx tsx ${benchArgs.join(" ")}`;
let bench: ModelResult[] | null = null, benchSeconds = 0;
if (!args.quick) {
  const tb = performance.now();
  process.stderr.write(`$ ${benchCommand}\n`);
  const b = spawnSync(process.execPath, ["--import", "tsx", ...benchArgs], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26 });
  if (b.status !== 0) throw new Error(`${benchCommand} exited ${b.status}`);
  bench = (JSON.parse(b.stdout) as { results: ModelResult[] }).results;
  benchSeconds = (performance.now() - tb) / 1000;
}
const total = (performance.now() - t0) / 1000;

const saved: BlocksRun = {
  meta: runMeta(total), quick: !!args.quick, samples: SAMPLES, denseCommand: `npx rankgate ${DENSE_MAKE.join(" ")}`, denseSteps: denseSteps.map(saveStep),
  rows: ROWS.map((r, i) => {
    const runs = bench?.[i].targets["cortex-m4f"]?.runs;
    const m4fCycles = runs ? Object.fromEntries((["dense", "gated", "gated+zero-skip"] as const).filter((m) => runs[m]).map((m) => [m, runs[m]!.cycles])) : null;
    return { name: r.name, tau: r.tau, paper: r.paper, steps: evals[i].steps.map(saveStep), report: summarize(evals[i].report), m4fCycles };
  }),
  bench: { command: benchCommand, seconds: benchSeconds },
};
const section = renderBlocks(saved);
const path = "docs/RESULTS.md";
if (args.quick) process.stdout.write(section);
else {
  saveRun(BLOCKS_RUN, saved);
  writeSection(path, BLOCKS_SECTION, section);
}
process.stderr.write(`${args.quick ? "printed" : `wrote the ${BLOCKS_SECTION} section of ${path}`} in ${minutes(total)}\n`);
