// rankgate import: an ONNX or safetensors float MLP to a rankgate float checkpoint (.safetensors).
import { basename, extname, resolve } from "node:path";
import { Option, type Command } from "commander";
import { UserError } from "../../ts/errors.ts";
import { checkpointTensors, modelSizes } from "../../ts/import/checkpoint.ts";
import { importOnnx } from "../../ts/import/onnx.ts";
import { importSafetensors } from "../../ts/import/safetensors.ts";
import type { FloatModel } from "../../ts/model.ts";
import { writeSafetensors } from "../../ts/safetensors.ts";
import { readUserFile, writeUserFile } from "../cli-io.ts";

export const IMPORT_FORMATS = ["onnx", "safetensors"] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

const IMPORTERS: Record<ImportFormat, (bytes: Uint8Array, source: string) => FloatModel> = {
  onnx: importOnnx,
  safetensors: importSafetensors,
};

/** The format named by a file's extension, or a UserError asking for --format. */
export function formatOf(path: string): ImportFormat {
  const ext = extname(path).toLowerCase().slice(1);
  if ((IMPORT_FORMATS as readonly string[]).includes(ext)) return ext as ImportFormat;
  throw new UserError(`${path}: cannot tell the format from the extension "${extname(path)}"; pass --format onnx|safetensors`);
}

export function registerImport(program: Command): void {
  program
    .command("import")
    .description("convert a float MLP (ONNX Gemm/MatMul+Relu chain, or safetensors) to a rankgate float checkpoint")
    .argument("<input>", "model file (.onnx or .safetensors)")
    .requiredOption("-o, --output <file>", "checkpoint to write (.safetensors)")
    .addOption(new Option("--format <format>", "input format (default: from the extension)").choices(IMPORT_FORMATS))
    .action(async (input: string, opts: { output: string; format?: ImportFormat }) => {
      const format = opts.format ?? formatOf(input);
      if (resolve(input) === resolve(opts.output)) throw new UserError(`${opts.output}: output would overwrite the input`);
      const model = IMPORTERS[format](await readUserFile(input), input);
      const sizes = modelSizes(model).join(",");
      const metadata = { sizes, source: basename(input), format };
      await writeUserFile(opts.output, writeSafetensors(checkpointTensors(model), metadata));
      const params = model.layers.reduce((t, l) => t + l.nIn * l.nOut + l.nOut, 0);
      process.stdout.write(
        `${input} (${format}) -> ${opts.output}: ${model.layers.length} layers, sizes ${sizes.replaceAll(",", "-")}, ${params.toLocaleString("en-US")} parameters\n`,
      );
    });
}
