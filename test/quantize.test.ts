// The quantizer's block gates and learned estimators: integer decisions against their real meaning.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { floatTop1, forwardFloat, openBlocks } from "../toolchain/model/float.ts";
import { writeModel } from "../runtime/src/format.ts";
import { quantize_f32, quantizeModelInput, run_s8 } from "../runtime/src/reference.ts";
import { Engine } from "../runtime/src/runtime.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { applyInputFeatures, featureParams, foldInputFeatures, Quantizer, quantizeGate, svdFactors } from "../toolchain/quantize/quantize.ts";
import { Rng } from "../toolchain/model/random.ts";
import { syntheticFloat, syntheticInputs } from "../toolchain/model/synthetic.ts";

const rng = new Rng(31);
const sizes = [12, 10, 7, 3];
const base = syntheticFloat(rng, sizes);
const calib = syntheticInputs(rng, 32, sizes[0]);
const readModelVersion = (b: Uint8Array) => b[4] | (b[5] << 8);
const vec = (n: number, sd = 1) => Float32Array.from({ length: n }, () => rng.normal() * sd);

describe("quantizeGate", () => {
  it("threshold_b is the exact integer form of s_in·s_Z[b]·g + d_b > 0", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 20 }), fc.double({ min: 1e-4, max: 0.1, noNaN: true }), fc.integer(), (blockSize, nIn, inScale, seed) => {
        const r = new Rng(seed);
        const nOut = 17, blocks = Math.ceil(nOut / blockSize);
        const gate = {
          blockSize,
          weight: Float32Array.from({ length: blocks * nIn }, () => r.normal()),
          bias: Float32Array.from({ length: blocks }, () => r.normal() * 3),
        };
        const q = quantizeGate(gate, nIn, nOut, inScale);
        expect(q.blocks).toBe(blocks);
        for (let b = 0; b < blocks; b++) {
          let m = 0;
          for (let i = 0; i < nIn; i++) m = Math.max(m, Math.abs(gate.weight[b * nIn + i]));
          const sZ = m / 127;
          for (const g of [q.threshold[b] - 1, q.threshold[b], q.threshold[b] + 1, q.threshold[b] + 2]) {
            const real = inScale * sZ * g + gate.bias[b];
            // Exact for every reachable g (|g| ≤ n_in·255·127; the threshold saturates at int32) up to the
            // double rounding of the product at the boundary itself
            const reachable = Math.abs(g) <= nIn * 255 * 127;
            if (reachable && Math.abs(real) > 1e-9 * Math.abs(gate.bias[b])) expect(g > q.threshold[b]).toBe(real > 0);
          }
          for (let i = 0; i < nIn; i++) expect(Math.abs(q.weights[b * nIn + i] * sZ - gate.weight[b * nIn + i])).toBeLessThanOrEqual(sZ / 2 + 1e-12);
        }
      }),
      { numRuns: 200, examples: [[1, 1, 0.0001, 27496688]] },
    );
  });

  it("a top-k gate: one scale for the whole gate, threshold_b = round_half_away(−d_b / (s_in·s_Z)), topK carried", () => {
    const r = new Rng(77);
    const nIn = 9, nOut = 17, blockSize = 4, blocks = 5, inScale = 0.02;
    const gate = { blockSize, weight: Float32Array.from({ length: blocks * nIn }, (_, k) => r.normal() * (1 + Math.floor(k / nIn))), bias: Float32Array.from({ length: blocks }, () => r.normal() * 3), topK: 2 };
    const q = quantizeGate(gate, nIn, nOut, inScale);
    expect([q.blocks, q.topK]).toEqual([blocks, 2]);
    const sZ = gate.weight.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 127;
    for (let k = 0; k < blocks * nIn; k++) expect(Math.abs(q.weights[k] * sZ - gate.weight[k])).toBeLessThanOrEqual(sZ / 2 + 1e-12);
    // Only the widest block reaches ±127: the scale is shared
    expect(Math.max(...Array.from(q.weights.subarray(0, nIn), Math.abs))).toBeLessThan(127);
    for (let b = 0; b < blocks; b++) {
      const t = -gate.bias[b] / (inScale * sZ);
      expect(q.threshold[b]).toBe(Math.sign(t) * Math.round(Math.abs(t)));
    }
    // The threshold gate of the same policy keeps per-block scales and floor
    const th = quantizeGate({ ...gate, topK: 0 }, nIn, nOut, inScale);
    expect(th.topK).toBe(0);
    expect(Math.max(...Array.from(th.weights.subarray(0, nIn), Math.abs))).toBe(127);
    expect(() => quantizeGate({ ...gate, topK: 6 }, nIn, nOut, inScale)).toThrow(/topK 6, expected an integer in \[0, 5\]/);
  });

  it("the float forward opens the top-k logits (ties to the lower block); Quantizer keeps topK and the file is v4", () => {
    const open = new Uint8Array(4);
    expect(Array.from(openBlocks([0.5, 2, 2, -1], 0, 4, 1, open))).toEqual([0, 1, 0, 0]);
    expect(Array.from(openBlocks([0.5, 2, 2, -1], 0, 4, 2, open))).toEqual([0, 1, 1, 0]);
    expect(Array.from(openBlocks([-3, -2, -2, -1], 0, 4, 2, open))).toEqual([0, 1, 0, 1]);
    expect(Array.from(openBlocks([9, -3, -2, -2, -1], 1, 4, 3, open))).toEqual([0, 1, 1, 1]);
    expect(Array.from(openBlocks([0.5, 2, 0, -1], 0, 4, 0, open))).toEqual([1, 1, 0, 0]);
    // A 12-10-7-3 net with a top-1 gate on layer 0: forwardFloat zeroes the 3 closed blocks' units on every sample
    const l0 = base.layers[0];
    const gated: FloatModel = { layers: base.layers.map((l, i) => (i === 0 ? { ...l, gate: { blockSize: 3, weight: vec(4 * l0.nIn), bias: vec(4), topK: 1 } } : l)) };
    const n = 32, out = forwardFloat(gated, calib, n)[0];
    for (let s = 0; s < n; s++) {
      const zeros = [0, 1, 2, 3].filter((b) => out.subarray(s * 10 + 3 * b, s * 10 + Math.min(3 * b + 3, 10)).every((v) => v === 0)).length;
      expect(zeros).toBeGreaterThanOrEqual(3);
    }
    const model = new Quantizer(gated, calib, n, { min: 0, max: 1 }).model({});
    expect(model.layers[0].gate!.topK).toBe(1);
    expect(readModelVersion(writeModel(model))).toBe(4);
  });

  it("rejects a policy whose blocks do not tile the layer", () => {
    expect(() => quantizeGate({ blockSize: 4, weight: vec(3 * 5), bias: vec(3) }, 5, 17, 0.01)).toThrow(/3 blocks of 4/);
  });
});

