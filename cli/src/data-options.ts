// --data / --labels / --label-column / --samples and --float arguments shared by commands (toolchain/data/).
import type { Command } from "commander";
import { checkWidth, labelsU8, loadDataset, splitEvery, type Dataset, type DataSpec } from "../../toolchain/data/index.ts";
import type { Samples } from "../../toolchain/train/trainer.ts";
import { readModel, type ParsedModel, type FloatModel, UserError } from "../../runtime/src/index.ts";
import { importSafetensors } from "../../toolchain/import/state-dict.ts";
import { readUserFile } from "./cli-io.ts";
import { expectKind } from "./file-kind.ts";
import { checkShiftAugment, type ShiftAugment } from "../../toolchain/train/augment.ts";

export type { Dataset } from "../../toolchain/data/index.ts";

/** The data flags of a command (commander names). */
export interface DataFlags {
  data: string;
  labels?: string;
  labelColumn?: string;
  /** --csv-header (true) / --no-csv-header (false); left out: decided from the first row. */
  csvHeader?: boolean;
  samples?: number;
}

export const DATA_HELP = "mnist:train|val|test, or a file: .npz (x [N,…], optional y [N]), .npy (with --labels), .csv, IDX (with --labels)";

/** Adds --data (with its default), --labels and --label-column; `prefix` makes e.g. --val-data, --val-labels. */
export function addDataOptions(cmd: Command, defaultData: string | undefined, what: string, prefix = ""): Command {
  const flag = (name: string) => (prefix ? `--${prefix}-${name}` : `--${name}`);
  const data = `${flag("data")} <spec>`;
  const dataHelp = `${what}: ${DATA_HELP}`;
  if (defaultData === undefined) cmd.option(data, dataHelp);
  else cmd.option(data, dataHelp, defaultData);
  return cmd
    .option(`${flag("labels")} <file>`, `labels for a .npy or IDX ${flag("data")} file (.npy [N] integers, or IDX ubyte)`)
    .option(`${flag("label-column")} <name|index>`, `the label column of a .csv ${flag("data")} (a header name or a 0-based index; default: a column named "label", else no labels)`)
    .option(flag("csv-header"), `the first row of a .csv ${flag("data")} is a header (default: decided from the row; unclear is an error)`)
    .option(`--no-${flag("csv-header").slice(2)}`, `the first row of a .csv ${flag("data")} is data`);
}

/** What the data's consumer takes: features per sample, classes, and its name for messages. */
export interface DataExpect {
  features?: number;
  classes?: number;
  consumer?: string;
}

/**
 * Loads the data the flags name; `samples` overrides flags.samples. `expect` (the consumer's input count,
 * output count and name) reaches the reader, which checks it before converting.
 */
export function loadData(flags: DataFlags | string, samples?: number, expect: DataExpect = {}): Dataset {
  const spec: DataSpec = typeof flags === "string" ? { data: flags } : { data: flags.data, labels: flags.labels, labelColumn: flags.labelColumn, header: flags.csvHeader, samples: flags.samples };
  if (samples !== undefined) spec.samples = samples;
  return loadDataset({ ...spec, ...expect });
}

export async function loadFloat(path: string): Promise<FloatModel> {
  const bytes = await readUserFile(path);
  expectKind(bytes, path, "float");
  return importSafetensors(bytes, path);
}

const sizesOf = (layers: { nIn: number; nOut: number }[]) => [layers[0].nIn, ...layers.map((l) => l.nOut)];

/**
 * An .rgm (and optionally its float checkpoint), validated before any data loads: a FormatError names the file,
 * a float checkpoint of another shape is a UserError. Any input size.
 */
export async function loadRgmModel(path: string, floatPath?: string): Promise<{ bytes: Uint8Array; parsed: ParsedModel; float?: FloatModel; inputs: number; outputs: number }> {
  const bytes = await readUserFile(path);
  expectKind(bytes, path, "model");
  const parsed = readModel(bytes, path);
  const sizes = sizesOf(parsed.model.layers);
  const float = floatPath ? await loadFloat(floatPath) : undefined;
  if (float && sizesOf(float.layers).join("-") !== sizes.join("-")) {
    throw new UserError(`${floatPath}: layer sizes ${sizesOf(float.layers).join("-")} differ from ${path}'s ${sizes.join("-")}`);
  }
  return { bytes, parsed, float, inputs: sizes[0], outputs: sizes[sizes.length - 1] };
}

/**
 * Data for a model: a UserError unless every sample has the model's input count (checked from the file's
 * header, before converting) and, given `outputs`, every label lies in [0, outputs).
 */
export function loadDataFor(flags: DataFlags | string, inputs: number, model: string, samples?: number, outputs?: number): Dataset {
  const d = loadData(flags, samples, { features: inputs, classes: outputs, consumer: model });
  checkWidth(d, inputs, model);
  return d;
}

/** A positive integer flag value, or a UserError naming the flag. */
export function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`${flag} must be a positive integer, got '${v}'`);
    return n;
  };
}

