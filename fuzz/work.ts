// The fuzzer's `work` kind: optimize --work folders of a tiny 8-16-4 run (toolchain/optimize/work-dir.ts) with one step file
// damaged, forged, swapped for another run's or replaced by a folder, or --work itself a file. A case must end in
// a one-line UserError or in exactly the .rgm of a run without a work folder (the oracle); a case that must be
// refused (another run's checkpoint, a changed config.json, --work a file) and is accepted is a silent acceptance.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeModel } from "../runtime/src/format.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { featureRange } from "../toolchain/data/index.ts";
import { Quantizer } from "../toolchain/quantize/quantize.ts";
import { gatedRun } from "../toolchain/optimize/rank-search.ts";
import { Rng } from "../toolchain/model/random.ts";
import { syntheticFloat } from "../toolchain/model/synthetic.ts";
import { checkpointBytes, parseCheckpoint } from "../toolchain/train/training-checkpoint.ts";
import { optimizeModel, type OptimizeOptions, type OptimizeResult } from "../toolchain/optimize/optimize.ts";
import type { Samples } from "../toolchain/train/trainer.ts";

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)];

/** Four noisy clusters in [0, 1]^8. */
export function clusters(count: number, seed: number): Samples {
  const r = new Rng(seed), protos = new Rng(5);
  const centre = Array.from({ length: 4 }, () => Float32Array.from({ length: 8 }, () => protos.next()));
  const images = new Float32Array(count * 8), labels = new Uint8Array(count);
  for (let s = 0; s < count; s++) {
    const y = r.int(0, 3);
    labels[s] = y;
    for (let i = 0; i < 8; i++) images[s * 8 + i] = Math.min(1, Math.max(0, centre[y][i] + r.normal() * 0.3));
  }
  return { images, labels, count };
}

interface Setup {
  base: OptimizeOptions;
  /** The .rgm of the run without a work folder. */
  oracle: Uint8Array;
  /** The files of a completed run of `base`, and another run's (8-32-4) epoch checkpoint and trials. */
  files: Record<"config.json" | "epoch-1.safetensors" | "trials.json", Uint8Array>;
  foreign: Record<"epoch-1.safetensors" | "trials.json", Uint8Array>;
  root: string;
}
let setup: Setup | null = null;

const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));

/** Runs the oracle and the two completed runs (outside any case's time budget) in a scratch folder of this process. */
export async function workSetup(): Promise<void> {
  if (setup) return;
  const root = mkdtempSync(join(tmpdir(), "rankgate-fuzz-work-"));
  process.once("exit", () => rmSync(root, { recursive: true, force: true }));
  const model: FloatModel = syntheticFloat(new Rng(21), [8, 16, 4]);
  const base: OptimizeOptions = { model, train: clusters(64, 1), val: clusters(48, 2), ranks: [4], epochs: 1, budgetPp: 5, calibration: 48, margins: [-0.5, 0, 0.5], batchSize: 32 };
  const oracle = (await optimizeModel(base)).rgm;
  const own = join(root, "work-base"), other = join(root, "work-other");
  await optimizeModel({ ...base, workDir: own });
  await optimizeModel({ ...base, model: syntheticFloat(new Rng(22), [8, 32, 4]), workDir: other });
  setup = { base, oracle, files: snapshot(own) as Setup["files"], foreign: snapshot(other) as Setup["foreign"], root };
}

const flip = (rng: Rng, b: Uint8Array) => {
  const c = b.slice();
  for (let n = rng.int(1, 4); n > 0 && c.length; n--) c[rng.int(0, c.length - 1)] ^= 1 << rng.int(0, 7);
  return c;
};
const cut = (rng: Rng, b: Uint8Array) => b.subarray(0, rng.int(0, Math.max(0, b.length - 1)));
const text = (s: string) => new TextEncoder().encode(s);
const JUNK: unknown[] = [null, 7, "x", [], {}, true, -1e308, "\u001b[31m", { trials: null }, [[[[[]]]]]];
const BAD_VALUES: unknown[] = [0, -1, 1e308, -0.5, 2, null, "0", [], {}, 0.01, Number.MAX_SAFE_INTEGER];

/**
 * Why the result's .rgm and chosen trial are not what they say (the trial measured again from the result's float
 * model as optimize measures it, its bound within the target, the .rgm that trial's model), or null.
 */
export async function resultProblem(r: OptimizeResult, base: OptimizeOptions): Promise<string | null> {
  const { val, calibration = 1000 } = base, nIn = base.model.layers[0].nIn;
  const x = val.images as Float32Array, calibX = x.subarray(0, Math.min(calibration, val.count) * nIn);
  const q = new Quantizer(r.float, calibX, calibX.length / nIn, featureRange(calibX));
  const options = { ranks: r.best.ranks, margins: r.best.margins, estimator: r.best.estimator, gates: false };
  const m = await gatedRun(q, options, x, val.labels, val.count);
  if (m.error !== r.best.error || m.macsRatio !== r.best.macsRatio) return `the chosen trial says ${r.best.error} at ${r.best.macsRatio}×, measures ${m.error} at ${m.macsRatio}×`;
  if (r.best.bound > r.target) return `the chosen trial's bound ${r.best.bound} is over the target ${r.target}`;
  if (!Buffer.from(writeModel(q.model(options))).equals(Buffer.from(r.rgm))) return "the .rgm is not the chosen trial's model";
  return null;
}

