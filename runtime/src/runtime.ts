// Engine: loads a validated .rgm into one Wasm instance and runs it.
// Ownership: the engine owns its instance and linear memory for its whole life; the model
// image, the estimators' pair layouts (SIMD build) and plan records are written once at load; the staging buffers, input, activations,
// mask, scratch and the records' counters are rewritten by every inference; returned arrays
// are copies the caller owns.
import { planArena, PLAN_RECORD_BYTES, type ArenaPlan } from "./arena.ts";
import { optionsArg, quantModelArg, typedArrayArg, describeArg } from "./args.ts";
import { EngineError, InputError } from "./errors.ts";
import { showName } from "./show.ts";
import { readModel, writeModel, type ParsedModel } from "./format.ts";
import { activationRange, type InputFeatures, type QuantModel } from "./model.ts";
import { pairLayout_s8, pairLayoutA_s8, requantLayout_s32 } from "./reference.ts";
import { buildOf, checkChoice, instantiateKernels, type KernelExports, type WasmBuild, type WasmChoice } from "./wasm.ts";

// Plan record fields, int32 index (mirrors kernels/wasm/network.ts)
export const F = {
  N_IN: 0, N_OUT: 1, RANK: 2, IN_ZP: 3, OUT_ZP: 4, ACT_MIN: 5, ACT_MAX: 6, T_MAX: 7,
  IN: 8, OUT: 9, W: 10, BIAS: 11, MULT: 12, SHIFT: 13, A: 14, T_MULT: 15, T_SHIFT: 16, B: 17, THR: 18,
  MASK: 19, SCRATCH: 20, SHADOW: 21, GATE_BLOCKS: 22, GATE_SIZE: 23, EST_MACS: 24, ROW_MACS: 25, ROWS_COMPUTED: 26, ROWS_SKIPPED: 27,
  NONZERO_IN: 28, POSITIVE: 29, POSITIVE_COMPUTED: 30, GATE_W: 31, GATE_THR: 32,
  /** Layer 0 of a v3 model: absolute offsets of the per-feature input scales and offsets (0: per tensor). */
  IN_SCALES: 33, IN_OFFSETS: 34,
  /** Block gate: 0 threshold gate, k > 0 the k top-scoring blocks (format v4). */
  GATE_TOP_K: 35,
  /** The estimator's second factor in the pair layout (arena.pairs; 0: the SIMD kernels read B). */
  B_PAIRS: 60,
  /** The estimator's first factor in the pair layout and its pair list (arena.pairs; 0: chunked rows over A). */
  A_PAIRS: 61, PAIR_LIST: 62,
  /** The layer's requantization parameters, packed (arena.requant; 0: the SIMD kernels gather bias, multiplier and shift). */
  REQUANT: 63,
  /** The estimator's t requantization parameters, packed (arena.pairs' tOffset; 0: the kernels read t_multiplier and t_shift). */
  T_REQUANT: 59,
  /** run_batch_s8's int64 sums of EST_MACS … POSITIVE_COMPUTED, two int32 fields each. */
  SUMS: 40,
} as const;
/** run_s8 / run_batch_s8 flags (mirrors kernels/wasm/network.ts). */
export const RUN = { SCALAR: 1, DENSE: 2, TRACE: 4, ZERO_SKIP: 8, MASK_ONLY: 16, F32_INPUT: 32 } as const;
/** kernels/wasm/status.ts STATUS_NOT_FINITE (errors.ts STATUS_NAMES has every code). */
const STATUS_NOT_FINITE = -3;

export interface RunOptions {
  /** Use each layer's estimator or block gate to skip rows (default true); false runs the dense baseline. */
  gating?: boolean;
  /** v128 kernels (default true); false runs the scalar kernels, bit-identical. */
  simd?: boolean;
  /**
   * Skip zero inputs (default false, so counters are whole-row MACs as eval and sim report them; true is
   * the fastest schedule, `npm run bench`): every dot product of a layer (estimator or gate first stage,
   * rows) runs only over the 8-input chunks of its input that hold a non-zero value. Same outputs;
   * the MAC counters then count the chunks' inputs (docs/ARCHITECTURE.md, "Counters").
   */
  zeroSkip?: boolean;
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
  /** A compiled build/rankgate.wasm or build/rankgate-mvp.wasm (browsers); Node loads one from disk by default. */
  wasm?: WebAssembly.Module;
  /**
   * Which build runs (Node; with `wasm`, the build it must be): "simd" (build/rankgate.wasm), "mvp"
   * (build/rankgate-mvp.wasm, WebAssembly 1.0 only), or "auto" (default): "simd" where the host's
   * WebAssembly.validate accepts the SIMD module, else "mvp". Same outputs and counters; `engine.module` says which runs.
   */
  module?: WasmChoice;
  /** Keep every layer's buffers and count trace statistics (LayerStats.nonzeroInputs …, lastTrace). */
  trace?: boolean;
}

