/*
 * Internal to the rankgate C runtime: kernels (the names of kernels/wasm/ and runtime/src/reference.ts with an
 * rg_ prefix), the DSP intrinsic macros and little-endian field reads. Not part of the API.
 */
#ifndef RG_INTERNAL_H
#define RG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rankgate.h"

/* The Helium (MVE) path: compiled with integer MVE (__ARM_FEATURE_MVE bit 0: Cortex-M55/M85), before and instead
   of the DSP path. RG_NO_MVE disables it (the DSP path is then used where __ARM_FEATURE_DSP is defined). */
#if !defined(RG_NO_MVE) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define RG_HAVE_MVE 1
#include <arm_mve.h>
#else
#define RG_HAVE_MVE 0
#endif

/* The Arm DSP path: compiled with __ARM_FEATURE_DSP (Cortex-M4/M7/M33; the M55 without MVE), or on a host with
   RG_EMULATE_DSP (exact C emulations of the instructions, to test the path). RG_NO_DSP disables it. */
#if !RG_HAVE_MVE && !defined(RG_NO_DSP) && (defined(__ARM_FEATURE_DSP) || defined(RG_EMULATE_DSP))
#define RG_HAVE_DSP 1
#else
#define RG_HAVE_DSP 0
#endif

#if RG_HAVE_DSP && !defined(RG_EMULATE_DSP)
#include <arm_acle.h>
/* SMLAD acc + a.lo·b.lo + a.hi·b.hi (int16 halves, wraps); SXTB16 bytes 0 and 2 sign-extended to
   the halves; SXTB16 ROR #8: bytes 1 and 3; SXTAB16 a + SXTB16 b per half (wraps). */
#define RG_SMLAD(a, b, acc) ((uint32_t)__smlad((int32_t)(a), (int32_t)(b), (int32_t)(acc)))
#define RG_SXTB16(v) ((uint32_t)__sxtb16((int32_t)(v)))
#if defined(__GNUC__) || defined(__clang__)
static inline uint32_t rg_sxtb16_ror8(uint32_t v) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}
static inline uint32_t rg_sxtab16_ror8(uint32_t a, uint32_t v) {
  uint32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
  return r;
}
#define RG_SXTB16_ROR8(v) rg_sxtb16_ror8(v)
#define RG_SXTAB16_ROR8(a, v) rg_sxtab16_ror8((a), (v))
#else
#define RG_SXTB16_ROR8(v) ((uint32_t)__sxtb16((int32_t)__ror((v), 8)))
#define RG_SXTAB16_ROR8(a, v) ((uint32_t)__sxtab16((int32_t)(a), (int32_t)__ror((v), 8)))
#endif
#define RG_SXTAB16(a, v) ((uint32_t)__sxtab16((int32_t)(a), (int32_t)(v)))
#elif RG_HAVE_DSP
/* Host emulation, exact */
static inline int32_t rg_lo16(uint32_t v) { return (int32_t)((v & 0xffffu) ^ 0x8000u) - 0x8000; }
static inline int32_t rg_hi16(uint32_t v) { return (int32_t)((v >> 16) ^ 0x8000u) - 0x8000; }
static inline uint32_t rg_emu_smlad(uint32_t a, uint32_t b, uint32_t acc) {
  return acc + (uint32_t)(rg_lo16(a) * rg_lo16(b)) + (uint32_t)(rg_hi16(a) * rg_hi16(b));
}
static inline uint32_t rg_emu_sxtb16(uint32_t v) {
  uint32_t lo = v & 0xffu, hi = (v >> 16) & 0xffu;
  lo = (lo & 0x80u) ? (lo | 0xff00u) : lo;
  hi = (hi & 0x80u) ? (hi | 0xff00u) : hi;
  return lo | (hi << 16);
}
#define RG_SMLAD(a, b, acc) rg_emu_smlad((a), (b), (acc))
#define RG_SXTB16(v) rg_emu_sxtb16(v)
static inline uint32_t rg_emu_sxtab16(uint32_t a, uint32_t v) {
  const uint32_t e = rg_emu_sxtb16(v);
  return ((a + e) & 0xffffu) | (((a >> 16) + (e >> 16)) << 16);
}
#define RG_SXTB16_ROR8(v) rg_emu_sxtb16(((v) >> 8) | ((v) << 24))
#define RG_SXTAB16(a, v) rg_emu_sxtab16((a), (v))
#define RG_SXTAB16_ROR8(a, v) rg_emu_sxtab16((a), ((v) >> 8) | ((v) << 24))
#endif

