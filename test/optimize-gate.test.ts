// optimize --gate (issue 26): block policies fine-tuned from the user's model on the user's data, searched
// with the same bound and cost as the estimators; auto keeps the cheapest trial within the budget of all
// three kinds; the block model runs bit-exact in the Engine against the reference; the work folder resumes.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { FloatModel } from "../runtime/src/model.ts";
import { readModel } from "../runtime/src/format.ts";
import { quantizeInput } from "../runtime/src/quant.ts";
import { run_s8 } from "../runtime/src/reference.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { loadDataset } from "../toolchain/data/index.ts";
import { linear } from "../toolchain/model/float.ts";
import { Rng } from "../toolchain/model/random.ts";
import { writeSafetensors } from "../toolchain/io/safetensors-file.ts";
import { blockCandidates, fitBlockSize, gateLogitSigmas, shiftGates, unstandardizeGated } from "../toolchain/optimize/block-search.ts";
import { checkpointFile } from "../toolchain/train/training-checkpoint.ts";
import { initGates } from "../toolchain/train/condnet.ts";
import { frontsByGate, optimizeModel, paretoFront, type OptimizeOptions, type OptimizeResult, type Trial } from "../toolchain/optimize/optimize.ts";
import { isGated } from "../toolchain/optimize/rank-search.ts";
import { inputStandard, standardizeModel, standardizeSamples } from "../toolchain/train/standardize.ts";
import { trainMlp, type Samples } from "../toolchain/train/trainer.ts";

const FIX = fileURLToPath(new URL("./fixtures/small/", import.meta.url));
const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const load = (part: string): Samples => {
  const d = loadDataset({ data: join(FIX, `digits-${part}.npz`) });
  return { images: d.features.map((v) => v / 16), labels: Uint8Array.from(d.labels!), count: d.count };
};
// 8×8 digits (x/16), a small user-style net 64-24-16-10
const [train, val] = ["train", "val"].map(load);
const net = (await trainMlp({ sizes: [64, 24, 16, 10], train, val, epochs: 12, lr: 0.05, seed: 3, compute: "js" })).model;
const base: OptimizeOptions = { model: net, train, val, ranks: [4, 4], epochs: 2, budgetPp: 2, blockSizes: [8], blockTaus: [0.5], l1: [1e-3, 1e-3] };

const dirs: string[] = [];
const tmp = () => { const d = mkdtempSync(join(tmpdir(), "rg-gate-")); dirs.push(d); return d; };
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The chosen trial is the cheapest (MACs) of all trials within the target; ties to the lower error. */
function expectCheapestWithin(r: OptimizeResult): void {
  const within = r.trials.filter((t) => t.bound <= r.target && t.macsRatio <= 1);
  const cheapest = Math.min(...within.map((t) => t.macsRatio));
  expect(r.best.bound).toBeLessThanOrEqual(r.target);
  expect(r.best.macsRatio).toBe(cheapest);
  expect(r.best.error).toBe(Math.min(...within.filter((t) => t.macsRatio === cheapest).map((t) => t.error)));
}

/** Engine on `rgm` (gated, zero skip off) equals the reference run_s8 on every sample, logits and counters; returns its error. */
async function expectBitExact(rgm: Uint8Array, data: Samples): Promise<number> {
  const { model } = readModel(rgm);
  const engine = await Engine.load(rgm, { zeroSkip: false });
  const l0 = model.layers[0], nIn = l0.nIn;
  expect(model.inputFeatures ?? null).toBeNull();
  let wrong = 0;
  for (let s = 0; s < data.count; s++) {
    const x = (data.images as Float32Array).subarray(s * nIn, (s + 1) * nIn);
    const q = quantizeInput(x, l0.inScale, l0.inZeroPoint, new Int8Array(nIn));
    const ref = run_s8(model, q);
    const got = engine.infer(q);
    expect(Array.from(got.logits)).toEqual(Array.from(ref.output));
    got.stats.layers.forEach((st, l) => expect({ l, estimatorMacs: st.estimatorMacs, rowMacs: st.rowMacs, rowsComputed: st.rowsComputed, rowsSkipped: st.rowsSkipped }).toEqual({ l, ...ref.counters[l] }));
    let top = 0;
    for (let c = 1; c < ref.output.length; c++) if (ref.output[c] > ref.output[top]) top = c;
    if (top !== data.labels[s]) wrong++;
  }
  return wrong / data.count;
}

