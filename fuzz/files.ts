// The fuzzer's file kinds other than .rgm (fuzz/core.ts runs them): safetensors checkpoints and state_dicts,
// ONNX graphs (with external data), target profiles, .npy/.npz/.csv/IDX data files, data bombs (deflated npz
// members declaring gigabytes, CSV line bombs) and labels through every reader, read for a model or not. Each case
// builds a valid seed, mutates it (bytes, or the structure: JSON header, protobuf graph, zip fields) and runs the
// real entry point. It must end in a UserError of one printable line, or an accepted value that passes the
// kind's oracle (an independent decode where one exists, else invariants the consumers rely on).
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants as zlibConstants, crc32 as zcrc32, deflateRawSync } from "node:zlib";
import onnxProto from "onnx-proto";
import type { onnx } from "onnx-proto";
import { readProfile } from "../sim/profile.ts";
import { crc32 } from "../runtime/src/crc32.ts";
import { CSV_MAX_LINE_BYTES, loadDataset, MAX_LABEL, readerStats, resetReaderStats, writeNpy, type DataSpec, type NpyDtype } from "../toolchain/data/index.ts";
import { checkpointTensors } from "../toolchain/import/float-checkpoint.ts";
import { importOnnx } from "../toolchain/import/onnx.ts";
import { importSafetensors } from "../toolchain/import/state-dict.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { Rng } from "../toolchain/model/random.ts";
import { writeSafetensors } from "../toolchain/io/safetensors-file.ts";
import { syntheticFloat } from "../toolchain/model/synthetic.ts";

const { ModelProto } = onnxProto.onnx;
export const FILE_KINDS = ["safetensors", "onnx", "onnx-external", "profile", "npy", "npz", "csv", "idx", "data-bomb", "labels"] as const;
export type FileKind = (typeof FILE_KINDS)[number];

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)];
const ROOT = new URL("../", import.meta.url);
const readRepo = (p: string) => new Uint8Array(readFileSync(new URL(p, ROOT)));

/** Nasty strings: control characters, ANSI escapes, long, deep, unicode. */
const NASTY = ["\u001b[31mred\u001b[0m", "a\nb", "\r\n", "\u0000", "\u202e", "x".repeat(5000), "é", "\ud800", "../../etc/passwd", "/etc/passwd", "", " ", "%s%n", "\"\\"];

/** A scratch folder per process, for the kinds whose entry point takes a path. */
let scratch: string | null = null;
const dir = () => (scratch ??= mkdtempSync(join(tmpdir(), "rankgate-fuzz-")));

// ---- byte-level mutations shared by every kind
export function mutateBytes(rng: Rng, b: Uint8Array): { bytes: Uint8Array; what: string } {
  const k = rng.int(0, 9);
  const at = () => rng.int(0, Math.max(0, b.length - 1));
  if (b.length === 0) return { bytes: Uint8Array.from({ length: rng.int(1, 64) }, () => rng.int(0, 255)), what: "random" };
  if (k < 3) {
    const r = b.slice(), n = rng.int(1, 8);
    for (let i = 0; i < n; i++) r[at()] ^= 1 << rng.int(0, 7);
    return { bytes: r, what: `bitflips(${n})` };
  }
  if (k < 5) {
    const r = b.slice(), n = rng.int(1, 4);
    for (let i = 0; i < n; i++) r[at()] = pick(rng, [0, 0xff, 0x7f, 0x80, 0x22, 0x5b, 0x7b, 0x1b, 0x0a, rng.int(0, 255)]);
    return { bytes: r, what: `bytes(${n})` };
  }
  if (k < 7) {
    const n = rng.next() < 0.3 ? pick(rng, [0, 1, 7, 8, 9, 10, 11, 12, 16, 64]) : at();
    return { bytes: b.slice(0, n), what: `truncate(${n})` };
  }
  if (k < 8) {
    const n = rng.int(1, 200), r = new Uint8Array(b.length + n);
    r.set(b);
    for (let i = b.length; i < r.length; i++) r[i] = rng.int(0, 255);
    return { bytes: r, what: `extend(${n})` };
  }
  if (k < 9) {
    // Copy a chunk over another place
    const from = at(), to = at(), n = rng.int(1, 64), r = b.slice();
    r.set(b.subarray(from, Math.min(b.length, from + n)).subarray(0, Math.max(0, r.length - to)), to);
    return { bytes: r, what: `copy(${from}→${to},${n})` };
  }
  const i = at(), n = rng.int(1, 32);
  return { bytes: Uint8Array.from([...b.subarray(0, i), ...b.subarray(i + n)]), what: `cut(${i},${n})` };
}

