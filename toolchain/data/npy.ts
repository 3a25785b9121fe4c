// NumPy .npy arrays (format versions 1–3): every numeric dtype numpy writes, either byte order, C or Fortran order.
import { FormatError, showName } from "../../runtime/src/index.ts";

/** Element kinds read from a .npy `descr`: kind letter + byte size. */
export const NPY_DTYPES = ["b1", "u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8"] as const;
export type NpyDtype = (typeof NPY_DTYPES)[number];

export interface NpyHeader {
  dtype: NpyDtype;
  littleEndian: boolean;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the data in the file. */
  dataOffset: number;
  /** Product of the shape. */
  size: number;
}

export interface NpyArray extends NpyHeader {
  /** The data bytes, validated to hold exactly `size` elements; a view into the file. */
  data: Uint8Array;
}

/** Largest header numpy writes is small; anything above this is not a .npy header. */
const MAX_HEADER = 1 << 20;
/** Elements an array may hold (the result is a Float32Array / typed array of this many). */
export const MAX_ELEMENTS = 2 ** 30;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && MAGIC.every((b, i) => bytes[i] === b);
}

/** Bytes of the file's start that always hold a whole header (the fixed part and MAX_HEADER). */
export const NPY_HEAD_BYTES = 12 + MAX_HEADER;

/** Parses a .npy file; `source` names the file in errors. */
export function parseNpy(bytes: Uint8Array, source: string): NpyArray {
  const h = parseNpyHeader(bytes, source, bytes.length);
  return { ...h, data: bytes.subarray(h.dataOffset, h.dataOffset + h.size * h.itemBytes) };
}

/**
 * Parses a .npy header from the file's first bytes (`head`, at least the header) and checks that a file of
 * `total` bytes holds exactly the data the shape and dtype declare; nothing after the header is read.
 */
export function parseNpyHeader(head: Uint8Array, source: string, total: number): NpyHeader & { itemBytes: number } {
  const bytes = head;
  const fail = (field: string, offset: number, expected: string, actual: string): never => {
    throw new FormatError(field, offset, expected, actual, source);
  };
  if (bytes.length < 10) fail("length", 0, ">= 10 bytes (a .npy header)", `${bytes.length} bytes`);
  if (!isNpy(bytes)) fail("magic", 0, '"\\x93NUMPY"', "other bytes");
  const major = bytes[6];
  if (major < 1 || major > 3) fail("version", 6, "1, 2 or 3", String(major));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number, start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else {
    if (bytes.length < 12) fail("length", 0, ">= 12 bytes (a version 2 header)", `${bytes.length} bytes`);
    headerLen = view.getUint32(8, true);
    start = 12;
  }
  if (headerLen > MAX_HEADER) fail("header length", 8, `<= ${MAX_HEADER}`, String(headerLen));
  if (start + headerLen > Math.min(bytes.length, total)) fail("header length", 8, `<= ${Math.min(bytes.length, total) - start} (the bytes left)`, String(headerLen));
  let header = "";
  for (let i = start; i < start + headerLen; i++) header += String.fromCharCode(bytes[i]);

  // Header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
  const descrM = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(header);
  if (!descrM) {
    const structured = /['"]descr['"]\s*:\s*\[/.test(header);
    fail("descr", start, "a simple dtype string such as '<f4'", structured ? "a structured dtype (a list of fields)" : showName(header));
  }
  const descr = descrM![2];
  const dm = /^([<>|=])([biuf])(\d+)$/.exec(descr);
  const dtype = dm ? (`${dm[2]}${dm[3]}` as NpyDtype) : null;
  if (!dm || !(NPY_DTYPES as readonly string[]).includes(dtype!)) {
    fail("descr", start, `one of ${NPY_DTYPES.join(", ")} (bool, unsigned, signed, float)`, showName(descr));
  }
  const fo = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  if (!fo) fail("fortran_order", start, "True or False", showName(header));
  const sm = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!sm) fail("shape", start, "a tuple of integers", showName(header));
  const parts = sm![1].split(",").map((s) => s.trim()).filter((s) => s !== "");
  const shape: number[] = [];
  let size = 1;
  for (const p of parts) {
    if (!/^\d+L?$/.test(p)) fail("shape", start, "non-negative integers", showName(sm![1]));
    const d = Number(p.replace("L", ""));
    if (!Number.isSafeInteger(d)) fail("shape", start, "a dimension below 2^53", showName(p));
    shape.push(d);
    size *= d;
  }
  if (size > MAX_ELEMENTS) fail("shape", start, `at most ${MAX_ELEMENTS} elements`, `(${shape.join(", ")})`);
  const itemBytes = Number(dm![3]);
  const dataOffset = start + headerLen;
  const need = size * itemBytes;
  if (total - dataOffset !== need) {
    fail("length", 0, `${dataOffset + need} bytes (header ${dataOffset} + ${shape.join("×") || "scalar"} × ${itemBytes})`, `${total} bytes${total - dataOffset < need ? " (truncated)" : ""}`);
  }
  return { dtype: dtype!, littleEndian: dm![1] !== ">", fortranOrder: fo![1] === "True", shape, dataOffset, size, itemBytes };
}

