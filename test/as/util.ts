// Shared helpers for the as-pect specs: a deterministic LCG, a bump arena and byte comparisons.
import { denseRows_s8_scratchBytes } from "../../kernels/wasm/fully-connected";

/** Sizes swept by every kernel test (ggml's odd-size list). */
export const SIZES: StaticArray<i32> = [1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33];

/** Numerical Recipes LCG; `next` returns the high 24 bits of the state. */
export class Lcg {
  constructor(public state: u32) {}
  next(): u32 {
    this.state = this.state * 1664525 + 1013904223;
    return this.state >>> 8;
  }
  /** Uniform-ish in [lo, hi]. */
  range(lo: i32, hi: i32): i32 {
    return lo + <i32>(this.next() % <u32>(hi - lo + 1));
  }
  word(): u32 {
    return (this.next() << 16) ^ this.next();
  }
}

/** Bump allocator over one heap block; `reset` frees everything at once. */
export class Arena {
  base: usize;
  top: usize;
  end: usize;
  constructor(bytes: i32) {
    this.base = (heap.alloc(<usize>bytes + 16) + 15) & ~<usize>15;
    this.top = this.base;
    this.end = this.base + <usize>bytes;
  }
  /** n bytes, 16-byte aligned, zero-filled. */
  alloc(n: i32): usize {
    const p = this.top;
    const size = (<usize>n + 15) & ~<usize>15;
    assert(p + size <= this.end, "arena full");
    this.top = p + size;
    memory.fill(p, 0, size);
    return p;
  }
  reset(): void {
    this.top = this.base;
  }
}

export function fillS8(rng: Lcg, p: usize, n: i32, lo: i32, hi: i32): void {
  for (let i = 0; i < n; i++) store<i8>(p + i, <i8>rng.range(lo, hi));
}

export function fillI32(rng: Lcg, p: usize, n: i32, lo: i32, hi: i32): void {
  for (let i = 0; i < n; i++) store<i32>(p + (<usize>i << 2), rng.range(lo, hi));
}

/** Index of the first differing byte, or -1. */
export function firstDiff(a: usize, b: usize, n: i32): i32 {
  for (let i = 0; i < n; i++) if (load<u8>(a + i) != load<u8>(b + i)) return i;
  return -1;
}

/** Expects n equal bytes; on mismatch names the position, actual and expected. */
export function expectBytes(actual: usize, expected: usize, n: i32, what: string): void {
  const d = firstDiff(actual, expected, n);
  if (d < 0) {
    expect<i32>(d).toBe(-1);
  } else {
    expect<i8>(load<i8>(actual + d)).toBe(load<i8>(expected + d), what + ": byte " + d.toString());
  }
}

/** Set bits among the first n bits of a little-endian u32 mask, counted bit by bit. */
export function popcountBits(mask: usize, n: i32): i32 {
  let c = 0;
  for (let j = 0; j < n; j++) c += <i32>((load<u32>(mask + (<usize>(j >>> 5) << 2)) >>> (j & 31)) & 1);
  return c;
}

export function maskBit(mask: usize, j: i32): bool {
  return ((load<u32>(mask + (<usize>(j >>> 5) << 2)) >>> (j & 31)) & 1) != 0;
}

/** Writes an all-ones (or all-zeros) mask for n units, with every bit of the last word set alike. */
export function fillMask(mask: usize, n: i32, value: u32): void {
  const words = (n + 31) >>> 5;
  for (let w = 0; w < words; w++) store<u32>(mask + (<usize>w << 2), value);
}

/** One int8 fully-connected layer's buffers and quantization parameters, randomly filled. */
export class Layer {
  nIn: i32;
  nOut: i32;
  inZp: i32;
  outZp: i32;
  actMin: i32;
  actMax: i32;
  input: usize;
  w: usize;
  bias: usize;
  mult: usize;
  shift: usize;
  scratch: usize;

  constructor(arena: Arena, rng: Lcg, nIn: i32, nOut: i32) {
    this.nIn = nIn;
    this.nOut = nOut;
    this.inZp = rng.range(-128, 127);
    this.outZp = rng.range(-128, 127);
    // Alternate ReLU-style and full-range clamps
    if ((rng.next() & 1) != 0) {
      this.actMin = this.outZp;
      this.actMax = 127;
    } else {
      this.actMin = -128;
      this.actMax = 127;
    }
    this.input = arena.alloc(nIn);
    this.w = arena.alloc(nIn * nOut);
    this.bias = arena.alloc(nOut << 2);
    this.mult = arena.alloc(nOut << 2);
    this.shift = arena.alloc(nOut << 2);
    this.scratch = arena.alloc(denseRows_s8_scratchBytes(nIn, nOut));
    fillS8(rng, this.input, nIn, -128, 127);
    fillS8(rng, this.w, nIn * nOut, -128, 127);
    fillI32(rng, this.bias, nOut, -40000, 40000);
    for (let j = 0; j < nOut; j++) {
      store<i32>(this.mult + (<usize>j << 2), 0x40000000 | <i32>(rng.word() & 0x3fffffff));
    }
    fillI32(rng, this.shift, nOut, -14, -6);
  }
}
