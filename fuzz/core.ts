// The fuzzer's cases and oracle (npm run fuzz runs them through fuzz/run.ts; test/fuzz.test.ts
// runs a few thousand). A case is derived from (seed, index) alone, so any case reruns by itself.
// It mutates a valid model file or builds a random structurally valid one, loads it, and runs
// mutated inputs through Engine, gated and dense. Every case must end in a FormatError, an
// InputError or a result equal to the TS reference (logits, label and counters); anything else
// is a failure: another exception, a Wasm trap (WebAssembly.RuntimeError), a wrong result, a
// single-byte corruption that loads, or a case slower than the time budget.
import { crc32 } from "../runtime/src/crc32.ts";
import { FormatError, InputError, UserError } from "../runtime/src/errors.ts";
import { ENTRY_BYTES_V4, HEADER_BYTES, readModel, SECTIONS, writeModel } from "../runtime/src/format.ts";
import { fileCase, FILE_KINDS, type FileKind } from "./files.ts";
import { CAPI_KINDS, runCapiCase, warmUpCapi } from "./capi.ts";
import { workCase, workSetup } from "./work.ts";
import type { QuantLayer, QuantModel } from "../runtime/src/model.ts";
import { INT32_MAX, INT32_MIN, Q31_MIN_NORMAL } from "../runtime/src/quant.ts";
import { Rng } from "../toolchain/model/random.ts";
import { quantizeModelInput, run_s8, RUN_DENSE } from "../runtime/src/reference.ts";
import { argmax, Engine, type InferStats, type RunOptions } from "../runtime/src/runtime.ts";
import { buildSynthetic, toV1 } from "../toolchain/model/synthetic.ts";

/** Per-case time budget: a slower case is reported as a (possible) hang. */
export const CASE_BUDGET_MS = 2000;
/** Per-case memory budget: resident memory may grow by at most this plus 4× the input's size. */
export const CASE_BUDGET_BYTES = 256 * 1024 * 1024;
/** Longest message a user error may have (one line). */
export const MESSAGE_MAX_CHARS = 2000;

/** What a case exercises: .rgm files (v2, v1, block gates and v4 top-k gates, v3 per-feature input), the public API, another file kind, optimize's work folders or the C API. */
export const KINDS = ["rgm", "rgm-v1", "rgm-gate", "rgm-v3", "api", ...FILE_KINDS, "work", ...CAPI_KINDS] as const;
export type Kind = (typeof KINDS)[number];
/** Case i of a run over `kinds` exercises kinds[i % kinds.length]. */
export const kindOf = (index: number, kinds: readonly Kind[] = KINDS): Kind => kinds[index % kinds.length];
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


