// Fit the structural cost parameters (sim/cost.ts COST_PARAMS) of the measured targets to the C runtime's
// measured counts (sim/measured.json): predicted cycles are linear in the parameters, so every measured
// layer of every FIT model and schedule gives one equation (its instructions × the run's cycles per instruction),
// and every run one more for the per-inference part (before the first layer). Solved as non-negative least
// squares on relative error. HELD-OUT models never enter the fit; their error is reported apart. The cited
// `cycles` of a profile are never touched: the fit goes to its `fitted` block. Deterministic: rerunning gives
// the same files.
// The files it updates (profiles, docs/SIMULATOR.md) are written by scripts/fit-sim.ts and `npm run bench:mcu -- --write`.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadDataset } from "../toolchain/data/index.ts";
import { COST_PARAMS, emptyCounts, layerCounts, layerWork, type CostParam, type Counts, type Schedule } from "./cost.ts";
import { loadMeasured, MEASURED_SCHEDULES, predictedCompute, type MeasuredFile, type MeasuredModel } from "./measured.ts";
import { BUILTIN_TARGETS_DIR, readProfile, type TargetProfile } from "./profile.ts";
import { geometry, simulate } from "./simulate.ts";
import { collectTrace, type ModelTrace } from "./trace.ts";

/** The targets measured by npm run bench:mcu and fitted here. */
export const FIT_TARGETS = ["cortex-m0plus", "cortex-m4f", "cortex-m55", "cortex-m7", "rv32imc"] as const;
/**
 * Held-out models' largest |error| per schedule that the tests accept, per target. The Arm cores: ±10 % (issue 21's
 * acceptance). rv32imc, measured since the RISC-V port: ±15 % for now, its gated + zero-skip held-out error being
 * 11.8 % (docs/SIMULATOR.md), a gap to close, not a target. cortex-m55, measured since the MVE kernels: ±20 % for
 * now (held-out gated 15.5 %, gated + zero skip 14.4 % on models/mcu.rgm, counted as sim/cost.ts counts the
 * MVE loops); a gap to close, not a target.
 */
export const HELD_OUT_TOLERANCE: Record<(typeof FIT_TARGETS)[number], number> = { "cortex-m0plus": 0.1, "cortex-m4f": 0.1, "cortex-m55": 0.2, "cortex-m7": 0.1, rv32imc: 0.15 };
export const FIT_SECTION = "fit-errors";

const traces = new Map<string, { bytes: Uint8Array; trace: ModelTrace }>();

/** The engine's trace of a measured run's model on its data and samples (cached). */
export async function measuredTrace(root: string, run: Pick<MeasuredModel, "model" | "data" | "samples">) {
  const key = `${run.model}:${run.data}:${run.samples}`;
  let t = traces.get(key);
  if (!t) {
    const bytes = new Uint8Array(readFileSync(resolve(root, run.model)));
    const d = loadDataset({ data: run.data.startsWith("mnist:") ? run.data : resolve(root, run.data), samples: run.samples });
    t = { bytes, trace: await collectTrace(bytes, d.features, d.labels ?? new Array<number>(d.count).fill(0), run.samples) };
    traces.set(key, t);
  }
  return t;
}

/** Mean units of work per inference of every layer of a run under one schedule on target p. */
export async function runCounts(root: string, run: MeasuredModel, p: TargetProfile, schedule: Schedule): Promise<Counts[]> {
  const { bytes, trace } = await measuredTrace(root, run);
  const { layers } = geometry(bytes);
  const out = layers.map(() => emptyCounts());
  for (const s of trace.samples) {
    s.layers.forEach((t, l) => {
      const n = layerCounts(p, layers[l], layerWork(layers[l], t, schedule));
      for (const b of ["input", "estimator", "rows_mac", "rows_overhead", "mask"] as const) for (const k of COST_PARAMS) out[l][k] += n[b][k];
    });
  }
  for (const c of out) for (const k of COST_PARAMS) c[k] /= trace.samples.length;
  return out;
}

export interface FitPoint { model: string; role: "fit" | "held-out"; schedule: Schedule; derived: number; instructions: number; predicted: number; error: number }

/** Every measured (model, schedule) of a target: derived cycles and the compute simulate() predicts with profile p. */
export async function predictions(root: string, p: TargetProfile, file: MeasuredFile): Promise<FitPoint[]> {
  const out: FitPoint[] = [];
  for (const m of file.runs) {
    const t = m.targets[p.name];
    if (!t) continue;
    const { bytes, trace } = await measuredTrace(root, m);
    const r = simulate(bytes, trace, p);
    for (const [run, schedule] of Object.entries(MEASURED_SCHEDULES)) {
      const x = t.runs[run];
      if (!x) continue;
      const predicted = predictedCompute(r, schedule);
      out.push({ model: m.model, role: m.role ?? "fit", schedule, derived: x.cycles, instructions: x.instructions, predicted, error: relError(predicted, x.cycles) });
    }
  }
  return out;
}

