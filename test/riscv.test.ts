// The C runtime (kernels/c/) cross-built for RISC-V rv32imc (ESP32-C3 class) and rv32imac (ESP32-C6, GD32V, CH32V
// class) with riscv64-unknown-elf-gcc and picolibc, run under qemu-system-riscv32 (machine virt) with
// semihosting (kernels/c/boards/startup-riscv.c, board-riscv.ld): every image prints, per model and run mode, the
// FNV-1a checksum of the logits and per-layer counters that Engine computes in Node on the same inputs.
// CMSIS-NN's portable C path (no ARM_MATH_DSP), built from the upstream tarball, gives Engine's dense
// logits on the same layers. The instruction counter (kernels/c/boards/qemu-insn.c) is exact on RISC-V too.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { selftestCases } from "../web/build-selftest.ts";
import {
  BOARDS_DIR, benchChecksum, buildCmsisImage, buildImage, buildRankgateImage, dataInputs, engineChecksums, MODE_FLAGS, mnistInputs,
  parseChecksums, ROOT, runImage, type BenchCase, type BoardName, type ModeName,
} from "../bench/qemu.ts";
import { describeWithTools } from "./helpers/system.ts";
import { instructionCycles, mixCycles } from "../sim/timings.ts";

const OUT = join(ROOT, "build", "riscv-test");
const MODES = Object.keys(MODE_FLAGS) as ModeName[];
const BOARDS: BoardName[] = ["rv32imc-virt", "rv32imac-virt"];
let cases: (BenchCase & { name: string; model: Uint8Array })[] = [];
let expected: Map<string, number>;

beforeAll(async () => {
  cases = selftestCases().map((c) => ({ name: c.name, model: c.model, inputs: c.inputs }));
  const mcu = new Uint8Array(readFileSync(join(ROOT, "models", "mcu.rgm")));
  cases.push({ name: "mcu.rgm", model: mcu, inputs: mnistInputs(mcu, 2) });
  const zoo = new Uint8Array(readFileSync(join(ROOT, "bench", "zoo", "bc-gates-30-48-24-2.rgm")));
  cases.push({ name: "bc-gates-30-48-24-2.rgm", model: zoo, inputs: await dataInputs(zoo, join(ROOT, "bench", "zoo", "data", "breast_cancer.npz"), 6) });
  expected = new Map();
  for (const [k, c] of cases.entries()) {
    const node = await engineChecksums(c.model, c.inputs, MODES);
    for (const m of MODES) expected.set(`${k} ${MODE_FLAGS[m]}`, node.get(m)!.checksum);
  }
});

it("rv32imc derived cycles follow sim/timings.ts's labelled rules", () => {
  expect(["add", "mv", "mul", "mulh", "c.addi", "sw", "sb"].map((k) => instructionCycles("rv32imc", k))).toEqual([1, 1, 1, 1, 1, 1, 1]);
  expect(["lb", "lbu", "lw", "lh", "c.lw"].map((k) => instructionCycles("rv32imc", k))).toEqual([2, 2, 2, 2, 2]);
  expect(["bnez", "bltu", "j", "jal", "ret", "jr"].map((k) => instructionCycles("rv32imc", k))).toEqual([2, 2, 2, 2, 2, 2]);
  expect(["div", "divu", "rem", "remu"].map((k) => instructionCycles("rv32imc", k))).toEqual([35, 35, 35, 35]);
  expect(mixCycles("rv32imc", { lw: 3, add: 4, bnez: 2, divu: 1 })).toBe(6 + 4 + 4 + 35);
});

