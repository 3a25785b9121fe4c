// Wasm kernels against their TS twins, byte for byte, on random shapes and edge values.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { denseRows_s8, estimateSign_s8, gatedRows_s8, maskCount, quantize_f32, type RowsParams } from "../runtime/src/reference.ts";
import { denseRows_s8_scratchBytes, estimateSign_s8_scratchBytes, gatedRows_s8_scratchBytes, run_s8_scratchBytes, sparseInput_s8_scratchBytes } from "../runtime/src/arena.ts";
import { clamp, estimatorTMax, INT32_MAX, INT32_MIN, Q31_MIN_NORMAL, roundHalfAway } from "../runtime/src/quant.ts";
import { instantiateKernels } from "../runtime/src/wasm.ts";
import { KernelHarness } from "./helpers/kernels.ts";
import { int32s, int8s, maskWords, multiplier, rowsCase, shift, size, zeroPoint } from "./helpers/arbitraries.ts";
import { STATUS_NAMES } from "../runtime/src/errors.ts";

let h: KernelHarness;
beforeAll(async () => {
  h = await KernelHarness.create();
});

type RowsCase = fc.Arbitrary<any> extends fc.Arbitrary<infer T> ? T : never;

function params(c: any): RowsParams {
  return { ...c, actMin: c.relu ? c.outZp : -128, actMax: 127 };
}

/** Calls a rows kernel in Wasm; returns its status and output. */
function wasmRows(c: any, gated: boolean, simd: number): { status: number; out: Int8Array } {
  h.reset();
  const p = params(c);
  const inp = h.put(c.input), w = h.put(c.weights), b = h.put(c.bias), m = h.put(c.multiplier), s = h.put(c.shift);
  const out = h.reserve(c.nOut, 0x5a), scratch = h.reserve(denseRows_s8_scratchBytes(c.nIn, c.nOut), 0xa5);
  const status = gated
    ? h.k.gatedRows_s8(inp, c.nIn, c.inZp, w, b, m, s, c.nOut, c.outZp, p.actMin, p.actMax, out, scratch, h.put(c.mask), simd)
    : h.k.denseRows_s8(inp, c.nIn, c.inZp, w, b, m, s, c.nOut, c.outZp, p.actMin, p.actMax, out, scratch, simd);
  return { status, out: h.i8(out, c.nOut) };
}

/** First differing position, for a readable failure: position, actual, expected. */
function sameBytes(actual: Int8Array, expected: Int8Array, what: string): void {
  const i = actual.findIndex((v, j) => v !== expected[j]);
  if (i >= 0 || actual.length !== expected.length) {
    throw new Error(`${what}: first difference at [${i}]: wasm ${actual[i]}, reference ${expected[i]} (length ${actual.length} vs ${expected.length})`);
  }
}

