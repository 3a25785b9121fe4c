import { requantize_s32 } from "../../kernels/wasm/requantize";

const MIN = i32.MIN_VALUE;
const MAX = i32.MAX_VALUE;
const HALF: i32 = 1 << 30; // 0.5 in Q31

describe("requantize_s32", () => {
  test("INT32_MIN · INT32_MIN saturates to INT32_MAX", () => {
    expect<i32>(requantize_s32(MIN, MIN, 0)).toBe(MAX);
  });

  test("x · 0 = 0 at every shift", () => {
    const xs: StaticArray<i32> = [MIN, -12345, -1, 0, 1, 77777, MAX];
    for (let s = -31; s <= 30; s++) {
      for (let i = 0; i < xs.length; i++) {
        expect<i32>(requantize_s32(xs[i], 0, s)).toBe(0, "x=" + xs[i].toString() + " shift=" + s.toString());
      }
    }
  });

  test("multiplier 2^30 with shift 1 is the identity on int16", () => {
    // hi = floor((2x·2^30 + 2^30) / 2^31) = floor(x + 1/2) = x
    for (let x = -32768; x <= 32767; x++) {
      const y = requantize_s32(x, HALF, 1);
      if (y != x) expect<i32>(y).toBe(x, "x=" + x.toString());
    }
    expect<i32>(requantize_s32(-32768, HALF, 1)).toBe(-32768);
    expect<i32>(requantize_s32(32767, HALF, 1)).toBe(32767);
  });

  test("shift -31", () => {
    // hi = floor(((2^31−1)^2 + 2^30) / 2^31) = 2^31 − 2; (2^31 − 2) / 2^31 rounds to 1
    expect<i32>(requantize_s32(MAX, MAX, -31)).toBe(1);
    // hi = INT32_MAX (saturated); (2^31 − 1) / 2^31 rounds to 1
    expect<i32>(requantize_s32(MIN, MIN, -31)).toBe(1);
    // hi = floor((2^31 − 1 + 1) / 2) = 2^30; 2^30 / 2^31 = +0.5 rounds away from zero to 1
    expect<i32>(requantize_s32(MAX, HALF, -31)).toBe(1);
    // hi = floor((−2^31 + 1) / 2) = −2^30; −2^30 / 2^31 = −0.5 rounds away from zero to −1
    expect<i32>(requantize_s32(MIN, HALF, -31)).toBe(-1);
    // hi = floor((2^31 − 3 + 1) / 2) = 2^30 − 1; just under +0.5 rounds to 0
    expect<i32>(requantize_s32(MAX - 2, HALF, -31)).toBe(0);
    // hi = floor((−2^31 + 2 + 1) / 2) = −2^30 + 1; just above −0.5 rounds to 0
    expect<i32>(requantize_s32(MIN + 2, HALF, -31)).toBe(0);
  });

  test("shift 30", () => {
    // xs = 2^30; hi = floor((2^60 + 2^30) / 2^31) = 2^29
    expect<i32>(requantize_s32(1, HALF, 30)).toBe(1 << 29);
    // xs = 2^30; hi = floor((2^30·(2^31 − 1) + 2^30) / 2^31) = 2^30
    expect<i32>(requantize_s32(1, MAX, 30)).toBe(1 << 30);
    // xs = −2 << 30 = −2^31; hi = floor((−2^61 + 2^30) / 2^31) = −2^30
    expect<i32>(requantize_s32(-2, HALF, 30)).toBe(-(1 << 30));
    // xs = 3 << 30 wraps to −2^30; hi = floor((−2^60 + 2^30) / 2^31) = −2^29
    expect<i32>(requantize_s32(3, HALF, 30)).toBe(-(1 << 29));
    // xs = 2 << 30 wraps to −2^31; hi = floor((−2^31·(2^31 − 1) + 2^30) / 2^31) = −2^31 + 1
    expect<i32>(requantize_s32(2, MAX, 30)).toBe(MIN + 1);
  });

  test("halves round up in the high multiply (shift 0)", () => {
    // hi = floor((x + 1) / 2)
    expect<i32>(requantize_s32(3, HALF, 0)).toBe(2);
    expect<i32>(requantize_s32(-3, HALF, 0)).toBe(-1);
  });

  test("halves round away from zero in the divide (shift -1)", () => {
    // hi = floor((−2 + 1) / 2) = −1; −1 / 2 = −0.5 → −1
    expect<i32>(requantize_s32(-2, HALF, -1)).toBe(-1);
    // hi = floor((3 + 1) / 2) = 2; 2 / 2 = 1
    expect<i32>(requantize_s32(3, HALF, -1)).toBe(1);
  });
});
