// ONNX → FloatModel for the Linear/ReLU chains exporters write: torch.onnx.export (TorchScript and dynamo),
// Keras 3 / tf2onnx, skl2onnx classifiers.
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from "node:fs";
import { isAbsolute, join, sep } from "node:path";
import onnxProto from "onnx-proto";
import type { onnx } from "onnx-proto";
import { FormatError, UserError, type FloatLayer, type FloatModel, showName, showValue } from "../../runtime/src/index.ts";
import { checkLayer, foldAffineAfter, foldBatchNorm, foldInputAffine, listNames, type ImportNotes } from "./float-checkpoint.ts";

const { ModelProto, TensorProto } = onnxProto.onnx;
const DATA_TYPE_FLOAT = 1;
const DATA_TYPE_INT64 = 7;
const DATA_LOCATION_EXTERNAL = 1;
const SUPPORTED =
  "Gemm, MatMul (+ Add), Relu, BatchNormalization / constant Mul, Add, Sub, Div after a layer, constant Sub, Div, Mul, Add " +
  "on the input, Flatten and Reshape [N, -1] before the first layer, Identity, Dropout, Cast to float, a final Softmax or LogSoftmax";

/** Graph nodes an ONNX file may hold (an MLP needs a few dozen); counted from the protobuf bytes before decoding. */
export const ONNX_MAX_NODES = 10_000;
/**
 * Values the protobuf decoder would allocate one by one (messages, strings, integers: int64s decode to Long
 * objects, ~90 bytes each), counted from the bytes with the ONNX schema before decoding. Packed floats and raw
 * bytes are not counted: they decode to at most twice their size.
 */
export const ONNX_MAX_DECODED_VALUES = 200_000;
/** Nesting of ONNX messages (graphs in attributes, types in types) the pre-decode scan follows. */
export const ONNX_MAX_NESTING = 32;
/** Bytes of one tensor's data (256 MiB), checked from its dims before anything is read or allocated. */
export const ONNX_MAX_TENSOR_BYTES = 256 * 1024 * 1024;
/**
 * Float32 weight bytes the import may produce, as a multiple of the bytes it read (model file plus external
 * data), plus 1 MiB: constant folding (Transpose, Identity of one initializer) shares the source tensor, and a
 * graph that reuses one initializer for many layers stops here instead of multiplying it.
 */
export const ONNX_MAX_WEIGHT_EXPANSION = 2;

type Int = number | { toNumber(): number } | null | undefined;
const int = (v: Int) => (v == null ? 0 : typeof v === "number" ? v : v.toNumber());
const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const dtypeName = (t: number) => (TensorProto.DataType as unknown as Record<number, string>)[t] ?? `data type ${t}`;
const label = (n: onnx.INodeProto) => `${n.opType ? showName(n.opType, 40).slice(1, -1) : "(empty op)"} node ${n.name ? showName(n.name) : "(unnamed)"}`;
const q = (s: string) => showName(s);

/** A protobufjs decode failure as a FormatError, with the byte offset when the message carries one. */
function decodeError(err: unknown, bytes: Uint8Array, source: string): FormatError {
  const msg = err instanceof Error ? err.message : String(err);
  const at = /offset (\d+)/.exec(msg) ?? /index out of range: (\d+)/.exec(msg);
  const why = /index out of range/.test(msg) ? `a field running past the end of the file (${showValue(msg)}): truncated or not ONNX` : showValue(msg);
  return new FormatError("ModelProto", at ? Number(at[1]) : 0, `an ONNX model (protobuf ModelProto, ${bytes.length} bytes)`, why, source);
}

/**
 * Protobuf wire scan: calls `field(number, start, end)` for each length-delimited field of bytes[begin, end) and
 * `scalar()` for each other field.
 */
function scanMessage(bytes: Uint8Array, begin: number, end: number, field: (num: number, start: number, stop: number) => void, scalar: () => void = () => {}): void {
  let p = begin;
  const varint = (): number => {
    let v = 0, mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= end) throw new RangeError("truncated");
      const b = bytes[p++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new RangeError("varint");
  };
  while (p < end) {
    const key = varint();
    const wire = key % 8, num = Math.floor(key / 8);
    if (wire !== 2) scalar();
    if (wire === 0) varint();
    else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else if (wire === 2) {
      const len = varint();
      if (p + len > end) throw new RangeError("truncated");
      field(num, p, p + len);
      p += len;
    } else throw new RangeError("wire type");
  }
}

/** Per message type: fields that are messages (by type name) and fields that are packed varints. */
interface WireType {
  msgs?: Record<number, string>;
  varints?: number[];
}
const SCHEMA: Record<string, WireType> = {
  Model: { msgs: { 7: "Graph", 8: "Pair", 14: "Pair", 20: "Training", 25: "Function" } },
  Graph: { msgs: { 1: "Node", 5: "Tensor", 15: "Sparse", 11: "ValueInfo", 12: "ValueInfo", 13: "ValueInfo", 14: "Annotation", 16: "Pair" } },
  Node: { msgs: { 5: "Attribute", 9: "Pair" } },
  Attribute: { msgs: { 5: "Tensor", 6: "Graph", 10: "Tensor", 11: "Graph", 14: "Type", 15: "Type", 22: "Sparse", 23: "Sparse" }, varints: [8] },
  Tensor: { msgs: { 3: "Pair", 13: "Pair", 16: "Pair" }, varints: [1, 5, 7, 11] },
  Sparse: { msgs: { 1: "Tensor", 2: "Tensor" }, varints: [3] },
  ValueInfo: { msgs: { 2: "Type", 4: "Pair" } },
  Type: { msgs: { 1: "TensorType", 4: "ElemType", 5: "MapType", 8: "TensorType", 9: "ElemType" } },
  TensorType: { msgs: { 2: "Shape" } },
  ElemType: { msgs: { 1: "Type" } },
  MapType: { msgs: { 2: "Type" } },
  Shape: { msgs: { 1: "Pair" } },
  Annotation: { msgs: { 2: "Pair" } },
  Training: { msgs: { 1: "Graph", 2: "Graph", 3: "Pair", 4: "Pair" } },
  Function: { msgs: { 7: "Node", 9: "Pair", 11: "Attribute", 12: "ValueInfo", 14: "Pair" } },
  Pair: {},
};

