// The data flags through the built CLI: any input size in quantize, eval, sim, profile, train; eval
// without labels (agreement with the float model), clamped-input warning, "gating does not pay".
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeNpy } from "../toolchain/data/index.ts";
import { floatTop1 } from "../toolchain/model/float.ts";
import { checkpointBytes } from "../toolchain/train/training-checkpoint.ts";
import { Rng } from "../toolchain/model/random.ts";
import { buildSynthetic, syntheticFloat, syntheticInputs } from "../toolchain/model/synthetic.ts";

const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const DIGITS = fileURLToPath(new URL("../examples/digits/", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "rankgate-data-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const rng = new Rng(11);
const float = syntheticFloat(rng, [20, 16, 12, 4]);
const N = 300;
const x = syntheticInputs(rng, N, 20);
const y = floatTop1(float, x, N);

beforeAll(() => {
  writeFileSync(join(dir, "f20.safetensors"), checkpointBytes(float));
  writeFileSync(join(dir, "x.npy"), writeNpy(x, [N, 20], "f4"));
  writeFileSync(join(dir, "x-be.npy"), writeNpy(x, [N, 20], "f8", false));
  writeFileSync(join(dir, "y.npy"), writeNpy(y, [N], "i8"));
  writeFileSync(join(dir, "x.csv"), ["label," + Array.from({ length: 20 }, (_, i) => `f${i}`).join(",")]
    .concat(Array.from({ length: N }, (_, s) => [y[s], ...Array.from(x.subarray(s * 20, (s + 1) * 20))].join(","))).join("\n") + "\n");
  // Inputs 4× wider than the calibration data: most values clamp
  writeFileSync(join(dir, "wide.npy"), writeNpy(Float32Array.from(x, (v) => 4 * v - 1), [N, 20], "f4"));
  writeFileSync(join(dir, "costly.rgm"), buildSynthetic({ sizes: [8, 8, 3], ranks: [8], seed: 2 }).bytes);
  writeFileSync(join(dir, "x8.npy"), writeNpy(syntheticInputs(rng, 20, 8), [20, 8], "f4"));
});

describe("a 20-input MLP on .npy/.csv data", () => {
  it("quantize --data x.npy --labels y.npy: input range from the data, report says so", () => {
    const r = cli("quantize", "--float", "f20.safetensors", "--data", "x.npy", "--labels", "y.npy", "--ranks", "4,3", "-o", "m.rgm", "-q");
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(readFileSync(join(dir, "m.report.json"), "utf8"));
    expect(rep.sizes).toEqual([20, 16, 12, 4]);
    let min = Infinity, max = -Infinity;
    for (const v of x.subarray(0, 300 * 20)) { min = Math.min(min, v); max = Math.max(max, v); }
    expect(rep.calibration.input_range).toEqual({ min, max });
    expect(rep.validation.labels).toBe("data");
  });
  it("eval with labels (CSV label column) keeps today's keys and adds the new ones", () => {
    const r = cli("eval", "--model", "m.rgm", "--float", "f20.safetensors", "--data", "x.csv", "--json", "-q");
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    for (const k of ["samples", "error", "macs_per_sample", "layers", "reference_agreement", "labelled", "agreement", "inputs", "gating_pays"]) expect(j).toHaveProperty(k);
    expect(j.samples).toBe(N);
    expect(j.error.float).toBe(0); // labels are the float model's own top-1
    expect(j.error.int8_dense).toBeCloseTo(1 - j.agreement.int8_dense.top1, 12);
    expect(j.inputs.clamped).toBe(0);
    expect(j.gating_pays).toBe(j.macs_per_sample.gated < j.macs_per_sample.dense);
  });
  it("eval without labels reports agreement with the float model, error values null; big-endian f8 data reads the same", () => {
    const r = cli("eval", "--model", "m.rgm", "--float", "f20.safetensors", "--data", "x-be.npy", "--json", "-q");
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.labelled).toBe(false);
    expect(j.error).toEqual({ float: null, int8_dense: null, int8_gated: null });
    expect(j.agreement.int8_dense.top1).toBeGreaterThan(0.8);
    expect(j.agreement.int8_dense.snr_db).toBeGreaterThan(10);
    const text = cli("eval", "--model", "m.rgm", "--float", "f20.safetensors", "--data", "x-be.npy", "-q");
    expect(text.stdout).toContain("no labels: agreement with the float model");
    expect(text.stdout).toContain("top-1 = float, int8 gated");
    const none = cli("eval", "--model", "m.rgm", "--data", "x.npy", "-q");
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("x.npy has no labels: pass --float");
  });
  it("more than 1 % clamped inputs: a warning with the range seen and the range calibrated", () => {
    const r = cli("eval", "--model", "m.rgm", "--float", "f20.safetensors", "--data", "wide.npy", "--json", "-q");
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.inputs.clamped_fraction).toBeGreaterThan(0.01);
    const g = (v: number) => Number(v.toPrecision(4)).toString();
    expect(r.stderr).toContain(`% of input values (${j.inputs.clamped.toLocaleString("en")} of ${(N * 20).toLocaleString("en")}) clamp`);
    expect(r.stderr).toContain(`the data spans [${g(j.inputs.seen.min)}, ${g(j.inputs.seen.max)}], the model was calibrated for [${g(j.inputs.calibrated.min)}, ${g(j.inputs.calibrated.max)}]`);
    const quiet = cli("eval", "--model", "m.rgm", "--float", "f20.safetensors", "--data", "x.npy", "--json", "-q");
    expect(quiet.stderr).not.toContain("clamp");
  });
  it("sim and profile take the data; a feature count that differs from the model's inputs is one line", () => {
    const s = cli("sim", "--model", "m.rgm", "--target", "cortex-m4f", "--data", "x.csv", "--json", "-q");
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).samples).toBe(N);
    const p = cli("profile", "--model", "m.rgm", "--data", "x.npy", "--samples", "3", "--reps", "1", "--json");
    expect(p.code, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout).samples).toBe(3);
    const bad = cli("eval", "--model", "m.rgm", "--float", "f20.safetensors", "--data", "x8.npy", "-q");
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe("rankgate: x8.npy has 8 features per sample, m.rgm takes 20 inputs");
  });
  it("eval says when gating does not pay (one line and gating_pays: false)", () => {
    const r = cli("eval", "--model", "costly.rgm", "--data", "x8.npy", "--float", "nope.safetensors", "-q");
    expect(r.code).toBe(1);
    writeFileSync(join(dir, "f8.safetensors"), checkpointBytes(syntheticFloat(new Rng(2), [8, 8, 3])));
    const j = cli("eval", "--model", "costly.rgm", "--data", "x8.npy", "--float", "f8.safetensors", "--json", "-q");
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout).gating_pays).toBe(false);
    expect(j.stderr).toMatch(/^rankgate: gating does not pay: gated [\d,]+ MACs per sample ≥ dense 88;/m);
  });
});

