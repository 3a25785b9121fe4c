import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { readModel, writeModel } from "../runtime/src/format.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { Rng } from "../toolchain/model/random.ts";
import { syntheticFloat, syntheticInputs } from "../toolchain/model/synthetic.ts";
import { JsCompute, softmaxCrossEntropy, distillGrad } from "../toolchain/train/compute.ts";
import { featureRange } from "../toolchain/data/index.ts";
import { Quantizer } from "../toolchain/quantize/quantize.ts";
import { gatedRun } from "../toolchain/optimize/rank-search.ts";
import { chooseEpoch, frontSvg, optimizeModel, paretoFront, preActivationSigmas, softTargets, Teacher, type EpochRecord, type Trial } from "../toolchain/optimize/optimize.ts";
import { chooseTrial, chooseWithinMacs } from "../toolchain/optimize/rank-search.ts";
import { initTf, TfCompute } from "../toolchain/train/tfjs.ts";
import { trainMlp, type Samples } from "../toolchain/train/trainer.ts";

const SIZES = [64, 128, 64, 4];
/** Four noisy clusters in [0, 1]^24 with some overlap, so a trained net errs a little. */
function data(count: number, seed: number): Samples {
  const r = new Rng(seed), protos = new Rng(5);
  const centre = Array.from({ length: 4 }, () => Float32Array.from({ length: SIZES[0] }, () => protos.next()));
  const images = new Float32Array(count * SIZES[0]), labels = new Uint8Array(count);
  for (let s = 0; s < count; s++) {
    const y = r.int(0, 3);
    labels[s] = y;
    for (let i = 0; i < SIZES[0]; i++) images[s * SIZES[0] + i] = Math.min(1, Math.max(0, centre[y][i] + r.normal() * 0.8));
  }
  return { images, labels, count };
}
const train = data(1500, 11), val = data(600, 12);
/** The user's model: trained dense elsewhere. */
const teacher = (await trainMlp({ sizes: SIZES, train, val, epochs: 6, lr: 0.05, seed: 3, compute: "js" })).model;
const base = { model: teacher, train, val, ranks: [4, 3], epochs: 2, lr: 0.01, l1: [1e-3, 1e-3], budgetPp: 3, calibration: 200, margins: [-0.5, 0, 0.5] };
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "rankgate-optimize-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const trial = (macsRatio: number, error: number, bound = error): Trial => ({ source: "input", estimator: "svd", ranks: [1], marginSigmas: [0], margins: [0], error, macsRatio, flips: 0, bound });

describe("optimize: pieces", () => {
  it("paretoFront keeps exactly the non-dominated trials, by MACs", () => {
    const ts = [trial(0.5, 0.02), trial(0.3, 0.03), trial(0.4, 0.03), trial(1, 0.01), trial(0.6, 0.025), trial(0.2, 0.05)];
    expect(paretoFront(ts).map((t) => [t.macsRatio, t.error])).toEqual([[0.2, 0.05], [0.3, 0.03], [0.5, 0.02], [1, 0.01]]);
  });

  it("chooseTrial takes the fewest MACs within the target, never above dense", () => {
    const ts = [trial(1, 0.01), trial(0.5, 0.015), trial(0.3, 0.021), trial(1.2, 0.0), trial(0.5, 0.012)];
    expect(chooseTrial(ts, 0.02)).toBe(ts[4]);
    expect(chooseTrial(ts, 0.005)).toBeNull();
    expect(chooseTrial(ts, 0.5)).toBe(ts[2]);
    // The bound, not the error, must be within the target
    const noisy = [trial(1, 0.01), trial(0.3, 0.012, 0.025), trial(0.5, 0.015, 0.019)];
    expect(chooseTrial(noisy, 0.02)).toBe(noisy[2]);
  });

  it("chooseWithinMacs takes the lowest bound within the MAC cap; ties to fewer MACs", () => {
    const ts = [trial(1, 0.01), trial(0.5, 0.015, 0.019), trial(0.3, 0.021, 0.03), trial(0.4, 0.016, 0.019), trial(0.6, 0.012, 0.014)];
    expect(chooseWithinMacs(ts, 0.5)).toBe(ts[3]);
    expect(chooseWithinMacs(ts, 0.35)).toBe(ts[2]);
    expect(chooseWithinMacs(ts, 0.2)).toBeNull();
    expect(chooseWithinMacs(ts, 1)).toBe(ts[0]);
  });

  it("chooseEpoch: fewest MACs within the target (else the lowest error); lowest error within a MAC cap (else the fewest MACs)", () => {
    const rec = (epoch: number, valError: number, macFraction: number): EpochRecord => ({ epoch, loss: 0, valError, macFraction, density: [], computed: [], seconds: 0 });
    const h = [rec(1, 0.010, 0.30), rec(2, 0.012, 0.25), rec(3, 0.011, 0.22), rec(4, 0.014, 0.21), rec(5, 0.011, 0.22)];
    expect(chooseEpoch(h, { target: 0.0115 })).toBe(3); // 3 and 5 tie on MACs and error: the earlier
    expect(chooseEpoch(h, { target: 0.02 })).toBe(4);
    expect(chooseEpoch(h, { target: 0.005 })).toBe(1);
    expect(chooseEpoch(h, { maxMacs: 0.25 })).toBe(3);
    expect(chooseEpoch(h, { maxMacs: 0.215 })).toBe(4);
    expect(chooseEpoch(h, { maxMacs: 0.2 })).toBe(4);
    expect(chooseEpoch(h, { maxMacs: 1 })).toBe(1);
    expect(() => chooseEpoch([], { maxMacs: 1 })).toThrow(RangeError);
    // Online: the choice among epochs 1..e+1 is the choice among 1..e or epoch e + 1 (optimize keeps only it)
    const arb = fc.array(fc.record({ e: fc.integer({ min: 0, max: 6 }), m: fc.integer({ min: 0, max: 6 }) }), { minLength: 1, maxLength: 12 });
    fc.assert(fc.property(arb, fc.integer({ min: 0, max: 6 }), fc.boolean(), (pts, limit, byCap) => {
      const hist = pts.map((p, i) => rec(i + 1, p.e / 100, p.m / 10));
      const goal = byCap ? { maxMacs: limit / 10 } : { target: limit / 100 };
      let online = 1;
      for (let e = 2; e <= hist.length; e++) {
        const c = chooseEpoch(hist.slice(0, e), goal);
        expect([online, e]).toContain(c);
        online = c;
      }
      expect(online).toBe(chooseEpoch(hist, goal));
    }), { numRuns: 500 });
  });

  it("frontSvg draws every trial, a whisker up to each bound above its error, the front and the chosen ring", async () => {
    // Each named layer is a vega mark group (one per colour for a line); its items carry aria-labels and their geometry
    const items = (svg: string, name: string) => [...svg.matchAll(new RegExp(`<g class="mark-\\w+ role-mark ${name}_marks"[^>]*>(.*?)</g>`, "g"))].flatMap((g) => [...g[1].matchAll(/<(?:path|line) ([^>]*)>/g)]).map(([, attrs]) => {
      const attr = (k: string) => attrs.match(new RegExp(` ?${k}="([^"]*)"`))?.[1] ?? "";
      return { label: attr("aria-label"), at: attr("transform"), x2: Number(attr("x2")), y2: Number(attr("y2")), d: attr(" d") };
    });
    const ts = [trial(1, 0.01), trial(0.5, 0.015, 0.019), trial(0.3, 0.021, 0.03)];
    const svg = await frontSvg(ts, paretoFront(ts), ts[1], 0.02, "a <model> & \"its\" front");
    const points = items(svg, "trials"), whiskers = items(svg, "whiskers"), ring = items(svg, "chosen");
    expect(points.map((p) => p.label.split("; ").slice(0, 1))).toEqual([["MACs per sample, × dense: 1"], ["MACs per sample, × dense: 0.5"], ["MACs per sample, × dense: 0.3"]]);
    expect(points.every((p) => p.label.endsWith("trial: input"))).toBe(true);
    // Whiskers only where the bound is above the error, from the point upwards
    expect(whiskers.map((w) => w.label.match(/bound: ([\d.]+)/)?.[1])).toEqual(["1.9", "3"]);
    expect(whiskers.map((w) => w.at)).toEqual([points[1].at, points[2].at]);
    expect(whiskers.every((w) => w.x2 === 0 && w.y2 < 0)).toBe(true);
    expect(ring.length).toBe(1);
    expect(ring[0].at).toBe(points[1].at);
    expect(items(svg, "front")[0].d.split("L").length).toBe(paretoFront(ts).length);
    expect(items(svg, "gate_fronts")).toEqual([]);
    // The goal: horizontal at the target without a cap
    const goal = items(svg, "goal");
    expect(goal.length).toBe(1);
    expect(goal[0].x2).not.toBe(0);
    expect(goal[0].y2).toBe(0);
    expect(svg).toContain("a &lt;model&gt; &amp; \"its\" front");
    expect(svg).not.toContain("<model>");
    // With a MAC cap the dashed goal is vertical, at the cap; two gate kinds each draw their own front
    const kinds = [{ ...ts[0], gate: "svd" as const }, { ...ts[1], gate: "learned" as const, source: "finetuned" as const }, { ...ts[2], gate: "svd" as const }];
    const capped = await frontSvg(kinds, paretoFront(kinds), kinds[1], 0.02, "t", 0.5);
    const cap = items(capped, "goal");
    expect(cap.length).toBe(1);
    expect([cap[0].x2, cap[0].y2 === 0]).toEqual([0, false]);
    expect(cap[0].at.split(",")[0]).toBe(items(capped, "trials")[1].at.split(",")[0]); // translate(x, …) of the point at 0.5×
    expect(items(capped, "trials").map((p) => p.label.split(": ").pop())).toEqual(["input", "fine-tuned", "input"]);
    expect(items(capped, "gate_fronts").map((f) => f.d.split("L").length)).toEqual([2, 1]);
  });

  it("distillation: js and TF.js wasm agree, and the gradient matches finite differences", async () => {
    await initTf("wasm");
    const n = 3, c = 4, logits = Float32Array.from({ length: n * c }, (_, i) => Math.sin(i * 1.7) * 2);
    const labels = Uint8Array.from([0, 3, 1]), soft = Float32Array.from({ length: n * c }, (_, i) => [0.1, 0.2, 0.3, 0.4][i % c]);
    const d = { soft, alpha: 0.3, temperature: 2.5 };
    const loss = (l: Float32Array) => {
      const g = new Float32Array(n * c);
      return distillGrad(l, d, n, c, g, softmaxCrossEntropy(l, labels, n, c, g).lossSum);
    };
    const g = new Float32Array(n * c);
    distillGrad(logits, d, n, c, g, softmaxCrossEntropy(logits, labels, n, c, g).lossSum);
    for (let i = 0; i < n * c; i++) {
      const up = logits.slice(), dn = logits.slice();
      up[i] += 1e-2;
      dn[i] -= 1e-2;
      expect(g[i]).toBeCloseTo((loss(up) - loss(dn)) / 2e-2, 3);
    }
    const model = syntheticFloat(new Rng(3), [24, 16, 4]);
    const x = syntheticInputs(new Rng(4), 50, 24);
    const lab = Uint8Array.from({ length: 50 }, (_, i) => i % 4);
    const probs = await softTargets(model, { images: x, labels: lab, count: 50 }, 2);
    const off = Float32Array.from({ length: 16 }, (_, j) => (j % 3) - 1);
    const factors = [{ at: Float32Array.from({ length: 3 * 24 }, (_, i) => Math.cos(i)), bt: Float32Array.from({ length: 16 * 3 }, (_, i) => Math.sin(i)), offset: off }];
    const cs = [new JsCompute(), new TfCompute("wasm")];
    for (const cmp of cs) {
      cmp.load(model);
      cmp.setFactors(factors);
    }
    const live = tf.memory().numTensors;
    const [a, b] = cs.map((cmp) => cmp.step(x, lab, 50, { lr: 0.05, momentum: 0.9, l1: [1e-3], distill: { soft: probs, alpha: 0.5, temperature: 2 } }));
    expect(Math.abs(a - b)).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(live);
    const [ma, mb] = cs.map((cmp) => cmp.save());
    ma.layers.forEach((l, i) => l.weight.forEach((w, j) => expect(Math.abs(w - mb.layers[i].weight[j])).toBeLessThan(1e-5)));
    const [ea, eb] = cs.map((cmp) => cmp.evaluate(x, lab, 50));
    expect(ea.layers).toEqual(eb.layers);
    // The offset is part of the decision: without it, other units are computed
    cs[0].setFactors([{ at: factors[0].at, bt: factors[0].bt }]);
    expect(cs[0].evaluate(x, lab, 50).layers[0].computed).not.toBe(ea.layers[0].computed);
    for (const cmp of cs) cmp.dispose();
  });

  it("Teacher.soften on a batch equals softTargets over the data", async () => {
    const all = await softTargets(teacher, val, 2);
    const t = await Teacher.create(teacher);
    try {
      const x = (val.images as Float32Array).slice(37 * SIZES[0], 137 * SIZES[0]);
      expect(Buffer.from(t.soften(x, 100, 2).buffer).equals(Buffer.from(all.slice(37 * 4, 137 * 4).buffer))).toBe(true);
    } finally {
      t.dispose();
    }
  });

  it("preActivationSigmas: the standard deviation of each hidden layer's z", () => {
    const m: FloatModel = { layers: [{ nIn: 1, nOut: 1, weight: Float32Array.of(2), bias: Float32Array.of(-1) }, { nIn: 1, nOut: 1, weight: Float32Array.of(1), bias: Float32Array.of(0) }] };
    // z = 2x − 1 over x = 0, 1: −1, 1 → σ = 1
    expect(preActivationSigmas(m, Float32Array.of(0, 1), 2)).toEqual([1]);
  });
});

describe("optimizeModel on a small synthetic net", () => {
  let first: Awaited<ReturnType<typeof optimizeModel>>;

  it("meets the budget with fewer MACs than dense, and reports a consistent front", async () => {
    first = await optimizeModel({ ...base, workDir: tmp() });
    const { best, target, trials, front, history } = first;
    expect(history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(best.bound).toBeLessThanOrEqual(target);
    expect(best.macsRatio).toBeLessThan(1);
    expect(best.ranks.every((k) => k > 0)).toBe(true);
    expect(Math.min(...trials.filter((t) => t.bound <= target && t.macsRatio <= 1).map((t) => t.macsRatio))).toBe(best.macsRatio);
    // The search ran the epoch chooseEpoch takes, and every fine-tuned trial names it
    expect(first.bestEpoch).toBe(chooseEpoch(history, { target }));
    const tunedTrials = trials.filter((t) => t.source === "finetuned");
    expect(tunedTrials.length).toBeGreaterThan(0);
    for (const t of tunedTrials) expect(t.epoch).toBe(first.bestEpoch);
    // Each bound charges 1.645 standard errors of the trial's flips against the input's dense int8 model
    for (const t of trials) expect(t.bound).toBeCloseTo(t.error + (1.645 * Math.sqrt(t.flips)) / val.count, 12);
    expect(trials.some((t) => t.flips > 0)).toBe(true);
    for (const t of trials) expect(front.some((f) => f.error <= t.error && f.macsRatio <= t.macsRatio)).toBe(true);
    // The .rgm is the chosen trial: its ranks, and the margins in σ scaled by each layer's σ
    const parsed = readModel(first.rgm, "best.rgm").model;
    expect(parsed.layers.slice(0, -1).map((l) => l.estimator?.rank ?? 0)).toEqual(best.ranks);
    const sigmas = preActivationSigmas(first.float, val.images as Float32Array, 200);
    best.margins.forEach((m, l) => expect(m).toBeCloseTo(best.marginSigmas[l] * sigmas[l], 5));
  });

  it("is deterministic for a seed, and a resumed run (more epochs) equals a fresh one", async () => {
    const work = tmp();
    await optimizeModel({ ...base, epochs: 1, workDir: work });
    expect(readdirSync(work).sort()).toEqual(["config.json", "epoch-1.safetensors", "trials.json"]);
    const events: string[] = [];
    const resumed = await optimizeModel({ ...base, workDir: work, onEvent: (e) => { if (e.stage === "epoch") events.push(`${e.epoch}:${e.resumed}`); } });
    expect(events).toEqual(["1:true", "2:false"]);
    expect(Buffer.from(resumed.rgm).equals(Buffer.from(first.rgm))).toBe(true);
    const noTime = (h: typeof first.history) => h.map(({ seconds: _s, ...r }) => r);
    expect(noTime(resumed.history)).toEqual(noTime(first.history));
    const fresh = await optimizeModel({ ...base });
    expect(Buffer.from(fresh.rgm).equals(Buffer.from(first.rgm))).toBe(true);
    await expect(optimizeModel({ ...base, lr: 0.02, workDir: work })).rejects.toThrow(/other settings/);
  });

  it("never returns more than dense: an impossible budget gives the input's dense model", async () => {
    const tight = await optimizeModel({ ...base, epochs: 0, budgetPp: 0, ranks: [1, 1], margins: [0.5] });
    expect(tight.best).toMatchObject({ source: "input", gate: "none", ranks: [0, 0], macsRatio: 1, error: tight.denseError, flips: 0 });
    expect(tight.best.error).toBeLessThanOrEqual(tight.target);
    // the gated trial nearest the target is named instead
    expect(tight.unmet?.ranks.some((k) => k > 0)).toBe(true);
    // byte for byte the input model quantized dense on the same 200 calibration samples
    const calib = val.images.subarray(0, 200 * SIZES[0]) as Float32Array;
    const dense = writeModel(new Quantizer(teacher, calib, 200, featureRange(calib)).model({ gates: false }));
    expect(readModel(tight.rgm, "d.rgm").model.layers.map((l) => l.estimator?.rank ?? 0)).toEqual([0, 0, 0]);
    expect(Buffer.from(tight.rgm).equals(Buffer.from(dense)), "the .rgm is not the input model quantized dense").toBe(true);
  });

  it("flips are the validation samples a trial gets right or wrong unlike the dense model; safety 0 compares the error", async () => {
    const r = await optimizeModel({ ...base, epochs: 0, safety: 0, budgetPp: 5 });
    const calib = val.images.subarray(0, 200 * SIZES[0]) as Float32Array;
    const q = new Quantizer(teacher, calib, 200, featureRange(calib));
    const dense = await gatedRun(q, { gates: false }, val.images as Float32Array, val.labels, val.count);
    const gated = r.trials.filter((t) => t.ranks.some((k) => k > 0));
    expect(gated.length).toBeGreaterThan(2);
    for (const t of gated) {
      const g = await gatedRun(q, { ranks: t.ranks, margins: t.margins, gates: false }, val.images as Float32Array, val.labels, val.count);
      expect(t.flips).toBe(g.wrong.reduce((n, w, i) => n + (w !== dense.wrong[i] ? 1 : 0), 0));
      expect(t.bound).toBe(t.error);
    }
    expect(gated.some((t) => t.flips > 0)).toBe(true);
    await expect(optimizeModel({ ...base, safety: -1 })).rejects.toThrow(/safety must be a number ≥ 0, got -1/);
  });

  it("maxMacs: the most accurate trial within the MAC cap, searched for; a cap nothing meets is a clear error", async () => {
    const r = await optimizeModel({ ...base, epochs: 1, maxMacs: 0.6 });
    const within = r.trials.filter((t) => t.macsRatio <= 0.6);
    expect(within.length).toBeGreaterThan(1);
    expect(r.best.macsRatio).toBeLessThanOrEqual(0.6);
    expect(r.best.bound).toBe(Math.min(...within.map((t) => t.bound)));
    // The search moved from its start (training ranks, margin 0) when that was over the cap or could be bettered
    expect(readModel(r.rgm, "cap.rgm").model.layers.slice(0, -1).map((l) => l.estimator?.rank ?? 0)).toEqual(r.best.ranks);
    await expect(optimizeModel({ ...base, epochs: 0, maxMacs: 0.01 })).rejects.toThrow(/no trial within 0.01× dense MACs: the cheapest of \d+ is 0\.\d+×/);
    await expect(optimizeModel({ ...base, maxMacs: 1.5 })).rejects.toThrow(/maxMacs must be a fraction of dense MACs in \(0, 1\], got 1.5/);
  });

  it("learned estimators in the loop produce a learned-estimator model", async () => {
    // a 10 pp budget: the cheapest trial within it is fine-tuned (at 3 pp an input SVD trial is, 0.71× dense)
    const r = await optimizeModel({ ...base, epochs: 1, estimator: "learned", budgetPp: 10 });
    const tuned = r.trials.filter((t) => t.source === "finetuned");
    expect(tuned.length).toBeGreaterThan(0);
    expect(tuned.every((t) => t.estimator === "learned" && t.ranks.join() === "4,3")).toBe(true);
    // the chosen trial is a fine-tuned learned one, and the model returned carries its estimators
    expect(r.best).toMatchObject({ source: "finetuned", estimator: "learned" });
    expect(r.float.layers.slice(0, -1).map((l) => l.estimator?.rank ?? 0)).toEqual(r.best.ranks);
    expect(readModel(r.rgm, "learned.rgm").model.layers.slice(0, -1).map((l) => l.estimator?.rank ?? 0)).toEqual(r.best.ranks);
    // wPos reaches the estimators: a lighter weight on positives computes fewer units in training
    const [lo, hi] = await Promise.all([0.5, 8].map((wPos) => optimizeModel({ ...base, epochs: 1, estimator: "learned", budgetPp: 3, wPos })));
    expect(lo.history[0].computed[0]).toBeLessThan(hi.history[0].computed[0]);
  });

  it("augment: distils on the shifted samples; deterministic, resumable, and a work directory keeps to its setting", async () => {
    const aug = { height: 8, width: 8, channels: 1, shift: 1 };
    // Shift 0 moves nothing: the per-batch teacher gives the bytes of the precomputed targets
    const still = await optimizeModel({ ...base, augment: { ...aug, shift: 0 } });
    expect(Buffer.from(still.rgm).equals(Buffer.from(first.rgm))).toBe(true);
    const work = tmp();
    await optimizeModel({ ...base, epochs: 1, augment: aug, workDir: work });
    const resumed = await optimizeModel({ ...base, augment: aug, workDir: work });
    const fresh = await optimizeModel({ ...base, augment: aug });
    expect(Buffer.from(resumed.rgm).equals(Buffer.from(fresh.rgm))).toBe(true);
    expect(resumed.history[1].loss).toBe(fresh.history[1].loss);
    expect(fresh.history[1].loss).not.toBe(first.history[1].loss);
    await expect(optimizeModel({ ...base, workDir: work })).rejects.toThrow(/other settings/);
    await expect(optimizeModel({ ...base, augment: { ...aug, width: 7 } })).rejects.toThrow(/8×7×1 = 56 values does not match the 64 features/);
  });

  it("rejects bad options with one clear line", async () => {
    await expect(optimizeModel({ ...base, ranks: [6] })).rejects.toThrow(/ranks: 1 values for 2 hidden layers/);
    await expect(optimizeModel({ ...base, ranks: [0, 5] })).rejects.toThrow(/ranks\[0\] must be an integer in \[1, 64\]/);
    await expect(optimizeModel({ ...base, train: { ...train, labels: Uint8Array.from(train.labels, () => 7) } })).rejects.toThrow(/train: label 7 at sample 0 exceeds the model's 4 outputs/);
    await expect(optimizeModel({ ...base, distill: { alpha: 2, temperature: 1 } })).rejects.toThrow(/alpha in \[0, 1\]/);
    await expect(optimizeModel({ ...base, estimator: "learned", wPos: 0 })).rejects.toThrow(/wPos must be a number > 0, got 0/);
  });
});
