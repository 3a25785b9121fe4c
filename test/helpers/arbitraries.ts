// fast-check generators for kernel parameters: odd sizes, edge values, realistic and extreme scales.
import fc from "fast-check";
import { INT32_MAX, INT32_MIN, Q31_MIN_NORMAL } from "../../runtime/src/quant.ts";

/** The size sweep of ggml's tests plus larger ones. */
export const SIZES = [1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257];
export const size = () => fc.oneof(fc.constantFrom(...SIZES), fc.integer({ min: 1, max: 300 }));

export const int8s = (n: number) =>
  fc.oneof(
    fc.int8Array({ minLength: n, maxLength: n }),
    fc.constantFrom(-128, 127).map((v) => new Int8Array(n).fill(v)),
    fc.array(fc.constantFrom(-128, -127, -1, 0, 1, 126, 127), { minLength: n, maxLength: n }).map((a) => Int8Array.from(a)),
  );

export const zeroPoint = () => fc.oneof(fc.constantFrom(-128, 127, 0), fc.integer({ min: -128, max: 127 }));
export const multiplier = () => fc.oneof(fc.constant(0), fc.constantFrom(Q31_MIN_NORMAL, INT32_MAX), fc.integer({ min: Q31_MIN_NORMAL, max: INT32_MAX }));
/** Mostly the shifts real models use, sometimes either end of the range. */
export const shift = () => fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -16, max: 0 }) }, { weight: 1, arbitrary: fc.constantFrom(-31, -30, 29, 30) }, { weight: 1, arbitrary: fc.integer({ min: -31, max: 30 }) });
export const bias = () => fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -100000, max: 100000 }) }, { weight: 1, arbitrary: fc.constantFrom(INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1) }, { weight: 1, arbitrary: fc.integer() });
export const int32s = (n: number, arb: fc.Arbitrary<number>) => fc.array(arb, { minLength: n, maxLength: n }).map((a) => Int32Array.from(a));
export const maskWords = (nOut: number) =>
  fc.oneof(
    fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: (nOut + 31) >>> 5, maxLength: (nOut + 31) >>> 5 }).map((a) => Uint32Array.from(a)),
    fc.constantFrom(0, 0xffffffff).map((v) => new Uint32Array((nOut + 31) >>> 5).fill(v)),
  );

/** A full parameter set for denseRows_s8 / gatedRows_s8. */
export const rowsCase = () =>
  fc.tuple(size(), size()).chain(([nIn, nOut]) =>
    fc.record({
      nIn: fc.constant(nIn),
      nOut: fc.constant(nOut),
      inZp: zeroPoint(),
      outZp: zeroPoint(),
      relu: fc.boolean(),
      input: int8s(nIn),
      weights: int8s(nIn * nOut),
      bias: int32s(nOut, bias()),
      multiplier: int32s(nOut, multiplier()),
      shift: int32s(nOut, shift()),
      mask: maskWords(nOut),
    }),
  );
