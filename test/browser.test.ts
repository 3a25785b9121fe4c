// The browser demo (web/) in headless Chromium: the page loads a model, shows the first MNIST
// test digit's prediction and counters exactly as Node's Engine computes them, updates live
// while drawing, reports a corrupt .rgm in one line, and is saved as a screenshot.
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { writeModel } from "../runtime/src/format.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { Quantizer } from "../toolchain/quantize/quantize.ts";
import { Rng } from "../toolchain/model/random.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { buildSynthetic, syntheticFloat } from "../toolchain/model/synthetic.ts";
import { buildWeb } from "../web/build.ts";
import type { DemoApi, DemoSummary } from "../web/main.ts";
import { serveStatic, type StaticServer } from "../web/serve.ts";
import { launchChromium, type Chromium } from "./helpers/chromium.ts";
import { describeWithTools } from "./helpers/system.ts";

const SCREENSHOT = fileURLToPath(new URL("../build/screenshots/demo.png", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "rankgate-web-"));
// A small 784-64-32-10 model quantized as test/pipeline.test.ts does (random float weights)
const float = syntheticFloat(new Rng(4), [784, 64, 32, 10]);
const calib = toFloatInputs(loadMnist("val", { limit: 200 }).images, 200);
const model = writeModel(new Quantizer(float, calib, 200, { min: 0, max: 1 }).model({ ranks: [8, 4] }));
const digit = loadMnist("test", { limit: 1 });
const small = buildSynthetic({ sizes: [20, 16, 10], ranks: [4], seed: 3 }).bytes;
let server: StaticServer;
let browser: Chromium;
let page: Page;
const pageErrors: string[] = [];

type DemoWindow = { rankgateDemo: DemoApi };
const summaryOf = (r: Awaited<ReturnType<Engine["infer"]>>, engine: Engine): DemoSummary => ({
  label: r.label, logits: Array.from(r.logits),
  estimatorMacs: r.stats.estimatorMacs, rowMacs: r.stats.rowMacs, totalMacs: r.stats.totalMacs,
  denseMacs: engine.model.layers.reduce((t, l) => t + l.nIn * l.nOut, 0),
  layers: r.stats.layers.map(({ estimatorMacs, rowMacs, rowsComputed, rowsSkipped }) => ({ estimatorMacs, rowMacs, rowsComputed, rowsSkipped })),
});

