// Jobs for the C embedding hosts (test/wasm-hosts/*.c, format in host-common.h): an Engine's arena
// image (model image, plan records and, on the SIMD build, the pair layouts, exactly as Engine.load wrote them) and its run_batch_s8
// calls over some samples, so a host in any runtime runs the engine as runtime/src/runtime.ts does. runJob
// is the same host in JavaScript (any WebAssembly.Module, e.g. Node's), for the expected bytes.
import { PLAN_RECORD_BYTES } from "../runtime/src/arena.ts";
import { RUN, type Engine, type RunOptions } from "../runtime/src/runtime.ts";

export interface JobCall {
  inputAt: number;
  input: Uint8Array;
  /** run_batch_s8's i32 arguments but scale: plan, layers, flags, src, stride, count, out, labels, act. */
  args: [number, number, number, number, number, number, number, number, number];
  /**
   * Layer 0's input scale (Engine.inputScale). A format v3 model's per-feature scales and offsets need nothing
   * here: they are sections of the model image, and layer 0's plan record (in the image) holds their addresses.
   */
  scale: number;
  /** Memory ranges [at, bytes) written out after the call. */
  dumps: [number, number][];
}

export interface Job {
  pages: number;
  heapBase: number;
  imageAt: number;
  image: Uint8Array;
  calls: JobCall[];
}

/**
 * The job that runs `samples` (float32, inputSize each, quantized in Wasm as Engine does) through
 * `engine` in run_batch_s8 calls of up to its staging size, dumping logits, labels and the plan
 * records (with their counter sums) after each call. Take it before the engine has run anything.
 */
export function engineJob(engine: Engine, samples: Float32Array, options: RunOptions = {}): Job {
  const { kernels, arena } = engine.internals;
  const st = arena.staging!;
  const n = engine.inputSize, m = engine.outputSize, layers = engine.model.layers.length;
  // The persistent regions: the model image, the plan records, the pair layouts and packed requantization parameters (SIMD build), in that order
  const last = arena.requant?.at(-1) ?? arena.pairs?.filter((p) => p !== null).at(-1) ?? arena.plan;
  const planEnd = last.offset + last.bytes;
  if (arena.model.offset >= arena.plan.offset || last.offset < arena.plan.offset) throw new Error("engineJob: expected the model image, the plan records, then the pair layouts and requantization parameters");
  const image = new Uint8Array(kernels.memory.buffer, arena.model.offset, planEnd - arena.model.offset).slice();
  const count = samples.length / n;
  const calls: JobCall[] = [];
  for (let first = 0; first < count; first += st.samples) {
    const k = Math.min(st.samples, count - first);
    const part = samples.slice(first * n, (first + k) * n);
    calls.push({
      inputAt: st.input.offset,
      input: new Uint8Array(part.buffer),
      args: [arena.plan.offset, layers, engine.runFlags(options) | RUN.F32_INPUT, st.input.offset, 4 * n, k, st.logits.offset, st.labels.offset,
        k === 1 ? 0 : st.activations.offset],
      scale: engine.inputScale,
      dumps: [[st.logits.offset, k * m], [st.labels.offset, 4 * k], [arena.plan.offset, layers * PLAN_RECORD_BYTES]],
    });
  }
  return { pages: arena.pages, heapBase: kernels.heapBase(), imageAt: arena.model.offset, image, calls };
}

export function encodeJob(job: Job): Uint8Array {
  const parts: Uint8Array[] = [new TextEncoder().encode("RGJOB001")];
  const u32 = (...v: number[]) => parts.push(new Uint8Array(Uint32Array.from(v.map((x) => x >>> 0)).buffer));
  const bytes = (b: Uint8Array) => {
    parts.push(b);
    if (b.length % 4) parts.push(new Uint8Array(4 - (b.length % 4)));
  };
  u32(job.pages, job.heapBase, job.imageAt, job.image.length);
  bytes(job.image);
  u32(job.calls.length);
  for (const c of job.calls) {
    u32(c.inputAt, c.input.length);
    bytes(c.input);
    u32(...c.args);
    parts.push(new Uint8Array(Float64Array.of(c.scale).buffer));
    u32(c.dumps.length);
    for (const [at, n] of c.dumps) u32(at, n);
  }
  const out = new Uint8Array(parts.reduce((t, p) => t + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The hosts' output for `job`, computed by an instance of `module` in this JavaScript engine. */
export async function runJob(module: WebAssembly.Module, job: Job): Promise<Uint8Array> {
  const { exports } = await WebAssembly.instantiate(module, {});
  const e = exports as unknown as { memory: WebAssembly.Memory; heapBase(): number; run_batch_s8(...a: number[]): number };
  if (e.heapBase() !== job.heapBase) throw new Error(`runJob: heapBase ${e.heapBase()} differs from the job's ${job.heapBase}`);
  const have = e.memory.buffer.byteLength / 65536;
  if (job.pages > have) e.memory.grow(job.pages - have);
  new Uint8Array(e.memory.buffer).set(job.image, job.imageAt);
  const out: Uint8Array[] = [];
  for (const c of job.calls) {
    new Uint8Array(e.memory.buffer).set(c.input, c.inputAt);
    const [plan, layers, flags, src, stride, count, logits, labels, act] = c.args;
    const status = e.run_batch_s8(plan, layers, flags, src, stride, count, c.scale, logits, labels, act);
    out.push(new Uint8Array(Int32Array.of(status).buffer));
    for (const [at, n] of c.dumps) out.push(new Uint8Array(e.memory.buffer, at, n).slice());
  }
  return Buffer.concat(out);
}

export interface CallResult {
  status: number;
  logits: Int8Array;
  labels: Int32Array;
  /** The plan records after the call (counter sums at F.SUMS). */
  plan: Int32Array;
}

/** Splits a host's output by the job's calls and dumps (engineJob's three). */
export function decodeOutput(job: Job, bytes: Uint8Array): CallResult[] {
  let at = 0;
  const take = (n: number) => {
    if (at + n > bytes.length) throw new Error(`host output: ${bytes.length} bytes, expected more`);
    // A copy with its own buffer (bytes may be a Buffer, whose slice is a view of a shared pool)
    const b = new Uint8Array(bytes.subarray(at, at + n));
    at += n;
    return b;
  };
  const calls = job.calls.map((c) => {
    const status = new Int32Array(take(4).buffer)[0];
    const [logits, labels, plan] = c.dumps.map(([, n]) => take(n));
    return { status, logits: new Int8Array(logits.buffer), labels: new Int32Array(labels.buffer), plan: new Int32Array(plan.buffer) };
  });
  if (at !== bytes.length) throw new Error(`host output: ${bytes.length} bytes, expected ${at}`);
  return calls;
}
