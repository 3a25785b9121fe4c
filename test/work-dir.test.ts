// optimize's work folder (toolchain/optimize/work-dir.ts): the reproducers of issue 22 on tiny 8-16-4 runs. Each damaged or
// foreign step file ends in a named UserError or in the result of a fresh run, never a crash or a trusted forgery.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { UserError } from "../runtime/src/errors.ts";
import { checkpointBytes, parseCheckpoint, saveCheckpoint } from "../toolchain/train/training-checkpoint.ts";
import { optimizeModel, type OptimizeOptions, type Trial } from "../toolchain/optimize/optimize.ts";
import { trainMlp, type Samples } from "../toolchain/train/trainer.ts";
import { TRIALS_FORMAT, writeAtomic } from "../toolchain/optimize/work-dir.ts";
import { clusters, resultProblem } from "../fuzz/work.ts";

const data = clusters;
const train = data(200, 11), val = data(120, 12);
const model16 = (await trainMlp({ sizes: [8, 16, 4], train, val, epochs: 3, lr: 0.05, seed: 3, compute: "js" })).model;
const model32 = (await trainMlp({ sizes: [8, 32, 4], train, val, epochs: 3, lr: 0.05, seed: 3, compute: "js" })).model;
const base: OptimizeOptions = { model: model16, train, val, ranks: [4], epochs: 1, budgetPp: 5, calibration: 100, margins: [-0.5, 0, 0.5], batchSize: 50 };

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "rankgate-work-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The thrown error, which must be a UserError with one line. */
async function refused(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(UserError);
  const message = (err as Error).message;
  expect(message).not.toContain("\n");
  return message;
}

const fresh = await optimizeModel({ ...base });
const same = (r: { rgm: Uint8Array }) => expect(Buffer.from(r.rgm).equals(Buffer.from(fresh.rgm))).toBe(true);
/** A work folder holding a complete run of `base`. */
async function completed(): Promise<string> {
  const work = tmp();
  same(await optimizeModel({ ...base, workDir: work }));
  return work;
}
const warningsOf = (o: OptimizeOptions) => {
  const seen: string[] = [];
  return { opts: { ...o, onEvent: (e: Parameters<NonNullable<OptimizeOptions["onEvent"]>>[0]) => { if (e.stage === "warning") seen.push(e.message); } }, seen };
};