/**
 * Walks the protobuf bytes with the ONNX schema before protobufjs decodes (and allocates) anything: counts graph
 * nodes and every value the decoder would allocate one by one, and bounds nesting. Malformed wire data is left to
 * the decoder to name.
 */
function checkCounts(bytes: Uint8Array, source: string): void {
  const over = (field: string, offset: number, limit: number, name: string, n: string): never => {
    throw new FormatError(field, offset, `at most ${limit} (${name})`, n, source);
  };
  let nodes = 0, values = 0;
  const count = (n: number, at: number) => {
    values += n;
    if (values > ONNX_MAX_DECODED_VALUES) over("ModelProto", at, ONNX_MAX_DECODED_VALUES, "ONNX_MAX_DECODED_VALUES", "more values to decode");
  };
  const walk = (type: string, begin: number, end: number, depth: number) => {
    if (depth > ONNX_MAX_NESTING) over("ModelProto", begin, ONNX_MAX_NESTING, "ONNX_MAX_NESTING", "deeper nesting");
    const t = SCHEMA[type];
    scanMessage(bytes, begin, end, (num, start, stop) => {
      count(1, start);
      if (type === "Graph" && num === 1 && ++nodes > ONNX_MAX_NODES) over("GraphProto.node", start, ONNX_MAX_NODES, "ONNX_MAX_NODES", "more nodes");
      const sub = t.msgs?.[num];
      if (sub) walk(sub, start, stop, depth + 1);
      else if (t.varints?.includes(num)) {
        let n = 0;
        for (let i = start; i < stop; i++) if (bytes[i] < 0x80) n++;
        count(n, start);
      }
    }, () => count(1, begin));
  };
  try {
    walk("Model", 0, bytes.length, 0);
  } catch (err) {
    if (err instanceof FormatError) throw err;
    // Malformed wire data: the decoder names it
  }
}

/** A constant known to the import: its source tensor, read (and transposed) only when a layer uses it. */
interface Const {
  name: string;
  shape: number[];
  proto: onnx.ITensorProto;
  /** A 2-D Transpose of the source (folded without copying). */
  transposed: boolean;
}

export interface OnnxImportOptions {
  /** Folder of the model file, where external data files live; without it, external data is an error. */
  baseDir?: string;
}

/**
 * Parses an ONNX model holding a float MLP: one data input and a chain of layers from it. Layers: `Gemm` (any
 * alpha and beta, transA = 0, transB 0 or 1) or `MatMul` (the data first); constant `Add`/`Sub`/`Mul`/`Div` and
 * `BatchNormalization` right after a layer fold into it (float64); `Relu` after every layer but the last. Before
 * the first layer: `Flatten` (axis 1), `Reshape` to [N, -1] or [N, features], and constant `Sub`/`Div`/`Mul`/`Add`
 * (input normalization, folded into the first layer so the model takes raw features). `Identity`, `Dropout` and
 * `Cast` to float are identities anywhere; a final `Softmax`/`LogSoftmax` is dropped (the argmax is unchanged), as
 * is classifier post-processing after it (`ArgMax`, `ArrayFeatureExtractor`, `ZipMap`, `Cast`, `Reshape`: skl2onnx's
 * label and ZipMap outputs). Weights: FLOAT initializers (float_data, raw_data or external data under
 * `opts.baseDir`), `Constant` nodes, `Identity` or 2-D `Transpose` of either. Limits: ONNX_MAX_* above.
 * @param source file name used in error messages
 */
