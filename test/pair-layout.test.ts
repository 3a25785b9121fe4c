// The estimator's second factor in the pair layout (runtime/src/reference.ts pairLayout_s8, read by
// kernels/wasm/estimate.ts expandSignPairs): the layout's bytes, the engine's copy of it, and its plan field's check.
// Masks and logits through it against the reference: test/zero-skip.test.ts and test/as/estimate.spec.ts.
// Also the packed requantization parameters (requantLayout_s32, read by fully-connected.ts requantizePacked).
import { describe, expect, it } from "vitest";
import { EngineError } from "../runtime/src/errors.ts";
import { estimateSign_s8, PAIR_UNITS, pairLayout_s8, pairLayoutA_s8, pairLayoutABytes, pairLayoutBytes, requantLayout_s32, RUN_DENSE, run_s8 } from "../runtime/src/reference.ts";
import { quantizeInput } from "../runtime/src/quant.ts";
import { Engine, F, type Trace } from "../runtime/src/runtime.ts";
import type { QuantModel } from "../runtime/src/model.ts";
import { PLAN_RECORD_BYTES } from "../runtime/src/arena.ts";
import { buildSynthetic, syntheticInputs } from "../toolchain/model/synthetic.ts";

/** Each estimator layer's traced mask equals estimateSign_s8 on its traced input; returns the set bits. */
function expectReferenceMasks(model: QuantModel, trace: Trace): number {
  let set = 0;
  model.layers.forEach((l, i) => {
    if (!l.estimator) return;
    const want = new Uint32Array(Math.ceil(l.nOut / 32));
    estimateSign_s8({ nIn: l.nIn, nOut: l.nOut, inZp: l.inZeroPoint, ...l.estimator }, trace.inputs[i], want);
    expect(Array.from(trace.masks[i]!)).toEqual(Array.from(want));
    set += want.reduce((a, w) => a + (w.toString(2).match(/1/g)?.length ?? 0), 0);
  });
  return set;
}

describe("pairLayout_s8", () => {
  it("puts B[j][2p], B[j][2p+1] at group j/32, pair p, lane j%32; zero past rank and nOut", () => {
    // nOut 33 (two groups), rank 3 (two pairs): B[j][r] = 10·j + r (j < 12), −(10·(j − 12) + r) after
    const nOut = 33, rank = 3;
    const b = Int8Array.from({ length: nOut * rank }, (_, i) => {
      const j = Math.floor(i / rank), r = i % rank;
      return j < 12 ? 10 * j + r : -(10 * (j - 12) + r);
    });
    const out = pairLayout_s8(b, rank, nOut);
    expect(PAIR_UNITS).toBe(32);
    expect(out.length).toBe(pairLayoutBytes(rank, nOut));
    expect(out.length).toBe(2 * 2 * 64);
    const at = (g: number, p: number, u: number, k: number) => out[(g * 2 + p) * 64 + 2 * u + k];
    expect([at(0, 0, 0, 0), at(0, 0, 0, 1), at(0, 1, 0, 0), at(0, 1, 0, 1)]).toEqual([0, 1, 2, 0]);
    expect([at(0, 0, 5, 0), at(0, 0, 5, 1), at(0, 1, 5, 0), at(0, 1, 5, 1)]).toEqual([50, 51, 52, 0]);
    expect([at(0, 0, 16, 0), at(0, 0, 16, 1), at(0, 1, 16, 0)]).toEqual([-40, -41, -42]);
    expect([at(1, 0, 0, 0), at(1, 0, 0, 1), at(1, 1, 0, 0)]).toEqual([-200, -201, -202].map((v) => (v << 24) >> 24));
    // Units 33..63 (group 1, lanes 1..31) are zero
    expect(Array.from(out.subarray(128 + 2, 192)).every((v) => v === 0)).toBe(true);
    expect(Array.from(out.subarray(192 + 2, 256)).every((v) => v === 0)).toBe(true);
  });
});

describe("pairLayoutA_s8", () => {
  it("puts A[r][2k], A[r][2k+1] at block r/16 (the last 8 rows wide when at most 8 remain), pair k, lane r%16", () => {
    // rank 19 (blocks of 16 and 8), nIn 5 (pad8: 4 pairs): A[r][i] = r + 20·i (≤ 18 + 80)
    const rank = 19, nIn = 5;
    const a = Int8Array.from({ length: rank * nIn }, (_, j) => Math.floor(j / nIn) + 20 * (j % nIn));
    const out = pairLayoutA_s8(a, rank, nIn);
    expect(out.length).toBe(pairLayoutABytes(rank, nIn));
    expect(out.length).toBe(24 * 8);
    const wide = (k: number, r: number, h: number) => out[k * 32 + 2 * r + h];
    const narrow = (k: number, r: number, h: number) => out[4 * 32 + k * 16 + 2 * r + h];
    expect([wide(0, 0, 0), wide(0, 0, 1), wide(1, 0, 0), wide(1, 0, 1), wide(2, 0, 0), wide(2, 0, 1)]).toEqual([0, 20, 40, 60, 80, 0]);
    expect([wide(0, 15, 0), wide(0, 15, 1), wide(2, 15, 0)]).toEqual([15, 35, 95]);
    expect([narrow(0, 0, 0), narrow(0, 2, 1), narrow(2, 2, 0), narrow(2, 2, 1), narrow(3, 2, 0)]).toEqual([16, 38, 98, 0, 0]);
    // Rows 19..23 of the narrow block are zero
    for (let k = 0; k < 4; k++) expect(Array.from(out.subarray(4 * 32 + k * 16 + 6, 4 * 32 + k * 16 + 16)).every((v) => v === 0)).toBe(true);
  });
});