describeWithTools(["gcc", "riscv64-unknown-elf-gcc", "qemu-system-riscv32"], "RISC-V: C runtime under QEMU", () => {
  it("qemu-insn counts RISC-V instructions exactly: two back-to-back marks are a call and a ret apart", () => {
    const elf = buildImage({ board: "rv32imc-virt", sources: [join(BOARDS_DIR, "hello.c")], out: join(OUT, "hello.elf") });
    const r = runImage("rv32imc-virt", elf, { count: true, ops: true });
    expect(r.status).toBe(7);
    expect(r.stdout).toBe("hello -1234567\n");
    expect(r.marks.map((m) => m.id)).toEqual([0, 0]);
    expect(r.marks[1].count - r.marks[0].count).toBe(2);
    expect(r.total).toBeGreaterThan(r.marks[1].count);
    // mnemonics, not the hex word QEMU's RISC-V disassembly starts with
    expect(r.ops.ebreak).toBeGreaterThan(0);
    expect(Object.keys(r.ops).filter((k) => /^[0-9a-f]{4,8}$/.test(k))).toEqual([]);
  });

  it("the images are RV32 with the C extension, and rv32imac's also carries A", () => {
    for (const board of BOARDS) {
      const elf = readFileSync(buildImage({ board, sources: [join(BOARDS_DIR, "hello.c")], out: join(OUT, `hello-${board}.elf`) }));
      // ELFCLASS32, EM_RISCV, EF_RISCV_RVC; the merged arch string of .riscv.attributes
      const arch = /rv32i2p1_m2p0(_a2p1)?_c2p0\w*/.exec(elf.toString("latin1"))?.[0];
      expect({ board, class: elf[4], machine: elf[18] + 256 * elf[19], rvc: elf.readUInt32LE(36) & 1, atomics: arch?.includes("_a2p1") })
        .toEqual({ board, class: 1, machine: 243, rvc: 1, atomics: board === "rv32imac-virt" });
    }
  });

  it("8 cases: six selftest models (one a format v3 file), mcu.rgm on real digits, a zoo model on its sklearn samples", () => {
    expect(cases.map((c) => c.name)).toEqual(["gated-odd", "identity", "wide-rank", "dense", "block-gates", "per-feature", "mcu.rgm", "bc-gates-30-48-24-2.rgm"]);
  });

  for (const board of BOARDS) {
    it(`${board}: every model and run mode prints Engine's checksum`, () => {
      const elf = buildRankgateImage({ board, cases, modes: MODES.map((m) => MODE_FLAGS[m]), arena: 4096, out: join(OUT, `rankgate-${board}.elf`) });
      const r = runImage(board, elf);
      expect(r.status, r.stdout).toBe(0);
      const got = parseChecksums(r.stdout);
      expect(got.size).toBe(cases.length * MODES.length);
      expect(expected.size).toBe(cases.length * MODES.length);
      for (const [key, want] of expected) expect({ key, checksum: got.get(key)?.checksum }).toEqual({ key, checksum: want });
    });
  }

  it("a changed input changes the rv32imc image's checksum", () => {
    const changed = cases.slice(0, 1).map((c) => ({ ...c, inputs: c.inputs.map((v, i) => (i === 3 ? v ^ 0x40 : v)) }));
    const elf = buildRankgateImage({ board: "rv32imc-virt", cases: changed, modes: [MODE_FLAGS.gated], arena: 4096, out: join(OUT, "changed.elf") });
    const got = parseChecksums(runImage("rv32imc-virt", elf).stdout);
    expect(got.get("0 0")?.checksum).toBeTypeOf("number");
    expect(got.get("0 0")?.checksum).not.toBe(expected.get("0 0"));
  });

  it("CMSIS-NN's portable C arm_fully_connected_per_channel_s8 on rv32imc gives Engine's dense logits (selftest case and mcu.rgm)", async () => {
    for (const c of [cases[0], cases[6]]) {
      const node = await engineChecksums(c.model, c.inputs, ["dense"]);
      const want = benchChecksum(node.get("dense")!.results, false);
      const r = runImage("rv32imc-virt", buildCmsisImage({ board: "rv32imc-virt", cases: [c], out: join(OUT, `cmsis-${c.name}.elf`) }));
      expect(r.status, r.stdout).toBe(0);
      expect(parseChecksums(r.stdout).get("0 cmsis")).toEqual({ samples: node.get("dense")!.results.length, checksum: want });
    }
  });
});
