import { run_s8, run_s8_scratchBytes, RUN_DENSE, RUN_SCALAR, RUN_ZERO_SKIP, PLAN_RECORD_BYTES } from "../../kernels/wasm/network";
import { denseRows_s8, gatedRows_s8 } from "../../kernels/wasm/fully-connected";
import { estimateSign_s8, estimateSign_s8_scratchBytes } from "../../kernels/wasm/estimate";
import { STATUS_OK } from "../../kernels/wasm/status";
import { Lcg, Arena, Layer, fillS8, fillI32, popcountBits, expectBytes } from "./util";

// Plan record fields (kernels/wasm/network.ts)
const N_IN = 0, N_OUT = 1, RANK = 2, IN_ZP = 3, OUT_ZP = 4, ACT_MIN = 5, ACT_MAX = 6, T_MAX = 7;
const IN = 8, OUT = 9, W = 10, BIAS = 11, MULT = 12, SHIFT = 13;
const A = 14, T_MULT = 15, T_SHIFT = 16, B = 17, THR = 18, MASK = 19, SCRATCH = 20;
const EST_MACS = 24, ROW_MACS = 25, ROWS_COMPUTED = 26, ROWS_SKIPPED = 27;

const arena = new Arena(1 << 20);

function setField(rec: usize, f: i32, v: i32): void {
  store<i32>(rec + (<usize>f << 2), v);
}
function getField(rec: usize, f: i32): i32 {
  return load<i32>(rec + (<usize>f << 2));
}

/** A layer plus its estimator, written into plan record `rec`. */
class PlannedLayer {
  l: Layer;
  rank: i32;
  tMax: i32;
  a: usize;
  tMult: usize;
  tShift: usize;
  b: usize;
  thr: usize;
  mask: usize;
  out: usize;
  words: i32;

  constructor(rng: Lcg, rec: usize, nIn: i32, nOut: i32, rank: i32, input: usize) {
    const l = new Layer(arena, rng, nIn, nOut);
    if (input != 0) l.input = input;
    // Scratch large enough for the estimator too
    l.scratch = arena.alloc(max(run_s8_scratchBytes(nIn, nOut, rank), estimateSign_s8_scratchBytes(nIn, max(rank, 1))));
    this.l = l;
    this.rank = rank;
    this.tMax = 127;
    this.words = (nOut + 31) >>> 5;
    const k = max(rank, 1);
    this.a = arena.alloc(k * nIn);
    this.tMult = arena.alloc(k << 2);
    this.tShift = arena.alloc(k << 2);
    this.b = arena.alloc(k * nOut);
    this.thr = arena.alloc(nOut << 2);
    this.mask = arena.alloc(this.words << 2);
    this.out = arena.alloc(nOut);
    fillS8(rng, this.a, k * nIn, -128, 127);
    for (let r = 0; r < k; r++) store<i32>(this.tMult + (<usize>r << 2), 0x40000000 | <i32>(rng.word() & 0x3fffffff));
    fillI32(rng, this.tShift, k, -10, -6);
    fillS8(rng, this.b, k * nOut, -128, 127);
    fillI32(rng, this.thr, nOut, -15000, 15000);

    memory.fill(rec, 0, PLAN_RECORD_BYTES);
    setField(rec, N_IN, nIn);
    setField(rec, N_OUT, nOut);
    setField(rec, RANK, rank);
    setField(rec, IN_ZP, l.inZp);
    setField(rec, OUT_ZP, l.outZp);
    setField(rec, ACT_MIN, l.actMin);
    setField(rec, ACT_MAX, l.actMax);
    setField(rec, T_MAX, this.tMax);
    setField(rec, IN, <i32>l.input);
    setField(rec, OUT, <i32>this.out);
    setField(rec, W, <i32>l.w);
    setField(rec, BIAS, <i32>l.bias);
    setField(rec, MULT, <i32>l.mult);
    setField(rec, SHIFT, <i32>l.shift);
    setField(rec, A, <i32>this.a);
    setField(rec, T_MULT, <i32>this.tMult);
    setField(rec, T_SHIFT, <i32>this.tShift);
    setField(rec, B, <i32>this.b);
    setField(rec, THR, <i32>this.thr);
    setField(rec, MASK, <i32>this.mask);
    setField(rec, SCRATCH, <i32>l.scratch);
  }

