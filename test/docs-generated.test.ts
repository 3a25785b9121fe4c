// Every generated section of the docs equals, byte for byte, what its generator writes from the committed inputs (its
// saved run JSON in docs/data/, sim/measured.json, the target profiles, sim/timings.ts); a failure names the section and
// the command that rewrites it. The sizes the docs state are those of the current build.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { getSection, sectionBlock, setLeadingSection, setSection } from "../toolchain/report/doc-sections.ts";
import { CHECKED_ELSEWHERE, GENERATED_SECTIONS, ROOT, type GeneratedSection } from "../scripts/render/sections.ts";
import { renderReproduce, REPRODUCE_RUN, REPRODUCE_SECTION, type ReproduceRun } from "../scripts/render/reproduce.ts";
import { measureSizes } from "../scripts/sizes.ts";
import { SIZES_RUN, type SizesRun } from "../scripts/render/sizes.ts";
import { renderBenchText, type BenchSummary } from "../bench/bench-render.ts";

const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const committedOf = (s: GeneratedSection, text: string) => (s.committed ? s.committed(text) : getSection(text, s.section));

/** null when the section in `text` is the generator's, else what is wrong and what to run. */
function check(s: GeneratedSection, text: string): string | null {
  const committed = committedOf(s, text);
  if (!committed) return `${s.doc} has no "${s.section}" section: run \`${s.command}\``;
  if (committed !== s.expected()) return `${s.doc}, section "${s.section}", differs from what \`${s.command}\` writes from ${s.from}: rerun it (never edit a generated section by hand)`;
  return null;
}

describe("generated doc sections", () => {
  for (const s of GENERATED_SECTIONS) {
    it(`${s.doc} "${s.section}" is ${s.command}'s rendering of ${s.from}`, () => {
      const text = read(s.doc);
      const problem = check(s, text);
      // the diff, when there is one, shows where
      if (problem) expect(committedOf(s, text), problem).toBe(s.expected());
      expect(problem).toBeNull();
    });
  }

  it("names every marked section of the docs: each is checked here or, said why, elsewhere", () => {
    const docs = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
    const found = docs.flatMap((d) => [...read(d).matchAll(/<!-- ([a-z0-9-]+):(?:start|begin)/g)].map((m) => `${d} ${m[1]}`)).sort();
    const known = [...GENERATED_SECTIONS, ...CHECKED_ELSEWHERE].map((s) => `${s.doc} ${s.section}`).sort();
    expect(found).toEqual(known);
    expect(found.length).toBe(24);
  });

  it("every run JSON in docs/data renders a section, and says where its figures come from", () => {
    const used = new Set(GENERATED_SECTIONS.map((s) => s.from));
    const files = readdirSync(join(ROOT, "docs", "data")).map((f) => `docs/data/${f}`);
    expect(files.filter((f) => !used.has(f))).toEqual([]);
    for (const f of files) {
      const j = JSON.parse(read(f));
      const source: string | undefined = j.meta?.source ?? j.source ?? (j.package ? "run" : undefined);
      expect([f, typeof source === "string" && (source === "run" || /^transcribed from the committed table of .*; the next run of .* replaces it$/.test(source))]).toEqual([f, true]);
    }
  });

  it("fails on a changed figure, and names the section and the command", () => {
    const s = GENERATED_SECTIONS.find((x) => x.section === "frontier")!;
    const text = read(s.doc);
    expect(check(s, text)).toBeNull();
    const tampered = text.replace("| 50-35-25 | 1.43 | 1.09 | **0.99** |", "| 50-35-25 | 1.43 | 1.09 | **0.98** |");
    expect(tampered).not.toBe(text);
    expect(check(s, tampered)).toBe(`docs/RESULTS.md, section "frontier", differs from what \`npm run frontier\` writes from docs/data/frontier.json: rerun it (never edit a generated section by hand)`);
    expect(check(s, text.replace(getSection(text, "frontier"), ""))).toBe('docs/RESULTS.md has no "frontier" section: run `npm run frontier`');
  });
});

