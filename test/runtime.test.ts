import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../runtime/src/errors.ts";
import { activationRange, type QuantModel } from "../runtime/src/model.ts";
import { quantizeInput } from "../runtime/src/quant.ts";
import { denseRows_s8, RUN_DENSE, run_s8 } from "../runtime/src/reference.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { buildSynthetic, syntheticInputs } from "../toolchain/model/synthetic.ts";
import { Rng } from "../toolchain/model/random.ts";

/** A random small MLP: 1–4 layers, odd widths, a random rank (or none) per hidden layer. */
const modelCase = () =>
  fc.array(fc.oneof(fc.constantFrom(1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33), fc.integer({ min: 1, max: 48 })), { minLength: 2, maxLength: 5 })
    .chain((sizes) =>
      fc.record({
        sizes: fc.constant(sizes),
        ranks: fc.tuple(...sizes.slice(1).map((o, l) => fc.integer({ min: 0, max: Math.min(sizes[l], o) }))),
        seed: fc.integer({ min: 1, max: 1 << 30 }),
        margin: fc.constantFrom(0, 0, -0.5, 0.5),
        zeros: fc.constantFrom(0, 0.5, 0.9),
      }),
    );

function quantized(model: QuantModel, x: Float32Array): Int8Array {
  const l0 = model.layers[0];
  return quantizeInput(x, l0.inScale, l0.inZeroPoint, new Int8Array(x.length));
}

