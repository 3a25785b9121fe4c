// Model format v4 (.rgm; v1, v2 and v3 files still load; a model with a top-k gate is written as v4, else one with per-feature
// input quantization as v3, else v2): see docs/FORMAT.md. Little-endian, 16-byte aligned sections,
// CRC-32 over everything after the checksum field. The reader validates every field and
// throws FormatError(field, offset, expected, actual); kernels only ever see its output.
import { typedArrayArg } from "./args.ts";
import { crc32 } from "./crc32.ts";
import { showName } from "./show.ts";
import { FormatError, hex } from "./errors.ts";
import { ACTIVATION_CODES, type Activation, type InputFeatures, type QuantGate, type QuantLayer, type QuantModel } from "./model.ts";
import { Q31_MIN_NORMAL, SHIFT_MIN, SHIFT_MAX, INT32_MAX } from "./quant.ts";

export const MAGIC = "RGMF";
/** The newest version: v4 = v3 + `gate_top_k` (112-byte entries). The writer writes v4 only for a model with a top-k gate. */
export const VERSION = 4;
/** v3 = v2 + layer 0's per-feature input sections; written for a model with them and no top-k gate. */
export const VERSION_PER_FEATURE = 3;
/** What the writer writes for a model without per-feature input quantization or top-k gates (byte-identical to before v3). */
export const VERSION_PER_TENSOR = 2;
export const HEADER_BYTES = 64;
/** v2 and v3 layer entries; v1 entries are {@link ENTRY_BYTES_V1} (no block gate), v4 entries {@link ENTRY_BYTES_V4}. */
export const ENTRY_BYTES = 96;
export const ENTRY_BYTES_V1 = 80;
export const ENTRY_BYTES_V4 = 112;
export const ALIGN = 16;
export const MAX_LAYERS = 256;
export const MAX_DIM = 65535;
export const MAX_FILE_BYTES = 512 * 1024 * 1024;

// Header field offsets
const H_MAGIC = 0, H_VERSION = 4, H_HEADER_BYTES = 6, H_FILE_BYTES = 8, H_CRC = 12, H_LAYERS = 16,
  H_ENTRY_BYTES = 20, H_TABLE = 24, H_PAYLOAD = 28, H_SECTION_COUNT = 32, H_SECTION_BYTES = 36, H_RESERVED = 40;
// Layer entry field offsets
const E_N_IN = 0, E_N_OUT = 4, E_RANK = 8, E_ACTIVATION = 12, E_IN_ZP = 16, E_OUT_ZP = 20, E_IN_SCALE = 24,
  E_OUT_SCALE = 28, E_T_MAX = 32, E_MARGIN = 36, E_BLOCK_SIZE = 76, E_RESERVED = 88, E_IN_SCALES = 88, E_IN_OFFSETS = 92,
  E_TOP_K = 96, E_RESERVED_V4 = 100;

/** The entry size of a file version (1: 80, 2 and 3: 96, 4: 112). */
export function entryBytesOf(version: number): number {
  return version === 1 ? ENTRY_BYTES_V1 : version >= 4 ? ENTRY_BYTES_V4 : ENTRY_BYTES;
}

type SectionKind = "i8" | "i32" | "q31" | "shift" | "f32" | "f32pos";
/**
 * Which part of a layer a section belongs to: present always, with an estimator (rank > 0), with a gate
 * (block_size > 0), or (v3, layer 0 only) the per-feature input quantization.
 */
type SectionOwner = "layer" | "estimator" | "gate" | "input";
interface SectionSpec {
  name: string;
  entryOffset: number;
  kind: SectionKind;
  owner: SectionOwner;
  elements: (nIn: number, nOut: number, rank: number, blocks: number) => number;
}

