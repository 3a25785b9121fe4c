// Where the C runtime's instructions go on a model, per layer and per kernel, under QEMU (exact counts from
// kernels/c/boards/qemu-insn.c), for dense / gated / gated + zero skip; every image's checksum must equal Engine's.
// A developer's tool for the kernels, run as a mode of the MCU bench (bench/mcu.ts, whose default run is the
// benchmark of record):
//
//   npm run bench:mcu -- --layers [--model MODEL[=DATA],…] [--samples 20] [--targets cortex-m0plus,cortex-m4f,cortex-m7,cortex-m55] [--cycles] [--json]
//   npm run bench:mcu -- --layers --cycles --write   # the default models; rewrites docs/C-API.md's "kernels" section
//
// DATA: any --data spec of the CLI (.npz, .csv, mnist:test …; default --data, mnist:test), quantized to the model's input.
// Default models: bench/models/ (small, on their sklearn test splits: python3 bench/models/sklearn-data.py first),
// models/mcu.rgm and models/paper.rgm on MNIST test digits.
// Each layer's count runs from its rg_layer_decode to the next; inside it, from each kernel's entry to the next
// (decode = decode + loop overhead, sparseInput, estimateSign's projection / blockGate, the estimator's second stage
// when it is a function of its own (signs_dsp / signs_ref; the MVE path's is inside estimateSign), gatedRows / denseRows).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { loadData } from "../cli/src/data-options.ts";
import { mixCycles, type TimedCore } from "../sim/timings.ts";
import { buildRankgateImage, engineChecksums, MODE_FLAGS, parseChecksums, ROOT, runImage, type BoardName, type ModeName } from "./qemu.ts";
import { readModel } from "../runtime/src/format.ts";
import { quantizeModelInput } from "../runtime/src/reference.ts";

