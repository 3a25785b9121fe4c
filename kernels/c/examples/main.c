// rankgate on a microcontroller: copy this file into your firmware and adapt read_input().
//   rankgate quantize --float net.safetensors -o model.rgm   (writes model.h and model.c: rgm_model; optimize too)
//   cc -std=c99 -Ic/include kernels/c/src/*.c kernels/c/examples/main.c model.c -o example     (or CMake: docs/C-API.md)
// The model stays in flash; the arena is the only RAM the runtime uses, sized at compile time by model.h.
#include <stdio.h>

#include "model.h"
#include "rankgate.h"

/* Arena: RGM_MODEL_ARENA_BYTES (a multiple of 8) = rg_arena_bytes() of this model; 8-byte aligned by its type */
static uint64_t arena[RGM_MODEL_ARENA_BYTES / 8u];
static float input[RGM_MODEL_INPUTS];
static int8_t quantized[RGM_MODEL_INPUTS];
static int8_t logits[RGM_MODEL_OUTPUTS];

/* Your sensor or feature code; here a fixed ramp */
static void read_input(float *x, uint32_t n) {
  uint32_t i;
  for (i = 0; i < n; i++) x[i] = (float)(i % 7u) / 7.0f;
}

int main(void) {
  rg_model model;
  uint32_t j, label;
  /* Init: validates the model in place (rg_model_init_trusted skips the CRC-32 at boot: docs/C-API.md) */
  if (rg_model_init(&model, rgm_model, rgm_model_len) != RG_OK) {
    printf("bad model: %s at offset %lu: expected %s\n", model.field, (unsigned long)model.offset, model.expected);
    return 1;
  }
  /* Quantize, infer (gated; model.flags = RG_RUN_ZERO_SKIP skips zero inputs too), argmax */
  read_input(input, RGM_MODEL_INPUTS);
  if (rg_quantize_input_f32(&model, input, RGM_MODEL_INPUTS, quantized, sizeof quantized) != RG_OK) return 1;
  if (rg_infer_s8(&model, arena, sizeof arena, quantized, RGM_MODEL_INPUTS, logits, sizeof logits, NULL) != RG_OK) return 1;
  if (rg_argmax_s8(logits, RGM_MODEL_OUTPUTS, &label) != RG_OK) return 1;
  printf("label %lu logits", (unsigned long)label);
  for (j = 0; j < RGM_MODEL_OUTPUTS; j++) printf(" %d", logits[j]);
  printf("\n");
  return 0;
}
