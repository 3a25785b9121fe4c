import { listInput, chunkRows, pairRows, sparseInput_s8_scratchBytes } from "../../kernels/wasm/sparse";
import { SIZES, Lcg, Arena, fillS8, expectBytes } from "./util";

const arena = new Arena(1 << 20);

/** A [rows][nIn] in the pair layout pairRows reads (runtime/src/reference.ts pairLayoutA_s8). */
function layoutA(a: usize, rows: i32, nIn: i32): usize {
  const pairs = ((nIn + 7) & ~7) >>> 1;
  const out = arena.alloc(((rows + 7) & ~7) * ((nIn + 7) & ~7));
  let at: usize = out;
  for (let r0 = 0; r0 < rows; r0 += 16) {
    const width = rows - r0 > 8 ? 16 : 8;
    for (let r = r0; r < min(rows, r0 + width); r++) {
      for (let i = 0; i < nIn; i++) store<i8>(at + <usize>((i >>> 1) * 2 * width + 2 * (r - r0) + (i & 1)), load<i8>(a + <usize>r * nIn + i));
    }
    at += <usize>(pairs * 2 * width);
  }
  return out;
}

describe("pairRows", () => {
  test("equals chunkRows (SIMD) over the same zero-skip list wherever it runs, and runs on sparse inputs", () => {
    const rng = new Lcg(0x5eed0201);
    let ran = 0, declined = 0;
    for (let a = 0; a < SIZES.length; a++) {
      for (let b = 0; b < SIZES.length; b++) {
        for (let z = 0; z < 3; z++) {
          const nIn = SIZES[a] * (z + 1), rows = SIZES[b] + (z == 2 ? 17 : 0);
          arena.reset();
          const zp = rng.range(-128, 127);
          const input = arena.alloc(nIn);
          // Non-zero inputs: all, one in 4, one in 16
          for (let i = 0; i < nIn; i++) store<i8>(input + i, <i8>(rng.range(0, z == 0 ? 0 : z == 1 ? 3 : 15) == 0 ? rng.range(-128, 127) : zp));
          const w = arena.alloc(rows * nIn + 8);
          fillS8(rng, w, rows * nIn, -128, 127);
          const lay = layoutA(w, rows, nIn);
          const s = arena.alloc(sparseInput_s8_scratchBytes(nIn));
          listInput(input, nIn, zp, s, true, true);
          const pad = (rows + 7) & ~7;
          const want = arena.alloc(pad << 2), got = arena.alloc(pad << 2), rowList = arena.alloc(rows << 2), pairList = arena.alloc(((nIn + 7) & ~7) << 1);
          chunkRows(s, nIn, w, rows, 0, want, rowList, true);
          if (pairRows(s, nIn, lay, rows, got, pairList)) {
            expectBytes(got, want, rows << 2, "acc nIn=" + nIn.toString() + " rows=" + rows.toString());
            ran++;
          } else {
            declined++;
          }
        }
      }
    }
    expect<i32>(ran).toBeGreaterThan(100);
    expect<i32>(declined).toBeGreaterThan(10);
  });
});
