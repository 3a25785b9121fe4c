import { STATUS_OK, STATUS_BAD_ARG, STATUS_BAD_SIZE, STATUS_NOT_FINITE, MAX_DIM, inMemory } from "./status";

/**
 * q = clamp(t + (|y − t| ≥ 0.5 ? sign(y) : 0) + zp, −128, 127), t = trunc(y) (y = ±Inf clamps to the end of the
 * range): round half away from zero. Per tensor (scalesPtr = 0): y = f64(x[i]) / scale in f64, exactly runtime/src/quant.ts
 * quantizeInput (the f32 input promoted to f64 is exact). Per feature (format v3): y = (x[i] − offsets[i]) / scales[i]
 * in f32, two f32 operations (reference.ts featureY), then promoted. SIMD: two inputs per step, same operations; per tensor,
 * four +0.0 inputs (all bits zero) in one step: four zero points.
 * @returns STATUS_OK, or STATUS_NOT_FINITE at the first NaN / ±Inf input (out is then partial)
 */
export function quantizeImpl(inPtr: usize, n: i32, scale: f64, zp: i32, outPtr: usize, simd: bool, scalesPtr: usize, offsetsPtr: usize): i32 {
  let i = 0;
  if (ASC_FEATURE_SIMD && simd && scalesPtr == 0) {
    const inv = 1.0 / scale;
    // 1/scale must be a normal f32 with room to spare (f32 relative error 2^-24)
    if (inv > 1e-30 && inv < 1e30) {
      i = quantizePerTensor16(inPtr, n, <f32>inv, scale, zp, outPtr);
      if (i < 0) return STATUS_NOT_FINITE;
    }
  }
  if (ASC_FEATURE_SIMD && simd) {
    const s = f64x2.splat(scale), z = f64x2.splat(<f64>zp), half = f64x2.splat(0.5), one = f64x2.splat(1.0), sign = f64x2.splat(-0.0);
    const lo = f64x2.splat(-128.0), hi = f64x2.splat(127.0);
    const zq = i8x16.splat(<i8>zp);
    for (; i + 2 <= n; i += 2) {
      // Four +0.0 inputs (sparse inputs: most of them) are four zero points
      if (scalesPtr == 0 && i + 4 <= n && !v128.any_true(v128.load(inPtr + (<usize>i << 2)))) {
        v128.store32_lane(outPtr + i, zq, 0);
        i += 2;
        continue;
      }
      const x32 = v128.load64_zero(inPtr + (<usize>i << 2));
      const x = f64x2.promote_low_f32x4(x32);
      // x − x is 0 for finite x, NaN otherwise
      const d = f64x2.sub(x, x);
      if (v128.any_true(f64x2.ne(d, d))) return STATUS_NOT_FINITE;
      const y = scalesPtr != 0
        ? f64x2.promote_low_f32x4(f32x4.div(f32x4.sub(x32, v128.load64_zero(offsetsPtr + (<usize>i << 2))), v128.load64_zero(scalesPtr + (<usize>i << 2))))
        : f64x2.div(x, s);
      const t = f64x2.trunc(y);
      const step = v128.and(v128.bitselect(y, one, sign), f64x2.ge(f64x2.abs(f64x2.sub(y, t)), half));
      const r = f64x2.pmax(f64x2.pmin(f64x2.add(f64x2.add(t, z), step), hi), lo);
      const q = i32x4.trunc_sat_f64x2_s_zero(r);
      store<i8>(outPtr + i, <i8>i32x4.extract_lane(q, 0));
      store<i8>(outPtr + i + 1, <i8>i32x4.extract_lane(q, 1));
    }
  }
  return quantizeScalar(inPtr, i, n, scale, zp, outPtr, scalesPtr, offsetsPtr);
}

/** The scalar steps of {@link quantizeImpl} for inputs [i, n): the definition, one input at a time. */
function quantizeScalar(inPtr: usize, i: i32, n: i32, scale: f64, zp: i32, outPtr: usize, scalesPtr: usize, offsetsPtr: usize): i32 {
  for (; i < n; i++) {
    const x32 = load<f32>(inPtr + (<usize>i << 2));
    const x = <f64>x32;
    if (!isFinite<f64>(x)) return STATUS_NOT_FINITE;
    const y = scalesPtr != 0
      ? <f64>((x32 - load<f32>(offsetsPtr + (<usize>i << 2))) / load<f32>(scalesPtr + (<usize>i << 2)))
      : x / scale;
    const t = trunc<f64>(y);
    const r = t + <f64>zp + select<f64>(copysign<f64>(1.0, y), 0.0, abs<f64>(y - t) >= 0.5);
    store<i8>(outPtr + i, <i8>(<i32>min<f64>(max<f64>(r, -128.0), 127.0)));
  }
  return STATUS_OK;
}

/**
 * Per tensor, SIMD, 16 inputs per step, for as many whole steps as fit; returns the inputs done (a multiple of 16), or
 * −1 at a NaN / ±Inf input. y is computed in f32 as y' = fl32(x · fl32(1/scale)), within 3·2^-24·|y| of the definition's
 * f64 quotient, and clamped to ±1024 (beyond ±512 every zero point clamps alike). Round half away from zero only
 * changes its answer at the half-integers, so wherever y' is further than 1/256 from one it is y' rounded to the
 * nearest integer: adding 1.5·2^23 does that rounding, and the integer is then the low bits of the sum. A step with a
 * lane near a half-integer runs the definition (quantizeScalar) instead. Sixteen +0.0 inputs (all bits zero) are
 * sixteen zero points. The int32 results are narrowed to int8 with saturation: the clamp to [−128, 127].
 */
