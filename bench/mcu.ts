// npm run bench:mcu — instructions per inference of the C runtime (dense, gated, gated + zero skip) and of
// CMSIS-NN's fully connected kernel (dense, the same layers) on Cortex-M0+, M4F, M7, M55 (both sides' Helium/MVE
// kernels; CMSIS-NN's kernel sums computed before the first inference, as TFLite Micro's Prepare) and RISC-V rv32imc
// (CMSIS-NN's portable C path there: no ARM_MATH_DSP) under QEMU, counted
// exactly by kernels/c/boards/qemu-insn.c on any model and data (inputs quantized by the Engine's quantizer); per layer;
// code size, arena and flash; cycles derived from the executed instruction mix and the cores' published timings
// (sim/timings.ts). Every image's checksum must equal Engine's in Node (else the bench stops).
//
//   npm run bench:mcu -- --write      # THE measurement: every model of bench/zoo/manifest.json (zoo + paper + mcu)
//                                     # → sim/measured.json (with the C sources' hash), the fitted
//                                     # profiles (sim/fit.ts), docs/SIMULATOR.md's error table,
//                                     # docs/BENCHMARKS.md's Microcontrollers table and the runtime table of
//                                     # docs/C-API.md and docs/PORTABILITY.md
//   npm run bench:mcu -- --model a.rgm,b.rgm --data bench/zoo/data/digits.npz --samples 20 [--json]
//   npm run bench:mcu -- --manifest <file.json>     # {"models": [{"model", "data", "samples", "role"}]}
//   npm run bench:mcu -- --layers [--cycles] [--write]  # instead: per layer and kernel (bench/mcu-layers.ts);
//                                     # --write rewrites docs/C-API.md's "kernels" section only
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import { Command } from "commander";
import { modelCrc } from "../sim/measured.ts";
import { predictions } from "../sim/fit.ts";
import { writeFitted } from "../scripts/fit-sim.ts";
import { findTarget } from "../sim/profile.ts";
import type { MeasuredFile, MeasuredModel, MeasuredRun } from "../sim/measured.ts";
import { mixCycles, type TimedCore } from "../sim/timings.ts";
import { writeSection } from "../toolchain/report/doc-sections.ts";
import { saveRun } from "../scripts/render/common.ts";
import { UserError } from "../runtime/src/errors.ts";
import { loadData } from "../cli/src/data-options.ts";
import { encodeJob, engineJob, runJob } from "./wasm-job.ts";
import { DEFAULT_MODELS, KERNELS_RUN, KERNELS_SECTION, LAYER_TARGETS, layersMarkdown, measure, type KernelsRun } from "./mcu-layers.ts";
import { Engine } from "../runtime/src/runtime.ts";
import {
  berkeleySize, buildWasm3Image, fnvBytes, sectionSizes, wasm3Library,
  benchChecksum, buildCmsisImage, buildRankgateImage, cmsisSources, codeSize, cSourcesHash, dataInputs, engineChecksums, MODE_FLAGS,
  parseChecksums, ROOT, runImage, runtimeSources, type BoardName, type ModeName,
} from "./qemu.ts";

/** The measured targets, their QEMU board and the C runtime's kernel path there (kernels/c/src/rg_internal.h). */
export const MCU_TARGETS: { target: TimedCore; board: BoardName; label: string; path: string }[] = [
  { target: "cortex-m0plus", board: "m0plus-on-an386", label: "Cortex-M0+ (thumbv6m code on mps2-an386)", path: "portable C" },
  { target: "cortex-m4f", board: "mps2-an386", label: "Cortex-M4F (mps2-an386)", path: "Arm DSP (SMLAD)" },
  { target: "cortex-m7", board: "mps2-an500", label: "Cortex-M7 (mps2-an500)", path: "Arm DSP (SMLAD)" },
  { target: "cortex-m55", board: "mps3-an547", label: "Cortex-M55 with Helium/MVE (mps3-an547)", path: "Helium (MVE)" },
  { target: "rv32imc", board: "rv32imc-virt", label: "RISC-V RV32IMC, ESP32-C3 class (rv32imc code on QEMU virt)", path: "portable C" },
];
/** The sections of docs/C-API.md and docs/PORTABILITY.md that runtimeTable() writes (BENCHMARKS.md has it in its mcu section). */
export const RUNTIME_SECTION = "mcu-runtime";
/** The models whose instructions per MAC runtimeTable() lists, when measured. */
export const RUNTIME_TABLE_MODELS = ["models/mcu.rgm", "bench/zoo/mnist-784-200-50-10.rgm"];
export const BENCH_MODES: ModeName[] = ["dense", "gated", "gated+zero-skip"];
export const MCU_SECTION = "mcu";
export const DEFAULT_MANIFEST = "bench/zoo/manifest.json";

