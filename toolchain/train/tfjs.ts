// TF.js compute for training: tfjs-core ops on the wasm backend (XNNPACK, SIMD binary from the installed
// package, one thread in Node) or the plain-JS cpu backend. The wasm backend only takes its fast GEMM path
// for matMul without transpose flags (about 10× faster than with one), so weights live transposed,
// Wᵀ [nIn, nOut], and every other product transposes an operand explicitly first.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import type { FloatModel } from "../../runtime/src/index.ts";
import { checkModel, emptyCounts, factorRank, type EstimatorFactors, type EvalCounts, type MlpCompute, type StepParams } from "./compute.ts";

export type TfBackend = "wasm" | "cpu";

const WASM_FILES = ["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm"];
let pathsSet = false;

/**
 * Selects a TF.js backend. The wasm binaries are the installed package's own files, read from disk
 * (never fetched: the file map is passed with usePlatformFetch = false). Production mode: no debug
 * checks, and no "install tfjs-node" banner from the cpu backend.
 */
export async function initTf(backend: TfBackend): Promise<void> {
  if (!tf.env().getBool("PROD")) tf.enableProdMode();
  if (backend === "wasm" && !pathsSet) {
    const dist = join(dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist");
    setWasmPaths(Object.fromEntries(WASM_FILES.map((f) => [f, join(dist, f)])), false);
    pathsSet = true;
  }
  if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) {
    throw new Error(`TF.js backend "${backend}" failed to initialise`);
  }
  await tf.ready();
}

interface TfLayer {
  nIn: number;
  nOut: number;
  /** Wᵀ [nIn, nOut]. */
  wt: tf.Tensor2D;
  b: tf.Tensor1D;
  vwt: tf.Tensor2D;
  vb: tf.Tensor1D;
  /** Estimator A [nIn, k] and B [k, nOut]. */
  fa: tf.Tensor2D | null;
  fb: tf.Tensor2D | null;
  /** Estimator offset [nOut] added to the bias in the decision. */
  fo: tf.Tensor1D | null;
}

const transpose32 = (w: Float32Array, rows: number, cols: number) => {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
};

/** Caller awaits `initTf(backend)` first; all tensors belong to this object until `dispose()`. */
export class TfCompute implements MlpCompute {
  private layers: TfLayer[] = [];
  constructor(readonly name: TfBackend) {
    if (tf.getBackend() !== name) throw new Error(`TfCompute("${name}"): await initTf("${name}") first (active: ${tf.getBackend()})`);
  }

  load(model: FloatModel): void {
    checkModel(model);
    this.dispose();
    this.layers = model.layers.map((l) => ({
      nIn: l.nIn, nOut: l.nOut,
      wt: tf.tensor2d(transpose32(l.weight, l.nOut, l.nIn), [l.nIn, l.nOut]),
      b: tf.tensor1d(l.bias.slice()),
      vwt: tf.zeros([l.nIn, l.nOut]), vb: tf.zeros([l.nOut]), fa: null, fb: null, fo: null,
    }));
  }

  save(): FloatModel {
    return {
      layers: this.layers.map((l) => ({
        nIn: l.nIn, nOut: l.nOut,
        weight: transpose32(l.wt.dataSync() as Float32Array, l.nIn, l.nOut),
        bias: (l.b.dataSync() as Float32Array).slice(),
      })),
    };
  }

  setFactors(factors: (EstimatorFactors | null | undefined)[]): void {
    this.layers.forEach((l, i) => {
      l.fa?.dispose();
      l.fb?.dispose();
      l.fo?.dispose();
      l.fa = l.fb = null;
      l.fo = null;
      const f = i < this.layers.length - 1 ? factors[i] : null;
      if (!f) return;
      const k = factorRank(f, l.nIn, l.nOut, i);
      l.fa = tf.tensor2d(transpose32(Float32Array.from(f.at), k, l.nIn), [l.nIn, k]);
      l.fb = tf.tensor2d(transpose32(Float32Array.from(f.bt), l.nOut, k), [k, l.nOut]);
      if (f.offset) l.fo = tf.tensor1d(Float32Array.from(f.offset));
    });
  }

  /** Hidden outputs relu(z)·m and logits; with `stats`, also z > 0 and m per hidden layer. */
  private forward(x: tf.Tensor2D, stats: boolean) {
    const outs: tf.Tensor2D[] = [], pos: tf.Tensor2D[] = [], masks: (tf.Tensor2D | null)[] = [];
    const last = this.layers.length - 1;
    let a = x;
    this.layers.forEach((l, li) => {
      if (li === last) {
        outs.push(tf.add(tf.matMul(a, l.wt), l.b));
        return;
      }
      let h: tf.Tensor2D;
      let mask: tf.Tensor2D | null = null;
      if (stats) {
        const z = tf.add(tf.matMul(a, l.wt), l.b) as tf.Tensor2D;
        pos.push(tf.step(z, 0));
        h = tf.relu(z);
      } else h = tf.fused.matMul({ a, b: l.wt, bias: l.b, activation: "relu" }) as tf.Tensor2D;
      if (l.fa && l.fb) {
        let est = tf.add(tf.matMul(tf.matMul(a, l.fa), l.fb), l.b);
        if (l.fo) est = tf.add(est, l.fo);
        mask = tf.step(est, 0) as tf.Tensor2D;
        h = tf.mul(h, mask) as tf.Tensor2D;
      }
      masks.push(mask);
      outs.push(h);
      a = h;
    });
    return { outs, pos, masks };
  }

