// Selftest entry: the engine's own runner and kernels (network.ts and everything it imports)
// over models, plans and inputs embedded as static data by web/build-selftest.ts, behind
// one zero-argument export, so interpreters that only call such exports (wasm-interp) run it.
// Compiled to build/selftest.wasm, a separate module; build/rankgate.wasm is unchanged.
import { run_s8, PLAN_RECORD_BYTES, RUN_SCALAR, RUN_DENSE, RUN_ZERO_SKIP } from "./network";
import { DATA, DESCRIPTORS, MODEL_COUNT, ARENA_BASE } from "../../build/selftest-data";

// Descriptor fields, int32 per model (mirrors web/selftest-core.ts)
const D_BLOB = 0, D_BLOB_BYTES = 1, D_ARENA_BYTES = 2, D_LAYERS = 3, D_PLAN = 4, D_INPUT = 5, D_N_IN = 6,
  D_OUTPUT = 7, D_N_OUT = 8, D_INPUTS = 9, D_SAMPLES = 10;
const DESCRIPTOR_FIELDS = 11;
// Counter fields of a plan record, int32 index (kernels/wasm/network.ts)
const F_EST_MACS = 24;
const COUNTERS = 4;

const FNV_OFFSET: u32 = 0x811c9dc5;
const FNV_PRIME: u32 = 0x01000193;

// @ts-ignore: decorator
@inline
function fnvByte(h: u32, b: u32): u32 {
  return (h ^ (b & 0xff)) * FNV_PRIME;
}

function fnvI32(h: u32, v: i32): u32 {
  for (let k = 0; k < 4; k++) h = fnvByte(h, <u32>v >>> (k << 3));
  return h;
}

function fnvBytes(h: u32, ptr: usize, n: i32): u32 {
  for (let i = 0; i < n; i++) h = fnvByte(h, load<u8>(ptr + i));
  return h;
}

// @ts-ignore: decorator
@inline
function desc(m: i32, f: i32): i32 {
  return load<i32>(DESCRIPTORS + ((<usize>(m * DESCRIPTOR_FIELDS + f)) << 2));
}

/** Run modes, in checksum order: gated v128, gated scalar, dense v128, dense scalar. */
const MODES: StaticArray<i32> = [0, RUN_SCALAR, RUN_DENSE, RUN_DENSE | RUN_SCALAR, RUN_ZERO_SKIP, RUN_ZERO_SKIP | RUN_SCALAR];

/**
 * FNV-1a over, for every model, sample and mode in order: run_s8's status (i32 LE), the
 * output bytes and each layer's four counters (i32 LE). Traps if the arena would overlap
 * the module's static data.
 */
export function selftest(): i32 {
  if (__heap_base > ARENA_BASE) unreachable();
  let h = FNV_OFFSET;
  for (let m = 0; m < MODEL_COUNT; m++) {
    const arenaEnd = <usize>ARENA_BASE + <usize>desc(m, D_ARENA_BYTES);
    const pages = <i32>((arenaEnd + 0xffff) >>> 16);
    if (memory.size() < pages) {
      if (memory.grow(pages - memory.size()) < 0) unreachable();
    }
    // Model image and plan records
    memory.fill(ARENA_BASE, 0, arenaEnd - ARENA_BASE);
    memory.copy(ARENA_BASE, DATA + <usize>desc(m, D_BLOB), <usize>desc(m, D_BLOB_BYTES));
    const layers = desc(m, D_LAYERS), plan = <usize>desc(m, D_PLAN), nIn = desc(m, D_N_IN);
    for (let s = 0; s < desc(m, D_SAMPLES); s++) {
      memory.copy(<usize>desc(m, D_INPUT), DATA + <usize>desc(m, D_INPUTS) + <usize>(s * nIn), nIn);
      for (let k = 0; k < MODES.length; k++) {
        h = fnvI32(h, run_s8(plan, layers, MODES[k]));
        h = fnvBytes(h, <usize>desc(m, D_OUTPUT), desc(m, D_N_OUT));
        for (let l = 0; l < layers; l++) {
          const rec = plan + <usize>l * PLAN_RECORD_BYTES;
          for (let c = 0; c < COUNTERS; c++) h = fnvI32(h, load<i32>(rec + (<usize>(F_EST_MACS + c) << 2)));
        }
      }
    }
  }
  return <i32>h;
}

/** Number of (model, sample, mode) runs {@link selftest} hashes. */
export function selftestRuns(): i32 {
  let n = 0;
  for (let m = 0; m < MODEL_COUNT; m++) n += desc(m, D_SAMPLES) * MODES.length;
  return n;
}