describe("block policies: helpers", () => {
  it("block sizes fit every layer and never exceed it; candidates are deduplicated; bad values are named", () => {
    expect([fitBlockSize(24, 16), fitBlockSize(24, 8), fitBlockSize(5, 8), fitBlockSize(128, 16), fitBlockSize(10, 3)]).toEqual([12, 8, 5, 16, 3]);
    for (let n = 1; n <= 70; n++) for (const b of [1, 3, 8, 16, 100]) {
      const f = fitBlockSize(n, b);
      expect(f).toBeLessThanOrEqual(Math.min(n, b));
      expect(Math.ceil(n / Math.ceil(n / f))).toBe(f);
    }
    expect(blockCandidates([5, 6], [8, 16], [0.5])).toEqual([{ sizes: [5, 6], tau: 0.5 }]);
    expect(blockCandidates([24, 16], [8, 16], [0.25, 0.5]).map((c) => `${c.sizes}/${c.tau}`)).toEqual(["8,8/0.25", "8,8/0.5", "12,16/0.25", "12,16/0.5"]);
    expect(() => blockCandidates([8], [0], [0.5])).toThrow(/block sizes must be integers ≥ 1, got 0/);
    expect(() => blockCandidates([8], [8], [1])).toThrow(/block densities τ must be in \(0, 1\), got 1/);
  });

  it("a policy trained on standardized inputs opens the same blocks on raw inputs (layer 0's gate folded back)", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 1e6 }), (nIn, nOut, seed) => {
      const rng = new Rng(seed), f = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);
      const n = 40, x = f(n * nIn, 3).map((v, k) => v + (k % nIn));
      const m: FloatModel = { layers: [{ nIn, nOut, weight: f(nIn * nOut), bias: f(nOut) }, { nIn: nOut, nOut: 3, weight: f(nOut * 3), bias: f(3) }] };
      const st = inputStandard({ images: x, labels: new Uint8Array(n), count: n }, nIn);
      const std = initGates(standardizeModel(m, st), 2, [0.5], rng, 8);
      const raw = unstandardizeGated(std, st);
      const xs = standardizeSamples({ images: x, labels: new Uint8Array(n), count: n }, st).images as Float32Array;
      const g = std.layers[0].gate!, g2 = raw.layers[0].gate!;
      const a = linear(xs, n, nIn, g.weight, g.bias, g.bias.length), b = linear(x, n, nIn, g2.weight, g2.bias, g2.bias.length);
      a.forEach((v, k) => expect(b[k]).toBeCloseTo(v, 3));
      expect(g2.blockSize).toBe(2);
    }), { numRuns: 40 });
  });

  it("margins shift the policy bias by margin (positive: fewer blocks) and are in units of the logit's σ", () => {
    const rng = new Rng(5);
    const m = initGates(net, 8, [0.5, 0.5], rng, 8);
    const sig = gateLogitSigmas(m, val.images as Float32Array, 100);
    expect(sig.every((s) => s > 0)).toBe(true);
    const s = shiftGates(m, [0.5, 0]);
    expect(Array.from(s.layers[0].gate!.bias)).toEqual(Array.from(m.layers[0].gate!.bias, (d) => Math.fround(d - 0.5)));
    expect(s.layers[1].gate).toBe(m.layers[1].gate);
  });
});

