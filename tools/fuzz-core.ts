// The fuzzer's cases and oracle (npm run fuzz runs them through tools/fuzz.ts; test/fuzz.test.ts
// runs a few thousand). A case is derived from (seed, index) alone, so any case reruns by itself.
// It mutates a valid model file or builds a random structurally valid one, loads it, and runs
// mutated inputs through Engine, gated and dense. Every case must end in a FormatError, an
// InputError or a result equal to the TS reference (logits, label and counters); anything else
// is a failure: another exception, a Wasm trap (WebAssembly.RuntimeError), a wrong result, a
// single-byte corruption that loads, or a case slower than the time budget.
import { crc32 } from "../ts/crc32.ts";
import { FormatError, InputError } from "../ts/errors.ts";
import { ENTRY_BYTES, HEADER_BYTES, readModel, SECTIONS, writeModel } from "../ts/format.ts";
import type { QuantLayer, QuantModel } from "../ts/model.ts";
import { INT32_MAX, INT32_MIN, Q31_MIN_NORMAL, quantizeInput } from "../ts/quant.ts";
import { Rng } from "../ts/random.ts";
import { run_s8, RUN_DENSE } from "../ts/reference.ts";
import { argmax, Engine, type InferStats, type RunOptions } from "../ts/runtime.ts";
import { buildSynthetic } from "../ts/synthetic.ts";

/** Per-case time budget: a slower case is reported as a (possible) hang. */
export const CASE_BUDGET_MS = 1000;
/** Upper bound on Σ n_in·(n_out + rank) of a generated random model, to keep cases fast. */
const MAX_RANDOM_MACS = 120_000;

export interface FuzzCase {
  index: number;
  /** What was done to the model, e.g. "bitflip(1)@1234" or "layer-field layers[1].rank=6". */
  model: string;
  /** What was done to the inputs, when the model loaded. */
  input: string;
}

export interface CaseResult extends FuzzCase {
  /** "valid", "FormatError <field>", "InputError", or "FAIL <kind>". */
  outcome: string;
  failure: string | null;
  ms: number;
}

// Valid base models: odd sizes, SVD and identity estimators, a single dense layer
const BASES = [
  { sizes: [12, 10, 8, 4], ranks: [3, 2] },
  { sizes: [6, 8, 9, 3], ranks: [6, 8], estimator: "identity" as const },
  { sizes: [5, 3] },
  { sizes: [40, 33, 17, 10], ranks: [9, 5], margins: [0.3, -0.2] },
  { sizes: [8, 8, 2], ranks: [8] },
  { sizes: [1, 1, 1], ranks: [1] },
].map((o, i) => buildSynthetic({ ...o, seed: 101 + i, calibration: 16 }).bytes);

const H = { magic: 0, version: 4, header_bytes: 6, file_bytes: 8, crc32: 12, layer_count: 16, entry_bytes: 20, table_offset: 24, payload_offset: 28, section_count: 32, section_bytes: 36, reserved: 40 };
const E = { n_in: 0, n_out: 4, rank: 8, activation: 12, in_zero_point: 16, out_zero_point: 20, in_scale: 24, out_scale: 28, t_max: 32, margin: 36, reserved: 76 };
const U32_EDGES = [0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255, 256, 257, 32767, 32768, 65535, 65536, 65537, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff];
const F32_EDGES = [0, -0, 1, -1, NaN, Infinity, -Infinity, 1e-45, 1.17549435e-38, 3.4028234e38, 1e-30, 1e30, 0.5];

/** The case's own generator: a hash of seed and index, so cases are independent. */
function caseRng(seed: number, index: number): Rng {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return new Rng(h >>> 0);
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)];
const fixCrc = (b: Uint8Array) => {
  if (b.length >= 16) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(12, crc32(b, 16), true);
  return b;
};
const resized = (b: Uint8Array, n: number) => {
  const r = new Uint8Array(n);
  r.set(b.subarray(0, Math.min(n, b.length)));
  return r;
};

interface Mutated {
  bytes: Uint8Array;
  what: string;
  /** The file differs from a valid one in exactly one byte and the CRC was not fixed: it must not load. */
  mustFail: boolean;
}

