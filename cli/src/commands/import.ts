// rankgate import: an ONNX or safetensors float MLP to a rankgate float checkpoint (.safetensors).
import { realpathSync } from "node:fs";
import { basename, dirname, extname, resolve } from "node:path";
import { Option, type Command } from "commander";
import { UserError, type FloatModel, showName } from "../../../runtime/src/index.ts";
import { applyInputNormalization, modelSizes, type ImportNotes } from "../../../toolchain/import/float-checkpoint.ts";
import { importOnnx } from "../../../toolchain/import/onnx.ts";
import { ACTIVATIONS, importSafetensors } from "../../../toolchain/import/state-dict.ts";
import { checkpointBytes } from "../../../toolchain/train/training-checkpoint.ts";
import { readUserFile, writeUserFile } from "../cli-io.ts";
import { numberList } from "../data-options.ts";

export const IMPORT_FORMATS = ["onnx", "safetensors"] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

interface ImportFlags {
  output: string;
  format?: ImportFormat;
  activation?: string;
  layers?: string;
  bnEps?: number;
  inputMean?: number[];
  inputStd?: number[];
}

/** The format named by a file's extension, or a UserError asking for --format. */
export function formatOf(path: string): ImportFormat {
  const ext = extname(path).toLowerCase().slice(1);
  if ((IMPORT_FORMATS as readonly string[]).includes(ext)) return ext as ImportFormat;
  throw new UserError(`${path}: cannot tell the format from the extension ${showName(extname(path))}; pass --format onnx|safetensors`);
}

/** Whether two paths name the same file (through links too); false when `b` does not exist yet. */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

export function registerImport(program: Command): void {
  program
    .command("import")
    .description("convert a float ReLU MLP (ONNX from torch, Keras, skl2onnx; or a safetensors state_dict) to a rankgate float checkpoint")
    .argument("<input>", "model file (.onnx, with any external .onnx.data beside it, or .safetensors)")
    .requiredOption("-o, --output <file>", "checkpoint to write (.safetensors)")
    .addOption(new Option("--format <format>", "input format (default: from the extension)").choices(IMPORT_FORMATS))
    .addOption(new Option("--activation <name>", "safetensors: the activation after every hidden layer, which a state_dict does not record (required for one not written by rankgate)").choices(ACTIVATIONS))
    .option("--layers <names>", "safetensors: module names in order (Linear and BatchNorm), e.g. fc1,bn1,fc2,fc3, when the names and shapes do not give it")
    .option("--bn-eps <eps>", "safetensors: BatchNorm epsilon (a state_dict does not store it; default 1e-5, torch's)", (v) => {
      const n = Number(v);
      if (!(n >= 0) || !Number.isFinite(n)) throw new UserError(`--bn-eps must be a non-negative number, got ${showName(v)}`);
      return n;
    })
    .option("--input-mean <values>", "fold x' = (x - mean) / std into the first layer, so the model takes raw features: one mean, or one per input (comma-separated)", numberList("--input-mean", false))
    .option("--input-std <values>", "the std of --input-mean's normalization: one value, or one per input (default 1)", numberList("--input-std", false))
    .action(async (input: string, opts: ImportFlags) => {
      const format = opts.format ?? formatOf(input);
      if (sameFile(input, opts.output)) throw new UserError(`${opts.output}: output would overwrite the input`);
      if (format === "onnx") {
        for (const flag of ["activation", "layers", "bnEps"] as const) {
          if (opts[flag] !== undefined) throw new UserError(`--${flag === "bnEps" ? "bn-eps" : flag} applies to safetensors state_dicts; an ONNX graph records its own`);
        }
      }
      const bytes = await readUserFile(input);
      let model: FloatModel & ImportNotes =
        format === "onnx"
          ? importOnnx(bytes, input, { baseDir: dirname(resolve(input)) })
          : importSafetensors(bytes, input, { activation: opts.activation, layers: opts.layers?.split(",").map((s) => s.trim()), bnEps: opts.bnEps });
      if (opts.inputMean || opts.inputStd) {
        model = { ...applyInputNormalization(model, opts.inputMean ?? [0], opts.inputStd ?? [1], input), notes: model.notes };
        model.notes.push(`folded --input-mean/--input-std into layer 0: the model takes raw features`);
      }
      const sizes = modelSizes(model);
      await writeUserFile(opts.output, checkpointBytes(model, { source: basename(input), from: format }));
      for (const note of model.notes) process.stdout.write(`note: ${note}\n`);
      const params = model.layers.reduce((t, l) => t + l.nIn * l.nOut + l.nOut, 0);
      process.stdout.write(`${input} (${format}) -> ${opts.output}: ${model.layers.length} layers, sizes ${sizes.join("-")}, ${params.toLocaleString("en-US")} parameters\n`);
    });
}
