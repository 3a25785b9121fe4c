// The HTML report: one self-contained page (inline CSS and SVG, no script, no network) with
// tables and Vega-Lite charts rendered to SVG at generation time.
import type { TopLevelSpec } from "vega-lite";
import { renderSvg } from "../toolchain/report/charts.ts";
import { BUCKETS, type Schedule } from "./cost.ts";
import type { TargetProfile } from "./profile.ts";
import type { SimResult } from "./simulate.ts";
import type { SweepPoint } from "./sweep.ts";

/** The four schedules of the issue's plots (oracle_zero_skip is in the tables). */
const PLOTTED: Schedule[] = ["dense", "gated", "gated_zero_skip", "oracle"];
const COLORS = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#e45756"];

export interface ReportInput {
  result: SimResult;
  target: TargetProfile;
  model: string;
  data: string;
  /** Rank sweep from --float, or null when only the .rgm was given. */
  sweep: SweepPoint[] | null;
  /** Estimator rank of each hidden layer of the simulated model. */
  ranks: number[];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const num = (x: number, digits = 0) => x.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (x: number | null) => (x === null ? "–" : `${(x * 100).toFixed(1)} %`);


const base = { $schema: "https://vega.github.io/schema/vega-lite/v6.json", background: "white", config: { font: "sans-serif", view: { stroke: null } } } as const;

function layerBars(r: SimResult, field: "macs" | "cycles", title: string): TopLevelSpec {
  const values = r.layers.flatMap((l, i) => PLOTTED.map((s) => ({ layer: `${i}: ${l.n_in}→${l.n_out}`, schedule: s, value: l[field][s] })));
  return {
    ...base, title, width: 120, height: 220, data: { values },
    mark: "bar",
    encoding: {
      column: { field: "layer", type: "nominal", title: "layer", sort: null },
      x: { field: "schedule", type: "nominal", sort: PLOTTED, axis: null },
      y: { field: "value", type: "quantitative", title: `${field === "macs" ? "MACs" : "cycles"} per sample` },
      color: { field: "schedule", type: "nominal", sort: PLOTTED, scale: { range: COLORS } },
      tooltip: [{ field: "schedule" }, { field: "value", format: ",.0f" }],
    },
  } as TopLevelSpec;
}

function breakdownBars(r: SimResult): TopLevelSpec {
  const values = PLOTTED.flatMap((s) => BUCKETS.map((b) => ({ schedule: s, part: b, cycles: r.cycle_breakdown[s][b] })));
  return {
    ...base, title: "Where the cycles go (per sample)", width: 420, height: 200, data: { values },
    mark: "bar",
    encoding: {
      y: { field: "schedule", type: "nominal", sort: PLOTTED, title: null },
      x: { field: "cycles", type: "quantitative", stack: "zero", title: "cycles per sample" },
      color: { field: "part", type: "nominal", sort: [...BUCKETS], scale: { range: COLORS } },
    },
  } as TopLevelSpec;
}

function macsVsRank(input: ReportInput): TopLevelSpec {
  const { result: r, sweep } = input;
  const points = sweep
    ? sweep.filter((p) => p.rank > 0).flatMap((p) => (["gated", "gated_zero_skip"] as Schedule[]).map((s) => ({ rank: p.rank, schedule: s, macs: p.macs_per_sample[s] })))
    : (["gated", "gated_zero_skip"] as Schedule[]).map((s) => ({ rank: meanRank(input.ranks), schedule: s, macs: r.macs_per_sample[s] }));
  const dense = sweep ? sweep[0].macs_per_sample.dense : r.macs_per_sample.dense;
  return {
    ...base, title: sweep ? "MACs versus estimator rank (uniform rank per hidden layer)" : "MACs at this model's rank (no --float: no sweep)",
    width: 420, height: 240,
    layer: [
      {
        data: { values: points },
        mark: { type: "line", point: true },
        encoding: {
          // Clean tick labels: one mean rank (36.7) is the whole domain without --float
          x: { field: "rank", type: "quantitative", title: sweep ? "estimator rank" : "estimator rank (mean over hidden layers)", axis: { format: "~r", tickMinStep: 1 } },
          y: { field: "macs", type: "quantitative", title: "MACs per sample" },
          color: { field: "schedule", type: "nominal", scale: { range: COLORS.slice(1) } },
        },
      },
      { data: { values: [{ dense }] }, mark: { type: "rule", strokeDash: [4, 4], color: COLORS[0] }, encoding: { y: { field: "dense", type: "quantitative" } } },
      { data: { values: [{ dense, label: "dense" }] }, mark: { type: "text", align: "left", dx: 4, dy: -6, color: COLORS[0] }, encoding: { y: { field: "dense", type: "quantitative" }, x: { value: 0 }, text: { field: "label" } } },
    ],
  } as TopLevelSpec;
}

function errorVsMacs(input: ReportInput): TopLevelSpec {
  const { result: r, sweep } = input;
  const values = sweep
    ? sweep.map((p) => ({ macs: p.rank === 0 ? p.macs_per_sample.dense : p.macs_per_sample.gated, error: (p.rank === 0 ? p.error_dense : p.error_gated) * 100, label: p.rank === 0 ? "dense" : `rank ${p.rank}` }))
    : [
      { macs: r.macs_per_sample.dense, error: r.error.int8_dense * 100, label: "dense" },
      { macs: r.macs_per_sample.gated, error: r.error.int8_gated * 100, label: `gated (ranks ${input.ranks.join("-")})` },
    ];
  return {
    ...base, title: sweep ? "Error versus MACs across rank configurations" : "Error versus MACs (this model only)",
    width: 420, height: 240, data: { values },
    layer: [
      { mark: { type: "line", color: "#bbbbbb" }, encoding: { x: { field: "macs", type: "quantitative", title: "MACs per sample (gated schedule)" }, y: { field: "error", type: "quantitative", title: "test error (%)" }, order: { field: "macs" } } },
      { mark: { type: "point", filled: true, size: 60, color: COLORS[1] }, encoding: { x: { field: "macs", type: "quantitative" }, y: { field: "error", type: "quantitative" } } },
      { mark: { type: "text", align: "left", dx: 6, dy: -6, fontSize: 10 }, encoding: { x: { field: "macs", type: "quantitative" }, y: { field: "error", type: "quantitative" }, text: { field: "label" } } },
    ],
  } as TopLevelSpec;
}

function breakEvenBars(r: SimResult): TopLevelSpec {
  const values = r.layers.flatMap((l, i) => (l.rank > 0 ? [{ layer: `${i}: ${l.n_in}→${l.n_out}, rank ${l.rank}`, break_even: (l.break_even_density ?? 0) * 100, computed: l.computed * 100 }] : []));
  return {
    ...base, title: "Break-even density (bar) and rows the gated run computes (tick)", width: 420, height: Math.max(60, 40 * values.length), data: { values },
    layer: [
      { mark: { type: "bar", color: "#c6dbef" }, encoding: { y: { field: "layer", type: "nominal", title: null, sort: null }, x: { field: "break_even", type: "quantitative", title: "% of units computed", scale: { domain: [0, 100] } } } },
      { mark: { type: "tick", color: COLORS[1], thickness: 3 }, encoding: { y: { field: "layer", type: "nominal", sort: null }, x: { field: "computed", type: "quantitative" } } },
    ],
  } as TopLevelSpec;
}

/** Mean of the hidden layers' ranks, to one decimal. */
const meanRank = (ranks: number[]) => (ranks.length ? Math.round((ranks.reduce((a, b) => a + b, 0) / ranks.length) * 10) / 10 : 0);

function table(head: string[], rows: (string | number)[][], numeric = true): string {
  const cell = (c: string | number, i: number) => `<td${numeric && i > 0 ? ' class="n"' : ""}>${typeof c === "number" ? num(c) : esc(c)}</td>`;
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("")}</tbody></table>`;
}

/** The whole page as a string. */
export async function renderReport(input: ReportInput): Promise<string> {
  const { result: r, target: t } = input;
  const schedules = Object.keys(r.macs_per_sample) as Schedule[];
  const summary = table(["schedule", "MACs / sample", "× dense", "cycles / sample", "× dense", "latency (µs)", "energy (µJ)", "flash bytes read", "SRAM bytes read"],
    schedules.map((s) => [s, r.macs_per_sample[s], (r.macs_per_sample[s] / r.macs_per_sample.dense).toFixed(3), r.cycles_per_sample[s], (r.cycles_per_sample[s] / r.cycles_per_sample.dense).toFixed(3),
      num(r.latency_us[s], 1), num(r.energy_uj[s], 2), r.flash_bytes_per_sample[s], r.sram_bytes_per_sample[s]]));
  const layers = table(["layer", "n_in → n_out", "rank", "density", "computed", "inputs ≠ 0", ...PLOTTED.map((s) => `cycles ${s}`), "break-even density", "gating pays"],
    r.layers.map((l, i) => [String(i), `${l.n_in} → ${l.n_out}`, String(l.rank || "–"), pct(l.density), pct(l.computed), pct(l.input_nonzero), ...PLOTTED.map((s) => l.cycles[s]),
      l.rank ? (l.break_even_density === null ? "never" : pct(l.break_even_density)) : "–", l.gating_pays === null ? "–" : l.gating_pays ? "yes" : "no"]));
  const m = r.memory;
  const memory = table(["", "needed", "available"], [
    ["flash (model + code)", `${num(m.flash_bytes)} B`, `${num(m.flash_available)} B`],
    ["SRAM (arena + stack)", `${num(m.sram_bytes)} B`, `${num(m.sram_available)} B`],
  ]);
  const sources = table(["field", "value", "kind", "source"],
    Object.entries(t.sources).map(([field, s]) => [field, JSON.stringify(field.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], t)), s.kind, s.cite]), false);
  const charts = await Promise.all([
    layerBars(r, "macs", "MACs per layer and schedule"), layerBars(r, "cycles", `Cycles per layer and schedule on ${t.name}`),
    breakdownBars(r), macsVsRank(input), errorVsMacs(input), breakEvenBars(r),
  ].map(renderSvg));
  const sweepNote = input.sweep
    ? `<p>Rank sweep: the float checkpoint quantized at uniform ranks ${input.sweep.filter((p) => p.rank > 0).map((p) => p.rank).join(", ")} (capped at min(n_in, n_out)), calibrated on mnist:val, each simulated on the same ${r.samples} samples.</p>`
    : `<p class="note">No <code>--float</code> checkpoint was given, so the rank plots show only this model (ranks ${esc(input.ranks.join("-") || "none")}); pass <code>--float model.safetensors</code> to sweep estimator ranks.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rankgate sim: ${esc(input.model)} on ${esc(t.name)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f4f4f4}.fits{color:#1a7f37;font-weight:600}.nofit{color:#b42318;font-weight:600}.note{color:#8a5a00}
.charts{display:flex;flex-wrap:wrap;gap:24px}.chart svg{max-width:100%;height:auto}
</style></head><body>
<h1>rankgate sim: <code>${esc(input.model)}</code> on ${esc(t.title)}</h1>
<p>${esc(t.core)}; ${num(t.clock_hz / 1e6)} MHz; parts: ${esc(t.parts.join("; "))}. Data: ${esc(input.data)}, ${r.samples} samples.
Gated test error ${pct(r.error.int8_gated)}, dense ${pct(r.error.int8_dense)}. Flash reads ${r.flash_stalls ? "stall (the model is larger than the data cache)" : "hit the cache after the first inference"}.</p>
<h2>Schedules</h2>${summary}
<h2>Memory</h2><p class="${m.fits ? "fits" : "nofit"}">${esc(m.verdict)}</p>${memory}
<h2>Layers</h2>${layers}
<h2>Plots</h2>${sweepNote}
<div class="charts">${charts.map((svg) => `<div class="chart">${svg}</div>`).join("\n")}</div>
<h2>Target profile and sources</h2>
<p>Numbers of kind <em>derived</em> are instruction-count estimates from the cited timings; <em>assumption</em> marks numbers we could not check. The cost model is described in docs/SIMULATOR.md.</p>
${sources}
</body></html>
`;
}
