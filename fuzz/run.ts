// npm run fuzz [-- --cases N --seed S --only I --kinds K,… --hang-seconds T]: mutated .rgm files (v2, v1,
// block gates) through Engine, the public API with disguised arguments, and safetensors, ONNX (with external
// data), target profiles, .npy/.npz/.csv/IDX data files, data bombs and labels through their readers (fuzz/core.ts,
// fuzz/files.ts), 100,000 cases by default, case i of kind i mod (number of kinds). The cases run in
// a worker thread with a heap limit that reports each case it starts; a case that runs past --hang-seconds
// is a hang, one that exhausts the worker's memory a bomb: the worker is stopped and the case reported.
// Prints the counts by outcome, exits 1 on any failure.
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { CASE_BUDGET_BYTES, CASE_BUDGET_MS, formatCounts, KINDS, runCase, runFuzz, warmUp, type CaseResult, type Kind } from "./core.ts";

/** The worker's V8 heap limit: a case that needs more is a bomb (typed arrays count through RSS, per case). */
const WORKER_HEAP_MB = 1024;

interface Job {
  seed: number;
  from: number;
  to: number;
  heartbeat: SharedArrayBuffer;
  kinds: Kind[];
}
type Message = { type: "ready" } | { type: "failure"; result: CaseResult } | { type: "done"; counts: [string, number][]; slowest: CaseResult | null; seconds: number };

const USAGE = `usage: npm run fuzz -- [--cases N] [--seed S] [--only I] [--kinds K,…] [--hang-seconds T]
  --cases N          number of cases (default 100000)
  --seed S           seed (default 1); case i of seed S is the same on every run
  --only I           run case I alone and print what it did
  --kinds K,…        kinds to run, case i of kind i mod count (default all: ${KINDS.join(",")})
  --hang-seconds T   stop and report a case still running after T seconds (default 10)`;

function fail(message: string): never {
  process.stderr.write(`fuzz: ${message}\n`);
  process.exit(1);
}

