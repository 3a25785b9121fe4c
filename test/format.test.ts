import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32 } from "../runtime/src/crc32.ts";
import { FormatError } from "../runtime/src/errors.ts";
import { ENTRY_BYTES, ENTRY_BYTES_V1, ENTRY_BYTES_V4, HEADER_BYTES, readModel, SECTIONS, writeModel } from "../runtime/src/format.ts";
import type { QuantModel } from "../runtime/src/model.ts";
import { buildSynthetic, toV1 } from "../toolchain/model/synthetic.ts";
import { thrown } from "./helpers/errors.ts";

const { bytes: good, model } = buildSynthetic({ sizes: [6, 5, 4, 3], ranks: [2, 3], seed: 11, calibration: 16 });
const entry = (l: number) => HEADER_BYTES + l * ENTRY_BYTES;
const sectionOffset = (name: string) => SECTIONS.find((s) => s.name === name)!.entryOffset;

/** A copy of `from` (default: the good file) with `edit` applied and the CRC recomputed, so the targeted check fires. */
function edited(edit: (dv: DataView, b: Uint8Array) => void, fixCrc = true, from: Uint8Array = good): Uint8Array {
  const b = from.slice();
  const dv = new DataView(b.buffer);
  edit(dv, b);
  if (fixCrc && b.length >= 16) dv.setUint32(12, crc32(b, 16), true);
  return b;
}

function formatError(bytes: Uint8Array): FormatError {
  const e = thrown(() => readModel(bytes));
  if (!(e instanceof FormatError)) throw new Error(`expected FormatError, got ${e}`);
  return e;
}

function expectError(bytes: Uint8Array, field: string, offset: number): FormatError {
  const e = formatError(bytes);
  expect({ field: e.field, offset: e.offset }).toEqual({ field, offset });
  expect(e.message).toContain(field);
  expect(e.message).toContain(`offset ${offset}`);
  return e;
}

