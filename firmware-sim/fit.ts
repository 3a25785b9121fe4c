// Fit a target profile's cycle parameters to measured counts (firmware-sim/measured.json): the predicted
// compute cycles are linear in the parameters, so each measured (model, schedule) point gives one linear
// equation; solved as least squares on relative error with a ridge pull towards the cited values.
//   npx tsx firmware-sim/fit.ts [--write]    # prints the fit; --write updates firmware-sim/targets/*.json
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadData } from "../tools/data.ts";
import { SCHEDULES } from "./cost.ts";
import { loadMeasured, MEASURED_SCHEDULES, predictedCompute, type MeasuredFile } from "./measured.ts";
import { BUILTIN_TARGETS_DIR, readProfile, type TargetProfile } from "./profile.ts";
import { simulate } from "./simulate.ts";
import { collectTrace, type ModelTrace } from "./trace.ts";

export const FITTED = ["mac_scalar", "mac_simd", "mac_gather", "widen_per_input", "row_overhead", "requantize", "compare_unit",
  "mask_word", "mask_bit", "gather_per_input", "gather_per_nonzero", "fill_per_byte"] as const;
type Param = (typeof FITTED)[number];

export interface FitPoint { model: string; schedule: (typeof SCHEDULES)[number]; derived: number; instructions: number }

const traces = new Map<string, { bytes: Uint8Array; trace: ModelTrace }>();

/** The engine's trace of the first `digits` test digits on a measured model (cached). */
export async function measuredTrace(root: string, model: string, digits: number) {
  const key = `${model}:${digits}`;
  let t = traces.get(key);
  if (!t) {
    const bytes = new Uint8Array(readFileSync(join(root, model)));
    const d = loadData("mnist:test", digits);
    t = { bytes, trace: await collectTrace(bytes, d.features, d.labels!, d.count) };
    traces.set(key, t);
  }
  return t;
}

/** Every measured point of a target with its predicted compute under profile p. */
export async function predictions(root: string, p: TargetProfile, file: MeasuredFile) {
  const out: (FitPoint & { predicted: number })[] = [];
  for (const m of file.runs) {
    const t = m.targets[p.name];
    if (!t) continue;
    const { bytes, trace } = await measuredTrace(root, m.model, m.digits);
    const r = simulate(bytes, trace, p);
    for (const [run, schedule] of Object.entries(MEASURED_SCHEDULES)) {
      const x = t.runs[run];
      if (x) out.push({ model: m.model, schedule, derived: x.cycles, instructions: x.instructions, predicted: predictedCompute(r, schedule) });
    }
  }
  return out;
}

function solve(a: number[][], b: number[]): number[] {
  const n = b.length, m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    [m[c], m[piv]] = [m[piv], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c || m[c][c] === 0) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, i) => (row[i] === 0 ? 0 : row[n] / row[i]));
}

