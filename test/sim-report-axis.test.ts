// The sim report's plots as SVG text, rendered in Node (no browser): every axis label is a clean
// number. A model whose mean rank repeats (3, 2, 2 → 2.333…) once printed "2.333333" on the x axis.
import { describe, expect, it } from "vitest";
import { findTarget } from "../sim/profile.ts";
import { renderReport } from "../sim/report.ts";
import { simulate } from "../sim/simulate.ts";
import { collectTrace } from "../sim/trace.ts";
import { loadMnist, toFloatInputs } from "../toolchain/data/mnist.ts";
import { buildSynthetic } from "../toolchain/model/synthetic.ts";

describe("sim report axes", () => {
  it("without --float, the rank axis shows the mean rank rounded, and no label has more than 2 decimals", async () => {
    const { bytes } = buildSynthetic({ sizes: [784, 16, 12, 8, 10], ranks: [3, 2, 2], seed: 5 });
    const d = loadMnist("test", { limit: 20 });
    const trace = await collectTrace(bytes, toFloatInputs(d.images, d.count), d.labels, d.count);
    const target = findTarget("cortex-m4f");
    const html = await renderReport({ result: simulate(bytes, trace, target), target, model: "m.rgm", data: "mnist:test", sweep: null, ranks: [3, 2, 2] });
    const texts = [...html.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
    expect(texts).toContain("2.3");
    expect(texts.filter((t) => /\d\.\d{3,}/.test(t))).toEqual([]);
  });
});