const BASES_V1 = BASES.map(toV1);
// Block-gated bases: odd block sizes, a gate beside an estimator layer, one block of one unit
const BASES_GATE = [
  { sizes: [12, 10, 8, 4], gates: [3, 0] },
  { sizes: [40, 33, 17, 10], ranks: [0, 5], gates: [7, 0] },
  { sizes: [9, 5, 3], gates: [5] },
  { sizes: [6, 1, 2], gates: [1] },
  { sizes: [17, 64, 3], gates: [16] },
].map((o, i) => buildSynthetic({ ...o, seed: 201 + i, calibration: 16 }).bytes).concat(
  // Format v4: top-k gates (k = 1 over a shorter last block, k = blocks, k = 2 with per-feature input sections)
  [{ sizes: [12, 10, 8, 4], gates: [3, 0], topK: [1] }, { sizes: [9, 5, 3], gates: [2], topK: [3] }, { sizes: [11, 16, 7, 2], gates: [4, 3], topK: [2, 0], features: true }]
    .map((o, i) => {
      const { model } = buildSynthetic({ sizes: o.sizes, gates: o.gates, seed: 211 + i, calibration: 16 });
      o.topK.forEach((k, l) => model.layers[l].gate && (model.layers[l].gate!.topK = k));
      const n = model.layers[0].nIn;
      return writeModel(o.features ? { ...model, inputFeatures: { scale: new Float32Array(n).fill(0.01), offset: Float32Array.from({ length: n }, (_, j) => j - 3) } } : model);
    }),
);
// Format v3 bases: per-feature input scales and offsets on layer 0, edge values among them (subnormal and huge scales, −0)
const BASES_V3 = [
  { sizes: [12, 10, 8, 4], ranks: [3, 2] },
  { sizes: [9, 5, 3], gates: [5] },
  { sizes: [5, 3] },
  { sizes: [1, 1, 1], ranks: [1] },
  { sizes: [17, 33, 10], ranks: [5] },
].map((o, i) => {
  const { model } = buildSynthetic({ ...o, seed: 301 + i, calibration: 16 });
  const n = model.layers[0].nIn, edges = [1e-45, 3.4028234e38, 1e-30];
  const scale = Float32Array.from({ length: n }, (_, j) => (j < edges.length && i === 4 ? edges[j] : 0.002 * (j + 1) + 0.01 * i));
  const offset = Float32Array.from({ length: n }, (_, j) => (j === 0 ? -0 : (j % 5) - 2.5 * i));
  return writeModel({ ...model, inputFeatures: { scale, offset } });
});

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
    // Now and then a block gate instead of an estimator: threshold or top-k (format v4)
    if (rank === 0 && relu && !last && rng.next() < 0.25) {
      const blockSize = rng.next() < 0.3 ? pick(rng, [1, nOut]) : rng.int(1, nOut), blocks = Math.ceil(nOut / blockSize);
      layers[l].gate = { blockSize, blocks, weights: i8(blocks * nIn, mode), threshold: i32(blocks, big), topK: rng.next() < 0.4 ? 0 : pick(rng, [1, blocks, rng.int(1, blocks)]) };
    }
    zp = outZp;
    scale = outScale;
  }
  return { layers };
}

