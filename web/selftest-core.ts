// The three-runtime check, runtime-neutral part (no Node imports: web/selftest.ts bundles it).
// A case is one .rgm and a few quantized inputs. Its checksum is FNV-1a over, for every case,
// sample and run mode in order: the status (i32 LE), the int8 logits and each layer's four
// counters (estimator MACs, row MACs, rows computed, rows skipped; i32 LE). kernels/wasm/selftest.ts
// computes the same checksum inside Wasm from the same cases embedded as static data.
import { Engine, type LoadOptions } from "../runtime/src/runtime.ts";

export interface SelftestCase {
  name: string;
  /** A valid .rgm file. */
  model: Uint8Array;
  /** `samples` quantized inputs laid end to end. */
  inputs: Int8Array;
  samples: number;
  /** The float samples the first inputs were quantized from (as Engine quantizes them), when known; not in the JSON. */
  floats?: Float32Array;
}

/** Run modes in checksum order, as kernels/wasm/selftest.ts MODES. */
export const MODES = [
  { gating: true, simd: true },
  { gating: true, simd: false },
  { gating: false, simd: true },
  { gating: false, simd: false },
  { gating: true, simd: true, zeroSkip: true },
  { gating: true, simd: false, zeroSkip: true },
] as const;

/** Descriptor fields per case in the embedded data (mirrors kernels/wasm/selftest.ts D_*). */
export const DESCRIPTOR_FIELDS = ["blob", "blobBytes", "arenaBytes", "layers", "plan", "input", "nIn", "output", "nOut", "inputs", "samples"] as const;

export const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export class Fnv1a {
  h = FNV_OFFSET;
  bytes(b: ArrayLike<number>): this {
    let h = this.h;
    for (let i = 0; i < b.length; i++) h = Math.imul(h ^ (b[i] & 0xff), FNV_PRIME) >>> 0;
    this.h = h;
    return this;
  }
  i32(v: number): this {
    return this.bytes([v, v >>> 8, v >>> 16, v >>> 24]);
  }
  /** The hash as a signed int32, as the Wasm export returns it. */
  get value(): number {
    return this.h | 0;
  }
}

/** The checksum of `cases` through Engine (the build options.module picks, or options.wasm in a browser). */
export async function engineChecksum(cases: readonly SelftestCase[], options: LoadOptions = {}): Promise<{ checksum: number; runs: number }> {
  const h = new Fnv1a();
  let runs = 0;
  for (const c of cases) {
    const engine = await Engine.load(c.model, { wasm: options.wasm, module: options.module });
    if (options.module && options.module !== "auto" && engine.module !== options.module) throw new Error(`engineChecksum: asked for ${options.module}, ran ${engine.module}`);
    const n = engine.inputSize;
    for (let s = 0; s < c.samples; s++) {
      const x = c.inputs.subarray(s * n, (s + 1) * n);
      for (const mode of MODES) {
        const r = engine.infer(x, mode);
        h.i32(0).bytes(r.logits);
        for (const l of r.stats.layers) h.i32(l.estimatorMacs).i32(l.rowMacs).i32(l.rowsComputed).i32(l.rowsSkipped);
        runs++;
      }
    }
  }
  return { checksum: h.value, runs };
}

/** selftest() and selftestRuns() of an instance of build/selftest.wasm. */
export async function moduleChecksum(module: WebAssembly.Module): Promise<{ checksum: number; runs: number }> {
  const { exports } = await WebAssembly.instantiate(module, {});
  const e = exports as { selftest(): number; selftestRuns(): number };
  return { checksum: e.selftest(), runs: e.selftestRuns() };
}

const toBase64 = (b: Uint8Array) => {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
};
const fromBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** build/selftest-cases.json: the cases the selftest module embeds, for the other runtimes. */
export function casesToJson(cases: readonly SelftestCase[]): string {
  return JSON.stringify({
    format: "rankgate-selftest-cases/1",
    cases: cases.map((c) => ({ name: c.name, samples: c.samples, model: toBase64(c.model), inputs: toBase64(new Uint8Array(c.inputs.buffer, c.inputs.byteOffset, c.inputs.byteLength)) })),
  }, null, 1) + "\n";
}

export function casesFromJson(text: string): SelftestCase[] {
  const doc = JSON.parse(text) as { format: string; cases: { name: string; samples: number; model: string; inputs: string }[] };
  if (doc.format !== "rankgate-selftest-cases/1") throw new Error(`selftest cases: unknown format ${JSON.stringify(doc.format)}`);
  return doc.cases.map((c) => {
    const inputs = fromBase64(c.inputs);
    return { name: c.name, samples: c.samples, model: fromBase64(c.model), inputs: new Int8Array(inputs.buffer, 0, inputs.length) };
  });
}
