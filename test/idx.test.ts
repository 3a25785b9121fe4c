import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FormatError, UserError } from "../runtime/src/errors.ts";
import { parseIdx } from "../toolchain/data/idx.ts";
import { expectFormatError as expectFmt } from "./helpers/errors.ts";

/** Builds an IDX file: magic, big-endian dims, then `fill(i)` for each data byte (plus `extra` bytes). */
function makeIdx(dims: number[], opts: { dtype?: number; extra?: number; fill?: (i: number) => number } = {}) {
  const size = dims.reduce((a, b) => a * b, 1) + (opts.extra ?? 0);
  const header = 4 + 4 * dims.length;
  const bytes = new Uint8Array(header + Math.max(0, size));
  const view = new DataView(bytes.buffer);
  bytes[2] = opts.dtype ?? 0x08;
  bytes[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < size; i++) bytes[header + i] = (opts.fill ?? ((j) => j * 7 + 3))(i) & 0xff;
  return bytes;
}

function expectFormatError(fn: () => unknown, field: string, offset?: number): FormatError {
  return expectFmt(fn, field, { source: "test.idx", offset });
}

describe("parseIdx", () => {
  it("reads dims and data for 1..4 dims", () => {
    for (const dims of [[5], [2, 3], [3, 28, 28], [1, 2, 3, 4]]) {
      const bytes = makeIdx(dims);
      const { dims: got, data } = parseIdx(bytes, "test.idx");
      expect(got).toEqual(dims);
      expect(data.length).toBe(dims.reduce((a, b) => a * b, 1));
      expect(data[0]).toBe(3);
      expect(data[data.length - 1]).toBe(((data.length - 1) * 7 + 3) & 0xff);
    }
  });

  it("returns a view, not a copy, also for a subarray input", () => {
    const file = makeIdx([2, 2]);
    const padded = new Uint8Array(file.length + 5);
    padded.set(file, 3);
    const bytes = padded.subarray(3, 3 + file.length);
    const { data } = parseIdx(bytes, "test.idx");
    expect(data.buffer).toBe(padded.buffer);
    expect(data.byteOffset).toBe(3 + 12);
    padded[3 + 12] = 99;
    expect(data[0]).toBe(99);
  });

  it("reads big-endian dims above 255", () => {
    expect(parseIdx(makeIdx([300, 2]), "test.idx").dims).toEqual([300, 2]);
    const big = makeIdx([1]);
    const view = new DataView(big.buffer);
    view.setUint32(4, 0x01000000, false);
    expect(expectFormatError(() => parseIdx(big, "test.idx"), "length").expected).toContain(String(8 + 0x01000000));
  });

  it("round-trips random shapes (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 255 }), (dims, seed) => {
        const fill = (i: number) => (i * 31 + seed) & 0xff;
        const { dims: got, data } = parseIdx(makeIdx(dims, { fill }), "test.idx");
        expect(got).toEqual(dims);
        expect(Array.from(data)).toEqual(Array.from(data, (_, i) => fill(i)));
      }),
      { numRuns: 100 },
    );
  });

  it("rejects a file shorter than the magic", () => {
    expectFormatError(() => parseIdx(new Uint8Array([0, 0, 8]), "test.idx"), "length", 0);
    expectFormatError(() => parseIdx(new Uint8Array(0), "test.idx"), "length", 0);
  });

  it("rejects a non-zero magic prefix", () => {
    const a = makeIdx([2]);
    a[0] = 0x1f; // e.g. a gzip file
    expect(expectFormatError(() => parseIdx(a, "test.idx"), "magic", 0).actual).toBe("0x1f");
    const b = makeIdx([2]);
    b[1] = 1;
    expectFormatError(() => parseIdx(b, "test.idx"), "magic", 1);
  });

  it("rejects dtypes other than ubyte and names them", () => {
    for (const [code, name] of [[0x09, "sbyte"], [0x0b, "int16"], [0x0c, "int32"], [0x0d, "float32"], [0x0e, "float64"], [0x42, "unknown"]] as const) {
      const err = expectFormatError(() => parseIdx(makeIdx([2], { dtype: code }), "test.idx"), "dtype", 2);
      expect(err.message).toContain(name);
      expect(err.message).toContain("0x" + code.toString(16).padStart(2, "0"));
    }
  });

  it("rejects 0 or more than 4 dims", () => {
    expectFormatError(() => parseIdx(new Uint8Array([0, 0, 8, 0, 1, 2]), "test.idx"), "ndims", 3);
    const five = makeIdx([1, 1, 1, 1, 1]);
    expectFormatError(() => parseIdx(five, "test.idx"), "ndims", 3);
  });

  it("rejects a truncated header", () => {
    const bytes = makeIdx([2, 3, 4]).subarray(0, 4 + 4 * 2 + 2);
    expectFormatError(() => parseIdx(bytes, "test.idx"), "length", 0);
  });

  it("rejects a zero dim and names its index", () => {
    const bytes = makeIdx([2, 0, 3]);
    expectFormatError(() => parseIdx(bytes, "test.idx"), "dims[1]", 8);
    expectFormatError(() => parseIdx(makeIdx([0]), "test.idx"), "dims[0]", 4);
  });

  it("rejects data that is one byte short or long", () => {
    expectFormatError(() => parseIdx(makeIdx([3, 4], { extra: -1 }), "test.idx"), "length");
    const err = expectFormatError(() => parseIdx(makeIdx([3, 4], { extra: 1 }), "test.idx"), "length");
    expect(err.expected).toContain("24 bytes");
    expect(err.actual).toBe("25 bytes");
  });
});
