// The dataset readers' bounds and the label rule (issue 22, hardening round three): deflate bombs and
// oversized shapes refused from the header before anything is inflated or converted, a CSV's width checked
// on its first row and its lines bounded, budgets from the file size, |x| ≤ MAX_FEATURE_ABS, labels in
// [0, outputs) for every reader, |b1 read as numpy reads it, duplicate npz members, the CSV header rule and
// decimal-only cells. Each bomb is generated here (a few hundred KB at most); "fails fast" is asserted on
// the readers' own counters (toolchain/data/stats.ts), never on wall time.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { constants, crc32, deflateRawSync } from "node:zlib";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { InputError, UserError } from "../runtime/src/errors.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { buildSynthetic, syntheticFloat } from "../toolchain/model/synthetic.ts";
import { Rng } from "../toolchain/model/random.ts";
import { checkpointBytes } from "../toolchain/train/training-checkpoint.ts";
import { CSV_MAX_BYTES, CSV_MAX_LINE_BYTES, DATA_BUDGET_BASE, loadDataset, MAX_FEATURE_ABS, readerStats, resetReaderStats, writeNpy, type DataSpec } from "../toolchain/data/index.ts";
import { plainDecimal } from "../toolchain/data/csv.ts";
import { thrown } from "./helpers/errors.ts";
import { npyHeader } from "../fuzz/files.ts";

