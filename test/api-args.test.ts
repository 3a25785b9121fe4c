// The public API's argument checks: every wrong argument is an InputError naming it; nothing of the
// caller's object but its typed-array slots is read (runtime/src/args.ts).
import { describe, expect, it } from "vitest";
import { InputError } from "../runtime/src/errors.ts";
import { readModel } from "../runtime/src/format.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { buildSynthetic } from "../toolchain/model/synthetic.ts";

const { bytes } = buildSynthetic({ sizes: [10, 7, 3], ranks: [2], seed: 5, calibration: 8 });

async function rejects(p: () => unknown, message: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p();
  } catch (e) {
    err = e;
  }
  expect(err, String(message)).toBeInstanceOf(InputError);
  expect((err as Error).message).toMatch(message);
  expect((err as Error).message).not.toContain("\n");
}

describe("public API arguments", () => {
  it("Engine.load: null, undefined, a look-alike, a Proxy, an ArrayBuffer, options of the wrong type", async () => {
    await rejects(() => Engine.load(null as never), /^Engine\.load: bytes must be a Uint8Array, got null$/);
    await rejects(() => Engine.load(undefined as never), /^Engine\.load: bytes must be a Uint8Array, got nothing/);
    // Refused on its type before its size is even read (it was allocated: 7 s and 3.4 GB)
    let reads = 0;
    await rejects(() => Engine.load({ get length() { reads++; return 2e8; } } as never), /got an object \(not a typed array\)/);
    expect(reads).toBe(0);
    await rejects(() => Engine.load(new Proxy(bytes, {}) as never), /got an object \(not a typed array\)/);
    await rejects(() => Engine.load(bytes.buffer as never), /got an object/);
    await rejects(() => Engine.load(new Int8Array(bytes.buffer) as never), /got an Int8Array of length/);
    await rejects(() => Engine.load(bytes, null as never), /^Engine\.load: options must be an object \(or left out\), got null$/);
    await rejects(() => Engine.load(bytes, { trace: 1 } as never), /^Engine\.load: options\.trace must be true, false or left out, got number$/);
    await rejects(() => Engine.load(bytes, { wasm: {} } as never), /^Engine\.load: options\.wasm must be a WebAssembly\.Module/);
    await rejects(() => readModel({ length: 2e8 } as never), /^model: bytes must be a Uint8Array/);
  });

  it("Engine.load reads the bytes' slots, not an own length; a Buffer is a Uint8Array", async () => {
    const odd = bytes.slice();
    Object.defineProperty(odd, "length", { value: 3 });
    expect((await Engine.load(odd)).inputSize).toBe(10);
    expect((await Engine.load(Buffer.from(bytes))).inputSize).toBe(10);
  });

  it("infer / inferBatch: null options, a Proxy, an own length, wrong kinds and lengths", async () => {
    const e = await Engine.load(bytes);
    const x = new Float32Array(10).fill(0.5);
    const want = e.infer(x);
    await rejects(() => e.infer(x, null as never), /^infer: options must be an object \(or left out\), got null$/);
    await rejects(() => e.infer(x, { gating: "no" } as never), /^infer: options\.gating must be true, false or left out, got string$/);
    await rejects(() => e.infer(new Proxy(x, {}) as never), /^infer: input \(real values: Float32Array; quantized: Int8Array\) must be a Float32Array or an Int8Array, got an object \(not a typed array\)$/);
    await rejects(() => e.infer(null as never), /^infer: input .* got null$/);
    await rejects(() => e.infer([0.5] as never), /got an Array$/);
    await rejects(() => e.infer(new Float64Array(10) as never), /got a Float64Array of length 10$/);
    await rejects(() => e.infer(new Float32Array(9)), /^infer: input: Float32Array of length 9, expected 10 \(one sample\)$/);
    // An own `length` cannot make a short array pass: the slot says 4
    const short = new Float32Array(4).fill(0.5);
    Object.defineProperty(short, "length", { value: 10 });
    await rejects(() => e.infer(short), /Float32Array of length 4, expected 10/);
    // … nor make a right-length array fail, nor an own subarray / constructor change what is read
    const own = x.slice();
    Object.defineProperty(own, "length", { value: 3 });
    Object.defineProperty(own, "subarray", { value: () => new Float32Array(10) });
    Object.defineProperty(own, "constructor", { value: Int8Array });
    expect(e.infer(own).logits).toEqual(want.logits);
    // A detached buffer reads as length 0
    const gone = new Float32Array(10);
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    await rejects(() => e.infer(gone), /length 0, expected 10/);
    await rejects(() => e.inferBatch(new Float32Array(15)), /^inferBatch: inputs: Float32Array of length 15, expected one flat array of a positive multiple of 10/);
    await rejects(() => e.inferBatch([x, x] as never), /^inferBatch: inputs .* got an Array$/);
    await rejects(() => e.inferBatch(new Float32Array(20), 7 as never), /^inferBatch: options must be an object/);
    await rejects(() => e.runFlags(null as never), /^options must be an object/);
    // Still usable, same result
    expect(e.infer(x).logits).toEqual(want.logits);
  });

  it("Engine.fromModel: every field type-checked, named; values checked by the reader", async () => {
    const good = readModel(bytes).model;
    const layer = (over: Record<string, unknown>) => ({ layers: [{ ...good.layers[0], ...over }, good.layers[1]] });
    expect((await Engine.fromModel(good)).inputSize).toBe(10);
    await rejects(() => Engine.fromModel(null as never), /^Engine\.fromModel: model must be an object, got null$/);
    await rejects(() => Engine.fromModel({} as never), /^Engine\.fromModel: model\.layers must be an Array, got nothing/);
    await rejects(() => Engine.fromModel({ layers: [] }), /has 0 layers, expected 1 to 256/);
    await rejects(() => Engine.fromModel({ layers: [null] } as never), /^Engine\.fromModel: model\.layers\[0\] must be an object, got null$/);
    await rejects(() => Engine.fromModel(layer({ nIn: 2 ** 32 + 10 })), /layers\[0\]\.nIn must be an integer in \[1, 65535\], got 4294967306/);
    await rejects(() => Engine.fromModel(layer({ activation: "constructor" })), /layers\[0\]\.activation must be "relu" or "none"/);
    await rejects(() => Engine.fromModel(layer({ inZeroPoint: 2 ** 32 })), /inZeroPoint must be an integer in \[-2147483648, 2147483647\]/);
    await rejects(() => Engine.fromModel(layer({ bias: new Int32Array(3) })), /layers\[0\]\.bias has 3 elements, expected 7/);
    await rejects(() => Engine.fromModel(layer({ weights: Array(70).fill(0) })), /layers\[0\]\.weights must be an Int8Array, got an Array/);
    await rejects(() => Engine.fromModel(layer({ estimator: { ...good.layers[0].estimator!, rank: 9 } })), /estimator\.rank must be an integer in \[1, 7\]/);
    await rejects(() => Engine.fromModel(layer({ gate: { blockSize: 2, blocks: 4, weights: new Int8Array(40), threshold: new Int32Array(4) } })), /an estimator and a block gate/);
    const gateOnly = (topK: unknown) => layer({ estimator: null, gate: { blockSize: 2, blocks: 4, weights: new Int8Array(40), threshold: new Int32Array(4), topK } as never });
    await rejects(() => Engine.fromModel(gateOnly(5)), /layers\[0\]\.gate\.topK must be an integer in \[0, 4\], got 5/);
    await rejects(() => Engine.fromModel(gateOnly("1")), /layers\[0\]\.gate\.topK must be an integer in \[0, 4\], got string/);
    // topK left out (a model built before top-k gates): the threshold gate
    expect((await Engine.fromModel(gateOnly(undefined))).model.layers[0].gate!.topK).toBe(0);
    expect((await Engine.fromModel(gateOnly(2))).model.layers[0].gate!.topK).toBe(2);
    await rejects(() => Engine.fromModel(good, { simd: null } as never), /^Engine\.fromModel: options\.simd must be true, false or left out, got null$/);
    // Values are the reader's: a FormatError naming the field
    await expect(Engine.fromModel(layer({ inZeroPoint: 300 }))).rejects.toThrow(/^Engine\.fromModel: model: layers\[0\]\.in_zero_point at offset 80: expected \[-128, 127\], got 300$/);
  });
});