describe("model format v2", () => {
  it("round-trips a model and is deterministic", () => {
    const parsed = readModel(good);
    expect(writeModel(parsed.model)).toEqual(good);
    expect(parsed.model.layers.map((l) => [l.nIn, l.nOut, l.estimator?.rank ?? 0, l.activation])).toEqual([
      [6, 5, 2, "relu"], [5, 4, 3, "relu"], [4, 3, 0, "none"],
    ]);
    expect(Array.from(parsed.model.layers[1].weights)).toEqual(Array.from(model.layers[1].weights));
    expect(Array.from(parsed.model.layers[0].estimator!.threshold)).toEqual(Array.from(model.layers[0].estimator!.threshold));
    expect(good.length % 16).toBe(0);
    for (const s of parsed.sections) expect(s.offset % 16).toBe(0);
  });

  it("computes the standard CRC-32", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });

  it("names header fields: magic, version, sizes, counts, reserved, checksum", () => {
    expectError(good.slice(0, 40), "file_bytes", 0);
    expectError(edited((_, b) => (b[0] = 0x50)), "magic", 0);
    const v = expectError(edited((dv) => dv.setUint16(4, 5, true)), "version", 4);
    expect(v.expected).toBe("1, 2, 3 or 4");
    expect(v.actual).toBe("5");
    // A v2 file relabelled v4 has 96-byte entries
    expectError(edited((dv) => dv.setUint16(4, 4, true)), "entry_bytes", 20);
    // A v2 file relabelled v3 lacks layer 0's input sections
    expectError(edited((dv) => dv.setUint16(4, 3, true)), "layers[0].in_scales_offset", entry(0) + 88);
    expectError(edited((dv) => dv.setUint16(6, 48, true)), "header_bytes", 6);
    expectError(good.slice(0, good.length - 16), "file_bytes", 8);
    const longer = new Uint8Array(good.length + 16);
    longer.set(good);
    expectError(longer, "file_bytes", 8);
    expectError(edited((dv) => dv.setUint32(16, 0, true)), "layer_count", 16);
    expectError(edited((dv) => dv.setUint32(16, 257, true)), "layer_count", 16);
    expectError(edited((dv) => dv.setUint32(20, 80, true)), "entry_bytes", 20);
    expectError(edited((dv) => dv.setUint32(24, 80, true)), "table_offset", 24);
    expectError(edited((dv) => dv.setUint32(28, 0, true)), "payload_offset", 28);
    expectError(edited((dv) => dv.setUint32(32, 99, true)), "section_count", 32);
    expectError(edited((dv) => dv.setUint32(36, 1, true)), "section_bytes", 36);
    expectError(edited((dv) => dv.setUint32(44, 1, true)), "reserved", 44);
    const crc = expectError(edited((_, b) => (b[b.length - 1] ^= 1), false), "crc32", 12);
    expect(crc.message).toMatch(/expected 0x[0-9a-f]{8}/);
  });

  it("names layer fields: dimensions, rank, activation, quantization parameters, chaining", () => {
    const e0 = entry(0), e1 = entry(1), e2 = entry(2);
    expectError(edited((dv) => dv.setUint32(e0 + 0, 0, true)), "layers[0].n_in", e0);
    expectError(edited((dv) => dv.setUint32(e0 + 4, 70000, true)), "layers[0].n_out", e0 + 4);
    const r = expectError(edited((dv) => dv.setUint32(e0 + 8, 6, true)), "layers[0].rank", e0 + 8);
    expect(r.expected).toBe("[0, 5]");
    expectError(edited((dv) => dv.setUint32(e0 + 12, 7, true)), "layers[0].activation", e0 + 12);
    expectError(edited((dv) => dv.setUint32(e0 + 12, 0, true)), "layers[0].activation", e0 + 12);
    expectError(edited((dv) => dv.setInt32(e0 + 16, 128, true)), "layers[0].in_zero_point", e0 + 16);
    expectError(edited((dv) => dv.setFloat32(e0 + 24, Number.NaN, true)), "layers[0].in_scale", e0 + 24);
    expectError(edited((dv) => dv.setFloat32(e0 + 28, -1, true)), "layers[0].out_scale", e0 + 28);
    expectError(edited((dv) => dv.setUint32(e0 + 32, 0, true)), "layers[0].t_max", e0 + 32);
    expectError(edited((dv) => dv.setUint32(e0 + 32, 32768, true)), "layers[0].t_max", e0 + 32);
    expectError(edited((dv) => dv.setFloat32(e0 + 36, Infinity, true)), "layers[0].margin", e0 + 36);
    expectError(edited((dv) => dv.setUint32(e2 + 32, 5, true)), "layers[2].t_max", e2 + 32);
    expectError(edited((dv) => dv.setUint32(e1 + 88, 1, true)), "layers[1].reserved", e1 + 88);
    expectError(edited((dv) => dv.setUint32(e1 + 92, 1, true)), "layers[1].reserved", e1 + 92);
    const bs = expectError(edited((dv) => dv.setUint32(e1 + 76, 2, true)), "layers[1].block_size", e1 + 76);
    expect(bs.expected).toMatch(/0 for a layer with an estimator/);
    expectError(edited((dv) => dv.setUint32(e1 + 76, 5, true)), "layers[1].block_size", e1 + 76);
    // Chaining: layer 1 must read what layer 0 writes
    expectError(edited((dv) => dv.setInt32(e1 + 16, dv.getInt32(e1 + 16, true) === 0 ? 1 : 0, true)), "layers[1].in_zero_point", e1 + 16);
    expectError(edited((dv) => dv.setFloat32(e1 + 24, dv.getFloat32(e1 + 24, true) * 2, true)), "layers[1].in_scale", e1 + 24);
    const chain = expectError(edited((dv) => { dv.setUint32(e2 + 0, 3, true); }), "layers[2].n_in", e2);
    expect(chain.expected).toContain("layers[1].n_out");
  });

  it("a rank-0 layer's margin is 0: 0.0 or -0.0 load, any other bits are named", () => {
    const margin = entry(2) + 36;
    expect(readModel(edited((dv) => dv.setFloat32(margin, -0, true))).model).toEqual(readModel(good).model);
    expect((thrown(() => readModel(edited((dv) => dv.setUint32(margin, 0x80000001, true)))) as Error).message).toBe(
      `model: layers[2].margin at offset ${margin}: expected 0 (0.0 or -0.0) for a layer without an estimator, got -1.401298464324817e-45`);
    expect((thrown(() => readModel(edited((dv) => dv.setFloat32(margin, 0.5, true)))) as Error).message).toMatch(/layers\[2\]\.margin .* got 0\.5$/);
  });

  it("names section problems: alignment, bounds, overlap, estimator offsets of an ungated layer", () => {
    const e0 = entry(0), e1 = entry(1), e2 = entry(2);
    const w = sectionOffset("weights"), b = sectionOffset("bias"), a = sectionOffset("est_a");
    expectError(edited((dv) => dv.setUint32(e0 + w, dv.getUint32(e0 + w, true) + 4, true)), "layers[0].weights_offset", e0 + w);
    expectError(edited((dv, bytes) => dv.setUint32(e1 + b, bytes.length, true)), "layers[1].bias_offset", e1 + b);
    expectError(edited((dv) => dv.setUint32(e0 + w, 16, true)), "layers[0].weights_offset", e0 + w);
    const overlap = edited((dv) => dv.setUint32(e1 + b, dv.getUint32(e1 + w, true), true));
    const o = formatError(overlap);
    expect(o.field).toMatch(/^layers\[1\]\.(bias|weights)_offset$/);
    expect(o.expected).toMatch(/end of layers\[1\]/);
    expectError(edited((dv) => dv.setUint32(e2 + a, 1024, true)), "layers[2].est_a_offset", e2 + a);
  });

  it("names element values the kernels rely on: multipliers and shifts", () => {
    const parsed = readModel(good);
    const find = (layer: number, name: string) => parsed.sections.find((s) => s.layer === layer && s.name === name)!.offset;
    const m = find(1, "multiplier") + 8;
    expectError(edited((dv) => dv.setInt32(m, 12345, true)), "layers[1].multiplier[2]", m);
    expectError(edited((dv) => dv.setInt32(m, -1073741824, true)), "layers[1].multiplier[2]", m);
    const s = find(0, "shift") + 4;
    expectError(edited((dv) => dv.setInt32(s, 31, true)), "layers[0].shift[1]", s);
    expectError(edited((dv) => dv.setInt32(s, -32, true)), "layers[0].shift[1]", s);
    const ts = find(0, "est_t_shift");
    expectError(edited((dv) => dv.setInt32(ts, 99, true)), "layers[0].est_t_shift[0]", ts);
  });

  it("catches every single-bit flip anywhere in the file", () => {
    let flips = 0;
    for (let i = 0; i < good.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = good.slice();
        b[i] ^= 1 << bit;
        formatError(b);
        flips++;
      }
    }
    expect(flips).toBe(good.length * 8);
  });

  it("never throws anything but FormatError on random corruption, even with a valid CRC", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: -64, max: 64 }),
        fc.boolean(),
        (writes, resize, fixCrc) => {
          let b = good.slice();
          for (const [at, v] of writes) b[at] = v;
          if (resize !== 0) {
            const r = new Uint8Array(Math.max(0, b.length + resize));
            r.set(b.subarray(0, r.length));
            b = r;
          }
          if (fixCrc && b.length >= 16) new DataView(b.buffer).setUint32(12, crc32(b, 16), true);
          try {
            readModel(b);
          } catch (e) {
            if (!(e instanceof FormatError)) throw e;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});


