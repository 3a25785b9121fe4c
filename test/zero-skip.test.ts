// Zero-input skipping, in-Wasm input quantization and the batched entry: each new kernel against
// its twin in runtime/src/reference.ts, and whole networks with and without zero skipping against the reference run_s8.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { pad8, sparseInput_s8_scratchBytes } from "../runtime/src/arena.ts";
import type { QuantModel } from "../runtime/src/model.ts";
import { quantizeInput } from "../runtime/src/quant.ts";
import { quantize_f32, requantizeRows_s32, RUN_DENSE, RUN_ZERO_SKIP, run_s8, sparseInput_s8, type RowsParams } from "../runtime/src/reference.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { buildSynthetic, syntheticInputs } from "../toolchain/model/synthetic.ts";
import { KernelHarness } from "./helpers/kernels.ts";
import { gatedNetCase } from "./helpers/models.ts";
import { int8s, maskWords, rowsCase, size, zeroPoint } from "./helpers/arbitraries.ts";

let h: KernelHarness;
beforeAll(async () => {
  h = await KernelHarness.create();
});

/** int8 inputs with a share of exact zero points, as after a ReLU or MNIST's background. */
const sparseInts = (n: number, zp: number) =>
  fc.tuple(int8s(n), fc.constantFrom(0, 0.5, 0.8, 0.95, 1), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n }))
    .map(([a, share, r]) => Int8Array.from(a, (v, i) => (r[i] < share ? zp : v)));

/** A Float32Array's bytes, for KernelHarness.put. */
const bits = (x: Float32Array) => new Int32Array(x.buffer, x.byteOffset, x.length);

describe("quantize_f32", () => {
  const floats = (n: number) => fc.oneof(
    fc.float32Array({ minLength: n, maxLength: n, noNaN: true, noDefaultInfinity: true }),
    fc.array(fc.oneof(fc.integer({ min: -300, max: 300 }).map((k) => k / 2), fc.double({ min: -2, max: 2, noNaN: true })), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a)),
    // Mostly +0 / −0 (MNIST's background): the SIMD path's all-zero steps, and their ends at odd sizes
    fc.array(fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.constantFrom(-0, 0.5, -1.5, 1e-40, 3)), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a)),
  );
  const scales = () => fc.oneof(fc.constantFrom(1, 0.5, 1 / 255, 0.1, 3), fc.float({ min: Math.fround(1e-6), max: Math.fround(1e3), noNaN: true }));
  it("Wasm equals the twin and runtime/src/quant.ts quantizeInput (round half away from zero, ties included)", () => {
    fc.assert(
      fc.property(size(), scales(), zeroPoint(), (n, scale, zp) => fc.assert(fc.property(floats(n), (x) => {
        const want = new Int8Array(n), twin = new Int8Array(n);
        quantizeInput(x, scale, zp, want);
        expect(quantize_f32(x, scale, zp, twin)).toBe(0);
        expect(Array.from(twin)).toEqual(Array.from(want));
        for (const simd of [1, 0]) {
          h.reset();
          const inp = h.put(bits(x)), out = h.reserve(n, 0x5a);
          expect(h.k.quantize_f32(inp, n, scale, zp, out, simd)).toBe(0);
          expect(Array.from(h.i8(out, n))).toEqual(Array.from(want));
        }
      }), { numRuns: 3 })),
      { numRuns: 400 },
    );
  });
  it("the SIMD per-tensor path (f32 y, 16 inputs per step) equals the definition next to half-integers, at extreme scales and past the clamp", () => {
    // x = (k + 0.5 + δ) · scale: exactly at, just off and 1/256 off the half-integers the f32 path hands to the definition
    const nearHalf = (scale: number) => fc.tuple(fc.integer({ min: -1100, max: 1100 }), fc.constantFrom(0, 1e-7, -1e-7, 1e-4, -1e-4, 1 / 256, -1 / 256, 0.0039, -0.0041, 0.3))
      .map(([k, d]) => Math.fround((k + 0.5 + d) * scale)).map((v) => (Number.isFinite(v) ? v : 0));
    const scaleArb = fc.oneof(fc.integer({ min: -35, max: 35 }).chain((e) => fc.double({ min: 1, max: 10, noNaN: true }).map((m) => m * 10 ** e)), fc.constantFrom(1 / 255, 1e-30, 1.01e-30, 1e30, 9.9e29));
    fc.assert(
      fc.property(scaleArb, zeroPoint(), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 15 }), (scale, zp, steps, extra) => {
        const n = 16 * steps + extra;
        return fc.assert(fc.property(fc.array(fc.oneof(nearHalf(scale), fc.constant(0), fc.float({ noNaN: true, noDefaultInfinity: true })), { minLength: n, maxLength: n }), (a) => {
          const x = Float32Array.from(a), want = new Int8Array(n);
          quantizeInput(x, scale, zp, want);
          for (const simd of [1, 0]) {
            h.reset();
            const inp = h.put(bits(x)), out = h.reserve(n, 0x5a);
            expect(h.k.quantize_f32(inp, n, scale, zp, out, simd)).toBe(0);
            expect(Array.from(h.i8(out, n))).toEqual(Array.from(want));
          }
        }), { numRuns: 4 });
      }),
      { numRuns: 300 },
    );
  });
  it("ties go away from zero where Math.round and f64.nearest differ", () => {
    const x = Float32Array.from([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 126.5, -127.5, 1e30, -1e30]);
    for (const simd of [1, 0]) {
      h.reset();
      const inp = h.put(bits(x)), out = h.reserve(x.length);
      expect(h.k.quantize_f32(inp, x.length, 1, 0, out, simd)).toBe(0);
      expect(Array.from(h.i8(out, x.length))).toEqual([1, 2, 3, -1, -2, -3, 0, 127, -128, 127, -128]);
    }
  });
  it("a NaN or infinite input is STATUS_NOT_FINITE; bad arguments are statuses", () => {
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      for (const at of [0, 1, 2, 4]) {
        const x = Float32Array.from([0, 1, 2, 3, 4]);
        x[at] = bad;
        expect(quantize_f32(x, 1, 0, new Int8Array(5))).toBe(-3);
        for (const simd of [1, 0]) {
          h.reset();
          expect(h.k.quantize_f32(h.put(bits(x)), 5, 1, 0, h.reserve(5), simd)).toBe(-3);
        }
      }
    }
    h.reset();
    const inp = h.reserve(64), out = h.reserve(16);
    expect(h.k.quantize_f32(inp, 0, 1, 0, out, 1)).toBe(-1);
    expect(h.k.quantize_f32(inp, 4, 0, 0, out, 1)).toBe(-1);
    expect(h.k.quantize_f32(inp, 4, Number.NaN, 0, out, 1)).toBe(-1);
    expect(h.k.quantize_f32(inp, 4, 1, 128, out, 1)).toBe(-1);
    expect(h.k.quantize_f32(h.memoryBytes - 8, 4, 1, 0, out, 1)).toBe(-4);
  });
});