export function importOnnx(bytes: Uint8Array, source: string, opts: OnnxImportOptions = {}): FloatModel & ImportNotes {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: ${msg}`);
  };
  checkCounts(bytes, source);
  let model: onnx.ModelProto;
  try {
    model = ModelProto.decode(bytes);
  } catch (err) {
    throw decodeError(err, bytes, source);
  }
  if (!model.graph || !model.graph.node?.length) {
    throw new FormatError("ModelProto.graph", 0, "an ONNX graph with nodes", model.graph ? "an empty graph" : "no graph (not an ONNX model?)", source);
  }
  const graph: onnx.IGraphProto & { node: onnx.INodeProto[] } = model.graph as onnx.IGraphProto & { node: onnx.INodeProto[] };
  const notes: string[] = [];
  let budget = ONNX_MAX_WEIGHT_EXPANSION * bytes.length + (1 << 20);
  const external = new ExternalData(opts.baseDir, source, (n) => (budget += ONNX_MAX_WEIGHT_EXPANSION * n));
  try {
    return buildModel();
  } finally {
    external.close();
  }

  function buildModel(): FloatModel & ImportNotes {

  // Constants: initializers, Constant nodes, Identity or Transpose of a constant (shared, never copied)
  const consts = new Map<string, Const>();
  const shapeOf = (t: onnx.ITensorProto, name: string) => {
    const shape = (t.dims ?? []).map(int);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${q(name)} has invalid dims ${showValue(shape)}`);
    return shape;
  };
  for (const t of graph.initializer ?? []) consts.set(t.name ?? "", { name: t.name ?? "", shape: shapeOf(t, t.name ?? ""), proto: t, transposed: false });
  const constNodes = new Set<onnx.INodeProto>();
  const isOnnxDomain = (n: onnx.INodeProto) => !n.domain || n.domain === "ai.onnx";
  for (const n of graph.node) {
    if (!isOnnxDomain(n)) continue;
    const out = n.output?.[0] ?? "";
    const src = n.input?.length === 1 ? consts.get(n.input[0]) : undefined;
    const fold = Object.hasOwn(CONST_HANDLERS, n.opType ?? "") ? CONST_HANDLERS[n.opType!] : undefined;
    const c = fold?.(n, out, src, { fail, shapeOf });
    if (!c) continue;
    consts.set(out, c);
    constNodes.add(n);
  }
  const constant = (name: string, node: onnx.INodeProto, role: string): Const => {
    const c = consts.get(name);
    if (!c) return fail(`${label(node)}: missing initializer ${q(name)} (its ${role})`);
    return c;
  };
  /** A constant's values as float32 (transposed if folded so), within the weight budget. */
  const floats = (c: Const): Float32Array => {
    const n = product(c.shape);
    if (4 * n > budget) fail(`tensor ${q(c.name)} ${showValue(c.shape)}: the weights would exceed ${ONNX_MAX_WEIGHT_EXPANSION}× the bytes read (ONNX_MAX_WEIGHT_EXPANSION); is one initializer reused by many layers?`);
    budget -= 4 * n;
    const data = readFloats(c.proto, c.name, c.transposed ? [c.shape[1], c.shape[0]] : c.shape, fail, external);
    if (!c.transposed) return data;
    const [rows, cols] = [c.shape[1], c.shape[0]];
    const out = new Float32Array(n);
    for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = data[r * cols + k];
    return out;
  };

  // Data input and outputs
  const initNames = new Set((graph.initializer ?? []).map((t) => t.name ?? ""));
  const inputs = (graph.input ?? []).filter((v) => !initNames.has(v.name ?? ""));
  if (inputs.length !== 1) fail(`expected one data input, found ${inputs.length}${inputs.length ? `: ${listNames(inputs.map((v) => v.name ?? ""))}` : ""}`);
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ""));
  if (!outputs.size) fail("the graph has no output");
  const input = inputs[0], inputName = input.name ?? "";
  const inputType = input.type?.tensorType;
  if (input.type && !inputType) fail(`input ${q(inputName)} is not a tensor`);
  if (inputType?.elemType && inputType.elemType !== DATA_TYPE_FLOAT) {
    fail(`input ${q(inputName)} has data type ${dtypeName(inputType.elemType)}; only FLOAT (float32) is supported`);
  }
  const inputDims = inputType?.shape ? (inputType.shape.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Object.hasOwn(d, "dimValue") ? int(d.dimValue) : "?")) : null;
  const inputShape = inputDims ? `[${inputDims.map((d) => (typeof d === "string" ? showName(d, 20).slice(1, -1) : d)).join(", ")}]` : "(no shape)";

  // Consumers of each data tensor: one pass
  const dataNodes = graph.node.filter((n) => !constNodes.has(n));
  const produced = new Set<string>([inputName]);
  for (const n of dataNodes) for (const o of n.output ?? []) if (o) produced.add(o);
  const consumers = new Map<string, onnx.INodeProto[]>();
  for (const n of dataNodes) {
    const ins = n.input ?? [];
    for (let i = 0; i < ins.length; i++) {
      const name = ins[i];
      if (!produced.has(name) || ins.indexOf(name) !== i) continue;
      const list = consumers.get(name);
      if (list) list.push(n);
      else consumers.set(name, [n]);
    }
  }
  const usersOf = (name: string) => consumers.get(name) ?? [];
  const listNodes = (nodes: onnx.INodeProto[]) => (nodes.length > 4 ? `${nodes.slice(0, 4).map(label).join(", ")} and ${nodes.length - 4} more` : nodes.map(label).join(", "));

  // Walk the chain from the input until it ends or reaches classifier post-processing
  const POST = new Set(["ArgMax", "ArrayFeatureExtractor", "ZipMap"]);
  const chain: onnx.INodeProto[] = [];
  const onChain = new Set<onnx.INodeProto>();
  let cur = inputName;
  for (;;) {
    const users = usersOf(cur);
    if (!users.length) break;
    if (users.length > 1 || POST.has(users[0].opType ?? "")) break;
    const node = users[0];
    if (onChain.has(node)) fail(`the graph has a cycle through ${label(node)}`);
    const fromData = (node.input ?? []).filter((name) => produced.has(name));
    if (fromData.length !== 1) fail(`${label(node)} joins ${fromData.length} data tensors (${listNames(fromData)}); only a single chain of layers is supported`);
    const outs = (node.output ?? []).filter(Boolean);
    const used = outs.filter((o) => usersOf(o).length || outputs.has(o));
    // Dropout's mask (and any unused extra output) may be left dangling
    if (outs.length !== 1 && !(node.opType === "Dropout" && used.length <= 1 && outs[0] === (used[0] ?? outs[0]))) {
      fail(`${label(node)} has ${outs.length} outputs; expected 1`);
    }
    onChain.add(node);
    chain.push(node);
    cur = outs[0];
  }
  const end = cur;

  // What is left must be post-processing of the chain's end
  const rest = dataNodes.filter((n) => !onChain.has(n));
  if (rest.length) {
    const SIDE = new Set([...POST, "Cast", "Reshape", "Identity", "Softmax"]);
    const reach = new Set([end]);
    const dropped: onnx.INodeProto[] = [];
    const notOk: onnx.INodeProto[] = [];
    for (const n of rest) {
      const ins = (n.input ?? []).filter((name) => produced.has(name));
      if (SIDE.has(n.opType ?? "") && ins.length && ins.every((name) => reach.has(name))) {
        dropped.push(n);
        for (const o of n.output ?? []) reach.add(o);
      } else notOk.push(n);
    }
    if (notOk.length) {
      const users = usersOf(end);
      if (users.length > 1 && users.some((u) => notOk.includes(u))) {
        fail(`the graph branches: tensor ${q(end)} feeds ${listNodes(users)}; only a single chain of layers is supported`);
      }
      fail(`${listNodes(notOk)} ${notOk.length > 1 ? "are" : "is"} not on the chain from input ${q(inputName)}; only a single chain of layers is supported`);
    }
    notes.push(`dropped classifier post-processing after ${q(end)}: ${listNodes(dropped)} (their outputs ${listNames([...outputs].filter((o) => o !== end))}); rankgate outputs the scores, whose argmax is the label`);
  }
  const stray = [...outputs].filter((o) => o !== end && !rest.some((n) => n.output?.includes(o)));
  if (stray.length) fail(`graph output ${listNames(stray)} does not come from the chain of layers, which ends at ${q(end)}`);
  if (!outputs.has(end) && !rest.length) fail(`tensor ${q(end)} is consumed by no node and is not a graph output (${listNames([...outputs])})`);

  // Layers: each node on the chain by its op's handler (OP_HANDLERS)
  const walk: Walk = {
    source, fail, notes, layers: [], owners: [], state: "start", lastRelu: null, flatten: false, prevOp: "",
    inputName, inputDims, inputShape, tail: inputDims ? inputDims.slice(1) : null, inScale: null, inShift: null, inputOps: [],
    opsetBelow13: !!model.opsetImport?.some((o) => !o.domain && int(o.version) < 13),
    consts, produced, constant, floats, readInts: (t, name) => readInts(t, name, fail, external),
  };
  for (const node of chain) {
    const op = node.opType ?? "";
    const ins = node.input ?? [];
    const attrs = new Map((node.attribute ?? []).map((a) => [a.name ?? "", a]));
    const iattr = (name: string, d: number) => (attrs.has(name) ? int(attrs.get(name)!.i) : d);
    if (!isOnnxDomain(node)) fail(`unsupported op ${showName(`${node.domain}.${op}`)} (${label(node)}); supported: ${SUPPORTED}`);
    if (walk.state === "softmax" && !["Identity", "Cast", "Dropout"].includes(op)) fail(`${label(node)} follows the final Softmax/LogSoftmax; expected nothing after it but the output`);
    const handler = Object.hasOwn(OP_HANDLERS, op) ? OP_HANDLERS[op] : undefined;
    if (!handler) return fail(`unsupported op ${op ? showName(op) : "(empty)"} (${label(node)}); supported: ${SUPPORTED}`);
    handler(walk, node, { op, ins, attrs, iattr });
    if (op !== "Identity") walk.prevOp = op;
  }
  const { layers, owners, state, lastRelu } = walk;
  if (!layers.length) fail("no Gemm or MatMul layer found");
  if (state === "relu") fail(`${label(lastRelu!)} follows the last layer (${owners[owners.length - 1]}); the last layer must have no activation (logits)`);
  return { layers, notes };
  }
}

