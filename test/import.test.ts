import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import onnxProto from "onnx-proto";
import type { onnx } from "onnx-proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FormatError, UserError } from "../ts/errors.ts";
import { forwardFloat } from "../ts/float.ts";
import { checkpointTensors } from "../ts/import/checkpoint.ts";
import { importOnnx } from "../ts/import/onnx.ts";
import { importSafetensors, type SafetensorsImportOptions } from "../ts/import/safetensors.ts";
import type { FloatModel } from "../ts/model.ts";
import { Rng } from "../ts/random.ts";
import { readSafetensors, writeSafetensors, type Tensor } from "../ts/safetensors.ts";
import { thrown } from "./helpers/errors.ts";

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
    expect(onnxError(alpha).message).toMatch(/"\/0\/Gemm": alpha=0\.5/);
    const transA = gemmGraph(mlp);
    transA.nodes[0].attribute!.push({ name: "transA", type: AttributeProto.AttributeType.INT, i: 1 });
    expect(onnxError(transA).message).toMatch(/"\/0\/Gemm": transA=1/);
    const outs = gemmGraph(mlp);
    outs.output = [...outs.output!, valueInfo("other", [1])];
    expect(onnxError(outs).message).toMatch(/expected one graph output, found 2/);
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

// CLI

const BIN = fileURLToPath(new URL("../bin/rankgate.js", import.meta.url));
const DIST = fileURLToPath(new URL("../dist/rankgate.js", import.meta.url));

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
    expect(st.metadata).toEqual({ sizes: "20,16,4", source: "fixture.onnx", format: "onnx" });
    expect([...st.tensors.keys()].sort()).toEqual(["layers.0.bias", "layers.0.weight", "layers.1.bias", "layers.1.weight"]);
    expect(st.tensors.get("layers.0.weight")!.shape).toEqual([16, 20]);
    expectSameModel(importSafetensors(new Uint8Array(readFileSync(join(dir, "out.safetensors"))), "out.safetensors"), mlp);
  });

  it("--format overrides the extension", () => {
    const r = cli("import", "torch.bin", "--format", "safetensors", "-o", "t.safetensors");
    expect(r.code, r.stderr).toBe(0);
    expect(readSafetensors(new Uint8Array(readFileSync(join(dir, "t.safetensors"))), "t").metadata.format).toBe("safetensors");
  });

  it.each([
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