describe("denseRows_s8 / gatedRows_s8", () => {
  it("Wasm (SIMD and scalar) equals the reference on random shapes and edge values", () => {
    fc.assert(
      fc.property(rowsCase(), (c) => {
        const p = params(c);
        const dense = new Int8Array(c.nOut), gated = new Int8Array(c.nOut);
        denseRows_s8(p, c.input, dense);
        gatedRows_s8(p, c.input, c.mask, gated);
        for (const simd of [1, 0]) {
          const d = wasmRows(c, false, simd), g = wasmRows(c, true, simd);
          expect(d.status).toBe(0);
          expect(g.status).toBe(0);
          sameBytes(d.out, dense, `denseRows_s8 simd=${simd}`);
          sameBytes(g.out, gated, `gatedRows_s8 simd=${simd}`);
        }
      }),
      { numRuns: 2500 },
    );
  });

  it("requantization at the edges the models never store (v128 lanes = scalar = reference): multiplier INT32_MIN, xs = INT32_MIN, any shift", () => {
    fc.assert(
      fc.property(rowsCase(), fc.boolean(), (c0, zeroInput) => fc.assert(fc.property(
        int32s(c0.nOut, fc.constantFrom(INT32_MIN, INT32_MAX, 0, 1, -1, Q31_MIN_NORMAL)),
        int32s(c0.nOut, fc.oneof(fc.constantFrom(INT32_MIN, 1 << 30, -(1 << 30), 1 << 29, 0, 1, -1), fc.integer())),
        int32s(c0.nOut, fc.integer({ min: -31, max: 30 })),
        (multiplier, bias, shift) => {
          // Zero input: acc = 0, so xs = bias << left reaches INT32_MIN (bias INT32_MIN; 2^30 << 1; 2^29 << 2)
          const c = { ...c0, multiplier, bias, shift, input: zeroInput ? new Int8Array(c0.nIn).fill(c0.inZp) : c0.input };
          const p = params(c);
          const dense = new Int8Array(c.nOut), gated = new Int8Array(c.nOut);
          denseRows_s8(p, c.input, dense);
          gatedRows_s8(p, c.input, c.mask, gated);
          for (const simd of [1, 0]) {
            sameBytes(wasmRows(c, false, simd).out, dense, `denseRows_s8 simd=${simd}`);
            sameBytes(wasmRows(c, true, simd).out, gated, `gatedRows_s8 simd=${simd}`);
          }
        },
      ), { numRuns: 4 })),
      { numRuns: 300 },
    );
  });

  it("gated with an all-ones mask equals dense byte for byte", () => {
    fc.assert(
      fc.property(rowsCase(), (c) => {
        const ones = { ...c, mask: new Uint32Array(c.mask.length).fill(0xffffffff) };
        sameBytes(wasmRows(ones, true, 1).out, wasmRows(c, false, 1).out, "all-ones gated vs dense");
      }),
      { numRuns: 300 },
    );
  });

  it("writes the output zero point for every unmasked unit and ignores bits past nOut", () => {
    fc.assert(
      fc.property(rowsCase(), (c) => {
        const { out } = wasmRows(c, true, 1);
        for (let j = 0; j < c.nOut; j++) {
          if (!((c.mask[j >>> 5] >>> (j & 31)) & 1)) expect(out[j]).toBe(c.outZp);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("clamps to the activation range: ReLU never writes below the output zero point", () => {
    fc.assert(
      fc.property(rowsCase(), (c) => {
        const { out } = wasmRows({ ...c, relu: true }, false, 1);
        return out.every((v) => v >= c.outZp);
      }),
      { numRuns: 300 },
    );
  });
});

const estimatorCase = () =>
  fc.tuple(size(), size()).chain(([nIn, nOut]) =>
    fc.integer({ min: 1, max: Math.min(nIn, nOut) }).chain((rank) =>
      fc.record({
        nIn: fc.constant(nIn), nOut: fc.constant(nOut), rank: fc.constant(rank),
        inZp: zeroPoint(),
        tMax: fc.oneof(fc.constant(estimatorTMax(rank)), fc.integer({ min: 1, max: estimatorTMax(rank) })),
        input: int8s(nIn),
        a: int8s(rank * nIn),
        tMultiplier: int32s(rank, multiplier()),
        tShift: int32s(rank, shift()),
        b: int8s(nOut * rank),
        threshold: int32s(nOut, fc.oneof(fc.integer({ min: -200000, max: 200000 }), fc.integer())),
        garbage: maskWords(nOut),
      }),
    ),
  );

function wasmEstimate(c: any, simd: number): { status: number; mask: Uint32Array } {
  h.reset();
  const words = (c.nOut + 31) >>> 5;
  const inp = h.put(c.input), a = h.put(c.a), tm = h.put(c.tMultiplier), ts = h.put(c.tShift), b = h.put(c.b), thr = h.put(c.threshold);
  const mask = h.put(c.garbage);
  const scratch = h.reserve(estimateSign_s8_scratchBytes(c.nIn, c.rank), 0xa5);
  const status = h.k.estimateSign_s8(inp, c.nIn, c.inZp, a, tm, ts, c.rank, c.tMax, b, thr, c.nOut, mask, scratch, simd);
  return { status, mask: h.u32(mask, words) };
}

describe("estimateSign_s8", () => {
  it("Wasm (SIMD and scalar) equals the reference; bits past nOut are zero", () => {
    fc.assert(
      fc.property(estimatorCase(), (c) => {
        const want = new Uint32Array((c.nOut + 31) >>> 5);
        estimateSign_s8(c, c.input, want);
        for (const simd of [1, 0]) {
          const { status, mask } = wasmEstimate(c, simd);
          expect(status).toBe(0);
          expect(Array.from(mask)).toEqual(Array.from(want));
        }
        const rest = c.nOut & 31;
        if (rest) expect(want[want.length - 1] >>> rest).toBe(0);
      }),
      { numRuns: 2500 },
    );
  });

  it("maskCount equals the reference popcount of the first n bits", () => {
    fc.assert(
      fc.property(size(), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 10, maxLength: 10 }), (n, words) => {
        const mask = Uint32Array.from(words.slice(0, (n + 31) >>> 5));
        h.reset();
        return h.k.maskCount(h.put(mask), n) === maskCount(mask, n);
      }),
      { numRuns: 500 },
    );
  });
});

describe("kernel argument checks return a status, never trap", () => {
  const base = () => {
    h.reset();
    const inp = h.reserve(16), w = h.reserve(256), b = h.reserve(64), m = h.reserve(64), s = h.reserve(64);
    const out = h.reserve(16), scratch = h.reserve(1024), mask = h.reserve(16);
    return { inp, w, b, m, s, out, scratch, mask };
  };
  const dense = (o: ReturnType<typeof base>, over: Partial<Record<string, number>> = {}) => {
    const a = { nIn: 8, inZp: 0, nOut: 8, outZp: 0, actMin: -128, actMax: 127, ...o, ...over };
    return h.k.denseRows_s8(a.inp, a.nIn, a.inZp, a.w, a.b, a.m, a.s, a.nOut, a.outZp, a.actMin, a.actMax, a.out, a.scratch, 1);
  };
  it("bad dimensions, zero points and clamp bounds give STATUS_BAD_ARG", () => {
    const o = base();
    expect(dense(o)).toBe(0);
    for (const over of [{ nIn: 0 }, { nOut: 0 }, { nIn: -5 }, { nOut: 65536 }, { inZp: 128 }, { outZp: -129 }, { actMin: 10, actMax: 5 }, { actMax: 128 }]) {
      expect([over, STATUS_NAMES[dense(o, over)]]).toEqual([over, "STATUS_BAD_ARG"]);
    }
  });
  it("buffers past the end of memory give STATUS_BAD_SIZE", () => {
    const o = base();
    const end = h.memoryBytes;
    for (const over of [{ inp: end - 4 }, { w: end - 10 }, { w: end - 64 - 4 }, { b: end - 8 }, { out: end }, { scratch: end - 2 }, { m: -16 }]) {
      expect([over, STATUS_NAMES[dense(o, over)]]).toEqual([over, "STATUS_BAD_SIZE"]);
    }
    expect(h.k.gatedRows_s8(o.inp, 8, 0, o.w, o.b, o.m, o.s, 64, 0, -128, 127, o.out, o.scratch, end - 4, 1)).toBe(-4);
  });
  it("estimator rank and tMax outside their ranges give STATUS_BAD_ARG", () => {
    const o = base();
    const est = (rank: number, tMax: number, nIn = 8, nOut = 8) =>
      h.k.estimateSign_s8(o.inp, nIn, 0, o.w, o.m, o.s, rank, tMax, o.w, o.b, nOut, o.mask, o.scratch, 1);
    expect(est(4, 100)).toBe(0);
    expect(est(0, 100)).toBe(-1);
    expect(est(9, 100)).toBe(-1);
    expect(est(4, 0)).toBe(-1);
    expect(est(4, 32768)).toBe(-1);
    expect(est(4, estimatorTMax(4) + 1)).toBe(estimatorTMax(4) + 1 > 32767 ? -1 : 0);
  });
  it("the TS sizing partners equal the Wasm ones", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), (n, k) =>
        h.k.denseRows_s8_scratchBytes(n, k) === denseRows_s8_scratchBytes(n, k)
        && h.k.gatedRows_s8_scratchBytes(n, k) === gatedRows_s8_scratchBytes(n, k)
        && h.k.estimateSign_s8_scratchBytes(n, k) === estimateSign_s8_scratchBytes(n, k)
        && h.k.sparseInput_s8_scratchBytes(n) === sparseInput_s8_scratchBytes(n)
        && h.k.run_s8_scratchBytes(n, k, Math.min(n, k)) === run_s8_scratchBytes(n, k, Math.min(n, k))),
      { numRuns: 300 },
    );
  });
});