describe("optimize --gate", () => {
  it("auto: svd, learned and block trials on one front; the model returned is the cheapest of all trials within the budget", async () => {
    const gates: string[] = [];
    const r = await optimizeModel({ ...base, gate: "auto", onEvent: (e) => { if (e.stage === "gate") gates.push(e.gate); } });
    expect(gates).toEqual(["svd", "learned", "block"]);
    const kinds = new Set(r.trials.map((t) => t.gate));
    expect([...kinds].sort()).toEqual(["block", "learned", "none", "svd"]);
    // One dense trial, every trial unique
    expect(r.trials.filter((t) => !isGated(t))).toHaveLength(1);
    expect(r.front).toEqual(paretoFront(r.trials));
    // The report's front by gate: each kind's own Pareto front
    const byGate = frontsByGate(r.trials);
    expect(Object.keys(byGate).sort()).toEqual(["block", "learned", "svd"]);
    for (const [g, f] of Object.entries(byGate)) expect(f.length > 0 && f.every((t) => t.gate === g)).toBe(true);
    expectCheapestWithin(r);
    expect(r.blockRuns).toEqual([expect.objectContaining({ block: "8-8/0.5", bestEpoch: expect.any(Number), resumed: false })]);
    // The bytes written run the chosen trial: its validation error measured again
    const e = await Engine.load(r.rgm, { zeroSkip: false });
    const out = e.inferBatch((val.images as Float32Array).subarray(0, val.count * 64));
    expect(out.labels.filter((y, i) => y !== val.labels[i]).length / val.count).toBe(r.best.error);
    // Each kind alone chooses among its own trials; auto's choice is the cheapest of theirs
    const alone = await Promise.all((["svd", "learned", "block"] as const).map((gate) => optimizeModel({ ...base, gate })));
    for (const [i, a] of alone.entries()) {
      // learned also searches the input model's SVD estimators (as it always has)
      const allowed = [["svd"], ["learned", "svd"], ["block"]][i];
      expect(a.trials.every((t) => !isGated(t) || allowed.includes(t.gate!))).toBe(true);
      expect(a.trials.some((t) => t.gate === allowed[0])).toBe(true);
      expectCheapestWithin(a);
    }
    expect(r.best.macsRatio).toBe(Math.min(...alone.map((a) => a.best.macsRatio)));
  }, 120_000);

  it("block: a model of block gates only, bit-exact in the Engine against the reference, its error the trial's", async () => {
    const r = await optimizeModel({ ...base, gate: "block", epochs: 4, budgetPp: 5 });
    const { model } = readModel(r.rgm);
    expect(r.best.gate).toBe("block");
    expect(model.layers.slice(0, -1).map((l) => [l.estimator, l.gate?.blockSize, l.gate?.blocks])).toEqual([[null, 8, 3], [null, 8, 2]]);
    expect(model.layers[2].gate).toBeNull();
    expect(r.trials.every((t) => t.gate === "block" || t.gate === "none")).toBe(true);
    expect(await expectBitExact(r.rgm, val)).toBe(r.best.error);
    // The float model returned carries the chosen margins in its policy biases
    expect(r.float.layers[0].gate!.bias.length).toBe(3);
  }, 60_000);

  it("block: the work folder resumes the policies and trials (same bytes); a damaged policy is trained again with a warning", async () => {
    const work = tmp();
    const first = await optimizeModel({ ...base, gate: "block", workDir: work });
    expect(readdirSync(work).sort()).toEqual(["block-8-8-tau0.5.safetensors", "config.json", "trials.json"]);
    const events: string[] = [];
    const again = await optimizeModel({ ...base, gate: "block", workDir: work, onEvent: (e) => { if (e.stage === "trial") events.push(e.cached ? "cached" : "run"); } });
    expect(again.blockRuns![0].resumed).toBe(true);
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e === "cached")).toBe(true);
    expect(Buffer.from(again.rgm).equals(Buffer.from(first.rgm))).toBe(true);
    const path = join(work, "block-8-8-tau0.5.safetensors"), bytes = readFileSync(path);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(path, bytes);
    const warnings: string[] = [];
    const third = await optimizeModel({ ...base, gate: "block", workDir: work, onEvent: (e) => { if (e.stage === "warning") warnings.push(e.message); } });
    expect(warnings.filter((w) => w.includes('block-8-8-tau0.5.safetensors": damaged'))).toHaveLength(1);
    expect(third.blockRuns![0].resumed).toBe(false);
    expect(Buffer.from(third.rgm).equals(Buffer.from(first.rgm))).toBe(true);
    // A cached block trial with a malformed policy is run again, not trusted (and not a crash)
    const trialsPath = join(work, "trials.json"), doc = JSON.parse(readFileSync(trialsPath, "utf8")) as { trials: Record<string, unknown>[] };
    const forged = doc.trials.findIndex((t) => t.block);
    doc.trials[forged].block = { sizes: "8-8", tau: 2 };
    writeFileSync(trialsPath, JSON.stringify(doc));
    const runs: string[] = [];
    const fourth = await optimizeModel({ ...base, gate: "block", workDir: work, onEvent: (e) => { if (e.stage === "trial") runs.push(e.cached ? "cached" : "run"); } });
    expect(runs.filter((r) => r === "run")).toHaveLength(1);
    expect(Buffer.from(fourth.rgm).equals(Buffer.from(first.rgm))).toBe(true);
    // Another run's policy checkpoint is refused; a folder in its place is one line
    const other = tmp();
    await optimizeModel({ ...base, gate: "block", workDir: other, seed: 2 });
    writeFileSync(path, readFileSync(join(other, "block-8-8-tau0.5.safetensors")));
    await expect(optimizeModel({ ...base, gate: "block", workDir: work })).rejects.toThrow(/block-8-8-tau0\.5\.safetensors": not a checkpoint of this run \(it names another run's fingerprint\)/);
    rmSync(path);
    mkdirSync(path);
    await expect(optimizeModel({ ...base, gate: "block", workDir: work })).rejects.toThrow(/block-8-8-tau0\.5\.safetensors": cannot read \(not a regular file\)/);
  }, 60_000);

  it("gate and estimator: one option, the old name an alias; disagreeing or unknown values are named", async () => {
    await expect(optimizeModel({ ...base, gate: "block", estimator: "svd" })).rejects.toThrow(/estimator svd and gate block disagree/);
    await expect(optimizeModel({ ...base, gate: "blocks" as never })).rejects.toThrow(/gate must be svd, learned, block, auto, got 'blocks'/);
    await expect(optimizeModel({ ...base, gate: "block", blockTaus: [0] })).rejects.toThrow(/block densities τ must be in \(0, 1\), got 0/);
  });
});