/** A random structurally valid model: edge-case dimensions and extreme but legal parameters. */
function randomModel(rng: Rng): QuantModel {
  const depth = rng.int(1, 4);
  const dim = () => (rng.next() < 0.5 ? pick(rng, [1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65]) : rng.int(1, 160));
  const sizes = Array.from({ length: depth + 1 }, dim);
  // Now and then one very wide edge, the rest narrow
  if (rng.next() < 0.08) {
    const at = rng.int(0, depth);
    for (let i = 0; i <= depth; i++) sizes[i] = i === at ? pick(rng, [4096, 65535]) : rng.int(1, 2);
  }
  let zp = rng.next() < 0.3 ? pick(rng, [-128, 127, 0]) : rng.int(-128, 127);
  let scale = rng.next() < 0.2 ? pick(rng, [1e-45, 1e-30, 1e30, 3.4028234e38]) : Math.fround(rng.next() * 0.1 + 1e-4);
  const i8 = (n: number, mode: number) => Int8Array.from({ length: n }, () => (mode === 0 ? rng.int(-128, 127) : mode === 1 ? pick(rng, [-128, 127]) : rng.int(-3, 3)));
  const i32 = (n: number, f: () => number) => Int32Array.from({ length: n }, f);
  const mult = () => (rng.next() < 0.2 ? pick(rng, [0, Q31_MIN_NORMAL, INT32_MAX]) : rng.int(Q31_MIN_NORMAL, INT32_MAX));
  const shift = () => (rng.next() < 0.3 ? pick(rng, [-31, -30, 0, 29, 30]) : rng.int(-31, 30));
  const big = () => (rng.next() < 0.3 ? pick(rng, [INT32_MIN, INT32_MAX, 0, -1]) : rng.int(-(2 ** 31), 2 ** 31 - 1));
  const layers: QuantLayer[] = [];
  for (let l = 0; l < depth; l++) {
    const nIn = sizes[l], nOut = sizes[l + 1];
    const last = l === depth - 1;
    let rank = !last && rng.next() < 0.7 ? rng.int(1, Math.min(nIn, nOut)) : 0;
    if (nIn * (nOut + rank) > MAX_RANDOM_MACS) rank = 0;
    const relu = rank > 0 || (!last && rng.next() < 0.9) || (last && rng.next() < 0.1);
    const outZp = rng.next() < 0.3 ? pick(rng, [-128, 127, 0]) : rng.int(-128, 127);
    const outScale = rng.next() < 0.2 ? pick(rng, [1e-45, 1e-30, 1e30, 3.4028234e38]) : Math.fround(rng.next() * 0.1 + 1e-4);
    const mode = rng.int(0, 2);
    layers.push({
      nIn, nOut, activation: relu ? "relu" : "none", inScale: scale, inZeroPoint: zp, outScale, outZeroPoint: outZp,
      weights: i8(nIn * nOut, mode), bias: i32(nOut, big), multiplier: i32(nOut, mult), shift: i32(nOut, shift),
      estimator: rank === 0 ? null : {
        rank, tMax: rng.next() < 0.5 ? Math.min(32767, Math.floor(INT32_MAX / (128 * rank))) : rng.int(1, Math.min(32767, Math.floor(INT32_MAX / (128 * rank)))),
        margin: rng.next() < 0.5 ? 0 : Math.fround(rng.normal()),
        a: i8(rank * nIn, mode), tMultiplier: i32(rank, mult), tShift: i32(rank, shift), b: i8(nOut * rank, mode), threshold: i32(nOut, big),
      },
    });
    zp = outZp;
    scale = outScale;
  }
  return { layers };
}