describe("quantize_f32 per feature (format v3): Wasm SIMD, Wasm scalar, MVP build and the TS twin agree byte for byte", () => {
  const f32 = (x: Float32Array) => new Int32Array(x.buffer, x.byteOffset, x.length);
  /** Scales from tiny (subnormal) to huge, offsets anywhere, inputs at ties, at the clamp and −0. */
  const scaleArb = fc.oneof(
    fc.constantFrom(1, 0.5, 1 / 255, 3, 2 ** -149, 2 ** -126, 3.4028234663852886e38, 1e-30, 1e30),
    fc.float({ min: Math.fround(1e-6), max: Math.fround(1e6), noNaN: true }),
  ).map(Math.fround);
  const finite = fc.float({ noNaN: true, noDefaultInfinity: true });
  const caseArb = size().chain((n) => fc.record({
    n: fc.constant(n),
    zp: zeroPoint(),
    scale: fc.array(scaleArb, { minLength: n, maxLength: n }),
    offset: fc.array(fc.oneof(fc.constantFrom(0, -0, 0.5, -1.5, 1e30), finite), { minLength: n, maxLength: n }),
    // k: x = o + s·(k/2): ties (up to the f32 rounding of x) and the ends of the clamp, or any float
    raw: fc.array(fc.oneof(fc.integer({ min: -600, max: 600 }).map((k) => ({ k })), finite.map((v) => ({ v })), fc.constant({ v: -0 })), { minLength: n, maxLength: n }),
  }));
  let mvp: KernelHarness;
  beforeAll(async () => {
    const k = await instantiateKernels(undefined, "mvp");
    k.memory.grow(64);
    mvp = new KernelHarness(k);
  });

  it("random per-feature scales and offsets, edge values included", () => {
    fc.assert(fc.property(caseArb, (c) => {
      const scale = Float32Array.from(c.scale), offset = Float32Array.from(c.offset);
      const x = Float32Array.from(c.raw, (r, i) => ("k" in r ? offset[i] + scale[i] * (r.k / 2) : r.v));
      for (let i = 0; i < c.n; i++) if (!Number.isFinite(x[i])) x[i] = offset[i];
      const want = new Int8Array(c.n);
      expect(quantize_f32(x, 1, c.zp, want, { scale, offset })).toBe(0);
      // The definition, independently: round half away from zero of the f32 (x − o) / s (two binary32 operations: a
      // Float32Array holds each rounded result), plus zp, clamped
      const d = Float32Array.from(x, (v, i) => v - offset[i]), y = Float32Array.from(d, (v, i) => v / scale[i]);
      for (let i = 0; i < c.n; i++) expect(want[i]).toBe(clamp(roundHalfAway(y[i]) + c.zp, -128, 127));
      for (const [harness, simds] of [[h, [1, 0]], [mvp, [1]]] as const) {
        for (const simd of simds) {
          harness.reset();
          const inp = harness.put(f32(x)), s = harness.put(f32(scale)), o = harness.put(f32(offset)), out = harness.reserve(c.n, 0x5a);
          expect(harness.k.quantize_f32(inp, c.n, 1, c.zp, out, simd, s, o)).toBe(0);
          sameBytes(harness.i8(out, c.n), want, `quantize_f32 per feature n=${c.n} simd=${simd}`);
        }
      }
    }), { numRuns: 300 });
  });

  it("a power-of-two scale and offset 0 give the per-tensor bytes (both divisions exact); statuses for bad arguments", () => {
    fc.assert(fc.property(size(), fc.integer({ min: -20, max: 20 }), zeroPoint(), (n, e, zp) => {
      const s = 2 ** e;
      const x = Float32Array.from({ length: n }, (_, i) => (i % 7) * s * 0.25 - 3 * s + (i % 3 === 0 ? -0 : 0));
      const a = new Int8Array(n), b = new Int8Array(n);
      quantize_f32(x, s, zp, a);
      quantize_f32(x, 1, zp, b, { scale: new Float32Array(n).fill(s), offset: new Float32Array(n) });
      expect(Array.from(b)).toEqual(Array.from(a));
    }), { numRuns: 200 });
    h.reset();
    const inp = h.reserve(64), out = h.reserve(16), s = h.put(f32(new Float32Array(4).fill(1)));
    expect(h.k.quantize_f32(inp, 4, 1, 0, out, 1, s, 0)).toBe(-1);
    expect(h.k.quantize_f32(inp, 4, 1, 0, out, 1, 0, s)).toBe(-1);
    expect(h.k.quantize_f32(inp, 4, 1, 0, out, 1, h.memoryBytes - 8, s)).toBe(-4);
    const nan = Float32Array.from([0, Number.NaN, 0, 0]);
    expect(quantize_f32(nan, 1, 0, new Int8Array(4), { scale: new Float32Array(4).fill(1), offset: new Float32Array(4) })).toBe(-3);
    for (const simd of [1, 0]) expect(h.k.quantize_f32(h.put(f32(nan)), 4, 1, 0, out, simd, s, s)).toBe(-3);
  });
});
