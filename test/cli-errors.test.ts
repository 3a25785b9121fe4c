// Every user error of every command: exit 1, one line naming the problem (a usage error adds a
// one-line hint), no stack trace, nothing on stdout; --help exits 0 on every command. And any
// single-byte corruption of models/paper.rgm (or, until it exists, a generated 784-input model)
// given to inspect or eval is such an error.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FormatError } from "../runtime/src/errors.ts";
import { ENTRY_BYTES, HEADER_BYTES, readModel } from "../runtime/src/format.ts";
import { Rng } from "../toolchain/model/random.ts";
import { buildSynthetic, syntheticFloat } from "../toolchain/model/synthetic.ts";
import { thrown } from "./helpers/errors.ts";
import { checkpointBytes } from "../toolchain/train/training-checkpoint.ts";

const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const PAPER = fileURLToPath(new URL("../models/paper.rgm", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "rankgate-cli-errors-"));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim()) };
}

/** Exit 1, "rankgate: …" naming every part, an optional "run '… --help'" hint line, no stack, no stdout. */
function expectUserError(r: ReturnType<typeof cli>, parts: string[]) {
  expect(r.code, r.stderr).toBe(1);
  expect(r.lines.length, r.stderr).toBe(r.lines.length === 2 && /^(run 'rankgate.*--help'|\(Did you mean .*\?\))$/.test(r.lines[1]) ? 2 : 1);
  expect(r.lines[0]).toMatch(/^rankgate: \S/);
  for (const p of parts) expect(r.lines[0]).toContain(p);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/\w*Error: /);
  expect(r.stdout).toBe("");
}

const floatCheckpoint = (sizes: number[]) => {
  const float = syntheticFloat(new Rng(4), sizes);
  return checkpointBytes(float);
};

