/*
 * Internal to the kernel files (rg_sparse.c, rg_dot.c, rg_fully_connected.c, rg_estimate.c, rg_gate.c): the helpers
 * they share, static inline so that nothing the single kernel file inlined becomes a call, and the dot-product
 * kernels of rg_dot.c. Not part of the API; rg_infer.c sees the kernels through rg_internal.h.
 */
#ifndef RG_KERNELS_H
#define RG_KERNELS_H

#include "rg_internal.h"

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

/* Little-endian load of four weights (rg_model_init checked the host is little-endian) */
static inline uint32_t ld4(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

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

/* rg_dot.c: two rows over len inputs from x, out of line (a short last chunk, the estimator's last pair) */
uint64_t rg_span2_dsp(const uint32_t *x, const int8_t *w0, const int8_t *w1, uint32_t len, uint32_t s0, uint32_t s1);
/* rg_dot.c: two rows, one row over the listed chunks */
uint64_t rg_dot2_dsp(const rg_input *s, const int8_t *w0, const int8_t *w1);
uint32_t rg_dot1_dsp(const rg_input *s, const int8_t *w0);
#endif

#if RG_HAVE_MVE
/* rg_dot.c: four, two, one rows over the listed chunks (or the raw input) */
void rg_dot4_mve(const rg_input *s, const int8_t *p0, const int8_t *p1, const int8_t *p2, const int8_t *p3, int32_t *acc);
uint64_t rg_dot2_mve(const rg_input *s, const int8_t *p0, const int8_t *p1);
uint32_t rg_dot1_mve(const rg_input *s, const int8_t *p0);
#endif

/* rg_dot.c: portable, two rows over the listed chunks */
void rg_dot2_ref(const rg_input *s, const int8_t *w0, const int8_t *w1, uint32_t *a0, uint32_t *a1);

/* Two rows' dot products on the layer's kernel path */
static inline void dot2(const rg_input *s, const int8_t *w0, const int8_t *w1, uint32_t *a0, uint32_t *a1) {
#if RG_HAVE_MVE
  if (s->dsp) {
    const uint64_t a = rg_dot2_mve(s, w0, w1);
    *a0 = RG_LO(a);
    *a1 = RG_HI(a);
    return;
  }
#endif
#if RG_HAVE_DSP
  if (s->dsp) {
    const uint64_t a = rg_dot2_dsp(s, w0, w1);
    *a0 = RG_LO(a);
    *a1 = RG_HI(a);
    return;
  }
#endif
#if RG_HAVE_DSP || RG_HAVE_MVE
  {
    /* The portable kernel's own sums, so the caller's never have their address taken: the DSP or MVE path above
       keeps them in registers */
    uint32_t t0, t1;
    rg_dot2_ref(s, w0, w1, &t0, &t1);
    *a0 = t0;
    *a1 = t1;
  }
#else
  rg_dot2_ref(s, w0, w1, a0, a1);
#endif
}

/* One row's dot product on the layer's kernel path */
static inline uint32_t dot1(const rg_input *s, const int8_t *w0) {
#if RG_HAVE_MVE
  if (s->dsp) return rg_dot1_mve(s, w0);
#endif
#if RG_HAVE_DSP
  if (s->dsp) return rg_dot1_dsp(s, w0);
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

#endif /* RG_KERNELS_H */
