// The MVP build: build/rankgate-mvp.wasm and build/selftest-mvp.wasm, the same sources as the SIMD
// builds with the v128 branches compiled out (ASC_FEATURE_SIMD) and every post-MVP feature off. They
// validate with wabt's every --disable flag, import nothing, fit the size budget, and compute the SIMD
// module's logits and counters; Engine.load picks a build ("auto", "simd", "mvp") and says which runs.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildSelftest } from "../tools/build-selftest.ts";
import { casesFromJson, engineChecksum, moduleChecksum } from "../tools/selftest-core.ts";
import { UserError } from "../ts/errors.ts";
import { Engine, type LoadOptions } from "../ts/runtime.ts";
import { buildSynthetic, syntheticInputs } from "../ts/synthetic.ts";
import { loadMnist, toFloatInputs } from "../ts/mnist.ts";
import { quantizeInput } from "../ts/quant.ts";
import { gatedNetCase } from "./helpers/models.ts";
import { describeWithTools } from "./helpers/system.ts";

const ROOT = join(import.meta.dirname, "..");
const SIMD_WASM = join(ROOT, "build", "rankgate.wasm");
const MVP_WASM = join(ROOT, "build", "rankgate-mvp.wasm");
/** wabt 1.0.32's flags for every feature past WebAssembly 1.0 it enables by default (`wasm-validate --help`). */
export const WABT_DISABLE_ALL = ["--disable-mutable-globals", "--disable-saturating-float-to-int", "--disable-sign-extension", "--disable-simd",
  "--disable-multi-value", "--disable-bulk-memory", "--disable-reference-types"];
const tmp = mkdtempSync(join(tmpdir(), "rankgate-mvp-"));
let selftest: { wasm: string; mvp: string; cases: string };

beforeAll(() => {
  selftest = buildSelftest(join(tmp, "build"));
}, 180_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Byte sizes of a module's sections by id (0 custom, 10 code, 11 data …). */
function sectionSizes(bytes: Uint8Array): Map<number, number> {
  const sizes = new Map<number, number>();
  let at = 8;
  const leb = () => {
    let v = 0, shift = 0, b: number;
    do {
      b = bytes[at++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  while (at < bytes.length) {
    const id = bytes[at++];
    const n = leb();
    sizes.set(id, (sizes.get(id) ?? 0) + n);
    at += n;
  }
  return sizes;
}

describe("MVP build: size, imports, features", () => {
  it("rankgate-mvp.wasm is at most 8 KiB, imports nothing and exports what rankgate.wasm exports", () => {
    const mvp = readFileSync(MVP_WASM), simd = readFileSync(SIMD_WASM);
    expect(mvp.length).toBeLessThanOrEqual(8192);
    const m = new WebAssembly.Module(mvp), s = new WebAssembly.Module(simd);
    expect(WebAssembly.Module.imports(m)).toEqual([]);
    expect(WebAssembly.Module.exports(m)).toEqual(WebAssembly.Module.exports(s));
  });

  it("selftest-mvp.wasm imports nothing; everything but its embedded cases (the data section) is at most 8 KiB", () => {
    const bytes = readFileSync(selftest.mvp);
    expect(WebAssembly.Module.imports(new WebAssembly.Module(bytes))).toEqual([]);
    const data = sectionSizes(bytes).get(11) ?? 0;
    expect(data).toBeGreaterThan(10_000);
    expect(bytes.length - data).toBeLessThanOrEqual(8192);
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

  it("rankgate-mvp.wasm and selftest-mvp.wasm validate; the SIMD builds do not (the flags bite)", () => {
    for (const path of [MVP_WASM, selftest.mvp]) {
      const r = validate(path, WABT_DISABLE_ALL);
      expect(r.status, `${path}: ${r.stderr}`).toBe(0);
    }
    for (const path of [SIMD_WASM, selftest.wasm]) {
      const r = validate(path, ["--disable-simd"]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/expected valid local type|simd|v128/i);
    }
  });
});

describe("MVP build: same outputs as the SIMD build", () => {
  it("selftest-mvp.wasm and selftest.wasm compute Engine's checksum on either build", async () => {
    const cases = casesFromJson(readFileSync(selftest.cases, "utf8"));
    const simd = await engineChecksum(cases, { module: "simd" });
    expect(await engineChecksum(cases, { module: "mvp" })).toEqual(simd);
    expect(await moduleChecksum(new WebAssembly.Module(readFileSync(selftest.mvp)))).toEqual(simd);
    expect(await moduleChecksum(new WebAssembly.Module(readFileSync(selftest.wasm)))).toEqual(simd);
  });

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