/**
 * Constant folding: the constant an op's output is when the import can know it (`src`: its only input, when that
 * is a constant), or null when the node is on the data path.
 */
type ConstHandler = (n: onnx.INodeProto, out: string, src: Const | undefined, c: { fail: (msg: string) => never; shapeOf: (t: onnx.ITensorProto, name: string) => number[] }) => Const | null;

/** A Constant node: its tensor, float or int "value" attribute. */
const constantConst: ConstHandler = (n, out, _src, { fail, shapeOf }) => {
  const attrs = n.attribute ?? [];
  const value = attrs.find((a) => a.name === "value");
  const floats = attrs.find((a) => a.name === "value_float" || a.name === "value_floats");
  const ints = attrs.find((a) => a.name === "value_ints" || a.name === "value_int");
  let proto: onnx.ITensorProto | undefined;
  if (value?.t) proto = value.t;
  else if (floats) proto = floats.name === "value_float" ? { dims: [], dataType: DATA_TYPE_FLOAT, floatData: [floats.f ?? 0] } : { dims: [floats.floats?.length ?? 0], dataType: DATA_TYPE_FLOAT, floatData: floats.floats ?? [] };
  else if (ints) proto = ints.name === "value_int" ? { dims: [], dataType: DATA_TYPE_INT64, int64Data: [ints.i ?? 0] } : { dims: [ints.ints?.length ?? 0], dataType: DATA_TYPE_INT64, int64Data: ints.ints ?? [] };
  if (!proto) return fail(`${label(n)}: only a tensor, float or int "value" attribute is supported, got ${listNames(attrs.map((a) => a.name ?? ""))}`);
  return { name: out, shape: shapeOf(proto, out), proto, transposed: false };
};

/** Identity of a constant, and a Cast to float of a float constant: the constant itself (shared, never copied). */
const identityConst: ConstHandler = (_n, _out, src) => (src ? { ...src, name: src.name } : null);
const castConst: ConstHandler = (n, out, src, c) => (src && castsToFloat(n) && (src.proto.dataType ?? 0) === DATA_TYPE_FLOAT ? identityConst(n, out, src, c) : null);

/** A 2-D Transpose of a constant: folded without copying (read transposed when a layer uses it). */
const transposeConst: ConstHandler = (n, _out, src, { fail }) => {
  if (!src) return null;
  const perm = ((n.attribute ?? []).find((a) => a.name === "perm")?.ints ?? []).map(int);
  if (src.shape.length !== 2 || (perm.length && (perm.length !== 2 || perm[0] !== 1 || perm[1] !== 0))) {
    fail(`${label(n)}: only a 2-D transpose of a constant is supported, got perm ${showValue(perm)} of ${q(src.name)} ${showValue(src.shape)}`);
  }
  return { ...src, shape: [src.shape[1], src.shape[0]], transposed: !src.transposed };
};

/** The ops folded when their output is a constant (before the data path is walked). */
export const CONST_HANDLERS: Readonly<Record<string, ConstHandler>> = { Constant: constantConst, Identity: identityConst, Cast: castConst, Transpose: transposeConst };

type WalkState = "start" | "linear" | "relu" | "softmax";

