// The host builds of the C runtime shared by the C suites: plain, with the DSP kernels emulated, and under
// ASan + UBSan (docs/C-API.md, "Tests").
export const C_BUILDS = {
  plain: ["-O2"],
  dsp: ["-O2", "-DRG_EMULATE_DSP"],
  asan: ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-DRG_EMULATE_DSP"],
} as const;
export type CBuild = keyof typeof C_BUILDS;
