/* The low-rank estimator's mask (twin of estimateSign_s8, kernels/wasm/estimate.ts): portable, Arm DSP, Helium. */
#include "rg_kernels.h"

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
    const uint64_t u = rg_span2_dsp(tw, b, b + rank, rank, 0, 0);
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
    rg_dot4_mve(s, a, a + n_in, a + 2u * n_in, a + 3u * n_in, d);
    vstrhq_s32(t + r, vminq_s32(vmaxq_s32(requantize4_mve(vld1q_s32(d), vld1q_s32(p->t_multiplier + r), vld1q_s32(p->t_shift + r)), vnegq_s32(t_max)), t_max));
  }
  if (r + 2u <= rank) {
    const uint64_t d = rg_dot2_mve(s, a, a + n_in);
    t[r] = (int16_t)project(p, r, RG_LO(d));
    t[r + 1u] = (int16_t)project(p, r + 1u, RG_HI(d));
    r += 2u;
    a += 2u * n_in;
  }
  if (r < rank) {
    t[r] = (int16_t)project(p, r, rg_dot1_mve(s, a));
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
          const uint64_t d = rg_dot2_dsp(s, a + k * n_in, a + (k + 1u) * n_in);
          v[k] = project(p, r + k, RG_LO(d));
          v[k + 1u] = project(p, r + k + 1u, RG_HI(d));
        } else {
          v[k] = project(p, r + k, rg_dot1_dsp(s, a + k * n_in));
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
        rg_dot2_ref(s, a, a + n_in, &d0, &d1);
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
