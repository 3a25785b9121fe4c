// npx tsx bench/ab-builds.ts <base.wasm> [model.rgm] [rounds]: the engine on a saved build against
// build/rankgate.wasm, in one process, interleaved, on the first 256 MNIST test digits.
// npx tsx bench/ab-builds.ts --models <base.rgm> <new.rgm> [rounds]: two models on build/rankgate.wasm, the same way
// (e.g. a model against its hidden-unit-permuted copy, toolchain/quantize/permute.ts). Times are CPU µs
// per digit (process.cpuUsage: robust to other jobs on a shared machine, unlike wall time), min and
// quartile over rounds: gated + zero skip at batch 1 (one run_batch_s8 call per digit, no JS around it),
// its mask stages alone (RUN_MASK_ONLY), and inferBatch of 64 digits per call.
import { readFileSync } from "node:fs";
import { Engine, RUN } from "../runtime/src/runtime.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";

const args = process.argv.slice(2);
const models = args[0] === "--models";
const [baseFile, model = "models/paper.rgm", roundsArg = "40"] = models ? args.slice(1) : args;
if (!baseFile || (models && args.length < 3)) {
  console.error("usage: npx tsx bench/ab-builds.ts <base.wasm> [model.rgm] [rounds]\n       npx tsx bench/ab-builds.ts --models <base.rgm> <new.rgm> [rounds]");
  process.exit(1);
}
const N = 256;
const test = loadMnist("test", { limit: N });
const x = toFloatInputs(test.images, test.count);
const engines: [string, Engine][] = [];
if (models) {
  for (const [k, file] of [["base", baseFile], ["new", model]]) engines.push([k, await Engine.load(readFileSync(file))]);
} else {
  const builds = { base: readFileSync(baseFile), new: readFileSync("build/rankgate.wasm") };
  for (const [k, bytes] of Object.entries(builds)) engines.push([k, await Engine.load(readFileSync(model), { wasm: new WebAssembly.Module(bytes) })]);
}
const n = engines[0][1].inputSize;

function raw(e: Engine, flags: number): (i: number) => void {
  const { kernels, arena } = e.internals;
  const st = arena.staging!;
  const f32 = new Float32Array(kernels.memory.buffer);
  const layers = e.model.layers.length;
  return (i) => {
    f32.set(x.subarray(i * n, (i + 1) * n), st.input.offset >> 2);
    kernels.run_batch_s8(arena.plan.offset, layers, flags | RUN.F32_INPUT, st.input.offset, 4 * n, 1, e.inputScale, st.logits.offset, st.labels.offset, 0);
  };
}
function cpuUs(f: (i: number) => void): number {
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) f(i);
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / N;
}
const res = new Map<string, number[]>();
for (let r = 0; r < Number(roundsArg); r++) {
  for (const [k, e] of engines) {
    const cases: [string, (i: number) => void][] = [
      ["zero skip b1", raw(e, RUN.ZERO_SKIP)],
      ["mask only b1", raw(e, RUN.ZERO_SKIP | RUN.MASK_ONLY)],
      ["zero skip b64", (i) => { if (i % 64 === 0) e.inferBatch(x.subarray(i * n, (i + 64) * n), { zeroSkip: true }); }],
    ];
    for (const [name, f] of cases) {
      const key = `${k} ${name}`;
      res.set(key, [...(res.get(key) ?? []), cpuUs(f)]);
    }
  }
}
console.log(`${models ? `base ${baseFile}, new ${model}` : model}, ${N} digits × ${roundsArg} rounds, CPU µs per digit`);
for (const [k, v] of res) {
  v.sort((a, b) => a - b);
  console.log(`${k.padEnd(20)} min ${v[0].toFixed(2)}  q1 ${v[Math.floor(v.length / 4)].toFixed(2)}`);
}
