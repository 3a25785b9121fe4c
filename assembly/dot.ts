// Inner products shared by every kernel. Activations arrive as int8 with a
// zero point; kernels first widen them once per call to int16 (a − z, range
// [-255, 255]) so the row loop is a plain int16 × int8 dot product.

/** dst[i] = in[i] − zp as int16, for i < n. */
export function widen_s8(inPtr: usize, n: i32, zp: i32, dstPtr: usize, simd: bool): void {
  let i = 0;
  if (simd) {
    const z = i16x8.splat(<i16>zp);
    for (; i + 8 <= n; i += 8) {
      v128.store(dstPtr + (<usize>i << 1), i16x8.sub(v128.load8x8_s(inPtr + i), z));
    }
  }
  for (; i < n; i++) {
    store<i16>(dstPtr + (<usize>i << 1), <i16>(<i32>load<i8>(inPtr + i) - zp));
  }
}

/** Σ x[i]·w[i], x int16, w int8, i < n; int32 with wrap-around. */
// @ts-ignore: decorator
@inline
export function dot_s16s8(xPtr: usize, wPtr: usize, n: i32, simd: bool): i32 {
  let i = 0;
  let sum = 0;
  if (simd) {
    let acc0 = i32x4.splat(0);
    let acc1 = i32x4.splat(0);
    for (; i + 16 <= n; i += 16) {
      const w = v128.load(wPtr + i);
      const x = xPtr + (<usize>i << 1);
      acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(v128.load(x), i16x8.extend_low_i8x16_s(w)));
      acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(v128.load(x, 16), i16x8.extend_high_i8x16_s(w)));
    }
    if (i + 8 <= n) {
      acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(v128.load(xPtr + (<usize>i << 1)), v128.load8x8_s(wPtr + i)));
      i += 8;
    }
    acc0 = i32x4.add(acc0, acc1);
    sum = i32x4.extract_lane(acc0, 0) + i32x4.extract_lane(acc0, 1)
        + i32x4.extract_lane(acc0, 2) + i32x4.extract_lane(acc0, 3);
  }
  for (; i < n; i++) {
    sum += <i32>load<i16>(xPtr + (<usize>i << 1)) * <i32>load<i8>(wPtr + i);
  }
  return sum;
}
