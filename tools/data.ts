// --data and --float arguments shared by commands.
import { loadMnist, MNIST_PIXELS, parseDataSpec, toFloatInputs } from "../ts/mnist.ts";
import { readModel, type ParsedModel } from "../ts/format.ts";
import { importSafetensors } from "../ts/import/safetensors.ts";
import type { FloatModel } from "../ts/model.ts";
import { UserError } from "../ts/errors.ts";
import { readUserFile } from "./cli-io.ts";
import { expectKind } from "./file-kind.ts";

export interface Dataset {
  spec: string;
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

/** `mnist:train|val|test`, optionally the first `limit` samples. */
export function loadData(spec: string, limit?: number): Dataset {
  const split = parseDataSpec(spec);
  const d = loadMnist(split, limit === undefined ? undefined : { limit });
  return { spec, images: toFloatInputs(d.images, d.count), labels: d.labels, count: d.count };
}

export async function loadFloat(path: string): Promise<FloatModel> {
  const bytes = await readUserFile(path);
  expectKind(bytes, path, "float");
  return importSafetensors(bytes, path);
}

const sizesOf = (layers: { nIn: number; nOut: number }[]) => [layers[0].nIn, ...layers.map((l) => l.nOut)];

/**
 * An .rgm for MNIST, validated before any data loads: a FormatError names the file, a model
 * for other inputs or a float checkpoint of another shape is a UserError.
 */
export async function loadMnistModel(path: string, floatPath?: string): Promise<{ bytes: Uint8Array; parsed: ParsedModel; float?: FloatModel }> {
  const bytes = await readUserFile(path);
  expectKind(bytes, path, "model");
  const parsed = readModel(bytes, path);
  const sizes = sizesOf(parsed.model.layers);
  if (sizes[0] !== MNIST_PIXELS) throw new UserError(`${path}: the model takes ${sizes[0]} inputs, MNIST has ${MNIST_PIXELS}`);
  const float = floatPath ? await loadFloat(floatPath) : undefined;
  if (float && sizesOf(float.layers).join("-") !== sizes.join("-")) {
    throw new UserError(`${floatPath}: layer sizes ${sizesOf(float.layers).join("-")} differ from ${path}'s ${sizes.join("-")}`);
  }
  return { bytes, parsed, float };
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
