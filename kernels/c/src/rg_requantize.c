/* Requantization (twin of requantize_s32, kernels/wasm/requantize.ts); the definition is rg_requantize in rg_internal.h. */
#include "rg_internal.h"

int32_t rg_requantize_s32(int32_t x, int32_t multiplier, int32_t shift) {
  return rg_requantize(x, multiplier, shift);
}
