// docs/SIMULATOR.md's per-target tables (from sim/targets/*.json) and its "timings" section (from sim/timings.ts):
//   npx tsx scripts/sim-docs.ts           # prints them
//   npx tsx scripts/sim-docs.ts --write   # rewrites them in docs/SIMULATOR.md
import { targetTables, timingTable, writeTargetTables } from "./render/simulator.ts";

if (process.argv.includes("--write")) writeTargetTables();
else console.log(`${timingTable()}\n\n${targetTables()}`);