describe("optimize --work: the folder itself", () => {
  it("a file, or a path under one, is one line naming it", async () => {
    const d = tmp(), file = join(d, "f");
    writeFileSync(file, "x");
    expect(await refused(optimizeModel({ ...base, workDir: file }))).toBe(`--work "${file}": is a file, expected a folder (optimize keeps its checkpoints there)`);
    expect(await refused(optimizeModel({ ...base, workDir: join(file, "sub") }))).toBe(`--work "${join(file, "sub")}": a parent of this path is a file, expected a folder`);
    expect(await refused(optimizeModel({ ...base, workDir: join(file, "sub", "deeper") }))).toMatch(/a parent of this path is a file/);
    expect(await refused(optimizeModel({ ...base, workDir: "" }))).toBe("--work: an empty path, expected a folder");
  });

  it("a dangling link is one line", async () => {
    const d = tmp(), link = join(d, "link");
    symlinkSync(join(d, "nowhere", "x"), link);
    expect(await refused(optimizeModel({ ...base, workDir: link }))).toBe(`--work "${link}": a link to nothing (dangling), expected a folder`);
  });

  it("the CLI: --work naming a file ends in one line and exit 1", () => {
    const d = tmp();
    writeFileSync(join(d, "m.safetensors"), checkpointBytes(model16));
    const csv = (s: Samples) => ["f0,f1,f2,f3,f4,f5,f6,f7,label", ...Array.from({ length: s.count }, (_, i) => [...s.images.subarray(i * 8, i * 8 + 8)].join(",") + `,${s.labels[i]}`)].join("\n") + "\n";
    writeFileSync(join(d, "train.csv"), csv(train));
    writeFileSync(join(d, "val.csv"), csv(val));
    writeFileSync(join(d, "f"), "x");
    const bin = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
    const r = spawnSync(process.execPath, [bin, "optimize", "--float", "m.safetensors", "--data", "train.csv", "--val-data", "val.csv", "--epochs", "1", "--work", "f", "-o", "o.rgm", "-q"], { cwd: d, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toBe(`rankgate: --work "f": is a file, expected a folder (optimize keeps its checkpoints there)\n`);
    expect(r.stdout).toBe("");
  });

  it("a folder where a step file goes is a named error", async () => {
    const work = tmp();
    mkdirSync(join(work, "epoch-1.safetensors"));
    expect(await refused(optimizeModel({ ...base, workDir: work }))).toMatch(/epoch-1\.safetensors": not a regular file/);
  });

  it("writes atomically: no temporary file is left, and a failed write leaves the old file", () => {
    const d = tmp(), p = join(d, "a.json");
    writeAtomic(p, "old");
    writeAtomic(p, "new");
    expect(readFileSync(p, "utf8")).toBe("new");
    mkdirSync(join(d, "dir.json"));
    expect(() => writeAtomic(join(d, "dir.json"), "x")).toThrow(UserError);
    expect(readdirSync(d).sort()).toEqual(["a.json", "dir.json"]);
  });

  it("a resumed run leaves exactly its three files and equals a fresh run", async () => {
    const work = await completed();
    expect(readdirSync(work).sort()).toEqual(["config.json", "epoch-1.safetensors", "trials.json"]);
    const w = warningsOf({ ...base, workDir: work });
    same(await optimizeModel(w.opts));
    expect(w.seen.filter((m) => m.includes(work))).toEqual([]);
  });
});

describe("optimize --work: epoch checkpoints", () => {
  it("another run's checkpoint (8-32-4 in an 8-16-4 run) is refused, not used, not overwritten", async () => {
    const other = tmp();
    await optimizeModel({ ...base, model: model32, workDir: other });
    const work = tmp();
    copyFileSync(join(other, "epoch-1.safetensors"), join(work, "epoch-1.safetensors"));
    const before = readFileSync(join(work, "epoch-1.safetensors"));
    expect(await refused(optimizeModel({ ...base, workDir: work }))).toMatch(/epoch-1\.safetensors": not a checkpoint of this run \(it names another run's fingerprint\)/);
    expect(readFileSync(join(work, "epoch-1.safetensors")).equals(before)).toBe(true);
  });

  it("a checkpoint without an epoch record or fingerprint (another tool's) is refused", async () => {
    const work = tmp();
    saveCheckpoint(model16, join(work, "epoch-1.safetensors"));
    expect(await refused(optimizeModel({ ...base, workDir: work }))).toMatch(/not a checkpoint of this run \(it carries no run fingerprint\)/);
  });

  it("this run's checkpoint renamed to another epoch is refused", async () => {
    const work = await completed();
    copyFileSync(join(work, "epoch-1.safetensors"), join(work, "epoch-2.safetensors"));
    expect(await refused(optimizeModel({ ...base, epochs: 2, workDir: work }))).toMatch(/epoch-2\.safetensors": not a checkpoint of this run \(it is epoch 1's\)/);
  });

  for (const [what, damage, reason] of [
    ["cut short", (b: Buffer) => b.subarray(0, b.length - 7), 'tensors["layers.1.weight"].data_offsets at offset'],
    ["a flipped weight byte", (b: Buffer) => { const c = Buffer.from(b); c[c.length - 5] ^= 0x40; return c; }, "its checksum does not match its weights and record"],
    ["empty", () => Buffer.alloc(0), "header_length at offset 0: expected >= 8 bytes of file, got 0 bytes"],
  ] as const) {
    it(`a damaged checkpoint (${what}) is trained again, with a warning, and the result is a fresh run's`, async () => {
      const work = await completed();
      const path = join(work, "epoch-1.safetensors");
      writeFileSync(path, damage(readFileSync(path)));
      const w = warningsOf({ ...base, workDir: work });
      same(await optimizeModel(w.opts));
      const damaged = w.seen.filter((m) => m.includes("damaged"));
      expect(damaged.length, w.seen.join("|")).toBe(1);
      expect(damaged[0]).toMatch(new RegExp(`^"${path}": damaged \\(`));
      expect(damaged[0]).toContain(reason);
      expect(damaged[0]).toMatch(/\); epoch 1 is trained again and the file rewritten$/);
      // Rewritten whole: the next run resumes from it without a warning
      const again = warningsOf({ ...base, workDir: work });
      same(await optimizeModel(again.opts));
      expect(again.seen.filter((m) => m.includes("damaged"))).toEqual([]);
    });
  }

  it("a forged epoch record (a better valError, the run's fingerprint kept) fails its checksum and is retrained", async () => {
    const work = await completed();
    const path = join(work, "epoch-1.safetensors");
    const { model, metadata } = parseCheckpoint(readFileSync(path), path);
    const record = { ...(metadata.record as object), valError: 0 };
    writeFileSync(path, checkpointBytes(model, { ...metadata, record }));
    const w = warningsOf({ ...base, workDir: work });
    const r = await optimizeModel(w.opts);
    same(r);
    expect(r.history[0].valError).toBe(fresh.history[0].valError);
    expect(w.seen.some((m) => m.includes("checksum does not match"))).toBe(true);
  });
});

describe("optimize --work: trials.json", () => {
  for (const [what, text] of [
    ["cut short", (s: string) => s.slice(0, Math.floor(s.length / 2))],
    ["null", () => "null"],
    ["the old bare array", (s: string) => JSON.stringify(JSON.parse(s).trials)],
    ["another run's", (s: string) => JSON.stringify({ ...JSON.parse(s), run: "0".repeat(64) })],
  ] as const) {
    it(`${what}: the trials are run again, with a warning, and the result is a fresh run's`, async () => {
      const work = await completed();
      const path = join(work, "trials.json");
      writeFileSync(path, text(readFileSync(path, "utf8")));
      const w = warningsOf({ ...base, workDir: work });
      same(await optimizeModel(w.opts));
      expect(w.seen.some((m) => m.includes("trials.json") && m.includes("run again"))).toBe(true);
      expect(JSON.parse(readFileSync(path, "utf8")).format).toBe(TRIALS_FORMAT);
    });
  }

  it("malformed entries are dropped and run again", async () => {
    const work = await completed();
    const path = join(work, "trials.json");
    const doc = JSON.parse(readFileSync(path, "utf8"));
    doc.trials[0] = null;
    doc.trials[1] = { ...doc.trials[1], ranks: "4" };
    writeFileSync(path, JSON.stringify(doc));
    const w = warningsOf({ ...base, workDir: work });
    same(await optimizeModel(w.opts));
    expect(w.seen).toContain(`"${path}": 2 of ${doc.trials.length} trials malformed; they are run again`);
  });

  it("a forged entry (0.00 % at 0.010×, the run's fingerprint kept) is measured again, not trusted: the cache is dropped", async () => {
    const work = await completed();
    const path = join(work, "trials.json");
    const doc = JSON.parse(readFileSync(path, "utf8")) as { trials: (Trial & { model: string })[] };
    const forged = doc.trials.findIndex((t) => t.ranks.some((k) => k > 0));
    doc.trials[forged] = { ...doc.trials[forged], error: 0, macsRatio: 0.01, flips: 0, bound: 0 };
    writeFileSync(path, JSON.stringify(doc));
    const w = warningsOf({ ...base, workDir: work });
    const r = await optimizeModel(w.opts);
    same(r);
    expect(r.best.macsRatio).toBe(fresh.best.macsRatio);
    expect(r.trials.some((t) => t.macsRatio === 0.01)).toBe(false);
    expect(w.seen.some((m) => m.includes("does not reproduce") && m.includes("cached 0.00 % at 0.010×"))).toBe(true);
    expect(r.warnings.some((m) => m.includes("does not reproduce"))).toBe(true);
    // The search ran again after resuming the epoch; the caller heard each warning once
    expect(w.seen.filter((m) => m.startsWith("only 120 validation samples")).length).toBe(1);
    expect(r.warnings.filter((m) => m.startsWith("only 120 validation samples")).length).toBe(1);
    // The file now holds the honest trials only
    expect(JSON.parse(readFileSync(path, "utf8")).trials.some((t: Trial) => t.macsRatio === 0.01)).toBe(false);
  });

  it("a forged entry that makes a trial look worse may steer the search, never the numbers: every result is honest", async () => {
    const work = await completed();
    const path = join(work, "trials.json");
    const original = readFileSync(path, "utf8");
    const n = JSON.parse(original).trials.length;
    for (let i = 0; i < n; i++) {
      const doc = JSON.parse(original) as { trials: Trial[] };
      doc.trials[i] = { ...doc.trials[i], error: 1, bound: 1 };
      writeFileSync(path, JSON.stringify(doc));
      const r = await optimizeModel({ ...base, workDir: work });
      expect(await resultProblem(r, base), `trial ${i}`).toBeNull();
    }
    // The check itself: a result whose chosen trial claims other numbers is caught
    expect(await resultProblem({ ...fresh, best: { ...fresh.best, error: fresh.best.error + 0.01 } }, base)).toMatch(/^the chosen trial says/);
  });

  it("every cached trial names the float model it ran (a trial of other weights is not reused)", async () => {
    const work = await completed();
    const doc = JSON.parse(readFileSync(join(work, "trials.json"), "utf8")) as { trials: (Trial & { model: string })[] };
    expect(new Set(doc.trials.map((t) => t.model)).size).toBe(new Set(doc.trials.map((t) => t.source)).size);
    expect(existsSync(join(work, "config.json"))).toBe(true);
  });
});

describe("optimize --work: learned estimators", () => {
  const learned: OptimizeOptions = { ...base, estimator: "learned", ranks: [3] };
  it("a resumed learned run, and one whose checkpoint was damaged, equal a fresh one", async () => {
    const one = await optimizeModel({ ...learned });
    const work = tmp();
    const first = await optimizeModel({ ...learned, workDir: work });
    expect(Buffer.from(first.rgm).equals(Buffer.from(one.rgm))).toBe(true);
    // The checkpoint carries the estimators of rank 3 that validated it
    const path = join(work, "epoch-1.safetensors");
    expect(parseCheckpoint(readFileSync(path), path).model.layers[0].estimator?.rank).toBe(3);
    const w = warningsOf({ ...learned, workDir: work });
    expect(Buffer.from((await optimizeModel(w.opts)).rgm).equals(Buffer.from(one.rgm))).toBe(true);
    expect(w.seen.filter((m) => m.includes(work))).toEqual([]);
    const b = readFileSync(path);
    b[b.length - 3] ^= 1;
    writeFileSync(path, b);
    const d = warningsOf({ ...learned, workDir: work });
    expect(Buffer.from((await optimizeModel(d.opts)).rgm).equals(Buffer.from(one.rgm))).toBe(true);
    expect(d.seen.some((m) => m.includes("checksum does not match"))).toBe(true);
  });
});
