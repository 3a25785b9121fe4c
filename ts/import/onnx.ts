// ONNX → FloatModel for the Linear/ReLU chains torch.onnx.export writes for an nn.Sequential MLP.
import onnxProto from "onnx-proto";
import type { onnx } from "onnx-proto";
import { FormatError, UserError } from "../errors.ts";
import type { FloatLayer, FloatModel } from "../model.ts";
import { checkLayer, listNames } from "./checkpoint.ts";

const { ModelProto, TensorProto } = onnxProto.onnx;
const DATA_TYPE_FLOAT = 1;
const DATA_LOCATION_EXTERNAL = 1;
const SUPPORTED = "Gemm, MatMul (+ Add), Relu, Flatten (first node only), Identity, Transpose (of a weight)";

type Int = number | { toNumber(): number } | null | undefined;
const int = (v: Int) => (v == null ? 0 : typeof v === "number" ? v : v.toNumber());
const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const dtypeName = (t: number) => (TensorProto.DataType as unknown as Record<number, string>)[t] ?? `data type ${t}`;
const label = (n: onnx.INodeProto) => (n.name ? `${n.opType} node "${n.name}"` : `${n.opType} node (unnamed)`);

/** torch layout from [rows][cols] row-major to [cols][rows]. */
function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

/** A protobufjs decode failure as a FormatError, with the byte offset when the message carries one. */
function decodeError(err: unknown, bytes: Uint8Array, source: string): FormatError {
  const msg = err instanceof Error ? err.message : String(err);
  const at = /offset (\d+)/.exec(msg) ?? /index out of range: (\d+)/.exec(msg);
  const why = /index out of range/.test(msg) ? `a field running past the end of the file (${msg}): truncated or not ONNX` : msg;
  return new FormatError("ModelProto", at ? Number(at[1]) : 0, `an ONNX model (protobuf ModelProto, ${bytes.length} bytes)`, why, source);
}

