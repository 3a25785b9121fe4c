import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import onnxProto from "onnx-proto";
import type { onnx } from "onnx-proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FormatError, UserError } from "../runtime/src/errors.ts";
import { forwardFloat } from "../toolchain/model/float.ts";
import { applyInputNormalization, checkpointTensors } from "../toolchain/import/float-checkpoint.ts";
import { importOnnx, ONNX_MAX_DECODED_VALUES, ONNX_MAX_NESTING, ONNX_MAX_NODES, ONNX_MAX_WEIGHT_EXPANSION } from "../toolchain/import/onnx.ts";
import { importSafetensors, type SafetensorsImportOptions } from "../toolchain/import/state-dict.ts";
import type { FloatModel } from "../runtime/src/model.ts";
import { Rng } from "../toolchain/model/random.ts";
import { readSafetensors, writeSafetensors, type Tensor } from "../toolchain/io/safetensors-file.ts";
import { thrown } from "./helpers/errors.ts";
import { readNpz } from "./helpers/npz.ts";

const { AttributeProto, ModelProto, TensorProto } = onnxProto.onnx;
const FLOAT = TensorProto.DataType.FLOAT;
const DOUBLE = TensorProto.DataType.DOUBLE;

// ONNX fixtures, built here with the protobuf library

interface Init {
  name: string;
  dims: number[];
  values: ArrayLike<number>;
  raw?: boolean;
  dataType?: number;
}

function tensorProto({ name, dims, values, raw, dataType = FLOAT }: Init): onnx.ITensorProto {
  if (!raw) return dataType === DOUBLE ? { name, dims, dataType, doubleData: Array.from(values) } : { name, dims, dataType, floatData: Array.from(values) };
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
  return { name, dims, dataType, rawData: bytes };
}

type Attr = { f: number } | { i: number };
function node(opType: string, input: string[], output: string[], name: string, attrs: Record<string, Attr> = {}): onnx.INodeProto {
  const attribute = Object.entries(attrs).map(([n, a]) =>
    "f" in a ? { name: n, type: AttributeProto.AttributeType.FLOAT, f: a.f } : { name: n, type: AttributeProto.AttributeType.INT, i: a.i },
  );
  return { opType, input, output, name, attribute };
}

function valueInfo(name: string, dims: (number | string)[], elemType = FLOAT): onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

interface Graph {
  nodes: onnx.INodeProto[];
  inits: onnx.ITensorProto[];
  input?: onnx.IValueInfoProto[];
  output?: onnx.IValueInfoProto[];
}

function encodeModel({ nodes, inits, input, output }: Graph): Uint8Array {
  const graph = {
    name: "main_graph", node: nodes, initializer: inits,
    input: input ?? [valueInfo("input", ["batch", 0])], output: output ?? [valueInfo("output", ["batch", 0])],
  };
  return ModelProto.encode({ irVersion: 8, producerName: "pytorch", producerVersion: "2.5.0", opsetImport: [{ domain: "", version: 17 }], graph }).finish();
}

/** A random float MLP with sizes `sizes`, torch layout. */
function randomModel(sizes: number[], seed: number): FloatModel {
  const rng = new Rng(seed);
  return {
    layers: sizes.slice(1).map((nOut, l) => {
      const nIn = sizes[l];
      return {
        nIn, nOut,
        weight: Float32Array.from({ length: nIn * nOut }, () => rng.normal() * 0.5),
        bias: Float32Array.from({ length: nOut }, () => rng.normal() * 0.1),
      };
    }),
  };
}

const transposed = (w: Float32Array, nOut: number, nIn: number) => Float32Array.from({ length: w.length }, (_, i) => w[(i % nOut) * nIn + Math.floor(i / nOut)]);

/** The graph torch.onnx.export writes for nn.Sequential(Linear, ReLU, …, Linear): Gemm transB=1 + Relu. */
function gemmGraph(model: FloatModel, opts: { raw?: boolean; flatten?: boolean; inputDims?: (number | string)[] } = {}): Graph {
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  let cur = "input";
  if (opts.flatten) {
    nodes.push(node("Flatten", [cur], ["/0/Flatten_output_0"], "/0/Flatten", { axis: { i: 1 } }));
    cur = "/0/Flatten_output_0";
  }
  model.layers.forEach((l, i) => {
    const k = 2 * i + (opts.flatten ? 1 : 0);
    const last = i === model.layers.length - 1;
    const out = last ? "output" : `/${k}/Gemm_output_0`;
    inits.push(tensorProto({ name: `${k}.weight`, dims: [l.nOut, l.nIn], values: l.weight, raw: opts.raw }));
    inits.push(tensorProto({ name: `${k}.bias`, dims: [l.nOut], values: l.bias, raw: opts.raw }));
    nodes.push(node("Gemm", [cur, `${k}.weight`, `${k}.bias`], [out], `/${k}/Gemm`, { alpha: { f: 1 }, beta: { f: 1 }, transB: { i: 1 } }));
    cur = out;
    if (!last) {
      nodes.push(node("Relu", [cur], [`/${k + 1}/Relu_output_0`], `/${k + 1}/Relu`));
      cur = `/${k + 1}/Relu_output_0`;
    }
  });
  const first = model.layers[0], lastL = model.layers[model.layers.length - 1];
  return { nodes, inits, input: [valueInfo("input", opts.inputDims ?? ["batch", first.nIn])], output: [valueInfo("output", ["batch", lastL.nOut])] };
}

/** The older torch form: MatMul with a [nIn, nOut] initializer, then Add of the bias. */
function matmulGraph(model: FloatModel, opts: { raw?: boolean; biasFirst?: boolean } = {}): Graph {
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  let cur = "input";
  model.layers.forEach((l, i) => {
    const last = i === model.layers.length - 1;
    inits.push(tensorProto({ name: `onnx::MatMul_${10 + i}`, dims: [l.nIn, l.nOut], values: transposed(l.weight, l.nOut, l.nIn), raw: opts.raw }));
    inits.push(tensorProto({ name: `fc${i}.bias`, dims: [l.nOut], values: l.bias, raw: opts.raw }));
    nodes.push(node("MatMul", [cur, `onnx::MatMul_${10 + i}`], [`/fc${i}/MatMul_output_0`], `/fc${i}/MatMul`));
    const addIn = [`/fc${i}/MatMul_output_0`, `fc${i}.bias`];
    const out = last ? "output" : `/fc${i}/Add_output_0`;
    nodes.push(node("Add", opts.biasFirst ? addIn.reverse() : addIn, [out], `/fc${i}/Add`));
    cur = out;
    if (!last) {
      nodes.push(node("Relu", [cur], [`/relu${i}/Relu_output_0`], `/relu${i}/Relu`));
      cur = `/relu${i}/Relu_output_0`;
    }
  });
  return { nodes, inits, input: [valueInfo("input", ["batch", model.layers[0].nIn])], output: [valueInfo("output", ["batch", model.layers.at(-1)!.nOut])] };
}

function expectSameModel(got: FloatModel, want: FloatModel) {
  expect(got.layers.length).toBe(want.layers.length);
  got.layers.forEach((l, i) => {
    const w = want.layers[i];
    expect([l.nIn, l.nOut]).toEqual([w.nIn, w.nOut]);
    expect(l.weight).toBeInstanceOf(Float32Array);
    expect(l.bias).toBeInstanceOf(Float32Array);
    expect(Array.from(l.weight)).toEqual(Array.from(w.weight));
    expect(Array.from(l.bias)).toEqual(Array.from(w.bias));
  });
}

