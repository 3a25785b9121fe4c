// The inner products every kernel shares. Activations arrive as int8 with a zero point; a
// layer's input is widened once (int16 a − z, range [-255, 255]) and listed by sparse.ts, so
// every product below is int16 × int8 → int32, which cannot overflow a lane before the adds.

/** [Σ a, Σ b, Σ c, Σ d]: the lane sums of four i32x4 accumulators. */
// @ts-ignore: decorator
@inline
export function sum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 1, 4, 5), i32x4.shuffle(a, b, 2, 3, 6, 7));
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 1, 4, 5), i32x4.shuffle(c, d, 2, 3, 6, 7));
  return i32x4.add(i32x4.shuffle(ab, cd, 0, 2, 4, 6), i32x4.shuffle(ab, cd, 1, 3, 5, 7));
}

/** Σ x[i]·w[i] for i < n, x int16, w int8; int32 with wrap-around. Scalar. */
export function dot_s16s8(xPtr: usize, wPtr: usize, n: i32): i32 {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += <i32>load<i16>(xPtr + (<usize>i << 1)) * <i32>load<i8>(wPtr + i);
  return sum;
}