const RUN_KEYS = ["gating", "simd", "zeroSkip"] as const;

/** LoadOptions checked field by field (read once); the wasm module must be a real WebAssembly.Module. */
function loadOptionsArg(v: unknown, name: string): LoadOptions {
  const o: LoadOptions = optionsArg(v, [...RUN_KEYS, "trace"], name);
  const wasm = v === undefined ? undefined : (v as LoadOptions).wasm;
  if (wasm !== undefined && !(wasm instanceof WebAssembly.Module)) throw new InputError(`${name}.wasm must be a WebAssembly.Module, got ${describeArg(wasm)}`);
  if (wasm !== undefined) o.wasm = kernelModuleArg(wasm, `${name}.wasm`);
  const module = v === undefined ? undefined : (v as LoadOptions).module;
  if (module !== undefined) o.module = checkChoice(module);
  return o;
}

// Every export the engine and its profile use, with its kind (FEATURE_SIMD is optional: builds before it are "simd")
const KERNEL_EXPORTS: Record<string, WebAssembly.ImportExportKind> = {
  memory: "memory", heapBase: "function", run_batch_s8: "function", run_s8: "function", run_s8_scratchBytes: "function",
  sparseInput_s8: "function", requantizeRows_s32: "function", denseRows_s8: "function", gatedRows_s8: "function", estimateSign_s8: "function",
  blockGate_s8: "function", quantize_f32: "function", requantize_s32: "function", maskCount: "function",
  PLAN_RECORD_BYTES: "global", RUN_SCALAR: "global", RUN_DENSE: "global", RUN_TRACE: "global",
};

/** A WebAssembly.Module that is a rankgate build: no imports and every kernel export; else an InputError naming what differs. */
function kernelModuleArg(m: WebAssembly.Module, name: string): WebAssembly.Module {
  const imports = WebAssembly.Module.imports(m);
  if (imports.length > 0) throw new InputError(`${name} is not a rankgate build: it imports ${showName(`${imports[0].module}.${imports[0].name}`)} (rankgate's module imports nothing)`);
  const kinds = new Map(WebAssembly.Module.exports(m).map((e) => [e.name, e.kind]));
  for (const [key, kind] of Object.entries(KERNEL_EXPORTS)) {
    const got = kinds.get(key);
    if (got !== kind) throw new InputError(`${name} is not a rankgate build: export ${key} ${got === undefined ? "is missing" : `is a ${got}, expected a ${kind}`}`);
  }
  return m;
}

export class Engine {
  private readonly i32: Int32Array;
  private readonly u32: Uint32Array;
  private readonly f32: Float32Array;
  private readonly i8: Int8Array;
  private readonly defaults: Required<RunOptions>;
  private lastGating = true;

  private constructor(
    readonly parsed: ParsedModel,
    readonly arena: ArenaPlan,
    private readonly kernels: KernelExports,
    defaults: LoadOptions,
  ) {
    this.defaults = { gating: defaults.gating ?? true, simd: defaults.simd ?? true, zeroSkip: defaults.zeroSkip ?? false };
    // Memory grew once, before this constructor: the views stay valid for the engine's life
    this.i32 = new Int32Array(kernels.memory.buffer);
    this.u32 = new Uint32Array(kernels.memory.buffer);
    this.f32 = new Float32Array(kernels.memory.buffer);
    this.i8 = new Int8Array(kernels.memory.buffer);
  }