/** One of the model mutations; the returned file may or may not be valid. */
function mutateModel(rng: Rng): Mutated {
  const kind = rng.int(0, 99);
  if (kind < 14) {
    const m = randomModel(rng);
    return { bytes: writeModel(m), what: `random-valid ${[m.layers[0].nIn, ...m.layers.map((l) => l.nOut)].join("-")} ranks ${m.layers.map((l) => l.estimator?.rank ?? 0).join("-")}`, mustFail: false };
  }
  const base = pick(rng, BASES);
  const b = base.slice();
  const dv = new DataView(b.buffer);
  const layers = dv.getUint32(16, true);
  const anyByte = () => rng.int(0, b.length - 1);
  const crcFix = rng.next() < 0.85;
  const done = (bytes: Uint8Array, what: string, fix = crcFix) => ({ bytes: fix ? fixCrc(bytes) : bytes, what: fix ? `${what} +crc` : what, mustFail: false });
  if (kind < 18) return { bytes: b, what: "unchanged", mustFail: false };
  if (kind < 26) {
    // Single-bit flip, CRC untouched: must be caught
    const at = anyByte(), bit = rng.int(0, 7);
    b[at] ^= 1 << bit;
    return { bytes: b, what: `bitflip@${at}.${bit}`, mustFail: true };
  }
  if (kind < 31) {
    // Single-byte corruption, CRC untouched: must be caught
    const at = anyByte();
    b[at] = (b[at] + rng.int(1, 255)) & 0xff;
    return { bytes: b, what: `byte@${at}`, mustFail: true };
  }
  if (kind < 37) {
    const flips = rng.int(2, 12);
    for (let i = 0; i < flips; i++) b[anyByte()] ^= 1 << rng.int(0, 7);
    return done(b, `bitflips(${flips})`);
  }
  if (kind < 40) {
    const i = anyByte(), j = anyByte();
    [b[i], b[j]] = [b[j], b[i]];
    return done(b, `swap@${i},${j}`);
  }
  if (kind < 46) {
    const n = rng.next() < 0.3 ? pick(rng, [0, 1, 15, 16, 40, 63, 64, 65, 143, 144, b.length - 16, b.length - 1]) : rng.int(0, b.length - 1);
    return done(resized(b, Math.max(0, n)), `truncate(${Math.max(0, n)})`, crcFix && n >= 16);
  }
  if (kind < 52) {
    const extra = rng.next() < 0.5 ? 16 * rng.int(1, 8) : rng.int(1, 100);
    const r = resized(b, b.length + extra);
    if (rng.next() < 0.5) for (let i = b.length; i < r.length; i++) r[i] = rng.int(0, 255);
    if (rng.next() < 0.6) new DataView(r.buffer).setUint32(8, r.length, true);
    return done(r, `extend(${extra})`);
  }
  if (kind < 60) {
    // Header field
    const [name, off] = pick(rng, Object.entries(H));
    const v = rng.next() < 0.7 ? pick(rng, U32_EDGES) : (dv.getUint32(off, true) + rng.int(-3, 3)) >>> 0;
    if (name === "version" || name === "header_bytes") dv.setUint16(off, v & 0xffff, true);
    else dv.setUint32(off + (name === "reserved" ? 4 * rng.int(0, 5) : 0), v, true);
    return done(b, `header ${name}=${v}`);
  }
  const l = rng.int(0, layers - 1);
  const e = HEADER_BYTES + l * ENTRY_BYTES;
  if (kind < 73) {
    // Layer field: dimensions (huge, zero, rank above min), zero points, scales, t_max, margin
    const [name, off] = pick(rng, Object.entries(E));
    let v: number;
    if (name === "in_scale" || name === "out_scale" || name === "margin") {
      v = pick(rng, F32_EDGES);
      dv.setFloat32(e + off, v, true);
    } else if (name === "rank") {
      const nIn = dv.getUint32(e, true), nOut = dv.getUint32(e + 4, true);
      v = pick(rng, [Math.min(nIn, nOut) + 1, Math.min(nIn, nOut), 0, 1, nIn, nOut, 0xffffffff]);
      dv.setUint32(e + off, v, true);
    } else if (name === "in_zero_point" || name === "out_zero_point") {
      v = pick(rng, [-129, 128, -128, 127, 0, INT32_MIN, INT32_MAX, dv.getInt32(e + off, true) + 1]);
      dv.setInt32(e + off, v, true);
    } else {
      v = pick(rng, U32_EDGES);
      dv.setUint32(e + off, v, true);
    }
    return done(b, `layers[${l}].${name}=${v}`);
  }
  const sections = readModel(base).sections;
  const mine = sections.filter((s) => s.layer === l);
  if (kind < 85) {
    // Section offsets: overlapping, out of range, unaligned, zero
    const s = pick(rng, mine);
    const other = pick(rng, sections);
    const at = e + SECTIONS.find((x) => x.name === s.name)!.entryOffset;
    const v = pick(rng, [other.offset, s.offset + 16, s.offset - 16, s.offset + 1, b.length, b.length - 16, 0, 16, 0xfffffff0, 0xffffffff, other.offset + other.bytes - 16]) >>> 0;
    dv.setUint32(at, v, true);
    return done(b, `layers[${l}].${s.name}_offset=${v}`);
  }
  // Element values: shifts and multipliers in and out of range, extreme biases, thresholds and weights
  const s = pick(rng, mine);
  const spec = SECTIONS.find((x) => x.name === s.name)!;
  const count = rng.int(1, 4);
  for (let k = 0; k < count; k++) {
    if (spec.kind === "i8") {
      b[s.offset + rng.int(0, s.bytes - 1)] = pick(rng, [0x80, 0x7f, 0, 0xff, rng.int(0, 255)]);
    } else {
      const at = s.offset + 4 * rng.int(0, s.bytes / 4 - 1);
      const values = spec.kind === "shift" ? [31, -32, 30, -31, 0, 1000, INT32_MIN, INT32_MAX]
        : spec.kind === "q31" ? [0, Q31_MIN_NORMAL, Q31_MIN_NORMAL - 1, INT32_MAX, INT32_MIN, -1, 1]
        : [INT32_MIN, INT32_MAX, 0, -1, 1];
      dv.setInt32(at, pick(rng, values), true);
    }
  }
  return done(b, `layers[${l}].${s.name} values(${count})`);
}

