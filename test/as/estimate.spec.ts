import { estimateSign_s8, estimateSign_s8_scratchBytes, expandSign, expandSignPairs, PAIR_UNITS } from "../../kernels/wasm/estimate";
import { STATUS_OK } from "../../kernels/wasm/status";
import { SIZES, Lcg, Arena, fillS8, fillI32, maskBit, expectBytes } from "./util";

const arena = new Arena(1 << 20);

/** A random estimator for nIn → nOut at the given rank. */
class Est {
  nIn: i32;
  nOut: i32;
  rank: i32;
  inZp: i32;
  tMax: i32;
  input: usize;
  a: usize;
  tMult: usize;
  tShift: usize;
  b: usize;
  thr: usize;
  scratch: usize;
  words: i32;

  constructor(rng: Lcg, nIn: i32, nOut: i32, rank: i32) {
    this.nIn = nIn;
    this.nOut = nOut;
    this.rank = rank;
    this.inZp = rng.range(-128, 127);
    this.tMax = rng.range(20, 400);
    this.words = (nOut + 31) >>> 5;
    this.input = arena.alloc(nIn);
    this.a = arena.alloc(rank * nIn);
    this.tMult = arena.alloc(rank << 2);
    this.tShift = arena.alloc(rank << 2);
    this.b = arena.alloc(rank * nOut);
    this.thr = arena.alloc(nOut << 2);
    this.scratch = arena.alloc(estimateSign_s8_scratchBytes(nIn, rank));
    fillS8(rng, this.input, nIn, -128, 127);
    fillS8(rng, this.a, rank * nIn, -128, 127);
    for (let r = 0; r < rank; r++) store<i32>(this.tMult + (<usize>r << 2), 0x40000000 | <i32>(rng.word() & 0x3fffffff));
    fillI32(rng, this.tShift, rank, -12, -4);
    fillS8(rng, this.b, rank * nOut, -128, 127);
    fillI32(rng, this.thr, nOut, -20000, 20000);
  }

  run(mask: usize, simd: i32): i32 {
    return estimateSign_s8(this.input, this.nIn, this.inZp, this.a, this.tMult, this.tShift, this.rank, this.tMax,
      this.b, this.thr, this.nOut, mask, this.scratch, simd);
  }
}

function shape(nIn: i32, nOut: i32, rank: i32): string {
  return "nIn=" + nIn.toString() + " nOut=" + nOut.toString() + " rank=" + rank.toString();
}

describe("estimateSign_s8", () => {
  test("SIMD and scalar paths give identical masks; bits past nOut are zero", () => {
    const rng = new Lcg(0x5eed0101);
    for (let a = 0; a < SIZES.length; a++) {
      for (let b = 0; b < SIZES.length; b++) {
        const nIn = SIZES[a], nOut = SIZES[b];
        const maxRank = min(nIn, nOut);
        // Rank 1, the largest rank, and one in between
        for (let k = 0; k < 3; k++) {
          const rank = k == 0 ? 1 : k == 1 ? maxRank : rng.range(1, maxRank);
          arena.reset();
          const e = new Est(rng, nIn, nOut, rank);
          const scalar = arena.alloc(e.words << 2);
          const simd = arena.alloc(e.words << 2);
          memory.fill(scalar, 0xff, e.words << 2);
          memory.fill(simd, 0xff, e.words << 2);
          expect<i32>(e.run(scalar, 0)).toBe(STATUS_OK);
          expect<i32>(e.run(simd, 1)).toBe(STATUS_OK);
          expectBytes(simd, scalar, e.words << 2, "mask simd vs scalar " + shape(nIn, nOut, rank));
          const tail = nOut & 31;
          if (tail != 0) {
            const stray = load<u32>(scalar + (<usize>(e.words - 1) << 2)) >>> <u32>tail;
            expect<u32>(stray).toBe(0, "bits past nOut " + shape(nIn, nOut, rank));
          }
        }
      }
    }
  });

  test("exact construction: bit j set iff bias[j] + Σ (a − zp)·W[j] > 0", () => {
    // A = identity (rank = nIn), tMult = 2^30, tShift = 1 → t = a − zp exactly (|t| ≤ 255 = tMax);
    // B = W, thr = −bias, so u[j] > thr[j] ⇔ bias[j] + Σ_i (a[i] − zp)·W[j,i] > 0.
    const rng = new Lcg(0x5eed0102);
    let set = 0, clear = 0;
    for (let a = 0; a < SIZES.length; a++) {
      for (let b = 0; b < SIZES.length; b++) {
        const nIn = SIZES[a], nOut = SIZES[b];
        if (nIn > nOut) continue;
        arena.reset();
        const e = new Est(rng, nIn, nOut, nIn);
        e.tMax = 255;
        memory.fill(e.a, 0, nIn * nIn);
        for (let r = 0; r < nIn; r++) {
          store<i8>(e.a + <usize>r * nIn + r, 1);
          store<i32>(e.tMult + (<usize>r << 2), 1 << 30);
          store<i32>(e.tShift + (<usize>r << 2), 1);
        }
        const bias = arena.alloc(nOut << 2);
        const dot = arena.alloc(nOut << 2);
        for (let j = 0; j < nOut; j++) {
          let s = 0;
          for (let i = 0; i < nIn; i++) s += (<i32>load<i8>(e.input + i) - e.inZp) * <i32>load<i8>(e.b + <usize>j * nIn + i);
          store<i32>(dot + (<usize>j << 2), s);
          // Every third unit sits exactly on the boundary, the next one just above it
          const k = j % 3;
          const bj = k == 0 ? -s : k == 1 ? 1 - s : rng.range(-300000, 300000);
          store<i32>(bias + (<usize>j << 2), bj);
          store<i32>(e.thr + (<usize>j << 2), -bj);
        }
        for (let simd = 0; simd <= 1; simd++) {
          const mask = arena.alloc(e.words << 2);
          expect<i32>(e.run(mask, simd)).toBe(STATUS_OK);
          for (let j = 0; j < nOut; j++) {
            const want = load<i32>(bias + (<usize>j << 2)) + load<i32>(dot + (<usize>j << 2)) > 0;
            const got = maskBit(mask, j);
            if (got != want) {
              expect<bool>(got).toBe(want, shape(nIn, nOut, nIn) + " simd=" + simd.toString() + " unit " + j.toString());
            }
            if (want) set++; else clear++;
          }
        }
      }
    }
    // The sweep reaches both outcomes
    expect<i32>(set).toBeGreaterThan(100);
    expect<i32>(clear).toBeGreaterThan(100);
  });
});

