/* The block gate's mask (twin of blockGate_s8, kernels/wasm/gate.ts). */
#include "rg_kernels.h"

uint32_t rg_blockGate_s8(const rg_layer *p, const rg_input *s, uint32_t *mask) {
  const uint32_t words = (p->n_out + 31u) / 32u;
  uint32_t b, j, computed = 0, g = 0, next = 0;
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
    if (rg_s32(g) > p->gate_threshold[b]) {
      const uint32_t lo = b * p->block_size, hi = lo + p->block_size < p->n_out ? lo + p->block_size : p->n_out;
      for (j = lo; j < hi; j++) mask[j >> 5] |= 1u << (j & 31u);
      computed += hi - lo;
    }
  }
  return computed;
}
