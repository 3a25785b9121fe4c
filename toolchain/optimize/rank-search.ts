// Automatic estimator ranks: the smallest ranks whose validation error stays within a budget
// of the int8 dense model's. Uses only the data it is given (the validation split).
import { writeModel, type QuantModel, Engine } from "../../runtime/src/index.ts";
import type { ModelOptions, Quantizer } from "../quantize/quantize.ts";
import type { CycleMeter } from "../../sim/target-cost.ts";

/** Ranks tried per layer, capped at min(n_in, n_out). */
export const RANK_CANDIDATES = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 35, 40, 50, 60, 75, 100, 125, 150, 200, 250, 300, 400, 500];

export interface RankTrial {
  ranks: number[];
  error: number;
  macsRatio: number;
  /** With a target (CycleMeter): predicted cycles per inference of the deployed schedule, and their ratio to the dense model's. */
  cycles?: number;
  cyclesRatio?: number;
}

/** A search trial: its validation samples judged unlike int8 dense (flips) and its bound (compared with the target). */
export interface SearchTrial extends RankTrial {
  flips: number;
  /** error + safety·√flips / n (see toolchain/optimize/optimize.ts, Trial.bound). */
  bound: number;
}

export interface RankSearchResult {
  ranks: number[];
  denseError: number;
  target: number;
  trials: SearchTrial[];
  /**
   * True when the best gated ranks cost at least dense MACs (with a target: no gated ranks within the budget
   * take fewer cycles than dense on it), so the search returned all-zero ranks (dense).
   */
  gatingDoesNotPay: boolean;
  /** With a target: the dense model's and the chosen ranks' cycles per inference on it. */
  cycles?: { target: string; samples: number; dense: number; chosen: number; ratio: number };
}

export interface RankSearchOptions {
  /** Allowed increase of the error over int8 dense, in percentage points. */
  budgetPp: number;
  margins?: number[];
  /** Estimator kind (default SVD). */
  estimator?: ModelOptions["estimator"];
  /**
   * Standard errors of the trial's flips (samples it gets right where int8 dense errs, or the
   * reverse) added to its error before it is compared with the target. Default 1.645 (one-sided
   * 95 %); 0 compares the error itself.
   */
  safety?: number;
  onTrial?: (t: SearchTrial) => void;
  /**
   * Minimize the target's predicted cycles instead of MACs: after the MAC search, descents by rank
   * candidate steps up or down, or to rank 0 (the layer dense), per layer, while the cycles fall within the
   * budget (see cycleDescent); never a model slower than dense on the target.
   */
  meter?: CycleMeter;
}

/** Standard errors charged on a trial's flips by default: one-sided 95 %. */
export const DEFAULT_SAFETY = 1.645;

/** error + safety·√flips / n: a trial's error with the gating's sampling noise charged (flips alone carry it). */
export const trialBound = (error: number, flips: number, n: number, safety: number): number => error + (safety * Math.sqrt(flips)) / n;