/** Gaussian elimination with partial pivoting (small dense systems). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length, m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    [m[c], m[piv]] = [m[piv], m[c]];
    if (m[c][c] === 0) continue;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, i) => (row[i] === 0 ? 0 : row[n] / row[i]));
}

/** Least squares min Σ (x·θ / y − 1)² with θ ≥ 0 (a parameter driven negative is fixed at 0 and the rest re-solved). */
export function nnlsRelative(xs: number[][], ys: number[]): number[] {
  const d = xs[0].length;
  const active = new Set<number>(Array.from({ length: d }, (_, j) => j).filter((j) => xs.some((x) => x[j] !== 0)));
  let theta = new Array<number>(d).fill(0);
  for (let round = 0; round <= d; round++) {
    const free = [...active];
    // Columns scaled to unit norm for conditioning
    const scale = free.map((j) => Math.sqrt(xs.reduce((t, x, i) => t + (x[j] / ys[i]) ** 2, 0)) || 1);
    const ata = free.map(() => new Array<number>(free.length).fill(0)), atb = new Array<number>(free.length).fill(0);
    xs.forEach((x, i) => {
      const row = free.map((j, a) => x[j] / ys[i] / scale[a]);
      for (let a = 0; a < free.length; a++) {
        atb[a] += row[a];
        for (let b = 0; b < free.length; b++) ata[a][b] += row[a] * row[b];
      }
    });
    const sol = solve(ata, atb);
    theta = new Array<number>(d).fill(0);
    free.forEach((j, a) => { theta[j] = sol[a] / scale[a]; });
    const negative = free.filter((j) => theta[j] < 0);
    if (negative.length === 0) break;
    for (const j of negative) active.delete(j);
  }
  return theta.map((v) => Math.max(0, v));
}

/** Four significant digits: what the profile stores. */
const round4 = (v: number) => (v === 0 ? 0 : Number(v.toPrecision(4)));

/** The fitted structural parameters of target p from the FIT runs of `file`. */
export async function fitTarget(root: string, p: TargetProfile, file: MeasuredFile): Promise<NonNullable<TargetProfile["fitted"]>["cycles"]> {
  const simd = p.cycles.mac_simd !== null;
  // Fit with the SIMD split of the cited profile (the fitted block decides it otherwise)
  const shape: TargetProfile = { ...p, fitted: undefined };
  const params = COST_PARAMS.filter((k) => simd || k !== "mac_simd");
  const xs: number[][] = [], ys: number[] = [];
  for (const m of file.runs) {
    const t = m.targets[p.name];
    if (!t || (m.role ?? "fit") !== "fit") continue;
    for (const [run, schedule] of Object.entries(MEASURED_SCHEDULES)) {
      const x = t.runs[run];
      if (!x) continue;
      const cpi = x.cycles / x.instructions;
      const counts = await runCounts(root, m, shape, schedule);
      counts.forEach((c, l) => {
        xs.push(params.map((k) => c[k]));
        ys.push(x.layers[l] * cpi);
      });
      // Before the first layer: the per-inference part
      const prologue = x.instructions - x.layers.reduce((a, b) => a + b, 0);
      if (prologue > 0) {
        xs.push(params.map((k) => (k === "inference" ? 1 : 0)));
        ys.push(prologue * cpi);
      }
    }
  }
  if (xs.length === 0) throw new Error(`sim/measured.json: no fit runs on ${p.name}`);
  const theta = nnlsRelative(xs, ys);
  const out = Object.fromEntries(params.map((k, j) => [k, round4(theta[j])])) as Record<CostParam, number>;
  return out;
}

/** Relative error of each point: predicted compute ÷ derived cycles − 1. */
export const relError = (predicted: number, derived: number) => predicted / derived - 1;

/** Every target's fit and its in-sample and held-out errors (nothing written). */
export async function fitAll(root: string, file: MeasuredFile) {
  const out: { target: string; profile: TargetProfile; fitted: TargetProfile; points: FitPoint[] }[] = [];
  for (const name of FIT_TARGETS) {
    const profile = readProfile(join(BUILTIN_TARGETS_DIR, `${name}.json`));
    const cycles = await fitTarget(root, profile, file);
    const fitted: TargetProfile = { ...profile, fitted: { cycles, fit: fitSource(file) } };
    out.push({ target: name, profile, fitted, points: await predictions(root, fitted, file) });
  }
  return out;
}