describe("model format v1 files", () => {
  it("still load, to the same model, and are rewritten as v2", () => {
    const v1 = toV1(good);
    expect(new DataView(v1.buffer).getUint16(4, true)).toBe(1);
    const parsed = readModel(v1);
    expect(parsed.model.layers.every((l) => l.gate === null)).toBe(true);
    expect(writeModel(parsed.model)).toEqual(good);
  });

  it("name v1 fields at v1 offsets: the reserved word where v2 keeps block_size", () => {
    const v1 = toV1(good);
    const e1 = HEADER_BYTES + ENTRY_BYTES_V1;
    const b = v1.slice();
    new DataView(b.buffer).setUint32(e1 + 76, 16, true);
    new DataView(b.buffer).setUint32(12, crc32(b, 16), true);
    expectError(b, "layers[1].reserved", e1 + 76);
  });
});

describe("block gates", () => {
  const { model: base } = buildSynthetic({ sizes: [6, 5, 4, 3], seed: 12, calibration: 16 });
  const gated: QuantModel = {
    layers: base.layers.map((l, i) => i !== 0 ? l : {
      ...l, gate: { blockSize: 2, blocks: 3, weights: Int8Array.from({ length: 18 }, (_, k) => k - 9), threshold: Int32Array.of(-5, 0, 7), topK: 0 },
    }),
  };
  const bytes = writeModel(gated);
  const e0 = HEADER_BYTES;

  it("round-trip in v2 with block_size and two gate sections", () => {
    const parsed = readModel(bytes);
    const g = parsed.model.layers[0].gate!;
    expect({ blockSize: g.blockSize, blocks: g.blocks, w: Array.from(g.weights), t: Array.from(g.threshold) })
      .toEqual({ blockSize: 2, blocks: 3, w: Array.from({ length: 18 }, (_, k) => k - 9), t: [-5, 0, 7] });
    expect(parsed.model.layers[1].gate).toBeNull();
    expect(parsed.sections.filter((s) => s.name.startsWith("gate_")).map((s) => [s.layer, s.name, s.bytes])).toEqual([[0, "gate_weights", 18], [0, "gate_threshold", 12]]);
    expect(writeModel(parsed.model)).toEqual(bytes);
  });

  it("name gate fields: block_size range, activation, gate offsets of an ungated layer", () => {
    const edit = (f: (dv: DataView) => void) => edited(f, true, bytes);
    expectError(edit((dv) => dv.setUint32(e0 + 76, 6, true)), "layers[0].block_size", e0 + 76);
    // block_size 3 → 2 blocks: the section sizes no longer match the totals
    expect(formatError(edit((dv) => dv.setUint32(e0 + 76, 3, true))).field).toMatch(/section_(count|bytes)/);
    const last = HEADER_BYTES + 2 * ENTRY_BYTES;
    expectError(edit((dv) => dv.setUint32(last + 76, 1, true)), "layers[2].activation", last + 12);
    expectError(edit((dv) => dv.setUint32(last + 80, 1024, true)), "layers[2].gate_weights_offset", last + 80);
    expect(() => writeModel({ layers: gated.layers.map((l, i) => (i === 0 ? { ...l, gate: { ...l.gate!, blocks: 2 } } : l)) })).toThrow(/3 blocks|2 blocks/);
  });
});


