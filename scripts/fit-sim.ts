// Refit the measured targets' cost parameters from the stored counts (sim/measured.json), without measuring again,
// and write what the fit decides: the profiles' `fitted` blocks (sim/targets/*.json) and docs/SIMULATOR.md's
// fit-errors and target tables. `npm run bench:mcu -- --write` calls writeFitted after a new measurement.
//   npx tsx scripts/fit-sim.ts [--write]             # prints the fit and the errors; --write writes the files
//   npx tsx scripts/fit-sim.ts --measured other.json # fit and errors of other stored counts (nothing written)
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { COST_PARAMS } from "../sim/cost.ts";
import { errorTable, FIT_SECTION, fitAll, profileText } from "../sim/fit.ts";
import { loadMeasured, type MeasuredFile } from "../sim/measured.ts";
import { BUILTIN_TARGETS_DIR, readProfile } from "../sim/profile.ts";
import { writeSection } from "../toolchain/report/doc-sections.ts";
import { writeTargetTables } from "./render/simulator.ts";

/** Refits the three measured targets from `file`, rewrites their profiles' `fitted` blocks and docs/SIMULATOR.md's error table. */
export async function writeFitted(root: string, file: MeasuredFile, log: (s: string) => void = console.error) {
  const fits = await fitAll(root, file);
  for (const f of fits) {
    const path = join(BUILTIN_TARGETS_DIR, `${f.target}.json`);
    const code = Math.max(...file.runs.map((r) => r.targets[f.target]?.runtimeCode ?? 0));
    writeFileSync(path, profileText(readFileSync(path, "utf8"), f.fitted.fitted!, code, file.meta));
    readProfile(path);
    log(`${f.target}: ${COST_PARAMS.map((k) => `${k} ${(f.fitted.fitted!.cycles as Record<string, number | undefined>)[k] ?? "-"}`).join(", ")}`);
  }
  const doc = join(root, "docs", "SIMULATOR.md");
  writeSection(doc, FIT_SECTION, errorTable(fits, file));
  writeTargetTables(doc);
  return fits;
}

async function main() {
  const root = join(import.meta.dirname, "..");
  const at = process.argv.indexOf("--measured");
  const file = loadMeasured(at > 0 ? resolve(process.argv[at + 1]) : undefined);
  if (!file) throw new Error("no sim/measured.json: run npm run bench:mcu -- --write first");
  const fits = process.argv.includes("--write") && at < 0 ? await writeFitted(root, file) : await fitAll(root, file);
  console.log(errorTable(fits, file));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main().catch((e) => { console.error(e); process.exit(1); });