/* Little-endian field reads from the file (any alignment) */
static inline uint32_t rg_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint32_t rg_u16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
/* uint32 → int32 two's complement without implementation-defined conversion */
static inline int32_t rg_s32(uint32_t u) { return u <= 0x7fffffffu ? (int32_t)u : -(int32_t)(~u) - 1; }
/* Arithmetic shift right of an int32 (C99 leaves >> of negatives implementation-defined) */
static inline int32_t rg_asr(int32_t v, uint32_t n) { return v >= 0 ? v >> n : ~(~v >> n); }

/* Format constants (docs/FORMAT.md) */
#define RG_HEADER_BYTES 64u
#define RG_ENTRY_BYTES_V2 96u
#define RG_ENTRY_BYTES_V1 80u
#define RG_ENTRY_BYTES_V4 112u
#define RG_MAX_LAYERS 256u
#define RG_MAX_DIM 65535u
#define RG_MAX_FILE_BYTES (512u * 1024u * 1024u)
#define RG_VALID 0x52474d56u
/* Layer entry offsets */
#define RG_E_N_IN 0u
#define RG_E_N_OUT 4u
#define RG_E_RANK 8u
#define RG_E_ACTIVATION 12u
#define RG_E_IN_ZP 16u
#define RG_E_OUT_ZP 20u
#define RG_E_IN_SCALE 24u
#define RG_E_OUT_SCALE 28u
#define RG_E_T_MAX 32u
#define RG_E_MARGIN 36u
#define RG_E_WEIGHTS 40u
#define RG_E_BIAS 44u
#define RG_E_MULT 48u
#define RG_E_SHIFT 52u
#define RG_E_EST_A 56u
#define RG_E_T_MULT 60u
#define RG_E_T_SHIFT 64u
#define RG_E_EST_B 68u
#define RG_E_THRESHOLD 72u
#define RG_E_BLOCK_SIZE 76u
#define RG_E_GATE_W 80u
#define RG_E_GATE_THR 84u
#define RG_E_RESERVED 88u
/* v3, layer 0: the per-feature input sections (v2: reserved) */
#define RG_E_IN_SCALES 88u
#define RG_E_IN_OFFSETS 92u
/* v4: the block gate's top k (0: threshold gate), then reserved words to 112 */
#define RG_E_TOP_K 96u
#define RG_E_RESERVED_V4 100u

static inline uint32_t rg_pad8(uint32_t n) { return (n + 7u) & ~7u; }

/** One layer, decoded from its validated table entry (pointers into the model). */
typedef struct rg_layer {
  uint32_t n_in, n_out, rank, t_max, block_size, blocks, top_k;
  int32_t in_zp, out_zp, act_min, act_max;
  const int8_t *weights;
  const int32_t *bias, *multiplier, *shift;
  const int8_t *est_a, *est_b;
  const int32_t *t_multiplier, *t_shift, *threshold;
  const int8_t *gate_weights;
  const int32_t *gate_threshold;
} rg_layer;

void rg_layer_decode(const rg_model *m, uint32_t l, rg_layer *p);

/**
 * The widened input every kernel reads, in the arena. Portable path: x16[i] = in[i] − zp (int16),
 * zero-padded to pad8(n). MVE path: the same at the listed chunks only, or, when every chunk is listed, the raw
 * int8 input (n bytes). DSP path: words of int16 pairs, each group of four inputs as
 * (x0, x2), (x1, x3) so one SXTB16 / SXTB16 ROR #8 pair of four weights lines up, zero-padded.
 * The chunk list: starts of the 8-input chunks used (all, or with zero skipping those holding a
 * non-zero x, unless at least 4 in 5 do), and their summed length.
 */
