// The search shared by `rankgate quantize --budget` and `rankgate optimize`: the rank candidates, the pricing of
// a trial (validation error, flips against int8 dense and their bound; MACs, or cycles on a target through
// sim/target-cost.ts), the choice rules, and the two descents over them: searchRanks (ranks of one quantizer,
// quantize --budget and optimize's post-hoc candidates) and descendRanksMargins (ranks and per-layer margins of
// one float model, optimize). Uses only the data it is given (the validation split).
import { writeModel, type QuantModel, Engine } from "../../runtime/src/index.ts";
import type { ModelOptions, Quantizer } from "../quantize/quantize.ts";
import type { CycleMeter } from "../../sim/target-cost.ts";

/** Ranks tried per layer, capped at min(n_in, n_out). */
export const RANK_CANDIDATES = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 35, 40, 50, 60, 75, 100, 125, 150, 200, 250, 300, 400, 500];

/**
 * One layer's ranks to try, ascending: the candidates below `top`, then `top`; with `dense`, rank 0 (the layer
 * without estimator) first, as a search priced on a target tries it.
 */
export const rankLadder = (top: number, dense = false): number[] => [...(dense ? [0] : []), ...RANK_CANDIDATES.filter((r) => r < top), top];

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

/** The samples a search judges trials on, and the int8 dense model's per-sample `wrong` flags its flips are counted against. */
export interface SearchData {
  images: Float32Array;
  labels: ArrayLike<number>;
  count: number;
  denseWrong: Uint8Array;
  safety: number;
  meter?: CycleMeter;
}

/** One trial priced: gatedRunModel of `model` on the data, its flips against dense and its bound. */
export async function scoreModel(model: QuantModel, ranks: number[], d: SearchData): Promise<SearchTrial> {
  const { wrong, ...r } = await gatedRunModel(model, d.images, d.labels, d.count, d.meter, ranks);
  const flips = countFlips(wrong, d.denseWrong);
  return { ...r, flips, bound: trialBound(r.error, flips, d.count, d.safety) };
}

/** What the choice rules read of a trial (SearchTrial, optimize's Trial). */
export interface Scored {
  ranks: number[];
  /** A block policy (optimize's block trials): gated without estimator ranks. */
  block?: unknown;
  error: number;
  macsRatio: number;
  bound: number;
  cyclesRatio?: number;
}

/** A trial's MACs per inference, × dense. */
export const macsOf = (t: Scored): number => t.macsRatio;
/** A trial's cycles on the search's target, × dense (the trial must have been priced). */
export const cyclesOf = (t: Scored): number => {
  if (t.cyclesRatio === undefined) throw new Error("optimize: a trial without cycles on the target: a bug, please report it");
  return t.cyclesRatio;
};
/** Whether a trial gates anything (an estimator of rank > 0 or a block policy). */
export const isGated = (t: Scored): boolean => !!t.block || t.ranks.some((k) => k > 0);

/** Fewest MACs (or `cost`, e.g. cycles) with `bound` within `target` and at most dense; ties to the lower error, then the earlier trial. */
export function chooseTrial<T extends Scored>(trials: T[], target: number, cost: (t: T) => number = macsOf): T | null {
  let best: T | null = null;
  for (const t of trials) {
    if (t.bound > target || cost(t) > 1) continue;
    if (!best || cost(t) < cost(best) || (cost(t) === cost(best) && t.error < best.error)) best = t;
  }
  return best;
}

/** Lowest bound with MACs (or `cost`) at most `cap` × dense; ties to fewer of them, then the earlier trial. */
export function chooseWithinMacs<T extends Scored>(trials: T[], cap: number, cost: (t: T) => number = macsOf): T | null {
  let best: T | null = null;
  for (const t of trials) {
    if (cost(t) > cap) continue;
    if (!best || t.bound < best.bound || (t.bound === best.bound && cost(t) < cost(best))) best = t;
  }
  return best;
}