type Input = { value: unknown; what: string; batch: boolean };

/** Inputs for a loaded engine: valid, extreme, wrong length, non-finite, wrong type. */
function mutateInput(rng: Rng, n: number): Input {
  const floats = (len: number) => Float32Array.from({ length: len }, () => (rng.next() < 0.4 ? 0 : rng.next()));
  const kind = rng.int(0, 99);
  if (kind < 25) return { value: floats(n), what: "float", batch: false };
  if (kind < 35) return { value: Int8Array.from({ length: n }, () => rng.int(-128, 127)), what: "int8", batch: false };
  if (kind < 45) {
    const x = Float32Array.from({ length: n }, () => pick(rng, [-0, 1e-45, -1e-45, 3.4028234e38, -3.4028234e38, 1e30, -1e30, 0.5, 2, -2, 255]));
    return { value: x, what: "float extremes", batch: false };
  }
  if (kind < 55) {
    const count = rng.int(1, 4);
    return { value: rng.next() < 0.5 ? floats(count * n) : Int8Array.from({ length: count * n }, () => rng.int(-128, 127)), what: `batch(${count})`, batch: true };
  }
  if (kind < 65) {
    const bad = pick(rng, [NaN, Infinity, -Infinity]);
    const x = floats(n);
    const at = rng.int(0, n - 1);
    x[at] = bad;
    const batch = rng.next() < 0.3;
    return { value: x, what: `${bad}@${at}${batch ? " batch" : ""}`, batch };
  }
  if (kind < 78) {
    const len = pick(rng, [0, n - 1, n + 1, 2 * n, 1, n + 16].filter((v) => v >= 0 && v !== n));
    const batch = rng.next() < 0.3 && len % n !== 0;
    const x = rng.next() < 0.5 ? new Float32Array(len) : new Int8Array(len);
    return { value: x, what: `${x.constructor.name}(${len})${batch ? " batch" : ""}`, batch };
  }
  const wrong: [string, () => unknown][] = [
    ["Float64Array", () => new Float64Array(n)], ["Uint8Array", () => new Uint8Array(n)], ["Int16Array", () => new Int16Array(n)],
    ["Uint8ClampedArray", () => new Uint8ClampedArray(n)], ["Int32Array", () => new Int32Array(n)], ["BigInt64Array", () => new BigInt64Array(n)],
    ["number[]", () => Array.from({ length: n }, () => 0.5)], ["null", () => null], ["undefined", () => undefined], ["string", () => "0".repeat(n)],
    ["array-like", () => ({ length: n })], ["ArrayBuffer", () => new ArrayBuffer(n)], ["DataView", () => new DataView(new ArrayBuffer(n))], ["number", () => 7],
  ];
  const [name, make] = pick(rng, wrong);
  return { value: make(), what: name, batch: rng.next() < 0.3 };
}

