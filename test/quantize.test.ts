// The quantizer's block gates and learned estimators: integer decisions against their real meaning.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { forwardFloat } from "../ts/float.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { Quantizer, quantizeGate, svdFactors } from "../ts/quantize.ts";
import { Rng } from "../ts/random.ts";
import { syntheticFloat, syntheticInputs } from "../ts/synthetic.ts";

const rng = new Rng(31);
const sizes = [12, 10, 7, 3];
const base = syntheticFloat(rng, sizes);
const calib = syntheticInputs(rng, 32, sizes[0]);
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