  step(x: Float32Array, labels: Uint8Array, count: number, p: StepParams): number {
    const last = this.layers.length - 1;
    const nCls = this.layers[last].nOut;
    const result = tf.tidy(() => {
      const x0 = tf.tensor2d(x.subarray(0, count * this.layers[0].nIn), [count, this.layers[0].nIn]);
      const y = tf.cast(tf.oneHot(tf.tensor1d(labels.subarray(0, count), "int32"), nCls), "float32");
      const { outs } = this.forward(x0, false);
      const lsm = tf.logSoftmax(outs[last]);
      let objective = tf.neg(tf.sum(tf.mul(y, lsm)));
      let g = tf.sub(tf.exp(lsm), y) as tf.Tensor2D;
      if (p.distill) {
        const { alpha, temperature: t } = p.distill;
        const soft = tf.tensor2d(p.distill.soft.subarray(0, count * nCls), [count, nCls]);
        const lsmT = tf.logSoftmax(tf.div(outs[last], t));
        objective = tf.add(tf.mul(objective, 1 - alpha), tf.mul(tf.neg(tf.sum(tf.mul(soft, lsmT))), alpha * t * t));
        g = tf.add(tf.mul(g, 1 - alpha), tf.mul(tf.sub(tf.exp(lsmT), soft), alpha * t)) as tf.Tensor2D;
      }
      g = tf.div(g, count) as tf.Tensor2D;
      for (let li = 0; li < last; li++) if (p.l1[li] > 0) objective = tf.add(objective, tf.mul(tf.sum(outs[li]), p.l1[li]));
      const next: tf.Tensor[] = [];
      for (let li = last; li >= 0; li--) {
        const l = this.layers[li];
        const xin = li === 0 ? x0 : outs[li - 1];
        // Gradients: dWᵀ = xᵀ·g, db = Σ g, dx = g·W
        const dwt = tf.matMul(tf.transpose(xin), g);
        const db = tf.sum(g, 0);
        if (li > 0) {
          let gx = tf.matMul(g, tf.transpose(l.wt));
          if (p.l1[li - 1] > 0) gx = tf.add(gx, p.l1[li - 1] / count);
          g = tf.mul(gx, tf.step(xin, 0));
        }
        // Momentum update
        const vwt = tf.add(tf.mul(l.vwt, p.momentum), dwt), vb = tf.add(tf.mul(l.vb, p.momentum), db);
        next.push(tf.sub(l.wt, tf.mul(vwt, p.lr)), tf.sub(l.b, tf.mul(vb, p.lr)), vwt, vb);
      }
      return { next, objective: tf.div(objective, count) };
    });
    for (let li = last, o = 0; li >= 0; li--, o += 4) {
      const l = this.layers[li];
      tf.dispose([l.wt, l.b, l.vwt, l.vb]);
      [l.wt, l.b, l.vwt, l.vb] = result.next.slice(o, o + 4) as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D];
    }
    const loss = result.objective.dataSync()[0];
    result.objective.dispose();
    return loss;
  }

  evaluate(x: Float32Array, labels: Uint8Array, count: number): EvalCounts {
    const last = this.layers.length - 1;
    const nHidden = last;
    const values = tf.tidy(() => {
      const x0 = tf.tensor2d(x.subarray(0, count * this.layers[0].nIn), [count, this.layers[0].nIn]);
      const lab = tf.tensor1d(labels.subarray(0, count), "int32");
      const { outs, pos, masks } = this.forward(x0, true);
      const logits = outs[last];
      const lossSum = tf.neg(tf.sum(tf.mul(tf.cast(tf.oneHot(lab, this.layers[last].nOut), "float32"), tf.logSoftmax(logits))));
      const errors = tf.sum(tf.cast(tf.notEqual(tf.argMax(logits, 1), lab), "float32"));
      const parts: tf.Tensor[] = [errors, lossSum];
      for (let li = 0; li < nHidden; li++) {
        const m = masks[li];
        parts.push(
          tf.sum(tf.step(outs[li], 0)),
          m ? tf.sum(m) : tf.scalar(count * this.layers[li].nOut),
          tf.sum(pos[li]),
          m ? tf.sum(tf.mul(pos[li], m)) : tf.sum(pos[li]),
        );
      }
      return tf.stack(parts);
    });
    const v = values.dataSync();
    values.dispose();
    const c = emptyCounts(nHidden);
    c.count = count;
    c.errors = Math.round(v[0]);
    c.lossSum = v[1];
    c.layers.forEach((l, i) => {
      l.active = Math.round(v[2 + 4 * i]);
      l.computed = Math.round(v[3 + 4 * i]);
      l.positive = Math.round(v[4 + 4 * i]);
      l.positiveComputed = Math.round(v[5 + 4 * i]);
    });
    return c;
  }

  dispose(): void {
    for (const l of this.layers) tf.dispose([l.wt, l.b, l.vwt, l.vb, ...(l.fa ? [l.fa] : []), ...(l.fb ? [l.fb] : []), ...(l.fo ? [l.fo] : [])]);
    this.layers = [];
  }
}
