// The engine's Wasm module: its export signatures and how to get an instance.
import { UserError } from "./errors.ts";
import { showValue } from "./show.ts";
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
  /** scalesPtr, offsetsPtr: per-feature f32 parameters (format v3); omitted (0): per tensor. */
  quantize_f32(inPtr: number, n: number, scale: number, zp: number, outPtr: number, simd: number, scalesPtr?: number, offsetsPtr?: number): number;
  blockGate_s8(inPtr: number, nIn: number, inZp: number, gPtr: number, thrPtr: number, blocks: number, blockSize: number, nOut: number, topK: number,
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
  /** 1 in build/rankgate.wasm, 0 in build/rankgate-mvp.wasm (absent in builds before it: SIMD). */
  FEATURE_SIMD?: WebAssembly.Global;
}

/**
 * The engine's two builds, from the same sources: "simd" is build/rankgate.wasm (v128 kernels, bulk
 * memory); "mvp" is build/rankgate-mvp.wasm (WebAssembly 1.0 only, for interpreters without SIMD such
 * as wasm3 and WAMR's classic and fast interpreters). Same outputs and counters, bit for bit.
 */
export type WasmBuild = "simd" | "mvp";
/** A build, or "auto": "simd" where the host validates the SIMD module, else "mvp". */
export type WasmChoice = WasmBuild | "auto";
export const WASM_FILES: Readonly<Record<WasmBuild, string>> = { simd: "rankgate.wasm", mvp: "rankgate-mvp.wasm" };

/** A WasmChoice, or a UserError naming the bad value. */
export function checkChoice(choice: unknown): WasmChoice {
  if (choice === "auto" || choice === "simd" || choice === "mvp") return choice;
  throw new UserError(`module must be "auto", "simd" or "mvp", got ${showValue(choice)}`);
}

/** The build a choice means on this host: "auto" is "simd" when WebAssembly.validate accepts the SIMD module's bytes, else "mvp". */
export async function pickBuild(choice: WasmChoice | undefined, simdBytes: () => Promise<Uint8Array>): Promise<WasmBuild> {
  const c = checkChoice(choice ?? "auto");
  if (c !== "auto") return c;
  return WebAssembly.validate(await simdBytes() as Uint8Array<ArrayBuffer>) ? "simd" : "mvp";
}

/**
 * Compiles the build `choice` means on this host, reading each module's bytes through `read`
 * (a browser fetches them beside the page; Node reads build/ from disk).
 */
export async function compileBuild(choice: WasmChoice | undefined, read: (file: string) => Promise<Uint8Array>): Promise<{ build: WasmBuild; module: WebAssembly.Module }> {
  let simd: Promise<Uint8Array> | undefined;
  const bytes = (b: WasmBuild) => (b === "simd" ? (simd ??= read(WASM_FILES.simd)) : read(WASM_FILES[b]));
  const build = await pickBuild(choice, () => bytes("simd"));
  return { build, module: await WebAssembly.compile(await bytes(build) as Uint8Array<ArrayBuffer>) };
}

const nodeBytes = new Map<string, Promise<Uint8Array>>();
const nodeModules = new Map<WasmBuild, Promise<WebAssembly.Module>>();

/** A source checkout has no ./rankgate*.wasm beside this file: Node reads the build's (`npm run build`). */
const SOURCE_BUILD_DIR = "../../build/";

/**
 * A module file shipped beside this one, read once per process: `new URL("./<file>", import.meta.url)`,
 * read from disk in Node (a source checkout falls back to build/) and fetched in browsers (bundlers
 * that understand this pattern, such as Vite and webpack, emit the file; with esbuild copy it beside
 * the bundle or pass `wasm` to Engine.load).
 */
function readBuildFile(file: string): Promise<Uint8Array> {
  let p = nodeBytes.get(file);
  if (!p) {
    p = (async () => {
      const url = new URL(`./${file}`, import.meta.url);
      if (url.protocol !== "file:") return fetchBytes(url);
      // A computed specifier, so that bundlers for browsers leave the import alone
      const fsName = "node:fs/promises";
      const { readFile } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ fsName)) as { readFile(path: URL): Promise<Uint8Array> };
      for (const f of [url, new URL(SOURCE_BUILD_DIR + file, import.meta.url)]) {
        try {
          return new Uint8Array(await readFile(f));
        } catch (err) {
          if ((err as { code?: string }).code !== "ENOENT") throw err;
        }
      }
      throw new UserError(`${url.pathname} not found: run \`npm run build\` first`);
    })();
    p.catch(() => nodeBytes.delete(file));
    nodeBytes.set(file, p);
  }
  return p;
}

async function fetchBytes(url: URL): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new UserError(`${url.href}: HTTP ${r.status}; serve ${url.pathname.split("/").pop()} beside the bundle or pass Engine.load(bytes, { wasm })`);
  return new Uint8Array(await r.arrayBuffer());
}

/** rankgate.wasm (or the build `choice` means here), compiled once per process. */
export async function defaultWasmModule(choice: WasmChoice = "simd"): Promise<WebAssembly.Module> {
  const build = await pickBuild(choice, () => readBuildFile(WASM_FILES.simd));
  let m = nodeModules.get(build);
  if (!m) {
    m = readBuildFile(WASM_FILES[build]).then((b) => WebAssembly.compile(b as Uint8Array<ArrayBuffer>));
    nodeModules.set(build, m);
  }
  return m;
}

/** Which build an instance is (its FEATURE_SIMD export; builds before it were all SIMD). */
export function buildOf(kernels: KernelExports): WasmBuild {
  return kernels.FEATURE_SIMD === undefined || kernels.FEATURE_SIMD.value !== 0 ? "simd" : "mvp";
}

/**
 * A fresh instance: its own linear memory, no imports. Without a module, Node compiles the build
 * `choice` means (default "simd", build/rankgate.wasm). With one, `choice` (if not "auto") must name its build.
 */
export async function instantiateKernels(module?: WebAssembly.Module, choice: WasmChoice = module ? "auto" : "simd"): Promise<KernelExports> {
  checkChoice(choice);
  const instance = await WebAssembly.instantiate(module ?? (await defaultWasmModule(choice)), {});
  const kernels = instance.exports as unknown as KernelExports;
  if (module && choice !== "auto" && buildOf(kernels) !== choice) {
    throw new UserError(`module is ${showValue(choice)} but the wasm module given is the ${buildOf(kernels)} build`);
  }
  return kernels;
}
