import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { INT32_MAX, INT32_MIN, quantizeMultiplier, Q31_MIN_NORMAL } from "../runtime/src/quant.ts";
import { requantize_s32 } from "../runtime/src/reference.ts";
import { instantiateKernels, type KernelExports } from "../runtime/src/wasm.ts";

/** gemmlowp / TFLite MultiplyByQuantizedMultiplier written literally with BigInt: the oracle. */
function tfliteOracle(x: number, m: number, shift: number): number {
  const left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  const xs = BigInt.asIntN(32, BigInt(x) * (1n << BigInt(left)));
  let hi: bigint;
  if (xs === -(2n ** 31n) && BigInt(m) === -(2n ** 31n)) hi = 2n ** 31n - 1n;
  else {
    const ab = xs * BigInt(m);
    const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
    hi = (ab + nudge) / (1n << 31n); // BigInt division truncates toward zero, as C
  }
  const mask = (1n << BigInt(right)) - 1n;
  const rem = hi & mask;
  const threshold = (mask >> 1n) + (hi < 0n ? 1n : 0n);
  return Number((hi >> BigInt(right)) + (rem > threshold ? 1n : 0n));
}

const EDGE_X = [INT32_MIN, INT32_MIN + 1, -65536, -2, -1, 0, 1, 2, 65535, INT32_MAX - 1, INT32_MAX];
const EDGE_M = [INT32_MIN, -1, 0, 1, Q31_MIN_NORMAL, Q31_MIN_NORMAL + 1, 1518500250, INT32_MAX - 1, INT32_MAX];
const EDGE_SHIFT = [-31, -30, -17, -1, 0, 1, 15, 29, 30];

describe("requantize_s32", () => {
  let k: KernelExports;
  beforeAll(async () => {
    k = await instantiateKernels();
  });

  it("matches the TFLite oracle at INT32_MIN, INT32_MAX and both ends of the shift range (Wasm and TS)", () => {
    let checked = 0;
    for (const x of EDGE_X) for (const m of EDGE_M) for (const s of EDGE_SHIFT) {
      const want = tfliteOracle(x, m, s);
      expect([x, m, s, requantize_s32(x, m, s)]).toEqual([x, m, s, want]);
      expect([x, m, s, k.requantize_s32(x, m, s)]).toEqual([x, m, s, want]);
      checked++;
    }
    expect(checked).toBe(EDGE_X.length * EDGE_M.length * EDGE_SHIFT.length);
  });

  it("saturates the one overflowing product and rounds halves as specified", () => {
    expect(requantize_s32(INT32_MIN, INT32_MIN, 0)).toBe(INT32_MAX);
    // 0.5 multiplier: x/2, half away from zero in the divide, half up in the high multiply
    expect(requantize_s32(3, Q31_MIN_NORMAL, 0)).toBe(2); // 1.5 -> 2
    expect(requantize_s32(-3, Q31_MIN_NORMAL, 0)).toBe(-1); // -1.5 -> -1 (doubling high multiply rounds half up)
    expect(requantize_s32(3, Q31_MIN_NORMAL, -1)).toBe(1); // 0.75: hi = 2, then 2/2 = 1
    expect(requantize_s32(-6, Q31_MIN_NORMAL, -2)).toBe(-1); // -0.75: hi = -3, -3/4 -> -1 (away from zero)
    expect(requantize_s32(-2, Q31_MIN_NORMAL, -1)).toBe(-1); // -0.5 exactly: hi = -1, -1/2 -> -1
    expect(k.requantize_s32(-2, Q31_MIN_NORMAL, -1)).toBe(-1);
  });

  it("agrees with the oracle on random arguments (Wasm and TS)", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), fc.integer({ min: -31, max: 30 }), (x, m, s) => {
        const want = tfliteOracle(x, m, s);
        return requantize_s32(x, m, s) === want && k.requantize_s32(x, m, s) === want;
      }),
      { numRuns: 5000 },
    );
  });
});

describe("quantizeMultiplier", () => {
  it("represents reals in (0, 2^30) to within 2^-30 relative, normalised", () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-9, max: 1e9, noNaN: true }), (real) => {
        const { multiplier, shift } = quantizeMultiplier(real);
        const back = multiplier * 2 ** (shift - 31);
        return multiplier >= Q31_MIN_NORMAL && multiplier <= INT32_MAX && shift >= -31 && shift <= 30 && Math.abs(back - real) <= real * 2 ** -30;
      }),
      { numRuns: 2000 },
    );
  });

  it("fixes the 2^31 rounding case, maps 0 and tiny reals to 0, rejects reals too large", () => {
    expect(quantizeMultiplier(1 - 2 ** -34)).toEqual({ multiplier: Q31_MIN_NORMAL, shift: 1 });
    expect(quantizeMultiplier(1)).toEqual({ multiplier: Q31_MIN_NORMAL, shift: 1 });
    expect(quantizeMultiplier(0.5)).toEqual({ multiplier: Q31_MIN_NORMAL, shift: 0 });
    expect(quantizeMultiplier(0)).toEqual({ multiplier: 0, shift: 0 });
    expect(quantizeMultiplier(2 ** -40)).toEqual({ multiplier: 0, shift: 0 });
    expect(() => quantizeMultiplier(2 ** 31)).toThrow(RangeError);
    expect(() => quantizeMultiplier(Number.NaN)).toThrow(RangeError);
  });

  it("requantize with multiplier(1) is the identity on the estimator's int16 range", () => {
    const one = quantizeMultiplier(1);
    for (let x = -32768; x <= 32767; x += 7) expect(requantize_s32(x, one.multiplier, one.shift)).toBe(x);
  });
});
