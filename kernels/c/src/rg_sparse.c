/*
 * The input list (twin of sparseInput_s8 / listInput, kernels/wasm/sparse.ts): the int8 input widened once for
 * every path (portable, Arm DSP, Helium) and its 8-input chunks listed.
 */
#include "rg_kernels.h"

void rg_sparseInput_s8(const int8_t *in, uint32_t n, int32_t zp, int skip, rg_input *s) {
  const uint32_t all = (n + 7u) / 8u, full = n / 8u;
  uint32_t c, i, listed = 0, elems = 0;
  s->n = n;
  /* Widen each chunk and list it when skip is off or it holds an input other than zp */
#if RG_HAVE_DSP
  if (s->dsp) {
    /* Groups of four as (x0, x2), (x1, x3): x − zp per half by SXTAB16 (|x − zp| ≤ 255 fits) */
    const uint32_t nzp = ((uint32_t)-zp & 0xffffu) * 0x10001u, zb = ((uint32_t)zp & 0xffu) * 0x01010101u;
    uint32_t *w = s->xw;
    for (c = 0; c < full; c++, in += 8, w += 4) {
      const uint32_t v0 = ld4(in), v1 = ld4(in + 4);
      w[0] = RG_SXTAB16(nzp, v0);
      w[1] = RG_SXTAB16_ROR8(nzp, v0);
      w[2] = RG_SXTAB16(nzp, v1);
      w[3] = RG_SXTAB16_ROR8(nzp, v1);
      if (!skip || ((v0 ^ zb) | (v1 ^ zb)) != 0) s->chunks[listed++] = (uint16_t)(8u * c);
    }
    if (full < all) {
      /* The short last chunk, zero-padded */
      uint32_t h[8], any = !skip;
      for (i = 0; i < 8u; i++) {
        h[i] = 8u * full + i < n ? (uint32_t)(in[i] - zp) & 0xffffu : 0u;
        any |= h[i];
      }
      w[0] = h[0] | (h[2] << 16);
      w[1] = h[1] | (h[3] << 16);
      w[2] = h[4] | (h[6] << 16);
      w[3] = h[5] | (h[7] << 16);
      if (any) s->chunks[listed++] = (uint16_t)(8u * full);
    }
  } else
#endif
#if RG_HAVE_MVE
  if (s->dsp) {
    /* List the chunks holding an input other than zp (all of them when skip is off; branch-free), then either
       copy the raw int8 input (every chunk kept: the rows take Σ a·w − zp·Σ w in 16 lanes) or widen only the
       listed chunks to x16 = a − zp (VLDRB.S16), the short last chunk zero-padded */
    const int8_t *src = in;
    s->zp = zp;
    if (!skip) {
      listed = all;
    } else {
      /* Two chunks per 16-lane compare: predicate bits 0–7 and 8–15 */
      for (c = 0; c + 2u <= full; c += 2u, src += 16) {
        const uint32_t ne = vcmpneq_n_s8(vld1q_s8(src), (int8_t)zp);
        s->chunks[listed] = (uint16_t)(8u * c);
        listed += (uint32_t)((ne & 0xffu) != 0);
        s->chunks[listed] = (uint16_t)(8u * c + 8u);
        listed += (uint32_t)(ne > 0xffu);
      }
      if (c < full) {
        s->chunks[listed] = (uint16_t)(8u * c);
        listed += (uint32_t)(vcmpneq_n_s16(vldrbq_s16(src), (int16_t)zp) != 0);
        src += 8;
      }
      if (full < all) {
        s->chunks[listed] = (uint16_t)(8u * full);
        listed += (uint32_t)(vcmpneq_m_n_s16(vldrbq_z_s16(src, vctp16q(n - 8u * full)), (int16_t)zp, vctp16q(n - 8u * full)) != 0);
      }
    }
    elems = 8u * listed;
    if (listed && s->chunks[listed - 1u] == 8u * full) elems -= 8u * all - n;
    /* The counters' crossover is the one below (4 chunks in 5: every chunk counted). The kernels' is MVE's own: per
       four rows a listed chunk takes 17 instructions for 8 inputs, the raw input 18 for 16, so from 9 chunks in 17
       kept every chunk is computed (the unlisted ones hold x = 0: the same sums) */
    if (listed * 17u >= all * 9u) {
      int8_t *x8 = (int8_t *)s->x16;
      for (i = 0; i + 16u <= n; i += 16u) vst1q_s8(x8 + i, vld1q_s8(in + i));
      if (i < n) vstrbq_p_s8(x8 + i, vldrbq_z_s8(in + i, vctp8q(n - i)), vctp8q(n - i));
      s->n_chunks = listed * 5u >= all * 4u ? all : listed;
      s->chunk_elems = listed * 5u >= all * 4u ? n : elems;
      s->all = 1;
      return;
    }
    /* Listed chunk c's eight inputs at x16[8c] (packed: the rows read them in order) */
    for (c = 0; c < listed; c++) {
      const uint32_t start = s->chunks[c];
      if (start + 8u <= n) {
        vst1q_s16(s->x16 + 8u * c, vsubq_n_s16(vldrbq_s16(in + start), (int16_t)zp));
      } else {
        const mve_pred16_t q = vctp16q(n - start);
        vst1q_s16(s->x16 + 8u * c, vsubq_m_n_s16(vdupq_n_s16(0), vldrbq_z_s16(in + start, q), (int16_t)zp, q));
      }
    }
    s->n_chunks = listed;
    s->chunk_elems = elems;
    s->all = 0;
    return;
  }
#endif
  {
    int16_t *x = s->x16;
    for (c = 0; c < all; c++, x += 8, in += 8) {
      const uint32_t len = c < full ? 8u : n - 8u * full;
      int32_t any = !skip;
      for (i = 0; i < len; i++) {
        const int32_t v = in[i] - zp;
        x[i] = (int16_t)v;
        any |= v;
      }
      for (; i < 8u; i++) x[i] = 0;
      if (any) s->chunks[listed++] = (uint16_t)(8u * c);
    }
  }
  elems = 8u * listed;
  if (listed && s->chunks[listed - 1u] == 8u * full) elems -= 8u * all - n;
  /* Crossover: with 4 chunks in 5 kept, every chunk (contiguous rows; kernels/wasm/sparse.ts); the list is then unused */
  if (listed * 5u >= all * 4u) {
    listed = all;
    elems = n;
  }
  s->n_chunks = listed;
  s->chunk_elems = elems;
  s->all = listed == all;
}
