/* CMSIS-NN's arm_fully_connected_per_channel_s8 on the dense layers of an .rgm (the same int8 weights, biases,
 * per-row multipliers and shifts, zero points and ReLU bounds as rankgate dense), on every input, with the
 * buffers and kernel sums its MVE build needs computed once before the first inference; prints one
 * FNV-1a checksum over every sample's logits. CMSIS-NN is built from the upstream tarball under build/; the
 * .rgm is our own bench data, so its layer table is read without validation. */
#include <stdint.h>
#include "arm_nnfunctions.h"
#include "semihost.h"

#define MAX_LAYERS 16
#define MAX_WIDTH 1024
/* Kernel sums (MVE build: arm_fully_connected_s8_get_buffer_size is 4 bytes per output; 0 elsewhere) */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define MAX_SUMS 4096
#else
#define MAX_SUMS 1
#endif

/* Per case: model, model end, inputs, inputs end (bench/qemu.ts generates the data file); case 0 is run */
extern const uint8_t *const rg_bench_cases[];
static const uint8_t *rg_bench_model;

static int8_t ping[MAX_WIDTH], pong[MAX_WIDTH];
static int32_t sums[MAX_SUMS];
/* Per layer: the context arm_fully_connected_per_channel_s8 is called with (buf: its kernel sums, or NULL) */
static cmsis_nn_context ctxs[MAX_LAYERS];

static uint32_t u32(uint32_t off) {
  const uint8_t *p = rg_bench_model + off;
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint32_t fnv(uint32_t h, uint32_t byte) { return (h ^ (byte & 0xffu)) * 16777619u; }

int main(void) {
  uint32_t layers, entry, n_in0, n_out = 0, s, l, j, samples, h = 2166136261u;
  const int8_t *inputs = (const int8_t *)rg_bench_cases[2];
  rg_bench_model = rg_bench_cases[0];
  layers = u32(16);
  entry = u32(20);
  n_in0 = u32(64);
  uint32_t used = 0;
  if (layers > MAX_LAYERS) return 2;
  /* "Model load", outside the timed region, as TFLite Micro's fully_connected Prepare: per layer a buffer of
     arm_fully_connected_s8_get_buffer_size bytes holding arm_vector_sum_s8's kernel sums (bias + input offset ×
     the row's weight sum; MVE only) */
  for (l = 0; l < layers; l++) {
    uint32_t e = 64 + l * entry;
    cmsis_nn_dims filter_dims = {0, 1, 1, 0};
    int32_t bytes;
    filter_dims.n = (int32_t)u32(e);
    filter_dims.c = (int32_t)u32(e + 4);
    bytes = arm_fully_connected_s8_get_buffer_size(&filter_dims);
    ctxs[l].buf = 0;
    ctxs[l].size = bytes;
    if (bytes > 0) {
      if (used + (uint32_t)bytes / 4u > MAX_SUMS) return 2;
      ctxs[l].buf = sums + used;
      used += (uint32_t)bytes / 4u;
      if (arm_vector_sum_s8(sums + (used - (uint32_t)bytes / 4u), filter_dims.n, filter_dims.c, (const int8_t *)(rg_bench_model + u32(e + 40)),
                            -(int32_t)u32(e + 16), 0, (const int32_t *)(const void *)(rg_bench_model + u32(e + 44))) != ARM_CMSIS_NN_SUCCESS)
        return 3;
    }
  }
  samples = (uint32_t)(rg_bench_cases[3] - rg_bench_cases[2]) / n_in0;
  for (s = 0; s < samples; s++) {
    const int8_t *in = inputs + s * n_in0;
    int8_t *out = ping;
    rg_board_mark();
    for (l = 0; l < layers; l++) {
      uint32_t e = 64 + l * entry;
      int32_t n_in = (int32_t)u32(e), in_zp = (int32_t)u32(e + 16), out_zp = (int32_t)u32(e + 20);
      cmsis_nn_fc_params fc;
      cmsis_nn_per_channel_quant_params q;
      cmsis_nn_dims in_dims = {1, 1, 1, 0}, filter_dims = {0, 1, 1, 0}, bias_dims = {1, 1, 1, 0}, out_dims = {1, 1, 1, 0};
      n_out = u32(e + 4);
      if (n_out > MAX_WIDTH) return 2;
      in_dims.c = n_in;
      filter_dims.n = n_in;
      filter_dims.c = (int32_t)n_out;
      bias_dims.c = (int32_t)n_out;
      out_dims.c = (int32_t)n_out;
      fc.input_offset = -in_zp;
      fc.filter_offset = 0;
      fc.output_offset = out_zp;
      fc.activation.min = u32(e + 12) ? out_zp : -128;
      fc.activation.max = 127;
      q.multiplier = (int32_t *)(uintptr_t)(rg_bench_model + u32(e + 48));
      q.shift = (int32_t *)(uintptr_t)(rg_bench_model + u32(e + 52));
      out = (l & 1) ? pong : ping;
      if (arm_fully_connected_per_channel_s8(&ctxs[l], &fc, &q, &in_dims, in, &filter_dims,
                                             (const int8_t *)(rg_bench_model + u32(e + 40)), &bias_dims,
                                             (const int32_t *)(const void *)(rg_bench_model + u32(e + 44)),
                                             &out_dims, out) != ARM_CMSIS_NN_SUCCESS)
        return 3;
      in = out;
    }
    rg_board_mark();
    for (j = 0; j < n_out; j++) h = fnv(h, (uint32_t)(uint8_t)out[j]);
  }
  rg_board_puts("case 0 mode cmsis samples ");
  rg_board_putu(samples);
  rg_board_puts(" checksum ");
  rg_board_putu(h);
  rg_board_puts("\n");
  return 0;
}
