// Block gates (engine side of issue 7): blockGate_s8 against its twin, and whole gated networks
// (in-memory models through Engine.fromModel) against the reference run_s8, counters included.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { blockGate_s8_scratchBytes } from "../runtime/src/arena.ts";
import type { QuantModel } from "../runtime/src/model.ts";
import { quantizeInput } from "../runtime/src/quant.ts";
import { blockGate_s8, RUN_DENSE, RUN_ZERO_SKIP, run_s8 } from "../runtime/src/reference.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { buildSynthetic, syntheticInputs } from "../toolchain/model/synthetic.ts";
import { layerCost, layerCounts } from "../sim/cost.ts";
import { findTarget } from "../sim/profile.ts";
import { KernelHarness } from "./helpers/kernels.ts";
import { gatedNetCase } from "./helpers/models.ts";
import { int32s, int8s, maskWords, size, zeroPoint } from "./helpers/arbitraries.ts";

let h: KernelHarness;
beforeAll(async () => {
  h = await KernelHarness.create();
});

const gateCase = () =>
  fc.tuple(size(), size()).chain(([nIn, nOut]) =>
    fc.oneof(fc.constantFrom(1, nOut), fc.integer({ min: 1, max: nOut })).chain((blockSize) => {
      const blocks = Math.ceil(nOut / blockSize);
      return fc.record({
        nIn: fc.constant(nIn), nOut: fc.constant(nOut), blockSize: fc.constant(blockSize), blocks: fc.constant(blocks),
        inZp: zeroPoint(),
        input: int8s(nIn),
        // Equal rows and equal thresholds force ties (top-k: the lower blocks win)
        weights: fc.oneof(int8s(blocks * nIn), int8s(nIn).map((w) => Int8Array.from({ length: blocks * nIn }, (_, k) => w[k % nIn]))),
        threshold: fc.oneof(
          int32s(blocks, fc.oneof(fc.integer({ min: -200000, max: 200000 }), fc.integer())),
          fc.integer().map((t) => new Int32Array(blocks).fill(t)),
        ),
        topK: fc.oneof(fc.constant(0), fc.constant(1), fc.constant(blocks), fc.integer({ min: 0, max: blocks })),
        garbage: maskWords(nOut),
      });
    }),
  );

describe("blockGate_s8", () => {
  it("Wasm (SIMD and scalar) equals the reference; whole blocks, bits past nOut zero; top-k opens exactly k blocks", () => {
    let partial = 0, topK = 0;
    fc.assert(
      fc.property(gateCase(), (c) => {
        const words = (c.nOut + 31) >>> 5;
        const want = new Uint32Array(words);
        blockGate_s8(c, c.input, want);
        for (const simd of [1, 0]) {
          h.reset();
          const inp = h.put(c.input), g = h.put(c.weights), thr = h.put(c.threshold), mask = h.put(c.garbage);
          const scratch = h.reserve(blockGate_s8_scratchBytes(c.nIn, c.blocks), 0xa5);
          expect(h.k.blockGate_s8(inp, c.nIn, c.inZp, g, thr, c.blocks, c.blockSize, c.nOut, c.topK, mask, scratch, simd)).toBe(0);
          expect(Array.from(h.u32(mask, words))).toEqual(Array.from(want));
        }
        const bit = (j: number) => (want[j >>> 5] >>> (j & 31)) & 1;
        for (let j = 0; j < c.nOut; j++) expect(bit(j)).toBe(bit(Math.floor(j / c.blockSize) * c.blockSize));
        if (c.nOut & 31) expect(want[words - 1] >>> (c.nOut & 31)).toBe(0);
        const on = Array.from({ length: c.nOut }, (_, j) => bit(j)).filter(Boolean).length;
        if (on > 0 && on < c.nOut) partial++;
        if (c.topK > 0) {
          topK++;
          const open = Array.from({ length: c.blocks }, (_, b) => bit(b * c.blockSize));
          expect(open.filter(Boolean).length).toBe(c.topK);
          // Every open block's s = score − threshold is ≥ every closed one's, and > it when the closed one is lower
          const x = Array.from(c.input, (v) => v - c.inZp);
          const sOf = (b: number) => x.reduce((t, v, i) => (t + v * c.weights[b * c.nIn + i]) | 0, 0) - c.threshold[b];
          for (let o = 0; o < c.blocks; o++) {
            for (let z = 0; z < c.blocks; z++) if (open[o] && !open[z]) expect(z < o ? sOf(o) > sOf(z) : sOf(o) >= sOf(z)).toBe(true);
          }
        }
      }),
      { numRuns: 1500 },
    );
    expect(partial).toBeGreaterThan(100);
    expect(topK).toBeGreaterThan(500);
  });

  it("checks its arguments: block shape, zero point, buffers", () => {
    h.reset();
    const inp = h.reserve(16), g = h.reserve(256), thr = h.reserve(64), mask = h.reserve(16), scratch = h.reserve(128);
    const call = (over: Partial<Record<string, number>> = {}) => {
      const a = { nIn: 8, inZp: 0, blocks: 3, blockSize: 3, nOut: 8, topK: 0, mask, scratch, g, ...over };
      return h.k.blockGate_s8(inp, a.nIn, a.inZp, a.g, thr, a.blocks, a.blockSize, a.nOut, a.topK, a.mask, a.scratch, 1);
    };
    expect(call()).toBe(0);
    expect(call({ topK: 3 })).toBe(0);
    for (const over of [{ blockSize: 0 }, { blockSize: 9 }, { blocks: 2 }, { blocks: 4 }, { nIn: 0 }, { nOut: 0 }, { inZp: 128 }, { topK: -1 }, { topK: 4 }]) {
      expect([over, call(over)]).toEqual([over, -1]);
    }
    for (const over of [{ mask: h.memoryBytes - 2 }, { scratch: h.memoryBytes - 16 }, { g: h.memoryBytes - 8 }]) {
      expect([over, call(over)]).toEqual([over, -4]);
    }
  });

  it("the TS sizing partner equals the Wasm one", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), (n, b) =>
      h.k.blockGate_s8_scratchBytes(n, b) === blockGate_s8_scratchBytes(n, b)), { numRuns: 200 });
  });
});

