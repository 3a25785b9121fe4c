// --data and --float arguments shared by commands.
import { loadMnist, parseDataSpec, toFloatInputs } from "../ts/mnist.ts";
import { importSafetensors } from "../ts/import/safetensors.ts";
import type { FloatModel } from "../ts/model.ts";
import { UserError } from "../ts/errors.ts";
import { readUserFile } from "./cli-io.ts";

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
  return importSafetensors(await readUserFile(path), path);
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
