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
  const uint32_t all = (n + 7u) / 8u;
  uint32_t c, i, listed = 0, elems = 0;
  s->n = n;
  /* Widen */
#if RG_HAVE_DSP
  if (s->dsp) {
    /* Groups of four as (x0, x2), (x1, x3); the tail group zero-padded, then zero words to pad8 */
    uint32_t *w = s->xw;
    for (i = 0; i < rg_pad8(n); i += 4) {
      uint32_t h[4], k;
      for (k = 0; k < 4; k++) h[k] = i + k < n ? (uint32_t)(in[i + k] - zp) & 0xffffu : 0u;
      w[i / 2u] = h[0] | (h[2] << 16);
      w[i / 2u + 1u] = h[1] | (h[3] << 16);
    }
  } else
#endif
  {
    for (i = 0; i < n; i++) s->x16[i] = (int16_t)(in[i] - zp);
    for (; i < rg_pad8(n); i++) s->x16[i] = 0;
  }
  /* List the chunks holding a non-zero input */
  for (c = 0; c < n; c += 8) {
    const uint32_t end = c + 8u < n ? c + 8u : n;
    int any = !skip;
    for (i = c; i < end && !any; i++) any = in[i] != zp;
    if (any) {
      s->chunks[listed++] = (uint16_t)c;
      elems += end - c;
    }
  }
  /* Crossover: with 4 chunks in 5 kept, every chunk (contiguous rows; assembly/sparse.ts) */
  if (listed * 5u >= all * 4u) {
    for (c = 0; c < all; c++) s->chunks[c] = (uint16_t)(8u * c);
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

#if RG_HAVE_DSP
/* Fewer than four weights, zero-extended into one word (never reads past w[r − 1]) */
static uint32_t ld_part(const int8_t *w, uint32_t r) {
  uint32_t v = 0, k;
  for (k = 0; k < r; k++) v |= (uint32_t)(uint8_t)w[k] << (8u * k);
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

static inline void span2(const uint32_t *x, const int8_t *w0, const int8_t *w1, uint32_t len, uint32_t *a0, uint32_t *a1) {
  uint32_t s0 = *a0, s1 = *a1, g, v;
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
  *a0 = s0;
  *a1 = s1;
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

/* DSP: two rows (w1 NULL: one) over the listed chunks */
static void dot2_dsp(const rg_input *s, const int8_t *w0, const int8_t *w1, uint32_t *a0, uint32_t *a1) {
  uint32_t c;
  *a0 = 0;
  *a1 = 0;
  if (s->all) {
    if (w1) span2(s->xw, w0, w1, s->n, a0, a1);
    else *a0 = span1(s->xw, w0, s->n, 0);
    return;
  }
  if (w1) {
    const uint16_t *chunks = s->chunks;
    const uint32_t *xw = s->xw;
    uint32_t s0 = 0, s1 = 0, v, n = s->n_chunks;
    /* Full chunks; only the last one can be short */
    if (n && chunks[n - 1u] + 8u > s->n) n--;
    for (c = 0; c < n; c++) {
      const uint32_t start = chunks[c];
      const uint32_t *x = xw + start / 2u;
      const int8_t *p0 = w0 + start, *p1 = w1 + start;
      RG_GROUP2(x, p0, p1, 0);
      RG_GROUP2(x, p0, p1, 1);
    }
    *a0 = s0;
    *a1 = s1;
    if (n < s->n_chunks) {
      const uint32_t start = chunks[n];
      span2(xw + start / 2u, w0 + start, w1 + start, s->n - start, a0, a1);
    }
    return;
  }
  for (c = 0; c < s->n_chunks; c++) {
    const uint32_t start = s->chunks[c], len = start + 8u < s->n ? 8u : s->n - start;
    *a0 = span1(s->xw + start / 2u, w0 + start, len, *a0);
  }
}

/* t[r] into the packed layout of rg_sparseInput_s8 (element r of group r/4) */
static void put_packed(uint32_t *w, uint32_t r, int32_t v) {
  const uint32_t k = r & 3u, at = (r & ~3u) / 2u + (k & 1u), sh = (k >> 1) * 16u;
  w[at] = (w[at] & ~(0xffffu << sh)) | (((uint32_t)v & 0xffffu) << sh);
}
#endif

/* Portable: two rows (w1 NULL: one) over the listed chunks, one x load for both */
static void dot2_ref(const rg_input *s, const int8_t *w0, const int8_t *w1, uint32_t *a0, uint32_t *a1) {
  uint32_t s0 = 0, s1 = 0, c, i;
  if (w1 == NULL) {
    *a0 = rg_dot_ref(s, w0);
    *a1 = 0;
    return;
  }
  if (s->all) {
    for (i = 0; i < s->n; i++) {
      const int32_t x = s->x16[i];
      s0 += (uint32_t)(x * w0[i]);
      s1 += (uint32_t)(x * w1[i]);
    }
  } else {
    for (c = 0; c < s->n_chunks; c++) {
      const uint32_t start = s->chunks[c], end = start + 8u < s->n ? start + 8u : s->n;
      for (i = start; i < end; i++) {
        const int32_t x = s->x16[i];
        s0 += (uint32_t)(x * w0[i]);
        s1 += (uint32_t)(x * w1[i]);
      }
    }
  }
  *a0 = s0;
  *a1 = s1;
}

/* Two rows' dot products (w1 NULL: one) on the layer's kernel path */
static inline void dot2(const rg_input *s, const int8_t *w0, const int8_t *w1, uint32_t *a0, uint32_t *a1) {
#if RG_HAVE_DSP
  if (s->dsp) {
    dot2_dsp(s, w0, w1, a0, a1);
    return;
  }
#endif
  dot2_ref(s, w0, w1, a0, a1);
}

/* One row's output from its dot product */
static inline int8_t finish(const rg_layer *p, uint32_t j, uint32_t dot) {
  const int32_t r = rg_requantize(rg_s32((uint32_t)p->bias[j] + dot), p->multiplier[j], p->shift[j]);
  const int32_t v = rg_s32((uint32_t)r + (uint32_t)p->out_zp);
  return (int8_t)(v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : v);
}

static inline int bit(const uint32_t *mask, uint32_t j) { return (int)((mask[j >> 5] >> (j & 31u)) & 1u); }

void rg_denseRows_s8(const rg_layer *p, const rg_input *s, int8_t *out) {
  uint32_t j = 0, a0, a1;
  /* Two rows at a time */
  for (; j + 2u <= p->n_out; j += 2u) {
    dot2(s, p->weights + j * p->n_in, p->weights + (j + 1u) * p->n_in, &a0, &a1);
    out[j] = finish(p, j, a0);
    out[j + 1u] = finish(p, j + 1u, a1);
  }
  if (j < p->n_out) {
    dot2(s, p->weights + j * p->n_in, NULL, &a0, &a1);
    out[j] = finish(p, j, a0);
  }
}

void rg_gatedRows_s8(const rg_layer *p, const rg_input *s, const uint32_t *mask, int8_t *out) {
  uint32_t j, pending = 0, have = 0, a0, a1;
  /* The set rows two at a time; the others are out_zp (real 0) */
  for (j = 0; j < p->n_out; j++) {
    if (!bit(mask, j)) {
      out[j] = (int8_t)p->out_zp;
      continue;
    }
    if (!have) {
      pending = j;
      have = 1;
      continue;
    }
    dot2(s, p->weights + pending * p->n_in, p->weights + j * p->n_in, &a0, &a1);
    out[pending] = finish(p, pending, a0);
    out[j] = finish(p, j, a1);
    have = 0;
  }
  if (have) {
    dot2(s, p->weights + pending * p->n_in, NULL, &a0, &a1);
    out[pending] = finish(p, pending, a0);
  }
}

static inline int16_t clamp_t(int32_t v, int32_t t_max) { return (int16_t)(v < -t_max ? -t_max : v > t_max ? t_max : v); }

uint32_t rg_estimateSign_s8(const rg_layer *p, const rg_input *s, void *t, uint32_t *mask) {
  const uint32_t words = (p->n_out + 31u) / 32u, rank = p->rank;
  const int32_t t_max = (int32_t)p->t_max;
  uint32_t r, j, computed = 0;
  for (j = 0; j < words; j++) mask[j] = 0;
#if RG_HAVE_DSP
  if (s->dsp) {
    /* Projection two components at a time into packed t (zero-padded), then u two units at a time */
    uint32_t *tw = (uint32_t *)t;
    for (r = 0; r < rg_pad8(rank) / 2u; r++) tw[r] = 0;
    for (r = 0; r < rank; r += 2u) {
      uint32_t a0, a1;
      const int8_t *w1 = r + 1u < rank ? p->est_a + (r + 1u) * p->n_in : NULL;
      dot2_dsp(s, p->est_a + r * p->n_in, w1, &a0, &a1);
      put_packed(tw, r, clamp_t(rg_requantize(rg_s32(a0), p->t_multiplier[r], p->t_shift[r]), t_max));
      if (w1) put_packed(tw, r + 1u, clamp_t(rg_requantize(rg_s32(a1), p->t_multiplier[r + 1u], p->t_shift[r + 1u]), t_max));
    }
    for (j = 0; j + 2u <= p->n_out; j += 2u) {
      uint32_t u0 = 0, u1 = 0;
      span2(tw, p->est_b + j * rank, p->est_b + (j + 1u) * rank, rank, &u0, &u1);
      if (rg_s32(u0) > p->threshold[j]) {
        mask[j >> 5] |= 1u << (j & 31u);
        computed++;
      }
      if (rg_s32(u1) > p->threshold[j + 1u]) {
        mask[(j + 1u) >> 5] |= 1u << ((j + 1u) & 31u);
        computed++;
      }
    }
    if (j < p->n_out && rg_s32(span1(tw, p->est_b + j * rank, rank, 0)) > p->threshold[j]) {
      mask[j >> 5] |= 1u << (j & 31u);
      computed++;
    }
    return computed;
  }
#endif
  {
    int16_t *t16 = (int16_t *)t;
    for (r = 0; r < rank; r += 2u) {
      uint32_t a0, a1;
      const int8_t *w1 = r + 1u < rank ? p->est_a + (r + 1u) * p->n_in : NULL;
      dot2_ref(s, p->est_a + r * p->n_in, w1, &a0, &a1);
      t16[r] = clamp_t(rg_requantize(rg_s32(a0), p->t_multiplier[r], p->t_shift[r]), t_max);
      if (w1) t16[r + 1u] = clamp_t(rg_requantize(rg_s32(a1), p->t_multiplier[r + 1u], p->t_shift[r + 1u]), t_max);
    }
    /* u two units at a time */
    for (j = 0; j < p->n_out; j += 2u) {
      const int8_t *b0 = p->est_b + j * rank, *b1 = j + 1u < p->n_out ? b0 + rank : b0;
      uint32_t u0 = 0, u1 = 0, k;
      for (r = 0; r < rank; r++) {
        const int32_t tr = t16[r];
        u0 += (uint32_t)(tr * b0[r]);
        u1 += (uint32_t)(tr * b1[r]);
      }
      for (k = 0; k < 2u && j + k < p->n_out; k++) {
        if (rg_s32(k ? u1 : u0) > p->threshold[j + k]) {
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
    } else {
      const int8_t *w1 = b + 1u < p->blocks ? p->gate_weights + (b + 1u) * p->n_in : NULL;
      dot2(s, p->gate_weights + b * p->n_in, w1, &g, &next);
    }
    if (rg_s32(g) > p->gate_threshold[b]) {
      const uint32_t lo = b * p->block_size, hi = lo + p->block_size < p->n_out ? lo + p->block_size : p->n_out;
      for (j = lo; j < hi; j++) mask[j >> 5] |= 1u << (j & 31u);
      computed += hi - lo;
    }
  }
  return computed;
}

uint32_t rg_maskCount(const uint32_t *mask, uint32_t n) {
  uint32_t c = 0, j;
  for (j = 0; j < n; j++) c += (uint32_t)bit(mask, j);
  return c;
}