// ---- oracles
/** A FloatModel the quantizer can take: chained sizes, arrays of the right length, finite numbers. */
export function checkFloatModel(m: FloatModel): string | null {
  if (!Array.isArray(m.layers) || m.layers.length < 1) return "no layers";
  for (let l = 0; l < m.layers.length; l++) {
    const L = m.layers[l];
    if (!(Number.isInteger(L.nIn) && L.nIn >= 1 && Number.isInteger(L.nOut) && L.nOut >= 1)) return `layers[${l}] sizes ${L.nIn}×${L.nOut}`;
    if (l > 0 && L.nIn !== m.layers[l - 1].nOut) return `layers[${l}].nIn ${L.nIn} ≠ previous nOut ${m.layers[l - 1].nOut}`;
    if (!(L.weight instanceof Float32Array) || L.weight.length !== L.nIn * L.nOut) return `layers[${l}].weight length ${L.weight?.length}`;
    if (!(L.bias instanceof Float32Array) || L.bias.length !== L.nOut) return `layers[${l}].bias length ${L.bias?.length}`;
    if (!L.weight.every(Number.isFinite) || !L.bias.every(Number.isFinite)) return `layers[${l}] holds a non-finite weight or bias`;
    if (L.gate) {
      const blocks = Math.ceil(L.nOut / L.gate.blockSize);
      if (L.gate.weight.length !== blocks * L.nIn || L.gate.bias.length !== blocks) return `layers[${l}].gate shapes`;
      if (!L.gate.weight.every(Number.isFinite) || !L.gate.bias.every(Number.isFinite)) return `layers[${l}].gate non-finite`;
    }
    if (L.estimator) {
      const e = L.estimator;
      if (e.at.length !== e.rank * L.nIn || e.bt.length !== L.nOut * e.rank || e.offset.length !== L.nOut) return `layers[${l}].estimator shapes`;
      if (![...e.at, ...e.bt, ...e.offset].every(Number.isFinite)) return `layers[${l}].estimator non-finite`;
    }
  }
  return null;
}

/**
 * Independent decode of a rankgate checkpoint: every `layers.{i}.weight|bias` stored as F32 in the header
 * (parsed here with JSON.parse) must equal the model's arrays, byte for byte.
 */
function checkCheckpointReference(bytes: Uint8Array, m: FloatModel): string | null {
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const meta = (header as Record<string, unknown>).__metadata__ as Record<string, string> | undefined;
  if (!meta?.format?.includes("rankgate")) return null;
  for (let l = 0; l < m.layers.length; l++) {
    for (const [key, got] of [[`layers.${l}.weight`, m.layers[l].weight], [`layers.${l}.bias`, m.layers[l].bias]] as const) {
      const t = header[key];
      if (!t || t.dtype !== "F32") continue;
      const [a, z] = t.data_offsets;
      const raw = bytes.subarray(8 + len + a, 8 + len + z);
      const want = new Float32Array(raw.slice().buffer);
      if (want.length !== got.length || want.some((v, i) => !Object.is(v, got[i]))) return `${key} differs from the bytes at its data_offsets`;
    }
  }
  return null;
}

// ---- seeds
function floatModel(rng: Rng, extra: "none" | "gate" | "est"): FloatModel {
  const sizes = [rng.int(1, 12), rng.int(1, 10), rng.int(1, 6)];
  const m = syntheticFloat(rng, sizes);
  const l = m.layers[0];
  const vec = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  if (extra === "gate") {
    const blocks = rng.int(1, l.nOut);
    l.gate = { blockSize: Math.ceil(l.nOut / blocks), weight: vec(Math.ceil(l.nOut / Math.ceil(l.nOut / blocks)) * l.nIn), bias: vec(Math.ceil(l.nOut / Math.ceil(l.nOut / blocks))) };
  } else if (extra === "est") {
    const rank = rng.int(1, Math.min(l.nIn, l.nOut));
    l.estimator = { rank, at: vec(rank * l.nIn), bt: vec(l.nOut * rank), offset: vec(l.nOut) };
  }
  return m;
}

const FIXTURES = {
  safetensors: ["torch-seq.safetensors", "torch-named.safetensors", "numpy.safetensors"],
  onnx: ["keras.onnx", "skl2onnx.onnx", "torch-flatten-bn-softmax.onnx", "torch-normalize-logsoftmax.onnx", "torch-tanh.onnx"],
};
const fixtureCache = new Map<string, Uint8Array>();
const fixture = (name: string) => {
  let b = fixtureCache.get(name);
  if (!b) fixtureCache.set(name, (b = readRepo(`test/fixtures/exporters/${name}`)));
  return b;
};

