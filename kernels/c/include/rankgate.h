/*
 * rankgate C99 runtime: runs a validated .rgm model (docs/FORMAT.md) in place, bit-exact with the
 * Wasm engine (logits and counters). No malloc, no libc beyond <stdint.h>, <stddef.h>, <string.h>,
 * no floating point on the inference path. API and build: docs/C-API.md.
 *
 * Ownership: the caller owns the model bytes (they stay where they are, e.g. in flash, and must
 * outlive the rg_model), the rg_model struct, the arena (rg_arena_bytes(m) bytes, RG_ARENA_ALIGN
 * aligned; rewritten by every rg_infer_s8 call, free between calls), input, logits and stats.
 * Every buffer is passed with its length (in elements) and checked before anything is read or written.
 */
#ifndef RANKGATE_H
#define RANKGATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status of every call; never an abort. */
typedef enum rg_status {
  RG_OK = 0,
  /** A NULL pointer, a misaligned model or arena, unknown rg_model.flags bits, or a model whose init failed. */
  RG_BAD_ARG = -1,
  /** rg_model_init: the file breaks docs/FORMAT.md; m->field, m->offset, m->expected, m->actual say where. */
  RG_BAD_FORMAT = -2,
  /** rg_quantize_input_f32: an input is NaN or infinite (the same code as the Wasm STATUS_NOT_FINITE). */
  RG_NOT_FINITE = -3,
  /** A length that does not fit the model: an input length other than m->n_in; an arena, logits, q or
      stats->layer buffer shorter than the model needs. Nothing was written. */
  RG_BAD_SIZE = -4
} rg_status;

/** rg_model.flags (the Wasm run_s8 flag values). 0: gated, each layer's estimator or block gate skips rows. */
/** Portable C kernels even where the Arm DSP kernels are compiled in (bit-identical; for tests and counts). */
#define RG_RUN_PORTABLE 1u
/** Ignore estimators and block gates: every row (the dense baseline). */
#define RG_RUN_DENSE 2u
/** Zero-input skipping: dot products run only over the 8-input chunks holding a non-zero input. */
#define RG_RUN_ZERO_SKIP 8u
/** Every defined flag bit; rg_infer_s8 refuses any other (RG_BAD_ARG). */
#define RG_RUN_KNOWN (RG_RUN_PORTABLE | RG_RUN_DENSE | RG_RUN_ZERO_SKIP)

/** The arena's alignment, in bytes (checked by rg_infer_s8). */
#define RG_ARENA_ALIGN 8u
/** Longest failing-field name rg_model_init writes, with its NUL. */
#define RG_FIELD_CHARS 48

/**
 * A validated model. Written by rg_model_init; read-only afterwards except `flags`.
 * Fields after `flags` are the runtime's own.
 */
typedef struct rg_model {
  /** The .rgm bytes (not copied). */
  const uint8_t *rgm;
  uint32_t bytes;
  /** File version (1, 2, 3 or 4) and number of layers. */
  uint32_t version;
  uint32_t layers;
  /** Model input: n_in int8 values at in_scale (IEEE-754 binary32 bits) and in_zero_point (v3: the folded layer 0's
      input scale; rg_quantize_input_f32 then quantizes each feature with its own scale and offset from the file). */
  uint32_t n_in;
  int32_t in_zero_point;
  uint32_t in_scale_bits;
  /** Model output (logits): n_out int8 values at out_scale and out_zero_point. */
  uint32_t n_out;
  int32_t out_zero_point;
  uint32_t out_scale_bits;
  /** RG_RUN_* bits for rg_infer_s8 (others: RG_BAD_ARG); rg_model_init sets 0 (gated, no zero skipping). */
  uint32_t flags;
  /** After RG_BAD_FORMAT (or RG_BAD_ARG for the model pointer): the field at fault, e.g.
      "layers[2].shift[17]", its byte offset in the file, the rule it breaks and the raw 32-bit
      value found there (an f32 field's bits). Empty field, offset 0 after RG_OK. */
  char field[RG_FIELD_CHARS];
  uint32_t offset;
  const char *expected;
  uint32_t actual;
  /* Runtime's own */
  uint32_t arena_bytes_;
  uint32_t entry_bytes_;
  uint32_t max_in_;
  uint32_t max_hidden_;
  uint32_t max_gated_out_;
  uint32_t max_rank_;
  /* v3: file offsets of the per-feature input scales and offsets (0: per tensor) */
  uint32_t in_scales_;
  uint32_t in_offsets_;
  /* v4: the most blocks of a top-k gate (its scores' scratch; 0 without top-k gates) */
  uint32_t max_topk_blocks_;
  uint32_t valid_;
} rg_model;

