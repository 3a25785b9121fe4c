// optimize's work folder (--work): config.json (the run's fingerprint), epoch-N.safetensors (fine-tuned
// weights with their EpochRecord) and trials.json (the search's trials). Every step file carries the run's id
// (a SHA-256 of the fingerprint) and is checked before use; writes are atomic (temporary file, fsync, rename).
// What happens to a damaged or foreign file, per file: docs/ROBUSTNESS.md, "optimize's work folder".
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { UserError, type FloatModel, showName, showValue } from "../../runtime/src/index.ts";
import { checkNotAnInput } from "../io/files.ts";
import { checkpointBytes, parseCheckpoint } from "../train/training-checkpoint.ts";
import type { Trial } from "./trial.ts";

/** Format tag of trials.json (version 2: { format, run, trials }; version 1 was a bare array). */
export const TRIALS_FORMAT = "rankgate-optimize-trials/2";
/** config.json and trials.json larger than these are damaged (a fingerprint is a few hundred bytes). */
export const WORK_CONFIG_MAX_BYTES = 1 << 20;
export const WORK_TRIALS_MAX_BYTES = 64 << 20;

const sha = () => createHash("sha256");
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** SHA-256 (hex) of an array's bytes. */
export const hashBytes = (a: ArrayBufferView): string => sha().update(bytesOf(a)).digest("hex");

/** SHA-256 (hex) of a float model: its sizes, weights, biases, estimators and gates, in order. */
export function modelHash(m: FloatModel): string {
  const h = sha();
  for (const l of m.layers) {
    h.update(`L${l.nIn}x${l.nOut}`).update(bytesOf(l.weight)).update(bytesOf(l.bias));
    if (l.estimator) h.update(`E${l.estimator.rank}`).update(bytesOf(l.estimator.at)).update(bytesOf(l.estimator.bt)).update(bytesOf(l.estimator.offset));
    if (l.gate) h.update(`G${l.gate.blockSize}`).update(bytesOf(l.gate.weight)).update(bytesOf(l.gate.bias));
  }
  return h.digest("hex");
}

/**
 * Writes `data` to `path` through a temporary file in the same folder, then renames it over `path`: a kill
 * leaves the old file or the new one, never a part. With `durable` the data is fsynced before the rename.
 */
export function writeAtomic(path: string, data: Uint8Array | string, durable = true): void {
  checkNotAnInput(path);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* not there */ }
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const reason = code === "EISDIR" ? "is a directory, expected a file" : code === "EACCES" ? "permission denied" : code === "ENOSPC" ? "no space left on the device" : `cannot write (${code || (err as Error).message})`;
    throw new UserError(`${showName(path)}: ${reason} (optimize's work folder)`);
  }
}

