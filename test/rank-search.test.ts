// The one search (toolchain/optimize/rank-search.ts): the rank ladder both commands try, and descendRanksMargins
// with the choice rules on a synthetic trial whose best point is known. No Engine: fast.
import { describe, expect, it } from "vitest";
import { chooseTrial, chooseWithinMacs, descendRanksMargins, macsOf, rankLadder, type Scored } from "../toolchain/optimize/rank-search.ts";

describe("rankLadder", () => {
  it("the candidates below the top, then the top; rank 0 first when priced", () => {
    expect(rankLadder(1)).toEqual([1]);
    expect(rankLadder(7)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(rankLadder(8, true)).toEqual([0, 1, 2, 3, 4, 5, 6, 8]);
    expect(rankLadder(33)).toEqual([1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 33]);
  });
});

describe("descendRanksMargins", () => {
  // Two layers, ladders [1..6, 8] and [1..4]; error (20 − 2·steps) %, steps = ladder index sum − margin steps above 0;
  // MACs (r0 + r1) / 12 − (m0 + m1) / 10
  const rankSets = [rankLadder(8), rankLadder(4)];
  const margins = [-0.5, 0, 0.5];
  const synthetic = () => {
    const seen: string[] = [];
    const trials: (Scored & { marginSigmas: number[] })[] = [];
    const trial = async (ranks: number[], marginSigmas: number[]) => {
      seen.push(`${ranks}/${marginSigmas}`);
      const steps = ranks.reduce((s, r, l) => s + rankSets[l].indexOf(r), 0) - marginSigmas.reduce((s, m) => s + margins.indexOf(m) - 1, 0);
      const t = { ranks, marginSigmas, error: (20 - 2 * steps) / 100, bound: (20 - 2 * steps) / 100, macsRatio: (ranks[0] + ranks[1]) / 12 - marginSigmas.reduce((a, b) => a + b, 0) / 10 };
      trials.push(t);
      return t;
    };
    return { seen, trials, trial };
  };

  it("within a target: the cheapest point within it (each layer's rank stepped down while the bound holds)", async () => {
    const { seen, trials, trial } = synthetic();
    // 8 pp: error (20 − 2·steps) % within 8 % needs steps ≥ 6
    await descendRanksMargins({ rankSets, margins, priced: false, block: false }, { target: 0.08, cost: macsOf, capCost: macsOf }, trial);
    expect(seen[0]).toBe("8,4/0,0");
    expect(seen.every((k) => { const [r, m] = k.split("/").map((s) => s.split(",").map(Number)); return r.every((x, l) => rankSets[l].includes(x)) && m.every((x) => margins.includes(x)); })).toBe(true);
    const best = chooseTrial(trials, 0.08)!;
    expect(best.bound).toBeLessThanOrEqual(0.08);
    // Ranks 4 and 4 at margins 0/0 (steps 3 + 3): 8/12 MACs; any cheaper point misses the target
    expect([best.ranks, best.marginSigmas, best.macsRatio]).toEqual([[4, 4], [0, 0], 8 / 12]);
  });

  it("with a cap: the lowest bound within it", async () => {
    const { trials, trial } = synthetic();
    await descendRanksMargins({ rankSets, margins, priced: false, block: false }, { target: 0, cost: macsOf, cap: 0.5, capCost: macsOf }, trial);
    const best = chooseWithinMacs(trials, 0.5)!;
    expect(best.macsRatio).toBeLessThanOrEqual(0.5);
    // Within 6/12 the most steps are 4 (ranks summing to 6 at margins 0, or to 4 at −0.5 twice; a margin of +0.5
    // buys 1.2 ranks of MACs for one step): error 12 %
    expect(best.bound).toBe(0.12);
  });

  it("priced: a layer may go to rank 0, and a layer at rank 0 takes no margin step", async () => {
    const priced = [rankLadder(8, true), rankLadder(4, true)];
    const seen: string[] = [];
    await descendRanksMargins({ rankSets: priced, margins, priced: true, block: false }, { target: 1, cost: macsOf, capCost: macsOf }, async (ranks, marginSigmas) => {
      seen.push(`${ranks}/${marginSigmas}`);
      return { ranks, error: 0, bound: 0, macsRatio: ranks[0] + ranks[1] + (ranks[0] === 0 ? 0 : marginSigmas[0] === 0.5 ? -0.1 : 0) + (ranks[1] === 0 ? 0 : marginSigmas[1] === 0.5 ? -0.1 : 0) };
    });
    // From 8,4 straight to rank 0 on layer 0 (the cheapest step), then layer 1
    expect(seen).toContain("0,4/0,0");
    expect(seen.filter((k) => k.startsWith("0,") && k.split("/")[1].split(",")[0] !== "0")).toEqual([]);
  });
});