const dir = mkdtempSync(join(tmpdir(), "rankgate-data-bounds-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => resetReaderStats());
const tmp = (name: string, content: Uint8Array | string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

/** A UserError whose message is one line containing every part. */
function expectError(fn: () => unknown, parts: string[]): string {
  const e = thrown(fn) as Error;
  expect(e).toBeInstanceOf(UserError);
  expect(e.message).not.toContain("\n");
  for (const p of parts) expect(e.message).toContain(p);
  return e.message;
}

interface Member { name: string; body: Uint8Array; size: number; crc: number; method: number }

/** A member as np.savez_compressed would write it. */
const deflated = (name: string, data: Uint8Array): Member => ({ name, body: deflateRawSync(data), size: data.length, crc: crc32(data), method: 8 });

/**
 * A deflate bomb member: a .npy header for `shape` of 1-byte elements, then zeros, deflated as the header's
 * block and one 16 MiB block of zeros repeated (about 16 KB each), ended by an empty final block. The CRC is
 * computed over the repeated zeros without materialising them.
 */
function bomb(name: string, shape: number[]): Member {
  const head = npyHeader(shape, "|u1");
  const size = head.length + shape.reduce((a, b) => a * b, 1);
  const CHUNK = 1 << 24, zeros = new Uint8Array(CHUNK);
  const sync = { finishFlush: constants.Z_SYNC_FLUSH, level: 9 };
  const z = deflateRawSync(zeros, sync);
  const parts: Uint8Array[] = [deflateRawSync(head, sync)];
  let crc = crc32(head), left = size - head.length;
  for (; left >= CHUNK; left -= CHUNK) { parts.push(z); crc = crc32(zeros, crc); }
  if (left > 0) { parts.push(deflateRawSync(zeros.subarray(0, left), sync)); crc = crc32(zeros.subarray(0, left), crc); }
  parts.push(Uint8Array.from([3, 0]));
  return { name, body: Buffer.concat(parts), size, crc, method: 8 };
}

/** A zip of the members (local headers, central directory, end record). */
function zip(members: Member[]): Uint8Array {
  const parts: Uint8Array[] = [], central: Uint8Array[] = [];
  let offset = 0;
  for (const m of members) {
    const name = new TextEncoder().encode(m.name);
    const local = new Uint8Array(30 + name.length), lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(8, m.method, true);
    lv.setUint32(14, m.crc, true); lv.setUint32(18, m.body.length, true); lv.setUint32(22, m.size, true); lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const c = new Uint8Array(46 + name.length), cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true); cv.setUint16(10, m.method, true);
    cv.setUint32(16, m.crc, true); cv.setUint32(20, m.body.length, true); cv.setUint32(24, m.size, true); cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    c.set(name, 46);
    parts.push(local, m.body);
    central.push(c);
    offset += local.length + m.body.length;
  }
  const cd = central.reduce((t, c) => t + c.length, 0), end = new Uint8Array(22), ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, members.length, true); ev.setUint16(10, members.length, true);
  ev.setUint32(12, cd, true); ev.setUint32(16, offset, true);
  return Buffer.concat([...parts, ...central, end]);
}

const SMALL: Partial<DataSpec> = { features: 8, classes: 4, consumer: "small.rgm" };
const X = Array.from({ length: 24 }, (_, i) => (i % 7) - 3);

describe("bombs end in one line before the work they would cost", () => {
  it("a 260 KB npz of a deflated 1024 × 262,144 zero array: the width, from the header, after at most a few MiB inflated", () => {
    const p = tmp("bomb.npz", zip([bomb("x.npy", [1024, 262_144])]));
    expectError(() => loadDataset({ data: p, ...SMALL }), ["bomb.npz has 262144 features per sample, small.rgm takes 8 inputs"]);
    expect(readerStats.bytesInflated).toBeLessThan(8 << 20);
    expect(readerStats.valuesConverted).toBe(0);
  });
  it("without a model to check against, the same bomb is refused by the budget (256 MiB inflated + 1 GiB of float32)", () => {
    const p = tmp("bomb.npz", zip([bomb("x.npy", [1024, 262_144])]));
    expectError(() => loadDataset({ data: p }), ["bomb.npz", "1024 samples × 262144 features", "more than the", "256 MiB + 4 × its"]);
    expect(readerStats.bytesInflated).toBeLessThan(8 << 20);
    expect(readerStats.valuesConverted).toBe(0);
  });
  it("a 1 MB npz at the 2^30-element limit with the model's width: the budget, before inflating", () => {
    const p = tmp("limit.npz", zip([bomb("x.npy", [2 ** 27, 8])]));
    expectError(() => loadDataset({ data: p, ...SMALL }), ["limit.npz", "134217728 samples × 8 features", "inflated", "store the archive uncompressed"]);
    expect(readerStats.bytesInflated).toBeLessThan(8 << 20);
    expect(readerStats.valuesConverted).toBe(0);
  });
  it("a y member that does not fit x is refused from its header too", () => {
    const p = tmp("ybomb.npz", zip([deflated("x.npy", writeNpy(X, [3, 8])), bomb("y.npy", [2 ** 24])]));
    expectError(() => loadDataset({ data: p, ...SMALL }), ["ybomb.npz:y", "16777216 labels for 3 samples"]);
    expect(readerStats.bytesInflated).toBeLessThan(8 << 20);
  });
  it("one CSV line longer than CSV_MAX_LINE_BYTES: an error on line 1, no row parsed", () => {
    const p = tmp("line.csv", "1,".repeat(CSV_MAX_LINE_BYTES / 2 + 8) + "1\n");
    expectError(() => loadDataset({ data: p }), ["line.csv: line 1 is longer than 4194304 bytes"]);
    expect(readerStats.csvRowsParsed).toBe(0);
  });
  it("many short CSV lines of the wrong width: refused on the first row, no line counted", () => {
    const p = tmp("short.csv", "0,1\n".repeat(250_000));
    expectError(() => loadDataset({ data: p, ...SMALL }), ["short.csv has 2 features per sample, small.rgm takes 8 inputs"]);
    expect([readerStats.csvLinesCounted, readerStats.csvRowsParsed]).toEqual([0, 0]);
  });
  it("the CSV's long line further down is found while counting, before any row is parsed", () => {
    const p = tmp("late.csv", "1,2\n3,4\n" + "5,".repeat(CSV_MAX_LINE_BYTES / 2 + 8) + "6\n");
    expectError(() => loadDataset({ data: p }), ["late.csv: line 3 is longer than"]);
    expect(readerStats.csvRowsParsed).toBe(0);
  });
  it("a CSV over CSV_MAX_BYTES is refused by its size before it is read (a sparse file: no disk used)", () => {
    const p = join(dir, "huge.csv");
    closeSync(openSync(p, "w"));
    truncateSync(p, CSV_MAX_BYTES + 1);
    expectError(() => loadDataset({ data: p }), [`huge.csv: ${CSV_MAX_BYTES + 1} bytes, more than the ${CSV_MAX_BYTES} this file may have`]);
    rmSync(p);
  });
  it("the budget is 256 MiB + 4 × the file, and it is what a plain file converts within", () => {
    expect(DATA_BUDGET_BASE).toBe(256 * 1024 * 1024);
    const d = loadDataset({ data: tmp("ok.npy", writeNpy(X, [3, 8], "i1")), ...SMALL });
    expect([d.count, d.width, readerStats.valuesConverted]).toEqual([3, 8, 24]);
  });
});

describe("finite but unquantizable values", () => {
  const big = X.slice();
  big[11] = 3e38;
  it.each([
    ["npy", () => tmp("big.npy", writeNpy(big, [3, 8], "f8")), "big.npy: sample 1, feature 3 is 3e+38"],
    ["npz", () => tmp("big.npz", zip([deflated("x.npy", writeNpy(big, [3, 8], "f4"))])), "big.npz:x: sample 1, feature 3 is 3.0000000054977558e+38"],
    ["csv", () => tmp("big.csv", [0, 1, 2].map((r) => big.slice(r * 8, r * 8 + 8).join(",")).join("\n")), "big.csv: line 2, column 3 is 3e+38"],
  ])("%s: |x| > MAX_FEATURE_ABS names sample and feature", (_, make, where) => {
    expectError(() => loadDataset({ data: make() }), [where, `within ±1e15`]);
  });
  it("MAX_FEATURE_ABS itself is accepted", () => {
    const ok = X.slice();
    ok[0] = -MAX_FEATURE_ABS;
    expect(loadDataset({ data: tmp("edge.npy", writeNpy(ok, [3, 8], "f8")) }).features[0]).toBe(Math.fround(-1e15));
  });
});

describe("labels: one rule for every reader", () => {
  const y = [0, 3, 4];
  const idx = (dims: number[], data: number[]) => {
    const b = new Uint8Array(4 + 4 * dims.length + data.length);
    b[2] = 8;
    b[3] = dims.length;
    dims.forEach((d, i) => new DataView(b.buffer).setUint32(4 + 4 * i, d, false));
    b.set(data, 4 + 4 * dims.length);
    return b;
  };
  it.each([
    ["npz", () => ({ data: tmp("l.npz", zip([deflated("x.npy", writeNpy(X, [3, 8])), deflated("y.npy", writeNpy(y, [3], "i8"))])) }), "l.npz:y: label at row 2 is 4"],
    ["npy", () => ({ data: tmp("x.npy", writeNpy(X, [3, 8])), labels: tmp("y.npy", writeNpy(y, [3], "u1")) }), "y.npy: label at row 2 is 4"],
    ["IDX", () => ({ data: tmp("x-idx", idx([3, 8], X.map((v) => v + 3))), labels: tmp("y-idx", idx([3], y)) }), "y-idx: label at row 2 is 4"],
    ["csv", () => ({ data: tmp("l.csv", `a,b,c,d,e,f,g,h,label\n${[0, 1, 2].map((r) => [...X.slice(r * 8, r * 8 + 8), y[r]].join(",")).join("\n")}\n`) }), "l.csv: line 4, column 8 (label) is 4"],
  ])("%s: a label ≥ the model's outputs names file, row and value", (_, spec, where) => {
    expectError(() => loadDataset({ ...spec(), ...SMALL }), [where, "small.rgm has 4 outputs", "0..3"]);
    expect(loadDataset({ ...spec(), ...SMALL, classes: 5 }).labels).toEqual(Int32Array.from(y));
  });
  it("mnist:* labels against a model with fewer outputs", () => {
    expectError(() => loadDataset({ data: "mnist:test", samples: 50, features: 784, classes: 3, consumer: "m.rgm" }), ["mnist:test: label at row", "m.rgm has 3 outputs"]);
  });
  it("|b1 labels: any non-zero byte is True (1), as numpy reads it", () => {
    const b = writeNpy([0, 1, 2, 255], [4], "u1");
    const descr = new TextDecoder("latin1").decode(b).indexOf("|u1");
    b.set(new TextEncoder().encode("|b1"), descr);
    const d = loadDataset({ data: tmp("x4.npy", writeNpy(X.slice(0, 16), [4, 4])), labels: tmp("b1.npy", b) });
    expect(Array.from(d.labels!)).toEqual([0, 1, 1, 1]);
  });
});

describe("archives and CSV cells", () => {
  it("an npz with two x.npy members is a named error (numpy would read the last)", () => {
    const p = tmp("dup.npz", zip([deflated("x.npy", writeNpy(X, [3, 8])), deflated("x.npy", writeNpy(X.slice(0, 12), [3, 4]))]));
    expectError(() => loadDataset({ data: p }), ["dup.npz", "one member named \"x.npy\"", "a second one"]);
  });
  it("a first row that is neither names nor numbers is an error, never a dropped data row", () => {
    const p = tmp("typo.csv", "-0..37,1,2\n4,5,6\n");
    expectError(() => loadDataset({ data: p }), ["typo.csv: line 1 is neither a header", 'column 0 is "-0..37"', "--csv-header if it is a header, --no-csv-header if it is data"]);
    expectError(() => loadDataset({ data: p, header: false }), ["typo.csv: line 1, column 0", '"-0..37" is not a number']);
    const d = loadDataset({ data: p, header: true });
    expect([d.count, Array.from(d.features)]).toEqual([1, [4, 5, 6]]);
    // A one-column file of a typo: not a name either
    expectError(() => loadDataset({ data: tmp("one.csv", "-0..37\n1\n") }), ["line 1 is neither"]);
    // Names and numbers (pandas' integer column names): not clearly a header, so an error naming both kinds
    expectError(() => loadDataset({ data: tmp("pd.csv", "0,1,label\n4,5,1\n") }), ['it mixes names and numbers (column 2 is "label", column 0 is "0")', "--csv-header if it is a header"]);
    expect(loadDataset({ data: tmp("pd.csv", "0,1,label\n4,5,1\n"), header: true }).labels).toEqual(Int32Array.from([1]));
    // Names stay a header; numbers stay data
    expect(loadDataset({ data: tmp("h.csv", "x,_y,é\n1,2,3\n") }).count).toBe(1);
    expect(loadDataset({ data: tmp("n.csv", "1,2,3\n4,5,6\n") }).count).toBe(2);
    expectError(() => loadDataset({ data: tmp("h.npy", writeNpy(X, [3, 8])), header: true }), ["--csv-header / --no-csv-header go with a .csv file"]);
  });
  it("hex, binary, octal and 1_000 cells are refused; decimals read exactly as Number() does", () => {
    for (const cell of ["0x10", "0b1", "0o7", "1_000"]) {
      expectError(() => loadDataset({ data: tmp("c.csv", `1,2\n3,${cell}\n`) }), ["c.csv: line 2, column 1", "is not a number (only decimal numbers are read)"]);
    }
    const cells = ["0.1", "-0", "+5", "1.", ".5", "1e14", "123456789012345", "1234567890.123456789", "3.14159e-7", "7E+3", " 2 ", "\"4.5\"", "0.30000000000000004", "1e-23", "00012"];
    const d = loadDataset({ data: tmp("dec.csv", cells.join(",") + "\n") });
    expect(Array.from(d.features)).toEqual(cells.map((c) => Math.fround(Number(c.replaceAll('"', "")))));
    expect(Object.is(d.features[1], -0)).toBe(true);
  });
  it("property: random decimal cells (fast and full parser) read as Number() reads them", () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** 18n }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: -30, max: 8 })), { minLength: 1, maxLength: 8 }), (cells) => {
      const text = cells.map(([neg, m, point, e]) => {
        const digits = m.toString();
        const at = Math.max(0, digits.length - point);
        return `${neg ? "-" : ""}${digits.slice(0, at) || "0"}.${digits.slice(at)}e${e}`;
      });
      const values = text.map(Number);
      // The fast path, where it answers, gives Number()'s double exactly
      for (const [i, t] of text.entries()) {
        const v = plainDecimal(new TextEncoder().encode(t), 0, t.length);
        if (v !== undefined) expect(Object.is(v, values[i]), t).toBe(true);
      }
      if (values.some((v) => Math.abs(v) > MAX_FEATURE_ABS)) return;
      const d = loadDataset({ data: tmp("prop.csv", text.join(",") + "\n") });
      expect(Array.from(d.features)).toEqual(values.map(Math.fround));
    }), { numRuns: 500 });
  });
});

