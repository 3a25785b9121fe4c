// Profile mode: where one inference's time goes, per layer and stage, on real layer inputs.
// The module has no imports and no clock, so each stage is timed from JS: run_s8 on one layer's
// plan record (whole layer, or RUN_MASK_ONLY for the estimator / gate alone) and the exported
// kernels sparseInput_s8 (listing the input) and requantizeRows_s32 (requantization alone), each
// called `reps` times in a row on the buffers a real inference left in a trace engine; figures are
// medians over samples. Rows = layer − mask stage; requantization is part of rows. Shared by
// `npx rankgate profile` and `npm run bench -- --profile`.
import { performance } from "node:perf_hooks";
import { PLAN_RECORD_BYTES, activationRange, F, RUN, type Engine } from "../../runtime/src/index.ts";

export interface StageTimes {
  /** Estimator or gate, input listing and mask included (0 for an ungated layer). */
  mask: number;
  /** Rows, requantization included: the layer minus its mask stage. */
  rows: number;
  /** The whole layer (one run_s8 on its record). */
  total: number;
}

export interface LayerProfile {
  layer: number;
  nIn: number;
  nOut: number;
  /** "estimator r50", "gate b16" or "dense". */
  kind: string;
  /** Median fraction of inputs that are not the zero point. */
  inputDensity: number;
  /** Median fraction of the 8-input chunks zero skipping keeps. */
  chunkDensity: number;
  /** Median fraction of units the mask computes (1 for a dense layer). */
  computed: number;
  /** µs (medians over samples): the layer gated without and with zero-input skipping, and dense (no mask, no skipping). */
  gated: StageTimes;
  zeroSkip: StageTimes;
  dense: number;
  /** µs: listing the layer's input (sparseInput_s8), part of every stage above. */
  list: number;
  /**
   * µs: requantizing the computed units from their int32 sums with the exported requantizeRows_s32 (scalar,
   * one unit at a time), an upper bound: inside a SIMD run the rows are requantized four at a time
   * (requantizeList, part of "rows"), about half this.
   */
  requantize: number;
}

export interface Profile {
  samples: number;
  reps: number;
  layers: LayerProfile[];
  /** µs per sample, medians over samples: whole inferences (engine.infer, float input) and the input quantization alone (quantize_f32). */
  inference: { gated: number; zeroSkip: number; dense: number; quantize: number };
}

/**
 * The arguments of the quantize_f32 call profileEngine times: the staged float input to the arena's int8 input,
 * per tensor, or per feature (v3) with layer 0's scales and offsets as run_batch_s8 passes them.
 */
export function quantizeArgs(traced: Engine): [number, number, number, number, number, number, number, number] {
  const { kernels: k, arena } = traced.internals;
  const i32 = new Int32Array(k.memory.buffer), r = arena.plan.offset >> 2;
  return [arena.staging!.input.offset, traced.inputSize, traced.inputScale, traced.inputZeroPoint, arena.input.offset, 1, i32[r + F.IN_SCALES], i32[r + F.IN_OFFSETS]];
}

export const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Profiles a model on `count` float samples of x. `traced` is an engine loaded with { trace: true }
 * (every layer keeps its input), `plain` one without (whole-inference times: trace engines do more).
 */