/** Fitted cycle parameters of p (the others unchanged), and the relative error of every point after the fit. */
export async function fitProfile(root: string, p: TargetProfile, file: MeasuredFile, ridge = 0.0001) {
  const params = FITTED.filter((k) => p.cycles[k] !== null) as Param[];
  const unit = (k: Param | null): TargetProfile => ({
    ...p, cycles: { ...p.cycles, ...Object.fromEntries(params.map((q) => [q, q === k ? 1 : 0])) },
  });
  const basis = await Promise.all(params.map((k) => predictions(root, unit(k), file)));
  const points = basis[0];
  // Rows: Σ θ_k f_k / y = 1 per point; ridge rows √λ (θ_k / θ0_k − 1). Each parameter stays at or above
  // half its cited value: a parameter that
  // falls below is fixed there and the rest re-solved.
  const n = params.length, prior = params.map((k) => p.cycles[k] as number), floor = prior.map((v) => v / 2);
  const fixed = new Map<number, number>();
  let theta: number[] = prior;
  for (let round = 0; round < n; round++) {
    const free = params.map((_, a) => a).filter((a) => !fixed.has(a));
    const ata = free.map(() => new Array<number>(free.length).fill(0)), atb = new Array<number>(free.length).fill(0);
    points.forEach((pt, i) => {
      let rest = 1;
      for (const [a, v] of fixed) rest -= (v * basis[a][i].predicted) / pt.derived;
      // zero-skip points weigh double: the model counts single zero inputs, the runtime skips 8-input chunks
      const w = pt.schedule === "gated_zero_skip" ? 2 : 1;
      const row = free.map((a) => basis[a][i].predicted / pt.derived);
      for (let x = 0; x < free.length; x++) { atb[x] += w * row[x] * rest; for (let y = 0; y < free.length; y++) ata[x][y] += w * row[x] * row[y]; }
    });
    free.forEach((a, x) => { ata[x][x] += ridge / (prior[a] * prior[a]); atb[x] += ridge / prior[a]; });
    const sol = solve(ata, atb);
    theta = params.map((_, a) => fixed.get(a) ?? sol[free.indexOf(a)]);
    const low = free.filter((a) => theta[a] < floor[a]);
    if (low.length === 0) break;
    for (const a of low) fixed.set(a, floor[a]);
  }
  theta = theta.map((v) => Math.round(v * 100) / 100);
  const fitted: TargetProfile = { ...p, cycles: { ...p.cycles, ...Object.fromEntries(params.map((k, a) => [k, theta[a]])) } };
  const after = await predictions(root, fitted, file);
  return { fitted, params, points: after.map((x) => ({ ...x, error: x.predicted / x.derived - 1 })) };
}

async function main() {
  const root = join(import.meta.dirname, "..");
  const file = loadMeasured();
  if (!file) throw new Error("no firmware-sim/measured.json: run npm run bench:mcu -- --write first");
  const write = process.argv.includes("--write");
  for (const name of ["cortex-m0plus", "cortex-m4f", "cortex-m7"]) {
    const path = join(BUILTIN_TARGETS_DIR, `${name}.json`);
    const p = readProfile(path);
    const before = await predictions(root, p, file);
    const { fitted, params, points } = await fitProfile(root, p, file);
    console.log(`${name}: ${params.map((k) => `${k} ${p.cycles[k]} → ${fitted.cycles[k]}`).join(", ")}`);
    for (const [i, x] of points.entries()) {
      console.log(`  ${x.model} ${x.schedule}: derived ${Math.round(x.derived)}, predicted ${Math.round(before[i].predicted)} → ${Math.round(x.predicted)} (${(x.error * 100).toFixed(1)} %)`);
    }
    if (write) {
      // Edit values and their sources in place, keeping the file's layout
      let text = readFileSync(path, "utf8");
      for (const k of params) {
        const cite = `fitted (firmware-sim/fit.ts) to the C runtime's QEMU instruction counts × the core's published timings ` +
          `(firmware-sim/timings.ts) on ${file.runs.map((r) => r.model).join(" and ")}, dense / gated / gated + zero skip ` +
          `(\`${file.meta.command}\`, ${file.meta.date}); cited value before the fit: ${p.cycles[k]}`;
        text = text.replace(new RegExp(`("${k}": )[^,\\n]+`), `$1${fitted.cycles[k]}`);
        text = text.replace(new RegExp(`("cycles\\.${k}": )\\{.*\\}`), `$1${JSON.stringify({ kind: "measurement", cite }).replace(/,"cite"/, ', "cite"').replace(/":/g, '": ')}`);
      }
      // Code: the runtime's measured text (the same for every model)
      const code = Math.max(...file.runs.map((r) => r.targets[name]?.runtimeCode ?? 0));
      if (code > 0) {
        const cite = `arm-none-eabi-size: text of the C runtime c/src/*.c at -O2 for this core (reader, CRC-32, kernels, float input quantizer; ` +
          `no startup or libc) (\`${file.meta.command}\`, ${file.meta.date})`;
        text = text.replace(/("code_bytes": )\d+/, `$1${code}`);
        text = text.replace(/("memory\.code_bytes": )\{.*\}/, `$1${JSON.stringify({ kind: "measurement", cite }).replace(/,"cite"/, ', "cite"').replace(/":/g, '": ')}`);
      }
      writeFileSync(path, text);
      readProfile(path);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main().catch((e) => { console.error(e); process.exit(1); });
