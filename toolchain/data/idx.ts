import { FormatError } from "../../runtime/src/index.ts";

/** IDX dtype codes (byte 2 of the magic); only `0x08` is readable. */
export const IDX_DTYPES: Record<number, string> = {
  0x08: "ubyte",
  0x09: "sbyte",
  0x0b: "int16",
  0x0c: "int32",
  0x0d: "float32",
  0x0e: "float64",
};

export interface IdxArray {
  dims: number[];
  /** A view into the parsed bytes, row-major. */
  data: Uint8Array;
}

const byteHex = (v: number) => "0x" + v.toString(16).padStart(2, "0");

/**
 * Parses an uncompressed IDX file (the MNIST format): `00 00 dtype ndims`, `ndims` big-endian u32 dims, data.
 * Only ubyte data is supported. Every violation throws `FormatError` naming the field and its byte offset.
 * @param bytes the whole file; the result's `data` is a view into it
 * @param source file name used in error messages
 */
export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  const fail = (field: string, offset: number, expected: string, actual: string): never => {
    throw new FormatError(field, offset, expected, actual, source);
  };
  if (bytes.length < 4) fail("length", 0, ">= 4 bytes", `${bytes.length} bytes`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const at = bytes[0] !== 0 ? 0 : 1;
    fail("magic", at, "0x00", byteHex(bytes[at]));
  }
  const dtype = bytes[2];
  if (dtype !== 0x08) fail("dtype", 2, "0x08 (ubyte)", `${byteHex(dtype)} (${IDX_DTYPES[dtype] ?? "unknown dtype"})`);
  const ndims = bytes[3];
  if (ndims < 1 || ndims > 4) fail("ndims", 3, "1..4", String(ndims));
  const header = 4 + 4 * ndims;
  if (bytes.length < header) fail("length", 0, `>= ${header} bytes (header of ${ndims} dims)`, `${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    if (d === 0) fail(`dims[${i}]`, 4 + 4 * i, "> 0", "0");
    dims.push(d);
    size *= d;
  }
  if (bytes.length !== header + size) {
    fail("length", 0, `${header + size} bytes (header ${header} + ${dims.join("x")})`, `${bytes.length} bytes`);
  }
  return { dims, data: bytes.subarray(header) };
}
