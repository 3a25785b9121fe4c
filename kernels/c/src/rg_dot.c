/*
 * Dot products over the listed chunks (kernels/wasm/dot.ts, sparse.ts chunkRows): the portable C path (the
 * reference), the Arm DSP path (SMLAD on int16 pairs) and the Helium (MVE) path, bit-exact. All sums are uint32
 * (int32 two's-complement wrap-around, as the Wasm kernels and runtime/src/reference.ts).
 */
#include "rg_kernels.h"

/* Portable: Σ x·w over the listed chunks */
uint32_t rg_dot_ref(const rg_input *s, const int8_t *w) {
  uint32_t acc = 0, c, i;
  if (s->all) {
    for (i = 0; i < s->n; i++) acc += (uint32_t)(s->x16[i] * w[i]);
    return acc;
  }
  for (c = 0; c < s->n_chunks; c++) {
    const uint32_t start = s->chunks[c], end = start + 8u < s->n ? start + 8u : s->n;
    for (i = start; i < end; i++) acc += (uint32_t)(s->x16[i] * w[i]);
  }
  return acc;
}

#if RG_HAVE_DSP
static RG_INLINE uint64_t span2(const uint32_t *x, const int8_t *w0, const int8_t *w1, uint32_t len, uint32_t s0, uint32_t s1) {
  uint32_t g, v;
  for (g = len >> 4; g != 0; g--) {
    RG_GROUP2(x, w0, w1, 0);
    RG_GROUP2(x, w0, w1, 1);
    RG_GROUP2(x, w0, w1, 2);
    RG_GROUP2(x, w0, w1, 3);
    x += 8;
    w0 += 16;
    w1 += 16;
  }
  if (len & 8u) {
    RG_GROUP2(x, w0, w1, 0);
    RG_GROUP2(x, w0, w1, 1);
    x += 4;
    w0 += 8;
    w1 += 8;
  }
  if (len & 4u) {
    RG_GROUP2(x, w0, w1, 0);
    x += 2;
    w0 += 4;
    w1 += 4;
  }
  if (len & 3u) {
    v = ld_part(w0, len & 3u);
    s0 = RG_SMLAD(RG_SXTB16(v), x[0], s0);
    s0 = RG_SMLAD(RG_SXTB16_ROR8(v), x[1], s0);
    v = ld_part(w1, len & 3u);
    s1 = RG_SMLAD(RG_SXTB16(v), x[0], s1);
    s1 = RG_SMLAD(RG_SXTB16_ROR8(v), x[1], s1);
  }
  return RG_PAIR(s0, s1);
}

/* span2 out of line, for the calls once per layer or per row (a short last chunk, the estimator's last pair) */
RG_NOINLINE uint64_t rg_span2_dsp(const uint32_t *x, const int8_t *w0, const int8_t *w1, uint32_t len, uint32_t s0, uint32_t s1) {
  return span2(x, w0, w1, len, s0, s1);
}

/* DSP: two rows over the listed chunks */
uint64_t rg_dot2_dsp(const rg_input *s, const int8_t *w0, const int8_t *w1) {
  const uint16_t *chunk = s->chunks, *end = chunk + s->n_chunks;
  const uint8_t *xb = (const uint8_t *)s->xw;
  uint32_t s0 = 0, s1 = 0, v;
  if (s->all) return span2(s->xw, w0, w1, s->n, 0, 0);
  /* Full chunks; only the last one can be short. Input k's group is at byte 2k of x. */
  if (chunk != end && end[-1] + 8u > s->n) end--;
  for (; chunk != end; chunk++) {
    const uint32_t start = *chunk;
    const uint32_t *x = (const uint32_t *)(const void *)(xb + 2u * start);
    const int8_t *p0 = w0 + start, *p1 = w1 + start;
    RG_GROUP2(x, p0, p1, 0);
    RG_GROUP2(x, p0, p1, 1);
  }
  if (end != s->chunks + s->n_chunks) {
    const uint32_t start = *end;
    return rg_span2_dsp((const uint32_t *)(const void *)(xb + 2u * start), w0 + start, w1 + start, s->n - start, s0, s1);
  }
  return RG_PAIR(s0, s1);
}