function fitSource(file: MeasuredFile): NonNullable<TargetProfile["fitted"]>["fit"] {
  const fit = file.runs.filter((r) => (r.role ?? "fit") === "fit").map((r) => r.model);
  const held = file.runs.filter((r) => r.role === "held-out").map((r) => r.model);
  return {
    kind: "fitted",
    cite: `non-negative least squares on relative error (sim/fit.ts) to the C runtime's QEMU instruction counts per layer × the run's ` +
      `cycles per instruction from the core's published timings (sim/timings.ts), dense / gated / gated + zero skip, on the fit models only ` +
      `(\`${file.meta.command}\`, ${file.meta.date})`,
    c_sources_sha256: file.meta.c_sources_sha256 ?? "",
    fit_models: fit,
    held_out_models: held,
  };
}

const SCHEDULE_NAMES: Record<string, string> = { dense: "dense", gated: "gated", gated_zero_skip: "gated + zero skip" };
const pct = (e: number) => `${e >= 0 ? "+" : "−"}${Math.abs(e * 100).toFixed(1)} %`;

/** docs/SIMULATOR.md's generated section: fitted parameters, then error per target × schedule × model, fit and held-out apart. */
export function errorTable(fits: Awaited<ReturnType<typeof fitAll>>, file: MeasuredFile): string {
  const lines: string[] = [
    `Generated by \`npm run bench:mcu -- --write\` (or, from the stored counts, \`npx tsx scripts/fit-sim.ts --write\`) from sim/measured.json ` +
      `(\`${file.meta.command}\`, ${file.meta.date}, C sources sha256 ${(file.meta.c_sources_sha256 ?? "?").slice(0, 12)}…). ` +
      "Error = predicted compute ÷ derived cycles − 1 (derived: measured instructions × the run's cycles per instruction). " +
      "**fit** models' layers entered the least squares (in-sample); **held-out** models never did.",
    "",
    "Fitted parameters (cycles per unit of work; `sim/targets/<target>.json` → `fitted`):",
    "",
    `| target | ${COST_PARAMS.join(" | ")} |`,
    `|---|${COST_PARAMS.map(() => "---:").join("|")}|`,
    ...fits.map((f) => `| ${f.target} | ${COST_PARAMS.map((k) => (f.fitted.fitted!.cycles as Record<string, number | undefined>)[k] ?? "-").join(" | ")} |`),
    "",
    "Max |error| per schedule:",
    "",
    "| target | schedule | in-sample (fit models) | held-out |",
    "|---|---|---:|---:|",
  ];
  for (const f of fits) {
    for (const s of Object.values(MEASURED_SCHEDULES)) {
      const at = (role: string) => f.points.filter((p) => p.schedule === s && p.role === role).map((p) => Math.abs(p.error));
      const max = (v: number[]) => (v.length ? `${(Math.max(...v) * 100).toFixed(1)} %` : "-");
      lines.push(`| ${f.target} | ${SCHEDULE_NAMES[s]} | ${max(at("fit"))} | ${max(at("held-out"))} |`);
    }
  }
  lines.push("", "Per model (derived cycles per inference, error):", "", "| model | role | samples | target | dense | gated | gated + zero skip |", "|---|---|---:|---|---:|---:|---:|");
  for (const role of ["fit", "held-out"] as const) {
    for (const m of file.runs.filter((r) => (r.role ?? "fit") === role)) {
      for (const f of fits) {
        const cell = (s: Schedule) => {
          const p = f.points.find((x) => x.model === m.model && x.schedule === s);
          return p ? `${Math.round(p.derived).toLocaleString("en-US")} (${pct(p.error)})` : "-";
        };
        lines.push(`| ${m.model} | ${role} | ${m.samples} of ${m.data} | ${f.target} | ${cell("dense")} | ${cell("gated")} | ${cell("gated_zero_skip")} |`);
      }
    }
  }
  return lines.join("\n");
}

/** The profile's text with its `fitted` block replaced (written before "sources"), and the measured code size. */
export function profileText(text: string, fitted: NonNullable<TargetProfile["fitted"]>, code: number, meta: MeasuredFile["meta"]): string {
  const json = (v: unknown) => JSON.stringify(v).replace(/":/g, '": ').replace(/,"/g, ', "');
  const block = `  "fitted": {\n    "cycles": ${json(fitted.cycles).replace(/^\{/, "{ ").replace(/\}$/, " }")},\n    "fit": ${json(fitted.fit)}\n  },\n`;
  let out = text.replace(/ {2}"fitted": \{\n[\s\S]*?\n {2}\},\n/, "");
  out = out.replace(/\n {2}"sources": \{/, `\n${block}  "sources": {`);
  if (code > 0) {
    const cite = `arm-none-eabi-size: text of the C runtime kernels/c/src/*.c at -O2 for this core (reader, CRC-32, kernels, float input quantizer; ` +
      `no startup or libc) (\`${meta.command}\`, ${meta.date})`;
    out = out.replace(/("code_bytes": )\d+/, `$1${code}`);
    out = out.replace(/("memory\.code_bytes": )\{.*\}/, `$1${json({ kind: "measurement", cite })}`);
  }
  return out;
}
