// ONNX models of a float MLP for the onnxruntime-web peer, encoded with onnx-proto (opset 13):
// an f32 model (Gemm transB=1 + Relu) and an int8 QDQ model of the same weights, laid out the way
// onnxruntime's quantize_static writes QDQ graphs so its optimizer fuses each layer into QGemm.
import onnxProto from "onnx-proto";
import type { onnx } from "onnx-proto";
import { forwardFloat, range } from "../../toolchain/model/float.ts";
import type { FloatModel } from "../../runtime/src/model.ts";
import { quantizeBias, quantizeRows, roundHalfAway, clamp } from "../../runtime/src/quant.ts";

const { ModelProto, TensorProto, AttributeProto } = onnxProto.onnx;
const DT = TensorProto.DataType;
const OPSET = 13;
export const ONNX_INPUT = "x";
export const ONNX_OUTPUT = "logits";

const bytesOf = (a: Float32Array | Int8Array | Uint8Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function tensor(name: string, dataType: onnx.TensorProto.DataType, dims: number[], data: Float32Array | Int8Array | Uint8Array | Int32Array): onnx.ITensorProto {
  return { name, dataType, dims, rawData: bytesOf(data) };
}

function node(opType: string, input: string[], output: string[], attrs: Record<string, number> = {}): onnx.INodeProto {
  const attribute = Object.entries(attrs).map(([name, i]) => ({ name, type: AttributeProto.AttributeType.INT, i }));
  return { opType, input, output, name: output[0], attribute };
}

function io(name: string, width: number): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimParam: "batch" }, { dimValue: width }] } } } };
}

function encode(model: FloatModel, nodes: onnx.INodeProto[], initializer: onnx.ITensorProto[], name: string): Uint8Array {
  const nIn = model.layers[0].nIn, nOut = model.layers[model.layers.length - 1].nOut;
  return ModelProto.encode({
    irVersion: 7,
    producerName: "rankgate-bench",
    opsetImport: [{ domain: "", version: OPSET }],
    graph: { name, node: nodes, initializer, input: [io(ONNX_INPUT, nIn)], output: [io(ONNX_OUTPUT, nOut)] },
  }).finish();
}

/** The float model as Gemm(x, W, b, transB=1) with a Relu after every layer but the last. */
export function buildOnnxF32(model: FloatModel): Uint8Array {
  const nodes: onnx.INodeProto[] = [], init: onnx.ITensorProto[] = [];
  const last = model.layers.length - 1;
  let x = ONNX_INPUT;
  model.layers.forEach((l, i) => {
    init.push(tensor(`w${i}`, DT.FLOAT, [l.nOut, l.nIn], l.weight), tensor(`b${i}`, DT.FLOAT, [l.nOut], l.bias));
    const y = i === last ? ONNX_OUTPUT : `z${i}`;
    nodes.push(node("Gemm", [x, `w${i}`, `b${i}`], [y], { transB: 1 }));
    if (i < last) nodes.push(node("Relu", [y], [`h${i}`]));
    x = `h${i}`;
  });
  return encode(model, nodes, init, "mlp_f32");
}

