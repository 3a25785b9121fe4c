// The engine's Wasm module: its export signatures and how to get an instance.
import { UserError } from "./errors.ts";
export interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  requantize_s32(x: number, multiplier: number, shift: number): number;
  denseRows_s8(inPtr: number, nIn: number, inZp: number, wPtr: number, biasPtr: number, multPtr: number, shiftPtr: number,
    nOut: number, outZp: number, actMin: number, actMax: number, outPtr: number, scratchPtr: number, simd: number): number;
  gatedRows_s8(inPtr: number, nIn: number, inZp: number, wPtr: number, biasPtr: number, multPtr: number, shiftPtr: number,
    nOut: number, outZp: number, actMin: number, actMax: number, outPtr: number, scratchPtr: number, maskPtr: number, simd: number): number;
  estimateSign_s8(inPtr: number, nIn: number, inZp: number, aPtr: number, tMultPtr: number, tShiftPtr: number, rank: number,
    tMax: number, bPtr: number, thrPtr: number, nOut: number, maskPtr: number, scratchPtr: number, simd: number): number;
  maskCount(maskPtr: number, n: number): number;
  quantize_f32(inPtr: number, n: number, scale: number, zp: number, outPtr: number, simd: number): number;
  blockGate_s8(inPtr: number, nIn: number, inZp: number, gPtr: number, thrPtr: number, blocks: number, blockSize: number, nOut: number,
    maskPtr: number, scratchPtr: number, simd: number): number;
  blockGate_s8_scratchBytes(nIn: number, blocks: number): number;
  sparseInput_s8(inPtr: number, nIn: number, zp: number, listPtr: number, simd: number): number;
  sparseInput_s8_scratchBytes(nIn: number): number;
  requantizeRows_s32(accPtr: number, biasPtr: number, multPtr: number, shiftPtr: number, nOut: number, outZp: number, actMin: number,
    actMax: number, maskPtr: number, outPtr: number): number;
  run_batch_s8(planPtr: number, layers: number, flags: number, srcPtr: number, srcStride: number, count: number, scale: number,
    outPtr: number, labelsPtr: number, actPtr: number): number;
  run_s8_scratchBytes(nIn: number, nOut: number, rank: number): number;
  denseRows_s8_scratchBytes(nIn: number, nOut: number): number;
  gatedRows_s8_scratchBytes(nIn: number, nOut: number): number;
  estimateSign_s8_scratchBytes(nIn: number, rank: number): number;
  run_s8(planPtr: number, layers: number, flags: number): number;
  PLAN_RECORD_BYTES: WebAssembly.Global;
  RUN_SCALAR: WebAssembly.Global;
  RUN_DENSE: WebAssembly.Global;
  RUN_TRACE: WebAssembly.Global;
}

let nodeModule: Promise<WebAssembly.Module> | undefined;

/** build/rankgate.wasm, compiled once per process (Node). Browsers pass their own module. */
export function defaultWasmModule(): Promise<WebAssembly.Module> {
  nodeModule ??= (async () => {
    const { readFile } = await import("node:fs/promises");
    const url = new URL("../build/rankgate.wasm", import.meta.url);
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(await readFile(url));
    } catch {
      throw new UserError(`${url.pathname} not found: run \`npm run build\` first`);
    }
    return WebAssembly.compile(bytes);
  })();
  return nodeModule;
}

/** A fresh instance: its own linear memory, no imports. */
export async function instantiateKernels(module?: WebAssembly.Module): Promise<KernelExports> {
  const instance = await WebAssembly.instantiate(module ?? (await defaultWasmModule()), {});
  return instance.exports as unknown as KernelExports;
}
