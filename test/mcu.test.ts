// The C runtime (kernels/c/) cross-built for Cortex-M0+, M4, M7 and M55 and run under qemu-system-arm with
// semihosting (kernels/c/boards/): every image prints, per model and run mode, the FNV-1a checksum of the logits
// and per-layer counters that Engine computes in Node on the same inputs. CMSIS-NN's fully connected
// kernel, built from the upstream tarball, gives Engine's dense logits on the same layers. The
// instruction counter (kernels/c/boards/qemu-insn.c) is exact on a known image. wasm3, cross-built from the upstream
// tarball, runs the MVP module bare metal on the M4 and prints Node's checksum.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { selftestCases } from "../web/build-selftest.ts";
import { decodeOutput, encodeJob, engineJob, runJob } from "../bench/wasm-job.ts";
import { quantizeModelInput, run_s8 } from "../runtime/src/reference.ts";
import { readModel } from "../runtime/src/format.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { readManifest } from "../bench/mcu.ts";
import { UserError } from "../runtime/src/errors.ts";
import {
  BOARDS_DIR, benchChecksum, buildCmsisImage, buildImage, buildRankgateImage, buildWasm3Image, dataInputs, engineChecksums, fnvBytes, MODE_FLAGS, mnistInputs,
  parseChecksums, ROOT, runImage, type BenchCase, type BoardName, type ModeName,
} from "../bench/qemu.ts";
import { describeWithTools } from "./helpers/system.ts";

const OUT = join(ROOT, "build", "mcu-test");
const MODES = Object.keys(MODE_FLAGS) as ModeName[];
let cases: (BenchCase & { name: string; model: Uint8Array })[] = [];
let expected: Map<string, number>;
/** The selftest models fit every board; models/mcu.rgm on two real digits needs more flash than the micro:bit's. */
const SMALL = 5;

beforeAll(async () => {
  cases = selftestCases().map((c) => ({ name: c.name, model: c.model, inputs: c.inputs }));
  const mcu = new Uint8Array(readFileSync(join(ROOT, "models", "mcu.rgm")));
  cases.push({ name: "mcu.rgm", model: mcu, inputs: mnistInputs(mcu, 2) });
  expected = new Map();
  for (const [k, c] of cases.entries()) {
    const node = await engineChecksums(c.model, c.inputs, MODES);
    for (const m of MODES) expected.set(`${k} ${MODE_FLAGS[m]}`, node.get(m)!.checksum);
  }
});

