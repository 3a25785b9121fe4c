// safetensors → FloatModel: rankgate checkpoints, torch state_dicts (nn.Sequential or named modules, BatchNorm
// folded), numpy arrays saved with the same `.weight`/`.bias` names.
import { UserError, type FloatLayer, type FloatModel, showName, showValue } from "../../runtime/src/index.ts";
import { readSafetensors, type ReadTensor } from "../io/safetensors-file.ts";
import { CHECKPOINT_FORMAT, checkLayer, foldBatchNorm, listNames, type ImportNotes } from "./float-checkpoint.ts";

/** The one activation rankgate runs between layers. */
export const ACTIVATIONS = ["relu"] as const;
/** torch's BatchNorm1d default: a state_dict does not store eps. */
export const BATCHNORM_EPS = 1e-5;
/** Orderings tried when names do not give the layer order (a search over shape chains). */
export const SAFETENSORS_MAX_ORDER_STEPS = 10_000;

export interface SafetensorsImportOptions {
  /** Activation after every hidden layer, for a state_dict that records none: only "relu". */
  activation?: string;
  /** Module names in order (linear layers and BatchNorms), when the names and shapes leave the order open. */
  layers?: string[];
  /** BatchNorm epsilon (default {@link BATCHNORM_EPS}). */
  bnEps?: number;
}

const PARAM = /^(.+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$/;
const ATTACH = /^(.+)\.(gate\.weight|gate\.bias|gate\.top_k|est\.a|est\.b|est\.offset)$/;
type Part = "gate.weight" | "gate.bias" | "gate.top_k" | "est.a" | "est.b" | "est.offset";
const FORMS =
  'tensors named "{module}.weight"/"{module}.bias" (Linear, [nOut, nIn]) and "{module}.running_mean"/"running_var" (BatchNorm), ' +
  'e.g. "0.weight" (nn.Sequential), "fc1.weight", or rankgate\'s "layers.{i}.weight"';

interface Module {
  name: string;
  numbers: number[];
  kind: "linear" | "bn";
  t: Partial<Record<"weight" | "bias" | "running_mean" | "running_var" | "num_batches_tracked", { name: string; t: ReadTensor }>>;
  attach: Partial<Record<Part, string>>;
}

const numbersOf = (name: string) => (name.match(/\d+/g) ?? []).map(Number);
const cmpNumbers = (a: number[], b: number[]) => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
};

/** Decoded metadata value: JSON when it parses, else the raw string. */
const metaValue = (v: string | undefined): unknown => {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
};

/**
 * Whether the metadata marks a rankgate checkpoint: `format` is rankgate's (written by `train`, `import` and
 * every checkpoint since) or, for files `import` wrote before it recorded one, "onnx"/"safetensors" with
 * `source` and `sizes`. Such checkpoints are ReLU MLPs.
 */
export function isRankgateCheckpoint(metadata: Record<string, string>): boolean {
  const format = metaValue(metadata.format);
  if (format === CHECKPOINT_FORMAT) return true;
  return (metadata.format === "onnx" || metadata.format === "safetensors") && metadata.source !== undefined && metadata.sizes !== undefined;
}

/** What every stage of importSafetensors shares: the file's tensors, the error helper naming the file, the notes. */
interface Ctx {
  source: string;
  tensors: Map<string, ReadTensor>;
  notes: string[];
  fail(msg: string): never;
  /** A float tensor's data (F16, BF16 and F64 were read as F32); another dtype fails naming it. */
  floatData(name: string, t: ReadTensor): Float32Array;
}
const q = (s: string) => showName(s);

/**
 * Reads a float MLP from safetensors. Tensors group into modules by the name before the last `.`: a module with a
 * 2-D `weight` [nOut, nIn] and `bias` [nOut] is a linear layer; one with `running_mean` and `running_var` (plus
 * optional `weight`, `bias`, `num_batches_tracked`) is a BatchNorm, folded in float64 into the linear layer
 * before it. Modules are ordered by the numbers in their names (`0`, `layers.3`, `fc1`), a linear layer before a
 * BatchNorm of the same number; when names carry no numbers, by the only order whose shapes chain; else
 * `opts.layers` must give it. rankgate checkpoints may add `.gate.*` and `.est.*` tensors to hidden layers.
 * The activation: rankgate checkpoints are ReLU nets (metadata `activation`, or rankgate's `format`); any other
 * state_dict needs `opts.activation = "relu"`. Float dtypes only (F16, BF16, F64 read as F32).
 * @param source file name used in error messages
 */