/** The walk along the chain of data nodes: what every op handler reads and updates. */
interface Walk {
  readonly source: string;
  readonly fail: (msg: string) => never;
  readonly notes: string[];
  /** Layers so far and the node that made each (for messages). */
  readonly layers: FloatLayer[];
  readonly owners: string[];
  state: WalkState;
  lastRelu: onnx.INodeProto | null;
  flatten: boolean;
  /** The op of the last node that was not an Identity. */
  prevOp: string;
  readonly inputName: string;
  readonly inputDims: (number | string)[] | null;
  readonly inputShape: string;
  /** The data's shape per sample before the first layer (null: unknown), for broadcasting normalization constants. */
  tail: (number | string)[] | null;
  /** Input affine x·s + t per feature (scalar while length 1), folded into the first layer. */
  inScale: Float64Array | null;
  inShift: Float64Array | null;
  readonly inputOps: string[];
  /** An opset below 13 for the default domain (Softmax's default axis is 1). */
  readonly opsetBelow13: boolean;
  readonly consts: Map<string, Const>;
  /** Tensors the data path produces (the input included). */
  readonly produced: Set<string>;
  constant(name: string, node: onnx.INodeProto, role: string): Const;
  floats(c: Const): Float32Array;
  readInts(t: onnx.ITensorProto, name: string): number[];
}

/** A node's inputs, attributes by name and an integer attribute with its default. */
interface NodeArgs {
  op: string;
  ins: string[];
  attrs: Map<string, onnx.IAttributeProto>;
  iattr: (name: string, d: number) => number;
}

/** One op's import: checks the node against the walk so far and adds to it (a layer, a fold, a state change). */
type OpHandler = (w: Walk, node: onnx.INodeProto, a: NodeArgs) => void;

const flatTail = (w: Walk) => {
  w.tail = w.tail && w.tail.every((d) => typeof d === "number") ? [product(w.tail as number[])] : null;
};
const dataFirst = (w: Walk, node: onnx.INodeProto) => w.produced.has((node.input ?? [])[0]);
const otherInput = (w: Walk, node: onnx.INodeProto) => (node.input ?? []).find((n) => !w.produced.has(n)) ?? "";

/** A constant's values, one or `n` (one per `what`), as float64; finite. */
function perUnit(w: Walk, node: onnx.INodeProto, c: Const, n: number, what: string): Float64Array {
  const count = product(c.shape);
  if (!(count === 1 || (count === n && c.shape.slice(0, -1).every((d) => d === 1)) || (count === n && c.shape.length > 1 && what === "feature"))) {
    w.fail(`${label(node)}: constant ${q(c.name)} has shape ${showValue(c.shape)}; expected one value or ${n} (one per ${what})`);
  }
  if ((c.proto.dataType ?? 0) !== DATA_TYPE_FLOAT) w.fail(`tensor ${q(c.name)} has data type ${dtypeName(c.proto.dataType ?? 0)}; only FLOAT (float32) is supported`);
  const v = Float64Array.from(w.floats(c));
  const bad = v.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) w.fail(`${label(node)}: constant ${q(c.name)} holds a non-finite value (${v[bad]}) at element ${bad}`);
  return v;
}

/** A new layer (with the input normalization folded in when it is the first). */
function pushLayer(w: Walk, node: onnx.INodeProto, c: Const, nIn: number, nOut: number, weight: Float32Array, bias: Float32Array, biasName: string): void {
  const { layers, owners, fail, inputDims } = w;
  const l = layers.length;
  if (w.state === "linear") fail(`missing Relu between layer ${l - 1} (${owners[l - 1]}) and layer ${l} (${label(node)}): a ReLU must follow every layer but the last`);
  if (w.state === "softmax") fail(`${label(node)} follows a Softmax; only a final Softmax is supported`);
  if (l > 0 && layers[l - 1].nOut !== nIn) {
    fail(`layer ${l} (${label(node)}) weight ${q(c.name)} ${showValue(c.shape)} takes ${nIn} inputs, but layer ${l - 1} (${owners[l - 1]}) gives ${layers[l - 1].nOut}`);
  }
  let layer = checkLayer({ nIn, nOut, weight, bias }, c.name, biasName, w.source);
  if (l === 0) {
    if (inputDims) {
      const tail = inputDims.slice(1);
      const known = tail.every((d): d is number => typeof d === "number");
      if (!w.flatten && inputDims.length !== 2) fail(`input ${q(w.inputName)} has shape ${w.inputShape}; expected [batch, ${nIn}] (or a Flatten or Reshape first)`);
      if (known && product(tail as number[]) !== nIn) {
        fail(`input ${q(w.inputName)} has shape ${w.inputShape} (${product(tail as number[])} features), but layer 0 (${label(node)}) weight ${q(c.name)} ${showValue(c.shape)} takes ${nIn} inputs`);
      }
    }
    if (w.inScale) {
      const ops = w.inputOps.join(", ");
      for (const v of [w.inScale, w.inShift!]) if (v.length !== 1 && v.length !== nIn) fail(`the input normalization (${ops}) has ${v.length} values per sample, but layer 0 takes ${nIn} inputs`);
      layer = foldInputAffine(layer, w.inScale, w.inShift!, `${label(node)} with ${ops}`, w.source);
      w.notes.push(`folded the input normalization (${ops}) into layer 0: the model takes the raw input`);
    }
  }
  layers.push(layer);
  owners.push(label(node));
  w.state = "linear";
}

/** An affine map after the last layer, folded into it. */
function afterLayer(w: Walk, node: onnx.INodeProto, scale: ArrayLike<number> | undefined, shift: ArrayLike<number> | undefined): void {
  const l = w.layers.length - 1;
  w.layers[l] = foldAffineAfter(w.layers[l], { scale, shift }, `${w.owners[l]} with ${label(node)}`, w.source);
  // MatMul + Add is a layer's bias: nothing to say
  if (!(node.opType === "Add" && w.prevOp === "MatMul")) w.notes.push(`folded ${label(node)} into layer ${l} (${w.owners[l]})`);
}

const identityOp: OpHandler = () => {};

