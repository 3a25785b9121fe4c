/* rg_infer_s8: every layer in order, as kernels/wasm/network.ts run_s8 (the same outputs and counters). */
#include "rg_internal.h"

int rg_have_dsp(void) { return RG_HAVE_DSP; }

int rg_have_mve(void) { return RG_HAVE_MVE; }

rg_status rg_argmax_s8(const int8_t *v, size_t n, uint32_t *index) {
  size_t best = 0, j;
  if (index == NULL) return RG_BAD_ARG;
  if (v == NULL || n == 0) {
    *index = 0xffffffffu;
    return RG_BAD_ARG;
  }
  for (j = 1; j < n; j++) {
    if (v[j] > v[best]) best = j;
  }
  *index = (uint32_t)best;
  return RG_OK;
}

rg_status rg_infer_s8(const rg_model *m, void *arena, size_t arena_bytes, const int8_t *input, size_t input_len, int8_t *logits,
                      size_t logits_len, rg_stats *stats) {
  uint8_t *a = (uint8_t *)arena;
  int8_t *act;
  void *t;
  uint32_t *mask;
  int32_t *scores;
  rg_input s;
  uint32_t l, est_total = 0, row_total = 0;
  if (m == NULL || m->valid_ != RG_VALID || arena == NULL || input == NULL || logits == NULL) return RG_BAD_ARG;
  if (((uintptr_t)arena & (RG_ARENA_ALIGN - 1u)) != 0 || (m->flags & ~RG_RUN_KNOWN) != 0) return RG_BAD_ARG;
  if (arena_bytes < m->arena_bytes_ || input_len != m->n_in || logits_len < m->n_out) return RG_BAD_SIZE;
  if (stats != NULL && stats->layer != NULL && stats->capacity < m->layers) return RG_BAD_SIZE;
  /* Arena: act int8 [pad8(max hidden)], x int16 [pad8(max n_in)], t int16 [pad8(max rank)], mask, chunks, top-k scores int32 */
  act = (int8_t *)a;
  a += rg_pad8(m->max_hidden_);
  s.x16 = (int16_t *)(void *)a;
  s.xw = (uint32_t *)(void *)a;
  a += 2u * rg_pad8(m->max_in_);
  t = a;
  a += 2u * rg_pad8(m->max_rank_);
  mask = (uint32_t *)(void *)a;
  a += rg_pad8(4u * ((m->max_gated_out_ + 31u) / 32u));
  s.chunks = (uint16_t *)(void *)a;
  a += rg_pad8(2u * ((m->max_in_ + 7u) / 8u));
  scores = (int32_t *)(void *)a;
  s.dsp = (RG_HAVE_DSP || RG_HAVE_MVE) && (m->flags & RG_RUN_PORTABLE) == 0;
  for (l = 0; l < m->layers; l++) {
    rg_layer p;
    const int8_t *in = l == 0 ? input : act;
    int8_t *out = l + 1u == m->layers ? logits : act;
    const int gated = (m->flags & RG_RUN_DENSE) == 0;
    uint32_t est = 0, computed;
    rg_layer_decode(m, l, &p);
    /* The input is widened into x before the rows write out (which may be act, the input) */
    rg_sparseInput_s8(in, p.n_in, p.in_zp, (m->flags & RG_RUN_ZERO_SKIP) != 0, &s);
    if (gated && p.rank > 0) {
      computed = rg_estimateSign_s8(&p, &s, t, mask);
      est = p.rank * (s.chunk_elems + p.n_out);
      rg_gatedRows_s8(&p, &s, mask, out);
    } else if (gated && p.blocks > 0) {
      computed = rg_blockGate_s8(&p, &s, scores, mask);
      est = p.blocks * s.chunk_elems;
      rg_gatedRows_s8(&p, &s, mask, out);
    } else {
      computed = p.n_out;
      rg_denseRows_s8(&p, &s, out);
    }
    if (stats != NULL && stats->layer != NULL) {
      rg_layer_stats *ls = &stats->layer[l];
      ls->estimator_macs = est;
      ls->row_macs = computed * s.chunk_elems;
      ls->rows_computed = computed;
      ls->rows_skipped = p.n_out - computed;
    }
    est_total += est;
    row_total += computed * s.chunk_elems;
  }
  if (stats != NULL) {
    stats->layers = m->layers;
    stats->estimator_macs = est_total;
    stats->row_macs = row_total;
    stats->total_macs = est_total + row_total;
  }
  return RG_OK;
}
