import { quantize_f32 } from "../../kernels/wasm/quantize";
import { STATUS_OK, STATUS_BAD_ARG } from "../../kernels/wasm/status";

// Per-feature input quantization (format v3) inside Wasm: SIMD and scalar paths, invariants of the definition.
const N = 37;

function buffers(): usize[] {
  const x = heap.alloc(N << 2), s = heap.alloc(N << 2), o = heap.alloc(N << 2), a = heap.alloc(N), b = heap.alloc(N);
  return [x, s, o, a, b];
}

describe("quantize_f32 per feature", () => {
  test("x = o maps to the zero point; x = o + k·s to zp + k (clamped), on both paths", () => {
    const p = buffers();
    for (let zp = -128; zp <= 127; zp += 51) {
      for (let k = -300; k <= 300; k += 7) {
        for (let i = 0; i < N; i++) {
          const s = <f32>(0.001 * <f64>(i + 1)), o = <f32>(<f64>i * 10.0 - 100.0);
          store<f32>(p[1] + (<usize>i << 2), s);
          store<f32>(p[2] + (<usize>i << 2), o);
          store<f32>(p[0] + (<usize>i << 2), i % 2 == 0 ? o : <f32>(<f64>o + <f64>k * <f64>s));
        }
        expect<i32>(quantize_f32(p[0], N, 1.0, zp, p[3], 1, p[1], p[2])).toBe(STATUS_OK);
        expect<i32>(quantize_f32(p[0], N, 1.0, zp, p[4], 0, p[1], p[2])).toBe(STATUS_OK);
        for (let i = 0; i < N; i++) {
          const got = <i32>load<i8>(p[3] + i);
          if (got != <i32>load<i8>(p[4] + i)) expect<i32>(got).toBe(<i32>load<i8>(p[4] + i), "SIMD = scalar at " + i.toString());
          if (i % 2 == 0) {
            if (got != zp) expect<i32>(got).toBe(zp, "x = o at " + i.toString());
          } else {
            // x was rounded to f32: within one step of zp + k (clamped)
            const want = min(max(zp + k, -128), 127);
            if (abs(got - want) > 1) expect<i32>(got).toBe(want, "k=" + k.toString() + " at " + i.toString());
          }
        }
      }
    }
  });

  test("a power-of-two scale and offsets ±0 give the per-tensor bytes (both divisions exact); half a pointer pair is BAD_ARG", () => {
    const p = buffers();
    for (let i = 0; i < N; i++) {
      store<f32>(p[0] + (<usize>i << 2), <f32>(<f64>(i * i) * 0.37 - 40.0));
      store<f32>(p[1] + (<usize>i << 2), <f32>0.25);
      store<f32>(p[2] + (<usize>i << 2), i % 3 == 0 ? <f32>-0.0 : <f32>0.0);
    }
    for (let simd = 0; simd <= 1; simd++) {
      expect<i32>(quantize_f32(p[0], N, 0.25, 3, p[3], simd, 0, 0)).toBe(STATUS_OK);
      expect<i32>(quantize_f32(p[0], N, 7.0, 3, p[4], simd, p[1], p[2])).toBe(STATUS_OK);
      for (let i = 0; i < N; i++) if (load<i8>(p[4] + i) != load<i8>(p[3] + i)) expect<i8>(load<i8>(p[4] + i)).toBe(load<i8>(p[3] + i), "at " + i.toString());
    }
    expect<i32>(quantize_f32(p[0], N, 1.0, 0, p[3], 1, p[1], 0)).toBe(STATUS_BAD_ARG);
    expect<i32>(quantize_f32(p[0], N, 1.0, 0, p[3], 1, 0, p[2])).toBe(STATUS_BAD_ARG);
  });
});
