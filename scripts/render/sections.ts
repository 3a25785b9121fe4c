// Every generated section of the docs: the file, the section, the command that writes it whole, and how to render it
// from what that command saved (its run JSON, or the committed inputs). test/docs-generated.test.ts renders each one
// and compares it byte for byte with the committed doc.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sectionBlock } from "../../toolchain/report/doc-sections.ts";
import { BEGIN as TARGETS_BEGIN, END as TARGETS_END, targetTables, timingTable, TIMINGS_SECTION } from "./simulator.ts";
import { markdown as mcuMarkdown, MCU_SECTION, runtimeTable, RUNTIME_SECTION, type ModelResult, type Wasm3Result } from "../../bench/mcu.ts";
import { BENCH_RUNS, renderBenchRun } from "../../bench/bench-render.ts";
import { KERNELS_RUN, KERNELS_SECTION, layersMarkdown } from "../../bench/mcu-layers.ts";
import { loadRun } from "./common.ts";
import { BLOCKS_RUN, BLOCKS_SECTION, renderBlocks } from "./blocks.ts";
import { DEP_SIZES_COMMAND, DEP_SIZES_RUN, DEP_SIZES_SECTION, renderDepSizes } from "./dep-sizes.ts";
import { DIGITS_RUN, DIGITS_SECTION, renderDigits } from "./digits.ts";
import { FRONTIER_RUN, renderFrontier } from "./frontier.ts";
import { PARETO_RUN, renderPareto } from "./pareto.ts";
import { renderReproduce, REPRODUCE_RUN, REPRODUCE_SECTION } from "./reproduce.ts";
import { renderSizes, SIZES_COMMAND, SIZES_RUN, SIZES_SECTION } from "./sizes.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface GeneratedSection {
  /** The Markdown file, from the repository root. */
  doc: string;
  section: string;
  /** The command that writes the section whole (and its run JSON). */
  command: string;
  /** The saved run it is rendered from. */
  from: string;
  /** The section as its generator writes it, markers included. */
  expected(): string;
  /** The section as committed in `text`, markers included ("" when missing). */
  committed?(text: string): string;
}

/** A saved run or data file, from the repository root. */
const json = <T = unknown>(path: string): T => loadRun<T>(join(ROOT, path));
/** sim/measured.json as bench:mcu writes it (its runs, meta and wasm3 figures). */
const measured = () => json<{ runs: ModelResult[]; meta: { command: string; date: string; machine: string }; wasm3?: Wasm3Result[] }>("sim/measured.json");

/** A `<!-- name:start -->` section rendered by `render` from the JSON at `from`. */
function fromJson<T>(doc: string, section: string, command: string, from: string, render: (run: T) => string): GeneratedSection {
  return { doc, section, command, from, expected: () => sectionBlock(section, render(json<T>(from))) };
}

export const GENERATED_SECTIONS: GeneratedSection[] = [
  fromJson("docs/RESULTS.md", REPRODUCE_SECTION, "npm run reproduce", REPRODUCE_RUN, renderReproduce),
  fromJson("docs/RESULTS.md", "pareto", "npm run pareto", PARETO_RUN, renderPareto),
  fromJson("docs/RESULTS.md", BLOCKS_SECTION, "npm run build && npx tsx scripts/block-table.ts", BLOCKS_RUN, renderBlocks),
  fromJson("docs/RESULTS.md", DIGITS_SECTION, "npm run build && npm run digits", DIGITS_RUN, renderDigits),
  fromJson("docs/RESULTS.md", "frontier", "npm run frontier", FRONTIER_RUN, renderFrontier),
  ...BENCH_RUNS.map((r) => fromJson("docs/BENCHMARKS.md", r.section, r.command, r.json, renderBenchRun)),
  fromJson("README.md", SIZES_SECTION, SIZES_COMMAND, SIZES_RUN, renderSizes),
  fromJson("docs/C-API.md", KERNELS_SECTION, "npm run bench:mcu -- --layers --cycles --write", KERNELS_RUN, layersMarkdown),
  fromJson("docs/ARCHITECTURE.md", DEP_SIZES_SECTION, DEP_SIZES_COMMAND, DEP_SIZES_RUN, renderDepSizes),
  { doc: "docs/BENCHMARKS.md", section: MCU_SECTION, command: "npm run bench:mcu -- --doc (a new measurement: npm run bench:mcu -- --write)", from: "sim/measured.json",
    expected: () => { const m = measured(); return sectionBlock(MCU_SECTION, mcuMarkdown(m.runs, m.meta, m.wasm3 ?? [])); } },
  ...["docs/C-API.md", "docs/PORTABILITY.md"].map((doc): GeneratedSection => ({
    doc, section: RUNTIME_SECTION, command: "npm run bench:mcu -- --doc (a new measurement: npm run bench:mcu -- --write)", from: "sim/measured.json",
    expected: () => { const m = measured(); return sectionBlock(RUNTIME_SECTION, runtimeTable(m.runs, m.meta)); },
  })),
  { doc: "docs/SIMULATOR.md", section: TIMINGS_SECTION, command: "npx tsx scripts/sim-docs.ts --write", from: "sim/timings.ts (TIMING_SOURCES)", expected: () => sectionBlock(TIMINGS_SECTION, timingTable()) },
  { doc: "docs/SIMULATOR.md", section: "targets", command: "npx tsx scripts/sim-docs.ts --write", from: "sim/targets/*.json", expected: () => targetTables(),
    committed: (text) => { const i = text.indexOf(TARGETS_BEGIN), j = text.indexOf(TARGETS_END); return i >= 0 && j > i ? text.slice(i, j + TARGETS_END.length) : ""; } },
];

/** Sections whose check lives elsewhere or that have no saved run yet (named so the list above stays the whole story). */
export const CHECKED_ELSEWHERE = [
  { doc: "docs/SIMULATOR.md", section: "fit-errors", why: "test/sim-measured.test.ts renders it from sim/measured.json and the fitted profiles (it needs the fit: slow)" },
];