describeWithTools(["chromium"], "browser demo", () => {
  beforeAll(async () => {
    const dir = await buildWeb({ outDir: join(tmp, "web"), files: { "test.rgm": model } });
    server = await serveStatic(dir);
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(`${server.url}index.html?model=test.rgm`);
    await page.evaluate(() => (window as unknown as DemoWindow).rankgateDemo.ready);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("predicts the first MNIST test digit and shows the counters exactly as Node's Engine", async () => {
    const engine = await Engine.load(model);
    const want = summaryOf(engine.infer(toFloatInputs(digit.images, 1)), engine);
    const got = await page.evaluate((px) => (window as unknown as DemoWindow).rankgateDemo.setPixels(px), Array.from(digit.images));
    expect(got).toEqual(want);
    // What a person sees
    expect(await page.textContent("#prediction")).toBe(String(want.label));
    expect(await page.getAttribute("#macs-total", "data-value")).toBe(String(want.totalMacs));
    for (const [l, st] of want.layers.entries()) {
      for (const f of ["rowsComputed", "rowsSkipped", "estimatorMacs", "rowMacs"] as const) {
        expect(await page.textContent(`[data-counter="layers.${l}.${f}"]`)).toBe(st[f].toLocaleString("en-US"));
      }
    }
    expect(await page.textContent('tfoot [data-counter="rowMacs"]')).toBe(want.rowMacs.toLocaleString("en-US"));
    // One mask strip per hidden layer, one pixel per unit, as many computed as the counters say
    expect(await page.locator("#masks canvas").count()).toBe(2);
    for (const l of [0, 1]) expect(await page.getAttribute(`#masks canvas[data-layer="${l}"]`, "data-computed")).toBe(String(want.layers[l].rowsComputed));
    expect(want.layers[0].rowsSkipped).toBeGreaterThan(0);
    mkdirSync(join(SCREENSHOT, ".."), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
    expect(pageErrors).toEqual([]);
  });

  it("gating off runs the dense baseline: no rows skipped, dense MACs", async () => {
    await page.uncheck("#gating");
    const s = await page.evaluate(() => (window as unknown as DemoWindow).rankgateDemo.summary()!);
    expect(s.estimatorMacs).toBe(0);
    expect(s.totalMacs).toBe(s.denseMacs);
    expect(s.layers.every((l) => l.rowsSkipped === 0)).toBe(true);
    await page.check("#gating");
  });

  it("an empty pad shows no prediction and no counters", async () => {
    await page.click("#clear");
    expect(await page.evaluate(() => (window as unknown as DemoWindow).rankgateDemo.summary())).toBeNull();
    expect(await page.textContent("#prediction")).toBe("–");
    expect(await page.locator("#logits .logit").count()).toBe(0);
    expect(await page.getAttribute("#macs-total", "data-value")).toBe("0");
    expect(await page.evaluate(() => (window as unknown as DemoWindow).rankgateDemo.setPixels(new Array(784).fill(0)))).toBeNull();
    expect(await page.textContent("#prediction")).toBe("–");
  });

  it("drawing on the pad updates the prediction and the counters live", async () => {
    await page.click("#clear");
    const before = { totalMacs: 0 };
    const box = (await page.locator("#pad").boundingBox())!;
    await page.mouse.move(box.x + 140, box.y + 40);
    await page.mouse.down();
    for (let y = 40; y <= 240; y += 10) await page.mouse.move(box.x + 140 + (y - 40) / 10, box.y + y);
    await page.mouse.up();
    await page.waitForFunction((t) => ((window as unknown as DemoWindow).rankgateDemo.summary()?.totalMacs ?? t) !== t, before.totalMacs, { timeout: 5000 }).catch(() => {});
    const after = await page.evaluate(() => (window as unknown as DemoWindow).rankgateDemo.summary()!);
    // The page's own input (after MNIST-style centring) gives Node's result
    const input = await page.evaluate(() => Array.from((window as unknown as DemoWindow).rankgateDemo.input()));
    expect(input.filter((v) => v > 0).length).toBeGreaterThan(20);
    const engine = await Engine.load(model);
    expect(after).toEqual(summaryOf(engine.infer(Float32Array.from(input)), engine));
    expect(await page.textContent("#prediction")).toBe(String(after.label));
  });

  it("loading a corrupt .rgm shows one line naming the problem and keeps the current model", async () => {
    const bad = model.slice();
    bad[bad.length - 5] ^= 4;
    await page.setInputFiles("#file", { name: "corrupt.rgm", mimeType: "application/octet-stream", buffer: Buffer.from(bad) });
    await page.waitForFunction(() => document.getElementById("status")!.classList.contains("error"));
    const status = (await page.textContent("#status"))!;
    expect(status).toMatch(/^corrupt\.rgm: crc32 at offset 12: expected 0x[0-9a-f]{8}/);
    expect(status).not.toContain("\n");
    expect(await page.textContent("#model-info")).toContain("test.rgm");
    await page.setInputFiles("#file", { name: "again.rgm", mimeType: "application/octet-stream", buffer: Buffer.from(model) });
    await page.waitForFunction(() => document.getElementById("status")!.textContent === "loaded again.rgm");
    expect(pageErrors).toEqual([]);
  });

  it("a model of another input size clears the old result and shows the error where it is seen", async () => {
    await page.evaluate((px) => (window as unknown as DemoWindow).rankgateDemo.setPixels(px), Array.from(digit.images));
    expect(await page.textContent("#prediction")).not.toBe("–");
    await page.setViewportSize({ width: 420, height: 800 });
    await page.setInputFiles("#file", { name: "m20.rgm", mimeType: "application/octet-stream", buffer: Buffer.from(small) });
    await page.waitForFunction(() => document.getElementById("status")!.classList.contains("error"));
    expect(await page.textContent("#status")).toBe("m20.rgm takes 20 inputs; the pad gives 28×28 = 784");
    expect(await page.textContent("#prediction")).toBe("–");
    expect(await page.locator("#logits .logit").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as DemoWindow).rankgateDemo.summary())).toBeNull();
    const box = (await page.locator("#status").boundingBox())!;
    expect(box.y + box.height).toBeLessThanOrEqual(800);
    await page.setInputFiles("#file", { name: "back.rgm", mimeType: "application/octet-stream", buffer: Buffer.from(model) });
    await page.waitForFunction(() => document.getElementById("status")!.textContent === "loaded back.rgm");
  });

  it("fits a 420 px wide viewport: nothing scrolls sideways", async () => {
    await page.setViewportSize({ width: 420, height: 800 });
    await page.evaluate((px) => (window as unknown as DemoWindow).rankgateDemo.setPixels(px), Array.from(digit.images));
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(420);
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(pageErrors).toEqual([]);
  });
});
