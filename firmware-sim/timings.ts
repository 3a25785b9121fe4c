// Cycles from an executed instruction mix: QEMU counts instructions (c/boards/qemu-insn.c, ops=1 gives one
// count per mnemonic), and the cores' published instruction timings turn them into cycles. These cycles are
// DERIVED from measured counts, never measured: no pipeline stalls beyond the rules below, no flash wait
// states (docs/SIMULATOR.md, "Measured counts"). Keys: "<mnemonic>" ("ldr.w", "smlad", "bne.n"), "<load>+"
// for a load right after a load in the same block, "<op>/<registers>[/pc]" for register lists.

export type TimedCore = "cortex-m0plus" | "cortex-m4f" | "cortex-m7";

export const TIMING_SOURCES: Record<TimedCore, string> = {
  "cortex-m0plus":
    "Cortex-M0+ TRM (ARM DDI 0484C) §3.3, Table 3-1: data processing and MULS (single-cycle multiplier) 1; LDR*/STR* 2; " +
    "LDM/STM/PUSH N+1; POP with PC N+3; B and taken B<cond> 2 (counted taken: loops dominate); BL 3; BX/BLX 2",
  "cortex-m4f":
    "Cortex-M4 TRM (ARM DDI 0439B) §3.3.1, Table 3-1: data processing, MUL/MLA, SMULL/SMLAL, DSP (SMLAD, SXTB16, SXTAB16) 1; " +
    "LDR* 2, 1 when it directly follows a load (neighbouring loads pipeline, N loads in N + 1); STR* 2 (STRD 3); LDRD 3; " +
    "LDM/STM/PUSH/POP N+1, +P with PC; UDIV/SDIV 2–12 (counted 12); branches 1 + P with P = 2 (pipeline refill 1–3; " +
    "conditional branches counted taken); IT 1",
  "cortex-m7":
    "Arm publishes no per-instruction cycle table for Cortex-M7 (the TRM, ARM DDI 0489, describes a dual-issue " +
    "six-stage pipeline): 1 cycle per instruction is used, an upper bound for single-issue code from zero-wait TCM",
};

const BRANCH = /^(b|bl|blx|bx|cbz|cbnz|tbb|tbh)(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?(\.[nw])?$/;
const LOAD = /^ldr/;
const STORE = /^str/;

/** Cycles of one execution of the instruction `key` on `core` (rules above). */
export function instructionCycles(core: TimedCore, key: string): number {
  if (core === "cortex-m7") return 1;
  const [op, regsText, pc] = key.split("/");
  const m = op.replace(/\+$/, "");
  const regs = Number(regsText ?? 0);
  const base = m.replace(/\.[nw]$/, "");
  if (core === "cortex-m0plus") {
    if (regsText !== undefined) return regs + 1 + (pc ? 2 : 0);
    if (BRANCH.test(m)) return base === "bl" ? 3 : 2;
    if (LOAD.test(m) || STORE.test(m)) return 2;
    return 1;
  }
  // cortex-m4f
  if (regsText !== undefined) return regs + 1 + (pc ? 2 : 0);
  if (BRANCH.test(m)) return 3;
  if (/^(udiv|sdiv)/.test(base)) return 12;
  if (base === "ldrd" || base === "strd") return 3;
  if (LOAD.test(m)) return op.endsWith("+") ? 1 : 2;
  if (STORE.test(m)) return 2;
  return 1;
}

/** Derived cycles of an instruction mix (key → executed count). */
export function mixCycles(core: TimedCore, ops: Record<string, number>): number {
  let c = 0;
  for (const [k, n] of Object.entries(ops)) c += n * instructionCycles(core, k);
  return c;
}
