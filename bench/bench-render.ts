// What `npm run bench` prints after its rounds, as a pure function of the run's summary, so that the doc sections it
// writes (`--write <section>`: docs/data/<section>.json and that section of docs/BENCHMARKS.md) and the check of
// them (test/docs-generated.test.ts) render the same bytes.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Table from "cli-table3";

export interface BenchContenderRow {
  label: string;
  id: string;
  /** Why it did not run (then no figures). */
  skip?: string;
  /** Median over rounds; range = (max − min) / median. */
  batch1_us?: number;
  batch1_range?: number;
  batch64_samples_per_s?: number;
  batch64_range?: number;
  /** Fraction of labels equal to the reference contender's, and of correct labels. */
  agree?: number;
  accuracy?: number;
  macs_per_sample?: number;
}

/** Everything the printed summary shows. */
export interface BenchSummary {
  /** "run", or how the figures got here when not from a run of bench/bench.ts. */
  source: string;
  /** The command that writes it (with --write section) and that section of docs/BENCHMARKS.md. */
  command: string;
  section: string;
  samples: number;
  rounds: number;
  big: number;
  reference: string;
  cpuTime: boolean;
  cpu: string;
  cores: number;
  loadavg: number[];
  node: string;
  date: string;
  contenders: BenchContenderRow[];
  best_gated_batch1: string;
  best_gated_batch64: string;
  ratios: { ort_f32_over_gated_batch1: number | null; dense_simd_over_gated_batch1: number | null; gated_over_ort_int8_qdq_batch64: number | null; gated_zero_skip_over_floor_batch1: number | null };
  floor: { macs: number; denseGmacs: number; us: number } | null;
  /** Contenders whose batch-64 labels differ from their batch-1 labels, and how many. */
  batch64_label_mismatches: [string, number][];
}

const HEAD = ["contender", "id", "batch 1 µs/sample", "range", "batch 64 samples/s", "range", "= gated", "accuracy", "MACs/sample"];
const ALIGN = ["left", "left", "right", "right", "right", "right", "right", "right", "right"] as const;

/** The printed summary: table, ratios, floor, mismatches, setup line. `style` colours the table's heads and skip notes on a terminal. */
export function renderBenchText(s: BenchSummary, style: { bold: (t: string) => string; dim: (t: string) => string } = { bold: (t) => t, dim: (t) => t }): string {
  const t = new Table({ head: HEAD.map(style.bold), colAligns: [...ALIGN], style: { head: [], border: [], compact: true } });
  const pct = (r: number) => `${(100 * r).toFixed(0)}%`;
  for (const c of s.contenders) {
    if (c.skip) {
      t.push([c.label, c.id, { colSpan: 7, content: style.dim(c.skip) }]);
      continue;
    }
    t.push([
      c.label, c.id, c.batch1_us!.toFixed(1), pct(c.batch1_range!), Math.round(c.batch64_samples_per_s!).toLocaleString("en"), pct(c.batch64_range!),
      (100 * c.agree!).toFixed(2) + "%", (100 * c.accuracy!).toFixed(2) + "%", c.macs_per_sample === undefined ? "" : Math.round(c.macs_per_sample).toLocaleString("en"),
    ]);
  }
  const lines = [t.toString()];
  const show = (v: number | null, what: string, goal: number) =>
    lines.push(`  ${v === null ? "n/a" : v.toFixed(2) + "×"}  ${what} (goal ≥ ${goal}×${v === null ? "" : v >= goal ? ", met" : ", missed"})`);
  lines.push(`ratios (> 1: rankgate gated is faster; gated = best gated schedule: ${s.best_gated_batch1} at batch 1, ${s.best_gated_batch64} at batch 64):`);
  show(s.ratios.ort_f32_over_gated_batch1, "batch 1: ORT f32 µs / gated µs", 5);
  show(s.ratios.dense_simd_over_gated_batch1, "batch 1: rankgate dense int8 SIMD µs / gated µs", 6);
  show(s.ratios.gated_over_ort_int8_qdq_batch64, "batch 64: gated samples/s / ORT int8 QDQ samples/s", 3);
  if (s.floor) {
    const r = s.ratios.gated_zero_skip_over_floor_batch1;
    lines.push(`floor: eval's gated + zero-skip MACs ${Math.round(s.floor.macs).toLocaleString("en")} per digit at this run's dense SIMD ` +
      `${s.floor.denseGmacs.toFixed(1)} GMAC/s = ${s.floor.us.toFixed(2)} µs; gated + zero skip at batch 1 = ` +
      `${r === null ? "n/a" : `${r.toFixed(2)}× the floor (goal ≤ 3×, ${r <= 3 ? "met" : "missed"})`}`);
  }
  const mismatched = s.batch64_label_mismatches.filter(([, v]) => v > 0);
  if (mismatched.length) lines.push(`batch 64 labels differing from batch 1: ${mismatched.map(([k, v]) => `${k} ${v}`).join(", ")}`);
  lines.push(
    `${s.samples} mnist:test digits × ${s.rounds} interleaved rounds (median; range = (max − min) / median), batch 1 and ${s.big} ` +
      `(rankgate batch 64 = inferBatch: one run_batch_s8 call per 64 samples, layer by layer); "= gated": labels equal to ${s.reference}'s. ` +
      `${s.cpuTime ? "CPU time of this process (--cpu-time), not wall time. " : ""}${s.cpu}, ${s.cores} cores, load ${s.loadavg.map((v) => v.toFixed(2)).join(" ")}, Node ${s.node}, ${s.date}`,
  );
  return lines.join("\n");
}

/** The doc section of a run: its printed summary as a text block. */
export function renderBenchRun(s: BenchSummary): string {
  return `\`\`\`text\n${renderBenchText(s)}\n\`\`\``;
}

const DATA = "docs/data";
/** A run's JSON path for its section (sections are named bench-…). */
export const benchRunPath = (section: string) => `${DATA}/${section}.json`;

/** The bench runs docs/BENCHMARKS.md shows, from their saved JSON (docs/data/bench-*.json). */
export const BENCH_RUNS: { section: string; json: string; command: string }[] = (() => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  let files: string[] = [];
  try { files = readdirSync(join(root, DATA)).filter((f) => /^bench-.*\.json$/.test(f)).sort(); } catch { /* no runs saved */ }
  return files.map((f) => {
    const s = JSON.parse(readFileSync(join(root, DATA, f), "utf8")) as BenchSummary;
    return { section: s.section, json: `${DATA}/${f}`, command: s.command };
  });
})();