describe("Quantizer.model", () => {
  const gatedFloat: FloatModel = {
    layers: base.layers.map((l, i) => (i === 0 ? { ...l, gate: { blockSize: 4, weight: vec(3 * l.nIn), bias: vec(3) } } : l)),
  };

  it("turns block policies into gates, drops them with gates: false, refuses an estimator on a gated layer", () => {
    const q = new Quantizer(gatedFloat, calib, 32, { min: 0, max: 1 });
    expect(q.hasGates).toBe(true);
    const m = q.model({ ranks: [0, 3] });
    expect(m.layers.map((l) => [l.gate?.blocks ?? 0, l.estimator?.rank ?? 0])).toEqual([[3, 0], [0, 3], [0, 0]]);
    expect(m.layers[0].gate!.threshold.length).toBe(3);
    expect(q.model({ gates: false }).layers.every((l) => !l.gate)).toBe(true);
    expect(() => q.model({ ranks: [2, 0] })).toThrow(/block gate; it cannot also have an estimator/);
  });

  it("a learned estimator holding the SVD factors and zero offsets quantizes to the SVD estimator, byte for byte", () => {
    const learned: FloatModel = {
      layers: base.layers.map((l, i) => {
        if (i > 1) return l;
        const rank = i === 0 ? 4 : 3;
        const f = svdFactors(l.weight, l.nIn, l.nOut, rank);
        return { ...l, estimator: { rank, at: Float32Array.from(f.at), bt: Float32Array.from(f.bt), offset: new Float32Array(l.nOut) } };
      }),
    };
    const q = new Quantizer(learned, calib, 32, { min: 0, max: 1 });
    expect(q.learnedRanks).toEqual([4, 3]);
    // The SVD side gets the same float32-rounded factors
    learned.layers.slice(0, 2).forEach((l, i) => q.setFactors(i, { at: Float64Array.from(l.estimator!.at), bt: Float64Array.from(l.estimator!.bt) }));
    const a = q.model({ ranks: [4, 3], estimator: "learned" }), b = q.model({ ranks: [4, 3] });
    for (let i = 0; i < 2; i++) expect(a.layers[i].estimator).toEqual(b.layers[i].estimator);
    expect(() => q.model({ ranks: [3, 3], estimator: "learned" })).toThrow(/rank 4, asked for 3/);
  });

  it("a learned offset o_j moves unit j's threshold as a margin of −o_j", () => {
    const l0 = base.layers[0];
    const f = svdFactors(l0.weight, l0.nIn, l0.nOut, 2);
    const offset = vec(l0.nOut, 0.5);
    const withOffset = (o: Float32Array): FloatModel => ({
      layers: base.layers.map((l, i) => (i === 0 ? { ...l, estimator: { rank: 2, at: Float32Array.from(f.at), bt: Float32Array.from(f.bt), offset: o } } : l)),
    });
    const q0 = new Quantizer(withOffset(new Float32Array(l0.nOut)), calib, 32, { min: 0, max: 1 });
    const q1 = new Quantizer(withOffset(offset), calib, 32, { min: 0, max: 1 });
    const e0 = q0.model({ ranks: [2, 0], estimator: "learned" }).layers[0].estimator!;
    const e1 = q1.model({ ranks: [2, 0], estimator: "learned" }).layers[0].estimator!;
    expect(e1.b).toEqual(e0.b);
    let moved = 0;
    for (let j = 0; j < l0.nOut; j++) {
      // A positive offset lowers the threshold (more units computed), a negative one raises it
      if (offset[j] > 0) expect(e1.threshold[j]).toBeLessThanOrEqual(e0.threshold[j]);
      else expect(e1.threshold[j]).toBeGreaterThanOrEqual(e0.threshold[j]);
      if (e0.threshold[j] !== e1.threshold[j]) moved++;
    }
    expect(moved).toBeGreaterThan(l0.nOut / 2);
  });
});