/** An identity at inference (opset < 12: always; opset >= 12: unless training_mode is a true constant). */
const dropoutOp: OpHandler = (w, node, { ins }) => {
  if (ins[2] && w.consts.has(ins[2]) && w.readInts(w.consts.get(ins[2])!.proto, ins[2]).some((v) => v !== 0)) w.fail(`${label(node)} has training_mode = true; export the model in eval mode`);
  if (ins[2] && !w.consts.has(ins[2])) w.fail(`${label(node)}: training_mode ${q(ins[2])} is not a constant`);
};

const castOp: OpHandler = (w, node, { iattr }) => {
  if (!castsToFloat(node)) w.fail(`${label(node)} casts to ${dtypeName(iattr("to", 0))}; only a Cast to FLOAT is supported on the data path`);
};

const flattenOp: OpHandler = (w, node, { iattr }) => {
  if (w.state !== "start") w.fail(`${label(node)}: Flatten is supported only before the first layer`);
  const axis = iattr("axis", 1);
  if (axis !== 1) w.fail(`${label(node)}: Flatten axis=${axis} is not supported, expected 1`);
  w.flatten = true;
  flatTail(w);
};

const reshapeOp: OpHandler = (w, node, { ins }) => {
  const fail = w.fail;
  if (w.state !== "start") fail(`${label(node)}: Reshape is supported only before the first layer (as a flatten to [N, -1])`);
  const c = w.constant(ins[1] ?? "", node, "shape");
  const shape = w.readInts(c.proto, c.name);
  const tail = w.inputDims?.slice(1) ?? [];
  const features = tail.every((d): d is number => typeof d === "number") ? product(tail as number[]) : -1;
  const ok = shape.length === 2 && (shape[1] === -1 || (features > 0 && shape[1] === features) || (features < 0 && shape[1] > 0)) && (shape[0] === -1 || shape[0] === 0 || shape[0] > 0);
  if (!ok) fail(`${label(node)}: Reshape to ${showValue(shape)} is not supported; expected a flatten to [N, -1] or [N, ${features > 0 ? features : "features"}]`);
  if (shape[0] > 0 && shape[1] === -1) fail(`${label(node)}: Reshape to ${showValue(shape)} fixes the batch at ${shape[0]}; expected [-1, features] or [0, -1]`);
  w.flatten = true;
  flatTail(w);
};

const gemmOp: OpHandler = (w, node, { ins, attrs, iattr }) => {
  const fail = w.fail;
  const f = (name: string, d: number) => (attrs.has(name) ? (attrs.get(name)!.f ?? 0) : d);
  const alpha = f("alpha", 1), beta = f("beta", 1), transA = iattr("transA", 0), transB = iattr("transB", 0);
  if (transA !== 0) fail(`${label(node)}: transA=${transA} is not supported (the data must be input A, untransposed)`);
  if (!w.produced.has(ins[0])) fail(`${label(node)}: the data must be input A, got ${q(ins[0])} as A`);
  const c = w.constant(ins[1] ?? "", node, "weight");
  if (c.shape.length !== 2) fail(`${label(node)}: weight ${q(c.name)} has shape ${showValue(c.shape)}, expected rank 2 ${transB ? "[nOut, nIn] (transB=1)" : "[nIn, nOut] (transB=0)"}`);
  const [nOut, nIn] = transB ? c.shape : [c.shape[1], c.shape[0]];
  const weight = w.floats(transB ? c : { ...c, shape: [nOut, nIn], transposed: !c.transposed });
  let bias: Float32Array = new Float32Array(nOut), biasName = `${c.name} (no bias)`;
  if (ins[2]) {
    const b = w.constant(ins[2], node, "bias");
    const shapeOk = b.shape.length <= 2 && b.shape.slice(0, -1).every((d) => d === 1) && (product(b.shape) === nOut || product(b.shape) === 1);
    if (!shapeOk) fail(`${label(node)}: bias ${q(b.name)} has shape ${showValue(b.shape)}, expected [${nOut}] for weight ${q(c.name)} ${showValue(c.shape)}`);
    const data = w.floats(b);
    bias = data.length === nOut ? data : new Float32Array(nOut).fill(data[0]);
    biasName = b.name;
  }
  // y = alpha·(x·W) + beta·C, each product rounded once to float32
  const scaled = alpha === 1 ? weight : weight.map((v) => v * alpha);
  pushLayer(w, node, c, nIn, nOut, scaled, beta === 1 ? bias : bias.map((v) => v * beta), beta === 1 ? biasName : `${biasName} (times beta ${beta})`);
  if (alpha !== 1 || beta !== 1) w.notes.push(`${label(node)}: alpha ${alpha} and beta ${beta} folded into its weight and bias`);
};

const matMulOp: OpHandler = (w, node, { ins }) => {
  if (!dataFirst(w, node)) w.fail(`${label(node)}: the data must be the first input (x·W), got weight ${q(ins[0])} first`);
  const c = w.constant(ins[1] ?? "", node, "weight");
  if (c.shape.length !== 2) w.fail(`${label(node)}: weight ${q(c.name)} has shape ${showValue(c.shape)}, expected rank 2 [nIn, nOut]`);
  const [nIn, nOut] = c.shape;
  pushLayer(w, node, c, nIn, nOut, w.floats({ ...c, shape: [nOut, nIn], transposed: !c.transposed }), new Float32Array(nOut), `${c.name} (no bias)`);
};

