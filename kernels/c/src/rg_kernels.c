/*
 * Kernels: the portable C path (the reference) and the Arm DSP path (SMLAD on int16 pairs), bit-exact.
 * All sums are uint32 (int32 two's-complement wrap-around, as the Wasm kernels and ts/reference.ts).
 */
#include "rg_internal.h"

int32_t rg_requantize_s32(int32_t x, int32_t multiplier, int32_t shift) {
  return rg_requantize(x, multiplier, shift);
}

/* Little-endian load of four weights (rg_model_init checked the host is little-endian) */
static inline uint32_t ld4(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

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
  /* Crossover: with 4 chunks in 5 kept, every chunk (contiguous rows; assembly/sparse.ts); the list is then unused */
  if (listed * 5u >= all * 4u) {
    listed = all;
    elems = n;
  }
  s->n_chunks = listed;
  s->chunk_elems = elems;
  s->all = listed == all;
}

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

#if defined(__GNUC__) || defined(__clang__)
#define RG_NOINLINE __attribute__((noinline))
#define RG_INLINE inline __attribute__((always_inline))
#else
#define RG_NOINLINE
#define RG_INLINE inline
#endif

/* Two uint32 sums in one return value (r0:r1 on Arm): row 0 low, row 1 high */
#define RG_PAIR(s0, s1) ((uint64_t)(s1) << 32 | (s0))
#define RG_LO(v) ((uint32_t)(v))
#define RG_HI(v) ((uint32_t)((v) >> 32))

#if RG_HAVE_DSP
/* Fewer than four weights, zero-extended into one word (never reads past w[r − 1]) */
static inline uint32_t ld_part(const int8_t *w, uint32_t r) {
  uint32_t v = (uint8_t)w[0];
  if (r > 1u) v |= (uint32_t)(uint8_t)w[1] << 8;
  if (r > 2u) v |= (uint32_t)(uint8_t)w[2] << 16;
  return v;
}

/* Two rows over len inputs from x (words, as rg_sparseInput_s8 packs them): four inputs per group,
   one x load pair for both rows, each row's four weights split by SXTB16 / SXTB16 ROR #8; sixteen
   inputs per loop step, then eight, four and a partial group */
#define RG_GROUP2(x, p0, p1, k)                           \
  do {                                                    \
    const uint32_t xa = (x)[2 * (k)], xb = (x)[2 * (k) + 1]; \
    v = ld4((p0) + 4 * (k));                              \
    s0 = RG_SMLAD(RG_SXTB16(v), xa, s0);                  \
    s0 = RG_SMLAD(RG_SXTB16_ROR8(v), xb, s0);             \
    v = ld4((p1) + 4 * (k));                              \
    s1 = RG_SMLAD(RG_SXTB16(v), xa, s1);                  \
    s1 = RG_SMLAD(RG_SXTB16_ROR8(v), xb, s1);             \
  } while (0)

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

static inline uint32_t span1(const uint32_t *x, const int8_t *w0, uint32_t len, uint32_t s0) {
  uint32_t g, v;
  for (g = len >> 2; g != 0; g--) {
    const uint32_t xa = x[0], xb = x[1];
    x += 2;
    v = ld4(w0);
    w0 += 4;
    s0 = RG_SMLAD(RG_SXTB16(v), xa, s0);
    s0 = RG_SMLAD(RG_SXTB16_ROR8(v), xb, s0);
  }
  if (len & 3u) {
    v = ld_part(w0, len & 3u);
    s0 = RG_SMLAD(RG_SXTB16(v), x[0], s0);
    s0 = RG_SMLAD(RG_SXTB16_ROR8(v), x[1], s0);
  }
  return s0;
}

/* span2 out of line, for the calls once per layer or per row (a short last chunk, the estimator's last pair) */
static RG_NOINLINE uint64_t span2_once(const uint32_t *x, const int8_t *w0, const int8_t *w1, uint32_t len, uint32_t s0, uint32_t s1) {
  return span2(x, w0, w1, len, s0, s1);
}

