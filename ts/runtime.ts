// Engine: loads a validated .rgm into one Wasm instance and runs it.
// Ownership: the engine owns its instance and linear memory for its whole life; the model
// image and plan records are written once at load; input, activations, mask and scratch are
// rewritten by every inference; returned arrays are copies the caller owns.
import { planArena, PLAN_RECORD_BYTES, type ArenaPlan } from "./arena.ts";
import { EngineError, InputError } from "./errors.ts";
import { readModel, type ParsedModel } from "./format.ts";
import { activationRange, type QuantModel } from "./model.ts";
import { quantizeInput } from "./quant.ts";
import { instantiateKernels, type KernelExports } from "./wasm.ts";

// Plan record fields, int32 index (mirrors assembly/network.ts)
const F = {
  N_IN: 0, N_OUT: 1, RANK: 2, IN_ZP: 3, OUT_ZP: 4, ACT_MIN: 5, ACT_MAX: 6, T_MAX: 7,
  IN: 8, OUT: 9, W: 10, BIAS: 11, MULT: 12, SHIFT: 13, A: 14, T_MULT: 15, T_SHIFT: 16, B: 17, THR: 18,
  MASK: 19, SCRATCH: 20, SHADOW: 21, EST_MACS: 24, ROW_MACS: 25, ROWS_COMPUTED: 26, ROWS_SKIPPED: 27,
  NONZERO_IN: 28, POSITIVE: 29, POSITIVE_COMPUTED: 30,
} as const;
const RUN_SCALAR = 1;
const RUN_DENSE = 2;
const RUN_TRACE = 4;

export interface RunOptions {
  /** Use each layer's estimator to skip rows (default true); false runs the dense baseline. */
  gating?: boolean;
  /** v128 kernels (default true); false runs the scalar kernels, bit-identical. */
  simd?: boolean;
}

export interface LayerStats {
  estimatorMacs: number;
  rowMacs: number;
  rowsComputed: number;
  rowsSkipped: number;
  /** Trace engines only (else 0): inputs that are not the zero point (real non-zero). */
  nonzeroInputs: number;
  /** Trace engines only: units whose exact output is above the zero point (real positive). */
  positive: number;
  /** Trace engines only: positive units the mask computed (all of them for a dense layer). */
  positiveComputed: number;
}

/** One sample's execution, from a trace engine: every layer's input and mask. */
export interface Trace {
  /** inputs[l]: layer l's int8 input (inputs[0] is the quantized sample). */
  inputs: Int8Array[];
  /** masks[l]: the rows layer l computed, or null where it ran dense. */
  masks: (Uint32Array | null)[];
  output: Int8Array;
}

export interface InferStats {
  layers: LayerStats[];
  estimatorMacs: number;
  rowMacs: number;
  totalMacs: number;
}

/** Counters of zero samples, to sum into with {@link addStats}. */
export function emptyStats(layers: number): InferStats {
  return {
    layers: Array.from({ length: layers }, () => ({ estimatorMacs: 0, rowMacs: 0, rowsComputed: 0, rowsSkipped: 0, nonzeroInputs: 0, positive: 0, positiveComputed: 0 })),
    estimatorMacs: 0, rowMacs: 0, totalMacs: 0,
  };
}

/** into += s, layer by layer; returns into. */
export function addStats(into: InferStats, s: InferStats): InferStats {
  s.layers.forEach((x, l) => {
    const y = into.layers[l];
    for (const k of Object.keys(x) as (keyof LayerStats)[]) y[k] += x[k];
  });
  into.estimatorMacs += s.estimatorMacs;
  into.rowMacs += s.rowMacs;
  into.totalMacs += s.totalMacs;
  return into;
}

export interface InferResult {
  /** Quantized logits (scale, zero point: engine.outputScale, engine.outputZeroPoint). */
  logits: Int8Array;
  /** Index of the largest logit, the first on ties. */
  label: number;
  stats: InferStats;
}

export interface BatchResult {
  /** [count][outputSize] quantized logits. */
  logits: Int8Array;
  labels: Int32Array;
  /** Counters summed over the batch. */
  stats: InferStats;
}

export interface LoadOptions extends RunOptions {
  /** A compiled build/rankgate.wasm (browsers); Node loads it from disk by default. */
  wasm?: WebAssembly.Module;
  /** Keep every layer's buffers and count trace statistics (LayerStats.nonzeroInputs …, lastTrace). */
  trace?: boolean;
}

export class Engine {
  private readonly i32: Int32Array;
  private readonly i8: Int8Array;
  private readonly defaults: Required<RunOptions>;
  private lastGating = true;