function errorOf(f: () => unknown): UserError {
  const err = thrown(f);
  expect(err).toBeInstanceOf(UserError);
  const msg = (err as Error).message;
  expect(msg).not.toContain("\n");
  return err as UserError;
}

const onnxError = (g: Graph) => errorOf(() => importOnnx(encodeModel(g), "m.onnx"));

/** Naive y = x·Wᵀ + b with ReLU between layers, in float64 over the torch-layout source arrays. */
function naiveForward(model: FloatModel, x: number[]): number[] {
  let a = x;
  model.layers.forEach((l, li) => {
    const y = Array.from({ length: l.nOut }, (_, j) => a.reduce((s, v, i) => s + v * l.weight[j * l.nIn + i], l.bias[j]));
    a = li < model.layers.length - 1 ? y.map((v) => Math.max(0, v)) : y;
  });
  return a;
}

// A 3-2-2 model small enough to check by hand
const TINY: FloatModel = {
  layers: [
    { nIn: 3, nOut: 2, weight: new Float32Array([1, 2, 3, -1, 0, 1]), bias: new Float32Array([0.5, -4]) },
    { nIn: 2, nOut: 2, weight: new Float32Array([2, 1, -1, 3]), bias: new Float32Array([0, 1]) },
  ],
};

describe("importOnnx", () => {
  const mlp = randomModel([12, 9, 7, 4], 11);

  it("reads torch's Gemm (transB=1) + Relu chain, float_data and raw_data alike", () => {
    for (const raw of [false, true]) expectSameModel(importOnnx(encodeModel(gemmGraph(mlp, { raw })), "m.onnx"), mlp);
  });

  it("reads the MatMul + Add form, transposing the [nIn, nOut] weight, with the bias on either side", () => {
    for (const raw of [false, true]) {
      for (const biasFirst of [false, true]) expectSameModel(importOnnx(encodeModel(matmulGraph(mlp, { raw, biasFirst })), "m.onnx"), mlp);
    }
  });

  it("reads Gemm transB=0 with a [nIn, nOut] weight", () => {
    const g = gemmGraph(mlp);
    g.nodes = g.nodes.map((n) => (n.opType === "Gemm" ? { ...n, attribute: [] } : n));
    g.inits = g.inits.map((t) => {
      if (!t.name!.endsWith("weight")) return t;
      const [nOut, nIn] = t.dims as number[];
      return { ...t, dims: [nIn, nOut], floatData: Array.from(transposed(Float32Array.from(t.floatData!), nOut, nIn)) };
    });
    expectSameModel(importOnnx(encodeModel(g), "m.onnx"), mlp);
  });

  it("accepts a leading Flatten of [N, 1, 28, 28], Constant-node weights and Identity nodes", () => {
    const big = randomModel([784, 5, 3], 2);
    const g = gemmGraph(big, { flatten: true, inputDims: ["batch", 1, 28, 28] });
    const w = g.inits.shift()!;
    g.nodes.unshift({ opType: "Constant", input: [], output: [w.name!], name: "/Constant", attribute: [{ name: "value", type: AttributeProto.AttributeType.TENSOR, t: w }] });
    const gemm = g.nodes.find((n) => n.opType === "Gemm" && n.name === "/3/Gemm")!;
    g.nodes.push(node("Identity", ["3.weight"], ["3.weight_alias"], "/Identity_w"));
    gemm.input = [gemm.input![0], "3.weight_alias", gemm.input![2]];
    const relu = g.nodes.findIndex((n) => n.opType === "Relu");
    g.nodes.splice(relu + 1, 0, node("Identity", ["/2/Relu_output_0"], ["/2/Identity"], "/Identity_x"));
    gemm.input[0] = "/2/Identity";
    expectSameModel(importOnnx(encodeModel(g), "m.onnx"), big);
  });

  it("reads MatMul of a Transpose node over a [nOut, nIn] initializer (onnxscript's unfolded form)", () => {
    const g = matmulGraph(mlp, { raw: true });
    g.inits = g.inits.map((t, i) => {
      if (!t.name!.startsWith("onnx::MatMul_")) return t;
      const l = mlp.layers[i / 2];
      return tensorProto({ name: `fc${i / 2}.weight`, dims: [l.nOut, l.nIn], values: l.weight, raw: true });
    });
    mlp.layers.forEach((_, i) => {
      g.nodes.unshift({ ...node("Transpose", [`fc${i}.weight`], [`onnx::MatMul_${10 + i}`], `/fc${i}/Transpose`), attribute: [{ name: "perm", type: AttributeProto.AttributeType.INTS, ints: [1, 0] }] });
    });
    expectSameModel(importOnnx(encodeModel(g), "m.onnx"), mlp);
  });

  it("gives a zero bias to Gemm without C and MatMul without Add, and reads symbolic or missing input dims", () => {
    const want: FloatModel = { layers: mlp.layers.map((l) => ({ ...l, bias: new Float32Array(l.nOut) })) };
    const gemm = gemmGraph(mlp);
    gemm.nodes = gemm.nodes.map((n) => (n.opType === "Gemm" ? { ...n, input: n.input!.slice(0, 2) } : n));
    gemm.input = [{ name: "input", type: { tensorType: { elemType: FLOAT, shape: { dim: [{}, { dimParam: "features" }] } } } }];
    expectSameModel(importOnnx(encodeModel(gemm), "m.onnx"), want);
    const mm = matmulGraph(mlp);
    mm.nodes = mm.nodes.filter((n) => n.opType !== "Add").map((n) => (n.opType === "MatMul" ? { ...n, output: [n.output![0].replace("MatMul", "Add").replace("/fc2/Add_output_0", "output")] } : n));
    expectSameModel(importOnnx(encodeModel(mm), "m.onnx"), want);
  });

  it("a forward pass of the imported model matches a hand computation", () => {
    // h = relu([1+4+9+.5, -1+3-4]) = [14.5, 0]; y = [29, -14.5+1]
    const imported = importOnnx(encodeModel(gemmGraph(TINY)), "tiny.onnx");
    expect(Array.from(forwardFloat(imported, new Float32Array([1, 2, 3]), 1)[1])).toEqual([29, -13.5]);
    const matmul = importOnnx(encodeModel(matmulGraph(TINY, { raw: true })), "tiny.onnx");
    expect(Array.from(forwardFloat(matmul, new Float32Array([1, 2, 3]), 1)[1])).toEqual([29, -13.5]);

    const rng = new Rng(5);
    const x = Array.from({ length: 12 }, () => rng.normal());
    const got = forwardFloat(importOnnx(encodeModel(gemmGraph(mlp, { raw: true })), "m.onnx"), Float32Array.from(x), 1).at(-1)!;
    naiveForward(mlp, x).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
  });

  it("names an unsupported op and its node", () => {
    const g = gemmGraph(mlp);
    g.nodes[0] = node("Conv", g.nodes[0].input!, g.nodes[0].output!, "/0/Conv");
    const msg = onnxError(g).message;
    expect(msg).toContain("m.onnx: ");
    expect(msg).toContain("Conv");
    expect(msg).toContain("/0/Conv");
  });

  it("names a DOUBLE initializer", () => {
    const g = gemmGraph(mlp);
    g.inits[2] = tensorProto({ name: "2.weight", dims: [7, 9], values: Array.from(mlp.layers[1].weight), dataType: DOUBLE });
    expect(onnxError(g).message).toMatch(/"2\.weight".*DOUBLE/);
  });

  it("names a DOUBLE input", () => {
    const g = gemmGraph(mlp);
    g.input = [valueInfo("input", ["batch", 12], DOUBLE)];
    expect(onnxError(g).message).toMatch(/input "input".*DOUBLE/);
  });

  it("rejects a missing Relu between layers", () => {
    const g = gemmGraph(mlp);
    const i = g.nodes.findIndex((n) => n.opType === "Relu");
    g.nodes[i + 1].input![0] = g.nodes[i].input![0];
    g.nodes.splice(i, 1);
    expect(onnxError(g).message).toMatch(/missing Relu between layer 0 .*"\/0\/Gemm".* and layer 1 .*"\/2\/Gemm"/);
  });

  it("rejects a Relu after the last layer", () => {
    const g = gemmGraph(mlp);
    g.nodes.at(-1)!.output = ["/5/Gemm_output_0"];
    g.nodes.push(node("Relu", ["/5/Gemm_output_0"], ["output"], "/6/Relu"));
    expect(onnxError(g).message).toMatch(/"\/6\/Relu" follows the last layer/);
  });

  it("rejects mismatched shapes, naming the tensor and both sizes", () => {
    const bad = randomModel([12, 9, 7, 4], 3);
    bad.layers[1] = randomModel([8, 7], 4).layers[0];
    expect(onnxError(gemmGraph(bad)).message).toMatch(/layer 1 .*"2\.weight" \[7,8\] takes 8 inputs, but layer 0 .* gives 9/);
    const wrongInput = gemmGraph(mlp, { inputDims: ["batch", 10] });
    expect(onnxError(wrongInput).message).toMatch(/input "input" has shape \[batch, 10\].*takes 12 inputs/);
    const bias = gemmGraph(mlp);
    bias.inits[1] = tensorProto({ name: "0.bias", dims: [8], values: new Float32Array(8) });
    expect(onnxError(bias).message).toMatch(/bias "0\.bias" has shape \[8\], expected \[9\]/);
    const rank = gemmGraph(mlp);
    rank.inits[0] = tensorProto({ name: "0.weight", dims: [9, 12, 1], values: mlp.layers[0].weight });
    expect(onnxError(rank).message).toMatch(/weight "0\.weight" has shape \[9,12,1\], expected rank 2/);
    const count = gemmGraph(mlp, { raw: true });
    count.inits[0] = { ...count.inits[0], rawData: count.inits[0].rawData!.subarray(4) };
    expect(onnxError(count).message).toMatch(/"0\.weight" \[9,12\] needs 432 bytes of raw_data, got 428/);
  });

  it("rejects a branching graph", () => {
    const g = gemmGraph(mlp);
    g.nodes.push(node("Relu", ["/0/Gemm_output_0"], ["side"], "/side/Relu"));
    expect(onnxError(g).message).toMatch(/branches: tensor "\/0\/Gemm_output_0" feeds .*"\/1\/Relu".*"\/side\/Relu"/);
    const join = gemmGraph(mlp);
    join.nodes.find((n) => n.name === "/2/Gemm")!.input![1] = "/0/Gemm_output_0";
    expect(onnxError(join).message).toMatch(/branches|joins/);
  });

  it("names a missing initializer, unsupported Gemm attributes, extra inputs and outputs", () => {
    const g = gemmGraph(mlp);
    g.inits = g.inits.filter((t) => t.name !== "2.bias");
    g.input = [...g.input!, valueInfo("2.bias", [7])];
    expect(onnxError(g).message).toMatch(/expected one data input, found 2/);
    g.input = g.input.slice(0, 1);
    expect(onnxError(g).message).toBe('m.onnx: Gemm node "/2/Gemm": missing initializer "2.bias" (its bias)');
    const missing = gemmGraph(mlp);
    missing.nodes.find((n) => n.name === "/2/Gemm")!.input![2] = "nowhere";
    expect(onnxError(missing).message).toMatch(/Gemm node "\/2\/Gemm": missing initializer "nowhere"/);
    const alpha = gemmGraph(mlp);
    alpha.nodes[0].attribute![0].f = 0.5;
    alpha.nodes[0].attribute![1].f = -2;
    const scaled = importOnnx(encodeModel(alpha), "m.onnx").layers[0];
    expect(Array.from(scaled.weight)).toEqual(Array.from(mlp.layers[0].weight, (v) => Math.fround(v * 0.5)));
    expect(Array.from(scaled.bias)).toEqual(Array.from(mlp.layers[0].bias, (v) => Math.fround(v * -2)));
    const transA = gemmGraph(mlp);
    transA.nodes[0].attribute!.push({ name: "transA", type: AttributeProto.AttributeType.INT, i: 1 });
    expect(onnxError(transA).message).toMatch(/"\/0\/Gemm": transA=1/);
    const outs = gemmGraph(mlp);
    outs.output = [...outs.output!, valueInfo("other", [1])];
    expect(onnxError(outs).message).toMatch(/graph output "other" does not come from the chain of layers, which ends at "output"/);
  });

  it("truncated or garbage bytes give a FormatError or UserError, never a crash", () => {
    const bytes = encodeModel(gemmGraph(mlp, { raw: true }));
    for (let n = 0; n < bytes.length; n += 7) {
      const err = errorOf(() => importOnnx(bytes.subarray(0, n), "cut.onnx"));
      expect(err.message).toContain("cut.onnx");
    }
    expect(errorOf(() => importOnnx(new Uint8Array(0), "e.onnx"))).toBeInstanceOf(FormatError);
    expect(errorOf(() => importOnnx(new TextEncoder().encode("not an onnx file at all\n"), "t.onnx")).message).toContain("t.onnx");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => {
        try {
          importOnnx(junk, "junk.onnx");
        } catch (e) {
          if (!(e instanceof UserError)) throw e;
        }
      }),
      { numRuns: 500, seed: 42 },
    );
  });
});