/* DSP: two rows over the listed chunks */
static uint64_t dot2_dsp(const rg_input *s, const int8_t *w0, const int8_t *w1) {
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
    return span2_once((const uint32_t *)(const void *)(xb + 2u * start), w0 + start, w1 + start, s->n - start, s0, s1);
  }
  return RG_PAIR(s0, s1);
}

/* DSP: one row over the listed chunks */
static uint32_t dot1_dsp(const rg_input *s, const int8_t *w0) {
  uint32_t c, a = 0;
  if (s->all) return span1(s->xw, w0, s->n, 0);
  for (c = 0; c < s->n_chunks; c++) {
    const uint32_t start = s->chunks[c], len = start + 8u < s->n ? 8u : s->n - start;
    a = span1(s->xw + start / 2u, w0 + start, len, a);
  }
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

static RG_NOINLINE void dot4_mve(const rg_input *s, const int8_t *p0, const int8_t *p1, const int8_t *p2, const int8_t *p3, int32_t *acc) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  RG_ROWS_MVE(RG_R4);
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

static RG_NOINLINE uint64_t dot2_mve(const rg_input *s, const int8_t *p0, const int8_t *p1) {
  int32_t a0 = 0, a1 = 0;
  RG_ROWS_MVE(RG_R2);
  return RG_PAIR((uint32_t)a0, (uint32_t)a1);
}

static RG_NOINLINE uint32_t dot1_mve(const rg_input *s, const int8_t *p0) {
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
static void dot2_ref(const rg_input *s, const int8_t *w0, const int8_t *w1, uint32_t *a0, uint32_t *a1) {
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

/* Two rows' dot products on the layer's kernel path */
static inline void dot2(const rg_input *s, const int8_t *w0, const int8_t *w1, uint32_t *a0, uint32_t *a1) {
#if RG_HAVE_MVE
  if (s->dsp) {
    const uint64_t a = dot2_mve(s, w0, w1);
    *a0 = RG_LO(a);
    *a1 = RG_HI(a);
    return;
  }
#endif
#if RG_HAVE_DSP
  if (s->dsp) {
    const uint64_t a = dot2_dsp(s, w0, w1);
    *a0 = RG_LO(a);
    *a1 = RG_HI(a);
    return;
  }
#endif
  dot2_ref(s, w0, w1, a0, a1);
}

/* One row's dot product on the layer's kernel path */
static inline uint32_t dot1(const rg_input *s, const int8_t *w0) {
#if RG_HAVE_MVE
  if (s->dsp) return dot1_mve(s, w0);
#endif
#if RG_HAVE_DSP
  if (s->dsp) return dot1_dsp(s, w0);
#endif
  return rg_dot_ref(s, w0);
}

/* A layer's output parameters as locals: int8 stores to out may alias anything, so reading them through p
   would reload them after every row */
typedef struct {
  const int32_t *bias, *multiplier, *shift;
  int32_t out_zp, act_min, act_max;
} rg_rows;

static inline rg_rows rows_of(const rg_layer *p) {
  rg_rows q;
  q.bias = p->bias;
  q.multiplier = p->multiplier;
  q.shift = p->shift;
  q.out_zp = p->out_zp;
  q.act_min = p->act_min;
  q.act_max = p->act_max;
  return q;
}

/* One row's output from its dot product */
static inline int8_t finish(const rg_rows *q, uint32_t j, uint32_t dot) {
  const int32_t r = rg_requantize(rg_s32((uint32_t)q->bias[j] + dot), q->multiplier[j], q->shift[j]);
  const int32_t v = rg_s32((uint32_t)r + (uint32_t)q->out_zp);
  return (int8_t)(v < q->act_min ? q->act_min : v > q->act_max ? q->act_max : v);
}

#if RG_HAVE_MVE
/*
 * Four rows' outputs from their dot products, in int32x4 lanes, bit for bit finish(): bias added with wrap-around;
 * requantize as rg_requantize: x << left (wraps), VQRDMULH (the doubling high multiply, round half up, saturating
 * only INT32_MIN·INT32_MIN), then a rounding shift right by -shift rounding half away from zero (negative values
 * step down by one first, saturating, then VRSHL rounds half up); + out_zp (wraps), clamp.
 */
static inline int32x4_t requantize4_mve(int32x4_t x, int32x4_t mult, int32x4_t shift) {
  const int32x4_t zero = vdupq_n_s32(0), right = vminq_s32(shift, zero);
  const int32x4_t hi = vqrdmulhq_s32(vshlq_s32(x, vmaxq_s32(shift, zero)), mult);
  return vrshlq_s32(vqaddq_s32(hi, vshrq_n_s32(vandq_s32(hi, right), 31)), right);
}

static inline int32x4_t finish4_mve(const rg_rows *q, int32x4_t dot, int32x4_t bias, int32x4_t mult, int32x4_t shift) {
  const int32x4_t r = requantize4_mve(vaddq_s32(dot, bias), mult, shift);
  return vminq_s32(vmaxq_s32(vaddq_s32(r, vdupq_n_s32(q->out_zp)), vdupq_n_s32(q->act_min)), vdupq_n_s32(q->act_max));
}
#endif

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
      dot4_mve(s, w, w + n_in, w + 2u * n_in, w + 3u * n_in, a);
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
        dot4_mve(s, w + r[0] * n_in, w + r[1] * n_in, w + r[2] * n_in, w + r[3] * n_in, a);
        vstrbq_scatter_offset_s32(out, rows, finish4_mve(&q, vld1q_s32(a), vldrwq_gather_shifted_offset_s32(q.bias, rows),
                                                         vldrwq_gather_shifted_offset_s32(q.multiplier, rows), vldrwq_gather_shifted_offset_s32(q.shift, rows)));
        have = 0;
      }
    }
  }
  if (have >= 2u) {
    const uint64_t a = dot2_mve(s, w + r[0] * n_in, w + r[1] * n_in);
    out[r[0]] = finish(&q, r[0], RG_LO(a));
    out[r[1]] = finish(&q, r[1], RG_HI(a));
    have -= 2u;
    r[0] = r[2];
  }
  if (have) out[r[0]] = finish(&q, r[0], dot1_mve(s, w + r[0] * n_in));
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