describe("model format v3: per-feature input quantization", () => {
  const n0 = model.layers[0].nIn;
  const features = { scale: Float32Array.from({ length: n0 }, (_, i) => 0.5 + i), offset: Float32Array.from({ length: n0 }, (_, i) => i - 2.5) };
  const v3: QuantModel = { ...model, inputFeatures: features };
  const bytes = writeModel(v3);
  const dv3 = new DataView(bytes.buffer);
  const e0 = HEADER_BYTES, e1 = HEADER_BYTES + ENTRY_BYTES;
  const scalesAt = dv3.getUint32(e0 + 88, true), offsetsAt = dv3.getUint32(e0 + 92, true);
  const edit = (f: (dv: DataView) => void, fixCrc = true) => edited(f, fixCrc, bytes);

  it("is written only for a model with inputFeatures: version 3, two sections after layer 0's, round-trips", () => {
    expect(dv3.getUint16(4, true)).toBe(3);
    expect(new DataView(good.buffer).getUint16(4, true)).toBe(2);
    const parsed = readModel(bytes);
    expect(Array.from(parsed.model.inputFeatures!.scale)).toEqual(Array.from(features.scale));
    expect(Array.from(parsed.model.inputFeatures!.offset)).toEqual(Array.from(features.offset));
    expect(parsed.sections.filter((s) => s.name.startsWith("in_")).map((s) => [s.layer, s.name, s.bytes])).toEqual([[0, "in_scales", 4 * n0], [0, "in_offsets", 4 * n0]]);
    expect(dv3.getUint32(32, true)).toBe(new DataView(good.buffer).getUint32(32, true) + 2);
    expect(writeModel(parsed.model)).toEqual(bytes);
    // Without the sections the same layers are the v2 file, byte for byte
    expect(writeModel({ layers: parsed.model.layers })).toEqual(good);
    expect(readModel(good).model.inputFeatures).toBeUndefined();
  });

  it("names a bad scale or offset element, a section out of bounds, and input offsets on another layer", () => {
    for (const [v, what] of [[0, "> 0"], [-0, "> 0"], [-1, "> 0"], [Number.NaN, "> 0"], [Infinity, "> 0"]] as const) {
      const e = expectError(edit((dv) => dv.setFloat32(scalesAt + 8, v, true)), "layers[0].in_scales[2]", scalesAt + 8);
      expect(e.expected).toContain(what);
    }
    // A positive subnormal scale is finite and > 0: it loads
    expect(readModel(edit((dv) => dv.setUint32(scalesAt, 1, true))).model.inputFeatures!.scale[0]).toBeGreaterThan(0);
    for (const v of [Number.NaN, -Infinity]) expectError(edit((dv) => dv.setFloat32(offsetsAt + 4 * (n0 - 1), v, true)), `layers[0].in_offsets[${n0 - 1}]`, offsetsAt + 4 * (n0 - 1));
    expectError(edit((dv) => dv.setUint32(e0 + 88, bytes.length - 16, true)), "layers[0].in_scales_offset", e0 + 88);
    expectError(edit((dv) => dv.setUint32(e0 + 92, offsetsAt + 4, true)), "layers[0].in_offsets_offset", e0 + 92);
    expectError(edit((dv) => dv.setUint32(e0 + 92, 0, true)), "layers[0].in_offsets_offset", e0 + 92);
    expectError(edit((dv) => dv.setUint32(e1 + 88, scalesAt, true)), "layers[1].in_scales_offset", e1 + 88);
    expectError(edit((dv) => dv.setUint32(e1 + 92, 16, true)), "layers[1].in_offsets_offset", e1 + 92);
    // Overlap with layer 0's weights
    expectError(edit((dv) => dv.setUint32(e0 + 88, dv.getUint32(e0 + 40, true), true)), "layers[0].in_scales_offset", e0 + 88);
  });

  it("the writer refuses what the reader would", () => {
    expect(() => writeModel({ ...model, inputFeatures: { ...features, scale: features.scale.map((v, i) => (i === 1 ? 0 : v)) } })).toThrow(/in_scales\[1\] is 0/);
    expect(() => writeModel({ ...model, inputFeatures: { ...features, offset: features.offset.map((v, i) => (i === 0 ? Number.NaN : v)) } })).toThrow(/in_offsets\[0\] is NaN/);
    expect(() => writeModel({ ...model, inputFeatures: { scale: features.scale.subarray(1), offset: features.offset } })).toThrow(/in_scales: 5 elements, expected 6/);
  });

  it("flipping any bit of a v3 file is rejected", () => {
    for (let i = 0; i < bytes.length * 8; i += 7) {
      const b = bytes.slice();
      b[i >> 3] ^= 1 << (i & 7);
      expect(() => readModel(b)).toThrow(FormatError);
    }
  });
});