/** Constant Add, Sub, Mul, Div: input normalization before the first layer, else folded into the layer before. */
const affineOp: OpHandler = (w, node, { op }) => {
  const fail = w.fail;
  const cName = otherInput(w, node);
  if (!cName) fail(`${label(node)}: both inputs are data; only a constant operand is supported`);
  const c = w.constant(cName, node, "constant operand");
  const first = dataFirst(w, node);
  if (op === "Div" && !first) fail(`${label(node)}: a constant divided by the data is not linear; not supported`);
  if (w.state === "start") {
    // One value, or one per feature with the data's own per-sample shape (leading 1s aside): no other broadcast
    const strip = (d: (number | string)[]) => d.slice(Math.max(0, d.findIndex((x) => x !== 1)));
    const tail = w.tail;
    if (product(c.shape) !== 1 && !(tail && showValue(strip(c.shape)) === showValue(strip(tail)))) {
      fail(`${label(node)}: constant ${q(c.name)} has shape ${showValue(c.shape)}; on the input it must hold one value or one per feature in the data's shape ${tail ? showValue(tail) : "(unknown)"}`);
    }
    const v = perUnit(w, node, c, product(c.shape), "feature");
    const s: Float64Array = w.inScale ?? Float64Array.of(1), t: Float64Array = w.inShift ?? Float64Array.of(0);
    const n = Math.max(s.length, v.length);
    const at = (a: Float64Array, i: number) => a[a.length === 1 ? 0 : i];
    if (s.length !== 1 && v.length !== 1 && s.length !== v.length) fail(`${label(node)}: constant ${q(c.name)} has ${v.length} values, the earlier normalization ${s.length}`);
    const ns = new Float64Array(n), nt = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const [si, ti, vi] = [at(s, i), at(t, i), at(v, i)];
      if (op === "Add") [ns[i], nt[i]] = [si, ti + vi];
      else if (op === "Sub") [ns[i], nt[i]] = first ? [si, ti - vi] : [-si, vi - ti];
      else if (op === "Mul") [ns[i], nt[i]] = [si * vi, ti * vi];
      else {
        if (vi === 0) fail(`${label(node)}: divides by zero (element ${i} of ${q(c.name)})`);
        [ns[i], nt[i]] = [si / vi, ti / vi];
      }
    }
    w.inScale = ns;
    w.inShift = nt;
    w.inputOps.push(`${op} ${q(c.name)}`);
    return;
  }
  if (w.state !== "linear") fail(`${label(node)}: a constant ${op} is supported right after a layer or on the input, not after ${w.state === "relu" ? label(w.lastRelu!) : "a Softmax"}`);
  const nOut = w.layers[w.layers.length - 1].nOut;
  const v = perUnit(w, node, c, nOut, "unit");
  if (op === "Add") afterLayer(w, node, undefined, v);
  else if (op === "Sub") afterLayer(w, node, first ? undefined : [-1], first ? v.map((x) => -x) : v);
  else if (op === "Mul") afterLayer(w, node, v, undefined);
  else {
    if (v.some((x) => x === 0)) fail(`${label(node)}: divides by zero`);
    afterLayer(w, node, v.map((x) => 1 / x), undefined);
  }
};

const batchNormOp: OpHandler = (w, node, { ins, attrs }) => {
  if (w.state !== "linear") w.fail(`${label(node)}: BatchNormalization is supported only right after a layer`);
  const nOut = w.layers[w.layers.length - 1].nOut;
  const [scale, b, mean, variance] = ["scale", "bias", "mean", "var"].map((role, i) => perUnit(w, node, w.constant(ins[i + 1] ?? "", node, role), nOut, "unit"));
  const eps = attrs.has("epsilon") ? (attrs.get("epsilon")!.f ?? 0) : 1e-5;
  const l = w.layers.length - 1;
  const wide = (a: Float64Array) => (a.length === 1 ? new Float64Array(nOut).fill(a[0]) : a);
  w.layers[l] = foldBatchNorm(w.layers[l], { gamma: wide(scale), beta: wide(b), mean: wide(mean), variance: wide(variance), eps }, node.name ?? "BatchNormalization", w.source);
  w.notes.push(`folded ${label(node)} (epsilon ${Number(eps.toPrecision(7))}) into layer ${l} (${w.owners[l]})`);
};

const reluOp: OpHandler = (w, node) => {
  if (w.state === "start") w.fail(`${label(node)} comes before the first layer`);
  if (w.state === "relu") w.fail(`${label(node)} follows ${label(w.lastRelu!)}: two Relu in a row`);
  w.state = "relu";
  w.lastRelu = node;
};

/** A final Softmax or LogSoftmax: dropped (the argmax is unchanged). */
const softmaxOp: OpHandler = (w, node, { iattr }) => {
  if (w.state !== "linear") w.fail(`${label(node)}: a Softmax is supported only right after the last layer`);
  const axis = iattr("axis", w.opsetBelow13 ? 1 : -1);
  if (axis !== 1 && axis !== -1) w.fail(`${label(node)}: axis=${axis}; expected the class axis (1 or -1)`);
  w.notes.push(`dropped the final ${label(node)}: the outputs are its input scores, and the argmax is unchanged`);
  w.state = "softmax";
};

/** The ops the import handles on the data path, one handler each (SUPPORTED says them in words). */
export const OP_HANDLERS: Readonly<Record<string, OpHandler>> = {
  Identity: identityOp, Dropout: dropoutOp, Cast: castOp, Flatten: flattenOp, Reshape: reshapeOp,
  Gemm: gemmOp, MatMul: matMulOp, Add: affineOp, Sub: affineOp, Mul: affineOp, Div: affineOp,
  BatchNormalization: batchNormOp, Relu: reluOp, Softmax: softmaxOp, LogSoftmax: softmaxOp,
};

function castsToFloat(n: onnx.INodeProto): boolean {
  const to = (n.attribute ?? []).find((a) => a.name === "to");
  return int(to?.i) === DATA_TYPE_FLOAT;
}

/** External data files beside the model: paths confined to its folder, ranges checked against the file size. */
class ExternalData {
  private readonly files = new Map<string, { fd: number; size: number }>();
  constructor(
    private readonly baseDir: string | undefined,
    private readonly source: string,
    private readonly onRead: (bytes: number) => void,
  ) {}

