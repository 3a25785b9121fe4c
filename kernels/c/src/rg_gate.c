/* The block gate's mask (twin of blockGate_s8, kernels/wasm/gate.ts). */
#include "rg_kernels.h"

/* Sets block b's units; returns how many */
static uint32_t open_block(const rg_layer *p, uint32_t b, uint32_t *mask) {
  const uint32_t lo = b * p->block_size, hi = lo + p->block_size < p->n_out ? lo + p->block_size : p->n_out;
  uint32_t j;
  for (j = lo; j < hi; j++) mask[j >> 5] |= 1u << (j & 31u);
  return hi - lo;
}

uint32_t rg_blockGate_s8(const rg_layer *p, const rg_input *s, int32_t *scores, uint32_t *mask) {
  const uint32_t words = (p->n_out + 31u) / 32u;
  uint32_t b, j, pass, computed = 0, g = 0, next = 0;
  for (j = 0; j < words; j++) mask[j] = 0;
  for (b = 0; b < p->blocks; b++) {
    /* Blocks two at a time (the odd block's score is kept for the next step) */
    if (b & 1u) {
      g = next;
    } else if (b + 1u < p->blocks) {
      dot2(s, p->gate_weights + b * p->n_in, p->gate_weights + (b + 1u) * p->n_in, &g, &next);
    } else {
      g = dot1(s, p->gate_weights + b * p->n_in);
    }
    if (p->top_k > 0) {
      scores[b] = rg_s32(g);
    } else if (rg_s32(g) > p->gate_threshold[b]) {
      computed += open_block(p, b, mask);
    }
  }
  /* Top k: k passes, each opening the first largest score − threshold (int64) not yet open */
  for (pass = 0; pass < p->top_k; pass++) {
    uint32_t best = 0;
    int64_t best_s = INT64_MIN;
    for (b = 0; b < p->blocks; b++) {
      const uint32_t first = b * p->block_size;
      int64_t sb;
      if ((mask[first >> 5] >> (first & 31u)) & 1u) continue;
      sb = (int64_t)scores[b] - p->gate_threshold[b];
      if (sb > best_s) {
        best = b;
        best_s = sb;
      }
    }
    computed += open_block(p, best, mask);
  }
  return computed;
}
