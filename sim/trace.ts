// Execution traces from the Wasm engine: for every sample and layer, which inputs were non-zero
// and which rows were computed, in the gated run and in the dense run (whose positive units
// are the oracle's rows). Every count derived from a trace is checked against the engine's own
// counters on the spot, so the simulator can only ever count what the engine did.
import { addStats, emptyStats, Engine, type InferStats, gateMacs, type QuantModel } from "../runtime/src/index.ts";

/** Bit i of word i >> 5. */
export type Bits = Uint32Array;

export interface LayerTrace {
  /** Gated run: inputs that are not the zero point, and their count. */
  nz: Bits;
  nzCount: number;
  /** Gated run: rows computed (the mask, or all rows for a dense layer). */
  rows: Bits;
  rowCount: number;
  /** Dense run: inputs that are not the zero point. */
  denseNz: Bits;
  denseNzCount: number;
  /** Dense run: units whose output is above the zero point (ReLU layers), else all units. */
  positive: Bits;
  positiveCount: number;
}

export interface SampleTrace {
  layers: LayerTrace[];
  /** The data's label and the engine's answers. */
  label: number;
  labelGated: number;
  labelDense: number;
}

export interface ModelTrace {
  model: QuantModel;
  samples: SampleTrace[];
  /** Engine counters summed over the samples, for the gated and the dense run. */
  engine: { gated: InferStats; dense: InferStats };
}

export function bitsOf(values: Int8Array, zeroPoint: number): { bits: Bits; count: number } {
  const bits = new Uint32Array(Math.ceil(values.length / 32));
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== zeroPoint) {
      bits[i >> 5] |= 1 << (i & 31);
      count++;
    }
  }
  return { bits, count };
}

export function allBits(n: number): Bits {
  const bits = new Uint32Array(Math.ceil(n / 32)).fill(0xffffffff);
  if (n & 31) bits[bits.length - 1] = (1 << (n & 31)) - 1;
  return bits;
}

export function popcount(bits: Bits): number {
  let c = 0;
  for (let w of bits) {
    w = w - ((w >>> 1) & 0x55555555);
    w = (w & 0x33333333) + ((w >>> 2) & 0x33333333);
    c += (((w + (w >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return c;
}

/** Indices of the set bits, ascending. */
export function indices(bits: Bits, out?: Int32Array): Int32Array {
  const idx = out ?? new Int32Array(popcount(bits));
  let k = 0;
  for (let w = 0; w < bits.length; w++) {
    let b = bits[w];
    while (b !== 0) {
      const t = b & -b;
      idx[k++] = (w << 5) + 31 - Math.clz32(t);
      b ^= t;
    }
  }
  return idx;
}

function mismatch(what: string, sample: number, layer: number, trace: number, engine: number): Error {
  return new Error(`firmware-sim: trace and engine disagree on ${what} (sample ${sample}, layer ${layer}: trace ${trace}, engine ${engine}): a bug, please report it`);
}

/**
 * Runs `count` samples (count × n_in real values, with their labels) through a trace engine, gated then dense,
 * and keeps each layer's input and row sets. Throws if a set's size differs from the engine's counter.
 */
export async function collectTrace(bytes: Uint8Array, images: Float32Array, labels: ArrayLike<number>, count: number, onProgress?: (done: number) => void): Promise<ModelTrace> {
  const engine = await Engine.load(bytes, { trace: true });
  const model = engine.model;
  const n = engine.inputSize;
  const last = model.layers.length - 1;
  const gatedTotals = emptyStats(model.layers.length), denseTotals = emptyStats(model.layers.length);
  const samples: SampleTrace[] = [];
  for (let s = 0; s < count; s++) {
    const x = images.subarray(s * n, (s + 1) * n);
    const gated = engine.infer(x);
    const gt = engine.lastTrace();
    const dense = engine.infer(x, { gating: false });
    const dt = engine.lastTrace();
    addStats(gatedTotals, gated.stats);
    addStats(denseTotals, dense.stats);
    const layers = model.layers.map((layer, l): LayerTrace => {
      const g = gated.stats.layers[l], d = dense.stats.layers[l];
      const nz = bitsOf(gt.inputs[l], layer.inZeroPoint);
      const dnz = bitsOf(dt.inputs[l], layer.inZeroPoint);
      let rows: Bits;
      const mask = gt.masks[l];
      if (mask) {
        rows = mask.slice();
        if (layer.nOut & 31) rows[rows.length - 1] &= (1 << (layer.nOut & 31)) - 1;
      } else rows = allBits(layer.nOut);
      const rowCount = popcount(rows);
      const out = l === last ? dt.output : dt.inputs[l + 1];
      const pos = layer.activation === "relu" ? bitsOf(out, layer.outZeroPoint) : { bits: allBits(layer.nOut), count: layer.nOut };
      // Cross-check every set against the engine's counters
      if (nz.count !== g.nonzeroInputs) throw mismatch("non-zero inputs (gated)", s, l, nz.count, g.nonzeroInputs);
      if (dnz.count !== d.nonzeroInputs) throw mismatch("non-zero inputs (dense)", s, l, dnz.count, d.nonzeroInputs);
      if (rowCount !== g.rowsComputed) throw mismatch("rows computed", s, l, rowCount, g.rowsComputed);
      if (layer.activation === "relu" && pos.count !== d.positive) throw mismatch("positive units", s, l, pos.count, d.positive);
      const macs = (mask ? gateMacs(layer) : 0) + rowCount * layer.nIn;
      if (macs !== g.estimatorMacs + g.rowMacs) throw mismatch("gated MACs", s, l, macs, g.estimatorMacs + g.rowMacs);
      return { nz: nz.bits, nzCount: nz.count, rows, rowCount, denseNz: dnz.bits, denseNzCount: dnz.count, positive: pos.bits, positiveCount: pos.count };
    });
    samples.push({ layers, label: labels[s], labelGated: gated.label, labelDense: dense.label });
    onProgress?.(s + 1);
  }
  return { model, samples, engine: { gated: gatedTotals, dense: denseTotals } };
}
