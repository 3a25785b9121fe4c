// optimize on the user's small data (issue 21): inputs in any units, a choice charged for fine-tuning,
// the warning under 1000 validation samples, quantize --budget's ranks among the candidates, the
// no-trial line, and the acceptance on sklearn's 8×8 digits and breast_cancer (test/fixtures/small/).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { FloatModel } from "../runtime/src/model.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { readModel } from "../runtime/src/format.ts";
import { cModelFiles, rg_arena_bytes } from "../toolchain/model/c-header.ts";
import { featureRange, loadDataset } from "../toolchain/data/index.ts";
import { linear } from "../toolchain/model/float.ts";
import { Quantizer } from "../toolchain/quantize/quantize.ts";
import { Rng } from "../toolchain/model/random.ts";
import { countFlips, gatedRun, searchRanks } from "../toolchain/optimize/rank-search.ts";
import { writeSafetensors } from "../toolchain/io/safetensors-file.ts";
import { checkpointFile } from "../toolchain/train/training-checkpoint.ts";
import { defaultRanks, OPTIMIZE_RECIPE, optimizeModel, type OptimizeOptions, type Trial } from "../toolchain/optimize/optimize.ts";
import { nearestTrial } from "../toolchain/optimize/rank-search.ts";
import { inputStandard, moveEstimators, standardFactors, standardizeInputs, standardizeModel, unstandardizeModel } from "../toolchain/train/standardize.ts";
import { trainMlp, type Samples } from "../toolchain/train/trainer.ts";

const FIX = fileURLToPath(new URL("./fixtures/small/", import.meta.url));
const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const load = (name: string, part: string, scale = 1): Samples => {
  const d = loadDataset({ data: join(FIX, `${name}-${part}.npz`) });
  return { images: d.features.map((v) => v * scale), labels: Uint8Array.from(d.labels!), count: d.count };
};
/** The model with its first layer's weights times `c` (exact for a power of two). */
const scaleInputs = (m: FloatModel, c: number): FloatModel => ({ layers: [{ ...m.layers[0], weight: m.layers[0].weight.map((w) => w * c) }, ...m.layers.slice(1)] });

// 8×8 digits, 64-128-64-10 trained on x/16 ("data"); the same net on raw 0..16 inputs, /16 folded into layer 0 ("graph")
const digits = { data: ["train", "val", "test"].map((p) => load("digits", p, 1 / 16)), graph: ["train", "val", "test"].map((p) => load("digits", p)) };
const digitsNet = (await trainMlp({ sizes: [64, 128, 64, 10], train: digits.data[0], val: digits.data[1], epochs: 20, lr: 0.05, seed: 1, compute: "js" })).model;
const digitsGraph = scaleInputs(digitsNet, 1 / 16);

// breast_cancer, 30-64-32-2 trained on z-scored features ("data"); the z-score folded into layer 0 ("graph")
const cancerRaw = ["train", "val", "test"].map((p) => load("cancer", p));
const zs = (() => {
  const d = cancerRaw[0], mean = new Float64Array(30), sd = new Float64Array(30);
  for (let s = 0; s < d.count; s++) for (let i = 0; i < 30; i++) mean[i] += d.images[s * 30 + i] / d.count;
  for (let s = 0; s < d.count; s++) for (let i = 0; i < 30; i++) sd[i] += (d.images[s * 30 + i] - mean[i]) ** 2 / d.count;
  return { mean, sd: sd.map(Math.sqrt) };
})();
const cancerData = cancerRaw.map((d) => ({ ...d, images: d.images.map((v, k) => (v - zs.mean[k % 30]) / zs.sd[k % 30]) }));
const cancerNet = (await trainMlp({ sizes: [30, 64, 32, 2], train: cancerData[0], val: cancerData[1], epochs: 30, lr: 0.01, seed: 1, compute: "js" })).model;
const cancerGraph: FloatModel = (() => {
  const l0 = cancerNet.layers[0], w = l0.weight.map((v, k) => v / zs.sd[k % 30]);
  const b = l0.bias.map((v, j) => { let s = v; for (let i = 0; i < 30; i++) s -= w[j * 30 + i] * zs.mean[i]; return s; });
  return { layers: [{ ...l0, weight: w, bias: b }, ...cancerNet.layers.slice(1)] };
})();