  /** Validates the model (FormatError on any problem), plans the arena and grows memory once. */
  static async load(bytes: Uint8Array, options: LoadOptions = {}): Promise<Engine> {
    // Type before size: a look-alike { length: 2e8 } is refused before anything is allocated
    const file = typedArrayArg(bytes, ["Uint8Array"], "Engine.load: bytes");
    return Engine.fromParsed(readModel(file), loadOptionsArg(options, "Engine.load: options"));
  }

  /** An engine for an in-memory model: written and read back through the .rgm format, so it is validated like a file. */
  static async fromModel(model: QuantModel, options: LoadOptions = {}): Promise<Engine> {
    const checked = quantModelArg(model, "Engine.fromModel: model");
    return Engine.fromParsed(readModel(writeModel(checked), "Engine.fromModel: model"), loadOptionsArg(options, "Engine.fromModel: options"));
  }

  private static async fromParsed(parsed: ParsedModel, options: LoadOptions): Promise<Engine> {
    const kernels = await instantiateKernels(options.wasm, options.module ?? "auto");
    const simd = buildOf(kernels) === "simd";
    const arena = planArena(parsed.model, parsed.image.length, kernels.heapBase(), { trace: options.trace, batch: true, pairs: simd });
    if (kernels.PLAN_RECORD_BYTES.value !== PLAN_RECORD_BYTES) {
      throw new Error(`build/rankgate.wasm plan record is ${kernels.PLAN_RECORD_BYTES.value} bytes, runtime expects ${PLAN_RECORD_BYTES}: rebuild`);
    }
    const have = kernels.memory.buffer.byteLength / 65536;
    if (arena.pages > have) kernels.memory.grow(arena.pages - have);
    new Uint8Array(kernels.memory.buffer).set(parsed.image, arena.model.offset);
    parsed.model.layers.forEach((l, i) => {
      const rq = arena.requant?.[i];
      if (rq) new Int32Array(kernels.memory.buffer).set(requantLayout_s32(l.bias, l.multiplier, l.shift), rq.offset >> 2);
      const at = arena.pairs?.[i];
      if (!at || !l.estimator) return;
      const mem = new Int8Array(kernels.memory.buffer);
      mem.set(pairLayout_s8(l.estimator.b, l.estimator.rank, l.nOut), at.offset);
      mem.set(pairLayoutA_s8(l.estimator.a, l.estimator.rank, l.nIn), at.aOffset);
      const { rank, tMultiplier, tShift } = l.estimator;
      new Int32Array(kernels.memory.buffer).set(requantLayout_s32(new Int32Array(rank), tMultiplier, tShift), at.tOffset >> 2);
    });
    const engine = new Engine(parsed, arena, kernels, options);
    engine.writePlan();
    return engine;
  }

