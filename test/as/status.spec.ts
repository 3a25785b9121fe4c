import { denseRows_s8, gatedRows_s8 } from "../../kernels/wasm/fully-connected";
import { estimateSign_s8, estimateSign_s8_scratchBytes } from "../../kernels/wasm/estimate";
import { run_s8, RUN_DENSE, PLAN_RECORD_BYTES } from "../../kernels/wasm/network";
import { STATUS_OK, STATUS_BAD_ARG, STATUS_BAD_SIZE, MAX_DIM } from "../../kernels/wasm/status";
import { Lcg, Arena, Layer, fillS8 } from "./util";

const arena = new Arena(1 << 16);
const SENTINEL: u8 = 0x5a;

/** First byte past linear memory. */
function memEnd(): usize {
  return <usize>memory.size() << 16;
}

/** Valid arguments for denseRows_s8 / gatedRows_s8; each case breaks one. */
class RowArgs {
  input: usize; nIn: i32; inZp: i32; w: usize; bias: usize; mult: usize; shift: usize;
  nOut: i32; outZp: i32; actMin: i32; actMax: i32; out: usize; scratch: usize; mask: usize;
  outBuf: usize; maskBuf: usize;

  constructor() {
    arena.reset();
    const l = new Layer(arena, new Lcg(0x5eed0301), 7, 5);
    this.input = l.input; this.nIn = 7; this.inZp = l.inZp; this.w = l.w; this.bias = l.bias;
    this.mult = l.mult; this.shift = l.shift; this.nOut = 5; this.outZp = l.outZp;
    this.actMin = l.actMin; this.actMax = l.actMax; this.scratch = l.scratch;
    this.outBuf = this.out = arena.alloc(16);
    this.maskBuf = this.mask = arena.alloc(16);
    memory.fill(this.outBuf, SENTINEL, 16);
    memory.fill(this.maskBuf, 0xff, 16);
  }
  dense(): i32 {
    return denseRows_s8(this.input, this.nIn, this.inZp, this.w, this.bias, this.mult, this.shift,
      this.nOut, this.outZp, this.actMin, this.actMax, this.out, this.scratch, 1);
  }
  gated(): i32 {
    return gatedRows_s8(this.input, this.nIn, this.inZp, this.w, this.bias, this.mult, this.shift,
      this.nOut, this.outZp, this.actMin, this.actMax, this.out, this.scratch, this.mask, 1);
  }
  /** Both kernels return `status` and leave the output untouched. */
  expectBoth(status: i32, what: string): void {
    expect<i32>(this.dense()).toBe(status, "denseRows_s8 " + what);
    expect<u8>(load<u8>(this.outBuf)).toBe(SENTINEL, "denseRows_s8 wrote before failing: " + what);
    expect<i32>(this.gated()).toBe(status, "gatedRows_s8 " + what);
    expect<u8>(load<u8>(this.outBuf)).toBe(SENTINEL, "gatedRows_s8 wrote before failing: " + what);
  }
}

/** Valid arguments for estimateSign_s8 (nIn 7, nOut 5, rank 3). */
class EstArgs {
  input: usize; nIn: i32; inZp: i32; a: usize; tMult: usize; tShift: usize; rank: i32; tMax: i32;
  b: usize; thr: usize; nOut: i32; mask: usize; scratch: usize; maskBuf: usize;