export function importSafetensors(bytes: Uint8Array, source: string, opts: SafetensorsImportOptions = {}): FloatModel & ImportNotes {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: ${msg}`);
  };
  const { tensors, metadata } = readSafetensors(bytes, source);
  if (!tensors.size) fail(`no tensors; expected ${FORMS}`);
  const floatData = (name: string, t: ReadTensor): Float32Array => {
    if (t.dtype !== "F32") fail(`tensor ${q(name)} has dtype ${t.stored}; expected a float dtype (F32, F16, BF16 or F64)`);
    return t.data as Float32Array;
  };
  const ctx: Ctx = { source, tensors, notes: [], fail, floatData };
  const modules = groupModules(ctx);
  checkModules(ctx, modules);
  const order = orderModules(ctx, modules, opts);
  const layers = buildLayers(ctx, order, opts);
  checkActivation(ctx, metadata, opts);
  return { layers, notes: ctx.notes };
}

/** Tensors grouped into modules by the name before the last `.`; `.gate.*` / `.est.*` attached to their layer. */
function groupModules({ tensors, fail }: Ctx): Map<string, Module> {
  const modules = new Map<string, Module>();
  const unknown: string[] = [];
  const attachments: [string, Part, string][] = [];
  const moduleOf = (name: string) => {
    let m = modules.get(name);
    if (!m) modules.set(name, (m = { name, numbers: numbersOf(name), kind: "linear", t: {}, attach: {} }));
    return m;
  };
  for (const [name, t] of tensors) {
    const a = ATTACH.exec(name);
    if (a) {
      attachments.push([a[1], a[2] as Part, name]);
      continue;
    }
    const p = PARAM.exec(name);
    if (!p) {
      unknown.push(name);
      continue;
    }
    moduleOf(p[1]).t[p[2] as keyof Module["t"]] = { name, t };
  }
  // gate/est tensors belong to a layer `X` named by index (rankgate's `layers.{i}`) or to a linear module X
  for (const [owner, part, name] of attachments) {
    const m = modules.get(owner);
    if (m?.t.weight || /(^|\.)\d+$/.test(owner)) {
      if (!m?.t.weight) fail(`tensor ${q(name)} belongs to layer ${q(owner)}, which has no weight ${q(`${owner}.weight`)}`);
      m!.attach[part] = name;
    } else {
      const [sub, param] = [owner + "." + part.split(".")[0], part.split(".")[1]];
      if (param === "weight" || param === "bias") moduleOf(sub).t[param] = { name, t: tensors.get(name)! };
      else unknown.push(name);
    }
  }
  if (unknown.length) fail(`unknown tensor${unknown.length > 1 ? "s" : ""} ${listNames(unknown)}; expected ${FORMS}`);

  return modules;
}

/** Each module is a complete BatchNorm or a linear layer with a 2-D weight and a matching bias, all float. */
function checkModules({ fail, floatData }: Ctx, modules: Map<string, Module>): void {
  for (const m of modules.values()) {
    const { weight, bias, running_mean: mean, running_var: v } = m.t;
    if (mean || v) {
      m.kind = "bn";
      if (!mean || !v) fail(`BatchNorm ${q(m.name)} has ${mean ? "running_mean" : "running_var"} but no ${q(`${m.name}.${mean ? "running_var" : "running_mean"}`)}`);
      const c = mean!.t.shape[0];
      for (const x of [weight, bias, mean, v]) {
        if (x && (x.t.shape.length !== 1 || x.t.shape[0] !== c)) fail(`BatchNorm tensor ${q(x.name)} has shape ${showValue(x.t.shape)}; expected [${c}] like ${q(mean!.name)}`);
        if (x) floatData(x.name, x.t);
      }
      continue;
    }
    if (m.t.num_batches_tracked) fail(`tensor ${q(m.t.num_batches_tracked.name)} without ${q(`${m.name}.running_mean`)}: an incomplete BatchNorm`);
    if (!weight) return fail(`tensor ${q(bias!.name)} has no weight ${q(`${m.name}.weight`)}`);
    if (weight.t.shape.length !== 2) {
      fail(`tensor ${q(weight.name)} has shape ${showValue(weight.t.shape)} (rank ${weight.t.shape.length}); expected rank 2 [nOut, nIn]` +
        (weight.t.shape.length === 1 ? " (a 1-D weight without running_mean is not a Linear or BatchNorm, e.g. LayerNorm: unsupported)" : ""));
    }
    if (!bias) fail(`missing bias ${q(`${m.name}.bias`)} for weight ${q(weight.name)} ${showValue(weight.t.shape)}`);
    const nOut = weight.t.shape[0];
    if (bias!.t.shape.length !== 1 || bias!.t.shape[0] !== nOut) fail(`tensor ${q(bias!.name)} has shape ${showValue(bias!.t.shape)}; expected [${nOut}] to match ${q(weight.name)} ${showValue(weight.t.shape)}`);
    floatData(weight.name, weight.t);
    floatData(bias!.name, bias!.t);
  }
}

/** The modules in layer order: from `--layers`, from the numbers in their names, or from the one order whose shapes chain. */
function orderModules({ fail, notes }: Ctx, modules: Map<string, Module>, opts: SafetensorsImportOptions): Module[] {
  const all = [...modules.values()];
  const linears = all.filter((m) => m.kind === "linear");
  if (!linears.length) fail(`no linear layer (a 2-D "{module}.weight"); found only BatchNorm ${listNames(all.map((m) => m.name))}`);
  const dims = (m: Module) => m.t.weight!.t.shape as [number, number];
  const ask = `pass --layers with the module names in order, e.g. --layers ${linears.slice(0, 3).map((m) => m.name).join(",")}`;

  let order: Module[];
  if (opts.layers) {
    const byName = (given: string): Module => {
      const exact = modules.get(given);
      if (exact) return exact;
      const ends = all.filter((m) => m.name.endsWith(`.${given}`));
      if (ends.length === 1) return ends[0];
      return fail(`--layers names ${q(given)}, which is ${ends.length ? `ambiguous (${listNames(ends.map((m) => m.name))})` : `no module; modules: ${listNames(all.map((m) => m.name))}`}`);
    };
    order = opts.layers.map(byName);
    const dup = order.find((m, i) => order.indexOf(m) !== i);
    if (dup) fail(`--layers names ${q(dup.name)} twice`);
    const left = all.filter((m) => !order.includes(m));
    if (left.length) fail(`--layers leaves out ${listNames(left.map((m) => m.name))}; list every linear and BatchNorm module in order`);
  } else if (all.every((m) => m.numbers.length)) {
    order = [...all].sort((a, b) => cmpNumbers(a.numbers, b.numbers) || (a.kind === b.kind ? 0 : a.kind === "linear" ? -1 : 1));
    for (let i = 1; i < order.length; i++) {
      const [a, b] = [order[i - 1], order[i]];
      if (a.kind === b.kind && !cmpNumbers(a.numbers, b.numbers)) fail(`modules ${q(a.name)} and ${q(b.name)} carry the same numbers, so their order is ambiguous; ${ask}`);
    }
  } else {
    const unnumbered = all.filter((m) => !m.numbers.length);
    if (all.some((m) => m.kind === "bn")) fail(`cannot tell where BatchNorm goes: ${listNames(unnumbered.map((m) => m.name))} carry no layer number; ${ask}`);
    // The orders whose shapes chain: stop at two, or after a bounded search
    const found: Module[][] = [];
    let steps = 0;
    const path: Module[] = [];
    const used = new Set<Module>();
    const dfs = () => {
      if (found.length > 1 || ++steps > SAFETENSORS_MAX_ORDER_STEPS) return;
      if (path.length === linears.length) {
        found.push([...path]);
        return;
      }
      for (const m of linears) {
        if (used.has(m) || (path.length && dims(path[path.length - 1])[0] !== dims(m)[1])) continue;
        used.add(m);
        path.push(m);
        dfs();
        path.pop();
        used.delete(m);
      }
    };
    dfs();
    if (found.length !== 1) {
      fail(`cannot tell the layer order: ${listNames(unnumbered.map((m) => m.name))} carry no layer number and ${found.length ? "more than one order" : steps > SAFETENSORS_MAX_ORDER_STEPS ? "the search over" : "no order"} of the shapes chains; ${ask}`);
    }
    order = found[0];
    notes.push(`layer order from the shapes: ${order.map((m) => m.name).join(", ")}`);
  }

  return order;
}

/** The float layers in order, each BatchNorm folded into the linear layer before it, block policies and estimators attached. */
function buildLayers(ctx: Ctx, order: Module[], opts: SafetensorsImportOptions): FloatLayer[] {
  const { source, tensors, notes, fail, floatData } = ctx;
  const dims = (m: Module) => m.t.weight!.t.shape as [number, number];
  const eps = opts.bnEps ?? BATCHNORM_EPS;
  const layers: FloatLayer[] = [];
  const owners: Module[] = [];
  const lastLinear = order.filter((o) => o.kind === "linear").at(-1);
  for (const m of order) {
    if (m.kind === "bn") {
      const prev = owners[owners.length - 1];
      if (!prev || order[order.indexOf(m) - 1] !== prev) {
        fail(`BatchNorm ${q(m.name)} does not follow a linear layer; only Linear → BatchNorm is folded`);
      }
      const l = layers[layers.length - 1];
      const c = m.t.running_mean!.t.shape[0];
      if (c !== l.nOut) fail(`BatchNorm ${q(m.name)} has ${c} channels, but ${q(prev.name)} gives ${l.nOut}`);
      if (l.gate || l.estimator) fail(`BatchNorm ${q(m.name)} follows ${q(prev.name)}, which has a block policy or estimator`);
      const get = (k: "weight" | "bias" | "running_mean" | "running_var") => (m.t[k] ? (m.t[k]!.t.data as Float32Array) : undefined);
      layers[layers.length - 1] = foldBatchNorm(l, { gamma: get("weight"), beta: get("bias"), mean: get("running_mean")!, variance: get("running_var")!, eps }, m.name, source);
      notes.push(`BatchNorm ${showName(m.name)} folded into ${showName(prev.name)} (eps ${eps})`);
      continue;
    }
    const w = m.t.weight!, b = m.t.bias!;
    const [nOut, nIn] = dims(m);
    const prev = owners[owners.length - 1];
    if (prev && dims(prev)[0] !== nIn) {
      fail(`shape mismatch: ${q(w.name)} ${showValue(w.t.shape)} takes ${nIn} inputs, but ${q(prev.t.weight!.name)} ${showValue(prev.t.weight!.t.shape)} gives ${dims(prev)[0]}` +
        (opts.layers ? "" : ` (order from the names: ${listNames(order.filter((o) => o.kind === "linear").map((o) => o.name))}; if that is not the order, pass --layers)`));
    }
    const layer = checkLayer({ nIn, nOut, weight: w.t.data as Float32Array, bias: b.t.data as Float32Array }, w.name, b.name, source);
    attach(layer, m, m === lastLinear);
    layers.push(layer);
    owners.push(m);
  }

  function attach(layer: FloatLayer, m: Module, isLast: boolean) {
    const names = m.attach;
    const { nIn, nOut } = layer;
    const wName = m.t.weight!.name;
    const stem = `${m.name}.`;
    const extra = (part: Part, shape: number[]): Float32Array | undefined => {
      const name = names[part];
      if (name === undefined) return undefined;
      const t = tensors.get(name)!;
      const data = floatData(name, t);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => shape[i] >= 0 && d !== shape[i])) {
        fail(`tensor ${q(name)} has shape ${showValue(t.shape)}; expected [${shape.map((d) => (d < 0 ? "?" : d))}] to match ${q(wName)} ${showValue(m.t.weight!.t.shape)}`);
      }
      const bad = data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) fail(`${q(name)} holds a non-finite value (${data[bad]}) at element ${bad}`);
      return data;
    };
    const hasGate = names["gate.weight"] !== undefined || names["gate.bias"] !== undefined || names["gate.top_k"] !== undefined;
    const hasEst = names["est.a"] !== undefined || names["est.b"] !== undefined || names["est.offset"] !== undefined;
    if (!hasGate && !hasEst) return;
    const first = Object.values(names)[0]!;
    if (isLast) fail(`tensor ${q(first)}: the output layer cannot be gated`);
    if (hasGate && hasEst) fail(`layer ${q(m.name)} has both a block policy (${q(stem + "gate.*")}) and an estimator (${q(stem + "est.*")}); expected at most one`);
    if (hasGate) {
      for (const p of ["gate.weight", "gate.bias"] as const) if (names[p] === undefined) fail(`missing ${q(stem + p)} for the block policy of ${q(wName)}`);
      const gw = tensors.get(names["gate.weight"]!)!;
      const blocks = gw.shape.length === 2 ? gw.shape[0] : -1;
      if (!(blocks >= 1 && blocks <= nOut)) fail(`tensor ${q(names["gate.weight"]!)} has shape ${showValue(gw.shape)}; expected [nBlocks, ${nIn}] with 1 ≤ nBlocks ≤ ${nOut}`);
      const blockSize = Math.ceil(nOut / blocks);
      if (Math.ceil(nOut / blockSize) !== blocks) fail(`tensor ${q(names["gate.weight"]!)}: ${blocks} blocks cannot split ${nOut} units into equal blocks (last one smaller); try ${Math.ceil(nOut / blockSize)}`);
      layer.gate = { blockSize, weight: extra("gate.weight", [blocks, nIn])!, bias: extra("gate.bias", [blocks])! };
      const kName = names["gate.top_k"];
      if (kName !== undefined) {
        // Routing gate: one I32 (I64 is read as I32), an integer in [0, nBlocks]
        const t = tensors.get(kName)!;
        if (t.dtype !== "I32" || t.shape.length !== 1 || t.shape[0] !== 1) fail(`tensor ${q(kName)} is ${t.stored} ${showValue(t.shape)}; expected I32 [1] (the gate's top k)`);
        const k = (t.data as Int32Array)[0];
        if (!(k >= 0 && k <= blocks)) fail(`tensor ${q(kName)} holds ${k}; expected an integer in [0, ${blocks}] (the gate's blocks)`);
        if (k > 0) layer.gate.topK = k;
      }
    }
    if (hasEst) {
      for (const p of ["est.a", "est.b", "est.offset"] as const) if (names[p] === undefined) fail(`missing ${q(stem + p)} for the learned estimator of ${q(wName)}`);
      const ea = tensors.get(names["est.a"]!)!;
      const rank = ea.shape.length === 2 ? ea.shape[0] : -1;
      if (!(rank >= 1 && rank <= Math.min(nIn, nOut))) fail(`tensor ${q(names["est.a"]!)} has shape ${showValue(ea.shape)}; expected [rank, ${nIn}] with 1 ≤ rank ≤ ${Math.min(nIn, nOut)}`);
      layer.estimator = { rank, at: extra("est.a", [rank, nIn])!, bt: extra("est.b", [nOut, rank])!, offset: extra("est.offset", [nOut])! };
    }
  }

  return layers;
}

/** The activation: recorded in the metadata, rankgate's own (ReLU), or given by `opts.activation`; only ReLU. */
function checkActivation({ fail }: Ctx, metadata: Record<string, string>, opts: SafetensorsImportOptions): void {
  const recorded = metaValue(metadata.activation);
  if (recorded !== undefined) {
    const list = Array.isArray(recorded) ? recorded : [recorded];
    const other = list.find((a) => a !== "relu");
    if (other !== undefined || !list.length) fail(`metadata records activation ${showValue(recorded)}; rankgate runs ReLU MLPs only`);
  } else if (!isRankgateCheckpoint(metadata)) {
    if (opts.activation === undefined) {
      fail(`a state_dict records no activation functions; if every hidden layer is followed by ReLU, pass --activation relu to rankgate import (ReLU is the only activation supported)`);
    }
    if (opts.activation !== "relu") fail(`--activation ${showValue(opts.activation)} is not supported; ReLU between layers is the only one (--activation relu)`);
  }
}
