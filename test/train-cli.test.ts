// rankgate train end to end on a few hundred digits: the checkpoint it writes feeds quantize.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCheckpoint } from "../toolchain/train/training-checkpoint.ts";

const dir = mkdtempSync(join(tmpdir(), "rankgate-train-"));
const cli = (...args: string[]) => spawnSync(process.execPath, [join(import.meta.dirname, "../cli/bin/rankgate.js"), ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

describe("rankgate train", () => {
  it("writes a checkpoint with its recipe; the same seed gives byte-identical .rgm files from train + quantize", () => {
    const args = ["train", "--sizes", "784,24,12,10", "--epochs", "2", "--train-limit", "600", "--ranks", "4,3", "--l1", "1e-4,2e-4", "--seed", "5", "-q"];
    const a = cli(...args, "-o", "a.safetensors");
    expect(a.stderr).toBe("");
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/best epoch [12] of 2/);
    expect(a.stdout).toMatch(/val gated \(exact SVD\): error/);
    const { model, metadata } = loadCheckpoint(join(dir, "a.safetensors"));
    expect(model.layers.map((l) => [l.nIn, l.nOut])).toEqual([[784, 24], [24, 12], [12, 10]]);
    expect(metadata).toMatchObject({ ranks: [4, 3], l1: [1e-4, 2e-4], seed: 5, epochs: 2, trainSamples: 600, sizes: [784, 24, 12, 10] });
    expect(cli(...args, "-o", "b.safetensors").status).toBe(0);
    const b = loadCheckpoint(join(dir, "b.safetensors")).model;
    model.layers.forEach((l, i) => expect(Buffer.from(b.layers[i].weight.buffer).equals(Buffer.from(l.weight.buffer))).toBe(true));
    // train + quantize twice from the same seed: byte-identical .rgm files
    for (const run of ["a", "b"]) expect(cli("quantize", "--float", `${run}.safetensors`, "-o", `${run}.rgm`, "--ranks", "4,3", "--calibration", "100", "-q").status).toBe(0);
    expect(readFileSync(join(dir, "a.rgm")).equals(readFileSync(join(dir, "b.rgm")))).toBe(true);
  });
});
