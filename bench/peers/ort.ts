// onnxruntime-web peers: the wasm backend, one thread, SIMD, no proxy worker; f32 and int8 QDQ models.
import * as ort from "onnxruntime-web";
import type { FloatModel } from "../../runtime/src/model.ts";
import { argmax } from "../../runtime/src/runtime.ts";
import type { Contender } from "../harness.ts";
import { buildOnnxF32, buildOnnxQdq, ONNX_INPUT, ONNX_OUTPUT, type QdqDescription } from "./onnx-models.ts";

export const ORT_VERSION: string = ort.env.versions.web ?? "?";

/** Must run before the first session: onnxruntime fixes its thread pool when the wasm module starts. */
export function configureOrt(): void {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
}

/** One InferenceSession on the wasm backend; configureOrt() first. */
export async function ortContender(id: string, label: string, bytes: Uint8Array, nIn: number, nOut: number): Promise<Contender> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all", executionMode: "sequential", intraOpNumThreads: 1, interOpNumThreads: 1 });
  return {
    id,
    label,
    async run(x, count, batch, labels) {
      for (let i = 0; i < count; i += batch) {
        const b = Math.min(batch, count - i);
        const out = await session.run({ [ONNX_INPUT]: new ort.Tensor("float32", x.subarray(i * nIn, (i + b) * nIn), [b, nIn]) });
        const y = out[ONNX_OUTPUT].data as Float32Array;
        for (let s = 0; s < b; s++) labels[i + s] = argmax(y.subarray(s * nOut, (s + 1) * nOut));
      }
    },
    dispose: () => void session.release(),
  };
}

/** The f32 model and the int8 QDQ model (calibrated on `calibration`) of `model`, as two contenders. */
export async function ortContenders(model: FloatModel, calibration: Float32Array, calibrationCount: number): Promise<{ contenders: Contender[]; qdq: QdqDescription }> {
  configureOrt();
  const nIn = model.layers[0].nIn, nOut = model.layers[model.layers.length - 1].nOut;
  const q = buildOnnxQdq(model, calibration, calibrationCount);
  const contenders = [
    await ortContender("ort_f32", `onnxruntime-web ${ORT_VERSION} f32`, buildOnnxF32(model), nIn, nOut),
    await ortContender("ort_int8_qdq", `onnxruntime-web ${ORT_VERSION} int8 QDQ`, q.bytes, nIn, nOut),
  ];
  if (ort.env.wasm.numThreads !== 1) throw new Error(`onnxruntime-web runs ${ort.env.wasm.numThreads} threads, expected 1`);
  return { contenders, qdq: q.description };
}
