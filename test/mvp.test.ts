// The MVP build: build/rankgate-mvp.wasm, the same sources as build/rankgate.wasm with the v128
// branches compiled out (ASC_FEATURE_SIMD) and every post-MVP feature off. It validates with wabt's
// every --disable flag, imports nothing, fits 8 KiB, and computes the SIMD module's logits and
// counters; Engine.load picks a build ("auto", "simd", "mvp") and says which runs. selftest-mvp.wasm
// and the real runtimes (wasm3, WAMR): test/runtimes.test.ts.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { UserError } from "../runtime/src/errors.ts";
import { Engine, type LoadOptions } from "../runtime/src/runtime.ts";
import { buildSynthetic, syntheticInputs } from "../toolchain/model/synthetic.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { quantizeInput } from "../runtime/src/quant.ts";
import { gatedNetCase } from "./helpers/models.ts";
import { describeWithTools } from "./helpers/system.ts";
import { WABT_DISABLE_ALL } from "./helpers/wasm-features.ts";

const ROOT = join(import.meta.dirname, "..");
const SIMD_WASM = join(ROOT, "build", "rankgate.wasm");
const MVP_WASM = join(ROOT, "build", "rankgate-mvp.wasm");
describe("MVP build: size, imports, features", () => {
  it("rankgate-mvp.wasm is at most 8 KiB, imports nothing and exports what rankgate.wasm exports", () => {
    const mvp = readFileSync(MVP_WASM), simd = readFileSync(SIMD_WASM);
    expect(mvp.length).toBeLessThanOrEqual(8192);
    const m = new WebAssembly.Module(mvp), s = new WebAssembly.Module(simd);
    expect(WebAssembly.Module.imports(m)).toEqual([]);
    expect(WebAssembly.Module.exports(m)).toEqual(WebAssembly.Module.exports(s));
  });

  it("docs/PORTABILITY.md states both modules' sizes", () => {
    const doc = readFileSync(join(ROOT, "docs", "PORTABILITY.md"), "utf8");
    for (const path of [SIMD_WASM, MVP_WASM]) {
      const name = path.slice(path.lastIndexOf("/") + 1);
      const row = new RegExp(`^\\| \`build/${name.replace(".", "\\.")}\` \\|[^|]*\\| ([\\d,]+) B \\|`, "m").exec(doc);
      expect(row, `no size row for ${name}`).not.toBeNull();
      expect(Number(row![1].replace(/,/g, "")), name).toBe(readFileSync(path).length);
    }
  });

  it("FEATURE_SIMD says which build a module is", async () => {
    for (const [path, v] of [[SIMD_WASM, 1], [MVP_WASM, 0]] as const) {
      const { exports } = await WebAssembly.instantiate(new WebAssembly.Module(readFileSync(path)), {});
      expect((exports.FEATURE_SIMD as WebAssembly.Global).value).toBe(v);
    }
  });
});

describeWithTools(["wasm-validate"], "MVP build: wasm-validate with every post-MVP feature disabled", () => {
  const validate = (path: string, flags: string[]) => spawnSync("wasm-validate", [...flags, path], { encoding: "utf8", timeout: 60_000 });

  it("the flag list is every --disable flag wasm-validate --help offers", () => {
    const help = spawnSync("wasm-validate", ["--help"], { encoding: "utf8" }).stdout;
    expect([...help.matchAll(/(--disable-[a-z0-9-]+)/g)].map((m) => m[1]).sort()).toEqual([...WABT_DISABLE_ALL].sort());
  });

  it("rankgate-mvp.wasm validates; rankgate.wasm does not (the flags bite)", () => {
    const r = validate(MVP_WASM, WABT_DISABLE_ALL);
    expect(r.status, r.stderr).toBe(0);
    const simd = validate(SIMD_WASM, ["--disable-simd"]);
    expect(simd.status).not.toBe(0);
    expect(simd.stderr).toMatch(/expected valid local type|simd|v128/i);
  });
});