/** One of the model mutations; the returned file may or may not be valid. */
function mutateModel(rng: Rng, bases: Uint8Array[] = BASES): Mutated {
  const kind = rng.int(0, 99);
  if (kind < 14 && (bases === BASES || bases === BASES_V3)) {
    const m = randomModel(rng);
    if (bases === BASES_V3) {
      const n = m.layers[0].nIn, f32 = () => (rng.next() < 0.2 ? pick(rng, F32_EDGES.filter((v) => Number.isFinite(v) && v > 0)) : Math.fround(rng.next() * 0.1 + 1e-4));
      m.inputFeatures = { scale: Float32Array.from({ length: n }, f32), offset: Float32Array.from({ length: n }, () => (rng.next() < 0.2 ? pick(rng, [0, -0, 1e30, -1e30]) : Math.fround(rng.normal()))) };
      m.layers[0] = { ...m.layers[0], inScale: 1 };
    }
    return { bytes: writeModel(m), what: `random-valid ${[m.layers[0].nIn, ...m.layers.map((l) => l.nOut)].join("-")} ranks ${m.layers.map((l) => l.estimator?.rank ?? 0).join("-")}`, mustFail: false };
  }
  const base = pick(rng, bases);
  const b = base.slice();
  const dv = new DataView(b.buffer);
  const layers = dv.getUint32(16, true);
  const entryBytes = dv.getUint32(20, true);
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
  const e = HEADER_BYTES + l * entryBytes;
  if (kind < 73) {
    // Layer field: dimensions (huge, zero, rank above min), zero points, scales, t_max, margin; v4: gate_top_k
    const [name, off] = pick(rng, entryBytes >= ENTRY_BYTES_V4 ? [...Object.entries(E), ["gate_top_k", 96] as const] : Object.entries(E));
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
      v = (name === "reserved" || name === "gate_top_k") && rng.next() < 0.5 ? pick(rng, [0, 1, 2, 3, 5, 16, dv.getUint32(e + 4, true), dv.getUint32(e + 4, true) + 1]) : pick(rng, U32_EDGES);
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
  const q = new Int8Array(x.length);
  quantizeModelInput(engine.model, x, q);
  return q;
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

/** A user error's message is one printable line of bounded length, or this says why not. */
function unclear(message: string): string | null {
  if (message.length > MESSAGE_MAX_CHARS) return `message of ${message.length} characters`;
  if (/[\x00-\x1f\x7f-\x9f]/.test(message)) return `control character in ${JSON.stringify(message.slice(0, 200))}`;
  return null;
}

/** Resident memory now (bytes). */
const rss = () => process.memoryUsage.rss();

/**
 * Runs case `index` of `seed` over `kinds` (case i exercises kinds[i % kinds.length]). Never throws: every
 * outcome is in the result. Time (CASE_BUDGET_MS) and resident-memory growth (CASE_BUDGET_BYTES + 4× the input)
 * are checked per case.
 */
export async function runCase(seed: number, index: number, kinds: readonly Kind[] = KINDS): Promise<CaseResult> {
  const kind = kindOf(index, kinds);
  const before = rss();
  const r = kind === "rgm" ? await runModelCase(seed, index, BASES)
    : kind === "rgm-v1" ? await runModelCase(seed, index, BASES_V1)
    : kind === "rgm-gate" ? await runModelCase(seed, index, BASES_GATE)
    : kind === "rgm-v3" ? await runModelCase(seed, index, BASES_V3)
    : kind === "api" ? await runApiCase(seed, index)
    : kind === "c-api" ? runCapiCase(seed, index)
    : kind === "work" ? await runWorkCase(seed, index)
    : runFileCase(seed, index, kind);
  const grown = rss() - before;
  const budget = CASE_BUDGET_BYTES + 4 * (r.inputBytes ?? 0);
  const outcome = kind === "rgm" || r.outcome.startsWith(`${kind} `) || r.outcome.startsWith(`FAIL ${kind} `) ? r.outcome
    : r.outcome.startsWith("FAIL ") ? `FAIL ${kind} ${r.outcome.slice(5)}` : `${kind} ${r.outcome}`;
  const out: CaseResult = { index: r.index, model: kind === "rgm" ? r.model : `${kind}: ${r.model}`, input: r.input, outcome, failure: r.failure, ms: r.ms };
  if (!out.failure && grown > budget) return { ...out, outcome: "FAIL bomb", failure: `resident memory grew ${(grown / 2 ** 20).toFixed(0)} MB (budget ${(budget / 2 ** 20).toFixed(0)} MB)` };
  return out;
}

/** Values the public API must refuse (or, for a real typed array in disguise, accept as the array). */
type Disguise = { what: string; make: (x: Float32Array | Int8Array | Uint8Array) => unknown; same: boolean };
const DISGUISES: Disguise[] = [
  { what: "null", make: () => null, same: false },
  { what: "undefined", make: () => undefined, same: false },
  { what: "{ length: 2e8 }", make: () => ({ length: 2e8 }), same: false },
  { what: "Proxy", make: (x) => new Proxy(x, {}), same: false },
  { what: "revoked Proxy", make: (x) => { const p = Proxy.revocable(x, {}); p.revoke(); return p.proxy; }, same: false },
  { what: "ArrayBuffer", make: (x) => x.buffer, same: false },
  { what: "DataView", make: (x) => new DataView(x.buffer), same: false },
  { what: "Array", make: (x) => Array.from(x), same: false },
  { what: "string", make: () => "RGMF", same: false },
  { what: "number", make: () => 7, same: false },
  { what: "own length 1", make: (x) => Object.defineProperty(x.slice(), "length", { value: 1 }), same: true },
  { what: "own length 2e8", make: (x) => Object.defineProperty(x.slice(), "length", { value: 2e8 }), same: true },
  { what: "own subarray/constructor", make: (x) => Object.defineProperties(x.slice(), { subarray: { value: () => null }, constructor: { value: Object } }), same: true },
  { what: "subclass", make: (x) => { const C = class extends (x.constructor as Float32ArrayConstructor) {}; return new C(x as never); }, same: true },
  { what: "offset view", make: (x) => { const C = x.constructor as Float32ArrayConstructor; const big = new C(x.length + 3); big.set(x as never, 3); return big.subarray(3); }, same: true },
  { what: "detached", make: (x) => { const y = x.slice(); structuredClone(y.buffer, { transfer: [y.buffer] }); return y; }, same: false },
  { what: "getter length", make: (x) => Object.defineProperty(x.slice(), "length", { get() { throw new Error("read"); } }), same: true },
];
const BAD_OPTIONS: unknown[] = [null, 7, "x", [], { gating: "yes" }, { simd: 1 }, { zeroSkip: null }, new Proxy({}, { get() { return 3; } }), { trace: {} }, { wasm: {} }];

/** The public API with disguised, mistyped and mutated arguments; every accepted call equals the reference. */
async function runApiCase(seed: number, index: number): Promise<CaseResult & { inputBytes?: number }> {
  const t0 = performance.now();
  const rng = caseRng(seed, index);
  let model = randomModel(rng);
  while (model.layers.reduce((t, l) => t + l.nIn * l.nOut, 0) > 20_000) model = randomModel(rng);
  const bytes = writeModel(model);
  const n = model.layers[0].nIn;
  const op = rng.int(0, 3);
  const d = pick(rng, DISGUISES);
  let what = "";
  const result = (outcome: string, failure: string | null = null): CaseResult & { inputBytes?: number } =>
    ({ index, model: what, input: "", outcome, failure, ms: performance.now() - t0, inputBytes: bytes.length });
  try {
    let engine: Engine;
    if (op === 0) {
      what = `Engine.load(${d.what})`;
      engine = await Engine.load(d.make(bytes) as Uint8Array);
      if (!d.same) return result("FAIL silent acceptance", `${what} loaded`);
    } else if (op === 1) {
      // fromModel with one field mistyped, disguised or out of range
      const m = readModel(bytes).model;
      const l = rng.int(0, m.layers.length - 1);
      const layer = m.layers[l] as unknown as Record<string, unknown>;
      const key = pick(rng, ["nIn", "nOut", "activation", "inScale", "inZeroPoint", "weights", "bias", "multiplier", "shift", "estimator", "gate", "layers", "model"]);
      const bad = pick(rng, [null, undefined, "relu", "constructor", NaN, -1, 2 ** 32 + 1, 1.5, 70000, {}, [], new Float32Array(3), "x"]);
      let arg: unknown = m;
      if (key === "layers") arg = { layers: pick(rng, [null, {}, [], "x", new Proxy([], {}), Array(300).fill(m.layers[0])]) };
      else if (key === "model") arg = pick(rng, [null, undefined, 7, [], new Proxy(m, {}), Object.create(m)]);
      else if (["weights", "bias", "multiplier", "shift"].includes(key) && rng.next() < 0.5) layer[key] = d.make(layer[key] as Int8Array);
      else if (key === "estimator" || key === "gate") layer[key] = pick(rng, [{}, { rank: 1 }, { blockSize: 1, blocks: 1 }, 7, "x"]);
      else layer[key] = bad;
      what = `Engine.fromModel(${key}=${typeof bad === "string" ? bad : String(bad)}${["weights", "bias", "multiplier", "shift"].includes(key) ? `|${d.what}` : ""})`;
      engine = await Engine.fromModel(arg as QuantModel, pick(rng, [undefined, {}, ...BAD_OPTIONS]) as never);
      // Accepted: it must be a well-formed model, run below against the reference
    } else {
      engine = await Engine.load(bytes);
      const x = rng.next() < 0.5 ? Float32Array.from({ length: n * (op === 3 ? rng.int(1, 3) : 1) }, () => rng.next()) : Int8Array.from({ length: n * (op === 3 ? rng.int(1, 3) : 1) }, () => rng.int(-128, 127));
      const opts = rng.next() < 0.5 ? pick(rng, BAD_OPTIONS) : undefined;
      const arg = rng.next() < 0.7 ? d.make(x) : x;
      what = `${op === 2 ? "infer" : "inferBatch"}(${arg === x ? "plain" : d.what}, ${opts === undefined ? "-" : typeof opts === "object" ? JSON.stringify(opts) : String(opts)})`;
      const r = op === 2 ? engine.infer(arg as Float32Array, opts as never) : engine.inferBatch(arg as Float32Array, opts as never);
      if (arg !== x && !d.same) return result("FAIL silent acceptance", `${what} accepted`);
      // Options: an object whose run fields (gating, simd, zeroSkip) are booleans or absent; other keys are ignored
      const runField = (k: string) => (opts as Record<string, unknown>)[k];
      if (opts !== undefined && (typeof opts !== "object" || opts === null || ["gating", "simd", "zeroSkip"].some((k) => runField(k) !== undefined && typeof runField(k) !== "boolean"))) {
        return result("FAIL silent acceptance", `${what}: options accepted`);
      }
      // Accepted: the result of the real array
      const logits = "label" in r ? r.logits : r.logits;
      const m = engine.outputSize;
      for (let s = 0; s < x.length / n; s++) {
        const q = quantized(engine, x.subarray(s * n, (s + 1) * n));
        const ref = run_s8(engine.model, q, 0).output;
        if (ref.some((v, j) => v !== logits[s * m + j])) return result("FAIL differs from reference", `${what}: sample ${s}`);
      }
      return result("valid");
    }
    // A loaded engine: a plain input gives the reference's result
    const x = Int8Array.from({ length: engine.inputSize }, () => rng.int(-128, 127));
    const ref = run_s8(engine.model, x, 0).output;
    const got = engine.infer(x).logits;
    if (ref.some((v, j) => v !== got[j])) return result("FAIL differs from reference", what);
    return result("valid");
  } catch (e) {
    if (e instanceof UserError) {
      const why = unclear(e.message);
      return why ? result(`FAIL unclear ${e.name}`, why) : result(e.name);
    }
    return result(`FAIL ${e instanceof Error ? e.name : typeof e}`, `${what}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  }
}

/** A case of a file kind (fuzz/files.ts). */
function runFileCase(seed: number, index: number, kind: FileKind): CaseResult & { inputBytes?: number } {
  let t0 = performance.now();
  const rng = caseRng(seed, index);
  let c: ReturnType<typeof fileCase>;
  try {
    c = fileCase(kind, rng);
  } catch (e) {
    return { index, model: "generator", input: "", outcome: "FAIL generator", failure: e instanceof Error ? e.stack ?? e.message : String(e), ms: performance.now() - t0 };
  }
  // The budget is the entry point's: building the input (a deflate bomb, a big header) is the fuzzer's time
  t0 = performance.now();
  const result = (outcome: string, failure: string | null = null) => {
    const ms = performance.now() - t0;
    if (!failure && ms > CASE_BUDGET_MS) return { index, model: c.what, input: "", outcome: "FAIL slow", failure: `took ${ms.toFixed(0)} ms (budget ${CASE_BUDGET_MS} ms)`, ms, inputBytes: c.bytes };
    return { index, model: c.what, input: "", outcome, failure, ms, inputBytes: c.bytes };
  };
  try {
    const bad = c.run();
    return bad ? result(`FAIL ${kind} silent acceptance`, bad) : result(`${kind} valid`);
  } catch (e) {
    if (e instanceof UserError) {
      const why = unclear(e.message);
      return why ? result(`FAIL ${kind} unclear ${e.name}`, why) : result(`${kind} ${e.name}`);
    }
    return result(`FAIL ${kind} ${e instanceof Error ? e.name : typeof e}`, e instanceof Error ? e.stack ?? e.message : String(e));
  }
}

/** An optimize --work case (fuzz/work.ts): a one-line UserError, or the .rgm of a run without a work folder. */
async function runWorkCase(seed: number, index: number): Promise<CaseResult & { inputBytes?: number }> {
  await workSetup();
  const rng = caseRng(seed, index);
  const c = workCase(rng, index);
  const t0 = performance.now();
  const result = (outcome: string, failure: string | null = null) => {
    const ms = performance.now() - t0;
    if (!failure && ms > CASE_BUDGET_MS) return { index, model: c.what, input: "", outcome: "FAIL slow", failure: `took ${ms.toFixed(0)} ms (budget ${CASE_BUDGET_MS} ms)`, ms, inputBytes: c.bytes };
    return { index, model: c.what, input: "", outcome, failure, ms, inputBytes: c.bytes };
  };
  try {
    const bad = await c.run();
    if (bad === "steered") return result("work steered valid");
    return bad ? result(c.mustFail ? "FAIL work silent acceptance" : "FAIL work silently wrong", bad) : result("work valid");
  } catch (e) {
    if (e instanceof UserError) {
      const why = unclear(e.message);
      return why ? result(`FAIL work unclear ${e.name}`, why) : result(`work ${e.name}`);
    }
    return result(`FAIL work ${e instanceof Error ? e.name : typeof e}`, e instanceof Error ? e.stack ?? e.message : String(e));
  }
}

/** Runs an .rgm case over `bases`. */
async function runModelCase(seed: number, index: number, bases: Uint8Array[]): Promise<CaseResult & { inputBytes?: number }> {
  const t0 = performance.now();
  const rng = caseRng(seed, index);
  const mutated = mutateModel(rng, bases);
  const c: FuzzCase = { index, model: mutated.what, input: "" };
  const result = (outcome: string, failure: string | null = null): CaseResult & { inputBytes?: number } => {
    const ms = performance.now() - t0;
    if (!failure && ms > CASE_BUDGET_MS) return { ...c, outcome: "FAIL slow", failure: `took ${ms.toFixed(0)} ms (budget ${CASE_BUDGET_MS} ms)`, ms, inputBytes: mutated.bytes.length };
    return { ...c, outcome, failure, ms, inputBytes: mutated.bytes.length };
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

/** Compiles what the first case of a kind would (Wasm module, JSON schema, protobuf codecs, JIT), outside any case's budget. */
let warm = false;
export async function warmUp(kinds: readonly Kind[] = KINDS): Promise<void> {
  if (warm) return;
  warm = true;
  await Engine.load(BASES[0]);
  crc32(new Uint8Array(1 << 20));
  if (kinds.includes("c-api")) warmUpCapi();
  for (const kind of kinds) if ((FILE_KINDS as readonly string[]).includes(kind)) for (let i = 0; i < 3; i++) runFileCase(0xffff, i, kind as FileKind);
  if (kinds.includes("work")) for (let i = 0; i < 3; i++) await runWorkCase(0xffff, i);
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
export async function runFuzz(seed: number, from: number, to: number, onCase?: (r: CaseResult) => void, kinds: readonly Kind[] = KINDS): Promise<FuzzSummary> {
  await warmUp(kinds);
  const t0 = performance.now();
  const counts = new Map<string, number>();
  const failures: CaseResult[] = [];
  let slowest: CaseResult | null = null;
  for (let i = from; i < to; i++) {
    const r = await runCase(seed, i, kinds);
    counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
    if (r.failure !== null) failures.push(r);
    if (!slowest || r.ms > slowest.ms) slowest = r;
    onCase?.(r);
  }
  return { seed, cases: to - from, counts, failures, slowest, seconds: (performance.now() - t0) / 1000 };
}

/** "valid", then FormatError classes, InputError, then failures; each with its count. */
export function formatCounts(counts: Map<string, number>): string {
  const order = (k: string) => (k.startsWith("FAIL") ? 3 : k === "valid" || k.endsWith(" valid") ? 0 : k.includes("InputError") ? 2 : 1);
  const rows = [...counts].sort((a, b) => order(a[0]) - order(b[0]) || b[1] - a[1]);
  const total = rows.reduce((t, [, n]) => t + n, 0);
  const group = (o: number) => rows.filter(([k]) => order(k) === o).reduce((t, [, n]) => t + n, 0);
  const width = Math.max(...rows.map(([k]) => k.length), 24);
  const line = (k: string, n: number) => `  ${k.padEnd(width)} ${n.toLocaleString("en-US").padStart(9)}`;
  return [
    line("valid result", group(0)), line("FormatError / UserError", group(1)), line("InputError", group(2)), line("failure", group(3)), line("total", total),
    "", "by outcome:", ...rows.map(([k, n]) => line(k, n)),
  ].join("\n");
}
