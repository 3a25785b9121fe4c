// npm run bench:runtimes [-- --digits N --repeat R]: time per inference of the paper net
// (models/paper.rgm) on MNIST test digits, batches of 64 through run_batch_s8, gated, on every
// runtime: wasm3, WAMR classic / fast (MVP module) and fast + SIMDe (both modules) through our C
// hosts (test/wasm-hosts), and Node (V8) on both modules through Engine. Module sizes too.
// CPU time per inference (process CPU time: robust on a shared machine). Prints a markdown table
// for docs/PORTABILITY.md. A benchmark, not a test: nothing is asserted
// but that every runtime gives Node's logits.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { buildRuntimes } from "./build-runtimes.ts";
import { positiveInt } from "../cli/src/data-options.ts";
import { decodeOutput, encodeJob, engineJob } from "./wasm-job.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { Engine } from "../runtime/src/runtime.ts";
import type { WasmBuild } from "../runtime/src/wasm.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const program = new Command("bench:runtimes")
  .option("--digits <n>", "MNIST test digits per pass", positiveInt("--digits"), 256)
  .option("--repeat <n>", "passes (the mean is reported)", positiveInt("--repeat"), 3)
  .parse();
const { digits, repeat } = program.opts<{ digits: number; repeat: number }>();

const runtimes = await buildRuntimes((s) => process.stderr.write(`${s}\n`));
const modelBytes = readFileSync(join(ROOT, "models", "paper.rgm"));
const x = toFloatInputs(loadMnist("test", { limit: digits }).images, digits);
const tmp = mkdtempSync(join(os.tmpdir(), "rankgate-bench-runtimes-"));
const file = (b: WasmBuild) => join(ROOT, "build", b === "simd" ? "rankgate.wasm" : "rankgate-mvp.wasm");

interface Row {
  runtime: string;
  module: WasmBuild;
  usPerInference: number;
}
const rows: Row[] = [];
let reference: Int8Array | undefined;
const same = (a: Int8Array, b: Int8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

// Node (V8): Engine.inferBatch, one warm-up pass
for (const module of ["simd", "mvp"] as const) {
  const engine = await Engine.load(modelBytes, { module });
  const first = engine.inferBatch(x);
  reference ??= first.logits;
  if (!same(first.logits, reference)) throw new Error(`Node ${module}: logits differ`);
  // CPU time (user + system), as the hosts measure: robust on a shared machine
  const t0 = process.cpuUsage();
  for (let r = 0; r < repeat; r++) engine.inferBatch(x);
  const t = process.cpuUsage(t0);
  rows.push({ runtime: `Node ${process.versions.node} (V8 ${process.versions.v8})`, module, usPerInference: (t.user + t.system) / (repeat * digits) });
}

// C hosts: the engine's arena and calls, as Engine makes them
for (const rt of runtimes) {
  for (const module of rt.simd ? (["simd", "mvp"] as const) : (["mvp"] as const)) {
    const engine = await Engine.load(modelBytes, { module });
    const job = engineJob(engine, x);
    const jobFile = join(tmp, `${rt.name}-${module}.job`), outFile = join(tmp, `${rt.name}-${module}.out`);
    writeFileSync(jobFile, encodeJob(job));
    const version = spawnSync(rt.host, ["--version"], { encoding: "utf8" }).stdout.trim();
    const r = spawnSync(rt.host, [file(module), jobFile, outFile, String(repeat)], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${rt.name}: ${r.stderr}`);
    const logits = new Int8Array(decodeOutput(job, readFileSync(outFile)).flatMap((c) => Array.from(c.logits)));
    if (!same(logits, reference!)) throw new Error(`${rt.name} ${module}: logits differ from Node's`);
    const ns = Number(/ns_per_pass (\d+)/.exec(r.stdout)?.[1]);
    rows.push({ runtime: `${rt.name} (${version})`, module, usPerInference: ns / 1000 / digits });
  }
}
rmSync(tmp, { recursive: true, force: true });

const node = rows.find((r) => r.runtime.startsWith("Node") && r.module === "simd")!.usPerInference;
const sizes = (["simd", "mvp"] as const).map((b) => `${b === "simd" ? "rankgate.wasm" : "rankgate-mvp.wasm"} ${readFileSync(file(b)).length} B`);
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const out = [
  `paper net (models/paper.rgm), ${digits} MNIST test digits, gated, batches of 64, CPU time, mean of ${repeat} passes (Node: after a warm-up pass); ${sizes.join(", ")}`,
  `${cpu}, ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}`,
  "",
  "| runtime | module | µs / inference | × Node SIMD |",
  "|---|---|---:|---:|",
  ...rows.map((r) => `| ${r.runtime} | ${r.module} | ${r.usPerInference.toFixed(1)} | ${(r.usPerInference / node).toFixed(1)} |`),
];
process.stdout.write(`${out.join("\n")}\n`);