/** IEEE 754 half → number, exact. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Reads element `i` (in storage order) as a number; 64-bit integers beyond 2^53 round to the nearest double. */
export function elementReader(a: NpyHeader & { data: Uint8Array }): (i: number) => number {
  const v = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const le = a.littleEndian;
  switch (a.dtype) {
    case "b1": return (i) => (a.data[i] === 0 ? 0 : 1); // numpy: any non-zero byte is True
    case "u1": return (i) => a.data[i];
    case "i1": return (i) => v.getInt8(i);
    case "u2": return (i) => v.getUint16(2 * i, le);
    case "i2": return (i) => v.getInt16(2 * i, le);
    case "u4": return (i) => v.getUint32(4 * i, le);
    case "i4": return (i) => v.getInt32(4 * i, le);
    case "u8": return (i) => Number(v.getBigUint64(8 * i, le));
    case "i8": return (i) => Number(v.getBigInt64(8 * i, le));
    case "f2": return (i) => halfToFloat(v.getUint16(2 * i, le));
    case "f4": return (i) => v.getFloat32(4 * i, le);
    case "f8": return (i) => v.getFloat64(8 * i, le);
  }
}

/**
 * Storage index of C-order element `i` (row-major over `shape`). Identity for C order; for Fortran
 * order the column-major offset.
 */
export function storageIndex(shape: number[], fortran: boolean): (i: number) => number {
  if (!fortran || shape.length < 2) return (i) => i;
  const strides: number[] = [];
  let st = 1;
  for (const d of shape) { strides.push(st); st *= d; }
  return (i) => {
    let off = 0;
    for (let k = shape.length - 1; k >= 0; k--) {
      const d = shape[k];
      off += (i % d) * strides[k];
      i = Math.floor(i / d);
    }
    return off;
  };
}

/** Minimal .npy writer (little-endian, C order) for tests and fixtures. */
export function writeNpy(values: ArrayLike<number>, shape: number[], dtype: Exclude<NpyDtype, "b1"> = "f4", littleEndian = true): Uint8Array {
  const item = Number(dtype.slice(1));
  const descr = `${item === 1 ? "|" : littleEndian ? "<" : ">"}${dtype}`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const total = 10 + header.length + 1;
  header = header.padEnd(header.length + ((64 - (total % 64)) % 64), " ") + "\n";
  const out = new Uint8Array(10 + header.length + values.length * item);
  out.set(MAGIC);
  out[6] = 1;
  const v = new DataView(out.buffer);
  v.setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const o = 10 + header.length;
  for (let i = 0; i < values.length; i++) {
    const x = values[i], at = o + i * item;
    switch (dtype) {
      case "u1": v.setUint8(at, x); break;
      case "i1": v.setInt8(at, x); break;
      case "u2": v.setUint16(at, x, littleEndian); break;
      case "i2": v.setInt16(at, x, littleEndian); break;
      case "u4": v.setUint32(at, x, littleEndian); break;
      case "i4": v.setInt32(at, x, littleEndian); break;
      case "u8": v.setBigUint64(at, BigInt(x), littleEndian); break;
      case "i8": v.setBigInt64(at, BigInt(x), littleEndian); break;
      case "f2": v.setUint16(at, floatToHalf(x), littleEndian); break;
      case "f4": v.setFloat32(at, x, littleEndian); break;
      case "f8": v.setFloat64(at, x, littleEndian); break;
    }
  }
  return out;
}

/** number → IEEE half, round to nearest even (for fixtures only). */
export function floatToHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const s = (u >>> 16) & 0x8000;
  const e = (u >>> 23) & 0xff, m = u & 0x7fffff;
  if (e === 0xff) return s | 0x7c00 | (m ? 0x200 : 0);
  let ee = e - 127 + 15;
  if (ee >= 31) return s | 0x7c00;
  if (ee <= 0) {
    if (ee < -10) return s;
    const mm = (m | 0x800000) >>> (1 - ee + 13);
    const rem = (m | 0x800000) & ((1 << (1 - ee + 13)) - 1), half = 1 << (1 - ee + 12);
    return s | (mm + (rem > half || (rem === half && mm & 1) ? 1 : 0));
  }
  let mm = m >>> 13;
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && mm & 1)) { mm++; if (mm === 0x400) { mm = 0; ee++; if (ee >= 31) return s | 0x7c00; } }
  return s | (ee << 10) | mm;
}
