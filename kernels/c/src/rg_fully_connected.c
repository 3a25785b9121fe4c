/* Rows of a layer (twins of denseRows_s8, gatedRows_s8 and maskCount, kernels/wasm/fully-connected.ts). */
#include "rg_kernels.h"

void rg_denseRows_s8(const rg_layer *p, const rg_input *s, int8_t *out) {
  const rg_rows q = rows_of(p);
  const uint32_t n_in = p->n_in;
  const int8_t *w = p->weights;
  uint32_t j = 0;
#if RG_HAVE_MVE
  /* MVE: four rows at a time */
  if (s->dsp) {
    for (; j + 4u <= p->n_out; j += 4u, w += 4u * n_in) {
      int32_t a[4];
      rg_dot4_mve(s, w, w + n_in, w + 2u * n_in, w + 3u * n_in, a);
      vstrbq_s32(out + j, finish4_mve(&q, vld1q_s32(a), vld1q_s32(q.bias + j), vld1q_s32(q.multiplier + j), vld1q_s32(q.shift + j)));
    }
  }
#endif
  /* Two rows at a time */
  for (; j + 2u <= p->n_out; j += 2u, w += 2u * n_in) {
    uint32_t a0, a1;
    dot2(s, w, w + n_in, &a0, &a1);
    out[j] = finish(&q, j, a0);
    out[j + 1u] = finish(&q, j + 1u, a1);
  }
  if (j < p->n_out) out[j] = finish(&q, j, dot1(s, w));
}

#if RG_HAVE_MVE
/* MVE: every output out_zp first (VSTRB), then the set rows four at a time, found by CLZ/RBIT over each mask word */
static void gatedRows_mve(const rg_layer *p, const rg_input *s, const uint32_t *mask, int8_t *out) {
  const rg_rows q = rows_of(p);
  const uint32_t n_in = p->n_in, n_out = p->n_out;
  const int8_t *w = p->weights;
  uint32_t j, r[4], have = 0;
  int8_t *o = out;
  for (j = n_out; j >= 16u; j -= 16u, o += 16) vst1q_s8(o, vdupq_n_s8((int8_t)p->out_zp));
  if (j) vstrbq_p_s8(o, vdupq_n_s8((int8_t)p->out_zp), vctp8q(j));
  for (j = 0; j < n_out; j += 32u) {
    uint32_t m = mask[j >> 5];
    while (m != 0) {
      r[have++] = j + (uint32_t)__builtin_ctz(m);
      m &= m - 1u;
      if (have == 4u) {
        int32_t a[4];
        const uint32x4_t rows = vld1q_u32(r);
        rg_dot4_mve(s, w + r[0] * n_in, w + r[1] * n_in, w + r[2] * n_in, w + r[3] * n_in, a);
        vstrbq_scatter_offset_s32(out, rows, finish4_mve(&q, vld1q_s32(a), vldrwq_gather_shifted_offset_s32(q.bias, rows),
                                                         vldrwq_gather_shifted_offset_s32(q.multiplier, rows), vldrwq_gather_shifted_offset_s32(q.shift, rows)));
        have = 0;
      }
    }
  }
  if (have >= 2u) {
    const uint64_t a = rg_dot2_mve(s, w + r[0] * n_in, w + r[1] * n_in);
    out[r[0]] = finish(&q, r[0], RG_LO(a));
    out[r[1]] = finish(&q, r[1], RG_HI(a));
    have -= 2u;
    r[0] = r[2];
  }
  if (have) out[r[0]] = finish(&q, r[0], rg_dot1_mve(s, w + r[0] * n_in));
}
#endif

void rg_gatedRows_s8(const rg_layer *p, const rg_input *s, const uint32_t *mask, int8_t *out) {
  const rg_rows q = rows_of(p);
  const uint32_t n_in = p->n_in, n_out = p->n_out;
  const int8_t zp = (int8_t)p->out_zp;
  uint32_t j, k, pending = 0, have = 0;
#if RG_HAVE_MVE
  if (s->dsp) {
    gatedRows_mve(p, s, mask, out);
    return;
  }
#endif
  /* The set rows two at a time, a mask word at a time (no bit at or past n_out is set); the others are out_zp (real 0) */
  for (j = 0; j < n_out; j += 32u) {
    const uint32_t end = j + 32u < n_out ? j + 32u : n_out;
    uint32_t m = mask[j >> 5];
    for (k = j; m != 0; k++, m >>= 1) {
      if (!(m & 1u)) {
        out[k] = zp;
      } else if (!have) {
        pending = k;
        have = 1;
      } else {
        uint32_t a0, a1;
        dot2(s, p->weights + pending * n_in, p->weights + k * n_in, &a0, &a1);
        out[pending] = finish(&q, pending, a0);
        out[k] = finish(&q, k, a1);
        have = 0;
      }
    }
    for (; k < end; k++) out[k] = zp;
  }
  if (have) out[pending] = finish(&q, pending, dot1(s, p->weights + pending * n_in));
}

static inline int bit(const uint32_t *mask, uint32_t j) { return (int)((mask[j >> 5] >> (j & 31u)) & 1u); }

uint32_t rg_maskCount(const uint32_t *mask, uint32_t n) {
  uint32_t c = 0, j;
  for (j = 0; j < n; j++) c += (uint32_t)bit(mask, j);
  return c;
}