export function profileEngine(traced: Engine, plain: Engine, x: Float32Array, count: number, reps = 20): Profile {
  const { kernels: k, arena } = traced.internals;
  if (!arena.shadow) throw new Error("profileEngine needs an engine loaded with { trace: true }");
  const layers = traced.model.layers;
  const n = traced.inputSize;
  const rec = (l: number) => arena.plan.offset + l * PLAN_RECORD_BYTES;
  const time = (f: () => number) => {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) {
      const status = f();
      if (status < 0) throw new Error(`profile: kernel status ${status}`);
    }
    return ((performance.now() - t0) * 1000) / reps;
  };
  const acc: Record<string, number[]>[] = layers.map(() => ({}));
  const push = (l: number, key: string, v: number) => (acc[l][key] ??= []).push(v);
  const whole: Record<string, number[]> = {};
  for (let s = 0; s < count; s++) {
    const sample = x.subarray(s * n, (s + 1) * n);
    for (const [key, opt] of [["gated", {}], ["zeroSkip", { zeroSkip: true }], ["dense", { gating: false }]] as const) {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) plain.infer(sample, opt);
      (whole[key] ??= []).push(((performance.now() - t0) * 1000) / reps);
    }
    const st = arena.staging!;
    new Float32Array(k.memory.buffer, st.input.offset, n).set(sample);
    const args = quantizeArgs(traced);
    (whole.quantize ??= []).push(time(() => k.quantize_f32(...args)));
    // Every layer's real input in place (trace engine: one buffer per layer)
    traced.infer(sample);
    layers.forEach((layer, l) => {
      const r = rec(l);
      const m = () => new Int32Array(k.memory.buffer);
      const gatedLayer = layer.estimator !== null || !!layer.gate;
      for (const [key, flags] of [["gated", 0], ["zeroSkip", RUN.ZERO_SKIP]] as const) {
        const mask = gatedLayer ? time(() => k.run_s8(r, 1, flags | RUN.MASK_ONLY)) : 0;
        const total = time(() => k.run_s8(r, 1, flags));
        push(l, `${key}.mask`, mask);
        push(l, `${key}.total`, total);
        push(l, `${key}.rows`, total - mask);
      }
      push(l, "dense", time(() => k.run_s8(r, 1, RUN.DENSE)));
      k.run_s8(r, 1, RUN.ZERO_SKIP); // the mask again, for the requantization below
      const f = (field: number) => m()[(r >> 2) + field];
      push(l, "computed", f(F.ROWS_COMPUTED) / layer.nOut);
      const inPtr = f(F.IN);
      const nnz = k.sparseInput_s8(inPtr, layer.nIn, layer.inZeroPoint, arena.scratch.offset, 1);
      push(l, "density", nnz / layer.nIn);
      push(l, "chunks", m()[(arena.scratch.offset >> 2) + 1] / Math.ceil(layer.nIn / 8));
      push(l, "list", time(() => k.sparseInput_s8(inPtr, layer.nIn, layer.inZeroPoint, arena.scratch.offset, 1)));
      const { actMin, actMax } = activationRange(layer);
      push(l, "requantize", time(() => k.requantizeRows_s32(arena.scratch.offset, f(F.BIAS), f(F.MULT), f(F.SHIFT),
        layer.nOut, layer.outZeroPoint, actMin, actMax, gatedLayer ? f(F.MASK) : 0, arena.shadow!.offset)));
    });
  }
  const stage = (l: number, key: string): StageTimes => ({ mask: median(acc[l][`${key}.mask`]), rows: median(acc[l][`${key}.rows`]), total: median(acc[l][`${key}.total`]) });
  return {
    samples: count, reps,
    layers: layers.map((layer, l) => ({
      layer: l, nIn: layer.nIn, nOut: layer.nOut,
      kind: layer.estimator ? `estimator r${layer.estimator.rank}` : layer.gate ? `gate b${layer.gate.blockSize}${layer.gate.topK ? ` top-${layer.gate.topK}` : ""}` : "dense",
      inputDensity: median(acc[l].density), chunkDensity: median(acc[l].chunks), computed: median(acc[l].computed),
      gated: stage(l, "gated"), zeroSkip: stage(l, "zeroSkip"), dense: median(acc[l].dense),
      list: median(acc[l].list), requantize: median(acc[l].requantize),
    })),
    inference: { gated: median(whole.gated), zeroSkip: median(whole.zeroSkip), dense: median(whole.dense), quantize: median(whole.quantize) },
  };
}

/** The profile as table rows (µs; shares of the layer's time), for the CLI and the bench. */
export function profileRows(p: Profile): string[][] {
  const us = (v: number) => v.toFixed(2);
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  return p.layers.map((l) => [
    String(l.layer), `${l.nIn}-${l.nOut}`, l.kind, pct(l.inputDensity), pct(l.chunkDensity), pct(l.computed),
    us(l.dense), us(l.gated.mask), us(l.gated.rows), us(l.gated.total),
    us(l.zeroSkip.mask), us(l.zeroSkip.rows), us(l.zeroSkip.total), us(l.list), us(l.requantize),
  ]);
}

export const PROFILE_HEADER = [
  "layer", "shape", "kind", "input ≠ 0", "chunks kept", "computed", "dense µs", "gated: mask", "rows", "layer",
  "zero-skip: mask", "rows", "layer", "list", "requant",
];
