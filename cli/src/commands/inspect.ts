// rankgate inspect: layer table, totals and arena plan of an .rgm file.
import type { Command } from "commander";
import { planArena, PAGE_BYTES, type ArenaPlan, readModel, SECTIONS, type ParsedModel, type SectionInfo, gateMacs, instantiateKernels, UserError } from "../../../runtime/src/index.ts";
import { readUserFile } from "../cli-io.ts";
import { expectKind } from "../file-kind.ts";
import { colors, table } from "../table.ts";

export interface LayerInfo {
  index: number;
  nIn: number;
  nOut: number;
  activation: string;
  rank: number;
  /** Block gate: units per block and blocks (0 without a gate). */
  blockSize: number;
  blocks: number;
  /** Top-k (routing) gate: k blocks open per sample (format v4); absent for a threshold gate or none. */
  topK?: number;
  tMax: number;
  margin: number;
  inScale: number;
  inZeroPoint: number;
  outScale: number;
  outZeroPoint: number;
  /** weights, bias, multiplier and shift sections (and in v3 layer 0's in_scales and in_offsets). */
  weightBytes: number;
  /** est_* and gate_* sections. */
  estimatorBytes: number;
  denseMacs: number;
  estimatorMacs: number;
}

/** How float inputs become int8: one scale (format v1, v2) or a scale and offset per feature (v3). */
export interface InputQuantInfo {
  mode: "per-tensor" | "per-feature";
  /** The zero point z of layer 0's input. */
  zeroPoint: number;
  /** Per tensor: q = clamp(round(x / scale) + z); per feature: layer 0's folded input scale (1). */
  scale: number;
  /** Per feature (v3), one entry per input: q_i = clamp(round((x_i − offset) / scale) + z); min and max are the floats mapped to −128 and 127. Empty per tensor. */
  features: { index: number; scale: number; offset: number; min: number; max: number }[];
}

export interface ModelInfo {
  path: string;
  /** The file's format version (header bytes 4–5). */
  version: number;
  input: InputQuantInfo;
  layers: LayerInfo[];
  totals: {
    layers: number;
    /** Dense n_in·n_out + n_out plus estimator rank·(n_in + n_out), per layer. */
    parameters: number;
    denseParameters: number;
    estimatorParameters: number;
    fileBytes: number;
    weightBytes: number;
    estimatorBytes: number;
    denseMacs: number;
    estimatorMacs: number;
  };
  sections: SectionInfo[];
  arena: ArenaPlan & { heapBase: number };
}

const ESTIMATOR_SECTIONS = new Set(SECTIONS.filter((s) => s.owner === "estimator" || s.owner === "gate").map((s) => s.name));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export function describeModel({ model, image, sections }: ParsedModel, path: string, heapBase: number): ModelInfo {
  const layers = model.layers.map((l, index): LayerInfo => {
    const own = sections.filter((s) => s.layer === index);
    const rank = l.estimator?.rank ?? 0;
    return {
      index, nIn: l.nIn, nOut: l.nOut, activation: l.activation, rank, blockSize: l.gate?.blockSize ?? 0, blocks: l.gate?.blocks ?? 0, ...(l.gate?.topK ? { topK: l.gate.topK } : {}),
      tMax: l.estimator?.tMax ?? 0, margin: l.estimator?.margin ?? 0,
      inScale: l.inScale, inZeroPoint: l.inZeroPoint, outScale: l.outScale, outZeroPoint: l.outZeroPoint,
      weightBytes: sum(own.filter((s) => !ESTIMATOR_SECTIONS.has(s.name)).map((s) => s.bytes)),
      estimatorBytes: sum(own.filter((s) => ESTIMATOR_SECTIONS.has(s.name)).map((s) => s.bytes)),
      denseMacs: l.nIn * l.nOut,
      estimatorMacs: gateMacs(l),
    };
  });
  const denseParameters = sum(layers.map((l) => l.nIn * l.nOut + l.nOut));
  const estimatorParameters = sum(layers.map((l) => l.estimatorMacs));
  const l0 = model.layers[0], f = model.inputFeatures ?? null, z = l0.inZeroPoint;
  const input: InputQuantInfo = {
    mode: f ? "per-feature" : "per-tensor", zeroPoint: z, scale: l0.inScale,
    features: f ? Array.from(f.scale, (scale, index) => {
      const offset = f.offset[index];
      return { index, scale, offset, min: offset + (-128 - z) * scale, max: offset + (127 - z) * scale };
    }) : [],
  };
  return {
    path,
    version: image[4] | (image[5] << 8),
    input,
    layers,
    totals: {
      layers: layers.length,
      parameters: denseParameters + estimatorParameters, denseParameters, estimatorParameters,
      fileBytes: image.length,
      weightBytes: sum(layers.map((l) => l.weightBytes)),
      estimatorBytes: sum(layers.map((l) => l.estimatorBytes)),
      denseMacs: sum(layers.map((l) => l.denseMacs)),
      estimatorMacs: sum(layers.map((l) => l.estimatorMacs)),
    },
    sections,
    arena: { heapBase, ...planArena(model, image.length, heapBase) },
  };
}