static inline int32_t clamp_t(int32_t v, int32_t t_max) { return v < -t_max ? -t_max : v > t_max ? t_max : v; }

/* t[r] = clamp(requantize(a · est_a[r])) */
static inline int32_t project(const rg_layer *p, uint32_t r, uint32_t a) {
  return clamp_t(rg_requantize(rg_s32(a), p->t_multiplier[r], p->t_shift[r]), (int32_t)p->t_max);
}

#if RG_HAVE_DSP
/* Group k of four components for units w, w + rank (whole words) */
#define RG_TGROUP(k)                                                          \
  do {                                                                        \
    const uint32_t xa = x[2 * (k)], xb = x[2 * (k) + 1];                      \
    const uint32_t v0 = ld4(w + 4 * (k)), v1 = ld4(w + rank + 4 * (k));       \
    s0 = RG_SMLAD(RG_SXTB16(v0), xa, s0);                                     \
    s0 = RG_SMLAD(RG_SXTB16_ROR8(v0), xb, s0);                                \
    s1 = RG_SMLAD(RG_SXTB16(v1), xa, s1);                                     \
    s1 = RG_SMLAD(RG_SXTB16_ROR8(v1), xb, s1);                                \
  } while (0)

/* u of two units over `groups` groups of t: four groups per loop step, the rest unrolled */
static RG_INLINE uint64_t tdot2(const uint32_t *x, const int8_t *w, uint32_t rank, uint32_t groups) {
  uint32_t s0 = 0, s1 = 0, g;
  for (g = groups; g > 4u; g -= 4u, x += 8, w += 16) {
    RG_TGROUP(0);
    RG_TGROUP(1);
    RG_TGROUP(2);
    RG_TGROUP(3);
  }
  switch (g) {
    case 4: RG_TGROUP(3); /* fall through */
    case 3: RG_TGROUP(2); /* fall through */
    case 2: RG_TGROUP(1); /* fall through */
    case 1: RG_TGROUP(0); /* fall through */
    default: break;
  }
  return RG_PAIR(s0, s1);
}

