// The fuzz kind "c-api" (fuzz/capi.ts) at test size: the C API under ASan + UBSan with random misuse.
import { expect, it } from "vitest";
import { runCapiCase } from "../fuzz/capi.ts";
import { describeWithTools } from "./helpers/system.ts";

describeWithTools(["gcc"], "fuzz c-api", () => {
  it("400 cases of C API misuse (lengths around the true sizes, NULLs, flag bits, misaligned arenas, failed models) each end in the documented status, never a sanitizer report", () => {
    const counts = new Map<string, number>();
    const failures: string[] = [];
    for (let i = 0; i < 400; i++) {
      const r = runCapiCase(11, i);
      counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
      if (r.failure !== null) failures.push(`case ${i}: ${r.outcome}: ${r.failure} (${r.model}; ${r.input})`);
    }
    expect(failures).toEqual([]);
    // Both sides of every entry point are reached: accepted calls checked against the reference, and each refusal
    for (const entry of ["rg_model_init", "rg_arena_bytes", "rg_infer_s8", "rg_quantize_input_f32", "rg_argmax_s8"]) {
      expect(counts.get(`c-api ${entry} valid`) ?? 0, entry).toBeGreaterThan(0);
    }
    for (const k of ["rg_model_init RG_BAD_ARG", "rg_model_init RG_BAD_FORMAT", "rg_infer_s8 RG_BAD_ARG", "rg_infer_s8 RG_BAD_SIZE",
      "rg_quantize_input_f32 RG_BAD_ARG", "rg_quantize_input_f32 RG_BAD_SIZE", "rg_argmax_s8 RG_BAD_ARG"]) {
      expect(counts.get(`c-api ${k}`) ?? 0, k).toBeGreaterThan(0);
    }
  }, 120_000);

  it("a case depends only on seed and index", () => {
    for (const i of [3, 17, 250]) {
      const a = runCapiCase(5, i), b = runCapiCase(5, i);
      expect({ ...a, ms: 0 }).toEqual({ ...b, ms: 0 });
    }
  }, 60_000);
});
