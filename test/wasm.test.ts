import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const bytes = readFileSync(new URL("../build/rankgate.wasm", import.meta.url));
const module = new WebAssembly.Module(bytes);

describe("build/rankgate.wasm", () => {
  it("imports nothing", () => {
    expect(WebAssembly.Module.imports(module)).toEqual([]);
  });
  it("is at most 9.25 KiB (the MVP build stays at most 8 KiB: test/mvp.test.ts)", () => {
    expect(bytes.length).toBeLessThanOrEqual(9472);
  });
  it("exports the kernels, their sizing partners, the runner and its memory", () => {
    const names = WebAssembly.Module.exports(module).map((e) => `${e.name}:${e.kind}`);
    for (const fn of ["requantize_s32", "denseRows_s8", "gatedRows_s8", "estimateSign_s8", "maskCount", "run_s8", "heapBase",
      "denseRows_s8_scratchBytes", "gatedRows_s8_scratchBytes", "estimateSign_s8_scratchBytes", "quantize_f32", "blockGate_s8",
      "blockGate_s8_scratchBytes", "sparseInput_s8", "sparseInput_s8_scratchBytes", "requantizeRows_s32", "run_batch_s8",
      "run_s8_scratchBytes"]) {
      expect(names).toContain(`${fn}:function`);
    }
    expect(names).toContain("memory:memory");
  });
  it("instantiates with an empty import object and starts with no more than one page", async () => {
    const { exports } = await WebAssembly.instantiate(module, {});
    expect((exports.memory as WebAssembly.Memory).buffer.byteLength).toBe(65536);
  });
});
