// A bounded reader of ZIP archives as numpy's savez / savez_compressed write them (stored or deflated
// members, ZIP64 records). Only the central directory is trusted for sizes; every offset and length is
// checked against the file before it is read, and inflate is capped at the declared size (node:zlib).
import { constants as zlib, inflateRawSync } from "node:zlib";
import { crc32, FormatError, showName } from "../../runtime/src/index.ts";
import { readerStats } from "./stats.ts";

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  /** Offset of the member's local header. */
  localOffset: number;
  /** Offset of this entry in the central directory (for error messages). */
  cdOffset: number;
}

/** Members per archive and bytes per member this reader accepts. */
export const ZIP_MAX_ENTRIES = 65_536;
export const ZIP_MAX_MEMBER_BYTES = 2 ** 31 - 1;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

/** The central directory's entries. */
export function zipEntries(bytes: Uint8Array, source: string): ZipEntry[] {
  const fail = (field: string, offset: number, expected: string, actual: string): never => {
    throw new FormatError(field, offset, expected, actual, source);
  };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => v.getUint16(o, true), u32 = (o: number) => v.getUint32(o, true);
  const u64 = (o: number, field: string) => {
    const x = v.getBigUint64(o, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) fail(field, o, "< 2^53", String(x));
    return Number(x);
  };
  // End of central directory: the last signature within the final 22 + 65535 bytes
  let eocd = -1;
  for (let o = bytes.length - 22; o >= Math.max(0, bytes.length - 22 - 65535); o--) {
    if (u32(o) === 0x06054b50) { eocd = o; break; }
  }
  if (eocd < 0) fail("end of central directory", Math.max(0, bytes.length - 22), "signature PK\\x05\\x06", "none found (truncated?)");
  let count = u16(eocd + 10), cdSize = u32(eocd + 12), cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== 0x07064b50) fail("zip64 locator", Math.max(0, loc), "signature PK\\x06\\x07", "none");
    const rec = u64(loc + 8, "zip64 end record offset");
    if (rec + 56 > bytes.length || u32(rec) !== 0x06064b50) fail("zip64 end record", rec, "signature PK\\x06\\x06 inside the file", "none");
    count = u64(rec + 32, "zip64 entries");
    cdSize = u64(rec + 40, "zip64 directory size");
    cdOffset = u64(rec + 48, "zip64 directory offset");
  }
  if (count > ZIP_MAX_ENTRIES) fail("entries", eocd + 10, `<= ${ZIP_MAX_ENTRIES}`, String(count));
  if (cdOffset + cdSize > bytes.length) fail("central directory", eocd + 16, `within ${bytes.length} bytes`, `offset ${cdOffset} + ${cdSize} bytes`);
  const entries: ZipEntry[] = [];
  const seen = new Map<string, number>();
  let o = cdOffset;
  const end = cdOffset + cdSize;
  for (let k = 0; k < count; k++) {
    if (o + 46 > end) fail(`central directory entry ${k}`, o, "46 header bytes inside the directory", `${end - o} bytes left`);
    if (u32(o) !== 0x02014b50) fail(`central directory entry ${k}`, o, "signature PK\\x01\\x02", "0x" + u32(o).toString(16));
    const flags = u16(o + 8), method = u16(o + 10), crc = u32(o + 16);
    let compressedSize = u32(o + 20), size = u32(o + 24), localOffset = u32(o + 42);
    const nameLen = u16(o + 28), extraLen = u16(o + 30), commentLen = u16(o + 32);
    const next = o + 46 + nameLen + extraLen + commentLen;
    if (next > end) fail(`central directory entry ${k}`, o, `name, extra and comment inside the directory`, `${nameLen + extraLen + commentLen} bytes past offset ${o + 46}`);
    const name = new TextDecoder().decode(bytes.subarray(o + 46, o + 46 + nameLen));
    if (flags & 1) fail(`member ${showName(name)} flags`, o + 8, "not encrypted", "encrypted");
    // ZIP64 extra: the 64-bit fields present are exactly those saturated in the header, in this order
    for (let e = o + 46 + nameLen; e + 4 <= o + 46 + nameLen + extraLen;) {
      const id = u16(e), len = u16(e + 2);
      if (e + 4 + len > o + 46 + nameLen + extraLen) fail(`member ${showName(name)} extra field`, e, "inside the entry", `${len} bytes`);
      if (id === 1) {
        let p = e + 4;
        const take = (field: string) => {
          if (p + 8 > e + 4 + len) fail(`member ${showName(name)} zip64 ${field}`, p, "present", "missing");
          const x = u64(p, `member zip64 ${field}`);
          p += 8;
          return x;
        };
        if (size === 0xffffffff) size = take("size");
        if (compressedSize === 0xffffffff) compressedSize = take("compressed size");
        if (localOffset === 0xffffffff) localOffset = take("local header offset");
      }
      e += 4 + len;
    }
    const first = seen.get(name);
    if (first !== undefined) fail(`central directory entry ${k}`, o, `one member named ${showName(name)}`, `a second one (the first at offset ${first}); numpy would read the last, this reader refuses to guess`);
    seen.set(name, o);
    entries.push({ name, method, compressedSize, size, crc, localOffset, cdOffset: o });
    o = next;
  }
  return entries;
}