/* DSP: one row over the listed chunks, a full chunk unrolled (two groups of four) as in rg_dot2_dsp */
uint32_t rg_dot1_dsp(const rg_input *s, const int8_t *w0) {
  const uint16_t *chunk = s->chunks, *end = chunk + s->n_chunks;
  const uint8_t *xb = (const uint8_t *)s->xw;
  uint32_t a = 0, v;
  if (s->all) return span1(s->xw, w0, s->n, 0);
  /* Full chunks; only the last one can be short. Input k's group is at byte 2k of x. */
  if (chunk != end && end[-1] + 8u > s->n) end--;
  for (; chunk != end; chunk++) {
    const uint32_t start = *chunk;
    const uint32_t *x = (const uint32_t *)(const void *)(xb + 2u * start);
    v = ld4(w0 + start);
    a = RG_SMLAD(RG_SXTB16(v), x[0], a);
    a = RG_SMLAD(RG_SXTB16_ROR8(v), x[1], a);
    v = ld4(w0 + start + 4);
    a = RG_SMLAD(RG_SXTB16(v), x[2], a);
    a = RG_SMLAD(RG_SXTB16_ROR8(v), x[3], a);
  }
  if (end != s->chunks + s->n_chunks) a = span1(s->xw + *end / 2u, w0 + *end, s->n - *end, a);
  return a;
}
#endif

#if RG_HAVE_MVE
/* MVE: 1, 2 or 4 rows (REP) over the listed chunks of x16, one x load for every row, weights widened by
   VLDRB.S16, VMLADAVA.S16 (8 MACs, 32-bit wrap-around sums as the portable path). The short last chunk or
   span tail loads its weights predicated (VCTP), so nothing past a row's end is read. Uses a0…a3, p0…p3. */
