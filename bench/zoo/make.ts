// The MCU cost-model zoo: small quantized gated models of different shapes, the data they are measured on,
// and bench/zoo/manifest.json (model, data, samples, fit or held-out) that `npm run bench:mcu -- --manifest`
// measures and sim/fit.ts fits on. Reproducible: fixed splits (bench/zoo/export.py, numpy seed 0),
// fixed training seeds, explicit ranks.
//
//   npx tsx bench/zoo/make.ts            # writes bench/zoo/*.rgm, bench/zoo/data/*.npz, bench/zoo/manifest.json
//
// It runs the built CLI (cli/bin/rankgate.js: npm run build first) and /usr/bin/python3 with scikit-learn; about 30 s.
// Other models change the measurement: re-measure after it (npm run bench:mcu -- --write).
// Training data goes to build/zoo/ (not committed); the measured samples to bench/zoo/data/.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const ZOO = "bench/zoo";
const TRAIN = join(ROOT, "build", "zoo");

export interface ZooModel {
  name: string;
  /** bench/zoo/export.py's data set, or "mnist" (trained on the first 10,000 of mnist:train, measured on mnist:test). */
  data: "breast_cancer" | "digits" | "wine" | "mnist";
  sizes: number[];
  ranks: number[];
  epochs: number;
  /** Block gates instead of estimators (rankgate train-policy from the dense net, ranks ignored): units per block and target density. */
  gates?: { blockSize: number; tau: number; epochs: number };
  /** fit: its measurements enter sim/fit.ts; held-out: only its error is reported. */
  role: "fit" | "held-out";
}

/** Shapes: narrow and wide, shallow and deep, even and odd widths (SIMD tails), 13 to 784 inputs; estimators and block gates. */
export const ZOO_MODELS: ZooModel[] = [
  { name: "wine-13-32-3", data: "wine", sizes: [13, 32, 3], ranks: [4], epochs: 40, role: "fit" },
  { name: "digits-64-256-10", data: "digits", sizes: [64, 256, 10], ranks: [16], epochs: 15, role: "fit" },
  { name: "digits-64-48-40-32-24-10", data: "digits", sizes: [64, 48, 40, 32, 24, 10], ranks: [8, 8, 6, 4], epochs: 20, role: "fit" },
  { name: "digits-64-99-37-10", data: "digits", sizes: [64, 99, 37, 10], ranks: [10, 5], epochs: 15, role: "fit" },
  { name: "mnist-784-64-10", data: "mnist", sizes: [784, 64, 10], ranks: [8], epochs: 3, role: "fit" },
  { name: "bc-30-64-32-2", data: "breast_cancer", sizes: [30, 64, 32, 2], ranks: [8, 4], epochs: 30, role: "held-out" },
  { name: "digits-64-128-64-10", data: "digits", sizes: [64, 128, 64, 10], ranks: [12, 8], epochs: 15, role: "held-out" },
  { name: "bc-30-20-20-20-20-2", data: "breast_cancer", sizes: [30, 20, 20, 20, 20, 2], ranks: [4, 4, 4, 4], epochs: 30, role: "held-out" },
  { name: "wine-13-45-23-3", data: "wine", sizes: [13, 45, 23, 3], ranks: [5, 3], epochs: 40, role: "held-out" },
  { name: "mnist-784-200-50-10", data: "mnist", sizes: [784, 200, 50, 10], ranks: [16, 8], epochs: 3, role: "held-out" },
  { name: "digits-gates-64-96-48-10", data: "digits", sizes: [64, 96, 48, 10], ranks: [], epochs: 10, role: "fit", gates: { blockSize: 8, tau: 0.5, epochs: 10 } },
  { name: "bc-gates-30-48-24-2", data: "breast_cancer", sizes: [30, 48, 24, 2], ranks: [], epochs: 30, role: "held-out", gates: { blockSize: 8, tau: 0.4, epochs: 20 } },
];

/** The repository's own models, measured beside the zoo on the first MNIST test digits. */
export const REPO_MODELS: { model: string; role: ZooModel["role"] }[] = [
  { model: "models/paper.rgm", role: "fit" },
  { model: "models/mcu.rgm", role: "held-out" },
];

/** Inputs measured per model: 32 (MNIST models: 16, their inferences are long). */
export const samplesOf = (data: string) => (data.startsWith("mnist") ? 16 : 32);

export interface ManifestEntry { model: string; data: string; samples: number; role: ZooModel["role"] }

function run(args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, "cli", "bin", "rankgate.js"), ...args], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) throw new Error(`rankgate ${args.join(" ")}: exit ${r.status}\n${r.stdout}`);
  return r.stdout.trim();
}

export function manifest(): ManifestEntry[] {
  return [
    ...ZOO_MODELS.map((m) => {
      const data = m.data === "mnist" ? "mnist:test" : `${ZOO}/data/${m.data}.npz`;
      return { model: `${ZOO}/${m.name}.rgm`, data, samples: samplesOf(data), role: m.role };
    }),
    ...REPO_MODELS.map((m) => ({ model: m.model, data: "mnist:test", samples: samplesOf("mnist"), role: m.role })),
  ];
}

function main() {
  mkdirSync(TRAIN, { recursive: true });
  const py = spawnSync("/usr/bin/python3", [join(ROOT, ZOO, "export.py"), TRAIN, join(ROOT, ZOO, "data")], { stdio: "inherit" });
  if (py.status !== 0) throw new Error("bench/zoo/export.py failed");
  for (const m of ZOO_MODELS) {
    const float = join(TRAIN, `${m.name}-float.safetensors`);
    const train = m.data === "mnist" ? ["--data", "mnist:train", "--train-limit", "10000", "--val-data", "mnist:val"] : ["--data", join(TRAIN, `${m.data}-train.npz`)];
    const calib = m.data === "mnist" ? ["--data", "mnist:val", "--samples", "2000"] : ["--data", join(TRAIN, `${m.data}-train.npz`)];
    console.error(run(["train", ...train, "--sizes", m.sizes.join(","), "--epochs", String(m.epochs), "--l1", "0.0005", "--seed", "1", "-o", float, "-q"]));
    let quantized = float;
    if (m.gates) {
      quantized = join(TRAIN, `${m.name}-policy.safetensors`);
      console.error(run(["train-policy", ...train, "--sizes", m.sizes.join(","), "--init", float, "--block-size", String(m.gates.blockSize), "--tau", String(m.gates.tau),
        "--epochs", String(m.gates.epochs), "--seed", "1", "-o", quantized, "-q"]));
    }
    console.error(run(["quantize", "--float", quantized, ...(m.gates ? [] : ["--ranks", m.ranks.join(",")]), ...calib, "-o", join(ROOT, ZOO, `${m.name}.rgm`),
      "--header", join(TRAIN, `${m.name}.h`), "--report", join(TRAIN, `${m.name}.report.json`), "-q"]));
  }
  writeFileSync(join(ROOT, ZOO, "manifest.json"), `${JSON.stringify({ $comment: "written by npx tsx bench/zoo/make.ts; measured by npm run bench:mcu -- --manifest bench/zoo/manifest.json --write", models: manifest() }, null, 1)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
