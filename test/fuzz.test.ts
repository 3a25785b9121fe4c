// The fuzzer (tools/fuzz-core.ts) at test size, and the CLI that runs it (npm run fuzz).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FormatError } from "../ts/errors.ts";
import { readModel } from "../ts/format.ts";
import { buildSynthetic } from "../ts/synthetic.ts";
import { CASE_BUDGET_MS, formatCounts, runCase, runFuzz } from "../tools/fuzz-core.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSX = createRequire(import.meta.url).resolve("tsx/cli");

describe("fuzz", () => {
  it("2,500 cases end in a FormatError, an InputError or a result equal to the reference; none fails", async () => {
    const s = await runFuzz(7, 0, 2500);
    console.log(`fuzz seed 7, 2,500 cases in ${s.seconds.toFixed(1)} s\n${formatCounts(s.counts)}`);
    expect(s.failures.map((f) => `case ${f.index}: ${f.outcome}: ${f.failure} (${f.model}; ${f.input})`)).toEqual([]);
    const count = (p: (k: string) => boolean) => [...s.counts].filter(([k]) => p(k)).reduce((t, [, n]) => t + n, 0);
    expect(count((k) => k === "valid")).toBeGreaterThan(250);
    expect(count((k) => k.startsWith("FormatError"))).toBeGreaterThan(1200);
    expect(count((k) => k === "InputError")).toBeGreaterThan(300);
    // Every header field and every section kind has been named by some case
    for (const field of ["magic", "version", "file_bytes", "crc32", "layer_count", "layers[].n_in", "layers[].rank", "layers[].shift[]", "layers[].weights_offset"]) {
      expect(s.counts.get(`FormatError ${field}`) ?? 0, field).toBeGreaterThan(0);
    }
    expect(s.slowest!.ms).toBeLessThan(CASE_BUDGET_MS);
  });

  it("a case depends only on seed and index", async () => {
    const a = await runCase(3, 1234), b = await runCase(3, 1234);
    expect({ ...a, ms: 0 }).toEqual({ ...b, ms: 0 });
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
    const r = spawnSync(process.execPath, [TSX, "tools/fuzz.ts", "--cases", "400", "--seed", "11"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^fuzz: 400 cases, seed 11/);
    expect(r.stdout).toMatch(/valid result\s+\d+/);
    expect(r.stdout).toMatch(/failure\s+0\n/);
    expect(r.stdout).toContain("0 failures");
    const bad = spawnSync(process.execPath, [TSX, "tools/fuzz.ts", "--cases", "0"], { cwd: ROOT, encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe("fuzz: --cases must be an integer ≥ 1, got '0'\n");
  });
});
