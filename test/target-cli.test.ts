// --target on quantize, optimize and eval through the built CLI, on a real small case: a 64-128-64-10 net
// on scikit-learn's 8×8 digits (examples/digits). The models they return are never slower than the dense
// model on the target, by `rankgate sim` on the held-out digits-test.csv; eval's cycle fields equal sim's.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset, writeNpy } from "../toolchain/data/index.ts";

const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const DIGITS = fileURLToPath(new URL("../examples/digits/", import.meta.url));
const TRAIN = join(DIGITS, "digits-train.npz"), TEST = join(DIGITS, "digits-test.csv");
const dir = mkdtempSync(join(tmpdir(), "rankgate-target-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const ok = (r: ReturnType<typeof cli>) => {
  expect(r.code, r.stderr).toBe(0);
  return r;
};
/** sim --json of a model on the held-out digits. */
const sim = (model: string) => JSON.parse(ok(cli("sim", "--model", model, "--target", "cortex-m4f", "--data", TEST, "--json", "-q")).stdout);
let denseSim: number | undefined;
/** The dense model's cycles per inference on the held-out digits. */
const denseCycles = (): number => (denseSim ??= sim("dense.rgm").cycles_per_sample.gated);

beforeAll(() => {
  ok(cli("train", "--data", TRAIN, "--sizes", "64,128,64,10", "--epochs", "15", "--lr", "0.005", "--lr-decay", "0.98", "--batch", "16", "--seed", "1", "-o", "float.safetensors", "-q"));
  ok(cli("quantize", "--float", "float.safetensors", "--data", TRAIN, "--ranks", "0,0", "-o", "dense.rgm", "-q"));
  // optimize's validation split: the last 300 training digits
  const d = loadDataset({ data: TRAIN });
  const at = 1200;
  writeFileSync(join(dir, "tr.npy"), writeNpy(d.features.subarray(0, at * 64), [at, 64], "f4"));
  writeFileSync(join(dir, "tr-y.npy"), writeNpy(d.labels!.slice(0, at), [at], "i8"));
  writeFileSync(join(dir, "val.npy"), writeNpy(d.features.subarray(at * 64), [d.count - at, 64], "f4"));
  writeFileSync(join(dir, "val-y.npy"), writeNpy(d.labels!.slice(at), [d.count - at], "i8"));
}, 60_000);

describe("digits 64-128-64-10 on cortex-m4f", () => {
  it("quantize --budget 0.5 --target cortex-m4f: never slower than dense on its 300 samples and held out", () => {
    const q = ok(cli("quantize", "--float", "float.safetensors", "--data", TRAIN, "--budget", "0.5", "--target", "cortex-m4f", "-o", "t.rgm", "-q"));
    const rep = JSON.parse(readFileSync(join(dir, "t.report.json"), "utf8"));
    const c = rep.search.cycles;
    expect(c.target).toBe("cortex-m4f");
    expect(c.samples).toBe(300);
    expect(c.chosen).toBeLessThanOrEqual(c.dense);
    expect(rep.search.gating_does_not_pay).toBe(!(c.chosen < c.dense));
    expect(rep.validation.cycles).toEqual({ target: "cortex-m4f", schedule: "gated", samples: 300, gated: c.chosen, dense: c.dense, ratio: c.ratio });
    expect(q.stdout).toContain(`, ${c.ratio.toFixed(3)}× dense cycles on cortex-m4f`);
    // Held out: the dense model's cycles do not depend on the data (up to the order of summation)
    const dense = denseCycles();
    expect(dense).toBeCloseTo(c.dense, 6);
    expect(sim("t.rgm").cycles_per_sample.gated).toBeLessThanOrEqual(dense);
  });

  // --max-cycles is honoured in test/target-cost.test.ts (the same code path without the process)
  it("optimize --target cortex-m4f: never slower than dense held out", () => {
    const common = ["--float", "float.safetensors", "--data", "tr.npy", "--labels", "tr-y.npy", "--val-data", "val.npy", "--val-labels", "val-y.npy", "--ranks", "32,32", "--epochs", "0", "--budget", "1", "--target", "cortex-m4f", "-q"];
    ok(cli("optimize", ...common, "-o", "o.rgm"));
    const front = JSON.parse(readFileSync(join(dir, "o.front.json"), "utf8"));
    expect(front.cycles.target).toBe("cortex-m4f");
    expect(front.chosen.cyclesRatio).toBeLessThanOrEqual(1);
    expect(front.gating_does_not_pay).toBe(!(front.chosen.cyclesRatio < 1));
    expect(sim("o.rgm").cycles_per_sample.gated).toBeLessThanOrEqual(denseCycles());
    expect(front.cycles.max_cycles).toBeNull();
  }, 60_000);

  it("eval: gating_pays by MACs with the cortex-m4f verdict beside; with --target by cycles, equal to sim's", () => {
    ok(cli("quantize", "--float", "float.safetensors", "--data", TRAIN, "--ranks", "40,30", "-o", "g.rgm", "-q"));
    const s = sim("g.rgm");
    const dense = denseCycles();
    const plain = JSON.parse(ok(cli("eval", "--model", "g.rgm", "--data", TEST, "--json", "-q")).stdout);
    expect(plain.gating_pays).toBe(plain.macs_per_sample.gated < plain.macs_per_sample.dense);
    expect(plain.gating_pays_cycles).toEqual({ target: "cortex-m4f", schedule: "gated", samples: 297, gated: s.cycles_per_sample.gated, dense, pays: s.cycles_per_sample.gated < dense });
    expect(plain.cycles_per_sample).toBeNull();
    const text = ok(cli("eval", "--model", "g.rgm", "--data", TEST, "-q")).stdout;
    expect(text).toContain(`cycles on cortex-m4f (gated, 297 samples): ${Math.round(s.cycles_per_sample.gated).toLocaleString("en")} per inference, dense model ${Math.round(dense).toLocaleString("en")}`);
    const t = JSON.parse(ok(cli("eval", "--model", "g.rgm", "--data", TEST, "--target", "cortex-m4f", "--json", "-q", "--no-reference")).stdout);
    expect(t.gating_pays).toBe(t.gating_pays_cycles.pays);
    expect(t.cycles_per_sample).toEqual(s.cycles_per_sample);
  });
});

describe("--target errors", () => {
  it.each([
    ["eval", ["eval", "--model", "dense.rgm", "--data", TEST, "--target", "z80"]],
    ["quantize", ["quantize", "--float", "float.safetensors", "--data", TRAIN, "--budget", "1", "--target", "z80", "-o", "z.rgm"]],
    ["optimize", ["optimize", "--float", "float.safetensors", "--data", TRAIN, "--target", "z80", "-o", "z.rgm"]],
  ])("%s: an unknown target names it and lists the known ones, exit 1", (_, argv) => {
    const r = cli(...argv);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('rankgate: unknown target "z80"; known targets: cortex-m0plus, cortex-m4f, cortex-m55, cortex-m7, esp32-s3, rv32imc\n');
  });
  it("optimize --max-cycles without --target, and with --max-macs", () => {
    const a = cli("optimize", "--float", "float.safetensors", "--data", TRAIN, "--max-cycles", "0.5", "-o", "z.rgm");
    expect(a.code).toBe(1);
    expect(a.stderr).toContain("--max-cycles is a fraction of dense cycles on a target: give --target <name>");
    const b = cli("optimize", "--float", "float.safetensors", "--data", TRAIN, "--max-cycles", "0.5", "--max-macs", "0.5", "--target", "cortex-m4f", "-o", "z.rgm");
    expect(b.code).toBe(1);
    expect(b.stderr).toContain("--max-cycles and --max-macs exclude each other");
  });
});
