// npm run bench --quick --json with tiny settings prints one object of the documented shape; no timing is checked.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const TSX = createRequire(import.meta.url).resolve("tsx/cli");
const bench = (...args: string[]) => spawnSync(process.execPath, [TSX, "bench/bench.ts", ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

const IDS = ["rankgate_gated", "rankgate_gated_zero_skip", "rankgate_gated_scalar", "rankgate_dense_simd", "rankgate_dense_zero_skip", "rankgate_dense_scalar",
  "ort_f32", "ort_int8_qdq", "tfjs_wasm"];

describe("bench", () => {
  it("--quick --json prints exactly one object: medians for every contender, and each one's labels agree with the gated model's as its network should", () => {
    const r = bench("--quick", "--json", "--samples", "64", "--rounds", "1", "--warmup", "0", "--calibration", "100");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const out = JSON.parse(r.stdout) as Record<string, Record<string, number>>;
    expect(Object.keys(out).sort()).toEqual(["batch1_us", "batch64_samples_per_s", "predictions_agree"]);
    for (const key of Object.keys(out)) {
      expect(Object.keys(out[key]).sort()).toEqual([...IDS].sort());
      for (const v of Object.values(out[key])) expect(Number.isFinite(v) && v > 0).toBe(true);
    }
    // every rankgate schedule computes the gated (or dense) network exactly: same labels
    expect(out.predictions_agree.rankgate_gated).toBe(1);
    expect(out.predictions_agree.rankgate_gated_zero_skip).toBe(1);
    expect(out.predictions_agree.rankgate_gated_scalar).toBe(1);
    // the dense int8 schedules compute one network: the same labels, which differ from the gated ones on 1 of
    // these 64 digits (read from a run; the 256 first digits: 252 of 256)
    expect(out.predictions_agree.rankgate_dense_simd).toBe(63 / 64);
    expect(out.predictions_agree.rankgate_dense_zero_skip).toBe(63 / 64);
    expect(out.predictions_agree.rankgate_dense_scalar).toBe(63 / 64);
    // the peers run the float (or QDQ) network of the same weights: each reached 63 of 64 in that run; a peer
    // built wrong (transposed weights, another layer's bias, …) lands near chance (about 6 of 64)
    for (const id of ["ort_f32", "ort_int8_qdq", "tfjs_wasm"]) {
      expect(out.predictions_agree[id], id).toBeGreaterThanOrEqual(60 / 64);
      expect(out.predictions_agree[id], id).toBeLessThanOrEqual(1);
    }
  });

  it("--permute runs a hidden-unit-permuted copy: the same labels and gated MACs, fewer zero-skip MACs (the kept chunks)", () => {
    const dir = mkdtempSync(join(tmpdir(), "rg-bench-"));
    try {
      const run = (...extra: string[]) => {
        const save = join(dir, `${extra.length}.json`);
        const r = bench("--samples", "64", "--rounds", "1", "--warmup", "0", "--calibration", "100", "--only", "rankgate_gated_zero_skip", "--save", save, ...extra);
        expect(r.status, r.stderr).toBe(0);
        return { stderr: r.stderr, out: JSON.parse(readFileSync(save, "utf8")) };
      };
      const plain = run(), permuted = run("--permute");
      expect(plain.out.setup.permuted).toBe(false);
      expect(permuted.out.setup.permuted).toBe(true);
      expect(permuted.stderr).toMatch(/--permute: chunks kept on the 1000 fit digits, per hidden layer's output: [\d.]+ → [\d.]+ %, /);
      expect(permuted.out.macs_per_sample.rankgate_gated).toBe(plain.out.macs_per_sample.rankgate_gated);
      expect(permuted.out.macs_per_sample.rankgate_gated_zero_skip).toBeLessThan(plain.out.macs_per_sample.rankgate_gated_zero_skip);
      expect(permuted.out.accuracy).toEqual(plain.out.accuracy);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a missing model is one plain line and exit code 1", () => {
    const r = bench("--json", "--model", "no/such.rgm");
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim()).toMatch(/^bench: no\/such\.rgm: no such file/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