// ---- safetensors
function safetensorsHeader(b: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const len = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + len))), data: b.subarray(8 + len) };
}
function safetensorsBytes(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const text = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

function mutateSafetensorsHeader(rng: Rng, b: Uint8Array): { bytes: Uint8Array; what: string } {
  const { header, data } = safetensorsHeader(b);
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const name = pick(rng, names);
  const t = header[name] as { dtype: string; shape: number[]; data_offsets: number[] };
  const k = rng.int(0, 13);
  let what: string;
  if (k === 0) {
    // Keep only one kind of a layer's tensors: gate.* or est.* without the weight
    const l = rng.int(0, 2);
    for (const n of names) if (n.startsWith(`layers.${l}.`) && !/\.(gate|est)\./.test(n)) delete header[n];
    what = `layers.${l}: only gate/est`;
  } else if (k === 1) {
    delete header[name];
    what = `delete ${name}`;
  } else if (k === 2) {
    t.dtype = pick(rng, ["F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL", "F32", "", "f32"]);
    what = `${name}.dtype=${t.dtype}`;
  } else if (k === 3) {
    t.shape = pick(rng, [[], [0], [1], [2 ** 31], [65536, 65536], [-1, 3], [1.5], [...t.shape, 1], t.shape.slice(1), [t.shape[0], 0], [1e308]]);
    what = `${name}.shape=${JSON.stringify(t.shape)}`;
  } else if (k === 4) {
    const v = pick(rng, [0, -1, 1, 2 ** 53, 1e300, 0.5, data.length, data.length + 4, t.data_offsets[0] + 1]);
    t.data_offsets[rng.int(0, 1)] = v;
    what = `${name}.data_offsets=${JSON.stringify(t.data_offsets)}`;
  } else if (k === 5) {
    const bad = pick(rng, NASTY);
    header[bad] = t;
    delete header[name];
    what = `rename ${name} → nasty`;
  } else if (k === 6) {
    const d = pick(rng, [4, 50, 20000]);
    const deep = "[".repeat(d) + "]".repeat(d);
    return { bytes: safetensorsBytes(null, data, JSON.stringify(header).replace(/^\{/, `{"deep":${deep},`)), what: `nested ${d}` };
  } else if (k === 7) {
    const n = pick(rng, [10, 10000, 300000]);
    return { bytes: safetensorsBytes(null, data, JSON.stringify(header).replace(/^\{/, `{"many":[${"[],".repeat(n)}[]],`)), what: `${n} empty arrays` };
  } else if (k === 8) {
    header.__metadata__ = pick(rng, [{ format: "x".repeat(rng.int(0, 100000)) }, { format: NASTY[rng.int(0, NASTY.length - 1)] }, [], null, 7, { a: { b: 1 } }, { activation: "tanh" }, { activation: "relu" }]);
    what = "metadata";
  } else if (k === 9) {
    (header as Record<string, unknown>)[name] = pick(rng, [null, [], "x", 7, {}, { dtype: "F32" }, { ...t, extra: 1 }]);
    what = `${name}=odd`;
  } else if (k === 10) {
    // Header length beyond the file, or a huge one
    const out = b.slice();
    new DataView(out.buffer).setBigUint64(0, pick(rng, [0n, 1n, 2n ** 63n, BigInt(b.length), 17n * 1024n * 1024n, 2n ** 64n - 1n]), true);
    return { bytes: out, what: "header length" };
  } else if (k === 11) {
    // Duplicate keys (JSON keeps the last)
    const text = JSON.stringify(header).replace(/^\{/, `{${JSON.stringify(name)}:${JSON.stringify({ ...t, shape: [1] })},`);
    return { bytes: safetensorsBytes(null, data, text), what: `duplicate ${name}` };
  } else if (k === 12) {
    // Module names in an odd order / sequence naming
    const renamed: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(header)) renamed[key.replace(/^layers\.(\d+)\./, (_, i) => `${pick(rng, ["fc", "", "net.", "0."])}${Number(i) * rng.int(1, 3)}.`)] = v;
    return { bytes: safetensorsBytes(renamed, data), what: "renamed modules" };
  } else {
    t.data_offsets = [t.data_offsets[0], t.data_offsets[0]];
    what = `${name} empty`;
  }
  return { bytes: safetensorsBytes(header, data), what };
}

// ---- ONNX
function onnxMutate(rng: Rng, b: Uint8Array): { bytes: Uint8Array; what: string } {
  const m = ModelProto.decode(b);
  const g = m.graph!;
  const nodes = g.node ?? [];
  const inits = g.initializer ?? [];
  const k = rng.int(0, 13);
  let what = "";
  const input = g.input?.[0]?.name ?? "input";
  if (k === 0 && nodes.length) {
    const n = pick(rng, nodes);
    n.opType = pick(rng, ["Gemm", "MatMul", "Relu", "Add", "Transpose", "Tanh", "Sigmoid", "Conv", "Identity", "Reshape", "Flatten", "Softmax", "", "\u001b[2J"]);
    what = `op ${n.opType}`;
  } else if (k === 1 && inits.length) {
    const t = pick(rng, inits);
    t.dims = pick(rng, [[], [0], [2 ** 31, 2 ** 31], [1], [...(t.dims ?? []), 1], (t.dims ?? []).slice().reverse(), [-1, 4]]);
    what = `dims ${JSON.stringify(t.dims)}`;
  } else if (k === 2 && inits.length) {
    const t = pick(rng, inits);
    if (t.rawData && t.rawData.length) t.rawData = t.rawData.subarray(0, rng.int(0, t.rawData.length - 1));
    else t.floatData = (t.floatData ?? []).slice(0, rng.int(0, (t.floatData ?? []).length));
    what = "short tensor data";
  } else if (k === 3 && inits.length) {
    const t = pick(rng, inits);
    t.dataType = pick(rng, [0, 2, 6, 7, 10, 11, 16, 99]);
    what = `dataType ${t.dataType}`;
  } else if (k === 4 && inits.length) {
    // Transpose bomb: many Transposes of one initializer, all consumed
    const t = pick(rng, inits);
    const count = pick(rng, [2, 30, 300]);
    let prev = t.name!;
    for (let i = 0; i < count; i++) {
      const out = `tb${i}`;
      nodes.unshift({ opType: "Transpose", input: [prev], output: [out], name: `t${i}` });
      prev = out;
    }
    for (const n of nodes) n.input = (n.input ?? []).map((x) => (x === t.name && !n.name?.startsWith("t") ? prev : x));
    what = `${count} Transposes`;
  } else if (k === 5) {
    // Many readers of the input
    const count = pick(rng, [10, 2000, 20000]);
    for (let i = 0; i < count; i++) nodes.push({ opType: "Relu", input: [input], output: [`r${i}`] });
    what = `${count} readers`;
  } else if (k === 6 && nodes.length) {
    const n = pick(rng, nodes);
    const bad = pick(rng, NASTY);
    const old = n.output?.[0];
    if (old) for (const x of nodes) x.input = (x.input ?? []).map((i) => (i === old ? bad : i));
    if (n.output?.length) n.output[0] = bad;
    n.name = bad;
    what = "nasty node name";
  } else if (k === 7 && inits.length) {
    const t = pick(rng, inits);
    const bad = pick(rng, NASTY);
    for (const x of nodes) x.input = (x.input ?? []).map((i) => (i === t.name ? bad : i));
    t.name = bad;
    what = "nasty initializer name";
  } else if (k === 8 && nodes.length) {
    nodes.splice(rng.int(0, nodes.length - 1), 1);
    what = "node removed";
  } else if (k === 9 && nodes.length) {
    const n = pick(rng, nodes);
    nodes.splice(rng.int(0, nodes.length), 0, { ...n });
    what = "node duplicated";
  } else if (k === 10 && nodes.length) {
    const n = pick(rng, nodes);
    n.attribute = [...(n.attribute ?? []), { name: pick(rng, ["transA", "transB", "alpha", "beta", "axis", "perm", "epsilon", "to"]), type: pick(rng, [1, 2, 7]), i: pick(rng, [0, 1, -1, 2 ** 40]) as never, f: pick(rng, [0, NaN, Infinity, 1e-30]), ints: [1, 0, 2] as never }];
    what = "attribute";
  } else if (k === 11) {
    // A cycle
    if (nodes.length >= 2) {
      nodes[0].input = [...(nodes[0].input ?? []), nodes[nodes.length - 1].output?.[0] ?? "x"];
      what = "cycle";
    } else what = "no cycle";
  } else if (k === 12 && inits.length) {
    const t = pick(rng, inits);
    const f = t.rawData && t.rawData.length ? new Float32Array(t.rawData.slice().buffer) : Float32Array.from(t.floatData ?? []);
    if (f.length) f[rng.int(0, f.length - 1)] = pick(rng, [NaN, Infinity, -Infinity, 3.4e38]);
    t.rawData = new Uint8Array(f.buffer);
    t.floatData = [];
    what = "non-finite weight";
  } else {
    g.input = pick(rng, [[], [...(g.input ?? []), ...(g.input ?? [])], g.input ?? []]);
    what = `inputs ${g.input.length}`;
  }
  return { bytes: ModelProto.encode(m).finish(), what };
}

function onnxExternal(rng: Rng): { bytes: Uint8Array; what: string; base: string } {
  const m = ModelProto.decode(fixture("dynamo.onnx"));
  const data = fixture("dynamo.onnx.data");
  const base = join(dir(), "ext");
  mkdirSync(base, { recursive: true });
  writeFileSync(join(base, "dynamo.onnx.data"), data);
  const inits = (m.graph!.initializer ?? []).filter((t) => t.dataLocation === 1);
  let what = "unchanged";
  if (inits.length && rng.next() < 0.85) {
    const t = pick(rng, inits);
    const entry = pick(rng, t.externalData ?? []);
    if (entry) {
      const k = rng.int(0, 3);
      if (k === 0) entry.value = pick(rng, ["../../../etc/passwd", "/etc/passwd", "nope.data", "", "dynamo.onnx.data\u0000x", base, "..", "\u001b[31m.data", "x".repeat(3000)]);
      else if (k === 1 && entry.key === "offset") entry.value = String(pick(rng, [-1, 2 ** 53, data.length, data.length - 4, 1e300, 3]));
      else if (k === 2 && entry.key === "length") entry.value = String(pick(rng, [0, -1, 2 ** 40, data.length + 1, 3]));
      else entry.value = pick(rng, ["", "abc", "1e3", "0x10"]);
      what = `external ${entry.key}=${JSON.stringify(entry.value).slice(0, 40)}`;
    }
  }
  return { bytes: ModelProto.encode(m).finish(), what, base };
}

// ---- data files
function npySeed(rng: Rng): { bytes: Uint8Array; values: number[]; shape: number[] } {
  const rows = rng.int(1, 6), cols = rng.int(1, 5);
  const dtype = pick(rng, ["f4", "f8", "u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8", "f2"] as const) as Exclude<NpyDtype, "b1">;
  const values = Array.from({ length: rows * cols }, () => (dtype.startsWith("f") ? Math.round(rng.normal() * 100) / 4 : rng.int(0, 100)));
  const shape = rng.next() < 0.2 ? [rows * cols] : [rows, cols];
  return { bytes: writeNpy(values, shape, dtype, rng.next() < 0.85), values, shape };
}

function mutateNpyHeader(rng: Rng, b: Uint8Array): { bytes: Uint8Array; what: string } {
  const text = new TextDecoder("latin1").decode(b);
  const k = rng.int(0, 4);
  let t = text;
  if (k === 0) t = text.replace(/'shape': \([^)]*\)/, `'shape': (${pick(rng, ["2**40", "4294967296, 4294967296", "-1,", "0,", "", "3, 0", "1e3,", "99999999999999999999,"])})`);
  else if (k === 1) t = text.replace(/'descr': '[^']*'/, `'descr': '${pick(rng, ["<f16", "|O", "<U8", ">f4", "<c8", "|V4", "<f4", "|b1", "<M8", "x"])}'`);
  else if (k === 2) t = text.replace(/'fortran_order': \w+/, `'fortran_order': ${pick(rng, ["True", "1", "None", "'x'"])}`);
  else if (k === 3) t = text.replace(/\{/, `{${"'a': (".repeat(rng.int(1, 3000))}`);
  else t = text.replace(/\}/, `, 'x': '${"\u001b".repeat(3)}'}`);
  const out = new Uint8Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = t.charCodeAt(i) & 0xff;
  return { bytes: out, what: `npy header ${k}` };
}

/** A member given by its compressed body (a bomb is never materialised): size and CRC as declared. */
interface RawMember { name: string; body: Uint8Array; size: number; crc: number; deflate: true }

/** A zip of .npy members (stored or deflated), as np.savez writes. */
function zip(members: ({ name: string; data: Uint8Array; deflate: boolean } | RawMember)[]): Uint8Array {
  const parts: Uint8Array[] = [], central: Uint8Array[] = [];
  let offset = 0;
  for (const m of members) {
    const name = new TextEncoder().encode(m.name);
    const raw = "body" in m;
    const body = raw ? m.body : m.deflate ? new Uint8Array(deflateRawSync(m.data)) : m.data;
    const crc = raw ? m.crc : crc32(m.data, 0);
    const size = raw ? m.size : m.data.length;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(8, m.deflate ? 8 : 0, true);
    lv.setUint32(14, crc, true); lv.setUint32(18, body.length, true); lv.setUint32(22, size, true); lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const c = new Uint8Array(46 + name.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true); cv.setUint16(10, m.deflate ? 8 : 0, true);
    cv.setUint32(16, crc, true); cv.setUint32(20, body.length, true); cv.setUint32(24, size, true); cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    c.set(name, 46);
    parts.push(local, body);
    central.push(c);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((t, c) => t + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, members.length, true); ev.setUint16(10, members.length, true);
  ev.setUint32(12, cdSize, true); ev.setUint32(16, offset, true);
  const all = [...parts, ...central, end];
  const out = new Uint8Array(all.reduce((t, p) => t + p.length, 0));
  let at = 0;
  for (const p of all) { out.set(p, at); at += p.length; }
  return out;
}

/** A .npy header for `shape` (any dtype descr), padded as numpy pads it. */
export function npyHeader(shape: number[], descr: string): Uint8Array {
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  h = h.padEnd(h.length + ((64 - ((10 + h.length + 1) % 64)) % 64), " ") + "\n";
  const out = new Uint8Array(10 + h.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, h.length, true);
  for (let i = 0; i < h.length; i++) out[10 + i] = h.charCodeAt(i);
  return out;
}

const BOMB_CHUNK = 1 << 24;
let bombChunk: Uint8Array | null = null;
/**
 * A deflated member that inflates to a .npy header for `shape` and zeros: the header's block, then one
 * deflated 16 MiB block of zeros (~16 KB) repeated, then an empty final block; a few hundred KB declare up
 * to gigabytes. The CRC is the true one only for members up to 256 MiB (a reader must refuse the others
 * before inflating them, and a wrong CRC would then show).
 */
function bombMember(name: string, shape: number[], dtype: "u1" | "f4" | "f8"): RawMember {
  const item = dtype === "u1" ? 1 : dtype === "f4" ? 4 : 8;
  const head = npyHeader(shape, dtype === "u1" ? "|u1" : `<${dtype}`);
  const size = head.length + shape.reduce((a, b) => a * b, 1) * item;
  const sync = { finishFlush: zlibConstants.Z_SYNC_FLUSH, level: 9 };
  bombChunk ??= deflateRawSync(new Uint8Array(BOMB_CHUNK), sync);
  const exact = size <= 256 << 20;
  const parts: Uint8Array[] = [deflateRawSync(head, sync)];
  let crc = zcrc32(head), left = size - head.length;
  const zeros = exact ? new Uint8Array(Math.min(left, BOMB_CHUNK)) : null;
  for (; left >= BOMB_CHUNK; left -= BOMB_CHUNK) { parts.push(bombChunk); if (zeros) crc = zcrc32(zeros, crc); }
  if (left > 0) { const z = new Uint8Array(left); parts.push(deflateRawSync(z, sync)); if (zeros) crc = zcrc32(z, crc); }
  parts.push(Uint8Array.from([3, 0]));
  return { name, body: Buffer.concat(parts), size, crc: exact ? crc : 0, deflate: true };
}

/** The model a data case is read for (half the cases: none, as train reads data). */
const FUZZ_MODEL = { features: 8, classes: 4, consumer: "fuzz.rgm" };

/** Deflate bombs (npz, shapes that fit the model, do not, or sit at the element limit) and CSV line bombs. */
function dataBombCase(rng: Rng): FileCase {
  const expect = rng.next() < 0.5;
  const k = rng.int(0, 9);
  let bytes: Uint8Array, file = "bomb.npz", what: string;
  if (k < 6) {
    const shape = pick(rng, [[1024, 262_144], [2 ** 27, 8], [2 ** 30, 1], [1 << 18, 8], [4096, 8], [rng.int(1, 2000), 8], [rng.int(1, 50), rng.int(1, 4000)], [2 ** 24, 8, 8]]);
    const dtype = pick(rng, ["u1", "f4", "f8"] as const);
    const members: (RawMember | { name: string; data: Uint8Array; deflate: boolean })[] = [bombMember("x.npy", shape, dtype)];
    if (rng.next() < 0.3) members.push(rng.next() < 0.5 ? bombMember("y.npy", [pick(rng, [shape[0], 2 ** 26])], "u1") : { name: "y.npy", data: writeNpy(Array.from({ length: Math.min(shape[0], 4096) }, (_, i) => i % 4), [Math.min(shape[0], 4096)], "u1"), deflate: true });
    bytes = zip(members);
    what = `npz bomb ${shape.join("×")} ${dtype}`;
  } else {
    file = "bomb.csv";
    const kind = rng.int(0, 3);
    const width = pick(rng, [2, 8, 9]);
    const row = Array.from({ length: width }, (_, i) => (i === width - 1 && width === 9 ? "1" : "0.5")).join(",") + "\n";
    const text = kind === 0 ? "1,".repeat(CSV_MAX_LINE_BYTES / 2 + rng.int(1, 100)) + "1\n"
      : kind === 1 ? row.repeat(rng.int(1, 200_000))
      : kind === 2 ? row.repeat(rng.int(1, 1000)) + "2,".repeat(CSV_MAX_LINE_BYTES / 2 + 8) + "\n"
      : (width === 9 ? Array.from({ length: 8 }, (_, i) => `f${i}`).join(",") + ",label\n" : "") + row.repeat(rng.int(1, 50_000));
    bytes = new TextEncoder().encode(text);
    what = `csv bomb ${kind} width ${width}`;
  }
  return {
    what: `${what}${expect ? " for fuzz.rgm" : ""}`, bytes: bytes.length,
    run: () => {
      const p = join(dir(), file);
      writeFileSync(p, bytes);
      resetReaderStats();
      let d;
      try {
        d = loadDataset({ data: p, ...(expect ? FUZZ_MODEL : {}) });
      } catch (e) {
        // Refused: before the work (a bomb is never inflated whole on the way to a refusal)
        if (readerStats.bytesInflated > 16 << 20) return `refused after inflating ${readerStats.bytesInflated} bytes`;
        throw e;
      }
      return checkDataset(d, expect ? FUZZ_MODEL : {});
    },
  };
}

/** Labels through every reader: in range, ≥ the model's outputs, negative, fractional, |b1 bytes, huge. */
function labelsCase(rng: Rng): FileCase {
  const n = rng.int(1, 12), width = rng.int(1, 5);
  const spec: Partial<DataSpec> = rng.next() < 0.7 ? { classes: rng.int(1, 12), consumer: "fuzz.rgm" } : {};
  const x = Array.from({ length: n * width }, () => rng.int(-50, 50) / 4);
  const pool = [0, 1, 2, 3, 9, 10, 11, 255, 256, 65_535, 65_536, -1, 0.5, 2 ** 31, 1e300];
  const y = Array.from({ length: n }, () => (rng.next() < 0.85 ? rng.int(0, 11) : pick(rng, pool)));
  const reader = pick(rng, ["npz", "npy", "idx", "csv", "b1"] as const);
  const files: [string, Uint8Array][] = [];
  let data: DataSpec;
  let expected = y;
  if (reader === "npz") {
    const dt = y.every(Number.isInteger) && y.every((v) => Math.abs(v) < 2 ** 31) ? pick(rng, ["i8", "i4"] as const) : "f8";
    files.push(["l.npz", zip([{ name: "x.npy", data: writeNpy(x, [n, width]), deflate: rng.next() < 0.5 }, { name: "y.npy", data: writeNpy(y, [n], dt), deflate: rng.next() < 0.5 }])]);
    data = { data: "l.npz" };
  } else if (reader === "npy" || reader === "b1") {
    let yb: Uint8Array;
    if (reader === "b1") {
      expected = y.map((v) => (v & 0xff) === 0 ? 0 : 1);
      yb = writeNpy(y.map((v) => (Number.isInteger(v) ? v & 0xff : 1)), [n], "u1");
      const at = new TextDecoder("latin1").decode(yb).indexOf("|u1");
      yb.set(new TextEncoder().encode("|b1"), at);
      expected = y.map((v) => (Number.isInteger(v) ? v & 0xff : 1) === 0 ? 0 : 1);
    } else yb = writeNpy(y, [n], y.every(Number.isInteger) && y.every((v) => Math.abs(v) < 2 ** 31) ? "i8" : "f8");
    files.push(["x.npy", writeNpy(x, [n, width])], ["y.npy", yb]);
    data = { data: "x.npy", labels: "y.npy" };
  } else if (reader === "idx") {
    const idx = (dims: number[], v: number[]) => {
      const b = new Uint8Array(4 + 4 * dims.length + v.length);
      b[2] = 8; b[3] = dims.length;
      dims.forEach((d, i) => new DataView(b.buffer).setUint32(4 + 4 * i, d, false));
      b.set(v.map((t) => t & 0xff), 4 + 4 * dims.length);
      return b;
    };
    expected = y.map((v) => (Number.isInteger(v) ? v & 0xff : 0));
    files.push(["x-idx", idx([n, width], x.map((v) => Math.abs(Math.round(v))))], ["y-idx", idx([n], expected)]);
    data = { data: "x-idx", labels: "y-idx" };
  } else {
    const rows = y.map((v, r) => [...x.slice(r * width, (r + 1) * width), v].join(","));
    files.push(["l.csv", new TextEncoder().encode([...Array.from({ length: width }, (_, i) => `f${i}`), "label"].join(",") + "\n" + rows.join("\n") + "\n")]);
    data = { data: "l.csv" };
  }
  const max = spec.classes !== undefined ? spec.classes - 1 : MAX_LABEL;
  const allowed = expected.every((v) => Number.isInteger(v) && v >= 0 && v <= max);
  return {
    what: `labels via ${reader} [${y.join(",")}] for ${spec.classes ?? "no"} classes`, bytes: files.reduce((t, [, b]) => t + b.length, 0),
    run: () => {
      for (const [name, b] of files) writeFileSync(join(dir(), name), b);
      const d = loadDataset({ ...spec, data: join(dir(), data.data), ...(data.labels && { labels: join(dir(), data.labels) }) });
      if (!allowed) return `accepted labels [${expected.join(",")}] outside 0..${max}`;
      if (!d.labels || d.labels.join(",") !== expected.join(",")) return `labels read as [${d.labels?.join(",")}], written [${expected.join(",")}]`;
      return checkDataset(d, spec);
    },
  };
}

function csvSeed(rng: Rng): string {
  const rows = rng.int(1, 8), cols = rng.int(1, 5);
  const header = rng.next() < 0.5 ? Array.from({ length: cols }, (_, c) => (c === cols - 1 ? "label" : `f${c}`)).join(",") + "\n" : "";
  const body = Array.from({ length: rows }, () => Array.from({ length: cols }, (_, c) => (c === cols - 1 ? String(rng.int(0, 9)) : (rng.normal() * 10).toFixed(rng.int(0, 4)))).join(",")).join(rng.next() < 0.2 ? "\r\n" : "\n");
  return header + body + (rng.next() < 0.5 ? "\n" : "");
}

function mutateCsvText(rng: Rng, t: string): string {
  const k = rng.int(0, 7);
  if (k === 0) return t.replace(/[0-9.]+/, pick(rng, ["NaN", "Infinity", "1e309", "-1e40", "0x10", "1_000", "", " ", "\"3\"", "\"a\nb\"", "--1", "1e-400"]));
  if (k === 1) return t + Array.from({ length: rng.int(1, 3) }, () => "1,".repeat(rng.int(1, 5000))).join("\n");
  if (k === 2) return "\ufeff" + t;
  if (k === 3) return t.replace(/\n/g, pick(rng, ["\r", "\n\n", "\n,\n", ";"]));
  if (k === 4) return t.replace(/label/, pick(rng, NASTY));
  if (k === 5) return "\"" + t;
  if (k === 6) return t.replace(/,(\d+)\n/, `,${pick(rng, ["-1", "65536", "1.5", "1e9", "70000"])}\n`);
  return t.replace(/,/g, pick(rng, [",", ",,", "\t"]));
}

function idxSeed(rng: Rng): Uint8Array {
  const dims = rng.next() < 0.3 ? [rng.int(1, 5)] : [rng.int(1, 5), rng.int(1, 4), rng.int(1, 4)];
  const n = dims.reduce((a, c) => a * c, 1);
  const b = new Uint8Array(4 + 4 * dims.length + n);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x0800 | dims.length);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d));
  for (let i = 0; i < n; i++) b[4 + 4 * dims.length + i] = rng.int(0, 255);
  return b;
}