/** The failure, if a result differs from the TS reference on the same quantized input. */
function checkAgainstReference(engine: Engine, q: Int8Array, logits: Int8Array, label: number, stats: InferStats, options: RunOptions): string | null {
  const ref = run_s8(engine.model, q, options.gating === false ? RUN_DENSE : 0);
  if (logits.length !== engine.outputSize) return `logits length ${logits.length}, expected ${engine.outputSize}`;
  for (let j = 0; j < logits.length; j++) if (logits[j] !== ref.output[j]) return `logit ${j} is ${logits[j]}, reference ${ref.output[j]}`;
  if (label !== argmax(ref.output) || label < 0 || label >= engine.outputSize) return `label ${label}, reference ${argmax(ref.output)}`;
  for (let l = 0; l < ref.counters.length; l++) {
    const got = stats.layers[l], want = ref.counters[l];
    if (got.estimatorMacs !== want.estimatorMacs || got.rowMacs !== want.rowMacs || got.rowsComputed !== want.rowsComputed || got.rowsSkipped !== want.rowsSkipped) {
      return `layer ${l} counters ${JSON.stringify(got)}, reference ${JSON.stringify(want)}`;
    }
  }
  return null;
}

/** Quantized copy of one sample, as the engine sees it. */
function quantized(engine: Engine, x: Float32Array | Int8Array): Int8Array {
  if (x instanceof Int8Array) return x;
  return quantizeInput(x, engine.inputScale, engine.inputZeroPoint, new Int8Array(x.length));
}

/** Runs the input through the engine gated and dense (SIMD, sometimes scalar) and checks every result. */
function exercise(engine: Engine, rng: Rng, input: Input): string | null {
  const modes: RunOptions[] = [{ gating: true }, { gating: false }];
  if (rng.next() < 0.25) modes.push({ gating: true, simd: false }, { gating: false, simd: false });
  for (const options of modes) {
    if (input.batch) {
      const r = engine.inferBatch(input.value as Float32Array | Int8Array, options);
      const x = input.value as Float32Array | Int8Array, n = engine.inputSize, m = engine.outputSize;
      for (let s = 0; s < x.length / n; s++) {
        const ref = run_s8(engine.model, quantized(engine, x.subarray(s * n, (s + 1) * n)), options.gating === false ? RUN_DENSE : 0);
        const got = r.logits.subarray(s * m, (s + 1) * m);
        if (got.some((v, j) => v !== ref.output[j]) || r.labels[s] !== argmax(ref.output)) return `batch sample ${s} differs from the reference`;
      }
    } else {
      const r = engine.infer(input.value as Float32Array | Int8Array, options);
      const bad = checkAgainstReference(engine, quantized(engine, input.value as Float32Array | Int8Array), r.logits, r.label, r.stats, options);
      if (bad) return bad;
    }
  }
  return null;
}

/** The model file of case `index` of `seed`, exactly as runCase loads it (the C runtime's reader runs the same corpus). */
export function caseModel(seed: number, index: number): { bytes: Uint8Array; what: string; mustFail: boolean } {
  return mutateModel(caseRng(seed, index));
}

/** Groups FormatError fields: layers[3].shift[12] → layers[].shift[]. */
export const fieldClass = (field: string) => field.replace(/\[\d+\]/g, "[]");

