// TF.js peer: tfjs-core on @tensorflow/tfjs-backend-wasm (XNNPACK; one thread in Node), the float weights.
import * as tf from "@tensorflow/tfjs-core";
import type { FloatModel } from "../../runtime/src/model.ts";
import { initTf } from "../../toolchain/train/tfjs.ts";
import type { Contender } from "../harness.ts";

/** [rows][cols] → [cols][rows]: the backend's fast GEMM wants Wᵀ [nIn, nOut] without transpose flags. */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/** Each batch: one tf.tidy (fused matMul + bias + ReLU per layer, argMax), then dataSync of the labels. */
export async function tfjsContender(model: FloatModel): Promise<Contender> {
  await initTf("wasm"); // wasm binaries read from the installed package, never fetched
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  const threads = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT");
  const layers = model.layers.map((l) => ({ wt: tf.tensor2d(transpose(l.weight, l.nOut, l.nIn), [l.nIn, l.nOut]), b: tf.tensor1d(l.bias) }));
  const nIn = model.layers[0].nIn, last = layers.length - 1;
  return {
    id: "tfjs_wasm",
    label: `TF.js ${tf.version_core} wasm${simd ? " SIMD" : ""}${threads ? " threaded" : ""}`,
    async run(x, count, batch, labels) {
      for (let i = 0; i < count; i += batch) {
        const b = Math.min(batch, count - i);
        const out = tf.tidy(() => {
          let a: tf.Tensor2D = tf.tensor2d(x.subarray(i * nIn, (i + b) * nIn), [b, nIn]);
          layers.forEach((l, li) => {
            a = tf.fused.matMul({ a, b: l.wt, bias: l.b, activation: li < last ? "relu" : "linear" }) as tf.Tensor2D;
          });
          return tf.argMax(a, 1);
        });
        labels.set(out.dataSync() as Int32Array, i);
        out.dispose();
      }
    },
    dispose: () => layers.forEach((l) => tf.dispose([l.wt, l.b])),
  };
}