// safetensors

const file = (tensors: Record<string, Tensor>) => writeSafetensors(tensors);
const f32 = (shape: number[], data?: ArrayLike<number>): Tensor => ({ dtype: "F32", shape, data: Float32Array.from(data ?? { length: shape.reduce((a, b) => a * b, 1) }, (v) => v ?? 0.25) });

function torchDict(model: FloatModel, prefix = "", step = 2, first = 0): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  model.layers.forEach((l, i) => {
    out[`${prefix}${first + step * i}.weight`] = f32([l.nOut, l.nIn], l.weight);
    out[`${prefix}${first + step * i}.bias`] = f32([l.nOut], l.bias);
  });
  return out;
}

const RELU = { activation: "relu" } as const;
const stError = (t: Record<string, Tensor>, opts: SafetensorsImportOptions = RELU) => errorOf(() => importSafetensors(file(t), "m.safetensors", opts));

describe("importSafetensors", () => {
  const mlp = randomModel([10, 12, 6, 3], 21);

  it("our names and torch nn.Sequential names (bare, prefixed, sparse indices) give the same model", () => {
    expectSameModel(importSafetensors(file(checkpointTensors(mlp)), "ours.safetensors", RELU), mlp);
    for (const [prefix, step, first] of [["", 2, 0], ["model.", 2, 0], ["net.", 3, 1], ["model.net.", 1, 7]] as const) {
      expectSameModel(importSafetensors(file(torchDict(mlp, prefix, step, first)), "torch.safetensors", RELU), mlp);
    }
  });

  it("round-trips block policies and learned estimators, and names their shape errors", () => {
    const rng = new Rng(5);
    const vec = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
    const m = randomModel([10, 12, 6, 3], 22);
    m.layers[0].gate = { blockSize: 4, weight: vec(3 * 10), bias: vec(3) };
    m.layers[1].estimator = { rank: 2, at: vec(2 * 12), bt: vec(6 * 2), offset: vec(6) };
    const back = importSafetensors(file(checkpointTensors(m)), "g.safetensors", RELU);
    expectSameModel(back, m);
    expect(back.layers[0].gate).toEqual(m.layers[0].gate);
    expect(back.layers[1].estimator).toEqual(m.layers[1].estimator);
    expect(back.layers[0].estimator).toBeUndefined();
    const t = checkpointTensors(m);
    expect(stError({ ...t, "layers.0.gate.bias": f32([4], vec(4)) }).message).toMatch(/"layers\.0\.gate\.bias" has shape \[4\]; expected \[3\]/);
    expect(stError({ ...t, "layers.0.gate.weight": f32([5, 10], vec(50)), "layers.0.gate.bias": f32([5], vec(5)) }).message).toMatch(/5 blocks cannot split 12 units/);
    const noOffset = { ...t };
    delete noOffset["layers.1.est.offset"];
    expect(stError(noOffset).message).toMatch(/missing "layers\.1\.est\.offset"/);
    expect(stError({ ...t, "layers.2.gate.weight": f32([1, 6], vec(6)), "layers.2.gate.bias": f32([1], vec(1)) }).message).toMatch(/output layer cannot be gated/);
    expect(stError({ ...t, "layers.1.gate.weight": f32([1, 12], vec(12)), "layers.1.gate.bias": f32([1], vec(1)) }).message).toMatch(/both a block policy/);
    expect(stError({ ...t, "layers.1.est.a": f32([2, 12], new Float32Array(24).fill(NaN)) }).message).toMatch(/"layers\.1\.est\.a" holds a non-finite value/);
  });

  it("round-trips a top-k gate as layers.{i}.gate.top_k (I32 [1]); threshold gates write none; names a bad top_k", () => {
    const rng = new Rng(6);
    const vec = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
    const m = randomModel([10, 12, 6, 3], 23);
    m.layers[0].gate = { blockSize: 4, weight: vec(3 * 10), bias: vec(3), topK: 2 };
    const t = checkpointTensors(m);
    expect(t["layers.0.gate.top_k"]).toEqual({ dtype: "I32", shape: [1], data: Int32Array.of(2) });
    expect(importSafetensors(file(t), "k.safetensors", RELU).layers[0].gate).toEqual(m.layers[0].gate);
    // A threshold gate (topK absent or 0) writes the tensors of before and reads back without topK
    const zero = checkpointTensors({ layers: m.layers.map((l, i) => (i === 0 ? { ...l, gate: { ...l.gate!, topK: 0 } } : l)) });
    expect(Object.keys(zero).filter((k) => k.includes("top_k"))).toEqual([]);
    expect(importSafetensors(file(zero), "z.safetensors", RELU).layers[0].gate!.topK).toBeUndefined();
    // top_k 0 stored explicitly is the threshold gate
    expect(importSafetensors(file({ ...zero, "layers.0.gate.top_k": { dtype: "I32", shape: [1], data: Int32Array.of(0) } }), "z0.safetensors", RELU).layers[0].gate!.topK).toBeUndefined();
    const i32 = (v: number[], shape = [v.length]): Tensor => ({ dtype: "I32", shape, data: Int32Array.from(v) });
    expect(stError({ ...t, "layers.0.gate.top_k": i32([4]) }).message).toMatch(/"layers\.0\.gate\.top_k" holds 4; expected an integer in \[0, 3\]/);
    expect(stError({ ...t, "layers.0.gate.top_k": i32([-1]) }).message).toMatch(/holds -1; expected an integer in \[0, 3\]/);
    expect(stError({ ...t, "layers.0.gate.top_k": i32([1, 1]) }).message).toMatch(/"layers\.0\.gate\.top_k" is I32 \[2\]; expected I32 \[1\]/);
    expect(stError({ ...t, "layers.0.gate.top_k": f32([1], [1]) }).message).toMatch(/is F32 \[1\]; expected I32 \[1\]/);
    // A top_k without the policy is the named "missing" error of a half gate
    const lone = { ...checkpointTensors(randomModel([10, 12, 6, 3], 24)), "layers.0.gate.top_k": i32([1]) };
    expect(stError(lone).message).toMatch(/missing "layers\.0\.gate\.weight"/);
    expect(() => checkpointTensors({ layers: m.layers.map((l, i) => (i === 0 ? { ...l, gate: { ...l.gate!, topK: 4 } } : l)) })).toThrow(/topK is 4, expected an integer in \[0, 3\]/);
  });

  it("orders layers by index numerically, not by name", () => {
    const big = randomModel([4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 3], 8);
    expectSameModel(importSafetensors(file(torchDict(big, "seq.", 2)), "m.safetensors", RELU), big);
  });

  it("reads F64 tensors as F32", () => {
    // Rewrite layers.1.weight as F64 by hand
    const header = {
      "layers.0.weight": { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] },
      "layers.0.bias": { dtype: "F32", shape: [2], data_offsets: [24, 32] },
      "layers.1.weight": { dtype: "F64", shape: [2, 2], data_offsets: [32, 64] },
      "layers.1.bias": { dtype: "F32", shape: [2], data_offsets: [64, 72] },
    };
    const text = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + text.length + 72);
    new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
    out.set(text, 8);
    const data = 8 + text.length;
    out.set(new Uint8Array(TINY.layers[0].weight.buffer), data);
    out.set(new Uint8Array(TINY.layers[0].bias.buffer), data + 24);
    out.set(new Uint8Array(new Float64Array(TINY.layers[1].weight).buffer), data + 32);
    out.set(new Uint8Array(TINY.layers[1].bias.buffer), data + 64);
    expectSameModel(importSafetensors(out, "f64.safetensors", RELU), TINY);
  });

  it("names a missing bias, a bias without weight, wrong ranks and shape mismatches", () => {
    const noBias = torchDict(mlp);
    delete noBias["2.bias"];
    expect(stError(noBias).message).toMatch(/missing bias "2\.bias" for weight "2\.weight" \[6,12\]/);
    const noWeight = torchDict(mlp);
    delete noWeight["4.weight"];
    expect(stError(noWeight).message).toMatch(/"4\.bias" has no weight "4\.weight"/);
    const rank = torchDict(mlp);
    rank["0.weight"] = f32([12, 10, 1]);
    expect(stError(rank).message).toMatch(/"0\.weight" has shape \[12,10,1\] \(rank 3\); expected rank 2/);
    const biasShape = torchDict(mlp);
    biasShape["0.bias"] = f32([1, 12]);
    expect(stError(biasShape).message).toMatch(/"0\.bias" has shape \[1,12\]; expected \[12\] to match "0\.weight"/);
    const chain = torchDict(mlp);
    chain["2.weight"] = f32([6, 11]);
    expect(stError(chain).message).toMatch(/shape mismatch: "2\.weight" \[6,11\] takes 11 inputs, but "0\.weight" \[12,10\] gives 12/);
  });

  it("lists unknown tensors, names an incomplete BatchNorm and rejects two models in one file", () => {
    const extra = { ...torchDict(mlp, "model."), "model.head.scale": f32([]), "model.head.shift": f32([]) };
    const msg = stError(extra).message;
    expect(msg).toContain('"model.head.scale"');
    expect(msg).toMatch(/unknown tensors/);
    expect(stError({ ...torchDict(mlp, "model."), "model.1.running_mean": f32([12]) }).message).toMatch(/BatchNorm "model\.1" has running_mean but no "model\.1\.running_var"/);
    expect(stError({ ...torchDict(mlp, "a."), ...torchDict(randomModel([3, 2], 1), "b.") }).message).toMatch(/modules "[ab]\.0" and "[ab]\.0" carry the same numbers.*--layers/);
    expect(stError({}).message).toMatch(/no tensors/);
  });

  it("rejects non-float dtypes, naming the tensor", () => {
    const ints = torchDict(mlp);
    ints["4.bias"] = { dtype: "I32", shape: [3], data: new Int32Array(3) };
    expect(stError(ints).message).toMatch(/"4\.bias" has dtype I32; expected a float dtype/);
    const nan = torchDict(mlp);
    nan["2.bias"] = f32([6], [0, 0, NaN, 0, 0, 0]);
    expect(stError(nan).message).toMatch(/"2\.bias" holds a non-finite value \(NaN\) at element 2/);
  });

  it("garbage bytes give a FormatError", () => {
    expect(errorOf(() => importSafetensors(new Uint8Array([1, 2, 3]), "g.safetensors"))).toBeInstanceOf(FormatError);
  });
});

