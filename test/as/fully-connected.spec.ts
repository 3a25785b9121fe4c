import { denseRows_s8, gatedRows_s8 } from "../../kernels/wasm/fully-connected";
import { STATUS_OK } from "../../kernels/wasm/status";
import { SIZES, Lcg, Arena, Layer, fillMask, expectBytes } from "./util";

const arena = new Arena(1 << 20);

function dense(l: Layer, out: usize, simd: i32): i32 {
  return denseRows_s8(l.input, l.nIn, l.inZp, l.w, l.bias, l.mult, l.shift,
    l.nOut, l.outZp, l.actMin, l.actMax, out, l.scratch, simd);
}

function gated(l: Layer, out: usize, mask: usize, simd: i32): i32 {
  return gatedRows_s8(l.input, l.nIn, l.inZp, l.w, l.bias, l.mult, l.shift,
    l.nOut, l.outZp, l.actMin, l.actMax, out, l.scratch, mask, simd);
}

function shape(nIn: i32, nOut: i32): string {
  return "nIn=" + nIn.toString() + " nOut=" + nOut.toString();
}

describe("denseRows_s8 / gatedRows_s8", () => {
  test("gated with an all-ones mask equals dense, byte for byte", () => {
    const rng = new Lcg(0x5eed0001);
    for (let a = 0; a < SIZES.length; a++) {
      for (let b = 0; b < SIZES.length; b++) {
        arena.reset();
        const l = new Layer(arena, rng, SIZES[a], SIZES[b]);
        const mask = arena.alloc(((l.nOut + 31) >>> 5) << 2);
        fillMask(mask, l.nOut, 0xffffffff);
        const want = arena.alloc(l.nOut);
        const got = arena.alloc(l.nOut);
        for (let simd = 0; simd <= 1; simd++) {
          expect<i32>(dense(l, want, simd)).toBe(STATUS_OK);
          expect<i32>(gated(l, got, mask, simd)).toBe(STATUS_OK);
          expectBytes(got, want, l.nOut, "gated vs dense " + shape(l.nIn, l.nOut) + " simd=" + simd.toString());
        }
      }
    }
  });

  test("SIMD and scalar paths are bit-identical", () => {
    const rng = new Lcg(0x5eed0002);
    for (let a = 0; a < SIZES.length; a++) {
      for (let b = 0; b < SIZES.length; b++) {
        arena.reset();
        const l = new Layer(arena, rng, SIZES[a], SIZES[b]);
        const words = (l.nOut + 31) >>> 5;
        const mask = arena.alloc(words << 2);
        for (let w = 0; w < words; w++) store<u32>(mask + (<usize>w << 2), rng.word());
        const scalar = arena.alloc(l.nOut);
        const simd = arena.alloc(l.nOut);
        expect<i32>(dense(l, scalar, 0)).toBe(STATUS_OK);
        expect<i32>(dense(l, simd, 1)).toBe(STATUS_OK);
        expectBytes(simd, scalar, l.nOut, "denseRows_s8 simd vs scalar " + shape(l.nIn, l.nOut));
        expect<i32>(gated(l, scalar, mask, 0)).toBe(STATUS_OK);
        expect<i32>(gated(l, simd, mask, 1)).toBe(STATUS_OK);
        expectBytes(simd, scalar, l.nOut, "gatedRows_s8 simd vs scalar " + shape(l.nIn, l.nOut));
      }
    }
  });

  test("an all-zero mask writes only the output zero point", () => {
    const rng = new Lcg(0x5eed0003);
    for (let a = 0; a < SIZES.length; a++) {
      for (let b = 0; b < SIZES.length; b++) {
        arena.reset();
        const l = new Layer(arena, rng, SIZES[a], SIZES[b]);
        const mask = arena.alloc(((l.nOut + 31) >>> 5) << 2);
        const out = arena.alloc(l.nOut);
        for (let simd = 0; simd <= 1; simd++) {
          memory.fill(out, <u8>(l.outZp + 1), l.nOut);
          expect<i32>(gated(l, out, mask, simd)).toBe(STATUS_OK);
          for (let j = 0; j < l.nOut; j++) {
            const v = <i32>load<i8>(out + j);
            if (v != l.outZp) expect<i32>(v).toBe(l.outZp, shape(l.nIn, l.nOut) + " unit " + j.toString());
          }
        }
      }
    }
  });

  test("mask bits past nOut are ignored and nothing past the output is written", () => {
    const rng = new Lcg(0x5eed0004);
    const SENTINEL: u8 = 0xa5;
    for (let a = 0; a < SIZES.length; a++) {
      for (let b = 0; b < SIZES.length; b++) {
        arena.reset();
        const l = new Layer(arena, rng, SIZES[a], SIZES[b]);
        const words = (l.nOut + 31) >>> 5;
        const stray = arena.alloc(words << 2);
        const clean = arena.alloc(words << 2);
        for (let w = 0; w < words; w++) {
          const bits = rng.word();
          store<u32>(stray + (<usize>w << 2), bits);
          store<u32>(clean + (<usize>w << 2), bits);
        }
        // Stray bits set in the last word, cleared in the clean copy
        const tail = l.nOut & 31;
        if (tail != 0) {
          const last = <usize>(words - 1) << 2;
          store<u32>(stray + last, load<u32>(stray + last) | ~((<u32>1 << tail) - 1));
          store<u32>(clean + last, load<u32>(clean + last) & ((<u32>1 << tail) - 1));
        }
        const want = arena.alloc(l.nOut);
        const got = arena.alloc(l.nOut + 16);
        for (let simd = 0; simd <= 1; simd++) {
          memory.fill(got, SENTINEL, l.nOut + 16);
          expect<i32>(gated(l, want, clean, simd)).toBe(STATUS_OK);
          expect<i32>(gated(l, got, stray, simd)).toBe(STATUS_OK);
          expectBytes(got, want, l.nOut, "stray mask bits " + shape(l.nIn, l.nOut));
          for (let k = 0; k < 16; k++) {
            const v = load<u8>(got + l.nOut + k);
            if (v != SENTINEL) expect<u8>(v).toBe(SENTINEL, "sentinel " + k.toString() + " past " + shape(l.nIn, l.nOut));
          }
        }
      }
    }
  });
});