describe("the engine's pair layout", () => {
  const { bytes, model, rng } = buildSynthetic({ sizes: [40, 33, 17, 5], ranks: [7, 4], seed: 11, calibration: 16 });
  const x = syntheticInputs(rng, 30, 40);

  it("holds each estimator's B in the pair layout on the SIMD build, none on the MVP build; masks equal the reference", async () => {
    const simd = await Engine.load(bytes, { module: "simd", trace: true });
    const mvp = await Engine.load(bytes, { module: "mvp", trace: true });
    expect(mvp.arena.pairs).toBeUndefined();
    expect(simd.arena.pairs!.map((p) => p !== null)).toEqual([true, true, false]);
    const mem = new Int8Array(simd.internals.kernels.memory.buffer);
    const plan = new Int32Array(simd.internals.kernels.memory.buffer, simd.arena.plan.offset, (3 * PLAN_RECORD_BYTES) >> 2);
    model.layers.forEach((l, i) => {
      const at = simd.arena.pairs![i];
      expect(at === null).toBe(l.estimator === null);
      const rec = i * (PLAN_RECORD_BYTES >> 2);
      expect([plan[rec + F.B_PAIRS], plan[rec + F.A_PAIRS], plan[rec + F.PAIR_LIST]]).toEqual([at?.offset ?? 0, at?.aOffset ?? 0, at?.listOffset ?? 0]);
      if (at && l.estimator) {
        expect(Array.from(mem.subarray(at.offset, at.offset + pairLayoutBytes(l.estimator.rank, l.nOut))))
          .toEqual(Array.from(pairLayout_s8(l.estimator.b, l.estimator.rank, l.nOut)));
        expect(Array.from(mem.subarray(at.aOffset, at.aOffset + pairLayoutABytes(l.estimator.rank, l.nIn))))
          .toEqual(Array.from(pairLayoutA_s8(l.estimator.a, l.estimator.rank, l.nIn)));
        expect(at.listOffset + 2 * Math.ceil(l.nIn / 8) * 8).toBeLessThanOrEqual(at.offset + at.bytes);
      }
    });
    let set = 0;
    for (let s = 0; s < 30; s++) {
      const q = quantizeInput(x.subarray(s * 40, (s + 1) * 40), model.layers[0].inScale, model.layers[0].inZeroPoint, new Int8Array(40));
      const ref = run_s8(model, q);
      for (const e of [simd, mvp]) {
        for (const zeroSkip of [false, true]) {
          expect(Array.from(e.infer(q, { zeroSkip }).logits)).toEqual(Array.from(ref.output));
          set += expectReferenceMasks(model, e.lastTrace());
        }
      }
    }
    expect(set).toBeGreaterThan(100);
  });

  it("a pair layout or pair list pointer past memory is STATUS_BAD_SIZE, before anything runs", async () => {
    const engine = await Engine.load(bytes, { module: "simd" });
    const plan = new Int32Array(engine.internals.kernels.memory.buffer, engine.arena.plan.offset, (3 * PLAN_RECORD_BYTES) >> 2);
    const want = Array.from(engine.infer(x.subarray(0, 40)).logits);
    for (const f of [F.B_PAIRS, F.A_PAIRS, F.PAIR_LIST]) {
      const keep = plan[f];
      plan[f] = engine.memoryBytes - 16;
      expect(() => engine.infer(x.subarray(0, 40))).toThrow(EngineError);
      expect(() => engine.infer(x.subarray(0, 40), { zeroSkip: true })).toThrow(/status -4 \(STATUS_BAD_SIZE\)/);
      // Checked for every schedule (the scalar kernels read A and B, but the plan is wrong)
      expect(() => engine.infer(x.subarray(0, 40), { simd: false })).toThrow(/STATUS_BAD_SIZE/);
      plan[f] = keep;
      expect(Array.from(engine.infer(x.subarray(0, 40), { zeroSkip: true }).logits)).toEqual(want);
    }
  });
});

