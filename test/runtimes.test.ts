// Every runtime, bit-exact: the selftest cases (web/build-selftest.ts) give one checksum of every
// logit and counter through Engine on build/rankgate.wasm and build/rankgate-mvp.wasm in Node and in
// headless Chromium, and through build/selftest.wasm and build/selftest-mvp.wasm (same kernels, cases
// embedded) in Node, Chromium, wasm-interp (Debian's wabt), and in wasm3 and WAMR (classic, fast, fast
// with SIMD through SIMDe) built from ../shared/third-party. Then the engine itself on wasm3 and WAMR:
// our C hosts (test/wasm-hosts) run the paper net on MNIST digits through their C APIs.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRuntimes, type Runtime } from "../bench/build-runtimes.ts";
import { buildSelftest, selftestCases } from "../web/build-selftest.ts";
import { casesFromJson, engineChecksum, MODES, moduleChecksum, type SelftestCase } from "../web/selftest-core.ts";
import { decodeOutput, encodeJob, engineJob, runJob } from "../bench/wasm-job.ts";
import { readModel } from "../runtime/src/format.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { quantizeInput } from "../runtime/src/quant.ts";
import { quantizeModelInput, run_s8 } from "../runtime/src/reference.ts";
import { Engine, F, RUN } from "../runtime/src/runtime.ts";
import { buildWeb } from "../web/build.ts";
import { serveStatic } from "../web/serve.ts";
import { launchChromium } from "./helpers/chromium.ts";
import { describeWithTools } from "./helpers/system.ts";
import { WABT_DISABLE_ALL } from "./helpers/wasm-features.ts";

const WASM_INTERP = process.env.RANKGATE_WASM_INTERP ?? "wasm-interp";
const ROOT = join(import.meta.dirname, "..");
let cases: SelftestCase[] = [];
let selftestWasm: Uint8Array;
let selftestMvp: Uint8Array;
let node: { checksum: number; runs: number };
const tmp = mkdtempSync(join(tmpdir(), "rankgate-runtimes-"));
const built = (name: string) => join(tmp, "build", name);

