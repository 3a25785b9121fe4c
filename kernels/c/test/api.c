/*
 * API contract checks of the C runtime (driven by test/c-runtime.test.ts): every misuse is a status,
 * never a crash. Usage: api MODEL.rgm; prints one line per failed check, exits 1 if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rankgate.h"

static int failures = 0;
#define CHECK(cond)                                               \
  do {                                                            \
    if (!(cond)) {                                                \
      printf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                 \
    }                                                             \
  } while (0)

int main(int argc, char **argv) {
  FILE *f;
  long len;
  uint8_t *buf, *shifted;
  uint64_t *arena_mem;
  uint8_t *arena;
  static int8_t q[65536], logits[65536];
  static float x[65536];
  rg_model m, bad, zero;
  size_t need;
  int8_t *in, *out;
  float *xin;
  rg_stats st;
  rg_layer_stats ls[256];
  uint32_t i;
  if (argc != 2) return 2;
  f = fopen(argv[1], "rb");
  if (!f) return 2;
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = (uint8_t *)malloc((size_t)len);
  shifted = (uint8_t *)malloc((size_t)len + 4);
  if (!buf || !shifted || fread(buf, 1, (size_t)len, f) != (size_t)len) return 2;
  fclose(f);

  /* Init: NULL and misaligned arguments */
  CHECK(rg_model_init(NULL, buf, (size_t)len) == RG_BAD_ARG);
  CHECK(rg_model_init(&bad, NULL, (size_t)len) == RG_BAD_ARG);
  CHECK(strcmp(bad.field, "rgm") == 0);
  memcpy(shifted + 1, buf, (size_t)len);
  CHECK(rg_model_init(&bad, shifted + 1, (size_t)len) == RG_BAD_ARG);
  CHECK(strcmp(bad.field, "rgm") == 0);
  CHECK(rg_arena_bytes(&bad) == 0);
  CHECK(rg_arena_bytes(NULL) == 0);

  /* A format error names the field, offset, rule and value */
  CHECK(rg_model_init(&bad, buf, (size_t)len - 16) == RG_BAD_FORMAT);
  CHECK(strcmp(bad.field, "file_bytes") == 0 && bad.offset == 8 && bad.actual == (uint32_t)len && bad.expected[0] != 0);
  buf[0] ^= 1;
  CHECK(rg_model_init(&bad, buf, (size_t)len) == RG_BAD_FORMAT);
  CHECK(strcmp(bad.field, "magic") == 0 && bad.offset == 0);
  buf[0] ^= 1;
  buf[len - 1] ^= 0x10;
  CHECK(rg_model_init(&bad, buf, (size_t)len) == RG_BAD_FORMAT);
  CHECK(strcmp(bad.field, "crc32") == 0 && bad.offset == 12);
  buf[len - 1] ^= 0x10;

  /* A failed model (and a zeroed, never initialised one) cannot run */
  memset(&zero, 0, sizeof zero);
  CHECK(rg_infer_s8(&bad, q, sizeof q, q, bad.n_in, logits, sizeof logits, NULL) == RG_BAD_ARG);
  CHECK(rg_quantize_input_f32(&bad, x, bad.n_in, q, sizeof q) == RG_BAD_ARG);
  CHECK(rg_infer_s8(&zero, q, sizeof q, q, 0, logits, sizeof logits, NULL) == RG_BAD_ARG);
  CHECK(rg_quantize_input_f32(&zero, x, 0, q, sizeof q) == RG_BAD_ARG);

  /* Valid */
  CHECK(rg_model_init(&m, buf, (size_t)len) == RG_OK);
  CHECK(m.field[0] == 0 && m.flags == 0 && m.layers >= 1 && m.n_in >= 1 && m.n_out >= 1);
  need = rg_arena_bytes(&m);
  CHECK(need > 0 && need % 8u == 0);
  /* Exact-size heap buffers: ASan sees any access past the lengths given */
  arena_mem = (uint64_t *)malloc(need + 16);
  arena = (uint8_t *)arena_mem;
  in = (int8_t *)malloc(m.n_in);
  out = (int8_t *)malloc(m.n_out);
  xin = (float *)malloc(sizeof(float) * m.n_in);
  CHECK(arena_mem && in && out && xin);
  for (i = 0; i < m.n_in; i++) xin[i] = (float)(i % 5u) * 0.25f;
  CHECK(rg_quantize_input_f32(&m, xin, m.n_in, in, m.n_in) == RG_OK);

  /* Infer: NULL for each pointer, misaligned arena, unknown flag bits */
  CHECK(rg_infer_s8(NULL, arena, need, in, m.n_in, out, m.n_out, NULL) == RG_BAD_ARG);
  CHECK(rg_infer_s8(&m, NULL, need, in, m.n_in, out, m.n_out, NULL) == RG_BAD_ARG);
  CHECK(rg_infer_s8(&m, arena, need, NULL, m.n_in, out, m.n_out, NULL) == RG_BAD_ARG);
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, NULL, m.n_out, NULL) == RG_BAD_ARG);
  for (i = 1; i < RG_ARENA_ALIGN; i++) CHECK(rg_infer_s8(&m, arena + i, need, in, m.n_in, out, m.n_out, NULL) == RG_BAD_ARG);
  for (i = 0; i < 32; i++) {
    const uint32_t bit = 1u << i;
    m.flags = bit;
    CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, out, m.n_out, NULL) == ((bit & RG_RUN_KNOWN) ? RG_OK : RG_BAD_ARG));
  }
  m.flags = RG_RUN_KNOWN | 4u;
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, out, m.n_out, NULL) == RG_BAD_ARG);
  m.flags = RG_RUN_KNOWN;
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, out, m.n_out, NULL) == RG_OK);
  m.flags = 0;

  /* Infer: lengths. Short arena by 1 and 8 bytes, short or long input, short logits; nothing written */
  memset(out, 0x5a, m.n_out);
  CHECK(rg_infer_s8(&m, arena, need - 1u, in, m.n_in, out, m.n_out, NULL) == RG_BAD_SIZE);
  CHECK(rg_infer_s8(&m, arena, need - 8u, in, m.n_in, out, m.n_out, NULL) == RG_BAD_SIZE);
  CHECK(rg_infer_s8(&m, arena, 0, in, m.n_in, out, m.n_out, NULL) == RG_BAD_SIZE);
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in - 1u, out, m.n_out, NULL) == RG_BAD_SIZE);
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in + 1u, out, m.n_out, NULL) == RG_BAD_SIZE);
  CHECK(rg_infer_s8(&m, arena, need, in, 0, out, m.n_out, NULL) == RG_BAD_SIZE);
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, out, m.n_out - 1u, NULL) == RG_BAD_SIZE);
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, out, 0, NULL) == RG_BAD_SIZE);
  for (i = 0; i < m.n_out; i++) CHECK(out[i] == 0x5a);
  /* NULL is reported before a length */
  CHECK(rg_infer_s8(&m, NULL, 0, in, m.n_in, out, m.n_out, NULL) == RG_BAD_ARG);
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, NULL, 0, NULL) == RG_BAD_ARG);
  /* Longer arena and logits buffers are fine */
  CHECK(rg_infer_s8(&m, arena, need + 16u, in, m.n_in, logits, sizeof logits, NULL) == RG_OK);
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, out, m.n_out, NULL) == RG_OK);
  CHECK(memcmp(out, logits, m.n_out) == 0);
  memset(&st, 0, sizeof st);
  st.layer = ls;
  st.capacity = m.layers - 1u;
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, out, m.n_out, &st) == RG_BAD_SIZE);
  CHECK(st.layers == 0);
  /* Totals only */
  st.layer = NULL;
  st.capacity = 0;
  CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, out, m.n_out, &st) == RG_OK);
  CHECK(st.layers == m.layers && st.total_macs == st.estimator_macs + st.row_macs && st.row_macs > 0);
  {
    /* Per layer: the totals are their sums; RG_RUN_DENSE computes every row */
    uint32_t est = 0, rows = 0, l;
    st.layer = ls;
    st.capacity = m.layers;
    CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, out, m.n_out, &st) == RG_OK);
    for (l = 0; l < m.layers; l++) {
      est += ls[l].estimator_macs;
      rows += ls[l].row_macs;
    }
    CHECK(est == st.estimator_macs && rows == st.row_macs);
    m.flags = RG_RUN_DENSE;
    CHECK(rg_infer_s8(&m, arena, need, in, m.n_in, out, m.n_out, &st) == RG_OK);
    CHECK(st.estimator_macs == 0);
    for (l = 0; l < m.layers; l++) CHECK(ls[l].rows_skipped == 0);
    m.flags = 0;
  }

  /* Quantize: a NaN or an infinity is RG_NOT_FINITE */
  {
    const uint32_t bits[3] = {0x7fc00000u, 0x7f800000u, 0xff800000u};
    for (i = 0; i < 3; i++) {
      memcpy(&x[m.n_in - 1u], &bits[i], 4);
      CHECK(rg_quantize_input_f32(&m, x, m.n_in, q, sizeof q) == RG_NOT_FINITE);
    }
  }
  /* Quantize: NULLs, lengths */
  CHECK(rg_quantize_input_f32(NULL, xin, m.n_in, in, m.n_in) == RG_BAD_ARG);
  CHECK(rg_quantize_input_f32(&m, NULL, m.n_in, in, m.n_in) == RG_BAD_ARG);
  CHECK(rg_quantize_input_f32(&m, xin, m.n_in, NULL, m.n_in) == RG_BAD_ARG);
  CHECK(rg_quantize_input_f32(&m, xin, m.n_in - 1u, in, m.n_in) == RG_BAD_SIZE);
  CHECK(rg_quantize_input_f32(&m, xin, m.n_in + 1u, in, m.n_in) == RG_BAD_SIZE);
  CHECK(rg_quantize_input_f32(&m, xin, m.n_in, in, m.n_in - 1u) == RG_BAD_SIZE);
  CHECK(rg_quantize_input_f32(&m, xin, m.n_in, in, 0) == RG_BAD_SIZE);
  CHECK(rg_quantize_input_f32(&m, xin, m.n_in, q, sizeof q) == RG_OK);

  /* argmax: the first of equal maxima; NULL or empty is RG_BAD_ARG with index 0xffffffff */
  {
    const int8_t v[5] = {-3, 7, 2, 7, -128};
    uint32_t k = 99;
    CHECK(rg_argmax_s8(v, 5, &k) == RG_OK && k == 1);
    CHECK(rg_argmax_s8(v, 1, &k) == RG_OK && k == 0);
    CHECK(rg_argmax_s8(v + 4, 1, &k) == RG_OK && k == 0);
    CHECK(rg_argmax_s8(NULL, 5, &k) == RG_BAD_ARG && k == 0xffffffffu);
    k = 99;
    CHECK(rg_argmax_s8(v, 0, &k) == RG_BAD_ARG && k == 0xffffffffu);
    CHECK(rg_argmax_s8(v, 5, NULL) == RG_BAD_ARG);
  }
#if defined(RG_EMULATE_DSP) && !defined(RG_NO_DSP)
  CHECK(rg_have_dsp() == 1);
#else
  CHECK(rg_have_dsp() == 0);
#endif
  free(buf);
  free(shifted);
  free(arena_mem);
  free(in);
  free(out);
  free(xin);
  if (failures == 0) printf("ok\n");
  return failures ? 1 : 0;
}