describeWithTools(["gcc", "arm-none-eabi-gcc", "qemu-system-arm"], "MCU: C runtime under QEMU", () => {
  it("qemu-insn counts instructions exactly: two back-to-back marks are a bl and a bx lr apart", () => {
    const elf = buildImage({ board: "mps2-an386", sources: [join(BOARDS_DIR, "hello.c")], out: join(OUT, "hello.elf") });
    const r = runImage("mps2-an386", elf, { count: true });
    expect(r.status).toBe(7);
    expect(r.stdout).toBe("hello -1234567\n");
    expect(r.marks.map((m) => m.id)).toEqual([0, 0]);
    expect(r.marks[1].count - r.marks[0].count).toBe(2);
    expect(r.total).toBeGreaterThan(r.marks[1].count);
  });

  const boards: BoardName[] = ["microbit", "mps2-an386", "mps2-an500", "mps3-an547"];
  it(`${cases.length || 7} cases: six selftest models (one a format v3 file) and mcu.rgm on real digits`, () => {
    expect(cases.map((c) => c.name)).toEqual(["gated-odd", "identity", "wide-rank", "dense", "block-gates", "per-feature", "mcu.rgm"]);
    expect(cases.map((c) => c.model[4])).toEqual([2, 2, 2, 2, 2, 3, 2]);
  });
  for (const board of boards) {
    it(`${board}: every model and run mode prints Engine's checksum`, () => {
      const used = board === "microbit" ? cases.slice(0, SMALL) : cases;
      expect(used.length).toBe(board === "microbit" ? 5 : 7);
      const elf = buildRankgateImage({ board, cases: used, modes: MODES.map((m) => MODE_FLAGS[m]), arena: 4096, out: join(OUT, `rankgate-${board}.elf`) });
      const r = runImage(board, elf);
      expect(r.status, r.stdout).toBe(0);
      const got = parseChecksums(r.stdout);
      expect(got.size).toBe(used.length * MODES.length);
      for (const [key, want] of expected) {
        if (Number(key.split(" ")[0]) < used.length) expect({ key, checksum: got.get(key)?.checksum }).toEqual({ key, checksum: want });
      }
    });
  }

  it("any model and data: a zoo model on its sklearn samples (Engine's quantizer) prints Engine's checksum in every mode", async () => {
    const model = new Uint8Array(readFileSync(join(ROOT, "bench", "zoo", "bc-gates-30-48-24-2.rgm")));
    const inputs = await dataInputs(model, join(ROOT, "bench", "zoo", "data", "breast_cancer.npz"), 6);
    expect(inputs.length).toBe(6 * 30);
    const modes: ModeName[] = ["dense", "gated", "gated+zero-skip"];
    const node = await engineChecksums(model, inputs, modes);
    const elf = buildRankgateImage({ board: "mps2-an386", cases: [{ model, inputs }], modes: modes.map((m) => MODE_FLAGS[m]), arena: 4096, out: join(OUT, "zoo.elf") });
    const got = parseChecksums(runImage("mps2-an386", elf).stdout);
    for (const m of modes) expect({ m, checksum: got.get(`0 ${MODE_FLAGS[m]}`)?.checksum }).toEqual({ m, checksum: node.get(m)!.checksum });
    // mnist:test through the generic path equals the MNIST helper
    const mcu = cases[cases.length - 1].model;
    expect(await dataInputs(mcu, "mnist:test", 2)).toEqual(mnistInputs(mcu, 2));
    // Data of another width, or too few samples: a UserError naming the data
    await expect(dataInputs(model, join(ROOT, "bench", "zoo", "data", "wine.npz"), 2)).rejects.toThrow(UserError);
    await expect(dataInputs(model, join(ROOT, "bench", "zoo", "data", "breast_cancer.npz"), 65)).rejects.toThrow(/64 samples/);
  });

  it("a manifest entry with a wrong field is a UserError naming the entry and the field", () => {
    const dir = mkdtempSync(join(tmpdir(), "rankgate-manifest-"));
    try {
      const write = (v: unknown) => { writeFileSync(join(dir, "m.json"), JSON.stringify(v)); return join(dir, "m.json"); };
      expect(readManifest(join(ROOT, "bench", "zoo", "manifest.json")).length).toBeGreaterThanOrEqual(10);
      expect(() => readManifest(write({ models: [{ model: "a.rgm", data: "mnist:test", samples: 0 }] }))).toThrow(/models\[0\]\.samples: expected a positive integer, got 0/);
      expect(() => readManifest(write({ models: [{ model: "a.rgm", data: "mnist:test", samples: 2, role: "train" }] }))).toThrow(/models\[0\]\.role: expected fit or held-out/);
      expect(() => readManifest(write({ runs: [] }))).toThrow(/models: expected an array/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a changed input changes the image's checksum", () => {
    const changed = cases.slice(0, 1).map((c) => ({ ...c, inputs: c.inputs.map((v, i) => (i === 3 ? v ^ 0x40 : v)) }));
    const elf = buildRankgateImage({ board: "mps2-an386", cases: changed, modes: [MODE_FLAGS.gated], arena: 4096, out: join(OUT, "changed.elf") });
    const got = parseChecksums(runImage("mps2-an386", elf).stdout);
    expect(got.get("0 0")?.checksum).toBeTypeOf("number");
    expect(got.get("0 0")?.checksum).not.toBe(expected.get("0 0"));
  });

  it("CMSIS-NN arm_fully_connected_per_channel_s8 on the same layers gives Engine's dense logits (M4, M0+, M55 with its MVE kernel sums)", async () => {
    const c = cases[0];
    const node = await engineChecksums(c.model, c.inputs, ["dense"]);
    const want = benchChecksum(node.get("dense")!.results, false);
    for (const board of ["mps2-an386", "microbit", "mps3-an547"] as const) {
      const r = runImage(board, buildCmsisImage({ board, cases: [c], out: join(OUT, `cmsis-${board}.elf`) }));
      expect(r.status, r.stdout).toBe(0);
      expect(parseChecksums(r.stdout).get("0 cmsis")).toEqual({ samples: c.inputs.length / 37, checksum: want });
    }
  });

  it("wasm3 on the Cortex-M4 (mps2-an386) runs build/rankgate-mvp.wasm on Engine's job and prints Node's checksum", async () => {
    const wasm = new Uint8Array(readFileSync(join(ROOT, "build", "rankgate-mvp.wasm")));
    const c = cases[0];
    const engine = await Engine.load(c.model, { module: "mvp" });
    const x = new Float32Array(c.inputs.length);
    const l0 = readModel(c.model).model.layers[0];
    c.inputs.forEach((q, i) => { x[i] = (q - l0.inZeroPoint) * l0.inScale; });
    const job = engineJob(engine, x);
    const want = fnvBytes(await runJob(new WebAssembly.Module(wasm), job));
    const r = runImage("mps2-an386", buildWasm3Image({ board: "mps2-an386", wasm, job: encodeJob(job), out: join(OUT, "wasm3-an386.elf") }), { count: true });
    expect(r.status, r.stdout).toBe(0);
    expect(parseChecksums(r.stdout).get("0 wasm3")).toEqual({ samples: c.inputs.length / 37, checksum: want });
    expect(r.marks.length).toBe(2 * job.calls.length);
  }, 300_000);

  it("wasm3 on the Cortex-M4: a format v3 model's float inputs, quantized per feature inside the module, give Node's bytes and the TS reference's logits", async () => {
    const wasm = new Uint8Array(readFileSync(join(ROOT, "build", "rankgate-mvp.wasm")));
    const v3 = selftestCases().find((c) => c.name === "per-feature")!;
    const model = readModel(v3.model).model, n = model.layers[0].nIn, m = model.layers[model.layers.length - 1].nOut;
    expect(model.inputFeatures).toBeTruthy();
    const x = v3.floats!, count = x.length / n;
    const engine = await Engine.load(v3.model, { module: "mvp" });
    const job = engineJob(engine, x);
    const bytes = await runJob(new WebAssembly.Module(wasm), job);
    // Node's job output is the TS reference on per-feature quantized inputs
    const logits = new Int8Array(decodeOutput(job, bytes).flatMap((c) => Array.from(c.logits)));
    const q = new Int8Array(n);
    for (let s = 0; s < count; s++) {
      expect(quantizeModelInput(model, x.subarray(s * n, (s + 1) * n), q)).toBe(0);
      expect(Array.from(logits.subarray(s * m, (s + 1) * m)), `sample ${s}`).toEqual(Array.from(run_s8(model, q).output));
    }
    const r = runImage("mps2-an386", buildWasm3Image({ board: "mps2-an386", wasm, job: encodeJob(job), out: join(OUT, "wasm3-v3-an386.elf") }));
    expect(r.status, r.stdout).toBe(0);
    expect(parseChecksums(r.stdout).get("0 wasm3")).toEqual({ samples: count, checksum: fnvBytes(bytes) });
  }, 300_000);
});