/** The number of samples on which two runs' per-sample `wrong` flags differ. */
export function countFlips(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/** Gated error and MAC ratio of the quantizer's model with `options` on (images, labels). */
export async function gatedError(q: Quantizer, options: ModelOptions, images: Float32Array, labels: ArrayLike<number>, count: number): Promise<RankTrial> {
  const { ranks, error, macsRatio } = await gatedRun(q, options, images, labels, count);
  return { ranks, error, macsRatio };
}

/** gatedError plus, per sample, 1 where the model's label is wrong. */
export async function gatedRun(q: Quantizer, options: ModelOptions, images: Float32Array, labels: ArrayLike<number>, count: number, meter?: CycleMeter): Promise<RankTrial & { wrong: Uint8Array }> {
  return gatedRunModel(q.model(options), images, labels, count, meter, options.ranks ?? q.maxRanks.map(() => 0));
}

/** gatedRun of a quantized model as it is (e.g. with block gates); `ranks` are its estimators' ranks (0: none). */
export async function gatedRunModel(model: QuantModel, images: Float32Array, labels: ArrayLike<number>, count: number, meter?: CycleMeter, ranks = model.layers.slice(0, -1).map((l) => l.estimator?.rank ?? 0)): Promise<RankTrial & { wrong: Uint8Array }> {
  const bytes = writeModel(model);
  // Whole-row counters, the "gated" schedule of rankgate eval
  const engine = await Engine.load(bytes, { zeroSkip: false });
  const gated = engine.inferBatch(images.subarray(0, count * engine.inputSize));
  const wrong = new Uint8Array(count);
  let errors = 0;
  for (let i = 0; i < count; i++) if (gated.labels[i] !== labels[i]) { wrong[i] = 1; errors++; }
  const dense = engine.model.layers.reduce((t, l) => t + l.nIn * l.nOut, 0);
  const priced = meter ? await meter.price(bytes) : null;
  return { ranks: [...ranks], error: errors / count, macsRatio: gated.stats.totalMacs / count / dense, ...(priced && { cycles: priced.cycles, cyclesRatio: priced.ratio }), wrong };
}

/**
 * Greedy per layer, in order: with the other layers at their current ranks, the smallest
 * candidate rank whose bound is within the target (a binary search that assumes error falls
 * as rank grows); then, while the combination misses the target, raise the rank of the layer
 * whose step up lowers the bound most. If the result's gated MACs are not below dense MACs, returns ranks 0 (dense).
 */
export async function searchRanks(q: Quantizer, images: Float32Array, labels: ArrayLike<number>, count: number, options: RankSearchOptions): Promise<RankSearchResult> {
  const safety = options.safety ?? DEFAULT_SAFETY;
  if (!(safety >= 0 && Number.isFinite(safety))) throw new RangeError(`safety must be a number ≥ 0, got ${safety}`);
  const trials: SearchTrial[] = [];
  const cache = new Map<string, SearchTrial>();
  const meter = options.meter;
  const dense = await gatedRun(q, { gates: false }, images, labels, count, meter);
  const trial = async (ranks: number[]) => {
    const key = ranks.join(",");
    let t = cache.get(key);
    if (!t) {
      const { wrong, ...r } = ranks.every((k) => k === 0) ? dense : await gatedRun(q, { ranks, margins: options.margins, estimator: options.estimator, gates: false }, images, labels, count, meter);
      const flips = countFlips(wrong, dense.wrong);
      t = { ...r, flips, bound: trialBound(r.error, flips, count, safety) };
      cache.set(key, t);
      trials.push(t);
      options.onTrial?.(t);
    }
    return t;
  };
  const candidates = q.maxRanks.map((max) => {
    const c = RANK_CANDIDATES.filter((r) => r < max);
    return [...c, max];
  });
  const denseError = (await trial(q.maxRanks.map(() => 0))).error;
  const target = denseError + options.budgetPp / 100;
  const idx = candidates.map((c) => c.length - 1);
  const ranksAt = (i: number[]) => i.map((k, l) => candidates[l][k]);
  for (let l = 0; l < idx.length; l++) {
    let lo = 0, hi = idx[l];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const probe = [...idx];
      probe[l] = mid;
      if ((await trial(ranksAt(probe))).bound <= target) hi = mid;
      else lo = mid + 1;
    }
    idx[l] = lo;
  }
  let current = await trial(ranksAt(idx));
  while (current.bound > target) {
    let best: { l: number; t: SearchTrial } | null = null;
    for (let l = 0; l < idx.length; l++) {
      if (idx[l] + 1 >= candidates[l].length) continue;
      const probe = [...idx];
      probe[l]++;
      const t = await trial(ranksAt(probe));
      if (!best || t.bound < best.t.bound) best = { l, t };
    }
    if (!best) break;
    idx[best.l]++;
    current = best.t;
  }
  if (meter) return cycleDescent(q, meter, current, target, candidates, trial, denseError, trials);
  // Never a gated model that costs more than the dense one
  if (current.macsRatio >= 1) return { ranks: q.maxRanks.map(() => 0), denseError, target, trials, gatingDoesNotPay: true };
  return { ranks: ranksAt(idx), denseError, target, trials, gatingDoesNotPay: false };
}

/**
 * Descents on the target's cycles from the MAC search's ranks, from the same with one layer dense, and from
 * them with only one layer gated (a single step can miss dropping a layer whose removal leaves the others
 * room for smaller ranks): while a step lowers the cycles with the bound within the budget, take the step
 * that lowers them most; a step moves one layer's rank one candidate up, one, two or four down, or to 0
 * (cycles are not monotone in rank: a weaker estimator can compute more rows). The fewest cycles of the
 * descents; dense unless that takes fewer cycles than dense.
 */
async function cycleDescent(q: Quantizer, meter: CycleMeter, start: SearchTrial, target: number, candidates: number[][], trial: (ranks: number[]) => Promise<SearchTrial>, denseError: number, trials: SearchTrial[]): Promise<RankSearchResult> {
  const zero = q.maxRanks.map(() => 0);
  const steps = candidates.map((c) => [0, ...c]);
  const descend = async (from: SearchTrial) => {
    let cur = from;
    for (;;) {
      let best: SearchTrial | null = null;
      for (let l = 0; l < steps.length; l++) {
        const at = steps[l].indexOf(cur.ranks[l]);
        for (const to of new Set([0, at - 4, at - 2, at - 1, at + 1])) {
          if (to < 0 || to >= steps[l].length || to === at) continue;
          const t = await trial(cur.ranks.map((k, j) => (j === l ? steps[l][to] : k)));
          if (t.bound <= target && t.cyclesRatio! < (best ?? cur).cyclesRatio!) best = t;
        }
      }
      if (!best) return cur;
      cur = best;
    }
  };
  const r = start.ranks;
  const starts = [r, ...r.map((_, l) => r.map((k, j) => (j === l ? 0 : k))), ...r.map((_, l) => r.map((k, j) => (j === l ? k : 0)))];
  let chosen = await trial(zero);
  for (const key of new Set(starts.map((s) => s.join(",")))) {
    const from = await trial(key.split(",").map(Number));
    if (from.bound > target) continue;
    const end = await descend(from);
    if (end.cyclesRatio! < chosen.cyclesRatio!) chosen = end;
  }
  const pays = chosen.cyclesRatio! < 1;
  const cycles = { target: meter.target.name, samples: meter.samples, dense: meter.denseCycles, chosen: chosen.cycles!, ratio: chosen.cyclesRatio! };
  return { ranks: [...chosen.ranks], denseError, target, trials, gatingDoesNotPay: !pays, cycles };
}