  /** The build running: "simd" (build/rankgate.wasm) or "mvp" (build/rankgate-mvp.wasm). On "mvp", `simd: true` runs the scalar kernels. */
  get module(): WasmBuild {
    return buildOf(this.kernels);
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
  /** Layer 0's input scale; with per-feature input quantization (inputFeatures) the scale of the folded layer 0's input. */
  get inputScale(): number {
    return this.model.layers[0].inScale;
  }
  /** Per-feature input scales and offsets (format v3), or null: every feature at inputScale, offset 0. */
  get inputFeatures(): InputFeatures | null {
    return this.model.inputFeatures ?? null;
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

  /**
   * A fresh view of a real Float32Array or Int8Array's bytes (never a Proxy, a look-alike or an own
   * `length`), of one sample or a positive whole number of samples; else an InputError naming `name`.
   */
  private checkInput(input: unknown, perSample: boolean, name: string): Float32Array | Int8Array {
    const n = this.inputSize;
    const x = typedArrayArg(input, ["Float32Array", "Int8Array"], `${name} (real values: Float32Array; quantized: Int8Array)`);
    const kind = x instanceof Float32Array ? "Float32Array" : "Int8Array";
    if (perSample && x.length !== n) throw new InputError(`${name}: ${kind} of length ${x.length}, expected ${n} (one sample)`);
    if (!perSample && (x.length === 0 || x.length % n !== 0)) {
      throw new InputError(`${name}: ${kind} of length ${x.length}, expected one flat array of a positive multiple of ${n} (samples end to end)`);
    }
    return x;
  }

  /** run_s8 flags for these options (RUN_TRACE on trace engines). */
  runFlags(options: RunOptions = {}): number {
    return this.flagsOf(optionsArg(options, RUN_KEYS, "options"));
  }

  /** runFlags for options optionsArg has already read. */
  private flagsOf(options: RunOptions): number {
    const gating = options.gating ?? this.defaults.gating;
    const simd = options.simd ?? this.defaults.simd;
    const zeroSkip = options.zeroSkip ?? this.defaults.zeroSkip;
    return (gating ? 0 : RUN.DENSE) | (simd ? 0 : RUN.SCALAR) | (zeroSkip ? RUN.ZERO_SKIP : 0) | (this.arena.shadow ? RUN.TRACE : 0);
  }

  /**
   * The engine's instance and arena, for tools that time single kernels on its real buffers
   * (bench/profile.ts). Writing into the arena outside the staging buffers breaks the engine.
   */
  get internals(): { kernels: KernelExports; arena: ArenaPlan } {
    return { kernels: this.kernels, arena: this.arena };
  }

  /**
   * Runs `count` samples staged at staging.input (float32 when f32, else int8) in one run_batch_s8
   * call; logits and labels land in staging. A non-finite input is an InputError naming it.
   */
  private runStaged(count: number, f32: boolean, flags: number, batch: boolean, src: Float32Array, first: number): void {
    this.lastGating = (flags & RUN.DENSE) === 0;
    const st = this.arena.staging!;
    const n = this.inputSize;
    // One sample (or a trace engine): the plan's own buffers; else the batch runs layer by layer in staging
    const act = count === 1 ? 0 : st.activations.offset;
    const status = this.kernels.run_batch_s8(this.arena.plan.offset, this.model.layers.length, flags | (f32 ? RUN.F32_INPUT : 0),
      st.input.offset, f32 ? 4 * n : n, count, this.inputScale, st.logits.offset, st.labels.offset, act);
    if (status === STATUS_NOT_FINITE) {
      const at = src.subarray(first * n, (first + count) * n).findIndex((v) => !Number.isFinite(v));
      const s = Math.floor(at / n), v = src[first * n + at];
      throw new InputError(`${batch ? `inputs[${first + s}]` : "input"}[${at - s * n}] is ${v}; inputs must be finite numbers`);
    }
    if (status !== 0) throw new EngineError(status, "run_batch_s8");
  }

  /**
   * run_batch_s8's int64 counter sums as a fresh InferStats, added to `into` when given. One plain loop over
   * the records, each layer's object built whole from locals: this runs once per infer call (0.6 → 0.1 µs).
   */
  private readStats(into?: InferStats): InferStats {
    const { u32, i32 } = this;
    const trace = this.arena.shadow !== null ? 1 : 0;
    const n = this.parsed.model.layers.length;
    const layers = new Array<LayerStats>(n);
    let est = 0, rows = 0;
    for (let l = 0, r = (this.arena.plan.offset >> 2) + F.SUMS; l < n; l++, r += PLAN_RECORD_BYTES >> 2) {
      const e = u32[r] + i32[r + 1] * 4294967296, w = u32[r + 2] + i32[r + 3] * 4294967296;
      layers[l] = {
        estimatorMacs: e, rowMacs: w, rowsComputed: u32[r + 4] + i32[r + 5] * 4294967296, rowsSkipped: u32[r + 6] + i32[r + 7] * 4294967296,
        nonzeroInputs: trace * (u32[r + 8] + i32[r + 9] * 4294967296), positive: trace * (u32[r + 10] + i32[r + 11] * 4294967296),
        positiveComputed: trace * (u32[r + 12] + i32[r + 13] * 4294967296),
      };
      est += e;
      rows += w;
    }
    const stats: InferStats = { layers, estimatorMacs: est, rowMacs: rows, totalMacs: est + rows };
    return into ? addStats(into, stats) : stats;
  }

  private outputView(): Int8Array {
    const off = this.arena.outputs[this.model.layers.length - 1].offset;
    return this.i8.subarray(off, off + this.outputSize);
  }

  /** Copies of every layer's input and mask from the last inference (engines loaded with trace: true). */
  lastTrace(): Trace {
    if (!this.arena.shadow) throw new InputError("lastTrace() needs an engine loaded with { trace: true }");
    const { arena, i8, u32 } = this;
    const layers = this.model.layers;
    return {
      inputs: layers.map((l, i) => {
        const off = i === 0 ? arena.input.offset : arena.outputs[i - 1].offset;
        return i8.slice(off, off + l.nIn);
      }),
      masks: layers.map((l, i) => (this.lastGating && (l.estimator || l.gate) ? u32.slice(arena.masks[i].offset >> 2, (arena.masks[i].offset >> 2) + Math.ceil(l.nOut / 32)) : null)),
      output: this.outputView().slice(),
    };
  }

  /** One sample: Float32Array of real values (quantized in Wasm with the model's input scale, or per feature) or Int8Array (already quantized). */
  infer(input: Float32Array | Int8Array, options: RunOptions = {}): InferResult {
    input = this.checkInput(input, true, "infer: input");
    const flags = this.flagsOf(optionsArg(options, RUN_KEYS, "infer: options"));
    const f32 = this.stage(input, 0, 1);
    this.runStaged(1, f32, flags, false, input as Float32Array, 0);
    const st = this.arena.staging!;
    const logits = this.i8.slice(st.logits.offset, st.logits.offset + this.outputSize);
    return { logits, label: this.i32[st.labels.offset >> 2], stats: this.readStats() };
  }

  /**
   * `count` samples laid end to end, run_batch_s8 calls of up to BATCH_SAMPLES (one sample per call on
   * trace engines, so lastTrace is the last sample's); counters are summed over the batch.
   */
  inferBatch(inputs: Float32Array | Int8Array, options: RunOptions = {}): BatchResult {
    inputs = this.checkInput(inputs, false, "inferBatch: inputs");
    const flags = this.flagsOf(optionsArg(options, RUN_KEYS, "inferBatch: options"));
    const n = this.inputSize, m = this.outputSize, count = inputs.length / n;
    const logits = new Int8Array(count * m);
    const labels = new Int32Array(count);
    const st = this.arena.staging!;
    let stats: InferStats | undefined;
    const step = this.arena.shadow ? 1 : st.samples;
    for (let first = 0; first < count; first += step) {
      const k = Math.min(step, count - first);
      const f32 = this.stage(inputs, first, k);
      this.runStaged(k, f32, flags, true, inputs as Float32Array, first);
      logits.set(this.i8.subarray(st.logits.offset, st.logits.offset + k * m), first * m);
      labels.set(this.i32.subarray(st.labels.offset >> 2, (st.labels.offset >> 2) + k), first);
      stats = this.readStats(stats);
    }
    return { logits, labels, stats: stats! };
  }

  /** Copies samples [first, first + k) into the staging input; true when they are float32. */
  private stage(x: Float32Array | Int8Array, first: number, k: number): boolean {
    const n = this.inputSize, at = this.arena.staging!.input.offset;
    // One whole sample (infer): no subarray
    const part = k * n === x.length ? x : x.subarray(first * n, (first + k) * n);
    if (x instanceof Int8Array) {
      this.i8.set(part, at);
      return false;
    }
    this.f32.set(part, at >> 2);
    return true;
  }
}

/**
 * The plan records run_s8 reads (PLAN_RECORD_BYTES per layer, int32 fields as kernels/wasm/network.ts),
 * with absolute offsets into an arena laid out by planArena. Engine.load writes them at arena.plan;
 * the selftest module (web/build-selftest.ts) embeds them.
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
      [F.GATE_BLOCKS, layer.gate?.blocks ?? 0], [F.GATE_SIZE, layer.gate?.blockSize ?? 0],
      [F.GATE_W, at("gate_weights")], [F.GATE_THR, at("gate_threshold")],
      [F.IN_SCALES, at("in_scales")], [F.IN_OFFSETS, at("in_offsets")], [F.GATE_TOP_K, layer.gate?.topK ?? 0],
      [F.B_PAIRS, arena.pairs?.[l]?.offset ?? 0], [F.A_PAIRS, arena.pairs?.[l]?.aOffset ?? 0], [F.PAIR_LIST, arena.pairs?.[l]?.listOffset ?? 0],
      [F.REQUANT, arena.requant?.[l]?.offset ?? 0], [F.T_REQUANT, arena.pairs?.[l]?.tOffset ?? 0],
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
