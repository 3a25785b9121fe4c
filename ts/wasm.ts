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

/** The engine module's file name; the package ships it beside this module (dist/rankgate.wasm). */
export const WASM_FILE = "rankgate.wasm";
/** A source checkout has no ./rankgate.wasm beside this file: Node reads the build's (`npm run build`). */
const SOURCE_BUILD_DIR = "../build/";

let defaultModule: Promise<WebAssembly.Module> | undefined;

/**
 * The engine's Wasm module, compiled once: `new URL("./rankgate.wasm", import.meta.url)`, read from
 * disk in Node and fetched in browsers (bundlers that understand this pattern, such as Vite and
 * webpack, emit the file; with esbuild copy it beside the bundle or pass `wasm` to Engine.load).
 */
export function defaultWasmModule(): Promise<WebAssembly.Module> {
  defaultModule ??= (async () => {
    const url = new URL("./rankgate.wasm", import.meta.url);
    if (url.protocol !== "file:") return fetchModule(url);
    // A computed specifier, so that bundlers for browsers leave the import alone
    const fsName = "node:fs/promises";
    const { readFile } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ fsName)) as { readFile(path: URL): Promise<Uint8Array> };
    for (const file of [url, new URL(SOURCE_BUILD_DIR + WASM_FILE, import.meta.url)]) {
      try {
        return await WebAssembly.compile(new Uint8Array(await readFile(file)));
      } catch (err) {
        if ((err as { code?: string }).code !== "ENOENT") throw err;
      }
    }
    throw new UserError(`${url.pathname} not found: run \`npm run build\` first`);
  })();
  defaultModule.catch(() => (defaultModule = undefined));
  return defaultModule;
}

async function fetchModule(url: URL): Promise<WebAssembly.Module> {
  const r = await fetch(url);
  if (!r.ok) throw new UserError(`${url.href}: HTTP ${r.status}; serve rankgate.wasm beside the bundle or pass Engine.load(bytes, { wasm })`);
  return WebAssembly.compile(await r.arrayBuffer());
}

/** A fresh instance: its own linear memory, no imports. */
export async function instantiateKernels(module?: WebAssembly.Module): Promise<KernelExports> {
  const instance = await WebAssembly.instantiate(module ?? (await defaultWasmModule()), {});
  return instance.exports as unknown as KernelExports;
}
