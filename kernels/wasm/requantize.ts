/**
 * round(x · multiplier · 2^shift / 2^31), TFLite / CMSIS-NN semantics:
 * a doubling high multiply (round half up, saturating INT32_MIN·INT32_MIN)
 * followed by a rounding divide by 2^-shift (round half away from zero).
 * A positive shift pre-multiplies x by 2^shift with int32 wrap-around.
 * @param x any int32
 * @param multiplier Q31; models store 0 or [2^30, 2^31 − 1]
 * @param shift range [-31, 30]
 */
// @ts-ignore: decorator
@inline
export function requantize(x: i32, multiplier: i32, shift: i32): i32 {
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  const xs = x << left;
  let hi: i32;
  if (xs == i32.MIN_VALUE && multiplier == i32.MIN_VALUE) {
    hi = i32.MAX_VALUE;
  } else {
    // floor((xs·m + 2^30) / 2^31) equals gemmlowp's nudge-and-truncate
    hi = <i32>((<i64>xs * <i64>multiplier + (<i64>1 << 30)) >> 31);
  }
  const mask = (<i32>1 << right) - 1;
  const threshold = (mask >> 1) + (hi < 0 ? 1 : 0);
  return (hi >> right) + ((hi & mask) > threshold ? 1 : 0);
}

/** Exported form of {@link requantize}, the single definition. */
export function requantize_s32(x: i32, multiplier: i32, shift: i32): i32 {
  return requantize(x, multiplier, shift);
}