/* The estimator's last `count` units after signs_dsp's whole-word loop, reading nothing past their rows:
   mask bits from `bit` of `bits` on, words stored from m */
static RG_NOINLINE void signs_tail(const uint32_t *tw, const int8_t *b, const int32_t *th, uint32_t count, uint32_t rank, uint32_t bits, uint32_t bit, uint32_t *m) {
  for (; count >= 2u; count -= 2u, th += 2, b += 2u * rank) {
    const uint64_t u = span2_once(tw, b, b + rank, rank, 0, 0);
    if (rg_s32(RG_LO(u)) > th[0]) bits |= bit;
    if (rg_s32(RG_HI(u)) > th[1]) bits |= bit << 1;
    bit <<= 2;
    if (bit == 0) {
      *m++ = bits;
      bits = 0;
      bit = 1;
    }
  }
  if (count) {
    if (rg_s32(span1(tw, b, rank, 0)) > th[0]) bits |= bit;
    bit <<= 1;
  }
  if (bit != 1u) *m = bits;
}

/* The estimator's second stage, u = t · est_b per unit, two units at a time; a unit's bit when u > its
   threshold, a mask word at a time. Returns the set bits. */
static RG_NOINLINE uint32_t signs_dsp(const rg_layer *p, const uint32_t *tw, uint32_t *mask) {
  /* Unit j + 1 reads est_b up to byte (j + 1) · rank + 4 · groups: whole words while j + 1 + need ≤ n_out */
  const uint32_t rank = p->rank, n_out = p->n_out, groups = (rank + 3u) >> 2, need = (4u * groups + rank - 1u) / rank;
  const int8_t *b = p->est_b;
  const int32_t *th = p->threshold, *th_end = th + (n_out > need ? n_out - need : 0u);
  uint32_t *m = mask;
  uint32_t bits = 0, bit = 1, computed = 0, k;
  /* Whole groups of four: a partial group's word reads into the next rows, where t is zero. One to four
     groups (ranks up to 16) keep t in registers. */
#define RG_SIGNS_LOOP(DOT)                                    \
  for (; th < th_end; th += 2, b += 2u * rank) {              \
    uint32_t s0 = 0, s1 = 0;                                  \
    DOT;                                                      \
    if (rg_s32(s0) > th[0]) bits |= bit;                      \
    if (rg_s32(s1) > th[1]) bits |= bit << 1;                 \
    bit <<= 2;                                                \
    if (bit == 0) {                                           \
      *m++ = bits;                                            \
      bits = 0;                                               \
      bit = 1;                                                \
    }                                                         \
  }
#define RG_TREG(k, xa, xb)                                    \
  do {                                                        \
    const uint32_t v0 = ld4(b + 4 * (k)), v1 = ld4(b + rank + 4 * (k)); \
    s0 = RG_SMLAD(RG_SXTB16(v0), xa, s0);                     \
    s0 = RG_SMLAD(RG_SXTB16_ROR8(v0), xb, s0);                \
    s1 = RG_SMLAD(RG_SXTB16(v1), xa, s1);                     \
    s1 = RG_SMLAD(RG_SXTB16_ROR8(v1), xb, s1);                \
  } while (0)
  if (groups == 1u) {
    const uint32_t t0 = tw[0], t1 = tw[1];
    RG_SIGNS_LOOP(RG_TREG(0, t0, t1))
  } else if (groups == 2u) {
    const uint32_t t0 = tw[0], t1 = tw[1], t2 = tw[2], t3 = tw[3];
    RG_SIGNS_LOOP(RG_TREG(0, t0, t1); RG_TREG(1, t2, t3))
  } else if (groups == 3u) {
    const uint32_t t0 = tw[0], t1 = tw[1], t2 = tw[2], t3 = tw[3], t4 = tw[4], t5 = tw[5];
    RG_SIGNS_LOOP(RG_TREG(0, t0, t1); RG_TREG(1, t2, t3); RG_TREG(2, t4, t5))
  } else if (groups == 4u) {
    const uint32_t t0 = tw[0], t1 = tw[1], t2 = tw[2], t3 = tw[3], t4 = tw[4], t5 = tw[5], t6 = tw[6], t7 = tw[7];
    RG_SIGNS_LOOP(RG_TREG(0, t0, t1); RG_TREG(1, t2, t3); RG_TREG(2, t4, t5); RG_TREG(3, t6, t7))
  } else {
    RG_SIGNS_LOOP(const uint64_t u = tdot2(tw, b, rank, groups); s0 = RG_LO(u); s1 = RG_HI(u))
  }
#undef RG_TREG
#undef RG_SIGNS_LOOP
  signs_tail(tw, b, th, n_out - (uint32_t)(th - p->threshold), rank, bits, bit, m);
  /* Set bits */
  for (k = 0; k <= (n_out - 1u) >> 5; k++) {
    uint32_t v = mask[k];
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    computed += (((v + (v >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24;
  }
  return computed;
}
#endif

#if RG_HAVE_MVE
/* u of one unit over any rank: eight components per step, the last step predicated */
static inline int32_t signs_dot_mve(const int16_t *t, const int8_t *b, uint32_t rank) {
  int32_t u = 0;
  for (; rank > 8u; rank -= 8u, t += 8, b += 8) u = vmladavaq_s16(u, vld1q_s16(t), vldrbq_s16(b));
  return vmladavaq_s16(u, vld1q_s16(t), vldrbq_z_s16(b, vctp16q(rank)));
}

/* Set bits of a mask word (no popcount instruction in ARMv8.1-M's scalar ISA) */
static inline uint32_t popcount32(uint32_t v) {
  v = v - ((v >> 1) & 0x55555555u);
  v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
  return (((v + (v >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24;
}

/* MVE: t = the projection four components at a time (rows of Aᵀ over the input), zero-padded to pad8(rank); then
   u = t · est_b per unit, a unit's mask bit when u > its threshold, a mask word at a time. Ranks up to 16 keep t
   in one or two Q registers. */
static uint32_t estimateSign_mve(const rg_layer *p, const rg_input *s, int16_t *t, uint32_t *mask) {
  const uint32_t rank = p->rank, n_in = p->n_in, n_out = p->n_out;
  const int8_t *a = p->est_a, *b = p->est_b;
  const int32_t *th = p->threshold;
  uint32_t r = 0, j, computed = 0;
  /* Four components: requantized and clamped in int32x4 lanes (as project()), stored narrowed to int16 */
  for (; r + 4u <= rank; r += 4u, a += 4u * n_in) {
    int32_t d[4];
    const int32x4_t t_max = vdupq_n_s32((int32_t)p->t_max);
    dot4_mve(s, a, a + n_in, a + 2u * n_in, a + 3u * n_in, d);
    vstrhq_s32(t + r, vminq_s32(vmaxq_s32(requantize4_mve(vld1q_s32(d), vld1q_s32(p->t_multiplier + r), vld1q_s32(p->t_shift + r)), vnegq_s32(t_max)), t_max));
  }
  if (r + 2u <= rank) {
    const uint64_t d = dot2_mve(s, a, a + n_in);
    t[r] = (int16_t)project(p, r, RG_LO(d));
    t[r + 1u] = (int16_t)project(p, r + 1u, RG_HI(d));
    r += 2u;
    a += 2u * n_in;
  }
  if (r < rank) {
    t[r] = (int16_t)project(p, r, dot1_mve(s, a));
    r++;
  }
  for (; r < rg_pad8(rank); r++) t[r] = 0;
  /* Units [0, safe) read whole 8-component steps (a partial step reads into the next row, where t is zero);
     the rest predicated, so nothing past est_b is read. A running bit, stored a mask word at a time. */
  {
    const uint32_t step = 8u * ((rank + 7u) / 8u), total = n_out * rank;
    const uint32_t safe = total >= step ? (total - step) / rank + 1u : 0u;
    uint32_t bits = 0, bit = 1;
    uint32_t *m = mask;
#define RG_SIGNS(FROM, TO, U)                                    \
  for (j = (FROM); j < (TO); j++, b += rank) {                   \
    const int32_t u = U(b);                                      \
    if (u > th[j]) bits |= bit;                                  \
    bit <<= 1;                                                   \
    if (bit == 0) {                                              \
      *m++ = bits;                                               \
      computed += popcount32(bits);                              \
      bits = 0;                                                  \
      bit = 1;                                                   \
    }                                                            \
  }
/* Two units per step from unit 0 (their bits stay in one word) */
#define RG_SIGNS2(TO, U)                                         \
  for (j = 0; j + 2u <= (TO); j += 2u, b += 2u * rank) {         \
    const int32_t u0 = U(b), u1 = U(b + rank);                   \
    if (u0 > th[j]) bits |= bit;                                 \
    if (u1 > th[j + 1u]) bits |= bit << 1;                       \
    bit <<= 2;                                                   \
    if (bit == 0) {                                              \
      *m++ = bits;                                               \
      computed += popcount32(bits);                              \
      bits = 0;                                                  \
      bit = 1;                                                   \
    }                                                            \
  }
#define RG_U8(B) vmladavq_s16(t0, vldrbq_s16(B))
#define RG_U8P(B) vmladavq_s16(t0, vldrbq_z_s16(B, q))
#define RG_U16(B) vmladavaq_s16(vmladavq_s16(t0, vldrbq_s16(B)), t1, vldrbq_s16((B) + 8))
#define RG_U16P(B) vmladavaq_s16(vmladavq_s16(t0, vldrbq_s16(B)), t1, vldrbq_z_s16((B) + 8, q))
#define RG_UN(B) signs_dot_mve(t, B, rank)
    if (rank <= 8u) {
      const int16x8_t t0 = vld1q_s16(t);
      const mve_pred16_t q = vctp16q(rank);
      RG_SIGNS2(safe, RG_U8)
      RG_SIGNS(j, n_out, RG_U8P)
    } else if (rank <= 16u) {
      const int16x8_t t0 = vld1q_s16(t), t1 = vld1q_s16(t + 8);
      const mve_pred16_t q = vctp16q(rank - 8u);
      RG_SIGNS2(safe, RG_U16)
      RG_SIGNS(j, n_out, RG_U16P)
    } else {
      RG_SIGNS(0u, n_out, RG_UN)
    }
#undef RG_U8
#undef RG_U8P
#undef RG_U16
#undef RG_U16P
#undef RG_UN
#undef RG_SIGNS2
    if (bit != 1u) {
      *m = bits;
      computed += popcount32(bits);
    }
  }
#undef RG_SIGNS
  return computed;
}
#endif

uint32_t rg_estimateSign_s8(const rg_layer *p, const rg_input *s, void *t, uint32_t *mask) {
  const uint32_t rank = p->rank, n_in = p->n_in, n_out = p->n_out;
  const int8_t *a = p->est_a;
  const int32_t *th = p->threshold;
  uint32_t r, j, computed = 0;
#if RG_HAVE_MVE
  if (s->dsp) return estimateSign_mve(p, s, (int16_t *)t, mask);
#endif
#if RG_HAVE_DSP
  if (s->dsp) {
    /* Projection four components at a time, packed as the input is (the last group zero-padded) */
    uint32_t *tw = (uint32_t *)t;
    for (r = 0; r < rank; r += 4u, a += 4u * n_in) {
      int32_t v[4] = {0, 0, 0, 0};
      uint32_t k;
      for (k = 0; k < 4u && r + k < rank; k += 2u) {
        if (r + k + 1u < rank) {
          const uint64_t d = dot2_dsp(s, a + k * n_in, a + (k + 1u) * n_in);
          v[k] = project(p, r + k, RG_LO(d));
          v[k + 1u] = project(p, r + k + 1u, RG_HI(d));
        } else {
          v[k] = project(p, r + k, dot1_dsp(s, a + k * n_in));
        }
      }
      tw[r / 2u] = ((uint32_t)v[0] & 0xffffu) | ((uint32_t)v[2] << 16);
      tw[r / 2u + 1u] = ((uint32_t)v[1] & 0xffffu) | ((uint32_t)v[3] << 16);
    }
    return signs_dsp(p, tw, mask);
  }
#endif
  {
    int16_t *t16 = (int16_t *)t;
    for (r = 0; r < rank; r += 2u, a += 2u * n_in) {
      if (r + 1u < rank) {
        uint32_t d0, d1;
        dot2_ref(s, a, a + n_in, &d0, &d1);
        t16[r] = (int16_t)project(p, r, d0);
        t16[r + 1u] = (int16_t)project(p, r + 1u, d1);
      } else {
        t16[r] = (int16_t)project(p, r, rg_dot_ref(s, a));
      }
    }
    /* u two units at a time */
    for (j = 0; j < (n_out + 31u) / 32u; j++) mask[j] = 0;
    for (j = 0; j < n_out; j += 2u) {
      const int8_t *b0 = p->est_b + j * rank, *b1 = j + 1u < n_out ? b0 + rank : b0;
      uint32_t u0 = 0, u1 = 0, k;
      for (r = 0; r < rank; r++) {
        const int32_t tr = t16[r];
        u0 += (uint32_t)(tr * b0[r]);
        u1 += (uint32_t)(tr * b1[r]);
      }
      for (k = 0; k < 2u && j + k < n_out; k++) {
        if (rg_s32(k ? u1 : u0) > th[j + k]) {
          mask[(j + k) >> 5] |= 1u << ((j + k) & 31u);
          computed++;
        }
      }
    }
  }
  return computed;
}

uint32_t rg_blockGate_s8(const rg_layer *p, const rg_input *s, uint32_t *mask) {
  const uint32_t words = (p->n_out + 31u) / 32u;
  uint32_t b, j, computed = 0, g = 0, next = 0;
  for (j = 0; j < words; j++) mask[j] = 0;
  for (b = 0; b < p->blocks; b++) {
    /* Blocks two at a time (the odd block's score is kept for the next step) */
    if (b & 1u) {
      g = next;
    } else if (b + 1u < p->blocks) {
      dot2(s, p->gate_weights + b * p->n_in, p->gate_weights + (b + 1u) * p->n_in, &g, &next);
    } else {
      g = dot1(s, p->gate_weights + b * p->n_in);
    }
    if (rg_s32(g) > p->gate_threshold[b]) {
      const uint32_t lo = b * p->block_size, hi = lo + p->block_size < p->n_out ? lo + p->block_size : p->n_out;
      for (j = lo; j < hi; j++) mask[j >> 5] |= 1u << (j & 31u);
      computed += hi - lo;
    }
  }
  return computed;
}

static inline int bit(const uint32_t *mask, uint32_t j) { return (int)((mask[j >> 5] >> (j & 31u)) & 1u); }

uint32_t rg_maskCount(const uint32_t *mask, uint32_t n) {
  uint32_t c = 0, j;
  for (j = 0; j < n; j++) c += (uint32_t)bit(mask, j);
  return c;
}