describe("expandSignPairs", () => {
  test("over B in the pair layout equals expandSign over B (scalar), boundary thresholds included; bits past nOut zero", () => {
    const rng = new Lcg(0x5eed0103);
    let set = 0;
    for (let a = 0; a < SIZES.length; a++) {
      for (let b = 0; b < SIZES.length; b++) {
        const nOut = SIZES[a], rank = min(SIZES[b], nOut);
        arena.reset();
        const tMax = rng.range(1, min(32767, 16777215 / rank));
        const t = arena.alloc((rank + 7) << 1);
        for (let r = 0; r < rank; r++) store<i16>(t + (<usize>r << 1), <i16>rng.range(-tMax, tMax));
        const bm = arena.alloc(rank * nOut + 8);
        fillS8(rng, bm, rank * nOut, -128, 127);
        // The layout, as runtime/src/reference.ts pairLayout_s8
        const pairs = (rank + 1) >>> 1, groups = (nOut + PAIR_UNITS - 1) / PAIR_UNITS;
        const lay = arena.alloc(groups * pairs * 2 * PAIR_UNITS);
        for (let j = 0; j < nOut; j++) {
          for (let r = 0; r < rank; r++) {
            const at = (<usize>(j / PAIR_UNITS) * pairs + (r >>> 1)) * 2 * PAIR_UNITS + 2 * (j % PAIR_UNITS) + (r & 1);
            store<i8>(lay + at, load<i8>(bm + <usize>j * rank + r));
          }
        }
        // Thresholds: every third unit on its exact sum (not set), the next one just under it (set)
        const thr = arena.alloc(groups * PAIR_UNITS * 4);
        for (let j = 0; j < nOut; j++) {
          let u = 0;
          for (let r = 0; r < rank; r++) u += <i32>load<i16>(t + (<usize>r << 1)) * <i32>load<i8>(bm + <usize>j * rank + r);
          const k = j % 3;
          store<i32>(thr + (<usize>j << 2), k == 0 ? u : k == 1 ? u - 1 : rng.range(-20000, 20000));
        }
        // Past nOut: thresholds that would set the bit
        for (let j = nOut; j < groups * PAIR_UNITS; j++) store<i32>(thr + (<usize>j << 2), i32.MIN_VALUE);
        const words = (nOut + 31) >>> 5;
        const want = arena.alloc(words << 2), got = arena.alloc(words << 2);
        memory.fill(got, 0xff, words << 2);
        expandSign(t, rank, bm, thr, nOut, want, false);
        expandSignPairs(t, rank, lay, thr, nOut, got);
        expectBytes(got, want, words << 2, "mask pairs vs scalar nOut=" + nOut.toString() + " rank=" + rank.toString());
        for (let j = 0; j < nOut; j++) set += <i32>maskBit(want, j);
      }
    }
    expect<i32>(set).toBeGreaterThan(300);
  });
});
