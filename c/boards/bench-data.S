/* The bench images' data, linked in "flash" (.rodata): a model and int8 inputs, included by path
 * (-DRG_MODEL_FILE='"…"' -DRG_INPUTS_FILE='"…"'). The model is 16-byte aligned as rg_model_init expects. */
  .section .rodata.rg_bench, "a"
  .balign 16
  .global rg_bench_model
rg_bench_model:
  .incbin RG_MODEL_FILE
  .global rg_bench_model_end
rg_bench_model_end:
  .balign 16
  .global rg_bench_inputs
rg_bench_inputs:
  .incbin RG_INPUTS_FILE
  .global rg_bench_inputs_end
rg_bench_inputs_end:
