// Cost on the user's target (sim/target-cost.ts): quantize --budget's rank search and optimize's search
// minimize firmware-sim's cycles on a target instead of MACs, drop gating per layer where it loses,
// honour a cycle cap, and never return a model slower than dense on the target (re-simulated here on the
// same samples). A 96-64-8-4 net with rank-2 weights: layer 0 (bias −0.3) is 7 % positive (gating pays),
// layer 1 (bias 0.1) has 8 units of 64 inputs, where the estimator costs more cycles than it saves
// although it saves MACs. (With bias 0 there, the C kernels' cheaper estimator now pays on M4F too.)
import { describe, expect, it } from "vitest";
import { writeModel } from "../runtime/src/format.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { findTarget } from "../sim/profile.ts";
import { simulate } from "../sim/simulate.ts";
import { collectTrace } from "../sim/trace.ts";
import { floatTop1 } from "../toolchain/model/float.ts";
import { Quantizer } from "../toolchain/quantize/quantize.ts";
import { Rng } from "../toolchain/model/random.ts";
import { searchRanks } from "../toolchain/optimize/rank-search.ts";
import { CycleMeter, cycleVerdict, denseModelOf, DEPLOYED_SCHEDULE } from "../sim/target-cost.ts";
import { optimizeModel } from "../toolchain/optimize/optimize.ts";

const M4F = findTarget("cortex-m4f");

/** W = U·V / √n_in with U, V uniform in [−1, 1): an exact rank-r layer, every bias `bias`. */
function lowRank(rng: Rng, nIn: number, nOut: number, r: number, bias: number): FloatModel["layers"][0] {
  const u = Array.from({ length: nOut * r }, () => rng.next() * 2 - 1), v = Array.from({ length: r * nIn }, () => rng.next() * 2 - 1);
  const weight = new Float32Array(nOut * nIn);
  for (let o = 0; o < nOut; o++) for (let i = 0; i < nIn; i++) {
    let s = 0;
    for (let k = 0; k < r; k++) s += u[o * r + k] * v[k * nIn + i];
    weight[o * nIn + i] = s / Math.sqrt(nIn);
  }
  return { nIn, nOut, weight, bias: new Float32Array(nOut).fill(bias) };
}

/** The net, 300 inputs uniform in [0, 1) and the float model's top-1 as labels. */
function fixture(bias0: number, bias1: number, seed = 7) {
  const rng = new Rng(seed);
  const float: FloatModel = { layers: [lowRank(rng, 96, 64, 2, bias0), lowRank(rng, 64, 8, 2, bias1), lowRank(rng, 8, 4, 4, 0)] };
  const n = 300;
  const x = new Float32Array(n * 96);
  for (let i = 0; i < x.length; i++) x[i] = rng.next();
  return { float, x, y: floatTop1(float, x, n), n, q: new Quantizer(float, x, n) };
}

/** Cycles per inference of the deployed schedule, re-simulated from scratch on (x, y). */
async function cyclesOf(bytes: Uint8Array, x: Float32Array, y: ArrayLike<number>, n: number): Promise<number> {
  return simulate(bytes, await collectTrace(bytes, x, y, n), M4F).cycles_per_sample[DEPLOYED_SCHEDULE];
}

describe("rank search on a target (quantize --budget --target)", () => {
  it("keeps the estimator where gating pays in cycles and drops it (rank 0) where it only saves MACs", async () => {
    const { x, y, n, q } = fixture(-0.3, 0.1);
    const byMacs = await searchRanks(q, x, y, n, { budgetPp: 1 });
    // MACs alone gate layer 1 (its rank-2 estimator and 36 % of 8 rows are fewer MACs than 8 × 64)
    expect(byMacs.ranks[0]).toBeGreaterThan(0);
    expect(byMacs.ranks[1]).toBeGreaterThan(0);
    const meter = await CycleMeter.create(M4F, q.model({ gates: false }), x, y, n);
    const r = await searchRanks(q, x, y, n, { budgetPp: 1, meter });
    expect(r.gatingDoesNotPay).toBe(false);
    expect(r.ranks[0]).toBeGreaterThan(0);
    expect(r.ranks[1]).toBe(0);
    // Re-simulated on the same samples: the chosen model beats dense, and the MAC choice does not beat it
    const dense = await cyclesOf(writeModel(denseModelOf(q.model({ gates: false }))), x, y, n);
    expect(dense).toBe(meter.denseCycles);
    const chosen = await cyclesOf(writeModel(q.model({ ranks: r.ranks, gates: false })), x, y, n);
    expect(r.cycles).toEqual({ target: "cortex-m4f", samples: n, dense, chosen, ratio: chosen / dense });
    expect(chosen).toBeLessThan(dense);
    const macsChoice = await cyclesOf(writeModel(q.model({ ranks: byMacs.ranks, gates: false })), x, y, n);
    expect(chosen).toBeLessThan(macsChoice);
    // Every trial of the search was priced on the target
    for (const t of r.trials) expect(t.cyclesRatio).toBeGreaterThan(0);
  });

  it("never returns a model slower than dense: dense, gatingDoesNotPay, when no gated ranks within the budget are faster", async () => {
    for (const [b0, b1, seed] of [[0.5, 0.5, 3], [-0.3, 0, 7], [-0.1, -0.05, 9]]) {
      const { x, y, n, q } = fixture(b0, b1, seed);
      const meter = await CycleMeter.create(M4F, q.model({ gates: false }), x, y, n, 200);
      const r = await searchRanks(q, x, y, n, { budgetPp: 0.5, meter });
      const chosen = await cyclesOf(writeModel(q.model({ ranks: r.ranks, gates: false })), x, y, 200);
      expect(chosen).toBeLessThanOrEqual(meter.denseCycles);
      expect(r.cycles!.chosen).toBe(chosen);
      if (r.gatingDoesNotPay) expect(r.ranks).toEqual([0, 0]);
      else expect(chosen).toBeLessThan(meter.denseCycles);
    }
    // Every unit positive everywhere: gating computes every row and only adds the estimator
    const { x, y, n, q } = fixture(0.5, 0.5, 3);
    const meter = await CycleMeter.create(M4F, q.model({ gates: false }), x, y, n, 100);
    const r = await searchRanks(q, x, y, n, { budgetPp: 5, meter });
    expect(r.gatingDoesNotPay).toBe(true);
    expect(r.ranks).toEqual([0, 0]);
    expect(r.cycles!.ratio).toBe(1);
  });
});

describe("optimize on a target", () => {
  const { float, x, y, n } = fixture(-0.3, 0.1);
  const samples = { images: x, labels: Uint8Array.from(y), count: n };
  const base = { model: float, train: samples, val: samples, ranks: [4, 4], epochs: 0, budgetPp: 1, margins: [0, 0.25], target: M4F, cycleSamples: 150 };

  it("chooses the fewest cycles within the budget, layer 1 dense, never slower than dense (re-simulated)", async () => {
    const r = await optimizeModel(base);
    expect(r.gatingDoesNotPay).toBe(false);
    expect(r.best.ranks[0]).toBeGreaterThan(0);
    expect(r.best.ranks[1]).toBe(0);
    expect(r.best.bound).toBeLessThanOrEqual(r.target);
    const dense = await cyclesOf(writeModel(denseModelOf(new Quantizer(float, x, n).model({ gates: false }))), x, y, 150);
    const chosen = await cyclesOf(r.rgm, x, y, 150);
    expect(chosen).toBe(r.best.cycles);
    expect(chosen / dense).toBe(r.best.cyclesRatio);
    expect(chosen).toBeLessThan(dense);
    // No priced trial within the budget is cheaper
    for (const t of r.trials) if (t.bound <= r.target) expect(t.cyclesRatio!).toBeGreaterThanOrEqual(r.best.cyclesRatio!);
  });

  it("--max-cycles: the most accurate trial within the cap, or a clear error when nothing fits; needs a target", async () => {
    const r = await optimizeModel({ ...base, maxCycles: 0.9 });
    expect(r.best.cyclesRatio!).toBeLessThanOrEqual(0.9);
    const within = r.trials.filter((t) => t.cyclesRatio! <= 0.9);
    expect(r.best.bound).toBe(Math.min(...within.map((t) => t.bound)));
    await expect(optimizeModel({ ...base, maxCycles: 0.05 })).rejects.toThrow(/^no trial within 0\.05× dense cycles on cortex-m4f: the cheapest of \d+ is 0\.\d{3}×/);
    await expect(optimizeModel({ ...base, target: undefined, maxCycles: 0.5 })).rejects.toThrow("maxCycles is a fraction of dense cycles on a target: give the target (--target <name>)");
  });
});

describe("cycleVerdict (eval's gating_pays_cycles)", () => {
  it("prices the model and its dense twin on the same samples; null verdict for a dense model", async () => {
    const { x, y, n, q } = fixture(-0.3, 0);
    const bytes = writeModel(q.model({ ranks: [2, 2], gates: false }));
    const { verdict, sim } = await cycleVerdict(bytes, M4F, x, y, n);
    const dense = await cyclesOf(writeModel(denseModelOf(q.model({ gates: false }))), x, y, n);
    expect(verdict).toEqual({ target: "cortex-m4f", schedule: "gated", samples: n, gated: sim.cycles_per_sample.gated, dense, pays: sim.cycles_per_sample.gated < dense });
    const plain = await cycleVerdict(writeModel(q.model({ gates: false })), M4F, x, null, 50);
    expect(plain.verdict.pays).toBeNull();
    expect(plain.verdict.gated).toBe(plain.verdict.dense);
  });
});
