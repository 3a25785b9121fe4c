// Random float MLPs, quantized and written as .rgm: core tests need no data set.
import { crc32, ALIGN, ENTRY_BYTES, ENTRY_BYTES_V1, HEADER_BYTES, SECTIONS, writeModel, type FloatModel, type QuantModel, quantizeInput, run_s8 } from "../../runtime/src/index.ts";
import { quantizeModel, type EstimatorKind } from "../quantize/quantize.ts";
import { Rng } from "./random.ts";

export interface SyntheticOptions {
  /** Layer widths, input first: [nIn, hidden..., nOut]. */
  sizes: number[];
  /** Estimator rank per layer (0: none); the last layer is never gated. */
  ranks?: number[];
  margins?: number[];
  estimator?: EstimatorKind;
  seed?: number;
  /** Calibration samples (default 64). */
  calibration?: number;
  /** Fraction of input values that are exactly zero, as in MNIST (default 0.5). */
  inputZeros?: number;
  /** Block gate size per layer (0 or absent: none); a gated layer drops its estimator. */
  gates?: number[];
}

/** Inputs in [0, 1) with a share of exact zeros. */
export function syntheticInputs(rng: Rng, count: number, n: number, zeros = 0.5): Float32Array {
  const x = new Float32Array(count * n);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() < zeros ? 0 : rng.next();
  return x;
}

/** He-initialised weights with small random biases. */
export function syntheticFloat(rng: Rng, sizes: number[]): FloatModel {
  return {
    layers: sizes.slice(1).map((nOut, l) => {
      const nIn = sizes[l];
      const sd = Math.sqrt(2 / nIn);
      return {
        nIn, nOut,
        weight: Float32Array.from({ length: nOut * nIn }, () => rng.normal() * sd),
        bias: Float32Array.from({ length: nOut }, () => rng.normal() * 0.1),
      };
    }),
  };
}

export function buildSynthetic(options: SyntheticOptions) {
  const rng = new Rng(options.seed ?? 1);
  const float = syntheticFloat(rng, options.sizes);
  const count = options.calibration ?? 64;
  const calibration = syntheticInputs(rng, count, options.sizes[0], options.inputZeros);
  const model = quantizeModel(float, calibration, count, {
    ranks: options.ranks, margins: options.margins, estimator: options.estimator, inputRange: { min: 0, max: 1 },
  });
  if (options.gates?.some((b) => b > 0)) addGates(model, rng, options.gates, calibration.subarray(0, options.sizes[0]));
  return { float, model, bytes: writeModel(model), calibration, rng };
}

/**
 * Random int8 block gates on the hidden layers with blockSizes[l] > 0 (the estimator is dropped).
 * Thresholds sit near each block's score on `sample` (float, one input), ± a random spread, so
 * some blocks run and some do not.
 */
export function addGates(model: QuantModel, rng: Rng, blockSizes: number[], sample: Float32Array): QuantModel {
  const l0 = model.layers[0];
  let a = quantizeInput(sample, l0.inScale, l0.inZeroPoint, new Int8Array(l0.nIn));
  model.layers.forEach((layer, l) => {
    const blockSize = Math.min(blockSizes[l] ?? 0, layer.nOut);
    if (blockSize > 0 && layer.activation === "relu") {
      const blocks = Math.ceil(layer.nOut / blockSize);
      const weights = Int8Array.from({ length: blocks * layer.nIn }, () => Math.floor(rng.next() * 256) - 128);
      const threshold = new Int32Array(blocks);
      for (let b = 0; b < blocks; b++) {
        let s = 0;
        for (let i = 0; i < layer.nIn; i++) s += (a[i] - layer.inZeroPoint) * weights[b * layer.nIn + i];
        threshold[b] = Math.round(s + (rng.next() - 0.5) * 2 * (Math.abs(s) + 100));
      }
      layer.estimator = null;
      layer.gate = { blockSize, blocks, weights, threshold, topK: 0 };
    }
    a = run_s8({ layers: [layer] }, a).output;
  });
  return model;
}

/** A v2 file rewritten as version 1 (80-byte entries, no gates), as rankgate 0.1 wrote it. */
export function toV1(v2: Uint8Array): Uint8Array {
  const src = new DataView(v2.buffer, v2.byteOffset, v2.byteLength);
  const n = src.getUint32(16, true);
  const align = (x: number) => Math.ceil(x / ALIGN) * ALIGN;
  const delta = align(HEADER_BYTES + n * ENTRY_BYTES) - align(HEADER_BYTES + n * ENTRY_BYTES_V1);
  const out = new Uint8Array(v2.length - delta);
  const dv = new DataView(out.buffer);
  out.set(v2.subarray(0, HEADER_BYTES));
  dv.setUint16(4, 1, true);
  dv.setUint32(8, out.length, true);
  dv.setUint32(20, ENTRY_BYTES_V1, true);
  dv.setUint32(28, align(HEADER_BYTES + n * ENTRY_BYTES_V1), true);
  for (let l = 0; l < n; l++) {
    const from = HEADER_BYTES + l * ENTRY_BYTES, to = HEADER_BYTES + l * ENTRY_BYTES_V1;
    out.set(v2.subarray(from, from + ENTRY_BYTES_V1), to);
    for (const s of SECTIONS.filter((x) => x.entryOffset < ENTRY_BYTES_V1)) {
      const off = src.getUint32(from + s.entryOffset, true);
      dv.setUint32(to + s.entryOffset, off ? off - delta : 0, true);
    }
  }
  out.set(v2.subarray(align(HEADER_BYTES + n * ENTRY_BYTES)), align(HEADER_BYTES + n * ENTRY_BYTES_V1));
  dv.setUint32(12, crc32(out, 16), true);
  return out;
}