/** Reads the list sparseInput_s8 wrote at s (kernels/wasm/sparse.ts layout). */
function readList(s: number, nIn: number) {
  const i32 = new Int32Array(h.k.memory.buffer);
  const [nnz, chunks, chunkElems] = [i32[s >> 2], i32[(s >> 2) + 1], i32[(s >> 2) + 2]];
  const x = new Int16Array(h.k.memory.buffer, s + 16, pad8(nIn)).slice();
  const chAt = s + 16 + Math.ceil((2 * pad8(nIn)) / 16) * 16;
  return { nnz, chunkElems, x, chunks: new Int32Array(h.k.memory.buffer, chAt, chunks).slice() };
}

describe("sparseInput_s8", () => {
  const listCase = () => fc.tuple(size(), zeroPoint()).chain(([nIn, zp]) => fc.record({ nIn: fc.constant(nIn), zp: fc.constant(zp), input: sparseInts(nIn, zp) }));
  it("Wasm (SIMD and scalar) writes the twin's list: x zero-padded, the chunks holding a non-zero input", () => {
    fc.assert(
      fc.property(listCase(), (c) => {
        const want = sparseInput_s8(c.input, c.nIn, c.zp);
        expect(want.nnz).toBe(c.input.filter((v) => v !== c.zp).length);
        for (const simd of [1, 0]) {
          h.reset();
          const inp = h.put(c.input), s = h.reserve(sparseInput_s8_scratchBytes(c.nIn), 0xa5);
          expect(h.k.sparseInput_s8(inp, c.nIn, c.zp, s, simd)).toBe(want.nnz);
          const got = readList(s, c.nIn);
          expect(Array.from(got.x)).toEqual(Array.from(want.x));
          expect(Array.from(got.chunks)).toEqual(Array.from(want.chunks));
          expect([got.nnz, got.chunkElems]).toEqual([want.nnz, want.chunkElems]);
        }
      }),
      { numRuns: 1500 },
    );
  });
  it("checks its arguments", () => {
    h.reset();
    const inp = h.put(Int8Array.from([1, 0, 2, 0, 3])), s = h.reserve(sparseInput_s8_scratchBytes(5));
    expect(h.k.sparseInput_s8(inp, 5, 0, s, 1)).toBe(3);
    expect(h.k.sparseInput_s8(inp, 0, 0, s, 1)).toBe(-1);
    expect(h.k.sparseInput_s8(inp, 5, 128, s, 1)).toBe(-1);
    expect(h.k.sparseInput_s8(inp, 5, 0, h.memoryBytes - 16, 1)).toBe(-4);
  });
});