beforeAll(async () => {
  const out = buildSelftest(join(tmp, "build"));
  cases = casesFromJson(readFileSync(out.cases, "utf8"));
  selftestWasm = readFileSync(out.wasm);
  selftestMvp = readFileSync(out.mvp);
  node = await engineChecksum(cases);
}, 240_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Byte sizes of a module's sections by id (10 code, 11 data …). */
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

describeWithTools(["wasm-interp", "chromium"], "every runtime, one checksum: Node, Chromium, wasm-interp", () => {
  it("the cases cover gated, partially gated and dense layers, and the checksum sees every logit", async () => {
    expect(cases.map((c) => c.name)).toEqual(["gated-odd", "identity", "wide-rank", "dense", "block-gates", "per-feature"]);
    expect(cases.map((c) => readModel(c.model).model.layers.map((l) => (l.gate ? "g" : l.estimator ? "e" : "-")).join(""))).toEqual(["ee-", "ee-", "e-", "-", "ge-", "ee-"]);
    // One format v3 file, its random samples quantized per feature as Engine quantizes them
    expect(cases.map((c) => c.model[4])).toEqual([2, 2, 2, 2, 2, 3]);
    const v3 = cases[5], n3 = readModel(v3.model).model.layers[0].nIn, engine3 = await Engine.load(v3.model, { trace: true });
    const fromFloats = selftestCases()[5].floats!;
    for (let s = 0; s < 4; s++) {
      engine3.infer(fromFloats.subarray(s * n3, (s + 1) * n3));
      expect(Array.from(engine3.lastTrace().inputs[0]), `sample ${s}`).toEqual(Array.from(v3.inputs.subarray(s * n3, (s + 1) * n3)));
    }
    expect(node.runs).toBe(cases.reduce((t, c) => t + c.samples, 0) * MODES.length);
    expect(MODES.filter((m) => "zeroSkip" in m && m.zeroSkip).length).toBe(2);
    const changed = cases.map((c) => ({ ...c, inputs: c.inputs.slice() }));
    changed[0].inputs[3] ^= 0x40;
    expect((await engineChecksum(changed)).checksum).not.toBe(node.checksum);
  });

  it("Node: selftest.wasm and selftest-mvp.wasm compute Engine's checksum, and so does Engine on the MVP build", async () => {
    for (const bytes of [selftestWasm, selftestMvp]) {
      const module = new WebAssembly.Module(new Uint8Array(bytes));
      expect(WebAssembly.Module.imports(module)).toEqual([]);
      expect(await moduleChecksum(module)).toEqual(node);
    }
    expect(await engineChecksum(cases, { module: "mvp" })).toEqual(node);
  });

  it("selftest-mvp.wasm: everything but its embedded cases (the data section) is at most 8 KiB", () => {
    const data = sectionSizes(selftestMvp).get(11) ?? 0;
    expect(data).toBeGreaterThan(10_000);
    expect(selftestMvp.length - data).toBeLessThanOrEqual(8192);
  });

  it("docs/PORTABILITY.md states the current checksum and run count", () => {
    const doc = readFileSync(join(ROOT, "docs", "PORTABILITY.md"), "utf8");
    const stated = /^Current value \((\d+) runs\): \*\*(-?\d+)\*\*/m.exec(doc);
    expect(stated, "docs/PORTABILITY.md: no 'Current value (N runs): **C**' line").not.toBeNull();
    expect({ runs: Number(stated![1]), checksum: Number(stated![2]) }).toEqual(node);
    for (const m of doc.matchAll(/selftest\(\) => i32:(-?\d+)|selftestRuns\(\) => i32:(\d+)|Result: (-?\d+)|0x([0-9a-f]{8}):i32/g)) {
      const v = m[1] ?? m[3] ? Number(m[1] ?? m[3]) : m[2] ? Number(m[2]) : Number.parseInt(m[4], 16) | 0;
      expect([node.checksum, node.runs], m[0]).toContain(v);
    }
  });

  it("wasm-interp: selftest.wasm, and selftest-mvp.wasm with every post-MVP feature disabled, print Engine's checksum", () => {
    for (const [file, flags] of [["selftest.wasm", []], ["selftest-mvp.wasm", WABT_DISABLE_ALL]] as const) {
      const r = spawnSync(WASM_INTERP, [...flags, built(file), "--run-all-exports"], { encoding: "utf8", timeout: 120_000 });
      if (r.error) throw new Error(`${WASM_INTERP}: ${r.error.message} (apt-get install -y wabt)`);
      expect(r.status, r.stderr).toBe(0);
      const value = (name: string) => Number(new RegExp(`^${name}\\(\\) => i32:(-?\\d+)$`, "m").exec(r.stdout)?.[1]);
      console.log(`checksum: Node Engine ${node.checksum}, wasm-interp ${file} ${value("selftest")} (${node.runs} runs)`);
      expect({ checksum: value("selftest"), runs: value("selftestRuns") }).toEqual(node);
    }
    // The flags bite: the SIMD module does not load without SIMD
    expect(spawnSync(WASM_INTERP, ["--disable-simd", built("selftest.wasm"), "--run-all-exports"], { encoding: "utf8" }).status).not.toBe(0);
  });

  it("wasm-interp: build/rankgate.wasm and build/rankgate-mvp.wasm validate and their zero-argument export agrees with Node", async () => {
    for (const [file, flags] of [["rankgate.wasm", []], ["rankgate-mvp.wasm", WABT_DISABLE_ALL]] as const) {
      const path = join(ROOT, "build", file);
      const r = spawnSync(WASM_INTERP, [...flags, path, "--run-all-exports"], { encoding: "utf8", timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const { exports } = await WebAssembly.instantiate(new WebAssembly.Module(new Uint8Array(readFileSync(path))), {});
      expect(r.stdout.trim()).toBe(`heapBase() => i32:${(exports.heapBase as () => number)()}`);
    }
  });

  it("headless Chromium: Engine on both builds and both selftest modules compute Node's checksum; the demo shows its build", async () => {
    const dir = await buildWeb({
      outDir: join(tmp, "web"),
      files: { "selftest.wasm": selftestWasm, "selftest-mvp.wasm": selftestMvp, "selftest-cases.json": readFileSync(built("selftest-cases.json")) },
    });
    expect(existsSync(join(dir, "selftest.js"))).toBe(true);
    const server = await serveStatic(dir);
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.url}selftest.html`);
      type Got = { engine: unknown; engineMvp: unknown; module: unknown; moduleMvp: unknown; autoModule: string; userAgent: string };
      const got = await page.evaluate(() => (window as unknown as { rankgateSelftest: Promise<Got> }).rankgateSelftest);
      console.log(`checksum: Chromium Engine ${JSON.stringify(got.engine)} (${got.autoModule}), Engine mvp ${JSON.stringify(got.engineMvp)}, selftest ${JSON.stringify(got.module)}, selftest-mvp ${JSON.stringify(got.moduleMvp)} (${got.userAgent})`);
      expect(errors).toEqual([]);
      expect(got.userAgent).toContain("HeadlessChrome");
      expect(got.autoModule).toBe("simd");
      for (const c of [got.engine, got.engineMvp, got.module, got.moduleMvp]) expect(c).toEqual(node);
      expect(await page.getAttribute("#result", "data-state")).toBe("pass");
      expect(await page.getAttribute("#result", "data-module")).toBe("simd");
      // The demo page says which build runs: auto (SIMD in Chromium) and ?module=mvp
      for (const [query, build] of [["", "simd"], ["?module=mvp", "mvp"]] as const) {
        await page.goto(`${server.url}index.html${query}`);
        await page.waitForSelector(`#wasm-module[data-module="${build}"]`, { timeout: 30_000 });
        expect(await page.textContent("#wasm-module")).toContain(build === "simd" ? "rankgate.wasm (SIMD)" : "rankgate-mvp.wasm");
      }
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await server.close();
    }
  });
});