beforeAll(() => {
  writeFileSync(join(dir, "m.rgm"), buildSynthetic({ sizes: [784, 16, 10], ranks: [4], seed: 3 }).bytes);
  writeFileSync(join(dir, "m20.rgm"), buildSynthetic({ sizes: [20, 16, 10], ranks: [4], seed: 3 }).bytes);
  writeFileSync(join(dir, "f.safetensors"), floatCheckpoint([784, 24, 12, 10]));
  writeFileSync(join(dir, "f20.safetensors"), floatCheckpoint([20, 8, 3]));
  writeFileSync(join(dir, "notes.txt"), "hello\n");
  writeFileSync(join(dir, "empty.rgm"), "");
  mkdirSync(join(dir, "adir"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** [description, argv, parts the line must contain]: missing files, wrong formats, unknown targets, bad flag values. */
const ERRORS: Record<string, [string, string[], string[]][]> = {
  inspect: [
    ["missing file", ["inspect", "nope.rgm"], ["nope.rgm", "no such file"]],
    ["a directory", ["inspect", "adir"], ["adir", "is a directory"]],
    ["wrong format: safetensors", ["inspect", "f.safetensors"], ["f.safetensors is a float checkpoint (safetensors); --model takes a rankgate model (.rgm): run rankgate quantize"]],
    ["wrong format: safetensors, --model", ["inspect", "--model", "f.safetensors"], ["f.safetensors is a float checkpoint"]],
    ["two different models", ["inspect", "m.rgm", "--model", "m20.rgm"], ["two models given"]],
    ["wrong format: text", ["inspect", "notes.txt"], ["notes.txt", "file_bytes"]],
    ["empty file", ["inspect", "empty.rgm"], ["empty.rgm", "file_bytes", "0 bytes"]],
    ["missing argument", ["inspect"], ["--model is required"]],
    ["too many arguments", ["inspect", "m.rgm", "m20.rgm"], ["too many arguments"]],
    ["unknown flag", ["inspect", "--frob", "m.rgm"], ["unknown option '--frob'"]],
  ],
  import: [
    ["missing file", ["import", "nope.onnx", "-o", "x.safetensors"], ["nope.onnx", "no such file"]],
    ["unknown format from the extension", ["import", "notes.txt", "-o", "x.safetensors"], ["notes.txt", "--format"]],
    ["unknown target format", ["import", "f.safetensors", "--format", "keras", "-o", "x.safetensors"], ["'keras' is invalid", "onnx, safetensors"]],
    ["wrong format: text as ONNX", ["import", "notes.txt", "--format", "onnx", "-o", "x.safetensors"], ["notes.txt", "ONNX"]],
    ["wrong format: .rgm as safetensors", ["import", "m.rgm", "--format", "safetensors", "-o", "x.safetensors"], ["m.rgm", "header_length"]],
    ["output in a missing folder", ["import", "f.safetensors", "-o", "nodir/x.safetensors"], ["nodir/x.safetensors", "no such directory"]],
    ["output over the input", ["import", "f.safetensors", "-o", "f.safetensors"], ["overwrite the input"]],
    ["missing -o", ["import", "f.safetensors"], ["'-o, --output <file>' not specified"]],
  ],
  quantize: [
    ["unknown --estimator", ["quantize", "--float", "f.safetensors", "-o", "q.rgm", "--estimator", "pca"], ["--estimator must be svd or learned, got 'pca'"]],
    ["--estimator learned without learned estimators", ["quantize", "--float", "f.safetensors", "-o", "q.rgm", "--estimator", "learned", "--calibration", "50", "-q"], ["has no learned estimators", "rankgate learn-estimator"]],
    ["missing --float", ["quantize", "-o", "q.rgm"], ["'--float <file>' not specified"]],
    ["missing file", ["quantize", "--float", "nope.safetensors", "-o", "q.rgm"], ["nope.safetensors", "no such file"]],
    ["wrong format: .rgm as checkpoint", ["quantize", "--float", "m.rgm", "-o", "q.rgm"], ["m.rgm is a rankgate model; --float takes a float checkpoint (.safetensors) or run rankgate import first"]],
    ["model for other data", ["quantize", "--float", "f20.safetensors", "-o", "q.rgm", "-q"], ["f20.safetensors", "20 inputs", "784"]],
    ["unknown target data", ["quantize", "--float", "f.safetensors", "-o", "q.rgm", "--data", "cifar:test"], ["unknown data \"cifar:test\""]],
    ["bad --ranks", ["quantize", "--float", "f.safetensors", "-o", "q.rgm", "--ranks", "a,b"], ["--ranks", "'a,b'"]],
    ["--ranks count", ["quantize", "--float", "f.safetensors", "-o", "q.rgm", "--ranks", "1"], ["--ranks needs 2 values"]],
    ["--ranks too large", ["quantize", "--float", "f.safetensors", "-o", "q.rgm", "--ranks", "999,1", "-q"], ["--ranks", "at most rank 24", "999"]],
    ["bad --budget", ["quantize", "--float", "f.safetensors", "-o", "q.rgm", "--budget", "-1"], ["--budget", "'-1'"]],
    ["bad --calibration", ["quantize", "--float", "f.safetensors", "-o", "q.rgm", "--calibration", "0"], ["--calibration", "'0'"]],
    ["--ranks with --budget", ["quantize", "--float", "f.safetensors", "-o", "q.rgm", "--ranks", "1,1", "--budget", "1"], ["exclude each other"]],
    // Checked before any work: not -q, so a "calibrating …" line would break the one-line rule
    ["output in a missing folder", ["quantize", "--float", "f.safetensors", "-o", "nodir/q.rgm", "--ranks", "2,2"], ["nodir/q.rgm: no such directory"]],
    ["output is a folder", ["quantize", "--float", "f.safetensors", "-o", "adir", "--ranks", "2,2"], ["adir: is a directory"]],
    ["header in a missing folder", ["quantize", "--float", "f.safetensors", "-o", "q.rgm", "--header", "nodir/q.h"], ["nodir/q.h: no such directory"]],
  ],
  eval: [
    ["missing --model", ["eval"], ["'--model <file>' not specified"]],
    ["missing file", ["eval", "--model", "nope.rgm"], ["nope.rgm", "no such file"]],
    ["wrong format: safetensors as .rgm", ["eval", "--model", "f.safetensors", "-q"], ["f.safetensors is a float checkpoint (safetensors); --model takes a rankgate model (.rgm)"]],
    ["wrong format: .rgm as --float", ["eval", "--model", "m.rgm", "--float", "m.rgm", "-q"], ["m.rgm is a rankgate model; --float takes"]],
    ["wrong format: text", ["eval", "--model", "notes.txt", "-q"], ["notes.txt", "file_bytes"]],
    ["model for other data", ["eval", "--model", "m20.rgm", "-q"], ["m20.rgm", "20 inputs", "784"]],
    ["float checkpoint of another model", ["eval", "--model", "m.rgm", "--float", "f20.safetensors", "-q"], ["f20.safetensors", "20-8-3", "784-16-10"]],
    ["missing --float file", ["eval", "--model", "m.rgm", "--float", "nope.safetensors", "-q"], ["nope.safetensors", "no such file"]],
    ["unknown target data", ["eval", "--model", "m.rgm", "--data", "mnist:dev", "-q"], ["unknown data \"mnist:dev\""]],
    ["bad --samples", ["eval", "--model", "m.rgm", "--samples", "0"], ["--samples", "'0'"]],
    ["bad --samples text", ["eval", "--model", "m.rgm", "--samples", "many"], ["--samples", "'many'"]],
  ],
  train: [
    ["missing --output", ["train"], ["'-o, --output <file>' not specified"]],
    ["sizes not for MNIST", ["train", "-o", "t.safetensors", "--sizes", "100,10"], ["--sizes must start with 784"]],
    ["bad --l1 count", ["train", "-o", "t.safetensors", "--sizes", "784,16,8,10", "--l1", "1e-4,1e-4,1e-4"], ["--l1 takes one value or one per hidden layer (2)"]],
    ["bad --ranks count", ["train", "-o", "t.safetensors", "--ranks", "5"], ["--ranks needs 3 values"]],
    ["bad --lr", ["train", "-o", "t.safetensors", "--lr", "fast"], ["--lr", "'fast'"]],
    ["bad --compute", ["train", "-o", "t.safetensors", "--compute", "gpu"], ["--compute must be one of", "'gpu'"]],
    ["unwritable output", ["train", "-o", "nodir/t.safetensors", "--sizes", "784,4,10", "--epochs", "1", "--train-limit", "100"], ["nodir/t.safetensors: no such directory"]],
  ],
  sim: [
    ["missing --model and --target", ["sim"], ["--model and --target are required"]],
    ["unknown target", ["sim", "--model", "m.rgm", "--target", "z80"], ['unknown target "z80"', "known targets"]],
    ["missing file", ["sim", "--model", "nope.rgm", "--target", "cortex-m4f"], ["nope.rgm", "no such file"]],
    ["wrong format: safetensors as .rgm", ["sim", "--model", "f.safetensors", "--target", "cortex-m4f", "-q"], ["f.safetensors is a float checkpoint"]],
    ["model for other data", ["sim", "--model", "m20.rgm", "--target", "cortex-m4f", "-q"], ["m20.rgm", "20 inputs", "784"]],
    ["float checkpoint of another model", ["sim", "--model", "m.rgm", "--target", "cortex-m4f", "--float", "f20.safetensors", "-q"], ["f20.safetensors", "20-8-3", "784-16-10"]],
    ["report into a missing folder", ["sim", "--model", "m.rgm", "--target", "cortex-m4f", "--report", "nodir/r.html"], ["nodir/r.html: no such directory"]],
    ["unknown target data", ["sim", "--model", "m.rgm", "--target", "cortex-m4f", "--data", "mnist:dev"], ["unknown data \"mnist:dev\""]],
    ["bad --samples", ["sim", "--model", "m.rgm", "--target", "cortex-m4f", "--samples", "0"], ["--samples", "'0'"]],
    ["missing --targets-dir", ["sim", "--model", "m.rgm", "--target", "cortex-m4f", "--targets-dir", "nodir"], ["nodir"]],
  ],
  "train-policy": [
    ["missing --output", ["train-policy"], ["'-o, --output <file>' not specified"]],
    ["--tau outside (0, 1)", ["train-policy", "-o", "t.safetensors", "--tau", "2"], ["--tau values must be in (0, 1), got 2"]],
    ["bad --tau count", ["train-policy", "-o", "t.safetensors", "--tau", "0.1,0.2"], ["--tau takes one value or one per hidden layer (1)"]],
    ["bad --block-size", ["train-policy", "-o", "t.safetensors", "--block-size", "0"], ["--block-size", "'0'"]],
    ["no hidden layer", ["train-policy", "-o", "t.safetensors", "--sizes", "784,10"], ["--sizes needs at least three"]],
    ["missing --init", ["train-policy", "-o", "t.safetensors", "--init", "nope.safetensors"], ["nope.safetensors", "no such file"]],
  ],
  "learn-estimator": [
    ["missing --float", ["learn-estimator"], ["'--float <file>' not specified"]],
    ["missing file", ["learn-estimator", "--float", "nope.safetensors", "-o", "x.safetensors", "--ranks", "4,4"], ["nope.safetensors", "no such file"]],
    ["bad --ranks count", ["learn-estimator", "--float", "f.safetensors", "-o", "x.safetensors", "--ranks", "4"], ["--ranks needs 2 values"]],
    ["rank too large", ["learn-estimator", "--float", "f.safetensors", "-o", "x.safetensors", "--ranks", "4,99"], ["layer 1 takes a rank of at most 12, got 99"]],
    ["bad --w-pos", ["learn-estimator", "--float", "f.safetensors", "-o", "x.safetensors", "--ranks", "4,4", "--w-pos", "0"], ["--w-pos", "'0'"]],
  ],
  optimize: [
    ["missing --float", ["optimize", "-o", "o.rgm"], ["'--float <file>' not specified"]],
    ["missing file", ["optimize", "--float", "nope.safetensors", "-o", "o.rgm"], ["nope.safetensors", "no such file"]],
    ["output not .rgm", ["optimize", "--float", "f.safetensors", "-o", "o.safetensors"], ["--output must name an .rgm file", "o.safetensors"]],
    ["bad --ranks count", ["optimize", "--float", "f.safetensors", "-o", "o.rgm", "--ranks", "4"], ["--ranks needs 2 values"]],
    ["bad --estimator", ["optimize", "--float", "f.safetensors", "-o", "o.rgm", "--estimator", "exact"], ["--estimator must be svd or learned", "'exact'"]],
    ["bad --distill", ["optimize", "--float", "f.safetensors", "-o", "o.rgm", "--distill", "2"], ["--distill", "'2'"]],
    ["unknown data", ["optimize", "--float", "f.safetensors", "-o", "o.rgm", "--val-data", "mnist:dev"], ["unknown data", "mnist:dev"]],
  ],
  profile: [
    ["missing --model", ["profile"], ["'--model <file>' not specified"]],
    ["missing file", ["profile", "--model", "nope.rgm"], ["nope.rgm", "no such file"]],
    ["wrong format: safetensors as .rgm", ["profile", "--model", "f.safetensors"], ["f.safetensors is a float checkpoint"]],
    ["model for other data", ["profile", "--model", "m20.rgm"], ["m20.rgm", "20 inputs", "784"]],
    ["unknown data", ["profile", "--model", "m.rgm", "--data", "mnist:dev"], ["unknown data \"mnist:dev\""]],
    ["bad --reps", ["profile", "--model", "m.rgm", "--reps", "0"], ["--reps", "'0'"]],
  ],
  "": [
    ["unknown command", ["train-it"], ["unknown command 'train-it'"]],
    ["unknown flag", ["--frob"], ["unknown option '--frob'"]],
  ],
};

/** The commands with error cases here: exactly the ones `rankgate --help` lists (help aside). */
const COMMANDS = Object.keys(ERRORS).filter((c) => c !== "").sort();
const LISTED = (() => {
  const r = spawnSync(process.execPath, [BIN, "--help"], { encoding: "utf8" });
  return [...(r.stdout.split("Commands:")[1] ?? "").matchAll(/^ {2}(\w[\w-]*)/gm)].map((m) => m[1]).filter((c) => c !== "help");
})();

describe("rankgate user errors", () => {
  it("--help lists exactly the commands with error cases here, and --help exits 0 on each", () => {
    expect(COMMANDS).toEqual(["eval", "import", "inspect", "learn-estimator", "optimize", "profile", "quantize", "sim", "train", "train-policy"]);
    // both ways: a command that leaves --help (or joins it without error cases here) fails
    expect([...LISTED].sort()).toEqual(COMMANDS);
    for (const command of COMMANDS) {
      for (const args of [[command, "--help"], [command, "-h"], ["help", command]]) {
        const h = cli(...args);
        expect(h.code, `${args.join(" ")}: ${h.stderr}`).toBe(0);
        expect(h.stdout).toMatch(new RegExp(`^Usage: rankgate ${command} `));
        expect(h.stderr).toBe("");
      }
    }
  });

  for (const [command, cases] of Object.entries(ERRORS)) {
    it.each(cases)(`${command || "rankgate"}: %s`, (_, args, parts) => expectUserError(cli(...args), parts));
  }
});

describe("single-byte corruption of models/paper.rgm", () => {
  let path = PAPER;
  let good: Uint8Array;
  beforeAll(() => {
    if (!existsSync(PAPER)) {
      path = join(dir, "paper.rgm");
      writeFileSync(path, buildSynthetic({ sizes: [784, 64, 32, 10], ranks: [12, 6], seed: 8 }).bytes);
    }
    good = new Uint8Array(readFileSync(path));
  });

  it("every header and layer-table byte and a sample of payload bytes: a one-line FormatError", () => {
    const rng = new Rng(5);
    const table = HEADER_BYTES + ENTRY_BYTES * new DataView(good.buffer).getUint32(16, true);
    const positions = [...Array.from({ length: table + 32 }, (_, i) => i), ...Array.from({ length: 200 }, () => rng.int(0, good.length - 1))];
    for (const at of positions) {
      const b = good.slice();
      b[at] = (b[at] + rng.int(1, 255)) & 0xff;
      const e = thrown(() => readModel(b, "paper.rgm"));
      expect(e, `byte ${at}`).toBeInstanceOf(FormatError);
      expect((e as FormatError).message).not.toContain("\n");
    }
  });

  it("inspect and eval exit 1 with one line naming the field", () => {
    const { sections } = readModel(good);
    const at = (layer: number, name: string) => sections.find((s) => s.layer === layer && s.name === name)!.offset;
    // [byte, field the line must name]; a changed dimension or offset may first show up as another
    // field (a moved weights section is reported where it overlaps the bias section)
    const cases: [number, string | null][] = [
      [0, "magic"], [4, "version"], [6, "header_bytes"], [9, "file_bytes"], [13, "crc32"], [16, null],
      [HEADER_BYTES, null], [HEADER_BYTES + 40, null],
      [at(0, "weights") + 100, "crc32"], [at(0, "shift") + 3, "layers[0].shift[0]"], [good.length - 1, "crc32"],
    ];
    for (const [pos, field] of cases) {
      const b = good.slice();
      b[pos] ^= pos === at(0, "shift") + 3 ? 0x40 : 0x10;
      const name = `bad-${pos}.rgm`;
      writeFileSync(join(dir, name), b);
      for (const args of [["inspect", name], ["eval", "--model", name, "--samples", "1", "-q"]]) {
        const r = cli(...args);
        expectUserError(r, [`rankgate: ${name}: `, ...(field ? [`${field} at offset`] : [])]);
        expect(r.lines[0]).toMatch(/: [\w[\].]+ at offset \d+: expected .+, got .+$/);
      }
    }
  });
});
