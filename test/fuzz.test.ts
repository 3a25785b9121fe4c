// The fuzzer (fuzz/core.ts) at test size, and the CLI that runs it (npm run fuzz).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FormatError } from "../runtime/src/errors.ts";
import { readModel, writeModel } from "../runtime/src/format.ts";
import { crc32 } from "../runtime/src/crc32.ts";
import { quantizeModelInput, run_s8 } from "../runtime/src/reference.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { Rng } from "../toolchain/model/random.ts";
import { buildSynthetic } from "../toolchain/model/synthetic.ts";
import { formatCounts, KINDS, runCase, runFuzz, type Kind } from "../fuzz/core.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSX = createRequire(import.meta.url).resolve("tsx/cli");

describe("fuzz", () => {
  it("2,500 cases end in a FormatError, an InputError or a result equal to the reference; none fails", async () => {
    const s = await runFuzz(7, 0, 2500, undefined, ["rgm"]);
    console.log(`fuzz seed 7, 2,500 cases in ${s.seconds.toFixed(1)} s\n${formatCounts(s.counts)}`);
    // A slow case is a failure of npm run fuzz; here, on a shared machine, it is printed, not asserted (no timed assertions)
    expect(s.failures.filter((f) => f.outcome !== "FAIL slow").map((f) => `case ${f.index}: ${f.outcome}: ${f.failure} (${f.model}; ${f.input})`)).toEqual([]);
    const count = (p: (k: string) => boolean) => [...s.counts].filter(([k]) => p(k)).reduce((t, [, n]) => t + n, 0);
    expect(count((k) => k === "valid")).toBeGreaterThan(250);
    expect(count((k) => k.startsWith("FormatError"))).toBeGreaterThan(1200);
    expect(count((k) => k === "InputError")).toBeGreaterThan(300);
    // Every header field and every section kind has been named by some case
    for (const field of ["magic", "version", "file_bytes", "crc32", "layer_count", "layers[].n_in", "layers[].rank", "layers[].shift[]", "layers[].weights_offset"]) {
      expect(s.counts.get(`FormatError ${field}`) ?? 0, field).toBeGreaterThan(0);
    }
  }, 120_000);

  it("2,400 cases of the other kinds (v1 and block-gated .rgm, the API, safetensors, ONNX, external data, profiles, data files, optimize work folders): none fails", async () => {
    const kinds = KINDS.filter((k) => k !== "rgm") as Kind[];
    const s = await runFuzz(5, 0, 2400, undefined, kinds);
    console.log(`fuzz seed 5, 2,400 cases of ${kinds.length} kinds in ${s.seconds.toFixed(1)} s\n${formatCounts(s.counts)}`);
    expect(s.failures.filter((f) => !f.outcome.endsWith(" slow")).map((f) => `case ${f.index}: ${f.outcome}: ${(f.failure ?? "").split("\n")[0]} (${f.model}; ${f.input})`)).toEqual([]);
    // Every kind reaches both sides: accepted inputs checked against their oracle, and named errors
    for (const kind of kinds) {
      const mine = [...s.counts].filter(([k]) => k.startsWith(`${kind} `));
      expect(mine.filter(([k]) => k.endsWith(" valid")).reduce((t, [, n]) => t + n, 0), `${kind} valid`).toBeGreaterThan(0);
      expect(mine.filter(([k]) => /Error$/.test(k) || k.includes("FormatError") || / RG_[A-Z_]+$/.test(k)).reduce((t, [, n]) => t + n, 0), `${kind} errors`).toBeGreaterThan(0);
    }
  }, 180_000);

  it("a case depends only on seed and index", async () => {
    for (const i of [1234, 1235, 1236, 1239, 1240, 1243]) {
      const a = await runCase(3, i), b = await runCase(3, i);
      expect({ ...a, ms: 0 }).toEqual({ ...b, ms: 0 });
    }
  });

  it("every single-byte corruption of a model file is a FormatError", () => {
    const { bytes } = buildSynthetic({ sizes: [10, 7, 3], ranks: [2], seed: 5, calibration: 8 });
    let caught = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (const delta of [1, 0x80, 0xff, 0x5a]) {
        const b = bytes.slice();
        b[i] = (b[i] + delta) & 0xff;
        try {
          readModel(b);
        } catch (e) {
          if (e instanceof FormatError && !e.message.includes("\n")) caught++;
        }
      }
    }
    expect(caught).toBe(bytes.length * 4);
  });

  it("npm run fuzz prints the counts by outcome and exits 0; a bad flag is one line and exit 1", () => {
    const r = spawnSync(process.execPath, [TSX, "fuzz/run.ts", "--cases", "120", "--seed", "11"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^fuzz: 120 cases, seed 11, .*peak RSS \d+ MB/);
    expect(r.stdout).toMatch(/valid result\s+\d+/);
    expect(r.stdout).toMatch(/failure\s+0\n/);
    expect(r.stdout).toContain("0 failures");
    const bad = spawnSync(process.execPath, [TSX, "fuzz/run.ts", "--cases", "0"], { cwd: ROOT, encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe("fuzz: --cases must be an integer ≥ 1, got '0'\n");
  });
});

describe("fuzz: format v4 (top-k gates)", () => {
  it("the rgm-gate kind, three of its bases v4 top-k files: 800 cases end in a FormatError, an InputError or the reference's result; gate_top_k errors are named", async () => {
    const s = await runFuzz(11, 0, 800, undefined, ["rgm-gate"]);
    expect(s.failures.filter((f) => !f.outcome.endsWith(" slow")).map((f) => `case ${f.index}: ${f.outcome}: ${f.failure} (${f.model}; ${f.input})`)).toEqual([]);
    const count = (p: (k: string) => boolean) => [...s.counts].filter(([k]) => p(k)).reduce((t, [, n]) => t + n, 0);
    expect(count((k) => k === "rgm-gate valid")).toBeGreaterThan(50);
    expect(count((k) => k === "rgm-gate FormatError layers[].gate_top_k")).toBeGreaterThan(0);
  }, 60_000);
});

describe("fuzz: format v3 (per-feature input sections)", () => {
  it("the rgm-v3 kind: 400 cases of mutated and random v3 files end in a FormatError, an InputError or the reference's result (float inputs quantized per feature)", async () => {
    const s = await runFuzz(9, 0, 400, undefined, ["rgm-v3"]);
    expect(s.failures.filter((f) => !f.outcome.endsWith(" slow")).map((f) => `case ${f.index}: ${f.outcome}: ${f.failure} (${f.model}; ${f.input})`)).toEqual([]);
    const count = (p: (k: string) => boolean) => [...s.counts].filter(([k]) => p(k)).reduce((t, [, n]) => t + n, 0);
    expect(count((k) => k === "rgm-v3 valid")).toBeGreaterThan(30);
    expect(count((k) => k.startsWith("rgm-v3 FormatError layers[].in_"))).toBeGreaterThan(0);
    expect(count((k) => k === "rgm-v3 InputError")).toBeGreaterThan(0);
  }, 60_000);

  it("random corruption of a v3 file (CRC fixed) is a FormatError or a model whose float path equals the reference", async () => {
    const { model } = buildSynthetic({ sizes: [11, 9, 4], ranks: [3], seed: 6, calibration: 16 });
    const n = 11;
    const good = writeModel({ ...model, inputFeatures: { scale: Float32Array.from({ length: n }, (_, i) => 0.01 * (i + 1)), offset: Float32Array.from({ length: n }, (_, i) => i - 5) } });
    const rng = new Rng(17);
    let valid = 0, rejected = 0;
    for (let c = 0; c < 600; c++) {
      const b = good.slice();
      const edits = 1 + rng.int(0, 3);
      for (let e = 0; e < edits; e++) {
        // Mostly the layer-0 entry and the input sections, sometimes anywhere
        const at = rng.next() < 0.7 ? (rng.next() < 0.5 ? rng.int(64, 64 + 95) : rng.int(b.length - 240, b.length - 1)) : rng.int(16, b.length - 1);
        b[at] = rng.next() < 0.5 ? b[at] ^ (1 << rng.int(0, 7)) : rng.int(0, 255);
      }
      new DataView(b.buffer).setUint32(12, crc32(b, 16), true);
      let parsed;
      try {
        parsed = readModel(b);
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
        expect((e as Error).message).not.toContain("\n");
        rejected++;
        continue;
      }
      valid++;
      const engine = await Engine.load(b);
      const x = Float32Array.from({ length: 3 * n }, () => (rng.next() < 0.2 ? (rng.next() - 0.5) * 1e30 : (rng.next() - 0.5) * 20));
      const got = engine.inferBatch(x).logits;
      for (let s = 0; s < 3; s++) {
        const q = new Int8Array(n);
        expect(quantizeModelInput(parsed.model, x.subarray(s * n, (s + 1) * n), q)).toBe(0);
        expect(Array.from(got.subarray(s * engine.outputSize, (s + 1) * engine.outputSize))).toEqual(Array.from(run_s8(parsed.model, q).output));
      }
    }
    expect(rejected).toBeGreaterThan(300);
    expect(valid).toBeGreaterThan(20);
  }, 60_000);
});