describe("requantLayout_s32 (the engine's packed requantization parameters)", () => {
  it("is [bias, multiplier, m, mask] per unit: m = 2^s for s ≥ 0 (mask 0), else 2^(31 + s) with mask 2^−s − 1", () => {
    const got = requantLayout_s32(Int32Array.of(7, -3, 0, 5, 9), Int32Array.of(1 << 30, 0x7fffffff, 0, 1 << 30, 1 << 30), Int32Array.of(0, 30, -1, -31, -9));
    expect(Array.from(got)).toEqual([
      7, 1 << 30, 1, 0,
      -3, 0x7fffffff, 2 ** 30, 0,
      0, 0, 2 ** 30, 1,
      5, 1 << 30, 1, 0x7fffffff,
      9, 1 << 30, 2 ** 22, 511,
    ]);
  });

  it("the engine holds it per layer (and per estimator, for t) on the SIMD build only; every shift in [−31, 30] gives the reference's bytes and masks", async () => {
    // Units and ranks with every shift, every run mode: the SIMD rows and t requantize from the packed copies, the scalar ones from the file
    const { model, rng } = buildSynthetic({ sizes: [24, 62, 62, 5], ranks: [21, 13], seed: 5, calibration: 16 });
    model.layers.forEach((l, i) => {
      if (i === model.layers.length - 1) return;
      for (let j = 0; j < l.nOut; j++) {
        l.shift[j] = j - 31;
        l.multiplier[j] = j % 3 === 0 ? 0x7fffffff : (1 << 30) + j * 9973;
      }
      const e = l.estimator!;
      // A small t_max: the clamp is hit, not only int16 saturation
      e.tMax = 300;
      for (let r = 0; r < e.rank; r++) {
        // Mostly the small right shifts of real estimators, some far ends (t then clamps at ±tMax or is 0)
        e.tShift[r] = r % 4 === 3 ? (r * 17) % 62 - 31 : -(r % 6);
        e.tMultiplier[r] = r % 5 === 0 ? 0x7fffffff : (1 << 30) + r * 77777;
      }
    });
    const simd = await Engine.fromModel(model, { module: "simd", trace: true }), mvp = await Engine.fromModel(model, { module: "mvp", trace: true });
    expect(mvp.arena.requant).toBeUndefined();
    const plan = new Int32Array(simd.internals.kernels.memory.buffer, simd.arena.plan.offset, (4 * PLAN_RECORD_BYTES) >> 2);
    const i32 = new Int32Array(simd.internals.kernels.memory.buffer);
    model.layers.forEach((l, i) => {
      const at = simd.arena.requant![i], rec = i * (PLAN_RECORD_BYTES >> 2);
      expect(plan[rec + F.REQUANT]).toBe(at.offset);
      expect(Array.from(i32.subarray(at.offset >> 2, (at.offset >> 2) + 4 * l.nOut))).toEqual(Array.from(requantLayout_s32(l.bias, l.multiplier, l.shift)));
      const e = l.estimator, p = simd.arena.pairs![i];
      expect(plan[rec + F.T_REQUANT]).toBe(p?.tOffset ?? 0);
      if (e && p) {
        const want = new Int32Array(4 * Math.ceil(e.rank / 8) * 8);
        want.set(requantLayout_s32(new Int32Array(e.rank), e.tMultiplier, e.tShift));
        expect(Array.from(i32.subarray(p.tOffset >> 2, (p.tOffset >> 2) + want.length))).toEqual(Array.from(want));
        expect(p.tOffset + 4 * want.length).toBeLessThanOrEqual(p.offset + p.bytes);
      }
    });
    const xs = syntheticInputs(rng, 40, 24);
    let changed = 0;
    for (let s = 0; s < 40; s++) {
      const q = quantizeInput(xs.subarray(s * 24, (s + 1) * 24), model.layers[0].inScale, model.layers[0].inZeroPoint, new Int8Array(24));
      for (const gating of [false, true]) {
        const want = Array.from(run_s8(model, q, gating ? 0 : RUN_DENSE).output);
        for (const e of [simd, mvp]) for (const zeroSkip of [false, true]) for (const s2 of [true, false]) {
          expect(Array.from(e.infer(q, { gating, zeroSkip, simd: s2 }).logits)).toEqual(want);
          if (gating) expectReferenceMasks(model, e.lastTrace());
        }
        changed += want.some((v) => v !== want[0]) ? 1 : 0;
      }
    }
    expect(changed).toBeGreaterThan(10);
  });

  it("a requantization or t requantization pointer past memory is STATUS_BAD_SIZE, before anything runs", async () => {
    const { bytes } = buildSynthetic({ sizes: [40, 33, 17, 5], ranks: [7, 4], seed: 11, calibration: 16 });
    const engine = await Engine.load(bytes, { module: "simd" });
    const x = new Float32Array(40).fill(0.5);
    const plan = new Int32Array(engine.internals.kernels.memory.buffer, engine.arena.plan.offset, (3 * PLAN_RECORD_BYTES) >> 2);
    const want = Array.from(engine.infer(x).logits);
    for (const field of [F.REQUANT, F.T_REQUANT]) {
      const f = PLAN_RECORD_BYTES / 4 + field, keep = plan[f];
      plan[f] = engine.memoryBytes - 16;
      expect(() => engine.infer(x)).toThrow(/status -4 \(STATUS_BAD_SIZE\)/);
      plan[f] = keep;
      expect(Array.from(engine.infer(x).logits)).toEqual(want);
    }
  });
});
