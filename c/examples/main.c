// rankgate on a microcontroller: copy this file into your firmware and adapt read_input().
//   rankgate quantize --float net.safetensors -o model.rgm   (writes model.h and model.c: rgm_model)
//   cc -std=c99 -Ic/include c/src/*.c c/examples/main.c model.c -o example
// The model stays in flash; the arena is the only RAM the runtime uses (docs/C-API.md).
#include <stdio.h>

#include "model.h"
#include "rankgate.h"

/* Arena: rg_arena_bytes() of your model at most (main checks it); 8-byte aligned by its type */
#define ARENA_BYTES 4096u
static uint64_t arena[ARENA_BYTES / 8u];

#define MAX_INPUTS 1024u
static float input[MAX_INPUTS];
static int8_t quantized[MAX_INPUTS];
static int8_t logits[256];

/* Your sensor or feature code; here a fixed ramp */
static void read_input(float *x, uint32_t n) {
  uint32_t i;
  for (i = 0; i < n; i++) x[i] = (float)(i % 7u) / 7.0f;
}

int main(void) {
  rg_model model;
  uint32_t j, label;
  /* Init: validates the model in place */
  if (rg_model_init(&model, rgm_model, rgm_model_len) != RG_OK) {
    printf("bad model: %s at offset %lu: expected %s\n", model.field, (unsigned long)model.offset, model.expected);
    return 1;
  }
  if (rg_arena_bytes(&model) > sizeof arena || model.n_in > MAX_INPUTS || model.n_out > sizeof logits) {
    printf("model needs a %lu-byte arena, %lu inputs, %lu outputs\n", (unsigned long)rg_arena_bytes(&model),
           (unsigned long)model.n_in, (unsigned long)model.n_out);
    return 1;
  }
  /* Quantize, infer (gated; model.flags = RG_RUN_ZERO_SKIP skips zero inputs too), argmax */
  read_input(input, model.n_in);
  if (rg_quantize_input_f32(&model, input, model.n_in, quantized, sizeof quantized) != RG_OK) return 1;
  if (rg_infer_s8(&model, arena, sizeof arena, quantized, model.n_in, logits, sizeof logits, NULL) != RG_OK) return 1;
  if (rg_argmax_s8(logits, model.n_out, &label) != RG_OK) return 1;
  printf("label %lu logits", (unsigned long)label);
  for (j = 0; j < model.n_out; j++) printf(" %d", logits[j]);
  printf("\n");
  return 0;
}
