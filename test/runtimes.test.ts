// Three runtimes, bit-exact: the selftest cases (tools/build-selftest.ts) give one checksum of
// every logit and counter through Engine on build/rankgate.wasm in Node and in headless
// Chromium, and through build/selftest.wasm (same kernels, cases embedded) in Node, Chromium
// and the standalone interpreter wasm-interp (Debian's wabt).
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSelftest } from "../tools/build-selftest.ts";
import { casesFromJson, engineChecksum, MODES, moduleChecksum, type SelftestCase } from "../tools/selftest-core.ts";
import { readModel } from "../ts/format.ts";
import { buildWeb } from "../web/build.ts";
import { serveStatic } from "../web/serve.ts";
import { launchChromium } from "./helpers/chromium.ts";
import { describeWithTools, runTool } from "./helpers/system.ts";

let cases: SelftestCase[] = [];
let selftestWasm: Uint8Array;
let node: { checksum: number; runs: number };
const tmp = mkdtempSync(join(tmpdir(), "rankgate-runtimes-"));

beforeAll(async () => {
  const out = buildSelftest(join(tmp, "build"));
  cases = casesFromJson(readFileSync(out.cases, "utf8"));
  selftestWasm = readFileSync(out.wasm);
  node = await engineChecksum(cases);
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("three runtimes, one checksum", () => {
  it("the cases cover gated, partially gated and dense layers, and the checksum sees every logit", async () => {
    expect(cases.map((c) => c.name)).toEqual(["gated-odd", "identity", "wide-rank", "dense", "block-gates"]);
    expect(cases.map((c) => readModel(c.model).model.layers.map((l) => (l.gate ? "g" : l.estimator ? "e" : "-")).join(""))).toEqual(["ee-", "ee-", "e-", "-", "ge-"]);
    expect(node.runs).toBe(cases.reduce((t, c) => t + c.samples, 0) * MODES.length);
    expect(MODES.filter((m) => "zeroSkip" in m && m.zeroSkip).length).toBe(2);
    const changed = cases.map((c) => ({ ...c, inputs: c.inputs.slice() }));
    changed[0].inputs[3] ^= 0x40;
    expect((await engineChecksum(changed)).checksum).not.toBe(node.checksum);
  });

  it("Node: selftest.wasm computes Engine's checksum", async () => {
    const module = new WebAssembly.Module(new Uint8Array(selftestWasm));
    expect(WebAssembly.Module.imports(module)).toEqual([]);
    expect(await moduleChecksum(module)).toEqual(node);
  });
});

describeWithTools(["wasm-interp"], "the standalone interpreter", () => {
  it("wasm-interp: selftest.wasm prints Engine's checksum", () => {
    const r = runTool("wasm-interp", [join(tmp, "build", "selftest.wasm"), "--run-all-exports"]);
    const value = (name: string) => Number(new RegExp(`^${name}\\(\\) => i32:(-?\\d+)$`, "m").exec(r.stdout)?.[1]);
    console.log(`checksum: Node Engine ${node.checksum}, wasm-interp selftest ${value("selftest")} (${node.runs} runs)`);
    expect({ checksum: value("selftest"), runs: value("selftestRuns") }).toEqual(node);
  });

  it("wasm-interp: build/rankgate.wasm validates and its zero-argument export agrees with Node", async () => {
    const path = join(import.meta.dirname, "../build/rankgate.wasm");
    const r = runTool("wasm-interp", [path, "--run-all-exports"], 60_000);
    const { exports } = await WebAssembly.instantiate(new WebAssembly.Module(new Uint8Array(readFileSync(path))), {});
    expect(r.stdout.trim()).toBe(`heapBase() => i32:${(exports.heapBase as () => number)()}`);
  });
});

describeWithTools(["chromium"], "a browser", () => {
  it("headless Chromium: Engine on rankgate.wasm and selftest.wasm both compute Node's checksum", async () => {
    const dir = await buildWeb({
      outDir: join(tmp, "web"),
      files: { "selftest.wasm": selftestWasm, "selftest-cases.json": readFileSync(join(tmp, "build", "selftest-cases.json")) },
    });
    expect(existsSync(join(dir, "selftest.js"))).toBe(true);
    const server = await serveStatic(dir);
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.url}selftest.html`);
      const got = await page.evaluate(() => (window as unknown as { rankgateSelftest: Promise<{ engine: unknown; module: unknown; userAgent: string }> }).rankgateSelftest);
      console.log(`checksum: Chromium Engine ${JSON.stringify(got.engine)}, Chromium selftest ${JSON.stringify(got.module)} (${got.userAgent})`);
      expect(errors).toEqual([]);
      expect(got.userAgent).toContain("HeadlessChrome");
      expect(got.engine).toEqual(node);
      expect(got.module).toEqual(node);
      expect(await page.getAttribute("#result", "data-state")).toBe("pass");
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