/** Sections of one layer, in the order the writer lays them out. */
export const SECTIONS: readonly SectionSpec[] = [
  { name: "weights", entryOffset: 40, kind: "i8", owner: "layer", elements: (i, o) => o * i },
  { name: "bias", entryOffset: 44, kind: "i32", owner: "layer", elements: (_, o) => o },
  { name: "multiplier", entryOffset: 48, kind: "q31", owner: "layer", elements: (_, o) => o },
  { name: "shift", entryOffset: 52, kind: "shift", owner: "layer", elements: (_, o) => o },
  { name: "est_a", entryOffset: 56, kind: "i8", owner: "estimator", elements: (i, _, k) => k * i },
  { name: "est_t_multiplier", entryOffset: 60, kind: "q31", owner: "estimator", elements: (_, __, k) => k },
  { name: "est_t_shift", entryOffset: 64, kind: "shift", owner: "estimator", elements: (_, __, k) => k },
  { name: "est_b", entryOffset: 68, kind: "i8", owner: "estimator", elements: (_, o, k) => o * k },
  { name: "est_threshold", entryOffset: 72, kind: "i32", owner: "estimator", elements: (_, o) => o },
  // v2
  { name: "gate_weights", entryOffset: 80, kind: "i8", owner: "gate", elements: (i, _, __, b) => b * i },
  { name: "gate_threshold", entryOffset: 84, kind: "i32", owner: "gate", elements: (_, __, ___, b) => b },
  // v3, layer 0: the words v2 reserves
  { name: "in_scales", entryOffset: 88, kind: "f32pos", owner: "input", elements: (i) => i },
  { name: "in_offsets", entryOffset: 92, kind: "f32", owner: "input", elements: (i) => i },
];

const elementBytes = (kind: SectionKind) => (kind === "i8" ? 1 : 4);
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export interface SectionInfo {
  layer: number;
  name: string;
  offset: number;
  bytes: number;
}

export interface ParsedModel {
  model: QuantModel;
  /** The file, copied to 16-byte aligned storage; every typed array in `model` is a view of it. */
  image: Uint8Array;
  sections: SectionInfo[];
}

type SectionArray = Int8Array | Int32Array | Float32Array;

function layerArrays(layer: QuantLayer, features: InputFeatures | null): Record<string, SectionArray> {
  const e = layer.estimator, g = layer.gate;
  return {
    weights: layer.weights, bias: layer.bias, multiplier: layer.multiplier, shift: layer.shift,
    ...(e ? { est_a: e.a, est_t_multiplier: e.tMultiplier, est_t_shift: e.tShift, est_b: e.b, est_threshold: e.threshold } : {}),
    ...(g ? { gate_weights: g.weights, gate_threshold: g.threshold } : {}),
    ...(features ? { in_scales: features.scale, in_offsets: features.offset } : {}),
  };
}

/** Why a per-feature input section element is invalid, or null: scales finite and > 0, offsets finite. */
function featureProblem(kind: SectionKind, v: number): string | null {
  if (kind === "f32pos" && !(v > 0 && Number.isFinite(v))) return "a finite float > 0";
  if (kind === "f32" && !Number.isFinite(v)) return "a finite float";
  return null;
}