describe("requantizeRows_s32", () => {
  it("Wasm equals the twin, masked and unmasked", () => {
    fc.assert(
      fc.property(rowsCase().chain((c) => fc.record({ c: fc.constant(c), acc: fc.array(fc.integer(), { minLength: c.nOut, maxLength: c.nOut }), masked: fc.boolean() })), ({ c, acc, masked }) => {
        const p: RowsParams = { ...c, actMin: c.relu ? c.outZp : -128, actMax: 127 };
        const a = Int32Array.from(acc);
        const want = new Int8Array(c.nOut);
        requantizeRows_s32(p, a, masked ? c.mask : null, want);
        h.reset();
        const ap = h.put(a), b = h.put(c.bias), m = h.put(c.multiplier), s = h.put(c.shift), mask = masked ? h.put(c.mask) : 0, out = h.reserve(c.nOut, 0x5a);
        expect(h.k.requantizeRows_s32(ap, b, m, s, c.nOut, c.outZp, p.actMin, p.actMax, mask, out)).toBe(0);
        expect(Array.from(h.i8(out, c.nOut))).toEqual(Array.from(want));
      }),
      { numRuns: 600 },
    );
  });
});

const netCase = () => gatedNetCase(70, [0, 0.5, 0.8, 0.95]);

const quantized = (model: QuantModel, x: Float32Array) =>
  quantizeInput(x, model.layers[0].inScale, model.layers[0].inZeroPoint, new Int8Array(x.length));

describe("run_s8 with RUN_ZERO_SKIP", () => {
  it("gives the outputs of the run without it and the reference's counters (SIMD and scalar, gated and dense)", async () => {
    let skipped = 0;
    await fc.assert(
      fc.asyncProperty(netCase(), async (c) => {
        const { model, rng } = buildSynthetic({
          sizes: c.sizes, ranks: c.kinds.map((k) => k.rank), gates: c.kinds.map((k) => k.gate), seed: c.seed, calibration: 16, inputZeros: c.zeros,
        });
        const engine = await Engine.fromModel(model);
        const q = quantized(model, syntheticInputs(rng, 1, c.sizes[0], c.zeros));
        for (const gating of [true, false]) {
          const plain = run_s8(model, q, gating ? 0 : RUN_DENSE);
          const ref = run_s8(model, q, RUN_ZERO_SKIP | (gating ? 0 : RUN_DENSE));
          expect(Array.from(ref.output)).toEqual(Array.from(plain.output));
          for (const simd of [true, false]) {
            const got = engine.infer(q, { gating, simd, zeroSkip: true });
            expect(Array.from(got.logits)).toEqual(Array.from(ref.output));
            got.stats.layers.forEach((st, l) => {
              const { estimatorMacs, rowMacs, rowsComputed, rowsSkipped } = st;
              expect({ l, estimatorMacs, rowMacs, rowsComputed, rowsSkipped }).toEqual({ l, ...ref.counters[l] });
              expect(rowMacs).toBeLessThanOrEqual(plain.counters[l].rowMacs);
              if (rowMacs < plain.counters[l].rowMacs) skipped++;
            });
          }
        }
      }),
      { numRuns: 150 },
    );
    expect(skipped).toBeGreaterThan(50);
  });

  it("counts the inputs of the chunks holding a non-zero value: one non-zero input costs 8 per row", async () => {
    const { bytes, model } = buildSynthetic({ sizes: [64, 48, 10], ranks: [8], seed: 7, calibration: 16 });
    const engine = await Engine.load(bytes);
    const zp = model.layers[0].inZeroPoint;
    const sparse = new Int8Array(64).fill(zp);
    sparse[11] = 40;
    const s = engine.infer(sparse, { zeroSkip: true }).stats.layers[0];
    expect(s.estimatorMacs).toBe(8 * 8 + 8 * 48); // A over one chunk, then B
    expect(s.rowMacs).toBe(s.rowsComputed * 8);
    const d = engine.infer(sparse).stats.layers[0];
    expect(d.estimatorMacs).toBe(8 * (64 + 48));
    expect(d.rowMacs).toBe(d.rowsComputed * 64);
  });
});

describe("run_batch_s8 (inferBatch)", () => {
  it("one call per 64 samples equals one infer per sample, float and int8, any schedule", async () => {
    const { bytes, model, rng } = buildSynthetic({ sizes: [33, 17, 8, 5], ranks: [4, 3], seed: 9, calibration: 16 });
    const engine = await Engine.load(bytes);
    const count = 150;
    const x = syntheticInputs(rng, count, 33, 0.6);
    for (const opt of [{}, { zeroSkip: true }, { gating: false }, { simd: false, zeroSkip: true }]) {
      const batch = engine.inferBatch(x, opt);
      let est = 0, rows = 0, computed = 0;
      for (let i = 0; i < count; i++) {
        const one = engine.infer(x.subarray(i * 33, (i + 1) * 33), opt);
        expect(Array.from(batch.logits.subarray(i * 5, (i + 1) * 5))).toEqual(Array.from(one.logits));
        expect(batch.labels[i]).toBe(one.label);
        est += one.stats.estimatorMacs;
        rows += one.stats.rowMacs;
        computed += one.stats.layers[0].rowsComputed;
      }
      expect([batch.stats.estimatorMacs, batch.stats.rowMacs, batch.stats.layers[0].rowsComputed]).toEqual([est, rows, computed]);
      expect(Array.from(engine.inferBatch(quantized(model, x), opt).logits)).toEqual(Array.from(batch.logits));
    }
  });
});