  estimate(input: usize, mask: usize): i32 {
    const l = this.l;
    return estimateSign_s8(input, l.nIn, l.inZp, this.a, this.tMult, this.tShift, this.rank, this.tMax,
      this.b, this.thr, l.nOut, mask, l.scratch, 1);
  }
  dense(input: usize, out: usize): i32 {
    const l = this.l;
    return denseRows_s8(input, l.nIn, l.inZp, l.w, l.bias, l.mult, l.shift,
      l.nOut, l.outZp, l.actMin, l.actMax, out, l.scratch, 1);
  }
  gated(input: usize, out: usize, mask: usize): i32 {
    const l = this.l;
    return gatedRows_s8(input, l.nIn, l.inZp, l.w, l.bias, l.mult, l.shift,
      l.nOut, l.outZp, l.actMin, l.actMax, out, l.scratch, mask, 1);
  }
}

/** Counters hold garbage before each run so a stale value cannot pass. */
function poisonCounters(plan: usize, layers: i32): void {
  for (let k = 0; k < layers; k++) {
    const rec = plan + <usize>k * PLAN_RECORD_BYTES;
    for (let f = EST_MACS; f <= ROWS_SKIPPED; f++) setField(rec, f, 0x7eadbeef);
  }
}

function expectCounters(rec: usize, est: i32, rowMacs: i32, computed: i32, skipped: i32, what: string): void {
  expect<i32>(getField(rec, EST_MACS)).toBe(est, what + ": EST_MACS");
  expect<i32>(getField(rec, ROW_MACS)).toBe(rowMacs, what + ": ROW_MACS");
  expect<i32>(getField(rec, ROWS_COMPUTED)).toBe(computed, what + ": ROWS_COMPUTED");
  expect<i32>(getField(rec, ROWS_SKIPPED)).toBe(skipped, what + ": ROWS_SKIPPED");
}

/** A fresh arena with one two-layer plan: nIn → nHidden (estimator rank0) → nOut (rank1). */
class TwoLayerPlan {
  plan: usize;
  rec1: usize;
  p0: PlannedLayer;
  p1: PlannedLayer;

  constructor(seed: u32, nIn: i32, nHidden: i32, nOut: i32, rank0: i32, rank1: i32) {
    arena.reset();
    const rng = new Lcg(seed);
    const plan = arena.alloc(2 * PLAN_RECORD_BYTES);
    const rec1 = plan + PLAN_RECORD_BYTES;
    const p0 = new PlannedLayer(rng, plan, nIn, nHidden, rank0, 0);
    this.p1 = new PlannedLayer(rng, rec1, nHidden, nOut, rank1, p0.out);
    this.p0 = p0;
    this.plan = plan;
    this.rec1 = rec1;
  }
}