describe("Engine", () => {
  it("equals the reference network (gated/dense × SIMD/scalar) and its counters follow the analytic formula", async () => {
    let partial = 0;
    await fc.assert(
      fc.asyncProperty(modelCase(), async (c) => {
        const { bytes, model, rng } = buildSynthetic({ sizes: c.sizes, ranks: c.ranks, seed: c.seed, calibration: 16, inputZeros: c.zeros, margins: c.ranks.map(() => c.margin) });
        const engine = await Engine.load(bytes);
        for (let s = 0; s < 3; s++) {
          const x = syntheticInputs(rng, 1, c.sizes[0], c.zeros);
          const q = quantized(model, x);
          for (const gating of [true, false]) {
            const ref = run_s8(model, q, gating ? 0 : RUN_DENSE);
            for (const simd of [true, false]) {
              const got = engine.infer(s === 0 ? x : q, { gating, simd });
              expect(Array.from(got.logits)).toEqual(Array.from(ref.output));
              got.stats.layers.forEach((st, l) => {
                const layer = model.layers[l];
                const gated = gating && layer.estimator !== null;
                const { estimatorMacs, rowMacs, rowsComputed, rowsSkipped } = st;
                expect({ estimatorMacs, rowMacs, rowsComputed, rowsSkipped }).toEqual(ref.counters[l]);
                expect(st.estimatorMacs).toBe(gated ? layer.estimator!.rank * (layer.nIn + layer.nOut) : 0);
                expect(st.rowMacs).toBe(st.rowsComputed * layer.nIn);
                expect(st.rowsComputed + st.rowsSkipped).toBe(layer.nOut);
                if (!gated) expect(st.rowsSkipped).toBe(0);
                if (gated && st.rowsComputed > 0 && st.rowsSkipped > 0) partial++;
              });
              expect(got.stats.totalMacs).toBe(ref.counters.reduce((t, k) => t + k.estimatorMacs + k.rowMacs, 0));
            }
          }
        }
      }),
      { numRuns: 120 },
    );
    expect(partial).toBeGreaterThan(50); // the property saw real gating, not only all-or-nothing masks
  });

  it("trace engines give the same logits and exact per-layer inputs, masks and trace counters", async () => {
    let counted = 0;
    await fc.assert(
      fc.asyncProperty(modelCase(), async (c) => {
        const { bytes, model, rng } = buildSynthetic({ sizes: c.sizes, ranks: c.ranks, seed: c.seed, calibration: 16, inputZeros: c.zeros });
        const plain = await Engine.load(bytes);
        const traced = await Engine.load(bytes, { trace: true });
        const q = quantized(model, syntheticInputs(rng, 1, c.sizes[0], c.zeros));
        for (const gating of [true, false]) {
          const got = traced.infer(q, { gating });
          expect(Array.from(got.logits)).toEqual(Array.from(plain.infer(q, { gating }).logits));
          const trace = traced.lastTrace();
          let a = q;
          model.layers.forEach((layer, l) => {
            expect(Array.from(trace.inputs[l])).toEqual(Array.from(a));
            const prefix = run_s8({ layers: model.layers.slice(0, l + 1) }, q, gating ? 0 : RUN_DENSE);
            const mask = prefix.masks[l];
            expect(trace.masks[l] && Array.from(trace.masks[l]!)).toEqual(mask && Array.from(mask));
            const exact = new Int8Array(layer.nOut);
            denseRows_s8({ ...layer, inZp: layer.inZeroPoint, outZp: layer.outZeroPoint, ...activationRange(layer) }, a, exact);
            const st = got.stats.layers[l];
            expect(st.nonzeroInputs).toBe(a.filter((v) => v !== layer.inZeroPoint).length);
            expect(st.positive).toBe(exact.filter((v) => v > layer.outZeroPoint).length);
            const computed = (j: number) => !mask || ((mask[j >>> 5] >>> (j & 31)) & 1) === 1;
            expect(st.positiveComputed).toBe(Array.from(exact).filter((v, j) => v > layer.outZeroPoint && computed(j)).length);
            if (mask && st.positiveComputed < st.positive) counted++;
            a = prefix.output;
          });
          expect(Array.from(trace.output)).toEqual(Array.from(got.logits));
        }
      }),
      { numRuns: 60 },
    );
    expect(counted).toBeGreaterThan(5); // some estimator misses were seen and counted
  });

  it("lastTrace needs a trace engine; plain engines report zero trace counters", async () => {
    const { bytes } = buildSynthetic({ sizes: [8, 6, 3], ranks: [2], seed: 4, calibration: 8 });
    const engine = await Engine.load(bytes);
    const r = engine.infer(new Float32Array(8).fill(0.5));
    expect(r.stats.layers[0].positive).toBe(0);
    expect(() => engine.lastTrace()).toThrow(/trace: true/);
  });

  it("a full-rank exact estimator with margin 0 computes exactly the units whose integer pre-activation is positive", async () => {
    const sizes = [9, 13, 17, 31, 4];
    const { bytes, model, rng } = buildSynthetic({ sizes, ranks: [9, 13, 17], estimator: "identity", seed: 5, calibration: 16 });
    const engine = await Engine.load(bytes);
    let positives = 0, negatives = 0;
    for (let s = 0; s < 50; s++) {
      const q = quantized(model, syntheticInputs(rng, 1, sizes[0]));
      const gated = engine.infer(q);
      expect(Array.from(gated.logits)).toEqual(Array.from(engine.infer(q, { gating: false }).logits));
      const ref = run_s8(model, q);
      let a = q;
      model.layers.forEach((layer, l) => {
        if (layer.estimator) {
          for (let j = 0; j < layer.nOut; j++) {
            let acc = layer.bias[j]; // exact, no wrap-around
            for (let i = 0; i < layer.nIn; i++) acc += (a[i] - layer.inZeroPoint) * layer.weights[j * layer.nIn + i];
            const bit = (ref.masks[l]![j >>> 5] >>> (j & 31)) & 1;
            expect([l, j, bit]).toEqual([l, j, acc > 0 ? 1 : 0]);
            acc > 0 ? positives++ : negatives++;
          }
        }
        a = run_s8({ layers: model.layers.slice(0, l + 1) }, q).output;
      });
    }
    expect(positives).toBeGreaterThan(100);
    expect(negatives).toBeGreaterThan(100);
  });

  it("inferBatch equals one infer per sample and sums the counters", async () => {
    const { bytes, model, rng } = buildSynthetic({ sizes: [33, 17, 8, 5], ranks: [4, 3], seed: 9, calibration: 16 });
    const engine = await Engine.load(bytes);
    const count = 7;
    const x = syntheticInputs(rng, count, 33);
    const batch = engine.inferBatch(x);
    let est = 0, rows = 0;
    for (let i = 0; i < count; i++) {
      const one = engine.infer(x.subarray(i * 33, (i + 1) * 33));
      expect(Array.from(batch.logits.subarray(i * 5, (i + 1) * 5))).toEqual(Array.from(one.logits));
      expect(batch.labels[i]).toBe(one.label);
      est += one.stats.estimatorMacs;
      rows += one.stats.rowMacs;
    }
    expect(batch.stats.estimatorMacs).toBe(est);
    expect(batch.stats.rowMacs).toBe(rows);
    expect(Array.from(engine.inferBatch(quantized(model, x)).logits)).toEqual(Array.from(batch.logits));
  });

  it("plans one arena and grows memory once, at load", async () => {
    const { bytes, rng } = buildSynthetic({ sizes: [100, 70, 40, 10], ranks: [20, 10], seed: 3, calibration: 16 });
    const engine = await Engine.load(bytes);
    const a = engine.arena;
    const regions = a.regions;
    expect(regions.map((r) => r.name)).toEqual(["model", "plan", "pairs[0]", "pairs[1]", "requant[0]", "requant[1]", "requant[2]", "input", "activations[0]", "activations[1]", "mask", "scratch",
      "staging.input", "staging.logits", "staging.labels", "staging.activations"]);
    regions.forEach((r, i) => {
      expect(r.offset % 16).toBe(0);
      if (i > 0) expect(r.offset).toBe(regions[i - 1].offset + regions[i - 1].bytes);
    });
    expect(a.model.bytes).toBe(bytes.length);
    expect(a.totalBytes).toBe(a.staging!.activations.offset + a.staging!.activations.bytes);
    expect(engine.memoryBytes).toBe(a.pages * 65536);
    for (let i = 0; i < 20; i++) engine.infer(syntheticInputs(rng, 1, 100), { zeroSkip: i % 2 === 0 });
    engine.inferBatch(syntheticInputs(rng, 150, 100));
    expect(engine.memoryBytes).toBe(a.pages * 65536);
  });

  it("labels are the first index of the largest logit", async () => {
    const { bytes, rng } = buildSynthetic({ sizes: [16, 12, 6], ranks: [3], seed: 21, calibration: 16 });
    const engine = await Engine.load(bytes);
    for (let i = 0; i < 20; i++) {
      const { logits, label } = engine.infer(syntheticInputs(rng, 1, 16));
      const max = Math.max(...logits);
      expect(label).toBe(logits.indexOf(max));
    }
  });
});