  private constructor(
    readonly parsed: ParsedModel,
    readonly arena: ArenaPlan,
    private readonly kernels: KernelExports,
    defaults: RunOptions,
  ) {
    this.defaults = { gating: defaults.gating ?? true, simd: defaults.simd ?? true };
    this.i32 = new Int32Array(kernels.memory.buffer);
    this.i8 = new Int8Array(kernels.memory.buffer);
  }

  /** Validates the model (FormatError on any problem), plans the arena and grows memory once. */
  static async load(bytes: Uint8Array, options: LoadOptions = {}): Promise<Engine> {
    const parsed = readModel(bytes);
    const kernels = await instantiateKernels(options.wasm);
    const arena = planArena(parsed.model, parsed.image.length, kernels.heapBase(), { trace: options.trace });
    if (kernels.PLAN_RECORD_BYTES.value !== PLAN_RECORD_BYTES) {
      throw new Error(`build/rankgate.wasm plan record is ${kernels.PLAN_RECORD_BYTES.value} bytes, runtime expects ${PLAN_RECORD_BYTES}: rebuild`);
    }
    const have = kernels.memory.buffer.byteLength / 65536;
    if (arena.pages > have) kernels.memory.grow(arena.pages - have);
    new Uint8Array(kernels.memory.buffer).set(parsed.image, arena.model.offset);
    const engine = new Engine(parsed, arena, kernels, options);
    engine.writePlan();
    return engine;
  }

  /** Bytes of linear memory the instance holds (fixed after load). */
  get memoryBytes(): number {
    return this.kernels.memory.buffer.byteLength;
  }
  get model(): QuantModel {
    return this.parsed.model;
  }
  get inputSize(): number {
    return this.model.layers[0].nIn;
  }
  get outputSize(): number {
    return this.model.layers[this.model.layers.length - 1].nOut;
  }
  get inputScale(): number {
    return this.model.layers[0].inScale;
  }
  get inputZeroPoint(): number {
    return this.model.layers[0].inZeroPoint;
  }
  get outputScale(): number {
    return this.model.layers[this.model.layers.length - 1].outScale;
  }
  get outputZeroPoint(): number {
    return this.model.layers[this.model.layers.length - 1].outZeroPoint;
  }

  private writePlan(): void {
    this.i32.set(planRecords(this.parsed, this.arena), this.arena.plan.offset >> 2);
  }

  /** Checks type and length and writes one sample into the input buffer. */
  private writeInput(input: Float32Array | Int8Array, offset: number, what: string): void {
    const n = this.inputSize;
    const dst = this.i8.subarray(this.arena.input.offset, this.arena.input.offset + n);
    if (input instanceof Int8Array) dst.set(input.subarray(offset, offset + n));
    else quantizeInput(input.subarray(offset, offset + n), this.inputScale, this.inputZeroPoint, dst, what);
  }

  private checkInput(input: unknown, perSample: boolean): asserts input is Float32Array | Int8Array {
    const n = this.inputSize;
    if (!(input instanceof Float32Array || input instanceof Int8Array)) {
      const got = input === null ? "null" : typeof input === "object" ? (input as object).constructor?.name ?? "object" : typeof input;
      throw new InputError(`input must be a Float32Array (real values) or an Int8Array (quantized), got ${got}`);
    }
    const kind = input.constructor.name;
    if (perSample && input.length !== n) throw new InputError(`input ${kind} has length ${input.length}, expected ${n}`);
    if (!perSample && (input.length === 0 || input.length % n !== 0)) {
      throw new InputError(`batch ${kind} has length ${input.length}, expected a positive multiple of ${n}`);
    }
  }

  private run(options: RunOptions): void {
    const gating = options.gating ?? this.defaults.gating;
    const simd = options.simd ?? this.defaults.simd;
    this.lastGating = gating;
    const flags = (gating ? 0 : RUN_DENSE) | (simd ? 0 : RUN_SCALAR) | (this.arena.shadow ? RUN_TRACE : 0);
    const status = this.kernels.run_s8(this.arena.plan.offset, this.model.layers.length, flags);
    if (status !== 0) throw new EngineError(status, "run_s8");
  }

  private readStats(into?: InferStats): InferStats {
    const stats = into ?? emptyStats(this.model.layers.length);
    const traced = this.arena.shadow !== null;
    this.model.layers.forEach((_, l) => {
      const r = (this.arena.plan.offset + l * PLAN_RECORD_BYTES) >> 2;
      const s = stats.layers[l];
      const est = this.i32[r + F.EST_MACS], rows = this.i32[r + F.ROW_MACS];
      s.estimatorMacs += est;
      s.rowMacs += rows;
      s.rowsComputed += this.i32[r + F.ROWS_COMPUTED];
      s.rowsSkipped += this.i32[r + F.ROWS_SKIPPED];
      if (traced) {
        s.nonzeroInputs += this.i32[r + F.NONZERO_IN];
        s.positive += this.i32[r + F.POSITIVE];
        s.positiveComputed += this.i32[r + F.POSITIVE_COMPUTED];
      }
      stats.estimatorMacs += est;
      stats.rowMacs += rows;
      stats.totalMacs += est + rows;
    });
    return stats;
  }