/** The targets the layer split measures (Arm: the marks are found with arm-none-eabi-nm). */
export const LAYER_TARGETS: Record<string, BoardName> = { "cortex-m0plus": "m0plus-on-an386", "cortex-m4f": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m55": "mps3-an547" };
const MODES: ModeName[] = ["dense", "gated", "gated+zero-skip"];
const MARKS = ["rg_board_mark", "rg_layer_decode", "rg_sparseInput_s8", "rg_estimateSign_s8", "rg_blockGate_s8", "rg_gatedRows_s8", "rg_denseRows_s8", "signs_dsp", "signs_ref"];
const PART = ["", "decode", "input", "estimate", "gate", "rows", "rows", "signs", "signs"];
const PARTS = ["decode", "input", "estimate", "signs", "gate", "rows"];

export interface LayerCount { total: number; parts: Record<string, number> }
export interface ModeCount { instructions: number; layers: LayerCount[]; cycles?: number }

/** Mean per inference of the marks between each pair of rg_board_mark calls (the marker's own 2 instructions off). */
function split(marks: { id: number; count: number }[], inferences: number): ModeCount[] {
  const out: ModeCount[] = [];
  let start = -1, layers: LayerCount[] = [], prev = { id: -1, count: 0 };
  for (const m of marks) {
    if (m.id === 0) {
      if (start < 0) { start = m.count; layers = []; prev = m; continue; }
      if (prev.id > 0) layers[layers.length - 1].parts[PART[prev.id]] = (layers[layers.length - 1].parts[PART[prev.id]] ?? 0) + m.count - prev.count - 2;
      out.push({ instructions: m.count - start - 2, layers: layers.map((l) => ({ ...l, total: Object.values(l.parts).reduce((a, b) => a + b, 0) })) });
      start = -1;
      continue;
    }
    if (m.id === 1) layers.push({ total: 0, parts: {} });
    if (prev.id > 0) {
      const l = layers[layers.length - (m.id === 1 ? 2 : 1)];
      l.parts[PART[prev.id]] = (l.parts[PART[prev.id]] ?? 0) + m.count - prev.count;
    }
    prev = m;
  }
  if (out.length !== inferences) throw new Error(`expected ${inferences} inferences, marks gave ${out.length}`);
  return out;
}

function mean(runs: ModeCount[]): ModeCount {
  const n = runs.length, L = runs[0].layers.length;
  const layers: LayerCount[] = [];
  for (let l = 0; l < L; l++) {
    const parts: Record<string, number> = {};
    for (const r of runs) for (const [k, v] of Object.entries(r.layers[l].parts)) parts[k] = (parts[k] ?? 0) + v / n;
    layers.push({ total: runs.reduce((a, r) => a + r.layers[l].total, 0) / n, parts });
  }
  return { instructions: runs.reduce((a, r) => a + r.instructions, 0) / n, layers };
}

function image(modelPath: string, inputs: Int8Array, target: string, modes: ModeName[], tag: string) {
  const board = LAYER_TARGETS[target];
  if (!board) throw new Error(`unknown target ${target}`);
  const elf = buildRankgateImage({
    board, cases: [{ model: modelPath, inputs }], modes: modes.map((m) => MODE_FLAGS[m]), arena: 65536,
    out: join(ROOT, "build", "mcu-layers", target, `${basename(modelPath, ".rgm")}${tag}.elf`),
  });
  // marks present in this image (a kernel's helpers may be inlined); ids stay MARKS' indices
  const syms = new Set(spawnSync("arm-none-eabi-nm", [elf], { encoding: "utf8" }).stdout.split("\n").map((l) => l.split(" ")[2]));
  const present = MARKS.filter((m) => syms.has(m));
  return { board, elf, present };
}

export async function measure(modelPath: string, data: string, samples: number, targets: string[], cycles = false, log = (s: string) => console.error(s)) {
  const bytes = new Uint8Array(readFileSync(modelPath));
  const model = readModel(bytes).model, l0 = model.layers[0];
  const d = loadData(data, samples);
  const count = Math.min(samples, d.count);
  // As Engine quantizes: per tensor, or per feature for a format v3 model
  const inputs = new Int8Array(count * l0.nIn);
  for (let s = 0; s < count; s++) {
    if (quantizeModelInput(model, d.features.subarray(s * l0.nIn, (s + 1) * l0.nIn), inputs.subarray(s * l0.nIn, (s + 1) * l0.nIn)) !== 0) throw new Error(`${data}: sample ${s} has a value that is not finite`);
  }
  const node = await engineChecksums(bytes, inputs, MODES);
  const check = (target: string, mode: ModeName, r: { status: number; stdout: string }) => {
    const got = parseChecksums(r.stdout).get(`0 ${MODE_FLAGS[mode]}`)?.checksum, want = node.get(mode)!.checksum;
    if (r.status !== 0 || got !== want) throw new Error(`${target} ${mode}: exit ${r.status}, checksum ${got}, Engine ${want}\n${r.stdout}`);
  };
  const result: Record<string, Record<string, ModeCount>> = {};
  for (const target of targets) {
    result[target] = {};
    if (cycles) {
      // one image per mode: its whole run's instruction mix × the core's timings (sim/timings.ts), as bench/mcu.ts
      for (const mode of MODES) {
        const { board, elf, present } = image(modelPath, inputs, target, [mode], `-${MODE_FLAGS[mode]}`);
        const r = runImage(board, elf, { count: true, ops: true, marks: present, timeout: 1_800_000 });
        check(target, mode, r);
        for (const m of r.marks) m.id = MARKS.indexOf(present[m.id]);
        const c = mean(split(r.marks, count));
        result[target][mode] = { ...c, cycles: (c.instructions * mixCycles(target as TimedCore, r.ops)) / r.total };
      }
    } else {
      const { board, elf, present } = image(modelPath, inputs, target, MODES, "");
      const r = runImage(board, elf, { count: true, marks: present, timeout: 1_800_000 });
      for (const mode of MODES) check(target, mode, r);
      for (const m of r.marks) m.id = MARKS.indexOf(present[m.id]);
      const all = split(r.marks, MODES.length * count);
      MODES.forEach((mode, k) => { result[target][mode] = mean(all.slice(k * count, (k + 1) * count)); });
    }
    log(`${basename(modelPath)} ${target}: ${MODES.map((m) => `${m} ${Math.round(result[target][m].instructions)}`).join(", ")}`);
  }
  return { model: modelPath, data, samples: count, result };
}

const k = (n: number) => Math.round(n).toLocaleString("en-US");

export const DEFAULT_MODELS = [
  "bench/models/bc-r6-4.rgm=build/sklearn/bc-test.npz",
  "bench/models/digits-r12-8.rgm=build/sklearn/digits-test.npz",
  "bench/models/digits-optimize.rgm=build/sklearn/digits-test.npz",
  "models/mcu.rgm=mnist:test",
  "models/paper.rgm=mnist:test",
];
export const KERNELS_SECTION = "kernels";

/** The saved run of `--layers --write` (docs/data/kernels.json), which docs/C-API.md's "kernels" section is rendered from. */
export const KERNELS_RUN = "docs/data/kernels.json";
export interface KernelsRun { source: "run"; command: string; date: string; models: Awaited<ReturnType<typeof measure>>[] }

/** docs/C-API.md's "kernels" section: the measured models, per target and mode, per layer and kernel. */
export function layersMarkdown(run: Pick<KernelsRun, "command" | "date" | "models">): string {
  const lines = [
    `Generated by \`${run.command}\` on ${run.date} (QEMU 7.2 TCG, exact counts from \`kernels/c/boards/qemu-insn.c\`; every image printed Engine's checksum). ` +
      "Instructions per inference, mean over the samples; derived cycles = instructions × the run's instruction mix priced by `sim/timings.ts` (as `npm run bench:mcu`). " +
      "Per layer: total (decode and loop, input widening and chunk list, estimator projection or block gate, [estimator second stage], rows with requantization).",
    "",
    "| model | target | mode | instructions / inference | ÷ dense | derived cycles | per layer: total (decode, input, estimate [signs] or gate, rows) |",
    "|---|---|---|---:|---:|---:|---|",
  ];
  for (const m of run.models) {
    for (const [t, modes] of Object.entries(m.result)) {
      for (const [mode, c] of Object.entries(modes)) {
        const layers = c.layers.map((l) => `${k(l.total)} (${PARTS.filter((p) => p in l.parts).map((p) => (p === "signs" ? `[${k(l.parts[p])}]` : k(l.parts[p]))).join(", ")})`);
        lines.push(`| ${m.model.replace(/^.*?((bench\/)?models\/)/, "$1")} (${m.samples} of ${m.data.replace(/^.*\//, "")}) | ${t} | ${mode} | ${k(c.instructions)} | ${(c.instructions / modes.dense.instructions).toFixed(3)} | ${c.cycles ? k(c.cycles) : "-"} | ${layers.join(" · ")} |`);
      }
    }
  }
  return lines.join("\n");
}