describe("run_s8", () => {
  test("two gated layers: counters match the analytic formula, outputs match the kernels", () => {
    const t = new TwoLayerPlan(0x5eed0201, 17, 33, 15, 5, 3);
    const plan = t.plan, rec1 = t.rec1, p0 = t.p0, p1 = t.p1;
    const layers: StaticArray<PlannedLayer> = [p0, p1];
    const recs: StaticArray<usize> = [plan, rec1];

    poisonCounters(plan, 2);
    expect<i32>(run_s8(plan, 2, 0)).toBe(STATUS_OK);

    for (let k = 0; k < 2; k++) {
      const p = layers[k];
      const nIn = p.l.nIn, nOut = p.l.nOut;
      const what = "layer " + k.toString();
      // Re-run each stage by hand on the same input
      const mask = arena.alloc(p.words << 2);
      const out = arena.alloc(nOut);
      expect<i32>(p.estimate(p.l.input, mask)).toBe(STATUS_OK);
      expectBytes(p.mask, mask, p.words << 2, what + " mask");
      const computed = popcountBits(mask, nOut);
      // Gating actually skips some rows and keeps some
      expect<i32>(computed).toBeGreaterThan(0, what + " computed");
      expect<i32>(computed).toBeLessThan(nOut, what + " computed");
      expectCounters(recs[k], p.rank * (nIn + nOut), computed * nIn, computed, nOut - computed, what);
      expect<i32>(p.gated(p.l.input, out, mask)).toBe(STATUS_OK);
      expectBytes(p.out, out, nOut, what + " output vs gatedRows_s8");
    }

    // RUN_SCALAR: same outputs and counters
    const saved = arena.alloc(33 + 15 + 32);
    memory.copy(saved, p0.out, 33);
    memory.copy(saved + 33, p1.out, 15);
    memory.copy(saved + 48, plan + (EST_MACS << 2), 16);
    memory.copy(saved + 64, rec1 + (EST_MACS << 2), 16);
    poisonCounters(plan, 2);
    expect<i32>(run_s8(plan, 2, RUN_SCALAR)).toBe(STATUS_OK);
    expectBytes(p0.out, saved, 33, "RUN_SCALAR layer 0 output");
    expectBytes(p1.out, saved + 33, 15, "RUN_SCALAR layer 1 output");
    expectBytes(plan + (EST_MACS << 2), saved + 48, 16, "RUN_SCALAR layer 0 counters");
    expectBytes(rec1 + (EST_MACS << 2), saved + 64, 16, "RUN_SCALAR layer 1 counters");
  });

  test("RUN_DENSE: every row computed, output equals denseRows_s8 layer by layer", () => {
    const t = new TwoLayerPlan(0x5eed0202, 17, 33, 15, 5, 3);
    const plan = t.plan, rec1 = t.rec1, p0 = t.p0, p1 = t.p1;
    const d0 = arena.alloc(33);
    const d1 = arena.alloc(15);
    expect<i32>(p0.dense(p0.l.input, d0)).toBe(STATUS_OK);
    expect<i32>(p1.dense(d0, d1)).toBe(STATUS_OK);

    for (let flags = RUN_DENSE; flags <= (RUN_DENSE | RUN_SCALAR); flags++) {
      const what = "flags=" + flags.toString();
      poisonCounters(plan, 2);
      memory.fill(p0.mask, 0xee, p0.words << 2);
      expect<i32>(run_s8(plan, 2, flags)).toBe(STATUS_OK);
      expectBytes(p0.out, d0, 33, what + " layer 0 output");
      expectBytes(p1.out, d1, 15, what + " layer 1 output");
      expectCounters(plan, 0, 33 * 17, 33, 0, what + " layer 0");
      expectCounters(rec1, 0, 15 * 33, 15, 0, what + " layer 1");
      // The estimator did not run
      expect<u32>(load<u32>(p0.mask)).toBe(0xeeeeeeee, what + " mask untouched");
    }
  });

  test("a rank-0 layer runs dense even without RUN_DENSE", () => {
    const t = new TwoLayerPlan(0x5eed0203, 16, 31, 8, 4, 0);
    const plan = t.plan, rec1 = t.rec1, p0 = t.p0, p1 = t.p1;
    poisonCounters(plan, 2);
    expect<i32>(run_s8(plan, 2, 0)).toBe(STATUS_OK);
    const c0 = popcountBits(p0.mask, 31);
    expectCounters(plan, 4 * (16 + 31), c0 * 16, c0, 31 - c0, "layer 0");
    expectCounters(rec1, 0, 8 * 31, 8, 0, "layer 1");
    const d1 = arena.alloc(8);
    expect<i32>(p1.dense(p0.out, d1)).toBe(STATUS_OK);
    expectBytes(p1.out, d1, 8, "layer 1 output");
  });
});

describe("run_s8 with RUN_ZERO_SKIP", () => {
  test("inputs with zero runs give the same outputs and masks; row MACs count only the kept chunks", () => {
    const t = new TwoLayerPlan(0x5eed0204, 33, 31, 17, 5, 0);
    const plan = t.plan, rec1 = t.rec1, p0 = t.p0, p1 = t.p1;
    // Zero point everywhere but two inputs: chunks [0, 8) and [24, 32) are kept
    memory.fill(p0.l.input, <u8>p0.l.inZp, 33);
    store<i8>(p0.l.input + 3, <i8>(p0.l.inZp + 1));
    store<i8>(p0.l.input + 30, <i8>(p0.l.inZp - 1));
    for (let simd = 0; simd <= 1; simd++) {
      const flags = simd == 0 ? RUN_SCALAR : 0;
      expect<i32>(run_s8(plan, 2, flags)).toBe(STATUS_OK);
      const out0 = arena.alloc(31), out1 = arena.alloc(17), mask = arena.alloc(4);
      memory.copy(out0, p0.out, 31);
      memory.copy(out1, p1.out, 17);
      memory.copy(mask, p0.mask, 4);
      expect<i32>(run_s8(plan, 2, flags | RUN_ZERO_SKIP)).toBe(STATUS_OK);
      expectBytes(p0.out, out0, 31, "layer 0 output");
      expectBytes(p1.out, out1, 17, "layer 1 output");
      expect<u32>(load<u32>(p0.mask)).toBe(load<u32>(mask), "layer 0 mask");
      const computed = popcountBits(p0.mask, 31);
      expectCounters(plan, 5 * (16 + 31), computed * 16, computed, 31 - computed, "layer 0");
    }
  });
});
