import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FormatError, InputError, UserError } from "../runtime/src/errors.ts";
import { readSafetensors, SAFETENSORS_MAX_HEADER, SAFETENSORS_MAX_JSON_DEPTH, SAFETENSORS_MAX_JSON_VALUES, writeSafetensors, type Tensor } from "../toolchain/io/safetensors-file.ts";
import { expectFormatError as expectFmt } from "./helpers/errors.ts";

/** Hand-built file: `header` (object or raw JSON text) unpadded, then `data`; `n` overrides the length field. */
function raw(header: unknown, data: ArrayLike<number> = [], n?: bigint) {
  const text = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

function thrownFormat(bytes: Uint8Array): FormatError {
  try {
    readSafetensors(bytes, "m.safetensors");
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error("no error");
}

function expectFormatError(bytes: Uint8Array, field: string): FormatError {
  return expectFmt(() => readSafetensors(bytes, "m.safetensors"), field, { source: "m.safetensors" });
}

const sample = (): Record<string, Tensor> => ({
  "fc2.weight": { dtype: "I8", shape: [3, 2], data: new Int8Array([-128, -1, 0, 1, 2, 127]) },
  "fc1.bias": { dtype: "I32", shape: [2], data: new Int32Array([-2147483648, 2147483647]) },
  "fc1.scale": { dtype: "F32", shape: [], data: new Float32Array([0.125]) },
  empty: { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
});

describe("writeSafetensors / readSafetensors", () => {
  it("round-trips tensors and metadata", () => {
    const bytes = writeSafetensors(sample(), { format: "rankgate", version: "1" });
    const { tensors, metadata } = readSafetensors(bytes, "m.safetensors");
    expect(metadata).toEqual({ format: "rankgate", version: "1" });
    expect([...tensors.keys()].sort()).toEqual(["empty", "fc1.bias", "fc1.scale", "fc2.weight"]);
    for (const [name, t] of Object.entries(sample())) {
      const got = tensors.get(name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.stored).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.data).toBeInstanceOf(t.data.constructor);
      expect(Array.from(got.data)).toEqual(Array.from(t.data));
    }
    expect(readSafetensors(writeSafetensors({}), "m").tensors.size).toBe(0);
  });

  it("writes the exact layout: u64 length, space-padded sorted header, data in name order", () => {
    const bytes = writeSafetensors({
      b: { dtype: "I8", shape: [2], data: new Int8Array([1, -1]) },
      a: { dtype: "I8", shape: [1], data: new Int8Array([7]) },
    });
    const json = '{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"I8","shape":[2],"data_offsets":[1,3]}}';
    const padded = json.padEnd(Math.ceil(json.length / 8) * 8, " ");
    const view = new DataView(bytes.buffer);
    expect(view.getBigUint64(0, true)).toBe(BigInt(padded.length));
    expect(padded.length % 8).toBe(0);
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + padded.length))).toBe(padded);
    expect(Array.from(bytes.subarray(8 + padded.length))).toEqual([7, 1, 255]);
  });

  it("is deterministic whatever the key order, including integer-like names", () => {
    const t = sample();
    const reversed = Object.fromEntries(Object.entries(t).reverse());
    const meta = { z: "1", a: "2" };
    expect(writeSafetensors(reversed, meta)).toEqual(writeSafetensors(t, { a: "2", z: "1" }));
    const numeric = writeSafetensors({ "10": t["fc1.scale"], "9": t["fc1.scale"], x: t["fc1.scale"] });
    const text = new TextDecoder().decode(numeric);
    expect(text.indexOf('"10"')).toBeLessThan(text.indexOf('"9"'));
    expect(text.indexOf('"9"')).toBeLessThan(text.indexOf('"x"'));
  });

  it("reads from an unaligned subarray", () => {
    const bytes = writeSafetensors({ w: { dtype: "F32", shape: [3], data: new Float32Array([1.5, -2, 3e-8]) } });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const t = readSafetensors(shifted.subarray(3), "m").tensors.get("w")!;
    expect(Array.from(t.data)).toEqual([1.5, -2, Math.fround(3e-8)]);
    expect(t.data.buffer).not.toBe(shifted.buffer);
  });

  it("round-trips random tensors (property)", () => {
    const tensor = fc.record({
      dtype: fc.constantFrom("F32" as const, "I8" as const, "I32" as const),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      seed: fc.integer(),
    });
    const name = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== "__metadata__");
    fc.assert(
      fc.property(fc.dictionary(name, tensor, { maxKeys: 6 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), (specs, meta) => {
        const tensors: Record<string, Tensor> = {};
        for (const [k, { dtype, shape, seed }] of Object.entries(specs)) {
          const n = shape.reduce((a, b) => a * b, 1);
          const v = (i: number) => Math.imul(i + 1, seed | 1) ^ (seed >>> 7);
          const data =
            dtype === "F32" ? Float32Array.from({ length: n }, (_, i) => v(i) / 65536) :
            dtype === "I8" ? Int8Array.from({ length: n }, (_, i) => v(i)) :
            Int32Array.from({ length: n }, (_, i) => v(i));
          tensors[k] = { dtype, shape, data };
        }
        const bytes = writeSafetensors(tensors, meta);
        expect(new DataView(bytes.buffer).getBigUint64(0, true) % 8n).toBe(0n);
        const back = readSafetensors(bytes, "prop");
        expect(back.metadata).toEqual(meta);
        expect(back.tensors.size).toBe(Object.keys(tensors).length);
        for (const [k, t] of Object.entries(tensors)) {
          const got = back.tensors.get(k)!;
          expect({ dtype: got.dtype, shape: got.shape }).toEqual({ dtype: t.dtype, shape: t.shape });
          expect(Array.from(got.data)).toEqual(Array.from(t.data));
        }
        expect(writeSafetensors(Object.fromEntries(back.tensors), back.metadata)).toEqual(bytes);
      }),
      { numRuns: 150 },
    );
  });

  it("converts F16, BF16 and F64 to F32", () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7c00, 0xfc00, 0x0001, 0x8000, 0x3555, 0x7bff, 0x7e00]);
    const bf16 = new Uint16Array([0x3f80, 0xc040, 0x7f80, 0x0000]);
    const f64 = new Float64Array([1 / 3, -1e300]);
    const data = new Uint8Array(f16.byteLength + bf16.byteLength + f64.byteLength);
    data.set(new Uint8Array(f64.buffer), 0);
    data.set(new Uint8Array(f16.buffer), 16);
    data.set(new Uint8Array(bf16.buffer), 34);
    const { tensors } = readSafetensors(raw({
      d: { dtype: "F64", shape: [2], data_offsets: [0, 16] },
      h: { dtype: "F16", shape: [9], data_offsets: [16, 34] },
      b: { dtype: "BF16", shape: [2, 2], data_offsets: [34, 42] },
    }, data), "m");
    const h = tensors.get("h")!;
    expect(h.dtype).toBe("F32");
    expect(h.stored).toBe("F16");
    expect(Array.from(h.data)).toEqual([1, -2, Infinity, -Infinity, 2 ** -24, -0, 0.333251953125, 65504, NaN]);
    expect(Array.from(tensors.get("b")!.data)).toEqual([1, -3, Infinity, 0]);
    expect(Array.from(tensors.get("d")!.data)).toEqual([Math.fround(1 / 3), -Infinity]);
    expect(tensors.get("d")!.stored).toBe("F64");
  });

  it("accepts header padding and a null __metadata__", () => {
    const { tensors, metadata } = readSafetensors(raw('{"__metadata__":null,"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}    ', [5]), "m");
    expect(metadata).toEqual({});
    expect(Array.from(tensors.get("a")!.data)).toEqual([5]);
  });

  it("keeps a __proto__ metadata key as plain data", () => {
    const { metadata } = readSafetensors(raw('{"__metadata__":{"__proto__":"x"}}'), "m");
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    expect(Object.entries(metadata)).toEqual([["__proto__", "x"]]);
  });
});