function transposeI8(w: Int8Array, rows: number, cols: number): Int8Array {
  const out = new Int8Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/** uint8 affine parameters covering [min(lo, 0), max(hi, 0)] (onnxruntime's MinMax calibration). */
function uint8Params(lo: number, hi: number): { scale: number; zeroPoint: number } {
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  if (!(hi > lo)) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((hi - lo) / 255);
  return { scale, zeroPoint: clamp(roundHalfAway(-lo / scale), 0, 255) };
}

export const QDQ_LAYOUTS = ["matmul", "gemm-n", "gemm-t"] as const;

export interface QdqOptions {
  /**
   * "matmul" (default): MatMul(x, Wᵀ [nIn, nOut]) + Add(b); "gemm-n": Gemm(x, Wᵀ, b); "gemm-t": Gemm(x, W [nOut, nIn], b,
   * transB = 1), torch's export form. All three fuse to QGemm; onnxruntime-web 1.30 runs gemm-t about 4× slower at
   * batch 1 (it transposes the weights on every call), so the bench uses matmul.
   */
  op?: (typeof QDQ_LAYOUTS)[number];
  /** Per-output-row weight scales (default) or one scale per layer (max |W| / 127). */
  perChannel?: boolean;
}

export interface QdqDescription {
  /** Activation quantization per tensor: the input, then each layer's output. */
  activations: { scale: number; zeroPoint: number }[];
  calibrationSamples: number;
}

/**
 * The int8 QDQ model: every activation tensor (input, each hidden ReLU output, the logits) goes through
 * QuantizeLinear→DequantizeLinear as uint8 with a per-tensor scale and zero point from MinMax calibration
 * on `calibration` (the float model's own outputs; ReLU outputs get zero point 0, so onnxruntime drops the
 * Relu into the quantized range). Weights are int8 constants behind a per-axis DequantizeLinear, symmetric
 * per output row with rankgate's quantizer scales (max|row| / 127, values clamped to ±127); biases are int32
 * at scale x_scale · w_scale[j], zero point 0. The graph per layer is Q/DQ(x) · DQ(Wᵀ) + DQ(b) → [Relu] → Q/DQ,
 * which onnxruntime's QDQ transformer turns into one QGemm (u8 activations × s8 weights); the whole graph runs as
 * QuantizeLinear, 4 × QGemm, DequantizeLinear.
 */
export function buildOnnxQdq(model: FloatModel, calibration: Float32Array, count: number, options: QdqOptions = {}): { bytes: Uint8Array; description: QdqDescription } {
  const op = options.op ?? "matmul", perChannel = options.perChannel ?? true;
  const outs = forwardFloat(model, calibration, count);
  const nodes: onnx.INodeProto[] = [], init: onnx.ITensorProto[] = [];
  const last = model.layers.length - 1;
  const scalar = (name: string, v: number) => init.push(tensor(name, DT.FLOAT, [], new Float32Array([v])));
  const zp = (name: string, v: number) => init.push(tensor(name, DT.UINT8, [], new Uint8Array([v])));
  const qdq = (x: string, tag: string, p: { scale: number; zeroPoint: number }, out?: string) => {
    scalar(`${tag}_scale`, p.scale);
    zp(`${tag}_zp`, p.zeroPoint);
    nodes.push(node("QuantizeLinear", [x, `${tag}_scale`, `${tag}_zp`], [`${tag}_q`]));
    const y = out ?? `${tag}_dq`;
    nodes.push(node("DequantizeLinear", [`${tag}_q`, `${tag}_scale`, `${tag}_zp`], [y]));
    return y;
  };
  const r0 = range(calibration.subarray(0, count * model.layers[0].nIn));
  let xp = uint8Params(r0.min, r0.max);
  const activations = [xp];
  let x = qdq(ONNX_INPUT, "a0", xp);
  model.layers.forEach((l, i) => {
    // Weights: int8, symmetric per row of W [nOut, nIn] (rankgate's scales) or per layer
    const { q, scale } = perChannel ? quantizeRows(l.weight, l.nOut, l.nIn) : quantizeRows(l.weight, 1, l.nOut * l.nIn);
    const wScale = Float32Array.from(perChannel ? scale : new Float64Array(l.nOut).fill(scale[0]));
    const bScale = new Float32Array(l.nOut), bias = new Int32Array(l.nOut);
    for (let j = 0; j < l.nOut; j++) {
      bScale[j] = Math.fround(xp.scale * wScale[j]);
      bias[j] = quantizeBias(l.bias[j], bScale[j]);
    }
    const transposed = op !== "gemm-t";
    const wq = transposed ? transposeI8(q, l.nOut, l.nIn) : q;
    const axis = { axis: transposed ? 1 : 0 };
    if (perChannel) {
      init.push(tensor(`w${i}_scale`, DT.FLOAT, [l.nOut], wScale), tensor(`w${i}_zp`, DT.INT8, [l.nOut], new Int8Array(l.nOut)));
      init.push(tensor(`b${i}_scale`, DT.FLOAT, [l.nOut], bScale), tensor(`b${i}_zp`, DT.INT32, [l.nOut], new Int32Array(l.nOut)));
    } else {
      init.push(tensor(`w${i}_scale`, DT.FLOAT, [], wScale.subarray(0, 1)), tensor(`w${i}_zp`, DT.INT8, [], new Int8Array(1)));
      init.push(tensor(`b${i}_scale`, DT.FLOAT, [], bScale.subarray(0, 1)), tensor(`b${i}_zp`, DT.INT32, [], new Int32Array(1)));
    }
    init.push(tensor(`w${i}_q`, DT.INT8, transposed ? [l.nIn, l.nOut] : [l.nOut, l.nIn], wq), tensor(`b${i}_q`, DT.INT32, [l.nOut], bias));
    nodes.push(node("DequantizeLinear", [`w${i}_q`, `w${i}_scale`, `w${i}_zp`], [`w${i}`], perChannel ? axis : {}));
    nodes.push(node("DequantizeLinear", [`b${i}_q`, `b${i}_scale`, `b${i}_zp`], [`b${i}`], perChannel ? { axis: 0 } : {}));
    if (op === "matmul") {
      nodes.push(node("MatMul", [x, `w${i}`], [`m${i}`]));
      nodes.push(node("Add", [`m${i}`, `b${i}`], [`z${i}`]));
    } else nodes.push(node("Gemm", [x, `w${i}`, `b${i}`], [`z${i}`], transposed ? {} : { transB: 1 }));
    // Output: Relu then Q/DQ (hidden), Q/DQ to float logits (last)
    const r = range(outs[i]);
    xp = i === last ? uint8Params(r.min, r.max) : uint8Params(0, r.max);
    activations.push(xp);
    if (i < last) {
      nodes.push(node("Relu", [`z${i}`], [`h${i}`]));
      x = qdq(`h${i}`, `a${i + 1}`, xp);
    } else x = qdq(`z${i}`, `a${i + 1}`, xp, ONNX_OUTPUT);
  });
  return { bytes: encode(model, nodes, init, "mlp_qdq_u8s8"), description: { activations, calibrationSamples: count } };
}