/** A work file's bytes, or null when there is none; a folder or other non-file in its place is a UserError. */
function readWorkFile(path: string, maxBytes: number): { bytes: Uint8Array } | { tooLarge: number } | null {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new UserError(`${showName(path)}: not a regular file; optimize's work folder keeps its own files there: remove it or pass another --work folder`);
    size = st.size;
  } catch (err) {
    if (err instanceof UserError) throw err;
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new UserError(`${showName(path)}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (size > maxBytes) return { tooLarge: size };
  try {
    return { bytes: new Uint8Array(readFileSync(path)) };
  } catch (err) {
    throw new UserError(`${showName(path)}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export interface EpochCheck {
  sizes: number[];
  /** Estimator rank per hidden layer; with "learned" a checkpoint's estimators must have them. */
  ranks: number[];
  estimator: "svd" | "learned";
}

/** An epoch checkpoint's record: one fine-tuning epoch of toolchain/optimize/optimize.ts. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  valError: number;
  macFraction: number;
  density: number[];
  computed: number[];
  seconds: number;
}

export type EpochRead =
  | { kind: "missing" }
  | { kind: "ok"; model: FloatModel; record: EpochRecord }
  /** Cut short, unparseable, without a valid record, or its checksum off: trained again and rewritten. */
  | { kind: "damaged"; reason: string };

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isNums = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.length === n && v.every(isNum);

/** What is wrong with an EpochRecord for `epoch` of a net with `hidden` hidden layers, or null. */
function recordProblem(r: unknown, epoch: number, hidden: number): string | null {
  if (typeof r !== "object" || r === null || Array.isArray(r)) return "no epoch record";
  const o = r as Record<string, unknown>;
  if (o.epoch !== epoch) return `record.epoch is ${showValue(o.epoch)}, expected ${epoch}`;
  for (const k of ["loss", "valError", "macFraction", "seconds"]) if (!isNum(o[k])) return `record.${k} is not a finite number`;
  for (const k of ["density", "computed"]) if (!isNums(o[k], hidden)) return `record.${k} is not ${hidden} finite numbers`;
  return null;
}

/** The SHA-256 that an epoch checkpoint's metadata `sum` holds: the run, the epoch, the record and the weights. */
const epochSum = (run: string, epoch: number, record: EpochRecord, model: FloatModel) =>
  sha().update(`${run}\n${epoch}\n${JSON.stringify(record)}\n${modelHash(model)}`).digest("hex");

/**
 * optimize's work folder. `open` creates it (a file in its place, or under it, is a one-line UserError),
 * checks config.json against the run's fingerprint and writes it.
 */
export class WorkDir {
  /** SHA-256 of the fingerprint: every step file names it. */
  readonly run: string;
  private constructor(readonly dir: string, fingerprint: string) {
    this.run = sha().update(fingerprint).digest("hex");
  }

  static open(dir: string, fingerprint: string): WorkDir {
    const name = showName(dir);
    if (dir === "") throw new UserError("--work: an empty path, expected a folder");
    try {
      const st = statSync(dir);
      if (!st.isDirectory()) throw new UserError(`--work ${name}: is a file, expected a folder (optimize keeps its checkpoints there)`);
    } catch (err) {
      if (err instanceof UserError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOTDIR") throw new UserError(`--work ${name}: a parent of this path is a file, expected a folder`);
      if (code !== "ENOENT") throw new UserError(`--work ${name}: cannot use this folder (${code ?? (err as Error).message})`);
      let link = false;
      try { link = lstatSync(dir).isSymbolicLink(); } catch { /* nothing there */ }
      if (link) throw new UserError(`--work ${name}: a link to nothing (dangling), expected a folder`);
      try {
        mkdirSync(dir, { recursive: true });
      } catch (e) {
        const c = (e as NodeJS.ErrnoException).code;
        throw new UserError(`--work ${name}: cannot create this folder (${c === "ENOTDIR" || c === "EEXIST" ? "a parent of this path is a file" : c === "EACCES" ? "permission denied" : c ?? (e as Error).message})`);
      }
    }
    const w = new WorkDir(dir, fingerprint);
    const path = join(dir, "config.json");
    const got = readWorkFile(path, WORK_CONFIG_MAX_BYTES);
    if (got && ("tooLarge" in got || Buffer.from(got.bytes).toString("utf8") !== fingerprint)) {
      throw new UserError(`${showName(dir)} holds a run with other settings or data (config.json differs); pass another --work directory or empty it`);
    }
    if (!got) writeAtomic(path, fingerprint);
    return w;
  }

  epochPath(epoch: number): string {
    return join(this.dir, `epoch-${epoch}.safetensors`);
  }

  /** Writes epoch `epoch`'s checkpoint: the model, its record, the run id and a checksum over all three. */
  writeEpoch(epoch: number, model: FloatModel, record: EpochRecord): void {
    writeAtomic(this.epochPath(epoch), checkpointBytes(model, { record, run: this.run, epoch, sum: epochSum(this.run, epoch, record, model) }));
  }

  /**
   * Epoch `epoch`'s checkpoint, checked: a file of another run (other id, or none: another tool, an older
   * rankgate), of another epoch, or of other sizes or estimators is a UserError naming it; one that does
   * not parse, lacks its record, or whose checksum does not match its contents is "damaged" (recomputed).
   */
  readEpoch(epoch: number, expect: EpochCheck): EpochRead {
    const path = this.epochPath(epoch), name = showName(path);
    const hidden = expect.sizes.length - 2;
    // A checkpoint of the run's model: its tensors, estimators included, and a header of a few KB
    let floats = 0;
    for (let l = 0; l <= hidden; l++) floats += (expect.sizes[l] + 1) * expect.sizes[l + 1] + (l < hidden ? expect.ranks[l] * (expect.sizes[l] + expect.sizes[l + 1]) + expect.sizes[l + 1] : 0);
    const got = readWorkFile(path, 4 * floats + (1 << 20));
    if (!got) return { kind: "missing" };
    if ("tooLarge" in got) return { kind: "damaged", reason: `${got.tooLarge} bytes, more than a checkpoint of this run's model` };
    let parsed;
    try {
      parsed = parseCheckpoint(got.bytes, path);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      return { kind: "damaged", reason: err.message.startsWith(`${path}: `) ? err.message.slice(path.length + 2) : err.message };
    }
    const { model, metadata } = parsed;
    const foreign = (what: string) =>
      new UserError(`${name}: not a checkpoint of this run (${what}); optimize never uses or overwrites it: remove it or pass another --work folder`);
    if (metadata.run !== this.run) throw foreign(typeof metadata.run === "string" ? "it names another run's fingerprint" : "it carries no run fingerprint");
    if (metadata.epoch !== epoch) throw foreign(`it is epoch ${showValue(metadata.epoch)}'s`);
    const sizes = [model.layers[0].nIn, ...model.layers.map((l) => l.nOut)];
    if (sizes.join("-") !== expect.sizes.join("-")) throw foreign(`layer sizes ${sizes.join("-")}, expected ${expect.sizes.join("-")}`);
    for (let l = 0; l < model.layers.length; l++) {
      const { estimator: e, gate } = model.layers[l];
      if (gate) throw foreign(`layer ${l} has a block gate`);
      if (e && (expect.estimator !== "learned" || l >= hidden || e.rank !== expect.ranks[l])) throw foreign(`layer ${l} has an estimator of rank ${e.rank}, expected ${expect.estimator === "learned" && l < hidden ? expect.ranks[l] : "none"}`);
    }
    const problem = recordProblem(metadata.record, epoch, hidden);
    if (problem) return { kind: "damaged", reason: problem };
    const record = metadata.record as EpochRecord;
    if (metadata.sum !== epochSum(this.run, epoch, record, model)) return { kind: "damaged", reason: "its checksum does not match its weights and record" };
    return { kind: "ok", model, record };
  }

  get trialsPath(): string {
    return join(this.dir, "trials.json");
  }

  /**
   * The cached trials of trials.json, each with `model`, the SHA-256 of the float model it ran; a damaged
   * file, another run's, or an entry of the wrong shape is left out and said in `problems` (then recomputed).
   */
  readTrials<T extends object>(valid: (t: unknown) => t is T, settings: string): { trials: (T & { model: string })[]; problems: string[] } {
    const path = this.trialsPath, name = showName(path);
    const got = readWorkFile(path, WORK_TRIALS_MAX_BYTES);
    if (!got) return { trials: [], problems: [] };
    const dropped = (why: string) => ({ trials: [], problems: [`${name}: ${why}; its trials are run again`] });
    if ("tooLarge" in got) return dropped(`${got.tooLarge} bytes, more than ${WORK_TRIALS_MAX_BYTES}`);
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.from(got.bytes).toString("utf8"));
    } catch {
      return dropped("not valid JSON (cut short?)");
    }
    if (typeof doc !== "object" || doc === null || Array.isArray(doc) || (doc as { format?: unknown }).format !== TRIALS_FORMAT) return dropped(`not a ${TRIALS_FORMAT} file`);
    const d = doc as { run?: unknown; trials?: unknown };
    if (d.run !== this.trialsRun(settings)) return dropped("written by another run or with other search settings (its fingerprint differs)");
    if (!Array.isArray(d.trials)) return dropped("no trials list");
    const trials: (T & { model: string })[] = [];
    let bad = 0;
    for (const t of d.trials) {
      if (valid(t) && typeof (t as { model?: unknown }).model === "string") trials.push(t as T & { model: string });
      else bad++;
    }
    return { trials, problems: bad ? [`${name}: ${bad} of ${d.trials.length} trials malformed; they are run again`] : [] };
  }

  /** Rewritten after every trial: renamed into place, not fsynced (a lost trial is measured again). */
  writeTrials(trials: readonly object[], settings: string): void {
    writeAtomic(this.trialsPath, JSON.stringify({ format: TRIALS_FORMAT, run: this.trialsRun(settings), trials }), false);
  }

  /** The run id of trials.json: the run's and the search settings that change a trial's numbers (calibration, safety). */
  private trialsRun(settings: string): string {
    return sha().update(`${this.run}\n${settings}`).digest("hex");
  }
}

/** A trials.json entry of a net with `hidden` hidden layers, with the fields the search reads, of the right types. */
export const isTrialOf = (hidden: number) => (t: unknown): t is Trial => {
  if (typeof t !== "object" || t === null || Array.isArray(t)) return false;
  const o = t as Record<string, unknown>;
  const ints = (v: unknown) => Array.isArray(v) && v.length === hidden && v.every((k) => Number.isInteger(k) && k >= 0);
  return (o.source === "input" || o.source === "finetuned") && (o.epoch === undefined || (Number.isInteger(o.epoch) && (o.epoch as number) >= 1))
    && (o.estimator === "svd" || o.estimator === "learned") && ints(o.ranks) && isNums(o.marginSigmas, hidden) && isNums(o.margins, hidden)
    && isNum(o.error) && o.error >= 0 && o.error <= 1 && isNum(o.macsRatio) && o.macsRatio >= 0 && Number.isInteger(o.flips) && (o.flips as number) >= 0 && isNum(o.bound)
    && (o.cycles === undefined || isNum(o.cycles)) && (o.cyclesRatio === undefined || isNum(o.cyclesRatio))
    && (o.cyclesTarget === undefined || typeof o.cyclesTarget === "string") && (o.cyclesSamples === undefined || Number.isInteger(o.cyclesSamples));
};
