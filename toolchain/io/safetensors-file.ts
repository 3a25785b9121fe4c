import { FormatError, InputError, showName, showValue } from "../../runtime/src/index.ts";

/** Dtypes held in memory; F16, BF16 and F64 files are read as F32, I64 (torch's counters) as I32. */
export type TensorDtype = "F32" | "I8" | "I32";
export type StoredDtype = TensorDtype | "F16" | "BF16" | "F64" | "I64";
export type TensorData = Float32Array | Int8Array | Int32Array;

export interface Tensor {
  dtype: TensorDtype;
  shape: number[];
  data: TensorData;
}

export interface ReadTensor extends Tensor {
  /** The dtype in the file, before any conversion to F32. */
  stored: StoredDtype;
}

export interface Safetensors {
  tensors: Map<string, ReadTensor>;
  metadata: Record<string, string>;
}

/**
 * Largest JSON header the reader accepts, in bytes (16 MiB), checked against the file's header length before
 * anything is decoded. A header describes tensors, not data: 16 MiB holds over 100,000 tensor entries.
 */
export const SAFETENSORS_MAX_HEADER = 16 * 1024 * 1024;
/**
 * Deepest JSON nesting a header may have: the header object, a tensor entry object, its shape array (3).
 * Checked by a byte scan before JSON.parse, so a value nested 20,000 deep costs one linear pass.
 */
export const SAFETENSORS_MAX_JSON_DEPTH = 3;
/**
 * Most JSON values (array elements and object members, counted as commas and brackets by the same byte scan)
 * a header may hold: 1,048,576, about 10 per tensor for 100,000 tensors. Bounds JSON.parse's allocation
 * (a 16 MiB header of `[],[],…` would otherwise build 4 million arrays).
 */
export const SAFETENSORS_MAX_JSON_VALUES = 1 << 20;
export const SAFETENSORS_DTYPE_BYTES: Record<StoredDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I8: 1 };
const ARRAYS = { F32: Float32Array, I8: Int8Array, I32: Int32Array };
const META = "__metadata__";

