// npx tsx scripts/block-table.ts (after npm run build): Bengio et al. (2015)'s MNIST block-policy rows beside
// ours, at τ = 1/4 (models/condnet-mnist.rgm) and τ = 1/16 (models/condnet-16.rgm), with the dense 256-unit
// net both start from. Each int8 model is evaluated on the 10,000 MNIST test digits (`rankgate eval`) and its
// C runtime measured on Cortex-M4F under QEMU (bench/mcu.ts, 16 digits). Writes the "blocks" section of
// docs/RESULTS.md; the other sections are kept. `--quick` prints the section and skips QEMU.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import type { LabelledEvalReport as EvalReport } from "../toolchain/evaluate/evaluate.ts";
import { setSection } from "../toolchain/report/doc-sections.ts";
import type { ModelResult } from "../bench/mcu.ts";
import { minutes, runCli, type Step } from "./run-cli.ts";

/** docs/RESULTS.md's section written here. */
export const BLOCKS_SECTION = "blocks";

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
  { name: "condnet 16 blocks × 16 units", tau: "1/16", paper: 2.3, rgm: "models/condnet-16.rgm", float: "models/condnet-16-float.safetensors", make: [] },
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

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "–" : (100 * x).toFixed(2));
const int = (x: number) => Math.round(x).toLocaleString("en-US");
const denseMacs = evals[0].report.macs_per_sample.dense;
const m4f = (i: number, mode: "dense" | "gated" | "gated+zero-skip") => bench?.[i].targets["cortex-m4f"]?.runs[mode]?.cycles ?? null;
const denseCycles = m4f(0, "dense");
const table = ROWS.map((r, i) => {
  const e = evals[i].report, gated = e.macs_per_sample.gated, cyc = m4f(i, i === 0 ? "dense" : "gated"), zs = m4f(i, "gated+zero-skip");
  const open = e.layers[0].block_size ? pct(e.layers[0].computed) : "100";
  const sim = e.gating_pays_cycles ? int(i === 0 ? e.gating_pays_cycles.dense : e.gating_pays_cycles.gated) : "–";
  return `| ${r.name} | ${r.tau} | ${r.paper === null ? "– (not reported)" : r.paper.toFixed(1)} | ${pct(e.error.float)} | **${pct(i === 0 ? e.error.int8_dense : e.error.int8_gated)}** | ${open} | ${int(i === 0 ? e.macs_per_sample.dense : gated)} | ${((i === 0 ? denseMacs : gated) / denseMacs).toFixed(3)} | ${cyc === null ? "–" : int(cyc)} | ${cyc === null || denseCycles === null ? "–" : (cyc / denseCycles).toFixed(3)} | ${zs === null || i === 0 ? "–" : int(zs)} | ${sim} |`;
});
const commands = [
  "# the condnet checkpoints' training commands: docs/TRAINING.md, \"Block policy\"",
  ...(denseSteps.length ? denseSteps.map((s) => `${s.command}   # ${minutes(s.seconds)}`) : [`npx rankgate ${DENSE_MAKE.join(" ")}   # the dense start (2 min; made by this tool when missing)`]),
  ...ROWS.map((r, i) => `# ${r.name}${r.tau === "–" ? "" : `, τ = ${r.tau}`}\n${evals[i].steps.map((s) => `${s.command}   # ${minutes(s.seconds)}`).join("\n")}`),
  `# Cortex-M4F, C runtime on QEMU\n${benchCommand}   # ${minutes(benchSeconds)}`,
];

const section = `## Block policy: Bengio et al. (2015) at both τ

Generated by \`npm run build && npx tsx scripts/block-table.ts${args.quick ? " --quick" : ""}\` on ${new Date().toISOString().slice(0, 10)} (${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}), ${minutes(total)}.
Every error is the int8 model's on the 10,000 MNIST test digits (\`rankgate eval\`; "float" is the float checkpoint
with its thresholded policy); no choice in training or calibration looked at them. The paper reports its MNIST
condnet (784-[16×16 blocks]-10) at τ = 1/16 only.

| model | τ | paper test error % | float % | int8 % | blocks open % (test) | MACs / sample | × dense MACs | Cortex-M4F cycles, measured | × dense cycles | M4F cycles, gated + zero skip | M4F cycles, simulated (eval) |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${table.join("\n")}

- **The paper's 2.3 % at τ = 1/16 is not reproduced.** Our τ = 1/16 model is ${pct(evals[2].report.error.int8_gated)} % int8 with
  ${pct(evals[2].report.layers[0].computed)} % of blocks open. Its policy is a complementary pair: block 1 = block 0 negated, the other 14 blocks closed.
  Each digit therefore opens exactly one of two 16-unit experts. Every policy we trained that spread the digits over more blocks
  left digits with no block open, and those digits are nearly all errors. docs/TRAINING.md ("τ = 1/16") has
  every variant tried and the counts.
- MACs count the policy (16 blocks × 784 inputs = 12,544 per digit) plus the open blocks' rows; the dense row
  is the same 784-256-10 layers with no policy.
- "measured": the C runtime (\`kernels/c/\`, gated schedule; the dense row its dense schedule) on QEMU mps2-an386, instructions
  counted on the first ${SAMPLES} test digits, cycles from their instruction mix and the core's timings
  (bench/mcu.ts). "simulated": \`rankgate eval\`'s firmware-sim estimate on 1,000 digits (the fitted cost model).
${args.quick ? "\n**--quick: no QEMU run, so no measured cycles.**\n" : ""}
### Commands

\`\`\`sh
${commands.join("\n\n")}
\`\`\`
`;
const path = "docs/RESULTS.md";
if (args.quick) process.stdout.write(section);
else writeFileSync(path, setSection(readFileSync(path, "utf8"), BLOCKS_SECTION, section));
process.stderr.write(`${args.quick ? "printed" : `wrote the ${BLOCKS_SECTION} section of ${path}`} in ${minutes(total)}\n`);