/** int8 error of `rgm` (or the int8 dense model of `m`, calibrated on `val`) on `test`. */
async function testError(test: Samples, rgm: Uint8Array): Promise<number> {
  const e = await Engine.load(rgm, { zeroSkip: false });
  const r = e.inferBatch((test.images as Float32Array).subarray(0, test.count * e.inputSize));
  let wrong = 0;
  for (let i = 0; i < test.count; i++) if (r.labels[i] !== test.labels[i]) wrong++;
  return wrong / test.count;
}
const quantizerOn = (m: FloatModel, val: Samples) => new Quantizer(m, val.images as Float32Array, Math.min(1000, val.count), featureRange((val.images as Float32Array).subarray(0, Math.min(1000, val.count) * m.layers[0].nIn)));
const recipe = (m: FloatModel, [train, val]: Samples[], extra: Partial<OptimizeOptions> = {}): OptimizeOptions => ({
  model: m, train, val, ranks: defaultRanks(m), estimator: OPTIMIZE_RECIPE.estimator, epochs: OPTIMIZE_RECIPE.epochs, l1: Array(m.layers.length - 1).fill(OPTIMIZE_RECIPE.l1),
  lr: OPTIMIZE_RECIPE.lr, lrDecay: OPTIMIZE_RECIPE.lrDecay, distill: { ...OPTIMIZE_RECIPE.distill }, budgetPp: 1, ...extra,
});

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("standardize: the first layer folds both ways", () => {
  it("the standardized model on standardized inputs computes the raw model (pre-activations and estimator decisions); weights fold back bit for bit", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 1e6 }), (nIn, nOut, rank, seed) => {
      const r = new Rng(seed), n = 12;
      const units = Array.from({ length: nIn }, () => 10 ** r.int(-3, 3));
      const x = Float32Array.from({ length: n * nIn }, (_, k) => (r.next() * 2 + (k % nIn === 0 ? 0 : 1)) * units[k % nIn] * (k % nIn === nIn - 1 && nIn > 2 ? 0 : 1));
      const f = (len: number) => Float32Array.from({ length: len }, () => r.normal());
      const m: FloatModel = { layers: [{ nIn, nOut, weight: f(nIn * nOut), bias: f(nOut), estimator: { rank, at: f(rank * nIn), bt: f(nOut * rank), offset: f(nOut) } }, { nIn: nOut, nOut: 2, weight: f(nOut * 2), bias: f(2) }] };
      const st = inputStandard({ images: x, labels: new Uint8Array(n), count: n }, nIn);
      st.scale.forEach((s) => expect(Number.isInteger(Math.log2(s))).toBe(true));
      const xs = x.slice();
      standardizeInputs(xs, n, st);
      const sm = standardizeModel(m, st);
      const z = linear(x, n, nIn, m.layers[0].weight, m.layers[0].bias, nOut), zs2 = linear(xs, n, nIn, sm.layers[0].weight, sm.layers[0].bias, nOut);
      const decide = (mm: FloatModel, a: Float32Array) => {
        const l = mm.layers[0], e = l.estimator!;
        return linear(linear(a, n, nIn, e.at, new Float32Array(rank), rank), n, rank, e.bt, Float32Array.from(l.bias, (b, j) => b + e.offset[j]), nOut);
      };
      const d = decide(m, x), ds = decide(sm, xs);
      const tol = (v: Float32Array) => 1e-4 * (1 + Math.max(...v.map(Math.abs)));
      z.forEach((v, k) => expect(Math.abs(v - zs2[k])).toBeLessThan(tol(z)));
      d.forEach((v, k) => expect(Math.abs(v - ds[k])).toBeLessThan(tol(d) * 10));
      const back = unstandardizeModel(sm, st);
      expect(back.layers[0].weight).toEqual(m.layers[0].weight);
      expect(back.layers[0].estimator!.at).toEqual(m.layers[0].estimator!.at);
      back.layers[0].bias.forEach((b, j) => expect(b).toBeCloseTo(m.layers[0].bias[j], 3));
      // Estimators learned on the standardized net, moved onto the raw net, keep its weights exactly
      const moved = moveEstimators(m, sm, st);
      expect(moved.layers[0].weight).toBe(m.layers[0].weight);
      expect(decide(moved, x).every((v, k) => Math.abs(v - d[k]) < tol(d) * 10)).toBe(true);
      // Raw factors as the standardized compute takes them: the same decisions on standardized inputs
      const [sf] = standardFactors(m, [{ at: m.layers[0].estimator!.at, bt: m.layers[0].estimator!.bt, offset: m.layers[0].estimator!.offset }], st);
      const viaFactors = linear(linear(xs, n, nIn, sf!.at as Float32Array, new Float32Array(rank), rank), n, rank, sf!.bt as Float32Array, Float32Array.from(sm.layers[0].bias, (b, j) => b + sf!.offset![j]), nOut);
      viaFactors.forEach((v, k) => expect(Math.abs(v - d[k])).toBeLessThan(tol(d) * 10));
    }), { numRuns: 60 });
  });

  it("scales are the standard deviations as powers of two, floored at the median / 4; constant data keeps 1", () => {
    // features: σ 1/2·4 = 2 (×3 values), σ 0 (constant), σ 0.01 (floored to median 2 / 4 = 0.5)
    const x = Float32Array.of(0, 5, 0, 0, 4, 5, 0.02, 0, 2, 5, 0, 0, 6, 5, 0.02, 0);
    const st = inputStandard({ images: x, labels: new Uint8Array(4), count: 4 }, 4);
    expect([...st.mean]).toEqual([3, 5, 0.01, 0].map(Math.fround));
    expect([...st.scale]).toEqual([2, 0.5, 0.5, 0.5]);
    expect([...inputStandard({ images: new Float32Array(6).fill(3), labels: new Uint8Array(2), count: 2 }, 3).scale]).toEqual([1, 1, 1]);
  });
});

