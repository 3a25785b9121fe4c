// Regression pin of the committed models/condnet-16.rgm (block policy at τ = 1/16, docs/TRAINING.md
// "τ = 1/16"): `rankgate eval` on the first 200 MNIST test digits gives exactly these counts. A change
// here means the model file, the engine or the data path changed: re-derive, never loosen.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

/** `rankgate eval --json` of a committed model on the first 200 MNIST test digits; nothing on stderr. */
function evalFirst200(model: string) {
  const r = spawnSync(process.execPath, [join(root, "cli/bin/rankgate.js"), "eval", "--model", model, "--data", "mnist:test", "--samples", "200", "--cycle-samples", "20", "--json", "-q"], { cwd: root, encoding: "utf8" });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

describe("models/condnet-16.rgm (regression pin)", () => {
  it("makes 6 errors on the first 200 test digits, one 16-unit block each (3,200 units), 27,648 MACs per digit", () => {
    const e = evalFirst200("models/condnet-16.rgm");
    expect(e.samples).toBe(200);
    expect(Math.round(e.error.int8_gated * 200)).toBe(6);
    expect(e.reference_agreement).toBe(1);
    const l = e.layers[0];
    expect([l.n_in, l.n_out, l.block_size, l.blocks]).toEqual([784, 256, 16, 16]);
    // Blocks open on average: at most 1/16 (τ), counted exactly as units computed
    expect(Math.round(l.computed * 200 * 256)).toBe(3200);
    expect(l.computed).toBeLessThanOrEqual(1 / 16);
    expect(e.macs_per_sample.dense).toBe(203264);
    expect(Math.round(e.macs_per_sample.gated * 200)).toBe(5529600);
    // These two tell the complementary-pair model from any other one-block-per-digit model
    expect(Math.round(e.macs_per_sample.gated_zero_skip * 200)).toBe(915600);
    expect(Math.round(e.macs_per_sample.oracle * 200)).toBe(3858112);
  }, 60_000);
});

// models/condnet-16-top1.rgm: the top-1 routing gate at τ = 1/16 (format v4, docs/TRAINING.md "Routing gates").
describe("models/condnet-16-top1.rgm (regression pin)", () => {
  it("makes no error on the first 200 test digits with exactly one 16-unit block per digit", () => {
    const e = evalFirst200("models/condnet-16-top1.rgm");
    expect(Math.round(e.error.int8_gated * 200)).toBe(0);
    expect(e.reference_agreement).toBe(1);
    const l = e.layers[0];
    expect([l.n_in, l.n_out, l.block_size, l.blocks, l.top_k]).toEqual([784, 256, 16, 16, 1]);
    // Exactly one block on every digit: 200 × 16 units, the gate's 16 × 784 MACs plus one block's rows
    expect(Math.round(l.computed * 200 * 256)).toBe(3200);
    expect(Math.round(e.macs_per_sample.gated * 200)).toBe(5529600);
    expect(Math.round(e.macs_per_sample.gated_zero_skip * 200)).toBe(915210);
  }, 60_000);
});