const n = (v: number) => v.toLocaleString("en-US");
const g = (v: number) => Number(v.toPrecision(4)).toString();

function render(info: ModelInfo, showSections: boolean): string {
  const c = colors;
  const gated = (v: string | number, rank: number) => (rank ? String(v) : c.dim("-"));
  const t = info.totals, a = info.arena;
  const out: string[] = [];

  out.push(`${c.bold(info.path)}  ${c.dim(`${t.layers} layers · ${n(t.fileBytes)} bytes · CRC-32 ok`)}`);
  const layers = table(
    ["#", "n_in", "n_out", "act", "rank", "gate", "t_max", "margin", "in scale / zp", "out scale / zp", "weight B", "est B", "dense MACs", "est MACs"],
    ["right", "right", "right", "left", "right", "right", "right", "right", "right", "right", "right", "right", "right", "right"],
  );
  for (const l of info.layers) {
    layers.push([
      l.index, l.nIn, l.nOut, l.activation, gated(l.rank, l.rank), gated(`${l.blocks}×${l.blockSize}${l.topK ? ` top-${l.topK}` : ""}`, l.blocks), gated(l.tMax, l.rank), gated(g(l.margin), l.rank),
      `${l.index === 0 && info.input.mode === "per-feature" ? "per feature" : g(l.inScale)} / ${l.inZeroPoint}`, `${g(l.outScale)} / ${l.outZeroPoint}`,
      n(l.weightBytes), gated(n(l.estimatorBytes), l.rank + l.blocks), n(l.denseMacs), gated(n(l.estimatorMacs), l.rank + l.blocks),
    ]);
  }
  layers.push([{ colSpan: 10, hAlign: "left", content: c.bold("total") }, n(t.weightBytes), n(t.estimatorBytes), c.bold(n(t.denseMacs)), n(t.estimatorMacs)]);
  out.push(layers.toString());
  const share = t.denseMacs ? ` (${((100 * t.estimatorMacs) / t.denseMacs).toFixed(1)}% of dense)` : "";
  out.push(
    `${c.bold("parameters")} ${n(t.parameters)} (dense ${n(t.denseParameters)} + estimators/gates ${n(t.estimatorParameters)})  ` +
      `${c.bold("MACs/sample")} dense ${n(t.denseMacs)}, estimator ${n(t.estimatorMacs)}${share}`,
  );

  const iq = info.input, plusZ = iq.zeroPoint < 0 ? `− ${-iq.zeroPoint}` : `+ ${iq.zeroPoint}`;
  if (iq.mode === "per-tensor") {
    out.push(`${c.bold("input quantization")} per tensor (format v${info.version}): q = clamp(round(x / ${g(iq.scale)}) ${plusZ}, −128, 127)`);
  } else {
    out.push(`${c.bold("input quantization")} per feature (format v${info.version}, ${n(iq.features.length)} features): q_i = clamp(round((x_i − offset_i) / scale_i) ${plusZ}, −128, 127)`);
    const f = table(["feature", "scale", "offset", "min (q = −128)", "max (q = 127)"], ["right", "right", "right", "right", "right"]);
    for (const x of iq.features) f.push([x.index, g(x.scale), g(x.offset), g(x.min), g(x.max)]);
    out.push(f.toString());
  }

  if (showSections) {
    const s = table(["layer", "section", "offset", "bytes"], ["right", "left", "right", "right"]);
    for (const x of info.sections) s.push([x.layer, x.name, n(x.offset), n(x.bytes)]);
    out.push("", c.bold("sections"), s.toString());
  }

  const r = table(["arena", "offset", "bytes"], ["left", "right", "right"]);
  r.push([c.dim("static data"), c.dim("0"), c.dim(n(a.heapBase))]);
  for (const x of a.regions) r.push([x.name, n(x.offset), n(x.bytes)]);
  r.push([c.bold("total"), "", c.bold(n(a.totalBytes))]);
  r.push([c.bold("pages"), "", `${a.pages} × ${PAGE_BYTES / 1024} KiB`]);
  out.push("", r.toString());
  return out.join("\n");
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("show an .rgm model's layers, sizes, MAC counts and arena plan")
    .argument("[model]", "model file (.rgm); the same as --model")
    .option("--model <file>", "model file (.rgm)")
    .option("--json", "print one JSON object instead of tables")
    .option("--sections", "also list every section's offset and size")
    .action(async (positional: string | undefined, opts: { model?: string; json?: boolean; sections?: boolean }) => {
      if (positional && opts.model && positional !== opts.model) throw new UserError(`two models given (${positional} and --model ${opts.model}); inspect takes one`);
      const path = opts.model ?? positional;
      if (!path) throw new UserError("--model is required: rankgate inspect --model m.rgm");
      const bytes = await readUserFile(path);
      expectKind(bytes, path, "model");
      const parsed = readModel(bytes, path);
      const kernels = await instantiateKernels();
      const info = describeModel(parsed, path, kernels.heapBase());
      process.stdout.write((opts.json ? JSON.stringify(info, null, 2) : render(info, !!opts.sections)) + "\n");
    });
}