// Fixtures written by real exporters (test/fixtures/exporters/make.py; versions in manifest.json)

const FIXTURES = fileURLToPath(new URL("./fixtures/exporters/", import.meta.url));
interface Fixture { name: string; files: string[]; kind: "onnx" | "safetensors"; expect: string; ref: "logits" | "probabilities" | "log-probabilities"; refAccuracy: number }
const manifest = JSON.parse(readFileSync(join(FIXTURES, "manifest.json"), "utf8")) as { fixtures: Fixture[] };
/** Flags each fixture needs beyond the defaults (the numpy net was trained on x / 16). */
const FIXTURE_FLAGS: Record<string, { inputStd?: number[] }> = { numpy: { inputStd: [16] } };

function importFixture(f: Fixture, opts: SafetensorsImportOptions = RELU) {
  const path = join(FIXTURES, f.files[0]);
  const bytes = new Uint8Array(readFileSync(path));
  const model = f.kind === "onnx" ? importOnnx(bytes, path, { baseDir: FIXTURES }) : importSafetensors(bytes, path, opts);
  const std = FIXTURE_FLAGS[f.name]?.inputStd;
  return std ? { ...applyInputNormalization(model, [0], std, path), notes: model.notes } : model;
}

/** The imported model's outputs in the reference's terms (softmax or log-softmax of the logits when the head was dropped). */
function asReference(logits: Float32Array, k: number, kind: Fixture["ref"]): Float64Array {
  const out = new Float64Array(logits.length);
  for (let s = 0; s < logits.length / k; s++) {
    const z = Array.from(logits.subarray(s * k, s * k + k));
    const mx = Math.max(...z);
    const lse = mx + Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0));
    z.forEach((v, j) => (out[s * k + j] = kind === "probabilities" ? Math.exp(v - lse) : kind === "log-probabilities" ? v - lse : v));
  }
  return out;
}

