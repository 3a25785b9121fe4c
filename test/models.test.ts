// A regression pin, not an independent check: the counts `rankgate eval --model models/mnist-best.rgm --data
// mnist:test --json` printed when the model was committed (2b5e42d; docs/TRAINING.md, "models/mnist-best.rgm"),
// so a change to the model file, the engine or eval's counting that moves them fails here. The numbers come from
// eval itself; issue 16's acceptance bars are checked on them at the end. The C runtime runs the same model in
// test/c-runtime.test.ts.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

describe("models/mnist-best.rgm: a regression pin of rankgate eval's output", () => {
  it("eval --data mnist:test --json still prints what it printed at commit 2b5e42d: 114 errors on the 10,000 test digits (112 dense) at 0.199× dense MACs, 0.049× with zero skip", () => {
    const r = spawnSync(process.execPath, [join(root, "cli/bin/rankgate.js"), "eval", "--model", "models/mnist-best.rgm", "--data", "mnist:test", "--json", "-q"], { cwd: root, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.samples).toBe(10000);
    expect(Math.round(e.error.int8_gated * 10000)).toBe(114);
    expect(Math.round(e.error.int8_dense * 10000)).toBe(112);
    const m = e.macs_per_sample;
    expect(m.dense).toBe(1628000);
    expect(Math.round(m.gated * 10000)).toBe(3238775920);
    expect((m.gated / m.dense).toFixed(3)).toBe("0.199");
    expect((m.gated_zero_skip / m.dense).toFixed(3)).toBe("0.049");
    // issue 16's acceptance
    expect(e.error.int8_gated).toBeLessThanOrEqual(0.015);
    expect(m.gated).toBeLessThanOrEqual(0.2 * m.dense);
    expect(m.gated_zero_skip).toBeLessThanOrEqual(0.05 * m.dense);
  }, 120_000);
});