describe("readSafetensors rejects", () => {
  const entry = (o: object = {}) => ({ dtype: "F32", shape: [2], data_offsets: [0, 8], ...o });
  const eight = new Uint8Array(8);

  it("a file shorter than the length field", () => {
    expectFormatError(new Uint8Array(7), "header_length");
  });

  it("a header length over SAFETENSORS_MAX_HEADER (16 MiB) or past the end of the file", () => {
    expect(SAFETENSORS_MAX_HEADER).toBe(16 * 1024 * 1024);
    expect(expectFormatError(raw({}, [], BigInt(SAFETENSORS_MAX_HEADER) + 1n), "header_length").expected).toContain("16777216");
    expectFormatError(raw({}, [], 2n ** 63n), "header_length");
    expectFormatError(raw({}, [], 1n), "header"); // fits, but "{" alone is not JSON
    expect(expectFormatError(raw({}, [], 100n), "header_length").actual).toBe("100");
  });

  it("JSON nested deeper than SAFETENSORS_MAX_JSON_DEPTH (3), before parsing, at the offending bracket", () => {
    expect(SAFETENSORS_MAX_JSON_DEPTH).toBe(3);
    const deep = `{"__metadata__":{"a":"${"[".repeat(9)}"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":${"[".repeat(20_000)}${"]".repeat(20_000)}}}`;
    const err = expectFormatError(raw(deep, eight), "header");
    expect(err.actual).toBe("depth 4");
    expect(err.offset).toBe(8 + deep.indexOf('"x":') + 5);
    // brackets inside strings, escaped quotes included, do not count
    const quoted = `{"__metadata__":{"a":"\\\"[[[[[["},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`;
    expect(readSafetensors(raw(quoted, eight), "m").metadata.a).toBe('"[[[[[[');
  });

  it("more than SAFETENSORS_MAX_JSON_VALUES values ([],[],… bombs), before parsing", () => {
    const n = SAFETENSORS_MAX_JSON_VALUES + 10;
    const bomb = `{"x":[${"[],".repeat(n / 2)}[]]}`;
    const err = expectFormatError(raw(bomb, eight), "header");
    expect(err.expected).toContain(`at most ${SAFETENSORS_MAX_JSON_VALUES} JSON values`);
    const objects = `{"x":[${"{},".repeat(n / 2)}{}]}`;
    expect(expectFormatError(raw(objects, eight), "header").expected).toContain("JSON values");
  });

  it("a header that is not UTF-8 JSON object text", () => {
    expect(expectFormatError(raw("{\"a\":1,", []), "header").expected).toBe("valid JSON");
    expectFormatError(raw("[1,2]"), "header");
    expectFormatError(raw("null"), "header");
    const bad = raw('{"a":"xx"}');
    bad[14] = 0xff;
    expect(expectFormatError(bad, "header").expected).toBe("UTF-8 text");
  });

  it("an entry that is not an object", () => {
    expectFormatError(raw({ w: [1, 2] }), 'tensors["w"]');
  });

  it("an unsupported or missing dtype", () => {
    for (const dtype of ["U64", "BOOL", "f32", "constructor", 4, undefined]) {
      const err = expectFormatError(raw({ w: entry({ dtype }) }, eight), 'tensors["w"].dtype');
      expect(err.expected).toContain("F32");
    }
  });

  it("a bad shape", () => {
    for (const shape of [[-1], [1.5], ["2"], "2", null]) expectFormatError(raw({ w: entry({ shape }) }, eight), 'tensors["w"].shape');
  });

  it("malformed data_offsets", () => {
    for (const data_offsets of [[0], [0, 8, 9], [-1, 8], [0, "8"], null, [0, 0.5]]) {
      expectFormatError(raw({ w: entry({ data_offsets }) }, eight), 'tensors["w"].data_offsets');
    }
  });

  it("begin after end, end past the data, size not matching the shape", () => {
    expect(expectFormatError(raw({ w: entry({ shape: [0], data_offsets: [8, 0] }) }, eight), 'tensors["w"].data_offsets').actual).toBe("begin 8");
    const past = expectFormatError(raw({ w: entry({ data_offsets: [4, 12] }) }, eight), 'tensors["w"].data_offsets');
    expect(past.expected).toContain("8 (data buffer size)");
    const size = expectFormatError(raw({ w: entry({ shape: [3] }) }, eight), 'tensors["w"].data_offsets');
    expect(size.expected).toContain("12 bytes");
    expect(size.actual).toBe("8 bytes");
    expect(size.offset).toBe(8 + JSON.stringify({ w: entry({ shape: [3] }) }).length);
  });

  it("overlapping tensors", () => {
    const err = expectFormatError(raw({ a: entry(), b: entry({ shape: [1], data_offsets: [4, 8] }) }, eight), 'tensors["b"].data_offsets');
    expect(err.expected).toContain("no overlap");
  });

  it("a hole between tensors, before the first, or after the last", () => {
    const gap = raw({ a: entry({ shape: [1], data_offsets: [0, 4] }), b: entry({ shape: [1], data_offsets: [8, 12] }) }, new Uint8Array(12));
    expect(expectFormatError(gap, 'tensors["b"].data_offsets').expected).toContain("no hole");
    expectFormatError(raw({ a: entry({ shape: [1], data_offsets: [4, 8] }) }, eight), 'tensors["a"].data_offsets');
    const tail = expectFormatError(raw({ a: entry() }, new Uint8Array(9)), "data");
    expect(tail.actual).toBe("9 bytes");
    expectFormatError(raw({}, [1]), "data");
  });

  it("metadata that is not an object of strings", () => {
    expectFormatError(raw({ __metadata__: [] }), "__metadata__");
    expectFormatError(raw({ __metadata__: "x" }), "__metadata__");
    expectFormatError(raw({ __metadata__: { epochs: 3 } }), '__metadata__["epochs"]');
  });
});