/** Invariants of an accepted dataset (with `expect`: the model's width and label range). */
function checkDataset(d: ReturnType<typeof loadDataset>, expect: Partial<DataSpec> = {}): string | null {
  if (!(d.width >= 1 && Number.isInteger(d.width)) || !(d.count >= 0 && Number.isInteger(d.count))) return `count ${d.count} width ${d.width}`;
  if (expect.features !== undefined && d.width !== expect.features) return `accepted width ${d.width} for a model of ${expect.features} inputs`;
  if (expect.classes !== undefined && d.labels?.some((v) => v >= expect.classes!)) return `accepted a label ≥ ${expect.classes} outputs`;
  if (d.features.length !== d.count * d.width) return `features length ${d.features.length} ≠ ${d.count}×${d.width}`;
  if (!d.features.every(Number.isFinite)) return "non-finite feature";
  if (d.labels && (d.labels.length !== d.count || d.labels.some((v) => !(v >= 0 && v <= MAX_LABEL)))) return "labels";
  if (/[\x00-\x1f\x7f]/.test(d.description)) return "description has a control character";
  return null;
}

export interface FileCase {
  what: string;
  /** Input bytes, for the memory budget. */
  bytes: number;
  /** Runs the entry point; returns a failure (silent acceptance) or null. Throws what the entry point throws. */
  run: () => string | null;
}