typedef struct rg_input {
  uint32_t n;
  /** 1: the architecture's kernels (DSP or MVE), 0: the portable ones (RG_RUN_PORTABLE). */
  int dsp;
  int16_t *x16;
  uint32_t *xw;
  uint16_t *chunks;
  uint32_t n_chunks;
  uint32_t chunk_elems;
  /** 1 when every chunk is listed: contiguous dot products. (MVE: x16 then holds the raw int8 input, zp its zero point.) */
  int all;
  int32_t zp;
} rg_input;

/**
 * round(x · multiplier · 2^shift / 2^31), TFLite / CMSIS-NN semantics (docs/FORMAT.md): a doubling
 * high multiply (round half up, saturating INT32_MIN·INT32_MIN), then a rounding divide by 2^-shift
 * (half away from zero). A positive shift pre-multiplies x by 2^shift with int32 wrap-around.
 * @param shift range [-31, 30]
 */
static inline int32_t rg_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  const uint32_t left = shift > 0 ? (uint32_t)shift : 0u;
  const uint32_t right = shift > 0 ? 0u : (uint32_t)-shift;
  const int32_t xs = rg_s32((uint32_t)x << left);
  uint32_t mask;
  int32_t hi, threshold;
  if (xs == INT32_MIN && multiplier == INT32_MIN) {
    hi = INT32_MAX;
  } else {
    /* floor((xs·m + 2^30) / 2^31) */
    const int64_t p = (int64_t)xs * multiplier + ((int64_t)1 << 30);
    hi = (int32_t)(p >= 0 ? p >> 31 : -((-p - 1) >> 31) - 1);
  }
  mask = (1u << right) - 1u;
  threshold = (int32_t)(mask >> 1) + (hi < 0 ? 1 : 0);
  return rg_asr(hi, right) + ((int32_t)((uint32_t)hi & mask) > threshold ? 1 : 0);
}
/** Exported form of rg_requantize (twin of requantize_s32). */
int32_t rg_requantize_s32(int32_t x, int32_t multiplier, int32_t shift);

/** Widens in[0..n) into s->x16 / s->xw and lists chunks (twin of sparseInput_s8 / listInput). */
void rg_sparseInput_s8(const int8_t *in, uint32_t n, int32_t zp, int skip, rg_input *s);

/** Σ x·w over the listed chunks for one row (portable) — the building block of every kernel. */
uint32_t rg_dot_ref(const rg_input *s, const int8_t *w);

/** Mask from the low-rank estimate (twin of estimateSign_s8); t: int16 [pad8(rank)] scratch (DSP: words). Returns set bits. */
uint32_t rg_estimateSign_s8(const rg_layer *p, const rg_input *s, void *t, uint32_t *mask);
/** Mask from a block gate (twin of blockGate_s8); scores: int32 [blocks] scratch when top_k > 0 (else unused, may be NULL). Returns set bits. */
uint32_t rg_blockGate_s8(const rg_layer *p, const rg_input *s, int32_t *scores, uint32_t *mask);
/** Every unit (twin of denseRows_s8). */
void rg_denseRows_s8(const rg_layer *p, const rg_input *s, int8_t *out);
/** Units whose mask bit is set; the rest get out_zp (twin of gatedRows_s8). */
void rg_gatedRows_s8(const rg_layer *p, const rg_input *s, const uint32_t *mask, int8_t *out);
/** Set bits among the first n (twin of maskCount). */
uint32_t rg_maskCount(const uint32_t *mask, uint32_t n);

/** CRC-32 (IEEE 802.3, as zlib) of p[0..n). */
uint32_t rg_crc32(const uint8_t *p, size_t n);

#endif /* RG_INTERNAL_H */