describe("MVP build: same outputs as the SIMD build", () => {
  it("Engine on random gated networks: logits, labels and every counter equal on both builds, every run mode", async () => {
    await fc.assert(
      fc.asyncProperty(gatedNetCase(70, [0, 0.5, 0.9]), fc.integer({ min: 1, max: 5 }), async (c, count) => {
        const { model, rng } = buildSynthetic({
          sizes: c.sizes, ranks: c.kinds.map((k) => k.rank), gates: c.kinds.map((k) => k.gate), seed: c.seed, calibration: 16, inputZeros: c.zeros,
        });
        const x = syntheticInputs(rng, count, c.sizes[0], c.zeros);
        const q = quantizeInput(x, model.layers[0].inScale, model.layers[0].inZeroPoint, new Int8Array(x.length));
        for (const trace of [false, true]) {
          const simd = await Engine.fromModel(model, { module: "simd", trace });
          const mvp = await Engine.fromModel(model, { module: "mvp", trace });
          expect([simd.module, mvp.module]).toEqual(["simd", "mvp"]);
          for (const gating of [true, false]) {
            for (const zeroSkip of [false, true]) {
              const options = { gating, zeroSkip };
              expect(mvp.inferBatch(x, options)).toEqual(simd.inferBatch(x, options));
              expect(mvp.inferBatch(q, options)).toEqual(simd.inferBatch(q, { ...options, simd: false }));
              expect(mvp.infer(q.subarray(0, c.sizes[0]), options)).toEqual(simd.infer(q.subarray(0, c.sizes[0]), options));
              if (trace) expect(mvp.lastTrace()).toEqual(simd.lastTrace());
            }
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it("the paper net on 200 MNIST test digits: equal logits and counters", async () => {
    const bytes = readFileSync(join(ROOT, "models", "paper.rgm"));
    const simd = await Engine.load(bytes, { module: "simd" });
    const mvp = await Engine.load(bytes, { module: "mvp" });
    const test = loadMnist("test", { limit: 200 });
    const x = toFloatInputs(test.images, 200);
    expect(mvp.inferBatch(x)).toEqual(simd.inferBatch(x));
    expect(mvp.inferBatch(x, { zeroSkip: true })).toEqual(simd.inferBatch(x, { zeroSkip: true }));
  });
});

describe("Engine.load: which build runs", () => {
  const model = () => buildSynthetic({ sizes: [9, 7, 3], ranks: [3], seed: 5, calibration: 8 }).bytes;

  it("auto is simd where WebAssembly.validate accepts the SIMD module, else mvp; explicit choices are kept", async () => {
    expect((await Engine.load(model())).module).toBe("simd");
    expect((await Engine.load(model(), { module: "auto" })).module).toBe("simd");
    expect((await Engine.load(model(), { module: "mvp" })).module).toBe("mvp");
    const spy = vi.spyOn(WebAssembly, "validate").mockReturnValue(false);
    try {
      expect((await Engine.load(model(), { module: "auto" })).module).toBe("mvp");
      expect((await Engine.load(model())).module).toBe("mvp");
      expect((await Engine.load(model(), { module: "simd" })).module).toBe("simd");
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it("a given module is checked against an explicit choice; a bad choice is one UserError line", async () => {
    const mvpModule = new WebAssembly.Module(readFileSync(MVP_WASM));
    expect((await Engine.load(model(), { wasm: mvpModule })).module).toBe("mvp");
    expect((await Engine.load(model(), { wasm: mvpModule, module: "mvp" })).module).toBe("mvp");
    await expect(Engine.load(model(), { wasm: mvpModule, module: "simd" })).rejects.toThrow(new UserError('module is "simd" but the wasm module given is the mvp build'));
    await expect(Engine.load(model(), { module: "sse" } as unknown as LoadOptions)).rejects.toThrow(new UserError('module must be "auto", "simd" or "mvp", got "sse"'));
  });
});
