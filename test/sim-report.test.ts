// rankgate sim --report: the self-contained HTML page opens in headless Chromium (Debian's
// /usr/bin/chromium via playwright-core, never a downloaded browser), shows its plots, and
// requests nothing but itself. Without Chromium the suite is skipped (a failure under RANKGATE_REQUIRE_SYSTEM=1).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { writeModel } from "../runtime/src/format.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { Quantizer } from "../toolchain/quantize/quantize.ts";
import { Rng } from "../toolchain/model/random.ts";
import { syntheticFloat } from "../toolchain/model/synthetic.ts";
import { launchChromium, type Chromium } from "./helpers/chromium.ts";
import { describeWithTools } from "./helpers/system.ts";
import { checkpointBytes } from "../toolchain/train/training-checkpoint.ts";

const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const float = syntheticFloat(new Rng(4), [784, 48, 24, 10]);
let dir = "";
let browser: Chromium | undefined;
/** Why Chromium did not start: every test that needs it fails with this (never skips). */
let launchError: Error | undefined;

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
}

/** Opens a file in the browser, blocking and recording every request that is not the file itself. */
async function open(path: string) {
  if (launchError) throw launchError;
  const page = await browser!.context.newPage();
  const url = pathToFileURL(path).href;
  const foreign: string[] = [], errors: string[] = [];
  await page.route("**/*", (route) => {
    if (route.request().url() === url) return route.continue();
    foreign.push(route.request().url());
    return route.abort();
  });
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url, { waitUntil: "load" });
  return { page, foreign, errors };
}

describeWithTools(["chromium"], "rankgate sim --report", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "rankgate-sim-report-"));
    writeFileSync(join(dir, "f.safetensors"), checkpointBytes(float));
    const calib = toFloatInputs(loadMnist("val", { limit: 200 }).images, 200);
    writeFileSync(join(dir, "m.rgm"), writeModel(new Quantizer(float, calib, 200, { min: 0, max: 1 }).model({ ranks: [6, 3] })));
    try {
      browser = await launchChromium();
    } catch (err) {
      launchError = new Error(`Chromium did not start: ${(err as Error).message.split("\n")[0]}`);
    }
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("with --float: a rank sweep, and every plot renders in Chromium from the file alone", async () => {
    const r = cli("sim", "--model", "m.rgm", "--target", "cortex-m4f", "--samples", "100", "--float", "f.safetensors", "--sweep-ranks", "2,4,40",
      "--calibration", "200", "--report", "r.html", "--json", "-q");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.sweep.map((p: { rank: number }) => p.rank)).toEqual([0, 2, 4, 40]);
    expect(out.sweep[3].ranks).toEqual([40, 24]);
    expect(out.sweep[0].macs_per_sample.gated).toBe(out.sweep[0].macs_per_sample.dense);
    const html = readFileSync(join(dir, "r.html"), "utf8");
    expect(html).not.toMatch(/<script|<link|@import|src="http/i);

    const { page, foreign, errors } = await open(join(dir, "r.html"));
    const titles = await page.$$eval("svg", (svgs) => svgs.map((s) => s.textContent ?? ""));
    expect(titles).toHaveLength(6);
    for (const t of ["MACs per layer and schedule", "Cycles per layer and schedule", "Where the cycles go", "MACs versus estimator rank", "Error versus MACs across rank configurations", "Break-even density"]) {
      expect(titles.some((x) => x.includes(t)), t).toBe(true);
    }
    // Every plot has a visible size and drawn marks
    const boxes = await page.$$eval("svg", (svgs) => svgs.map((s) => {
      const b = s.getBoundingClientRect();
      return { w: b.width, h: b.height, marks: s.querySelectorAll("path, rect, line, circle").length };
    }));
    for (const b of boxes) {
      expect(b.w).toBeGreaterThan(200);
      expect(b.h).toBeGreaterThan(100);
      expect(b.marks).toBeGreaterThan(10);
    }
    const shot = join(dir, "report.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(50_000);
    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it("without --float: the page says the rank plots show only this model", async () => {
    const r = cli("sim", "--model", "m.rgm", "--target", "esp32-s3", "--samples", "50", "--report", "plain.html", "-q");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("report: plain.html");
    const { page, foreign } = await open(join(dir, "plain.html"));
    expect(await page.locator("p.note").textContent()).toContain("No --float checkpoint was given");
    expect(await page.$$eval("svg", (s) => s.length)).toBe(6);
    expect(foreign).toEqual([]);
    await page.close();
  }, 60_000);
});
