/*
 * Host test harness for the C runtime (driven by test/c-runtime.test.ts): reads a job file of
 * records and writes the runtime's answers, binary, to an output file.
 *
 * Job records (little-endian u32 fields):
 *   'M' len bytes[len]            rg_model_init on a copy of the bytes (16-byte aligned)
 *     → i32 status, u32 offset, u32 actual, char field[48], u32 arena_bytes, u32 layers, u32 n_in, u32 n_out
 *   'R' flags count kind data     count samples for the last model (kind 0: int8 [n_in], 1: f32 [n_in]);
 *                                 each on an arena of exactly rg_arena_bytes
 *     → per sample: i32 status, int8 logits[n_out], u32 layers·4 counters, u32 totals·3
 *   'Q' x m s                     rg_requantize_s32(x, m, s) → i32
 * After every 'R' the model bytes are compared with their copy: a write into the model is an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rankgate.h"
#include "../src/rg_internal.h"

static FILE *out;

static void put_u32(uint32_t v) {
  uint8_t b[4];
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  b[2] = (uint8_t)(v >> 16);
  b[3] = (uint8_t)(v >> 24);
  fwrite(b, 1, 4, out);
}

static int get_u32(FILE *f, uint32_t *v) {
  uint8_t b[4];
  if (fread(b, 1, 4, f) != 4) return 0;
  *v = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
  return 1;
}

static void die(const char *what) {
  fprintf(stderr, "harness: %s\n", what);
  exit(2);
}

int main(int argc, char **argv) {
  FILE *in;
  uint32_t tag;
  rg_model m;
  uint8_t *model = NULL, *copy = NULL;
  uint32_t model_len = 0;
  int have_model = 0;
  if (argc != 3) die("usage: harness JOB OUT");
  in = fopen(argv[1], "rb");
  out = fopen(argv[2], "wb");
  if (!in || !out) die("cannot open files");
  memset(&m, 0, sizeof m);
  while (get_u32(in, &tag)) {
    if (tag == 'M') {
      rg_status st;
      uint32_t len;
      if (!get_u32(in, &len)) die("truncated M");
      free(model);
      free(copy);
      /* 16-byte aligned, exactly len bytes (ASan sees any read past the end) */
      model = (uint8_t *)malloc(len ? len : 1);
      copy = (uint8_t *)malloc(len ? len : 1);
      if (!model || !copy) die("out of memory");
      if (len && fread(model, 1, len, in) != len) die("truncated model");
      memcpy(copy, model, len);
      model_len = len;
      st = rg_model_init(&m, model, len);
      have_model = st == RG_OK;
      put_u32((uint32_t)st);
      put_u32(m.offset);
      put_u32(m.actual);
      fwrite(m.field, 1, RG_FIELD_CHARS, out);
      put_u32((uint32_t)rg_arena_bytes(&m));
      put_u32(m.layers);
      put_u32(m.n_in);
      put_u32(m.n_out);
    } else if (tag == 'R') {
      uint32_t flags, count, kind, s;
      size_t sample_bytes;
      uint8_t *data;
      void *arena;
      int8_t *q, *logits;
      rg_layer_stats *ls;
      if (!get_u32(in, &flags) || !get_u32(in, &count) || !get_u32(in, &kind)) die("truncated R");
      if (!have_model) die("R without a valid model");
      sample_bytes = (size_t)m.n_in * (kind ? 4u : 1u);
      data = (uint8_t *)malloc(sample_bytes * count + 1);
      arena = malloc(rg_arena_bytes(&m) ? rg_arena_bytes(&m) : 1);
      q = (int8_t *)malloc(m.n_in);
      logits = (int8_t *)malloc(m.n_out);
      ls = (rg_layer_stats *)malloc(sizeof(rg_layer_stats) * m.layers);
      if (!data || !arena || !q || !logits || !ls) die("out of memory");
      if (fread(data, 1, sample_bytes * count, in) != sample_bytes * count) die("truncated samples");
      m.flags = flags;
      for (s = 0; s < count; s++) {
        rg_stats st;
        rg_status status = RG_OK;
        uint32_t l;
        const uint8_t *x = data + sample_bytes * s;
        memset(logits, 0x5a, m.n_out);
        memset(ls, 0xa5, sizeof(rg_layer_stats) * m.layers);
        memset(&st, 0, sizeof st);
        st.layer = ls;
        st.capacity = m.layers;
        if (kind) {
          float *f = (float *)malloc(sample_bytes);
          if (!f) die("out of memory");
          memcpy(f, x, sample_bytes);
          status = rg_quantize_input_f32(&m, f, m.n_in, q, m.n_in);
          free(f);
        } else {
          memcpy(q, x, m.n_in);
        }
        if (status == RG_OK) status = rg_infer_s8(&m, arena, rg_arena_bytes(&m), q, m.n_in, logits, m.n_out, &st);
        put_u32((uint32_t)status);
        fwrite(logits, 1, m.n_out, out);
        for (l = 0; l < m.layers; l++) {
          put_u32(ls[l].estimator_macs);
          put_u32(ls[l].row_macs);
          put_u32(ls[l].rows_computed);
          put_u32(ls[l].rows_skipped);
        }
        put_u32(st.estimator_macs);
        put_u32(st.row_macs);
        put_u32(st.total_macs);
      }
      if (memcmp(model, copy, model_len) != 0) die("the model bytes changed");
      free(data);
      free(arena);
      free(q);
      free(logits);
      free(ls);
    } else if (tag == 'Q') {
      uint32_t x, mul, sh;
      if (!get_u32(in, &x) || !get_u32(in, &mul) || !get_u32(in, &sh)) die("truncated Q");
      put_u32((uint32_t)rg_requantize_s32(rg_s32(x), rg_s32(mul), rg_s32(sh)));
    } else {
      die("unknown record");
    }
  }
  free(model);
  free(copy);
  fclose(in);
  if (fclose(out) != 0) die("cannot write output");
  return 0;
}