#define RG_R1(X) X(0)
#define RG_R2(X) X(0) X(1)
#define RG_R4(X) X(0) X(1) X(2) X(3)
#define RG_MAC_AT(k) a##k = vmladavaq_s16(a##k, xv, vldrbq_s16(p##k + start));
#define RG_MAC_TAIL_AT(k) a##k = vmladavaq_s16(a##k, xv, vldrbq_z_s16(p##k + start, q));
#define RG_MAC8_STEP(k)                  \
  {                                      \
    const int8x16_t wv = vld1q_s8(p##k); \
    a##k = vmladavaq_s8(a##k, xv, wv);   \
    c##k = vaddvaq_s8(c##k, wv);         \
    p##k += 16;                          \
  }
#define RG_MAC8_TAIL(k)                            \
  {                                                \
    const int8x16_t wv = vldrbq_z_s8(p##k, q);     \
    a##k = vmladavaq_s8(a##k, xv, wv);             \
    c##k = vaddvaq_s8(c##k, wv);                   \
  }
#define RG_MAC8_FIX(k) a##k = (int32_t)((uint32_t)a##k - (uint32_t)s->zp * (uint32_t)c##k);
#define RG_ROWS_MVE(REP)                                                   \
  do {                                                                     \
    if (s->all) {                                                          \
      /* The raw input a: Σ (a − zp)·w = Σ a·w − zp·Σ w (mod 2^32), 16 lanes, VMLADAVA.S8 and VADDVA.S8 */ \
      const int8_t *x = (const int8_t *)s->x16;                            \
      int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;                              \
      uint32_t g;                                                          \
      (void)c1;                                                            \
      (void)c2;                                                            \
      (void)c3;                                                            \
      for (g = s->n >> 4; g != 0; g--, x += 16) {                          \
        const int8x16_t xv = vld1q_s8(x);                                  \
        REP(RG_MAC8_STEP)                                                  \
      }                                                                    \
      if (s->n & 15u) {                                                    \
        const mve_pred16_t q = vctp8q(s->n & 15u);                         \
        const int8x16_t xv = vldrbq_z_s8(x, q);                            \
        REP(RG_MAC8_TAIL)                                                  \
      }                                                                    \
      REP(RG_MAC8_FIX)                                                     \
    } else {                                                               \
      const uint16_t *chunk = s->chunks, *end = chunk + s->n_chunks;       \
      /* Full chunks; only the last one can be short */                    \
      if (chunk != end && end[-1] + 8u > s->n) end--;                      \
      const int16_t *x = s->x16;                                           \
      uint32_t cnt;                                                        \
      /* A counted loop (LE); x packed by list position */                 \
      for (cnt = (uint32_t)(end - chunk); cnt != 0; cnt--, x += 8) {       \
        const uint32_t start = *chunk++;                                   \
        const int16x8_t xv = vld1q_s16(x);                                 \
        REP(RG_MAC_AT)                                                     \
      }                                                                    \
      if (end != s->chunks + s->n_chunks) {                                \
        const uint32_t start = *end;                                       \
        const mve_pred16_t q = vctp16q(s->n - start);                      \
        const int16x8_t xv = vld1q_s16(x);                                 \
        REP(RG_MAC_TAIL_AT)                                                \
      }                                                                    \
    }                                                                      \
  } while (0)

RG_NOINLINE void rg_dot4_mve(const rg_input *s, const int8_t *p0, const int8_t *p1, const int8_t *p2, const int8_t *p3, int32_t *acc) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  RG_ROWS_MVE(RG_R4);
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

RG_NOINLINE uint64_t rg_dot2_mve(const rg_input *s, const int8_t *p0, const int8_t *p1) {
  int32_t a0 = 0, a1 = 0;
  RG_ROWS_MVE(RG_R2);
  return RG_PAIR((uint32_t)a0, (uint32_t)a1);
}

RG_NOINLINE uint32_t rg_dot1_mve(const rg_input *s, const int8_t *p0) {
  int32_t a0 = 0;
  RG_ROWS_MVE(RG_R1);
  return (uint32_t)a0;
}
#endif

/* Portable: x·w0 and x·w1 over eight inputs from x, a, b (unrolled: constant offsets, no index register) */
#define RG_MAC2(k)                          \
  do {                                      \
    const int32_t x_ = x[k];                \
    s0 += (uint32_t)(x_ * a[k]);            \
    s1 += (uint32_t)(x_ * b[k]);            \
  } while (0)
#define RG_MAC2x8()                                                                                    \
  do {                                                                                                 \
    RG_MAC2(0);                                                                                        \
    RG_MAC2(1);                                                                                        \
    RG_MAC2(2);                                                                                        \
    RG_MAC2(3);                                                                                        \
    RG_MAC2(4);                                                                                        \
    RG_MAC2(5);                                                                                        \
    RG_MAC2(6);                                                                                        \
    RG_MAC2(7);                                                                                        \
  } while (0)

/* Portable: two rows over the listed chunks, one x load for both, a full chunk unrolled (sums through
   pointers: on ARMv6-M a returned pair costs a spilled accumulator in the chunk loop; unrolling the
   contiguous loop spills too) */
void rg_dot2_ref(const rg_input *s, const int8_t *w0, const int8_t *w1, uint32_t *a0, uint32_t *a1) {
  uint32_t s0 = 0, s1 = 0, c, i;
  const int16_t *x;
  const int8_t *a, *b;
  if (s->all) {
    for (i = 0; i < s->n; i++) {
      const int32_t xi = s->x16[i];
      s0 += (uint32_t)(xi * w0[i]);
      s1 += (uint32_t)(xi * w1[i]);
    }
  } else {
    for (c = 0; c < s->n_chunks; c++) {
      const uint32_t start = s->chunks[c];
      x = s->x16 + start;
      a = w0 + start;
      b = w1 + start;
      if (start + 8u <= s->n) {
        RG_MAC2x8();
      } else {
        for (i = start; i < s->n; i++, x++, a++, b++) RG_MAC2(0);
      }
    }
  }
  *a0 = s0;
  *a1 = s1;
}