function intFlag(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer ≥ ${min}, got '${value}'`);
  return n;
}

const repro = (seed: number, index: number) => `npm run fuzz -- --seed ${seed} --only ${index}`;

async function worker(job: Job): Promise<void> {
  const beat = new Int32Array(job.heartbeat);
  const post = (m: Message) => parentPort!.postMessage(m);
  // Compiling the Wasm module, the schema and the codecs is no case's time: the hang clock starts after
  await warmUp(job.kinds);
  post({ type: "ready" });
  const summary = await runFuzz(job.seed, job.from, job.to, (r) => {
    Atomics.store(beat, 0, r.index + 1);
    Atomics.add(beat, 1, 1);
    if (r.failure !== null) post({ type: "failure", result: r });
  }, job.kinds);
  post({ type: "done", counts: [...summary.counts], slowest: summary.slowest, seconds: summary.seconds });
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: { cases: { type: "string" }, seed: { type: "string" }, only: { type: "string" }, kinds: { type: "string" }, "hang-seconds": { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true, allowPositionals: false,
    }));
  } catch (e) {
    fail(`${(e as Error).message.split("\n")[0]}\nrun 'npm run fuzz -- --help'`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const cases = intFlag("cases", values.cases, 100_000, 1);
  const seed = intFlag("seed", values.seed, 1, 0);
  const hangMs = 1000 * intFlag("hang-seconds", values["hang-seconds"], 10, 1);
  const kinds = (values.kinds ?? KINDS.join(",")).split(",") as Kind[];
  const unknown = kinds.find((k) => !(KINDS as readonly string[]).includes(k));
  if (unknown !== undefined) fail(`--kinds: unknown kind '${unknown.replace(/[^\x20-\x7e]/g, "?").slice(0, 40)}'; kinds: ${KINDS.join(", ")}`);

  if (values.only !== undefined) {
    const r = await runCase(seed, intFlag("only", values.only, 0, 0), kinds);
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    process.exitCode = r.failure === null ? 0 : 1;
    return;
  }

  process.stderr.write(`fuzz: ${cases.toLocaleString("en-US")} cases of ${kinds.length} kinds, seed ${seed}, per case ${CASE_BUDGET_MS} ms and ${CASE_BUDGET_BYTES / 2 ** 20} MB + 4× the input, hang after ${hangMs / 1000} s\n`);
  const heartbeat = new SharedArrayBuffer(8);
  const beat = new Int32Array(heartbeat);
  const job: Job = { seed, from: 0, to: cases, heartbeat, kinds };
  // The worker loads this file through tsx's API: worker threads do not inherit tsx's loader
  const boot = `import("tsx/esm/api").then(({ tsImport }) => tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`;
  const w = new Worker(boot, { eval: true, workerData: job, execArgv: [], resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
  const failures: CaseResult[] = [];
  let hung: number | null = null;
  let bomb: number | null = null;
  const t0 = Date.now();
  const done = await new Promise<Extract<Message, { type: "done" }> | null>((resolve, reject) => {
    let lastStarted = -1, since = Date.now(), tenth = 0, ready = false;
    const timer = setInterval(() => {
      if (!ready) return;
      const started = Atomics.load(beat, 0), finished = Atomics.load(beat, 1);
      if (started !== lastStarted) {
        lastStarted = started;
        since = Date.now();
      } else if (Date.now() - since > hangMs) {
        clearInterval(timer);
        hung = started; // the case after the last finished one
        void w.terminate().then(() => resolve(null));
        return;
      }
      const t = Math.floor((finished / cases) * 20);
      if (t > tenth) {
        tenth = t;
        process.stderr.write(`fuzz: ${finished.toLocaleString("en-US")}/${cases.toLocaleString("en-US")} (${((Date.now() - t0) / 1000).toFixed(0)} s), ${failures.length} failures\n`);
      }
    }, 200);
    w.on("message", (m: Message) => {
      if (m.type === "ready") {
        ready = true;
        since = Date.now();
      } else if (m.type === "failure") failures.push(m.result);
      else {
        clearInterval(timer);
        resolve(m);
      }
    });
    w.on("error", (e) => {
      clearInterval(timer);
      // Out of memory: the case that was running is a bomb
      if ((e as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY") {
        bomb = Atomics.load(beat, 0);
        resolve(null);
      } else reject(e);
    });
    w.on("exit", (code) => {
      if (code !== 0 && hung === null && bomb === null) {
        clearInterval(timer);
        reject(new Error(`fuzz worker exited with code ${code}`));
      }
    });
  });

  if (done === null && bomb !== null) {
    process.stdout.write(`FAIL bomb: case ${bomb} of seed ${seed} exhausted the worker's ${WORKER_HEAP_MB} MB heap (rerun: ${repro(seed, bomb)}${values.kinds ? ` --kinds ${values.kinds}` : ""})\n`);
    process.exitCode = 1;
    return;
  }
  if (done === null) {
    process.stdout.write(`FAIL hang: case ${hung} of seed ${seed} ran for more than ${hangMs / 1000} s (rerun: ${repro(seed, hung!)})\n`);
    process.exitCode = 1;
    return;
  }
  const counts = new Map(done.counts);
  const peak = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`fuzz: ${cases.toLocaleString("en-US")} cases, seed ${seed}, ${done.seconds.toFixed(1)} s; slowest case ${done.slowest?.index} (${done.slowest?.ms.toFixed(1)} ms, ${done.slowest?.model}); peak RSS ${peak.toFixed(0)} MB\n${formatCounts(counts)}\n`);
  if (failures.length) {
    process.stdout.write(`\n${failures.length} failures (first 20):\n`);
    for (const f of failures.slice(0, 20)) {
      process.stdout.write(`  case ${f.index}: ${f.outcome}: ${(f.failure ?? "").split("\n")[0]}\n    model: ${f.model}; input: ${f.input || "-"}\n    rerun: ${repro(seed, f.index)}\n`);
    }
    process.exitCode = 1;
  } else {
    process.stdout.write("\n0 failures\n");
  }
}

if (isMainThread) {
  main().catch((e: unknown) => {
    process.stderr.write(`fuzz: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 2;
  });
} else {
  await worker(workerData as Job);
}
