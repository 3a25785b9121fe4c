import { blockGate_s8, blockGate_s8_scratchBytes } from "../../kernels/wasm/gate";
import { STATUS_OK } from "../../kernels/wasm/status";
import { SIZES, Lcg, Arena, fillS8, fillI32, maskBit, expectBytes } from "./util";

const arena = new Arena(1 << 20);

describe("blockGate_s8", () => {
  test("SIMD and scalar masks are equal, made of whole blocks, zero past nOut", () => {
    const rng = new Lcg(0x5eed0301);
    let partial = 0;
    for (let a = 0; a < SIZES.length; a++) {
      for (let b = 0; b < SIZES.length; b++) {
        const nIn = SIZES[a], nOut = SIZES[b];
        for (let blockSize = 1; blockSize <= nOut; blockSize += max(1, nOut / 3)) {
          arena.reset();
          const blocks = (nOut + blockSize - 1) / blockSize;
          const words = (nOut + 31) >>> 5;
          const input = arena.alloc(nIn), g = arena.alloc(blocks * nIn), thr = arena.alloc(blocks << 2);
          const scratch = arena.alloc(blockGate_s8_scratchBytes(nIn, blocks));
          const m0 = arena.alloc(words << 2), m1 = arena.alloc(words << 2);
          fillS8(rng, input, nIn, -128, 127);
          fillS8(rng, g, blocks * nIn, -128, 127);
          fillI32(rng, thr, blocks, -3000, 3000);
          const zp = rng.range(-128, 127);
          memory.fill(m0, 0xff, words << 2);
          expect<i32>(blockGate_s8(input, nIn, zp, g, thr, blocks, blockSize, nOut, 0, m0, scratch, 1)).toBe(STATUS_OK);
          expect<i32>(blockGate_s8(input, nIn, zp, g, thr, blocks, blockSize, nOut, 0, m1, scratch, 0)).toBe(STATUS_OK);
          expectBytes(m0, m1, words << 2, "simd vs scalar");
          // Top-k: SIMD and scalar agree and exactly k blocks are open
          for (let k = 1; k <= blocks; k += max(1, blocks / 2)) {
            memory.fill(m1, 0xff, words << 2);
            const mk = arena.alloc(words << 2);
            expect<i32>(blockGate_s8(input, nIn, zp, g, thr, blocks, blockSize, nOut, k, mk, scratch, 1)).toBe(STATUS_OK);
            expect<i32>(blockGate_s8(input, nIn, zp, g, thr, blocks, blockSize, nOut, k, m1, scratch, 0)).toBe(STATUS_OK);
            expectBytes(mk, m1, words << 2, "top-k simd vs scalar");
            let open = 0;
            for (let q = 0; q < blocks; q++) open += <i32>maskBit(mk, q * blockSize);
            expect<i32>(open).toBe(k, "k blocks open");
            for (let j = 0; j < nOut; j++) expect<bool>(maskBit(mk, j)).toBe(maskBit(mk, (j / blockSize) * blockSize), "top-k whole blocks");
            for (let j = nOut; j < words << 5; j++) expect<bool>(maskBit(mk, j)).toBe(false, "top-k past nOut");
          }
          let on = 0;
          for (let j = 0; j < nOut; j++) {
            expect<bool>(maskBit(m0, j)).toBe(maskBit(m0, (j / blockSize) * blockSize), "whole blocks");
            on += <i32>maskBit(m0, j);
          }
          for (let j = nOut; j < words << 5; j++) expect<bool>(maskBit(m0, j)).toBe(false, "past nOut");
          if (on > 0 && on < nOut) partial++;
        }
      }
    }
    expect<i32>(partial).toBeGreaterThan(20);
  });
});
