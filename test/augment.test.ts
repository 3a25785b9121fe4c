// Shift augmentation: shiftBatch against a per-pixel definition on random shapes, its rng use, the
// shape checks, and what it changes in training (deterministic per seed, different from no augmentation).
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UserError } from "../runtime/src/errors.ts";
import { Rng } from "../toolchain/model/random.ts";
import { checkShiftAugment, shiftBatch, type ShiftAugment } from "../toolchain/train/augment.ts";
import { loadCheckpoint } from "../toolchain/train/training-checkpoint.ts";
import { trainMlp, type Samples } from "../toolchain/train/trainer.ts";

/** The definition: out(y, x, c) = in(y − dy, x − dx, c) inside the image, else 0; (dy, dx) drawn dy first. */
function shiftRef(x: Float32Array, n: number, a: ShiftAugment, rng: Rng): Float32Array {
  const out = new Float32Array(x.length), size = a.height * a.width * a.channels;
  for (let s = 0; s < n; s++) {
    const dy = rng.int(-a.shift, a.shift), dx = rng.int(-a.shift, a.shift);
    for (let y = 0; y < a.height; y++) for (let xx = 0; xx < a.width; xx++) for (let c = 0; c < a.channels; c++) {
      const sy = y - dy, sx = xx - dx;
      const inside = sy >= 0 && sy < a.height && sx >= 0 && sx < a.width;
      out[s * size + (y * a.width + xx) * a.channels + c] = inside ? x[s * size + (sy * a.width + sx) * a.channels + c] : 0;
    }
  }
  out.set(x.subarray(n * size), n * size);
  return out;
}

describe("shiftBatch", () => {
  it("matches the per-pixel definition on random shapes, shifts, batch sizes and seeds", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 8 }),
      fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 2 }), fc.integer(),
      (height, width, channels, shiftWish, n, spare, seed) => {
        const a: ShiftAugment = { height, width, channels, shift: Math.min(shiftWish, Math.max(height, width) - 1) };
        const size = height * width * channels, data = new Rng(seed ^ 99);
        const x = Float32Array.from({ length: (n + spare) * size }, () => data.next() * 2 - 1);
        const want = shiftRef(x, n, a, new Rng(seed));
        const got = x.slice(), rng = new Rng(seed), ref = new Rng(seed);
        shiftBatch(got, n, a, rng, new Float32Array(size));
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
        for (let i = 0; i < 2 * n; i++) ref.next();
        expect(rng.next()).toBe(ref.next()); // exactly 2·n draws
      }), { numRuns: 300 });
  });

  it("moves a pixel by the drawn offset and zero-fills what it vacates", () => {
    const a: ShiftAugment = { height: 5, width: 4, channels: 1, shift: 2 };
    // find a seed whose first draw is (dy, dx) = (2, −1)
    let seed = 0;
    for (; ; seed++) { const r = new Rng(seed); if (r.int(-2, 2) === 2 && r.int(-2, 2) === -1) break; }
    const x = new Float32Array(20);
    x[1 * 4 + 3] = 7; // (y 1, x 3) → (3, 2)
    x[4 * 4 + 0] = 5; // (y 4, x 0) → off the image
    shiftBatch(x, 1, a, new Rng(seed), new Float32Array(20));
    expect([...x].map((v, i) => (v ? i : -1)).filter((i) => i >= 0)).toEqual([3 * 4 + 2]);
    expect(x[3 * 4 + 2]).toBe(7);
  });

  it("rejects shapes that do not fit the features and shifts that leave nothing", () => {
    const ok: ShiftAugment = { height: 28, width: 28, channels: 1, shift: 2 };
    expect(() => checkShiftAugment(ok, 784)).not.toThrow();
    expect(() => checkShiftAugment(ok, 785)).toThrow(/28×28×1 = 784 values does not match the 785 features/);
    expect(() => checkShiftAugment({ ...ok, shift: 28 }, 784)).toThrow(/shift must be an integer in \[0, 27\], got 28/);
    expect(() => checkShiftAugment({ ...ok, shift: 1.5 }, 784)).toThrow(UserError);
    expect(() => checkShiftAugment({ ...ok, channels: 0 }, 784)).toThrow(/channels must be a positive integer, got 0/);
    expect(() => shiftBatch(new Float32Array(10), 1, ok, new Rng(1), new Float32Array(784))).toThrow(RangeError);
  });
});

describe("training with --shift", () => {
  // 6×6 images: class 0 has a bright left column, class 1 a bright right column, at a random row.
  function stripes(count: number, seed: number): Samples {
    const rng = new Rng(seed), images = new Float32Array(count * 36), labels = new Uint8Array(count);
    for (let s = 0; s < count; s++) {
      labels[s] = s & 1;
      const col = labels[s] ? 4 + rng.int(0, 1) : rng.int(0, 1);
      for (let y = 0; y < 6; y++) images[s * 36 + y * 6 + col] = 0.5 + 0.5 * rng.next();
    }
    return { images, labels, count };
  }
  const run = (augment?: ShiftAugment) =>
    trainMlp({ sizes: [36, 12, 2], epochs: 2, batchSize: 16, lr: 0.05, compute: "js", seed: 3, train: stripes(200, 1), val: stripes(50, 2), augment });

  it("is deterministic for a seed and changes the weights", async () => {
    const aug: ShiftAugment = { height: 6, width: 6, channels: 1, shift: 1 };
    const [a, b, plain] = [await run(aug), await run(aug), await run()];
    const bytes = (m: typeof a.model) => Buffer.concat(m.layers.map((l) => Buffer.from(l.weight.buffer)));
    expect(bytes(a.model).equals(bytes(b.model))).toBe(true);
    expect(bytes(a.model).equals(bytes(plain.model))).toBe(false);
    // shift 0 draws offsets but never moves a pixel: the same weights as no augmentation
    const zero = await run({ ...aug, shift: 0 });
    expect(bytes(zero.model).equals(bytes(plain.model))).toBe(true);
    await expect(run({ ...aug, width: 5 })).rejects.toThrow(/6×5×1 = 30 values does not match the 36 features/);
  });

  it("rankgate train --shift records the augmentation; bad --image is a clear error", () => {
    const dir = mkdtempSync(join(tmpdir(), "rankgate-augment-"));
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(import.meta.dirname, "../cli/bin/rankgate.js"), ...args], { cwd: dir, encoding: "utf8" });
    const base = ["train", "--sizes", "784,16,10", "--epochs", "1", "--train-limit", "300", "-q"];
    const ok = cli(...base, "--shift", "2", "-o", "a.safetensors");
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(loadCheckpoint(join(dir, "a.safetensors")).metadata).toMatchObject({ augment: { height: 28, width: 28, channels: 1, shift: 2 } });
    const bad = cli(...base, "--shift", "2", "--image", "28,27", "-o", "b.safetensors");
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--shift\/--image: an image of 28×27×1 = 756 values does not match the 784 features per sample/);
    expect(cli(...base, "--image", "28,28", "-o", "c.safetensors").stderr).toMatch(/--image describes the samples for --shift; give --shift too/);
    expect(cli(...base, "--shift", "-1", "-o", "d.safetensors").stderr).toMatch(/--shift must be an integer ≥ 0, got '-1'/);
  });
});