/** Case `index` of a file kind: seed, mutation and the run with its oracle. */
export function fileCase(kind: FileKind, rng: Rng): FileCase {
  const mutate = rng.next() < 0.9;
  switch (kind) {
    case "safetensors": {
      let bytes: Uint8Array, what: string;
      const opts = { activation: rng.next() < 0.7 ? "relu" : undefined };
      if (rng.next() < 0.6) {
        const m = floatModel(rng, pick(rng, ["none", "gate", "est"] as const));
        bytes = writeSafetensors(checkpointTensors(m), { format: '"rankgate-float-mlp/1"', activation: "relu" });
        what = "checkpoint";
      } else {
        const f = pick(rng, FIXTURES.safetensors);
        bytes = fixture(f);
        what = f;
      }
      if (mutate) {
        const r = rng.next() < 0.6 ? mutateSafetensorsHeader(rng, bytes) : mutateBytes(rng, bytes);
        bytes = r.bytes;
        what += ` ${r.what}`;
      }
      return {
        what, bytes: bytes.length,
        run: () => {
          const m = importSafetensors(bytes, "f.safetensors", opts);
          let bad = checkFloatModel(m);
          if (!bad) {
            try {
              bad = checkCheckpointReference(bytes, m);
            } catch {
              bad = null; // not JSON for the reference: the importer decided, nothing to compare
            }
          }
          return bad;
        },
      };
    }
    case "onnx": {
      const f = pick(rng, FIXTURES.onnx);
      let bytes = fixture(f), what = f;
      if (mutate) {
        const r = rng.next() < 0.6 ? onnxMutate(rng, bytes) : mutateBytes(rng, bytes);
        bytes = r.bytes;
        what += ` ${r.what}`;
      }
      return { what, bytes: bytes.length, run: () => checkFloatModel(importOnnx(bytes, "m.onnx")) };
    }
    case "onnx-external": {
      const r = onnxExternal(rng);
      let bytes = r.bytes, what = r.what;
      if (rng.next() < 0.2) {
        const b = mutateBytes(rng, bytes);
        bytes = b.bytes;
        what += ` ${b.what}`;
      }
      return { what, bytes: bytes.length + 11128, run: () => checkFloatModel(importOnnx(bytes, join(r.base, "dynamo.onnx"), { baseDir: r.base })) };
    }
    case "profile": {
      const name = pick(rng, ["cortex-m4f", "cortex-m0plus", "esp32-s3", "rv32imc"]);
      const good = JSON.parse(new TextDecoder().decode(readRepo(`sim/targets/${name}.json`)));
      let text: string, what = name;
      if (!mutate) text = JSON.stringify(good);
      else if (rng.next() < 0.6) {
        const k = rng.int(0, 6);
        const sect = pick(rng, ["cycles", "memory", "flash", "power", "sources"]);
        const key = pick(rng, Object.keys(good[sect]));
        if (k === 0) delete good[sect][key];
        else if (k === 1) good[sect][key] = pick(rng, [null, "x".repeat(rng.int(0, 200000)), -1, 0, 1e308, [], {}, true, "\u001b[2J", 0.5]);
        else if (k === 2) good[sect][pick(rng, NASTY)] = 1;
        else if (k === 3) good[pick(rng, ["name", "title", "core", "parts", "clock_hz"])] = pick(rng, [7, "", null, ["\u001b"], "x".repeat(3000)]);
        else if (k === 4) good[sect] = pick(rng, [null, [], 3, "x"]);
        else if (k === 5) {
          const d = pick(rng, [15, 17, 20000]);
          text = JSON.stringify(good).replace(/"title":/, `"title":${"[".repeat(d)}${"]".repeat(d)},"x":`);
          what += ` nested ${d}`;
          return profileCase(name, text, what);
        } else good.sources[pick(rng, Object.keys(good.sources))] = pick(rng, [{ kind: "rumour", cite: "" }, { kind: "datasheet" }, null]);
        text = JSON.stringify(good);
        what += ` ${sect}.${key} (${k})`;
      } else {
        const r = mutateBytes(rng, new TextEncoder().encode(JSON.stringify(good, null, 1)));
        text = new TextDecoder().decode(r.bytes);
        what += ` ${r.what}`;
      }
      return profileCase(name, text, what);
    }
    case "npy": {
      const s = npySeed(rng);
      let bytes = s.bytes, what = "npy";
      if (mutate) {
        const r = rng.next() < 0.4 ? mutateNpyHeader(rng, bytes) : mutateBytes(rng, bytes);
        bytes = r.bytes;
        what += ` ${r.what}`;
      }
      return dataCase(bytes, "x.npy", what, mutate ? null : s.values.map((v) => Math.fround(v)));
    }
    case "npz": {
      const x = npySeed(rng), y = writeNpy(Array.from({ length: x.shape[0] }, () => rng.int(0, 9)), [x.shape[0]], pick(rng, ["i8", "u1", "i4"] as const));
      const members = [{ name: "x.npy", data: x.bytes, deflate: rng.next() < 0.5 }, ...(rng.next() < 0.8 ? [{ name: "y.npy", data: y, deflate: rng.next() < 0.5 }] : [])];
      let what = "npz";
      if (mutate && rng.next() < 0.25) {
        // Deflate bomb: a small member that inflates to far more than its stated size
        members[0] = { name: "x.npy", data: new Uint8Array(pick(rng, [1 << 20, 1 << 22])), deflate: true };
        what += " bomb";
      }
      let bytes = zip(members);
      if (mutate && what === "npz") {
        const r = mutateBytes(rng, bytes);
        bytes = r.bytes;
        what += ` ${r.what}`;
      }
      return dataCase(bytes, "d.npz", what, null);
    }
    case "csv": {
      let text = csvSeed(rng);
      if (mutate) text = mutateCsvText(rng, text);
      let bytes: Uint8Array = new TextEncoder().encode(text);
      if (mutate && rng.next() < 0.2) bytes = mutateBytes(rng, bytes).bytes;
      return dataCase(bytes, "d.csv", "csv", null);
    }
    case "data-bomb":
      return dataBombCase(rng);
    case "labels":
      return labelsCase(rng);
    case "idx": {
      let bytes = idxSeed(rng), what = "idx";
      if (mutate) {
        const r = mutateBytes(rng, bytes);
        bytes = r.bytes;
        what += ` ${r.what}`;
        if (rng.next() < 0.3 && bytes.length >= 8) new DataView(bytes.buffer).setUint32(4, pick(rng, [0, 0xffffffff, 65536, 2 ** 31]));
      }
      return dataCase(bytes, "d.idx", what, null);
    }
  }
}

function profileCase(name: string, text: string, what: string): FileCase {
  return {
    what, bytes: text.length,
    run: () => {
      const p = join(dir(), `${name}.json`);
      writeFileSync(p, text);
      const t = readProfile(p);
      return t.name === name && Number.isFinite(t.clock_hz) && t.clock_hz > 0 ? null : `accepted profile with name ${t.name}, clock ${t.clock_hz}`;
    },
  };
}

function dataCase(bytes: Uint8Array, file: string, what: string, reference: number[] | null): FileCase {
  return {
    what, bytes: bytes.length,
    run: () => {
      const p = join(dir(), file);
      writeFileSync(p, bytes);
      const d = loadDataset({ data: p });
      const bad = checkDataset(d);
      if (bad || !reference) return bad;
      return reference.length === d.features.length && reference.every((v, i) => Object.is(v, d.features[i]) || (v === 0 && d.features[i] === 0)) ? null : "features differ from the values written";
    },
  };
}