const argmax = (a: ArrayLike<number>, at: number, k: number) => {
  let b = 0;
  for (let j = 1; j < k; j++) if (a[at + j] > a[at + b]) b = j;
  return b;
};

describe("exporter fixtures", () => {
  it("the manifest lists every exporter the issue names, with tool versions", () => {
    expect(manifest.fixtures.map((f) => f.name).sort()).toEqual(
      ["dynamo", "keras", "numpy", "skl2onnx", "torch-flatten-bn-softmax", "torch-named", "torch-normalize-logsoftmax", "torch-seq", "torch-tanh", "torch-tanh-state"],
    );
    for (const f of manifest.fixtures) for (const file of [...f.files, `${f.name}.npz`]) expect(existsSync(join(FIXTURES, file)), file).toBe(true);
  });

  // Tolerance: 1e-4 absolute on the exporter's outputs (float32 sums in another order, BatchNorm folded in float64)
  it.each(manifest.fixtures.filter((f) => f.expect === "ok").map((f) => [f.name, f] as const))("%s imports and reproduces the exporter's outputs within 1e-4", (_, f) => {
    const model = importFixture(f);
    const npz = readNpz(new Uint8Array(readFileSync(join(FIXTURES, `${f.name}.npz`))));
    const n = npz.x.shape[0], k = model.layers.at(-1)!.nOut;
    expect(model.layers[0].nIn).toBe(64);
    expect(k).toBe(10);
    const got = asReference(forwardFloat(model, Float32Array.from(npz.x.data), n).at(-1)!, k, f.ref);
    let worst = 0, correct = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - npz.ref.data[i]));
    for (let s = 0; s < n; s++) {
      expect(argmax(got, s * k, k), `sample ${s}`).toBe(argmax(npz.ref.data, s * k, k));
      if (argmax(got, s * k, k) === npz.y.data[s]) correct++;
    }
    expect(worst).toBeLessThan(1e-4);
    expect(correct / n).toBe(f.refAccuracy);
  });

  it("says what it folded and dropped", () => {
    const notes = (name: string) => importFixture(manifest.fixtures.find((f) => f.name === name)!).notes.join(" | ");
    expect(notes("torch-flatten-bn-softmax")).toMatch(/folded BatchNormalization node "\/0\/0\.2\/BatchNormalization".*dropped the final Softmax node "\/1\/Softmax".*argmax is unchanged/);
    expect(notes("torch-normalize-logsoftmax")).toMatch(/folded the input normalization \(Sub .*, Div .*\) into layer 0: the model takes the raw input.*LogSoftmax/);
    expect(notes("skl2onnx")).toMatch(/dropped classifier post-processing .*ArgMax.*ArrayFeatureExtractor.*"output_label", "output_probability"/);
    expect(notes("keras")).toMatch(/folded Mul node "sequential_1\/batch_normalization_1\/batchnorm\/mul_1" into layer 0/);
    expect(notes("torch-named")).toBe('BatchNorm "bn1" folded into "fc1" (eps 0.00001)');
    expect(notes("numpy")).toBe("layer order from the shapes: hidden, out");
  });

  it("the tanh net fails with a named error, as ONNX and as a state_dict", () => {
    const onnxTanh = manifest.fixtures.find((f) => f.name === "torch-tanh")!;
    expect(errorOf(() => importFixture(onnxTanh)).message).toMatch(/torch-tanh\.onnx: unsupported op "Tanh" \(Tanh node "\/1\/Tanh"\); supported: Gemm, .*Relu/);
    const state = manifest.fixtures.find((f) => f.name === "torch-tanh-state")!;
    expect(errorOf(() => importFixture(state, {})).message).toMatch(/torch-tanh\.safetensors: a state_dict records no activation functions; if every hidden layer is followed by ReLU, pass --activation relu/);
    expect(errorOf(() => importFixture(state, { activation: "tanh" })).message).toMatch(/--activation "tanh" is not supported/);
  });

  it("external data: needs the model's folder, stays inside it, and its ranges are checked", () => {
    const f = manifest.fixtures.find((x) => x.name === "dynamo")!;
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, "dynamo.onnx")));
    expect(errorOf(() => importOnnx(bytes, "dynamo.onnx")).message).toMatch(/keeps its data in "dynamo\.onnx\.data"; import from the model file/);
    expect(importFixture(f).layers).toHaveLength(3);
    const model = ModelProto.decode(bytes);
    const withLocation = (loc: string, extra: Record<string, string> = {}) => {
      const m = ModelProto.decode(bytes);
      for (const t of m.graph!.initializer!) {
        const kv = new Map(t.externalData!.map((e) => [e.key!, e.value!]));
        kv.set("location", loc);
        for (const [k, v] of Object.entries(extra)) kv.set(k, v);
        t.externalData = [...kv].map(([key, value]) => ({ key, value }));
      }
      return ModelProto.encode(m).finish();
    };
    const dir = mkdtempSync(join(tmpdir(), "rankgate-ext-"));
    try {
      mkdirSync(join(dir, "model"));
      writeFileSync(join(dir, "outside.data"), readFileSync(join(FIXTURES, "dynamo.onnx.data")));
      symlinkSync(join(dir, "outside.data"), join(dir, "model", "link.data"));
      const base = join(dir, "model");
      const err = (b: Uint8Array) => errorOf(() => importOnnx(b, "m.onnx", { baseDir: base })).message;
      expect(err(withLocation("../outside.data"))).toMatch(/tensor "val_0": external data location "\.\.\/outside\.data" must be a relative path inside the model's folder/);
      expect(err(withLocation(join(dir, "outside.data")))).toMatch(/must be a relative path/);
      expect(err(withLocation("link.data"))).toMatch(/resolves outside the model's folder/);
      expect(err(withLocation("missing.data"))).toMatch(/"missing\.data" not found next to the model/);
      writeFileSync(join(base, "m.onnx.data"), readFileSync(join(FIXTURES, "dynamo.onnx.data")));
      const size = readFileSync(join(base, "m.onnx.data")).length;
      expect(err(withLocation("m.onnx.data", { offset: String(size - 4) }))).toMatch(new RegExp(`tensor "val_0": external data "m\\.onnx\\.data" range \\[${size - 4}, ${size + 12}\\) runs past its end \\(${size} bytes\\)`));
      expect(err(withLocation("m.onnx.data", { length: "12" }))).toMatch(/external data length 12 bytes, expected 16 for its dims/);
      expect(err(withLocation("m.onnx.data", { offset: "-4" }))).toMatch(/offset "-4" is not a non-negative integer/);
      expect(importOnnx(withLocation("m.onnx.data"), "m.onnx", { baseDir: base }).layers).toHaveLength(3);
      expect(model.graph!.initializer!.length).toBe(7);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("importOnnx resource bounds and hostile names", () => {
  const mlp = randomModel([6, 5, 3], 12);

  it("a graph with more than ONNX_MAX_NODES nodes is refused before decoding (80,000 readers of the input)", () => {
    const g = gemmGraph(mlp);
    for (let i = 0; i < 80_000; i++) g.nodes.push(node("Relu", ["input"], [`r${i}`], `r${i}`));
    const err = errorOf(() => importOnnx(encodeModel(g), "wide.onnx"));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(new RegExp(`GraphProto\\.node at offset \\d+: expected at most ${ONNX_MAX_NODES} \\(ONNX_MAX_NODES\\), got more nodes`));
  });

  it("int64 arrays and nesting the decoder would blow up are refused before decoding", () => {
    const g = gemmGraph(mlp);
    g.inits.push({ name: "big", dims: [300_000], dataType: TensorProto.DataType.INT64, int64Data: Array.from({ length: 300_000 }, (_, i) => i % 7) });
    const err = errorOf(() => importOnnx(encodeModel(g), "ints.onnx"));
    expect(err.message).toMatch(new RegExp(`ints\\.onnx: ModelProto at offset \\d+: expected at most ${ONNX_MAX_DECODED_VALUES} \\(ONNX_MAX_DECODED_VALUES\\), got more values to decode`));
    const deep = gemmGraph(mlp);
    let type: onnx.ITypeProto = { tensorType: { elemType: FLOAT } };
    for (let i = 0; i < 100; i++) type = { sequenceType: { elemType: type } };
    deep.output = [...deep.output!, { name: "nested", type }];
    expect(errorOf(() => importOnnx(encodeModel(deep), "deep.onnx")).message).toMatch(new RegExp(`expected at most ${ONNX_MAX_NESTING} \\(ONNX_MAX_NESTING\\)`));
  });

  it("many readers of one tensor under the limit: a bounded one-line branch error", () => {
    const g = gemmGraph(mlp);
    for (let i = 0; i < 5_000; i++) g.nodes.push(node("Relu", ["input"], [`r${i}`], `r${i}`));
    const msg = onnxError(g).message;
    expect(msg).toMatch(/the graph branches: tensor "input" feeds .* and 4997 more/);
    expect(msg.length).toBeLessThan(400);
  });

  it("Transposes of one big initializer share it; a chain reusing it for many layers hits the weight budget", () => {
    const n = 300;
    const w = tensorProto({ name: "W", dims: [n, n], values: new Float32Array(n * n).fill(0.001), raw: true });
    const nodes: onnx.INodeProto[] = [];
    for (let i = 0; i < 300; i++) nodes.push({ ...node("Transpose", ["W"], [`T${i}`], `t${i}`), attribute: [{ name: "perm", type: AttributeProto.AttributeType.INTS, ints: [1, 0] }] });
    // one layer using one transpose: the other 299 cost nothing
    const one = { nodes: [...nodes, node("MatMul", ["input", "T7"], ["output"], "mm")], inits: [w], input: [valueInfo("input", ["b", n])], output: [valueInfo("output", ["b", n])] };
    const model = importOnnx(encodeModel(one), "t.onnx");
    expect(model.layers[0].weight[0]).toBe(Math.fround(0.001));
    // 40 layers of the same 360 KB initializer: more than ONNX_MAX_WEIGHT_EXPANSION × the file
    const many: onnx.INodeProto[] = [...nodes];
    let cur = "input";
    for (let i = 0; i < 40; i++) {
      const out = i === 39 ? "output" : `h${i}`;
      many.push(node("MatMul", [cur, `T${i}`], [i === 39 ? out : `m${i}`], `mm${i}`));
      if (i < 39) many.push(node("Relu", [`m${i}`], [out], `relu${i}`));
      cur = out;
    }
    const err = onnxError({ nodes: many, inits: [w], input: [valueInfo("input", ["b", n])], output: [valueInfo("output", ["b", n])] });
    expect(err.message).toMatch(new RegExp(`the weights would exceed ${ONNX_MAX_WEIGHT_EXPANSION}× the bytes read \\(ONNX_MAX_WEIGHT_EXPANSION\\)`));
  });

  it("node and tensor names are escaped and bounded in every message", () => {
    const g = gemmGraph(mlp);
    const evil = "evil\n\u001b[2J\u0007" + "x".repeat(10_000);
    g.nodes[1] = node("Tanh\u001b[31m", g.nodes[1].input!, g.nodes[1].output!, evil);
    const msg = onnxError(g).message;
    expect(msg).toContain('unsupported op "Tanh\\u001b[31m" (Tanh\\u001b[31m node "evil\\n\\u001b[2J\\u0007xx');
    expect(msg).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(msg.length).toBeLessThan(800);
    const missing = gemmGraph(mlp);
    missing.nodes[0].input![1] = "w\r\n" + "y".repeat(5000);
    expect(onnxError(missing).message).toMatch(/missing initializer "w\\r\\nyyy.*… \(5003 characters\) \(its weight\)$/);
  });

  it("folds a per-feature input normalization and constant Mul/Sub/Div after a layer, in float64", () => {
    const g = gemmGraph(TINY);
    g.inits.push(tensorProto({ name: "mean", dims: [1, 3], values: [1, 2, 3] }), tensorProto({ name: "std", dims: [3], values: [2, 4, 0.5] }), tensorProto({ name: "k", dims: [2], values: [3, -1] }));
    g.nodes[0].input![0] = "norm";
    g.nodes.unshift(node("Sub", ["input", "mean"], ["centred"], "sub"), node("Div", ["centred", "std"], ["norm"], "div"));
    const gemm1 = g.nodes.find((n) => n.name === "/0/Gemm")!;
    gemm1.output = ["g0"];
    g.nodes.splice(g.nodes.indexOf(gemm1) + 1, 0, node("Mul", ["g0", "k"], ["m0"], "mul"), node("Sub", ["k", "m0"], ["/0/Gemm_output_0"], "rsub"));
    const model = importOnnx(encodeModel(g), "n.onnx");
    const x = [5, -2, 7];
    const xn = [(5 - 1) / 2, (-2 - 2) / 4, (7 - 3) / 0.5];
    const h = [0, 1].map((j) => [3, -1][j] - [3, -1][j] * (TINY.layers[0].bias[j] + xn.reduce((a, v, i) => a + v * TINY.layers[0].weight[j * 3 + i], 0)));
    const want = [0, 1].map((j) => TINY.layers[1].bias[j] + h.reduce((a, v, i) => a + Math.max(0, v) * TINY.layers[1].weight[j * 2 + i], 0));
    const got = forwardFloat(model, Float32Array.from(x), 1).at(-1)!;
    want.forEach((v, j) => expect(got[j]).toBeCloseTo(v, 4));
    expect(model.notes.join(" ")).toMatch(/input normalization \(Sub "mean", Div "std"\)/);
    // a constant that would broadcast to another shape ([3, 1] against [N, 3] gives [N, 3, 3]) is refused
    const column = gemmGraph(TINY);
    column.inits.push(tensorProto({ name: "col", dims: [3, 1], values: [1, 2, 3] }));
    column.nodes[0].input![0] = "shifted";
    column.nodes.unshift(node("Sub", ["input", "col"], ["shifted"], "sub"));
    expect(onnxError(column).message).toMatch(/Sub node "sub": constant "col" has shape \[3,1\]; on the input it must hold one value or one per feature in the data's shape \[3\]/);
  });

  it("names what it does not support: Tanh and Sigmoid between layers, Conv, a Div of a constant by data, Softmax mid-graph", () => {
    for (const op of ["Tanh", "Sigmoid", "Conv", "LeakyRelu", "constructor", "toString"]) {
      const g = gemmGraph(mlp);
      g.nodes[1] = node(op, g.nodes[1].input!, g.nodes[1].output!, `/1/${op}`);
      expect(onnxError(g).message).toMatch(new RegExp(`unsupported op "${op}" \\(${op} node "/1/${op}"\\); supported: `));
    }
    const sm = gemmGraph(mlp);
    sm.nodes[1] = node("Softmax", sm.nodes[1].input!, sm.nodes[1].output!, "/1/Softmax");
    expect(onnxError(sm).message).toMatch(/Gemm node "\/2\/Gemm" follows the final Softmax\/LogSoftmax/);
  });
});

describe("importSafetensors state_dicts", () => {
  const mlp = randomModel([6, 5, 4, 3], 31);
  const named = (names: string[]) => {
    const out: Record<string, Tensor> = {};
    mlp.layers.forEach((l, i) => {
      out[`${names[i]}.weight`] = f32([l.nOut, l.nIn], l.weight);
      out[`${names[i]}.bias`] = f32([l.nOut], l.bias);
    });
    return out;
  };

  it("orders named modules by the numbers in their names, or by the shape chain when names carry none", () => {
    expectSameModel(importSafetensors(file(named(["fc1", "fc2", "fc10"])), "m", RELU), mlp);
    expectSameModel(importSafetensors(file(named(["enc.block2.lin", "enc.block2.lin3", "head9"])), "m", RELU), mlp);
    const r = importSafetensors(file(named(["input", "hidden", "out"])), "m", RELU);
    expectSameModel(r, mlp);
    expect(r.notes).toEqual(["layer order from the shapes: input, hidden, out"]);
  });

  it("an ambiguous order asks for --layers, which settles it", () => {
    const square = randomModel([4, 4, 4, 4], 3);
    const t: Record<string, Tensor> = {};
    ["a", "b", "c"].forEach((n, i) => {
      t[`${n}.weight`] = f32([4, 4], square.layers[i].weight);
      t[`${n}.bias`] = f32([4], square.layers[i].bias);
    });
    expect(stError(t).message).toMatch(/cannot tell the layer order: "a", "b", "c" carry no layer number and more than one order of the shapes chains; pass --layers .*e\.g\. --layers a,b,c/);
    expectSameModel(importSafetensors(file(t), "m", { ...RELU, layers: ["a", "b", "c"] }), square);
    const back = importSafetensors(file(t), "m", { ...RELU, layers: ["c", "a", "b"] });
    expect(Array.from(back.layers[0].weight)).toEqual(Array.from(square.layers[2].weight));
    expect(stError(t, { ...RELU, layers: ["a", "b"] }).message).toMatch(/--layers leaves out "c"/);
    expect(stError(t, { ...RELU, layers: ["a", "b", "zz"] }).message).toMatch(/--layers names "zz", which is no module/);
    expect(stError(t, { ...RELU, layers: ["a", "a", "b"] }).message).toMatch(/--layers names "a" twice/);
  });

  it("folds BatchNorm (weight, bias, running stats, num_batches_tracked) into the layer before it, in float64", () => {
    const t = named(["0", "3", "5"]);
    const bn = { weight: [1.5, -0.5, 2, 1, 0.25], bias: [0.1, 0.2, -0.3, 0, 1].map(Math.fround), mean: [0.5, -1, 2, 0, 0.25], var: [1, 4, 0.25, 2, 9] };
    Object.assign(t, {
      "1.weight": f32([5], bn.weight), "1.bias": f32([5], bn.bias), "1.running_mean": f32([5], bn.mean), "1.running_var": f32([5], bn.var),
      "1.num_batches_tracked": { dtype: "I32", shape: [], data: new Int32Array([7]) } as Tensor,
    });
    const m = importSafetensors(file(t), "bn.safetensors", RELU);
    const l0 = mlp.layers[0];
    for (let j = 0; j < 5; j++) {
      const s = bn.weight[j] / Math.sqrt(bn.var[j] + 1e-5);
      expect(m.layers[0].bias[j]).toBe(Math.fround(l0.bias[j] * s + (bn.bias[j] - bn.mean[j] * s)));
      for (let i = 0; i < 6; i++) expect(m.layers[0].weight[j * 6 + i]).toBe(Math.fround(l0.weight[j * 6 + i] * s));
    }
    expect(m.notes).toEqual(['BatchNorm "1" folded into "0" (eps 0.00001)']);
    const eps = importSafetensors(file(t), "bn.safetensors", { ...RELU, bnEps: 1e-3 });
    const s1 = -0.5 / Math.sqrt(4 + 1e-3);
    expect(eps.layers[0].bias[1]).toBe(Math.fround(l0.bias[1] * s1 + (bn.bias[1] - -1 * s1)));
    const first = { ...t, "0.running_mean": f32([5]) };
    expect(stError(first).message).toMatch(/BatchNorm "0" has running_mean but no/);
    const bad = { ...t, "1.running_var": f32([5], [1, -1, 1, 1, 1]) };
    expect(stError(bad).message).toMatch(/BatchNorm "1": variance \+ eps at channel 1 is -0\.99999/);
  });

  it("rankgate checkpoints need no --activation; other activations in metadata are refused", () => {
    const meta = (m: Record<string, string>) => writeSafetensors(checkpointTensors(mlp), m);
    expectSameModel(importSafetensors(meta({ format: '"rankgate-float-mlp/1"' }), "old.safetensors"), mlp);
    expectSameModel(importSafetensors(meta({ format: "onnx", source: "x.onnx", sizes: "6,5,4,3" }), "import-v0.safetensors"), mlp);
    expectSameModel(importSafetensors(meta({ activation: '"relu"' }), "a.safetensors"), mlp);
    expect(errorOf(() => importSafetensors(meta({ activation: '"tanh"' }), "t.safetensors")).message).toMatch(/t\.safetensors: metadata records activation "tanh"; rankgate runs ReLU MLPs only/);
    expect(errorOf(() => importSafetensors(meta({}), "f.safetensors")).message).toMatch(/records no activation functions/);
  });

  it("a layer index holding only gate.* or only est.* tensors is a named error, not a crash", () => {
    const t = checkpointTensors(mlp);
    const gateOnly = { ...t, "layers.7.gate.weight": f32([1, 4]), "layers.7.gate.bias": f32([1]) };
    expect(stError(gateOnly).message).toMatch(/tensor "layers\.7\.gate\.(weight|bias)" belongs to layer "layers\.7", which has no weight "layers\.7\.weight"/);
    const estOnly = { ...t, "layers.9.est.a": f32([1, 4]) };
    expect(stError(estOnly).message).toMatch(/tensor "layers\.9\.est\.a" belongs to layer "layers\.9", which has no weight/);
  });
});

// CLI

const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const DIST = fileURLToPath(new URL("../cli/dist/rankgate.js", import.meta.url));

describe("rankgate import", () => {
  let dir = "";
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "" } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, errLines: r.stderr.split("\n").filter((l) => l.trim()) };
  };
  const mlp = randomModel([20, 16, 4], 9);

  beforeAll(() => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` before the CLI tests`);
    dir = mkdtempSync(join(tmpdir(), "rankgate-import-"));
    writeFileSync(join(dir, "fixture.onnx"), encodeModel(gemmGraph(mlp, { raw: true })));
    writeFileSync(join(dir, "torch.bin"), file(torchDict(mlp, "net.")));
    writeFileSync(join(dir, "bad.onnx"), encodeModel({ ...gemmGraph(mlp), nodes: [node("Conv", ["input"], ["output"], "/c/Conv")] }));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("writes the checkpoint with metadata and prints one summary line", () => {
    const r = cli("import", "fixture.onnx", "-o", "out.safetensors");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    expect(r.stdout).toContain("2 layers");
    expect(r.stdout).toContain("20-16-4");
    const st = readSafetensors(new Uint8Array(readFileSync(join(dir, "out.safetensors"))), "out.safetensors");
    expect(st.metadata).toEqual({ sizes: "[20,16,4]", source: '"fixture.onnx"', from: '"onnx"', format: '"rankgate-float-mlp/1"', activation: '"relu"' });
    expect([...st.tensors.keys()].sort()).toEqual(["layers.0.bias", "layers.0.weight", "layers.1.bias", "layers.1.weight"]);
    expect(st.tensors.get("layers.0.weight")!.shape).toEqual([16, 20]);
    expectSameModel(importSafetensors(new Uint8Array(readFileSync(join(dir, "out.safetensors"))), "out.safetensors"), mlp);
    // a checkpoint written by import needs no --activation to be read again
    expect(importSafetensors(new Uint8Array(readFileSync(join(dir, "out.safetensors"))), "out.safetensors").notes).toEqual([]);
  });

  it("--format overrides the extension", () => {
    const r = cli("import", "torch.bin", "--format", "safetensors", "--activation", "relu", "-o", "t.safetensors");
    expect(r.code, r.stderr).toBe(0);
    expect(readSafetensors(new Uint8Array(readFileSync(join(dir, "t.safetensors"))), "t").metadata.from).toBe('"safetensors"');
  });

  it("imports the exporter fixtures, prints what it folded and dropped, and folds --input-mean/--input-std", () => {
    const r = cli("import", join(FIXTURES, "skl2onnx.onnx"), "-o", "skl.safetensors");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^note: dropped classifier post-processing .*\nnote: folded the input normalization \(Mul "scale"\).*\nnote: dropped the final Softmax node "Softmax".*\n.*skl2onnx\.onnx \(onnx\) -> skl\.safetensors: 2 layers, sizes 64-32-10, 2,410 parameters\n$/);
    const dyn = cli("import", join(FIXTURES, "dynamo.onnx"), "-o", "dyn.safetensors");
    expect(dyn.code, dyn.stderr).toBe(0);
    expect(dyn.stdout).toContain("sizes 64-32-16-10");
    const numpy = join(FIXTURES, "numpy.safetensors");
    const plain = cli("import", numpy, "--activation", "relu", "-o", "plain.safetensors");
    const folded = cli("import", numpy, "--activation", "relu", "--input-std", "16", "-o", "folded.safetensors");
    expect([plain.code, folded.code]).toEqual([0, 0]);
    const w = (f: string) => importSafetensors(new Uint8Array(readFileSync(join(dir, f))), f).layers[0];
    expect(w("folded.safetensors").weight[3]).toBe(Math.fround(w("plain.safetensors").weight[3] / 16));
    const perFeature = cli("import", numpy, "--activation", "relu", "--input-mean", "1,2", "-o", "pf.safetensors");
    expect(perFeature.code).toBe(1);
    expect(perFeature.stderr).toMatch(/mean has 2 values; expected 1 or 64 \(the model's inputs\)/);
  });

  it("refuses an output that is a link to the input", () => {
    writeFileSync(join(dir, "in.safetensors"), file(torchDict(mlp)));
    symlinkSync(join(dir, "in.safetensors"), join(dir, "link.safetensors"));
    const r = cli("import", "in.safetensors", "--activation", "relu", "-o", "link.safetensors");
    expect(r.code).toBe(1);
    expect(r.errLines[0]).toMatch(/link\.safetensors: output would overwrite the input/);
    expect(readFileSync(join(dir, "in.safetensors"))).toEqual(Buffer.from(file(torchDict(mlp))));
  });

  it.each([
    [["import", "torch.bin", "--format", "safetensors", "-o", "x.safetensors"], ["torch.bin", "records no activation", "--activation relu"]],
    [["import", "fixture.onnx", "--activation", "relu", "-o", "x.safetensors"], ["--activation applies to safetensors"]],
    [["import", "bad.onnx", "-o", "x.safetensors"], ["bad.onnx", "Conv", "/c/Conv"]],
    [["import", "torch.bin", "-o", "x.safetensors"], ["torch.bin", "--format"]],
    [["import", "missing.onnx", "-o", "x.safetensors"], ["missing.onnx", "no such file"]],
    [["import", "fixture.onnx", "-o", "no/dir/x.safetensors"], ["no such directory"]],
  ])("%j exits 1 with one line", (args, parts) => {
    const r = cli(...args);
    expect(r.code, r.stderr).toBe(1);
    expect(r.errLines).toHaveLength(1);
    expect(r.errLines[0]).toMatch(/^rankgate: /);
    for (const p of parts) expect(r.errLines[0]).toContain(p);
    expect(r.stdout).toBe("");
    expect(existsSync(join(dir, "x.safetensors"))).toBe(false);
  });
});
