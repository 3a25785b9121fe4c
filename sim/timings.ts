// Cycles from an executed instruction mix: QEMU counts instructions (kernels/c/boards/qemu-insn.c, ops=1 gives one
// count per mnemonic), and the cores' published instruction timings turn them into cycles. These cycles are
// DERIVED from measured counts, never measured: no pipeline stalls beyond the rules below, no flash wait
// states (docs/SIMULATOR.md, "Measured counts"). Keys: "<mnemonic>" ("ldr.w", "smlad", "bne.n"; RISC-V "lb", "mul", "bnez"), "<load>+"
// for a load right after a load in the same block, "<op>/<registers>[/pc]" for register lists.

export type TimedCore = "cortex-m0plus" | "cortex-m4f" | "cortex-m7" | "cortex-m55" | "rv32imc";

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
  "cortex-m55":
    "Arm publishes no per-instruction cycle table for Cortex-M55 in its TRM (ARM 101051); used (assumption): scalar " +
    "instructions 1 (as the M7 row), Helium/FP instructions 2 (v* mnemonics, and the coprocessor-space forms ldc, stc, " +
    "cdp, mcr, mrc as which QEMU 7.2's disassembler shows MVE; its .byte, the low-overhead-loop LE/DLS, is 1): the M55 is dual-beat, a 128-bit " +
    "operation takes two beats (J. Yiu, 'Blending DSP and ML features into a low-power general-purpose processor', " +
    "Arm white paper); the overlap of consecutive vector instructions is not credited, so this is an upper bound",
  rv32imc:
    "Espressif publishes no per-instruction cycle table for the ESP32-C3's core (TRM ch. 1 'ESP-RISC-V CPU': RV32IMC, " +
    "in-order, single issue). Used: data processing and MUL/MULH* 1 (measurement: WLED issue 4206's table, C3 at 160 MHz, " +
    "integer multiply 120.7 MOPS/s vs addition 127.1, about 1 cycle); DIV*/REM* 35 (same table: 4.63 MOPS/s at 160 MHz); " +
    "loads 2 (assumption: one load-use cycle); stores 1 (assumption); branches and jumps 2 (assumption: one refill " +
    "cycle, conditional branches counted taken as for the Cortex-M rows: loops dominate). Counts are of RV32IMC code " +
    "(c.* forms disassemble as their base mnemonic)",
};

const BRANCH = /^(b|bl|blx|bx|cbz|cbnz|tbb|tbh)(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?(\.[nw])?$/;
const LOAD = /^ldr/;
const STORE = /^str/;

/** Cycles of one execution of the instruction `key` on `core` (rules above). */
export function instructionCycles(core: TimedCore, key: string): number {
  if (core === "cortex-m7") return 1;
  if (core === "cortex-m55") return /^(v|ldc|stc|cdp|mcr|mrc)/.test(key) ? 2 : 1;
  if (core === "rv32imc") return riscvCycles(key);
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

const RV_BRANCH = /^(c\.)?(beq|bne|blt|bge|bltu|bgeu|beqz|bnez|blez|bgez|bltz|bgtz|bgt|ble|bgtu|bleu|j|jal|jr|jalr|ret|call|tail)$/;
const RV_LOAD = /^(c\.)?(lb|lh|lw|lbu|lhu|lwsp)$/;
const RV_DIV = /^(div|divu|rem|remu)$/;

/** RV32IMC (ESP32-C3 class) rules of TIMING_SOURCES.rv32imc. */
function riscvCycles(key: string): number {
  const m = key.replace(/\+$/, "");
  if (RV_DIV.test(m)) return 35;
  if (RV_LOAD.test(m)) return 2;
  if (RV_BRANCH.test(m)) return 2;
  return 1;
}

/** Derived cycles of an instruction mix (key → executed count). */
export function mixCycles(core: TimedCore, ops: Record<string, number>): number {
  let c = 0;
  for (const [k, n] of Object.entries(ops)) c += n * instructionCycles(core, k);
  return c;
}
