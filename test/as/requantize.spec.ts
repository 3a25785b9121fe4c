import { Lcg } from "./util";
import { requantizeList, requantizePacked } from "../../kernels/wasm/fully-connected";
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

describe("requantizeList and requantizePacked (v128, four listed rows per step)", () => {
  test("equal clamp(outZp + requantize) at every shift, near and at the int8 ends, halves, INT32_MIN / MAX operands", () => {
    for (let k = 0; k < 2; k++) listed(k == 1);
  });
});

function listed(packed: bool): void {
    const rng = new Lcg(0x5eed0301);
    const n = 64;
    const acc = heap.alloc(n << 2), bias = heap.alloc(n << 2), mult = heap.alloc(n << 2), shift = heap.alloc(n << 2), rq = heap.alloc(n << 4);
    const rows = heap.alloc(n << 2), out = heap.alloc(n);
    let inRange = 0;
    for (let s = -31; s <= 30; s++) {
      for (let round = 0; round < 40; round++) {
        for (let j = 0; j < n; j++) {
          const m = round == 0 && j < 4 ? (j < 2 ? i32.MIN_VALUE : i32.MAX_VALUE) : round == 1 && j < 8 ? (j & 1) * 0x40000000 : <i32>(0x40000000 | (rng.word() & 0x3fffffff));
          // A target y in [-140, 140] and x just around y · 2^(31 − s) / m (halves included), or an edge x
          const y = <f64>rng.range(-140, 140) + <f64>rng.range(-2, 2) * 0.25;
          const t = m == 0 ? <f64>rng.range(-1000, 1000) : y * Math.pow(2.0, <f64>(31 - s)) / <f64>m;
          const edge = rng.range(0, 15);
          const x = edge == 0 ? i32.MIN_VALUE : edge == 1 ? i32.MAX_VALUE : edge == 2 ? 0 : <i32>max<f64>(-2147483648.0, min<f64>(2147483647.0, Math.round(t))) + rng.range(-2, 2);
          const b = rng.range(-3, 3);
          store<i32>(acc + (<usize>j << 2), x - b);
          store<i32>(bias + (<usize>j << 2), b);
          store<i32>(mult + (<usize>j << 2), m);
          store<i32>(shift + (<usize>j << 2), round == 2 ? rng.range(-31, 30) : s);
          store<i32>(rows + (<usize>j << 2), j);
        }
        const zp = rng.range(-20, 20);
        const count = round == 3 ? 61 : n;
        memory.fill(out, 0x55, n);
        if (packed) {
          // runtime/src/reference.ts requantLayout_s32
          for (let j = 0; j < n; j++) {
            const sh = load<i32>(shift + (<usize>j << 2)), p = rq + (<usize>j << 4);
            store<i32>(p, load<i32>(bias + (<usize>j << 2)));
            store<i32>(p, load<i32>(mult + (<usize>j << 2)), 4);
            store<i32>(p, sh >= 0 ? 1 << sh : 1 << (31 + sh), 8);
            store<i32>(p, sh >= 0 ? 0 : <i32>((<u32>1 << <u32>(-sh)) - 1), 12);
          }
          requantizePacked(acc, rq, rows, count, zp, -128, 127, out);
        } else {
          requantizeList(acc, bias, mult, shift, rows, count, zp, -128, 127, out);
        }
        for (let j = 0; j < count; j++) {
          const v = requantize_s32(load<i32>(acc + (<usize>j << 2)) + load<i32>(bias + (<usize>j << 2)), load<i32>(mult + (<usize>j << 2)), load<i32>(shift + (<usize>j << 2))) + zp;
          const want = <i8>min(max(v, -128), 127);
          if (v > -128 && v < 127) inRange++;
          if (load<i8>(out + j) != want) {
            expect<i8>(load<i8>(out + j)).toBe(want, (packed ? "packed " : "") + "shift " + load<i32>(shift + (<usize>j << 2)).toString() + " x " + (load<i32>(acc + (<usize>j << 2)) + load<i32>(bias + (<usize>j << 2))).toString() + " m " + load<i32>(mult + (<usize>j << 2)).toString());
          }
        }
        for (let j = count; j < n; j++) expect<u8>(load<u8>(out + j)).toBe(0x55, "past count");
      }
    }
    expect<i32>(inRange).toBeGreaterThan(62 * 40 * 30);
}
