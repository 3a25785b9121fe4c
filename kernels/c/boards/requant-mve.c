/* The MVE path's four-lane requantization (finish4_mve in kernels/c/src/rg_kernels.h, included here for its static functions)
 * against the scalar finish() it replaces, on every shift in [-31, 30] with edge and random sums, biases, multipliers,
 * zero points and clamps. Prints "requant checked N mismatches M" (and the first mismatch); exit status 1 on any.
 * Built for mps3-an547 by test/c-kernels.test.ts. */
#include "../src/rg_kernels.h"
#include "semihost.h"

static uint32_t seed = 12345u;
static uint32_t rnd(void) {
  seed = seed * 1664525u + 1013904223u;
  return seed ^ (seed >> 15);
}

static const uint32_t EDGE[] = {0x80000000u, 0x80000001u, 0xffffffffu, 0u, 1u, 0x7fffffffu, 0x7ffffffeu, 0x40000000u, 0xc0000000u, 0x00010000u, 0xffff0000u};
#define N_EDGE (sizeof EDGE / sizeof EDGE[0])

int main(void) {
  int32_t dot[4], bias[4], mult[4], shift[4], got[4];
  uint32_t checked = 0, bad = 0, i, k, sh;
  for (sh = 0; sh < 62u; sh++) {
    for (i = 0; i < 400u; i++) {
      rg_rows q;
      int32_t lo = (int32_t)(rnd() % 256u) - 128, hi = (int32_t)(rnd() % 256u) - 128;
      q.out_zp = (int32_t)(rnd() % 256u) - 128;
      q.act_min = lo < hi ? lo : hi;
      q.act_max = lo < hi ? hi : lo;
      q.bias = bias;
      q.multiplier = mult;
      q.shift = shift;
      for (k = 0; k < 4u; k++) {
        /* edge values in the first rounds, then random ones of every magnitude */
        const uint32_t e = i * 4u + k;
        dot[k] = (int32_t)(e < N_EDGE * N_EDGE ? EDGE[e % N_EDGE] : rnd() >> (rnd() % 32u));
        bias[k] = (int32_t)(e < N_EDGE * N_EDGE ? EDGE[e / N_EDGE] : (rnd() & 1u ? rnd() : rnd() >> 16));
        mult[k] = (int32_t)(i < 8u ? EDGE[(i + k) % N_EDGE] : (rnd() & 0x7fffffffu) | (rnd() & 1u ? 0x40000000u : 0u));
        shift[k] = (int32_t)(i & 1u ? sh : (rnd() % 62u)) - 31;
      }
      vst1q_s32(got, finish4_mve(&q, vld1q_s32(dot), vld1q_s32(bias), vld1q_s32(mult), vld1q_s32(shift)));
      for (k = 0; k < 4u; k++) {
        const int32_t want = finish(&q, k, (uint32_t)dot[k]);
        checked++;
        if (got[k] != want && bad++ == 0) {
          rg_board_puts("mismatch dot ");
          rg_board_puti(dot[k]);
          rg_board_puts(" bias ");
          rg_board_puti(bias[k]);
          rg_board_puts(" mult ");
          rg_board_puti(mult[k]);
          rg_board_puts(" shift ");
          rg_board_puti(shift[k]);
          rg_board_puts(" got ");
          rg_board_puti(got[k]);
          rg_board_puts(" want ");
          rg_board_puti(want);
          rg_board_puts("\n");
        }
      }
    }
  }
  rg_board_puts("requant checked ");
  rg_board_putu(checked);
  rg_board_puts(" mismatches ");
  rg_board_putu(bad);
  rg_board_puts("\n");
  return bad != 0;
}