  constructor() {
    arena.reset();
    const rng = new Lcg(0x5eed0302);
    this.nIn = 7; this.nOut = 5; this.rank = 3; this.inZp = -3; this.tMax = 127;
    this.input = arena.alloc(7);
    this.a = arena.alloc(21);
    this.tMult = arena.alloc(12);
    this.tShift = arena.alloc(12);
    this.b = arena.alloc(15);
    this.thr = arena.alloc(20);
    this.scratch = arena.alloc(estimateSign_s8_scratchBytes(7, 3));
    this.maskBuf = this.mask = arena.alloc(16);
    fillS8(rng, this.input, 7, -128, 127);
    fillS8(rng, this.a, 21, -128, 127);
    fillS8(rng, this.b, 15, -128, 127);
    for (let r = 0; r < 3; r++) {
      store<i32>(this.tMult + (<usize>r << 2), 0x50000000);
      store<i32>(this.tShift + (<usize>r << 2), -6);
    }
    memory.fill(this.maskBuf, SENTINEL, 16);
  }
  run(): i32 {
    return estimateSign_s8(this.input, this.nIn, this.inZp, this.a, this.tMult, this.tShift, this.rank, this.tMax,
      this.b, this.thr, this.nOut, this.mask, this.scratch, 1);
  }
  expectStatus(status: i32, what: string): void {
    expect<i32>(this.run()).toBe(status, "estimateSign_s8 " + what);
    expect<u8>(load<u8>(this.maskBuf)).toBe(SENTINEL, "estimateSign_s8 wrote before failing: " + what);
  }
}