describe("npm run reproduce writes only its own section", () => {
  const doc = read("docs/RESULTS.md");
  const body = renderReproduce(JSON.parse(read(REPRODUCE_RUN)) as ReproduceRun);

  it("keeps the other generators' sections (pareto, blocks, digits, frontier) and the text around them", () => {
    expect(setLeadingSection(doc, REPRODUCE_SECTION, body)).toBe(doc);
    const changed = setLeadingSection(doc, REPRODUCE_SECTION, body.replace("| full | 1.40 |", "| full | 1.41 |"));
    expect(changed).not.toBe(doc);
    for (const name of ["pareto", "blocks", "digits", "frontier"]) expect(getSection(changed, name)).toBe(getSection(doc, name));
    expect(changed.slice(changed.indexOf("<!-- reproduce:end -->"))).toBe(doc.slice(doc.indexOf("<!-- reproduce:end -->")));
  });

  it("puts the section at the top of a file without it, and makes the file when there is none", () => {
    expect(setLeadingSection("", REPRODUCE_SECTION, body)).toBe(`${sectionBlock(REPRODUCE_SECTION, body)}\n`);
    const other = setSection("", "digits", "x");
    expect(setLeadingSection(other, REPRODUCE_SECTION, body)).toBe(`${sectionBlock(REPRODUCE_SECTION, body)}\n\n${other}`);
  });
});

describe("the sizes the docs state", () => {
  it("are the current build's: Wasm modules to the byte, the runtime package's files exactly, its tarball within 2 %", () => {
    const saved = JSON.parse(read(SIZES_RUN)) as SizesRun;
    const now = measureSizes(ROOT);
    const hint = "the build changed since the sizes were measured: run `npx tsx scripts/sizes.ts --write`";
    expect(now.wasm, hint).toEqual(saved.wasm);
    expect([now.package.name, now.package.version, now.package.unpackedSize, now.package.entryCount], hint)
      .toEqual([saved.package.name, saved.package.version, saved.package.unpackedSize, saved.package.entryCount]);
    // gzip output may differ between npm/zlib versions; the contents above are exact
    expect(Math.abs(now.package.size - saved.package.size) / saved.package.size, hint).toBeLessThanOrEqual(0.02);
  });

  it("appear nowhere else in README.md and docs/ARCHITECTURE.md", () => {
    const saved = JSON.parse(read(SIZES_RUN)) as SizesRun;
    const readme = read("README.md").replace(getSection(read("README.md"), "sizes"), "");
    for (const text of [readme, read("docs/ARCHITECTURE.md")]) {
      // the figures the issue found three ways (README "about 95 KB", ARCHITECTURE "93 KB unpacked", "≈ 8.9 KiB") and any other
      expect(text).not.toMatch(/no dependencies, about \d+ KB|\d+ (KB|kB) (un)?packed|module \(≈ [\d.]+ KiB\)/);
      expect(text).not.toContain(`${(saved.package.unpackedSize / 1000).toFixed(1)} kB`);
    }
  });
});

describe("npm run bench prints what its sections render", () => {
  it("stdout is renderBenchText of the run's summary (saved with --save), byte for byte", () => {
    const dir = mkdtempSync(join(tmpdir(), "rg-gendocs-"));
    try {
      const save = join(dir, "run.json");
      const tsx = createRequire(import.meta.url).resolve("tsx/cli");
      const r = spawnSync(process.execPath, [tsx, "bench/bench.ts", "--samples", "64", "--rounds", "1", "--warmup", "0", "--calibration", "100", "--only", "rankgate_gated_zero_skip", "--save", save],
        { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
      expect(r.status, r.stderr).toBe(0);
      const summary = JSON.parse(readFileSync(save, "utf8")).summary as BenchSummary;
      expect(summary.contenders.map((c) => c.id)).toEqual(["rankgate_gated", "rankgate_gated_zero_skip"]);
      expect(r.stdout).toBe(`${renderBenchText(summary)}\n`);
      expect(r.stdout).toMatch(/^64 mnist:test digits × 1 interleaved rounds/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
