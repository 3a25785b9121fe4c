/* rg_quantize_input_f32: the runtime's only floating point (double per tensor, float per feature, as kernels/wasm/quantize.ts). */
#include "rg_internal.h"

/* clamp(round_half_away(y) + zp, −128, 127) from t = trunc(y) and its exact remainder f = y − t; |y| < 256 */
static int8_t round_clamp(int32_t t, int frac_half, int negative, int32_t zp) {
  int32_t r = t + zp;
  if (frac_half) r += negative ? -1 : 1;
  if (r < -128) r = -128;
  if (r > 127) r = 127;
  return (int8_t)r;
}

rg_status rg_quantize_input_f32(const rg_model *m, const float *x, size_t x_len, int8_t *q, size_t q_len) {
  float scale_f;
  double scale;
  uint32_t i, bits = 0;
  if (m == NULL || m->valid_ != RG_VALID || x == NULL || q == NULL) return RG_BAD_ARG;
  if (x_len != m->n_in || q_len < m->n_in) return RG_BAD_SIZE;
  memcpy(&scale_f, &m->in_scale_bits, 4);
  scale = (double)scale_f;
  for (i = 0; i < m->n_in; i++) {
    memcpy(&bits, &x[i], 4);
    if ((bits & 0x7f800000u) == 0x7f800000u) return RG_NOT_FINITE;
    if (m->in_scales_ != 0) {
      /* v3: y = (x − o) / s, two IEEE binary32 operations (each assignment to a float rounds, C99 5.1.2.3), with
         feature i's scale and offset read from the file in place; the rounding in float too (promoting y to
         double is exact, and so is y − trunc(y) in float): no double arithmetic, an FPU's single precision suffices */
      float s, o, d, y;
      uint32_t w = rg_u32(m->rgm + m->in_scales_ + 4u * i);
      memcpy(&s, &w, 4);
      w = rg_u32(m->rgm + m->in_offsets_ + 4u * i);
      memcpy(&o, &w, 4);
      d = x[i] - o;
      y = d / s;
      if (y >= 256.0f) {
        q[i] = 127;
      } else if (y <= -256.0f) {
        q[i] = -128;
      } else {
        const int32_t t = (int32_t)y;
        const float f = y - (float)t;
        q[i] = round_clamp(t, f >= 0.5f || f <= -0.5f, y < 0.0f, m->in_zero_point);
      }
    } else {
      const double y = (double)x[i] / scale;
      /* |y| ≥ 256 clamps whatever the zero point; else t = trunc(y) fits an int32 */
      if (y >= 256.0) {
        q[i] = 127;
      } else if (y <= -256.0) {
        q[i] = -128;
      } else {
        const int32_t t = (int32_t)y;
        const double f = y - (double)t;
        q[i] = round_clamp(t, f >= 0.5 || f <= -0.5, y < 0.0, m->in_zero_point);
      }
    }
  }
  return RG_OK;
}