/** A comma-separated list of numbers, e.g. --ranks 50,35,25. */
export function numberList(flag: string, integer: boolean) {
  return (v: string): number[] => {
    const parts = v.split(",").map((s) => s.trim());
    const nums = parts.map(Number);
    nums.forEach((n, i) => {
      if (parts[i] === "" || !Number.isFinite(n) || (integer && (!Number.isInteger(n) || n < 0))) {
        throw new UserError(`${flag} takes comma-separated ${integer ? "non-negative integers" : "numbers"}, got '${v}'`);
      }
    });
    return nums;
  };
}

/** Flags of a training command: --data/--labels/--label-column and --val-data/--val-labels/--val-label-column. */
export interface TrainDataFlags extends DataFlags {
  valData?: string;
  valLabels?: string;
  valLabelColumn?: string;
  valCsvHeader?: boolean;
  trainLimit?: number;
}

/** Every 10th sample of --data forms the validation part when no --val-data is given (and --data is not mnist:train). */
export const VAL_EVERY = 10;

/**
 * Training and validation data, both labelled: --data and --val-data; mnist:train pairs with mnist:val;
 * any other --data without --val-data is split, every 10th sample to validation. --train-limit keeps the
 * first n training samples.
 */
export function loadTrainVal(f: TrainDataFlags, purpose: string, expect: DataExpect = {}): { train: Dataset; val: Dataset; trainSamples: Samples; valSamples: Samples } {
  let train: Dataset, val: Dataset;
  if (f.valData !== undefined) {
    train = loadData({ data: f.data, labels: f.labels, labelColumn: f.labelColumn, csvHeader: f.csvHeader, samples: f.trainLimit }, undefined, expect);
    const consumer = `${f.data} (${train.width} features)`;
    val = loadData({ data: f.valData, labels: f.valLabels, labelColumn: f.valLabelColumn, csvHeader: f.valCsvHeader }, undefined, { ...expect, features: train.width, consumer: expect.consumer ?? consumer });
    checkWidth(val, train.width, consumer);
  } else if (f.data === "mnist:train") {
    if (f.csvHeader !== undefined) throw new UserError(`--csv-header / --no-csv-header go with a .csv file, not ${f.data}`);
    train = loadData({ data: f.data, samples: f.trainLimit }, undefined, expect);
    val = loadData("mnist:val", undefined, expect);
  } else {
    if (f.valLabels !== undefined || f.valLabelColumn !== undefined || f.valCsvHeader !== undefined) throw new UserError("--val-labels, --val-label-column and --val-csv-header go with --val-data");
    const all = loadData({ data: f.data, labels: f.labels, labelColumn: f.labelColumn, csvHeader: f.csvHeader }, undefined, expect);
    ({ train, val } = splitEvery(all, VAL_EVERY));
    if (f.trainLimit !== undefined && f.trainLimit < train.count) {
      train = { ...train, count: f.trainLimit, features: train.features.slice(0, f.trainLimit * train.width), labels: train.labels!.slice(0, f.trainLimit) };
    }
  }
  if (train.count === 0 || val.count === 0) throw new UserError(`${f.data}: ${train.count} training and ${val.count} validation samples; ${purpose} needs both`);
  return {
    train, val,
    trainSamples: { images: train.features, labels: labelsU8(train, purpose), count: train.count },
    valSamples: { images: val.features, labels: labelsU8(val, purpose), count: val.count },
  };
}

/** An integer flag value ≥ 0, or a UserError naming the flag. */
const nonNegativeInt = (flag: string) => (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new UserError(`${flag} must be an integer ≥ 0, got '${v}'`);
  return n;
};

/**
 * The --shift augmentation for samples of `features` values: --image H,W[,C] if given, else a square
 * single-channel image when `features` is a perfect square; anything else is a UserError.
 */
export function shiftAugment(f: { shift?: number; image?: number[]; data: string }, features: number): ShiftAugment | undefined {
  if (f.shift === undefined) {
    if (f.image) throw new UserError("--image describes the samples for --shift; give --shift too");
    return undefined;
  }
  const shift = f.shift, data = f.data;
  let dims = f.image;
  if (!dims) {
    const side = Math.round(Math.sqrt(features));
    if (side * side !== features) throw new UserError(`--shift needs --image H,W[,C]: the ${features} features per sample of ${JSON.stringify(data)} are not a square image`);
    dims = [side, side];
  }
  if (dims.length < 2 || dims.length > 3) throw new UserError(`--image takes H,W or H,W,C, got ${dims.join(",")}`);
  const aug: ShiftAugment = { height: dims[0], width: dims[1], channels: dims[2] ?? 1, shift };
  try {
    checkShiftAugment(aug, features);
  } catch (e) {
    throw e instanceof UserError ? new UserError(`--shift/--image: ${e.message.replace(/^augment: /, "")}`) : e;
  }
  return aug;
}

/** --shift and --image (read back with shiftAugment). */
export function addShiftOptions(cmd: Command): Command {
  return cmd
    .option("--shift <n>", "augment: translate each training sample by up to n pixels per axis (random, every epoch; zero fill)", nonNegativeInt("--shift"))
    .option("--image <list>", "the samples' image shape for --shift: H,W or H,W,C, channels last (default: square, one channel)", numberList("--image", true));
}