/** Counters of one layer for one inference: exactly the Engine's LayerStats (docs/FORMAT.md, "Counters"). */
typedef struct rg_layer_stats {
  /** rank·(n + n_out) for an estimator, blocks·n for a block gate, 0 for a dense layer or RG_RUN_DENSE. */
  uint32_t estimator_macs;
  /** rows_computed · n. (n = n_in, or with RG_RUN_ZERO_SKIP the summed length of the chunks used.) */
  uint32_t row_macs;
  uint32_t rows_computed;
  uint32_t rows_skipped;
} rg_layer_stats;

/** Counters of one inference. Set `layer` and `capacity` (or NULL and 0 for the totals only); rg_infer_s8 writes the rest. */
typedef struct rg_stats {
  /** Caller's array of `capacity` entries, one per layer; NULL for totals only. */
  rg_layer_stats *layer;
  uint32_t capacity;
  /** Written: the model's layer count and the sums over every layer. */
  uint32_t layers;
  uint32_t estimator_macs;
  uint32_t row_macs;
  uint32_t total_macs;
} rg_stats;

/**
 * Validates a v1, v2, v3 or v4 .rgm in place with runtime/src/format.ts's rules (the same checks in the same order,
 * so the same failing field), then plans the arena. The bytes are read, never written or copied. The last check,
 * a CRC-32 over the whole file, is nearly all of the cost (about 10 instructions per byte on a Cortex-M4F);
 * rg_model_init_trusted skips only it.
 * @param rgm 4-byte aligned (the generated model .c aligns to 16); the host must be little-endian
 * @return RG_OK; RG_BAD_FORMAT with m->field / m->offset; RG_BAD_ARG (NULL, misaligned)
 */
rg_status rg_model_init(rg_model *m, const uint8_t *rgm, size_t bytes);

/**
 * rg_model_init without the CRC-32 over the file: every structural and element check still runs, in the same
 * order, so a damaged table or section is still RG_BAD_FORMAT; only a flipped weight, bias or other payload
 * byte goes unnoticed. For a model the build already checked (the generated model .c from rankgate quantize
 * or optimize, linked into flash). Costs in docs/C-API.md ("Init cost").
 */
rg_status rg_model_init_trusted(rg_model *m, const uint8_t *rgm, size_t bytes);

/** Bytes of arena rg_infer_s8 needs for this model (0 for a model that failed rg_model_init). */
size_t rg_arena_bytes(const rg_model *m);

/**
 * One inference: every layer in order, gated unless m->flags has RG_RUN_DENSE. Only the arena is
 * written besides logits and stats; the model is only read. Every check runs before the first write.
 * @param arena RG_ARENA_ALIGN aligned, arena_bytes ≥ rg_arena_bytes(m)
 * @param input input_len = m->n_in int8 values (quantized with rg_quantize_input_f32, or already int8)
 * @param logits logits_len ≥ m->n_out; the first m->n_out written
 * @param stats NULL, or counters to write (stats->layer: NULL, or stats->capacity ≥ m->layers entries)
 * @return RG_OK; RG_BAD_ARG (NULL m, arena, input or logits, misaligned arena, a model whose init failed,
 *         m->flags outside RG_RUN_KNOWN); RG_BAD_SIZE (arena_bytes, input_len, logits_len, stats->capacity)
 */
rg_status rg_infer_s8(const rg_model *m, void *arena, size_t arena_bytes, const int8_t *input, size_t input_len, int8_t *logits,
                      size_t logits_len, rg_stats *stats);

/**
 * float → int8 with the model's input quantization: q = clamp(round_half_away(y) + zp, −128, 127) with
 * y = x / in_scale in double (v1, v2), or y = (x − o_i) / s_i in float with feature i's own scale and offset (v3);
 * bit-exact with kernels/wasm/quantize.ts and runtime/src/reference.ts. The only floating point in the runtime.
 * @param x x_len = m->n_in floats; q: q_len ≥ m->n_in, the first m->n_in int8 written
 * @return RG_OK, RG_NOT_FINITE at the first NaN / ±Inf (q is then partial), RG_BAD_ARG (NULL, a model whose
 *         init failed), RG_BAD_SIZE (x_len ≠ m->n_in, q_len < m->n_in)
 */
rg_status rg_quantize_input_f32(const rg_model *m, const float *x, size_t x_len, int8_t *q, size_t q_len);

/**
 * Index of the largest of n int8 values, the first on ties (the Engine's label), into *index.
 * @return RG_OK; RG_BAD_ARG for a NULL v or index, or n = 0 (*index, if given, is then set to 0xffffffff)
 */
rg_status rg_argmax_s8(const int8_t *v, size_t n, uint32_t *index);

/** 1 when the Arm DSP kernels (SMLAD) are compiled in (__ARM_FEATURE_DSP without MVE, or RG_EMULATE_DSP on a host). */
int rg_have_dsp(void);

/** 1 when the Helium (MVE) kernels are compiled in (__ARM_FEATURE_MVE: Cortex-M55/M85; not with RG_NO_MVE). */
int rg_have_mve(void);

#ifdef __cplusplus
}
#endif

#endif /* RANKGATE_H */