/** Compressed bytes added per step while looking for a member's first bytes (each step inflates ≤ 1032 × this). */
const HEAD_STEP = 4096;

/** A member's compressed (or stored) bytes, every offset and size checked against the file. */
function memberData(bytes: Uint8Array, e: ZipEntry, source: string): Uint8Array {
  const fail = (field: string, offset: number, expected: string, actual: string): never => {
    throw new FormatError(`member ${showName(e.name)} ${field}`, offset, expected, actual, source);
  };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (e.size > ZIP_MAX_MEMBER_BYTES) fail("size", e.cdOffset + 24, `<= ${ZIP_MAX_MEMBER_BYTES} bytes`, String(e.size));
  const lo = e.localOffset;
  if (lo + 30 > bytes.length || v.getUint32(lo, true) !== 0x04034b50) fail("local header", lo, "signature PK\\x03\\x04 inside the file", "none");
  const start = lo + 30 + v.getUint16(lo + 26, true) + v.getUint16(lo + 28, true);
  if (start + e.compressedSize > bytes.length) fail("data", start, `${e.compressedSize} bytes inside the file`, `${Math.max(0, bytes.length - start)} bytes left (truncated)`);
  if (e.method === 0 && e.compressedSize !== e.size) fail("size", e.cdOffset + 20, `stored size = size ${e.size}`, String(e.compressedSize));
  // Deflate expands at most ~1032:1: a larger declared size is a lie, refused before anything is allocated
  if (e.method === 8 && e.size > e.compressedSize * 1032 + 64) fail("size", e.cdOffset + 24, `<= ${e.compressedSize * 1032 + 64} bytes (1032 × the ${e.compressedSize} compressed bytes)`, String(e.size));
  if (e.method !== 0 && e.method !== 8) fail("compression method", e.cdOffset + 10, "0 (stored) or 8 (deflate)", String(e.method));
  return bytes.subarray(start, start + e.compressedSize);
}

/** Bytes a member takes in memory once read: its size if deflated, 0 if stored (read in place). */
export const zipReadBytes = (e: ZipEntry): number => (e.method === 0 ? 0 : e.size);

/**
 * The first `want` bytes of a member (fewer if it is shorter), without inflating the rest: growing prefixes of
 * the compressed data are inflated with a sync flush, so at most `want` + about 4 MiB is ever produced. Not
 * CRC-checked (zipRead checks the whole member).
 */
export function zipReadHead(bytes: Uint8Array, e: ZipEntry, source: string, want: number): Uint8Array {
  const raw = memberData(bytes, e, source);
  if (e.method === 0) return raw.subarray(0, Math.min(want, raw.length));
  for (let k = Math.min(raw.length, HEAD_STEP); ; k = Math.min(raw.length, k + HEAD_STEP)) {
    let out: Uint8Array;
    try {
      out = inflateRawSync(raw.subarray(0, k), { finishFlush: zlib.Z_SYNC_FLUSH, maxOutputLength: want + 1032 * HEAD_STEP + 1024 });
    } catch {
      throw new FormatError(`member ${showName(e.name)} data`, e.localOffset, "deflate data", "invalid deflate data", source);
    }
    readerStats.bytesInflated += out.length;
    if (out.length >= want || k === raw.length) return out.subarray(0, Math.min(want, out.length));
  }
}

/** A member's uncompressed bytes: stored or deflated, size and CRC-32 checked. */
export function zipRead(bytes: Uint8Array, e: ZipEntry, source: string): Uint8Array {
  const what = `member ${showName(e.name)}`;
  const fail = (field: string, offset: number, expected: string, actual: string): never => {
    throw new FormatError(`${what} ${field}`, offset, expected, actual, source);
  };
  const raw = memberData(bytes, e, source);
  const start = raw.byteOffset - bytes.byteOffset;
  let out: Uint8Array;
  if (e.method === 0) {
    out = raw;
  } else {
    try {
      out = new Uint8Array(inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) }));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      return fail("data", start, `deflate data of ${e.size} bytes`, code === "ERR_BUFFER_TOO_LARGE" ? "more bytes" : "invalid deflate data");
    }
    readerStats.bytesInflated += out.length;
    if (out.length !== e.size) fail("data", start, `${e.size} bytes after inflate`, `${out.length} bytes`);
  }
  const c = crc32(out);
  if (c !== e.crc) fail("CRC-32", e.cdOffset + 16, "0x" + e.crc.toString(16).padStart(8, "0"), "0x" + c.toString(16).padStart(8, "0"));
  return out;
}