/** Serialises a quantized model; the output always passes {@link readModel}. */
export function writeModel(model: QuantModel): Uint8Array {
  const n = model.layers.length;
  const features = model.inputFeatures ?? null;
  const topK = model.layers.some((l) => (l.gate?.topK ?? 0) > 0);
  const version = topK ? VERSION : features ? VERSION_PER_FEATURE : VERSION_PER_TENSOR;
  const entryBytes = entryBytesOf(version);
  if (features) {
    for (const [name, kind, data] of [["in_scales", "f32pos", features.scale], ["in_offsets", "f32", features.offset]] as const) {
      if (!(data instanceof Float32Array)) throw new RangeError(`inputFeatures.${name}: a Float32Array`);
      const bad = data.findIndex((v) => featureProblem(kind, v) !== null);
      if (bad >= 0) throw new RangeError(`inputFeatures.${name}[${bad}] is ${data[bad]}, expected ${featureProblem(kind, data[bad])}`);
    }
  }
  const payload = align(HEADER_BYTES + n * entryBytes);
  let end = payload;
  let sectionCount = 0, sectionBytes = 0;
  const placed: { offset: number; data: SectionArray }[] = [];
  const entries: Map<string, number>[] = [];
  model.layers.forEach((layer, l) => {
    const g = layer.gate;
    if (g && layer.estimator) throw new RangeError(`layers[${l}]: an estimator and a block gate; a layer has at most one`);
    if (g && (g.blockSize < 1 || g.blockSize > layer.nOut || g.blocks !== Math.ceil(layer.nOut / g.blockSize))) {
      throw new RangeError(`layers[${l}].gate: ${g.blocks} blocks of ${g.blockSize} for ${layer.nOut} units`);
    }
    const k = g?.topK ?? 0;
    if (g && !(Number.isInteger(k) && k >= 0 && k <= g.blocks)) throw new RangeError(`layers[${l}].gate.topK is ${k}, expected an integer in [0, ${g.blocks}]`);
    const arrays = layerArrays(layer, l === 0 ? features : null);
    const offsets = new Map<string, number>();
    for (const s of SECTIONS) {
      const data = arrays[s.name];
      if (!data) continue;
      const want = s.elements(layer.nIn, layer.nOut, layer.estimator?.rank ?? 0, layer.gate?.blocks ?? 0);
      if (data.length !== want) throw new RangeError(`layers[${l}].${s.name}: ${data.length} elements, expected ${want}`);
      offsets.set(s.name, end);
      placed.push({ offset: end, data });
      sectionCount++;
      sectionBytes += data.byteLength;
      end = align(end + data.byteLength);
    }
    entries.push(offsets);
  });
  const bytes = new Uint8Array(end);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < 4; i++) bytes[H_MAGIC + i] = MAGIC.charCodeAt(i);
  dv.setUint16(H_VERSION, version, true);
  dv.setUint16(H_HEADER_BYTES, HEADER_BYTES, true);
  dv.setUint32(H_FILE_BYTES, end, true);
  dv.setUint32(H_LAYERS, n, true);
  dv.setUint32(H_ENTRY_BYTES, entryBytes, true);
  dv.setUint32(H_TABLE, HEADER_BYTES, true);
  dv.setUint32(H_PAYLOAD, payload, true);
  dv.setUint32(H_SECTION_COUNT, sectionCount, true);
  dv.setUint32(H_SECTION_BYTES, sectionBytes, true);
  model.layers.forEach((layer, l) => {
    const e = HEADER_BYTES + l * entryBytes;
    dv.setUint32(e + E_N_IN, layer.nIn, true);
    dv.setUint32(e + E_N_OUT, layer.nOut, true);
    dv.setUint32(e + E_RANK, layer.estimator?.rank ?? 0, true);
    dv.setUint32(e + E_ACTIVATION, ACTIVATION_CODES[layer.activation], true);
    dv.setInt32(e + E_IN_ZP, layer.inZeroPoint, true);
    dv.setInt32(e + E_OUT_ZP, layer.outZeroPoint, true);
    dv.setFloat32(e + E_IN_SCALE, layer.inScale, true);
    dv.setFloat32(e + E_OUT_SCALE, layer.outScale, true);
    dv.setUint32(e + E_T_MAX, layer.estimator?.tMax ?? 0, true);
    dv.setFloat32(e + E_MARGIN, layer.estimator?.margin ?? 0, true);
    dv.setUint32(e + E_BLOCK_SIZE, layer.gate?.blockSize ?? 0, true);
    for (const s of SECTIONS) dv.setUint32(e + s.entryOffset, entries[l].get(s.name) ?? 0, true);
    if (version >= 4) dv.setUint32(e + E_TOP_K, layer.gate?.topK ?? 0, true);
  });
  for (const { offset, data } of placed) {
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
  }
  dv.setUint32(H_CRC, crc32(bytes, H_CRC + 4), true);
  return bytes;
}