/** One model to measure: its data (mnist:test or a file cli/src/data-options.ts reads), the samples measured, fit or held-out. */
export interface BenchEntry { model: string; data: string; samples: number; role?: "fit" | "held-out" }

/** The entries of a manifest file ({"models": [...]}); a UserError names the entry and field that is wrong. */
export function readManifest(path: string): BenchEntry[] {
  let json: unknown;
  try { json = JSON.parse(readFileSync(path, "utf8")); } catch (e) { throw new UserError(`${path}: ${(e as Error).message}`); }
  const models = (json as { models?: unknown }).models;
  if (!Array.isArray(models)) throw new UserError(`${path}: models: expected an array of {model, data, samples}, got ${typeof models}`);
  return models.map((m: Record<string, unknown>, i) => {
    const bad = (f: string, want: string) => new UserError(`${path}: models[${i}].${f}: expected ${want}, got ${JSON.stringify(m?.[f])}`);
    if (typeof m?.model !== "string") throw bad("model", "an .rgm path");
    if (typeof m.data !== "string") throw bad("data", "mnist:test or a data file");
    if (!Number.isInteger(m.samples) || (m.samples as number) < 1) throw bad("samples", "a positive integer");
    if (m.role !== undefined && m.role !== "fit" && m.role !== "held-out") throw bad("role", "fit or held-out");
    return { model: m.model, data: m.data, samples: m.samples as number, role: m.role as BenchEntry["role"] };
  });
}

/** One run mode's figures (sim/measured.ts MeasuredRun): mean instructions per inference (between the marks, minus the
 * marker's own 2) and per layer, cycles derived from the run's instruction mix × the core's timings, mean MACs counted. */
export type Measured = MeasuredRun;

/** One model's measurement, as sim/measured.json stores it (sim/measured.ts MeasuredModel), with the board names typed. */
export interface ModelResult extends Omit<MeasuredModel, "targets"> {
  /** The command, date and machine of the measurement (in sim/measured.json). */
  meta?: { command: string; date: string; machine: string };
  targets: Record<string, {
    board: BoardName;
    runtimeCode: number;
    cmsisCode: number;
    arena: number;
    /** Bytes of stack rg_infer_s8 used, the most over the run modes (kernels/c/boards/bench-rankgate.c RG_BENCH_STACK: painted words). */
    stack?: number;
    cmsisRam: number;
    runs: Partial<Record<ModeName | "cmsis", Measured>>;
  }>;
}

function perInference(marks: { id: number; count: number }[], layers: number) {
  const totals: number[] = [];
  const perLayer = new Array<number>(layers).fill(0);
  let start = -1, starts: number[] = [];
  for (const m of marks) {
    if (m.id === 1) starts.push(m.count);
    else if (start < 0) { start = m.count; starts = []; }
    else {
      totals.push(m.count - start - 2);
      if (starts.length !== layers) throw new Error(`expected ${layers} layer marks per inference, got ${starts.length}`);
      starts.forEach((s, l) => { perLayer[l] += (l + 1 < layers ? starts[l + 1] : m.count) - s; });
      start = -1;
    }
  }
  const n = totals.length;
  return { n, instructions: totals.reduce((a, b) => a + b, 0) / n, layers: perLayer.map((v) => v / n) };
}