const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const byName = (a: [string, unknown], b: [string, unknown]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/**
 * Serializes tensors to safetensors bytes: u64 LE header length, JSON header padded with spaces to a multiple
 * of 8, then the data of each tensor in name order. Same input, same bytes (whatever the key order).
 * Typed-array data is written in host byte order, which is little-endian on every platform Node targets here.
 */
export function writeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const entries = Object.entries(tensors).sort(byName);
  const parts: string[] = [];
  if (metadata) {
    const meta = Object.entries(metadata).sort(byName);
    for (const [k, v] of meta) if (typeof v !== "string") throw new InputError(`metadata ${showName(k)} must be a string`);
    parts.push(`${JSON.stringify(META)}:{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`);
  }
  let end = 0;
  for (const [name, t] of entries) {
    if (name === META) throw new InputError(`tensor name ${META} is reserved`);
    if (!Object.hasOwn(ARRAYS, t.dtype) || !(t.data instanceof ARRAYS[t.dtype])) {
      throw new InputError(`tensor ${showName(name)}: dtype ${showValue(t.dtype)} does not match ${showValue(t.data?.constructor?.name)}`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || product(t.shape) !== t.data.length) {
      throw new InputError(`tensor ${showName(name)}: shape ${showValue(t.shape)} does not hold ${t.data.length} elements`);
    }
    const begin = end;
    end += t.data.byteLength;
    parts.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [begin, end] })}`);
  }
  let header = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = Math.ceil(header.length / 8) * 8;
  if (padded !== header.length) {
    const h = new Uint8Array(padded).fill(0x20);
    h.set(header);
    header = h;
  }
  const out = new Uint8Array(8 + header.length + end);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let at = 8 + header.length;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

const f16 = (h: number) => {
  const e = (h >> 10) & 0x1f, m = h & 0x3ff, s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => showValue(v);

/**
 * Nesting depth and value count of JSON text, from its bytes, skipping strings: one linear pass that
 * allocates nothing, run before JSON.parse. Returns the first offset (in `text`) past a limit, or -1.
 */
function jsonBounds(text: Uint8Array): { depth: number; values: number; at: number } {
  let depth = 0, values = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      values++;
      if (++depth > SAFETENSORS_MAX_JSON_DEPTH) return { depth, values, at: i };
    } else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x2c) values++;
    if (values > SAFETENSORS_MAX_JSON_VALUES) return { depth, values, at: i };
  }
  return { depth, values, at: -1 };
}

/**
 * Parses and validates safetensors bytes: header length (<= 100 MB, inside the file), UTF-8 JSON object,
 * each tensor's dtype, shape and data_offsets, no overlaps or holes in the data buffer, string metadata.
 * Errors in the header report the header's start (8) as offset; errors about a tensor's data report the file
 * offset of that data. Tensor data is copied out, so `bytes` may have any alignment.
 * @param source file name used in error messages
 */
export function readSafetensors(bytes: Uint8Array, source: string): Safetensors {
  const fail = (field: string, offset: number, expected: string, actual: string): never => {
    throw new FormatError(field, offset, expected, actual, source);
  };
  if (bytes.length < 8) fail("header_length", 0, ">= 8 bytes of file", `${bytes.length} bytes`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(SAFETENSORS_MAX_HEADER)) fail("header_length", 0, `<= ${SAFETENSORS_MAX_HEADER} (SAFETENSORS_MAX_HEADER)`, String(n64));
  const n = Number(n64);
  if (8 + n > bytes.length) fail("header_length", 0, `<= ${bytes.length - 8} (file size - 8)`, String(n));
  const bounds = jsonBounds(bytes.subarray(8, 8 + n));
  if (bounds.at >= 0) {
    if (bounds.depth > SAFETENSORS_MAX_JSON_DEPTH) fail("header", 8 + bounds.at, `JSON nested at most ${SAFETENSORS_MAX_JSON_DEPTH} deep (SAFETENSORS_MAX_JSON_DEPTH)`, `depth ${bounds.depth}`);
    fail("header", 8 + bounds.at, `at most ${SAFETENSORS_MAX_JSON_VALUES} JSON values (SAFETENSORS_MAX_JSON_VALUES)`, "more");
  }

  // Header
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail("header", 8, "UTF-8 text", "invalid UTF-8");
  }
  if (!text.startsWith("{")) fail("header", 8, 'JSON object starting with "{"', show(text.slice(0, 20)));
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail("header", 8, "valid JSON", showName((e as Error).message, 120));
  }
  if (!isObject(header)) fail("header", 8, "JSON object", show(header));
  const head = header as Record<string, unknown>;

  // Metadata
  const meta = head[META] ?? {};
  if (!isObject(meta)) fail(META, 8, "object of strings", show(meta));
  const metaEntries = Object.entries(meta as Record<string, unknown>);
  for (const [k, v] of metaEntries) if (typeof v !== "string") fail(`${META}[${showName(k)}]`, 8, "string", show(v));
  const metadata = Object.fromEntries(metaEntries) as Record<string, string>;

  // Entries
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const infos: { name: string; stored: StoredDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(head)) {
    if (name === META) continue;
    const f = `tensors[${showName(name)}]`;
    if (!isObject(entry)) fail(f, 8, "object with dtype, shape, data_offsets", show(entry));
    const { dtype, shape, data_offsets: offs } = entry as Record<string, unknown>;
    if (typeof dtype !== "string" || !Object.hasOwn(SAFETENSORS_DTYPE_BYTES, dtype)) {
      fail(`${f}.dtype`, 8, `one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(", ")}`, show(dtype));
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${f}.shape`, 8, "array of non-negative integers", show(shape));
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`${f}.data_offsets`, 8, "[begin, end] of non-negative integers", show(offs));
    }
    const [begin, end] = offs as number[];
    if (begin > end) fail(`${f}.data_offsets`, dataStart + begin, `begin <= end (${end})`, `begin ${begin}`);
    if (end > dataLen) fail(`${f}.data_offsets`, dataStart + begin, `end <= ${dataLen} (data buffer size)`, `end ${end}`);
    const size = product(shape as number[]) * SAFETENSORS_DTYPE_BYTES[dtype as StoredDtype];
    if (size !== end - begin) {
      fail(`${f}.data_offsets`, dataStart + begin, `${size} bytes (${dtype} ${show(shape)})`, `${end - begin} bytes`);
    }
    infos.push({ name, stored: dtype as StoredDtype, shape: shape as number[], begin, end });
  }

  // Coverage: sorted spans must tile the data buffer exactly
  let cursor = 0;
  for (const s of [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    const f = `tensors[${showName(s.name)}].data_offsets`;
    if (s.begin < cursor) fail(f, dataStart + s.begin, `begin >= ${cursor} (no overlap)`, `begin ${s.begin}`);
    if (s.begin > cursor) fail(f, dataStart + cursor, `begin ${cursor} (no hole before it)`, `begin ${s.begin}`);
    cursor = s.end;
  }
  if (cursor !== dataLen) fail("data", dataStart + cursor, `${cursor} bytes (covered by tensors)`, `${dataLen} bytes`);

  // Copy out
  const tensors = new Map<string, ReadTensor>();
  for (const { name, stored, shape, begin, end } of infos) {
    // A copy: Buffer.prototype.slice would return a view of a larger pooled buffer
    const raw = Uint8Array.prototype.slice.call(bytes, dataStart + begin, dataStart + end).buffer;
    let data: TensorData;
    if (stored === "F16" || stored === "BF16") {
      const h = new Uint16Array(raw);
      data = new Float32Array(h.length);
      if (stored === "F16") for (let i = 0; i < h.length; i++) data[i] = f16(h[i]);
      else new Uint32Array(data.buffer).set(Uint32Array.from(h, (v) => v << 16));
    } else if (stored === "F64") data = Float32Array.from(new Float64Array(raw));
    else if (stored === "I64") {
      const wide = new BigInt64Array(raw);
      const bad = wide.findIndex((v) => v < -2147483648n || v > 2147483647n);
      if (bad >= 0) fail(`tensors[${showName(name)}]`, dataStart + begin + 8 * bad, "I64 values within the int32 range (read as I32)", String(wide[bad]));
      data = Int32Array.from(wide, Number);
    }
    else data = new ARRAYS[stored](raw);
    tensors.set(name, { dtype: Object.hasOwn(ARRAYS, stored) ? (stored as TensorDtype) : stored === "I64" ? "I32" : "F32", stored, shape, data });
  }
  return { tensors, metadata };
}