/** Validates and parses an .rgm file. Throws FormatError on the first problem found. */
export function readModel(input: Uint8Array, source = "model"): ParsedModel {
  // Type before size: a look-alike { length: 2e8 } is refused before anything is allocated
  input = typedArrayArg(input, ["Uint8Array"], `${source}: bytes`);
  const fail = (field: string, offset: number, expected: string, actual: string | number): never => {
    throw new FormatError(field, offset, expected, String(actual), source);
  };
  if (input.length < HEADER_BYTES) fail("file_bytes", 0, `at least ${HEADER_BYTES} bytes`, `${input.length} bytes`);
  // Aligned private copy: typed-array views and the Wasm image come from here
  const image = new Uint8Array(input.length);
  image.set(input);
  const dv = new DataView(image.buffer);
  const u32 = (o: number) => dv.getUint32(o, true);
  const i32 = (o: number) => dv.getInt32(o, true);
  const f32 = (o: number) => dv.getFloat32(o, true);
  const expectU32 = (field: string, o: number, want: number) => {
    if (u32(o) !== want) fail(field, o, String(want), u32(o));
  };
  const inRange = (field: string, o: number, v: number, lo: number, hi: number) => {
    if (!(v >= lo && v <= hi)) fail(field, o, `[${lo}, ${hi}]`, v);
  };

  // Header
  const magic = String.fromCharCode(...image.subarray(0, 4));
  if (magic !== MAGIC) fail("magic", H_MAGIC, showName(MAGIC), showName(magic));
  const version = dv.getUint16(H_VERSION, true);
  if (version < 1 || version > VERSION) fail("version", H_VERSION, `1, 2, 3 or ${VERSION}`, version);
  const entryBytes = entryBytesOf(version);
  const entrySections = SECTIONS.filter((s) => s.entryOffset < entryBytes && (s.owner !== "input" || version >= 3));
  if (dv.getUint16(H_HEADER_BYTES, true) !== HEADER_BYTES) fail("header_bytes", H_HEADER_BYTES, String(HEADER_BYTES), dv.getUint16(H_HEADER_BYTES, true));
  expectU32("file_bytes", H_FILE_BYTES, input.length);
  if (input.length % ALIGN !== 0) fail("file_bytes", H_FILE_BYTES, `a multiple of ${ALIGN}`, input.length);
  if (input.length > MAX_FILE_BYTES) fail("file_bytes", H_FILE_BYTES, `at most ${MAX_FILE_BYTES}`, input.length);
  const n = u32(H_LAYERS);
  inRange("layer_count", H_LAYERS, n, 1, MAX_LAYERS);
  expectU32("entry_bytes", H_ENTRY_BYTES, entryBytes);
  expectU32("table_offset", H_TABLE, HEADER_BYTES);
  const payload = align(HEADER_BYTES + n * entryBytes);
  expectU32("payload_offset", H_PAYLOAD, payload);
  if (payload > input.length) fail("layer_count", H_LAYERS, `a layer table that fits in ${input.length} bytes`, n);
  for (let o = H_RESERVED; o < HEADER_BYTES; o += 4) expectU32("reserved", o, 0);

  // Layer table
  const layers: QuantLayer[] = [];
  const sections: SectionInfo[] = [];
  const inputArrays: Record<string, Float32Array> = {};
  for (let l = 0; l < n; l++) {
    const e = HEADER_BYTES + l * entryBytes;
    const name = (f: string) => `layers[${l}].${f}`;
    const nIn = u32(e + E_N_IN), nOut = u32(e + E_N_OUT), rank = u32(e + E_RANK);
    inRange(name("n_in"), e + E_N_IN, nIn, 1, MAX_DIM);
    inRange(name("n_out"), e + E_N_OUT, nOut, 1, MAX_DIM);
    inRange(name("rank"), e + E_RANK, rank, 0, Math.min(nIn, nOut));
    const act = u32(e + E_ACTIVATION);
    const activation = (Object.keys(ACTIVATION_CODES) as Activation[]).find((k) => ACTIVATION_CODES[k] === act);
    if (activation === undefined) fail(name("activation"), e + E_ACTIVATION, "0 (none) or 1 (relu)", act);
    if (rank > 0 && activation !== "relu") fail(name("activation"), e + E_ACTIVATION, "1 (relu) for a layer with an estimator", act);
    const inZeroPoint = i32(e + E_IN_ZP), outZeroPoint = i32(e + E_OUT_ZP);
    inRange(name("in_zero_point"), e + E_IN_ZP, inZeroPoint, -128, 127);
    inRange(name("out_zero_point"), e + E_OUT_ZP, outZeroPoint, -128, 127);
    const inScale = f32(e + E_IN_SCALE), outScale = f32(e + E_OUT_SCALE);
    if (!(inScale > 0 && Number.isFinite(inScale))) fail(name("in_scale"), e + E_IN_SCALE, "a finite float > 0", inScale);
    if (!(outScale > 0 && Number.isFinite(outScale))) fail(name("out_scale"), e + E_OUT_SCALE, "a finite float > 0", outScale);
    const tMax = u32(e + E_T_MAX), margin = f32(e + E_MARGIN);
    if (rank === 0) {
      expectU32(name("t_max"), e + E_T_MAX, 0);
      // 0.0 or −0.0 (both are "0"; a writer computing −x·0 may produce either)
      if ((u32(e + E_MARGIN) & 0x7fffffff) !== 0) fail(name("margin"), e + E_MARGIN, "0 (0.0 or -0.0) for a layer without an estimator", margin);
    } else {
      inRange(name("t_max"), e + E_T_MAX, tMax, 1, Math.min(32767, Math.floor(INT32_MAX / (128 * rank))));
      if (!Number.isFinite(margin)) fail(name("margin"), e + E_MARGIN, "a finite float", margin);
    }
    const blockSize = version === 1 ? 0 : u32(e + E_BLOCK_SIZE);
    if (version === 1) {
      expectU32(name("reserved"), e + E_BLOCK_SIZE, 0);
    } else {
      inRange(name("block_size"), e + E_BLOCK_SIZE, blockSize, 0, nOut);
      if (blockSize > 0 && rank > 0) fail(name("block_size"), e + E_BLOCK_SIZE, "0 for a layer with an estimator (rank > 0)", blockSize);
      if (blockSize > 0 && activation !== "relu") fail(name("activation"), e + E_ACTIVATION, "1 (relu) for a layer with a block gate", act);
      // v3, v4: these words are the input sections' offsets (layer 0; 0 elsewhere)
      if (version === 2) for (let o = E_RESERVED; o < entryBytes; o += 4) expectU32(name("reserved"), e + o, 0);
      for (let o = E_RESERVED_V4; o < entryBytes; o += 4) expectU32(name("reserved"), e + o, 0);
    }
    const blocks = blockSize > 0 ? Math.ceil(nOut / blockSize) : 0;
    const topK = version >= 4 ? u32(e + E_TOP_K) : 0;
    if (topK !== 0 && blocks === 0) fail(name("gate_top_k"), e + E_TOP_K, "0 for a layer without a block gate (block_size 0)", topK);
    inRange(name("gate_top_k"), e + E_TOP_K, topK, 0, blocks);
    // v3: layer 0 always has the input sections; v4: both offsets 0 (per tensor) or both present
    const hasInput = l === 0 && (version === 3 || (version >= 4 && (u32(e + E_IN_SCALES) !== 0 || u32(e + E_IN_OFFSETS) !== 0)));
    if (l > 0) {
      const prev = layers[l - 1];
      if (nIn !== prev.nOut) fail(name("n_in"), e + E_N_IN, `${prev.nOut} (layers[${l - 1}].n_out)`, nIn);
      if (inZeroPoint !== prev.outZeroPoint) fail(name("in_zero_point"), e + E_IN_ZP, `${prev.outZeroPoint} (layers[${l - 1}].out_zero_point)`, inZeroPoint);
      if (inScale !== prev.outScale) fail(name("in_scale"), e + E_IN_SCALE, `${prev.outScale} (layers[${l - 1}].out_scale)`, inScale);
    }

    // Sections: aligned, inside the payload; overlap is checked below
    const arrays: Record<string, SectionArray> = {};
    for (const s of entrySections) {
      const at = e + s.entryOffset;
      const offset = u32(at);
      if ((s.owner === "estimator" && rank === 0) || (s.owner === "gate" && blocks === 0) || (s.owner === "input" && !hasInput)) {
        expectU32(name(`${s.name}_offset`), at, 0);
        continue;
      }
      const count = s.elements(nIn, nOut, rank, blocks);
      const bytes = count * elementBytes(s.kind);
      if (offset % ALIGN !== 0) fail(name(`${s.name}_offset`), at, `a multiple of ${ALIGN}`, offset);
      if (offset < payload || offset + bytes > input.length) {
        fail(name(`${s.name}_offset`), at, `a ${bytes}-byte section inside [${payload}, ${input.length})`, offset);
      }
      sections.push({ layer: l, name: s.name, offset, bytes });
      arrays[s.name] = s.kind === "i8" ? new Int8Array(image.buffer, offset, count)
        : s.owner === "input" ? new Float32Array(image.buffer, offset, count) : new Int32Array(image.buffer, offset, count);
      if (s.owner === "input") inputArrays[s.name] = arrays[s.name] as Float32Array;
    }
    layers.push({
      nIn, nOut, activation: activation!, inScale, inZeroPoint, outScale, outZeroPoint,
      weights: arrays.weights as Int8Array, bias: arrays.bias as Int32Array,
      multiplier: arrays.multiplier as Int32Array, shift: arrays.shift as Int32Array,
      estimator: rank === 0 ? null : {
        rank, tMax, margin, a: arrays.est_a as Int8Array, tMultiplier: arrays.est_t_multiplier as Int32Array,
        tShift: arrays.est_t_shift as Int32Array, b: arrays.est_b as Int8Array, threshold: arrays.est_threshold as Int32Array,
      },
      gate: blocks === 0 ? null : {
        blockSize, blocks, weights: arrays.gate_weights as Int8Array, threshold: arrays.gate_threshold as Int32Array, topK,
      } satisfies QuantGate,
    });
  }

  // Sections must not overlap
  const sorted = [...sections].sort((x, y) => x.offset - y.offset);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1], s = sorted[i];
    if (s.offset < p.offset + p.bytes) {
      const at = HEADER_BYTES + s.layer * entryBytes + SECTIONS.find((x) => x.name === s.name)!.entryOffset;
      fail(`layers[${s.layer}].${s.name}_offset`, at, `≥ ${p.offset + p.bytes} (end of layers[${p.layer}].${p.name})`, s.offset);
    }
  }

  // Totals
  expectU32("section_count", H_SECTION_COUNT, sections.length);
  expectU32("section_bytes", H_SECTION_BYTES, sections.reduce((t, s) => t + s.bytes, 0));

  // Element values the kernels rely on
  for (const s of sections) {
    const spec = SECTIONS.find((x) => x.name === s.name)!;
    if (spec.kind === "i8" || spec.kind === "i32") continue;
    for (let o = s.offset; o < s.offset + s.bytes; o += 4) {
      const v = i32(o);
      const field = `layers[${s.layer}].${s.name}[${(o - s.offset) / 4}]`;
      if (spec.owner === "input") {
        const problem = featureProblem(spec.kind, f32(o));
        if (problem) fail(field, o, problem, f32(o));
        continue;
      }
      if (spec.kind === "q31" && v !== 0 && v < Q31_MIN_NORMAL) fail(field, o, `0 or [${Q31_MIN_NORMAL}, ${INT32_MAX}]`, v);
      if (spec.kind === "shift") inRange(field, o, v, SHIFT_MIN, SHIFT_MAX);
    }
  }

  const stored = u32(H_CRC);
  const actual = crc32(image, H_CRC + 4);
  if (stored !== actual) fail("crc32", H_CRC, `${hex(actual)} (CRC-32 of bytes ${H_CRC + 4}..${input.length})`, hex(stored));
  const inputFeatures = inputArrays.in_scales ? { scale: inputArrays.in_scales, offset: inputArrays.in_offsets } : null;
  return { model: inputFeatures ? { layers, inputFeatures } : { layers }, image, sections };
}