describe("train on a data file", () => {
  it("train --data digits.npz --sizes 64,16,10: inputs and classes from the data; wrong sizes are one line", () => {
    const r = cli("train", "--data", join(DIGITS, "digits-train.npz"), "--sizes", "64,16,10", "--epochs", "1", "--lr", "0.005", "-o", "d.safetensors", "-q");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("val dense: error");
    const bad = cli("train", "--data", join(DIGITS, "digits-train.npz"), "--sizes", "784,16,10", "-o", "d2.safetensors", "-q");
    expect(bad.stderr.trim()).toBe(`rankgate: --sizes must start with 64 (the features per sample of ${join(DIGITS, "digits-train.npz")}), got 784`);
    const few = cli("train", "--data", join(DIGITS, "digits-train.npz"), "--sizes", "64,16,5", "-o", "d3.safetensors", "-q");
    expect(few.stderr).toContain("--sizes must end with at least 10 outputs");
    const nolab = cli("train", "--data", "x.npy", "--sizes", "20,4", "-o", "d4.safetensors", "-q");
    expect(nolab.stderr).toContain("x.npy has no labels; train needs them");
  });
});

describe("train-policy and learn-estimator on data files", () => {
  it("--data .npz with --val-data .csv", () => {
    const npz = join(DIGITS, "digits-train.npz"), csv = join(DIGITS, "digits-test.csv");
    const p = cli("train-policy", "--data", npz, "--val-data", csv, "--sizes", "64,16,10", "--block-size", "8", "--epochs", "1", "--train-limit", "200", "-o", "p.safetensors", "-q");
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain("val thresholded: error");
    writeFileSync(join(dir, "d64.safetensors"), checkpointBytes(syntheticFloat(new Rng(5), [64, 16, 10])));
    const l = cli("learn-estimator", "--float", "d64.safetensors", "--data", npz, "--val-data", csv, "--ranks", "4", "--epochs", "1", "--train-limit", "200", "-o", "l.safetensors", "-q");
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain("val learned: error");
    const bad = cli("learn-estimator", "--float", "f20.safetensors", "--data", npz, "--ranks", "4,4", "-o", "l2.safetensors", "-q");
    expect(bad.stderr.trim()).toBe(`rankgate: ${npz} has 64 features per sample, f20.safetensors takes 20 inputs`);
  });
});

describe("--help names every data flag", () => {
  it.each(["quantize", "eval", "sim", "profile", "train", "train-policy", "learn-estimator"])("%s", (cmd) => {
    const h = cli(cmd, "--help").stdout;
    for (const flag of ["--data <spec>", "--labels <file>", "--label-column <name|index>"]) expect(h).toContain(flag);
    if (cmd.startsWith("train") || cmd === "learn-estimator") for (const flag of ["--val-data <spec>", "--val-labels <file>", "--val-label-column"]) expect(h).toContain(flag);
    else expect(h).toContain("--samples <n>");
  });
});
