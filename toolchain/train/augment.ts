// Training-time data augmentation for image inputs: each sample of a batch is translated by a random
// whole-pixel offset, the vacated pixels set to zero. The shape is the user's (height × width ×
// channels, channels last, row-major), never assumed from the feature count alone.
import { UserError } from "../../runtime/src/index.ts";
import type { Rng } from "../model/random.ts";

export interface ShiftAugment {
  height: number;
  width: number;
  /** Interleaved, last: feature (y·width + x)·channels + c. */
  channels: number;
  /** Offsets are drawn uniformly from [−shift, shift] on each axis, independently per sample. */
  shift: number;
}

/** Checks `aug` against `features` per sample; a UserError names what does not fit. */
export function checkShiftAugment(aug: ShiftAugment, features: number): void {
  for (const k of ["height", "width", "channels"] as const) {
    if (!(Number.isInteger(aug[k]) && aug[k] > 0)) throw new UserError(`augment: ${k} must be a positive integer, got ${aug[k]}`);
  }
  if (aug.height * aug.width * aug.channels !== features) {
    throw new UserError(`augment: an image of ${aug.height}×${aug.width}×${aug.channels} = ${aug.height * aug.width * aug.channels} values does not match the ${features} features per sample`);
  }
  const max = Math.max(aug.height, aug.width) - 1;
  if (!(Number.isInteger(aug.shift) && aug.shift >= 0 && aug.shift <= max)) throw new UserError(`augment: shift must be an integer in [0, ${max}], got ${aug.shift}`);
}

/**
 * Translates each of the first `n` samples of `x` (n × height·width·channels floats) in place by
 * (dy, dx), both from rng.int(−shift, shift), dy first; pixel (y, x) takes the value of (y − dy, x − dx),
 * or 0 outside the image. `scratch` holds one sample. Draws exactly 2·n numbers from `rng`, whatever the
 * offsets, so a run's stream does not depend on the data.
 */
export function shiftBatch(x: Float32Array, n: number, aug: ShiftAugment, rng: Rng, scratch: Float32Array): void {
  const { height: h, width: w, channels: c, shift } = aug, size = h * w * c, row = w * c;
  if (scratch.length < size || x.length < n * size) throw new RangeError(`shiftBatch: buffers of ${x.length} and ${scratch.length} for ${n} samples of ${size}`);
  for (let s = 0; s < n; s++) {
    const dy = rng.int(-shift, shift), dx = rng.int(-shift, shift);
    if (dy === 0 && dx === 0) continue;
    const base = s * size;
    scratch.set(x.subarray(base, base + size));
    x.fill(0, base, base + size);
    const y0 = Math.max(0, dy), y1 = Math.min(h, h + dy), x0 = Math.max(0, dx), x1 = Math.min(w, w + dx);
    if (x1 <= x0) continue;
    for (let y = y0; y < y1; y++) {
      const dst = base + y * row + x0 * c, src = (y - dy) * row + (x0 - dx) * c;
      x.set(scratch.subarray(src, src + (x1 - x0) * c), dst);
    }
  }
}