export async function benchModel(path: string, e: Omit<BenchEntry, "model">, targets = MCU_TARGETS, log = (s: string) => console.error(s), cmsis = true): Promise<ModelResult> {
  const bytes = new Uint8Array(readFileSync(path));
  const digits = e.samples;
  const inputs = await dataInputs(bytes, e.data.startsWith("mnist:") ? e.data : resolve(ROOT, e.data), digits, path);
  const node = await engineChecksums(bytes, inputs, BENCH_MODES);
  const layers = node.get("dense")!.results[0].stats.layers.length;
  const maxWidth = Math.max(...node.get("dense")!.results[0].stats.layers.map((l) => l.rowsComputed));
  const name = path.replace(`${ROOT}/`, "");
  const out: ModelResult = { model: name, crc32: modelCrc(bytes), bytes: bytes.length, data: e.data, samples: digits, ...(e.role ? { role: e.role } : {}), targets: {} };
  const dir = join(ROOT, "build", "mcu-bench");
  for (const t of targets) {
    const rt = runtimeSources(), cm = cmsisSources();
    const entry: ModelResult["targets"][string] = {
      board: t.board,
      runtimeCode: codeSize(t.board, rt.sources, [rt.include], join(dir, t.target, "rt")).text,
      cmsisCode: codeSize(t.board, cm.sources, [cm.include], join(dir, t.target, "cmsis")).text,
      arena: 0, cmsisRam: 2 * maxWidth, runs: {},
    };
    for (const mode of BENCH_MODES) {
      const t0 = Date.now();
      const elf = buildRankgateImage({ board: t.board, cases: [{ model: path, inputs }], modes: [MODE_FLAGS[mode]], arena: 65536, defines: ["RG_BENCH_STACK"], out: join(dir, t.target, `rankgate-${mode}.elf`) });
      const r = runImage(t.board, elf, { count: true, ops: true, marks: ["rg_board_mark", "rg_layer_decode"], timeout: 1_800_000 });
      const want = node.get(mode)!.checksum, got = parseChecksums(r.stdout).get(`0 ${MODE_FLAGS[mode]}`)?.checksum;
      if (r.status !== 0 || got !== want) throw new Error(`${t.board} ${mode}: exit ${r.status}, checksum ${got}, Engine ${want}\n${r.stdout}`);
      entry.arena = Number(/arena (\d+)/.exec(r.stdout)?.[1]);
      const stack = /case 0 stack (over )?(\d+)/.exec(r.stdout);
      if (!stack || stack[1]) throw new Error(`${t.board} ${mode}: no stack measurement (or deeper than painted)\n${r.stdout}`);
      entry.stack = Math.max(entry.stack ?? 0, Number(stack[2]));
      const p = perInference(r.marks, layers);
      const macs = node.get(mode)!.results.reduce((a, x) => a + x.stats.totalMacs, 0) / digits;
      entry.runs[mode] = { instructions: p.instructions, layers: p.layers, cycles: (p.instructions * mixCycles(t.target, r.ops)) / r.total, macs };
      log(`${name} ${t.target} ${mode}: ${Math.round(p.instructions)} instructions/inference (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
    if (!cmsis) { out.targets[t.target] = entry; continue; }
    const elf = buildCmsisImage({ board: t.board, cases: [{ model: path, inputs }], out: join(dir, t.target, "cmsis.elf") });
    const r = runImage(t.board, elf, { count: true, ops: true, marks: ["rg_board_mark", "arm_fully_connected_per_channel_s8"], timeout: 1_800_000 });
    const want = benchChecksum(node.get("dense")!.results, false), got = parseChecksums(r.stdout).get("0 cmsis")?.checksum;
    if (r.status !== 0 || got !== want) throw new Error(`${t.board} CMSIS-NN: exit ${r.status}, checksum ${got}, Engine dense ${want}`);
    const p = perInference(r.marks, layers);
    entry.runs.cmsis = { instructions: p.instructions, layers: p.layers, cycles: (p.instructions * mixCycles(t.target, r.ops)) / r.total, macs: node.get("dense")!.results[0].stats.totalMacs };
    log(`${name} ${t.target} CMSIS-NN: ${Math.round(p.instructions)} instructions/inference`);
    out.targets[t.target] = entry;
  }
  return out;
}

export interface Wasm3Result {
  model: string;
  digits: number;
  target: TimedCore;
  board: BoardName;
  /** Mean instructions per inference inside run_batch_s8 (second pass: functions already compiled). */
  instructions: number;
  /** The native C runtime's gated instructions on the same model (measured.json / this run), for the ratio. */
  native: number | null;
  /** text of wasm3's objects (arm-none-eabi-size of libwasm3.a), of the linked image without module and job. */
  interpreterCode: number;
  imageCode: number;
  /** malloc'd heap at the end (wasm3 runtime, compiled code, linear memory) and the linear memory alone. */
  heap: number;
  linearMemory: number;
  meta?: { command: string; date: string; machine: string };
}

/** wasm3 (MVP module, build/rankgate-mvp.wasm) on the MCU: checksum equal to Node's, instructions per inference. */
export async function benchWasm3(path: string, digits: number, t: (typeof MCU_TARGETS)[number], native: number | null): Promise<Wasm3Result> {
  const wasm = new Uint8Array(readFileSync(join(ROOT, "build", "rankgate-mvp.wasm")));
  const bytes = new Uint8Array(readFileSync(path));
  const engine = await Engine.load(bytes, { module: "mvp" });
  const d = loadData("mnist:test", digits);
  const job = engineJob(engine, d.features.subarray(0, digits * 784));
  const want = fnvBytes(await runJob(new WebAssembly.Module(wasm), job));
  const encoded = encodeJob(job);
  const elf = buildWasm3Image({ board: t.board, wasm, job: encoded, out: join(ROOT, "build", "mcu-bench", t.target, "wasm3.elf") });
  const r = runImage(t.board, elf, { count: true, timeout: 1_800_000 });
  const got = parseChecksums(r.stdout).get("0 wasm3");
  if (r.status !== 0 || got?.checksum !== want || got.samples !== digits) throw new Error(`wasm3 on ${t.board}: exit ${r.status}, ${r.stdout}, Node ${want}`);
  let instructions = 0;
  for (let i = 0; i + 1 < r.marks.length; i += 2) instructions += r.marks[i + 1].count - r.marks[i].count - 2;
  return {
    model: path.replace(`${ROOT}/`, ""), digits, target: t.target, board: t.board, instructions: instructions / digits, native,
    interpreterCode: berkeleySize([wasm3Library(t.board)]).text,
    imageCode: sectionSizes(elf)[".text"] - wasm.length - encoded.length,
    heap: Number(/heap (\d+)/.exec(r.stdout)?.[1]), linearMemory: Number(/memory (\d+)/.exec(r.stdout)?.[1]),
  };
}

const k = (n: number) => Math.round(n).toLocaleString("en-US");
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

export function wasm3Markdown(w: Wasm3Result[], runs: ModelResult[] = []): string {
  if (!w.length) return "";
  // the native count of the stored run of the same model and target (the runtime may have been re-measured since)
  w = w.map((x) => ({ ...x, native: runs.find((r) => r.model === x.model)?.targets[x.target]?.runs.gated?.instructions ?? x.native }));
  return [
    "",
    `wasm3 (upstream c9b579d, \`-O2\`, built under build/) running \`build/rankgate-mvp.wasm\` bare metal (kernels/c/boards/wasm3-mcu.c) on Engine's own arena and \`run_batch_s8\` call (gated, float inputs quantized in Wasm), ` +
      `checksum equal to Node's; instructions inside \`run_batch_s8\` after a first pass that lets wasm3 compile; ${w.map((x) => `\`${x.meta?.command ?? ""}\` on ${x.meta?.date ?? ""}`).filter((x, i, a) => a.indexOf(x) === i).join(", ")}. ` +
      "The model sits in Wasm linear memory (RAM), the native runtime reads it from flash: with mcu.rgm the heap exceeds a 192 KiB Cortex-M4F's SRAM (QEMU's machine has 4 MiB).",
    "",
    "| model | target | wasm3 instructions / inference | native C gated | wasm3 ÷ native | wasm3 code (library / linked image) | heap (of it linear memory) |",
    "|---|---|---:|---:|---:|---|---|",
    ...w.map((x) => `| ${x.model} (${x.digits} digits) | ${x.target} | ${k(x.instructions)} | ${x.native ? k(x.native) : "-"} | ${x.native ? (x.instructions / x.native).toFixed(1) : "-"} | ${kib(x.interpreterCode)} / ${kib(x.imageCode)} | ${kib(x.heap)} (${kib(x.linearMemory)}) |`),
  ].join("\n");
}

/**
 * The runtime on every measured target: kernel path, code and stack, and instructions per MAC (each run's
 * instructions ÷ the MACs it computed) on the reference models, CMSIS-NN dense beside.
 */
export function runtimeTable(results: ModelResult[], meta: { command: string; date: string }): string {
  const refs = RUNTIME_TABLE_MODELS.map((m) => results.find((r) => r.model === m)).filter((r): r is ModelResult => !!r);
  const targets = MCU_TARGETS.filter((t) => results.some((r) => r.targets[t.target]));
  const per = (x?: Measured) => (x && x.macs ? (x.instructions / x.macs).toFixed(3) : "-");
  const ratio = (x?: Measured, c?: Measured) => (x && c ? `${(x.instructions / c.instructions).toFixed(3)}×` : "-");
  const lines = [
    `Generated by \`${meta.command}\` on ${meta.date} (the measurement of docs/BENCHMARKS.md's Microcontrollers table; \`npm run bench:mcu -- --doc\` rewrites it from sim/measured.json). ` +
      "Code: text of `kernels/c/src/*.c` at `-O2` for the core (reader, CRC-32, kernels, float input quantizer). Stack: the most `rg_infer_s8` used over the run modes and models (painted words, kernels/c/boards/bench-rankgate.c). " +
      "Instructions per MAC: each run's instructions per inference ÷ the MACs it computed (estimator + rows; CMSIS-NN and dense: every weight), QEMU's exact counts; in brackets gated and gated + zero skip ÷ CMSIS-NN dense.",
    "",
    `| target | board | kernel path | code | stack | ${refs.map((r) => `${r.model}: CMSIS-NN · dense · gated · gated + zero skip`).join(" | ")} |`,
    `|---|---|---|---:|---:|${refs.map(() => "---|").join("")}`,
  ];
  for (const t of targets) {
    const any = results.find((r) => r.targets[t.target])!.targets[t.target];
    const stack = Math.max(...results.map((r) => r.targets[t.target]?.stack ?? 0));
    const cells = refs.map((r) => {
      const x = r.targets[t.target]?.runs;
      if (!x) return "-";
      return `${[x.cmsis, x.dense, x.gated, x["gated+zero-skip"]].map(per).join(" · ")} (${ratio(x.gated, x.cmsis)}, ${ratio(x["gated+zero-skip"], x.cmsis)})`;
    });
    lines.push(`| ${t.target} | ${t.board} | ${t.path} | ${kib(any.runtimeCode)} | ${stack ? `${stack} B` : "-"} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

export function markdown(results: ModelResult[], meta: { command: string; date: string; machine: string }, wasm3: Wasm3Result[] = []): string {
  const rows = [
    "| model | target | CMSIS-NN dense | rankgate dense | gated | gated + zero skip | dense ÷ CMSIS | gated ÷ CMSIS | derived cycles: CMSIS / dense / gated / gated + zero skip | code: runtime / CMSIS-NN | arena | flash (model + runtime) |",
    "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|",
  ];
  const layerRows = ["| model | target | run | instructions per layer |", "|---|---|---|---|"];
  for (const r of results) {
    for (const [target, t] of Object.entries(r.targets)) {
      const c = t.runs.cmsis, d = t.runs.dense!, g = t.runs.gated!, z = t.runs["gated+zero-skip"]!;
      const ratio = (x: Measured) => (c ? (x.instructions / c.instructions).toFixed(3) : "-");
      rows.push(`| ${r.model} | ${target} | ${c ? k(c.instructions) : "-"} | ${k(d.instructions)} | ${k(g.instructions)} | ${k(z.instructions)} | ` +
        `${ratio(d)} | ${ratio(g)} | ` +
        `${[c, d, g, z].map((x) => (x ? k(x.cycles) : "-")).join(" / ")} | ${kib(t.runtimeCode)} / ${kib(t.cmsisCode)} | ${kib(t.arena)} | ${kib(r.bytes + t.runtimeCode)} |`);
      for (const [run, m] of [["CMSIS-NN", c], ["dense", d], ["gated", g], ["gated + zero skip", z]] as const) {
        if (m) layerRows.push(`| ${r.model} | ${target} | ${run} | ${m.layers.map(k).join(" · ")} |`);
      }
    }
  }
  return [
    `Generated by \`${meta.command}\` on ${meta.date} (${meta.machine}): each model on the first samples of its data (${results.map((r) => `${r.model}: ${r.samples} of ${r.data}`).join("; ")}).`,
    "Instructions per inference are **measured** (QEMU 7.2 TCG, exact counts from `kernels/c/boards/qemu-insn.c`; every image printed Engine's checksum). " +
      "Cycles are **derived**: the run's executed instruction mix × the core's published timings (`sim/timings.ts`: Cortex-M0+ TRM DDI 0484C, Cortex-M4 TRM DDI 0439B, " +
      "Cortex-M7 1 per instruction as an upper bound: Arm publishes no table; rv32imc: Espressif publishes no table, a measured throughput table and assumptions, see the file), with no flash wait states. Code: `arm-none-eabi-size` (`riscv64-unknown-elf-size`) text of `kernels/c/src/*.c` (-O2, all of it: reader, CRC, " +
      "kernels, float input quantizer) and of CMSIS-NN's four files (the kernel, its support function, and the buffer-size and kernel-sum functions TFLite Micro links for Prepare); arena: `rg_arena_bytes`; CMSIS-NN needs two activation buffers (not in the arena column: " +
      `${results.map((r) => `${r.model} ${Object.values(r.targets)[0]?.cmsisRam ?? 0} B`).join(", ")}). M0+ code runs on the M4 machine (the micro:bit's 256 KiB flash holds neither model); its instruction stream is the same. ` +
      "rv32imc code runs on QEMU's virt machine (-bios none); CMSIS-NN there is its portable C path (no ARM_MATH_DSP). " +
      "On the Cortex-M55 both sides run their Helium (MVE) kernels: CMSIS-NN's MVE build needs, per layer, a buffer of `arm_fully_connected_s8_get_buffer_size` bytes holding " +
      "`arm_vector_sum_s8`'s kernel sums (bias + input offset × each row's weight sum), which the bench computes once before the first inference, outside the counted region, as TensorFlow Lite Micro's fully_connected Prepare does at model load " +
      "(RAM the C runtime does not need: 4 bytes per output unit).",
    "",
    runtimeTable(results, meta),
    "",
    ...rows,
    "",
    "Per layer (mean instructions per inference; each layer from its `rg_layer_decode` / `arm_fully_connected_per_channel_s8` call to the next):",
    "",
    ...layerRows,
    wasm3Markdown(wasm3, results),
  ].join("\n");
}

/** The committed profiles' predicted compute against these measurements (as if held out): a model the user measures himself. */
export async function simulatorErrors(results: ModelResult[], meta: MeasuredFile["meta"]): Promise<string> {
  const file: MeasuredFile = { meta, runs: results.map((r) => ({ ...r, role: "held-out" as const })) as MeasuredFile["runs"] };
  const pct = (e: number) => `${e >= 0 ? "+" : "−"}${Math.abs(e * 100).toFixed(1)} %`;
  const lines = ["Simulator (committed profiles, `rankgate sim`'s compute cycles) against these derived cycles:", "", "| model | target | dense | gated | gated + zero skip |", "|---|---|---:|---:|---:|"];
  const targets = [...new Set(results.flatMap((r) => Object.keys(r.targets)))];
  for (const t of targets) {
    const points = await predictions(ROOT, findTarget(t), file);
    for (const r of results) {
      const cell = (s: string) => { const p = points.find((x) => x.model === r.model && x.schedule === s); return p ? pct(p.error) : "-"; };
      lines.push(`| ${r.model} | ${t} | ${cell("dense")} | ${cell("gated")} | ${cell("gated_zero_skip")} |`);
    }
  }
  return lines.join("\n");
}

async function main() {
  const cmd = new Command("bench:mcu")
    .option("--manifest <file>", "the models to measure, with their data and samples (default: bench/zoo/manifest.json unless --model)")
    .option("--model <list>", "comma-separated .rgm paths, measured on --data")
    .option("--models <list>", "the same as --model")
    .option("--data <spec>", "with --model: mnist:test or a data file (.npz, .npy, .csv, IDX)", "mnist:test")
    .option("--samples <n>", "with --model: samples per model", "20")
    .option("--targets <list>", "cortex-m0plus,cortex-m4f,cortex-m7,cortex-m55,rv32imc (default all)")
    .option("--no-cmsis", "skip CMSIS-NN's dense run")
    .option("--json", "one JSON object on stdout")
    .option("--write", "rewrite sim/measured.json, refit the profiles (sim/fit.ts), docs/SIMULATOR.md's error table and docs/BENCHMARKS.md's Microcontrollers table")
    .option("--doc", "only rewrite docs/BENCHMARKS.md's table and the runtime tables of docs/C-API.md and docs/PORTABILITY.md from sim/measured.json")
    .option("--wasm3 <digits>", "instead: wasm3 with the MVP module on models/mcu.rgm, Cortex-M4F and M0+ (digits per target)")
    .option("--layers", "instead: where the instructions go, per layer and kernel (--model MODEL[=DATA],…; default the models of docs/C-API.md's kernels table); --write rewrites that table")
    .option("--cycles", "with --layers: one image per mode, with derived cycles (the run's instruction mix × sim/timings.ts)")
    .parse();
  const o = cmd.opts<{ manifest?: string; model?: string; models?: string; data: string; samples: string; targets?: string; cmsis: boolean; json?: boolean; write?: boolean; doc?: boolean; wasm3?: string; layers?: boolean; cycles?: boolean }>();
  if (o.layers) return layers(o);
  const measuredPath = join(ROOT, "sim", "measured.json");
  const doc = join(ROOT, "docs", "BENCHMARKS.md");
  if (o.wasm3) {
    const m = JSON.parse(readFileSync(measuredPath, "utf8"));
    const meta = { command: `npm run bench:mcu -- --wasm3 ${o.wasm3}`, date: new Date().toISOString().slice(0, 10), machine: m.meta.machine };
    const path = join(ROOT, "models", "mcu.rgm");
    const stored = m.runs.find((r: ModelResult) => r.model === "models/mcu.rgm");
    const w: Wasm3Result[] = [];
    for (const t of MCU_TARGETS.filter((x) => x.target === "cortex-m4f" || x.target === "cortex-m0plus")) {
      const x = await benchWasm3(path, Number(o.wasm3), t, stored?.targets[t.target]?.runs.gated?.instructions ?? null);
      console.error(`wasm3 ${t.target}: ${Math.round(x.instructions)} instructions/inference`);
      w.push({ ...x, meta });
    }
    console.log(o.json ? JSON.stringify(w) : wasm3Markdown(w));
    if (o.write) {
      m.wasm3 = w;
      saveRun(measuredPath, m);
      writeSection(doc, MCU_SECTION, markdown(m.runs, m.meta, w));
    }
    return;
  }
  if (o.doc) {
    const m = JSON.parse(readFileSync(measuredPath, "utf8"));
    writeSection(doc, MCU_SECTION, markdown(m.runs, m.meta, m.wasm3 ?? []));
    writeRuntimeTables(m.runs, m.meta);
    return;
  }
  const targets = o.targets ? MCU_TARGETS.filter((t) => o.targets!.split(",").includes(t.target)) : MCU_TARGETS;
  const samples = Number(o.samples);
  if (!Number.isInteger(samples) || samples < 1) throw new UserError(`--samples must be a positive integer, got '${o.samples}'`);
  const list = o.model ?? o.models;
  const entries: BenchEntry[] = list
    ? list.split(",").map((model) => ({ model, data: o.data, samples }))
    : readManifest(resolve(ROOT, o.manifest ?? DEFAULT_MANIFEST));
  const t0 = Date.now();
  const results: ModelResult[] = [];
  for (const e of entries) {
    const path = resolve(ROOT, e.model);
    if (!existsSync(path)) throw new UserError(`${e.model}: no such model file`);
    results.push(await benchModel(path, e, targets, undefined, o.cmsis));
  }
  const args = process.argv.slice(2).filter((a) => a !== "--json").join(" ");
  const meta = {
    command: `npm run bench:mcu${args ? ` -- ${args}` : ""}`,
    date: new Date().toISOString().slice(0, 10),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}, ${readQemuVersion()}`,
    c_sources_sha256: cSourcesHash(),
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  if (o.json) console.log(JSON.stringify({ meta, results }, null, 1));
  else console.log(`${markdown(results, meta)}\n\n${await simulatorErrors(results, meta)}`);
  if (o.write) {
    // One measurement replaces the whole file (the C sources' hash covers every run); wasm3's runs are kept
    const old = existsSync(measuredPath) ? JSON.parse(readFileSync(measuredPath, "utf8")) : {};
    const file = { $comment: "written by npm run bench:mcu -- --write; read by sim/measured.ts", meta, runs: results, wasm3: old.wasm3 ?? [] };
    saveRun(measuredPath, file);
    writeSection(doc, MCU_SECTION, markdown(results, meta, old.wasm3 ?? []));
    writeRuntimeTables(results, meta);
    await writeFitted(ROOT, file, (s) => console.error(s));
  }
  console.error(`bench:mcu: ${entries.length} models in ${Math.round((Date.now() - t0) / 1000)} s`);
}

/** --layers: bench/mcu-layers.ts's per-layer, per-kernel split on each model (MODEL[=DATA]); --write: docs/C-API.md's kernels section. */
async function layers(o: { model?: string; models?: string; data: string; samples: string; targets?: string; json?: boolean; write?: boolean; cycles?: boolean }) {
  const list = o.model ?? o.models;
  const targets = (o.targets ?? Object.keys(LAYER_TARGETS).join(",")).split(",");
  for (const t of targets) if (!LAYER_TARGETS[t]) throw new UserError(`--targets: ${t} is not measured per layer (${Object.keys(LAYER_TARGETS).join(", ")})`);
  const samples = Number(o.samples);
  if (!Number.isInteger(samples) || samples < 1) throw new UserError(`--samples must be a positive integer, got '${o.samples}'`);
  const out = [];
  for (const spec of list ? list.split(",") : DEFAULT_MODELS) {
    const [model, data = o.data] = spec.split("=");
    const path = resolve(ROOT, model);
    if (!existsSync(path)) throw new UserError(`${model}: no such model file`);
    out.push(await measure(path, /\.(npz|npy|csv)$/.test(data) ? resolve(ROOT, data) : data, samples, targets, o.cycles));
  }
  if (o.json) { console.log(JSON.stringify(out, null, 1)); return; }
  const args = process.argv.slice(2).filter((a) => a !== "--json").join(" ");
  // Paths in the run relative to the repository, so the saved run reads the same on every machine
  const models = out.map((m) => ({ ...m, model: relative(ROOT, m.model), data: isAbsolute(m.data) ? relative(ROOT, m.data) : m.data }));
  const run: KernelsRun = { source: "run", command: `npm run bench:mcu -- ${args}`, date: new Date().toISOString().slice(0, 10), models };
  const md = layersMarkdown(run);
  console.log(md);
  if (o.write) {
    saveRun(join(ROOT, KERNELS_RUN), run);
    const doc = join(ROOT, "docs", "C-API.md");
    writeSection(doc, KERNELS_SECTION, md);
  }
}

/** docs/C-API.md's and docs/PORTABILITY.md's runtime table (section RUNTIME_SECTION). */
function writeRuntimeTables(results: ModelResult[], meta: { command: string; date: string }) {
  for (const f of ["C-API.md", "PORTABILITY.md"]) {
    const path = join(ROOT, "docs", f);
    writeSection(path, RUNTIME_SECTION, runtimeTable(results, meta));
  }
}

function readQemuVersion(): string {
  const v = /QEMU emulator version (\S+)/.exec(spawnSync("qemu-system-arm", ["--version"], { encoding: "utf8" }).stdout ?? "")?.[1];
  return v ? `QEMU ${v}` : "QEMU";
}

if (import.meta.url === `file://${process.argv[1]}`) main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