export interface WorkCase {
  what: string;
  /** Set when the case must end in a UserError. */
  mustFail: boolean;
  bytes: number;
  /**
   * null: the oracle's .rgm; "steered": another .rgm, allowed only where a cached trial's numbers were forged (they
   * may steer the search, docs/ROBUSTNESS.md) and only when that result is honest; else the failure.
   */
  run(): Promise<string | null>;
}

/** Case of `rng`: a work folder (or --work path) for `base`, and the check of its outcome. */
export function workCase(rng: Rng, index: number): WorkCase {
  const s = setup!;
  const dir = join(s.root, `case-${index}`);
  rmSync(dir, { recursive: true, force: true });
  const files: Record<string, Uint8Array | "dir"> = { ...s.files };
  let what = "unchanged", mustFail = false, workDir = dir, forged = false;
  const op = rng.int(0, 15);
  const ep = "epoch-1.safetensors", tr = "trials.json", cf = "config.json";
  const trials = () => JSON.parse(new TextDecoder().decode(s.files[tr])) as { format: string; run: string; trials: Record<string, unknown>[] };
  if (op === 1) { files[ep] = cut(rng, s.files[ep]); what = `epoch cut to ${files[ep].length} bytes`; }
  else if (op === 2) { files[ep] = flip(rng, s.files[ep]); what = "epoch bits flipped"; }
  else if (op === 3) { files[ep] = s.foreign[ep]; what = "epoch of an 8-32-4 run"; mustFail = true; }
  else if (op === 4) {
    const { model } = parseCheckpoint(s.files[ep], ep);
    files[ep] = checkpointBytes(model);
    what = "epoch without record or fingerprint";
    mustFail = true;
  } else if (op === 5) {
    const { model, metadata } = parseCheckpoint(s.files[ep], ep);
    const field = pick(rng, ["valError", "macFraction", "loss", "density", "epoch", "record", "sum", "seconds"] as const);
    const v = pick(rng, BAD_VALUES);
    const meta = field === "record" || field === "sum" ? { ...metadata, [field]: v } : { ...metadata, record: { ...(metadata.record as object), [field]: v } };
    files[ep] = checkpointBytes(model, meta);
    what = `epoch ${field}=${JSON.stringify(v)}`;
  } else if (op === 6) { files[ep] = "dir"; what = "epoch a folder"; mustFail = true; }
  else if (op === 7) { files[tr] = cut(rng, s.files[tr]); what = `trials cut to ${files[tr].length} bytes`; }
  else if (op === 8) { const v = pick(rng, JUNK); files[tr] = text(JSON.stringify(v)); what = `trials ${JSON.stringify(v)}`; }
  else if (op === 9) {
    const doc = trials(), i = rng.int(0, doc.trials.length - 1);
    const fields = ["error", "macsRatio", "flips", "bound", "margins", "ranks", "source", "estimator", "model", "epoch"];
    const n = rng.int(1, 4), changed: string[] = [];
    for (let k = 0; k < n; k++) {
      const f = pick(rng, fields), v = rng.next() < 0.5 ? pick(rng, BAD_VALUES) : rng.next();
      doc.trials[i] = { ...doc.trials[i], [f]: v };
      changed.push(`${f}=${JSON.stringify(v)}`);
    }
    files[tr] = text(JSON.stringify(doc));
    what = `trial ${i} forged: ${changed.join(", ")}`;
    forged = true;
  } else if (op === 10) { files[tr] = flip(rng, s.files[tr]); what = "trials bits flipped"; }
  else if (op === 11) {
    const doc = trials(), how = pick(rng, ["foreign", "drop", "duplicate", "reverse"] as const);
    if (how === "foreign") files[tr] = s.foreign[tr];
    else {
      if (how === "drop") doc.trials.splice(rng.int(0, doc.trials.length - 1), 1);
      if (how === "duplicate") doc.trials.push(doc.trials[rng.int(0, doc.trials.length - 1)]);
      if (how === "reverse") doc.trials.reverse();
      files[tr] = text(JSON.stringify(doc));
    }
    what = `trials ${how}`;
  } else if (op === 12) { files[cf] = rng.next() < 0.5 ? flip(rng, s.files[cf]) : cut(rng, s.files[cf]); what = "config changed"; mustFail = true; }
  else if (op === 13) { delete files[cf]; what = "config missing"; }
  else if (op === 14) { workDir = rng.next() < 0.5 ? join(dir, "file") : join(dir, "file", "sub"); what = `--work ${workDir.endsWith("sub") ? "under a file" : "a file"}`; mustFail = true; }
  else if (op === 15) { files[`${tr}.4242.tmp`] = cut(rng, s.files[tr]); files[`${ep}.4242.tmp`] = cut(rng, s.files[ep]); what = "temporary files of a killed run"; }
  mkdirSync(dir, { recursive: true });
  let bytes = 0;
  if (op === 14) writeFileSync(join(dir, "file"), "x");
  else for (const [name, b] of Object.entries(files)) {
    if (b === "dir") mkdirSync(join(dir, name));
    else { writeFileSync(join(dir, name), b); bytes += b.length; }
  }
  return {
    what, mustFail, bytes,
    run: async () => {
      try {
        const r = await optimizeModel({ ...s.base, workDir });
        if (mustFail) return `${what}: accepted`;
        if (Buffer.from(r.rgm).equals(Buffer.from(s.oracle))) return null;
        if (!forged) return `${what}: the .rgm differs from the run without a work folder`;
        const why = await resultProblem(r, s.base);
        return why ? `${what}: ${why}` : "steered";
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
