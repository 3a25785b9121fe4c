// toolchain/data/: every dtype numpy writes (fixtures by test/fixtures/data/make_data_fixtures.py, numpy's own
// writers), npz stored and deflated, CSV and IDX pairs, --samples, and one-line errors for bad data.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { UserError } from "../runtime/src/errors.ts";
import { classCount, floatToHalf, halfToFloat, loadDataset, splitEvery, writeNpy, NPY_DTYPES, type NpyDtype } from "../toolchain/data/index.ts";
import { thrown } from "./helpers/errors.ts";

const FIX = fileURLToPath(new URL("./fixtures/data/", import.meta.url));
const f = (name: string) => join(FIX, name);
const dir = mkdtempSync(join(tmpdir(), "rankgate-data-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tmp = (name: string, content: Uint8Array | string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};
const VALUES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 127];

/** A UserError whose message is one line containing every part. */
function expectError(fn: () => unknown, parts: string[]) {
  const e = thrown(fn) as Error;
  expect(e).toBeInstanceOf(UserError);
  expect(e.message).not.toContain("\n");
  for (const p of parts) expect(e.message).toContain(p);
}

describe("npy", () => {
  const written = NPY_DTYPES.filter((d) => d !== "b1");
  it.each(written.flatMap((d) => (d.endsWith("1") ? [[d, ""]] : [[d, ""], [d, "-be"]])))("%s%s: numpy's file reads exactly", (dtype, suffix) => {
    const d = loadDataset({ data: f(`${dtype}${suffix}.npy`) });
    expect([d.count, d.width, d.labels]).toEqual([3, 4, null]);
    expect(Array.from(d.features)).toEqual(VALUES);
    expect(d.description).toContain(`(${dtype})`);
  });
  it("signed extremes convert exactly", () => {
    expect(Array.from(loadDataset({ data: f("neg-i2.npy") }).features)).toEqual([-32768, -1, 0, 32767]);
  });
  it("Fortran order is transposed to samples × features, also for 3-D arrays", () => {
    expect(Array.from(loadDataset({ data: f("fortran-f8.npy") }).features)).toEqual(VALUES);
    const c = loadDataset({ data: f("cube-f4.npy") }), fc = loadDataset({ data: f("fortran-cube-f4.npy") });
    expect([c.count, c.width]).toEqual([2, 12]);
    expect(Array.from(fc.features)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    expect(Array.from(c.features)).toEqual(Array.from(fc.features));
  });
  it("half floats convert exactly, round trip every finite half", () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const x = halfToFloat(h);
      if (Number.isFinite(x) && !Object.is(x, -0) && floatToHalf(x) !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
    expect([halfToFloat(0x3c00), halfToFloat(0x7bff), halfToFloat(0x0001), halfToFloat(0xfc00)]).toEqual([1, 65504, 2 ** -24, -Infinity]);
  });
  it("writeNpy round-trips every dtype in both byte orders", () => {
    for (const dt of NPY_DTYPES.filter((d) => d !== "b1") as Exclude<NpyDtype, "b1">[]) {
      for (const le of [true, false]) {
        const p = tmp(`w-${dt}-${le}.npy`, writeNpy(VALUES, [3, 4], dt, le));
        expect(Array.from(loadDataset({ data: p }).features)).toEqual(VALUES);
      }
    }
  });
  it("--samples takes the first N", () => {
    const d = loadDataset({ data: f("f4.npy"), samples: 2 });
    expect([d.count, Array.from(d.features)]).toEqual([2, VALUES.slice(0, 8)]);
    expect(loadDataset({ data: f("f4.npy"), samples: 99 }).count).toBe(3);
  });
  it("labels from a .npy file; a count that differs or a non-integer label is an error", () => {
    const d = loadDataset({ data: f("f4.npy"), labels: f("labels-i8.npy") });
    expect(Array.from(d.labels!)).toEqual([2, 0, 1]);
    expect(classCount(d)).toBe(3);
    expectError(() => loadDataset({ data: f("cube-f4.npy"), labels: f("labels-i8.npy") }), ["labels-i8.npy", "3 labels for 2 samples"]);
    expectError(() => loadDataset({ data: f("f4.npy"), labels: f("labels-f4.npy") }), ["labels-f4.npy", "label at row 1 is 0.5", "integer"]);
  });
  it("NaN, ±Inf and values beyond float32 name the file, sample and feature", () => {
    expectError(() => loadDataset({ data: f("nan-f4.npy") }), ["nan-f4.npy", "sample 1, feature 1 is NaN"]);
    expectError(() => loadDataset({ data: f("inf-f8.npy") }), ["inf-f8.npy", "sample 0, feature 1 is -Infinity"]);
    expectError(() => loadDataset({ data: f("huge-f8.npy") }), ["huge-f8.npy", "beyond float32"]);
  });
  it("a truncated file, a structured dtype and a corrupt header are one-line errors", () => {
    const bytes = readFileSync(f("f8.npy"));
    for (const cut of [5, 9, 60, bytes.length - 1]) {
      expectError(() => loadDataset({ data: tmp(`cut${cut}.npy`, bytes.subarray(0, cut)) }), [`cut${cut}.npy`]);
    }
    expectError(() => loadDataset({ data: tmp("long.npy", Buffer.concat([bytes, Buffer.from([0])])) }), ["long.npy", "length"]);
    expectError(() => loadDataset({ data: f("structured.npy") }), ["structured.npy", "descr", "structured dtype"]);
    const hdr = Buffer.from(bytes);
    hdr.write("'descr': '<c8'", 11, "latin1");
    expectError(() => loadDataset({ data: tmp("c8.npy", hdr) }), ["c8.npy", "descr", '"<c8"']);
    const shape = Buffer.from(bytes);
    shape.write("(999999999, 9999999", bytes.indexOf("(3, 4)"), "latin1");
    expectError(() => loadDataset({ data: tmp("shape.npy", shape) }), ["shape.npy"]);
  });
});

describe("npz", () => {
  it.each(["stored.npz", "deflated.npz"])("%s: x and y", (name) => {
    const d = loadDataset({ data: f(name) });
    expect([d.count, d.width, Array.from(d.features), Array.from(d.labels!)]).toEqual([3, 4, VALUES, [1, 0, 2]]);
  });
  it("without y: no labels; with --labels too", () => {
    expect(loadDataset({ data: f("nolabels.npz") }).labels).toBeNull();
    expect(Array.from(loadDataset({ data: f("nolabels.npz"), labels: f("labels-i8.npy") }).labels!)).toEqual([2, 0, 1]);
    expectError(() => loadDataset({ data: f("stored.npz"), labels: f("labels-i8.npy") }), ["stored.npz", "drop --labels"]);
  });
  it("a missing x lists the keys present; fewer labels than samples is an error", () => {
    expectError(() => loadDataset({ data: f("wrongkeys.npz") }), ["wrongkeys.npz", 'no array "x"', '"X"', '"target"']);
    expectError(() => loadDataset({ data: f("fewlabels.npz") }), ["fewlabels.npz:y", "2 labels for 3 samples"]);
  });
  it("every truncation and every single-byte corruption of a deflated archive is a UserError or the same data", () => {
    const bytes = readFileSync(f("deflated.npz"));
    for (let cut = 0; cut < bytes.length; cut += 7) {
      expect(thrown(() => loadDataset({ data: tmp("t.npz", bytes.subarray(0, cut)) }))).toBeInstanceOf(UserError);
    }
    for (let i = 0; i < bytes.length; i++) {
      const c = Buffer.from(bytes);
      c[i] ^= 0x5a;
      const p = tmp("c.npz", c);
      let d;
      try { d = loadDataset({ data: p }); } catch (e) { expect(e, `byte ${i}`).toBeInstanceOf(UserError); continue; }
      expect(Array.from(d.features), `byte ${i}`).toEqual(VALUES);
    }
  });
});

describe("csv", () => {
  it("header with a label column: found by name by default", () => {
    const d = loadDataset({ data: tmp("a.csv", "p0,p1,label\n0.5,1,2\n-3,4e2,0\n") });
    expect([d.count, d.width, Array.from(d.features), Array.from(d.labels!)]).toEqual([2, 2, [0.5, 1, -3, 400], [2, 0]]);
  });
  it("no header: no labels unless --label-column gives an index; a name needs a header", () => {
    const p = tmp("b.csv", "1,2,3\r\n4,5,6\r\n\r\n");
    expect(loadDataset({ data: p }).labels).toBeNull();
    const d = loadDataset({ data: p, labelColumn: "0" });
    expect([Array.from(d.features), Array.from(d.labels!)]).toEqual([[2, 3, 5, 6], [1, 4]]);
    expectError(() => loadDataset({ data: p, labelColumn: "y" }), ["no header row"]);
    expectError(() => loadDataset({ data: p, labelColumn: "3" }), ["columns 0..2"]);
    expectError(() => loadDataset({ data: tmp("h.csv", "a,b\n1,2\n"), labelColumn: "c" }), ['"c"', "its columns are", '"a"', '"b"']);
  });
  it("ragged rows, header only, bad numbers, NaN and non-integer labels name line and column", () => {
    expectError(() => loadDataset({ data: tmp("r.csv", "a,b,label\n1,2,3\n1,2\n") }), ["r.csv", "line 3 has 2 fields, expected 3"]);
    expectError(() => loadDataset({ data: tmp("ho.csv", "a,b,label\n") }), ["ho.csv", "header row", "no data rows"]);
    expectError(() => loadDataset({ data: tmp("e.csv", "") }), ["e.csv", "empty"]);
    expectError(() => loadDataset({ data: tmp("n.csv", "a,b\n1,2\n1,x\n") }), ["n.csv", "line 3, column 1", '"b"', '"x" is not a number']);
    expectError(() => loadDataset({ data: tmp("nan.csv", "1,2\n3,NaN\n") }), ["nan.csv", "line 2, column 1", "not finite"]);
    expectError(() => loadDataset({ data: tmp("inf.csv", "1,2\n3,-inf\n") }), ["inf.csv", "line 2, column 1", "not finite"]);
    expectError(() => loadDataset({ data: tmp("em.csv", "1,2\n3,\n") }), ["em.csv", "line 2, column 1", "empty field"]);
    expectError(() => loadDataset({ data: tmp("l.csv", "a,label\n1,2\n1,2.5\n") }), ["l.csv", "line 3, column 1 (label) is 2.5"]);
    expectError(() => loadDataset({ data: tmp("neg.csv", "a,label\n1,-1\n") }), ["neg.csv", "line 2", "is -1"]);
    expectError(() => loadDataset({ data: tmp("ctl.csv", "a\x1b[31m,label\n1,2\n"), labelColumn: "zz" }), ["\\u001b"]);
  });
  it("the digits fixture reads as 297 samples × 64 features with labels 0..9", () => {
    const d = loadDataset({ data: fileURLToPath(new URL("../examples/digits/digits-test.csv", import.meta.url)) });
    expect([d.count, d.width, classCount(d)]).toEqual([297, 64, 10]);
  });
});

describe("idx pairs, mnist and the rest", () => {
  const idx = (dims: number[], data: number[]) => {
    const b = new Uint8Array(4 + 4 * dims.length + data.length);
    b[2] = 8;
    b[3] = dims.length;
    const v = new DataView(b.buffer);
    dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
    b.set(data, 4 + 4 * dims.length);
    return b;
  };
  it("images and labels, values as stored", () => {
    const d = loadDataset({ data: tmp("img-idx3-ubyte", idx([3, 2, 2], [0, 1, 2, 255, 4, 5, 6, 7, 8, 9, 10, 11])), labels: tmp("lab-idx1-ubyte", idx([3], [7, 8, 9])) });
    expect([d.count, d.width, Array.from(d.features.subarray(0, 4)), Array.from(d.labels!)]).toEqual([3, 4, [0, 1, 2, 255], [7, 8, 9]]);
    expectError(() => loadDataset({ data: tmp("i2", idx([3, 2, 2], new Array(12).fill(0))), labels: tmp("l2", idx([2], [1, 2])) }), ["l2", "2 labels for 3 samples"]);
    expectError(() => loadDataset({ data: tmp("l3", idx([3], [1, 2, 3])) }), ["l3", "--labels"]);
  });
  it("mnist:test is pixels / 255 with labels; other specs are errors", () => {
    const d = loadDataset({ data: "mnist:test", samples: 5 });
    expect([d.count, d.width, d.labels!.length]).toEqual([5, 784, 5]);
    expect(Math.max(...d.features)).toBeLessThanOrEqual(1);
    expectError(() => loadDataset({ data: "mnist:dev" }), ['unknown data "mnist:dev"']);
    expectError(() => loadDataset({ data: "cifar:test" }), ['unknown data "cifar:test"']);
    expectError(() => loadDataset({ data: "mnist:test", labels: "x.npy" }), ["--labels"]);
    expectError(() => loadDataset({ data: tmp("x.bin", "hello") }), ["x.bin", "not a .npz, .npy, IDX or .csv"]);
    expectError(() => loadDataset({ data: join(dir, "missing.npy") }), ["missing.npy", "no such file"]);
  });
  it("splitEvery puts every 10th sample in validation", () => {
    const x = Float32Array.from({ length: 25 }, (_, i) => i);
    const d = { source: "s", features: x, count: 25, width: 1, labels: Int32Array.from(x), description: "" };
    const { train, val } = splitEvery(d);
    expect(Array.from(val.features)).toEqual([9, 19]);
    expect(Array.from(val.labels!)).toEqual([9, 19]);
    expect(train.count).toBe(23);
  });
});