const gatedModelCase = () => gatedNetCase(48, [0, 0.5, 0.9]);

function quantized(model: QuantModel, x: Float32Array): Int8Array {
  const l0 = model.layers[0];
  return quantizeInput(x, l0.inScale, l0.inZeroPoint, new Int8Array(x.length));
}

describe("gated networks", () => {
  it("Engine equals the reference run_s8 (gating on/off × SIMD/scalar × zero-skip), counters exact", async () => {
    let gatedLayers = 0, partial = 0, topKLayers = 0;
    await fc.assert(
      fc.asyncProperty(gatedModelCase(), async (c) => {
        const { model, rng } = buildSynthetic({
          sizes: c.sizes, ranks: c.kinds.map((k) => k.rank), gates: c.kinds.map((k) => k.gate), seed: c.seed, calibration: 16, inputZeros: c.zeros,
        });
        // Half the cases route: top-k gates with k from 1 to blocks
        for (const l of model.layers) if (l.gate && c.seed % 2) l.gate.topK = 1 + ((c.seed >>> 1) % l.gate.blocks);
        const engine = await Engine.fromModel(model);
        for (let s = 0; s < 3; s++) {
          const x = syntheticInputs(rng, 1, c.sizes[0], c.zeros);
          const q = quantized(model, x);
          for (const gating of [true, false]) {
            for (const zeroSkip of [false, true]) {
              const ref = run_s8(model, q, (gating ? 0 : RUN_DENSE) | (zeroSkip ? RUN_ZERO_SKIP : 0));
              for (const simd of [true, false]) {
                const got = engine.infer(s === 0 ? x : q, { gating, simd, zeroSkip });
                expect(Array.from(got.logits)).toEqual(Array.from(ref.output));
                got.stats.layers.forEach((st, l) => {
                  const { estimatorMacs, rowMacs, rowsComputed, rowsSkipped } = st;
                  expect({ l, estimatorMacs, rowMacs, rowsComputed, rowsSkipped }).toEqual({ l, ...ref.counters[l] });
                  const layer = model.layers[l];
                  if (gating && !zeroSkip && layer.gate) {
                    expect(estimatorMacs).toBe(layer.gate.blocks * layer.nIn);
                    gatedLayers++;
                    if (layer.gate.topK > 0) {
                      // Exactly k blocks: their units are the rows computed
                      const g = layer.gate, open = Array.from({ length: g.blocks }, (_, b) => (ref.masks[l]![(b * g.blockSize) >>> 5] >>> ((b * g.blockSize) & 31)) & 1);
                      expect(open.filter(Boolean).length).toBe(g.topK);
                      expect(rowsComputed).toBe(open.reduce((t, o, b) => t + (o ? Math.min(g.blockSize, layer.nOut - b * g.blockSize) : 0), 0));
                      topKLayers++;
                    }
                    if (rowsComputed > 0 && rowsSkipped > 0) partial++;
                  }
                });
              }
            }
          }
        }
      }),
      { numRuns: 80 },
    );
    expect(gatedLayers).toBeGreaterThan(50);
    expect(partial).toBeGreaterThan(10);
    expect(topKLayers).toBeGreaterThan(20);
  });

  it("trace engines count gate layers and return their masks", async () => {
    const { model, rng } = buildSynthetic({ sizes: [33, 40, 17, 5], gates: [8, 5], seed: 11, calibration: 16 });
    const engine = await Engine.fromModel(model, { trace: true });
    const q = quantized(model, syntheticInputs(rng, 1, 33));
    const got = engine.infer(q);
    const ref = run_s8(model, q);
    const trace = engine.lastTrace();
    expect(Array.from(trace.masks[0]!)).toEqual(Array.from(ref.masks[0]!));
    expect(Array.from(trace.masks[1]!)).toEqual(Array.from(ref.masks[1]!));
    expect(trace.masks[2]).toBeNull();
    expect(got.stats.layers[0].positiveComputed).toBeLessThanOrEqual(got.stats.layers[0].positive);
    expect(engine.infer(q, { gating: false }).stats.layers[0].positiveComputed).toBe(engine.infer(q, { gating: false }).stats.layers[0].positive);
  });

  it("gates survive the .rgm (v2) round trip: Engine.load of the written file runs them", async () => {
    const { model, bytes, rng } = buildSynthetic({ sizes: [20, 24, 9, 4], gates: [4, 3], seed: 8, calibration: 16 });
    const engine = await Engine.load(bytes);
    expect(engine.model.layers.map((l) => l.gate?.blockSize ?? 0)).toEqual([4, 3, 0]);
    for (let s = 0; s < 10; s++) {
      const q = quantized(model, syntheticInputs(rng, 1, 20));
      const ref = run_s8(model, q);
      const got = engine.infer(q);
      expect(Array.from(got.logits)).toEqual(Array.from(ref.output));
      expect(got.stats.layers[0].estimatorMacs).toBe(model.layers[0].gate!.blocks * 20);
    }
  });

  it("fromModel rejects a gate that does not fit its layer", async () => {
    const { model } = buildSynthetic({ sizes: [8, 10, 3], gates: [4], seed: 3, calibration: 8 });
    const g = model.layers[0].gate!;
    await expect(Engine.fromModel({ layers: [{ ...model.layers[0], gate: { ...g, blocks: 2 } }, model.layers[1]] })).rejects.toThrow(/gate/);
    await expect(Engine.fromModel({ layers: [{ ...model.layers[0], gate: { ...g, threshold: new Int32Array(2) } }, model.layers[1]] })).rejects.toThrow(/gate_threshold|threshold/);
  });
});

describe("sim cost of a top-k gate", () => {
  it("k selection passes: the first is the per-block compare, each further pass `blocks` mask units; its scores count in SRAM", () => {
    const p = findTarget("cortex-m4f");
    const at = { weights: 0, bias: 4096, multiplier: 4224, shift: 4352, gate_weights: 4480, gate_threshold: 4992 };
    const g = { nIn: 64, nOut: 30, rank: 0, blocks: 8, relu: true, at };
    const w = { estimator: true, gather: false, masked: true, rows: Int32Array.of(0, 1, 2, 3), nz: new Int32Array(0) };
    const base = layerCounts(p, g, w);
    for (const k of [1, 3, 8]) {
      const c = layerCounts(p, { ...g, topK: k }, w);
      expect(c.estimator.mask - base.estimator.mask).toBe((k - 1) * 8);
      expect({ ...c.estimator, mask: 0 }).toEqual({ ...base.estimator, mask: 0 });
      expect(layerCost(p, { ...g, topK: k }, w, false).sramBytes - layerCost(p, g, w, false).sramBytes).toBe(32);
    }
  });
});