describe("model format v4: top-k block gates", () => {
  const { model: base } = buildSynthetic({ sizes: [6, 5, 4, 3], seed: 12, calibration: 16 });
  const gate = (topK: number) => ({ blockSize: 2, blocks: 3, weights: Int8Array.from({ length: 18 }, (_, k) => k - 9), threshold: Int32Array.of(-5, 0, 7), topK });
  const withK = (topK: number, inputFeatures?: QuantModel["inputFeatures"]): QuantModel => ({
    layers: base.layers.map((l, i) => (i === 0 ? { ...l, gate: gate(topK) } : l)), ...(inputFeatures ? { inputFeatures } : {}),
  });
  const bytes = writeModel(withK(2));
  const e0 = HEADER_BYTES, e1 = HEADER_BYTES + ENTRY_BYTES_V4;
  const edit = (f: (dv: DataView) => void) => edited(f, true, bytes);

  it("is written only for a model with a top-k gate: version 4, 112-byte entries, gate_top_k at 96; round-trips", () => {
    const dv = new DataView(bytes.buffer);
    expect([dv.getUint16(4, true), dv.getUint32(20, true), dv.getUint32(28, true)]).toEqual([4, 112, Math.ceil((64 + 3 * 112) / 16) * 16]);
    expect([dv.getUint32(e0 + 96, true), dv.getUint32(e1 + 96, true)]).toEqual([2, 0]);
    for (let o = 100; o < 112; o += 4) expect(dv.getUint32(e0 + o, true)).toBe(0);
    // No input sections in this v4 file: both offsets 0
    expect([dv.getUint32(e0 + 88, true), dv.getUint32(e0 + 92, true)]).toEqual([0, 0]);
    const parsed = readModel(bytes);
    expect(parsed.model.layers.map((l) => l.gate?.topK ?? null)).toEqual([2, null, null]);
    expect(parsed.model.inputFeatures).toBeUndefined();
    expect(writeModel(parsed.model)).toEqual(bytes);
    // topK 0: the same model is the v2 file of before, byte for byte
    const v2 = writeModel(withK(0));
    expect(new DataView(v2.buffer).getUint16(4, true)).toBe(2);
    expect(readModel(v2).model.layers[0].gate!.topK).toBe(0);
    expect(bytes.length).toBe(v2.length + (Math.ceil((64 + 3 * 112) / 16) - Math.ceil((64 + 3 * 96) / 16)) * 16);
  });

  it("keeps per-feature input sections when present (both offsets set)", () => {
    const n0 = base.layers[0].nIn;
    const features = { scale: Float32Array.from({ length: n0 }, (_, i) => 0.5 + i), offset: Float32Array.from({ length: n0 }, (_, i) => i - 2.5) };
    const b = writeModel(withK(3, features));
    const dv = new DataView(b.buffer);
    expect(dv.getUint16(4, true)).toBe(4);
    expect(dv.getUint32(e0 + 88, true)).toBeGreaterThan(0);
    const parsed = readModel(b);
    expect(Array.from(parsed.model.inputFeatures!.offset)).toEqual(Array.from(features.offset));
    expect(parsed.model.layers[0].gate!.topK).toBe(3);
    expect(writeModel(parsed.model)).toEqual(b);
    // One offset without the other
    const one = b.slice();
    const dv1 = new DataView(one.buffer);
    dv1.setUint32(e0 + 92, 0, true);
    dv1.setUint32(12, crc32(one, 16), true);
    expectError(one, "layers[0].in_offsets_offset", e0 + 92);
    const other = b.slice();
    const dv2 = new DataView(other.buffer);
    dv2.setUint32(e0 + 88, 0, true);
    dv2.setUint32(12, crc32(other, 16), true);
    expectError(other, "layers[0].in_scales_offset", e0 + 88);
  });

  it("names gate_top_k out of range, on a layer without a gate, and non-zero reserved words", () => {
    const e = expectError(edit((dv) => dv.setUint32(e0 + 96, 4, true)), "layers[0].gate_top_k", e0 + 96);
    expect([e.expected, e.actual]).toEqual(["[0, 3]", "4"]);
    expectError(edit((dv) => dv.setUint32(e0 + 96, 0xffffffff, true)), "layers[0].gate_top_k", e0 + 96);
    const no = expectError(edit((dv) => dv.setUint32(e1 + 96, 1, true)), "layers[1].gate_top_k", e1 + 96);
    expect(no.expected).toMatch(/block_size 0/);
    for (const o of [100, 104, 108]) expectError(edit((dv) => dv.setUint32(e1 + o, 1, true)), "layers[1].reserved", e1 + o);
    // k = blocks and k = 0 load
    expect(readModel(edit((dv) => dv.setUint32(e0 + 96, 3, true))).model.layers[0].gate!.topK).toBe(3);
    expect(readModel(edit((dv) => dv.setUint32(e0 + 96, 0, true))).model.layers[0].gate!.topK).toBe(0);
  });

  it("the writer refuses a topK outside [0, blocks]", () => {
    for (const k of [-1, 4, 1.5, Number.NaN]) expect(() => writeModel(withK(k))).toThrow(/topK/);
  });

  it("catches every single-bit flip anywhere in a v4 file", () => {
    let flips = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = bytes.slice();
        b[i] ^= 1 << bit;
        expect(() => readModel(b)).toThrow(FormatError);
        flips++;
      }
    }
    expect(flips).toBe(bytes.length * 8);
  });
});