function quantizePerTensor16(inPtr: usize, n: i32, inv: f32, scale: f64, zp: i32, outPtr: usize): i32 {
  const s = f32x4.splat(inv), lo = f32x4.splat(-1024.0), hi = f32x4.splat(1024.0);
  const magic = f32x4.splat(12582912.0), edge = f32x4.splat(0.5 - 1.0 / 256.0);
  const z = i32x4.sub(i32x4.splat(zp), magic), zq = i8x16.splat(<i8>zp);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = inPtr + (<usize>i << 2);
    const x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48);
    if (!v128.any_true(v128.or(v128.or(x0, x1), v128.or(x2, x3)))) {
      v128.store(outPtr + i, zq);
      continue;
    }
    // x − x is 0 for finite x, NaN otherwise
    const d0 = f32x4.sub(x0, x0), d1 = f32x4.sub(x1, x1), d2 = f32x4.sub(x2, x2), d3 = f32x4.sub(x3, x3);
    if (v128.any_true(v128.or(v128.or(f32x4.ne(d0, d0), f32x4.ne(d1, d1)), v128.or(f32x4.ne(d2, d2), f32x4.ne(d3, d3))))) return -1;
    const y0 = f32x4.pmax(f32x4.pmin(f32x4.mul(x0, s), hi), lo), y1 = f32x4.pmax(f32x4.pmin(f32x4.mul(x1, s), hi), lo);
    const y2 = f32x4.pmax(f32x4.pmin(f32x4.mul(x2, s), hi), lo), y3 = f32x4.pmax(f32x4.pmin(f32x4.mul(x3, s), hi), lo);
    const r0 = f32x4.add(y0, magic), r1 = f32x4.add(y1, magic), r2 = f32x4.add(y2, magic), r3 = f32x4.add(y3, magic);
    // |y − nearest(y)| ≤ 0.5; close to 0.5 is close to a half-integer
    const e0 = f32x4.abs(f32x4.sub(y0, f32x4.sub(r0, magic))), e1 = f32x4.abs(f32x4.sub(y1, f32x4.sub(r1, magic)));
    const e2 = f32x4.abs(f32x4.sub(y2, f32x4.sub(r2, magic))), e3 = f32x4.abs(f32x4.sub(y3, f32x4.sub(r3, magic)));
    if (v128.any_true(v128.or(v128.or(f32x4.gt(e0, edge), f32x4.gt(e1, edge)), v128.or(f32x4.gt(e2, edge), f32x4.gt(e3, edge))))) {
      quantizeScalar(inPtr, i, i + 16, scale, zp, outPtr, 0, 0);
      continue;
    }
    const q0 = i32x4.add(r0, z), q1 = i32x4.add(r1, z), q2 = i32x4.add(r2, z), q3 = i32x4.add(r3, z);
    v128.store(outPtr + i, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
  }
  return i;
}

/** Per-feature parameters: both or neither given, inside memory (their values are the reader's to check). */
export function featuresStatus(n: i32, scalesPtr: usize, offsetsPtr: usize): i32 {
  if ((scalesPtr == 0) != (offsetsPtr == 0)) return STATUS_BAD_ARG;
  return scalesPtr == 0 || (inMemory(scalesPtr, <u64>n << 2) && inMemory(offsetsPtr, <u64>n << 2)) ? STATUS_OK : STATUS_BAD_SIZE;
}

/**
 * float32 → int8, the model's input quantization: q[i] = clamp(roundHalfAway(y_i) + zp, −128, 127); per tensor
 * y_i = x[i] / scale in f64, per feature (format v3) y_i = (x[i] − o_i) / s_i in f32 with the f32 arrays at
 * scalesPtr and offsetsPtr (a JS caller passing six arguments gets 0, 0: per tensor).
 * @param n range [1, 65535]
 * @param scale finite, > 0
 * @param zp range [-128, 127]
 * @param simd nonzero: v128 path; zero: scalar path (bit-identical)
 * @param scalesPtr 0 (per tensor), or n f32 scales, finite and > 0 (not checked: the reader validates them)
 * @param offsetsPtr 0 with scalesPtr 0, else n f32 offsets, finite (not checked)
 * @returns STATUS_OK, STATUS_NOT_FINITE (an input is NaN or infinite), or an argument status
 */
export function quantize_f32(inPtr: usize, n: i32, scale: f64, zp: i32, outPtr: usize, simd: i32, scalesPtr: usize, offsetsPtr: usize): i32 {
  if (n < 1 || n > MAX_DIM || zp < -128 || zp > 127 || !(scale > 0) || !isFinite<f64>(scale)) return STATUS_BAD_ARG;
  if (!inMemory(inPtr, <u64>n << 2) || !inMemory(outPtr, n)) return STATUS_BAD_SIZE;
  const status = featuresStatus(n, scalesPtr, offsetsPtr);
  if (status != STATUS_OK) return status;
  return quantizeImpl(inPtr, n, scale, zp, outPtr, simd != 0, scalesPtr, offsetsPtr);
}