/** Runs case `index` of `seed`. Never throws: every outcome is in the result. */
export async function runCase(seed: number, index: number): Promise<CaseResult> {
  const t0 = performance.now();
  const rng = caseRng(seed, index);
  const mutated = mutateModel(rng);
  const c: FuzzCase = { index, model: mutated.what, input: "" };
  const result = (outcome: string, failure: string | null = null): CaseResult => {
    const ms = performance.now() - t0;
    if (!failure && ms > CASE_BUDGET_MS) return { ...c, outcome: "FAIL slow", failure: `took ${ms.toFixed(0)} ms (budget ${CASE_BUDGET_MS} ms)`, ms };
    return { ...c, outcome, failure, ms };
  };
  const classify = (e: unknown, stage: string): CaseResult => {
    if (e instanceof FormatError) {
      if (stage !== "load") return result("FAIL FormatError after load", e.message);
      if (e.message.includes("\n") || !e.message.includes(e.field)) return result("FAIL unclear FormatError", e.message);
      return result(`FormatError ${fieldClass(e.field)}`);
    }
    if (e instanceof InputError) {
      if (stage !== "input") return result("FAIL InputError on load", e.message);
      return e.message.includes("\n") ? result("FAIL unclear InputError", e.message) : result("InputError");
    }
    if (e instanceof WebAssembly.RuntimeError) return result("FAIL Wasm trap", `${stage}: ${e.message}`);
    const name = e instanceof Error ? e.name : typeof e;
    return result(`FAIL ${name}`, `${stage}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  };
  let engine: Engine;
  try {
    // Now and then a trace engine: per-layer buffers and the extra dense rows of RUN_TRACE
    engine = await Engine.load(mutated.bytes, { trace: rng.next() < 0.2 });
  } catch (e) {
    return classify(e, "load");
  }
  if (mutated.mustFail) return result("FAIL corruption accepted", `${mutated.what} loaded`);
  const input = mutateInput(rng, engine.inputSize);
  c.input = input.what;
  try {
    const bad = exercise(engine, rng, input);
    if (bad) return result("FAIL differs from reference", bad);
    // The engine stays usable after an input error, and a second run repeats the first
    const again = mutateInput(rng, engine.inputSize);
    if (again.value instanceof Float32Array || again.value instanceof Int8Array) {
      const bad2 = exercise(engine, rng, again);
      if (bad2) return result("FAIL differs from reference", `second input ${again.what}: ${bad2}`);
    }
  } catch (e) {
    if (e instanceof InputError) {
      // After an input error, a valid input must still give the reference's result
      try {
        const x = new Float32Array(engine.inputSize).fill(0.25);
        const bad = exercise(engine, rng, { value: x, what: "recovery", batch: false });
        if (bad) return result("FAIL differs from reference after InputError", bad);
      } catch (e2) {
        return classify(e2, "recovery");
      }
    }
    return classify(e, "input");
  }
  return result("valid");
}

export interface FuzzSummary {
  seed: number;
  cases: number;
  counts: Map<string, number>;
  failures: CaseResult[];
  slowest: CaseResult | null;
  seconds: number;
}

/** Runs cases [from, to) of `seed` in order; `onCase` sees each result (progress, heartbeat). */
export async function runFuzz(seed: number, from: number, to: number, onCase?: (r: CaseResult) => void): Promise<FuzzSummary> {
  const t0 = performance.now();
  const counts = new Map<string, number>();
  const failures: CaseResult[] = [];
  let slowest: CaseResult | null = null;
  for (let i = from; i < to; i++) {
    const r = await runCase(seed, i);
    counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
    if (r.failure !== null) failures.push(r);
    if (!slowest || r.ms > slowest.ms) slowest = r;
    onCase?.(r);
  }
  return { seed, cases: to - from, counts, failures, slowest, seconds: (performance.now() - t0) / 1000 };
}

/** "valid", then FormatError classes, InputError, then failures; each with its count. */
export function formatCounts(counts: Map<string, number>): string {
  const order = (k: string) => (k === "valid" ? 0 : k.startsWith("FormatError") ? 1 : k === "InputError" ? 2 : 3);
  const rows = [...counts].sort((a, b) => order(a[0]) - order(b[0]) || b[1] - a[1]);
  const total = rows.reduce((t, [, n]) => t + n, 0);
  const group = (o: number) => rows.filter(([k]) => order(k) === o).reduce((t, [, n]) => t + n, 0);
  const width = Math.max(...rows.map(([k]) => k.length), 24);
  const line = (k: string, n: number) => `  ${k.padEnd(width)} ${n.toLocaleString("en-US").padStart(9)}`;
  return [
    line("valid result", group(0)), line("FormatError", group(1)), line("InputError", group(2)), line("failure", group(3)), line("total", total),
    "", "by outcome:", ...rows.map(([k, n]) => line(k, n)),
  ].join("\n");
}
