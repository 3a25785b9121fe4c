/* rg_quantize_input_f32: the runtime's only floating point (double, as assembly/quantize.ts). */
#include "rg_internal.h"

rg_status rg_quantize_input_f32(const rg_model *m, const float *x, int8_t *q) {
  float scale_f;
  double scale;
  uint32_t i, bits = 0;
  if (m == NULL || m->valid_ != RG_VALID || x == NULL || q == NULL) return RG_BAD_ARG;
  memcpy(&scale_f, &m->in_scale_bits, 4);
  scale = (double)scale_f;
  for (i = 0; i < m->n_in; i++) {
    double y, s = scale, o = 0.0;
    int32_t r;
    memcpy(&bits, &x[i], 4);
    if ((bits & 0x7f800000u) == 0x7f800000u) return RG_NOT_FINITE;
    if (m->in_scales_ != 0) {
      /* v3: feature i's f32 scale and offset, read from the file in place */
      float f;
      uint32_t w = rg_u32(m->rgm + m->in_scales_ + 4u * i);
      memcpy(&f, &w, 4);
      s = (double)f;
      w = rg_u32(m->rgm + m->in_offsets_ + 4u * i);
      memcpy(&f, &w, 4);
      o = (double)f;
    }
    y = ((double)x[i] - o) / s;
    /* |y| ≥ 256 clamps whatever the zero point; else t = trunc(y) fits an int32 */
    if (y >= 256.0) {
      r = 127;
    } else if (y <= -256.0) {
      r = -128;
    } else {
      const int32_t t = (int32_t)y;
      const double f = y - (double)t;
      r = t + m->in_zero_point;
      if (f >= 0.5 || f <= -0.5) r += y < 0.0 ? -1 : 1;
      if (r < -128) r = -128;
      if (r > 127) r = 127;
    }
    q[i] = (int8_t)r;
  }
  return RG_OK;
}
