/* Runs the C runtime on every case (a model and its int8 inputs, from the data file bench/qemu.ts generates),
 * once per run mode (RG_BENCH_MODES, rg_model.flags values), and prints one FNV-1a checksum per case and mode
 * over every sample's logits and per-layer counters (bench/qemu.ts computes the same from Engine in Node).
 * rg_board_mark() brackets each inference, for qemu-insn's instruction counts. */
#include <stdint.h>
#include "rankgate.h"
#include "semihost.h"

#ifndef RG_BENCH_ARENA
#define RG_BENCH_ARENA 4096
#endif
#ifndef RG_BENCH_MODES
#define RG_BENCH_MODES RG_RUN_DENSE, 0
#endif
#define MAX_LAYERS 16
#define MAX_OUT 256

/* Per case: model, model end, inputs, inputs end (16-byte aligned, in flash) */
extern const uint8_t *const rg_bench_cases[];
extern const uint32_t rg_bench_case_count;

static uint64_t arena[(RG_BENCH_ARENA + 7) / 8];
static const uint32_t modes[] = {RG_BENCH_MODES};
static rg_model model;
static rg_layer_stats layer_stats[MAX_LAYERS];
static int8_t logits[MAX_OUT];

static uint32_t fnv(uint32_t h, uint32_t byte) { return (h ^ (byte & 0xffu)) * 16777619u; }
static uint32_t fnv_u32(uint32_t h, uint32_t v) {
  h = fnv(h, v);
  h = fnv(h, v >> 8);
  h = fnv(h, v >> 16);
  return fnv(h, v >> 24);
}

#ifdef RG_BENCH_STACK
/* Stack use of rg_infer_s8 (with RG_BENCH_STACK): the words from 256 to 4,096 bytes below a local of run_case are
   painted before the first inference; after the last, the deepest overwritten word gives the depth below that
   local (rg_infer_s8's frames and its stacked arguments; the marker's call is shallower) */
#define RG_PAINT 0xa5a5a5a5u
#define RG_PAINT_TOP 256u
#define RG_PAINT_BYTES 4096u
static void paint(volatile uint32_t *lo, volatile uint32_t *hi) {
  while (lo < hi) *lo++ = RG_PAINT;
}
#endif

static int run_case(uint32_t c) {
  const uint8_t *const *e = rg_bench_cases + 4 * c;
  const int8_t *inputs = (const int8_t *)e[2];
  uint32_t k, s, j, l, samples;
  rg_stats stats;
#ifdef RG_BENCH_STACK
  volatile uint32_t anchor = 0;
  const uintptr_t base = (uintptr_t)&anchor;
  volatile uint32_t *const lo = (volatile uint32_t *)((base - RG_PAINT_BYTES) & ~(uintptr_t)3);
  volatile uint32_t *deepest;
  paint(lo, (volatile uint32_t *)((base - RG_PAINT_TOP) & ~(uintptr_t)3));
#endif
  if (rg_model_init(&model, e[0], (size_t)(e[1] - e[0])) != RG_OK) {
    rg_board_puts("rg_model_init: ");
    rg_board_puts(model.field);
    rg_board_puts("\n");
    return 1;
  }
  if (rg_arena_bytes(&model) > sizeof arena || model.layers > MAX_LAYERS || model.n_out > MAX_OUT) {
    rg_board_puts("bench: arena, layers or outputs too large\n");
    return 2;
  }
  samples = (uint32_t)(e[3] - e[2]) / model.n_in;
  rg_board_puts("case ");
  rg_board_putu(c);
  rg_board_puts(" arena ");
  rg_board_putu((uint32_t)rg_arena_bytes(&model));
  rg_board_puts("\n");
  for (k = 0; k < sizeof modes / sizeof modes[0]; k++) {
    uint32_t h = 2166136261u;
    model.flags = modes[k];
    for (s = 0; s < samples; s++) {
      rg_status st;
      stats.layer = layer_stats;
      stats.capacity = MAX_LAYERS;
      rg_board_mark();
      st = rg_infer_s8(&model, arena, sizeof arena, inputs + s * model.n_in, model.n_in, logits, sizeof logits, &stats);
      rg_board_mark();
      if (st != RG_OK) {
        rg_board_puts("rg_infer_s8 failed\n");
        return 3;
      }
      for (j = 0; j < model.n_out; j++) h = fnv(h, (uint32_t)(uint8_t)logits[j]);
      for (l = 0; l < model.layers; l++) {
        h = fnv_u32(h, layer_stats[l].estimator_macs);
        h = fnv_u32(h, layer_stats[l].row_macs);
        h = fnv_u32(h, layer_stats[l].rows_computed);
        h = fnv_u32(h, layer_stats[l].rows_skipped);
      }
    }
    rg_board_puts("case ");
    rg_board_putu(c);
    rg_board_puts(" mode ");
    rg_board_putu(modes[k]);
    rg_board_puts(" samples ");
    rg_board_putu(samples);
    rg_board_puts(" checksum ");
    rg_board_putu(h);
    rg_board_puts("\n");
  }
#ifdef RG_BENCH_STACK
  for (deepest = lo; *deepest == RG_PAINT; deepest++) {
  }
  rg_board_puts("case ");
  rg_board_putu(c);
  rg_board_puts(deepest == lo ? " stack over " : " stack ");
  rg_board_putu((uint32_t)(base - (uintptr_t)deepest));
  rg_board_puts("\n");
#endif
  return 0;
}

int main(void) {
  uint32_t c;
  for (c = 0; c < rg_bench_case_count; c++) {
    int status = run_case(c);
    if (status) return status;
  }
  return 0;
}