interface Constant {
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * Parses an ONNX model holding a float MLP: one data input, one output, and a single chain of
 * `Gemm` (alpha = beta = 1, transA = 0, transB 0 or 1) or `MatMul` [+ `Add`] layers with a `Relu` after every
 * layer but the last; a Gemm without C or a MatMul without Add gets a zero bias. An optional `Flatten` (axis 1)
 * first and `Identity` nodes anywhere are no-ops. Weights come from FLOAT initializers (float_data or
 * little-endian raw_data), `Constant` nodes, or a 2-D `Transpose` of either. Opset is not checked.
 * @param source file name used in error messages
 */
export function importOnnx(bytes: Uint8Array, source: string): FloatModel {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: ${msg}`);
  };
  let model: onnx.ModelProto;
  try {
    model = ModelProto.decode(bytes);
  } catch (err) {
    throw decodeError(err, bytes, source);
  }
  const graph = model.graph;
  if (!graph || !graph.node?.length) {
    throw new FormatError("ModelProto.graph", 0, "an ONNX graph with nodes", graph ? "an empty graph" : "no graph (not an ONNX model?)", source);
  }

  // Constants: initializers, Constant nodes, Identity of a constant
  const tensors = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) tensors.set(t.name ?? "", t);
  const constNodes = new Set<onnx.INodeProto>();
  for (const n of graph.node) {
    if (n.domain && n.domain !== "ai.onnx") continue;
    if (n.opType === "Constant") {
      const value = (n.attribute ?? []).find((a) => a.name === "value");
      if (!value?.t) fail(`${label(n)}: only a tensor "value" attribute is supported, got ${listNames((n.attribute ?? []).map((a) => a.name ?? ""))}`);
      tensors.set(n.output?.[0] ?? "", { ...value!.t!, name: n.output?.[0] ?? "" });
      constNodes.add(n);
    } else if (n.opType === "Identity" && n.input?.length === 1 && tensors.has(n.input[0])) {
      tensors.set(n.output?.[0] ?? "", { ...tensors.get(n.input[0])!, name: n.output?.[0] ?? "" });
      constNodes.add(n);
    } else if (n.opType === "Transpose" && n.input?.length === 1 && tensors.has(n.input[0])) {
      // A weight transposed in the graph (onnxscript's unfolded MatMul form)
      const src = readTensor(tensors.get(n.input[0])!, n.input[0], fail);
      const perm = ((n.attribute ?? []).find((a) => a.name === "perm")?.ints ?? []).map(int);
      if (src.shape.length !== 2 || (perm.length && (perm[0] !== 1 || perm[1] !== 0))) {
        fail(`${label(n)}: only a 2-D transpose of a constant is supported, got perm [${perm}] of "${src.name}" [${src.shape}]`);
      }
      const [rows, cols] = src.shape;
      const name = n.output?.[0] ?? "";
      tensors.set(name, { name, dims: [cols, rows], dataType: DATA_TYPE_FLOAT, floatData: Array.from(transpose(src.data, rows, cols)) });
      constNodes.add(n);
    }
  }
  const constant = (name: string, node: onnx.INodeProto, role: string): Constant => {
    const t = tensors.get(name);
    if (!t) return fail(`${label(node)}: missing initializer "${name}" (its ${role})`);
    return readTensor(t, name, fail);
  };

  // Data input and output
  const inputs = (graph.input ?? []).filter((v) => !tensors.has(v.name ?? ""));
  if (inputs.length !== 1) fail(`expected one data input, found ${inputs.length}${inputs.length ? `: ${listNames(inputs.map((v) => v.name ?? ""))}` : ""}`);
  const outputs = graph.output ?? [];
  if (outputs.length !== 1) fail(`expected one graph output, found ${outputs.length}${outputs.length ? `: ${listNames(outputs.map((v) => v.name ?? ""))}` : ""}`);
  const input = inputs[0], inputName = input.name ?? "", outputName = outputs[0].name ?? "";
  const inputType = input.type?.tensorType;
  if (input.type && !inputType) fail(`input "${inputName}" is not a tensor`);
  if (inputType?.elemType && inputType.elemType !== DATA_TYPE_FLOAT) {
    fail(`input "${inputName}" has data type ${dtypeName(inputType.elemType)}; only FLOAT (float32) is supported`);
  }
  const inputDims = inputType?.shape ? (inputType.shape.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Object.hasOwn(d, "dimValue") ? int(d.dimValue) : "?")) : null;
  const inputShape = inputDims ? `[${inputDims.join(", ")}]` : "(no shape)";

  // Consumers of each data tensor
  const dataNodes = graph.node.filter((n) => !constNodes.has(n));
  const dataTensors = new Set([inputName, ...dataNodes.flatMap((n) => n.output ?? [])]);
  const consumers = new Map<string, onnx.INodeProto[]>();
  for (const n of dataNodes) {
    for (const name of new Set(n.input ?? [])) {
      if (!dataTensors.has(name)) continue;
      consumers.set(name, [...(consumers.get(name) ?? []), n]);
    }
  }

  // Walk the chain
  const chain: onnx.INodeProto[] = [];
  const seen = new Set<onnx.INodeProto>();
  for (let cur = inputName; ; ) {
    const users = consumers.get(cur) ?? [];
    if (cur === outputName && !users.length) break;
    if (users.length > 1 || (cur === outputName && users.length)) {
      fail(`the graph branches: tensor "${cur}" feeds ${users.map(label).join(", ")}${cur === outputName ? " and the graph output" : ""}; only a single chain of layers is supported`);
    }
    if (!users.length) fail(`tensor "${cur}" is consumed by no node and is not the graph output "${outputName}"`);
    const node = users[0];
    if (seen.has(node)) fail(`the graph has a cycle through ${label(node)}`);
    const fromData = (node.input ?? []).filter((name) => dataTensors.has(name));
    if (fromData.length !== 1) fail(`${label(node)} joins ${fromData.length} data tensors (${listNames(fromData)}); only a single chain of layers is supported`);
    const outs = (node.output ?? []).filter(Boolean);
    if (outs.length !== 1) fail(`${label(node)} has ${outs.length} outputs; expected 1`);
    seen.add(node);
    chain.push(node);
    cur = outs[0];
  }
  const off = dataNodes.filter((n) => !seen.has(n));
  if (off.length) fail(`${off.map(label).join(", ")} ${off.length > 1 ? "are" : "is"} not on the chain from input "${inputName}" to output "${outputName}"`);

  // Layers
  const layers: FloatLayer[] = [];
  const owners: string[] = [];
  let last: "start" | "linear" | "relu" = "start";
  let lastRelu: onnx.INodeProto | null = null;
  let flatten = false;
  let matmul: { node: onnx.INodeProto; weight: Constant } | null = null;

  const push = (node: onnx.INodeProto, w: Constant, nIn: number, nOut: number, weight: Float32Array, bias: Float32Array, biasName: string) => {
    const l = layers.length;
    if (last === "linear") {
      fail(`missing Relu between layer ${l - 1} (${owners[l - 1]}) and layer ${l} (${label(node)}): a ReLU must follow every layer but the last`);
    }
    if (l > 0 && layers[l - 1].nOut !== nIn) {
      fail(`layer ${l} (${label(node)}) weight "${w.name}" [${w.shape}] takes ${nIn} inputs, but layer ${l - 1} (${owners[l - 1]}) gives ${layers[l - 1].nOut}`);
    }
    if (l === 0 && inputDims) {
      const tail = inputDims.slice(1);
      const known = tail.every((d): d is number => typeof d === "number");
      if (!flatten && inputDims.length !== 2) fail(`input "${inputName}" has shape ${inputShape}; expected [batch, ${nIn}] (or a Flatten first)`);
      if (known && product(tail as number[]) !== nIn) {
        fail(`input "${inputName}" has shape ${inputShape} (${product(tail as number[])} features), but layer 0 (${label(node)}) weight "${w.name}" [${w.shape}] takes ${nIn} inputs`);
      }
    }
    layers.push(checkLayer({ nIn, nOut, weight, bias }, w.name, biasName, source));
    owners.push(label(node));
    last = "linear";
  };
  const readBias = (node: onnx.INodeProto, name: string, nOut: number, w: Constant): Constant => {
    const b = constant(name, node, "bias");
    const shapeOk = b.shape.length <= 2 && b.shape.slice(0, -1).every((d) => d === 1) && (b.data.length === nOut || b.data.length === 1);
    if (!shapeOk) fail(`${label(node)}: bias "${name}" has shape [${b.shape}], expected [${nOut}] for weight "${w.name}" [${w.shape}]`);
    return b.data.length === nOut ? b : { ...b, data: new Float32Array(nOut).fill(b.data[0]) };
  };
  const weight2d = (node: onnx.INodeProto, name: string, expected: string): Constant => {
    const w = constant(name, node, "weight");
    if (w.shape.length !== 2) fail(`${label(node)}: weight "${name}" has shape [${w.shape}], expected rank 2 ${expected}`);
    return w;
  };
  const flushMatmul = () => {
    if (!matmul) return;
    const { node, weight: w } = matmul;
    matmul = null;
    const [nIn, nOut] = w.shape;
    push(node, w, nIn, nOut, transpose(w.data, nIn, nOut), new Float32Array(nOut), `${w.name} (no bias)`);
  };

  for (const node of chain) {
    const op = node.opType ?? "";
    const ins = node.input ?? [];
    const attrs = new Map((node.attribute ?? []).map((a) => [a.name ?? "", a]));
    if (node.domain && node.domain !== "ai.onnx") fail(`unsupported op ${node.domain}.${op} (${label(node)}); supported: ${SUPPORTED}`);
    if (op !== "Add") flushMatmul();
    switch (op) {
      case "Identity":
        break;
      case "Flatten": {
        if (last !== "start" || matmul) fail(`${label(node)}: Flatten is supported only before the first layer`);
        const axis = attrs.has("axis") ? int(attrs.get("axis")!.i) : 1;
        if (axis !== 1) fail(`${label(node)}: Flatten axis=${axis} is not supported, expected 1`);
        flatten = true;
        break;
      }
      case "Gemm": {
        const f = (name: string, d: number) => (attrs.has(name) ? attrs.get(name)!.f ?? 0 : d);
        const i = (name: string) => (attrs.has(name) ? int(attrs.get(name)!.i) : 0);
        const alpha = f("alpha", 1), beta = f("beta", 1), transA = i("transA"), transB = i("transB");
        if (transA !== 0) fail(`${label(node)}: transA=${transA} is not supported (the data must be input A, untransposed)`);
        if (alpha !== 1 || beta !== 1) fail(`${label(node)}: alpha=${alpha}, beta=${beta} is not supported, expected alpha = beta = 1`);
        if (!dataTensors.has(ins[0])) fail(`${label(node)}: the data must be input A, got "${ins[0]}" as A`);
        const w = weight2d(node, ins[1] ?? "", transB ? "[nOut, nIn] (transB=1)" : "[nIn, nOut] (transB=0)");
        const [nOut, nIn] = transB ? w.shape : [w.shape[1], w.shape[0]];
        const weight = transB ? w.data : transpose(w.data, nIn, nOut);
        const bias = ins[2] ? readBias(node, ins[2], nOut, w) : null;
        push(node, w, nIn, nOut, weight, bias ? bias.data : new Float32Array(nOut), bias ? bias.name : `${w.name} (no bias)`);
        break;
      }
      case "MatMul": {
        if (!dataTensors.has(ins[0])) fail(`${label(node)}: the data must be the first input (x·W), got weight "${ins[0]}" first`);
        matmul = { node, weight: weight2d(node, ins[1] ?? "", "[nIn, nOut]") };
        break;
      }
      case "Add": {
        if (!matmul) fail(`${label(node)}: Add is supported only as the bias of a MatMul`);
        const { node: mm, weight: w } = matmul!;
        matmul = null;
        const biasName = ins.find((n) => !dataTensors.has(n)) ?? "";
        const [nIn, nOut] = w.shape;
        const b = readBias(node, biasName, nOut, w);
        push(mm, w, nIn, nOut, transpose(w.data, nIn, nOut), b.data, b.name);
        break;
      }
      case "Relu":
        if (last === "start") fail(`${label(node)} comes before the first layer`);
        if (last === "relu") fail(`${label(node)} follows ${label(lastRelu!)}: two Relu in a row`);
        last = "relu";
        lastRelu = node;
        break;
      default:
        fail(`unsupported op ${op || "(empty)"} (${label(node)}); supported: ${SUPPORTED}`);
    }
  }
  flushMatmul();
  if (!layers.length) fail("no Gemm or MatMul layer found");
  if (last === "relu") fail(`${label(lastRelu!)} follows the last layer (${owners[owners.length - 1]}); the last layer must have no activation (logits)`);
  return { layers };
}

/** FLOAT tensor data from float_data or little-endian raw_data; other dtypes and external data are errors. */
function readTensor(t: onnx.ITensorProto, name: string, fail: (msg: string) => never): Constant {
  const dt = t.dataType ?? 0;
  if (dt !== DATA_TYPE_FLOAT) fail(`tensor "${name}" has data type ${dtypeName(dt)}; only FLOAT (float32) is supported`);
  if (t.dataLocation === DATA_LOCATION_EXTERNAL || t.externalData?.length) {
    fail(`tensor "${name}" keeps its data in an external file; export with the weights inside the .onnx file`);
  }
  const shape = (t.dims ?? []).map(int);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor "${name}" has invalid dims [${shape}]`);
  const count = product(shape);
  const raw = t.rawData;
  if (raw?.length) {
    if (raw.length !== 4 * count) fail(`tensor "${name}" [${shape}] needs ${4 * count} bytes of raw_data, got ${raw.length}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
    return { name, shape, data };
  }
  const values = t.floatData ?? [];
  if (values.length !== count) fail(`tensor "${name}" [${shape}] needs ${count} values, got ${values.length} in float_data and no raw_data`);
  return { name, shape, data: Float32Array.from(values) };
}