describe("Engine input errors", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(buildSynthetic({ sizes: [10, 6, 3], ranks: [2], seed: 2, calibration: 8 }).bytes);
  });
  const bad: [string, () => unknown, RegExp][] = [
    ["short Float32Array", () => engine.infer(new Float32Array(9)), /length 9, expected 10/],
    ["long Int8Array", () => engine.infer(new Int8Array(11)), /Int8Array of length 11, expected 10/],
    ["Uint8Array", () => engine.infer(new Uint8Array(10) as never), /got a Uint8Array/],
    ["Float64Array", () => engine.infer(new Float64Array(10) as never), /got a Float64Array/],
    ["plain array", () => engine.infer([1, 2] as never), /got an Array/],
    ["null", () => engine.infer(null as never), /got null/],
    ["NaN", () => engine.infer(new Float32Array(10).fill(Number.NaN)), /input\[0\] is NaN/],
    ["Infinity", () => engine.infer(Float32Array.from({ length: 10 }, (_, i) => (i === 4 ? Infinity : 0))), /input\[4\] is Infinity/],
    ["batch not a multiple", () => engine.inferBatch(new Float32Array(25)), /positive multiple of 10/],
    ["empty batch", () => engine.inferBatch(new Int8Array(0)), /positive multiple of 10/],
    ["NaN in a batch", () => engine.inferBatch(Float32Array.from({ length: 30 }, (_, i) => (i === 23 ? Number.NaN : 0))), /inputs\[2\]\[3\] is NaN/],
  ];
  for (const [name, call, message] of bad) {
    it(`rejects ${name} with InputError`, () => {
      expect(call).toThrow(InputError);
      expect(call).toThrow(message);
    });
  }
  it("still works after rejecting bad input", () => {
    expect(engine.infer(new Float32Array(10)).logits.length).toBe(3);
  });
});