describe("forwardFloat with a block policy", () => {
  it("zeroes exactly the units of blocks whose policy is ≤ 0", () => {
    const l0 = base.layers[0];
    const gate = { blockSize: 4, weight: vec(3 * l0.nIn), bias: vec(3) };
    const gated: FloatModel = { layers: base.layers.map((l, i) => (i === 0 ? { ...l, gate } : l)) };
    const x = syntheticInputs(new Rng(2), 20, l0.nIn);
    const plain = forwardFloat(base, x, 20)[0], withGate = forwardFloat(gated, x, 20)[0];
    let off = 0;
    for (let s = 0; s < 20; s++) {
      for (let j = 0; j < l0.nOut; j++) {
        const b = Math.floor(j / 4);
        let z = gate.bias[b];
        for (let i = 0; i < l0.nIn; i++) z += x[s * l0.nIn + i] * gate.weight[b * l0.nIn + i];
        expect(withGate[s * l0.nOut + j]).toBe(z > 0 ? plain[s * l0.nOut + j] : 0);
        if (z <= 0) off++;
      }
    }
    expect(off).toBeGreaterThan(0);
    expect(off).toBeLessThan(20 * l0.nOut);
  });
});

describe("per-feature input quantization (format v3)", () => {
  /** Features whose ranges differ by orders of magnitude, one constant, one sparse (mostly 0), one negative. */
  const n = 12;
  const ranges = [[0, 3000], [0.05, 0.16], [-5, -4.5], [7, 7], [0, 1], [100, 101], [-1e-3, 1e-3], [0, 20], [1, 2], [0, 0.01], [-300, 300], [0.5, 0.6]];
  const raw = (r: Rng, count: number) => Float32Array.from({ length: count * n }, (_, k) => {
    const [lo, hi] = ranges[k % n];
    if (k % n === 4 && r.next() < 0.8) return 0;
    return lo + (hi - lo) * r.next();
  });
  const rr = new Rng(5);
  const x = raw(rr, 200), xt = raw(rr, 100);
  const net = syntheticFloat(rr, [n, 16, 8, 4]);
  // Make layer 0 see each feature in its own units, as a folded normalization does: W_ji / width_i
  const float: FloatModel = { layers: [{ ...net.layers[0], weight: Float32Array.from(net.layers[0].weight, (w, k) => w / Math.max(ranges[k % n][1] - ranges[k % n][0], 1e-3)) }, ...net.layers.slice(1)] };

  it("featureParams: o = min, s = range / 255 (f32); a constant feature gets a finite scale > 0; min → zero point, max → 127", () => {
    const f = featureParams(x, 200, n);
    for (let i = 0; i < n; i++) {
      let lo = Infinity, hi = -Infinity;
      for (let s = 0; s < 200; s++) { lo = Math.min(lo, x[s * n + i]); hi = Math.max(hi, x[s * n + i]); }
      expect(f.offset[i]).toBe(lo);
      expect(f.scale[i] > 0 && Number.isFinite(f.scale[i])).toBe(true);
      if (hi > lo) expect(f.scale[i]).toBe(Math.fround((hi - lo) / 255));
      const q = new Int8Array(2);
      quantize_f32(Float32Array.of(lo, hi), 1, -128, q, { scale: new Float32Array(2).fill(f.scale[i]), offset: new Float32Array(2).fill(f.offset[i]) });
      expect(q[0]).toBe(-128);
      expect(q[1]).toBe(hi > lo ? 127 : -128);
    }
    expect(f.scale[3]).toBe(Math.fround(7 / 255));
    // All-zero and empty calibration: still a sane scale, never NaN
    const z = featureParams(new Float32Array(3 * 2), 3, 2);
    expect(Array.from(z.scale)).toEqual([Math.fround(1 / 255), Math.fround(1 / 255)]);
    expect(Array.from(featureParams(new Float32Array(0), 0, 2).scale).every((v) => v > 0 && Number.isFinite(v))).toBe(true);
  });

  it("foldInputFeatures: the folded model on u = (x − o)/s computes the float model on x (weights, block policy, learned estimator)", () => {
    const f = featureParams(x, 200, n);
    const withParts: FloatModel = { layers: [{ ...float.layers[0], gate: { blockSize: 4, weight: vec(4 * n), bias: vec(4) },
      estimator: { rank: 3, at: vec(3 * n), bt: vec(16 * 3), offset: vec(16) } }, ...float.layers.slice(1)] };
    const folded = foldInputFeatures(withParts, f);
    const u = applyInputFeatures(xt, 100, f);
    const a = forwardFloat(withParts, xt, 100), b = forwardFloat(folded, u, 100);
    for (let l = 0; l < a.length; l++) for (let k = 0; k < a[l].length; k++) expect(Math.abs(b[l][k] - a[l][k])).toBeLessThanOrEqual(1e-3 * (1 + Math.abs(a[l][k])));
    // The learned estimator's decision Σ_r (Σ_i x_i·at_ri)·bt_jr + b_j + offset_j, both ways
    const e = withParts.layers[0].estimator!, fe = folded.layers[0].estimator!;
    for (let s = 0; s < 20; s++) {
      for (let j = 0; j < 16; j++) {
        const est = (m: FloatModel, ee: typeof e, v: Float32Array) => {
          let z = m.layers[0].bias[j] + ee.offset[j];
          for (let r = 0; r < 3; r++) {
            let t = 0;
            for (let i = 0; i < n; i++) t += v[s * n + i] * ee.at[r * n + i];
            z += t * ee.bt[j * 3 + r];
          }
          return z;
        };
        const want = est(withParts, e, xt);
        expect(Math.abs(est(folded, fe, u) - want)).toBeLessThanOrEqual(1e-3 * (1 + Math.abs(want)));
      }
    }
  });

  it("per-feature int8 dense follows float more closely than per-tensor; the engine, the reference and quantizeModelInput agree", async () => {
    const pf = new Quantizer(float, x, 200, undefined, "per-feature"), pt = new Quantizer(float, x, 200);
    const top1 = floatTop1(float, xt, 100);
    const fl = forwardFloat(float, xt, 100)[2];
    const run = async (q: Quantizer) => {
      const engine = await Engine.load(writeModel(q.model({ ranks: [4, 3] })));
      const dense = engine.inferBatch(xt, { gating: false });
      const model = engine.model;
      for (let s = 0; s < 100; s++) {
        const qi = new Int8Array(n);
        expect(quantizeModelInput(model, xt.subarray(s * n, (s + 1) * n), qi)).toBe(0);
        expect(Array.from(run_s8(model, qi).output)).toEqual(Array.from(engine.infer(xt.subarray(s * n, (s + 1) * n)).logits));
      }
      let noise = 0;
      dense.logits.forEach((v, k) => (noise += ((v - engine.outputZeroPoint) * engine.outputScale - fl[k]) ** 2));
      return { agree: dense.labels.filter((v, s) => v === top1[s]).length, noise };
    };
    const [a, b] = [await run(pf), await run(pt)];
    expect(a.agree).toBeGreaterThanOrEqual(98);
    expect(a.noise * 4).toBeLessThan(b.noise);
    expect(pf.inputFeatures).not.toBeNull();
    expect(pf.model().layers[0]).toMatchObject({ inScale: 1, inZeroPoint: -128 });
  });

  it("auto: per-tensor (byte-identical to the default) when features share a range; per-feature on mixed ranges", () => {
    const r = new Rng(9);
    const pixels = Float32Array.from({ length: 300 * n }, () => (r.next() < 0.7 ? 0 : r.next()));
    pixels[0] = 1; // every run sees the full [0, 1]
    const auto = new Quantizer(net, pixels, 300, { min: 0, max: 1 }, "auto");
    expect(auto.inputChoice!.mode).toBe("per-tensor");
    expect(writeModel(auto.model({ ranks: [3, 2] }))).toEqual(writeModel(new Quantizer(net, pixels, 300, { min: 0, max: 1 }).model({ ranks: [3, 2] })));
    const mixed = new Quantizer(float, x, 200, undefined, "auto");
    expect(mixed.inputChoice!.mode).toBe("per-feature");
    expect(mixed.inputChoice!.noise.per_feature * 2).toBeLessThanOrEqual(mixed.inputChoice!.noise.per_tensor);
  });

  it("a sparse feature's zeros map to the zero point, so zero-input skipping still skips them", async () => {
    const q = new Quantizer(float, x, 200, undefined, "per-feature");
    const m = q.model();
    expect(m.inputFeatures!.offset[4]).toBe(0);
    const engine = await Engine.load(writeModel(m), { trace: true });
    const sample = xt.slice(0, n);
    sample[4] = 0;
    engine.infer(sample);
    expect(engine.lastTrace().inputs[0][4]).toBe(m.layers[0].inZeroPoint);
  });
});
