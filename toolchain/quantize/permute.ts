// Hidden-unit order for zero-input skipping: the Wasm kernels skip a layer's input in 8-input chunks
// (kernels/wasm/sparse.ts), so a chunk costs its 8 MACs per computed row as soon as one of its inputs is non-zero.
// Permuting each hidden layer's units so that units that fire together share a chunk keeps fewer chunks and
// changes no logit bit: the layer's rows (weights, bias, requantization, the estimator's second factor and
// thresholds) move with their units and the next layer's columns (weights, the estimator's first factor, the
// gate weights) with its inputs, so every int32 sum is the same sum in another order.
import { Engine, type QuantLayer, type QuantModel } from "../../runtime/src/index.ts";

/** Inputs per zero-skip chunk in the Wasm kernels. */
export const CHUNK = 8;
/**
 * Weight of the samples a unit would add to a chunk's union against those it shares with it (coactiveOrder's score
 * shared − ALPHA · added); on paper.rgm's hidden layers, fitted on 2,000 train digits and judged on 2,000 test digits,
 * 0.25–0.5 kept the fewest chunks (0: 28 / 44 / 45 %, 0.5: 28 / 43 / 44 %, 1: 29 / 44 / 44 %, 4: 33 / 50 / 49 %).
 */
const ALPHA = 0.5;

/** Per hidden layer l (every layer but the last), which units are non-zero on each sample: bits [nOut][words], sample s at bit s%32 of word s/32. */
export interface UnitActivity {
  samples: number;
  words: number;
  /** One Uint32Array per hidden layer, units × words. */
  layers: Uint32Array[];
}

/**
 * Which hidden units are non-zero (output ≠ output zero point) on each of `count` samples of `x` (float32, end to end),
 * as the deployed gated schedule computes them (units the mask skips are zero). Runs a trace engine one sample at a time.
 */
export async function unitActivity(model: QuantModel, x: Float32Array, count: number): Promise<UnitActivity> {
  const engine = await Engine.fromModel(model, { trace: true });
  const n = engine.inputSize, words = Math.ceil(count / 32), hidden = model.layers.length - 1;
  const layers = model.layers.slice(0, hidden).map((l) => new Uint32Array(l.nOut * words));
  for (let s = 0; s < count; s++) {
    engine.infer(x.subarray(s * n, (s + 1) * n), { gating: true });
    const inputs = engine.lastTrace().inputs;
    for (let l = 0; l < hidden; l++) {
      const out = inputs[l + 1], zp = model.layers[l + 1].inZeroPoint, bits = layers[l], w = s >>> 5, bit = 1 << (s & 31);
      for (let j = 0; j < out.length; j++) if (out[j] !== zp) bits[j * words + w] |= bit;
    }
  }
  return { samples: count, words, layers };
}