describe("rankgate optimize --gate (CLI)", () => {
  const dir = tmp();
  // The fixture's files hold raw 0..16 pixels: /16 folded into layer 0 (exact, a power of two)
  const { tensors, metadata } = checkpointFile({ layers: [{ ...net.layers[0], weight: net.layers[0].weight.map((w) => w / 16) }, ...net.layers.slice(1)] });
  writeFileSync(join(dir, "net.safetensors"), writeSafetensors(tensors, metadata));
  const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, "optimize", "--float", "net.safetensors", "--data", join(FIX, "digits-train.npz"), "--val-data", join(FIX, "digits-val.npz"), ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

  it("bad --gate values and flag combinations: one line, exit 1", () => {
    const cases: [string[], RegExp][] = [
      [["--gate", "blocks"], /^rankgate: --gate must be svd, learned, block or auto, got 'blocks'$/],
      [["--estimator", "block"], /^rankgate: --estimator must be svd or learned \(block policies: --gate block or auto\), got 'block'$/],
      [["--gate", "block", "--estimator", "learned"], /^rankgate: --estimator learned and --gate block disagree: give --gate only/],
      [["--gate", "svd", "--block-tau", "0.5"], /^rankgate: --block-sizes and --block-tau need --gate block or auto, got --gate svd$/],
      [["--gate", "block", "--block-tau", "1.5"], /^rankgate: block densities τ must be in \(0, 1\), got 1.5$/],
    ];
    for (const [args, message] of cases) {
      const r = cli(...args, "-o", "x.rgm", "-q");
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split("\n")[0]).toMatch(message);
    }
  });

  it("--gate block writes a block-gated model and a front with the gate of every trial", () => {
    const r = cli("--gate", "block", "--epochs", "4", "--block-sizes", "8", "--block-tau", "0.5", "--budget", "5", "-o", "b.rgm", "-q");
    expect(r.status).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, "b.front.json"), "utf8")) as { gate: string; chosen: Trial; trials: Trial[]; block_runs: unknown[]; front_by_gate: Record<string, Trial[]> };
    expect(report.gate).toBe("block");
    expect(report.block_runs).toHaveLength(1);
    expect(Object.keys(report.front_by_gate)).toEqual(["block"]);
    expect(report.trials.every((t) => t.gate === "block" || t.gate === "none")).toBe(true);
    expect(r.stdout).toMatch(/^b\.rgm: finetuned block 8-8 τ 0\.5 margins /);
    const { model } = readModel(new Uint8Array(readFileSync(join(dir, "b.rgm"))));
    expect(model.layers.slice(0, -1).every((l) => l.gate && !l.estimator)).toBe(true);
  });
});
