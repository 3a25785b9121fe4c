// npm run build:selftest: build/selftest.wasm and build/selftest-mvp.wasm (no SIMD, no post-MVP feature), the engine's runner and kernels with a few models
// and inputs embedded, behind zero-argument exports (selftest, selftestRuns) for wasm-interp.
// Writes build/selftest-data.ts (generated), build/selftest.wasm, build/selftest-mvp.wasm (+ .wat) and
// build/selftest-cases.json (the same cases, for Node and the browser). Deterministic.
import { spawnSync } from "node:child_process";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { planArena } from "../runtime/src/arena.ts";
import { readModel, writeModel } from "../runtime/src/format.ts";
import type { InputFeatures } from "../runtime/src/model.ts";
import { Rng } from "../toolchain/model/random.ts";
import { quantizeModelInput } from "../runtime/src/reference.ts";
import { planRecords } from "../runtime/src/runtime.ts";
import { buildSynthetic, syntheticInputs, type SyntheticOptions } from "../toolchain/model/synthetic.ts";
import { casesToJson, DESCRIPTOR_FIELDS, type SelftestCase } from "./selftest-core.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Where the selftest places its arena: page 1, above the module's static data. */
export const ARENA_BASE = 65536;
export const SELFTEST_SEED = 20240611;

/** A selftest model: synthetic options, and per-feature input scales and offsets (format v3) for its nIn inputs when given. */
export type SelftestModel = SyntheticOptions & { name: string; inputFeatures?: (nIn: number) => InputFeatures };

const MODELS: SelftestModel[] = [
  { name: "gated-odd", sizes: [37, 48, 33, 10], ranks: [12, 7], margins: [0.05, -0.05], inputZeros: 0.5 },
  { name: "identity", sizes: [16, 24, 31, 5], ranks: [16, 24], estimator: "identity", inputZeros: 0.3 },
  { name: "wide-rank", sizes: [70, 96, 10], ranks: [40], margins: [0.2], inputZeros: 0.8 },
  { name: "dense", sizes: [9, 3], inputZeros: 0 },
  { name: "block-gates", sizes: [37, 48, 33, 10], ranks: [0, 7], gates: [8, 0], inputZeros: 0.7 },
  // Format v3: per-feature input scales a factor 2 to 8 apart and offsets, so some features clamp at 127
  {
    name: "per-feature", sizes: [30, 24, 12, 3], ranks: [6, 4], inputZeros: 0.2,
    inputFeatures: (n) => ({
      scale: Float32Array.from({ length: n }, (_, i) => Math.fround(2 ** -(i % 4) / 255)),
      offset: Float32Array.from({ length: n }, (_, i) => Math.fround(i % 3 === 0 ? 0 : -0.01 * (i % 5))),
    }),
  },
];