  read(t: onnx.ITensorProto, name: string, bytes: number, fail: (msg: string) => never): Uint8Array {
    const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? "", e.value ?? ""]));
    const location = entries.get("location");
    if (!location) fail(`tensor ${q(name)} keeps its data externally but names no location`);
    if (this.baseDir === undefined) fail(`tensor ${q(name)} keeps its data in ${q(location!)}; import from the model file so its folder can be read`);
    const loc = location!;
    if (isAbsolute(loc) || /^[a-zA-Z]:/.test(loc) || loc.split(/[\\/]/).some((p) => p === "..") || loc.includes("\0")) {
      fail(`tensor ${q(name)}: external data location ${q(loc)} must be a relative path inside the model's folder (no absolute path, no "..")`);
    }
    const num = (key: string): number | undefined => {
      const v = entries.get(key);
      if (v === undefined) return undefined;
      if (!/^\d{1,15}$/.test(v)) fail(`tensor ${q(name)}: external data ${key} ${q(v)} is not a non-negative integer`);
      return Number(v);
    };
    const offset = num("offset") ?? 0, length = num("length");
    if (length !== undefined && length !== bytes) fail(`tensor ${q(name)}: external data length ${length} bytes, expected ${bytes} for its dims`);
    let file = this.files.get(loc);
    if (!file) {
      const base = this.baseDir!;
      let real = "", baseReal = "";
      try {
        baseReal = realpathSync(base);
        real = realpathSync(join(base, loc));
      } catch {
        fail(`tensor ${q(name)}: external data file ${q(loc)} not found next to the model`);
      }
      if (!real.startsWith(baseReal.endsWith(sep) ? baseReal : baseReal + sep)) fail(`tensor ${q(name)}: external data ${q(loc)} resolves outside the model's folder (a link?)`);
      try {
        // O_NONBLOCK: a FIFO named as external data must not hang the import
        const fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK);
        const st = fstatSync(fd);
        if (!st.isFile()) {
          closeSync(fd);
          fail(`tensor ${q(name)}: external data ${q(loc)} is not a regular file`);
        }
        file = { fd, size: st.size };
      } catch (err) {
        if (err instanceof UserError) throw err;
        fail(`tensor ${q(name)}: cannot read external data ${q(loc)} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      }
      this.files.set(loc, file!);
    }
    if (offset + bytes > file!.size) fail(`tensor ${q(name)}: external data ${q(loc)} range [${offset}, ${offset + bytes}) runs past its end (${file!.size} bytes)`);
    this.onRead(bytes);
    const out = new Uint8Array(bytes);
    try {
      let done = 0;
      while (done < bytes) {
        const n = readSync(file!.fd, out, done, bytes - done, offset + done);
        if (n <= 0) fail(`tensor ${q(name)}: external data ${q(loc)} ended early`);
        done += n;
      }
    } catch (err) {
      if (err instanceof UserError) throw err;
      fail(`tensor ${q(name)}: cannot read external data ${q(loc)} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
    return out;
  }

  close(): void {
    for (const { fd } of this.files.values()) closeSync(fd);
    this.files.clear();
  }
}

/** The bytes of a tensor's data in raw form (raw_data or external), or null when it uses typed fields. */
function rawBytes(t: onnx.ITensorProto, name: string, bytes: number, fail: (msg: string) => never, external: ExternalData): Uint8Array | null {
  if (t.dataLocation === DATA_LOCATION_EXTERNAL || t.externalData?.length) return external.read(t, name, bytes, fail);
  return t.rawData?.length ? t.rawData : null;
}

/** FLOAT tensor data from float_data, little-endian raw_data or external data, for dims `shape`. */
function readFloats(t: onnx.ITensorProto, name: string, shape: number[], fail: (msg: string) => never, external: ExternalData): Float32Array {
  const dt = t.dataType ?? 0;
  if (dt !== DATA_TYPE_FLOAT) fail(`tensor ${q(name)} has data type ${dtypeName(dt)}; only FLOAT (float32) is supported`);
  const count = product(shape);
  if (4 * count > ONNX_MAX_TENSOR_BYTES) fail(`tensor ${q(name)} ${showValue(shape)} holds ${4 * count} bytes; at most ${ONNX_MAX_TENSOR_BYTES} (ONNX_MAX_TENSOR_BYTES)`);
  const raw = rawBytes(t, name, 4 * count, fail, external);
  if (raw) {
    if (raw.length !== 4 * count) fail(`tensor ${q(name)} ${showValue(shape)} needs ${4 * count} bytes of raw_data, got ${raw.length}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
    return data;
  }
  const values = t.floatData ?? [];
  if (values.length !== count) fail(`tensor ${q(name)} ${showValue(shape)} needs ${count} values, got ${values.length} in float_data and no raw_data`);
  return Float32Array.from(values);
}

/** INT64 tensor data (a Reshape shape, a Dropout flag) as numbers; at most 16 values. */
function readInts(t: onnx.ITensorProto, name: string, fail: (msg: string) => never, external: ExternalData): number[] {
  const dt = t.dataType ?? 0;
  const count = product((t.dims ?? []).map(int));
  if (count > 16) fail(`tensor ${q(name)} holds ${count} values; expected a short shape`);
  if (dt === 9) {
    // BOOL (Dropout's training_mode)
    const raw = rawBytes(t, name, count, fail, external);
    return raw ? Array.from(raw.subarray(0, count)) : (t.int32Data ?? []).map(Number);
  }
  if (dt !== DATA_TYPE_INT64) fail(`tensor ${q(name)} has data type ${dtypeName(dt)}; expected INT64`);
  const raw = rawBytes(t, name, 8 * count, fail, external);
  if (raw) {
    if (raw.length !== 8 * count) fail(`tensor ${q(name)} needs ${8 * count} bytes of raw_data, got ${raw.length}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(8 * i, true)));
  }
  const values = (t.int64Data ?? []).map((v) => int(v as Int));
  if (values.length !== count) fail(`tensor ${q(name)} needs ${count} values, got ${values.length}`);
  return values;
}