  private outputView(): Int8Array {
    const off = this.arena.outputs[this.model.layers.length - 1].offset;
    return this.i8.subarray(off, off + this.outputSize);
  }

  /** Copies of every layer's input and mask from the last inference (engines loaded with trace: true). */
  lastTrace(): Trace {
    if (!this.arena.shadow) throw new InputError("lastTrace() needs an engine loaded with { trace: true }");
    const { arena, i8 } = this;
    const layers = this.model.layers;
    const u32 = new Uint32Array(this.kernels.memory.buffer);
    return {
      inputs: layers.map((l, i) => {
        const off = i === 0 ? arena.input.offset : arena.outputs[i - 1].offset;
        return i8.slice(off, off + l.nIn);
      }),
      masks: layers.map((l, i) => (this.lastGating && l.estimator ? u32.slice(arena.masks[i].offset >> 2, (arena.masks[i].offset >> 2) + Math.ceil(l.nOut / 32)) : null)),
      output: this.outputView().slice(),
    };
  }

  /** One sample: Float32Array of real values (quantized with the model's input scale) or Int8Array. */
  infer(input: Float32Array | Int8Array, options: RunOptions = {}): InferResult {
    this.checkInput(input, true);
    this.writeInput(input, 0, "input");
    this.run(options);
    const logits = this.outputView().slice();
    return { logits, label: argmax(logits), stats: this.readStats() };
  }

  /** `count` samples laid end to end; counters are summed over the batch. */
  inferBatch(inputs: Float32Array | Int8Array, options: RunOptions = {}): BatchResult {
    this.checkInput(inputs, false);
    const n = this.inputSize, m = this.outputSize, count = inputs.length / n;
    const logits = new Int8Array(count * m);
    const labels = new Int32Array(count);
    let stats: InferStats | undefined;
    for (let i = 0; i < count; i++) {
      this.writeInput(inputs, i * n, `inputs[${i}]`);
      this.run(options);
      const out = this.outputView();
      logits.set(out, i * m);
      labels[i] = argmax(out);
      stats = this.readStats(stats);
    }
    return { logits, labels, stats: stats! };
  }
}

/**
 * The plan records run_s8 reads (PLAN_RECORD_BYTES per layer, int32 fields as assembly/network.ts),
 * with absolute offsets into an arena laid out by planArena. Engine.load writes them at arena.plan;
 * the selftest module (tools/build-selftest.ts) embeds them.
 */
export function planRecords(parsed: ParsedModel, arena: ArenaPlan): Int32Array {
  const layers = parsed.model.layers;
  const i32 = new Int32Array((layers.length * PLAN_RECORD_BYTES) >> 2);
  const section = new Map(parsed.sections.map((s) => [`${s.layer}.${s.name}`, arena.model.offset + s.offset]));
  layers.forEach((layer, l) => {
    const r = (l * PLAN_RECORD_BYTES) >> 2;
    const at = (name: string) => section.get(`${l}.${name}`) ?? 0;
    const { actMin, actMax } = activationRange(layer);
    const fields: [number, number][] = [
      [F.N_IN, layer.nIn], [F.N_OUT, layer.nOut], [F.RANK, layer.estimator?.rank ?? 0],
      [F.IN_ZP, layer.inZeroPoint], [F.OUT_ZP, layer.outZeroPoint], [F.ACT_MIN, actMin], [F.ACT_MAX, actMax],
      [F.T_MAX, layer.estimator?.tMax ?? 0],
      [F.IN, l === 0 ? arena.input.offset : arena.outputs[l - 1].offset],
      [F.OUT, arena.outputs[l].offset],
      [F.W, at("weights")], [F.BIAS, at("bias")], [F.MULT, at("multiplier")], [F.SHIFT, at("shift")],
      [F.A, at("est_a")], [F.T_MULT, at("est_t_multiplier")], [F.T_SHIFT, at("est_t_shift")],
      [F.B, at("est_b")], [F.THR, at("est_threshold")],
      [F.MASK, arena.masks[l].offset], [F.SCRATCH, arena.scratch.offset], [F.SHADOW, arena.shadow?.offset ?? 0],
    ];
    for (const [f, v] of fields) i32[r + f] = v;
  });
  return i32;
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}