/** The paper net and MNIST test digits the C hosts run. */
const HOST_DIGITS = 300;

describeWithTools(["gcc", "cmake"], "wasm3 and WAMR, built from ../shared/third-party", () => {
  let list: Runtime[] = [];
  beforeAll(async () => {
    list = await buildRuntimes((line) => console.log(`build:runtimes: ${line}`));
  }, 900_000);

  /** The value `selftest` returns on a runtime's CLI, as int32 (wasm3: "Result: n"; iwasm: "0x…:i32"). */
  const cliSelftest = (rt: Runtime, wasm: string) => {
    const args = rt.name === "wasm3" ? ["--func", "selftest", wasm] : ["-f", "selftest", wasm];
    const r = spawnSync(rt.cli, args, { encoding: "utf8", timeout: 300_000 });
    if (r.error) throw r.error;
    const out = `${r.stdout}${r.stderr}`;
    const m = /Result: (-?\d+)/.exec(out) ?? /0x([0-9a-f]+):i32/.exec(out);
    return { status: r.status, out, value: m ? (m[0].startsWith("0x") ? Number.parseInt(m[1], 16) | 0 : Number(m[1])) : undefined };
  };

  it("the four runtimes: wasm3, WAMR classic, WAMR fast, WAMR fast with SIMD", () => {
    expect(list.map((r) => [r.name, r.simd])).toEqual([["wasm3", false], ["wamr-classic", false], ["wamr-fast", false], ["wamr-fast-simd", true]]);
    for (const r of list) expect(existsSync(r.cli) && existsSync(r.host), r.name).toBe(true);
  });

  for (const name of ["wasm3", "wamr-classic", "wamr-fast", "wamr-fast-simd"] as const) {
    it(`${name}: selftest-mvp.wasm gives Node's checksum; selftest.wasm too where it has SIMD, else it is refused`, () => {
      const rt = list.find((r) => r.name === name)!;
      const mvp = cliSelftest(rt, built("selftest-mvp.wasm"));
      console.log(`checksum: ${name} selftest-mvp ${mvp.value}`);
      expect(mvp.status, mvp.out).toBe(0);
      expect(mvp.value).toBe(node.checksum);
      const simd = cliSelftest(rt, built("selftest.wasm"));
      if (rt.simd) {
        expect(simd.status, simd.out).toBe(0);
        expect(simd.value).toBe(node.checksum);
      } else {
        expect(simd.value).toBeUndefined();
        expect(simd.out).toMatch(name === "wasm3" ? /unknown function|unknown value_type|simd/i : /simd/i);
      }
    });
  }

  describe("the engine through the runtimes' C APIs: the paper net on MNIST digits", () => {
    interface Expected {
      job: ReturnType<typeof engineJob>;
      jobFile: string;
      digits: number;
      /** The same job's output in Node. */
      want: Uint8Array;
      reference: Int8Array;
      nodeRun: ReturnType<Engine["inferBatch"]>;
    }
    const expected = new Map<boolean, Expected>();
    let engine: Engine;
    let labels: Uint8Array;
    beforeAll(async () => {
      engine = await Engine.load(readFileSync(join(ROOT, "models", "paper.rgm")), { module: "mvp" });
      const mnist = loadMnist("test", { limit: HOST_DIGITS });
      labels = mnist.labels;
      const x = toFloatInputs(mnist.images, HOST_DIGITS);
      const q = quantizeInput(x, engine.inputScale, engine.inputZeroPoint, new Int8Array(x.length));
      const module = new WebAssembly.Module(readFileSync(join(ROOT, "build", "rankgate-mvp.wasm")));
      const n = engine.inputSize, m = engine.outputSize;
      for (const zeroSkip of [false, true]) {
        const digits = zeroSkip ? 64 : HOST_DIGITS;
        // The arena as Engine wrote it (the counters of earlier runs in it are rewritten by every run)
        const job = engineJob(engine, x.subarray(0, digits * n), { zeroSkip });
        const jobFile = join(tmp, `paper-${zeroSkip}.job`);
        writeFileSync(jobFile, encodeJob(job));
        const reference = new Int8Array(digits * m);
        for (let s = 0; s < digits; s++) reference.set(run_s8(engine.model, q.subarray(s * n, (s + 1) * n), zeroSkip ? RUN.ZERO_SKIP : 0).output, s * m);
        expected.set(zeroSkip, { job, jobFile, digits, want: await runJob(module, job), reference, nodeRun: engine.inferBatch(x.subarray(0, digits * n), { zeroSkip }) });
      }
    }, 120_000);

    for (const name of ["wasm3", "wamr-classic", "wamr-fast", "wamr-fast-simd"] as const) {
      for (const zeroSkip of [false, true]) {
        it(`${name}${zeroSkip ? ", zero skipping, 64 digits" : `, ${HOST_DIGITS} digits`}: logits equal the TS reference; labels and counters equal Engine's`, () => {
          const rt = list.find((r) => r.name === name)!;
          const e = expected.get(zeroSkip)!;
          const outFile = join(tmp, `${name}-${zeroSkip}.out`);
          const r = spawnSync(rt.host, [join(ROOT, "build", "rankgate-mvp.wasm"), e.jobFile, outFile], { encoding: "utf8", timeout: 300_000 });
          expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
          const got = readFileSync(outFile);
          // Byte for byte what the same job gives in Node: logits, labels, plan records with their counter sums
          expect(Buffer.compare(got, e.want)).toBe(0);
          // And what that means: the reference's logits, Engine's labels and counters
          const calls = decodeOutput(e.job, got);
          expect(calls.map((c) => c.status)).toEqual(calls.map(() => 0));
          const logits = new Int8Array(calls.flatMap((c) => Array.from(c.logits)));
          expect(logits).toEqual(e.reference);
          expect(new Int32Array(calls.flatMap((c) => Array.from(c.labels)))).toEqual(e.nodeRun.labels);
          const sum = (c: (typeof calls)[number], l: number, k: number) => c.plan[l * 64 + F.SUMS + 2 * k] + c.plan[l * 64 + F.SUMS + 2 * k + 1] * 2 ** 32;
          engine.model.layers.forEach((_, l) => {
            const got = ["estimatorMacs", "rowMacs", "rowsComputed", "rowsSkipped"].map((_, k) => calls.reduce((t, c) => t + sum(c, l, k), 0));
            const st = e.nodeRun.stats.layers[l];
            expect(got, `layer ${l}`).toEqual([st.estimatorMacs, st.rowMacs, st.rowsComputed, st.rowsSkipped]);
          });
          const correct = e.nodeRun.labels.reduce((t, v, i) => t + +(v === labels[i]), 0);
          expect(correct / e.digits).toBeGreaterThan(0.9);
        });
      }
    }
  });

  describe("the engine through the runtimes' C APIs: a format v3 model, float inputs quantized per feature in Wasm", () => {
    let job: ReturnType<typeof engineJob>, jobFile = "", want: Uint8Array, reference: Int8Array;
    beforeAll(async () => {
      // The selftest's per-feature case with float samples of its own, over two run_batch_s8 calls
      const v3 = selftestCases().find((c) => c.name === "per-feature")!;
      const model = readModel(v3.model).model, n = model.layers[0].nIn, m = model.layers[model.layers.length - 1].nOut, count = 70;
      const x = Float32Array.from({ length: count * n }, (_, k) => (k * 0.6180339887) % 1.3 - 0.1);
      const engine = await Engine.load(v3.model, { module: "mvp" });
      job = engineJob(engine, x);
      jobFile = join(tmp, "v3.job");
      writeFileSync(jobFile, encodeJob(job));
      want = await runJob(new WebAssembly.Module(readFileSync(join(ROOT, "build", "rankgate-mvp.wasm"))), job);
      reference = new Int8Array(count * m);
      const q = new Int8Array(n);
      for (let s = 0; s < count; s++) {
        expect(quantizeModelInput(model, x.subarray(s * n, (s + 1) * n), q)).toBe(0);
        reference.set(run_s8(model, q, 0).output, s * m);
      }
      expect(engine.inferBatch(x).logits).toEqual(reference);
    }, 60_000);

    for (const name of ["wasm3", "wamr-classic", "wamr-fast", "wamr-fast-simd"] as const) {
      it(`${name}: the job's output equals Node's byte for byte, and its logits the TS reference (quantizeModelInput, run_s8)`, () => {
        const rt = list.find((r) => r.name === name)!;
        const outFile = join(tmp, `${name}-v3.out`);
        const r = spawnSync(rt.host, [join(ROOT, "build", "rankgate-mvp.wasm"), jobFile, outFile], { encoding: "utf8", timeout: 300_000 });
        expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
        const got = readFileSync(outFile);
        expect(Buffer.compare(got, want)).toBe(0);
        const calls = decodeOutput(job, got);
        expect(calls.map((c) => c.status)).toEqual([0, 0]);
        expect(new Int8Array(calls.flatMap((c) => Array.from(c.logits)))).toEqual(reference);
      });
    }
  });
});
