/*
 * One C API call with the arguments it is told (driven by fuzz/capi.ts, built with ASan + UBSan): every
 * buffer is a heap block of exactly the length passed, so any access past a length is a sanitizer report.
 * Usage: misuse MODEL.rgm ENTRY STATE NULLS FLAGS ARENA_LEN ARENA_OFF LEN_A LEN_B STATS SALT
 *   ENTRY  0 rg_model_init (LEN_A: bytes), 1 rg_arena_bytes, 2 rg_infer_s8 (LEN_A: input_len, LEN_B: logits_len),
 *          3 rg_quantize_input_f32 (LEN_A: x_len, LEN_B: q_len), 4 rg_argmax_s8 (LEN_A: n)
 *   STATE  0 a valid model, 1 one whose init failed (a byte flipped), 2 a zeroed struct never initialised
 *   NULLS  bit 0: m NULL; bit 1: the first buffer (rgm, arena, x, v); bit 2: the second (input, q, index);
 *          bit 3: logits
 *   STATS  -1: stats NULL; 0: totals only (layer NULL); k > 0: an array of k rg_layer_stats
 * Prints "status S" and, after RG_OK, what was written (logits and totals, q, the index, the arena size).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rankgate.h"

static void *block(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "misuse: out of memory\n");
    exit(2);
  }
  return p;
}

int main(int argc, char **argv) {
  FILE *f;
  long len, entry, state, nulls, stats_n;
  unsigned long flags, arena_len, arena_off, len_a, len_b, salt, i;
  uint8_t *file, *rgm;
  rg_model model, *m = &model;
  rg_status st = RG_OK;
  if (argc != 12) return 2;
  entry = strtol(argv[2], NULL, 10);
  state = strtol(argv[3], NULL, 10);
  nulls = strtol(argv[4], NULL, 10);
  flags = strtoul(argv[5], NULL, 10);
  arena_len = strtoul(argv[6], NULL, 10);
  arena_off = strtoul(argv[7], NULL, 10);
  len_a = strtoul(argv[8], NULL, 10);
  len_b = strtoul(argv[9], NULL, 10);
  stats_n = strtol(argv[10], NULL, 10);
  salt = strtoul(argv[11], NULL, 10);
  f = fopen(argv[1], "rb");
  if (!f) return 2;
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  file = (uint8_t *)block((size_t)len);
  if (fread(file, 1, (size_t)len, f) != (size_t)len) return 2;
  fclose(f);

  if (entry == 0) {
    /* The model buffer: exactly len_a bytes (the file, cut or zero-padded) */
    rgm = (uint8_t *)block(len_a);
    memset(rgm, 0, len_a);
    memcpy(rgm, file, len_a < (unsigned long)len ? len_a : (size_t)len);
    st = rg_model_init((nulls & 1) ? NULL : m, (nulls & 2) ? NULL : rgm, len_a);
    printf("status %d\n", (int)st);
    if (st == RG_OK) printf("arena %lu\n", (unsigned long)rg_arena_bytes(m));
    free(rgm);
    free(file);
    return 0;
  }

  /* The model */
  memset(m, 0, sizeof *m);
  if (state != 2) {
    if (state == 1) file[len - 1] ^= 0x10;
    if (rg_model_init(m, file, (size_t)len) != (state == 1 ? RG_BAD_FORMAT : RG_OK)) {
      fprintf(stderr, "misuse: unexpected rg_model_init result\n");
      return 2;
    }
  }
  m->flags = (uint32_t)flags;
  if (nulls & 1) m = NULL;

  if (entry == 1) {
    printf("status 0\narena %lu\n", (unsigned long)rg_arena_bytes(m));
  } else if (entry == 2) {
    uint8_t *arena_mem = (uint8_t *)block(arena_len + arena_off);
    int8_t *input = (int8_t *)block(len_a), *logits = (int8_t *)block(len_b);
    rg_layer_stats *ls = stats_n > 0 ? (rg_layer_stats *)block(sizeof(rg_layer_stats) * (size_t)stats_n) : NULL;
    rg_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.layer = ls;
    stats.capacity = stats_n > 0 ? (uint32_t)stats_n : 0u;
    for (i = 0; i < len_a; i++) input[i] = (int8_t)(uint8_t)((i * 37u + salt) & 0xffu);
    st = rg_infer_s8(m, (nulls & 2) ? NULL : arena_mem + arena_off, arena_len, (nulls & 4) ? NULL : input, len_a,
                     (nulls & 8) ? NULL : logits, len_b, stats_n >= 0 ? &stats : NULL);
    printf("status %d\n", (int)st);
    if (st == RG_OK) {
      printf("logits");
      for (i = 0; i < model.n_out; i++) printf(" %d", logits[i]);
      printf("\n");
      if (stats_n >= 0) printf("totals %lu %lu\n", (unsigned long)stats.estimator_macs, (unsigned long)stats.row_macs);
    }
    free(arena_mem);
    free(input);
    free(logits);
    free(ls);
  } else if (entry == 3) {
    float *x = (float *)block(sizeof(float) * len_a);
    int8_t *q = (int8_t *)block(len_b);
    for (i = 0; i < len_a; i++) x[i] = (float)((long)((i * 37u + salt) % 251u) - 125) / 50.0f;
    st = rg_quantize_input_f32(m, (nulls & 2) ? NULL : x, len_a, (nulls & 4) ? NULL : q, len_b);
    printf("status %d\n", (int)st);
    if (st == RG_OK) {
      printf("q");
      for (i = 0; i < model.n_in; i++) printf(" %d", q[i]);
      printf("\n");
    }
    free(x);
    free(q);
  } else if (entry == 4) {
    int8_t *v = (int8_t *)block(len_a);
    uint32_t index = 12345u;
    for (i = 0; i < len_a; i++) v[i] = (int8_t)(uint8_t)((i * 37u + salt) & 0xffu);
    st = rg_argmax_s8((nulls & 2) ? NULL : v, len_a, (nulls & 4) ? NULL : &index);
    printf("status %d\nindex %lu\n", (int)st, (unsigned long)index);
    free(v);
  } else {
    return 2;
  }
  free(file);
  return 0;
}