describe("writeSafetensors rejects", () => {
  it("data that does not match its dtype or shape, and the reserved name", () => {
    const f = new Float32Array(4);
    expect(() => writeSafetensors({ w: { dtype: "I8", shape: [4], data: f } })).toThrow(InputError);
    expect(() => writeSafetensors({ w: { dtype: "F16" as "F32", shape: [4], data: f } })).toThrow(InputError);
    expect(() => writeSafetensors({ w: { dtype: "F32", shape: [2, 3], data: f } })).toThrow(/shape \[2,3\]/);
    expect(() => writeSafetensors({ w: { dtype: "F32", shape: [-2, -2], data: f } })).toThrow(InputError);
    expect(() => writeSafetensors({ __metadata__: { dtype: "F32", shape: [4], data: f } })).toThrow(/reserved/);
    expect(() => writeSafetensors({}, { k: 1 as unknown as string })).toThrow(InputError);
  });
});

describe("readSafetensors on Node Buffers", () => {
  it("reads each tensor's own bytes from a Buffer that views a larger pool", () => {
    const bytes = writeSafetensors({
      a: { dtype: "F32", shape: [3], data: Float32Array.from([1, 2, 3]) },
      b: { dtype: "F32", shape: [2], data: Float32Array.from([4, 5]) },
    });
    const pool = Buffer.alloc(bytes.length + 64);
    pool.set(bytes, 24);
    const view = pool.subarray(24, 24 + bytes.length);
    const { tensors } = readSafetensors(view, "pooled.safetensors");
    expect(Array.from(tensors.get("a")!.data)).toEqual([1, 2, 3]);
    expect(Array.from(tensors.get("b")!.data)).toEqual([4, 5]);
  });
});

describe("readSafetensors I64 (torch's num_batches_tracked)", () => {
  it("reads int32-range I64 values as I32 and names one out of range", () => {
    const data = new Uint8Array(new BigInt64Array([5n, -7n]).buffer);
    const t = readSafetensors(raw({ n: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, data), "m").tensors.get("n")!;
    expect(t).toMatchObject({ dtype: "I32", stored: "I64", shape: [2] });
    expect(Array.from(t.data)).toEqual([5, -7]);
    const big = new Uint8Array(new BigInt64Array([0n, 2n ** 40n]).buffer);
    const err = expectFormatError(raw({ n: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, big), 'tensors["n"]');
    expect(err.actual).toBe(String(2n ** 40n));
  });

  it("shows a hostile tensor name escaped and bounded", () => {
    const name = "a\u001b[31m\n" + "x".repeat(5000);
    const err = thrownFormat(raw({ [name]: { dtype: "XX", shape: [0], data_offsets: [0, 0] } }));
    expect(err.field).toBe(`tensors["a\\u001b[31m\\n${"x".repeat(73)}"… (5007 characters)].dtype`);
    expect(err.message).not.toMatch(/[\u0000-\u001f]/);
    expect(err.message.length).toBeLessThan(400);
  });
});
