// Every exporter fixture end to end: import → quantize (on the fixture's data) → eval, as the CLI runs them.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadDataset } from "../toolchain/data/index.ts";
import { evaluateModel } from "../toolchain/evaluate/evaluate.ts";
import { applyInputNormalization } from "../toolchain/import/float-checkpoint.ts";
import { importOnnx } from "../toolchain/import/onnx.ts";
import { importSafetensors } from "../toolchain/import/state-dict.ts";
import { checkpointBytes } from "../toolchain/train/training-checkpoint.ts";
import { quantizeCommand } from "../cli/src/commands/quantize.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/exporters/", import.meta.url));
const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const DIST = fileURLToPath(new URL("../cli/dist/rankgate.js", import.meta.url));
interface Fixture { name: string; files: string[]; kind: "onnx" | "safetensors"; expect: string; refAccuracy: number }
const manifest = JSON.parse(readFileSync(join(FIXTURES, "manifest.json"), "utf8")) as { fixtures: Fixture[] };
const ok = manifest.fixtures.filter((f) => f.expect === "ok");

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rankgate-e2e-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("exporter fixtures: import → quantize → eval", () => {
  // Acceptance (issue 11): float accuracy equals the exporter's reference within 0.1 pp, int8 gated within 1 pp
  it.each(ok.map((f) => [f.name, f] as const))("%s", async (_, f) => {
    const src = join(FIXTURES, f.files[0]);
    const bytes = new Uint8Array(readFileSync(src));
    let model = f.kind === "onnx" ? importOnnx(bytes, src, { baseDir: FIXTURES }) : importSafetensors(bytes, src, { activation: "relu" });
    if (f.name === "numpy") model = { ...applyInputNormalization(model, [0], [16], src), notes: [] };
    const float = join(dir, `${f.name}.safetensors`), rgm = join(dir, `${f.name}.rgm`);
    writeFileSync(float, checkpointBytes(model));
    const data = join(FIXTURES, `${f.name}.npz`);
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      await quantizeCommand({ float, output: rgm, data, budget: 1, gates: true, calibration: 1000, quiet: true });
    } finally {
      log.mockRestore();
    }
    const d = loadDataset({ data });
    const report = await evaluateModel(new Uint8Array(readFileSync(rgm)), d.features, d.labels!, d.count, { float: model, reference: false });
    expect(d.count).toBe(360);
    expect(Math.abs(1 - report.error.float! - f.refAccuracy)).toBeLessThanOrEqual(0.001);
    expect(Math.abs(1 - report.error.int8_gated - f.refAccuracy)).toBeLessThanOrEqual(0.01);
    expect(report.inputs.clamped).toBe(0);
  });

  it("through the CLI: skl2onnx.onnx with eval --json", () => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` before the CLI tests`);
    const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8" });
    const f = ok.find((x) => x.name === "skl2onnx")!;
    const data = join(FIXTURES, "skl2onnx.npz");
    for (const args of [["import", join(FIXTURES, "skl2onnx.onnx"), "-o", "skl.safetensors"], ["quantize", "--float", "skl.safetensors", "--data", data, "--budget", "1", "-o", "skl.rgm", "-q"]]) {
      const r = run(...args);
      expect(r.status, r.stderr).toBe(0);
    }
    const r = run("eval", "--model", "skl.rgm", "--data", data, "--float", "skl.safetensors", "--json", "-q");
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(Math.abs(1 - report.error.float - f.refAccuracy)).toBeLessThanOrEqual(0.001);
    expect(Math.abs(1 - report.error.int8_gated - f.refAccuracy)).toBeLessThanOrEqual(0.01);
  });
});