describe("Engine.load with a foreign wasm module", () => {
  const model = buildSynthetic({ sizes: [8, 16, 4], ranks: [2], seed: 3 }).bytes;
  it("a valid module without rankgate's exports: an InputError naming the missing export", async () => {
    // (module (func (export "f")))
    const foreign = new WebAssembly.Module(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 4, 1, 2, 0, 11]));
    const e = await Engine.load(model, { wasm: foreign }).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe("Engine.load: options.wasm is not a rankgate build: export memory is missing");
  });
  it("a module with imports: named", async () => {
    // (module (import "env" "f" (func)))
    const imports = new WebAssembly.Module(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 2, 9, 1, 3, 101, 110, 118, 1, 102, 0, 0]));
    const e = await Engine.load(model, { wasm: imports }).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toContain('it imports "env.f"');
  });
});

describe("through the CLI: one line, exit 1, nothing written", () => {
  const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "" } });
    return { code: r.status, stdout: r.stdout, lines: r.stderr.split("\n").filter((l) => l.trim()) };
  };
  const expectLine = (r: ReturnType<typeof cli>, parts: string[]) => {
    expect(r.code, r.lines.join("\n")).toBe(1);
    expect(r.lines.length, r.lines.join("\n")).toBe(1);
    for (const p of parts) expect(r.lines[0]).toContain(p);
  };
  const big = X.slice();
  big[11] = 3e38;
  beforeAll(() => {
    writeFileSync(join(dir, "small.rgm"), buildSynthetic({ sizes: [8, 16, 4], ranks: [2], seed: 3 }).bytes);
    writeFileSync(join(dir, "small.safetensors"), checkpointBytes(syntheticFloat(new Rng(4), [8, 16, 4])));
    writeFileSync(join(dir, "big.npy"), writeNpy(big, [3, 8], "f8"));
    writeFileSync(join(dir, "x8.npy"), writeNpy(X, [3, 8]));
    writeFileSync(join(dir, "y5.npy"), writeNpy([0, 4, 1], [3], "i8"));
    writeFileSync(join(dir, "bomb.npz"), zip([bomb("x.npy", [1024, 262_144])]));
    writeFileSync(join(dir, "typo.csv"), "-0..37,1,2,3,4,5,6,7\n" + [0, 1, 2].map((r) => X.slice(r * 8, r * 8 + 8).join(",")).join("\n") + "\n");
    writeFileSync(join(dir, "q.c"), "0,1,2,3,4,5,6,7\n");
  });
  it("eval on the deflate bomb", () => expectLine(cli("eval", "--model", "small.rgm", "--data", "bomb.npz", "-q"), ["bomb.npz has 262144 features per sample, small.rgm takes 8 inputs"]));
  it("quantize and optimize on a feature of 3e38", () => {
    expectLine(cli("quantize", "--float", "small.safetensors", "--data", "big.npy", "-o", "q1.rgm", "-q"), ["big.npy: sample 1, feature 3 is 3e+38", "±1e15"]);
    expectLine(cli("optimize", "--float", "small.safetensors", "--data", "big.npy", "--labels", "y5.npy", "-o", "o.rgm", "-q"), ["big.npy: sample 1, feature 3 is 3e+38"]);
    expect(existsSync(join(dir, "q1.rgm")) || existsSync(join(dir, "o.rgm"))).toBe(false);
  });
  it("eval and quantize on a label ≥ the model's outputs", () => {
    expectLine(cli("eval", "--model", "small.rgm", "--data", "x8.npy", "--labels", "y5.npy", "-q"), ["y5.npy: label at row 1 is 4; small.rgm has 4 outputs"]);
    expectLine(cli("quantize", "--float", "small.safetensors", "--data", "x8.npy", "--labels", "y5.npy", "-o", "q2.rgm", "-q"), ["y5.npy: label at row 1 is 4; small.safetensors has 4 outputs"]);
  });
  it("a CSV whose first row is a typo: an error, or what --csv-header / --no-csv-header say", () => {
    expectLine(cli("eval", "--model", "small.rgm", "--data", "typo.csv", "--float", "small.safetensors", "-q"), ["typo.csv: line 1 is neither a header"]);
    expectLine(cli("eval", "--model", "small.rgm", "--data", "typo.csv", "--no-csv-header", "--float", "small.safetensors", "-q"), ['typo.csv: line 1, column 0', '"-0..37" is not a number']);
    const r = cli("eval", "--model", "small.rgm", "--data", "typo.csv", "--csv-header", "--float", "small.safetensors", "--json", "-q");
    expect(r.code, r.lines.join("\n")).toBe(0);
    expect(JSON.parse(r.stdout).samples).toBe(3);
  });
  it("--c-name must not be a keyword; an output that is an input is refused before the first byte", () => {
    expectLine(cli("quantize", "--float", "small.safetensors", "--data", "x8.npy", "-o", "k.rgm", "--c-name", "int", "-q"), ['--c-name "int" is a C or C++ keyword']);
    expectLine(cli("quantize", "--float", "small.safetensors", "--data", "q.c", "-o", "q.rgm", "-q"), ["q.c: is also an output of this command"]);
    expect([existsSync(join(dir, "k.rgm")), existsSync(join(dir, "q.rgm")), existsSync(join(dir, "q.h")), existsSync(join(dir, "q.report.json"))]).toEqual([false, false, false, false]);
  });
});