describe("optimize on 8×8 digits (1078 train, 359 val, 360 test)", () => {
  it("inputs in any units: x/16 in the data or folded into the first layer fine-tune and choose alike", async () => {
    const opts = (m: FloatModel, d: Samples[], extra: Partial<OptimizeOptions> = {}) => recipe(m, d, { epochs: 3, ...extra });
    const [a, b] = await Promise.all([optimizeModel(opts(digitsNet, digits.data)), optimizeModel(opts(digitsGraph, digits.graph))]);
    expect(b.history.map((h) => h.loss)).toEqual(a.history.map((h) => h.loss));
    expect(b.history.map((h) => h.valError)).toEqual(a.history.map((h) => h.valError));
    const key = (t: Trial) => [t.source, t.estimator, t.ranks.join("-"), t.marginSigmas.join("/"), t.error, t.macsRatio, t.flips].join(" ");
    expect(b.trials.map(key)).toEqual(a.trials.map(key));
    expect(key(b.best)).toBe(key(a.best));
    // What the user saw without it: the raw-unit net diverges in its first epoch
    const off = await optimizeModel(opts(digitsGraph, digits.graph, { epochs: 1, standardize: false, estimator: "svd" }));
    const on = await optimizeModel(opts(digitsGraph, digits.graph, { epochs: 1, estimator: "svd" }));
    expect(off.history[0].valError).toBeGreaterThan(0.3);
    expect(on.history[0].valError).toBeLessThan(off.history[0].valError / 3);
  });

  it("warns under 1000 validation samples, in the result and as an event, not at 1000; and when int8 quantization alone loses accuracy", async () => {
    const events: string[] = [];
    const small = await optimizeModel({ ...recipe(digitsGraph, digits.graph), epochs: 0, estimator: "svd", onEvent: (e) => { if (e.stage === "warning") events.push(e.message); } });
    expect(small.warnings).toEqual([expect.stringMatching(/^only 359 validation samples \(under 1000\): the choice may not hold on unseen data/)]);
    expect(events).toEqual(small.warnings);
    const [train] = digits.graph, val1000: Samples = { images: train.images.subarray(0, 1000 * 64), labels: train.labels.subarray(0, 1000), count: 1000 };
    expect((await optimizeModel({ ...recipe(digitsGraph, [train, val1000]), epochs: 0, estimator: "svd" })).warnings).toEqual([]);
    // breast_cancer's raw features share one int8 input scale: quantizing alone loses the float net's accuracy
    const raw = await optimizeModel({ ...recipe(cancerGraph, cancerRaw), epochs: 0, estimator: "svd" });
    expect(raw.warnings).toEqual([expect.stringMatching(/^only 113 validation samples/), expect.stringMatching(/^the input's int8 dense validation error \(\d+\.\d\d %\) is far above its float error \(\d\.\d\d %\)/)]);
    expect((await optimizeModel({ ...recipe(cancerNet, cancerData), epochs: 0, estimator: "svd" })).warnings).toEqual([expect.stringMatching(/^only 113 validation samples/)]);
  });

  it("the ranks quantize --budget chooses on the input are candidates: optimize's MACs are never more than quantize's", async () => {
    // Training ranks 1-1: before, the input was searched only at ranks ≤ 1
    const r = await optimizeModel({ ...recipe(digitsGraph, digits.graph), ranks: [1, 1], epochs: 0, estimator: "svd", budgetPp: 3 });
    const [, val] = digits.graph;
    const q = await searchRanks(quantizerOn(digitsGraph, val), val.images as Float32Array, val.labels, val.count, { budgetPp: 3 });
    expect(q.gatingDoesNotPay).toBe(false);
    const chosen = q.trials.find((t) => t.ranks.join() === q.ranks.join())!;
    expect(chosen.macsRatio).toBeLessThan(1);
    expect(r.trials.some((t) => t.source === "input" && t.ranks.join() === q.ranks.join() && t.marginSigmas.every((m) => m === 0) && t.error === chosen.error && t.flips === chosen.flips)).toBe(true);
    expect(r.best.macsRatio).toBeLessThanOrEqual(chosen.macsRatio);
    expect(r.best.ranks.some((k) => k > 1)).toBe(true);
  });

  it("the bound charges fine-tuning: a fine-tuned trial's flips are against the input's dense int8 predictions", async () => {
    const r = await optimizeModel(recipe(digitsGraph, digits.graph, { epochs: 4, ranks: [7, 7] }));
    const [, val] = digits.graph, x = val.images as Float32Array;
    expect(r.best.source).toBe("finetuned");
    const inputDense = await gatedRun(quantizerOn(digitsGraph, val), { gates: false }, x, val.labels, val.count);
    const qTuned = quantizerOn(r.float, val);
    const tunedDense = await gatedRun(qTuned, { gates: false }, x, val.labels, val.count);
    // Fine-tuning changed some predictions, so the two references differ
    expect(countFlips(tunedDense.wrong, inputDense.wrong)).toBeGreaterThan(0);
    const tuned = r.trials.filter((t) => t.source === "finetuned");
    expect(tuned.length).toBeGreaterThan(1);
    let differs = false;
    for (const t of tuned) {
      const g = await gatedRun(qTuned, { ranks: t.ranks, margins: t.margins, estimator: t.estimator, gates: false }, x, val.labels, val.count);
      expect(t.flips).toBe(countFlips(g.wrong, inputDense.wrong));
      expect(t.bound).toBeCloseTo(t.error + (1.645 * Math.sqrt(t.flips)) / val.count, 12);
      differs ||= countFlips(g.wrong, tunedDense.wrong) !== t.flips;
    }
    expect(differs).toBe(true);
  });

  it("no trial within the target: the input's dense model, and the nearest gated trial named", async () => {
    const r = await optimizeModel({ ...recipe(digitsGraph, digits.graph), epochs: 0, budgetPp: 0, estimator: "svd" });
    expect(r.best.ranks).toEqual([0, 0]);
    expect(r.unmet).not.toBeNull();
    expect(r.unmet).toBe(nearestTrial(r.trials));
    const gated = r.trials.filter((t) => t.ranks.some((k) => k > 0) && t.macsRatio < 1);
    expect(r.unmet!.bound).toBe(Math.min(...gated.map((t) => t.bound)));
    expect(r.unmet!.bound).toBeGreaterThan(r.target);
    // nearestTrial: lowest bound below dense MACs, ties to fewer MACs; none gated: null
    const t = (ranks: number[], macsRatio: number, bound: number): Trial => ({ source: "input", estimator: "svd", ranks, marginSigmas: [0], margins: [0], error: bound, macsRatio, flips: 0, bound });
    const ts = [t([0], 1, 0.01), t([3], 1.2, 0.011), t([2], 0.6, 0.02), t([1], 0.5, 0.02), t([1], 0.4, 0.03)];
    expect(nearestTrial(ts)).toBe(ts[3]);
    expect(nearestTrial(ts.slice(0, 2))).toBeNull();
  });

  it("the CLI: one line naming the best trial, the --json fields, the warning and a time estimate; hidden units ordered by default; exit 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rankgate-optsmall-"));
    dirs.push(dir);
    const { tensors, metadata } = checkpointFile(digitsGraph);
    writeFileSync(join(dir, "net.safetensors"), writeSafetensors(tensors, metadata));
    const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, "optimize", "--float", "net.safetensors", "--data", join(FIX, "digits-train.npz"), "--val-data", join(FIX, "digits-val.npz"), ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    const plain = cli("--epochs", "0", "--estimator", "svd", "--budget", "0", "-o", "o.rgm");
    expect(plain.status).toBe(0);
    const lines = plain.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^no trial met the target \(budget 0 pp → 3\.90 %\): best trial \d+\.\d\d % at 0\.\d{3}× \(bound \d+\.\d\d %; input svd ranks \d+-\d+\); wrote the input's dense int8 model$/);
    expect(plain.stderr).toContain("warning: only 359 validation samples (under 1000)");
    // The C model files as quantize writes them: the header names its real .c and the model's sizes
    const rgm = readFileSync(join(dir, "o.rgm"));
    const c = cModelFiles(rgm, "rgm_o", "", "o.h", "rankgate optimize");
    const h = readFileSync(join(dir, "o.h"), "utf8"), src = readFileSync(join(dir, "o.c"), "utf8");
    expect(h.split("\n").slice(1)).toEqual(c.header.split("\n").slice(1));
    expect(src.split("\n").slice(1)).toEqual(c.source.split("\n").slice(1));
    expect(h).toMatch(/^\/\* rgm_o: rankgate model, 64-\d+-\d+-10, ranks \d+-\d+, crc32 0x[0-9a-f]{8} \(generated by rankgate optimize\) \*\/\n/);
    expect(h).toContain("defined once in o.c.");
    expect(h).toContain(`#define RGM_O_ARENA_BYTES ${rg_arena_bytes(readModel(rgm).model)}u`);
    expect(plain.stdout).toContain("; o.h, o.c, o-float.safetensors, o.front.json, o.front.svg");
    // The hidden units are ordered for zero skip by default (toolchain/quantize/permute.ts): --no-permute writes the search's order,
    // another file with the same logits on every validation sample
    const kept = cli("--epochs", "0", "--estimator", "svd", "--budget", "0", "--no-permute", "-o", "n.rgm");
    expect(kept.status).toBe(0);
    const nrgm = readFileSync(join(dir, "n.rgm"));
    expect(Buffer.compare(rgm, nrgm)).not.toBe(0);
    // The report's permute field as quantize's: the fit is every validation sample here (359 < --calibration), none left to judge on
    const front = JSON.parse(readFileSync(join(dir, "o.front.json"), "utf8"));
    expect(front.permute).toMatchObject({ fit_samples: 359, held_out_samples: 0 });
    expect(front.permute.chunks_kept).toHaveLength(2);
    for (const c of front.permute.chunks_kept) expect(c).toMatchObject({ fit: { before: expect.any(Number), after: expect.any(Number) }, held_out: null });
    expect(JSON.parse(readFileSync(join(dir, "n.front.json"), "utf8")).permute).toBeUndefined();
    const permuted = await Engine.fromModel(readModel(rgm).model), inOrder = await Engine.fromModel(readModel(nrgm).model);
    const vx = loadDataset({ data: join(FIX, "digits-val.npz") });
    for (let s = 0; s < vx.count; s++) {
      const x = vx.features.subarray(s * 64, (s + 1) * 64);
      expect(permuted.infer(x)).toEqual(inOrder.infer(x));
    }
    // --json: the report on stdout; progress, the warning, the time estimate and the line on stderr; the defaults are the recipe
    const json = cli("--epochs", "2", "--budget", "0", "--json", "-o", "j.rgm");
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.no_trial_met.bound).toBeGreaterThan(report.target);
    expect(report.warnings).toEqual([expect.stringMatching(/^only 359 validation samples/)]);
    expect(report.chosen.ranks).toEqual([0, 0]);
    expect(json.stderr).toContain("ranks 8-8, learned estimator, 2 epochs");
    expect(json.stderr).toContain("\nwarning: only 359 validation samples (under 1000)");
    expect(json.stderr).toMatch(/\ntime estimate: about \d+ s for the 1 remaining epochs \(\d+\.\d s each\), then the search\n/);
    expect(json.stderr).toMatch(/\nno trial met the target \(budget 0 pp → 3\.90 %\): best trial .*\n$/);
  });
});

describe("acceptance: optimize --budget 1 with the default recipe holds on test (within 1 + 1 pp of the input's dense int8 error)", () => {
  const cases: [string, FloatModel, Samples[]][] = [
    ["digits, /16 in the data", digitsNet, digits.data], ["digits, /16 in the graph", digitsGraph, digits.graph],
    ["breast_cancer, z-score in the data", cancerNet, cancerData], ["breast_cancer, z-score in the graph", cancerGraph, cancerRaw],
  ];
  it.each(cases)("%s", async (_name, m, d) => {
    const r = await optimizeModel(recipe(m, d));
    const [, val, test] = d;
    const dense = await testError(test, (await import("../runtime/src/format.ts")).writeModel(quantizerOn(m, val).model({ gates: false })));
    const gated = await testError(test, r.rgm);
    expect(r.best.bound).toBeLessThanOrEqual(r.target);
    expect(gated).toBeLessThanOrEqual(dense + 0.02);
  });
});