/** The embedded cases: each model with 4 random samples and the two extreme inputs. */
export function selftestCases(seed = SELFTEST_SEED, models: readonly SelftestModel[] = MODELS): SelftestCase[] {
  const rng = new Rng(seed);
  return models.map(({ name, inputFeatures, ...options }, m) => {
    const synthetic = buildSynthetic({ ...options, seed: seed + m, calibration: 32 });
    const bytes = inputFeatures ? writeModel({ ...synthetic.model, inputFeatures: inputFeatures(options.sizes[0]) }) : synthetic.bytes;
    const { model } = readModel(bytes);
    const nIn = options.sizes[0], random = 4, samples = random + 2;
    const x = syntheticInputs(rng, random, nIn, options.inputZeros);
    const inputs = new Int8Array(samples * nIn);
    // As Engine quantizes a float sample: per tensor, or per feature for a v3 model
    for (let s = 0; s < random; s++) {
      if (quantizeModelInput(model, x.subarray(s * nIn, (s + 1) * nIn), inputs.subarray(s * nIn, (s + 1) * nIn)) !== 0) throw new Error(`selftest ${name}: sample ${s} is not finite`);
    }
    inputs.fill(-128, random * nIn, (random + 1) * nIn);
    inputs.fill(127, (random + 1) * nIn);
    return { name, model: bytes, inputs, samples, floats: x };
  });
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** The generated AssemblyScript module: one byte blob and one int32 descriptor table. */
export function selftestData(cases: readonly SelftestCase[]): string {
  const parts: { at: number; bytes: Uint8Array }[] = [];
  let end = 0;
  const place = (bytes: Uint8Array) => {
    const at = end;
    parts.push({ at, bytes });
    end = align16(at + bytes.length);
    return at;
  };
  const descriptors: number[] = [];
  for (const c of cases) {
    const parsed = readModel(c.model);
    const arena = planArena(parsed.model, parsed.image.length, ARENA_BASE);
    const records = planRecords(parsed, arena);
    // Arena bytes from ARENA_BASE to the end of the plan records: model image, then plan
    const blob = new Uint8Array(arena.plan.offset + arena.plan.bytes - ARENA_BASE);
    blob.set(parsed.image, arena.model.offset - ARENA_BASE);
    blob.set(new Uint8Array(records.buffer), arena.plan.offset - ARENA_BASE);
    const layers = parsed.model.layers;
    const d: Record<(typeof DESCRIPTOR_FIELDS)[number], number> = {
      blob: place(blob), blobBytes: blob.length, arenaBytes: arena.totalBytes - ARENA_BASE, layers: layers.length,
      plan: arena.plan.offset, input: arena.input.offset, nIn: layers[0].nIn,
      output: arena.outputs[layers.length - 1].offset, nOut: layers[layers.length - 1].nOut,
      inputs: place(new Uint8Array(c.inputs.buffer, c.inputs.byteOffset, c.inputs.byteLength)), samples: c.samples,
    };
    descriptors.push(...DESCRIPTOR_FIELDS.map((f) => d[f]));
  }
  const data = new Uint8Array(end);
  for (const p of parts) data.set(p.bytes, p.at);
  const rows = (values: ArrayLike<number>, per: number) =>
    Array.from({ length: Math.ceil(values.length / per) }, (_, r) => "  " + Array.from(values).slice(r * per, (r + 1) * per).join(", ")).join(",\n");
  return [
    `// Generated by web/build-selftest.ts (seed ${SELFTEST_SEED}); do not edit. Cases: ${cases.map((c) => c.name).join(", ")}.`,
    `export const ARENA_BASE: usize = ${ARENA_BASE};`,
    `export const MODEL_COUNT: i32 = ${cases.length};`,
    `/** Per model: ${DESCRIPTOR_FIELDS.join(", ")}. */`,
    `export const DESCRIPTORS: usize = memory.data<i32>([\n${rows(descriptors, DESCRIPTOR_FIELDS.length)},\n], 16);`,
    `export const DATA: usize = memory.data<u8>([\n${rows(data, 32)},\n], 16);`,
    "",
  ].join("\n");
}

/** Writes `data` to `path` through a temporary file, so a concurrent reader never sees half of it. */
function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export interface SelftestBuild {
  /** build/selftest.wasm (SIMD). */
  wasm: string;
  /** build/selftest-mvp.wasm (no post-MVP feature). */
  mvp: string;
  cases: string;
  data: string;
}

/** Generates the data, compiles kernels/wasm/selftest.ts with the release options, writes the cases JSON. */
export function buildSelftest(outDir = join(ROOT, "build")): SelftestBuild {
  mkdirSync(outDir, { recursive: true });
  const cases = selftestCases();
  // kernels/wasm/selftest.ts imports ../build/selftest-data
  const data = join(ROOT, "build", "selftest-data.ts");
  mkdirSync(dirname(data), { recursive: true });
  writeAtomic(data, selftestData(cases));
  const asc = createRequire(import.meta.url).resolve("assemblyscript/bin/asc.js");
  // The same sources with the engine's two targets: release (SIMD) and mvp (no post-MVP feature)
  const compile = (target: string, name: string) => {
    const wasm = join(outDir, `${name}.wasm`);
    const tmp = join(outDir, `${name}.${process.pid}.tmp.wasm`);
    const r = spawnSync(process.execPath, [asc, "kernels/wasm/selftest.ts", "--target", target, "--outFile", tmp, "--textFile", join(outDir, `${name}.wat`)], { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`asc kernels/wasm/selftest.ts --target ${target} failed (${r.status}):\n${r.stdout}${r.stderr}`);
    renameSync(tmp, wasm);
    return wasm;
  };
  const wasm = compile("release", "selftest");
  const mvp = compile("mvp", "selftest-mvp");
  const json = join(outDir, "selftest-cases.json");
  writeAtomic(json, casesToJson(cases));
  return { wasm, mvp, cases: json, data };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = buildSelftest();
  process.stdout.write(`${out.wasm}, ${out.mvp}, ${out.cases}\n`);
}