/** The gated trial below dense MACs with the lowest bound (fewest MACs, then the earlier, on ties); null if there is none. */
export function nearestTrial<T extends Scored>(trials: T[]): T | null {
  let best: T | null = null;
  for (const t of trials) {
    if (!isGated(t) || t.macsRatio >= 1) continue;
    if (!best || t.bound < best.bound || (t.bound === best.bound && t.macsRatio < best.macsRatio)) best = t;
  }
  return best;
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
  const data: SearchData = { images, labels, count, denseWrong: dense.wrong, safety, meter };
  const trial = async (ranks: number[]) => {
    const key = ranks.join(",");
    let t = cache.get(key);
    if (!t) {
      if (ranks.every((k) => k === 0)) {
        const { wrong: _w, ...r } = dense;
        t = { ...r, flips: 0, bound: trialBound(r.error, 0, count, safety) };
      } else t = await scoreModel(q.model({ ranks, margins: options.margins, estimator: options.estimator, gates: false }), ranks, data);
      cache.set(key, t);
      trials.push(t);
      options.onTrial?.(t);
    }
    return t;
  };
  const candidates = q.maxRanks.map((max) => rankLadder(max));
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
  if (meter) return cycleDescent(q, meter, current, target, trial, denseError, trials);
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
async function cycleDescent(q: Quantizer, meter: CycleMeter, start: SearchTrial, target: number, trial: (ranks: number[]) => Promise<SearchTrial>, denseError: number, trials: SearchTrial[]): Promise<RankSearchResult> {
  const zero = q.maxRanks.map(() => 0);
  const steps = q.maxRanks.map((max) => rankLadder(max, true));
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

/** The space descendRanksMargins walks: per layer a rank from its ladder and a margin from one list. */
export interface DescentSpace {
  /** Per hidden layer, the ranks tried, ascending (rankLadder); the descent starts at the last. */
  rankSets: number[][];
  /** Margins tried, ascending, in σ of each layer's pre-activation; the descent starts at 0 (or the least ≥ 0). */
  margins: number[];
  /**
   * Priced on a target (cycles are not monotone in rank): cheaper steps also go 2 and 4 ranks down and to the
   * first rank (rank 0, the layer dense) at once, and a layer at rank 0 takes no margin steps.
   */
  priced: boolean;
  /** Block policies: margin steps on every layer, and a budget search computes more until every margin is at its lowest. */
  block: boolean;
}

/** What descendRanksMargins minimizes: `cost` with the bound within `target`; or with `cap`, the bound with `capCost` within it. */
export interface DescentGoal<T extends Scored> {
  target: number;
  cost: (t: T) => number;
  cap?: number;
  capCost: (t: T) => number;
}

/**
 * Coordinate descent over ranks and margins from the largest ranks at margin 0, judging each point by
 * `trial(ranks, marginSigmas)` (which prices it, once per point: the caller caches and records). With a
 * cap: while over it, the cheaper step with the lowest bound; then any step that lowers the bound within it.
 * With a target: while the bound is over it, one margin down on the layer where that lowers the bound most;
 * then, up to four passes over the layers, each layer's cheaper steps while the bound stays within the
 * target and the cost falls (the cheapest step first). The caller chooses among the trials it recorded.
 */
export async function descendRanksMargins<T extends Scored>(space: DescentSpace, goal: DescentGoal<T>, trial: (ranks: number[], marginSigmas: number[]) => Promise<T>): Promise<void> {
  const { rankSets, margins: marginSet, priced, block } = space;
  const { target, cost, cap, capCost } = goal;
  const hidden = rankSets.length;
  const zero = marginSet.indexOf(0) >= 0 ? marginSet.indexOf(0) : marginSet.findIndex((m) => m >= 0) >= 0 ? marginSet.findIndex((m) => m >= 0) : marginSet.length - 1;
  const run = (ri: number[], mi: number[]) => trial(ri.map((r, l) => rankSets[l][r]), mi.map((m) => marginSet[m]));
  const ri = rankSets.map((s) => s.length - 1), mi = Array<number>(hidden).fill(zero);
  let cur = await run(ri, mi);
  type Pick = { r: number[]; m: number[]; t: T };
  // Single steps on the given layers: rank down and margin up (cheaper), with `both` also rank up and margin down;
  // priced also further down and to rank 0 at once (the layer dense), and no margin steps on a layer without estimator
  const steps = (layers: number[], both: boolean) => {
    const out: [number[], number[]][] = [];
    for (const l of layers) {
      if (ri[l] > 0) out.push([ri.map((r, k) => (k === l ? r - 1 : r)), mi]);
      // Cycles are not monotone in rank (a weaker estimator computes more rows): also 2 and 4 ranks down, and 0
      if (priced) for (const to of new Set([ri[l] - 2, ri[l] - 4, 0])) if (to >= 0 && to < ri[l] - 1) out.push([ri.map((r, k) => (k === l ? to : r)), mi]);
      const margins = !priced || rankSets[l][ri[l]] > 0 || block;
      if (margins && mi[l] < marginSet.length - 1) out.push([ri, mi.map((m, k) => (k === l ? m + 1 : m))]);
      if (!both) continue;
      if (ri[l] < rankSets[l].length - 1) out.push([ri.map((r, k) => (k === l ? r + 1 : r)), mi]);
      if (margins && mi[l] > 0) out.push([ri, mi.map((m, k) => (k === l ? m - 1 : m))]);
    }
    return out;
  };
  const take = (pick: Pick) => {
    ri.splice(0, hidden, ...pick.r);
    mi.splice(0, hidden, ...pick.m);
    cur = pick.t;
  };
  const allLayers = Array.from({ length: hidden }, (_, l) => l);
  if (cap !== undefined) {
    // Over the cap: the cheaper step that keeps the bound lowest, until within it
    while (capCost(cur) > cap) {
      let pick: Pick | null = null;
      for (const [r, m] of steps(allLayers, false)) {
        const t = await run(r, m);
        if (capCost(t) < capCost(cur) && (!pick || t.bound < pick.t.bound || (t.bound === pick.t.bound && capCost(t) < capCost(pick.t)))) pick = { r, m, t };
      }
      if (!pick) return;
      take(pick);
    }
    // Within it: any step that lowers the bound and stays within the cap
    for (;;) {
      let pick: Pick | null = null;
      for (const [r, m] of steps(allLayers, true)) {
        const t = await run(r, m);
        if (capCost(t) <= cap && t.bound < (pick ?? { t: cur }).t.bound) pick = { r, m, t };
      }
      if (!pick) return;
      take(pick);
    }
  }
  // Too inaccurate: compute more (lower margins), the most helpful layer first
  while (cur.bound > target) {
    let pick: { l: number; t: T } | null = null;
    for (let l = 0; l < hidden; l++) {
      if (mi[l] === 0) continue;
      const m2 = [...mi];
      m2[l]--;
      const t = await run(ri, m2);
      if (!pick || t.bound < pick.t.bound) pick = { l, t };
    }
    // A block policy's bound is noisy in its margins: it keeps computing more until every margin is at its lowest
    if (!pick || (pick.t.bound >= cur.bound && !block)) break;
    mi[pick.l]--;
    cur = pick.t;
  }
  if (cur.bound > target) return;
  // Within budget: make each layer cheaper while the error stays within it
  for (let pass = 0, changed = true; changed && pass < 4; pass++) {
    changed = false;
    for (let l = 0; l < hidden; l++) {
      for (;;) {
        let pick: Pick | null = null;
        for (const [r, m] of steps([l], false)) {
          const t = await run(r, m);
          if (t.bound <= target && cost(t) < cost(cur) && (!pick || cost(t) < cost(pick.t))) pick = { r, m, t };
        }
        if (!pick) break;
        take(pick);
        changed = true;
      }
    }
  }
}