describe("status codes", () => {
  test("row kernels: valid arguments give STATUS_OK", () => {
    const r = new RowArgs();
    expect<i32>(r.dense()).toBe(STATUS_OK);
    expect<i32>(r.gated()).toBe(STATUS_OK);
  });

  test("row kernels: bad arguments give STATUS_BAD_ARG", () => {
    let r = new RowArgs(); r.nIn = 0; r.expectBoth(STATUS_BAD_ARG, "nIn=0");
    r = new RowArgs(); r.nIn = -1; r.expectBoth(STATUS_BAD_ARG, "nIn=-1");
    r = new RowArgs(); r.nIn = MAX_DIM + 1; r.expectBoth(STATUS_BAD_ARG, "nIn=MAX_DIM+1");
    r = new RowArgs(); r.nOut = 0; r.expectBoth(STATUS_BAD_ARG, "nOut=0");
    r = new RowArgs(); r.nOut = MAX_DIM + 1; r.expectBoth(STATUS_BAD_ARG, "nOut=MAX_DIM+1");
    r = new RowArgs(); r.inZp = -129; r.expectBoth(STATUS_BAD_ARG, "inZp=-129");
    r = new RowArgs(); r.inZp = 128; r.expectBoth(STATUS_BAD_ARG, "inZp=128");
    r = new RowArgs(); r.outZp = -129; r.expectBoth(STATUS_BAD_ARG, "outZp=-129");
    r = new RowArgs(); r.outZp = 128; r.expectBoth(STATUS_BAD_ARG, "outZp=128");
    r = new RowArgs(); r.actMin = -129; r.expectBoth(STATUS_BAD_ARG, "actMin=-129");
    r = new RowArgs(); r.actMax = 128; r.expectBoth(STATUS_BAD_ARG, "actMax=128");
    r = new RowArgs(); r.actMin = 10; r.actMax = 9; r.expectBoth(STATUS_BAD_ARG, "actMin>actMax");
    // Argument checks come before bounds checks
    r = new RowArgs(); r.nIn = 0; r.w = memEnd(); r.expectBoth(STATUS_BAD_ARG, "nIn=0 with w past memory");
  });

  test("row kernels: a buffer past memory gives STATUS_BAD_SIZE", () => {
    let r = new RowArgs(); r.input = memEnd(); r.expectBoth(STATUS_BAD_SIZE, "input at end");
    r = new RowArgs(); r.input = 0xfffffff8; r.expectBoth(STATUS_BAD_SIZE, "input near 2^32");
    r = new RowArgs(); r.w = memEnd(); r.expectBoth(STATUS_BAD_SIZE, "w at end");
    r = new RowArgs(); r.w = memEnd() - 7 * 5 + 1; r.expectBoth(STATUS_BAD_SIZE, "w straddling end");
    r = new RowArgs(); r.bias = memEnd() - 4; r.expectBoth(STATUS_BAD_SIZE, "bias straddling end");
    r = new RowArgs(); r.mult = memEnd(); r.expectBoth(STATUS_BAD_SIZE, "mult at end");
    r = new RowArgs(); r.shift = memEnd(); r.expectBoth(STATUS_BAD_SIZE, "shift at end");
    r = new RowArgs(); r.out = memEnd() - 4; r.expectBoth(STATUS_BAD_SIZE, "out straddling end");
    r = new RowArgs(); r.scratch = memEnd() - 8; r.expectBoth(STATUS_BAD_SIZE, "scratch straddling end");
    // nIn·nOut ≈ 2^32: the bounds sum must not wrap
    r = new RowArgs(); r.nIn = MAX_DIM; r.nOut = MAX_DIM; r.expectBoth(STATUS_BAD_SIZE, "nIn=nOut=MAX_DIM");
    r = new RowArgs(); r.mask = memEnd();
    expect<i32>(r.gated()).toBe(STATUS_BAD_SIZE, "gatedRows_s8 mask at end");
    r = new RowArgs(); r.mask = memEnd() - 2;
    expect<i32>(r.gated()).toBe(STATUS_BAD_SIZE, "gatedRows_s8 mask straddling end");
    expect<u8>(load<u8>(r.outBuf)).toBe(SENTINEL, "gatedRows_s8 wrote before failing");
  });

  test("row kernels: read-only buffers ending exactly at memory end are in bounds (weights: 8 bytes past them)", () => {
    const r = new RowArgs();
    r.input = memEnd() - 7;
    r.w = memEnd() - 35 - 8;
    expect<i32>(r.dense()).toBe(STATUS_OK);
    r.w = memEnd() - 35;
    expect<i32>(r.dense()).toBe(STATUS_BAD_SIZE);
  });

  test("estimateSign_s8: valid arguments give STATUS_OK", () => {
    const e = new EstArgs();
    expect<i32>(e.run()).toBe(STATUS_OK);
  });

  test("estimateSign_s8: bad arguments give STATUS_BAD_ARG", () => {
    let e = new EstArgs(); e.nIn = 0; e.expectStatus(STATUS_BAD_ARG, "nIn=0");
    e = new EstArgs(); e.nIn = MAX_DIM + 1; e.expectStatus(STATUS_BAD_ARG, "nIn=MAX_DIM+1");
    e = new EstArgs(); e.nOut = 0; e.expectStatus(STATUS_BAD_ARG, "nOut=0");
    e = new EstArgs(); e.nOut = MAX_DIM + 1; e.expectStatus(STATUS_BAD_ARG, "nOut=MAX_DIM+1");
    e = new EstArgs(); e.inZp = -129; e.expectStatus(STATUS_BAD_ARG, "inZp=-129");
    e = new EstArgs(); e.inZp = 128; e.expectStatus(STATUS_BAD_ARG, "inZp=128");
    e = new EstArgs(); e.rank = 0; e.expectStatus(STATUS_BAD_ARG, "rank=0");
    e = new EstArgs(); e.rank = 6; e.expectStatus(STATUS_BAD_ARG, "rank > min(nIn, nOut)");
    e = new EstArgs(); e.tMax = 0; e.expectStatus(STATUS_BAD_ARG, "tMax=0");
    e = new EstArgs(); e.tMax = 32768; e.expectStatus(STATUS_BAD_ARG, "tMax=32768");
    // 600 · 32767 · 128 = 2 516 505 600 > 2^31 − 1
    e = new EstArgs(); e.nIn = 600; e.nOut = 600; e.rank = 600; e.tMax = 32767;
    e.expectStatus(STATUS_BAD_ARG, "rank·tMax·128 overflows");
    // 512 · 32767 · 128 = 2 147 418 112 ≤ 2^31 − 1: accepted, then fails on the small buffers
    e = new EstArgs(); e.nIn = 512; e.nOut = 512; e.rank = 512; e.tMax = 32767; e.a = memEnd();
    e.expectStatus(STATUS_BAD_SIZE, "rank·tMax·128 at the limit");
  });

  test("estimateSign_s8: a buffer past memory gives STATUS_BAD_SIZE", () => {
    let e = new EstArgs(); e.input = memEnd(); e.expectStatus(STATUS_BAD_SIZE, "input at end");
    e = new EstArgs(); e.a = memEnd() - 20; e.expectStatus(STATUS_BAD_SIZE, "a straddling end");
    e = new EstArgs(); e.tMult = memEnd(); e.expectStatus(STATUS_BAD_SIZE, "tMult at end");
    e = new EstArgs(); e.tShift = memEnd() - 8; e.expectStatus(STATUS_BAD_SIZE, "tShift straddling end");
    e = new EstArgs(); e.b = memEnd() - 14; e.expectStatus(STATUS_BAD_SIZE, "b straddling end");
    e = new EstArgs(); e.thr = memEnd(); e.expectStatus(STATUS_BAD_SIZE, "thr at end");
    e = new EstArgs(); e.mask = memEnd() - 3; e.expectStatus(STATUS_BAD_SIZE, "mask straddling end");
    e = new EstArgs(); e.scratch = memEnd() - 16; e.expectStatus(STATUS_BAD_SIZE, "scratch straddling end");
    e = new EstArgs(); e.b = 0xfffffff0; e.expectStatus(STATUS_BAD_SIZE, "b near 2^32");
  });

  test("run_s8: bad layer count, plan past memory, and a failing layer's status", () => {
    expect<i32>(run_s8(0, 0, 0)).toBe(STATUS_BAD_ARG, "layers=0");
    expect<i32>(run_s8(0, 65536, 0)).toBe(STATUS_BAD_ARG, "layers=65536");
    expect<i32>(run_s8(memEnd(), 1, 0)).toBe(STATUS_BAD_SIZE, "plan at end");
    expect<i32>(run_s8(memEnd() - 2 * PLAN_RECORD_BYTES + 4, 2, 0)).toBe(STATUS_BAD_SIZE, "plan straddling end");

    // One dense layer (rank 0) whose output lies past memory
    const r = new RowArgs();
    const plan = arena.alloc(PLAN_RECORD_BYTES);
    const fields: StaticArray<i32> = [
      7, 5, 0, r.inZp, r.outZp, r.actMin, r.actMax, 0,
      <i32>r.input, <i32>memEnd(), <i32>r.w, <i32>r.bias, <i32>r.mult, <i32>r.shift,
      0, 0, 0, 0, 0, 0, <i32>r.scratch,
    ];
    for (let f = 0; f < fields.length; f++) store<i32>(plan + (<usize>f << 2), fields[f]);
    store<i32>(plan + 26 * 4, SENTINEL);
    expect<i32>(run_s8(plan, 1, 0)).toBe(STATUS_BAD_SIZE, "layer output past memory");
    expect<i32>(run_s8(plan, 1, RUN_DENSE)).toBe(STATUS_BAD_SIZE, "layer output past memory, RUN_DENSE");
    // Same layer, gated (rank 1) with its mask past memory: the estimator's status comes back
    store<i32>(plan + 9 * 4, <i32>r.out);
    store<i32>(plan + 2 * 4, 1);
    store<i32>(plan + 7 * 4, 127);
    store<i32>(plan + 14 * 4, <i32>r.w);
    store<i32>(plan + 15 * 4, <i32>r.mult);
    store<i32>(plan + 16 * 4, <i32>r.shift);
    store<i32>(plan + 17 * 4, <i32>r.w);
    store<i32>(plan + 18 * 4, <i32>r.bias);
    store<i32>(plan + 19 * 4, <i32>memEnd());
    expect<i32>(run_s8(plan, 1, 0)).toBe(STATUS_BAD_SIZE, "gated layer mask past memory");
    // A record with a bad dimension
    store<i32>(plan + 19 * 4, <i32>r.mask);
    store<i32>(plan, 0);
    expect<i32>(run_s8(plan, 1, 0)).toBe(STATUS_BAD_ARG, "layer with nIn=0");
    expect<i32>(run_s8(plan, 1, RUN_DENSE)).toBe(STATUS_BAD_ARG, "layer with nIn=0, RUN_DENSE");
    // Counters are not written for a failing layer
    expect<i32>(load<i32>(plan + 26 * 4)).toBe(SENTINEL, "ROWS_COMPUTED written by a failing run");
    // Fixed, the same record runs
    store<i32>(plan, 7);
    expect<i32>(run_s8(plan, 1, 0)).toBe(STATUS_OK, "repaired record");
  });
});