function popcount(v: number): number {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/**
 * A unit order (perm[k] = the unit placed at position k) that packs co-active units into chunks of 8, greedily: each
 * chunk starts with the most often active unit left and then takes, seven times, the unit with the best score
 * (samples it shares with the chunk's union) − ALPHA · (samples it adds to it); ties: the more often active one.
 * Never-active units go last, in their order. Then REFINE_PASSES passes of pairwise swaps between chunks (refineBySwaps).
 */
export function coactiveOrder(bits: Uint32Array, units: number, words: number): Int32Array {
  const freq = new Int32Array(units);
  for (let u = 0; u < units; u++) {
    let c = 0;
    for (let w = 0; w < words; w++) c += popcount(bits[u * words + w]);
    freq[u] = c;
  }
  const left = [...Array(units).keys()].filter((u) => freq[u] > 0).sort((a, b) => freq[b] - freq[a] || a - b);
  const dead = [...Array(units).keys()].filter((u) => freq[u] === 0);
  const order: number[] = [];
  const union = new Uint32Array(words);
  while (left.length > 0) {
    const seed = left.shift()!;
    order.push(seed);
    union.set(bits.subarray(seed * words, (seed + 1) * words));
    for (let k = 1; k < CHUNK && left.length > 0; k++) {
      let best = 0, bestScore = -Infinity;
      for (let i = 0; i < left.length; i++) {
        const o = left[i] * words;
        let both = 0;
        for (let w = 0; w < words; w++) both += popcount(bits[o + w] & union[w]);
        const score = both - ALPHA * (freq[left[i]] - both);
        // left is sorted by frequency: on a tie the more active unit stays
        if (score > bestScore) {
          bestScore = score;
          best = i;
        }
      }
      const u = left.splice(best, 1)[0];
      order.push(u);
      for (let w = 0; w < words; w++) union[w] |= bits[u * words + w];
    }
  }
  const perm = Int32Array.from([...order, ...dead]);
  for (let pass = 0; pass < REFINE_PASSES; pass++) if (!refineBySwaps(perm, bits, order.length, words)) break;
  return perm;
}

/**
 * Passes of swap refinement after the greedy order (paper.rgm, fitted on 1,000 train digits, chunks kept on 2,000 test
 * digits per hidden layer: greedy 28.6 / 43.7 / 44.6 %, one pass 27.8 / 42.3 / 42.6 %, three 27.5 / 41.9 / 42.2 % at
 * twice one pass's time).
 */
const REFINE_PASSES = 1;

/**
 * One pass over every pair of the first `active` positions in different chunks; a swap is kept when the two chunks'
 * unions (samples with any active unit) lose more samples than they gain. Returns whether any swap was kept.
 */
function refineBySwaps(perm: Int32Array, bits: Uint32Array, active: number, words: number): boolean {
  const chunks = Math.ceil(active / CHUNK);
  // Per chunk: the union (U) and the samples exactly one member is active on (E1)
  const U = new Uint32Array(chunks * words), E1 = new Uint32Array(chunks * words);
  const rebuild = (c: number) => {
    const o = c * words;
    U.fill(0, o, o + words);
    E1.fill(0, o, o + words);
    for (let k = c * CHUNK; k < Math.min(active, (c + 1) * CHUNK); k++) {
      const b = perm[k] * words;
      for (let w = 0; w < words; w++) {
        const x = bits[b + w];
        E1[o + w] = (E1[o + w] & ~x) | (x & ~U[o + w]);
        U[o + w] |= x;
      }
    }
  };
  for (let c = 0; c < chunks; c++) rebuild(c);
  let changed = false;
  for (let i = 0; i < active; i++) {
    const a = Math.floor(i / CHUNK);
    for (let j = (a + 1) * CHUNK; j < active; j++) {
      const b = Math.floor(j / CHUNK), u = perm[i] * words, v = perm[j] * words, oa = a * words, ob = b * words;
      let delta = 0;
      for (let w = 0; w < words; w++) {
        const x = bits[u + w], y = bits[v + w];
        delta += popcount(y & ~U[oa + w]) - popcount(x & E1[oa + w] & ~y) + popcount(x & ~U[ob + w]) - popcount(y & E1[ob + w] & ~x);
      }
      if (delta < 0) {
        [perm[i], perm[j]] = [perm[j], perm[i]];
        rebuild(a);
        rebuild(b);
        changed = true;
      }
    }
  }
  return changed;
}

/** Mean over samples of the chunks of 8 (in `perm`'s order; identity when null) holding an active unit, as a fraction of all chunks. */
export function chunksKept(bits: Uint32Array, units: number, words: number, samples: number, perm: Int32Array | null): number {
  const chunks = Math.ceil(units / CHUNK);
  let kept = 0;
  const union = new Uint32Array(words);
  for (let c = 0; c < chunks; c++) {
    union.fill(0);
    for (let k = c * CHUNK; k < Math.min(units, (c + 1) * CHUNK); k++) {
      const o = (perm ? perm[k] : k) * words;
      for (let w = 0; w < words; w++) union[w] |= bits[o + w];
    }
    for (let w = 0; w < words; w++) kept += popcount(union[w]);
  }
  return kept / (chunks * samples);
}

function rows<T extends Int8Array | Int32Array>(a: T, width: number, perm: Int32Array): T {
  const out = new (a.constructor as new (n: number) => T)(a.length);
  for (let k = 0; k < perm.length; k++) out.set(a.subarray(perm[k] * width, (perm[k] + 1) * width), k * width);
  return out;
}

function columns(a: Int8Array, height: number, perm: Int32Array): Int8Array {
  const width = perm.length, out = new Int8Array(a.length);
  for (let r = 0; r < height; r++) for (let k = 0; k < width; k++) out[r * width + k] = a[r * width + perm[k]];
  return out;
}

/** A valid permutation of 0..n-1, else an Error naming the layer. */
function checkPerm(perm: Int32Array, n: number, l: number): void {
  const seen = new Uint8Array(n);
  if (perm.length !== n) throw new Error(`permuteHidden: layer ${l}: permutation of length ${perm.length}, expected ${n} (its units)`);
  for (const p of perm) {
    if (!(p >= 0 && p < n) || seen[p]) throw new Error(`permuteHidden: layer ${l}: ${p} is not a unit or appears twice`);
    seen[p] = 1;
  }
}

/**
 * The same network with hidden layer l's units in the order perms[l] (null: unchanged): layer l's rows and layer l+1's
 * columns move together, so the logits are the same bytes for every input. Layers with a block gate keep their order
 * (a block is a run of consecutive units); the last layer's order (the logits) never changes.
 */
export function permuteHidden(model: QuantModel, perms: (Int32Array | null)[]): QuantModel {
  const layers: QuantLayer[] = model.layers.map((l) => ({ ...l, estimator: l.estimator ? { ...l.estimator } : l.estimator, gate: l.gate ? { ...l.gate } : l.gate }));
  for (let l = 0; l + 1 < layers.length; l++) {
    const perm = perms[l];
    if (!perm) continue;
    const a = layers[l], b = layers[l + 1];
    checkPerm(perm, a.nOut, l);
    if (a.gate) throw new Error(`permuteHidden: layer ${l} has a block gate; its units cannot move`);
    a.weights = rows(a.weights, a.nIn, perm);
    a.bias = rows(a.bias, 1, perm);
    a.multiplier = rows(a.multiplier, 1, perm);
    a.shift = rows(a.shift, 1, perm);
    if (a.estimator) {
      a.estimator.b = rows(a.estimator.b, a.estimator.rank, perm);
      a.estimator.threshold = rows(a.estimator.threshold, 1, perm);
    }
    b.weights = columns(b.weights, b.nOut, perm);
    if (b.estimator) b.estimator.a = columns(b.estimator.a, b.estimator.rank, perm);
    if (b.gate) b.gate.weights = columns(b.gate.weights, b.gate.blocks, perm);
  }
  return { ...model, layers };
}

/**
 * Widest hidden layer the pass orders: coactiveOrder takes time ∝ units² · samples (1,000 units on 1,000 samples:
 * about 1 s), so wider layers keep their order.
 */
export const MAX_PERMUTE_UNITS = 4096;

export interface PermuteReport {
  /** Per hidden layer: chunks kept (fraction) before and after, on the samples the order was fitted to, or null where the layer keeps its order (block gate, wider than MAX_PERMUTE_UNITS). */
  layers: ({ before: number; after: number } | null)[];
}

/**
 * Orders every hidden layer without a block gate and of at most MAX_PERMUTE_UNITS units by co-activation on `count` samples of x (coactiveOrder) and returns the
 * permuted model and the chunks kept on those samples before and after (in-sample figures: judge on held-out data).
 */
export async function permuteForZeroSkip(model: QuantModel, x: Float32Array, count: number): Promise<{ model: QuantModel; perms: (Int32Array | null)[]; report: PermuteReport }> {
  const act = await unitActivity(model, x, count);
  const perms = model.layers.slice(0, -1).map((l, i) => (l.gate || l.nOut > MAX_PERMUTE_UNITS ? null : coactiveOrder(act.layers[i], l.nOut, act.words)));
  const report: PermuteReport = {
    layers: perms.map((p, i) => (p ? {
      before: chunksKept(act.layers[i], model.layers[i].nOut, act.words, count, null),
      after: chunksKept(act.layers[i], model.layers[i].nOut, act.words, count, p),
    } : null)),
  };
  return { model: permuteHidden(model, perms), perms, report };
}

/** Samples after the fit ones that judge the unit order in quantize's and optimize's reports (held out from its fit). */
export const PERMUTE_HELD_OUT = 1000;

/** The `permute` field of quantize's and optimize's reports: chunks kept before and after, fitted and held out. */
export interface PermuteFieldReport {
  fit_samples: number;
  held_out_samples: number;
  /** Per hidden layer, null where it keeps its order; held_out null when no sample was left to judge on. */
  chunks_kept: ({ fit: { before: number; after: number }; held_out: { before: number; after: number } | null } | null)[];
}

/**
 * permuteForZeroSkip fitted on the first `fitCount` samples of x (float32, nIn per sample), judged on the next
 * `heldCount` (none of them in the fit): the permuted model and the report both commands write.
 */
export async function orderForZeroSkip(model: QuantModel, x: Float32Array, nIn: number, fitCount: number, heldCount: number): Promise<{ model: QuantModel; report: PermuteFieldReport }> {
  const p = await permuteForZeroSkip(model, x.subarray(0, fitCount * nIn), fitCount);
  const held = heldCount > 0 ? await unitActivity(model, x.subarray(fitCount * nIn, (fitCount + heldCount) * nIn), heldCount) : null;
  const kept = (l: number, perm: Int32Array | null) => chunksKept(held!.layers[l], model.layers[l].nOut, held!.words, heldCount, perm);
  return {
    model: p.model,
    report: {
      fit_samples: fitCount, held_out_samples: heldCount,
      chunks_kept: p.report.layers.map((r, l) => (r ? { fit: { before: r.before, after: r.after }, held_out: held ? { before: kept(l, null), after: kept(l, p.perms[l]) } : null } : null)),
    },
  };
}
